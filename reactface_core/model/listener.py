"""Listener side of Fig. 4: one synchroniser (VIM then MIM, Eq. 8-9) serves both the past
interaction encoder (re-synchronising generated reactions R^_{1:t-w} -> H-) and the
listener reaction decoder (synchronising the current R._{t-w+1:t} -> R- -> R^).

Both run on the same time line, so the current window's self-attention reads the cached
states of the past reactions: that is what keeps a new window continuous with the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reactface_core.model.attention import KeyValueCache
from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.interaction import InteractionBlock


@dataclass
class SpeakerMemory:
    """Each VIM block's cache of aligned face F- and each MIM block's cache of speech A."""

    face: list[KeyValueCache]
    speech: list[KeyValueCache]


class Synchroniser(nn.Module):
    """`interaction_layers` pairs of (VIM, MIM) blocks on the reaction time line."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.config = config
        self.vim = nn.ModuleList(
            InteractionBlock(config, ratio=1) for _ in range(config.interaction_layers)
        )
        self.mim = nn.ModuleList(
            InteractionBlock(config, ratio=config.audio_ratio)
            for _ in range(config.interaction_layers)
        )

    def new_state(self) -> list[KeyValueCache]:
        return [KeyValueCache(self.config.context) for _ in range(2 * len(self.vim))]

    def new_memory(self, online: bool) -> SpeakerMemory:
        """Offline memories hold whole sequences; online ones the context plus one window."""
        c, w, k = self.config.context, self.config.window, self.config.audio_ratio
        face_keep = None if c is None or not online else c + w
        speech_keep = None if c is None or not online else k * (c + w)
        return SpeakerMemory(
            [KeyValueCache(face_keep) for _ in self.vim],
            [KeyValueCache(speech_keep) for _ in self.mim],
        )

    def remember(self, face: torch.Tensor, speech: torch.Tensor, memory: SpeakerMemory) -> None:
        """Append new aligned face (B, n, d) and speech (B, k n, d) embeddings."""
        for block, cache in zip(self.vim, memory.face, strict=True):
            block.remember(face, cache)
        for block, cache in zip(self.mim, memory.speech, strict=True):
            block.remember(speech, cache)

    def forward(
        self,
        x: torch.Tensor,
        state: list[KeyValueCache],
        memory: SpeakerMemory,
        commit: bool,
    ) -> torch.Tensor:
        """Embeddings (B r, w, d) of the frames after `state` -> synchronised (B r, w, d)."""
        caches = (state[0::2], state[1::2], memory.face, memory.speech)
        for vim, mim, vim_cache, mim_cache, face, speech in zip(
            self.vim, self.mim, *caches, strict=True
        ):
            x = vim(x, vim_cache, face, commit)  # Eq. 8
            x = mim(x, mim_cache, speech, commit)  # Eq. 9
        return x


class ReactionHead(nn.Module):
    """Synchronised reaction embeddings (B, w, d) -> face coefficients R^ (B, w, D)."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.dim)
        self.out = nn.Linear(config.dim, config.face_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(x))
