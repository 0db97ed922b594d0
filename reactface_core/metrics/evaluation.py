"""Score predictions and the baselines on one split: the work behind `reactface evaluate`.

Prediction file format (`reactface evaluate --pred PRED.npy`): one `.npy` array of shape
(num_speakers, num_samples, T, D), float32 or float64, where

- axis 0 follows `EvaluationSet.speaker_clips`: for a REACT-layout folder
  (`load_react_split`), the distinct speaker clips of the split's dataset items
  (`reactface_core.data.dataset.ReactDataset(root, split).items`) in order of first
  appearance. For REACT data every item has its own speaker clip, so this is exactly the
  challenge's item order (csv rows, then the mirrored rows); in the synthetic world several
  listeners react to one speaker clip, which is scored once, with all of their reactions
  as its appropriate set;
- T is at most the clip length; the metrics use the first T frames of every real sequence
  (REACT predictions have 750 frames for 751-frame files);
- D and the column order are the dataset's face model (`arkit58` or `faceverse58`: 58).

A (num_speakers, T, D) array is read as a single sample per speaker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reactface_core.contract import FPS
from reactface_core.data.react import LANDMARK_FILES
from reactface_core.face.models import get_face_model
from reactface_core.metrics.baselines import (
    BaselineData,
    DelayedMime,
    baseline_predictions,
    fit_delayed_mime,
)
from reactface_core.metrics.dims import frdist_groups, part_columns
from reactface_core.metrics.motion import motion_summary, set_event_rates
from reactface_core.metrics.perceived import (
    SpeakerReadout,
    fit_readout,
    speaker_features,
)
from reactface_core.metrics.report import MetricSettings, score
from reactface_core.metrics.synchrony import lag_summary

READOUT_CLIPS = 200  # training speaker clips PerceivedMime's read-out is fitted on


@dataclass(frozen=True)
class EvaluationSet:
    """One split as the metrics see it; all sequences in the face model `face_model`."""

    speakers: np.ndarray  # (K, T, D) behaviour of each speaker item
    listeners: np.ndarray  # (C, T, D) real listener reactions
    true_listener: np.ndarray  # (K,) row of `listeners` that really answered speaker k
    appropriate: list[np.ndarray]  # A(k): rows of `listeners` appropriate for speaker k
    face_model: str = "arkit58"
    fps: float = FPS
    train_speakers: np.ndarray | None = None  # (K_train, T', D), for the baselines
    train_listeners: np.ndarray | None = None
    speaker_clips: tuple[str, ...] = ()  # names of the rows of `speakers`, when known
    delayed_mime: DelayedMime | None = None  # fitted on the validation split
    fresh: np.ndarray | None = None  # (K, N, T, D) fresh appropriate reactions (synthetic)
    deaf: np.ndarray | None = None  # (K, N, T, D) the same listeners, unhearing (synthetic)
    perceived_speakers: np.ndarray | None = None  # (K, T, D) `metrics.perceived`
    perceived_mime: DelayedMime | None = None  # fitted on the validation split's perceived
    read_speakers: np.ndarray | None = None  # (K, T, D) `generate.read_speakers`
    read_mime: DelayedMime | None = None  # fitted on the validation split's read speakers

    @property
    def frames(self) -> int:
        return self.speakers.shape[1]

    def cut(self, frames: int) -> EvaluationSet:
        """The first `frames` frames of every evaluated sequence."""
        perceived, read = self.perceived_speakers, self.read_speakers
        return replace(
            self,
            speakers=self.speakers[:, :frames],
            listeners=self.listeners[:, :frames],
            perceived_speakers=None if perceived is None else perceived[:, :frames],
            read_speakers=None if read is None else read[:, :frames],
        )

    def with_set_size(self, size: int | None) -> EvaluationSet:
        """Each speaker's appropriate set cut to its first `size` reactions (None: all).

        Sets are in the split's row order; in a synthetic world that is the order in which
        `reactface synth` drew the clip's listeners (see `data.world.synth.plan_world`)."""
        if size is None:
            return self
        if size < 1:
            raise ValueError(f"the appropriate set size must be >= 1, got {size}")
        return replace(self, appropriate=[indices[:size] for indices in self.appropriate])

    def baseline_data(self) -> BaselineData:
        return BaselineData(
            speakers=self.speakers,
            true_listeners=self.listeners[self.true_listener],
            listeners=self.listeners,
            appropriate=self.appropriate,
            train_speakers=self.train_speakers,
            train_listeners=self.train_listeners,
            delayed_mime=self.delayed_mime,
            fresh=self.fresh,
            deaf=self.deaf,
            perceived_speakers=self.perceived_speakers,
            perceived_mime=self.perceived_mime,
            read_speakers=self.read_speakers,
            read_mime=self.read_mime,
        )


