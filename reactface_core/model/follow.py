"""Following the speaker (beyond the paper): a learnt causal filter of what was seen and heard.

Most of what makes a reaction appropriate is a delayed, smoothed function of the speaker:
emotion followed within half a second, smiles and brows mirrored 0.2-0.6 s late, a nod or
a blink a moment after a pause. Through the paper's path (Eq. 3-4, 8-9) the only way to
that timing is attention from latent-driven queries, and the samples follow it loosely.
Here every frame also gets a direct, per-speaker reading of the last `follow_frames` frames:

    x_t  = LN([F-_t ; mean_k A_{k t .. k t + k - 1}])       (B, T, 2d) aligned face, speech
    h_t  = sum_{j < L} K_j * x_{t - L + 1 + j}               K learnt per channel, (2d, L)
    R^_t += (W h_t) * (1 + G s)                              G zero at start: the style s
                                                             scales each channel it follows
    hazard_t += W_e h_t                                      with `events`: onsets timed by it

It is causal (frames up to t), costs the same at any t (the state keeps the last L - 1
frames) and is one deterministic function of the speaker, so the latents (Eq. 3) model what
varies between appropriate listeners on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.events import EVENT_KINDS


@dataclass
class FollowState:
    """Speaker frames the filter still needs (batch = speakers B, width 2d)."""

    history: torch.Tensor  # (B, L - 1, 2d) the frames before the pending ones
    pending: torch.Tensor  # (B, n, 2d) remembered frames no window has used yet


class SpeakerFollower(nn.Module):
    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        width = 2 * config.dim
        self.frames = config.follow_frames
        self.audio_ratio = config.audio_ratio
        self.norm = nn.LayerNorm(width)
        # K (2d, 1, L): a moving average over the whole span before training
        self.kernel = nn.Parameter(torch.full((width, 1, self.frames), 1.0 / self.frames))
        self.face = nn.Linear(width, config.face_dim)
        # G (D, d) on the embedded style; a plain parameter, so the model's initialisation of
        # Linear layers leaves it at zero: every style follows alike until trained
        self.style_gain = nn.Parameter(torch.zeros(config.face_dim, config.dim))
        self.hazard = nn.Linear(width, EVENT_KINDS) if config.events else None

    def remember(self, face: torch.Tensor, speech: torch.Tensor, state: FollowState | None):
        """Append aligned face (B, n, d) and speech (B, k n, d); returns the updated state."""
        heard = speech.unflatten(1, (face.shape[1], self.audio_ratio)).mean(2)  # (B, n, d)
        frames = self.norm(torch.cat([face, heard], -1))  # x (B, n, 2d)
        if state is None:
            history = frames.new_zeros(frames.shape[0], self.frames - 1, frames.shape[2])
            return FollowState(history, frames)
        state.pending = torch.cat([state.pending, frames], 1)
        return state

    def forward(self, state: FollowState, w: int) -> torch.Tensor:
        """h (B, w, 2d) of the next w pending frames, which then become history."""
        x = torch.cat([state.history, state.pending[:, :w]], 1)  # (B, L - 1 + w, 2d)
        h = F.conv1d(x.transpose(1, 2), self.kernel, groups=x.shape[2]).transpose(1, 2)
        state.history, state.pending = x[:, w:], state.pending[:, w:]
        return h

    def coefficients(self, h: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """h (B r, w, 2d), embedded style (B r, d) or None -> what it adds to R^ (B r, w, D)."""
        followed = self.face(h)
        if style is None:
            return followed
        return followed * (1.0 + F.linear(style, self.style_gain))[:, None]
