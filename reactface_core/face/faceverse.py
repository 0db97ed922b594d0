"""`faceverse58` (the REACT challenge `3D_FV_files` layout) mapped onto the `arkit58` rig.

What the layout means, and why a mapping is possible:
- The REACT 2023/2024 baselines extract their 58 coefficients with the FaceVerse *version 2*
  model (`faceverse_simple_v2.npy`; REACT baseline README: "download 3DMM (FaceVerse
  version 2 model)"): 52 expression, 3 angles, 3 translations.
- The FaceVerse README says of version 2: "Fit the expression components to the 52
  blendshapes defined by Apple. Please check 'exp_name_list' in faceverse_simple_v2.npy for
  the mapping relation." So the 52 channels *are* ARKit blendshapes, which the procedural
  `arkit58` rig already implements; no FaceVerse mesh is needed to render them.
- What is not public is their *order*: it lives in the model file's `exp_name_list`. Given
  that file (`--model-file`, or `REACTFACE_FACEVERSE_MODEL`), the order is read from it
  (through the restricted unpickler: the file is a pickled dict). Without it, the channels
  are assumed to be in the ARKit order of `models.ARKIT_BLENDSHAPES`, with a warning.

Values: weights are clipped to [0, 1] (FaceVerse fits may leave small negatives and
overshoots). FaceVerse's fitting code rotates its mean shape by R = Rz Ry Rx of the three
angles, the composition of `rig.head_rotation`, so the angles are passed on as pitch, yaw,
roll; their signs in REACT files could not be checked without REACT data (not available
here), so `ANGLE_SIGNS` is where to flip one if a face turns the wrong way. FaceVerse
translations are in model units of about 0.1 m (a mean face about 1.2 units wide seen from
10 units away); they are scaled by `TRANSLATION_METRES_PER_UNIT`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from reactface_core.face.models import ARKIT_BLENDSHAPES, get_face_model
from reactface_core.face.safe_pickle import load_npy_object
from reactface_core.face.scene import Appearance, Camera, FaceScene, Geometry

MODEL_ENV = "REACTFACE_FACEVERSE_MODEL"
TRANSLATION_METRES_PER_UNIT = 0.1
ANGLE_SIGNS = (1.0, 1.0, 1.0)  # pitch, yaw, roll


def expression_order(model_path: str | Path | None = None) -> tuple[str, ...]:
    """ARKit names of the 52 faceverse58 expression columns, in column order."""
    path = model_path or os.environ.get(MODEL_ENV)
    if not path:
        warnings.warn(
            "faceverse58: no FaceVerse v2 model file given (--model-file or "
            f"{MODEL_ENV}); assuming its 52 expression channels are in ARKit order",
            RuntimeWarning,
            stacklevel=2,
        )
        return ARKIT_BLENDSHAPES
    data = load_npy_object(path)
    if not isinstance(data, dict) or "exp_name_list" not in data:
        raise ValueError(f"{path}: not a FaceVerse v2 model (no 'exp_name_list' in it)")
    names = tuple(str(name) for name in np.asarray(data["exp_name_list"]).ravel())
    unknown = sorted(set(names) - set(ARKIT_BLENDSHAPES))
    if len(names) != 52 or unknown or len(set(names)) != 52:
        raise ValueError(
            f"{path}: exp_name_list should name the 52 ARKit blendshapes once each; got "
            f"{len(names)} names" + (f", unknown: {', '.join(unknown[:5])}" if unknown else "")
        )
    return names


class FaceVerseToArkit:
    """Column mapping faceverse58 -> arkit58."""

    def __init__(self, model_path: str | Path | None = None):
        order = expression_order(model_path)
        self.source = get_face_model("faceverse58")
        self.target = get_face_model("arkit58")
        self.columns = np.array([self.target.index(name) for name in order])  # (52,)

    def __call__(self, coefficients: np.ndarray) -> np.ndarray:
        c = self.source.check(coefficients)
        out = self.target.neutral(len(c))
        out[:, self.columns] = np.clip(c[:, self.source.expression], 0.0, 1.0)
        out[:, self.target.head_rotation] = c[:, self.source.head_rotation] * ANGLE_SIGNS
        out[:, self.target.translation] = (
            c[:, self.source.translation] * TRANSLATION_METRES_PER_UNIT
        )
        return out


class FaceVerseScene:
    """Renders faceverse58 coefficients with the arkit58 face."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        camera: Camera | None = None,
        appearance: Appearance | None = None,
    ):
        self.mapping = FaceVerseToArkit(model_path)
        self.face = FaceScene(camera=camera, appearance=appearance)
        self.camera = self.face.camera
        self.colors, self.materials = self.face.colors, self.face.materials
        self.triangles, self.vertex_count = self.face.triangles, self.face.vertex_count

    @property
    def face_model(self):
        return self.mapping.source

    def geometry(self, coefficients: np.ndarray) -> Geometry:
        return self.face.geometry(self.mapping(coefficients))
