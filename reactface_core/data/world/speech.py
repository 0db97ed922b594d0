"""Speech-like audio for a speaker script: a fast numpy source-filter synthesiser at 16 kHz.

Source: Rosenberg glottal pulses at a prosodic f0 (differentiated for lip radiation) plus
aspiration, and white noise for consonants (fricative hiss, plosive bursts). Filter: four
vowel formants per syllable, applied frame by frame in the STFT domain (512-point Hann
frames, hop 256, overlap-add), so the formants move at syllable rate without per-sample
IIR loops. Prosody follows the script: f0 rises with happy/surprised and falls with sad,
declines over each utterance, jumps on stressed syllables; loudness follows the syllable
envelope and the emotion; pauses are silent but for a faint noise floor (-60 dBFS).

`articulation` evaluates the very same syllable envelopes at frame rate for the face, so
jaw and lips move with the energy of the audio.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter

from reactface_core.contract import AUDIO_RATE as SAMPLE_RATE
from reactface_core.contract import FPS, SAMPLES_PER_FRAME
from reactface_core.data.world import signals
from reactface_core.data.world.speaker import SpeakerScript, SpeakerStyle, Syllables

N_FFT, HOP = 512, 256
ENVELOPE_RATE = 4000  # Hz at which envelopes are evaluated before interpolation

# F1-F4 (Hz) of the vowels a, e, i, o, u for a low adult voice, bandwidths and gains.
VOWEL_FORMANTS = np.array(
    [
        [730, 1090, 2440, 3400],
        [530, 1840, 2480, 3500],
        [270, 2290, 3010, 3600],
        [570, 840, 2410, 3400],
        [300, 870, 2240, 3300],
    ],
    dtype=np.float64,
)
BANDWIDTHS = np.array([90.0, 110.0, 160.0, 250.0])
FORMANT_GAINS = np.array([1.0, 0.55, 0.28, 0.12])
# Per emotion (neutral, happy, sad, surprised, concerned): pitch factor, pitch spread
# (semitones between syllables) and loudness factor.
EMOTION_F0 = np.array([1.0, 1.15, 0.88, 1.28, 1.05])
EMOTION_SPREAD = np.array([1.0, 2.5, 0.6, 3.0, 1.3])
EMOTION_LOUDNESS = np.array([1.0, 1.1, 0.65, 1.2, 0.9])
STRESS_GAIN = 0.45  # stressed syllables are this much louder
STRESS_SEMITONES = 3.0
HISS_FILTER = butter(4, 3000, btype="highpass", fs=SAMPLE_RATE)  # fricative noise colour
HISS_GAIN = 0.1  # consonant noise ~12 dB below the vowels
NOISE_FLOOR = 1e-3  # ~ -60 dBFS background
CALIBRATION = 3.5  # source-filter output -> waveform; speech RMS ~ -22 dBFS


def syllable_envelopes(syllables: Syllables, times: np.ndarray) -> tuple[np.ndarray, ...]:
    """Envelopes at `times` (seconds): voiced (vowel + nasal murmur), noise (consonants),
    lip closure (plosive/nasal onsets) and the index of the syllable each time falls in."""
    index = np.searchsorted(syllables.onset, times, side="right") - 1
    clipped = np.maximum(index, 0)
    inside = (index >= 0) & (times < syllables.end[clipped])
    onset = syllables.onset[clipped]
    voice_onset = syllables.voice_onset[clipped]
    end = syllables.end[clipped]
    consonant = syllables.consonant[clipped]
    stress = 1.0 + STRESS_GAIN * syllables.stressed[clipped]

    vowel_phase = (times - voice_onset) / np.maximum(end - voice_onset, 1e-4)
    in_vowel = inside & (vowel_phase >= 0.0)
    voiced = np.where(in_vowel, np.sin(np.pi * np.clip(vowel_phase, 0.0, 1.0)) ** 0.6, 0.0)
    in_consonant = inside & ~in_vowel
    consonant_phase = (times - onset) / np.maximum(voice_onset - onset, 1e-4)
    hiss = np.sin(np.pi * np.clip(consonant_phase, 0.0, 1.0))
    noise = np.where(in_consonant & (consonant == 2), 0.35 * hiss, 0.0)
    burst = (
        inside & (consonant == 1) & (times >= voice_onset - 0.012) & (times < voice_onset + 0.006)
    )
    noise = noise + np.where(burst, 0.6, 0.0)
    voiced = voiced + np.where(in_consonant & (consonant == 3), 0.25 * hiss, 0.0)
    closure = (in_consonant & ((consonant == 1) | (consonant == 3))).astype(np.float64)
    return voiced * stress, noise * stress, closure, clipped


def articulation(script: SpeakerScript, steps_per_frame: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Frame-rate mouth drive: (T, 5) envelope per vowel and (T,) lip closure, averaged
    over `steps_per_frame` instants inside each 40 ms frame."""
    frames = script.frames
    times = (np.arange(frames * steps_per_frame) + 0.5) / (FPS * steps_per_frame)
    voiced, _, closure, index = syllable_envelopes(script.syllables, times)
    vowels = np.zeros((len(times), 5))
    vowels[np.arange(len(times)), script.syllables.vowel[index]] = voiced
    vowels = vowels.reshape(frames, steps_per_frame, 5).mean(axis=1)
    return vowels, closure.reshape(frames, steps_per_frame).mean(axis=1)


