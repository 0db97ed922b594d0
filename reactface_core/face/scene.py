"""What a renderer draws: posed triangle meshes with per-vertex normals and materials.

`FaceScene` dresses the rigged canonical face for a robot's face screen: skin with lips,
brows, lash lines and a little blush; eyeballs (sclera, iris, pupil, glossy, turned by
gaze) behind the eye openings, with a shadowed socket so no background shows at the
corners; a dark mouth cavity hung from the inner lip line, upper teeth fixed to the head,
lower teeth and tongue carried by the jaw. Everything is built in the face frame of
`rig.py`, then posed by the head pose, then moved into the camera frame (camera on +z,
looking at the face centre). Both renderers draw exactly this geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reactface_core.face import mesh as m
from reactface_core.face.rig import MM, ArkitRig, RigConfig, _smoothstep, rotate_about_x


@dataclass(frozen=True)
class Camera:
    """Perspective camera on the +z axis of the face frame, looking at `target`."""

    distance: float = 0.55  # metres from the target
    fov_degrees: float = 22.0  # vertical field of view
    target: tuple[float, float, float] = (0.0, 0.006, 0.0)

    def projection(self, aspect: float, near: float = 0.05, far: float | None = None) -> np.ndarray:
        """OpenGL projection matrix (4, 4), camera frame -> clip space; the far plane is
        3 m behind the target unless given (room for a backdrop behind a distant face)."""
        far = self.distance + 3.0 if far is None else far
        f = 1.0 / np.tan(np.radians(self.fov_degrees) / 2)
        return np.array(
            [
                [f / aspect, 0, 0, 0],
                [0, f, 0, 0],
                [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                [0, 0, -1, 0],
            ],
            dtype=np.float32,
        )

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points - (np.asarray(self.target, np.float32) + [0.0, 0.0, self.distance])


@dataclass(frozen=True)
class Placement:
    """Where a posed face stands in the camera's world, per frame: the body turned by
    `rotation` about `pivot` (the top of the neck, face frame), then moved by `shift`
    (metres). Applied after the head pose, so it never enters the face coefficients."""

    rotation: np.ndarray  # (T, 3, 3)
    shift: np.ndarray  # (T, 3)
    pivot: tuple[float, float, float] = RigConfig.pivot

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(T, N, 3) face-frame points -> (T, N, 3) placed points (float32)."""
        pivot = np.asarray(self.pivot, np.float32)
        rotation = np.asarray(self.rotation, np.float32)
        placed = (points - pivot) @ rotation.transpose(0, 2, 1) + pivot
        return (placed + np.asarray(self.shift, np.float32)[:, None]).astype(np.float32)

    def __getitem__(self, frames: slice) -> Placement:
        return Placement(self.rotation[frames], self.shift[frames], self.pivot)


@dataclass(frozen=True)
class Geometry:
    """Posed meshes of T frames in the camera frame; shared by every backend."""

    positions: np.ndarray  # (T, N, 3) float32, camera frame (camera at 0, looking at -z)
    normals: np.ndarray  # (T, N, 3) float32, unit
    colors: np.ndarray  # (N, 3) float32 albedo in [0, 1]
    materials: np.ndarray  # (N, 2) float32: specular strength, shininess
    triangles: np.ndarray  # (F, 3) int32


@dataclass
class _Part:
    triangles: np.ndarray  # (f, 3) local indices
    colors: np.ndarray  # (n, 3)
    specular: float
    shininess: float
    groups: np.ndarray | None = None  # (n,) local smoothing group of each vertex


SOCKET_DEPTH = 7 * MM


def _one_hot(name: str) -> np.ndarray:
    from reactface_core.face.models import get_face_model

    model = get_face_model("arkit58")
    c = model.neutral()
    c[0, model.index(name)] = 1.0
    return c


@dataclass(frozen=True)
class Appearance:
    """Albedo of the main materials, RGB in [0, 1]."""

    skin: tuple[float, float, float] = (0.93, 0.74, 0.62)
    lips: tuple[float, float, float] = (0.80, 0.43, 0.42)
    iris: tuple[float, float, float] = (0.36, 0.24, 0.14)
    hair: tuple[float, float, float] = (0.24, 0.16, 0.11)


