"""Fresh appropriate reactions to a synthetic world's speaker clips (the FreshOracle baseline).

A generated world's `dataset.json` holds every parameter of `reactface synth`, and each clip
is generated from (seed, clip index) alone, so the speaker side of any clip (its script and
face) can be regenerated exactly, here without the audio and landmarks the listeners do not
look at. New listeners then react to it: for sample n a new person of policy
POLICIES[n mod 5] with its own lag, gain and habits, and its own random nods, blinks and
smiles, drawn from a random stream the world never uses. These reactions are appropriate by
construction (the world's own policies) but are not in the clip's appropriate set: what a
perfect generator could produce, and so the ceiling of each metric on this world.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.data.world import camera, listener, speaker, speech
from reactface_core.data.world.generate import WorldConfig, WorldPlan, plan_world

GENERATOR = "reactface synth"  # dataset.json's `generator` of a synthetic world
FRESH_STREAM = 7  # random stream of fresh listeners; the world itself uses streams 1-6


def is_synthetic_world(root: str | Path) -> bool:
    return react.read_info(root).generator == GENERATOR


def read_world_config(root: str | Path) -> WorldConfig:
    """The `WorldConfig` a synthetic world was generated with, from its dataset.json."""
    path = Path(root) / react.METADATA_FILE
    if not is_synthetic_world(root):
        raise ValueError(f"{path} does not describe a world of `{GENERATOR}`")
    stored = json.loads(path.read_text()).get("config")
    if not isinstance(stored, dict):
        raise ValueError(f"{path} has no 'config' object with the world's parameters")
    names = {field.name for field in dataclasses.fields(WorldConfig)}
    values = {key: value for key, value in stored.items() if key in names}
    if isinstance(values.get("detector"), dict):
        values["detector"] = camera.DetectorNoise(**values["detector"])
    try:
        return WorldConfig(**values)
    except TypeError as error:
        raise ValueError(f"{path}: the world config does not fit this reactface: {error}") from None


@lru_cache(maxsize=4)
def _plan(config: WorldConfig) -> WorldPlan:
    return plan_world(config)


def speaker_side(
    config: WorldConfig, clip_index: int
) -> tuple[speaker.SpeakerScript, speaker.SpeakerFace]:
    """Script and face of clip `clip_index`, drawn exactly as `generate.generate_clip` does."""
    plan = _plan(config)
    style = plan.speakers[plan.clips[clip_index].speaker_id]
    rng = np.random.default_rng([config.seed, 5, clip_index])
    script = speaker.sample_script(rng, style, config.frames)
    mouth, closure = speech.articulation(script)
    return script, speaker.speaker_face(rng, style, script, mouth, closure)


def clip_indices(config: WorldConfig, speaker_paths: list[str]) -> list[int]:
    """The world's clip index of each speaker clip path (as in the split's csv)."""
    index = {clip.speaker_path: clip.index for clip in _plan(config).clips}
    missing = [path for path in speaker_paths if path not in index]
    if missing:
        raise ValueError(
            f"speaker clip {missing[0]} is not one of this world's clips (seed {config.seed}, "
            f"{config.clips} clips)"
        )
    return [index[path] for path in speaker_paths]


def fresh_reactions(
    root: str | Path, speaker_paths: list[str], num_samples: int, seed: int = 0
) -> np.ndarray:
    """(K, N, T, 58) new appropriate reactions to each speaker clip, float32 arkit58.

    Deterministic in (the world, the clip, `seed`, n); another `seed` gives other persons
    and timings."""
    config = read_world_config(root)
    out = np.empty((len(speaker_paths), num_samples, config.frames, speaker.ARKIT.dim), np.float32)
    for k, index in enumerate(clip_indices(config, speaker_paths)):
        script, face = speaker_side(config, index)
        for n in range(num_samples):
            rng = np.random.default_rng([config.seed, FRESH_STREAM, seed, index, n])
            style = listener.ListenerStyle.sample(
                rng, listener.POLICIES[n % len(listener.POLICIES)]
            )
            out[k, n] = listener.listener_coefficients(
                rng, style, script, face.expressive, face.coefficients[:, 52:55]
            )
    return out