def pitch_contour(
    rng: np.random.Generator, style: SpeakerStyle, script: SpeakerScript, times: np.ndarray
) -> np.ndarray:
    """f0 in Hz at `times`: emotion level, utterance declination, syllable jumps, stress."""
    syllables = script.syllables
    frame = np.clip((times * FPS).astype(np.int64), 0, script.frames - 1)
    affect = script.affect[frame]
    level = style.f0_hz * (affect @ EMOTION_F0)
    spread = affect @ EMOTION_SPREAD

    index = np.clip(np.searchsorted(syllables.onset, times, side="right") - 1, 0, None)
    jumps = rng.standard_normal(max(len(syllables.onset), 1))
    semitones = jumps[index] * spread + STRESS_SEMITONES * syllables.stressed[index]
    u = np.clip(np.searchsorted(script.utterances[:, 0], times, side="right") - 1, 0, None)
    start, end = script.utterances[u, 0], script.utterances[u, 1]
    progress = np.clip((times - start) / np.maximum(end - start, 1e-3), 0.0, 1.0)
    semitones = semitones + 2.0 - 4.0 * progress  # declination over the utterance
    step = times[1] - times[0]
    semitones = signals.smooth(semitones, 0.03 / step)  # pitch glides between syllables
    jitter = signals.ou_process(rng, len(times), 0.05 / step, 0.012)[:, 0]
    return level * 2.0 ** (semitones / 12.0) * (1.0 + jitter)


def synthesize(rng: np.random.Generator, style: SpeakerStyle, script: SpeakerScript) -> np.ndarray:
    """Float32 mono samples at 16 kHz, exactly `frames * 640` long."""
    n = script.frames * SAMPLES_PER_FRAME
    times = np.arange(n) / SAMPLE_RATE
    # Envelopes and prosody change slowly: evaluate them at 4 kHz and interpolate.
    coarse = np.arange(0.0, n / SAMPLE_RATE + 0.001, 1.0 / ENVELOPE_RATE)
    voiced, noise, _, _ = syllable_envelopes(script.syllables, coarse)
    frame = np.clip((coarse * FPS).astype(np.int64), 0, script.frames - 1)
    gain = (script.affect @ EMOTION_LOUDNESS)[frame]
    voiced = np.interp(times, coarse, voiced * gain).astype(np.float32)
    noise = np.interp(times, coarse, noise * gain).astype(np.float32)

    control = np.arange(0.0, n / SAMPLE_RATE + 0.01, 0.005)  # prosody at 200 Hz
    f0 = np.interp(times, control, pitch_contour(rng, style, script, control))
    phase = np.cumsum(f0 / SAMPLE_RATE)
    glottal = _rosenberg((phase - np.floor(phase)).astype(np.float32))
    source = np.diff(glottal, prepend=np.float32(0.0)) * (SAMPLE_RATE * 0.1 / f0).astype(np.float32)
    source += 0.03 * rng.standard_normal(n, dtype=np.float32)  # aspiration

    centres = _frame_centres(n)
    index = np.clip(np.searchsorted(script.syllables.onset, centres, side="right") - 1, 0, None)
    formants = VOWEL_FORMANTS[script.syllables.vowel[index]] * style.formant_scale
    formants = signals.smooth(formants, 2.0)  # ~30 ms formant transitions
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    resonance = FORMANT_GAINS / (
        1.0 + ((freqs[None, :, None] - formants[:, None, :]) / (BANDWIDTHS / 2.0)) ** 2
    )
    vowel_filter = (resonance.sum(axis=2) + 0.01).astype(np.float32)
    hiss = lfilter(*HISS_FILTER, rng.standard_normal(n, dtype=np.float32)).astype(np.float32)
    audio = _stft_filter(source * voiced, vowel_filter) + HISS_GAIN * hiss * noise
    audio = CALIBRATION * style.loudness * audio
    audio += NOISE_FLOOR * rng.standard_normal(n, dtype=np.float32)
    return (0.99 * np.tanh(audio / 0.99)).astype(np.float32)  # soft limiter on peaks


def _rosenberg(fraction: np.ndarray, opening: float = 0.4, closing: float = 0.16) -> np.ndarray:
    """Rosenberg glottal flow pulse as a function of the pitch-period fraction in [0, 1)."""
    rise = 0.5 * (1.0 - np.cos(np.pi * fraction / opening))
    fall = np.cos(0.5 * np.pi * (fraction - opening) / closing)
    return np.where(fraction < opening, rise, np.where(fraction < opening + closing, fall, 0.0))


def _frame_centres(n: int) -> np.ndarray:
    """Times (s) of the STFT frame centres used by `_stft_filter` for a signal of n samples."""
    count = (n + 2 * N_FFT - N_FFT) // HOP + 1
    return (np.arange(count) * HOP + N_FFT / 2 - N_FFT) / SAMPLE_RATE


def _stft_filter(x: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Filter x by a per-frame magnitude response (frames, N_FFT // 2 + 1): periodic Hann
    analysis at hop N_FFT / 2 (shifted windows sum to 1), overlap-add of the two tilings."""
    n = len(x)
    padded = np.concatenate([np.zeros(N_FFT, np.float32), x, np.zeros(N_FFT + HOP, np.float32)])
    count = (n + 2 * N_FFT - N_FFT) // HOP + 1
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    starts = np.arange(count) * HOP
    frames = padded[starts[:, None] + np.arange(N_FFT)] * window
    filtered = np.fft.irfft(np.fft.rfft(frames, axis=1) * gains, n=N_FFT, axis=1)
    out = np.zeros(len(padded) + N_FFT, np.float32)
    overlap = N_FFT // HOP
    for k in range(overlap):  # frames k, k+2, ... tile the signal without overlapping
        blocks = filtered[k::overlap].reshape(-1)
        out[k * HOP : k * HOP + len(blocks)] += blocks
    return out[N_FFT : N_FFT + n]
