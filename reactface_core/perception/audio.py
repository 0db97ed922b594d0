"""Speaker audio features (contract 3): 16 kHz mono in, causal features at 50 Hz out.

Step j summarises the samples that end at sample (j + 1) * HOP, with zeros before the start
of the clip. It never sees a later sample, so online and offline features are identical:
a clip of T video frames at 25 fps (640 T samples) has exactly 2T steps (the paper's k = 2).
`StreamingAudioFeatures` computes them chunk by chunk; `audio_features` is the same code
on a whole clip.

Columns (D_a = AUDIO_FEATURE_DIM = 70):

    0..63  log-mel: a Hann window of WINDOW = 400 samples (25 ms) ending at the step's last
           sample, zero-padded to N_FFT = 512, power spectrum |X|^2 / sum(window)^2 (a
           full-scale sine gives ~0.25 in its bin), N_MELS = 64 triangular HTK-mel filters
           (peak 1) from 0 Hz to 8 kHz, then ln(power + LOG_FLOOR) with LOG_FLOOR = 1e-6
           (-60 dB below a full-scale sine; digital silence gives ln 1e-6 = -13.8)
    64..69 prosody, measured against the speaker's own voice (version 2 of these features):
      64   voiced: 1 where the PITCH_WINDOW = 640 samples (40 ms) ending at the step repeat
           (normalised autocorrelation peak >= VOICING_THRESHOLD at a period of
           F0_RANGE Hz), else 0
      65   pitch: ln F0 minus the speaker's baseline ln F0 (0 where unvoiced)
      66   loudness: ln mean square minus the speaker's baseline (0 where unvoiced)
      67   pitch level: the recent pitch (its average over voiced steps, time constant
           LEVEL_S), held through pauses
      68   loudness level: the same for loudness
      69   voicing level: the share of voiced steps over the last LEVEL_S seconds minus the
           speaker's baseline share (speaking faster, or with shorter pauses, is positive)

The baselines are running, causal, per-session averages like the face's neutral
(`perception.landmarks`): the mean of everything heard so far for the first BASELINE_S
seconds, then an exponential average with that time constant. So the microphone's gain,
the room and the person's own voice (a deep voice, a loud talker) are removed, and what is
left is how this person's voice changes, which is how a listener hears that someone is
excited, sad or surprised even when the face does not show it. Deviations are clipped
(PITCH_CLIP, LOUDNESS_CLIP) before they move a baseline or a level, so an octave error of
the pitch tracker or a cough moves them little. Digital silence from the start of a session gives
`SILENCE`: the log floor in every band and zero prosody.
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

PITCH_WINDOW = 640  # 40 ms: 2.6 periods of the lowest F0
F0_RANGE = (65.0, 400.0)  # Hz: adult and child voices, above 50 and 60 Hz mains hum
VOICING_THRESHOLD = 0.4  # normalised autocorrelation at the period
PRE_EMPHASIS = 0.95
SUBHARMONIC_RATIO = 0.85  # half the best period wins when it repeats nearly as well
BASELINE_S = 20.0  # the speaker's baseline averages the last ~20 s (all of it before)
LEVEL_S = 2.0  # pitch, loudness and voicing levels average the last ~2 s of speech
# The largest deviation one step brings to a baseline or level, in ln units: a factor 1.65
# of pitch (an octave error is 0.69), a syllable's swing of loudness (ln mean square;
# loudness varies more within a phrase than pitch).
PITCH_CLIP, LOUDNESS_CLIP = 0.5, 1.5
PROSODY_DIM = 6
AUDIO_FEATURE_DIM = N_MELS + PROSODY_DIM  # D_a
AUDIO_FEATURE_VERSION = 2  # 1: log-mel only
HISTORY = PITCH_WINDOW - HOP  # samples before a step that its longest window needs
STEPS_PER_SECOND = SAMPLE_RATE // HOP
BLOCK_STEPS = 3000  # steps analysed at once (bounds the memory of a long recording)
SILENCE = np.concatenate([np.full(N_MELS, np.log(LOG_FLOOR)), np.zeros(PROSODY_DIM)]).astype(
    np.float32
)  # the features of digital silence from the start of a session


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


LAGS = np.arange(int(SAMPLE_RATE / F0_RANGE[1]), int(SAMPLE_RATE / F0_RANGE[0]) + 1)  # samples
PITCH_FFT = 1024  # >= the pre-emphasised frame + the longest lag: no circular wrap-around
# The autocorrelation at lag k sums fewer products as k grows; this undoes that, so a long
# period is not penalised for overlapping less.
OVERLAP = (PITCH_WINDOW - 1) / (PITCH_WINDOW - 1 - LAGS)
_PITCH_SPAN = np.arange(PITCH_WINDOW)
_LOG_F0 = np.log(SAMPLE_RATE / LAGS)  # ln F0 of each lag
# index of half of each lag's period (-1 where that is below the range)
_HALF_PERIOD = np.round(LAGS / 2).astype(int) - LAGS[0]
_HALF_PERIOD[_HALF_PERIOD < 0] = -1


def _pitch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, PITCH_WINDOW) samples -> voiced (n,) bool, ln F0 (n,), ln mean square (n,)."""
    # (sums rather than np.mean: this runs on every 20 ms step online, where numpy's call
    # overhead is most of the cost)
    centred = frames - frames.sum(axis=1, keepdims=True) / PITCH_WINDOW
    energy = np.einsum("ij,ij->i", centred, centred) / PITCH_WINDOW
    # pre-emphasis whitens room noise (pink to brown), whose slow swings would repeat too
    x = frames[:, 1:] - PRE_EMPHASIS * frames[:, :-1]
    x -= x.sum(axis=1, keepdims=True) / (PITCH_WINDOW - 1)
    spectrum = np.fft.rfft(x, n=PITCH_FFT, axis=1)
    autocorrelation = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=PITCH_FFT, axis=1)
    repeat = autocorrelation[:, LAGS] / (autocorrelation[:, :1] + 1e-12) * OVERLAP
    rows = np.arange(len(frames))
    best = repeat.argmax(axis=1)
    half = _HALF_PERIOD[best]
    octave_up = (half >= 0) & (repeat[rows, half] >= SUBHARMONIC_RATIO * repeat[rows, best])
    best = np.where(octave_up, half, best)
    peak = (best > 0) & (best < len(LAGS) - 1)  # noise peaks at an end of the range
    voiced = peak & (repeat[rows, best] >= VOICING_THRESHOLD) & (energy > LOG_FLOOR)
    return voiced, _LOG_F0[best], np.log(energy + LOG_FLOOR)


