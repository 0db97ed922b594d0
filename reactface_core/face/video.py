"""Write rendered frames as .mp4 (OpenCV), .gif (Pillow) or a folder of PNG frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reactface_core.contract import FPS

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov")


class FrameWriter:
    """Streams uint8 RGB frames (T, H, W, 3) chunk by chunk to `path`.

    The format follows the suffix: .mp4/.avi/.mov -> video (mp4v codec), .gif -> animated
    GIF, no suffix -> a folder of `frame_00000.png` files.
    """

    def __init__(self, path: str | Path, fps: float = FPS):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path, self.fps = Path(path), float(fps)
        self.kind = self._kind(self.path)
        self.count = 0
        self._video = None
        self._gif: list = []
        if self.kind == "png":
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    @classmethod
    def check_path(cls, path: str | Path) -> None:
        """Raise ValueError now if `path` has a suffix no writer handles."""
        cls._kind(Path(path))

    @staticmethod
    def _kind(path: Path) -> str:
        suffix = path.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            return "video"
        if suffix == ".gif":
            return "gif"
        if suffix == "":
            return "png"
        raise ValueError(
            f"--out {path}: unknown output type {suffix!r}; use .mp4, .avi, .mov, .gif or a "
            "folder name (no suffix) for PNG frames"
        )

    def write(self, frames: np.ndarray) -> None:
        import cv2
        from PIL import Image

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}"
            )
        for frame in frames:
            if self.kind == "video":
                if self._video is None:
                    height, width = frame.shape[:2]
                    fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                    self._video = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
                    if not self._video.isOpened():
                        raise OSError(f"OpenCV cannot write video {self.path}")
                self._video.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            elif self.kind == "gif":
                self._gif.append(Image.fromarray(frame))
            else:
                Image.fromarray(frame).save(self.path / f"frame_{self.count:05d}.png")
            self.count += 1

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        if self._gif:
            first, *rest = self._gif
            duration = max(20, round(1000 / self.fps / 10) * 10)  # GIF delays are 10 ms steps
            first.save(self.path, save_all=True, append_images=rest, duration=duration, loop=0)
            self._gif = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
