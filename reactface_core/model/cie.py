"""Conditional interaction encoder (CIE, Sec. 4.2): past interactions -> N(mu_t, sigma_t)
(or, beyond the paper, the logits of a categorical z*_t; see `latent.py`).

The synchronised past interaction embeddings H-_{1:t-w} run through causal self-attention
blocks (cached: a past frame's state never changes), and two learnable tokens, mu_token
and sigma_token, placed at the current time attend that history. Their outputs give the
mean and log-variance of the distribution of appropriate reactions for the next window.
"""

from __future__ import annotations

import torch
from torch import nn

from reactface_core.model.alignment_bias import AlignmentBias
from reactface_core.model.attention import EncoderBlock, KeyValueCache
from reactface_core.model.config import ReactFaceConfig


class ConditionalInteractionEncoder(nn.Module):
    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.context = config.context
        bias = AlignmentBias(config.period, 1, config.context)
        self.blocks = nn.ModuleList(
            EncoderBlock(config.dim, config.heads, config.mlp_ratio, config.dropout, bias)
            for _ in range(config.cie_layers)
        )
        self.categorical = config.categorical
        tokens = 1 if self.categorical else 2  # mu_token, sigma_token; or a logits token
        self.tokens = nn.Parameter(0.02 * torch.randn(tokens, config.dim))
        self.norm = nn.LayerNorm(config.dim)
        if self.categorical:
            self.logits = nn.Linear(config.dim, config.latent_groups * config.latent_classes)
        else:
            self.mean = nn.Linear(config.dim, config.dim)
            self.log_variance = nn.Linear(config.dim, config.dim)

    def new_state(self) -> list[KeyValueCache]:
        return [KeyValueCache(self.context) for _ in self.blocks]

    def remember(self, history: torch.Tensor, state) -> None:
        """Append the next synchronised past interactions H- (B, n, d)."""
        for block, cache in zip(self.blocks, state, strict=True):
            history = block(history, cache, commit=True)

    def forward(self, state, batch: int, style: torch.Tensor | None = None) -> tuple:
        """The distribution of z*_t for the window after the remembered history: mu_t,
        log sigma_t^2 (B, d), or the logits (B, G K) of a categorical latent (a 1-tuple).
        An embedded session style (B, d), when the model has one, is added to the tokens."""
        x = self.tokens.expand(batch, -1, -1)
        if style is not None:
            x = x + style[:, None]
        for block, cache in zip(self.blocks, state, strict=True):
            x = block(x, cache, commit=False, same_time=True)  # the tokens sit at "now"
        x = self.norm(x)
        if self.categorical:
            return (self.logits(x[:, 0]),)
        return self.mean(x[:, 0]), self.log_variance(x[:, 1])
