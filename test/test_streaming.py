"""Online generator: equals the offline forward, honours seeds, keeps bounded state."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from reactface_core.model import ReactFace, ReactFaceConfig
from reactface_core.model.attention import KeyValueCache
from reactface_core.streaming import ReactionGenerator

VISUAL_DIM, AUDIO_DIM = 12, 6


def tiny_model(seed: int = 0, **changes) -> ReactFace:
    values = dict(
        visual_dim=VISUAL_DIM, audio_dim=AUDIO_DIM, dim=32, heads=2, window=4, period=3,
        context=12, dropout=0.0,
    )  # fmt: skip
    values.update(changes)
    torch.manual_seed(seed)
    return ReactFace(ReactFaceConfig(**values)).eval()


def inputs(frames: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(frames, VISUAL_DIM, generator=g), torch.randn(
        2 * frames, AUDIO_DIM, generator=g
    )


def offline(model, visual, audio, samples, seed, valid=None, deterministic=False):
    with torch.no_grad():
        out = model(
            visual[None],
            audio[None],
            None if valid is None else valid[None],
            samples=samples,
            generator=torch.Generator().manual_seed(seed),
            deterministic=deterministic,
        )
    return out["listener"][0]  # (N, T, D)


def stream(generator, visual, audio, rng, valid=None):
    """Push video and audio in independent random chunk sizes; collect the windows."""
    windows, v, a = [], 0, 0
    while v < len(visual) or a < len(audio):
        nv, na = int(rng.integers(0, 11)), int(rng.integers(0, 19))
        chunk_valid = None if valid is None else valid[v : v + nv]
        windows += generator.push(visual[v : v + nv], None, chunk_valid)
        windows += generator.push(None, audio[a : a + na])
        v, a = v + nv, a + na
    return windows


STYLE = {"style_dim": 4, "posterior": True}  # a session style latent, recognition networks
CATEGORICAL = {"style_dim": 4, "latent_groups": 3, "latent_classes": 5}
EVENTS = {"style_dim": 4, "events": True, "event_frames": 6}  # shapes spill over windows
FOLLOW = {**EVENTS, "follow": True, "follow_frames": 7}  # the filter spans windows
IDLE = {**FOLLOW, "idle": True}  # idle motion whose filter state spans windows
EVERY_VARIANT = pytest.mark.parametrize(
    "changes",
    [{}, STYLE, CATEGORICAL, EVENTS, FOLLOW, IDLE],
    ids=["published", "style", "categorical", "events", "follow", "idle"],
)


def with_events(model: ReactFace) -> ReactFace:
    """Event shapes and a hazard that fires often, a style-dependent follow gain and idle
    motion: whatever a config switches on shows in the reactions."""
    if model.config.events:
        with torch.no_grad():
            model.events.scaled_shapes.normal_(generator=torch.Generator().manual_seed(4))
            model.events.hazard.bias.fill_(-0.5)
    if model.config.follow:  # a style that changes how strongly each channel follows
        with torch.no_grad():
            model.follower.style_gain.normal_(generator=torch.Generator().manual_seed(5))
    if model.config.idle:  # idle motion on every channel, slow on some, fast on others
        with torch.no_grad():
            model.idle.scale.fill_(0.5)
            model.idle.pole.copy_(torch.linspace(0.0, 0.95, model.config.face_dim))
    return model


@EVERY_VARIANT
def test_streaming_equals_offline_with_any_chunking(changes):
    model = with_events(tiny_model(**changes))
    visual, audio = inputs(64)  # 16 windows, context 12 frames: caches roll over
    valid = torch.rand(64, generator=torch.Generator().manual_seed(3)) > 0.2
    expected = offline(model, visual, audio, samples=5, seed=11, valid=valid)
    for chunking in range(2):
        generator = ReactionGenerator(model, samples=5, seed=11)
        windows = stream(generator, visual.numpy(), audio, np.random.default_rng(chunking), valid)
        assert [w.start for w in windows] == list(range(0, 64, 4))
        assert all(w.reactions.shape == (5, 4, 58) for w in windows)
        streamed = torch.cat([w.reactions for w in windows], 1)
        assert (streamed - expected).abs().max().item() <= 1e-4
    assert generator.frames_generated == 64


def test_streaming_equals_offline_default_sizes():
    torch.manual_seed(0)
    model = ReactFace(ReactFaceConfig(visual_dim=VISUAL_DIM, audio_dim=AUDIO_DIM)).eval()
    visual, audio = inputs(96)
    expected = offline(model, visual, audio, samples=10, seed=2)
    windows = stream(ReactionGenerator(model, samples=10, seed=2), visual, audio,
                     np.random.default_rng(5))  # fmt: skip
    streamed = torch.cat([w.reactions for w in windows], 1)
    assert streamed.shape == (10, 96, 58)
    assert (streamed - expected).abs().max().item() <= 1e-4


@EVERY_VARIANT
def test_seeds_same_gives_identical_different_gives_different(changes):
    model = with_events(tiny_model(**changes))
    visual, audio = inputs(24)

    def sample(seed):
        windows = ReactionGenerator(model, samples=3, seed=seed).push(visual, audio)
        return torch.cat([w.reactions for w in windows], 1)

    first, again, other = sample(7), sample(7), sample(8)
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 1e-3
    assert (first[0] - first[1]).abs().max() > 1e-3  # samples of one batch differ too
    generator = ReactionGenerator(model, samples=3, seed=7)
    generator.push(visual, audio)
    generator.reset()  # a new interaction replays the same samples
    assert torch.equal(torch.cat([w.reactions for w in generator.push(visual, audio)], 1), first)


@EVERY_VARIANT
def test_deterministic_mode_gives_the_mean_for_all_samples(changes):
    model = with_events(tiny_model(**changes))
    visual, audio = inputs(24)
    windows = ReactionGenerator(model, samples=4, deterministic=True).push(visual, audio)
    streamed = torch.cat([w.reactions for w in windows], 1)
    assert torch.allclose(streamed[0], streamed[3], atol=1e-6)  # rows split over threads
    expected = offline(model, visual, audio, samples=4, seed=0, deterministic=True)
    assert (streamed - expected).abs().max() <= 1e-4


def _caches(obj, seen=None):
    """Every KeyValueCache reachable from the generator's state objects."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, KeyValueCache):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [c for item in obj for c in _caches(item, seen)]
    if isinstance(obj, dict):
        return [c for item in obj.values() for c in _caches(item, seen)]
    if hasattr(obj, "__dict__") and not isinstance(obj, torch.Tensor):
        return [c for item in vars(obj).values() for c in _caches(item, seen)]
    return []


