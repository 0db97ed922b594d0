"""Identity: a low-dimensional face-shape space over the 468 vertices of the canonical mesh.

Why: with one face shape, every synthetic speaker has the same landmark geometry, and a
model can learn that shape instead of expressions. A person is `offsets(z)` (468, 3)
metres added to the canonical neutral face (`mesh.canonical_mesh`), `z` a vector of
`dim` standard-normal coordinates; the rig's expression fields are per-vertex, so they
move with the person's face (`rig.ArkitRig(identity=...)`).

The basis has two parts, every mode left/right symmetric (so a person's mirror image is
the same person and the mesh's mirror index stays valid):

- measured modes: MediaPipe's landmarks on the faces that ship inside installed packages
  (scikit-image's 100 LFW face crops, `lfw_subset.npy`, upscaled, and the two portraits
  the canonical mesh is built from), each aligned to the canonical face by a similarity
  fitted on its upper face (`mesh.similarity`), symmetrised through the mirror index;
  the first `MEASURED_MODES` principal components of what is left, scaled by their
  standard deviation (lower-face length, nose and lip depth, ...). Built once with
  MediaPipe (about a second) and cached next to the canonical mesh;
- procedural modes (`PROCEDURAL`): smooth deformations a 25-pixel LFW crop cannot show,
  each one standard deviation at the size named beside it: face and jaw width, forehead
  and chin length, eye spacing and size, nose length, width and depth, mouth width, lip
  fullness, brow height, cheek fullness.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.face import mesh as m

CACHE_VERSION = 1
MEASURED_MODES = 6
MM = 1e-3
LFW_FACES = 100  # lfw_subset.npy holds 100 face crops, then 100 non-faces
# name: one standard deviation, metres (of the largest displacement the mode makes)
PROCEDURAL = {
    "face_width": 4.0 * MM,
    "jaw_width": 4.0 * MM,
    "forehead_height": 4.0 * MM,
    "chin_length": 4.0 * MM,
    "eye_spacing": 2.0 * MM,
    "eye_size": 1.2 * MM,
    "nose_length": 3.0 * MM,
    "nose_width": 2.5 * MM,
    "nose_depth": 3.0 * MM,
    "mouth_width": 3.0 * MM,
    "lip_fullness": 1.5 * MM,
    "brow_height": 2.5 * MM,
    "cheek_fullness": 3.0 * MM,
}


@dataclass(frozen=True, eq=False)
class IdentitySpace:
    """Shape modes (K, 468, 3) in metres, each one standard deviation of its direction."""

    modes: np.ndarray
    names: tuple[str, ...]

    @property
    def dim(self) -> int:
        return len(self.modes)

    def sample(self, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
        """Coordinates (K,) of a random person; `scale` 0 gives the canonical face."""
        return scale * np.clip(rng.standard_normal(self.dim), -2.5, 2.5)

    def offsets(self, coordinates: np.ndarray) -> np.ndarray:
        """(K,) coordinates -> (468, 3) float32 offsets from the canonical neutral face."""
        z = np.asarray(coordinates, np.float64)
        if z.shape != (self.dim,):
            raise ValueError(f"identity coordinates must have shape ({self.dim},), got {z.shape}")
        return np.tensordot(z, self.modes, axes=1).astype(np.float32)


def identity_space() -> IdentitySpace:
    """The identity space (built once, then loaded from the cache)."""
    return _identity_space()


@lru_cache(maxsize=1)
def _identity_space() -> IdentitySpace:
    measured = _load(cache_path())
    if measured is None:
        measured = measured_modes()
        _save(cache_path(), measured)
    procedural = procedural_modes()
    modes = np.concatenate([measured, np.stack(list(procedural.values()))]).astype(np.float32)
    names = tuple(f"measured_{k}" for k in range(len(measured))) + tuple(procedural)
    modes.flags.writeable = False
    return IdentitySpace(modes, names)


def cache_path() -> Path:
    return m.cache_path().with_name(f"identity_v{CACHE_VERSION}.npz")


def _load(path: Path) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            modes = data["modes"]
    except (OSError, KeyError, ValueError):
        return None
    return modes if modes.shape == (MEASURED_MODES, m.NUM_VERTICES, 3) else None


def _save(path: Path, modes: np.ndarray) -> None:
    """Write atomically (concurrent first calls never read a half-written file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, modes=modes)
        os.replace(partial, path)
    except OSError:
        pass  # a read-only home only costs a rebuild next time


