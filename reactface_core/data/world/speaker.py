"""Synthetic speakers: a person, a clip's latent state script, and its face coefficients.

A person (`SpeakerStyle`) has an espeak-ng voice, a face shape (identity coordinates,
`face.identity`), a look (skin, lips, iris, hair), habits (blinks, head motion, pauses)
and an expressiveness. Some people are poker-faced: their mouth, brows and head barely
move while their voice still carries stress, pauses and emotion, so a listener who
only watches misses what one who listens hears.

A speaker clip is driven by a latent state script:

- emotion segments (neutral, happy, sad, surprised, concerned; 4-10 s each, an intensity
  each) that switch with a causal ~0.2 s transition; the per-frame `affect` holds them;
- speech (`speech.py`): phrases synthesised by espeak-ng with the emotion's pitch, pace
  and loudness, placed one after another with pauses; utterances, pauses and stressed
  syllables are then read from where the audio has them (`speech.analyse`);
- emphasis: the stressed syllables flash the brows and nod the head (in proportion to
  the person's visible expressiveness).

The face is driven by the same audio: the mouth opens with the phrase's own voiced
envelope and takes vowel-like shapes from its spectrum, so face and voice stay in sync.
Face coefficients are in the `arkit58` layout (`reactface_core.face.models`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data import espeak
from reactface_core.data.world import signals
from reactface_core.data.world.speech import Speech, Timing
from reactface_core.face.identity import IdentitySpace, identity_space
from reactface_core.face.models import get_face_model
from reactface_core.face.scene import Appearance

EMOTIONS = ("neutral", "happy", "sad", "surprised", "concerned")
ARKIT = get_face_model("arkit58")
FEMALE_FORMANTS = 1.15  # female voices' formants relative to the male prototypes
# Looks: albedo (sRGB-ish, [0, 1]) along which skin tones are drawn, light to dark, and
# the hair and iris colours people have.
SKIN_TONES = np.array(
    [
        [0.96, 0.81, 0.70],
        [0.93, 0.74, 0.62],
        [0.84, 0.62, 0.48],
        [0.74, 0.54, 0.38],
        [0.58, 0.40, 0.28],
        [0.42, 0.28, 0.20],
        [0.30, 0.20, 0.15],
    ]
)
HAIR_COLOURS = np.array(
    [
        [0.06, 0.05, 0.05],
        [0.17, 0.11, 0.08],
        [0.32, 0.21, 0.13],
        [0.45, 0.21, 0.10],
        [0.72, 0.60, 0.40],
        [0.62, 0.61, 0.60],
    ]
)
IRIS_COLOURS = np.array(
    [
        [0.36, 0.24, 0.14],
        [0.18, 0.11, 0.07],
        [0.30, 0.45, 0.60],
        [0.35, 0.45, 0.30],
        [0.45, 0.5, 0.52],
    ]
)
LIP_TINT = np.array([0.86, 0.58, 0.58])  # lips relative to the skin


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
VOWEL_SHAPES = np.stack(  # rows follow `speech.VOWEL_FORMANTS`
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


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Skin anywhere from light to dark, lips tinted from it, a hair and an iris colour."""
    position = rng.random() * (len(SKIN_TONES) - 1)
    low = int(position)
    high = min(low + 1, len(SKIN_TONES) - 1)
    skin = SKIN_TONES[low] + (position - low) * (SKIN_TONES[high] - SKIN_TONES[low])
    skin = np.clip(skin * rng.uniform(0.95, 1.05, 3), 0.0, 1.0)
    hair = np.clip(
        HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))] * rng.uniform(0.85, 1.15), 0, 1
    )
    iris = IRIS_COLOURS[int(rng.integers(len(IRIS_COLOURS)))]
    return Appearance(
        skin=_rgb(skin),
        lips=_rgb(np.clip(skin * LIP_TINT * rng.uniform(0.9, 1.1), 0.0, 1.0)),
        iris=_rgb(iris),
        hair=_rgb(hair),
    )


def _rgb(values) -> tuple[float, float, float]:
    return tuple(round(float(v), 4) for v in values)


