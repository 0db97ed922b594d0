"""Latent momentum and linear interpolation (Sec. 4.2, Eq. 3): smooth latents per window;
and the categorical alternative to the Gaussian z*_t (beyond the paper).

A Gaussian prior can only say "about here": its samples are the mean plus noise, which the
decoder turns into jitter. Listener behaviour has discrete events (a blink now, a nod at
this pause, a gaze shift), so z*_t can instead be G categorical variables of K classes
(one-hot, embedded into d), as the discrete latents of DreamerV2 (Hafner et al., 2021):
the CIE gives their logits, a sample picks one class per variable (Gumbel-max with the
generator's uniform noise), training passes gradients straight through the one-hot, and
the distribution's mean is the probability-weighted embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def latent_momentum(previous: torch.Tensor, sampled: torch.Tensor, alpha: float) -> torch.Tensor:
    """z_t = alpha * z_{t-w} + (1 - alpha) * z*_t, all (B, d)."""
    return alpha * previous + (1.0 - alpha) * sampled


def interpolate_latents(previous: torch.Tensor, current: torch.Tensor, window: int) -> torch.Tensor:
    """Eq. 3: z_tau = z_{t-w} + (tau - (t-w)) (z_t - z_{t-w}) / w for tau in (t-w, t].

    previous z_{t-w} (B, d), current z_t (B, d) -> Z_{t-w+1:t} (B, w, d); the last row is z_t.
    """
    steps = torch.arange(1, window + 1, device=current.device, dtype=current.dtype) / window
    return previous[:, None] + steps[None, :, None] * (current - previous)[:, None]


class CategoricalLatent(nn.Module):
    """Logits (B, G K) and uniform noise (B, G K) -> z*_t (B, d); noise None: the mean."""

    def __init__(self, groups: int, classes: int, dim: int):
        super().__init__()
        self.groups, self.classes = groups, classes
        self.embedding = nn.Linear(groups * classes, dim, bias=False)

    def forward(self, logits: torch.Tensor, uniform: torch.Tensor | None) -> torch.Tensor:
        logits = logits.view(-1, self.groups, self.classes)
        probabilities = logits.softmax(-1)
        if uniform is None:
            return self.embedding(probabilities.flatten(1))
        gumbel = -torch.log(-torch.log(uniform.view_as(logits).clamp(1e-9, 1.0 - 1e-9)))
        one_hot = F.one_hot((logits + gumbel).argmax(-1), self.classes).to(probabilities)
        one_hot = one_hot + probabilities - probabilities.detach()  # straight-through
        return self.embedding(one_hot.flatten(1))
