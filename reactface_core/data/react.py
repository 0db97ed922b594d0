"""The REACT challenge data layout (REACT 2023 / 2024, NoXI + RECOLA + UDIVA): read and write.

Layout (as distributed by the challenge and used by its baseline code)::

    ROOT/
      train.csv  val.csv  test.csv           pairs of clip paths, one row per dyadic clip
      neighbour_emotion_{split}.npy           appropriateness matrix, (2N, 2N)
      dataset.json                            (reactface only, optional: see below)
      {split}/
        Video_files/<clip>.mp4                25 fps, 256x256 face crops (REACT 2024 /
          or Video_files/<clip>/1.png..751.png  ReactFace); a folder of numbered frames
                                              (REACT 2023 baseline)
        Audio_files/<clip>.wav                any rate (the challenge ships 44.1 kHz)
        3D_FV_files/<clip>.npy                (751, 58) FaceVerse: 52 expression, 3 angle,
                                              3 translation (a (751, 1, 58) file squeezes)
        Emotion/<clip>.csv                    (751, 25) with a header row: 15 AUs,
                                              valence, arousal, 8 expression probabilities
        Landmark_files/<clip>.npy             (T, 468, 3) raw face-mesh landmarks (contract 1;
                                              written by `reactface prepare` / `synth`)
        Landmark_files/<clip>.json            {"width": W, "height": H} of the frames they
                                              were found in (square when absent)
        Camera_landmark_files/<clip>.{npy,json}  the same, as MediaPipe finds them in a
                                              synthetic world's own renders of the clip
                                              (`reactface prepare --only camera`)
        Logmel_files/<clip>.npy               (2T, 70) causal audio feature cache: log-mel
                                              and prosody (contract 3)

Modality folders may also sit directly in ROOT (no `{split}/` level, as in the ReactFace
code); `split_root` finds them either way.

Clip paths name site / session / person / clip number, one folder per person, clips
numbered from 1 (30 s each, 751 frames at 25 fps):
``NoXI/010_2016-03-25_Paris/Expert_video/3`` and ``.../Novice_video/3`` (NoXI),
``RECOLA/group-1/P25/3`` and ``RECOLA/group-1/P26/3`` (RECOLA),
``UDIVA/talk/005013/FC1/3`` and ``.../FC2/3`` (UDIVA, 2023 only).

`{split}.csv` has the header ``,speaker_path,listener_path`` and an index column; row i
pairs the two people of one clip. The challenge uses every clip in *both directions*:
item i < N is (speaker_path[i] -> listener_path[i]) and item N + i is the mirrored
(listener_path[i] -> speaker_path[i]). `neighbour_emotion_{split}.npy` is indexed by
these 2N items: entry [i, j] == 1 means that the real listener reaction of item j is an
appropriate reaction to the speaker of item i (FRCorr/FRDist take the best match over a
row's ones; the official evaluation loads the listener reactions in exactly this order).
Sources: the REACT 2023/2024 baseline repositories' READMEs (layout, 25 fps, 256x256, 751
frames, 44.1 kHz, 58 coefficients), their `dataset.py` (csv columns, `.npy`/`.wav`/`.csv`
suffixes, the speaker+listener list concatenation for both directions), their
`tool/matrix_split.py` and metric code (the 2N x 2N matrix and its row semantics), and the
ReactFace repository's `dataset.py` (mp4 videos, appropriate neighbours read from a row).

`dataset.json` (reactface's addition, written by `reactface synth`) records what the real
challenge data leaves implicit: the face model of `3D_FV_files` (REACT: `faceverse58`,
the synthetic world: `arkit58`) and the *direction policy*: `both` (the REACT
convention, the default when the file is absent) or `speaker_to_listener` (only the csv's
own direction is an item: the synthetic world's listeners never talk, so a mirrored item
would ask for reactions to a silent face). With `speaker_to_listener` the matrix file is
still 2N x 2N for compatibility and only its top-left N x N block is used.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS

SPLITS = ("train", "val", "test")
DIRECTIONS = ("both", "speaker_to_listener")
REACT_CLIP_FRAMES = 751
METADATA_FILE = "dataset.json"
CSV_HEADER = ("", "speaker_path", "listener_path")

# The speaker's face-mesh landmarks as the dataset holds them (extracted from its videos, or a
# synthetic world's simulated detector), and a world's renders as MediaPipe tracks them.
LANDMARK_FILES = "landmarks"
CAMERA_LANDMARK_FILES = "camera_landmarks"
# Not a folder: a world's Landmark_files as the camera's view learnt from a few clips with both
# (`data/camera_view.py`) would show them; read from the files, standing for the camera's.
CAMERA_VIEW = "camera_view"
# Modality -> (folder, file suffix). Video may instead be a folder of numbered images.
MODALITIES = {
    "video": ("Video_files", ".mp4"),
    "audio": ("Audio_files", ".wav"),
    "coefficients": ("3D_FV_files", ".npy"),
    "emotion": ("Emotion", ".csv"),
    LANDMARK_FILES: ("Landmark_files", ".npy"),
    CAMERA_LANDMARK_FILES: ("Camera_landmark_files", ".npy"),
    "logmel": ("Logmel_files", ".npy"),
}
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset root says about itself (`dataset.json`; REACT defaults otherwise)."""

    face_model: str = "faceverse58"
    directions: str = "both"
    fps: int = FPS
    generator: str = "REACT challenge"

    def __post_init__(self):
        if self.directions not in DIRECTIONS:
            raise ValueError(
                f"dataset.json: directions must be one of {', '.join(DIRECTIONS)}, "
                f"got {self.directions!r}"
            )


