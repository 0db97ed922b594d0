"""Raw speaker landmarks from camera frames (contract 1) with the legacy MediaPipe mesh.

The legacy `mp.solutions.face_mesh` graph ships its models inside the `mediapipe==0.10.21`
wheel, so nothing is downloaded. One `FaceLandmarker` serves both worlds:

- online, frame by frame (`landmarker(frame)`), as the ROS reaction node does;
- offline, a whole video file or frame folder (`landmarks_from_video`).

In "video" mode MediaPipe tracks the face from the previous frame's landmarks and only runs
the detector when tracking is lost (faster and temporally stable); "image" mode detects on
every frame (for unrelated single images). When several faces are seen the largest
(bounding-box area in pixels) is the speaker. A frame without a face gives a row of NaN,
never an exception.

**Far faces** (`far_faces=True`). The mesh's own detector is MediaPipe's short-range one:
it finds no face whose box is under about an eighth of the image's longer side (a person
beyond ~2 m of a webcam). When the mesh finds no face, the full-range detector (also in
the wheel) looks at the whole frame, and the mesh runs again on a square crop around the
largest face it finds (`FAR_FACE_CROP` times the face box, resized to `FAR_FACE_PIXELS`),
where that face is large; the next frame crops around those landmarks without detecting
again. The landmarks are mapped back to the whole frame, so nothing downstream can tell
how the face was found. A face the mesh finds in the whole frame, however small, stays the
mesh's: the model learnt from the mesh's readings, and read on the crop the small faces it
finds scored lower (README, "Far faces"). The one exception is a small face that the
mesh, having just found it, reads more than `FAR_FACE_GROWTH` times larger than it was a
frame before: no face grows that fast, so the crop reads it until the two agree. Only
small faces are taken from the crop (`MESH_MIN_FACE`): one large enough for the mesh that
the mesh did not take is partly covered or cut by the frame's edge, and stays unseen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data.react import FRAME_SUFFIXES, frame_files
from reactface_core.native_logs import filter_native_stderr
from reactface_core.perception.landmarks import NUM_LANDMARKS

FAR_FACE_CROP = 3.0  # side of the crop around a far face, in face-box sides
FAR_FACE_PIXELS = 256  # the crop's side once resized: the face fills a third of it
# The mesh's own detector finds every face whose landmark box is this tall over the image's
# longer side (measured on renders of the synthetic world, `world.config.DetectorNoise`).
MESH_MIN_FACE = 0.14
FAR_FACE_GROWTH = 1.25  # a face grows less than this from one frame to the next


class FaceLandmarker:
    """RGB frames -> (468, 3) raw landmarks (x, y in [0, 1] of width/height, z in x units)."""

    def __init__(
        self,
        mode: str = "video",
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        far_faces: bool = False,
    ) -> None:
        if mode not in ("video", "image"):
            raise ValueError(f"mode must be 'video' (tracking) or 'image' (static), got {mode!r}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {max_faces}")
        self.mode = mode
        self._options = dict(
            static_image_mode=mode == "image",
            max_num_faces=max_faces,
            refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self._mesh = _face_mesh(**self._options)
        self._far = _FarFaces(min_detection_confidence) if far_faces else None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One RGB frame (H, W, 3) uint8 (gray and RGBA accepted) -> (468, 3) float32."""
        image = _as_rgb_uint8(frame)
        face = _largest_face(self._mesh.process(image), image.shape)
        if self._far is not None:
            face = self._far.read(image, face)
        if face is None:
            return np.full((NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
        return face

    def track(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """A sequence of frames -> (T, 468, 3) float32, NaN rows where no face was found."""
        rows = [self(frame) for frame in frames]
        if not rows:
            return np.zeros((0, NUM_LANDMARKS, 3), dtype=np.float32)
        return np.stack(rows)

    def reset(self) -> None:
        """Forget the tracked face (call between unrelated videos)."""
        self._mesh.close()
        self._mesh = _face_mesh(**self._options)
        if self._far is not None:
            self._far.forget()

    def close(self) -> None:
        self._mesh.close()
        if self._far is not None:
            self._far.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _largest_face(result, shape) -> np.ndarray | None:
    """The largest face (bounding-box area in pixels) of a mesh result, (468, 3), or None."""
    if not result.multi_face_landmarks:
        return None
    height, width = shape[:2]
    faces = [
        np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
        for face in result.multi_face_landmarks
    ]
    areas = [np.ptp(f[:, 0]) * width * np.ptp(f[:, 1]) * height for f in faces]
    return faces[int(np.argmax(areas))]


class _FarFaces:
    """Faces too small for the mesh's detector: the full-range detector finds them, the
    mesh reads them on an enlarged crop (module docstring)."""

    def __init__(self, min_detection_confidence: float) -> None:
        from mediapipe.python.solutions.face_detection import FaceDetection

        self._detector = FaceDetection(
            model_selection=1, min_detection_confidence=min_detection_confidence
        )
        self._mesh = _face_mesh(
            static_image_mode=True,
            max_num_faces=1,
            refine_landmarks=False,
            min_detection_confidence=min_detection_confidence,
        )
        self._box = None  # (x0, y0, side) pixels of the face to crop around next frame
        self._previous = None  # the last frame's face, (x0, y0, x1, y1) pixels, or None

    def find(self, image: np.ndarray) -> np.ndarray | None:
        """(468, 3) landmarks of the whole frame, or None: no far face either."""
        import cv2

        height, width = image.shape[:2]
        box = self._box if self._box is not None else self._detect(image)
        self._box = None
        if box is None or box[2] < 1.0:
            return None
        x0, y0, side = box
        scale = FAR_FACE_PIXELS / side  # crop pixels per frame pixel
        warp = np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])
        crop = cv2.warpAffine(
            image, warp, (FAR_FACE_PIXELS, FAR_FACE_PIXELS), flags=cv2.INTER_LINEAR
        )
        face = _largest_face(self._mesh.process(crop), crop.shape)
        if face is None:
            return None
        # crop units (x, y of the crop's side, z in x units) -> the whole frame's
        face = face * np.float32(side) + np.array([x0, y0, 0.0], np.float32)
        if not _small(face, image.shape):
            return None  # the mesh's to find: covered or cut, not far
        self._box = _crop_box(face[:, :2])
        return face / np.array([width, height, width], np.float32)

    def read(self, image: np.ndarray, found: np.ndarray | None) -> np.ndarray | None:
        """The speaker's (468, 3) landmarks given the mesh's on the whole frame (`found`, or
        None, then a far face is searched for). The mesh's, unless they are the face of the
        last frame grown by more than `FAR_FACE_GROWTH`: no face grows that fast, but the
        mesh reads a small face it has just found too large at first (1.5-1.7 times on a
        real face 56 px high); then the crop reads it, until the two agree."""
        face = self._read(image, found)
        self._previous = None if face is None else _pixel_box(face, image.shape)
        return face

    def _read(self, image: np.ndarray, found: np.ndarray | None) -> np.ndarray | None:
        if found is None:
            return self.find(image)
        if self._previous is not None and _grown(_pixel_box(found, image.shape), self._previous):
            if self._box is None:  # the mesh read the last frame: crop around its face
                self._box = _crop_box(self._previous.reshape(2, 2))
            face = self.find(image)
            if face is not None:
                return face
        self._box = None  # the mesh has it: a far face lost later is searched anew
        return found

    def forget(self) -> None:
        """Drop the face followed so far: the next far face is detected afresh (neither
        the detector nor the crop's mesh, in image mode, keeps anything between frames)."""
        self._box = None
        self._previous = None

    def _detect(self, image: np.ndarray):
        result = self._detector.process(image)
        if not result.detections:
            return None
        height, width = image.shape[:2]
        boxes = [d.location_data.relative_bounding_box for d in result.detections]
        box = max(boxes, key=lambda b: b.width * b.height)
        x0, y0 = box.xmin * width, box.ymin * height
        corners = np.array([[x0, y0], [x0 + box.width * width, y0 + box.height * height]])
        return _crop_box(corners)

    def close(self) -> None:
        self._detector.close()
        self._mesh.close()


def _small(points: np.ndarray, shape) -> bool:
    """Whether a face's points (pixels, (468, >= 2)) are too small for the mesh's own
    detector in an image of `shape` (`MESH_MIN_FACE`)."""
    return bool(np.ptp(points[:, 1]) < MESH_MIN_FACE * max(shape[:2]))


def _pixel_box(face: np.ndarray, shape) -> np.ndarray:
    """(x0, y0, x1, y1) pixels of a face's (468, 3) landmarks in an image of `shape`."""
    pixels = face[:, :2] * np.array([shape[1], shape[0]], np.float32)
    return np.concatenate([pixels.min(axis=0), pixels.max(axis=0)])


def _grown(box: np.ndarray, previous: np.ndarray) -> bool:
    """Whether face `box` is the `previous` face (its centre within half that face's
    size of the previous one's) grown by more than `FAR_FACE_GROWTH` (longer sides)."""
    size, before = (box[2:] - box[:2]).max(), (previous[2:] - previous[:2]).max()
    shift = (box[:2] + box[2:]) / 2 - (previous[:2] + previous[2:]) / 2
    return bool(np.abs(shift).max() < before / 2 and size > FAR_FACE_GROWTH * before)


def _crop_box(points: np.ndarray) -> tuple[float, float, float]:
    """(x0, y0, side): the square FAR_FACE_CROP times the points' box, on its centre."""
    low, high = points.min(axis=0), points.max(axis=0)
    side = FAR_FACE_CROP * float(max(high - low))
    centre = (low + high) / 2
    return float(centre[0] - side / 2), float(centre[1] - side / 2), side


def landmarks_from_video(path: str | Path, landmarker: FaceLandmarker | None = None) -> np.ndarray:
    """Video file (or folder of frame images) -> (T, 468, 3) float32 at 25 fps.

    Videos at another frame rate are sampled at 25 fps (the latest source frame at or
    before each 25 fps instant). Raises ValueError naming the file if it cannot be read.
    """
    own = landmarker is None
    if own:
        landmarker = FaceLandmarker(mode="video")
    else:
        landmarker.reset()  # do not carry the previous video's face into this one
    try:
        return landmarker.track(read_frames(path))
    finally:
        if own:
            landmarker.close()


def read_frames(path: str | Path) -> Iterator[np.ndarray]:
    """RGB frames of a video file or of a folder of images (`react.frame_files` order), at 25 fps."""
    path = Path(path)
    if path.is_dir():
        return _folder_frames(path)
    return _video_frames(path)


def _folder_frames(folder: Path) -> Iterator[np.ndarray]:
    import cv2

    files = frame_files(folder)
    if not files:
        raise ValueError(f"frame folder {folder} holds no {'/'.join(FRAME_SUFFIXES)} images")

    def frames():
        for file in files:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"cannot read frame image {file}")
            yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    return frames()


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    import cv2

    if not path.is_file():
        raise ValueError(f"video file {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise ValueError(f"cannot decode video file {path} (expected an mp4/avi OpenCV can read)")
    fps = capture.get(cv2.CAP_PROP_FPS) or FPS

    def frames():
        try:
            frame, index, instant = first, 0, 0
            while frame is not None:
                # 25 fps instant k shows source frame floor(k * fps / 25)
                while np.floor(instant * fps / FPS + 1e-9) <= index:
                    yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    instant += 1
                ok, frame = capture.read()
                frame = frame if ok else None
                index += 1
        finally:
            capture.release()

    return frames()


def _as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 8:
        raise ValueError(f"expected an RGB image (H, W, 3), got an array of shape {frame.shape}")
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating) and frame.max(initial=0) <= 1.0:
            frame = frame * 255.0
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame[:, :, :3])


def _face_mesh(**options):
    filter_native_stderr()  # the graph's native log noise, from its first line on
    try:
        from mediapipe.python.solutions.face_mesh import FaceMesh
    except ImportError as error:
        raise RuntimeError(
            "face landmarks need mediapipe==0.10.21 (the legacy face mesh); "
            "`pip install mediapipe==0.10.21` or the pinned requirements.txt"
        ) from error
    return FaceMesh(**options)
