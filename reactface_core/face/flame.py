"""`flame56` on a user-supplied FLAME model file: expression, jaw and global pose -> mesh.

FLAME (Li et al. 2017) is licensed and never shipped: pass your own `generic_model.pkl` or
`flame2023.pkl` (`--model-file`, or the `REACTFACE_FLAME_MODEL` environment variable).
Those files pickle chumpy objects; they are read by `safe_pickle.load_pickle`, which needs
no chumpy and refuses any global that is not a numpy/scipy/chumpy data type.

Forward model (identity shape fixed at the template, neck and eyes at rest):
    v_shaped = v_template + shapedirs[..., 300:350] @ expression            (blend shapes)
    J        = J_regressor @ v_shaped                                        (5 joints)
    v_posed  = v_shaped + posedirs @ (R(pose)[1:] - I).ravel()               (pose correctives)
    v        = sum_j weights[:, j] * G_j(pose, J) [v_posed; 1]               (linear blend skinning)
with pose = (global, neck = 0, jaw, left eye = 0, right eye = 0), axis-angle per joint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_core.face.models import get_face_model
from reactface_core.face.safe_pickle import load_pickle
from reactface_core.face.scene import Appearance, Camera, Geometry, _normal_accumulator

SHAPE_COMPONENTS = 300  # FLAME's shapedirs: 300 identity components, then expression ones
EXPRESSION_COMPONENTS = 50  # used by flame56
MODEL_ENV = "REACTFACE_FLAME_MODEL"


@dataclass(frozen=True)
class FlameModel:
    """The arrays of a FLAME file needed for expression and pose (float64)."""

    v_template: np.ndarray  # (N, 3) metres, y up, z toward the camera
    expression_dirs: np.ndarray  # (N, 3, 50)
    posedirs: np.ndarray  # (N*3, 36)
    j_regressor: np.ndarray  # (5, N)
    parents: np.ndarray  # (5,) parent joint, -1 for the root
    weights: np.ndarray  # (N, 5) skinning weights
    faces: np.ndarray  # (F, 3) int32

    def vertices(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, 56) flame56 coefficients -> (T, N, 3) posed vertices."""
        model = get_face_model("flame56")
        c = model.check(coefficients).astype(np.float64)
        t = len(c)
        shaped = self.v_template + np.einsum(
            "nck,tk->tnc", self.expression_dirs, c[:, model.expression]
        )
        joints = np.einsum("jn,tnc->tjc", self.j_regressor, shaped)  # (T, 5, 3)
        pose = np.zeros((t, 5, 3))
        pose[:, 0] = c[:, model.head_rotation]  # global
        pose[:, 2] = c[:, model.jaw_pose]  # jaw
        rotations = rodrigues(pose.reshape(-1, 3)).reshape(t, 5, 3, 3)
        feature = (rotations[:, 1:] - np.eye(3)).reshape(t, 36)
        posed = shaped + (feature @ self.posedirs.T).reshape(t, -1, 3)
        transforms = self._chain(rotations, joints)  # (T, 5, 4, 4)
        per_vertex = np.einsum("nj,tjab->tnab", self.weights, transforms)
        homogeneous = np.concatenate([posed, np.ones((*posed.shape[:2], 1))], axis=2)
        return np.einsum("tnab,tnb->tna", per_vertex, homogeneous)[..., :3].astype(np.float32)

    def _chain(self, rotations: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """World transforms of each joint relative to its rest pose: (T, 5, 4, 4)."""
        t, n = joints.shape[:2]
        world = np.zeros((t, n, 4, 4))
        for j in range(n):
            local = np.zeros((t, 4, 4))
            local[:, :3, :3] = rotations[:, j]
            parent = self.parents[j]
            offset = joints[:, j] - (joints[:, parent] if parent >= 0 else 0.0)
            local[:, :3, 3] = offset
            local[:, 3, 3] = 1.0
            world[:, j] = local if parent < 0 else world[:, parent] @ local
        rest = np.einsum("tjab,tjb->tja", world[..., :3, :3], joints)
        world[..., :3, 3] -= rest  # so a vertex at rest is moved relative to its joint
        return world


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """(K, 3) axis-angle vectors -> (K, 3, 3) rotation matrices."""
    angle = np.linalg.norm(axis_angle, axis=1, keepdims=True)
    axis = axis_angle / np.maximum(angle, 1e-12)
    x, y, z = axis.T
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=1).reshape(-1, 3, 3)
    sin, cos = np.sin(angle)[:, :, None], np.cos(angle)[:, :, None]
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def resolve_model_path(path: str | Path | None) -> Path:
    path = path or os.environ.get(MODEL_ENV)
    if not path:
        raise FileNotFoundError(
            "face model 'flame56' needs your FLAME model file (generic_model.pkl or "
            f"flame2023.pkl, licensed from https://flame.is.tue.mpg.de): pass --model-file or "
            f"set {MODEL_ENV}"
        )
    return Path(path)