@dataclass(frozen=True)
class Pair:
    """One dyadic item: whose behaviour is the input, whose face is the reaction."""

    speaker: str
    listener: str


def read_info(root: str | Path) -> DatasetInfo:
    """`ROOT/dataset.json` if present, else the REACT convention (faceverse58, both)."""
    path = Path(root) / METADATA_FILE
    if not path.exists():
        return DatasetInfo()
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error} (expected a JSON object)") from error
    known = {
        key: data[key] for key in ("face_model", "directions", "fps", "generator") if key in data
    }
    return DatasetInfo(**known)


def write_info(root: str | Path, info: DatasetInfo, **extra) -> Path:
    path = Path(root) / METADATA_FILE
    path.write_text(json.dumps({**asdict(info), **extra}, indent=2, sort_keys=True) + "\n")
    return path


def csv_path(root: str | Path, split: str) -> Path:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    return Path(root) / f"{split}.csv"


def read_pairs(root: str | Path, split: str) -> list[Pair]:
    """The rows of `ROOT/{split}.csv` in file order (one Pair per row, csv direction)."""
    path = csv_path(root, split)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: a REACT-layout root holds {split}.csv with the columns "
            "',speaker_path,listener_path'"
        )
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip() for c in rows[0][1:3]] != ["speaker_path", "listener_path"]:
        header = rows[0] if rows else []
        raise ValueError(
            f"{path}: header is {header}, expected ',speaker_path,listener_path' "
            "(an index column, then the speaker and listener clip paths)"
        )
    pairs = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) < 3 or not row[1].strip() or not row[2].strip():
            raise ValueError(f"{path}, line {number}: expected index,speaker_path,listener_path")
        pairs.append(Pair(row[1].strip(), row[2].strip()))
    return pairs


def write_pairs(root: str | Path, split: str, pairs: list[Pair]) -> Path:
    path = csv_path(root, split)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for index, pair in enumerate(pairs):
            writer.writerow((index, pair.speaker, pair.listener))
    return path


def items(pairs: list[Pair], directions: str) -> list[Pair]:
    """Dataset items in REACT order: the csv rows, then (for `both`) the rows mirrored."""
    if directions not in DIRECTIONS:
        raise ValueError(f"directions must be one of {', '.join(DIRECTIONS)}, got {directions!r}")
    if directions == "speaker_to_listener":
        return list(pairs)
    return list(pairs) + [Pair(p.listener, p.speaker) for p in pairs]


def split_root(root: str | Path, split: str) -> Path:
    """Folder holding the modality folders of a split: ROOT/{split} if it exists, else ROOT."""
    nested = Path(root) / split
    return nested if nested.is_dir() else Path(root)


def modality_path(base: str | Path, modality: str, clip: str) -> Path:
    """`base/<Folder>/<clip><suffix>` for a modality name of MODALITIES."""
    folder, suffix = MODALITIES[modality]
    return Path(base) / folder / f"{clip}{suffix}"


def matrix_path(root: str | Path, split: str) -> Path:
    return Path(root) / f"neighbour_emotion_{split}.npy"


def load_appropriateness(
    root: str | Path, split: str, num_pairs: int, directions: str
) -> np.ndarray | None:
    """Boolean (n_items, n_items) appropriateness of the split, or None if the file is absent.

    The file is (2N, 2N) in the REACT convention; with `speaker_to_listener` an (N, N) file
    is accepted too and a (2N, 2N) one is cut to its top-left block.
    """
    path = matrix_path(root, split)
    if not path.exists():
        return None
    try:
        matrix = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read appropriateness matrix {path}: {error}") from error
    full = 2 * num_pairs
    shapes = [(full, full)] + ([(num_pairs, num_pairs)] if directions != "both" else [])
    if matrix.shape not in shapes:
        expected = " or ".join(f"({a}, {b})" for a, b in shapes)
        raise ValueError(
            f"appropriateness matrix {path} has shape {matrix.shape}, expected {expected} "
            f"for the {num_pairs} rows of {split}.csv (items in both directions: 2N x 2N)"
        )
    matrix = np.asarray(matrix) > 0.5
    return matrix if directions == "both" else matrix[:num_pairs, :num_pairs]


