"""Speaker visual features from raw face-mesh landmarks (contract 2).

Raw landmarks (contract 1) are 468 MediaPipe face-mesh points per frame: x, y normalised by
image width/height, z a relative depth in the units of x (smaller = nearer the camera).
They come either from a real camera (`FaceLandmarker`) or from the synthetic world (the
face rig projected through a virtual camera). Both go through `visual_features`, so a model
trained on one runs on the other.

Per frame, a similarity transform (rotation, uniform scale, translation) aligns a set of
rigid anchor points (forehead, nose bridge, eye corners, face sides) to the neutral
template (the canonical mesh of `reactface_core.face.mesh`). Undoing it frontalises the
face; what is left is expression. The pose is kept as six separate columns:

    column 0..2   pitch, yaw, roll in radians, the head-pose convention of the face rig
                  and of `arkit58` (R = Rz(roll) Ry(yaw) Rx(pitch) in the face frame: x to
                  the subject's left, y up, z toward the camera; a frontal face is 0, 0, 0):
                  + pitch tips the forehead toward the camera (looking down), + yaw turns
                  the nose to the subject's left (viewer's right), + roll lifts the
                  subject's left side
    column 3..4   tx, ty: image position of the anchor centroid minus the image centre,
                  in fractions of the image width / height
    column 5      log-scale: log(eye-corner distance / REFERENCE_EYE_DISTANCE), where the
                  distance is in image widths (0 for a face whose outer eye corners are a
                  quarter of the image width apart)
    column 6..    deformation: (frontalised - template) * DEFORMATION_GAIN at the
                  FEATURE_LANDMARKS points (lips, eyes, brows, face oval, nose, cheeks),
                  x, y, z per point, in units of the template's outer eye-corner distance

Mirroring the image negates yaw, roll and tx and swaps left/right points, because the
anchors and the template are left/right symmetric.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NUM_LANDMARKS = 468
# Raw camera axes (x right, y down, z away) -> face axes (x right, y up, z to the camera).
CAMERA_TO_FACE = np.diag([1.0, -1.0, -1.0])

# Points that move little with expression: the alignment is fitted on them only, so a smile
# or an open mouth does not leak into the head pose. Left/right symmetric.
ANCHOR_LANDMARKS = np.array(
    [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1]  # midline: forehead, nose bridge, nose tip
    + [33, 263, 133, 362]  # outer and inner eye corners
    + [109, 338, 67, 297, 103, 332]  # forehead sides
    + [127, 356, 234, 454, 93, 323]  # face sides at eye and cheek height
)

# fmt: off
_LIPS = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
         185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402,
         405, 409, 415]
_RIGHT_EYE = [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246]
_LEFT_EYE = [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466]
_RIGHT_BROW = [46, 52, 53, 55, 63, 65, 66, 70, 105, 107]
_LEFT_BROW = [276, 282, 283, 285, 293, 295, 296, 300, 334, 336]
_FACE_OVAL = [10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172,
              176, 234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389,
              397, 400, 454]
_NOSE_AND_CHEEKS = [1, 2, 98, 327, 64, 294, 50, 280, 205, 425, 116, 345]
# fmt: on

# The expressive points whose deformation is fed to the model (lips, eyes, brows, jaw line).
FEATURE_LANDMARKS = np.array(
    _LIPS + _RIGHT_EYE + _LEFT_EYE + _RIGHT_BROW + _LEFT_BROW + _FACE_OVAL + _NOSE_AND_CHEEKS
)
POSE_DIM = 6
VISUAL_FEATURE_DIM = POSE_DIM + 3 * len(FEATURE_LANDMARKS)  # D_v = 426

RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # subject's right / left outer eye corner
REFERENCE_EYE_DISTANCE = 0.25  # image widths; log-scale column is 0 at this face size
DEFORMATION_GAIN = 10.0  # deformations are ~0.01-0.1 eye distances; this brings them to ~1


@lru_cache(maxsize=1)
def template() -> np.ndarray:
    """Neutral face (468, 3) in the raw camera axes, centred on the anchors, eye distance 1."""
    from reactface_core.face.mesh import canonical_mesh

    return _normalise_template(np.asarray(canonical_mesh().vertices, dtype=np.float64))


def _normalise_template(vertices: np.ndarray) -> np.ndarray:
    """Canonical mesh (x subject's left, y up, z to camera) -> raw camera axes, eye distance 1.

    Raw MediaPipe axes are x right, y down, z away, so y and z flip (a proper rotation).
    """
    v = vertices @ CAMERA_TO_FACE
    v = v - v[ANCHOR_LANDMARKS].mean(axis=0)
    return v / np.linalg.norm(v[LEFT_EYE_OUTER] - v[RIGHT_EYE_OUTER])


def similarity_align(
    source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares s, R, t with target ~ s * source @ R.T + t, per frame (Umeyama 1991).

    source: (n, 3) template points; target: (T, n, 3). Returns scale (T,), rotation
    (T, 3, 3) with det +1, translation (T, 3).
    """
    src_mean = source.mean(axis=0)
    tgt_mean = target.mean(axis=1)  # (T, 3)
    src = source - src_mean
    tgt = target - tgt_mean[:, None]
    cov = np.einsum("tni,nj->tij", tgt, src) / len(source)  # (T, 3, 3)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))  # avoid reflections
    correction = np.ones_like(sigma)
    correction[:, 2] = d
    rotation = (u * correction[:, None, :]) @ vt
    scale = (sigma * correction).sum(axis=1) / (src**2).sum(axis=1).mean()
    translation = tgt_mean - scale[:, None] * np.einsum("tij,j->ti", rotation, src_mean)
    return scale, rotation, translation


def rotation_to_euler(rotation: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations R = Rz(roll) Ry(yaw) Rx(pitch) -> (T, 3) pitch, yaw, roll."""
    pitch = np.arctan2(rotation[:, 2, 1], rotation[:, 2, 2])
    yaw = np.arcsin(np.clip(-rotation[:, 2, 0], -1.0, 1.0))
    roll = np.arctan2(rotation[:, 1, 0], rotation[:, 0, 0])
    return np.stack([pitch, yaw, roll], axis=1)


def euler_to_rotation(angles: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll -> (T, 3, 3) R = Rz(roll) Ry(yaw) Rx(pitch)."""
    pitch, yaw, roll = np.moveaxis(np.asarray(angles, dtype=np.float64), -1, 0)
    cp, sp, cy, sy, cr, sr = (f(a) for a in (pitch, yaw, roll) for f in (np.cos, np.sin))
    one, zero = np.ones_like(pitch), np.zeros_like(pitch)
    rx = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


def normalize_landmarks(
    raw: np.ndarray, aspect: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove head pose and scale from raw landmarks.

    raw: (T, 468, 3) in the MediaPipe convention; aspect: image height / width (1 for the
    square 256x256 crops of REACT and the synthetic camera). Returns
    shape (T, 468, 3) frontalised in template units (NaN for invalid frames),
    pose (T, 6) pitch, yaw, roll, tx, ty, log-scale (zeros for invalid frames) and
    valid (T,) bool: False where the frame has NaNs (no face) or a degenerate fit.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1:] != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape (T, {NUM_LANDMARKS}, 3), got {raw.shape}")
    num_frames = raw.shape[0]
    shape = np.full(raw.shape, np.nan)
    pose = np.zeros((num_frames, POSE_DIM))
    valid = np.isfinite(raw).all(axis=(1, 2))
    if not valid.any():
        return shape, pose, valid

    points = raw[valid] * np.array([1.0, aspect, 1.0])  # isotropic, in image widths
    reference = template()
    scale, rotation, translation = similarity_align(
        reference[ANCHOR_LANDMARKS], points[:, ANCHOR_LANDMARKS]
    )
    good = scale > 1e-6  # all anchors on one point: no usable face
    valid[np.flatnonzero(valid)[~good]] = False
    index = np.flatnonzero(valid)
    points, scale, rotation, translation = (a[good] for a in (points, scale, rotation, translation))

    # x_template = R^T (x - t) / s; with row vectors: (x - t) @ R / s
    shape[index] = (
        np.einsum("tni,tij->tnj", points - translation[:, None], rotation) / scale[:, None, None]
    )
    centroid = points[:, ANCHOR_LANDMARKS].mean(axis=1)
    pose[index, :3] = rotation_to_euler(CAMERA_TO_FACE @ rotation @ CAMERA_TO_FACE)
    pose[index, 3] = centroid[:, 0] - 0.5
    pose[index, 4] = centroid[:, 1] / aspect - 0.5
    pose[index, 5] = np.log(scale / REFERENCE_EYE_DISTANCE)
    return shape, pose, valid


def visual_features(raw: np.ndarray, aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Model input (contract 2): (T, 468, 3) raw landmarks -> features (T, D_v), valid (T,).

    Columns are described in the module docstring. Frames without a face are all zeros
    with valid False.
    """
    shape, pose, valid = normalize_landmarks(raw, aspect)
    features = np.zeros((len(valid), VISUAL_FEATURE_DIM), dtype=np.float32)
    deformation = (shape[valid][:, FEATURE_LANDMARKS] - template()[FEATURE_LANDMARKS]) * (
        DEFORMATION_GAIN
    )
    features[valid, :POSE_DIM] = pose[valid]
    features[valid, POSE_DIM:] = deformation.reshape(-1, VISUAL_FEATURE_DIM - POSE_DIM)
    return features, valid