def load_flame(path: str | Path | None = None) -> FlameModel:
    """Read a FLAME pickle safely and check its structure; errors name the file."""
    path = resolve_model_path(path)
    data = load_pickle(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a FLAME model dict, got {type(data).__name__}")
    missing = [
        key
        for key in (
            "v_template",
            "shapedirs",
            "posedirs",
            "J_regressor",
            "kintree_table",
            "weights",
            "f",
        )
        if key not in data
    ]
    if missing:
        raise ValueError(f"{path}: not a FLAME model, missing {', '.join(missing)}")

    def array(key: str) -> np.ndarray:
        value = data[key]
        if hasattr(value, "toarray"):  # scipy sparse
            value = value.toarray()
        return np.asarray(value, dtype=np.float64)

    template = array("v_template")
    n = len(template)
    shapedirs = array("shapedirs")
    needed = SHAPE_COMPONENTS + EXPRESSION_COMPONENTS
    if template.shape != (n, 3) or shapedirs.ndim != 3 or shapedirs.shape[:2] != (n, 3):
        raise ValueError(
            f"{path}: v_template {template.shape} and shapedirs {shapedirs.shape} disagree"
        )
    if shapedirs.shape[2] < needed:
        raise ValueError(
            f"{path}: shapedirs has {shapedirs.shape[2]} components, flame56 needs {needed} "
            f"({SHAPE_COMPONENTS} identity + {EXPRESSION_COMPONENTS} expression)"
        )
    posedirs = array("posedirs").reshape(n * 3, -1)
    regressor = array("J_regressor")
    parents = np.asarray(data["kintree_table"], dtype=np.int64)[0].copy()
    parents[0] = -1
    weights = array("weights")
    faces = np.asarray(data["f"], dtype=np.int64).astype(np.int32)
    joints = len(parents)
    if joints != 5 or posedirs.shape[1] != 9 * (joints - 1) or regressor.shape != (joints, n):
        raise ValueError(
            f"{path}: expected FLAME's 5 joints (posedirs 36 columns, J_regressor (5, {n})); "
            f"got {joints} joints, posedirs {posedirs.shape}, J_regressor {regressor.shape}"
        )
    if weights.shape != (n, joints) or faces.ndim != 2 or faces.shape[1] != 3 or faces.max() >= n:
        raise ValueError(
            f"{path}: weights {weights.shape} or faces {faces.shape} do not fit {n} vertices"
        )
    return FlameModel(
        v_template=template,
        expression_dirs=shapedirs[:, :, SHAPE_COMPONENTS:needed],
        posedirs=posedirs,
        j_regressor=regressor,
        parents=parents,
        weights=weights,
        faces=faces,
    )


def _outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`faces` wound counter-clockwise seen from outside (flipped all together if need be)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    outward = (np.cross(b - a, c - a) * ((a + b + c) / 3 - vertices.mean(0))).sum()
    return faces if outward >= 0 else faces[:, [0, 2, 1]]


class FlameScene:
    """Geometry for `flame56`: the FLAME mesh in a skin tone, camera on its face."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        camera: Camera | None = None,
        appearance: Appearance | None = None,
    ):
        self.model = load_flame(model_path)
        skin = (appearance or Appearance()).skin
        self.camera = camera or Camera()
        template = self.model.v_template
        self.centre = 0.5 * (template.min(0) + template.max(0))  # faces the camera at origin
        self.triangles = _outward(template, self.model.faces)  # renderers cull back faces
        self.vertex_count = len(template)
        self.colors = np.tile(np.array(skin, np.float32), (self.vertex_count, 1))
        self.materials = np.tile(np.array([0.18, 14.0], np.float32), (self.vertex_count, 1))
        self._normals = _normal_accumulator(np.arange(self.vertex_count), self.triangles)

    @property
    def face_model(self):
        return get_face_model("flame56")

    def geometry(self, coefficients: np.ndarray) -> Geometry:
        points = self.model.vertices(coefficients) - self.centre.astype(np.float32)
        posed = self.camera.to_camera(points).astype(np.float32)
        return Geometry(
            posed, self._normals(posed, self.triangles), self.colors, self.materials, self.triangles
        )
