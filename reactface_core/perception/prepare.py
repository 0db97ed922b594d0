"""Extract and cache speaker inputs for a REACT-layout dataset (`reactface prepare`).

For every `Video_files/<clip>.mp4` (or `Video_files/<clip>/` folder of frame images) it
writes `Landmark_files/<clip>.npy`: float16 (T, 468, 3) raw face-mesh landmarks at 25 fps,
NaN rows where no face was found (contract 1), and beside it `Landmark_files/<clip>.json`,
`{"width": W, "height": H}` of the frames: the landmarks are fractions of width and height,
so the speaker features need the aspect ratio (`react.landmark_aspect`; square when the file is
absent, as REACT's 256x256 crops are). For every `Audio_files/<clip>.wav` it writes
`Logmel_files/<clip>.npy`: float32 (n_steps, D_a) causal audio features at 50 Hz (log-mel
and prosody, contract 3). For a synthetic world (`reactface synth`) the kind "camera" renders
each speaker clip on its own stage, as `--render-video` would film it, and writes what the
same MediaPipe tracking finds in it to `Camera_landmark_files/<clip>.npy` (and `.json`): the
speaker as a robot's camera would deliver it, beside the Landmark_files of the simulated
detector (`reactface evaluate --perception camera`).

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

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
AUDIO_SUFFIXES = (".wav", ".flac")
KINDS = {  # kind: (modality read, modality written), their folders in `react.MODALITIES`
    react.LANDMARK_FILES: ("video", react.LANDMARK_FILES),
    "logmel": ("audio", "logmel"),
}
CAMERA = "camera"  # the kind that renders a synthetic world's speaker clips and tracks them


def _folders(kind: str) -> tuple[str, ...]:
    """The (input, output) folder names of a kind of KINDS."""
    return tuple(react.MODALITIES[modality][0] for modality in KINDS[kind])


@dataclass(frozen=True)
class Job:
    kind: str  # a key of KINDS, or CAMERA
    source: Path  # video file, frame folder, audio file or (camera) the world's root
    target: Path  # .npy to write
    clip: str = ""  # camera: the speaker clip of the world to render

    @property
    def origin(self) -> Path:
        """What the job reads, for messages: the file, or the world's clip."""
        return self.source / self.clip if self.clip else self.source


@dataclass
class Summary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def find_jobs(
    root: str | Path,
    kinds: tuple[str, ...] = tuple(KINDS),
    splits: tuple[str, ...] = react.SPLITS,
    camera_clips: int | None = None,
) -> list[Job]:
    """All (source, target) pairs of a dataset root, sorted; raises if the root is not one.

    The modality folders may sit in the root itself or, as in the REACT challenge release,
    in its split folders (`train/Video_files`, `val/...`, `test/...`); `splits` limits the
    split folders searched (the root itself is searched when all are). `camera_clips`: track
    only that many speaker clips of each split, evenly spaced in path order."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"dataset root {root} is not a directory")
    jobs = _camera_jobs(root, splits, camera_clips) if CAMERA in kinds else []
    kinds = tuple(kind for kind in kinds if kind != CAMERA)
    if not kinds:
        return jobs
    bases = ([root] if tuple(splits) == react.SPLITS else []) + [root / s for s in splits]
    bases = [b for b in bases if any((b / _folders(kind)[0]).is_dir() for kind in kinds)]
    if not bases:
        expected = " or ".join(f"{_folders(kind)[0]}/" for kind in kinds)
        raise ValueError(
            f"dataset root {root} has no {expected}, in itself or in "
            f"{'/, '.join(splits)}/ (REACT layout expected)"
        )
    for base in bases:
        for kind in kinds:
            source_root, target_root = (base / name for name in _folders(kind))
            for source in _sources(kind, source_root):
                clip = source.relative_to(source_root)
                clip = clip.with_suffix("") if source.is_file() else clip
                jobs.append(Job(kind, source, target_root / f"{clip}.npy"))
    return sorted(jobs, key=lambda job: (job.kind, str(job.source), job.clip))


def _camera_jobs(root: Path, splits: tuple[str, ...], per_split: int | None) -> list[Job]:
    """One job per speaker clip of a synthetic world in `splits`, or `per_split` of each
    spread evenly over it (ValueError if `root` is not a world of `reactface synth`)."""
    from reactface_core.data.world.synth import load_plan

    plan, jobs = load_plan(root), []
    for split in splits:
        clips = sorted({c.speaker_path for c in plan.clips if c.split == split})
        if per_split is not None and per_split < len(clips):
            spread = np.linspace(0, len(clips) - 1, per_split).round().astype(int)
            clips = [clips[i] for i in spread]
        for clip in clips:
            target = react.modality_path(root / split, react.CAMERA_LANDMARK_FILES, clip)
            jobs.append(Job(CAMERA, root, target, clip))
    return jobs


def _sources(kind: str, folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    if kind == "logmel":
        return [p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]
    videos = [p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()]
    frame_folders = {
        image.parent
        for image in folder.rglob("*")
        if image.suffix.lower() in react.FRAME_SUFFIXES and image.is_file()
    }
    return videos + sorted(frame_folders)


def prepare(
    root: str | Path,
    kinds: tuple[str, ...] = tuple(KINDS),
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    splits: tuple[str, ...] = react.SPLITS,
    camera_clips: int | None = None,
) -> Summary:
    """Extract what is missing; returns what was done, skipped and what failed (and why)."""
    from tqdm import tqdm

    summary = Summary()
    todo = []
    for job in find_jobs(root, kinds, splits, camera_clips):
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
            summary.failed.append((job.origin, error))
            bar.write(f"failed: {job.origin}: {error}")
            log.warning("failed: %s: %s", job.origin, error)
        bar.update()


def run_job(job: Job) -> tuple[Job, str | None]:
    """Extract one file; errors are returned (not raised) so one bad file stops nothing."""
    try:
        array = _extract(job)
        if job.kind in (react.LANDMARK_FILES, CAMERA):
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
    from reactface_core.perception.face_tracker import FaceLandmarker

    if _landmarker is None:
        _landmarker = FaceLandmarker(mode="video")
    _landmarker.reset()  # do not carry the previous video's face into this one
    rows, size = [], None
    for frame in _frames(job):
        size = frame.shape[:2]
        rows.append(_landmarker(frame))
    if not rows:
        raise ValueError(f"{job.origin} has no frames")
    return np.stack(rows).astype(np.float16), size


def _frames(job: Job):
    """The job's frames, (H, W, 3) uint8 RGB one by one: read, or (camera) rendered."""
    if job.kind != CAMERA:
        from reactface_core.perception.face_tracker import read_frames

        yield from read_frames(job.source)
        return
    from reactface_core.data.world.synth import stored_clip_frames

    for _, frames in stored_clip_frames(job.source, job.clip):
        yield from frames


def _save_atomic(target: Path, array: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as handle:
            np.save(handle, array)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
