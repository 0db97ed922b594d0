"""Generate the synthetic dyadic world into a REACT-layout folder (`reactface synth`).

Plan (main process, cheap, deterministic): speaker persons (`clips_per_speaker` clips each),
a pool of listener persons (policies assigned round robin), a train/val/test split *by
speaker*, and for every clip the listeners who react to it (as many different policies as
possible). Work (worker processes): each clip is generated from its own seed, derived
from (seed, clip index) alone, and writes its own files; so outputs are byte-identical for
a seed whatever `--workers` is. BLAS is pinned to one thread per worker for the same
reason. The main process then writes the csv files, appropriateness matrices, README,
`dataset.json`, `world_clips.jsonl` and a preview image.

Appropriateness: the appropriate reactions of a speaker clip are exactly the listener
reactions generated for that clip (one per listener, different policies). Reactions to
other clips are never counted, even with the same emotions, because they are not
synchronised with this speaker's pauses, stresses and expression changes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.data.world import camera, listener, speaker, speech

SPLIT_FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}
SITE = "Synth"
# Worker environment: one BLAS thread (identical arithmetic for any --workers) and glibc
# keeping freed multi-MB arrays instead of unmapping them (halves system time per clip).
WORKER_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(256 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
}


@dataclass(frozen=True)
class WorldConfig:
    """Every parameter of a generated world (also written to its README and dataset.json)."""

    clips: int = 1000
    seconds: float = 30.0
    listeners_per_speaker: int = 6
    clips_per_speaker: int = 5
    listener_pool: int = 40
    seed: int = 0
    render_video: bool = False
    detector: camera.DetectorNoise = field(default_factory=camera.DetectorNoise)

    @property
    def frames(self) -> int:
        """Frames per clip at 25 fps, counting both ends like REACT (30 s -> 751)."""
        return int(round(self.seconds * speaker.FPS)) + 1

    @property
    def speakers(self) -> int:
        return math.ceil(self.clips / self.clips_per_speaker)

    def check(self) -> None:
        if self.clips < 1 or self.clips_per_speaker < 1:
            raise ValueError("--clips and --clips-per-speaker must be >= 1")
        if self.speakers < 3:
            raise ValueError(
                f"{self.clips} clips at {self.clips_per_speaker} per speaker make "
                f"{self.speakers} speakers; the split by speaker needs at least 3 "
                "(raise --clips or lower --clips-per-speaker)"
            )
        if self.seconds < 2.0:
            raise ValueError(f"--seconds must be >= 2, got {self.seconds}")
        if not 1 <= self.listeners_per_speaker <= self.listener_pool:
            raise ValueError(
                f"--listeners-per-speaker must be between 1 and the listener pool "
                f"({self.listener_pool}), got {self.listeners_per_speaker}"
            )


@dataclass(frozen=True)
class ClipPlan:
    """One speaker clip and the listeners that react to it."""

    index: int
    split: str
    speaker_id: int
    number: int  # 1-based clip number of this speaker (REACT numbers clips from 1)
    listener_ids: tuple[int, ...]

    @property
    def speaker_path(self) -> str:
        return f"{SITE}/speaker-{self.speaker_id:04d}/Speaker/{self.number}"

    def listener_path(self, listener_id: int) -> str:
        return f"{SITE}/speaker-{self.speaker_id:04d}/Listener-{listener_id:03d}/{self.number}"


@dataclass(frozen=True)
class WorldPlan:
    config: WorldConfig
    speakers: tuple[speaker.SpeakerStyle, ...]
    listeners: tuple[listener.ListenerStyle, ...]
    clips: tuple[ClipPlan, ...]


def plan_world(config: WorldConfig) -> WorldPlan:
    """Persons, split and listener assignment; depends on the seed and config only."""
    config.check()
    style_rng = np.random.default_rng([config.seed, 1])
    speakers = tuple(speaker.SpeakerStyle.sample(style_rng) for _ in range(config.speakers))
    pool_rng = np.random.default_rng([config.seed, 2])
    policies = listener.POLICIES
    listeners = tuple(
        listener.ListenerStyle.sample(pool_rng, policies[i % len(policies)])
        for i in range(config.listener_pool)
    )
    split_of = _split_speakers(config)
    by_policy = {p: [i for i, s in enumerate(listeners) if s.policy == p] for p in policies}
    clips = []
    for index in range(config.clips):
        rng = np.random.default_rng([config.seed, 4, index])
        order = [policies[k] for k in rng.permutation(len(policies))]
        chosen: list[int] = []
        while len(chosen) < config.listeners_per_speaker:
            for policy in order:
                free = [i for i in by_policy[policy] if i not in chosen]
                if free and len(chosen) < config.listeners_per_speaker:
                    chosen.append(int(rng.choice(free)))
        speaker_id = index // config.clips_per_speaker
        clips.append(
            ClipPlan(
                index=index,
                split=split_of[speaker_id],
                speaker_id=speaker_id,
                number=index % config.clips_per_speaker + 1,
                listener_ids=tuple(chosen),
            )
        )
    return WorldPlan(config, speakers, listeners, tuple(clips))


def _split_speakers(config: WorldConfig) -> list[str]:
    n = config.speakers
    n_val = max(1, round(SPLIT_FRACTIONS["val"] * n))
    n_test = max(1, round(SPLIT_FRACTIONS["test"] * n))
    order = np.random.default_rng([config.seed, 3]).permutation(n)
    split = ["train"] * n
    for rank, speaker_id in enumerate(order):
        if rank < n_test:
            split[speaker_id] = "test"
        elif rank < n_test + n_val:
            split[speaker_id] = "val"
    return split


# ---- one clip (runs in a worker) -------------------------------------------------------------


@lru_cache(maxsize=1)
def _rig():
    from reactface_core.face.rig import ArkitRig

    return ArkitRig()


@dataclass
class ClipData:
    """Everything generated for one speaker clip, in memory."""

    script: speaker.SpeakerScript
    speaker_coefficients: np.ndarray  # (T, 58)
    landmarks: np.ndarray  # (T, 468, 3) noisy raw landmarks, NaN rows where lost
    audio: np.ndarray  # (T * 640,) float32 16 kHz
    listener_coefficients: list[np.ndarray]  # per listener (T, 58)


def generate_clip(
    config: WorldConfig,
    style: speaker.SpeakerStyle,
    listener_styles: list[listener.ListenerStyle],
    index: int,
    emotions: list[int] | None = None,
) -> ClipData:
    """Generate one speaker clip and its listeners' reactions from (seed, index) alone."""
    rng = np.random.default_rng([config.seed, 5, index])
    script = speaker.sample_script(rng, style, config.frames, emotions)
    mouth, closure = speech.articulation(script)
    face = speaker.speaker_face(rng, style, script, mouth, closure)
    audio = speech.synthesize(rng, style, script)
    vertices = _rig().vertices(face.coefficients)
    view = camera.Camera(distance=style.distance_m)
    clean = camera.project(vertices, view)
    landmarks = camera.detector_noise(rng, clean, config.detector)
    reactions = [
        listener.listener_coefficients(
            np.random.default_rng([config.seed, 6, index, k]),
            listener_style,
            script,
            face.expressive,
            face.coefficients[:, 52:55],
        )
        for k, listener_style in enumerate(listener_styles)
    ]
    return ClipData(script, face.coefficients, landmarks, audio, reactions)


