"""The virtual camera of the synthetic world and a face detector's imperfections.

Points in the camera world (face frame axes, metres; `stage.py` places the speaker's
rigged face there) are projected through the same pinhole camera the face renderer uses
(`face.scene.Camera`: on the +z axis, looking down -z, vertical field of view) onto a
width x height image, and written in the MediaPipe face-mesh convention of contract 1:
x, y in [0, 1] of the image width and height (y down), z a relative depth in units of
x (image widths; smaller = nearer the camera, 0 at the face's mean depth). So the aspect
ratio matters, as it does for MediaPipe, and a rendered video of the same scene run
through MediaPipe gives (nearly) the same landmarks.

A real detector is not exact, and less so on a small face: `detector_noise` adds per-point
jitter and a temporally correlated whole-face shake whose size in pixels is a floor plus a
fraction of the face's height (so relative to the face it grows as the face shrinks), a
small scale wobble, and dropped frames (rows of NaN), isolated or in short runs, more
often when the face is small; and it finds no face at all when the face is below the
detector's size limit (`DetectorNoise.min_face`).
"""

from __future__ import annotations

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data.world import signals
from reactface_core.data.world.config import DetectorNoise
from reactface_core.face.scene import Camera

IMAGE_SIZE = 256  # default square image (tests, the renderer's default)


def project(
    points: np.ndarray, camera: Camera, width: int = IMAGE_SIZE, height: int | None = None
) -> np.ndarray:
    """(T, N, 3) camera-world points -> (T, N, 3) raw landmarks seen by `camera` on a
    width x height image (square when `height` is None)."""
    height = width if height is None else height
    points = np.asarray(points, np.float64) - np.asarray(camera.target)
    focal = height / 2 / np.tan(np.radians(camera.fov_degrees) / 2)
    depth = camera.distance - points[..., 2]
    x = width / 2 + focal * points[..., 0] / depth
    y = height / 2 - focal * points[..., 1] / depth
    centre = depth.mean(axis=-1, keepdims=True)
    return np.stack([x / width, y / height, (depth - centre) * focal / centre / width], axis=-1)


def detector_noise(
    rng: np.random.Generator,
    landmarks: np.ndarray,
    noise: DetectorNoise,
    width: int = IMAGE_SIZE,
    height: int | None = None,
    face_pixels: np.ndarray | float | None = None,
) -> np.ndarray:
    """Noisy float32 copy of clean raw landmarks (T, 468, 3), NaN rows for lost frames.

    face_pixels (T,) or scalar: the face's box height in pixels (measured when None)."""
    height = width if height is None else height
    frames = len(landmarks)
    out = np.array(landmarks, dtype=np.float32)
    if face_pixels is None:
        face_pixels = (out[..., 1].max(axis=1) - out[..., 1].min(axis=1)) * height
    face = np.broadcast_to(np.asarray(face_pixels, np.float64), (frames,))
    pixel = np.array([1.0 / width, 1.0 / height, 1.0 / width], np.float32)
    centre = out.mean(axis=1, keepdims=True)
    wobble = 1.0 + noise.scale_wobble * rng.standard_normal((frames, 1, 1), dtype=np.float32)
    out = centre + (out - centre) * wobble
    shake_std = (noise.shake_px + noise.shake_face * face)[:, None]
    shake = signals.ou_process(rng, frames, 3.0, 1.0, 2) * shake_std
    out[..., :2] += (shake * pixel[:2]).astype(np.float32)[:, None, :]
    jitter = (noise.jitter_px + noise.jitter_face * face).astype(np.float32)[:, None, None]
    out += jitter * pixel * rng.standard_normal(out.shape, dtype=np.float32)

    small = np.clip(noise.small_face_px / np.maximum(face, 1.0), 1.0, 20.0) ** 2
    lost = rng.random(frames) < noise.drop_rate * small
    for start in np.flatnonzero(rng.random(frames) < noise.occlusion_rate / FPS):
        lost[start : start + int(rng.integers(4, 16))] = True
    out[lost] = np.nan
    return out
