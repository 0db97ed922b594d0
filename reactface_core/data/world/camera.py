"""The virtual camera of the synthetic world and a face detector's imperfections.

Rig vertices (face frame, metres; `reactface_core.face.rig`) are projected through the
same pinhole camera the face renderer uses (`face.scene.Camera`: on the +z axis, looking at
the face centre, 19 degree vertical field of view) onto a 256x256 image, and written in
the MediaPipe face-mesh convention of contract 1: x, y in [0, 1] of the image
width/height (y down), z a relative depth in units of x (smaller = nearer the camera, 0 at
the face's mean depth). So a rendered video of the same coefficients run through MediaPipe
gives (nearly) the same landmarks, and `perception.landmarks.visual_features` treats both
alike.

A real detector is not exact: `detector_noise` adds per-point jitter, a temporally
correlated whole-face shake, a small scale wobble, and dropped frames (rows of NaN), both
isolated and in short runs as when the face is briefly occluded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reactface_core.data.world import signals
from reactface_core.face.scene import Camera

IMAGE_SIZE = 256


def project(vertices: np.ndarray, camera: Camera, size: int = IMAGE_SIZE) -> np.ndarray:
    """(T, 468, 3) face-frame vertices -> (T, 468, 3) raw landmarks seen by `camera`."""
    points = np.asarray(vertices, np.float64) - np.asarray(camera.target)
    focal = size / 2 / np.tan(np.radians(camera.fov_degrees) / 2)
    depth = camera.distance - points[..., 2]
    x = size / 2 + focal * points[..., 0] / depth
    y = size / 2 - focal * points[..., 1] / depth
    centre = depth.mean(axis=1, keepdims=True)
    return np.stack([x, y, (depth - centre) * focal / centre], axis=-1) / size


@dataclass(frozen=True)
class DetectorNoise:
    """How imperfect the simulated landmark detector is (pixels of a 256x256 image)."""

    jitter_px: float = 0.35  # independent per point and frame
    shake_px: float = 0.5  # whole-face shift, correlated over ~3 frames
    scale_wobble: float = 0.003  # relative size jitter per frame
    drop_rate: float = 0.003  # isolated frames without a face
    occlusion_rate: float = 0.02  # expected short runs (4-15 frames) of lost face per second


def detector_noise(
    rng: np.random.Generator,
    landmarks: np.ndarray,
    noise: DetectorNoise,
    size: int = IMAGE_SIZE,
    fps: int = 25,
) -> np.ndarray:
    """Noisy float32 copy of clean raw landmarks (T, 468, 3), NaN rows for lost frames."""
    frames = len(landmarks)
    pixel = 1.0 / size
    out = np.array(landmarks, dtype=np.float32)
    centre = out.mean(axis=1, keepdims=True)
    wobble = 1.0 + noise.scale_wobble * rng.standard_normal((frames, 1, 1), dtype=np.float32)
    out = centre + (out - centre) * wobble
    shake = signals.ou_process(rng, frames, 3.0, noise.shake_px * pixel, 2).astype(np.float32)
    out[..., :2] += shake[:, None, :]
    out += np.float32(noise.jitter_px * pixel) * rng.standard_normal(out.shape, dtype=np.float32)

    lost = rng.random(frames) < noise.drop_rate
    for start in np.flatnonzero(rng.random(frames) < noise.occlusion_rate / fps):
        lost[start : start + int(rng.integers(4, 16))] = True
    out[lost] = np.nan
    return out