# Albedo of the details (sRGB-ish, [0, 1]).
LASH_LINE = (0.18, 0.12, 0.11)
LOWER_LID = (0.84, 0.76, 0.81)  # times the skin colour
BLUSH = (1.03, 0.84, 0.94)  # times the skin colour
SCLERA = (0.96, 0.95, 0.93)
PUPIL = (0.03, 0.02, 0.02)
SOCKET = (0.55, 0.33, 0.30)
TEETH = (0.96, 0.94, 0.87)
GUMS = (0.80, 0.42, 0.44)
TONGUE = (0.85, 0.42, 0.45)
MOUTH_EDGE = (0.45, 0.13, 0.14)
MOUTH_BACK = (0.07, 0.02, 0.03)


class FaceScene:
    """Geometry for `arkit58` coefficients (and layouts mapped onto it)."""

    pupil_angle = 0.24  # radians from the gaze axis (eyeball radius 11.5 mm: pupil ~2.7 mm)
    iris_angle = 0.58  # iris radius ~6.3 mm

    def __init__(
        self,
        rig: ArkitRig | None = None,
        camera: Camera | None = None,
        appearance: Appearance | None = None,
    ):
        self.rig = rig or ArkitRig()
        self.camera = camera or Camera()
        self.appearance = look = appearance or Appearance()
        mesh = self.rig.mesh
        v = mesh.vertices
        self.eye_loops = (np.array(m.EYE_RIGHT), np.array(m.EYE_LEFT))
        self.mouth_loop = np.array(m.LIPS_INNER)
        radius = self.rig.config.eyeball_radius
        self.eye_centres = []
        for loop, (upper, lower) in zip(
            self.eye_loops,
            ((m.UPPER_LID_RIGHT, m.LOWER_LID_RIGHT), (m.UPPER_LID_LEFT, m.LOWER_LID_LEFT)),
            strict=True,
        ):
            centre = v[loop].mean(0)
            front = min(v[upper, 2], v[lower, 2]) - 1.6 * MM  # cornea just behind the lids
            self.eye_centres.append(np.array([centre[0], centre[1] + 0.4 * MM, front - radius]))
        self.eye_centres = np.array(self.eye_centres, np.float32)  # (2, 3)
        lip_z = v[m.UPPER_LIP_INNER, 2]
        self.mouth_y = 0.5 * (v[m.UPPER_LIP_INNER, 1] + v[m.LOWER_LIP_INNER, 1])
        self._eyeball = _eyeball_template(radius, self.pupil_angle, self.iris_angle, look.iris)
        self._upper_teeth = _teeth_template(self.mouth_y, lip_z, upper=True)
        self._lower_teeth = _teeth_template(self.mouth_y, lip_z, upper=False)
        self._tongue = _tongue_template(self.mouth_y, lip_z)
        self._head = _head_template(v, look)
        self._brows = [
            _brow_template(v, self.rig.mesh, brow, look.hair)
            for brow in (m.BROW_RIGHT, m.BROW_LEFT)
        ]
        self._parts = self._build_parts(mesh)
        self.colors = np.concatenate([p.colors for p in self._parts]).astype(np.float32)
        self.materials = np.concatenate(
            [np.tile([p.specular, p.shininess], (len(p.colors), 1)) for p in self._parts]
        ).astype(np.float32)
        offsets = np.cumsum([0] + [len(p.colors) for p in self._parts])
        self.triangles = np.concatenate(
            [p.triangles + o for p, o in zip(self._parts, offsets[:-1], strict=True)]
        ).astype(np.int32)
        groups, next_group = [], 0
        for part in self._parts:
            local = part.groups if part.groups is not None else np.arange(len(part.colors))
            groups.append(local + next_group)
            next_group += int(local.max()) + 1
        self._normal_matrix = _normal_accumulator(np.concatenate(groups), self.triangles)
        self.vertex_count = int(offsets[-1])

    @property
    def face_model(self):
        return self.rig.model

    def geometry(self, coefficients: np.ndarray, placement: Placement | None = None) -> Geometry:
        """(T, 58) arkit58 coefficients -> posed geometry in the camera frame; `placement`
        (T frames) turns and moves the whole head after its pose (the synthetic world)."""
        c = self.rig.model.check(coefficients)
        shape = self.rig.expression(c)
        points = np.concatenate(self._face_frame_points(shape), axis=1)  # (T, N, 3)
        posed = self.rig.pose(points, c)
        if placement is not None:
            posed = placement.apply(posed)
        posed = self.camera.to_camera(posed)
        return Geometry(
            positions=posed.astype(np.float32),
            normals=self._normal_matrix(posed, self.triangles),
            colors=self.colors,
            materials=self.materials,
            triangles=self.triangles,
        )

    # ---- parts -------------------------------------------------------------------------

    def _build_parts(self, mesh: m.CanonicalMesh) -> list[_Part]:
        colors = _skin_colors(mesh, self.appearance)
        parts = [_Part(mesh.triangles, colors, specular=0.18, shininess=14.0)]
        for loop in self.eye_loops:
            cup = _socket_points(mesh.vertices[loop][None], depth=SOCKET_DEPTH)[0]
            parts.append(_socket_part(cup, SOCKET, (0.25, 0.14, 0.13)))
            parts.append(
                _Part(
                    self._eyeball.triangles, self._eyeball.colors, 0.9, 90.0, self._eyeball.groups
                )
            )
        opened = self.rig.unposed_vertices(_one_hot("jawOpen"))[0]
        parts.append(_mouth_part(_mouth_points(opened[self.mouth_loop][None])[0]))
        for teeth in (self._upper_teeth, self._lower_teeth):
            parts.append(_Part(teeth.triangles, teeth.colors, 0.45, 30.0))
        parts.append(_Part(self._tongue.triangles, self._tongue.colors, 0.35, 20.0))
        parts.append(_Part(self._head.triangles, self._head.colors, 0.12, 12.0))
        for brow in self._brows:
            parts.append(_Part(brow.triangles, brow.colors, 0.05, 8.0))
        return parts

    def _face_frame_points(self, shape) -> list[np.ndarray]:
        """Every part's vertices (T, n, 3) in the unposed face frame, in `_parts` order."""
        skin = shape.vertices  # (T, 468, 3)
        t = len(skin)
        cfg = self.rig.config
        hinge = np.asarray(cfg.jaw_hinge)
        jaw_angle = shape.jaw_angle  # (T,)
        out = [skin]
        for eye in range(2):
            out.append(_socket_points(skin[:, self.eye_loops[eye]], depth=SOCKET_DEPTH))
            rotation = _gaze_rotation(shape.gaze[:, eye])  # (T, 3, 3)
            ball = self._eyeball.vertices.astype(np.float32) @ rotation.transpose(0, 2, 1)
            out.append(ball + self.eye_centres[eye])
        out.append(_mouth_points(skin[:, self.mouth_loop]))
        out.append(
            np.broadcast_to(self._upper_teeth.vertices, (t, *self._upper_teeth.vertices.shape))
        )

        def jaw(points: np.ndarray) -> np.ndarray:
            moved = rotate_about_x(points[None], jaw_angle[:, None], hinge)
            return moved + shape.jaw_shift[:, None]

        out.append(jaw(self._lower_teeth.vertices))
        tongue = self._tongue.vertices[None] + (
            shape.tongue[:, None, None] * np.array([0.0, 6.0, 30.0]) * MM
        )
        out.append(rotate_about_x(tongue, jaw_angle[:, None], hinge) + shape.jaw_shift[:, None])
        oval = skin[:, list(m.FACE_OVAL)]  # (T, 36, 3): the head follows the face's edge
        rings = oval[:, None] + self._head.vertices[None, :-1].reshape(1, -1, len(m.FACE_OVAL), 3)
        back = np.broadcast_to(self._head.vertices[-1], (t, 1, 3))
        out.append(np.concatenate([rings.reshape(t, -1, 3), back], axis=1))
        for brow, lines in zip(self._brows, (m.BROW_RIGHT, m.BROW_LEFT), strict=True):
            upper, lower = skin[:, list(lines[:5])], skin[:, list(lines[5:][::-1])]
            out.append(_brow_points(upper, lower, brow))
        return [np.asarray(p, np.float32) for p in out]


