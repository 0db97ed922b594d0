"""Named `arkit58` poses: the gallery's expressions and head turns, reusable as test inputs."""

from __future__ import annotations

import numpy as np

from reactface_core.face.models import get_face_model

# name -> {coefficient name: value}; "Left"/"Right" are the subject's own sides.
PRESETS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8, "cheekSquintLeft": 0.3,
              "cheekSquintRight": 0.3},
    "happy": {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0, "jawOpen": 0.22,
              "cheekSquintLeft": 0.6, "cheekSquintRight": 0.6, "eyeSquintLeft": 0.3,
              "eyeSquintRight": 0.3, "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3},
    "surprise": {"browInnerUp": 0.9, "browOuterUpLeft": 0.9, "browOuterUpRight": 0.9,
                 "eyeWideLeft": 0.9, "eyeWideRight": 0.9, "jawOpen": 0.45},
    "sad": {"browInnerUp": 0.8, "mouthFrownLeft": 0.8, "mouthFrownRight": 0.8,
            "mouthShrugLower": 0.4, "eyeLookDownLeft": 0.3, "eyeLookDownRight": 0.3},
    "concern": {"browInnerUp": 0.7, "browDownLeft": 0.3, "browDownRight": 0.3,
                "mouthPressLeft": 0.5, "mouthPressRight": 0.5, "mouthStretchLeft": 0.2,
                "mouthStretchRight": 0.2},
    "angry": {"browDownLeft": 1.0, "browDownRight": 1.0, "eyeSquintLeft": 0.5,
              "eyeSquintRight": 0.5, "noseSneerLeft": 0.5, "noseSneerRight": 0.5,
              "mouthPressLeft": 0.6, "mouthPressRight": 0.6, "mouthFrownLeft": 0.3,
              "mouthFrownRight": 0.3},
    "disgust": {"noseSneerLeft": 0.9, "noseSneerRight": 0.9, "mouthUpperUpLeft": 0.7,
                "mouthUpperUpRight": 0.7, "browDownLeft": 0.5, "browDownRight": 0.5,
                "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5},
    "talk": {"jawOpen": 0.5, "mouthFunnel": 0.2},
    "pucker": {"mouthPucker": 1.0},
    "cheek puff": {"cheekPuff": 1.0},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "wink": {"eyeBlinkLeft": 1.0, "mouthSmileLeft": 0.6, "cheekSquintLeft": 0.5,
             "mouthSmileRight": 0.2},
    "look aside": {"eyeLookOutLeft": 0.9, "eyeLookInRight": 0.9},
    "look up": {"eyeLookUpLeft": 0.9, "eyeLookUpRight": 0.9, "browOuterUpLeft": 0.3,
                "browOuterUpRight": 0.3},
    "tongue out": {"tongueOut": 1.0, "jawOpen": 0.3},
    "turn left": {"headYaw": 0.45},
    "turn right": {"headYaw": -0.45},
    "nod": {"headPitch": 0.3},
    "tilt": {"headRoll": 0.25, "mouthSmileLeft": 0.4, "mouthSmileRight": 0.4},
}  # fmt: skip


def preset(name: str) -> np.ndarray:
    """(58,) arkit58 coefficients of a named expression."""
    model = get_face_model("arkit58")
    try:
        values = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown expression {name!r}; known: {', '.join(PRESETS)}") from None
    c = model.neutral()[0]
    for key, value in values.items():
        c[model.index(key)] = value
    return c


def presets(names) -> np.ndarray:
    """(len(names), 58) for a sequence of preset names."""
    return np.stack([preset(name) for name in names])