def write_clip(root: Path, plan: WorldPlan, clip: ClipPlan) -> dict:
    """Generate one clip, write its files into the REACT layout, return its metadata."""
    import soundfile

    config = plan.config
    styles = [plan.listeners[i] for i in clip.listener_ids]
    data = generate_clip(config, plan.speakers[clip.speaker_id], styles, clip.index)
    base = root / clip.split

    def target(modality: str, path: str) -> Path:
        file = react.modality_path(base, modality, path)
        file.parent.mkdir(parents=True, exist_ok=True)
        return file

    np.save(target("coefficients", clip.speaker_path), data.speaker_coefficients)
    np.save(target("landmarks", clip.speaker_path), data.landmarks.astype(np.float16))
    soundfile.write(
        target("audio", clip.speaker_path), data.audio, speech.SAMPLE_RATE, subtype="PCM_16"
    )
    for listener_id, reaction in zip(clip.listener_ids, data.listener_coefficients, strict=True):
        np.save(target("coefficients", clip.listener_path(listener_id)), reaction)
    if config.render_video:
        distance = plan.speakers[clip.speaker_id].distance_m
        _write_video(target("video", clip.speaker_path), data.speaker_coefficients, distance)
    return {
        "index": clip.index,
        "split": clip.split,
        "speaker_path": clip.speaker_path,
        "speaker_id": clip.speaker_id,
        "script": data.script.summary(),
        "lost_frames": int(np.isnan(data.landmarks[:, 0, 0]).sum()),
        "listeners": [
            {
                "path": clip.listener_path(listener_id),
                "listener_id": listener_id,
                "policy": plan.listeners[listener_id].policy,
                "lag_s": round(plan.listeners[listener_id].lag_s, 4),
            }
            for listener_id in clip.listener_ids
        ],
    }