@dataclass(frozen=True)
class _Template:
    vertices: np.ndarray  # (n, 3)
    triangles: np.ndarray  # (f, 3)
    colors: np.ndarray  # (n, 3)
    groups: np.ndarray | None = None


def _grid_triangles(rows: int, cols: int, wrap: bool, x: np.ndarray | None = None) -> np.ndarray:
    """Quads of a rows x cols vertex grid (row-major), columns optionally wrapping around.

    With `x` (the x of each column), quads left of the midline are split along the other
    diagonal, so a grid that is its own mirror image is also triangulated symmetrically.
    """
    tris = []
    last = cols if wrap else cols - 1
    for r in range(rows - 1):
        for c in range(last):
            a, b = r * cols + c, r * cols + (c + 1) % cols
            if x is not None and x[c] + x[(c + 1) % cols] < 0:
                tris += [(a, b + cols, a + cols), (a, b, b + cols)]
            else:
                tris += [(a, b, a + cols), (b, b + cols, a + cols)]
    return np.array(tris, np.int64)


def _eyeball_template(radius: float, pupil: float, iris: float, color) -> _Template:
    """Front of a sphere around +z; rings duplicated at the pupil and iris edges so the
    colours change sharply, smoothing groups shared so shading stays round."""
    segments = 28
    rings = [0.0, pupil, pupil, 0.42, iris, iris, 0.8, 1.05, 1.35, 1.7]
    rim = tuple(0.55 * np.asarray(color))
    colors = [PUPIL, PUPIL, rim, color, rim, SCLERA, SCLERA, SCLERA, SCLERA, SCLERA]
    theta = np.array(rings)[:, None]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)[None]
    points = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 0 * phi], -1
    ).reshape(-1, 3)
    ring_color = np.repeat(np.array(colors), segments, axis=0)
    unique_rings = np.cumsum([0] + [int(rings[i] != rings[i - 1]) for i in range(1, len(rings))])
    groups = (unique_rings[:, None] * segments + np.arange(segments)[None]).ravel()
    groups[:segments] = 0  # the pole is one point
    triangles = _grid_triangles(len(rings), segments, wrap=True, x=np.cos(phi[0]))
    # Quads between duplicated rings have zero area; drop them.
    a, b, c = (points[triangles[:, k]] for k in range(3))
    triangles = triangles[np.linalg.norm(np.cross(b - a, c - a), axis=1) > 1e-9]
    return _Template(radius * points, _orient(points, triangles, centre=0.0), ring_color, groups)


