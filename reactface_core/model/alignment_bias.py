"""The alignment bias B of Eq. 11: causal, distance-decaying attention between time lines.

Query i is a frame (1-based, as in the paper); key j is a frame (VIM form, k = 1) or an
audio step (MIM form, k steps per frame). Keys after the query's time get -inf, keys
inside get -floor((k*i - j) / (k*p)), so p successive frames share one penalty step and
nearer frames weigh more. We add one thing the paper does not need offline: an optional
context of C frames beyond which keys are also -inf, which bounds every attention (and
therefore the online cost per window) without changing anything inside the context.
"""

from __future__ import annotations

import torch


class AlignmentBias:
    """B^VIM (ratio=1) or B^MIM (ratio=k) of Eq. 11, optionally limited to `context` frames."""

    def __init__(self, period: int, ratio: int = 1, context: int | None = None):
        if period < 1 or ratio < 1 or (context is not None and context < 1):
            raise ValueError(f"need period, ratio, context >= 1; got {period}, {ratio}, {context}")
        self.period, self.ratio, self.context = period, ratio, context
        self._memo: dict[tuple, torch.Tensor] = {}

    def __call__(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Bias (Tq, Tk) for 0-based query frames (Tq,) and 0-based key positions (Tk,)."""
        i = queries.long()[:, None] + 1  # 1-based frame, as in Eq. 11
        j = keys.long()[None, :] + 1
        lag = self.ratio * i - j  # k*i - j, in key units
        bias = -torch.div(lag, self.ratio * self.period, rounding_mode="floor").float()
        outside = lag < 0  # j > k*i: the future
        if self.context is not None:
            outside |= lag >= self.ratio * self.context
        return bias.masked_fill(outside, float("-inf"))

    def between(
        self, first_query: int, queries: int, first_key: int, keys: int, device: torch.device
    ) -> torch.Tensor:
        """Bias for contiguous ranges of queries and keys, memoised: it depends only on
        their sizes and on k * first_query - first_key, so a stream reuses a few matrices."""
        memo_key = (self.ratio * first_query - first_key, queries, keys, device)
        bias = self._memo.get(memo_key)
        if bias is None:
            if len(self._memo) >= 1024:
                self._memo.clear()
            bias = self(
                torch.arange(first_query, first_query + queries, device=device),
                torch.arange(first_key, first_key + keys, device=device),
            )
            self._memo[memo_key] = bias
        return bias

    def key_span(self, first_query: int, end_query: int) -> tuple[int, int]:
        """0-based key range [lo, hi) that queries first_query..end_query-1 may see."""
        hi = self.ratio * end_query  # last visible key (1-based k*i) is 0-based k*i - 1
        if self.context is None:
            return 0, hi
        return max(0, self.ratio * (first_query + 1 - self.context)), hi
