"""Fresh appropriate reactions to a synthetic world's speaker clips (the FreshOracle baseline).

A generated world's `dataset.json` holds every parameter of `reactface synth`, and each clip
is generated from (seed, clip index) alone, so the speaker side of any clip can be
regenerated exactly (`generate.load_plan`, `generate.speaker_side`). New listeners then
react to it: for sample n a new person of policy POLICIES[n mod 5] with its own lag, gain
and habits, and its own random nods, blinks and smiles, drawn from a random stream the
world never uses. These reactions are appropriate by construction (the world's own
policies) but are not in the clip's appropriate set: what a perfect generator could
produce, and so the ceiling of each metric on this world.

`deaf` gives the same listeners as if they could not hear the speaker (`unheard`):
what an ideal generator loses when the audio is taken away, the ceiling of the audio
effect (`evaluate --ablate audio`) on this world.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.data.world import listener
from reactface_core.data.world.synth import (
    GENERATOR,
    SpeakerSide,
    WorldPlan,
    listener_reaction,
    load_plan,
    speaker_side,
)
from reactface_core.face.models import get_face_model

FRESH_STREAM = 7  # random stream of fresh listeners; the world itself uses streams 1-6


def is_synthetic_world(root: str | Path) -> bool:
    return react.read_info(root).generator == GENERATOR


@lru_cache(maxsize=4)
def _plan(root: Path) -> WorldPlan:
    if not is_synthetic_world(root):
        raise ValueError(f"{root / react.METADATA_FILE} does not describe a world of `{GENERATOR}`")
    return load_plan(root)


def world_plan(root: str | Path) -> WorldPlan:
    """The plan of a synthetic world (its config, persons and clips), from dataset.json."""
    return _plan(Path(root).resolve())


def clip_indices(plan: WorldPlan, speaker_paths: list[str]) -> list[int]:
    """The world's clip index of each speaker clip path (as in the split's csv)."""
    index = {clip.speaker_path: clip.index for clip in plan.clips}
    missing = [path for path in speaker_paths if path not in index]
    if missing:
        raise ValueError(
            f"speaker clip {missing[0]} is not one of this world's clips (seed "
            f"{plan.config.seed}, {plan.config.clips} clips)"
        )
    return [index[path] for path in speaker_paths]


def unheard(side: SpeakerSide, rng: np.random.Generator) -> SpeakerSide:
    """The speaker side as a listener who cannot hear perceives it: the pauses and stressed
    syllables at random frames (as many as there are), the emotion only as strong as the
    face shows it (a poker-faced speaker's at its expressivity; others' whole)."""
    script, frames = side.script, side.script.frames
    shown = side.style.expressivity if side.style.poker_faced else 1.0
    emotions = script.affect[:, 1:] * shown  # (T, 4); column 0 is neutral = 1 - the rest
    script = replace(
        script,
        affect=np.concatenate([1.0 - emotions.sum(1, keepdims=True), emotions], 1),
        pause_onsets=np.sort(rng.uniform(0, frames - 1, len(script.pause_onsets))),
        stress_frames=np.sort(rng.uniform(0, frames - 1, len(script.stress_frames))),
    )
    return replace(side, script=script)


def fresh_reactions(
    root: str | Path,
    speaker_paths: list[str],
    num_samples: int,
    seed: int = 0,
    deaf: tuple[bool, ...] = (False,),
) -> tuple[np.ndarray, ...]:
    """(K, N, T, 58) new appropriate reactions to each speaker clip, float32 arkit58, one
    array per entry of `deaf`: False, as the listeners hear the speaker; True, the same
    persons and draws reacting to what they would perceive without hearing (`unheard`).

    Deterministic in (the world, the clip, `seed`, n); another `seed` gives other persons
    and timings. Each speaker side is regenerated once for all entries (the costly part)."""
    plan = world_plan(root)
    config = plan.config
    dim = get_face_model("arkit58").dim
    out = np.empty((len(deaf), len(speaker_paths), num_samples, config.frames, dim), np.float32)
    for k, index in enumerate(clip_indices(plan, speaker_paths)):
        clip = plan.clips[index]
        side = speaker_side(config, plan.speakers[clip.speaker_id], index)
        for variant, unhearing in enumerate(deaf):
            perceived = side
            if unhearing:
                stream = np.random.default_rng([config.seed, FRESH_STREAM, seed, index])
                perceived = unheard(side, stream)
            for n in range(num_samples):
                rng = np.random.default_rng([config.seed, FRESH_STREAM, seed, index, n])
                style = listener.ListenerStyle.sample(
                    rng, listener.POLICIES[n % len(listener.POLICIES)]
                )
                out[variant, k, n] = listener_reaction(
                    perceived, style, [config.seed, FRESH_STREAM, seed, index, n, 1]
                )
    return tuple(out)
