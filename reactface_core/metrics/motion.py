"""Metrics that see what a person watching the face sees: how much it moves, blinks and nods.

The REACT metrics can be won by low-amplitude jitter around the mean reaction, which on a
face screen reads as a face that is not listening. These compare the motion of the
generated samples with that of the appropriate real reactions:

- motion ratio of channel d: mean over speakers k and samples n of the temporal standard
  deviation of P[k, n, :, d], over the mean over k of the mean over a in A(k) of that of
  L[a, :, d];
  for every channel that moves in the appropriate reactions (reference std above
  MOVING_STD). 1 moves as much as the real reactions, 0 is frozen. Summaries: the median
  and minimum over channels, and the median within each group of GROUPS;
- event rates per minute of each sequence, averaged: blinks (the mean of eyeBlinkLeft and
  eyeBlinkRight rising through BLINK_ON after being below BLINK_OFF) and nods (head pitch
  minus its centred 1 s running median rising through NOD_ON rad, chin down, after being
  below NOD_OFF; one count per down-up cycle).

Groups and blinks use ARKit channel names (arkit58); other face models get the groups their
names allow (head rotation; jaw for flame56) and no blink rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter

from reactface_core.contract import FPS
from reactface_core.face.models import FaceModel

MOVING_STD = 1e-4  # a channel moves in the set when its mean temporal std exceeds this
BLINK_ON, BLINK_OFF = 0.5, 0.25  # eyelid closure (eyeBlink, 0 open .. 1 closed)
NOD_ON, NOD_OFF = 0.02, 0.005  # rad of chin-down pitch above its 1 s running median
NOD_BASELINE_S = 1.0
GROUPS = ("brows", "smile", "blinks", "jaw/mouth", "head rotation")
SMILE_STEMS = ("mouthSmile", "cheekSquint", "mouthDimple")
EVENTS = ("blinks", "nods")  # the brief, rare events a face shows
RATES = tuple(f"{event}/min" for event in EVENTS)


def channel_groups(model: FaceModel) -> dict[str, np.ndarray]:
    """Column indices of each group of GROUPS present in the face model's layout."""
    names = model.names

    def named(test) -> list[int]:
        return [i for i, name in enumerate(names[model.expression]) if test(name)]

    smile = named(lambda n: n.startswith(SMILE_STEMS))
    groups = {
        "brows": named(lambda n: n.startswith("brow")),
        "smile": smile,
        "blinks": named(lambda n: n.startswith("eyeBlink")),
        "jaw/mouth": named(
            lambda n: n.startswith(("jaw", "mouth")) and not n.startswith(SMILE_STEMS)
        ),
        "head rotation": list(range(model.dim)[model.head_rotation]),
    }
    if model.jaw_pose is not None:
        groups["jaw/mouth"] += list(range(model.dim)[model.jaw_pose])
    return {name: np.asarray(columns) for name, columns in groups.items() if columns}


def temporal_std(sequences: np.ndarray) -> np.ndarray:
    """Per-channel standard deviation over time, averaged over all sequences: (D,)."""
    flat = np.asarray(sequences, dtype=np.float64)
    return flat.std(axis=-2).reshape(-1, flat.shape[-1]).mean(axis=0)


def reference_std(listeners: np.ndarray, appropriate: Sequence[np.ndarray]) -> np.ndarray:
    """Temporal std of the appropriate reactions, each speaker's set counted once: (D,)."""
    per_clip = np.asarray(listeners, dtype=np.float64).std(axis=1)  # (C, D)
    return np.mean([per_clip[indices].mean(axis=0) for indices in appropriate], axis=0)


def motion_ratios(
    predictions: np.ndarray, listeners: np.ndarray, appropriate: Sequence[np.ndarray]
) -> np.ndarray:
    """Motion ratio of every channel (D,): NaN where the channel does not move in the set."""
    reference = reference_std(listeners, appropriate)
    generated = temporal_std(predictions)
    moving = reference > MOVING_STD
    return np.where(moving, generated / np.where(moving, reference, 1.0), np.nan)


def _rises(signal: np.ndarray, on: float, off: float) -> tuple[np.ndarray, np.ndarray]:
    """(rises, state): True at each frame where `signal` (..., T) rises through `on` after
    having been below `off` (the start counts as below); state -1/0/1 below/between/above."""
    state = np.where(signal >= on, 1, np.where(signal <= off, -1, 0))
    frames = np.arange(state.shape[-1])
    decided = np.maximum.accumulate(np.where(state != 0, frames, -1), axis=-1)
    held = np.where(
        decided >= 0, np.take_along_axis(state, np.maximum(decided, 0), axis=-1), -1
    )  # the last state outside the band between the thresholds
    before = np.concatenate([np.full(held.shape[:-1] + (1,), -1), held[..., :-1]], axis=-1)
    return (held == 1) & (before == -1), state


