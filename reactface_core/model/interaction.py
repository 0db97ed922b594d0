"""Visual (VIM) and modality (MIM) interaction: biased cross-attention between time lines.

Eq. 8-10: queries on the reaction (or speaker face) time line attend a speaker memory,
the aligned speaker face embeddings (VIM, bias with k = 1) or the speech embeddings (MIM,
bias with k audio steps per frame). Each block also self-attends its own past (causal,
Eq. 11 bias) so consecutive frames stay continuous, as a transformer decoder layer does.
"""

from __future__ import annotations

import torch
from torch import nn

from reactface_core.model.alignment_bias import AlignmentBias
from reactface_core.model.attention import MLP, CrossAttention, KeyValueCache, SelfAttention
from reactface_core.model.config import ReactFaceConfig


class InteractionBlock(nn.Module):
    """One VIM (ratio=1) or MIM (ratio=k) block: self-attention, cross-attention, MLP."""

    def __init__(self, config: ReactFaceConfig, ratio: int):
        super().__init__()
        d, heads, drop, p, context = (
            config.dim,
            config.heads,
            config.dropout,
            config.period,
            config.context,
        )
        self.ratio = ratio
        self.norm_self = nn.LayerNorm(d)
        self.self_attention = SelfAttention(d, heads, drop, AlignmentBias(p, 1, context))
        self.norm_memory = nn.LayerNorm(d)
        self.norm_cross = nn.LayerNorm(d)
        self.cross_attention = CrossAttention(d, heads, drop, AlignmentBias(p, ratio, context))
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = MLP(d, config.mlp_ratio, drop)

    def remember(self, memory: torch.Tensor, cache: KeyValueCache) -> None:
        """Append new speaker memory positions (B, m, d) to this block's memory cache."""
        self.cross_attention.remember(self.norm_memory(memory), cache)

    def forward(
        self,
        x: torch.Tensor,
        cache: KeyValueCache,
        memory: KeyValueCache,
        commit: bool = True,
    ) -> torch.Tensor:
        """x (B r, n, d): the n frames after those in `cache`; memory batch B (r samples
        share one speaker)."""
        first = cache.end
        x = x + self.self_attention(self.norm_self(x), cache, commit)
        x = x + self.cross_attention(self.norm_cross(x), first, memory)
        return x + self.mlp(self.norm_mlp(x))
