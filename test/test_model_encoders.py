"""The paper's optional encoders: pixel 3D-conv encoder and wav2vec 2.0 from a local folder.

Both must stay causal and give the same reactions online as offline.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reactface_core.model import ReactFace, ReactFaceConfig
from reactface_core.streaming import ReactionGenerator


def tiny(**changes) -> ReactFace:
    values = dict(
        visual_dim=12, audio_dim=6, dim=32, heads=2, window=4, period=3, context=12, dropout=0.0,
    )  # fmt: skip
    values.update(changes)
    torch.manual_seed(0)
    return ReactFace(ReactFaceConfig(**values)).eval()


@pytest.fixture(scope="module")
def wav2vec2_folder(tmp_path_factory):
    """A tiny random wav2vec 2.0, saved and reloaded through the real from_pretrained."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("wav2vec2")
    Wav2Vec2Model(config).save_pretrained(folder)
    return str(folder)


def offline(model, visual, audio, seed=3):
    with torch.no_grad():
        out = model(
            visual[None], audio[None], samples=2, generator=torch.Generator().manual_seed(seed)
        )
    return out["listener"][0]


def streamed(model, visual, audio, visual_chunk, audio_chunk, seed=3):
    """Alternate video and audio chunks of different sizes, as two sensors would."""
    generator = ReactionGenerator(model, samples=2, seed=seed)
    windows, v, a = [], 0, 0
    while v < len(visual) or a < len(audio):
        windows += generator.push(visual[v : v + visual_chunk], None)
        windows += generator.push(None, audio[a : a + audio_chunk])
        v, a = v + visual_chunk, a + audio_chunk
    return torch.cat([w.reactions for w in windows], 1)


def test_pixel_encoder_is_causal_and_streams_like_offline():
    model = tiny(visual_encoder="pixels", image_size=32)
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(20, 3, 32, 32, generator=g)
    audio = torch.randn(40, 6, generator=g)
    expected = offline(model, frames, audio)
    assert expected.shape == (2, 20, 58)
    online = streamed(model, frames, audio, visual_chunk=3, audio_chunk=5)
    assert (online - expected).abs().max() <= 1e-4
    later = frames.clone()
    later[11:] = torch.rand(9, 3, 32, 32, generator=g)
    changed = offline(model, later, audio)
    assert torch.allclose(changed[:, :11], expected[:, :11])
    assert not torch.allclose(changed[:, 11:], expected[:, 11:])
    with pytest.raises(ValueError, match=r"frames \(B, T, 3, 32, 32\)"):
        model(frames[None, :, :, :16], audio[None])


def test_wav2vec2_from_local_folder_is_causal_per_window_and_streams(wav2vec2_folder):
    model = tiny(audio_encoder="wav2vec2", wav2vec2_path=wav2vec2_folder, wav2vec2_context=16)
    assert model.speaker.audio.wav2vec2.config.hidden_size == 16
    g = torch.Generator().manual_seed(2)
    visual = torch.randn(20, 12, generator=g)
    audio = 0.1 * torch.randn(20 * 640, generator=g)  # 16 kHz: 640 samples per frame
    expected = offline(model, visual, audio)
    assert expected.shape == (2, 20, 58)
    online = streamed(model, visual, audio, visual_chunk=7, audio_chunk=1000)
    assert (online - expected).abs().max() <= 1e-4
    # wav2vec 2.0 looks both ways inside its input, so it is causal per window (Eq. 1):
    # audio after the window ending at frame 12 leaves frames 0..11 alone
    later = audio.clone()
    later[12 * 640 :] += 0.1 * torch.randn(8 * 640, generator=g)
    changed = offline(model, visual, later)
    assert torch.allclose(changed[:, :12], expected[:, :12])
    assert not torch.allclose(changed[:, 12:], expected[:, 12:])


def test_frozen_wav2vec2_gets_no_gradient_but_the_rest_learns(wav2vec2_folder):
    model = tiny(audio_encoder="wav2vec2", wav2vec2_path=wav2vec2_folder, dropout=0.1).train()
    assert not model.speaker.audio.wav2vec2.training  # frozen features stay deterministic
    out = model(torch.randn(1, 8, 12), torch.randn(1, 8 * 640), samples=2)
    out["listener"].square().mean().backward()
    assert all(p.grad is None for p in model.speaker.audio.wav2vec2.parameters())
    assert model.speaker.audio.input.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expected batch 1 and 5120 samples at 16 kHz"):
        model(torch.randn(1, 8, 12), torch.randn(1, 3000))


def test_numpy_chunks_work_like_tensors():
    model = tiny()
    g = np.random.default_rng(0)
    visual, audio = g.standard_normal((8, 12)), g.standard_normal((16, 6))
    a = ReactionGenerator(model, samples=2).push(visual, audio)
    b = ReactionGenerator(model, samples=2).push(torch.tensor(visual), torch.tensor(audio))
    assert torch.equal(torch.cat([w.reactions for w in a]), torch.cat([w.reactions for w in b]))