def _teeth_template(mouth_y: float, lip_z: float, upper: bool) -> _Template:
    """A curved sheet of incisors and canines behind the lips, gum line hidden by the lip."""
    half_width, cols = 19 * MM, 15
    x = np.linspace(-half_width, half_width, cols)
    u = (x / half_width) ** 2
    z = lip_z - 4.0 * MM - 9.0 * MM * u - (0.0 if upper else 1.6 * MM)
    if upper:
        rows_y = [mouth_y + 6.0 * MM, mouth_y + 2.5 * MM, mouth_y - 4.5 * MM + 2.5 * MM * u]
        colors = [GUMS, TEETH, TEETH]
    else:
        rows_y = [mouth_y - 2.0 * MM + 2.0 * MM * u, mouth_y - 7.5 * MM, mouth_y - 11 * MM]
        colors = [TEETH, TEETH, GUMS]
    vertices = np.concatenate([np.stack([x, np.broadcast_to(y, x.shape), z], 1) for y in rows_y])
    shade = 1.0 - 0.35 * np.tile(u, len(rows_y))[:, None]  # back teeth sit in shadow
    color = np.repeat(np.array(colors), cols, axis=0) * shade
    triangles = _grid_triangles(len(rows_y), cols, wrap=False, x=x)
    return _Template(vertices, _orient(vertices, triangles, toward=(0, 0, 1)), color)


