"""Speaker behaviour encoding (Sec. 4.1 (i)): face and speech embeddings, aligned face
embeddings F- (face queries attend speech through the MIM-form bias of Eq. 11), and the
speaker reconstruction head that keeps F- meaningful (R^s, the second term of Eq. 12).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reactface_core.model.attention import KeyValueCache
from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.encoders import build_audio_encoder, build_visual_encoder
from reactface_core.model.interaction import InteractionBlock


@dataclass
class SpeakerState:
    visual: object  # the visual encoder's state
    audio: object  # the audio encoder's state
    alignment: KeyValueCache  # self-attention over the face time line
    speech: KeyValueCache  # speech embeddings as the alignment's memory


class SpeakerEncoder(nn.Module):
    """Speaker face (B, n, ...) + speech (B, k n, ...) -> aligned face F- (B, n, d), speech A."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.config = config
        self.visual = build_visual_encoder(config)
        self.audio = build_audio_encoder(config)
        self.alignment = InteractionBlock(config, ratio=config.audio_ratio)
        self.norm = nn.LayerNorm(config.dim)
        self.reconstruction = nn.Linear(config.dim, config.face_dim)

    def new_state(self, chunk: int) -> SpeakerState:
        """State for feeding at most `chunk` frames per call."""
        context, k = self.config.context, self.config.audio_ratio
        return SpeakerState(
            self.visual.new_state(),
            self.audio.new_state(),
            KeyValueCache(context),
            KeyValueCache(None if context is None else k * (context + chunk)),
        )

    def forward(
        self, visual: torch.Tensor, valid: torch.Tensor, audio: torch.Tensor, state: SpeakerState
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next n frames and their k n audio steps -> (F- (B, n, d), A (B, k n, d))."""
        speech = self.audio(audio, state.audio)
        self.alignment.remember(speech, state.speech)
        face = self.visual(visual, valid, state.visual)
        return self.alignment(face, state.alignment, state.speech), speech

    def reconstruct(self, face: torch.Tensor) -> torch.Tensor:
        """Aligned face embeddings (B, T, d) -> speaker face coefficients R^s (B, T, D)."""
        return self.reconstruction(self.norm(face))
