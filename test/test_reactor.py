"""The online pipeline without ROS: stamped frames and audio in, stamped reaction windows out."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from reactface_core.checkpoint import CheckpointError
from reactface_core.contract import FRAME_NS, SAMPLES_PER_FRAME
from reactface_core.generate import load_online_generator
from reactface_core.perception.audio import AUDIO_FEATURE_DIM
from reactface_core.perception.face_tracker import FaceLandmarker
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM
from reactface_core.reactor import (
    FrameBatch,
    ModelSettings,
    NewSession,
    OnlineReactor,
    ReactorSettings,
    open_reactor,
)
from reactface_core.speaker_grid import Rejected

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


@pytest.fixture
def torch_threads():
    """open_reactor sets torch's thread count for the process: put it back afterwards."""
    import torch

    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


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


def test_a_window_joins_the_history_after_it_is_out_with_the_same_result(reactor, faces):
    """settle() does after publication what the next window would otherwise do first:
    the windows that follow are the same either way."""
    history = reactor.generator.generator.listener_state.cie
    _, first = feed(reactor, faces, 8)
    assert len(first) == 2 and [c.end for c in history] == [4] * len(history)
    reactor.settle()
    assert [c.end for c in history] == [8] * len(history)
    _, settled = feed(reactor, faces, 8, start=T0 + 8 * FRAME_NS)

    generator, _, _ = load_online_generator("", samples=3, seed=0, window=4)
    other = OnlineReactor(generator, FaceLandmarker(mode="video"), ReactorSettings(samples=3))
    try:
        feed(other, faces, 8)
        _, unsettled = feed(other, faces, 8, start=T0 + 8 * FRAME_NS)
    finally:
        other.landmarker.close()
    for a, b in zip(settled, unsettled, strict=True):
        np.testing.assert_array_equal(a.reactions, b.reactions)


def test_the_face_is_found_in_rendered_frames(reactor, faces):
    batch = FrameBatch([], 0.0)
    work, _ = feed(reactor, faces, 8, process=False)
    batch.frames = [f for item in work if isinstance(item, FrameBatch) for f in item.frames]
    visual, valid = reactor._visual_features(batch.frames)
    assert visual.shape == (len(batch.frames), VISUAL_FEATURE_DIM)
    assert valid.mean() >= 0.75


def test_a_lasting_backwards_jump_starts_a_new_session_with_fresh_stamps(reactor, faces):
    feed(reactor, faces, 12)
    later = T0 - 60 * 1_000_000_000  # a bag replayed again from an earlier clock
    work, reactions = feed(reactor, faces, 40, start=later)  # longer than session_confirm
    assert isinstance(work[0], NewSession)
    assert reactor.counts["sessions"] == 1 and reactor.counts["stamp_glitches"] == 0
    assert reactions and reactions[0].stamp_ns == later  # nothing of the new one was lost


