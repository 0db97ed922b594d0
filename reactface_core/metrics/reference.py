"""Plain per-pair loop implementations of every metric: the definitions written out directly.

They favour being obviously right over speed: one (speaker, sample, appropriate reaction)
pair at a time and one dimension (CCC, TLCC) or one cell (DTW) at a time, the way the REACT
reference scripts loop. Tests check the vectorised metrics against them and
`reactface bench metrics` times both.
"""

from __future__ import annotations

import numpy as np

from reactface_core.metrics.conventions import CCC_EPS, Convention, get_convention
from reactface_core.metrics.dtw import Groups
from reactface_core.metrics.sets import (
    Appropriateness,
    appropriate_lists,
    check_predictions,
    check_sequences,
)
from reactface_core.metrics.synchrony import CONSTANT_VARIANCE, default_max_lag


def ccc_pair(x: np.ndarray, y: np.ndarray, eps: float = CCC_EPS) -> float:
    """CCC of two (T, D) sequences: Lin's coefficient per dimension, averaged."""
    values = []
    for d in range(x.shape[1]):
        a, b = x[:, d], y[:, d]
        mean_a, mean_b = a.mean(), b.mean()
        cov = ((a - mean_a) * (b - mean_b)).mean()
        spread = ((a - mean_a) ** 2).mean() + ((b - mean_b) ** 2).mean() + (mean_a - mean_b) ** 2
        values.append(2 * cov / (spread + eps))
    return float(np.mean(values))


def dtw_pair(x: np.ndarray, y: np.ndarray) -> float:
    """DTW of (T1, D) and (T2, D) sequences by the textbook cell-by-cell dynamic program."""
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).tolist()
    rows, cols = len(cost), len(cost[0])
    inf = float("inf")
    above = [0.0] + [inf] * cols  # row i-1 with R(i-1, j) at index j+1; R(-1, -1) = 0
    for i in range(rows):
        row = [inf] * (cols + 1)
        for j in range(cols):
            row[j + 1] = cost[i][j] + min(above[j], above[j + 1], row[j])
        above = row  # row[0] = +inf: the border R(i, -1)
    return float(np.sqrt(max(above[cols], 0.0)))


def frcorr_loop(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    convention: str | Convention = "ours",
) -> float:
    convention = get_convention(convention)
    return convention.reduce(best_ccc_loop(predictions, listeners, appropriate, convention.ccc_eps))


def best_ccc_loop(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    eps: float = CCC_EPS,
) -> np.ndarray:
    predictions = check_predictions(predictions).astype(np.float64)
    listeners = check_sequences(listeners, "listeners", like=predictions)
    lists = appropriate_lists(appropriate, len(predictions), len(listeners))
    best = np.empty(predictions.shape[:2])
    for k, indices in enumerate(lists):
        for n in range(predictions.shape[1]):
            best[k, n] = max(ccc_pair(predictions[k, n], listeners[a], eps) for a in indices)
    return best


def frdist_loop(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    groups: Groups | None = None,
    convention: str | Convention = "ours",
) -> float:
    best = best_dtw_loop(predictions, listeners, appropriate, groups)
    return get_convention(convention).reduce(best)


def best_dtw_loop(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    groups: Groups | None = None,
) -> np.ndarray:
    predictions = check_predictions(predictions).astype(np.float64)
    listeners = check_sequences(listeners, "listeners", like=predictions)
    lists = appropriate_lists(appropriate, len(predictions), len(listeners))
    groups = [(slice(None), 1.0)] if groups is None else groups
    best = np.empty(predictions.shape[:2])
    for k, indices in enumerate(lists):
        for n in range(predictions.shape[1]):
            best[k, n] = min(
                sum(
                    weight * dtw_pair(predictions[k, n][:, cols], listeners[a][:, cols])
                    for cols, weight in groups
                )
                for a in indices
            )
    return best


def frdiv_loop(predictions: np.ndarray) -> float:
    predictions = check_predictions(predictions).astype(np.float64)
    speakers, samples = predictions.shape[:2]
    if samples < 2:
        return 0.0
    per_speaker = []
    for k in range(speakers):
        total = sum(
            ((predictions[k, i] - predictions[k, j]) ** 2).sum()
            for i in range(samples)
            for j in range(samples)
            if i != j
        )
        per_speaker.append(total / (samples * (samples - 1) * predictions[k, 0].size))
    return float(np.mean(per_speaker))


def frdvs_loop(predictions: np.ndarray) -> float:
    predictions = check_predictions(predictions).astype(np.float64)
    speakers, samples = predictions.shape[:2]
    if speakers < 2:
        return 0.0
    per_sample = []
    for n in range(samples):
        total = sum(
            ((predictions[k, n] - predictions[m, n]) ** 2).sum()
            for k in range(speakers)
            for m in range(speakers)
            if k != m
        )
        per_sample.append(total / (speakers * (speakers - 1) * predictions[0, n].size))
    return float(np.mean(per_sample))


def frvar_loop(predictions: np.ndarray) -> float:
    predictions = check_predictions(predictions).astype(np.float64)
    speakers, samples, _, dims = predictions.shape
    values = [
        predictions[k, n, :, d].var(ddof=1)
        for k in range(speakers)
        for n in range(samples)
        for d in range(dims)
    ]
    return float(np.mean(values))


def peak_lag_pair(x: np.ndarray, y: np.ndarray, max_lag: int, nan_peak: bool = False) -> int:
    """lag* of one generated reaction x (T, D) against the speaker y (T, D).

    A constant window scores 0, or with `nan_peak` NaN, which `np.argmax` takes as the peak."""
    frames = len(x)
    correlations = []
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, b = x[lag:], y[: frames - lag]
        else:
            a, b = x[:lag], y[-lag:]
        values = []
        for d in range(x.shape[1]):
            var_a, var_b = a[:, d].var(), b[:, d].var()
            if var_a <= CONSTANT_VARIANCE or var_b <= CONSTANT_VARIANCE:
                values.append(np.nan if nan_peak else 0.0)
                continue
            cov = ((a[:, d] - a[:, d].mean()) * (b[:, d] - b[:, d].mean())).mean()
            values.append(cov / np.sqrt(var_a * var_b))
        correlations.append(np.mean(values))
    return int(np.argmax(correlations)) - max_lag


def frsyn_loop(
    predictions: np.ndarray,
    speakers: np.ndarray,
    max_lag: int | None = None,
    convention: str | Convention = "ours",
) -> float:
    convention = get_convention(convention)
    predictions = check_predictions(predictions).astype(np.float64)
    speakers = check_sequences(speakers, "speakers", like=predictions, same_count=True)
    max_lag = default_max_lag() if max_lag is None else max_lag
    samples = 1 if convention.tlcc_first_sample else predictions.shape[1]
    offsets = [
        abs(peak_lag_pair(predictions[k, n], speakers[k], max_lag, convention.tlcc_nan_peak))
        for k in range(predictions.shape[0])
        for n in range(samples)
    ]
    return float(np.mean(offsets))
