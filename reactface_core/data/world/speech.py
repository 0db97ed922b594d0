"""The speaker's voice: espeak-ng phrases placed on the clip's timeline, heard in a room.

Speech (`speak`): runs of phrases, each run in one emotion, until the clip is full; each
phrase drawn from the built-in vocabulary (`VOCABULARY`, short sentences from a small
grammar, one word emphasised with SSML), spoken by the speaker's espeak-ng voice with
pitch, pace and loudness shifted by the run's emotion (`prosody`), and placed after a
pause whose length depends on the person and the emotion. The emotion segments of the
script follow the runs. Everything is deterministic from the clip's random stream
(espeak-ng itself is deterministic).

Timing (`analyse`) is read from the audio, never assumed: an utterance is where a phrase
landed; a pause starts where one ended; a stressed syllable is a syllable nucleus (a peak
of the voiced band energy) that stands `STRESS_DB` above the median nucleus of its phrase
(espeak-ng's emphasis and lexical stress make these). The same analysis drives the mouth
(`Timing.articulation`): per 10 ms the voiced envelope opens the jaw and the spectral
balance (first- and second-formant regions) picks among the five vowel shapes; short deep
dips inside a phrase close the lips. So the face moves with the audio it is paired with.

Room (`room`): the clean speech is reverberated (an exponentially decaying noise impulse
response, RT60 drawn per clip), mixed with room noise (coloured noise between pink and
brown, sometimes mains hum) at a random SNR over the speech, and scaled by a random
microphone gain with hard clipping at full scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, find_peaks

from reactface_core.contract import AUDIO_RATE as SAMPLE_RATE
from reactface_core.contract import FPS, SAMPLES_PER_FRAME
from reactface_core.data import espeak

HOP = 160  # 10 ms analysis steps
WINDOW = 400  # 25 ms analysis window
STEPS_PER_FRAME = SAMPLES_PER_FRAME // HOP  # 4
STRESS_DB = 4.5  # a nucleus this far above its phrase's median nucleus is stressed
MAX_STRESSES = 2  # per phrase
JAW_STEPS = 7  # the mouth's drive is the envelope smoothed over 70 ms (zero phase)
PLAN_MARGIN = (1.25, 3.0)  # plan phrases for factor x the clip + seconds (some run short)
PAUSE_SECONDS = (0.3, 1.3)  # before each phrase (times the person's and emotion's factor)
# Per emotion (neutral, happy, sad, surprised, concerned): pitch shift (%), pace and
# loudness factors, pause factor, and the sentence-final punctuation.
EMOTION_PITCH = np.array([0.0, 12.0, -10.0, 20.0, 4.0])
EMOTION_PACE = np.array([1.0, 1.08, 0.84, 1.12, 0.95])
EMOTION_LOUDNESS = np.array([1.0, 1.12, 0.72, 1.22, 0.9])
EMOTION_PAUSE = np.array([1.0, 0.85, 1.5, 0.9, 1.2])
EMOTION_ENDINGS = (".", "!", ".", "!?", ".")
# Vowel prototypes (F1, F2 band centroids in Hz, a low adult voice) for a, e, i, o, u.
VOWEL_FORMANTS = np.array([[720, 1250], [520, 1750], [330, 2150], [540, 950], [360, 850]], float)

VOCABULARY = {
    "subject": (
        "I", "we", "my sister", "the neighbours", "our teacher", "my friend", "the doctor",
        "everyone", "my brother", "the kids", "she", "he", "they", "my grandmother",
    ),
    "verb": (
        "visited", "painted", "cooked", "found", "lost", "fixed", "bought", "watched",
        "remembered", "cleaned", "called", "carried", "planted", "moved", "opened", "sold",
    ),
    "object": (
        "the old garden", "a yellow bicycle", "the kitchen table", "a little boat",
        "the new library", "some fresh bread", "a long letter", "the broken window",
        "a wooden chair", "the green car", "a birthday cake", "the tall tree",
        "a funny movie", "the blue door", "a heavy box", "the market stall",
    ),
    "when": (
        "yesterday", "last summer", "this morning", "on Sunday", "after lunch",
        "every winter", "two weeks ago", "before the rain", "at night", "in the spring",
    ),
    "comment": (
        "and it was wonderful", "but nobody noticed", "which surprised me",
        "and then it started raining", "and we laughed a lot", "but it took forever",
        "and I still think about it", "which was a bit strange",
    ),
    "short": (
        "you know", "well", "honestly", "right", "I mean it", "absolutely", "no way",
        "that's true", "believe me", "of course", "not really", "exactly",
    ),
}  # fmt: skip


def phrase(rng: np.random.Generator, emotion: int) -> tuple[str, str]:
    """A sentence from `VOCABULARY` with one word emphasised: (plain text, SSML text)."""
    kind = rng.random()
    if kind < 0.15:
        parts = [_draw(rng, "short")]
    else:
        parts = [_draw(rng, "subject"), _draw(rng, "verb"), _draw(rng, "object")]
        if rng.random() < 0.6:
            parts.append(_draw(rng, "when"))
        if rng.random() < 0.35:
            parts.append(_draw(rng, "comment"))
    words = " ".join(parts).split()
    stressed = int(rng.integers(len(words)))
    ending = EMOTION_ENDINGS[emotion][int(rng.integers(len(EMOTION_ENDINGS[emotion])))]
    plain = " ".join(words) + ending
    marked = list(words)
    if rng.random() < 0.85:  # most phrases have a nuclear stress
        marked[stressed] = f'<emphasis level="strong">{words[stressed]}</emphasis>'
    return plain, " ".join(marked) + ending


def _draw(rng: np.random.Generator, slot: str) -> str:
    words = VOCABULARY[slot]
    return words[int(rng.integers(len(words)))]


def prosody(emotion: int, intensity: float) -> str:
    """SSML prosody of an emotion at an intensity: pitch, pace and loudness relative to the
    person's voice."""
    k = intensity
    pitch = k * EMOTION_PITCH[emotion]
    rate = 100.0 * (1.0 + k * (EMOTION_PACE[emotion] - 1.0))
    volume = 100.0 * (1.0 + k * (EMOTION_LOUDNESS[emotion] - 1.0))
    return f'<prosody pitch="{pitch:+.0f}%" rate="{rate:.0f}%" volume="{volume:.0f}%">'


