"""Score predictions and the baselines on one split: the work behind `reactface evaluate`.

Prediction file format (`reactface evaluate --pred PRED.npy`): one `.npy` array of shape
(num_speakers, num_samples, T, D), float32 or float64, where

- axis 0 follows the order of the split's speaker items, i.e. `EvaluationSet.speakers`
  (for a REACT-layout folder: the order of the split's dataset in `reactface_core.data`);
- T is at most the clip length; the metrics use the first T frames of every real sequence
  (REACT predictions have 750 frames for 751-frame files);
- D and the column order are the dataset's face model (`arkit58` or `faceverse58`: 58).

A (num_speakers, T, D) array is read as a single sample per speaker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reactface_core.face.models import get_face_model
from reactface_core.metrics.baselines import BaselineData, baseline_predictions
from reactface_core.metrics.dims import frdist_groups, part_columns
from reactface_core.metrics.report import MetricSettings, score


@dataclass(frozen=True)
class EvaluationSet:
    """One split as the metrics see it; all sequences in the face model `face_model`."""

    speakers: np.ndarray  # (K, T, D) behaviour of each speaker item
    listeners: np.ndarray  # (C, T, D) real listener reactions
    true_listener: np.ndarray  # (K,) row of `listeners` that really answered speaker k
    appropriate: list[np.ndarray]  # A(k): rows of `listeners` appropriate for speaker k
    face_model: str = "arkit58"
    fps: float = 25.0
    train_speakers: np.ndarray | None = None  # (K_train, T', D), for the baselines
    train_listeners: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return self.speakers.shape[1]

    def cut(self, frames: int) -> EvaluationSet:
        """The first `frames` frames of every evaluated sequence."""
        return replace(
            self, speakers=self.speakers[:, :frames], listeners=self.listeners[:, :frames]
        )

    def baseline_data(self) -> BaselineData:
        return BaselineData(
            speakers=self.speakers,
            true_listeners=self.listeners[self.true_listener],
            listeners=self.listeners,
            appropriate=self.appropriate,
            train_speakers=self.train_speakers,
            train_listeners=self.train_listeners,
        )


def load_predictions(path: Path, data: EvaluationSet) -> np.ndarray:
    """Read a prediction file and check it against the split (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prediction file {path} does not exist")
    try:
        predictions = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path} is not a numeric .npy array: {error}") from None
    return check_predictions_against(predictions, data, str(path))


def check_predictions_against(predictions, data: EvaluationSet, what: str) -> np.ndarray:
    """`predictions` as (K, N, T, D) matching the split, or an error naming `what`."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 3:
        predictions = predictions[:, None]
    dim = get_face_model(data.face_model).dim
    expected = f"(num_speakers={len(data.speakers)}, num_samples, T<={data.frames}, D={dim})"
    if predictions.ndim != 4 or not np.issubdtype(predictions.dtype, np.floating):
        raise ValueError(
            f"{what} holds a {predictions.dtype} array of shape {predictions.shape}, "
            f"expected float {expected}"
        )
    speakers, _, frames, dims = predictions.shape
    if speakers != len(data.speakers) or not 2 <= frames <= data.frames or dims != dim:
        raise ValueError(
            f"{what} has shape {predictions.shape}, expected {expected}: one row per speaker "
            f"item of the split in dataset order, face model {data.face_model}"
        )
    if not np.isfinite(predictions).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return predictions


def evaluate(
    data: EvaluationSet,
    predictions: dict[str, np.ndarray],
    baselines: Sequence[str],
    num_samples: int,
    seed: int = 0,
    part: str = "all",
    grouped_frdist: bool = False,
    settings: MetricSettings | None = None,
) -> dict[str, dict[str, float]]:
    """Metric rows for each named prediction array and each baseline, in that order.

    Predictions may be shorter than the clips; everything is cut to the shortest length.
    `part` and `grouped_frdist` choose columns and FRDist weighting (`metrics.dims`).
    """
    settings = settings or MetricSettings()
    frames = min([data.frames] + [p.shape[2] for p in predictions.values()])
    data = data.cut(frames)
    model = get_face_model(data.face_model)
    columns = part_columns(model, part)
    if grouped_frdist:
        settings = replace(settings, frdist_groups=frdist_groups(model, columns))
    methods = dict(predictions)
    for name in baselines:
        methods[name] = baseline_predictions(name, data.baseline_data(), num_samples, seed)
    speakers, listeners = data.speakers[..., columns], data.listeners[..., columns]
    results = {}
    for name in tqdm(methods, desc="evaluating", unit="method", disable=not settings.progress):
        chosen = methods[name][:, :, :frames][..., columns]
        results[name] = score(chosen, speakers, listeners, data.appropriate, settings)
    return results
