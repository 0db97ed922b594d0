"""FRSyn: synchrony as the lag of the peak time-lagged cross-correlation (TLCC) with the speaker.

For a generated reaction x (T, D) and the speaker behaviour y (T, D), at lag l the frames
x[t + l] and y[t] are paired over their overlap (T - |l| frames) and

    r(l)   = mean over d of Pearson(x[t + l, d], y[t, d])     (0 for a constant window)
    lag*   = argmax over l in [-L, L] of r(l)                 (first, i.e. most negative, on ties)
    FRSyn  = mean over k, n of |lag*(P[k, n], S[k])|          (frames; lower is better)

A positive lag* means the reaction follows the speaker. L = 49 frames by default: the REACT
scripts scan range(-(2 * 25 - 1), 2 * 25), lags under 2 s at 25 fps. A window counts as
constant when its variance is below CONSTANT_VARIANCE. A generated reaction with no
defined correlation at any lag (e.g. constant) gets lag* = -L, i.e. |lag*| = L.

That is convention 'ours': a constant channel adds nothing at that lag, as the metric
intends. The official scripts (REACT 2024 `compute_TLCC_mp`, ReactFace `compute_FRSyn_mp`)
get NaN from NumPy's `corrcoef` there, so r(l) is NaN and `torch.argmax` picks the first
NaN lag as the peak: one constant channel (in the reaction or the speaker) makes
|lag*| = L whatever the other channels do. They also return after the first sample of each
speaker. Convention 'official' / 'reactface' reproduces both (`conventions`).

Vectorised: the lagged sums of x[t + l] y[t] for all lags come from one FFT cross-correlation
per series; the window sums and sums of squares from prefix sums.
"""

from __future__ import annotations

import numpy as np
import torch

from reactface_core.contract import FPS
from reactface_core.metrics.conventions import Convention, get_convention
from reactface_core.metrics.sets import check_predictions, check_sequences

CONSTANT_VARIANCE = 1e-20  # a window whose variance is below this counts as constant


def default_max_lag(fps: float = FPS, seconds: float = 2.0) -> int:
    """Largest lag the REACT scripts scan: int(seconds * fps) - 1 frames (49 at 25 fps)."""
    return int(seconds * fps) - 1


def lagged_correlation(
    predictions: np.ndarray,
    speakers: np.ndarray,
    max_lag: int,
    device: str = "cpu",
    speakers_per_chunk: int = 16,
    undefined: float = 0.0,
) -> np.ndarray:
    """r(l) for every speaker, sample and lag -L..L: (num_speakers, num_samples, 2L+1).

    A channel whose window is constant contributes `undefined` at that lag (0: ours; NaN:
    the official scripts, which makes r(l) NaN)."""
    predictions = check_predictions(predictions)
    speakers = check_sequences(speakers, "speakers", like=predictions, same_count=True)
    frames = predictions.shape[2]
    if not 0 <= max_lag <= frames - 2:
        raise ValueError(f"max_lag must be in [0, T - 2] = [0, {frames - 2}], got {max_lag}")
    lags = torch.arange(-max_lag, max_lag + 1, device=device)
    size = 1 << (frames + max_lag - 1).bit_length()  # no circular wrap for |lag| <= L
    # window of x: [max(l, 0), T + min(l, 0)); window of y: [max(-l, 0), T - max(l, 0))
    x_start, x_end = lags.clamp(min=0), frames + lags.clamp(max=0)
    y_start, y_end = (-lags).clamp(min=0), frames - lags.clamp(min=0)
    count = (frames - lags.abs()).to(torch.float64)[:, None]  # (2L+1, 1)

    out = np.empty((*predictions.shape[:2], 2 * max_lag + 1))
    for start in range(0, predictions.shape[0], speakers_per_chunk):
        ks = slice(start, start + speakers_per_chunk)
        x = torch.as_tensor(predictions[ks], device=device)  # (k, N, T, D)
        y = torch.as_tensor(speakers[ks], device=device)[:, None]  # (k, 1, T, D)
        x = x - x.mean(2, keepdim=True)  # Pearson is shift invariant; centring helps rounding
        y = y - y.mean(2, keepdim=True)
        spectrum = torch.fft.rfft(x, n=size, dim=2) * torch.fft.rfft(y, n=size, dim=2).conj()
        cross = torch.fft.irfft(spectrum, n=size, dim=2)[:, :, lags % size]  # sum x[t+l] y[t]
        sx, sxx = _window_sums(x, x_start, x_end), _window_sums(x.square(), x_start, x_end)
        sy, syy = _window_sums(y, y_start, y_end), _window_sums(y.square(), y_start, y_end)
        var_x = (sxx - sx.square() / count) / count
        var_y = (syy - sy.square() / count) / count
        cov = (cross - sx * sy / count) / count
        defined = (var_x > CONSTANT_VARIANCE) & (var_y > CONSTANT_VARIANCE)
        pearson = torch.where(defined, cov / (var_x * var_y).clamp_min(1e-300).sqrt(), undefined)
        out[ks] = pearson.mean(-1).cpu().numpy()  # (k, N, 2L+1)
    return out


def _window_sums(values: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Sums of values[..., start:end, :] along time for every window: (..., windows, D)."""
    prefix = torch.nn.functional.pad(values.cumsum(2), (0, 0, 1, 0))  # (..., T + 1, D)
    return prefix[:, :, end] - prefix[:, :, start]


def peak_lags(
    predictions: np.ndarray,
    speakers: np.ndarray,
    max_lag: int | None = None,
    device: str = "cpu",
    nan_peak: bool = False,
) -> np.ndarray:
    """lag* of every speaker and sample in frames (positive: the reaction follows): (K, N).

    `nan_peak`: undefined correlations are NaN and the first NaN lag is the peak, as the
    official scripts' `torch.argmax` does (NumPy's argmax also returns the first NaN)."""
    max_lag = default_max_lag() if max_lag is None else max_lag
    undefined = np.nan if nan_peak else 0.0
    correlation = lagged_correlation(predictions, speakers, max_lag, device, undefined=undefined)
    return correlation.argmax(-1) - max_lag


def frsyn(
    predictions: np.ndarray,
    speakers: np.ndarray,
    max_lag: int | None = None,
    device: str = "cpu",
    convention: str | Convention = "ours",
) -> float:
    """FRSyn in frames (lower is better) under `convention`; see the module docstring."""
    convention = get_convention(convention)
    if convention.tlcc_first_sample:
        predictions = np.asarray(predictions)[:, :1]
    lags = peak_lags(predictions, speakers, max_lag, device, convention.tlcc_nan_peak)
    return float(np.abs(lags).mean())


LAG_QUANTILES = {"lag p25": 25, "lag median": 50, "lag p75": 75}


def lag_summary(
    predictions: np.ndarray, speakers: np.ndarray, max_lag: int | None = None, device: str = "cpu"
) -> dict[str, float]:
    """Quartiles of the signed lag* over every speaker and sample (frames; convention 'ours').

    FRSyn is a mean of |lag*|, so it cannot tell a reaction that follows too late from one
    whose correlation with the speaker has no clear peak (lag* anywhere in [-L, L]); the
    quartiles can: a late follower moves all three up, a weak one spreads them apart."""
    lags = peak_lags(predictions, speakers, max_lag, device)
    return dict(zip(LAG_QUANTILES, np.percentile(lags, list(LAG_QUANTILES.values())), strict=True))
