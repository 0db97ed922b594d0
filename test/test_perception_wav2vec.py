"""wav2vec 2.0 features from a local folder: real from_pretrained, 50 Hz alignment, causality."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from reactface_core.perception import audio  # noqa: E402
from reactface_core.perception.wav2vec import StreamingWav2Vec, Wav2VecFeatures  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model runs many small forward passes: threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A tiny random-initialised wav2vec 2.0 saved the way real checkpoints are."""
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("wav2vec_tiny")
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


def speech_like(seconds, seed=0):
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    envelope = np.repeat(rng.uniform(0, 1, size=n // 1600 + 1), 1600)[:n]
    return (0.2 * envelope * rng.normal(size=n)).astype(np.float32)


def test_loads_from_local_folder_and_aligns_with_the_audio_features(tiny_folder):
    features = Wav2VecFeatures(tiny_folder)
    assert features.normalize and features.feature_dim == 32
    for n in (319, 320, 719, 720, 16000, 16123):
        samples = speech_like(n / 16000)
        out = features(samples)
        assert out.shape == (len(audio.audio_features(samples)), 32) == (n // 320, 32)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    # the same weights read back: deterministic and not all equal rows
    again = Wav2VecFeatures(tiny_folder)(speech_like(1.0))
    assert np.allclose(features(speech_like(1.0)), again, atol=1e-6)
    assert again.std(axis=0).mean() > 1e-3


def test_hidden_layer_choice(tiny_folder):
    samples = speech_like(0.5)
    last = Wav2VecFeatures(tiny_folder)(samples)
    first = Wav2VecFeatures(tiny_folder, layer=0)(samples)
    assert first.shape == last.shape and not np.allclose(first, last)


def test_causal_features_ignore_the_future(tiny_folder):
    features = Wav2VecFeatures(tiny_folder, context_steps=20)
    samples = speech_like(1.0, seed=1)
    reference = features.causal(samples)
    changed = samples.copy()
    changed[15 * 320 :] = speech_like(1.0, seed=2)[15 * 320 :]
    out = features.causal(changed)
    assert np.allclose(out[:15], reference[:15], atol=1e-5)
    assert not np.allclose(out[15:], reference[15:], atol=1e-3)
    # whole-clip features do see the future (that is why `causal` exists)
    assert not np.allclose(features(changed)[:15], features(samples)[:15], atol=1e-5)


@pytest.mark.parametrize("update_steps", [1, 4])
def test_streaming_equals_causal_for_random_chunks(tiny_folder, update_steps):
    features = Wav2VecFeatures(tiny_folder, context_steps=8, update_steps=update_steps)
    rng = np.random.default_rng(update_steps)
    samples = speech_like(0.45, seed=3)
    stream = StreamingWav2Vec(features)
    rows, position = [], 0
    while position < len(samples):
        size = int(rng.integers(1, 1500))
        rows.append(stream(samples[position : position + size]))
        position += size
    rows.append(stream.flush())
    streamed = np.concatenate(rows)
    offline = features.causal(samples)
    assert streamed.shape == offline.shape == (len(samples) // 320, 32)
    assert np.abs(streamed - offline).max() < 1e-5


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        Wav2VecFeatures(tmp_path / "nowhere")
