"""The speaker as a camera sees it: coefficients read out of the speaker features.

Mime and DelayedMime copy the speaker's coefficients as the dataset stores them: in a
synthetic world the generator's exact values, in REACT a face-model fit of the video. A
model on a robot has only the camera: `PerceivedMime` is DelayedMime applied to what a
plain linear read-out of the same speaker features the model sees recovers, so it tells
how much of the mirror heuristics' score comes from seeing better than the model can.

    c^_t = [x_t, 1] W   where a face is seen (x_t standardised speaker features),
           c^_{t-1}     where none is (held; the training mean before the first face)

W is ridge regression (`RIDGE` on standardised features) fitted on the frames with a face
of the training split; the delay and window of DelayedMime are then fitted on the
validation split's perceived speakers, as for DelayedMime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RIDGE = 10.0  # ridge penalty on standardised features (a few hundred per frame)


@dataclass(frozen=True)
class SpeakerReadout:
    """Standardisation and weights of the linear read-out: features (T, F) -> (T, D)."""

    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    weights: np.ndarray  # (F + 1, D), the last row the bias
    rest: np.ndarray  # (D,) the training mean, held until the first face is seen

    def __call__(self, features: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Features (K, T, F) and validity (K, T) -> perceived coefficients (K, T, D)."""
        standard = (features - self.mean) / self.std
        read = standard @ self.weights[:-1] + self.weights[-1]  # (K, T, D)
        seen = np.where(valid, np.arange(valid.shape[1]), -1)
        last = np.maximum.accumulate(seen, axis=1)  # the last frame with a face, -1: none yet
        held = np.take_along_axis(read, np.maximum(last, 0)[..., None], axis=1)
        return np.where(last[..., None] >= 0, held, self.rest).astype(np.float32)


def fit_readout(
    features: np.ndarray, valid: np.ndarray, coefficients: np.ndarray, ridge: float = RIDGE
) -> SpeakerReadout:
    """Ridge regression from features (K, T, F) to coefficients (K, T, D) on valid frames."""
    x, y = features[valid].astype(np.float64), coefficients[valid].astype(np.float64)
    if len(x) <= x.shape[1]:
        raise ValueError(
            f"a speaker read-out needs more frames with a face than features: {len(x)} frames "
            f"for {x.shape[1]} features"
        )
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], 1)
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    rest = coefficients.reshape(-1, coefficients.shape[-1]).mean(0)
    return SpeakerReadout(mean, std, weights, rest)


def speaker_features(dataset, clips: Sequence[str], frames: int):
    """Raw speaker features (K, T, F) and validity (K, T) of clips of a `ReactDataset`."""
    pairs = [dataset.speaker_visual(clip, 0, frames, normalise=False) for clip in clips]
    return np.stack([f for f, _ in pairs]), np.stack([v for _, v in pairs])
