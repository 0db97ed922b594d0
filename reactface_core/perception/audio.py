"""Speaker audio features (contract 3): 16 kHz mono and causal log-mel at 50 Hz.

Log-mel step j summarises the WINDOW samples that end at sample (j + 1) * HOP, i.e.
samples [(j + 1) * HOP - WINDOW, (j + 1) * HOP), with zeros before the start of the clip.
It never sees a later sample, so online and offline features are identical: a clip of
T video frames at 25 fps (640 T samples) has exactly 2T steps (the paper's k = 2).

Per step: Hann window of WINDOW = 400 samples (25 ms), zero-padded to N_FFT = 512, power
spectrum |X|^2 / sum(window)^2 (a full-scale sine gives ~0.25 in its bin), N_MELS = 64
triangular HTK-mel filters (peak 1) from 0 Hz to 8 kHz, then ln(power + LOG_FLOOR) with
LOG_FLOOR = 1e-6 (-60 dB below a full-scale sine; digital silence gives ln 1e-6 = -13.8).
"""

from __future__ import annotations

from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np

from reactface_core.contract import AUDIO_RATE as SAMPLE_RATE

HOP = 320  # 20 ms: 50 steps per second, two per 25 fps video frame
WINDOW = 400  # 25 ms analysis window ending at the step's last sample
N_FFT = 512
N_MELS = 64
F_MIN, F_MAX = 0.0, SAMPLE_RATE / 2
LOG_FLOOR = 1e-6
AUDIO_FEATURE_DIM = N_MELS  # D_a


def load_audio(path: str | Path) -> np.ndarray:
    """Read an audio file (any rate, any channel count) -> float32 mono at 16 kHz in [-1, 1]."""
    import soundfile

    path = Path(path)
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
        raise ValueError(
            f"cannot read audio file {path}: {error} (expected a WAV/FLAC/OGG file)"
        ) from error
    if samples.shape[0] == 0:
        raise ValueError(f"audio file {path} has no samples")
    return resample(samples.mean(axis=1), rate)


def resample(samples: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of mono float samples; output length round(n * target / rate)."""
    from scipy.signal import resample_poly

    samples = np.asarray(samples, dtype=np.float32)
    if rate == target_rate:
        return samples
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    common = gcd(int(rate), int(target_rate))
    up, down = target_rate // common, int(rate) // common
    out = resample_poly(samples.astype(np.float64), up, down)
    expected = int(round(len(samples) * target_rate / rate))
    return out[:expected].astype(np.float32)


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """(N_FFT // 2 + 1, N_MELS) triangular filters on the HTK mel scale, peak 1."""

    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(F_MIN), to_mel(F_MAX), N_MELS + 2))
    bins = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)[:, None]  # (F, 1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(WINDOW + 2)[1:-1]  # Hann without its zero end points


def _frames_to_log_mel(frames: np.ndarray) -> np.ndarray:
    """(n, WINDOW) float64 sample frames -> (n, N_MELS) float32 log-mel."""
    window = _window()
    spectrum = np.fft.rfft(frames * window, n=N_FFT, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2) / window.sum() ** 2
    return np.log(power @ mel_filterbank() + LOG_FLOOR).astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """Causal log-mel of 16 kHz mono samples -> (len // HOP, AUDIO_FEATURE_DIM) float32."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"log_mel expects mono 1-D samples, got shape {samples.shape}")
    n_steps = len(samples) // HOP
    padded = np.concatenate([np.zeros(WINDOW - HOP), samples[: n_steps * HOP]])
    starts = np.arange(n_steps) * HOP
    frames = padded[starts[:, None] + np.arange(WINDOW)]  # (n_steps, WINDOW)
    return _frames_to_log_mel(frames)


class StreamingLogMel:
    """Chunk-by-chunk `log_mel`: feed any number of samples, get the steps they complete.

    The concatenated outputs equal `log_mel` of the concatenated input. Cost per call is
    proportional to the chunk, state is WINDOW samples.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(WINDOW - HOP)  # the history the next step's window needs
        self.steps_emitted = 0

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Append 16 kHz mono samples -> (n_new_steps, AUDIO_FEATURE_DIM) float32."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 1:
            raise ValueError(f"StreamingLogMel expects mono 1-D chunks, got shape {chunk.shape}")
        self._buffer = np.concatenate([self._buffer, chunk])
        n_steps = (len(self._buffer) - (WINDOW - HOP)) // HOP
        if n_steps == 0:
            return np.zeros((0, AUDIO_FEATURE_DIM), dtype=np.float32)
        starts = np.arange(n_steps) * HOP
        frames = self._buffer[starts[:, None] + np.arange(WINDOW)]
        self._buffer = self._buffer[n_steps * HOP :]
        self.steps_emitted += n_steps
        return _frames_to_log_mel(frames)