@dataclass(frozen=True)
class SpeakerStyle:
    """One synthetic person: voice, face, look and habits (fixed across their clips)."""

    voice: espeak.Voice  # espeak-ng voice; emotions shift its pitch, pace and loudness
    formant_scale: float  # the voice's formants relative to a low adult voice
    pause_scale: float  # pauses between phrases x this
    expressivity: float  # gain on emotional expressions
    face_gain: float  # gain on visible speech: mouth, brow flashes, nods
    poker_faced: bool
    head_motion: float  # std of the slow head drift, rad
    blink_rate: float  # blinks per second
    emotion_weights: tuple[float, ...]  # how often each of EMOTIONS appears in the scripts
    identity: tuple[float, ...]  # face-shape coordinates (`face.identity`)
    appearance: Appearance

    @classmethod
    def sample(
        cls,
        rng: np.random.Generator,
        identities: IdentitySpace | None = None,
        identity_scale: float = 1.0,
        head_motion: tuple[float, float] = (0.02, 0.05),
        poker_face_fraction: float = 0.25,
    ) -> SpeakerStyle:
        identities = identities or identity_space()
        weights = rng.dirichlet(np.full(len(EMOTIONS), 2.0)) + 0.05
        voice = espeak.Voice.sample(rng)
        poker = bool(rng.random() < poker_face_fraction)
        return cls(
            voice=voice,
            formant_scale=FEMALE_FORMANTS if voice.variant.startswith("f") else 1.0,
            pause_scale=float(rng.uniform(0.8, 1.25)),
            expressivity=float(rng.uniform(0.1, 0.3) if poker else rng.uniform(0.75, 1.25)),
            face_gain=float(rng.uniform(0.05, 0.2) if poker else rng.uniform(0.8, 1.2)),
            poker_faced=poker,
            head_motion=float(rng.uniform(*head_motion)),
            blink_rate=float(rng.uniform(0.2, 0.45)),
            emotion_weights=tuple(float(w) for w in weights / weights.sum()),
            identity=tuple(float(z) for z in identities.sample(rng, identity_scale)),
            appearance=sample_appearance(rng),
        )

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SpeakerScript:
    """The latent state trajectories of one speaker clip (timing read from its audio)."""

    frames: int
    segments: np.ndarray  # (S, 4): start frame, end frame, emotion index, intensity
    affect: np.ndarray  # (T, 5): per-frame weight of each emotion (neutral = 1 - the rest)
    utterances: np.ndarray  # (U, 2) start, end in seconds: where the phrases landed
    phrases: tuple[str, ...]  # what was said, one per utterance
    speaking: np.ndarray  # (T,) fraction of each frame inside an utterance
    emphasis: np.ndarray  # (T,) stress envelope, ~1 on stressed syllables
    pause_onsets: np.ndarray  # (P,) frames where a pause starts (an utterance ended)
    stress_frames: np.ndarray  # (K,) frames of stressed syllable nuclei in the audio

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
            "phrases": list(self.phrases),
            "pause_onsets": [round(float(p), 2) for p in self.pause_onsets],
            "stress_frames": [round(float(s), 2) for s in self.stress_frames],
        }


def affect_of(segments: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame weight of each emotion (T, 5) from emotion segments (S, 4): the scripted
    emotion at its intensity (neutral = 1 - the rest), with a causal ~0.2 s transition."""
    index = np.searchsorted(segments[:, 1], np.arange(frames), side="right")
    rows = segments[np.minimum(index, len(segments) - 1)]
    target = np.zeros((frames, len(EMOTIONS)))
    target[np.arange(frames), rows[:, 2].astype(np.int64)] = rows[:, 3]
    target[:, 0] = 1.0 - target[:, 1:].sum(axis=1)
    return signals.smooth(target, tau=0.2 * FPS)


def script_from_speech(speech: Speech, timing: Timing, frames: int) -> SpeakerScript:
    """The clip's script: the emotion segments of its speech and the timing its audio has."""
    segments = speech.segments
    stress_lengths = np.full(len(timing.stress_frames), 0.3 * FPS)
    emphasis = np.minimum(signals.pulses(frames, timing.stress_frames - 2, stress_lengths), 1.0)
    return SpeakerScript(
        frames=frames,
        segments=segments,
        affect=affect_of(segments, frames),
        utterances=timing.utterances,
        phrases=tuple(text for _, _, text in speech.phrases),
        speaking=timing.speaking,
        emphasis=emphasis,
        pause_onsets=timing.pause_onsets,
        stress_frames=timing.stress_frames,
    )


class SpeakerFace(NamedTuple):
    coefficients: np.ndarray  # (T, 58) float32 arkit58: what the camera sees
    expressive: np.ndarray  # (T, 52) the emotional part alone (no speech, blinks, gaze)


def speaker_face(
    rng: np.random.Generator, style: SpeakerStyle, script: SpeakerScript, timing: Timing
) -> SpeakerFace:
    """arkit58 coefficients of the speaker's face for one clip, and their emotional part.

    `timing.articulation` (T, 5): per frame the voiced envelope of the audio, spread over
    the five vowel shapes; `timing.closure` (T,): lip closure in the audio's dips. The
    person's `face_gain` scales what speech shows (mouth, brow flashes, nods).
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
    expressive += style.expressivity * np.outer(bursts, SMILE)
    surprise = script.affect[:, 3]
    flash_keep = rng.random(len(script.stress_frames)) < 0.65
    flashes = script.stress_frames[flash_keep]
    flash_gain = 0.35 * (1.0 + surprise[np.clip(flashes.astype(int), 0, frames - 1)])
    brows = signals.pulses(frames, flashes - 2, 0.45 * FPS, flash_gain * style.face_gain)
    expressive += np.outer(brows, BROW_FLASH)
    np.clip(expressive, 0.0, 1.0, out=expressive)
    face += expressive

    # Speech articulation: vowel shapes follow the audio's envelope, lips close in its dips.
    face += style.face_gain * (timing.articulation @ VOWEL_SHAPES)
    face += style.face_gain * np.outer(timing.closure, LIP_CLOSURE)

    add_blinks(rng, face, style.blink_rate)
    add_gaze(rng, face, spread=0.15)
    np.clip(face, 0.0, 1.0, out=face)

    # Head: slow drift, emotional posture, nods on stressed syllables, speech bobbing.
    pose = out[:, 52:55]
    pose += signals.drift(rng, frames, 1.2 * FPS, style.head_motion, 3) * [1.0, 1.4, 0.6]
    pose += script.affect[:, 1:] @ SPEAKER_POSES
    nod_gain = rng.uniform(0.03, 0.06, len(script.stress_frames)) * style.face_gain
    pose[:, 0] += NOD_SIGN * signals.pulses(frames, script.stress_frames - 3, 0.5 * FPS, nod_gain)
    speech_bob = signals.smooth(timing.articulation.sum(axis=1), 2.0)
    pose[:, 0] += 0.012 * NOD_SIGN * style.face_gain * speech_bob
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
