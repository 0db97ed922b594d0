"""Synthetic listeners: several stochastic but appropriate ways of reacting to a speaker.

Every listener is a person with a style (reaction lag 200-600 ms, expressivity, nod habits,
blink rate, head motion, resting smile) and one dominant policy:

- `mirror`: copies the speaker's smiles and brow movements delayed by exactly its lag,
  mirrors head yaw/roll a little, and shows other emotions (concern, surprise) weakly;
- `backchannel`: nods (1-3 cycles) at almost every pause of the speaker and smiles briefly
  at pauses of a neutral or happy speaker, follows the speaker's emotion loosely;
- `empathic`: shows the emotionally fitting response, strongly: a smile for happy, concern
  (inner brows up, mouth corners down, head tilt) for sad, surprise for surprised, a
  worried frown for concerned;
- `reactive`: brief brow flashes and small nods right after the speaker's stressed
  syllables, a surprise burst when the speaker becomes surprised;
- `attentive`: mostly neutral and still, weak emotional following, blinks, small nods.

Every policy nods at some of the speaker's pauses (how often is the policy's; backchannel
most) and tends to blink there (listeners' blinks synchronise with speakers' pauses):
listener-specific behaviours that copying the speaker cannot produce. Pauses and stressed
syllables are the ones the speaker's audio has (`speech.analyse`), so a listener keeps
nodding and flashing its brows when the speaker's face is turned away, covered or
poker-faced; only mirroring needs to see the face. All policies react only to what the
speaker showed at least `lag` earlier (causal), and all respond to the speaker's emotion
(seen or heard) with the same sign, so their reactions are appropriate and
tied to the speaker's behaviour; they differ in form, timing and strength, so the several
appropriate reactions of one speaker clip really differ. Listeners never speak.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from reactface_core.data.world import signals
from reactface_core.data.world.speaker import (
    ARKIT,
    BROW_FLASH,
    FPS,
    NOD_SIGN,
    SMILE,
    SpeakerScript,
    add_blinks,
    add_gaze,
    blendshapes,
    both,
)

POLICIES = ("mirror", "backchannel", "empathic", "reactive", "attentive")

CONCERN = blendshapes(
    {
        "browInnerUp": 0.5,
        **both("browDown", 0.2),
        **both("mouthPress", 0.3),
        **both("mouthFrown", 0.15),
        **both("eyeSquint", 0.1),
    }
)
SURPRISE = blendshapes(
    {**both("eyeWide", 0.5), **both("browOuterUp", 0.55), "browInnerUp": 0.45, "jawOpen": 0.12}
)
WORRY = blendshapes(
    {
        **both("browDown", 0.35),
        "browInnerUp": 0.2,
        **both("eyeSquint", 0.2),
        **both("mouthPress", 0.15),
    }
)
# What the mirroring policy copies: the smile and the brows (not frowns, eyes or jaw).
MIRRORED = np.flatnonzero(SMILE + BROW_FLASH + blendshapes(both("mouthDimple", 1.0)))
# Fitting response to each speaker emotion (rows: happy, sad, surprised, concerned).
RESPONSES = np.stack([0.85 * SMILE, CONCERN, SURPRISE, WORRY])
RESPONSE_POSES = np.array(  # pitch, yaw, roll (rad) that come with each response
    [[-0.02, 0.0, 0.0], [0.05, 0.0, 0.08], [-0.05, 0.0, 0.0], [0.03, 0.0, -0.05]]
)

# How strongly each policy follows the speaker's emotion, how fast (s), how often it nods
# at a pause, and how often it flashes its brows after a stressed syllable.
POLICY_AFFECT = {
    "mirror": 0.3,
    "backchannel": 0.5,
    "empathic": 1.0,
    "reactive": 0.55,
    "attentive": 0.3,
}
POLICY_TAU = {
    "mirror": 0.5,
    "backchannel": 0.6,
    "empathic": 0.4,
    "reactive": 0.25,
    "attentive": 0.8,
}
POLICY_NODS = {
    "mirror": 0.35,
    "backchannel": 0.85,
    "empathic": 0.5,
    "reactive": 0.45,
    "attentive": 0.4,
}
POLICY_FLASHES = {
    "mirror": 0.0,
    "backchannel": 0.0,
    "empathic": 0.0,
    "reactive": 0.8,
    "attentive": 0.0,
}


@dataclass(frozen=True)
class ListenerStyle:
    """One synthetic listener: a dominant policy and personal habits."""

    policy: str
    lag_s: float  # reaction delay after the speaker's behaviour
    gain: float  # expressivity of the reactions
    nod_amplitude: float  # rad
    nod_period_s: float  # duration of one down-up nod cycle
    smile_bias: float  # resting smile
    blink_rate: float  # per second
    head_motion: float  # std of slow head drift, rad

    @classmethod
    def sample(cls, rng: np.random.Generator, policy: str) -> ListenerStyle:
        if policy not in POLICIES:
            raise ValueError(f"unknown listener policy {policy!r}; known: {', '.join(POLICIES)}")
        return cls(
            policy=policy,
            lag_s=float(rng.uniform(0.2, 0.6)),
            gain=float(rng.uniform(0.75, 1.25)),
            nod_amplitude=float(rng.uniform(0.08, 0.15)),
            nod_period_s=float(rng.uniform(0.35, 0.6)),
            smile_bias=float(rng.uniform(0.0, 0.1)),
            blink_rate=float(rng.uniform(0.25, 0.5) * (1.4 if policy == "attentive" else 1.0)),
            head_motion=float(rng.uniform(0.012, 0.03) * (0.6 if policy == "attentive" else 1.0)),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def listener_coefficients(
    rng: np.random.Generator,
    style: ListenerStyle,
    script: SpeakerScript,
    speaker_expressive: np.ndarray,
    speaker_pose: np.ndarray,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """arkit58 coefficients (T, 58) of one listener's reaction to one speaker clip.

    speaker_expressive (T, 52): the speaker's emotional expression (`SpeakerFace.expressive`);
    speaker_pose (T, 3): the speaker's head rotation; visible (T,): whether the speaker's
    face could be seen (turned away or covered: what is mirrored fades out; pauses, stress
    and the emotion still come through the voice). Only their values up to t - lag shape
    the reaction at t.
    """
    frames = script.frames
    lag = style.lag_s * FPS
    policy = style.policy
    out = np.zeros((frames, ARKIT.dim))
    face, pose = out[:, :52], out[:, 52:55]
    seen = np.ones(frames) if visible is None else signals.smooth(visible.astype(float), 0.2 * FPS)

    # Following the speaker's emotion (all but mirror), with this policy's speed.
    seen_affect = signals.delay(script.affect[:, 1:], lag)  # (T, 4) what was visible
    tau = POLICY_TAU[policy] * FPS * rng.uniform(0.8, 1.2)
    felt = signals.smooth(seen_affect, tau) * POLICY_AFFECT[policy] * style.gain
    response = felt @ RESPONSES
    if policy == "mirror":
        response[:, MIRRORED] = 0.0  # these channels are copied from the speaker instead
    face += response
    pose += felt @ RESPONSE_POSES
    face += style.smile_bias * SMILE

    if policy == "mirror":
        shown = speaker_expressive[:, MIRRORED] * seen[:, None]
        face[:, MIRRORED] += style.gain * 0.8 * signals.delay(shown, lag)
        turned = (speaker_pose[:, 1:3] - speaker_pose[:1, 1:3]) * seen[:, None]
        pose[:, 1:3] += signals.delay(turned, lag + 0.5 * FPS) * -0.3  # yaw, roll

    # Nods and small smiles at the speaker's pauses.
    pauses = script.pause_onsets
    nodding = rng.random(len(pauses)) < POLICY_NODS[policy]
    starts = pauses[nodding] + lag + rng.uniform(0.0, 0.2 * FPS, nodding.sum())
    cycles = rng.integers(1, 4, len(starts))
    amplitude = style.nod_amplitude * rng.uniform(0.7, 1.2, len(starts))
    if policy == "attentive":
        amplitude *= 0.5
    pose[:, 0] += NOD_SIGN * signals.nods(
        frames, starts, cycles, style.nod_period_s * FPS, amplitude
    )
    if policy == "backchannel":
        at = np.clip(pauses.astype(np.int64), 0, frames - 1)
        warmth = script.affect[at, 0] + script.affect[at, 1]  # neutral or happy speaker
        smiles = rng.random(len(pauses)) < 0.6 * warmth
        smile = signals.pulses(
            frames,
            pauses[smiles] + lag,
            rng.uniform(1.0, 1.6, smiles.sum()) * FPS,
            0.35 * style.gain * (0.5 + script.affect[at[smiles], 1]),
        )
        face += np.outer(smile, SMILE)

    if policy == "reactive":
        stress = script.stress_frames
        flashing = rng.random(len(stress)) < POLICY_FLASHES[policy]
        flashes = signals.pulses(frames, stress[flashing] + lag, 0.4 * FPS, 0.45 * style.gain)
        face += np.outer(flashes, BROW_FLASH)
        nod = signals.pulses(
            frames, stress[flashing] + lag + 2, 0.4 * FPS, 0.3 * style.nod_amplitude
        )
        pose[:, 0] += NOD_SIGN * nod
        onsets = [s for s, _, e, _ in script.segments if e == 3 and s > 0]
        burst = signals.pulses(frames, np.array(onsets) + lag, 1.5 * FPS, 0.8 * style.gain)
        face += np.outer(burst, SURPRISE)

    # Listeners blink at the speaker's pauses (blink synchrony), less while they listen.
    cued = rng.random(len(pauses)) < 0.7
    cued_at = pauses[cued] + lag + rng.uniform(0.0, 0.25 * FPS, cued.sum())
    add_blinks(rng, face, 0.5 * style.blink_rate, cued_at)
    add_gaze(rng, face, spread=0.06 if policy == "attentive" else 0.1)
    np.clip(face, 0.0, 1.0, out=face)
    pose += signals.drift(rng, frames, 1.5 * FPS, style.head_motion, 3) * [1.0, 1.3, 0.6]
    out[:, 55:58] = signals.drift(rng, frames, 2.0 * FPS, 0.003, 3)
    return out.astype(np.float32)
