"""Render a speaker clip's stage to mp4, as a camera would have filmed it (`--render-video`).

The same stage as the landmark files (`stage.py`): the speaker's face (their identity,
skin, lips, iris and hair) and shoulders, placed by the stage's `Placement` and seen by its
camera at its resolution; the hand passing in front; the bystander; a backdrop (a wall
with soft blotches and shapes) behind; the stage's lights. Then the camera's
imperfections per frame: Gaussian blur, sensor noise (signal-dependent plus a floor) and
a JPEG round trip at the stage's quality, before the mp4 encoder adds its own. So
`reactface prepare` (MediaPipe) on the video finds the face where the landmark files have
one, close to where they have it, and none where they have NaN for a turn or a hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data.world.stage import Stage
from reactface_core.face.identity import identity_space
from reactface_core.face.scene import FaceScene, Geometry

SHIRT_COLOURS = np.array(
    [[0.15, 0.2, 0.35], [0.5, 0.1, 0.12], [0.85, 0.85, 0.82], [0.2, 0.35, 0.2], [0.1, 0.1, 0.1]]
)
WALL_COLOURS = np.array(
    [[0.78, 0.74, 0.66], [0.55, 0.6, 0.66], [0.9, 0.9, 0.88], [0.45, 0.4, 0.35], [0.3, 0.33, 0.38]]
)
CHUNK = 32  # frames built into geometry at once


class _Part:
    """A rigid mesh: vertices, normals (local frame), colours, triangles."""

    def __init__(self, vertices, normals, colors, triangles, specular=0.1, shininess=10.0):
        self.vertices = np.asarray(vertices, np.float32)
        self.normals = np.asarray(normals, np.float32)
        self.colors = np.asarray(colors, np.float32)
        self.triangles = np.asarray(triangles, np.int32)
        self.materials = np.tile([specular, shininess], (len(self.vertices), 1)).astype(np.float32)


def ellipsoid(centre, axes, color, rings: int = 10, segments: int = 16) -> _Part:
    """A closed ellipsoid mesh with outward normals and outward-wound triangles."""
    theta = np.linspace(0.0, np.pi, rings)[:, None]
    phi = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)[None]
    unit = np.stack(
        [np.sin(theta) * np.cos(phi), np.cos(theta) + 0 * phi, np.sin(theta) * np.sin(phi)], -1
    ).reshape(-1, 3)
    axes = np.asarray(axes, np.float64)
    vertices = unit * axes + np.asarray(centre, np.float64)
    normals = unit / axes
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    triangles = []
    for r in range(rings - 1):
        for c in range(segments):
            a, b = r * segments + c, r * segments + (c + 1) % segments
            triangles += [(a, a + segments, b), (b, a + segments, b + segments)]
    triangles = np.array(triangles)
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    outward = (np.cross(b - a, c - a) * ((a + b + c) / 3 - centre)).sum(1) < 0
    triangles[outward] = triangles[outward][:, [0, 2, 1]]
    colors = np.tile(np.asarray(color, np.float64), (len(vertices), 1))
    return _Part(vertices, normals, colors, triangles)


def merge(parts: list[_Part], specular=0.1, shininess=10.0) -> _Part:
    offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
    return _Part(
        np.concatenate([p.vertices for p in parts]),
        np.concatenate([p.normals for p in parts]),
        np.concatenate([p.colors for p in parts]),
        np.concatenate([p.triangles + o for p, o in zip(parts, offsets, strict=False)]),
        specular,
        shininess,
    )


def hand_part(stage: Stage) -> _Part:
    centres, axes = stage.hand.ellipsoids()
    return merge(
        [ellipsoid(c, a, stage.hand.color) for c, a in zip(centres, axes, strict=True)], 0.15, 12.0
    )


def shoulders_part(rng: np.random.Generator) -> _Part:
    """Neck base and shoulders under the head (face frame, metres), in a shirt colour."""
    shirt = SHIRT_COLOURS[int(rng.integers(len(SHIRT_COLOURS)))] * rng.uniform(0.8, 1.15)
    body = ellipsoid((0.0, -0.3, -0.09), (0.23, 0.12, 0.12), np.clip(shirt, 0, 1), 12, 20)
    return merge([body], 0.05, 6.0)


def backdrop_part(stage: Stage, rng: np.random.Generator) -> _Part:
    """A wall 0.5-2 m behind the face filling the view: a base colour, soft blotches and a
    few darker or lighter shapes (shelves, pictures, a window), at grid resolution."""
    back = rng.uniform(0.5, 2.0)
    depth = stage.distance + back
    half_h = 1.3 * depth * np.tan(np.radians(stage.fov_degrees) / 2)
    half_w = half_h * stage.width / stage.height
    rows, cols = 25, 33
    y, x = np.meshgrid(
        np.linspace(-half_h, half_h, rows), np.linspace(-half_w, half_w, cols), indexing="ij"
    )
    base = WALL_COLOURS[int(rng.integers(len(WALL_COLOURS)))] * rng.uniform(0.8, 1.15, 3)
    u, v = x / half_w, y / half_h
    blotch = sum(
        rng.uniform(0.03, 0.1)
        * np.sin(rng.uniform(1, 5) * u + rng.uniform(0, 6))
        * np.cos(rng.uniform(1, 5) * v + rng.uniform(0, 6))
        for _ in range(4)
    )
    colors = base[None, None] * (1.0 + blotch)[..., None]
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.uniform(-1, 1, 2)
        sx, sy = rng.uniform(0.1, 0.4, 2)
        inside = (np.abs(u - cx) < sx) & (np.abs(v - cy) < sy)
        colors[inside] = np.clip(rng.uniform(0.05, 1.0, 3), 0, 1)
    vertices = np.stack([x, y, np.full_like(x, -back)], -1).reshape(-1, 3)
    triangles = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a = r * cols + c
            triangles += [(a, a + 1, a + cols), (a + 1, a + cols + 1, a + cols)]
    normals = np.tile([0.0, 0.0, 1.0], (len(vertices), 1))
    part = _Part(
        vertices, normals, np.clip(colors.reshape(-1, 3), 0, 1), np.array(triangles), 0.0, 1.0
    )
    a, b, c = (part.vertices[part.triangles[:, k]] for k in range(3))
    facing = np.cross(b - a, c - a)[:, 2] < 0
    part.triangles[facing] = part.triangles[facing][:, [0, 2, 1]]
    return part


class StageScene:
    """Geometry of a whole stage for any span of frames, for `Renderer.draw`."""

    def __init__(self, stage: Stage, style, coefficients: np.ndarray):
        from reactface_core.face.rig import ArkitRig

        identities = identity_space()
        self.stage = stage
        self.camera = stage.camera
        self.coefficients = coefficients
        self.placement = stage.placement()
        rig = ArkitRig(identity=identities.offsets(np.array(style.identity)))
        self.speaker = FaceScene(rig=rig, camera=self.camera, appearance=style.appearance)
        self.second = None
        if stage.second is not None:
            bystander = ArkitRig(identity=identities.offsets(stage.second.identity))
            self.second = FaceScene(bystander, self.camera, stage.second.appearance)
        rng = np.random.default_rng(stage.props_seed)
        self.shoulders = shoulders_part(rng)
        self.second_shoulders = shoulders_part(rng)
        self.hand = hand_part(stage) if stage.hand is not None else None
        self.backdrop = backdrop_part(stage, rng)
        faces = [self.speaker] + ([self.second] if self.second is not None else [])
        rigid = [self.shoulders, self.backdrop]
        rigid += [self.second_shoulders] if self.second is not None else []
        rigid += [self.hand] if self.hand is not None else []
        self.colors = np.concatenate([f.colors for f in faces] + [p.colors for p in rigid])
        self.materials = np.concatenate([f.materials for f in faces] + [p.materials for p in rigid])
        counts = [f.vertex_count for f in faces] + [len(p.vertices) for p in rigid]
        offsets = np.cumsum([0] + counts)
        triangles = [f.triangles for f in faces] + [p.triangles for p in rigid]
        self.triangles = np.concatenate(
            [t + o for t, o in zip(triangles, offsets, strict=False)]
        ).astype(np.int32)
        self.vertex_count = int(offsets[-1])

    def geometry(self, start: int, stop: int) -> Geometry:
        """Posed geometry of frames [start, stop) in the camera frame."""
        span = slice(start, stop)
        frames = stop - start
        placement = self.placement[span]
        parts = [self.speaker.geometry(self.coefficients[span], placement)]
        second = self.stage.second
        if self.second is not None:
            geometry = self.second.geometry(second.coefficients[span], second.placement[span])
            parts.append(_hidden(geometry, ~second.present[span]))
        parts.append(self._placed(self.shoulders, placement))
        still = np.broadcast_to(self.backdrop.vertices, (frames, *self.backdrop.vertices.shape))
        parts.append(self._rigid(self.backdrop, still, None))
        if self.second is not None:
            body = self._placed(self.second_shoulders, second.placement[span])
            parts.append(_hidden(body, ~second.present[span]))
        if self.hand is not None:
            palm = self.stage.hand_centre()[span].astype(np.float32)
            points = self.hand.vertices[None] + palm[:, None]
            hand = self._rigid(self.hand, points, None)
            parts.append(_hidden(hand, ~self.stage.hand.present[span]))
        return Geometry(
            positions=np.concatenate([p.positions for p in parts], axis=1),
            normals=np.concatenate([p.normals for p in parts], axis=1),
            colors=self.colors,
            materials=self.materials,
            triangles=self.triangles,
        )

    def _placed(self, part: _Part, placement) -> Geometry:
        """A part carried by a body's placement (turned and moved with it)."""
        frames = len(placement.shift)
        points = placement.apply(np.broadcast_to(part.vertices, (frames, *part.vertices.shape)))
        rotation = np.asarray(placement.rotation, np.float32)
        return self._rigid(part, points, part.normals @ rotation.transpose(0, 2, 1))

    def _rigid(self, part: _Part, points: np.ndarray, normals: np.ndarray | None) -> Geometry:
        frames = len(points)
        if normals is None:
            normals = np.broadcast_to(part.normals, (frames, *part.normals.shape))
        return Geometry(
            positions=self.camera.to_camera(np.asarray(points, np.float32)).astype(np.float32),
            normals=np.asarray(normals, np.float32),
            colors=part.colors,
            materials=part.materials,
            triangles=part.triangles,
        )


