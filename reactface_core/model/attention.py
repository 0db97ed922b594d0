"""Biased multi-head attention (Eq. 10) with key/value caches, and the causal encoder block.

Every sequence in the model is processed incrementally: a block gets the new positions
and a `KeyValueCache` holding the projected keys/values of the positions before them.
Offline (training) feeds whole chunks, online feeds one window at a time; both run the
same code, so they agree to float rounding. Caches keep only the `context` most recent
positions, which bounds the cost of every step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reactface_core.model.alignment_bias import AlignmentBias


class KeyValueCache:
    """Projected keys/values (B, heads, n, head_dim) of the most recent `keep` positions."""

    def __init__(self, keep: int | None):
        self.keep = keep
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.end = 0  # positions seen so far; cached ones are [start, end)

    @property
    def start(self) -> int:
        return self.end - (0 if self.keys is None else self.keys.shape[2])

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self.end += keys.shape[2]
        if self.keys is not None:
            keys = torch.cat([self.keys, keys], 2)
            values = torch.cat([self.values, values], 2)
        if self.keep is not None and keys.shape[2] > self.keep:
            keys, values = keys[:, :, -self.keep :], values[:, :, -self.keep :]
        self.keys, self.values = keys, values

    def span(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys, values and positions of the cached positions in [lo, hi)."""
        lo, hi = max(lo, self.start), min(hi, self.end)
        if self.keys is None or hi <= lo:
            raise ValueError(f"no cached keys in [{lo}, {hi}) (cache holds {self.start}..)")
        a, b = lo - self.start, hi - self.start
        positions = torch.arange(lo, hi, device=self.keys.device)
        return self.keys[:, :, a:b], self.values[:, :, a:b], positions

    def positions(self) -> torch.Tensor:
        return torch.arange(self.start, self.end, device=self.keys.device)


class Attention(nn.Module):
    """softmax(Q K^T / sqrt(d_k) + B) V over several heads (Eq. 10).

    Dropout acts on the output, not on the attention weights: that keeps the fused CPU
    attention kernel usable in training, which matters on a 2-core machine.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, n, dim = x.shape  # (B, n, d) -> 2 x (B, heads, n, d / heads)
        kv = self.key_value(x).view(batch, n, 2, self.heads, dim // self.heads)
        return kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        """Queries x (B, n, d) attend keys/values (B', heads, m, hd); B = r * B' is allowed.

        When the queries have r times the batch of the keys (r samples per speaker), the r
        query sets are folded into the query length instead of copying the keys.
        """
        batch, n, dim = x.shape
        q = self.query(x).view(batch, n, self.heads, dim // self.heads).transpose(1, 2)
        repeats = batch // keys.shape[0]
        if repeats > 1:  # (B' r, h, n, hd) -> (B', h, r n, hd)
            q = q.view(keys.shape[0], repeats, self.heads, n, -1).transpose(1, 2)
            q = q.reshape(keys.shape[0], self.heads, repeats * n, -1)
            bias = None if bias is None else bias.repeat(repeats, 1)
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
        if repeats > 1:
            y = y.view(keys.shape[0], self.heads, repeats, n, -1).transpose(1, 2)
        y = y.reshape(batch, self.heads, n, -1).transpose(1, 2).reshape(batch, n, dim)
        return self.dropout(self.out(y))


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: int, dropout: float):
        super().__init__()
        self.up = nn.Linear(dim, ratio * dim)
        self.down = nn.Linear(ratio * dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down(F.gelu(self.up(x))))


class SelfAttention(nn.Module):
    """Causal self-attention over a cached sequence, biased by Eq. 11 (VIM form)."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: AlignmentBias):
        super().__init__()
        self.attention = Attention(dim, heads, dropout)
        self.bias = bias

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor, cache: KeyValueCache, commit: bool
    ) -> torch.Tensor:
        """x (B, n, d) at 0-based `positions` (n,) after everything in `cache`.

        commit=True appends the new keys/values (they become history); commit=False is a
        look-ahead pass whose positions are not remembered (e.g. query tokens).
        """
        keys, values = self.attention.keys_values(x)
        key_positions = positions
        if cache.keys is not None:
            key_positions = torch.cat([cache.positions(), positions])
            keys_all = torch.cat([cache.keys, keys], 2)
            values_all = torch.cat([cache.values, values], 2)
        else:
            keys_all, values_all = keys, values
        y = self.attention(x, keys_all, values_all, self.bias(positions, key_positions))
        if commit:
            cache.extend(keys, values)
        return y


class CrossAttention(nn.Module):
    """Queries attend a cached memory of another time line, biased by Eq. 11."""

    def __init__(self, dim: int, heads: int, dropout: float, bias: AlignmentBias):
        super().__init__()
        self.attention = Attention(dim, heads, dropout)
        self.bias = bias

    def remember(self, memory: torch.Tensor, cache: KeyValueCache) -> None:
        """Project new memory positions (B, m, d) into keys/values and append them."""
        cache.extend(*self.attention.keys_values(memory))

    def forward(self, x: torch.Tensor, positions: torch.Tensor, cache: KeyValueCache):
        """x (B r, n, d) at contiguous 0-based frame `positions` attend the memory."""
        lo, hi = self.bias.key_span(int(positions[0]), int(positions[-1]) + 1)
        keys, values, key_positions = cache.span(lo, hi)
        return self.attention(x, keys, values, self.bias(positions, key_positions))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: causal biased self-attention + MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float, bias: AlignmentBias):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attention = SelfAttention(dim, heads, dropout, bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio, dropout)

    def forward(self, x, positions, cache: KeyValueCache, commit: bool = True) -> torch.Tensor:
        x = x + self.self_attention(self.norm1(x), positions, cache, commit)
        return x + self.mlp(self.norm2(x))


class CausalEncoder(nn.Module):
    """A stack of encoder blocks over one time line; state = one cache per block."""

    def __init__(self, layers: int, dim, heads, mlp_ratio, dropout, bias: AlignmentBias):
        super().__init__()
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, heads, mlp_ratio, dropout, bias) for _ in range(layers)
        )
        self.keep = bias.context * bias.ratio if bias.context is not None else None

    def new_state(self) -> list[KeyValueCache]:
        return [KeyValueCache(self.keep) for _ in self.blocks]

    def forward(self, x: torch.Tensor, state: list[KeyValueCache]) -> torch.Tensor:
        """New positions x (B, n, d) following those in `state` -> (B, n, d)."""
        start = state[0].end if state else 0
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        for block, cache in zip(self.blocks, state, strict=True):
            x = block(x, positions, cache)
        return x