def _tongue_template(mouth_y: float, lip_z: float) -> _Template:
    """A flattened half-ellipsoid resting behind the lower teeth."""
    rings, segments = 7, 20
    theta = np.linspace(0, 0.5 * np.pi, rings)[:, None]  # from the tip backwards
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)[None]
    radii = np.array([14.0, 5.0, 22.0]) * MM
    unit = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta) + 0 * phi], -1
    ).reshape(-1, 3)
    centre = np.array([0.0, mouth_y - 7.0 * MM, lip_z - 30.0 * MM])
    vertices = unit * radii + centre
    grid = _grid_triangles(rings, segments, wrap=True, x=np.cos(phi[0]))
    triangles = _orient(vertices, grid, centre=centre)
    color = np.tile(TONGUE, (len(vertices), 1)) * (0.8 + 0.2 * unit[:, 2:3])
    return _Template(vertices, triangles, color)


def _head_template(v: np.ndarray, look: Appearance) -> _Template:
    """Hair over the top and sides of the head and a neck below the jaw, as rings hung from
    the face oval (vertices: per-ring offsets from the oval, then the back point)."""
    oval = v[list(m.FACE_OVAL)].astype(np.float64)  # (36, 3)
    centre = np.array([0.0, 12.0, -75.0]) * MM  # head ellipsoid, metres
    axes = np.array([80.0, 98.0, 100.0]) * MM
    angle = np.degrees(np.arctan2(np.abs(oval[:, 0]), oval[:, 1]))  # 0 at the top, 180 chin
    hair = _smoothstep((132.0 - angle) / 12.0)[:, None]  # 1 over the top and sides
    neck_axis = np.array([0.0, 0.0, -60.0]) * MM  # a vertical elliptic cylinder
    neck_radii = np.array([52.0, 0.0, 42.0]) * MM
    rings = [oval]
    for fraction in (0.05, 0.12, 0.2, 0.28, 0.37, 0.47, 0.6, 0.75, 0.9):  # toward the back
        outward = (oval - centre) / axes
        direction = (1 - fraction) * outward / np.linalg.norm(outward, axis=1, keepdims=True)
        direction += fraction * np.array([0.0, 0.15, -1.0])
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        on_head = centre + 1.06 * axes * direction  # a little volume over the skull
        around = np.arctan2(oval[:, 0], oval[:, 2] - neck_axis[2])[:, None]
        neck = neck_axis + neck_radii * np.concatenate(
            [np.sin(around), np.zeros_like(around), np.cos(around)], axis=1
        )
        drop = np.interp(fraction, (0.0, 0.12, 0.35, 0.6, 0.85, 1.0), (0, 8, 30, 70, 120, 150))
        neck[:, 1] = oval[:, 1] - drop * MM
        rings.append(hair * on_head + (1 - hair) * neck)
    rings = np.stack(rings)  # (10, 36, 3)
    offsets = (rings - oval).reshape(-1, 3)
    back = centre + np.array([0.0, -20.0, -110.0]) * MM
    count = len(m.FACE_OVAL)
    triangles = _grid_triangles(len(rings), count, wrap=True, x=oval[:, 0]).tolist()
    last = (len(rings) - 1) * count
    triangles += [(last + i, last + (i + 1) % count, len(offsets)) for i in range(count)]
    dark = _smoothstep((142.0 - angle) / 10.0)[:, None]  # hair colour reaches a little lower
    color = dark * np.array(look.hair) + (1 - dark) * 0.9 * np.array(look.skin)
    colors = np.concatenate([np.tile(color, (len(rings), 1)), [look.hair]])
    points = np.concatenate([rings.reshape(-1, 3), back[None]])
    triangles = _orient(points, np.array(triangles), centre=centre)
    return _Template(np.concatenate([offsets, back[None]]), triangles, colors)


