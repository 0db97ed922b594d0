"""The follow path: a causal filter of exactly the last L speaker frames, any chunking."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reactface_core.model import ReactFaceConfig
from reactface_core.model.follow import SpeakerFollower


def follower(frames: int = 5, events: bool = True) -> SpeakerFollower:
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=4, audio_dim=4, dim=8, heads=2, follow=True,
                             follow_frames=frames, events=events)  # fmt: skip
    module = SpeakerFollower(config).eval()
    with torch.no_grad():
        module.kernel.normal_(generator=torch.Generator().manual_seed(1))
    return module


def test_windows_read_exactly_the_last_L_frames_whatever_the_chunking():
    module, w, frames = follower(frames=5), 3, 30
    g = torch.Generator().manual_seed(2)
    face, speech = (
        torch.randn(2, frames, 8, generator=g),
        torch.randn(2, 2 * frames, 8, generator=g),
    )
    x = module.norm(torch.cat([face, speech.unflatten(1, (frames, 2)).mean(2)], -1))
    padded = F.pad(x.transpose(1, 2), (4, 0))  # zeros before the session's first frame
    expected = F.conv1d(padded, module.kernel, groups=16).transpose(1, 2)  # (2, T, 16)
    rng = np.random.default_rng(3)
    state, got, seen = None, [], 0
    with torch.no_grad():
        while seen < frames:
            n = min(int(rng.integers(1, 8)), frames - seen)
            state = module.remember(
                face[:, seen : seen + n], speech[:, 2 * seen : 2 * (seen + n)], state
            )
            seen += n
            while state.pending.shape[1] >= w:
                got.append(module(state, w))
    assert state.history.shape == (2, 4, 16)  # bounded: L - 1 frames, whatever t is
    got = torch.cat(got, 1)
    assert torch.allclose(got, expected[:, : got.shape[1]], atol=1e-6)


def test_a_speaker_frame_reaches_the_next_L_frames_and_no_further():
    module, frames = follower(frames=5), 16
    g = torch.Generator().manual_seed(6)
    face, speech = (
        torch.randn(1, frames, 8, generator=g),
        torch.randn(1, 2 * frames, 8, generator=g),
    )
    changed = face.clone()
    changed[:, 6] += 1.0
    with torch.no_grad():
        before = module(module.remember(face, speech, None), frames)
        after = module(module.remember(changed, speech, None), frames)
    moved = (after - before).abs().amax(-1)[0] > 1e-6
    assert moved.tolist() == [6 <= t <= 10 for t in range(frames)]


def test_the_style_scales_what_each_row_follows():
    module = follower(events=False)
    h = torch.randn(2, 3, 16, generator=torch.Generator().manual_seed(4))
    styles = torch.randn(2, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(module.coefficients(h, styles), module.coefficients(h, None))  # G = 0
        module.style_gain.fill_(0.1)
        scaled = module.coefficients(h, styles)
    plain = module.face(h)
    assert torch.allclose(scaled, plain * (1 + 0.1 * styles.sum(-1))[:, None, None], atol=1e-6)
    assert module.hazard is None
