"""Diversity metrics: FRDiv (S-MSE), FRDvs and FRVar (higher means more diverse).

With P (K speakers, N samples, T frames, D dims) and |.|^2 the squared Euclidean norm over
all T x D values:

    FRDiv = mean over k of  sum_{i != j} |P[k, i] - P[k, j]|^2 / (N (N - 1) T D)
            (S-MSE: diversity among the samples generated for one speaker)
    FRDvs = mean over n of  sum_{k != l} |P[k, n] - P[l, n]|^2 / (K (K - 1) T D)
            (diversity across speakers for the same sample index)
    FRVar = mean over k, n, d of the unbiased variance over time of P[k, n, :, d]

Since sum_{i != j} |p_i - p_j|^2 = 2 N sum_i |p_i - mean(p)|^2, FRDiv and FRDvs are twice
the unbiased variance across samples (or speakers), averaged over every other axis; that
identity is how they are computed here, after subtracting the first sample (speaker, frame),
which changes no variance and makes identical sequences score exactly 0. With a single sample (or speaker) there is no pair
and the value is 0, as in the REACT scripts.
"""

from __future__ import annotations

import numpy as np

from reactface_core.metrics.sets import check_predictions


def frdiv(predictions: np.ndarray) -> float:
    """S-MSE: mean squared difference between two different samples of the same speaker."""
    predictions = check_predictions(predictions)
    if predictions.shape[1] < 2:
        return 0.0
    return float(2 * _variance(predictions, axis=1).mean())


def frdvs(predictions: np.ndarray) -> float:
    """Mean squared difference between the reactions to two different speakers."""
    predictions = check_predictions(predictions)
    if predictions.shape[0] < 2:
        return 0.0
    return float(2 * _variance(predictions, axis=0).mean())


def frvar(predictions: np.ndarray) -> float:
    """Mean unbiased variance over time of every coefficient of every generated reaction."""
    predictions = check_predictions(predictions)
    if predictions.shape[2] < 2:
        return 0.0
    return float(_variance(predictions, axis=2).mean())


def _variance(values: np.ndarray, axis: int) -> np.ndarray:
    """Unbiased variance along `axis` in float64, exactly 0 where all entries are equal."""
    first = np.take(values, [0], axis=axis).astype(np.float64)
    return (values - first).var(axis=axis, ddof=1)
