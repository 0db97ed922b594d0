"""What a camera does to a synthetic world's speaker features, learnt from a few tracked clips.

A world's Landmark_files are its rig's exact points; a robot sees the speaker through
MediaPipe, which reports the face regions at a lower gain, mixed with one another and with
noise that has a shape (it tracks the mouth and the eyes as wholes, and loses the brows).
Tracking every render costs about 2 h of 2 cores for a 400-clip world; tracking 20 of them
(`reactface prepare --only camera --split train --clips 20`, about 6 min) is enough to learn
the view and lend it to every clip:

    camera features  y_t = A (x_t - mean_x) + mean_y + r_t

x_t: the rig's features of frame t (D_v), y_t: MediaPipe's on the render of the same frame.
A is a ridge regression fitted on the tracked clips' frames for the face-region columns;
head rotation and motion pass as they are (MediaPipe follows them, and a fit only adds its
own error there). r_t is the tracked clips' own residual y_t - A x_t, replayed: each window
borrows a span of one tracked clip's residual, so the noise keeps MediaPipe's correlations
across columns and over time, and the frames where MediaPipe found no face stay faceless.
A tracked clip whose head pose MediaPipe misread throughout (a residual rotation far above
the other clips') is left out of the bank: replayed, it would turn every borrowing window's
head by a pose error no other clip shows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.perception.landmarks import POSE_DIM, ROTATION_DIM

RIDGE = 0.01  # A's ridge, per frame of fit data, on the rig's (unnormalised) features
FIT_SPLIT = "train"
MISREAD_POSE = 4.0  # a clip's residual rotation std over the tracked clips' median: left out


@dataclass(frozen=True)
class CameraView:
    """The fitted view: the map of the face-region columns and the residuals to replay."""

    mean_rig: np.ndarray  # (D_v,)
    mean_camera: np.ndarray  # (D_v - POSE_DIM,)
    matrix: np.ndarray  # (D_v, D_v - POSE_DIM)
    residuals: tuple[np.ndarray, ...]  # per banked clip (T', D_v) over the frames with a face
    # in the rig, NaN where MediaPipe found none
    clips: tuple[str, ...]  # the tracked clips fitted on (those with a face)
    banked: tuple[str, ...]  # those whose residuals are replayed (head pose read well)

    def apply(
        self, features: np.ndarray, valid: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T, D_v) rig features and (T,) validity -> as a camera would deliver them."""
        residual = self._residual_span(len(features), rng)
        camera_valid = valid & ~np.isnan(residual[:, 0])
        seen = self.mapped(features) + np.nan_to_num(residual)
        return np.where(camera_valid[:, None], seen, 0.0).astype(np.float32), camera_valid

    def mapped(self, features: np.ndarray) -> np.ndarray:
        """(T, D_v) rig features -> the view without its residual (float64)."""
        seen = features.astype(np.float64)
        seen[:, POSE_DIM:] = (seen - self.mean_rig) @ self.matrix + self.mean_camera
        return seen

    def _residual_span(self, frames: int, rng: np.random.Generator) -> np.ndarray:
        clip = self.residuals[int(rng.integers(len(self.residuals)))]
        start = int(rng.integers(len(clip)))
        return clip[(start + np.arange(frames)) % len(clip)]  # wraps around a short clip


def fit_camera_view(root: str | Path) -> CameraView:
    """Fit the view on every train clip of `root` that has both Landmark_files (with a face)
    and Camera_landmark_files (`reactface prepare --only camera`)."""
    from reactface_core.data.dataset import clip_visual_features  # (it imports this module)

    root = Path(root)
    base = react.split_root(root, FIT_SPLIT)
    tracked = []  # (clip, rig, rig_valid, camera, camera_valid), cut to the shorter source
    for clip in sorted({pair.speaker for pair in react.read_pairs(root, FIT_SPLIT)}):
        camera_path = react.modality_path(base, react.CAMERA_LANDMARK_FILES, clip)
        if not camera_path.exists():
            continue
        rig, rig_valid = clip_visual_features(
            str(react.modality_path(base, react.LANDMARK_FILES, clip))
        )
        if not rig_valid.any():  # a clip without a face (the world makes some) shows nothing
            continue
        camera, camera_valid = clip_visual_features(str(camera_path))
        frames = min(len(rig), len(camera))
        tracked.append(
            (clip, rig[:frames], rig_valid[:frames], camera[:frames], camera_valid[:frames])
        )
    if not tracked:
        raise FileNotFoundError(
            f"no Camera_landmark_files with a face under {base} to learn the camera's view "
            f"from; track a few clips with `reactface prepare --data {root} --only camera "
            f"--split {FIT_SPLIT} --clips 20`"
        )
    both = [rig_valid & camera_valid for _, _, rig_valid, _, camera_valid in tracked]
    x = np.concatenate([rig[seen] for (_, rig, *_), seen in zip(tracked, both, strict=True)])
    y = np.concatenate(
        [camera[seen, POSE_DIM:] for (*_, camera, _), seen in zip(tracked, both, strict=True)]
    )
    x = x.astype(np.float64)
    mean_rig, mean_camera = x.mean(0), y.mean(0)
    centred = x - mean_rig
    gram = centred.T @ centred + RIDGE * len(x) * np.eye(x.shape[1])
    matrix = np.linalg.solve(gram, centred.T @ (y - mean_camera))  # (D_v, D_v - POSE_DIM)
    clips = tuple(clip for clip, *_ in tracked)
    view = CameraView(mean_rig, mean_camera, matrix, (), clips, ())
    residuals = []
    for _, rig, rig_valid, camera, camera_valid in tracked:
        residual = camera - view.mapped(rig)
        residual[~camera_valid] = np.nan  # MediaPipe missed the face: none in the view
        residuals.append(residual[rig_valid].astype(np.float32))  # the rig saw one
    read_well = ~misread_pose(residuals)
    return replace(
        view,
        residuals=tuple(r for r, keep in zip(residuals, read_well, strict=True) if keep),
        banked=tuple(c for c, keep in zip(clips, read_well, strict=True) if keep),
    )


def misread_pose(residuals: list[np.ndarray]) -> np.ndarray:
    """(clips,) bool: the clips whose residual head rotation (largest per-axis std) is over
    MISREAD_POSE times the median clip's; a clip MediaPipe never saw is not misread."""

    def spread(residual: np.ndarray) -> float:
        rotation = residual[~np.isnan(residual[:, 0]), :ROTATION_DIM]
        return float(rotation.std(axis=0).max()) if len(rotation) else np.nan

    spreads = np.array([spread(residual) for residual in residuals])
    if np.isnan(spreads).all():
        return np.zeros(len(residuals), bool)
    return spreads > MISREAD_POSE * np.nanmedian(spreads)


@lru_cache(maxsize=4)
def camera_view(root: str) -> CameraView:
    """The view of a world (fitted once per process: about 10 s for 20 clips)."""
    return fit_camera_view(root)


def window_rng(seed: int, epoch: int, clip: str, start: int) -> np.random.Generator:
    """The residual span a window borrows: fixed by the window, new each epoch."""
    return np.random.default_rng([seed, epoch, zlib.crc32(clip.encode()), start])
