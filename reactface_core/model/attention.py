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
    """Projected keys/values (B, heads, n, head_dim) of the most recent `keep` positions.

    With gradients on (training) new positions are concatenated. Without (inference)
    they are written into a preallocated buffer of about twice `keep`, so a step costs
    the same whatever t is: the cached positions are moved only when the buffer is full.
    """

    def __init__(self, keep: int | None):
        self.keep = keep
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.end = 0  # positions seen so far; cached ones are [start, end)
        self._buffer: tuple[torch.Tensor, torch.Tensor] | None = None
        self._in_buffer = False  # keys/values are views of the buffer from `_offset` on
        self._offset = 0
        self._joined: torch.Tensor | None = None  # the last buffer view `joined` returned

    @property
    def start(self) -> int:
        return self.end - (0 if self.keys is None else self.keys.shape[2])

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        added = keys.shape[2]
        self.store(*self.joined(keys, values), added)

    def joined(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached keys/values followed by new ones (not yet stored)."""
        if self.keys is None:
            return keys, values
        if self.keep is None or torch.is_grad_enabled():
            return torch.cat([self.keys, keys], 2), torch.cat([self.values, values], 2)
        cached, added = self.keys.shape[2], keys.shape[2]
        if not self._in_buffer or self._offset + cached + added > self._buffer[0].shape[2]:
            batch, heads, _, width = self.keys.shape  # a new buffer, cached positions first
            capacity = 2 * (self.keep + added)
            self._buffer = (
                self.keys.new_empty(batch, heads, capacity, width),
                self.values.new_empty(batch, heads, capacity, width),
            )
            self._buffer[0][:, :, :cached] = self.keys
            self._buffer[1][:, :, :cached] = self.values
            self.keys, self.values = self._buffer[0][:, :, :cached], self._buffer[1][:, :, :cached]
            self._in_buffer, self._offset = True, 0
        a, b = self._offset + cached, self._offset + cached + added
        self._buffer[0][:, :, a:b] = keys
        self._buffer[1][:, :, a:b] = values
        self._joined = self._buffer[0][:, :, self._offset : b]
        return self._joined, self._buffer[1][:, :, self._offset : b]

    def store(self, keys: torch.Tensor, values: torch.Tensor, added: int) -> None:
        """Make `joined` keys/values, ending with `added` new positions, the cache."""
        self.end += added
        dropped = 0 if self.keep is None else max(0, keys.shape[2] - self.keep)
        self._in_buffer = keys is self._joined
        if self._in_buffer:
            self._offset += dropped
        self._joined = None
        self.keys, self.values = keys[:, :, dropped:], values[:, :, dropped:]

    def span(self, lo: int, hi: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Keys and values of the cached positions in [lo, hi), and the first position."""
        lo, hi = max(lo, self.start), min(hi, self.end)
        if self.keys is None or hi <= lo:
            raise ValueError(f"no cached keys in [{lo}, {hi}) (cache holds {self.start}..)")
        a, b = lo - self.start, hi - self.start
        return self.keys[:, :, a:b], self.values[:, :, a:b], lo


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
        self, x: torch.Tensor, cache: KeyValueCache, commit: bool, same_time: bool = False
    ) -> torch.Tensor:
        """x (B, n, d): the n positions right after those in `cache`.

        commit=True appends the new keys/values (they become history); commit=False is a
        look-ahead pass that is not remembered. same_time=True puts all n queries at the
        next position (the CIE's tokens), where they also see each other.
        """
        n, cached = x.shape[1], 0 if cache.keys is None else cache.keys.shape[2]
        keys, values = cache.joined(*self.attention.keys_values(x))
        if same_time:
            past = self.bias.between(cache.end, 1, cache.start, cached, x.device)
            bias = torch.cat([past.expand(n, cached), past.new_zeros(n, n)], 1)
        else:
            bias = self.bias.between(cache.end, n, cache.start, cached + n, x.device)
        y = self.attention(x, keys, values, bias)
        if commit:
            cache.store(keys, values, n)
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

    def forward(self, x: torch.Tensor, first: int, cache: KeyValueCache) -> torch.Tensor:
        """x (B r, n, d) at frames first..first+n-1 attend the memory they may see."""
        n = x.shape[1]
        keys, values, first_key = cache.span(*self.bias.key_span(first, first + n))
        bias = self.bias.between(first, n, first_key, keys.shape[2], x.device)
        return self.attention(x, keys, values, bias)


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: causal biased self-attention + MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, dropout: float, bias: AlignmentBias):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attention = SelfAttention(dim, heads, dropout, bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio, dropout)

    def forward(
        self, x: torch.Tensor, cache: KeyValueCache, commit: bool = True, same_time: bool = False
    ) -> torch.Tensor:
        x = x + self.self_attention(self.norm1(x), cache, commit, same_time)
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
        for block, cache in zip(self.blocks, state, strict=True):
            x = block(x, cache)
        return x