def _clip(deviation: float, limit: float) -> float:
    return min(max(deviation, -limit), limit)


class _Prosody:
    """The running baselines and levels behind columns 64..69 (see the module docstring)."""

    def __init__(self) -> None:
        self.voiced_steps = self.steps = 0
        self.pitch_base = self.loudness_base = 0.0
        self.pitch_level = self.loudness_level = 0.0
        self.voicing_base = self.voicing_level = 0.0

    def __call__(self, voiced, pitch, loudness) -> np.ndarray:
        """Per-step voiced (n,), ln F0 (n,), ln mean square (n,) -> (n, PROSODY_DIM)."""
        baseline, level = BASELINE_S * STEPS_PER_SECOND, LEVEL_S * STEPS_PER_SECOND
        out = np.zeros((len(voiced), PROSODY_DIM))
        steps = zip(voiced.tolist(), pitch.tolist(), loudness.tolist(), strict=True)
        for j, (is_voiced, f0, power) in enumerate(steps):
            self.steps += 1
            self.voicing_base += (is_voiced - self.voicing_base) / min(self.steps, baseline)
            self.voicing_level += (is_voiced - self.voicing_level) / min(self.steps, level)
            if is_voiced:
                self.voiced_steps += 1
                if self.voiced_steps == 1:
                    self.pitch_base, self.loudness_base = f0, power
                rate = 1.0 / min(self.voiced_steps, baseline)
                recent = 1.0 / min(self.voiced_steps, level)
                d_pitch = _clip(f0 - self.pitch_base, PITCH_CLIP)
                d_loud = _clip(power - self.loudness_base, LOUDNESS_CLIP)
                self.pitch_base += rate * d_pitch
                self.loudness_base += rate * d_loud
                self.pitch_level += recent * (d_pitch - self.pitch_level)
                self.loudness_level += recent * (d_loud - self.loudness_level)
                out[j, :3] = 1.0, d_pitch, d_loud
            out[j, 3:] = (
                self.pitch_level,
                self.loudness_level,
                self.voicing_level - self.voicing_base,
            )
        return out


class StreamingAudioFeatures:
    """Chunk-by-chunk audio features: feed any number of samples, get the steps they complete.

    Any chunking gives the same features as `audio_features` on the whole clip. Cost per
    call is proportional to the chunk; state is HISTORY samples and the prosody baselines.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new session: silence before it, a new speaker's baselines."""
        self._buffer = np.zeros(HISTORY)  # the history the next step's windows need
        self._prosody = _Prosody()

    @property
    def steps_emitted(self) -> int:
        """Steps returned since the last reset (the prosody state counts them)."""
        return self._prosody.steps

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Append 16 kHz mono samples -> (n_new_steps, AUDIO_FEATURE_DIM) float32."""
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 1:
            raise ValueError(f"audio features expect mono 1-D samples, got shape {chunk.shape}")
        self._buffer = np.concatenate([self._buffer, chunk])
        n_steps = (len(self._buffer) - HISTORY) // HOP
        out = np.empty((n_steps, AUDIO_FEATURE_DIM), np.float32)
        for first in range(0, n_steps, BLOCK_STEPS):
            last = min(first + BLOCK_STEPS, n_steps)
            frames = self._buffer[np.arange(first * HOP, last * HOP, HOP)[:, None] + _PITCH_SPAN]
            out[first:last, N_MELS:] = self._prosody(*_pitch(frames))
            out[first:last, :N_MELS] = _frames_to_log_mel(frames[:, PITCH_WINDOW - WINDOW :])
        self._buffer = self._buffer[n_steps * HOP :]
        return out


def audio_features(samples: np.ndarray) -> np.ndarray:
    """Causal features of a whole clip of 16 kHz mono samples -> (len // HOP, D_a) float32."""
    return StreamingAudioFeatures()(samples)


def silence(steps: int) -> np.ndarray:
    """(steps, D_a) features of digital silence: what missing or muted audio is fed as."""
    return np.tile(SILENCE, (steps, 1))
