"""Extract and cache speaker inputs for a REACT-layout dataset (`reactface prepare`).

For every `Video_files/<clip>.mp4` (or `Video_files/<clip>/` folder of frame images) it
writes `Landmark_files/<clip>.npy`: float16 (T, 468, 3) raw face-mesh landmarks at 25 fps,
NaN rows where no face was found (contract 1), and beside it `Landmark_files/<clip>.json`,
`{"width": W, "height": H}` of the frames: the landmarks are fractions of width and height,
so the speaker features need the aspect ratio (`react.landmark_aspect`; square when the file is
absent, as REACT's 256x256 crops are). For every `Audio_files/<clip>.wav` it writes
`Logmel_files/<clip>.npy`: float32 (n_steps, D_a) causal audio features at 50 Hz (log-mel
and prosody, contract 3).

Resumable: an existing output is skipped; outputs are written to a temporary file and
renamed, so an interrupted run never leaves a truncated file behind. A file that cannot be
read is logged and skipped; the summary lists it and the command exits non-zero.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.perception.face_tracker import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
AUDIO_SUFFIXES = (".wav", ".flac")
KINDS = {  # kind: (input folder, output folder)
    "landmarks": ("Video_files", "Landmark_files"),
    "logmel": ("Audio_files", "Logmel_files"),
}
SPLIT_FOLDERS = ("train", "val", "test")


@dataclass(frozen=True)
class Job:
    kind: str  # "landmarks" or "logmel"
    source: Path  # video file, frame folder or audio file
    target: Path  # .npy to write


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def find_jobs(root: str | Path, kinds: tuple[str, ...] = tuple(KINDS)) -> list[Job]:
    """All (source, target) pairs of a dataset root, sorted; raises if the root is not one.

    The modality folders may sit in the root itself or, as in the REACT challenge release,
    in its split folders (`train/Video_files`, `val/...`, `test/...`)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset root {root} is not a directory")
    bases = [root] + [root / split for split in SPLIT_FOLDERS]
    bases = [b for b in bases if any((b / KINDS[kind][0]).is_dir() for kind in kinds)]
    if not bases:
        expected = " or ".join(f"{KINDS[kind][0]}/" for kind in kinds)
        raise ValueError(
            f"dataset root {root} has no {expected}, in itself or in "
            f"{'/, '.join(SPLIT_FOLDERS)}/ (REACT layout expected)"
        )
    jobs = []
    for base in bases:
        for kind in kinds:
            source_root, target_root = (base / name for name in KINDS[kind])
            for source in _sources(kind, source_root):
                clip = source.relative_to(source_root)
                clip = clip.with_suffix("") if source.is_file() else clip
                jobs.append(Job(kind, source, target_root / f"{clip}.npy"))
    return sorted(jobs, key=lambda job: (job.kind, str(job.source)))


def _sources(kind: str, folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    if kind == "logmel":
        return [p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
    videos = [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    frame_folders = {
        image.parent
        for image in folder.rglob("*")
        if image.suffix.lower() in IMAGE_SUFFIXES and image.is_file()
    }
    return videos + sorted(frame_folders)


def prepare(
    root: str | Path,
    kinds: tuple[str, ...] = tuple(KINDS),
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> Summary:
    """Extract what is missing; returns what was done, skipped and what failed (and why)."""
    from tqdm import tqdm

    summary = Summary()
    todo = []
    for job in find_jobs(root, kinds):
        if job.target.exists() and not overwrite:
            summary.skipped.append(job.target)
        else:
            todo.append(job)
    bar = tqdm(total=len(todo), desc="prepare", unit="file", disable=not progress)
    if workers > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")  # MediaPipe graphs do not survive fork
        with context.Pool(min(workers, len(todo))) as pool:
            results = pool.imap_unordered(run_job, todo)
            _collect(results, summary, bar)
    else:
        _collect(map(run_job, todo), summary, bar)
    bar.close()
    return summary


def _collect(results, summary: Summary, bar) -> None:
    for job, error in results:
        if error is None:
            summary.done.append(job.target)
        else:
            summary.failed.append((job.source, error))
            bar.write(f"failed: {job.source}: {error}")
            log.warning("failed: %s: %s", job.source, error)
        bar.update()


def run_job(job: Job) -> tuple[Job, str | None]:
    """Extract one file; errors are returned (not raised) so one bad file stops nothing."""
    try:
        array = _extract(job)
        if job.kind == "landmarks":
            array, (height, width) = array
            react.write_frame_size(job.target, width, height)  # before the .npy that marks it done
        _save_atomic(job.target, array)
    except Exception as error:  # noqa: BLE001 - reported per file in the summary
        return job, f"{type(error).__name__}: {error}"
    return job, None


_landmarker = None  # one MediaPipe graph per worker process, reset between videos


def _extract(job: Job):
    """audio feature steps, or (landmarks, (height, width) of the frames)."""
    global _landmarker
    if job.kind == "logmel":
        from reactface_core.perception.audio import audio_features, load_audio

        return audio_features(load_audio(job.source))
    from reactface_core.perception.face_tracker import FaceLandmarker, read_frames

    if _landmarker is None:
        _landmarker = FaceLandmarker(mode="video")
    _landmarker.reset()  # do not carry the previous video's face into this one
    rows, size = [], None
    for frame in read_frames(job.source):
        size = frame.shape[:2]
        rows.append(_landmarker(frame))
    if not rows:
        raise ValueError(f"{job.source} has no frames")
    return np.stack(rows).astype(np.float16), size


def _save_atomic(target: Path, array: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as handle:
            np.save(handle, array)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