def test_state_stays_bounded_by_the_context():
    model = tiny_model(encoder_layers=2, interaction_layers=2, cie_layers=2)
    generator = ReactionGenerator(model, samples=2)
    visual, audio = inputs(200)
    generator.push(visual, audio)
    history = generator.listener_state.cie  # the reactions' history, one cache per layer
    assert [c.end for c in history] == [200 - 4] * 2  # the last window joins once it is out
    generator.settle()
    caches = _caches(generator.speaker_state) + _caches(generator.listener_state)
    assert len(caches) == 2 + 2 + 2 + 4 + 4 + 2  # encoders, alignment, synchroniser, CIE
    assert all(c.end >= 200 for c in caches)
    # at most k * (context + w) = 2 * (12 + 4) positions, whatever t is
    assert max(c.keys.shape[2] for c in caches) <= 32
    assert generator._visual.shape[0] == 0 and generator._audio.shape[0] == 0


def test_partial_window_waits_for_both_modalities():
    model = tiny_model()
    generator = ReactionGenerator(model, samples=2)
    visual, audio = inputs(8)
    assert generator.push(visual[:8]) == []  # no audio yet
    assert generator.push(None, audio[:7]) == []  # 7 of the 8 steps of frames 0-3
    windows = generator.push(None, audio[7:])
    assert [w.start for w in windows] == [0, 4]


def test_bad_chunks_name_the_expected_shape():
    generator = ReactionGenerator(tiny_model(), samples=2)
    with pytest.raises(ValueError, match=r"visual chunk has shape \(3, 5\), expected \(n, 12\)"):
        generator.push(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"audio chunk has shape \(4,\), expected \(n, 6\)"):
        generator.push(None, torch.zeros(4))
    with pytest.raises(ValueError, match="visual_valid"):
        generator.push(torch.zeros(3, 12), None, torch.ones(2, dtype=torch.bool))


@pytest.mark.slow
def test_bench_streaming_prints_both_times_and_the_ratios(capsys):
    import argparse

    from reactface_core.bench import streaming as bench

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    bench.add_arguments(parser)
    assert (
        bench.run(parser.parse_args(["--late", "200", "--repeats", "2", "--naive-repeats", "1"]))
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    times = dict((label.strip(), float(value)) for label, value in
                 (line.rsplit(maxsplit=1) for line in lines[2:5]))  # fmt: skip
    ours = times["streaming, window ending at t=200"]
    assert set(times) == {
        "streaming, window ending at t=64", "streaming, window ending at t=200",
        "naive recompute of the history, t=200",
    }  # fmt: skip
    # recomputing 200 frames is far slower than one cached window, whatever the load
    assert times["naive recompute of the history, t=200"] > 3 * ours
    assert lines[-2].startswith("naive / streaming at t=200:")
    # the machine's speed today, and the window's time over it (as printed, rounded)
    reference = float(re.search(r"reference work ([\d.]+) ms", lines[0]).group(1))
    ratio = float(
        re.match(r"streaming at t=200 / reference work \(one thread\): ([\d.]+)", lines[-1])[1]
    )
    assert abs(ratio - ours / reference) <= 0.006 + 0.05 * ratio / reference


def test_reference_work_is_timed_on_one_thread_and_restores_torchs_threads():
    import torch

    from reactface_core.bench import reference_ms

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert 0 < reference_ms(rounds=1) < 60_000
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_cache_buffer_matches_concatenation_and_rarely_reallocates():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(2, 3, int(n), 4, generator=g) for n in [1, 4, 4, 3, 4, 4, 2] * 6]
    reference, buffered = KeyValueCache(keep=7), KeyValueCache(keep=7)
    buffers = set()
    for chunk in chunks:
        with torch.enable_grad():
            reference.extend(chunk, -chunk)
        with torch.no_grad():
            look_ahead, _ = buffered.joined(chunk + 1.0, chunk)  # written, not stored
            assert torch.equal(look_ahead[:, :, -chunk.shape[2] :], chunk + 1.0)
            buffered.extend(chunk, -chunk)
        buffers.add(id(buffered._buffer))
        assert buffered.start == reference.start and buffered.end == reference.end
        assert torch.equal(buffered.keys, reference.keys)
        assert torch.equal(buffered.values, reference.values)
    assert len(buffers) <= 1 + len(chunks) // 3  # moved every few steps, not every step


def test_inference_and_training_paths_compute_the_same():
    model = tiny_model()
    visual, audio = inputs(40)
    with torch.no_grad():
        fast = model(
            visual[None], audio[None], samples=2, generator=torch.Generator().manual_seed(1)
        )
    slow = model(visual[None], audio[None], samples=2, generator=torch.Generator().manual_seed(1))
    assert slow["listener"].requires_grad
    assert (fast["listener"] - slow["listener"]).abs().max() <= 1e-5