def count_events(signal: np.ndarray, on: float, off: float) -> np.ndarray:
    """Rises of `signal` (..., T) through `on` after having been below `off` (the start
    counts as below): the count per sequence, shape (...)."""
    return _rises(signal, on, off)[0].sum(axis=-1)


def event_starts(signal: np.ndarray, on: float, off: float) -> np.ndarray:
    """Where each event `count_events` counts starts: (..., T) bool, True at the last frame
    at or below `off` before the rise through `on` (frame 0 when there was none)."""
    rises, state = _rises(signal, on, off)
    frames = np.arange(state.shape[-1])
    last_low = np.maximum.accumulate(np.where(state == -1, frames, 0), axis=-1)
    starts = np.zeros(state.shape, dtype=bool)
    where = np.nonzero(rises)
    starts[where[:-1] + (last_low[where],)] = True
    return starts


def blink_signal(sequences: np.ndarray, model: FaceModel) -> np.ndarray | None:
    """Mean eyelid closure (..., T), or None without eyeBlink channels."""
    columns = channel_groups(model).get("blinks")
    return None if columns is None else np.asarray(sequences)[..., columns].mean(axis=-1)


def nod_signal(sequences: np.ndarray, model: FaceModel, fps: float = FPS) -> np.ndarray:
    """Head pitch (chin down positive) minus its centred running median: (..., T).

    A median, unlike a mean, ignores a short nod and follows a change of posture."""
    pitch = np.asarray(sequences, dtype=np.float64)[..., model.head_rotation.start]
    width = max(1, int(round(NOD_BASELINE_S * fps)) | 1)
    size = (1,) * (pitch.ndim - 1) + (width,)
    return pitch - median_filter(pitch, size=size, mode="nearest")


def event_rates(sequences: np.ndarray, model: FaceModel, fps: float = FPS) -> dict[str, float]:
    """Blinks and nods per minute of (..., T, D) sequences, averaged over the sequences."""
    minutes = sequences.shape[-2] / fps / 60.0
    blinks = blink_signal(sequences, model)
    return {
        "blinks/min": np.nan
        if blinks is None
        else float(count_events(blinks, BLINK_ON, BLINK_OFF).mean() / minutes),
        "nods/min": float(count_events(nod_signal(sequences, model, fps), NOD_ON, NOD_OFF).mean())
        / minutes,
    }


def event_onsets(sequences: np.ndarray, model: FaceModel, fps: float = FPS) -> np.ndarray:
    """Starts of the blinks and nods `event_rates` counts in (..., T, D) sequences:
    (..., T, 2) bool, columns in EVENTS order (no blinks without eyeBlink channels)."""
    sequences = np.asarray(sequences)
    blinks = blink_signal(sequences, model)
    nods = event_starts(nod_signal(sequences, model, fps), NOD_ON, NOD_OFF)
    blinks = np.zeros_like(nods) if blinks is None else event_starts(blinks, BLINK_ON, BLINK_OFF)
    return np.stack([blinks, nods], axis=-1)


def motion_summary(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Sequence[np.ndarray],
    model: FaceModel,
    fps: float = FPS,
) -> dict[str, float]:
    """Motion ratio median/min, per group, and event rates of (K, N, T, D) predictions."""
    ratios = motion_ratios(predictions, listeners, appropriate)
    moving = ~np.isnan(ratios)
    summary = {
        "motion median": float(np.median(ratios[moving])) if moving.any() else np.nan,
        "motion min": float(ratios[moving].min()) if moving.any() else np.nan,
    }
    groups = channel_groups(model)
    for name in GROUPS:
        inside = groups.get(name, np.array([], int))
        inside = inside[moving[inside]] if inside.size else inside
        summary[name] = float(np.median(ratios[inside])) if inside.size else np.nan
    summary.update(event_rates(predictions, model, fps))
    return summary


def set_event_rates(
    listeners: np.ndarray, appropriate: Sequence[np.ndarray], model: FaceModel, fps: float = FPS
) -> dict[str, float]:
    """Event rates of the appropriate reactions, each speaker's set as its samples."""
    rates = [event_rates(np.asarray(listeners)[indices], model, fps) for indices in appropriate]
    return {name: float(np.mean([rate[name] for rate in rates])) for name in RATES}