def stream(reactor, faces, camera_stamps, audio_frames):
    """Audio on the regular grid for `audio_frames` frames, camera frames at the given
    stamps (None: no frame), interleaved in arrival order; the windows that came out."""
    reactions, work = [], []
    for i in range(audio_frames):
        intakes = []
        if i < len(camera_stamps) and camera_stamps[i] is not None:
            try:
                intakes.append(reactor.add_frame(camera_stamps[i], faces[i % len(faces)]))
            except Rejected:
                pass
        for half in range(2):
            chunk = 0.01 * np.sin(np.arange(SAMPLES_PER_FRAME // 2) / 3.0).astype(np.float32)
            stamp = T0 + i * FRAME_NS + half * FRAME_NS // 2
            intakes.append(reactor.add_audio(stamp, chunk, 16_000))
        for intake in intakes:
            for item in intake.work:
                work.append(item)
                reactions.extend(reactor.process(item))
    return work, reactions


@pytest.mark.parametrize(
    ("shift_s", "frames"), [(-5.0, 11), (3600.0, 1)], ids=["5 s back for 11 frames", "+1 h once"]
)
def test_a_short_stamp_glitch_keeps_the_interaction_and_never_repeats_a_stamp(
    reactor, faces, shift_s, frames
):
    glitch = range(30, 30 + frames)
    camera = [T0 + i * FRAME_NS + (round(shift_s * 1e9) if i in glitch else 0) for i in range(80)]
    work, reactions = stream(reactor, faces, camera, 80)
    assert not any(isinstance(item, NewSession) for item in work)
    assert reactor.counts["sessions"] == 0 and reactor.counts["stamp_glitches"] == 1
    assert reactor.counts["frames_skipped"] == frames  # counted, not placed
    stamps = [r.stamp_ns for r in reactions]
    assert stamps == sorted(set(stamps))  # strictly increasing: no stamp sent twice
    assert stamps == [T0 + 4 * k * FRAME_NS for k in range(len(stamps))]  # history went on
    assert len(stamps) >= 19


def test_the_last_frame_is_held_only_for_max_hold_then_the_face_is_missing(faces):
    generator, _, _ = load_online_generator("", samples=2, seed=0, window=4)
    settings = ReactorSettings(max_hold=0.5)
    reactor = OnlineReactor(generator, FaceLandmarker(mode="video"), settings)
    camera = [T0 + i * FRAME_NS for i in range(20)]  # then the camera stops for 3 s
    work, _ = stream(reactor, faces, camera, 95)
    frames = [f for item in work if isinstance(item, FrameBatch) for f in item.frames]
    silent = [f for f in frames if f.index >= 20]
    assert all(f.held for f in silent)
    hold_slots = round(0.5 * 25)
    assert all(f.visual is not None for f in silent[:hold_slots])  # held for 0.5 s
    assert all(f.visual is None for f in silent[hold_slots + 1 :])  # then no face at all
    missing = reactor.filled_in()["frames_face_missing"]
    assert len(silent) - hold_slots - 1 <= missing <= len(silent) - hold_slots
    _, warnings, _ = reactor.status()
    assert any("face marked missing" in w for w in warnings)
    reactor.landmarker.close()


@pytest.mark.parametrize("shape", [(1, 1, 3), (8, 640, 3), (48, 64), (48, 64, 4)])
def test_an_image_too_small_or_not_rgb_is_refused_at_the_intake_without_a_reset(
    reactor, faces, shape
):
    feed(reactor, faces, 4)
    with pytest.raises(Rejected, match="too small or not RGB"):
        reactor.add_frame(T0 + 4 * FRAME_NS, np.zeros(shape, np.uint8))
    assert reactor.counts["frames_skipped"] == 1 and reactor.counts["sessions"] == 0
    _, reactions = feed(reactor, faces, 12, start=T0 + 5 * FRAME_NS)  # the stream goes on
    assert reactions and reactions[-1].stamp_ns > T0


def test_non_finite_windows_are_withheld_and_reported_as_an_error(faces):
    import torch

    generator, _, _ = load_online_generator("", samples=2, seed=0, window=4)
    with torch.no_grad():  # a diverged model: every weight NaN
        for parameter in generator.generator.model.parameters():
            parameter.fill_(float("nan"))
    reactor = OnlineReactor(generator, FaceLandmarker(mode="video"), ReactorSettings())
    _, reactions = feed(reactor, faces, 16)
    assert reactions == [] and reactor.counts["windows_not_finite"] >= 1
    errors, _, _ = reactor.status()
    assert errors and "non-finite reactions" in errors[0]
    reactor.landmarker.close()


def test_status_judges_the_recent_past_and_returns_to_ok(reactor, faces):
    now = [0.0]
    reactor.recent.clock = lambda: now[0]
    feed(reactor, faces, 4)
    with pytest.raises(Rejected):
        reactor.add_frame(T0 + FRAME_NS, faces[0])  # a late frame: skipped
    _, warnings, values = reactor.status()
    assert "skipped input messages" in warnings and values["frames_skipped"] == 1
    for second in range(1, 12):  # the problem is over; status is asked once a second
        now[0] = float(second)
        _, warnings, values = reactor.status()
    assert "skipped input messages" not in warnings  # back to OK after the 10 s horizon
    assert values["frames_skipped"] == 1  # the total is still reported


def test_generated_arkit_reactions_stay_in_the_documented_range():
    from reactface_core.face.models import get_face_model

    model = get_face_model("arkit58")
    generator, _, _ = load_online_generator("", samples=4, seed=0, window=8)
    rng = np.random.default_rng(0)
    windows = generator.push(
        rng.normal(0, 3, (64, VISUAL_FEATURE_DIM)).astype(np.float32),
        rng.normal(0, 3, (128, AUDIO_FEATURE_DIM)).astype(np.float32),
        np.ones(64, bool),
    )
    reactions = np.concatenate([w.reactions for w in windows], axis=1)
    assert model.out_of_range(reactions) == 0
    assert reactions[..., :52].min() >= 0.0 and reactions[..., :52].max() <= 1.0


def test_a_late_message_is_rejected_and_counted(reactor, faces):
    feed(reactor, faces, 4)
    with pytest.raises(Rejected, match="non-monotonic camera stamp"):
        reactor.add_frame(T0 + FRAME_NS, faces[0])
    assert reactor.counts["frames_skipped"] == 1
    _, problems, values = reactor.status()
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

    from reactface_core.checkpoint import Checkpoint, Normalisation, save_checkpoint
    from reactface_core.model import ReactFace, ReactFaceConfig

    config = ReactFaceConfig(visual_dim=VISUAL_FEATURE_DIM, audio_dim=AUDIO_FEATURE_DIM, window=4)
    torch.manual_seed(0)
    model = ReactFace(config)
    # training data centred at 0.3 with a tiny spread: outputs must be too (not N(0, 1))
    shift = np.full(58, 0.3, np.float32)
    normalisation = Normalisation(
        coefficient_mean=shift, coefficient_std=np.full(58, 0.01, np.float32)
    )
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
    assert np.abs(window.reactions - 0.3).max() < 0.1
    with pytest.raises(CheckpointError, match="does not exist"):
        load_online_generator(str(tmp_path / "missing.pt"))
    broken = {k: v.clone() for k, v in model.state_dict().items()}
    next(v for v in broken.values() if v.is_floating_point()).fill_(float("nan"))
    save_checkpoint(
        Checkpoint(
            model_config=config.to_dict(),
            face_model="arkit58",
            state_dict=broken,
            normalization=normalisation.to_dict(),
        ),
        tmp_path / "nan.pt",
    )
    with pytest.raises(CheckpointError, match="nan.pt has non-finite"):
        load_online_generator(str(tmp_path / "nan.pt"))
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
        ({"samples": 0}, "samples must be an integer from 1 to 64"),
        ({"samples": 2.5}, "samples must be an integer from 1 to 64"),
        ({"selection": "best"}, "selection must be one of first, random"),
        ({"max_delay": -1.0}, "max_delay must be a number from 0 to 5 s"),
        ({"session_gap": 0.0}, "session_gap must be a number from 0.1 to 3600 s"),
        ({"deterministic": "yes"}, "deterministic must be true or false"),
        ({"audio_sample_rate": 48_000}, "audio_sample_rate cannot change while running"),
        ({"samples": 2, "max_backlog": -3}, "max_backlog must be an integer from 0 to 1000"),
    ],
)
def test_a_bad_update_is_refused_with_the_reason_and_changes_nothing(reactor, change, reason):
    before = reactor.settings
    with pytest.raises(ValueError, match=reason):
        reactor.update(**change)
    assert reactor.settings == before
    assert reactor.generator.samples == 3  # not half-applied


