"""Speaker visual features from raw face-mesh landmarks (contract 2), version 2.

Raw landmarks (contract 1) are 468 MediaPipe face-mesh points per frame: x, y normalised by
image width/height, z a relative depth in the units of x (smaller = nearer the camera).
They come either from a real camera (`FaceLandmarker`) or from the synthetic world (the
face rig projected through a virtual camera). Both go through `SpeakerFeatures`, so a model
trained on one runs on the other.

Per frame, the points are made isotropic (y times height / width, so everything is in image
widths) and a similarity transform (rotation R, uniform scale s, translation) aligns a set
of rigid anchor points (forehead, nose bridge, eye corners, face sides) to the neutral
template (the canonical mesh of `reactface_core.face.mesh`, outer eye corners 1 apart).
Undoing it frontalises the face. Nothing absolute about the camera survives into the
features: image position, face size in the image, the viewing angle of an off-centre face
in a wide lens (it looks turned by that angle) and the person's own face shape are all
measured against a running, causal, per-session **neutral** estimate and removed.

The neutral holds a head orientation R0, a face centre c0 (image widths), a log face size
log s0 and a deformation d0 (FEATURE_LANDMARKS points, eye distances). Each frame with a
face updates it, then the frame's features are measured against it:

    first face of a session (or after NEUTRAL_RESET_S without one): the neutral is this frame
    afterwards, n faces seen:  q0 <- q0 + a_n * clip(q - q0, -k_q, +k_q),
                               a_n = 1 / min(n, NEUTRAL_TIME_CONSTANT_S * FPS)

for q = centre, log-scale and deformation; the orientation takes the same step on the
rotation group (R0 <- R0 exp(a_n clip(log(R0^T R)))). So the neutral is the running mean of
the session so far (1/n) for the first 10 s, then an exponential average with a 10 s time
constant: it settles in a second or two on a new person or camera, and follows a slow
change of seat or posture, while nods, turns, speech and smiles (seconds) stay in the
features. The clip k_q (a few times the size of ordinary motion) makes it robust: a laugh,
a sneeze or a tracking glitch moves it by at most a_n k_q. Frames without a face leave it
untouched; after NEUTRAL_RESET_S seconds without a face the next face starts a new neutral
(someone else may have sat down).

Columns (D_v = 426):

    0..2   rotation: pitch, yaw, roll (radians) of R0^T R, the head's turn away from its
           neutral orientation, in the face rig's convention (R = Rz(roll) Ry(yaw) Rx(pitch)
           in the face frame: x to the subject's left, y up, z toward the camera): + pitch
           tips the forehead toward the camera (looking down), + yaw turns the nose to the
           subject's left (viewer's right), + roll lifts the subject's left side
    3..5   motion: (c - c0) / s0 in x (image right) and y (image down), in face sizes
           (outer eye-corner distances), and log(s / s0) (+ = nearer the camera)
    6..    deformation: (d - d0) * DEFORMATION_GAIN, x, y, z per FEATURE_LANDMARKS point,
           where d is the frontalised shape minus the template, in eye distances

The same expression and head motion give the same columns at any distance, field of view,
image position and resolution, and for any face shape, once the neutral has settled.
`COLUMN_GROUPS` names the column ranges (rotation, motion, one per face region). Mirroring
the image negates yaw, roll and motion x and swaps left/right points, because the anchors
and the template are left/right symmetric.

`SpeakerFeatures` is stateful so a stream can be fed in chunks; any chunking gives the
same features as one call on the whole clip from its first frame (the dataset, `prepare`,
offline generation and the ROS node all use it). Checkpoints record FEATURE_VERSION and
refuse features of another definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reactface_core.contract import FPS

FEATURE_VERSION = 2  # 1: absolute pose and template-relative deformation (before neutrals)
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
REGIONS = {  # the expressive points whose deformation is fed to the model, by face region
    "lips": [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181,
             185, 191, 267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375,
             402, 405, 409, 415],
    "right_eye": [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246],
    "left_eye": [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466],
    "right_brow": [46, 52, 53, 55, 63, 65, 66, 70, 105, 107],
    "left_brow": [276, 282, 283, 285, 293, 295, 296, 300, 334, 336],
    "face_oval": [10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172,
                  176, 234, 251, 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379,
                  389, 397, 400, 454],
    "nose_cheeks": [1, 2, 98, 327, 64, 294, 50, 280, 205, 425, 116, 345],
}
# fmt: on
FEATURE_LANDMARKS = np.concatenate([np.array(points) for points in REGIONS.values()])
ROTATION_DIM = MOTION_DIM = 3
POSE_DIM = ROTATION_DIM + MOTION_DIM
VISUAL_FEATURE_DIM = POSE_DIM + 3 * len(FEATURE_LANDMARKS)  # D_v = 426


def _column_groups() -> dict[str, slice]:
    groups = {"rotation": slice(0, ROTATION_DIM), "motion": slice(ROTATION_DIM, POSE_DIM)}
    start = POSE_DIM
    for name, points in REGIONS.items():
        groups[name] = slice(start, start + 3 * len(points))
        start += 3 * len(points)
    return groups


COLUMN_GROUPS = _column_groups()  # name -> feature columns, in column order

RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # subject's right / left outer eye corner
DEFORMATION_GAIN = 10.0  # deformations are ~0.01-0.1 eye distances; this brings them to ~1

NEUTRAL_TIME_CONSTANT_S = 10.0  # the neutral averages the last ~10 s (all of it before)
NEUTRAL_RESET_S = 3.0  # this long without a face and the next face starts a new neutral
# Largest step a frame may pull the neutral by (before the 1/n or 1/250 rate): a few times
# ordinary motion, so a laugh or a tracking glitch barely moves it.
CLIP_ROTATION = 0.1  # radians per axis
CLIP_POSITION = 0.25  # face sizes
CLIP_LOG_SCALE = 0.1
CLIP_DEFORMATION = 0.05  # eye distances


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


def rotation_log(rotation: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (3,) rotation vector (axis * angle, angle < pi)."""
    cos = np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    axis = np.array(
        [
            rotation[2, 1] - rotation[1, 2],
            rotation[0, 2] - rotation[2, 0],
            rotation[1, 0] - rotation[0, 1],
        ]
    )
    sin = np.sin(angle)
    return axis * (0.5 if sin < 1e-9 else angle / (2.0 * sin))