def _write_video(path: Path, coefficients: np.ndarray, distance: float) -> None:
    """Render the speaker's face with the project's renderer, through the same virtual camera
    as the landmarks, to a 25 fps 256x256 mp4 (so `reactface prepare` finds the same face)."""
    from reactface_core.face.render import RenderConfig, make_renderer
    from reactface_core.face.video import FrameWriter

    config = RenderConfig(
        width=camera.IMAGE_SIZE, height=camera.IMAGE_SIZE, camera=camera.Camera(distance=distance)
    )
    with make_renderer("arkit58", config=config) as renderer, FrameWriter(path, speaker.FPS) as out:
        for _, chunk in renderer.chunks(coefficients):
            out.write(renderer.render(chunk))


_worker_state: dict = {}


def _start_worker(root: str, plan: WorldPlan) -> None:
    _worker_state.update(root=Path(root), plan=plan)


def _write_chunk(indices: list[int]) -> list[dict]:
    root, plan = _worker_state["root"], _worker_state["plan"]
    return [write_clip(root, plan, plan.clips[i]) for i in indices]


# ---- the whole world ---------------------------------------------------------------------------


def generate_world(
    root: str | Path,
    config: WorldConfig,
    workers: int = 2,
    progress: bool = True,
    preview: bool = True,
) -> WorldPlan:
    """Write a whole world into `root` (created; must be empty or absent)."""
    from tqdm import tqdm

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"output folder {root} is not empty; choose a new --out folder")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    plan = plan_world(config)
    root.mkdir(parents=True, exist_ok=True)
    chunks = [list(range(i, min(i + 4, config.clips))) for i in range(0, config.clips, 4)]
    records: list[dict] = []
    bar = tqdm(total=config.clips, unit="clip", desc="synth", disable=not progress)
    with _worker_environment():
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _start_worker, (str(root), plan)) as pool:
            for done in pool.imap_unordered(_write_chunk, chunks):
                records.extend(done)
                bar.update(len(done))
    bar.close()
    records.sort(key=lambda record: record["index"])
    write_index(root, plan, records)
    if preview:
        from reactface_core.data.preview import plot_clip

        first = next(r for r in records if r["split"] == "test")
        plot_clip(root, first["speaker_path"], root / "preview.png")
    return plan


