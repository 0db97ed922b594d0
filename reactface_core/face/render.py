"""Renderers: face coefficients (T, D) -> uint8 RGB frames (T, H, W, 3).

Two backends draw the same `Geometry` (see `scene.py`: front faces wound counter-clockwise,
back faces culled) with the same colours: `shade` lights every vertex once on the CPU
(Blinn-Phong, key and fill light, ambient), and both interpolate across triangles:
- `moderngl`: OpenGL 3.3 offscreen through EGL (Mesa's llvmpipe on a CPU-only machine,
  the GPU driver where one exists), 4x multisampled (`RenderConfig.samples`);
- `numpy`: a dependency-light rasterizer (each triangle scanned row by row between its
  edges, a per-pixel depth test, per-pixel shading; frames spread over threads), chosen
  automatically, with a warning, when no EGL context can be made. No antialiasing.

`make_renderer(face_model, backend="auto")` picks one. All renderers share
`render(coefficients) -> frames`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from reactface_core.face.scene import Appearance, Camera

BACKENDS = ("auto", "moderngl", "numpy")


@dataclass(frozen=True)
class RenderConfig:
    """Image size, background and camera; lighting is in the camera frame."""

    width: int = 256
    height: int = 256
    background: tuple[int, int, int] = (38, 44, 58)  # RGB 0-255
    camera: Camera = field(default_factory=Camera)
    appearance: Appearance = field(default_factory=Appearance)  # skin, lips, iris, hair
    key_light: tuple[float, float, float] = (-0.45, 0.55, 1.0)  # toward the light
    fill_light: tuple[float, float, float] = (0.7, 0.05, 0.7)
    key_strength: float = 0.72
    fill_strength: float = 0.28
    ambient: float = 0.30
    key_color: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGB gain of each light
    fill_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient_color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    samples: int = 4  # moderngl multisamples per pixel (antialiasing; llvmpipe does 4 or 0)
    chunk: int = 64  # frames built into geometry at once (bounds memory)


class Renderer:
    """Common part: coefficients -> geometry (scene) -> frames (backend `_draw`)."""

    backend = "base"

    def __init__(self, scene, config: RenderConfig | None = None):
        self.scene = scene
        self.config = config or RenderConfig()
        cfg = self.config
        if cfg.width < 8 or cfg.height < 8:
            raise ValueError(
                f"image size must be at least 8x8 pixels, got {cfg.width}x{cfg.height}"
            )
        self.projection = scene.camera.projection(cfg.width / cfg.height)

    @property
    def face_model(self):
        return self.scene.face_model

    def render(self, coefficients: np.ndarray) -> np.ndarray:
        """(T, D) coefficients of the scene's face model -> (T, H, W, 3) uint8 frames."""
        c = self.face_model.check(coefficients)
        bad = np.flatnonzero(~np.isfinite(c).all(1))
        if len(bad):
            raise ValueError(
                f"coefficients have NaN or infinite values in {len(bad)} frame(s), first at "
                f"frame {bad[0]}; fill or drop them before rendering"
            )
        frames = np.empty((len(c), self.config.height, self.config.width, 3), np.uint8)
        for start, chunk in self.chunks(c):
            frames[start : start + len(chunk)] = self.draw(self.scene.geometry(chunk))
        return frames

    def draw(self, geometry) -> np.ndarray:
        """Light and rasterise posed `scene.Geometry` (T frames) -> (T, H, W, 3) uint8; for
        scenes that build their own geometry (the synthetic world's stage)."""
        lit = shade(
            self.config, geometry.positions, geometry.normals, geometry.colors, geometry.materials
        )
        return self._draw(geometry.positions, lit, geometry.triangles)

    def chunks(self, coefficients: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        step = self.config.chunk
        for start in range(0, len(coefficients), step):
            yield start, coefficients[start : start + step]

    def _draw(self, positions: np.ndarray, lit: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        """(T, N, 3) camera-frame positions and lit colours -> (T, H, W, 3) uint8."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def shade(config: RenderConfig, position, normal, color, material) -> np.ndarray:
    """Lit colour of each vertex, (..., 3) float32 in [0, 1]: Blinn-Phong with a key and a
    fill light and ambient light, normals turned toward the eye. Both backends interpolate
    these colours across triangles (Gouraud shading), so they agree by construction."""

    def dot(u, v):
        return np.einsum("...i,...i->...", u, v)

    def normalise(u):
        return u / np.sqrt(np.maximum(dot(u, u), 1e-24))[..., None]

    to_eye = normalise(-np.asarray(position, np.float32))
    normal = normalise(np.asarray(normal, np.float32))
    normal = normal * np.where(dot(normal, to_eye) < 0, -1.0, 1.0).astype(np.float32)[..., None]
    key, fill = _unit(config.key_light), _unit(config.fill_light)
    key_rgb = config.key_strength * np.asarray(config.key_color, np.float32)
    diffuse = (
        config.ambient * np.asarray(config.ambient_color, np.float32)
        + np.maximum(normal @ key, 0)[..., None] * key_rgb
        + np.maximum(normal @ fill, 0)[..., None]
        * (config.fill_strength * np.asarray(config.fill_color, np.float32))
    )
    gloss = np.maximum(dot(normal, normalise(to_eye + key)), 0) ** material[..., 1]
    lit = color * diffuse + (material[..., 0] * gloss)[..., None] * key_rgb
    return np.clip(lit, 0.0, 1.0).astype(np.float32)


def _unit(vector) -> np.ndarray:
    v = np.asarray(vector, np.float32)
    return v / np.linalg.norm(v)


# ---- moderngl ----------------------------------------------------------------------------

_VERTEX_SHADER = """
#version 330
uniform mat4 projection;
in vec3 in_position;
in vec3 in_color;
out vec3 v_color;
void main() {
    v_color = in_color;
    gl_Position = projection * vec4(in_position, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330
in vec3 v_color;
out vec4 color;
void main() {
    color = vec4(v_color, 1.0);
}
"""


class ModernGLRenderer(Renderer):
    """OpenGL offscreen rendering through an EGL standalone context."""

    backend = "moderngl"

    def __init__(self, scene, config: RenderConfig | None = None, context=None):
        super().__init__(scene, config)
        self.ctx = context or _shared_context()
        with self.ctx:
            self._setup()

    def _setup(self) -> None:
        cfg, scene = self.config, self.scene
        size = (cfg.width, cfg.height)
        samples = min(cfg.samples, self.ctx.max_samples)
        self.attachments = [
            self.ctx.renderbuffer(size, 4, samples=samples),
            self.ctx.depth_renderbuffer(size, samples=samples),
            self.ctx.renderbuffer(size, 4),
        ]
        self.msaa = self.ctx.framebuffer(self.attachments[0], self.attachments[1])
        self.resolved = self.ctx.framebuffer(self.attachments[2])
        self.program = self.ctx.program(
            vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER
        )
        self.program["projection"].write(self.projection.T.copy().tobytes())
        self.dynamic = self.ctx.buffer(reserve=scene.vertex_count * 6 * 4, dynamic=True)
        self.index = self.ctx.buffer(scene.triangles.astype("i4").tobytes())
        self.vao = self.ctx.vertex_array(
            self.program,
            [(self.dynamic, "3f 3f", "in_position", "in_color")],
            index_buffer=self.index,
            index_element_size=4,
        )
        self.clear = tuple(c / 255.0 for c in cfg.background)

    def _draw(self, positions: np.ndarray, lit: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        import moderngl

        cfg = self.config
        data = np.concatenate([positions, lit], axis=2).astype("f4")
        out = np.empty((len(data), cfg.height, cfg.width, 3), np.uint8)
        with self.ctx:  # several contexts may exist; draw in ours
            self.ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)  # scenes wind front faces CCW
            for t, frame in enumerate(data):
                self.dynamic.write(frame.tobytes())
                self.msaa.use()
                self.msaa.clear(*self.clear, 1.0, depth=1.0)
                self.vao.render(moderngl.TRIANGLES)
                self.ctx.copy_framebuffer(self.resolved, self.msaa)
                pixels = np.frombuffer(self.resolved.read(components=3), np.uint8)
                out[t] = pixels.reshape(cfg.height, cfg.width, 3)[::-1]
        return out

    def close(self) -> None:
        if self.vao is None:
            return
        with self.ctx:
            for resource in (self.vao, self.index, self.dynamic, self.program):
                resource.release()
            for resource in (self.msaa, self.resolved, *self.attachments):
                resource.release()
        self.vao = None


_CONTEXT = None


def _shared_context():
    """One EGL context per process: creating one costs time and driver memory."""
    global _CONTEXT
    if _CONTEXT is None:
        import moderngl

        _CONTEXT = moderngl.create_standalone_context(backend="egl")
    return _CONTEXT


# ---- numpy ---------------------------------------------------------------------------------


class NumpyRenderer(Renderer):
    """Pure numpy rasterizer: same geometry and lit colours, no antialiasing."""

    backend = "numpy"

    def __init__(self, scene, config: RenderConfig | None = None, threads: int | None = None):
        super().__init__(scene, config)
        self.threads = threads if threads is not None else min(os.cpu_count() or 1, 4)

    def _draw(self, positions: np.ndarray, lit: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        cfg = self.config
        t, n = positions.shape[:2]
        clip = np.concatenate([positions, np.ones((t, n, 1), np.float32)], axis=2)
        clip = clip @ self.projection.T  # (T, N, 4)
        ndc = clip[..., :3] / clip[..., 3:4]
        screen = np.empty((t, n, 3), np.float32)
        screen[..., 0] = (ndc[..., 0] + 1) * 0.5 * cfg.width
        screen[..., 1] = (1 - ndc[..., 1]) * 0.5 * cfg.height  # row 0 at the top
        screen[..., 2] = ndc[..., 2]
        out = np.empty((t, cfg.height, cfg.width, 3), np.uint8)
        if self.threads > 1 and t > 1:  # numpy releases the GIL in its heavy loops
            with ThreadPoolExecutor(self.threads) as pool:
                out[:] = np.stack(list(pool.map(self._frame, screen, lit, [triangles] * t)))
        else:
            for i in range(t):
                out[i] = self._frame(screen[i], lit[i], triangles)
        return out

    def _frame(self, screen: np.ndarray, lit: np.ndarray, triangles: np.ndarray) -> np.ndarray:
        cfg = self.config
        image = np.empty((cfg.height * cfg.width, 3), np.uint8)
        image[:] = cfg.background
        pixel, face, weights = rasterize(screen, triangles, cfg.width, cfg.height)
        if len(pixel):
            rgb = np.einsum("mk,mkc->mc", weights, lit[triangles[face]])  # (M, 3)
            image[pixel] = (rgb * 255 + 0.5).astype(np.uint8)
        return image.reshape(cfg.height, cfg.width, 3)


def rasterize(screen: np.ndarray, triangles: np.ndarray, width: int, height: int):
    """Visible fragments of a triangle mesh at pixel centres.

    screen: (N, 3) pixel x, pixel y (row 0 at the top), NDC depth. Returns the flat pixel
    index (M,), the triangle drawn there (M,) and its barycentric weights (M, 3), nearest
    triangle per pixel. Each triangle is scanned row by row between its edges (so no pixel
    outside it is visited), then the depth test keeps the nearest fragment of each pixel.
    """
    p = screen[triangles].astype(np.float64)  # (F, 3, 3)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    y0 = np.clip(np.ceil(y.min(1) - 0.5), 0, height).astype(np.int64)
    y1 = np.clip(np.floor(y.max(1) - 0.5), -1, height - 1).astype(np.int64)
    rows = y1 - y0 + 1
    # Rows grow downwards, so a front face (counter-clockwise in NDC) has a negative area here.
    keep = (area < -1e-9) & (rows > 0) & (z.max(1) > -1) & (z.min(1) < 1)
    keep &= (x.max(1) > 0.5) & (x.min(1) < width - 0.5)
    tri = np.flatnonzero(keep)
    if len(tri) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 3), np.float32)
    # Barycentric weight k as a plane over the image: w_k = a_k * x + b_k * y + c_k.
    nxt, prv = [1, 2, 0], [2, 0, 1]
    inv = 1.0 / area[tri, None]
    xt, yt, zt = x[tri], y[tri], z[tri]
    a = (yt[:, nxt] - yt[:, prv]) * inv  # (F', 3)
    b = (xt[:, prv] - xt[:, nxt]) * inv
    c = (xt[:, nxt] * yt[:, prv] - xt[:, prv] * yt[:, nxt]) * inv
    plane = np.stack([(a * zt).sum(1), (b * zt).sum(1), (c * zt).sum(1)], 1).astype(np.float32)
    # One span per (triangle, row): where all three weights are >= 0.
    row_tri = np.repeat(np.arange(len(tri)), rows[tri])
    row_y = y0[tri][row_tri] + _ragged_arange(rows[tri])
    need = -(b[row_tri] * (row_y[:, None] + 0.5) + c[row_tri])  # a_k * x >= need_k
    slope = a[row_tri]
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = need / slope
    lo = np.where(slope > 0, bound, -np.inf).max(1)
    hi = np.where(slope < 0, bound, np.inf).min(1)
    blocked = ((slope == 0) & (need > 0)).any(1)
    col0 = np.clip(np.ceil(lo - 0.5), 0, width).astype(np.int64)
    col1 = np.clip(np.floor(hi - 0.5), -1, width - 1).astype(np.int64)
    count = np.where(blocked, 0, np.clip(col1 - col0 + 1, 0, None))
    span = np.repeat(np.arange(len(row_y)), count)
    px = (col0[span] + _ragged_arange(count)).astype(np.float32) + 0.5  # pixel centres
    py = row_y[span].astype(np.float32) + 0.5
    local = row_tri[span]
    depth = plane[local, 0] * px + plane[local, 1] * py + plane[local, 2]
    visible = np.flatnonzero((depth > -1) & (depth < 1))
    pixel = py[visible].astype(np.int64) * width + px[visible].astype(np.int64)
    # Depth test: most pixels see one fragment; sort only the contested ones.
    contested = np.bincount(pixel, minlength=width * height)[pixel] > 1
    alone = visible[~contested]
    fight = visible[contested]
    order = np.argsort(pixel[contested] + (depth[fight].astype(np.float64) + 1.0) * 0.25)
    ranked = pixel[contested][order]
    first = np.ones(len(ranked), bool)
    first[1:] = ranked[1:] != ranked[:-1]
    chosen = np.concatenate([alone, fight[order[first]]])
    pixel = np.concatenate([pixel[~contested], ranked[first]])
    local = local[chosen]
    af, bf, cf = (coefficient.astype(np.float32)[local] for coefficient in (a, b, c))
    bary = af * px[chosen, None] + bf * py[chosen, None] + cf
    return pixel, tri[local], np.clip(bary, 0, 1)


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """concatenate([arange(n) for n in counts]) without a Python loop."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


# ---- factory -------------------------------------------------------------------------------


def make_scene(
    face_model: str = "arkit58",
    camera: Camera | None = None,
    model_path=None,
    appearance: Appearance | None = None,
):
    """Geometry builder for a face model name (`model_path`: FLAME/FaceVerse model file)."""
    from reactface_core.face.models import get_face_model

    name = get_face_model(face_model).name
    if name == "arkit58":
        from reactface_core.face.scene import FaceScene

        return FaceScene(camera=camera, appearance=appearance)
    if name == "faceverse58":
        from reactface_core.face.faceverse import FaceVerseScene

        return FaceVerseScene(model_path, camera=camera, appearance=appearance)
    from reactface_core.face.flame import FlameScene

    return FlameScene(model_path, camera=camera, appearance=appearance)


def make_renderer(
    face_model: str = "arkit58",
    backend: str = "auto",
    config: RenderConfig | None = None,
    model_path=None,
    scene=None,
) -> Renderer:
    """A renderer for `face_model`; `auto` tries moderngl (EGL) and falls back to numpy.

    `scene`: draw this prebuilt scene instead (anything with `camera`, `vertex_count`,
    `triangles` whose geometry goes to `Renderer.draw`, e.g. the synthetic world's stage)."""
    if backend not in BACKENDS:
        raise ValueError(f"render backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    config = config or RenderConfig()
    if scene is None:
        scene = make_scene(face_model, config.camera, model_path, config.appearance)
    if backend == "numpy":
        return NumpyRenderer(scene, config)
    try:
        return ModernGLRenderer(scene, config)
    except Exception as error:  # no EGL, no moderngl, no usable driver
        if backend == "moderngl":
            raise RuntimeError(f"moderngl EGL renderer unavailable: {error}") from error
        warnings.warn(
            f"moderngl EGL rendering unavailable ({error}); falling back to the slower numpy "
            "rasterizer",
            RuntimeWarning,
            stacklevel=2,
        )
        return NumpyRenderer(scene, config)
