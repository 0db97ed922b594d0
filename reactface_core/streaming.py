"""Online reaction generation with constant cost per window.

`ReactionGenerator` takes the speaker's face features (or frames) and audio features (or
samples) as they arrive, in chunks of any size, and every w frames returns the N sampled
reaction windows (N, w, D) for the frames just completed. Encoder states are cached and
every attention looks back at most `context` frames, so the work per window does not grow
with t (the public reference re-encodes the whole history every window). The N samples
run as one batch. It computes exactly what `ReactFace.forward` computes on the same inputs
and seed (to float rounding), because both run the same per-window code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reactface_core.model.config import LANDMARK_ENCODER
from reactface_core.model.encoders import SAMPLES_PER_AUDIO_STEP
from reactface_core.model.reactface import ReactFace


@dataclass
class ReactionWindow:
    start: int  # 0-based index of the window's first frame (25 fps)
    reactions: torch.Tensor  # (N, w, D) face coefficients, one row per sample


class ReactionGenerator:
    """Feed speaker input with `push`; get `ReactionWindow`s back every w frames.

    Puts the model in eval mode. `seed` fixes the samples (same seed, same inputs -> same
    reactions); `deterministic=True` uses the distribution means instead of sampling.
    """

    def __init__(
        self, model: ReactFace, samples: int = 10, seed: int = 0, deterministic: bool = False
    ):
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.model = model.eval()
        self.samples, self.seed, self.deterministic = samples, seed, deterministic
        config = model.config
        self.window = config.window
        per_step = SAMPLES_PER_AUDIO_STEP if config.audio_encoder == "wav2vec2" else 1
        self.audio_per_frame = config.audio_ratio * per_step
        self.device = next(model.parameters()).device
        if config.visual_encoder == LANDMARK_ENCODER:
            self._visual_shape: tuple[int, ...] = (config.visual_dim,)
        else:
            self._visual_shape = (3, config.image_size, config.image_size)
        self._audio_shape: tuple[int, ...] = (config.audio_dim,) if per_step == 1 else ()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next push starts a new interaction at frame 0."""
        self.generator = torch.Generator().manual_seed(self.seed)
        self.speaker_state = self.model.speaker.new_state(chunk=self.window)
        self.listener_state = self.model.new_listener_state(online=True)
        self._visual: torch.Tensor | None = None
        self._valid: torch.Tensor | None = None
        self._audio: torch.Tensor | None = None

    def reconfigure(self, samples: int, seed: int, deterministic: bool) -> None:
        """Change N, the seed or sampling while running. A new seed restarts the noise
        stream at once; a new N needs a `reset()` (the history holds N listener rows)."""
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if seed != self.seed:
            self.generator = torch.Generator().manual_seed(seed)
        self.samples, self.seed, self.deterministic = samples, seed, deterministic

    @property
    def frames_generated(self) -> int:
        return self.listener_state.frames

    @torch.no_grad()
    def push(
        self,
        visual: torch.Tensor | np.ndarray | None = None,
        audio: torch.Tensor | np.ndarray | None = None,
        visual_valid: torch.Tensor | np.ndarray | None = None,
    ) -> list[ReactionWindow]:
        """Add speaker frames and/or audio; return the windows that became complete.

        visual: (n, visual_dim) landmark features or (n, 3, S, S) frames in [0, 1];
        visual_valid: (n,) bool, default all True (NaN feature rows count as invalid);
        audio: (m, audio_dim) audio feature steps at 50 Hz, or (m,) samples at 16 kHz for
        wav2vec 2.0. Video and audio may arrive in different chunk sizes.
        """
        if visual is not None:
            visual = torch.as_tensor(visual, dtype=torch.float32, device=self.device)
            _check("visual", visual, self._visual_shape)
            valid = (
                torch.ones(visual.shape[0], dtype=torch.bool, device=self.device)
                if visual_valid is None
                else torch.as_tensor(visual_valid, dtype=torch.bool, device=self.device)
            )
            if valid.shape != visual.shape[:1]:
                raise ValueError(
                    f"visual_valid has shape {tuple(valid.shape)}, expected ({visual.shape[0]},)"
                )
            self._visual = _append(self._visual, visual)
            self._valid = _append(self._valid, valid)
        if audio is not None:
            audio = torch.as_tensor(audio, dtype=torch.float32, device=self.device)
            _check("audio", audio, self._audio_shape)
            self._audio = _append(self._audio, audio)
        windows = []
        while self._ready():
            windows.append(self._step())
        return windows

    def _ready(self) -> bool:
        w = self.window
        return (
            self._visual is not None
            and self._audio is not None
            and self._visual.shape[0] >= w
            and self._audio.shape[0] >= w * self.audio_per_frame
        )

    def _step(self) -> ReactionWindow:
        model, w, n = self.model, self.window, self.samples
        audio_units = w * self.audio_per_frame
        visual, self._visual = self._visual[:w], self._visual[w:]
        valid, self._valid = self._valid[:w], self._valid[w:]
        audio, self._audio = self._audio[:audio_units], self._audio[audio_units:]
        face, speech = model.speaker(visual[None], valid[None], audio[None], self.speaker_state)
        model.remember_speaker(self.listener_state, face, speech)
        start = self.listener_state.frames
        if start == 0 and model.config.style_dim:  # the session's style, drawn once
            style = torch.zeros(n, model.config.style_dim)
            if not self.deterministic:
                style = torch.randn(n, model.config.style_dim, generator=self.generator)
            model.start_session(self.listener_state, style.to(self.device))
        noise = None if self.deterministic else model.window_noise(n, self.generator, self.device)
        reactions = model.generate_window(self.listener_state, n, noise, settle=False).reactions
        return ReactionWindow(start, reactions)

    @torch.no_grad()
    def settle(self) -> None:
        """Add the last window to the history now (`ReactFace.settle_window`) rather than
        when the next one starts: call it once the window is shown, while the next one's
        frames are still coming in."""
        self.model.settle_window(self.listener_state)


def _check(name: str, chunk: torch.Tensor, per_row: tuple[int, ...]) -> None:
    if tuple(chunk.shape[1:]) != per_row:
        expected = ", ".join(("n",) + tuple(str(size) for size in per_row))
        raise ValueError(f"{name} chunk has shape {tuple(chunk.shape)}, expected ({expected})")


def _append(buffer: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    return new if buffer is None or buffer.shape[0] == 0 else torch.cat([buffer, new])
