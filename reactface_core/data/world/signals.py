"""Small vectorised signal builders shared by speakers and listeners (frame or sample rate).

Everything here is causal where it models a reaction (`smooth`, `delay`, `pulses` start at
their event and only extend forward), so a listener built from them never uses a speaker
frame later than its reaction lag allows.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ou_process(
    rng: np.random.Generator, n: int, tau: float, std: float, dims: int = 1
) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck noise, (n, dims); `tau` in samples (correlation time)."""
    a = np.exp(-1.0 / max(tau, 1e-6))
    noise = rng.standard_normal((n, dims)) * np.sqrt(1.0 - a * a)
    start = rng.standard_normal((1, dims))  # stationary initial state
    out, _ = lfilter([1.0], [1.0, -a], noise, axis=0, zi=a * start)
    return out * std


def drift(
    rng: np.random.Generator, n: int, tau: float, std: float, dims: int = 1, inertia: float = 8.0
) -> np.ndarray:
    """Smooth random drift (n, dims): OU noise low-passed over `inertia` samples, so it moves
    like a head (no frame-to-frame jitter) while keeping roughly the OU's range."""
    return smooth(ou_process(rng, n, tau, std, dims), inertia)


def smooth(x: np.ndarray, tau: float) -> np.ndarray:
    """Causal first-order low-pass along axis 0, `tau` in samples; starts at x[0]."""
    if tau <= 0:
        return np.asarray(x, dtype=np.float64)
    a = np.exp(-1.0 / tau)
    x = np.asarray(x, dtype=np.float64)
    zi = a * x[:1]
    out, _ = lfilter([1.0 - a], [1.0, -a], x, axis=0, zi=zi)
    return out


def delay(x: np.ndarray, frames: float) -> np.ndarray:
    """x(t - frames) along axis 0 by linear interpolation, holding x[0] before the start."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    t = np.arange(n) - frames
    t = np.clip(t, 0.0, n - 1.0)
    lower = np.floor(t).astype(np.int64)
    upper = np.minimum(lower + 1, n - 1)
    w = (t - lower).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[lower] * (1.0 - w) + x[upper] * w


def pulses(
    n: int,
    starts: np.ndarray,
    durations: np.ndarray | float,
    amplitudes: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Sum of raised-cosine bumps, one per event: rises from `start` and ends at start+duration.

    Bumps may start at fractional positions; the result is (n,). Events are few (tens per
    clip), so a loop over events with vectorised slices is the fast way.
    """
    starts = np.atleast_1d(np.asarray(starts, dtype=np.float64))
    durations = np.broadcast_to(np.asarray(durations, dtype=np.float64), starts.shape)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), starts.shape)
    out = np.zeros(n)
    for start, duration, amplitude in zip(starts, durations, amplitudes, strict=True):
        first = max(int(np.ceil(start)), 0)
        last = min(int(np.floor(start + duration)), n - 1)
        if last < first or duration <= 0:
            continue
        phase = (np.arange(first, last + 1) - start) / duration  # 0..1
        out[first : last + 1] += amplitude * 0.5 * (1.0 - np.cos(2.0 * np.pi * phase))
    return out


def nods(
    n: int,
    starts: np.ndarray,
    cycles: np.ndarray,
    period: float,
    amplitudes: np.ndarray | float,
) -> np.ndarray:
    """Head-nod pitch signal: `cycles` down-up oscillations of `period` samples per event."""
    starts = np.atleast_1d(np.asarray(starts, dtype=np.float64))
    cycles = np.broadcast_to(np.asarray(cycles, dtype=np.float64), starts.shape)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), starts.shape)
    out = np.zeros(n)
    for start, count, amplitude in zip(starts, cycles, amplitudes, strict=True):
        length = count * period
        first = max(int(np.ceil(start)), 0)
        last = min(int(np.floor(start + length)), n - 1)
        if last < first:
            continue
        phase = (np.arange(first, last + 1) - start) / period  # cycles elapsed
        envelope = np.sin(np.pi * phase / count)  # fade in and out over the nod
        out[first : last + 1] += amplitude * envelope * 0.5 * (1.0 - np.cos(2.0 * np.pi * phase))
    return out


def poisson_events(
    rng: np.random.Generator, n: int, rate: float | np.ndarray, refractory: float = 0.0
) -> np.ndarray:
    """Event positions (samples) of a Poisson process with per-sample `rate` (events/sample).

    A refractory gap (samples) after each event keeps events apart (blinks, nods).
    """
    rate = np.broadcast_to(np.asarray(rate, dtype=np.float64), (n,))
    hits = np.flatnonzero(rng.random(n) < rate)
    if refractory <= 0 or len(hits) < 2:
        return hits.astype(np.float64)
    kept = [hits[0]]
    for hit in hits[1:]:
        if hit - kept[-1] >= refractory:
            kept.append(hit)
    return np.asarray(kept, dtype=np.float64)


def raised_ramp(n: int, start: float, length: float) -> np.ndarray:
    """0 before `start`, a raised-cosine rise over `length` samples, then 1."""
    t = np.clip((np.arange(n) - start) / max(length, 1e-6), 0.0, 1.0)
    return 0.5 * (1.0 - np.cos(np.pi * t))
