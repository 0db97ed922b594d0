"""Face models: named coefficient layouts shared by data, model, renderers and ROS messages.

A face model fixes what each column of a coefficient array `(T, D)` means. Every
checkpoint, dataset and `ReactionWindow` message names its face model, so a layout can
never be silently misread.

- `arkit58` (default): 52 ARKit blendshape weights in [0, 1], head rotation
  (pitch, yaw, roll; radians) and head translation (x, y, z; metres, camera frame).
- `faceverse58`: the REACT challenge `3D_FV_files` layout, 52 FaceVerse expression
  coefficients, 3 head angles (radians), 3 translations.
- `flame56`: FLAME expression (50), jaw pose (3, axis-angle) and global pose (3,
  axis-angle), as extracted by EMOCA in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARKIT_BLENDSHAPES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawLeft", "jawRight", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)  # fmt: skip
HEAD_ROTATION = ("headPitch", "headYaw", "headRoll")
HEAD_TRANSLATION = ("headTranslationX", "headTranslationY", "headTranslationZ")


@dataclass(frozen=True)
class FaceModel:
    """A coefficient layout: names, groups (as slices) and documented value ranges.

    Generated reactions are clipped to [lower, upper] (`clip`), and the render node clamps
    what it is sent to the same range.
    """

    name: str
    names: tuple[str, ...]
    expression: slice
    jaw_pose: slice | None
    head_rotation: slice
    translation: slice | None
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def neutral(self, frames: int = 1) -> np.ndarray:
        """All-zero coefficients: the neutral, frontal face."""
        return np.zeros((frames, self.dim), dtype=np.float32)

    def check(self, coefficients: np.ndarray, what: str = "coefficients") -> np.ndarray:
        """Return `coefficients` as float32 (T, D), or raise naming the expected layout."""
        array = np.asarray(coefficients, dtype=np.float32)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(
                f"{what} has shape {np.shape(coefficients)}, expected (T, {self.dim}) for face "
                f"model {self.name!r} ({self.describe()})"
            )
        return array

    def clip(self, coefficients: np.ndarray) -> np.ndarray:
        """`coefficients` (..., D) limited to this model's documented range [lower, upper]."""
        array = np.asarray(coefficients, dtype=np.float32)
        return np.clip(array, np.float32(self.lower), np.float32(self.upper)).astype(np.float32)

    def out_of_range(self, coefficients: np.ndarray) -> int:
        """How many values of `coefficients` (..., D) lie outside [lower, upper]."""
        array = np.asarray(coefficients, dtype=np.float32)
        return int(((array < np.float32(self.lower)) | (array > np.float32(self.upper))).sum())

    def describe(self) -> str:
        groups = [f"{_span(self.expression)} expression"]
        if self.jaw_pose is not None:
            groups.append(f"{_span(self.jaw_pose)} jaw pose")
        groups.append(f"{_span(self.head_rotation)} head rotation")
        if self.translation is not None:
            groups.append(f"{_span(self.translation)} translation")
        return ", ".join(groups)


def _span(part: slice) -> str:
    return f"[{part.start}:{part.stop}]"


def _arkit58() -> FaceModel:
    names = ARKIT_BLENDSHAPES + HEAD_ROTATION + HEAD_TRANSLATION
    lower = (0.0,) * 52 + (-np.pi / 2,) * 3 + (-0.5,) * 3
    upper = (1.0,) * 52 + (np.pi / 2,) * 3 + (0.5,) * 3
    return FaceModel(
        "arkit58", names, slice(0, 52), None, slice(52, 55), slice(55, 58), lower, upper
    )


def _faceverse58() -> FaceModel:
    names = (
        tuple(f"faceverseExpression{i:02d}" for i in range(52)) + HEAD_ROTATION + HEAD_TRANSLATION
    )
    lower = (-3.0,) * 52 + (-np.pi / 2,) * 3 + (-1.0,) * 3
    upper = (3.0,) * 52 + (np.pi / 2,) * 3 + (1.0,) * 3
    return FaceModel(
        "faceverse58", names, slice(0, 52), None, slice(52, 55), slice(55, 58), lower, upper
    )


def _flame56() -> FaceModel:
    names = (
        tuple(f"flameExpression{i:02d}" for i in range(50))
        + ("jawPoseX", "jawPoseY", "jawPoseZ")
        + ("globalPoseX", "globalPoseY", "globalPoseZ")
    )
    lower = (-3.0,) * 50 + (-0.5,) * 3 + (-np.pi / 2,) * 3
    upper = (3.0,) * 50 + (0.5,) * 3 + (np.pi / 2,) * 3
    return FaceModel(
        "flame56", names, slice(0, 50), slice(50, 53), slice(53, 56), None, lower, upper
    )


FACE_MODELS = {model.name: model for model in (_arkit58(), _faceverse58(), _flame56())}
DEFAULT_FACE_MODEL = "arkit58"


def get_face_model(name: str = DEFAULT_FACE_MODEL) -> FaceModel:
    try:
        return FACE_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown face model {name!r}; known: {', '.join(FACE_MODELS)}") from None