BROW_THICKNESS = np.array([0.45, 0.85, 0.95, 0.9, 0.8])  # of the brow band, outer to inner


def _brow_template(v: np.ndarray, mesh: m.CanonicalMesh, brow, hair) -> _Template:
    """A crisp brow strip over the skin's brow band (vertices: offsets along the normals)."""
    from reactface_core.face.rig import _vertex_normals

    normals = _vertex_normals(v.astype(np.float64), mesh.triangles)
    upper, lower = list(brow[:5]), list(brow[5:][::-1])
    lift = 0.8 * MM * np.concatenate([normals[upper], normals[lower]])  # (10, 3)
    triangles = _orient(
        np.concatenate([v[upper], v[lower]]), _grid_triangles(2, 5, wrap=False), toward=(0, 0, 1)
    )
    return _Template(lift, triangles, np.tile(np.clip(1.12 * np.asarray(hair), 0, 1), (10, 1)))


def _brow_points(upper: np.ndarray, lower: np.ndarray, brow: _Template) -> np.ndarray:
    """(T, 5, 3) upper and lower brow lines -> (T, 10, 3) strip, thinner than the band."""
    top = lower + BROW_THICKNESS[:, None] * (upper - lower)
    return np.concatenate([top, lower], axis=1) + brow.vertices


def _orient(vertices: np.ndarray, triangles: np.ndarray, toward=None, centre=None) -> np.ndarray:
    """Wind triangles counter-clockwise seen from their visible side, so renderers can cull
    back faces: the side facing `toward` (a direction), or facing away from `centre`."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    side = np.asarray(toward, float) if toward is not None else (a + b + c) / 3 - centre
    flip = (normal * side).sum(-1) < 0
    out = np.array(triangles, copy=True)
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def _socket_part(cup: np.ndarray, rim_color, back_color) -> _Part:
    """Ring (attached to a boundary loop) -> inner ring -> back point; `cup` at rest."""
    ring = (len(cup) - 1) // 2
    colors = np.array([rim_color] * ring + [back_color] * ring + [back_color])
    tris = _grid_triangles(2, ring, wrap=True).tolist()
    tris += [(ring + i, ring + (i + 1) % ring, 2 * ring) for i in range(ring)]
    tris = _orient(cup, np.array(tris), toward=(0, 0, 1))  # seen from the front, inside
    return _Part(tris, colors, specular=0.05, shininess=8.0)


def _socket_points(loop: np.ndarray, depth: float) -> np.ndarray:
    """(T, n, 3) boundary loop -> (T, 2n + 1, 3) a cup behind it."""
    centre = loop.mean(1, keepdims=True)
    back = np.array([0.0, 0.0, -depth])
    inner = centre + 0.5 * (loop - centre) + 0.6 * back
    return np.concatenate([loop, inner, centre + back], axis=1)


def _mouth_part(cavity: np.ndarray) -> _Part:
    """The mouth cavity's triangles and colours; `cavity` is its shape with the jaw open."""
    ring = (len(cavity) - 1) // 3
    colors = np.array(
        [MOUTH_EDGE] * ring
        + [(0.28, 0.07, 0.08)] * ring
        + [(0.14, 0.03, 0.04)] * ring
        + [MOUTH_BACK]
    )
    tris = _grid_triangles(3, ring, wrap=True, x=cavity[:ring, 0]).tolist()
    tris += [(2 * ring + i, 2 * ring + (i + 1) % ring, 3 * ring) for i in range(ring)]
    tris = _orient(cavity, np.array(tris), toward=(0, 0, 1))
    return _Part(tris, colors, specular=0.08, shininess=10.0)


def _mouth_points(loop: np.ndarray) -> np.ndarray:
    """(T, 20, 3) inner lip line -> (T, 61, 3) a cavity behind the lips."""
    centre = loop.mean(1, keepdims=True)
    first = centre + 0.85 * (loop - centre) + np.array([0, 0, -4 * MM])
    second = centre + 0.6 * (loop - centre) + np.array([0, -2 * MM, -18 * MM])
    back = centre + np.array([0, -3 * MM, -30 * MM])
    return np.concatenate([loop, first, second, back], axis=1)


