"""Causal speaker encoders: face -> F~ (B, T, d) at 25 fps, speech -> A (B, kT, d) at 50 Hz.

Each encoder consumes new input chunks with an explicit state, so training (whole
sequences in chunks) and the online generator (one window at a time) share one code path.

- `LandmarkEncoder` (default): per-frame face-landmark features (pose kept as columns).
- `PixelEncoder` (paper): causal 3D convolutions over RGB frames, then a transformer.
- `LogMelEncoder` (default): causal audio features (log-mel and prosody, `perception.audio`),
  two steps per frame.
- `Wav2Vec2Encoder` (paper): wav2vec 2.0 from a local folder. Its transformer looks both
  ways, so it runs on the audio up to the end of each window only (causal per window,
  the granularity of Eq. 1) over a bounded history, and never sees later audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reactface_core.model.alignment_bias import AlignmentBias
from reactface_core.model.attention import CausalEncoder, KeyValueCache
from reactface_core.model.config import LANDMARK_ENCODER, ReactFaceConfig

SAMPLES_PER_AUDIO_STEP = 320  # 20 ms at 16 kHz: the hop of log-mel and wav2vec 2.0
WAV2VEC2_RECEPTIVE_FIELD = 400  # samples behind one wav2vec 2.0 output step


def _frame_transformer(config: ReactFaceConfig) -> CausalEncoder:
    bias = AlignmentBias(config.period, 1, config.context)
    return _transformer(config, bias)


def _step_transformer(config: ReactFaceConfig) -> CausalEncoder:
    """Self-attention on the audio time line: Eq. 11 with p and the context in audio steps."""
    k = config.audio_ratio
    context = None if config.context is None else k * config.context
    return _transformer(config, AlignmentBias(k * config.period, 1, context))


def _transformer(config: ReactFaceConfig, bias: AlignmentBias) -> CausalEncoder:
    return CausalEncoder(
        config.encoder_layers, config.dim, config.heads, config.mlp_ratio, config.dropout, bias
    )


class LandmarkEncoder(nn.Module):
    """Face-landmark features (B, n, visual_dim) + validity (B, n) -> F~ (B, n, d)."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.input = nn.Linear(config.visual_dim, config.dim)
        self.missing = nn.Parameter(torch.zeros(config.dim))  # stands in for faceless frames
        self.transformer = _frame_transformer(config)

    def new_state(self) -> list[KeyValueCache]:
        return self.transformer.new_state()

    def forward(self, features: torch.Tensor, valid: torch.Tensor, state) -> torch.Tensor:
        valid = valid & features.isfinite().all(-1)  # NaN rows count as missing faces
        features = torch.where(valid[..., None], features, 0.0)  # keeps gradients finite
        x = torch.where(valid[..., None], self.input(features), self.missing)
        return self.transformer(x, state)