def test_a_starved_intake_that_resumes_after_a_stall_keeps_every_message(reactor, faces):
    """A node starved for 5 s at a time gets only the newest second of each input (its
    subscription depth) when it wakes: both streams jump forward together, which is a
    pause of the whole input, not a glitch: a new interaction at once, nothing dropped."""
    for wake in (5, 10, 15):
        now = T0 + wake * 10**9
        for i in range(25):  # the newest second: a camera frame, then its two audio chunks
            stamp = now - 10**9 + i * FRAME_NS
            reactor.add_frame(stamp, faces[i % len(faces)])
            for half in range(2):
                chunk = np.zeros(SAMPLES_PER_FRAME // 2, np.float32)
                reactor.add_audio(stamp + half * FRAME_NS // 2, chunk, 16_000)
    assert reactor.counts["frames_skipped"] == reactor.counts["audio_chunks_skipped"] == 0
    assert reactor.counts["stamp_glitches"] == 0 and reactor.counts["sessions"] == 2
    assert reactor.buffer.stats.frames == 25  # the last second is on the grid


def test_model_settings_refuse_bad_values_naming_the_rule():
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda, got 'gpu'"):
        ModelSettings(device="gpu")
    with pytest.raises(ValueError, match="window must be an integer from 1 to 250, got 0"):
        ModelSettings(window=0)
    with pytest.raises(ValueError, match="checkpoint must be a string"):
        ModelSettings(checkpoint=3)


def test_the_robot_reactor_sees_a_far_face_unless_told_not_to(torch_threads):
    """A person beyond the face mesh's own detector (face box 0.075 of the longer side)."""
    import cv2

    from reactface_core.face.mesh import sample_portraits

    hopper = next(image for name, image in sample_portraits() if "hopper" in name)
    small = cv2.resize(hopper, None, fx=0.35, fy=0.35)
    frame = np.full((720, 1280, 3), 110, np.uint8)
    frame[300 : 300 + small.shape[0], 500 : 500 + small.shape[1]] = small
    seen = {}
    for far in (True, False):
        settings = ModelSettings(checkpoint="", window=4, far_faces=far)
        loaded = open_reactor(settings, ReactorSettings(samples=2))
        try:
            work, _ = feed(loaded.reactor, [frame], 8, process=False)
            frames = [f for item in work if isinstance(item, FrameBatch) for f in item.frames]
            seen[far] = loaded.reactor._visual_features(frames)[1].mean()
        finally:
            loaded.close()
    assert ModelSettings().far_faces and seen == {True: 1.0, False: 0.0}


def test_a_failing_step_restarts_the_interaction_and_the_worker_goes_on(
    reactor, faces, monkeypatch
):
    """A failure in generation and one in the history update after publication are each
    reported as one line naming the error; the interaction restarts and windows go on."""
    from reactface_core.reactor import ReactorWorker

    generator = reactor.generator
    failures = {"push": RuntimeError("generation failed"), "settle": OSError("update failed")}
    for step, error in failures.items():
        real = getattr(generator, step)

        def failing_once(*args, _real=real, _step=step, _error=error):
            if failures.pop(_step, None):
                raise _error
            return _real(*args)

        monkeypatch.setattr(generator, step, failing_once)
    published, errors, done = [], [], threading.Event()

    def on_reaction(reaction):
        published.append(reaction)
        if len(published) >= 3:
            done.set()

    worker = ReactorWorker(reactor, on_reaction, errors.append)
    try:
        work, _ = feed(reactor, faces, 24, process=False)
        for item in work:
            worker.put(item)
        assert done.wait(timeout=120), f"{len(published)} windows published, errors {errors}"
    finally:
        worker.close()
    assert errors == [
        "processing failed, interaction restarted: RuntimeError('generation failed')",
        "processing failed, interaction restarted: OSError('update failed')",
    ]
    assert not failures  # both faults were met


def test_a_loaded_reactor_runs_its_worker_times_windows_and_reports_itself(faces, torch_threads):
    torch_threads.set_num_threads(2)
    loaded = open_reactor(ModelSettings(checkpoint="", window=4), ReactorSettings(samples=2))
    assert torch_threads.get_num_threads() == ModelSettings.threads == 1  # the node's default
    published, done = [], threading.Event()

    def on_reaction(reaction):
        published.append(reaction)
        if len(published) >= 3:
            done.set()

    errors, warnings, values = loaded.status()
    assert warnings[0] == "random model" and values["window_frames"] == 4
    assert "w=4, N=2) on cpu (1 torch CPU thread)" in loaded.describe()
    assert values["torch_threads"] == 1
    loaded.start(on_reaction, on_error=lambda error: pytest.fail(f"worker failed: {error!r}"))
    try:
        work, _ = feed(loaded.reactor, faces, 16, process=False)
        for item in work:
            loaded.worker.put(item)
        assert done.wait(timeout=120), f"{len(published)} windows published"
        _, _, values = loaded.status()
        assert values["latency_ms_p50"] > 0 and values["compute_ms_p50"] > 0
        assert values["settle_ms_p50"] > 0  # each window joins the history once it is out
        assert values["samples"] == 2 and values["device"] == "cpu"
    finally:
        loaded.close()
    assert not loaded.worker.thread.is_alive()
