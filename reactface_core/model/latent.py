"""Latent momentum and linear interpolation (Sec. 4.2, Eq. 3): smooth latents per window."""

from __future__ import annotations

import torch


def latent_momentum(previous: torch.Tensor, sampled: torch.Tensor, alpha: float) -> torch.Tensor:
    """z_t = alpha * z_{t-w} + (1 - alpha) * z*_t, all (B, d)."""
    return alpha * previous + (1.0 - alpha) * sampled


def interpolate_latents(previous: torch.Tensor, current: torch.Tensor, window: int) -> torch.Tensor:
    """Eq. 3: z_tau = z_{t-w} + (tau - (t-w)) (z_t - z_{t-w}) / w for tau in (t-w, t].

    previous z_{t-w} (B, d), current z_t (B, d) -> Z_{t-w+1:t} (B, w, d); the last row is z_t.
    """
    steps = torch.arange(1, window + 1, device=current.device, dtype=current.dtype) / window
    return previous[:, None] + steps[None, :, None] * (current - previous)[:, None]
