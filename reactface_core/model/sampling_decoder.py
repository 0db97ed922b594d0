"""Sampling decoder (Sec. 4.2): latents Z query sinusoidal positions P (Eq. 4) -> R. (dot)."""

from __future__ import annotations

import torch
from torch import nn

from reactface_core.model.attention import MLP, Attention
from reactface_core.model.config import ReactFaceConfig


def sinusoidal_positions(steps: torch.Tensor, dim: int) -> torch.Tensor:
    """Eq. 4: P(t, 2i) = sin(t / 10000^(2i/d)), P(t, 2i+1) = cos(t / 10000^(2i/d)); (n, d)."""
    t = steps.to(torch.float64)[:, None]
    frequencies = 10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float64, device=t.device) / dim)
    angles = t / frequencies  # (n, d/2)
    return torch.stack([angles.sin(), angles.cos()], -1).flatten(1).float()


class SamplingDecoder(nn.Module):
    """Z_{t-w+1:t} (B, w, d) cross-attend P_{t-w+1:t} as keys and values -> R. (B, w, d)."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.dim = config.dim
        self.norm_attention = nn.LayerNorm(config.dim)
        self.attention = Attention(config.dim, config.heads, config.dropout)
        self.norm_mlp = nn.LayerNorm(config.dim)
        self.mlp = MLP(config.dim, config.mlp_ratio, config.dropout)

    def forward(self, latents: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """latents (B, w, d); steps (w,) the time steps t of Eq. 4."""
        positions = sinusoidal_positions(steps, self.dim).to(latents.dtype)[None]  # (1, w, d)
        keys, values = self.attention.keys_values(positions)
        x = latents + self.attention(self.norm_attention(latents), keys, values, None)
        return x + self.mlp(self.norm_mlp(x))
