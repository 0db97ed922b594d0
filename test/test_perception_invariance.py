"""Camera invariance of the speaker features on real renders through MediaPipe (issue 12).

One expressive synthetic speaker clip (brows, blinks, squints, smiles, jaw, head nods and
turns) is rendered by the project's renderer at 640x480 through three cameras: 22 deg field
of view centred (the training camera), 60 deg centred, and 60 deg off-centre at webcam
framing. MediaPipe tracks each render; `SpeakerFeatures` turns the landmarks into
features. Per column group, the RMS difference between two cameras' features is compared
with the features' spread over time (their RMS standard deviation per column).

Figures (printed by this test; `pytest -s`): 22 deg vs 60 deg centred meets the 10 % target
for head rotation and motion; the off-centre camera views the face ~20 deg from the side,
and there MediaPipe itself reports expression motion at another gain (brow-to-eye
distance at 0.55-0.75x, correlation 0.7-0.8, measured on its raw image landmarks before
any feature is computed), so those groups miss it; the bounds below guard what is reached.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from reactface_core.face.models import ARKIT_BLENDSHAPES  # noqa: E402
from reactface_core.face.render import RenderConfig, make_renderer  # noqa: E402
from reactface_core.face.scene import Camera  # noqa: E402
from reactface_core.perception.face_tracker import FaceLandmarker  # noqa: E402
from reactface_core.perception.landmarks import COLUMN_GROUPS, visual_features  # noqa: E402

WIDTH, HEIGHT, FRAMES = 640, 480, 150


def expressive_clip(frames: int = FRAMES, seed: int = 0) -> np.ndarray:
    """(T, 58) arkit58 coefficients exercising every face region and the head."""
    rng = np.random.default_rng(seed)
    coefficients = np.zeros((frames, 58), np.float32)

    def track(low, high, period):  # smooth random values, a new target every `period` frames
        knots = rng.uniform(low, high, frames // period + 3)
        return np.interp(np.arange(frames) / period, np.arange(len(knots)), knots)

    def put(names, values):
        for name in names:
            coefficients[:, ARKIT_BLENDSHAPES.index(name)] = np.clip(values, 0, 1)

    brows_up = track(-0.6, 1.0, 12)
    put(["browInnerUp"], brows_up)
    put(["browOuterUpLeft", "browOuterUpRight"], 0.8 * brows_up)
    put(["browDownLeft", "browDownRight"], track(-1.0, 0.8, 15))
    put(["mouthSmileLeft", "mouthSmileRight"], track(-0.3, 1.0, 20))
    put(["jawOpen"], track(-0.2, 0.6, 5))
    put(["eyeSquintLeft", "eyeSquintRight"], track(-0.5, 0.8, 25))
    blinks = np.zeros(frames)
    for start in range(10, frames - 5, 37):
        blinks[start : start + 5] = [0.5, 1.0, 1.0, 0.6, 0.2]
    put(["eyeBlinkLeft", "eyeBlinkRight"], blinks)
    coefficients[:, 52] = track(-0.15, 0.15, 15)  # pitch
    coefficients[:, 53] = track(-0.2, 0.2, 20)  # yaw
    coefficients[:, 54] = track(-0.1, 0.1, 25)  # roll
    return coefficients


def camera(fov: float, distance: float, right: float = 0.0, up: float = 0.0) -> Camera:
    """A camera whose image shows the face centre `right`, `up` image sizes off the centre."""
    focal = HEIGHT / 2 / np.tan(np.radians(fov) / 2)  # pixels
    shift = (-right * WIDTH / focal * distance, 0.006 - up * HEIGHT / focal * distance, 0.0)
    return Camera(distance=distance, fov_degrees=fov, target=shift)


CAMERAS = {
    "fov22_centred": camera(22.0, 0.55),
    "fov60_centred": camera(60.0, 0.55),
    "fov60_off_centre": camera(60.0, 0.3, right=0.2, up=0.12),  # face ~ 30 % of the width
}


@pytest.fixture(scope="module")
def features():
    clip = expressive_clip()
    out = {}
    for name, view in CAMERAS.items():
        config = RenderConfig(width=WIDTH, height=HEIGHT, camera=view)
        with make_renderer("arkit58", config=config) as renderer:
            frames = renderer.render(clip)
        with FaceLandmarker(mode="video") as landmarker:
            raw = np.stack([landmarker(frame) for frame in frames])
        out[name] = visual_features(raw, aspect=HEIGHT / WIDTH)
    return out


def difference_ratios(a, b) -> dict[str, float]:
    """Per column group: RMS(a - b) / RMS spread over time, on frames valid in both."""
    (fa, va), (fb, vb) = a, b
    both = va & vb
    ratios = {}
    for group, columns in COLUMN_GROUPS.items():
        x, y = fa[both][:, columns], fb[both][:, columns]
        spread = np.sqrt(0.5 * (x.var(axis=0).mean() + y.var(axis=0).mean()))
        ratios[group] = float(np.sqrt(((x - y) ** 2).mean()) / spread)
    return ratios


def test_every_render_is_tracked(features):
    for name, (_, valid) in features.items():
        assert valid.all(), name


def test_field_of_view_change_keeps_head_rotation_and_motion_within_10_percent(features):
    ratios = difference_ratios(features["fov22_centred"], features["fov60_centred"])
    print("\n22 deg vs 60 deg centred:", {k: round(v, 3) for k, v in ratios.items()})
    assert ratios["rotation"] <= 0.10 and ratios["motion"] <= 0.10
    assert max(ratios.values()) < 0.4


def test_off_centre_wide_angle_camera_stays_within_the_measured_bounds(features):
    ratios = difference_ratios(features["fov22_centred"], features["fov60_off_centre"])
    print("\n22 deg centred vs 60 deg off-centre:", {k: round(v, 3) for k, v in ratios.items()})
    assert ratios["rotation"] < 0.35 and ratios["motion"] < 0.45 and ratios["lips"] < 0.7
    assert max(ratios.values()) < 1.3
