"""Renderers: image assertions on real renders from both backends."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from reactface_core.face import mesh as face_mesh
from reactface_core.face.models import ARKIT_BLENDSHAPES, get_face_model
from reactface_core.face.render import (
    ModernGLRenderer,
    NumpyRenderer,
    RenderConfig,
    make_renderer,
)
from reactface_core.face.scene import Appearance, FaceScene

MODEL = get_face_model("arkit58")
BACKENDS = ("moderngl", "numpy")
SIZE = 256


def coefficients(**values: float) -> np.ndarray:
    c = MODEL.neutral()
    for name, value in values.items():
        c[0, MODEL.index(name)] = value
    return c


@pytest.fixture(scope="module")
def scene():
    return FaceScene()


@pytest.fixture(scope="module")
def renderers(scene):
    made = {"moderngl": ModernGLRenderer(scene), "numpy": NumpyRenderer(scene)}
    yield made
    made["moderngl"].close()


def projected(renderer, coefficients_: np.ndarray, vertices) -> np.ndarray:
    """Pixel (x, y) of skin vertices, for choosing image regions to look at."""
    positions = renderer.scene.geometry(coefficients_).positions[0, list(vertices)]
    clip = np.c_[positions, np.ones(len(positions))] @ renderer.projection.T
    ndc = clip[:, :3] / clip[:, 3:]
    cfg = renderer.config
    return np.c_[(ndc[:, 0] + 1) * cfg.width / 2, (1 - ndc[:, 1]) * cfg.height / 2]


def box(points: np.ndarray, margin: int = 2) -> tuple[slice, slice]:
    x0, y0 = np.floor(points.min(0)).astype(int) - margin
    x1, y1 = np.ceil(points.max(0)).astype(int) + margin
    return slice(y0, y1), slice(x0, x1)


def foreground(frames: np.ndarray, config: RenderConfig) -> np.ndarray:
    return np.abs(frames.astype(int) - config.background).max(-1) > 12


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_are_uint8_with_a_face_on_the_background(renderers, backend):
    frames = renderers[backend].render(MODEL.neutral(2))
    assert frames.shape == (2, SIZE, SIZE, 3) and frames.dtype == np.uint8
    face = foreground(frames, renderers[backend].config)[0]
    assert 0.25 < face.mean() < 0.7
    exact = (frames[0] == renderers[backend].config.background).all(-1)
    assert exact[:, :16].all() and exact[:, -16:].all() and exact.mean() > 0.3
    ((cx, cy),) = projected(renderers[backend], MODEL.neutral(), [151]).astype(int)  # forehead
    skin = frames[0][cy - 4 : cy + 4, cx - 4 : cx + 4]
    r, g, b = skin.reshape(-1, 3).mean(0)
    assert r > g > b and r > 150  # a warm skin tone, lit


def test_skin_and_hair_colours_are_configurable(scene):
    config = RenderConfig(appearance=Appearance(skin=(0.3, 0.55, 0.9), hair=(0.1, 0.1, 0.1)))
    renderer = make_renderer("arkit58", "numpy", config)
    frame = renderer.render(MODEL.neutral())[0].astype(int)
    ((cx, cy),) = projected(renderer, MODEL.neutral(), [151]).astype(int)
    r, g, b = frame[cy - 4 : cy + 4, cx - 4 : cx + 4].reshape(-1, 3).mean(0)
    assert b > g > r + 30  # a blue robot skin
    top = frame[: SIZE // 8, SIZE // 2 - 10 : SIZE // 2 + 10]
    assert (top.max(-1) < 60).mean() > 0.3  # dark hair above the forehead


@pytest.mark.parametrize("backend", BACKENDS)
def test_jaw_open_enlarges_the_dark_mouth(renderers, backend):
    renderer = renderers[backend]
    closed, opened = renderer.render(np.concatenate([MODEL.neutral(), coefficients(jawOpen=1)]))
    region = box(projected(renderer, coefficients(jawOpen=1), face_mesh.LIPS_OUTER), 4)

    def dark(frame):
        return int((frame[region].astype(float).mean(-1) < 45).sum())

    assert dark(closed) < 60  # the line where the lips meet
    assert dark(opened) > 10 * dark(closed) and dark(opened) > 600


@pytest.mark.parametrize("backend", BACKENDS)
def test_blink_closes_the_eye(renderers, backend):
    renderer = renderers[backend]
    frames = renderer.render(
        np.concatenate([MODEL.neutral(), coefficients(eyeBlinkLeft=1, eyeBlinkRight=1)])
    )
    for eye in (face_mesh.EYE_RIGHT, face_mesh.EYE_LEFT):
        region = box(projected(renderer, MODEL.neutral(), eye), 1)
        opened, closed = (frame[region].astype(int) for frame in frames)

        def sclera(patch):  # bright and grey, unlike lit skin
            return int(((patch.min(-1) > 160) & (np.ptp(patch, -1) < 25)).sum())

        def iris(patch):
            return int((patch.mean(-1) < 70).sum())

        assert sclera(opened) >= 6 and iris(opened) >= 40
        assert sclera(closed) == 0
        assert iris(closed) < 0.4 * iris(opened)  # only the lash line is left


def test_gaze_moves_the_irises_the_right_way(renderers):
    renderer = renderers["numpy"]
    c = np.concatenate(
        [
            coefficients(eyeLookInLeft=1.0, eyeLookOutRight=1.0),  # both look to the right
            MODEL.neutral(),
            coefficients(eyeLookOutLeft=1.0, eyeLookInRight=1.0),  # both look to the left
        ]
    )
    frames = renderer.render(c).astype(float)
    for eye in (face_mesh.EYE_RIGHT, face_mesh.EYE_LEFT):
        region = box(projected(renderer, MODEL.neutral(), eye), 1)
        centres = [np.nonzero(frame[region].mean(-1) < 25)[1].mean() for frame in frames]  # pupil
        # The subject's left is the image's right.
        assert centres[0] < centres[1] - 3 and centres[2] > centres[1] + 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_mirrored_coefficients_give_mirrored_images(scene, backend):
    config = RenderConfig(key_light=(0.0, 0.5, 1.0), fill_light=(0.0, -0.3, 1.0))
    renderer = (ModernGLRenderer if backend == "moderngl" else NumpyRenderer)(scene, config)
    left = coefficients(
        mouthSmileLeft=1.0, eyeBlinkLeft=0.7, browOuterUpLeft=1.0, eyeLookOutLeft=0.8,
        eyeLookInRight=0.8, jawLeft=0.5, noseSneerLeft=0.8, headYaw=0.35, headRoll=0.15,
        headTranslationX=0.01, jawOpen=0.3,
    )  # fmt: skip
    right = left.copy()
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(a):
                right[0, MODEL.index(name[: -len(a)] + b)] = left[0, i]
    for name in ("headYaw", "headRoll", "headTranslationX"):
        right[0, MODEL.index(name)] *= -1
    image_left, image_right = renderer.render(np.concatenate([left, right])).astype(float)
    renderer.close()
    mirrored_error = np.abs(image_right - image_left[:, ::-1]).mean()
    unmirrored_error = np.abs(image_right - image_left).mean()
    assert unmirrored_error > 8.0  # the two faces really differ
    assert mirrored_error < 0.6  # yet each is the other's mirror image


@pytest.mark.parametrize("backend", BACKENDS)
def test_yaw_moves_the_nose_tip_the_right_way(backend):
    scene = FaceScene()
    nose = np.linalg.norm(scene.rig.mesh.vertices - scene.rig.mesh.vertices[4], axis=1) < 0.006
    scene.colors[: len(nose)][nose] = (0.0, 1.0, 0.0)  # paint the nose tip green
    renderer = (ModernGLRenderer if backend == "moderngl" else NumpyRenderer)(scene)
    yaws = (-0.4, 0.0, 0.4)
    c = MODEL.neutral(3)
    c[:, MODEL.index("headYaw")] = yaws
    frames = renderer.render(c).astype(int)
    renderer.close()
    green = (frames[..., 1] > frames[..., 0] + 60) & (frames[..., 1] > frames[..., 2] + 60)
    assert green.sum((1, 2)).min() > 30
    centre_x = [np.nonzero(mask)[1].mean() for mask in green]
    # + yaw turns the nose to the subject's left, which is the image's right.
    assert centre_x[0] < SIZE / 2 - 15 < SIZE / 2 + 15 < centre_x[2]
    assert abs(centre_x[1] - SIZE / 2) < 2


def test_backends_agree_on_silhouettes(renderers):
    rng = np.random.default_rng(0)
    c = MODEL.neutral(6)
    c[:, :52] = rng.uniform(0, 0.7, (6, 52))
    c[:, 52:55] = rng.uniform(-0.4, 0.4, (6, 3))
    c[:, 55:58] = rng.uniform(-0.02, 0.02, (6, 3))
    masks = [foreground(renderers[b].render(c), renderers[b].config) for b in ("moderngl", "numpy")]
    for gl, cpu in zip(*masks, strict=True):
        iou = (gl & cpu).sum() / (gl | cpu).sum()
        assert iou >= 0.97
    shifted = np.roll(masks[1], 12, axis=2)  # a face 12 px off would fail the bar
    assert ((masks[0] & shifted).sum((1, 2)) / (masks[0] | shifted).sum((1, 2))).max() < 0.9


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_coefficient_shape_names_the_layout(renderers, backend):
    with pytest.raises(ValueError, match=r"expected \(T, 58\) for face model 'arkit58'"):
        renderers[backend].render(np.zeros((4, 56), np.float32))
    c = MODEL.neutral(5)
    c[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite values in 1 frame.*frame 3"):
        renderers[backend].render(c)
    assert renderers[backend].render(MODEL.neutral(0)).shape == (0, SIZE, SIZE, 3)


def test_factory_falls_back_to_numpy_with_a_warning(monkeypatch):
    import moderngl

    from reactface_core.face import render

    def no_egl(*args, **kwargs):
        raise RuntimeError("EGL: no display")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_egl)
    monkeypatch.setattr(render, "_CONTEXT", None)  # as in a fresh process
    with pytest.warns(RuntimeWarning, match="falling back"):
        renderer = make_renderer("arkit58", backend="auto")
    assert isinstance(renderer, NumpyRenderer)
    with pytest.raises(RuntimeError, match="moderngl EGL renderer unavailable"):
        make_renderer("arkit58", backend="moderngl")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(make_renderer("arkit58", backend="numpy"), NumpyRenderer)
    with pytest.raises(ValueError, match="backend must be one of"):
        make_renderer("arkit58", backend="vulkan")