def load_react_split(root: Path, split: str, training_split: str | None = "train") -> EvaluationSet:
    """A REACT-layout split as an `EvaluationSet`, with the training split when it exists
    (and `training_split` is not None).

    Rows are the split's distinct speaker clips (see the module docstring); the real
    reactions are the listener reactions of all dataset items; A(k) is the union of the
    appropriate sets (matrix rows) of the items whose speaker clip is k; the real listener
    of k (GT) is that of its first item. Sequences are cut to the shortest clip.
    """
    from reactface_core.data import react
    from reactface_core.data.dataset import ReactDataset

    dataset = ReactDataset(root, split, window=None, random_crop=False)
    clips = dataset.speaker_clips
    row = {clip: k for k, clip in enumerate(clips)}
    sets: list[list[np.ndarray]] = [[] for _ in clips]
    first_item = np.full(len(clips), -1)
    for i, item in enumerate(dataset.items):
        k = row[item.speaker]
        sets[k].append(np.asarray(dataset.appropriate_sets[i]))
        if first_item[k] < 0:
            first_item[k] = i
    speakers = [dataset.coefficients(clip) for clip in clips]
    listeners = [dataset.coefficients(item.listener) for item in dataset.items]
    train_speakers = train_listeners = None
    if (
        training_split is not None
        and split != training_split
        and react.csv_path(root, training_split).exists()
    ):
        train = ReactDataset(root, training_split, window=None, random_crop=False)
        train_speakers = _stack([train.coefficients(item.speaker) for item in train.items])
        train_listeners = _stack([train.coefficients(item.listener) for item in train.items])
    return EvaluationSet(
        speakers=_stack(speakers),
        listeners=_stack(listeners),
        true_listener=first_item,
        appropriate=[np.unique(np.concatenate(group)) for group in sets],
        face_model=dataset.info.face_model,
        fps=float(dataset.info.fps),
        train_speakers=train_speakers,
        train_listeners=train_listeners,
        speaker_clips=tuple(clips),
    )


def _stack(sequences: list[np.ndarray]) -> np.ndarray:
    """(count, T, D) float32 of sequences cut to the shortest one."""
    frames = min(len(sequence) for sequence in sequences)
    return np.stack([sequence[:frames] for sequence in sequences]).astype(np.float32)


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


def scored_columns(
    data: EvaluationSet, part: str = "all", keep_constant: bool = False
) -> np.ndarray:
    """Columns the metrics use: those of `part`, minus (unless `keep_constant`) the columns
    that are constant in every real reaction of the split.

    A coefficient the data never moves (an unused blendshape of the synthetic world) holds
    no information: every method scores CCC 0 on it (0/0 is 0, as in the REACT scripts),
    which only scales FRCorr down, and noise there would count as diversity.
    """
    columns = part_columns(get_face_model(data.face_model), part)
    if keep_constant:
        return columns
    flat = data.listeners.reshape(-1, data.listeners.shape[-1])
    varying = columns[flat[:, columns].max(axis=0) > flat[:, columns].min(axis=0)]
    if varying.size == 0:
        raise ValueError(f"every '{part}' column is constant in the real reactions of the split")
    return varying