@dataclass(frozen=True)
class Speech:
    """Clean speech of one clip, where each phrase landed, and the emotion segments."""

    clean: np.ndarray  # (frames * SAMPLES_PER_FRAME,) float32
    phrases: tuple[tuple[int, int, str], ...]  # (first sample, end sample, text)
    segments: np.ndarray  # (S, 4): start frame, end frame, emotion, intensity


def speak(
    rng: np.random.Generator,
    voice: espeak.Voice,
    pause_scale: float,
    emotion_weights: tuple[float, ...],
    frames: int,
    emotions: list[int] | None = None,
) -> Speech:
    """Fill a clip of `frames` frames with phrases spoken in runs of one emotion.

    The runs (4-10 s of phrases each, the emotion drawn by the person's `emotion_weights`
    and unlikely to repeat; `emotions` forces the sequence) and their phrases are planned
    on estimated durations, synthesised in one espeak-ng call (SSML prosody per phrase,
    long breaks between them), cut apart at the breaks, and placed with pauses. An
    emotion segment then starts in the pause before its run's first phrase, so the voice
    and the face change emotion together."""
    seconds = frames / FPS
    plan: list[tuple[int, float, str, str, int]] = []  # emotion, intensity, plain, ssml, run
    estimated, previous = 0.0, -1
    planned = PLAN_MARGIN[0] * seconds + PLAN_MARGIN[1]
    while estimated < planned:
        run = len({row[4] for row in plan})
        if emotions is not None:
            emotion = emotions[min(run, len(emotions) - 1)]
            target = np.inf if len(emotions) == 1 else rng.uniform(4.0, 10.0)
        else:
            probs = np.array(emotion_weights)
            if previous >= 0:
                probs[previous] *= 0.2  # emotions tend to change between runs
            emotion = int(rng.choice(len(probs), p=probs / probs.sum()))
            target = rng.uniform(4.0, 10.0)
        intensity = 1.0 if emotion == 0 else float(rng.uniform(0.6, 1.0))
        length = 0.0
        while length < target and estimated < planned:
            plain, marked = phrase(rng, emotion)
            duration = 1.15 * len(plain.split()) * 60.0 / voice.words_per_minute
            duration /= 1.0 + intensity * (EMOTION_PACE[emotion] - 1.0)
            duration += np.mean(PAUSE_SECONDS) * pause_scale * EMOTION_PAUSE[emotion]
            plan.append((emotion, intensity, plain, marked, run))
            length += duration
            estimated += duration
        previous = emotion

    audio = _synthesise(
        [prosody(e, k) + marked + "</prosody>" for e, k, _, marked, _ in plan], voice
    )
    total = frames * SAMPLES_PER_FRAME
    clean = np.zeros(total, np.float32)
    placed, starts = [], []  # run starts: (run, pause start sample)
    t = int(rng.uniform(0.0, 0.6) * SAMPLE_RATE)
    pause_start = 0
    for (emotion, intensity, plain, _, run), spoken in zip(plan, audio, strict=True):
        if t >= total - int(0.3 * SAMPLE_RATE):
            break
        if not starts or starts[-1][0] != run:
            starts.append((run, (pause_start + t) // 2 if starts else 0, emotion, intensity))
        end = min(t + len(spoken), total)
        clean[t:end] = spoken[: end - t]
        placed.append((t, end, plain))
        pause_start = end
        pause = rng.uniform(*PAUSE_SECONDS) * pause_scale * EMOTION_PAUSE[emotion]
        t = end + int(pause * SAMPLE_RATE)
    bounds = [start // SAMPLES_PER_FRAME for _, start, _, _ in starts] + [frames]
    segments = np.array(
        [(bounds[i], bounds[i + 1], e, k) for i, (_, _, e, k) in enumerate(starts)], np.float64
    )
    return Speech(clean, tuple(placed), segments)


BREAK_SECONDS = 2.0  # between phrases in one espeak-ng call; no phrase pauses this long


def _synthesise(phrases: list[str], voice: espeak.Voice) -> list[np.ndarray]:
    """Each SSML phrase as audio, from one espeak-ng call (cut at the long breaks);
    phrase by phrase if the cut does not give one piece per phrase."""
    gap = f'<break time="{BREAK_SECONDS:g}s"/>'
    audio = espeak.speak("<speak>" + gap.join(phrases) + "</speak>", voice, ssml=True)
    quiet = np.abs(audio) < 0.003
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    long = ends - starts > 0.75 * BREAK_SECONDS * SAMPLE_RATE
    if long.sum() != len(phrases) - 1:
        return [espeak.speak(text, voice, ssml=True) for text in phrases]
    cuts = [0, *np.stack([starts[long], ends[long]], axis=1).ravel().tolist(), len(audio)]
    return [
        espeak.trim_silence(audio[a:b], SAMPLE_RATE)
        for a, b in zip(cuts[::2], cuts[1::2], strict=True)
    ]


@dataclass(frozen=True)
class Timing:
    """What the audio says about the script, at frame rate (T frames)."""

    utterances: np.ndarray  # (U, 2) start, end in seconds (the phrases)
    speaking: np.ndarray  # (T,) fraction of each frame inside an utterance
    pause_onsets: np.ndarray  # (P,) frames where a pause starts (a phrase ended)
    stress_frames: np.ndarray  # (K,) frames of stressed syllable nuclei
    envelope: np.ndarray  # (T,) voiced envelope, ~1 at the person's loud syllables
    articulation: np.ndarray  # (T, 5) mouth drive per vowel shape (a, e, i, o, u)
    closure: np.ndarray  # (T,) lip closure in [0, 1]


def analyse(speech: Speech, frames: int, formant_scale: float = 1.0) -> Timing:
    """Read the script's timing and the mouth's drive from the clean speech."""
    steps = frames * STEPS_PER_FRAME
    power, f1, f2 = _bands(speech.clean, steps)
    level = 10.0 * np.log10(power + 1e-10)  # (steps,) dB of the voiced band

    inside = np.zeros(steps, bool)
    utterances, stresses = [], []
    for first, end, _ in speech.phrases:
        a, b = first // HOP, min(steps, -(-end // HOP))
        inside[a:b] = True
        utterances.append((first / SAMPLE_RATE, end / SAMPLE_RATE))
        smooth = np.convolve(level[a:b], np.ones(3) / 3, mode="same")
        peaks, _ = find_peaks(smooth, distance=12, prominence=3.0)
        if len(peaks) < 2:
            continue
        prominence = smooth[peaks] - np.median(smooth[peaks])
        strong = peaks[prominence >= STRESS_DB]
        strong = strong[np.argsort(-smooth[strong])][:MAX_STRESSES]
        stresses.extend(sorted((a + strong + 0.5) / STEPS_PER_FRAME))
    utterances = np.array(utterances, np.float64).reshape(-1, 2)

    loud = np.percentile(power[inside], 95) if inside.any() else 1.0
    envelope = np.clip(np.sqrt(power / max(loud, 1e-12)), 0.0, 1.4) * inside
    jaw = np.hanning(JAW_STEPS + 2)[1:-1]  # the jaw follows at syllable rate, not faster
    envelope = np.convolve(envelope, jaw / jaw.sum(), mode="same")
    shape = _vowel_weights(f1 / formant_scale, f2 / formant_scale)  # (steps, 5)
    local_max = _running_max(level, 20)  # 200 ms
    closure = np.clip((local_max - level - 14.0) / 10.0, 0.0, 1.0) * inside

    def per_frame(x: np.ndarray) -> np.ndarray:
        return x.reshape(frames, STEPS_PER_FRAME, *x.shape[1:]).mean(axis=1)

    frame_start = np.arange(frames)[:, None] / FPS
    overlap = np.minimum(frame_start + 1 / FPS, utterances[None, :, 1]) - np.maximum(
        frame_start, utterances[None, :, 0]
    )
    ends = utterances[:, 1]
    return Timing(
        utterances=utterances,
        speaking=np.clip(overlap, 0.0, None).sum(axis=1) * FPS,
        pause_onsets=ends[ends < frames / FPS - 0.3] * FPS,
        stress_frames=np.array(stresses, np.float64),
        envelope=per_frame(envelope),
        articulation=per_frame(envelope[:, None] * shape),
        closure=per_frame(closure),
    )


def _bands(clean: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms step: voiced band power (100-2500 Hz), and the power centroids of the
    first- (200-1000 Hz) and second-formant (900-2800 Hz) regions."""
    padded = np.concatenate(
        [np.zeros(WINDOW // 2, np.float32), clean, np.zeros(WINDOW, np.float32)]
    )
    starts = np.arange(steps) * HOP
    window = np.hanning(WINDOW).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(padded[starts[:, None] + np.arange(WINDOW)] * window, 512)) ** 2
    freqs = np.fft.rfftfreq(512, 1.0 / SAMPLE_RATE)

    def centroid(low: float, high: float) -> np.ndarray:
        band = (freqs >= low) & (freqs < high)
        weight = spectrum[:, band]
        return (weight @ freqs[band]) / np.maximum(weight.sum(axis=1), 1e-12)

    voiced = spectrum[:, (freqs >= 100) & (freqs < 2500)].sum(axis=1) / 512
    return voiced, centroid(200, 1000), centroid(900, 2800)


def _vowel_weights(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """(steps, 5) soft assignment to the vowel prototypes by formant-region centroids."""
    distance = ((f1[:, None] - VOWEL_FORMANTS[:, 0]) / 150.0) ** 2 + (
        (f2[:, None] - VOWEL_FORMANTS[:, 1]) / 350.0
    ) ** 2
    weights = np.exp(-(distance - distance.min(axis=1, keepdims=True)))
    return weights / weights.sum(axis=1, keepdims=True)


def _running_max(x: np.ndarray, width: int) -> np.ndarray:
    """Centred running maximum over `width` steps."""
    from scipy.ndimage import maximum_filter1d

    return maximum_filter1d(x, size=width, mode="nearest")


@dataclass(frozen=True)
class Acoustics:
    """The room and microphone of one clip."""

    rt60: float  # reverberation time, s
    direct_to_reverberant_db: float
    snr_db: float  # speech over room noise
    noise_slope: float  # spectral slope of the noise: 1 pink .. 2 brown
    hum_hz: float  # mains hum (0: none)
    gain_db: float  # microphone gain

    def summary(self) -> dict:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


def sample_acoustics(
    rng: np.random.Generator, snr_db: tuple, gain_db: tuple, rt60: tuple
) -> Acoustics:
    return Acoustics(
        rt60=float(rng.uniform(*rt60)),
        direct_to_reverberant_db=float(rng.uniform(0.0, 12.0)),
        snr_db=float(rng.uniform(*snr_db)),
        noise_slope=float(rng.uniform(1.0, 2.0)),
        hum_hz=float(rng.choice([0.0, 0.0, 50.0, 60.0])),
        gain_db=float(rng.uniform(*gain_db)),
    )


def room(rng: np.random.Generator, speech: Speech, acoustics: Acoustics) -> np.ndarray:
    """What the microphone records: reverberant speech + room noise, gain, clipping."""
    clean = speech.clean.astype(np.float64)
    n = len(clean)
    tail_length = int(min(1.5 * acoustics.rt60, 1.0) * SAMPLE_RATE)
    decay = np.exp(-6.9 * np.arange(tail_length) / (acoustics.rt60 * SAMPLE_RATE))
    tail = rng.standard_normal(tail_length) * decay
    tail[: int(0.003 * SAMPLE_RATE)] = 0.0  # reflections arrive after the direct sound
    tail *= 10 ** (-acoustics.direct_to_reverberant_db / 20) / np.sqrt((tail**2).sum())
    tail[0] = 1.0
    wet = fftconvolve(clean, tail)[:n]

    spoken = np.zeros(n, bool)
    for first, end, _ in speech.phrases:
        spoken[first:end] = True
    speech_power = (wet[spoken] ** 2).mean() if spoken.any() else 1e-4
    noise = _coloured_noise(rng, n, acoustics.noise_slope)
    if acoustics.hum_hz:
        # Mains hum (fundamental and two harmonics): the shortest whole number of samples
        # holding whole cycles of it, tiled.
        period = SAMPLE_RATE // math.gcd(SAMPLE_RATE, int(acoustics.hum_hz))
        t = np.arange(period) / SAMPLE_RATE
        phase = rng.uniform(0, 2 * np.pi, 3)
        cycle = sum(
            np.sin(2 * np.pi * acoustics.hum_hz * k * t + p) / k
            for k, p in zip((1, 2, 3), phase, strict=True)
        )
        hum = np.resize(cycle, n)
        noise = noise + 0.5 * hum / np.sqrt((cycle**2).mean())
    noise *= np.sqrt(speech_power / 10 ** (acoustics.snr_db / 10) / (noise**2).mean())
    recorded = (wet + noise) * 10 ** (acoustics.gain_db / 20)
    return np.clip(recorded, -1.0, 1.0 - 2**-15).astype(np.float32)


def _coloured_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Noise with power falling as 1/f**slope above 20 Hz (1 pink, 2 brown)."""
    from scipy import fft

    size = fft.next_fast_len(n, real=True)
    spectrum = fft.rfft(rng.standard_normal(size))
    freqs = np.maximum(fft.rfftfreq(size, 1.0 / SAMPLE_RATE), 20.0)
    return fft.irfft(spectrum * freqs ** (-slope / 2), size)[:n]