def symmetrise(field: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """The left/right symmetric part of a (468, 3) displacement field."""
    return 0.5 * (field + field[mirror] * np.array([-1.0, 1.0, 1.0]))


def measured_modes() -> np.ndarray:
    """(MEASURED_MODES, 468, 3): principal shape differences of the installed faces."""
    canonical = m.canonical_mesh()
    neutral = canonical.vertices.astype(np.float64)
    rigid = m._expression_free_weight(neutral) > 0.99
    residuals = []
    for shape in _installed_face_shapes():
        aligned = m.apply(m.similarity(shape[rigid], neutral[rigid]), shape)
        residuals.append(symmetrise(aligned - neutral, canonical.mirror))
    flat = np.array(residuals).reshape(len(residuals), -1)
    flat -= flat.mean(axis=0)
    _, singular, basis = np.linalg.svd(flat, full_matrices=False)
    std = singular[:MEASURED_MODES] / np.sqrt(len(flat))
    modes = basis[:MEASURED_MODES] * std[:, None]
    signs = np.sign(modes[:, m.CHIN * 3 + 1] + 1e-12)  # a fixed sign per mode: deterministic
    return (modes * signs[:, None]).reshape(MEASURED_MODES, m.NUM_VERTICES, 3)


def _installed_face_shapes() -> list[np.ndarray]:
    """MediaPipe landmarks (468, 3) in pixels (x right, y up, z to the camera) of every face
    found in scikit-image's LFW crops and the canonical mesh's portraits."""
    import cv2
    import skimage.data
    from mediapipe.python.solutions.face_mesh import FaceMesh

    crops = np.load(Path(skimage.data.__file__).parent / "lfw_subset.npy")[:LFW_FACES]
    images = []
    for crop in crops:  # 25x25 grey: upscale and pad, as a camera frame around a face
        grey = cv2.resize((crop * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        grey = cv2.copyMakeBorder(grey, 100, 100, 100, 100, cv2.BORDER_REPLICATE)
        images.append(np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2)))
    images += [image for _, image in m.sample_portraits()]
    shapes = []
    with FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False) as detector:
        for image in images:
            result = detector.process(image)
            if result.multi_face_landmarks:
                height, width = image.shape[:2]
                points = result.multi_face_landmarks[0].landmark
                shapes.append(
                    np.array([(p.x * width, -p.y * height, -p.z * width) for p in points])
                )
    if len(shapes) < 2 * MEASURED_MODES:
        raise RuntimeError(
            f"MediaPipe found only {len(shapes)} faces in scikit-image's lfw_subset.npy and "
            "the sample portraits; the identity space needs the pinned mediapipe and scikit-image"
        )
    return shapes


def procedural_modes() -> dict[str, np.ndarray]:
    """The `PROCEDURAL` deformations, symmetric, each scaled to its standard deviation."""
    canonical = m.canonical_mesh()
    v = canonical.vertices.astype(np.float64)
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    ax = np.abs(x)
    side = np.sign(x)
    eye_y = v[list(m.EYE_LEFT), 1].mean()
    eye_l = v[list(m.EYE_LEFT)].mean(0)
    eye_r = v[list(m.EYE_RIGHT)].mean(0)
    mouth = v[list(m.LIPS_OUTER)].mean(0)
    nose = v[m.NOSE_TIP]
    brow_y = v[list(m.BROW_LEFT), 1].mean()
    zero = np.zeros_like(x)

    def bump(centre, radius):
        d2 = (((v - np.asarray(centre)) / np.asarray(radius)) ** 2).sum(1)
        return np.clip(1.0 - d2, 0.0, None) ** 2

    def ramp(t):
        t = np.clip(t, 0.0, 1.0)
        return t * t * (3 - 2 * t)

    def field(dx=zero, dy=zero, dz=zero):
        return np.stack([dx, dy, dz], axis=1)

    eyes = np.maximum(
        bump(eye_l, (22 * MM, 16 * MM, 30 * MM)), bump(eye_r, (22 * MM, 16 * MM, 30 * MM))
    )
    eye_centre = np.where(x[:, None] > 0, eye_l, eye_r)
    lips = bump(mouth, (32 * MM, 20 * MM, 40 * MM))
    nose_region = bump(nose + [0, 10 * MM, 0], (22 * MM, 34 * MM, 60 * MM))
    below_eyes = ramp((eye_y - y) / (50 * MM))
    cheeks = bump((0.0, mouth[1] + 18 * MM, 0.0), (90 * MM, 26 * MM, 200 * MM)) * ramp(
        (ax - 20 * MM) / (25 * MM)
    )
    raw = {
        "face_width": field(dx=x * (0.4 + 0.6 * ramp((eye_y + 30 * MM - y) / (40 * MM)))),
        "jaw_width": field(dx=x * below_eyes),
        "forehead_height": field(dy=np.clip(y - brow_y, 0.0, None)),
        "chin_length": field(
            dy=np.clip(y - mouth[1], None, 0.0) + 0.3 * np.clip(y - eye_y, None, 0.0)
        ),
        "eye_spacing": field(dx=side * eyes),
        "eye_size": (v - eye_centre) * eyes[:, None],
        "nose_length": field(dy=-nose_region * ramp((eye_y - y) / (30 * MM))),
        "nose_width": field(dx=x * nose_region * ramp((eye_y - 15 * MM - y) / (15 * MM))),
        "nose_depth": field(dz=nose_region * ramp((z - 0.0) / (30 * MM))),
        "mouth_width": field(dx=(x - mouth[0]) * lips),
        "lip_fullness": field(dy=(y - mouth[1]) * lips, dz=lips * 0.3),
        "brow_height": field(dy=bump((0.0, brow_y, 0.0), (80 * MM, 14 * MM, 200 * MM))),
        "cheek_fullness": field(dx=side * cheeks * 0.5, dz=cheeks),
    }
    modes = {}
    for name, displacement in raw.items():
        symmetric = symmetrise(displacement, canonical.mirror)
        largest = np.linalg.norm(symmetric, axis=1).max()
        modes[name] = symmetric * (PROCEDURAL[name] / largest)
    return modes
