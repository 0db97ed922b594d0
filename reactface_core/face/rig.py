"""Procedural ARKit rig on the canonical face mesh: `arkit58` coefficients -> 3D vertices.

Every one of the 52 ARKit blendshapes is a displacement field over the 468 vertices of
`canonical_mesh()`, designed here from smooth, compactly supported bumps around named
landmarks, a harmonic "jaw weight" field (1 on the lower lip and chin, 0 on the upper lip
and above; the mouth opening separates the two) and the eyelid margins. Left channels are
designed once; each Right channel is its exact mirror image through the mirror index, so
L/R pairs are symmetric by construction. Fields are linear in their weight, like ARKit's,
with two couplings: tongueOut also opens the jaw a quarter of the way, and mouthClose (as
in ARKit, a corrective of jawOpen) closes the lips only as far as the jaw has opened them.

Gaze (`eyeLook*`) turns the eyeballs, which are not part of the 468-vertex surface: the rig
reports per-eye gaze angles, jaw rotation and tongue protrusion in `FaceShape` so that a
renderer can place eyes, teeth and tongue consistently.

Head pose (coefficients 52:58, see `models.py`): with R = Rz(roll) Ry(yaw) Rx(pitch) about
`RigConfig.pivot` (a point behind the face, near the top of the neck) followed by the
translation t in metres: posed = R (v - pivot) + pivot + t. In the mesh frame (x to the
subject's left, y up, z toward the camera):
- positive pitch tips the forehead toward the camera (looking down, as in a nod);
- positive yaw turns the nose toward the subject's left (the viewer's right);
- positive roll lifts the subject's left side (the head tilts toward the right shoulder).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from reactface_core.face import mesh as m
from reactface_core.face.models import ARKIT_BLENDSHAPES, get_face_model

MM = 1e-3


@dataclass(frozen=True)
class RigConfig:
    """Geometry of the rig in metres (mesh frame) and radians."""

    pivot: tuple[float, float, float] = (0.0, -0.04, -0.08)  # head rotation centre
    jaw_hinge: tuple[float, float, float] = (0.0, 0.005, -0.075)  # temporomandibular axis (x)
    jaw_open_angle: float = 0.33  # jawOpen = 1
    eye_yaw: float = 0.45  # eyeLookIn/Out = 1
    eye_pitch: float = 0.35  # eyeLookUp/Down = 1
    eyeball_radius: float = 0.0115


@dataclass(frozen=True)
class FaceShape:
    """One batch of rigged faces, before head pose."""

    vertices: np.ndarray  # (T, 468, 3) metres, mesh frame
    gaze: np.ndarray  # (T, 2, 2) per eye (right, left): (yaw, pitch) radians, + = left / up
    jaw_angle: np.ndarray  # (T,) radians of jaw opening about the hinge
    jaw_shift: np.ndarray  # (T, 3) metres of jaw translation (jawForward/Left/Right)
    tongue: np.ndarray  # (T,) tongueOut weight in [0, 1]


class ArkitRig:
    """Maps `arkit58` coefficients to canonical-mesh vertices; built once (about 0.1 s).

    `identity` (468, 3) metres (`face.identity`) reshapes the neutral face into another
    person's; the expression fields are per vertex, designed once on the canonical face,
    so they move with it and every person shares them.
    """

    def __init__(self, config: RigConfig | None = None, identity: np.ndarray | None = None):
        self.config = config or RigConfig()
        self.model = get_face_model("arkit58")
        canonical = m.canonical_mesh()
        self.mesh = canonical if identity is None else _reshaped(canonical, identity)
        self.neutral = self.mesh.vertices.astype(np.float32)  # (468, 3)
        self.jaw_weight, self.deltas = _fields(self.config)  # (468,), (52, 468, 3)
        self._flat = self.deltas.reshape(52, -1)
        self._index = {name: i for i, name in enumerate(ARKIT_BLENDSHAPES)}

    def expression(self, coefficients: np.ndarray) -> FaceShape:
        """Unposed face: neutral + sum_k w_k * delta_k, plus eye, jaw and tongue state."""
        c = self.model.check(coefficients)  # (T, 58)
        channel = self._index
        cfg = self.config
        w = c[:, self.model.expression].copy()  # (T, 52)
        # The couplings of the module docstring: the tongue needs room; mouthClose corrects.
        w[:, channel["jawOpen"]] += 0.25 * w[:, channel["tongueOut"]]
        w[:, channel["mouthClose"]] = np.minimum(
            w[:, channel["mouthClose"]], np.clip(w[:, channel["jawOpen"]], 0.0, None)
        )
        vertices = self.neutral + (w @ self._flat).reshape(-1, *self.neutral.shape)

        def pair(name: str) -> np.ndarray:  # (T, 2): right eye, left eye
            return w[:, [channel[f"{name}Right"], channel[f"{name}Left"]]]

        # An eye "looks in" toward the nose: -x for the left eye, +x for the right eye.
        yaw = (pair("eyeLookOut") - pair("eyeLookIn")) * cfg.eye_yaw * np.array([-1.0, 1.0])
        pitch = (pair("eyeLookUp") - pair("eyeLookDown")) * cfg.eye_pitch
        jaw_shift = np.stack(
            [
                (w[:, channel["jawLeft"]] - w[:, channel["jawRight"]]) * 8 * MM,
                np.zeros(len(w)),
                w[:, channel["jawForward"]] * 7 * MM,
            ],
            axis=1,
        )
        return FaceShape(
            vertices=vertices.astype(np.float32),
            gaze=np.stack([yaw, pitch], axis=2).astype(np.float32),
            jaw_angle=(w[:, channel["jawOpen"]] * cfg.jaw_open_angle).astype(np.float32),
            jaw_shift=jaw_shift.astype(np.float32),
            tongue=w[:, channel["tongueOut"]].astype(np.float32),
        )

    def unposed_vertices(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, 58) -> (T, 468, 3): the expression only, frontal at the origin."""
        return self.expression(coefficients).vertices

    def vertices(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, 58) -> (T, 468, 3): expression, then head rotation about the pivot, then shift."""
        c = self.model.check(coefficients)
        return self.pose(self.unposed_vertices(c), c)

    def pose(self, points: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
        """Apply the head pose of `coefficients` (T, 58) to any points (T, N, 3)."""
        c = self.model.check(coefficients)
        rotation = head_rotation(c[:, self.model.head_rotation])  # (T, 3, 3)
        pivot = np.asarray(self.config.pivot, np.float32)
        posed = (points - pivot) @ rotation.transpose(0, 2, 1) + pivot  # R (v - pivot) + pivot
        return (posed + c[:, None, self.model.translation]).astype(np.float32)


@lru_cache(maxsize=4)
def _fields(config: RigConfig) -> tuple[np.ndarray, np.ndarray]:
    """Jaw weight and blendshape fields on the canonical face (shared by every rig)."""
    mesh = m.canonical_mesh()
    jaw = _jaw_weight(mesh)
    deltas = _blendshapes(mesh, jaw, config)
    for array in (jaw, deltas):
        array.flags.writeable = False
    return jaw, deltas


def _reshaped(canonical: m.CanonicalMesh, identity: np.ndarray) -> m.CanonicalMesh:
    offsets = np.asarray(identity, np.float32)
    if offsets.shape != canonical.vertices.shape:
        raise ValueError(
            f"identity offsets must be {canonical.vertices.shape}, got {offsets.shape}"
        )
    vertices = canonical.vertices + offsets
    vertices.flags.writeable = False
    return m.CanonicalMesh(vertices, canonical.triangles, canonical.mirror)


def head_rotation(angles: np.ndarray) -> np.ndarray:
    """(T, 3) pitch, yaw, roll in radians -> (T, 3, 3) R = Rz(roll) @ Ry(yaw) @ Rx(pitch)."""
    angles = np.asarray(angles, np.float64)
    return (
        _axis_rotation(angles[:, 2], 2)
        @ _axis_rotation(angles[:, 1], 1)
        @ _axis_rotation(angles[:, 0], 0)
    ).astype(np.float32)


def _axis_rotation(angle: np.ndarray, axis: int) -> np.ndarray:
    """Right-handed rotation by `angle` (T,) about coordinate axis 0, 1 or 2 -> (T, 3, 3)."""
    cos, sin = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.zeros((len(angle), 3, 3))
    out[:, axis, axis] = 1.0
    out[:, i, i], out[:, i, j], out[:, j, i], out[:, j, j] = cos, -sin, sin, cos
    return out


def rotate_about_x(points: np.ndarray, angle: np.ndarray | float, centre) -> np.ndarray:
    """Rotate (..., N, 3) points about an x-parallel axis through `centre`; + opens a jaw."""
    angle = np.asarray(angle, np.float64)  # broadcasts against points[..., 0]
    cos, sin = np.cos(angle), np.sin(angle)
    y, z = points[..., 1] - centre[1], points[..., 2] - centre[2]
    out = np.empty((*np.broadcast_shapes(points.shape[:-1], angle.shape), 3))
    out[..., 0] = points[..., 0]
    # Opening the jaw swings the chin down and back: (y, z) rotates by -angle about x.
    out[..., 1] = centre[1] + cos * y - sin * z
    out[..., 2] = centre[2] + sin * y + cos * z
    return out


# ---- field design -------------------------------------------------------------------


def _bump(points: np.ndarray, centre, radius) -> np.ndarray:
    """Smooth compact bump (1 - d^2)^3 with per-axis radii; 1 at the centre, 0 beyond."""
    d2 = (((points - np.asarray(centre)) / np.asarray(radius)) ** 2).sum(-1)
    return np.clip(1.0 - d2, 0.0, None) ** 3


def _plateau(points: np.ndarray, centre, radius, inner: float) -> np.ndarray:
    """1 within `inner` of the ellipsoid radius, falling smoothly to 0 at the radius."""
    d = np.sqrt((((points - np.asarray(centre)) / np.asarray(radius)) ** 2).sum(-1))
    return _smoothstep((1.0 - d) / (1.0 - inner))


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _jaw_weight(mesh: m.CanonicalMesh) -> np.ndarray:
    """Harmonic field: 0 on the upper lip and above the mouth, 1 on the lower lip and chin.

    Solved on the mesh graph with those constraints, so it follows the surface around the
    mouth opening instead of leaking across it.
    """
    from scipy.sparse import coo_matrix, diags
    from scipy.sparse.linalg import spsolve

    v = mesh.vertices.astype(np.float64)
    corner_y = v[m.MOUTH_CORNER_LEFT, 1]
    fixed = np.full(len(v), np.nan)
    fixed[v[:, 1] > corner_y + 12 * MM] = 0.0
    fixed[v[:, 1] < corner_y - 16 * MM] = 1.0
    fixed[list(m.UPPER_LIP_INNER_LINE[1:-1] + m.UPPER_LIP_OUTER_LINE[1:-1])] = 0.0
    fixed[list(m.LOWER_LIP_INNER_LINE[1:-1] + m.LOWER_LIP_OUTER_LINE[1:-1])] = 1.0
    tri = mesh.triangles
    rows = np.concatenate([tri[:, 0], tri[:, 1], tri[:, 2], tri[:, 1], tri[:, 2], tri[:, 0]])
    cols = np.concatenate([tri[:, 1], tri[:, 2], tri[:, 0], tri[:, 0], tri[:, 1], tri[:, 2]])
    adjacency = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(v), len(v))).tocsr()
    adjacency.data[:] = 1.0
    laplacian = (diags(np.asarray(adjacency.sum(1)).ravel()) - adjacency).tocsr()
    free = np.isnan(fixed)
    known = ~free
    rhs = -laplacian[free][:, known] @ fixed[known]
    weight = fixed.copy()
    weight[free] = spsolve(laplacian[free][:, free].tocsc(), rhs)
    return np.clip(weight, 0.0, 1.0)


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _lid_gap(v: np.ndarray, upper, lower) -> np.ndarray:
    """Per upper-margin vertex, the vector to the lower margin at the same x."""
    lower_pts = v[list(lower)]
    order = np.argsort(lower_pts[:, 0])
    target = np.stack(
        [np.interp(v[list(upper), 0], lower_pts[order, 0], lower_pts[order, k]) for k in range(3)],
        axis=1,
    )
    return target - v[list(upper)]


def _margin_field(v: np.ndarray, margin, gap: np.ndarray, side: np.ndarray, reach: float):
    """Spread per-margin-vertex displacements `gap` (M, 3) to nearby vertices on one side.

    Each vertex takes the displacement of its nearest margin vertex, fading with distance
    over `reach`; `side` (468,) in [0, 1] restricts the field (e.g. above the eye).
    """
    margin_pts = v[list(margin)]
    distance = np.linalg.norm(v[:, None] - margin_pts[None], axis=2)  # (468, M)
    scaled = (distance / (0.35 * reach)) ** 2
    weights = np.exp(-(scaled - scaled.min(1, keepdims=True)))
    weights /= weights.sum(1, keepdims=True)
    spread = weights @ gap  # (468, 3)
    fade = _smoothstep(1.0 - distance.min(1) / reach)
    field = spread * (fade * side)[:, None]
    field[list(margin)] = gap
    return field


def _blendshapes(mesh: m.CanonicalMesh, jaw: np.ndarray, cfg: RigConfig) -> np.ndarray:
    """(52, 468, 3) displacement at weight 1 for every ARKit channel."""
    v = mesh.vertices.astype(np.float64)
    normals = _vertex_normals(v, mesh.triangles)
    upper, lower = 1.0 - jaw, jaw
    corner = v[m.MOUTH_CORNER_LEFT]
    mouth_centre = v[list(m.LIPS_OUTER)].mean(0)
    eye_l = v[list(m.EYE_LEFT)].mean(0)
    upper_lid_l, lower_lid_l = m.UPPER_EYELID_LEFT, m.LOWER_EYELID_LEFT
    near_eye_l = _bump(v, eye_l, (30 * MM, 25 * MM, 30 * MM)) > 0
    above_eye_l = _smoothstep((v[:, 1] - eye_l[1]) / (3 * MM) + 0.5) * near_eye_l
    below_eye_l = _smoothstep((eye_l[1] - v[:, 1]) / (3 * MM) + 0.5) * near_eye_l
    gap_l = _lid_gap(v, upper_lid_l, lower_lid_l)  # upper margin -> lower margin
    rise_l = _lid_gap(v, lower_lid_l, upper_lid_l)  # lower margin -> upper margin
    lips = _plateau(v, mouth_centre, (40 * MM, 24 * MM, 40 * MM), inner=0.7)
    cheek_l = corner + np.array([16, 22, -8]) * MM
    brow_inner_l = v[336]
    brow_outer_l = v[300]
    brow_mid_l = v[334]
    nose_wing_l = v[358]

    def along(vector, weight):
        return weight[:, None] * np.asarray(vector, np.float64) * MM

    left_fields: dict[str, np.ndarray] = {
        "eyeBlink": _margin_field(v, upper_lid_l, 0.85 * gap_l, above_eye_l, 12 * MM)
        + _margin_field(v, lower_lid_l, 0.15 * rise_l, below_eye_l, 6 * MM),
        "eyeLookDown": _margin_field(v, upper_lid_l, 0.25 * gap_l, above_eye_l, 10 * MM)
        + along((0, -1.0, 0), _bump(v, v[374], 8 * MM) * below_eye_l),
        "eyeLookIn": along((-0.9, 0, 0), _bump(v, eye_l, (12 * MM, 9 * MM, 15 * MM))),
        "eyeLookOut": along((0.9, 0, 0), _bump(v, eye_l, (12 * MM, 9 * MM, 15 * MM))),
        "eyeLookUp": along(
            (0, 2.0, 0.3), _bump(v, v[386], (16 * MM, 9 * MM, 15 * MM)) * above_eye_l
        ),
        "eyeSquint": _margin_field(v, upper_lid_l, 0.2 * gap_l, above_eye_l, 8 * MM)
        + _margin_field(v, lower_lid_l, 0.3 * rise_l, below_eye_l, 14 * MM)
        + along((0, 1.5, 0.5), _bump(v, v[263] + np.array([4, -8, 0]) * MM, 14 * MM)),
        "eyeWide": _margin_field(v, upper_lid_l, -0.45 * gap_l, above_eye_l, 12 * MM)
        + along((0, -0.8, 0), _bump(v, v[374], (14 * MM, 5 * MM, 15 * MM)) * below_eye_l),
        "mouthSmile": along((6, 7, -3), _bump(v, corner, (26 * MM, 22 * MM, 30 * MM)))
        + along((1.5, 3.5, 2.0), _bump(v, cheek_l, (20 * MM, 16 * MM, 25 * MM))),
        "mouthFrown": along((-1, -6, 0), _bump(v, corner, (22 * MM, 18 * MM, 30 * MM))),
        "mouthDimple": along((3, 0.5, -3.5), _bump(v, corner, (18 * MM, 16 * MM, 30 * MM))),
        "mouthStretch": along((6, -3, -1.5), _bump(v, corner, (24 * MM, 20 * MM, 30 * MM))),
        "mouthPress": (along((0, -1.8, 0), upper) + along((0, 1.8, 0), lower))
        * (lips * _bump(v, corner - np.array([12, 0, 0]) * MM, 30 * MM))[:, None],
        "mouthLowerDown": along(
            (0, -6, 1),
            lower * _bump(v, corner - np.array([10, 6, 0]) * MM, (22 * MM, 20 * MM, 30 * MM)),
        ),
        "mouthUpperUp": along(
            (0, 5, 1),
            upper * _bump(v, corner - np.array([10, -6, 0]) * MM, (22 * MM, 18 * MM, 30 * MM)),
        ),
        "browDown": along((-2.5, -6.5, 1.5), _bump(v, brow_mid_l, (28 * MM, 15 * MM, 30 * MM)))
        + along((0, -1.5, 0.5), _bump(v, v[386] + np.array([0, 8, 0]) * MM, 10 * MM)),
        "browOuterUp": along((0, 7, 0), _bump(v, brow_outer_l, (26 * MM, 20 * MM, 30 * MM))),
        "cheekSquint": along(
            (0, 3, 1), _bump(v, cheek_l + np.array([2, 6, 0]) * MM, (20 * MM, 14 * MM, 30 * MM))
        )
        + _margin_field(v, lower_lid_l, 0.15 * rise_l, below_eye_l, 10 * MM),
        "noseSneer": along(
            (-0.8, 4.5, 0.8),
            _bump(v, nose_wing_l + np.array([-2, 8, 0]) * MM, (13 * MM, 15 * MM, 30 * MM)),
        )
        + along((0, 1.5, 0), upper * _bump(v, nose_wing_l - np.array([0, 14, 0]) * MM, 12 * MM)),
    }
    # Whole-face channels, symmetric by design.
    chin = _bump(v, v[m.CHIN] + np.array([0, 10, 0]) * MM, (30 * MM, 25 * MM, 40 * MM))
    hinge = np.asarray(cfg.jaw_hinge)
    jaw_open = rotate_about_x(v, cfg.jaw_open_angle * jaw, hinge) - v
    mouth_region = _bump(v, mouth_centre, (34 * MM, 22 * MM, 40 * MM))

    def narrow(fraction: float) -> np.ndarray:
        """Draw the lips toward the midline by `fraction` of their half-width (no crease)."""
        dx = -fraction * (v[:, 0] - mouth_centre[0]) * lips
        return np.stack([dx, np.zeros_like(dx), np.zeros_like(dx)], axis=1)

    puff = _bump(v, cheek_l - np.array([2, 14, 0]) * MM, (24 * MM, 24 * MM, 40 * MM))
    central = {
        "jawForward": along((0, 0, 7), jaw),
        "jawOpen": jaw_open,
        "mouthClose": -0.5 * jaw_open * (lips * lower)[:, None]
        + along((0, 0.5 * jaw_open[m.LOWER_LIP_INNER, 1] / MM, 0), lips * upper),
        "mouthFunnel": along((0, 0, 6), lips)
        + along((0, 2.0, 0), upper * lips)
        + along((0, -2.5, 0), lower * lips)
        + narrow(0.22),
        "mouthPucker": along((0, 0, 8), lips * (1.2 - np.abs(v[:, 0]) / (60 * MM)))
        + along((0, -1.0, 0), upper * lips)
        + along((0, 1.0, 0), lower * lips)
        + narrow(0.36),
        "mouthRollLower": along((0, 2.5, -4), lower * lips * (v[:, 1] > corner[1] - 14 * MM)),
        "mouthRollUpper": along((0, -2.0, -4), upper * lips * (v[:, 1] < corner[1] + 12 * MM)),
        "mouthShrugLower": along(
            (0, 3, 3),
            lower * _bump(v, v[17] - np.array([0, 6, 0]) * MM, (26 * MM, 18 * MM, 30 * MM)),
        )
        + along((0, 1.5, 1.5), chin),
        "mouthShrugUpper": along((0, 3, 2), upper * _bump(v, v[0], (26 * MM, 12 * MM, 30 * MM))),
        "browInnerUp": along((0, 7, 0), _bump(v, v[9], (32 * MM, 20 * MM, 40 * MM)))
        + along((0, 2, 0), _bump(v, brow_inner_l, 14 * MM) + _bump(v, v[107], 14 * MM)),
        "cheekPuff": 8 * MM * normals * (puff + puff[mesh.mirror])[:, None]
        + along((0, 0, 2), lips),
        "mouthLeft": along((7, 0, 0), mouth_region),
        "jawLeft": along((8, 0, 0), jaw),
        "tongueOut": along((0, -2.5, 0.5), lower * lips),
    }
    mirror = mesh.mirror
    flip = np.array([-1.0, 1.0, 1.0])
    deltas = np.zeros((52, len(v), 3))
    for k, name in enumerate(ARKIT_BLENDSHAPES):
        if name in central:
            deltas[k] = central[name]
        elif name.endswith("Left") and name[:-4] in left_fields:
            deltas[k] = left_fields[name[:-4]]
        elif name.endswith("Right") and name[:-5] in left_fields:
            deltas[k] = left_fields[name[:-5]][mirror] * flip
    for name, twin in (("mouthRight", "mouthLeft"), ("jawRight", "jawLeft")):
        deltas[ARKIT_BLENDSHAPES.index(name)] = deltas[ARKIT_BLENDSHAPES.index(twin)][mirror] * flip
    return deltas.astype(np.float32)
