"""Idle head motion (beyond the paper): the head sway a listener shows whatever is said.

Real listeners' heads drift all the time: yaw, roll and position wander slowly, with no
relation to the speaker. Nothing the model sees predicts that drift, so a decoder trained
to reconstruct reactions (Eq. 12) leaves it out and the samples' heads barely turn. What
is left of those channels is the part that follows the speaker, so they correlate with
the speaker more than real listeners' do, which skews the peak lag FRSyn measures.

Here the part of each idle channel's motion that the samples lack is drawn as smooth noise,
the observation noise of the decoder, sampled instead of dropped:

    x_t  = a x_{t-1} + (1 - a) e_t              e_t ~ N(0, I) per row and channel, (B, D)
    y_t  = a y_{t-1} + (1 - a) x_t              two poles at a: smooth, like a drift
    R^_t += s * y_t / std(y)                    s (D,): the missing std, 0 outside IDLE

Both are fitted after training (`reactface calibrate`) on a split the model did not train
on: s^2 = set variance - sample variance (`metrics.motion`), and a so that y is as smooth
as the set (the std of its frame-to-frame change over its std). Pitch is left out: its
motion is nods, which the event head (`events.py`) places. The noise is not fed back into
the history (Eq. 8-9): the model was trained without it. Causal, one multiply-add per row
and channel per frame; both states start at zero, so the sway builds up over the first
second of a session.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from reactface_core.face.models import FaceModel


def idle_channels(model: FaceModel) -> list[int]:
    """Columns of the face model whose motion is idle drift: head rotation but pitch (the
    first angle, the nods'), and head translation."""
    rotation = list(range(model.dim)[model.head_rotation])[1:]
    translation = [] if model.translation is None else list(range(model.dim)[model.translation])
    return rotation + translation


def pole_for_roughness(roughness: float) -> float:
    """a of the two-pole filter whose output y has std(y_t - y_{t-1}) / std(y) = roughness.

    Its lag-1 autocorrelation is 2a / (1 + a^2) = 1 - roughness^2 / 2 =: r, so
    a = (1 - sqrt(1 - r^2)) / r.
    """
    r = min(max(1.0 - roughness**2 / 2.0, 1e-6), 1.0 - 1e-12)
    return (1.0 - math.sqrt(1.0 - r * r)) / r


def stationary_std(pole: torch.Tensor) -> torch.Tensor:
    """std(y) of the two-pole filter driven by unit white noise: (1-a)(1+a^2) / (1+a)^3."""
    return ((1.0 - pole) * (1.0 + pole**2) / (1.0 + pole) ** 3).sqrt()


class IdleMotion(nn.Module):
    def __init__(self, face_dim: int):
        super().__init__()
        # s (D,) in model units and a (D,); zero: no idle motion until calibrated
        self.register_buffer("scale", torch.zeros(face_dim))
        self.register_buffer("pole", torch.zeros(face_dim))

    def new_state(self, rows: int, like: torch.Tensor) -> torch.Tensor:
        """(x, y) of every row and channel: (rows, 2, D), at rest."""
        return like.new_zeros(rows, 2, self.scale.shape[0])

    def forward(self, noise: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """White noise e (B, w, D) -> the idle motion over the window (B, w, D); `state`
        (B, 2, D) carries into the next window (updated in place)."""
        a = self.pole
        x, y = state[:, 0], state[:, 1]
        out = []
        for step in range(noise.shape[1]):
            x = a * x + (1.0 - a) * noise[:, step]
            y = a * y + (1.0 - a) * x
            out.append(y)
        state[:, 0], state[:, 1] = x, y
        return torch.stack(out, 1) * (self.scale / stationary_std(a).clamp_min(1e-12))