def rotation_exp(vector: np.ndarray) -> np.ndarray:
    """(3,) rotation vector -> (3, 3) rotation (Rodrigues)."""
    angle = float(np.linalg.norm(vector))
    x, y, z = vector
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    if angle < 1e-12:
        return np.eye(3) + cross
    cross /= angle
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


@dataclass
class AlignedFaces:
    """Per-frame similarity fit of raw landmarks to the template (T frames).

    shape: (T, 468, 3) frontalised, template units (NaN where invalid); rotation (T, 3, 3)
    camera-axes rotation (template -> image); scale (T,) outer eye-corner distance in image
    widths; centre (T, 2) anchor centroid in image widths (x right, y down);
    valid (T,) False where the frame has NaNs (no face) or a degenerate fit.
    """

    shape: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    centre: np.ndarray
    valid: np.ndarray

    def head_pose(self) -> np.ndarray:
        """(T, 3) absolute pitch, yaw, roll seen by the camera (zeros where invalid)."""
        return np.where(
            self.valid[:, None],
            rotation_to_euler(CAMERA_TO_FACE @ self.rotation @ CAMERA_TO_FACE),
            0,
        )


def align_faces(raw: np.ndarray, aspect: float = 1.0) -> AlignedFaces:
    """Fit every frame of raw landmarks (T, 468, 3) to the template.

    aspect: image height / width of the images the landmarks were found in (1 for the
    square 256x256 crops of REACT).
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 3 or raw.shape[1:] != (NUM_LANDMARKS, 3):
        raise ValueError(f"landmarks must have shape (T, {NUM_LANDMARKS}, 3), got {raw.shape}")
    if not aspect > 0:
        raise ValueError(f"aspect (image height / width) must be positive, got {aspect}")
    num_frames = raw.shape[0]
    faces = AlignedFaces(
        shape=np.full(raw.shape, np.nan),
        rotation=np.tile(np.eye(3), (num_frames, 1, 1)),
        scale=np.ones(num_frames),
        centre=np.zeros((num_frames, 2)),
        valid=np.isfinite(raw).all(axis=(1, 2)),
    )
    if not faces.valid.any():
        return faces

    points = raw[faces.valid] * np.array([1.0, aspect, 1.0])  # isotropic, in image widths
    reference = template()
    scale, rotation, translation = similarity_align(
        reference[ANCHOR_LANDMARKS], points[:, ANCHOR_LANDMARKS]
    )
    good = scale > 1e-6  # all anchors on one point: no usable face
    faces.valid[np.flatnonzero(faces.valid)[~good]] = False
    index = np.flatnonzero(faces.valid)
    points, scale, rotation, translation = (a[good] for a in (points, scale, rotation, translation))

    # x_template = R^T (x - t) / s; with row vectors: (x - t) @ R / s
    faces.shape[index] = (
        np.einsum("tni,tij->tnj", points - translation[:, None], rotation) / scale[:, None, None]
    )
    faces.rotation[index] = rotation
    faces.scale[index] = scale
    faces.centre[index] = points[:, ANCHOR_LANDMARKS, :2].mean(axis=1)
    return faces


class SpeakerFeatures:
    """Raw landmarks -> speaker visual features (contract 2), one object per session.

    `features, valid = speaker(landmarks, aspect)` for each chunk of frames (T, 468, 3) in
    order; `reset()` between sessions. The running neutral (module docstring) is the state,
    so a clip fed in any chunking gives the features of one call on the whole clip.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the neutral: the next face starts a new session."""
        self.faces_seen = 0  # n: faces since the neutral was (re)started
        self.frames_without_face = 0
        self.rotation = np.eye(3)  # R0
        self.centre = np.zeros(2)  # c0, image widths
        self.log_scale = 0.0  # log s0
        self.deformation = np.zeros((len(FEATURE_LANDMARKS), 3))  # d0, eye distances

    def __call__(self, landmarks: np.ndarray, aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(T, 468, 3) raw landmarks -> features (T, D_v) float32 and valid (T,) bool.

        Frames without a face give a row of zeros with valid False.
        """
        faces = align_faces(landmarks, aspect)
        deformation = faces.shape[:, FEATURE_LANDMARKS] - template()[FEATURE_LANDMARKS]
        features = np.zeros((len(faces.valid), VISUAL_FEATURE_DIM), np.float32)
        for t in range(len(faces.valid)):
            if not faces.valid[t]:
                self.frames_without_face += 1
                continue
            if self.frames_without_face >= NEUTRAL_RESET_S * FPS:
                self.faces_seen = 0
            self.frames_without_face = 0
            log_scale = np.log(faces.scale[t])
            self._update(faces.rotation[t], faces.centre[t], log_scale, deformation[t])
            relative = CAMERA_TO_FACE @ (self.rotation.T @ faces.rotation[t]) @ CAMERA_TO_FACE
            size = np.exp(self.log_scale)
            features[t, :ROTATION_DIM] = rotation_to_euler(relative[None])[0]
            features[t, ROTATION_DIM : ROTATION_DIM + 2] = (faces.centre[t] - self.centre) / size
            features[t, POSE_DIM - 1] = log_scale - self.log_scale
            features[t, POSE_DIM:] = (
                (deformation[t] - self.deformation) * DEFORMATION_GAIN
            ).ravel()
        return features, faces.valid

    def _update(self, rotation, centre, log_scale, deformation) -> None:
        self.faces_seen += 1
        if self.faces_seen == 1:
            self.rotation, self.centre, self.log_scale = rotation, centre, log_scale
            self.deformation = deformation
            return
        rate = 1.0 / min(self.faces_seen, NEUTRAL_TIME_CONSTANT_S * FPS)
        size = np.exp(self.log_scale)
        turn = np.clip(rotation_log(self.rotation.T @ rotation), -CLIP_ROTATION, CLIP_ROTATION)
        self.rotation = self.rotation @ rotation_exp(rate * turn)
        shift = np.clip(centre - self.centre, -CLIP_POSITION * size, CLIP_POSITION * size)
        self.centre = self.centre + rate * shift
        self.log_scale += rate * np.clip(
            log_scale - self.log_scale, -CLIP_LOG_SCALE, CLIP_LOG_SCALE
        )
        change = np.clip(deformation - self.deformation, -CLIP_DEFORMATION, CLIP_DEFORMATION)
        self.deformation = self.deformation + rate * change


def visual_features(raw: np.ndarray, aspect: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features of a whole clip from its first frame: `SpeakerFeatures()(raw, aspect)`."""
    return SpeakerFeatures()(raw, aspect)