def appropriateness_matrix(groups: np.ndarray) -> np.ndarray:
    """REACT-convention (2N, 2N) uint8 matrix for N csv rows with known appropriate sets.

    groups (N,): rows with equal group ids (the same speaker clip in the synthetic world)
    are appropriate to each other. Mirrored items (N + i) only have their own real reaction.
    """
    groups = np.asarray(groups)
    n = len(groups)
    matrix = np.zeros((2 * n, 2 * n), dtype=np.uint8)
    matrix[:n, :n] = groups[:, None] == groups[None, :]
    matrix[np.arange(n, 2 * n), np.arange(n, 2 * n)] = 1
    return matrix


# ---- file loaders with clear errors ---------------------------------------------------------


def load_coefficients(path: str | Path, dim: int, what: str = "3D_FV file") -> np.ndarray:
    """(T, dim) float32 face coefficients from an .npy (singleton axes are squeezed)."""
    array = _load_npy(path, what, f"(T, {dim})")
    if array.ndim == 3 and 1 in array.shape[:2]:
        array = array.reshape(-1, array.shape[-1])
    if array.ndim != 2 or array.shape[1] != dim or len(array) == 0:
        raise ValueError(
            f"{what} {path} has shape {array.shape}, expected (T, {dim}) coefficients "
            f"(REACT clips: ({REACT_CLIP_FRAMES}, {dim}))"
        )
    array = np.asarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} {path} contains NaN or infinite values")
    return array


def open_landmarks(path: str | Path) -> np.ndarray:
    """Memory-mapped (T, 468, 3) raw landmarks (float16/32 on disk; slice, then cast)."""
    array = _load_npy(path, "landmark file", "(T, 468, 3)", mmap=True)
    if array.ndim != 3 or array.shape[1:] != (468, 3) or array.dtype.kind != "f":
        raise ValueError(
            f"landmark file {path} has shape {array.shape} and dtype {array.dtype}, expected "
            "(T, 468, 3) floats (MediaPipe face-mesh landmarks, NaN rows for no face)"
        )
    return array


def video_source(base: str | Path, clip: str) -> Path:
    """`Video_files/<clip>.mp4`, or the folder `Video_files/<clip>/` of numbered frames."""
    file = modality_path(base, "video", clip)
    if file.exists():
        return file
    folder = file.with_suffix("")
    if folder.is_dir():
        return folder
    raise FileNotFoundError(
        f"no video for clip {clip!r}: neither {file} nor a frame folder {folder}/ "
        "(1.png, 2.png, ...) exists"
    )


def frame_files(folder: str | Path) -> list[Path]:
    """The images of a frame folder in frame order: numbered ones (1.png, 2.png, ..., 10.png)
    by their number, then any others by name."""
    images = [f for f in Path(folder).iterdir() if f.suffix.lower() in FRAME_SUFFIXES]
    return sorted(
        images, key=lambda f: (0, int(f.stem), "") if f.stem.isdigit() else (1, 0, f.name)
    )


def load_video(source: str | Path) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB frames of an mp4 file or a folder of numbered images."""
    import cv2

    source = Path(source)
    if source.is_dir():
        numbered = [f for f in frame_files(source) if f.stem.isdigit()]
        if not numbered:
            raise ValueError(f"frame folder {source} has no numbered images (1.png, 2.png, ...)")
        frames = []
        for file in numbered:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"cannot decode frame image {file}")
            frames.append(image[..., ::-1])
        return np.stack(frames)
    if not source.exists():
        raise FileNotFoundError(f"video file {source} not found")
    capture = cv2.VideoCapture(str(source))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image[..., ::-1])
    capture.release()
    if not frames:
        raise ValueError(f"cannot decode any frame of video {source} (expected an mp4 video)")
    return np.stack(frames)


def _load_npy(path: str | Path, what: str, expected: str, mmap: bool = False) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} not found (expected an .npy array {expected})")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(
            f"cannot read {what} {path}: {error} (truncated or not an .npy array {expected}?)"
        ) from error


def frame_size_path(landmark_file: str | Path) -> Path:
    """Where the frame size of a landmark file is kept: the same name with .json."""
    return Path(landmark_file).with_suffix(".json")


def write_frame_size(landmark_file: str | Path, width: int, height: int) -> None:
    """Record the size of the frames a landmark file was found in (atomically)."""
    target = frame_size_path(landmark_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"width": int(width), "height": int(height)}) + "\n")
    os.replace(partial, target)


def landmark_aspect(landmark_file: str | Path) -> float:
    """Image height / width of a landmark file's frames (1.0 when no frame size is recorded)."""
    path = frame_size_path(landmark_file)
    if not path.exists():
        return 1.0
    try:
        size = json.loads(path.read_text())
        width, height = int(size["width"]), int(size["height"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"frame size file {path} is unreadable ({error}); expected "
            '{"width": W, "height": H} in pixels'
        ) from None
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size file {path} has a non-positive size {width}x{height}")
    return height / width