def _gaze_rotation(gaze: np.ndarray) -> np.ndarray:
    """(T, 2) yaw (+ toward +x), pitch (+ up) -> (T, 3, 3) turning +z into the gaze."""
    yaw, pitch = gaze[:, 0].astype(np.float64), gaze[:, 1].astype(np.float64)
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.zeros((len(yaw), 3, 3))
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 1, 1], ry[:, 2, 0], ry[:, 2, 2] = cy, sy, 1, -sy, cy
    rx = np.zeros_like(ry)
    rx[:, 0, 0], rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = 1, cp, sp, -sp, cp
    return (ry @ rx).astype(np.float32)


def _skin_colors(mesh: m.CanonicalMesh, look: Appearance) -> np.ndarray:
    """Per-vertex albedo: skin, lips, brows, lash line, lower lids, cheeks' blush."""
    from matplotlib.path import Path

    v = mesh.vertices
    colors = np.tile(np.array(look.skin), (len(v), 1))
    lips = Path(v[list(m.LIPS_OUTER), :2]).contains_points(v[:, :2], radius=1e-6)
    lips[list(m.LIPS_INNER)] = True
    colors[lips] = look.lips
    colors[list(m.LIPS_OUTER)] = 0.5 * (np.array(look.lips) + look.skin)
    for cheek in (v[m.MOUTH_CORNER_LEFT] + np.array([16, 24, 0]) * MM,):
        for centre in (cheek, cheek * [-1, 1, 1]):
            d2 = (((v[:, :2] - centre[:2]) / (16 * MM)) ** 2).sum(1)
            blush = 0.45 * np.clip(1 - d2, 0, None) ** 2
            colors = colors * (1 - blush[:, None] + blush[:, None] * np.array(BLUSH))
    brows = list(m.BROW_RIGHT + m.BROW_LEFT)  # a soft shadow under the brow strips
    colors[brows] = 0.7 * colors[brows] + 0.3 * np.array(look.hair)
    for upper, lower in (
        (m.UPPER_EYELID_RIGHT, m.LOWER_EYELID_RIGHT),
        (m.UPPER_EYELID_LEFT, m.LOWER_EYELID_LEFT),
    ):
        colors[list(lower[1:-1])] = np.array(look.skin) * LOWER_LID
        colors[list(upper)] = LASH_LINE
    return colors.astype(np.float32)


def _normal_accumulator(groups: np.ndarray, triangles: np.ndarray):
    """Returns normals(positions (T, N, 3)) -> (T, N, 3): area-weighted face normals summed
    per smoothing group (vertices sharing a group share a normal)."""
    from scipy.sparse import csr_matrix

    n_groups = int(groups.max()) + 1
    rows = groups[triangles].ravel()  # (F*3,)
    cols = np.repeat(np.arange(len(triangles)), 3)
    accumulate = csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), (n_groups, len(triangles))
    )

    def normals(positions: np.ndarray, tris: np.ndarray) -> np.ndarray:
        t = len(positions)
        p = np.ascontiguousarray(positions.transpose(1, 0, 2), np.float32)  # (N, T, 3)
        a = p[tris[:, 0]]
        u, w = p[tris[:, 1]] - a, p[tris[:, 2]] - a  # (F, T, 3)
        face = np.empty_like(u)  # u x w, written out: np.cross is slower on small axes
        face[..., 0] = u[..., 1] * w[..., 2] - u[..., 2] * w[..., 1]
        face[..., 1] = u[..., 2] * w[..., 0] - u[..., 0] * w[..., 2]
        face[..., 2] = u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]
        summed = (accumulate @ face.reshape(len(tris), t * 3))[groups].reshape(-1, t, 3)
        length = np.sqrt(np.einsum("ntc,ntc->nt", summed, summed))[..., None]
        return (summed / np.maximum(length, 1e-12)).transpose(1, 0, 2).astype(np.float32)

    return normals