class _worker_environment:
    """Set WORKER_ENVIRONMENT while spawning workers (they read it at start), then restore."""

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
        os.environ.update(WORKER_ENVIRONMENT)

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_index(root: Path, plan: WorldPlan, records: list[dict]) -> None:
    """csv per split, appropriateness matrices, dataset.json, world_clips.jsonl, README."""
    config = plan.config
    counts = {}
    for split in react.SPLITS:
        pairs, groups = [], []
        for record in records:
            if record["split"] != split:
                continue
            for entry in record["listeners"]:
                pairs.append(react.Pair(record["speaker_path"], entry["path"]))
                groups.append(record["index"])
        react.write_pairs(root, split, pairs)
        np.save(react.matrix_path(root, split), react.appropriateness_matrix(np.array(groups)))
        counts[split] = {"speaker_clips": len(set(groups)), "rows": len(pairs)}
    info = react.DatasetInfo(
        face_model="arkit58", directions="speaker_to_listener", generator="reactface synth"
    )
    react.write_info(
        root,
        info,
        clip_frames=config.frames,
        sample_rate=speech.SAMPLE_RATE,
        splits=counts,
        config=_config_dict(config),
    )
    with (root / "world_clips.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    (root / "README.md").write_text(_readme(plan, counts))


def _config_dict(config: WorldConfig) -> dict:
    return {**asdict(config), "frames": config.frames, "speakers": config.speakers}


def _readme(plan: WorldPlan, counts: dict) -> str:
    config = plan.config
    policies = [style.policy for style in plan.listeners]
    lines = [
        "# Synthetic dyadic world (reactface synth)",
        "",
        "Generated by `reactface synth "
        f"--clips {config.clips} --seconds {config.seconds:g} "
        f"--listeners-per-speaker {config.listeners_per_speaker} "
        f"--clips-per-speaker {config.clips_per_speaker} --seed {config.seed}"
        + (" --render-video" if config.render_video else "")
        + "`. The output is byte-identical for the same arguments (any --workers).",
        "",
        "## Contents (REACT layout, see `reactface_core/data/react.py`)",
        "",
        "- `{train,val,test}.csv`: `,speaker_path,listener_path`; one row per (speaker clip, "
        "listener); the rows of one speaker clip share its speaker path.",
        "- `neighbour_emotion_{split}.npy`: (2N, 2N) uint8, REACT convention; [i, j] = 1 "
        "when the listener reaction of row j was generated for the speaker clip of row i. "
        "Mirrored items (N + i) only have their own reaction.",
        "- `dataset.json`: face model `arkit58`, direction policy `speaker_to_listener` "
        "(listeners never talk, so the mirrored REACT direction is not an item), counts, "
        "every parameter.",
        "- `{split}/3D_FV_files/<path>.npy`: (T, 58) float32 arkit58 coefficients of speakers "
        "and listeners.",
        "- `{split}/Landmark_files/<speaker path>.npy`: (T, 468, 3) float16 raw MediaPipe-"
        "convention landmarks through a 256x256 virtual camera, detector noise, NaN rows "
        "for lost frames.",
        "- `{split}/Audio_files/<speaker path>.wav`: 16 kHz mono PCM16, T x 640 samples.",
        *(
            ["- `{split}/Video_files/<speaker path>.mp4`: the speaker rendered, 25 fps."]
            if config.render_video
            else []
        ),
        "- `world_clips.jsonl`: per speaker clip its emotion segments, utterances, pauses, "
        "stresses and listeners (policy, lag).",
        "- `preview.png`: a test clip's key speaker coefficients and its appropriate reactions.",
        "",
        "## Parameters",
        "",
        f"- clips: {config.clips} of {config.seconds:g} s ({config.frames} frames at 25 fps)",
        f"- speakers: {config.speakers} ({config.clips_per_speaker} clips each), split by "
        "speaker " + ", ".join(f"{k} {int(v * 100)}%" for k, v in SPLIT_FRACTIONS.items()),
        f"- listener pool: {config.listener_pool} persons, policies "
        + ", ".join(f"{p} x{policies.count(p)}" for p in listener.POLICIES),
        f"- listeners per speaker clip: {config.listeners_per_speaker} (appropriate set size)",
        f"- detector noise: {asdict(config.detector)}",
        "- speaker emotions: " + ", ".join(speaker.EMOTIONS),
        "",
        "| split | speaker clips | csv rows |",
        "|---|---|---|",
        *(f"| {s} | {c['speaker_clips']} | {c['rows']} |" for s, c in counts.items()),
        "",
    ]
    return "\n".join(lines)
