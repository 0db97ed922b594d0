"""Optional wav2vec 2.0 speaker-audio features from a LOCAL weights folder (no hub access).

Alignment with the 50 Hz log-mel steps: wav2vec 2.0's convolutional front end has a
receptive field of 400 samples and a stride of 320 (hence "49.9 Hz": a clip of N samples
gives floor((N - 400) / 320) + 1 frames). Padding the input with 80 zeros on the left makes
frame j cover samples [(j + 1) * 320 - 400, (j + 1) * 320), exactly the window of log-mel
step j, so both give N // 320 steps and step j of either ends at the same sample.

Causality: the transformer attends over its whole input and the front end may normalise
over time, so a feature computed on a whole clip sees the future. `causal` (and its online
twin `StreamingWav2Vec`) therefore recompute the model on a bounded window of past audio
(`context_steps`) for every block of `update_steps` steps and keep the block's last
frames; with update_steps = 1 (default) step j depends on samples < (j + 1) * 320 only. The
cost is one forward pass per block: fine on a GPU, slow on a CPU, where log-mel is the
default audio input.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reactface_core.perception.audio import HOP, WINDOW

LEFT_PAD = WINDOW - HOP  # 80 samples: aligns frame j with log-mel step j


class Wav2VecFeatures:
    """A wav2vec 2.0 encoder loaded with `from_pretrained(folder, local_files_only=True)`."""

    def __init__(
        self,
        folder: str | Path,
        layer: int | None = None,
        context_steps: int = 100,
        update_steps: int = 1,
    ) -> None:
        import torch
        from transformers import Wav2Vec2Model

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ValueError(
                f"wav2vec 2.0 folder {folder} has no config.json; expected a local folder "
                "saved with Wav2Vec2Model.save_pretrained (weights are never downloaded)"
            )
        if context_steps < 1 or not 1 <= update_steps <= context_steps:
            raise ValueError(
                f"need context_steps >= 1 and 1 <= update_steps <= context_steps, got "
                f"context_steps={context_steps}, update_steps={update_steps}"
            )
        self.model = Wav2Vec2Model.from_pretrained(str(folder), local_files_only=True).eval()
        self.layer = layer
        self.context_steps = context_steps
        self.update_steps = update_steps
        self.normalize = _wants_normalisation(folder)
        self.feature_dim = self.model.config.hidden_size
        self._torch = torch

    def to(self, device: str) -> Wav2VecFeatures:
        self.model.to(device)
        return self

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Whole-clip (non-causal) features: (N,) 16 kHz -> (N // 320, feature_dim) float32."""
        samples = _mono(samples)
        n_steps = len(samples) // HOP
        if n_steps == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        padded = np.concatenate([np.zeros(LEFT_PAD, np.float32), samples[: n_steps * HOP]])
        return self._encode(padded[None])[0]

    def causal(self, samples: np.ndarray) -> np.ndarray:
        """Causal features (see module docstring): (N,) -> (N // 320, feature_dim) float32."""
        samples = _mono(samples)
        n_steps = len(samples) // HOP
        if n_steps == 0:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        block_ends = list(range(self.update_steps, n_steps + 1, self.update_steps))
        if n_steps % self.update_steps:
            block_ends.append(n_steps)
        history = np.concatenate([np.zeros(self._window_samples(), np.float32), samples])
        windows = np.stack(
            [history[e * HOP : e * HOP + self._window_samples()] for e in block_ends]
        )
        blocks = [
            row for i in range(0, len(windows), 32) for row in self._encode(windows[i : i + 32])
        ]
        sizes = np.diff([0, *block_ends])
        rows = [block[-size:] for block, size in zip(blocks, sizes, strict=True)]
        return np.concatenate(rows)

    def _window_samples(self) -> int:
        return self.context_steps * HOP + LEFT_PAD

    def _encode(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        if self.normalize:
            mean = batch.mean(axis=1, keepdims=True)
            batch = (batch - mean) / np.sqrt(batch.var(axis=1, keepdims=True) + 1e-7)
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            inputs = torch.as_tensor(batch, dtype=torch.float32, device=device)
            output = self.model(inputs, output_hidden_states=self.layer is not None)
        hidden = (
            output.last_hidden_state if self.layer is None else output.hidden_states[self.layer]
        )
        return hidden.float().cpu().numpy()


class StreamingWav2Vec:
    """Online twin of `Wav2VecFeatures.causal`: equal outputs for any chunking."""

    def __init__(self, features: Wav2VecFeatures) -> None:
        self.features = features
        self.reset()

    def reset(self) -> None:
        # history[i] is sample (i + first_sample) of the zero-padded stream
        self._history = np.zeros(self.features._window_samples(), np.float32)
        self._first_sample = 0
        self.steps_emitted = 0

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Append 16 kHz samples -> features of the blocks they complete (n, feature_dim)."""
        self._history = np.concatenate([self._history, _mono(chunk)])
        rows = []
        while self._available() - self.steps_emitted >= self.features.update_steps:
            rows.append(self._emit(self.steps_emitted + self.features.update_steps))
        return self._stack(rows)

    def flush(self) -> np.ndarray:
        """Features of the last, partial block (call at the end of a clip)."""
        end = self._available()
        return self._stack([self._emit(end)] if end > self.steps_emitted else [])

    def _available(self) -> int:
        padded_length = self._first_sample + len(self._history)
        return (padded_length - self.features._window_samples()) // HOP

    def _emit(self, end_step: int) -> np.ndarray:
        start = end_step * HOP - self._first_sample  # window of steps up to end_step
        window = self._history[start : start + self.features._window_samples()]
        block = self.features._encode(window[None])[0][-(end_step - self.steps_emitted) :]
        self.steps_emitted = end_step
        self._history = self._history[start:]  # later windows start later
        self._first_sample += start
        return block

    def _stack(self, rows: list[np.ndarray]) -> np.ndarray:
        if not rows:
            return np.zeros((0, self.features.feature_dim), dtype=np.float32)
        return np.concatenate(rows)


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"wav2vec features expect mono 1-D 16 kHz samples, got {samples.shape}")
    return samples


def _wants_normalisation(folder: Path) -> bool:
    """Follow the folder's feature-extractor config (zero mean, unit variance per input)."""
    config = folder / "preprocessor_config.json"
    if not config.is_file():
        return False
    return bool(json.loads(config.read_text()).get("do_normalize", True))