class CausalConv3d(nn.Module):
    """3D convolution padded only towards the past in time (temporal stride 1)."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, spatial_stride: int):
        super().__init__()
        self.history = kernel - 1
        self.conv = nn.Conv3d(
            channels_in,
            channels_out,
            kernel,
            stride=(1, spatial_stride, spatial_stride),
            padding=(0, kernel // 2, kernel // 2),
        )

    def forward(self, x: torch.Tensor, state: dict, key: str) -> torch.Tensor:
        """x (B, C, n, H, W); state[key] holds the last kernel-1 input frames (zeros at start)."""
        past = state.get(key)
        if past is None:
            past = x.new_zeros(*x.shape[:2], self.history, *x.shape[3:])
        x = torch.cat([past, x], 2)
        state[key] = x[:, :, x.shape[2] - self.history :]
        return self.conv(x)


class PixelEncoder(nn.Module):
    """RGB frames (B, n, 3, S, S) in [0, 1] -> causal 3D convs -> transformer -> F~ (B, n, d)."""

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.image_size = config.image_size
        widths = (3, 16, 32, 64)
        kernels, strides = (5, 3, 3), (4, 2, 2)
        self.convs = nn.ModuleList(
            CausalConv3d(widths[i], widths[i + 1], kernels[i], strides[i]) for i in range(3)
        )
        self.input = nn.Linear(widths[-1], config.dim)
        self.missing = nn.Parameter(torch.zeros(config.dim))
        self.transformer = _frame_transformer(config)

    def new_state(self) -> dict:
        return {"transformer": self.transformer.new_state()}

    def forward(self, frames: torch.Tensor, valid: torch.Tensor, state: dict) -> torch.Tensor:
        if frames.shape[2:] != (3, self.image_size, self.image_size):
            raise ValueError(
                f"pixel encoder expects frames (B, T, 3, {self.image_size}, {self.image_size}),"
                f" got {tuple(frames.shape)}"
            )
        x = frames.transpose(1, 2) * 2.0 - 1.0  # (B, 3, n, S, S)
        for index, conv in enumerate(self.convs):
            x = F.gelu(conv(x, state, f"conv{index}"))
        x = self.input(x.mean((3, 4)).transpose(1, 2))  # (B, n, d)
        x = torch.where(valid[..., None], x, self.missing)
        return self.transformer(x, state["transformer"])


class LogMelEncoder(nn.Module):
    """Audio feature steps (B, m, audio_dim) at 50 Hz -> A (B, m, d)."""

    units_per_step = 1

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.input = nn.Linear(config.audio_dim, config.dim)
        self.transformer = _step_transformer(config)

    def new_state(self) -> list[KeyValueCache]:
        return self.transformer.new_state()

    def forward(self, features: torch.Tensor, state) -> torch.Tensor:
        return self.transformer(self.input(features), state)


@dataclass
class Wav2Vec2State:
    history: torch.Tensor | None  # the samples before the next block (B, prefix)
    transformer: list[KeyValueCache]


class Wav2Vec2Encoder(nn.Module):
    """Waveform (B, samples) at 16 kHz -> wav2vec 2.0 -> A (B, samples / 320, d).

    Audio is processed in blocks of one window (k*w steps). Block b is encoded by running
    wav2vec 2.0 on the `wav2vec2_context` steps of audio that end where the block ends
    (zeros before the start) and keeping its last k*w outputs.
    """

    units_per_step = SAMPLES_PER_AUDIO_STEP

    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        from transformers import Wav2Vec2Model

        self.wav2vec2 = Wav2Vec2Model.from_pretrained(config.wav2vec2_path, local_files_only=True)
        self.frozen = config.freeze_wav2vec2
        if self.frozen:
            self.wav2vec2.requires_grad_(False).eval()
        self.block = config.audio_ratio * config.window  # steps per call
        if config.wav2vec2_context < self.block:
            raise ValueError(
                f"wav2vec2_context ({config.wav2vec2_context} steps) must cover one window "
                f"({self.block} steps)"
            )
        self.segment = config.wav2vec2_context * SAMPLES_PER_AUDIO_STEP + (
            WAV2VEC2_RECEPTIVE_FIELD - SAMPLES_PER_AUDIO_STEP
        )
        self.input = nn.Linear(self.wav2vec2.config.hidden_size, config.dim)
        self.transformer = _step_transformer(config)

    def train(self, mode: bool = True) -> Wav2Vec2Encoder:
        super().train(mode)
        if self.frozen:  # frozen pretrained features stay deterministic (no dropout)
            self.wav2vec2.eval()
        return self

    def new_state(self) -> Wav2Vec2State:
        return Wav2Vec2State(None, self.transformer.new_state())

    def forward(self, samples: torch.Tensor, state: Wav2Vec2State) -> torch.Tensor:
        block_samples = self.block * SAMPLES_PER_AUDIO_STEP
        if samples.shape[1] % block_samples:
            raise ValueError(
                f"wav2vec2 encoder takes audio in whole windows of {block_samples} samples, "
                f"got {samples.shape[1]}"
            )
        prefix = self.segment - block_samples
        history = state.history
        if history is None:
            history = samples.new_zeros(samples.shape[0], prefix)
        audio = torch.cat([history, samples], 1)
        state.history = audio[:, audio.shape[1] - prefix :]
        segments = audio.unfold(1, self.segment, block_samples)  # (B, blocks, segment)
        batch, blocks = segments.shape[:2]
        segments = segments.reshape(batch * blocks, self.segment)
        segments = (segments - segments.mean(1, keepdim=True)) / (
            segments.var(1, keepdim=True) + 1e-7
        ).sqrt()  # what wav2vec 2.0 feature extractors do to each input
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            hidden = self.wav2vec2(segments).last_hidden_state[:, -self.block :]
        hidden = hidden.reshape(batch, blocks * self.block, -1)
        return self.transformer(self.input(hidden), state.transformer)


def build_visual_encoder(config: ReactFaceConfig) -> nn.Module:
    return (
        LandmarkEncoder(config)
        if config.visual_encoder == LANDMARK_ENCODER
        else PixelEncoder(config)
    )


def build_audio_encoder(config: ReactFaceConfig) -> nn.Module:
    return LogMelEncoder(config) if config.audio_encoder == "logmel" else Wav2Vec2Encoder(config)