def evaluate(
    data: EvaluationSet,
    predictions: dict[str, np.ndarray],
    baselines: Sequence[str],
    num_samples: int,
    seed: int = 0,
    part: str = "all",
    grouped_frdist: bool = False,
    settings: MetricSettings | None = None,
    keep_constant: bool = False,
) -> dict[str, dict[str, float]]:
    """Metric rows for each named prediction array and each baseline, in that order.

    Predictions may be shorter than the clips; everything is cut to the shortest length.
    `part`, `keep_constant` and `grouped_frdist` choose the columns (`scored_columns`) and
    the FRDist weighting (`metrics.dims`).
    """
    settings = settings or MetricSettings()
    frames = min([data.frames] + [p.shape[2] for p in predictions.values()])
    data = data.cut(frames)
    model = get_face_model(data.face_model)
    columns = scored_columns(data, part, keep_constant)
    if grouped_frdist:
        settings = replace(settings, frdist_groups=frdist_groups(model, columns))
    methods = dict(predictions)
    for name in baselines:
        methods[name] = baseline_predictions(name, data.baseline_data(), num_samples, seed)
    speakers, listeners = data.speakers[..., columns], data.listeners[..., columns]
    results = {}
    for name in tqdm(methods, desc="evaluating", unit="method", disable=not settings.progress):
        cut = methods[name][:, :, :frames]
        results[name] = score(cut[..., columns], speakers, listeners, data.appropriate, settings)
        results[name] |= motion_summary(cut, data.listeners, data.appropriate, model, data.fps)
        results[name] |= lag_summary(cut[..., columns], speakers, settings.max_lag, settings.device)
    return results


def appropriate_set_rates(data: EvaluationSet) -> dict[str, float]:
    """Blinks and nods per minute of the appropriate reactions (`metrics.motion`)."""
    model = get_face_model(data.face_model)
    return set_event_rates(data.listeners, data.appropriate, model, data.fps)


def fit_delayed_mime_on(
    root: Path,
    split: str = "val",
    part: str = "all",
    keep_constant: bool = False,
    set_size: int | None = None,
    device: str = "cpu",
    readout: SpeakerReadout | None = None,
    read: Callable[[str], np.ndarray] | None = None,
) -> tuple[DelayedMime, float]:
    """DelayedMime's delay and window fitted by FRCorr on `split` (the validation split),
    with the columns and appropriate sets the evaluation uses; and that FRCorr. With a
    `readout`, on the speakers it perceives there (PerceivedMime); with `read` (split ->
    its speakers (K, T', D) as a model reads them), on those (ReadMime)."""
    fit = load_react_split(root, split, training_split=None).with_set_size(set_size)
    columns = scored_columns(fit, part, keep_constant)
    if read is not None:
        speakers = read(split)
        fit = fit.cut(min(fit.frames, speakers.shape[1]))
        speakers = speakers[:, : fit.frames]
    elif readout is not None:
        speakers = perceive(root, split, fit, readout)
    else:
        speakers = fit.speakers
    return fit_delayed_mime(
        speakers[..., columns], fit.listeners[..., columns], fit.appropriate, device
    )


def fit_speaker_readout(root: Path, split: str = "train") -> SpeakerReadout:
    """The linear read-out of `metrics.perceived`, fitted on up to READOUT_CLIPS speaker
    clips of `split` (evenly spaced through it); only those clips are read."""
    from reactface_core.data.dataset import ReactDataset

    dataset = ReactDataset(root, split, window=None, random_crop=False)
    clips = dataset.speaker_clips
    chosen = np.linspace(0, len(clips) - 1, min(READOUT_CLIPS, len(clips))).round()
    chosen = [clips[i] for i in np.unique(chosen).astype(int)]
    coefficients = _stack([dataset.coefficients(clip) for clip in chosen])
    features, valid = speaker_features(dataset, chosen, coefficients.shape[1])
    return fit_readout(features, valid, coefficients)


def perceive(
    root: Path,
    split: str,
    data: EvaluationSet,
    readout: SpeakerReadout,
    landmarks: str = LANDMARK_FILES,
) -> np.ndarray:
    """(K, T, D) the speakers of `data` (split `split` of `root`) as `readout` perceives them
    in the `landmarks` they are seen through (`ReactDataset`'s)."""
    from reactface_core.data.dataset import ReactDataset

    dataset = ReactDataset(root, split, window=None, random_crop=False, landmarks=landmarks)
    return readout(*speaker_features(dataset, data.speaker_clips, data.frames))