def _hidden(geometry: Geometry, hidden: np.ndarray) -> Geometry:
    """Collapse a part to one point in front of the camera where `hidden` (no fragments)."""
    if not hidden.any():
        return geometry
    positions = geometry.positions.copy()
    positions[hidden] = (0.0, 0.0, -1.0)
    return Geometry(
        positions, geometry.normals, geometry.colors, geometry.materials, geometry.triangles
    )


def degrade(frames: np.ndarray, stage: Stage, rng: np.random.Generator) -> np.ndarray:
    """The camera's imperfections: blur, sensor noise, JPEG compression (uint8 RGB)."""
    import cv2

    imaging = stage.imaging
    out = np.empty_like(frames)
    quality = [int(cv2.IMWRITE_JPEG_QUALITY), int(imaging.jpeg_quality)]
    for t, frame in enumerate(frames):
        image = frame.astype(np.float32)
        if imaging.blur_sigma > 0.3:
            image = cv2.GaussianBlur(image, (0, 0), imaging.blur_sigma)
        std = np.sqrt(imaging.noise_std**2 + 0.04 * imaging.noise_std * image)  # floor + shot
        image += std * rng.standard_normal(image.shape, dtype=np.float32)
        image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), quality)
        out[t] = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out


def render_frames(side, rng: np.random.Generator, backend: str = "auto"):
    """Yield (start, uint8 frames (n, H, W, 3)) of a `generate.SpeakerSide`'s clip; `rng`
    draws the sensor noise."""
    from reactface_core.face.render import RenderConfig, make_renderer

    stage = side.stage
    scene = StageScene(stage, side.style, side.coefficients)
    lighting = stage.lighting
    config = RenderConfig(
        width=stage.width,
        height=stage.height,
        camera=scene.camera,
        key_light=lighting.key_light,
        key_strength=lighting.key_strength,
        key_color=lighting.key_color,
        fill_light=lighting.fill_light,
        fill_strength=lighting.fill_strength,
        fill_color=lighting.fill_color,
        ambient=lighting.ambient,
        ambient_color=lighting.ambient_color,
    )
    with make_renderer("arkit58", backend=backend, config=config, scene=scene) as renderer:
        for start in range(0, side.frames, CHUNK):
            stop = min(start + CHUNK, side.frames)
            yield start, degrade(renderer.draw(scene.geometry(start, stop)), stage, rng)


def write_video(path: Path, side, rng: np.random.Generator, backend: str = "auto") -> None:
    """Render a speaker side's clip to an mp4 at its stage's resolution, 25 fps."""
    from reactface_core.face.video import FrameWriter

    with FrameWriter(path, FPS) as out:
        for _, frames in render_frames(side, rng, backend):
            out.write(frames)
