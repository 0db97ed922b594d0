"""The project's own rendered faces through MediaPipe land where the rig says they are.

This is the bridge between the synthetic world (rig vertices projected through the virtual
camera) and a real camera (MediaPipe on images): both must give the same visual features.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from reactface_core.data.world.camera import project  # noqa: E402
from reactface_core.face.models import ARKIT_BLENDSHAPES  # noqa: E402
from reactface_core.face.render import make_renderer  # noqa: E402
from reactface_core.perception.face_tracker import FaceLandmarker  # noqa: E402
from reactface_core.perception.landmarks import (  # noqa: E402
    DEFORMATION_GAIN,
    FEATURE_LANDMARKS,
    align_faces,
)


@pytest.fixture(scope="module")
def rendered():
    coefficients = np.zeros((5, 58), np.float32)  # neutral, jaw, posed, posed + jaw, other
    coefficients[[1, 3], ARKIT_BLENDSHAPES.index("jawOpen")] = 1.0
    coefficients[[2, 3], 52:55] = [0.2, -0.3, 0.15]  # pitch, yaw, roll
    coefficients[4, 52:55] = [-0.15, 0.35, -0.1]
    with make_renderer("arkit58") as renderer:
        frames = renderer.render(coefficients)
        assert frames.shape == (5, 256, 256, 3)
        expected = project(renderer.scene.rig.vertices(coefficients), renderer.scene.camera, 256)
    with FaceLandmarker(mode="image") as landmarker:
        detected = np.stack([landmarker(frame) for frame in frames])
    return coefficients, detected, expected


def test_rendered_faces_give_landmarks_where_the_rig_put_them(rendered):
    _, detected, expected = rendered
    assert np.isfinite(detected).all()
    error_px = np.linalg.norm(detected[..., :2] - expected[..., :2], axis=-1).mean(axis=1) * 256
    assert error_px.max() < 5.0


def test_rendered_and_projected_faces_give_the_same_alignment(rendered):
    coefficients, detected, expected = rendered
    seen, truth = align_faces(detected), align_faces(expected)
    assert seen.valid.all()
    assert np.abs(seen.head_pose() - coefficients[:, 52:55]).max() < 0.12  # radians
    assert np.abs(seen.head_pose() - truth.head_pose()).max() < 0.12
    seen_shape = seen.shape[:, FEATURE_LANDMARKS] * DEFORMATION_GAIN
    true_shape = truth.shape[:, FEATURE_LANDMARKS] * DEFORMATION_GAIN
    for open_, closed in ((1, 0), (3, 2)):  # jaw opening seen by MediaPipe vs by the rig
        seen_jaw = (seen_shape[open_] - seen_shape[closed]).ravel()
        true_jaw = (true_shape[1] - true_shape[0]).ravel()
        assert np.corrcoef(seen_jaw, true_jaw)[0, 1] > 0.6
        assert 0.4 < np.abs(seen_jaw).mean() / np.abs(true_jaw).mean() < 1.6
