"""The online pipeline without ROS: stamped frames and audio in, stamped reaction windows out."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.checkpoint import CheckpointError
from reactface_core.contract import FRAME_NS, SAMPLES_PER_FRAME
from reactface_core.generate import load_online_generator
from reactface_core.online import Rejected
from reactface_core.perception.audio import AUDIO_FEATURE_DIM
from reactface_core.perception.face_tracker import FaceLandmarker
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM
from reactface_core.reactor import FrameBatch, NewSession, OnlineReactor, ReactorSettings

T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def faces():
    """Eight rendered frames of the built-in face, turning its head a little."""
    from reactface_core.face.render import RenderConfig, make_renderer

    coefficients = np.zeros((8, 58), np.float32)
    coefficients[:, 53] = np.linspace(-0.2, 0.2, 8)  # yaw
    with make_renderer("arkit58", config=RenderConfig(width=192, height=192)) as renderer:
        return renderer.render(coefficients)


@pytest.fixture
def reactor():
    generator, _, _ = load_online_generator("", samples=3, seed=0, window=4)
    reactor = OnlineReactor(generator, FaceLandmarker(mode="video"), ReactorSettings(samples=3))
    yield reactor
    reactor.landmarker.close()


def feed(reactor, faces, frames, start=T0, process=True):
    """Frames at 25 fps with 20 ms audio chunks, interleaved by stamp; the work it made."""
    work, reactions = [], []
    for i in range(frames):
        stamp = start + i * FRAME_NS
        intakes = [reactor.add_frame(stamp, faces[i % len(faces)])]
        for half in range(2):
            chunk = 0.01 * np.sin(np.arange(SAMPLES_PER_FRAME // 2) / 3.0).astype(np.float32)
            intakes.append(reactor.add_audio(stamp + half * FRAME_NS // 2, chunk, 16_000))
        for intake in intakes:
            work.extend(intake.work)
            if process:
                for item in intake.work:
                    reactions.extend(reactor.process(item))
    return work, reactions


def test_windows_are_stamped_on_speaker_frames_and_paced_frame_by_frame(reactor, faces):
    _, reactions = feed(reactor, faces, 20)
    assert len(reactions) >= 4  # 20 frames, w = 4; the last may wait for its audio
    for k, reaction in enumerate(reactions):
        assert reaction.stamp_ns == T0 + 4 * k * FRAME_NS
        assert reaction.reactions.shape == (3, 4, 58)
        assert np.isfinite(reaction.reactions).all()
    # the face stream keeps the newest 3 windows, frame by frame, in stamp order
    kept = len(reactor.pacer.frames)
    assert kept == 3 * 4 and reactor.pacer.dropped == 4 * len(reactions) - kept
    stamps = [reactor.pacer.next()[0] for _ in range(kept)]
    first = reactions[-1].stamp_ns - 8 * FRAME_NS
    assert stamps == [first + i * FRAME_NS for i in range(kept)]
    assert reactor.pacer.next() is None
    assert reactor.counts["windows_published"] == len(reactions)
    assert reactor.counts["frames_tracker_skipped"] == 0


def test_the_face_is_found_in_rendered_frames(reactor, faces):
    batch = FrameBatch([], 0.0)
    work, _ = feed(reactor, faces, 8, process=False)
    batch.frames = [f for item in work if isinstance(item, FrameBatch) for f in item.frames]
    visual, valid = reactor._visual_features(batch.frames)
    assert visual.shape == (len(batch.frames), VISUAL_FEATURE_DIM)
    assert valid.mean() >= 0.75


def test_a_backwards_jump_starts_a_new_session_with_fresh_stamps(reactor, faces):
    feed(reactor, faces, 12)
    later = T0 - 60 * 1_000_000_000  # a bag replayed again from an earlier clock
    work, reactions = feed(reactor, faces, 12, start=later)
    assert isinstance(work[0], NewSession)
    assert reactor.counts["sessions"] == 1
    assert reactions and reactions[0].stamp_ns == later


def test_a_late_message_is_rejected_and_counted(reactor, faces):
    feed(reactor, faces, 4)
    with pytest.raises(Rejected, match="non-monotonic camera stamp"):
        reactor.add_frame(T0 + FRAME_NS, faces[0])
    assert reactor.counts["frames_skipped"] == 1
    problems, values = reactor.status()
    assert "skipped input messages" in problems and values["frames_received"] == 5


def test_a_processing_side_far_behind_skips_the_tracker_and_catches_up(faces):
    generator, _, _ = load_online_generator("", samples=2, seed=0, window=4)
    reactor = OnlineReactor(
        generator, FaceLandmarker(mode="video"), ReactorSettings(samples=2, max_backlog=8)
    )
    work, _ = feed(reactor, faces, 40, process=False)  # intake runs ahead of processing
    assert reactor.backlog >= 36
    reactions = [r for item in work for r in reactor.process(item)]
    assert reactor.backlog == 0
    assert 0 < reactor.counts["frames_tracker_skipped"] < 40
    assert len(reactions) >= 9
    reactor.landmarker.close()


def test_online_generator_from_a_checkpoint_returns_face_model_units(tmp_path):
    """A checkpoint (as `reactface train` writes it) drives the generator, with its
    normalisation undone: outputs come back in the face model's units."""
    import torch

    from reactface_core.checkpoint import Checkpoint, save_checkpoint
    from reactface_core.data.dataset import Normalisation
    from reactface_core.model import ReactFace, ReactFaceConfig

    config = ReactFaceConfig(visual_dim=VISUAL_FEATURE_DIM, audio_dim=AUDIO_FEATURE_DIM, window=4)
    torch.manual_seed(0)
    model = ReactFace(config)
    shift = np.full(58, 100.0, np.float32)  # training data centred at 100: outputs must be too
    normalisation = Normalisation(coefficient_mean=shift, coefficient_std=np.ones(58, np.float32))
    path = save_checkpoint(
        Checkpoint(
            model_config=config.to_dict(),
            face_model="arkit58",
            state_dict=model.state_dict(),
            normalization=normalisation.to_dict(),
        ),
        tmp_path / "model.pt",
    )
    generator, face_model, name = load_online_generator(str(path), samples=3, window=8)
    assert (face_model, generator.window, name) == ("arkit58", 4, "model.pt")  # w from the file
    (window,) = generator.push(
        np.zeros((4, VISUAL_FEATURE_DIM), np.float32),
        np.zeros((8, AUDIO_FEATURE_DIM), np.float32),
        np.ones(4, bool),
    )
    assert window.start == 0 and window.reactions.shape == (3, 4, 58)
    assert np.abs(window.reactions - 100.0).max() < 20.0
    with pytest.raises(CheckpointError, match="does not exist"):
        load_online_generator(str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable reactface checkpoint"):
        load_online_generator(str(tmp_path / "junk.pt"))


def test_live_settings_change_the_next_windows(reactor, faces):
    _, before = feed(reactor, faces, 8)
    assert before and all(r.reactions.shape[0] == 3 for r in before)
    reactor.update(samples=2, deterministic=True, selection="sticky", max_delay=1.5, seed=4)
    assert reactor.settings == ReactorSettings(
        samples=2, deterministic=True, selection="sticky", max_delay=1.5, seed=4
    )
    assert reactor.buffer.delay_ns == 1_500_000_000
    assert reactor.selector.policy == "sticky"
    _, after = feed(reactor, faces, 12, start=T0 + 8 * FRAME_NS)
    assert after and all(r.reactions.shape[0] == 2 for r in after)
    for reaction in after:  # means, not samples: both rows equal
        np.testing.assert_array_equal(reaction.reactions[0], reaction.reactions[1])
    assert after[0].stamp_ns > before[-1].stamp_ns  # the grid went on; the model restarted


def test_a_new_seed_restarts_the_sample_noise_at_once(faces):
    def windows(seed_change):
        generator, _, _ = load_online_generator("", samples=2, seed=0, window=4)
        reactor = OnlineReactor(generator, FaceLandmarker(mode="video"), ReactorSettings(samples=2))
        feed(reactor, faces, 4)
        if seed_change is not None:
            reactor.update(seed=seed_change)
        _, out = feed(reactor, faces, 8, start=T0 + 4 * FRAME_NS)
        reactor.landmarker.close()
        return np.stack([r.reactions for r in out])

    same, other, again = windows(None), windows(7), windows(7)
    np.testing.assert_array_equal(other, again)
    assert not np.allclose(same, other)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"samples": 0}, "samples must be an integer >= 1"),
        ({"samples": 2.5}, "samples must be an integer >= 1"),
        ({"selection": "best"}, "selection must be one of first, random"),
        ({"max_delay": -1.0}, "max_delay must be >= 0 s"),
        ({"session_gap": 0.0}, "session_gap must be > 0 s"),
        ({"deterministic": "yes"}, "deterministic must be true or false"),
        ({"audio_sample_rate": 48_000}, "audio_sample_rate cannot change while running"),
        ({"samples": 2, "max_backlog": -3}, "max_backlog must be >= 0"),
    ],
)
def test_a_bad_update_is_refused_with_the_reason_and_changes_nothing(reactor, change, reason):
    before = reactor.settings
    with pytest.raises(ValueError, match=reason):
        reactor.update(**change)
    assert reactor.settings == before
    assert reactor.generator.samples == 3  # not half-applied
