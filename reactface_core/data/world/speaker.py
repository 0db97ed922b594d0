"""Synthetic speakers: a person's style, a clip's latent state script, and its face coefficients.

A speaker clip is driven by latent state trajectories (the *script*):

- emotion segments (neutral, happy, sad, surprised, concerned; 4-10 s each, an intensity
  each) that switch with a causal ~0.2 s transition; the per-frame `affect` holds them;
- speaking vs pausing: utterances (gamma-distributed, ~3 s) separated by pauses
  (0.35-1.4 s, longer when sad), made of syllables (consonant onset + vowel) at a
  person- and emotion-dependent rate;
- emphasis: stressed syllables (about one per utterance, more when excited) that raise
  pitch and loudness in the audio and flash the brows and nod the head in the face.

The same script drives the audio (`speech.py`) and the face here, so the mouth opens with
the syllable envelope the audio is made of and emotions show in both face and prosody.
Face coefficients are in the `arkit58` layout (`reactface_core.face.models`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data.world import signals
from reactface_core.face.models import get_face_model

EMOTIONS = ("neutral", "happy", "sad", "surprised", "concerned")
VOWELS = ("a", "e", "i", "o", "u")
CONSONANTS = ("none", "plosive", "fricative", "nasal")
ARKIT = get_face_model("arkit58")

# Speech rate and pause length relative to neutral, per emotion.
EMOTION_RATE = np.array([1.0, 1.12, 0.8, 1.15, 0.95])
EMOTION_PAUSE = np.array([1.0, 0.85, 1.5, 0.9, 1.2])
EMOTION_STRESS = np.array([0.1, 0.2, 0.05, 0.3, 0.12])  # extra stressed-syllable probability


def blendshapes(weights: dict[str, float]) -> np.ndarray:
    """A (52,) expression vector from {ARKit name: weight}; names are checked."""
    vector = np.zeros(52)
    for name, weight in weights.items():
        vector[ARKIT.index(name)] = weight
    return vector


def both(stem: str, weight: float) -> dict[str, float]:
    """The Left and Right channel of a paired blendshape with one weight."""
    return {f"{stem}Left": weight, f"{stem}Right": weight}


SMILE = blendshapes(
    {**both("mouthSmile", 0.7), **both("cheekSquint", 0.45), **both("eyeSquint", 0.25)}
)
BROW_FLASH = blendshapes({"browInnerUp": 0.8, **both("browOuterUp", 0.7)})
# Expression of the speaker's own emotion (rows: happy, sad, surprised, concerned).
SPEAKER_EXPRESSIONS = np.stack(
    [
        SMILE + blendshapes(both("mouthDimple", 0.2)),
        blendshapes(
            {
                **both("mouthFrown", 0.6),
                "browInnerUp": 0.6,
                "mouthShrugLower": 0.3,
                **both("eyeLookDown", 0.2),
                **both("mouthPress", 0.1),
            }
        ),
        blendshapes(
            {
                "browInnerUp": 0.7,
                **both("browOuterUp", 0.7),
                **both("eyeWide", 0.6),
                "jawOpen": 0.18,
            }
        ),
        blendshapes(
            {
                **both("browDown", 0.4),
                "browInnerUp": 0.35,
                **both("mouthPress", 0.3),
                **both("mouthFrown", 0.2),
                **both("eyeSquint", 0.15),
            }
        ),
    ]
)
# Head pose offsets (pitch, yaw, roll; rad) that come with each emotion (same rows).
SPEAKER_POSES = np.array(
    [[-0.03, 0.0, 0.02], [0.1, 0.0, 0.05], [-0.06, 0.0, 0.0], [0.03, 0.0, -0.06]]
)
# Mouth shapes of the vowels a, e, i, o, u, scaled by the syllable envelope.
VOWEL_SHAPES = np.stack(
    [
        blendshapes({"jawOpen": 0.55, **both("mouthLowerDown", 0.3), **both("mouthUpperUp", 0.1)}),
        blendshapes({"jawOpen": 0.35, **both("mouthStretch", 0.25), **both("mouthLowerDown", 0.2)}),
        blendshapes({"jawOpen": 0.2, **both("mouthStretch", 0.35), **both("mouthSmile", 0.08)}),
        blendshapes({"jawOpen": 0.4, "mouthFunnel": 0.45, "mouthPucker": 0.15}),
        blendshapes({"jawOpen": 0.22, "mouthFunnel": 0.3, "mouthPucker": 0.5}),
    ]
)
LIP_CLOSURE = blendshapes({"mouthClose": 0.35, **both("mouthPress", 0.25)})
BLINK = blendshapes(both("eyeBlink", 1.0))
NOD_SIGN = 1.0  # positive pitch tilts the chin down (see `face.rig`)


@dataclass(frozen=True)
class SpeakerStyle:
    """One synthetic person's voice, face and habits (fixed across that person's clips)."""

    f0_hz: float  # mean voice pitch
    formant_scale: float  # vocal tract: formant frequencies x this
    syllable_rate: float  # syllables per second when neutral
    loudness: float  # peak amplitude of the waveform
    expressivity: float  # gain on emotional expressions
    head_motion: float  # std of the slow head drift, rad
    blink_rate: float  # blinks per second
    distance_m: float  # face distance from the virtual camera
    emotion_weights: tuple[float, ...]  # how often each of EMOTIONS appears in the scripts

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SpeakerStyle:
        low_voice = rng.random() < 0.5
        weights = rng.dirichlet(np.full(len(EMOTIONS), 2.0)) + 0.05
        return cls(
            f0_hz=float(rng.uniform(95, 140) if low_voice else rng.uniform(170, 240)),
            formant_scale=float(rng.uniform(0.95, 1.05) if low_voice else rng.uniform(1.1, 1.2)),
            syllable_rate=float(rng.uniform(3.6, 5.2)),
            loudness=float(rng.uniform(0.25, 0.45)),
            expressivity=float(rng.uniform(0.75, 1.25)),
            head_motion=float(rng.uniform(0.02, 0.05)),
            blink_rate=float(rng.uniform(0.2, 0.45)),
            distance_m=float(rng.uniform(0.6, 0.72)),
            emotion_weights=tuple(float(w) for w in weights / weights.sum()),
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Syllables:
    """Syllable timing (seconds) and content of one clip, one entry per syllable."""

    onset: np.ndarray  # consonant start
    voice_onset: np.ndarray  # vowel start (= onset when there is no consonant)
    end: np.ndarray
    vowel: np.ndarray  # index into VOWELS
    consonant: np.ndarray  # index into CONSONANTS
    stressed: np.ndarray  # bool


@dataclass(frozen=True)
class SpeakerScript:
    """The latent state trajectories of one speaker clip."""

    frames: int
    segments: np.ndarray  # (S, 4): start frame, end frame, emotion index, intensity
    affect: np.ndarray  # (T, 5): per-frame weight of each emotion (neutral = 1 - the rest)
    utterances: np.ndarray  # (U, 2) start, end in seconds
    syllables: Syllables
    speaking: np.ndarray  # (T,) fraction of each frame inside an utterance
    emphasis: np.ndarray  # (T,) stress envelope, ~1 on stressed syllables
    pause_onsets: np.ndarray  # (P,) frames where a pause starts (an utterance ended)
    stress_frames: np.ndarray  # (K,) frames of stressed vowel onsets

    @property
    def seconds(self) -> float:
        return self.frames / FPS

    def emotion_at(self, frame: int) -> int:
        """Index of the scripted emotion at a frame."""
        row = np.searchsorted(self.segments[:, 1], frame, side="right")
        return int(self.segments[min(row, len(self.segments) - 1), 2])

    def summary(self) -> dict:
        """JSON-friendly description (for world_clips.jsonl and previews)."""
        return {
            "segments": [
                {
                    "start": int(s),
                    "end": int(e),
                    "emotion": EMOTIONS[int(k)],
                    "intensity": round(float(i), 3),
                }
                for s, e, k, i in self.segments
            ],
            "utterances": [[round(float(a), 3), round(float(b), 3)] for a, b in self.utterances],
            "pause_onsets": [round(float(p), 2) for p in self.pause_onsets],
            "stress_frames": [round(float(s), 2) for s in self.stress_frames],
        }


def sample_segments(
    rng: np.random.Generator, style: SpeakerStyle, frames: int, emotions: list[int] | None = None
) -> np.ndarray:
    """Emotion segments (S, 4). `emotions` forces the sequence of emotions (tests, demos)."""
    segments = []
    start, previous = 0, -1
    while start < frames:
        length = rng.uniform(4.0, 10.0) * FPS
        if emotions is not None:
            emotion = emotions[min(len(segments), len(emotions) - 1)]
            if len(emotions) == 1:
                length = frames
        else:
            probs = np.array(style.emotion_weights)
            if previous >= 0:
                probs[previous] *= 0.2  # emotions tend to change between segments
            emotion = int(rng.choice(len(EMOTIONS), p=probs / probs.sum()))
        intensity = 1.0 if emotion == 0 else rng.uniform(0.6, 1.0)
        end = min(frames, int(round(start + length)))
        if frames - end < 2 * FPS:  # no stub segment at the end of the clip
            end = frames
        segments.append((start, end, emotion, intensity))
        start, previous = end, emotion
    return np.array(segments, dtype=np.float64)


def segment_values(segments: np.ndarray, frames: int, column: int) -> np.ndarray:
    """Per-frame value of one segment column (emotion or intensity)."""
    index = np.searchsorted(segments[:, 1], np.arange(frames), side="right")
    return segments[np.minimum(index, len(segments) - 1), column]


def sample_script(
    rng: np.random.Generator,
    style: SpeakerStyle,
    frames: int,
    emotions: list[int] | None = None,
) -> SpeakerScript:
    """Draw the latent state trajectories of one clip of `frames` frames at 25 fps."""
    segments = sample_segments(rng, style, frames, emotions)
    emotion = segment_values(segments, frames, 2).astype(np.int64)
    intensity = segment_values(segments, frames, 3)
    target = np.zeros((frames, len(EMOTIONS)))
    target[np.arange(frames), emotion] = intensity
    target[:, 0] = 1.0 - target[:, 1:].sum(axis=1)
    affect = signals.smooth(target, tau=0.2 * FPS)

    duration = frames / FPS
    utterances, rows = [], []
    t = rng.uniform(0.0, 0.6)
    while t < duration - 0.5:
        e = emotion[min(int(t * FPS), frames - 1)]
        end = min(t + float(np.clip(rng.gamma(4.0, 0.75), 0.9, 6.5)), duration)
        utterances.append((t, end))
        rows.extend(_syllables(rng, style, t, end, e))
        t = end + rng.uniform(0.35, 1.4) * EMOTION_PAUSE[e]
    utterances = np.array(utterances, dtype=np.float64).reshape(-1, 2)
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    syllables = Syllables(
        onset=table[:, 0],
        voice_onset=table[:, 1],
        end=table[:, 2],
        vowel=table[:, 3].astype(np.int64),
        consonant=table[:, 4].astype(np.int64),
        stressed=table[:, 5] > 0.5,
    )

    frame_start = np.arange(frames)[:, None] / FPS
    overlap = np.minimum(frame_start + 1 / FPS, utterances[None, :, 1]) - np.maximum(
        frame_start, utterances[None, :, 0]
    )
    speaking = np.clip(overlap, 0.0, None).sum(axis=1) * FPS
    stress_onsets = syllables.voice_onset[syllables.stressed] * FPS
    stress_lengths = (syllables.end - syllables.voice_onset)[syllables.stressed] * FPS * 1.5
    emphasis = np.minimum(signals.pulses(frames, stress_onsets, stress_lengths), 1.0)
    ends = utterances[:, 1]
    pause_onsets = ends[ends < duration - 0.3] * FPS
    return SpeakerScript(
        frames=frames,
        segments=segments,
        affect=affect,
        utterances=utterances,
        syllables=syllables,
        speaking=speaking,
        emphasis=emphasis,
        pause_onsets=pause_onsets,
        stress_frames=stress_onsets,
    )


def _syllables(rng, style: SpeakerStyle, start: float, end: float, emotion: int) -> list[tuple]:
    rate = style.syllable_rate * EMOTION_RATE[emotion]
    rows = []
    t = start
    while t < end - 0.08:
        duration = min(rng.uniform(0.7, 1.3) / rate, end - t)
        consonant = int(rng.choice(4, p=[0.3, 0.3, 0.25, 0.15]))
        consonant_length = 0.0 if consonant == 0 else rng.uniform(0.04, 0.09)
        consonant_length = min(consonant_length, 0.4 * duration)
        stressed = rng.random() < EMOTION_STRESS[emotion]
        rows.append([t, t + consonant_length, t + duration, rng.integers(5), consonant, stressed])
        t += duration
    if rows and rng.random() < 0.85:  # the utterance's nuclear stress
        rows[int(rng.integers(len(rows)))][5] = True
    return rows


class SpeakerFace(NamedTuple):
    coefficients: np.ndarray  # (T, 58) float32 arkit58: what the camera sees
    expressive: np.ndarray  # (T, 52) the emotional part alone (no speech, blinks, gaze)


def speaker_face(
    rng: np.random.Generator,
    style: SpeakerStyle,
    script: SpeakerScript,
    articulation: np.ndarray,
    closure: np.ndarray,
) -> SpeakerFace:
    """arkit58 coefficients of the speaker's face for one clip, and their emotional part.

    articulation (T, 5): per frame, the syllable envelope (0 silent .. ~1.45 stressed) of
    the vowel being spoken, by vowel; closure (T,): lip closure of plosive/nasal onsets.
    Both come from `speech.articulation`, so the mouth moves with the audio.
    """
    frames = script.frames
    out = np.zeros((frames, ARKIT.dim))
    face = out[:, :52]

    # Emotional expression plus its dynamics: smile bursts and brow flashes on stress.
    expressive = style.expressivity * (script.affect[:, 1:] @ SPEAKER_EXPRESSIONS)
    smile_rate = (0.2 * script.affect[:, 1] + 0.04 * script.affect[:, 0]) / FPS
    smiles = signals.poisson_events(rng, frames, smile_rate, refractory=2.0 * FPS)
    bursts = signals.pulses(
        frames, smiles, rng.uniform(1.0, 2.2, len(smiles)) * FPS, rng.uniform(0.3, 0.6, len(smiles))
    )
    expressive += np.outer(bursts, SMILE)
    surprise = script.affect[:, 3]
    flash_keep = rng.random(len(script.stress_frames)) < 0.65
    flashes = script.stress_frames[flash_keep]
    flash_gain = 0.35 * (1.0 + surprise[np.clip(flashes.astype(int), 0, frames - 1)])
    brows = signals.pulses(frames, flashes - 2, 0.45 * FPS, flash_gain * style.expressivity)
    expressive += np.outer(brows, BROW_FLASH)
    np.clip(expressive, 0.0, 1.0, out=expressive)
    face += expressive

    # Speech articulation: vowel shapes follow the syllable envelope, lips close on onsets.
    face += articulation @ VOWEL_SHAPES
    face += np.outer(closure, LIP_CLOSURE)

    add_blinks(rng, face, style.blink_rate)
    add_gaze(rng, face, spread=0.15)
    np.clip(face, 0.0, 1.0, out=face)

    # Head: slow drift, emotional posture, nods on stressed syllables, speech bobbing.
    pose = out[:, 52:55]
    pose += signals.drift(rng, frames, 1.2 * FPS, style.head_motion, 3) * [1.0, 1.4, 0.6]
    pose += script.affect[:, 1:] @ SPEAKER_POSES
    nod_gain = rng.uniform(0.03, 0.06, len(script.stress_frames))
    pose[:, 0] += NOD_SIGN * signals.pulses(frames, script.stress_frames - 3, 0.5 * FPS, nod_gain)
    pose[:, 0] += 0.012 * NOD_SIGN * signals.smooth(articulation.sum(axis=1), 2.0)
    out[:, 55:58] = signals.drift(rng, frames, 1.5 * FPS, 0.004, 3) * [1.0, 1.0, 1.5]
    return SpeakerFace(out.astype(np.float32), expressive)


def add_blinks(
    rng: np.random.Generator, face: np.ndarray, rate: float, cued: np.ndarray | None = None
) -> None:
    """Add ~240 ms blinks to face (T, 52): spontaneous ones at `rate` per second (at least
    0.5 s apart) and, if given, ones starting at the `cued` frames."""
    frames = len(face)
    blinks = signals.poisson_events(rng, frames, rate / FPS, refractory=0.5 * FPS)
    if cued is not None:
        blinks = np.concatenate([blinks, cued])
    face += np.outer(np.minimum(signals.pulses(frames, blinks, 6.0), 1.0), BLINK)


def add_gaze(rng: np.random.Generator, face: np.ndarray, spread: float) -> None:
    """Piecewise-constant gaze with saccades every 0.5-2.5 s, written into eyeLook channels."""
    frames = len(face)
    changes = np.cumsum(rng.uniform(0.5, 2.5, int(frames / FPS / 0.5) + 2) * FPS)
    targets = rng.normal(0.0, spread, (len(changes) + 1, 2))
    gaze = targets[np.searchsorted(changes, np.arange(frames), side="right")]
    gaze = signals.smooth(gaze, 1.0)
    right, up = gaze[:, 0], gaze[:, 1]  # towards the subject's left, upwards
    for name, value in (
        ("eyeLookOutLeft", right),
        ("eyeLookInRight", right),
        ("eyeLookInLeft", -right),
        ("eyeLookOutRight", -right),
        ("eyeLookUpLeft", up),
        ("eyeLookUpRight", up),
        ("eyeLookDownLeft", -up),
        ("eyeLookDownRight", -up),
    ):
        face[:, ARKIT.index(name)] += np.clip(value, 0.0, None)
