"""Input checking shared by the metrics: array shapes and appropriate-reaction sets.

Every metric takes the same arrays:

- predictions P: (num_speakers, num_samples, T, D), the generated listener reactions, N samples
  per speaker behaviour;
- listeners L: (num_clips, T, D), the real listener reactions of the split;
- speakers S: (num_speakers, T, D), the speaker behaviour in the same coefficient layout;
- appropriate: the set A(k) of rows of L that are appropriate reactions to speaker k, either a
  boolean matrix (num_speakers, num_clips) (the REACT `neighbour_emotion_{split}.npy`) or one
  sequence of clip indices per speaker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Appropriateness = np.ndarray | Sequence[Sequence[int]]


def check_predictions(predictions: np.ndarray, what: str = "predictions") -> np.ndarray:
    """Return `predictions` as a float (num_speakers, num_samples, T, D) array or raise.

    float32 stays float32 (metrics convert one speaker at a time to float64)."""
    array = np.asarray(predictions)
    if array.ndim != 4:
        raise ValueError(
            f"{what} has shape {array.shape}, expected (num_speakers, num_samples, T, D)"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def check_sequences(
    sequences: np.ndarray, what: str, like: np.ndarray | None = None, same_count: bool = False
) -> np.ndarray:
    """Return `sequences` as float64 (count, T, D); with `like` (a P array) T and D must match."""
    array = np.asarray(sequences)
    if array.ndim != 3:
        raise ValueError(f"{what} has shape {array.shape}, expected (count, T, D)")
    if like is not None:
        if array.shape[1:] != like.shape[2:]:
            raise ValueError(
                f"{what} has frames x dims {array.shape[1:]}, but predictions have "
                f"{like.shape[2:]}; both must be (T, D) in the same face model"
            )
        if same_count and array.shape[0] != like.shape[0]:
            raise ValueError(
                f"{what} has {array.shape[0]} sequences, expected one per speaker ({like.shape[0]})"
            )
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    return array.astype(np.float64, copy=False)


def appropriate_lists(
    appropriate: Appropriateness, num_speakers: int, num_clips: int
) -> list[np.ndarray]:
    """The appropriate clip indices of every speaker, as a list of non-empty int64 arrays."""
    if isinstance(appropriate, np.ndarray) and appropriate.ndim == 2:
        if appropriate.shape != (num_speakers, num_clips):
            raise ValueError(
                f"appropriateness matrix has shape {appropriate.shape}, expected "
                f"(num_speakers, num_clips) = ({num_speakers}, {num_clips})"
            )
        lists = [np.flatnonzero(row) for row in appropriate.astype(bool)]
    else:
        if len(appropriate) != num_speakers:
            raise ValueError(
                f"got {len(appropriate)} appropriate sets, expected one per speaker "
                f"({num_speakers})"
            )
        lists = [np.asarray(indices, dtype=np.int64).reshape(-1) for indices in appropriate]
    for speaker, indices in enumerate(lists):
        if indices.size == 0:
            raise ValueError(f"speaker {speaker} has no appropriate listener reaction")
        if indices.min() < 0 or indices.max() >= num_clips:
            raise ValueError(
                f"speaker {speaker} has appropriate clip indices outside [0, {num_clips})"
            )
    return [indices.astype(np.int64) for indices in lists]
