"""Generate the synthetic dyadic world into a REACT-layout folder (`reactface synth`).

Plan (main process, cheap, deterministic): speaker persons (`clips_per_speaker` clips each;
voice, identity, look, habits), a pool of listener persons (policies assigned round
robin), a train/val/test split *by speaker*, and for every clip the listeners who react
to it. Work (worker processes): each clip is generated from random streams derived from
(seed, clip index) alone and writes its own files; so outputs are byte-identical for a
seed whatever `--workers` is. BLAS is pinned to one thread per worker for the same
reason. The main process then writes the csv files, appropriateness matrices, README,
`dataset.json`, `world_clips.jsonl` and a preview image.

One clip is two steps, so others can regenerate either (e.g. `fresh.py`):
`speaker_side(config, style, index)` (the script, espeak-ng speech in its room, the face
coefficients, the stage and what the camera's detector reports) and
`listener_reaction(side, listener_style, seed)` (one listener's reaction to it).

Appropriateness: the appropriate reactions of a speaker clip are exactly the listener
reactions generated for that clip. They come in rounds: each round holds every policy
once (in a random order per clip), and round r takes, for each policy, a person from the
r-th lag stratum of that policy's pool, so with 15 listeners a clip's set has every
policy at an early, a middle and a late lag (and three persons' intensities); the first
`len(POLICIES)` reactions are one per policy. Reactions to other clips are never
counted, even with the same emotions, because they are not synchronised with this
speaker's pauses, stresses and expression changes.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.contract import AUDIO_RATE
from reactface_core.data import espeak, react
from reactface_core.data.world import listener, speaker, speech, stage
from reactface_core.data.world.config import Range, WorldConfig
from reactface_core.face.identity import identity_space

GENERATOR = "reactface synth"  # dataset.json's generator of a synthetic world
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
    identities = identity_space()
    style_rng = np.random.default_rng([config.seed, 1])
    speakers = tuple(
        speaker.SpeakerStyle.sample(
            style_rng,
            identities,
            config.identity_scale,
            config.head_motion,
            config.poker_face_fraction,
        )
        for _ in range(config.speakers)
    )
    pool_rng = np.random.default_rng([config.seed, 2])
    policies = listener.POLICIES
    listeners = tuple(
        listener.ListenerStyle.sample(pool_rng, policies[i % len(policies)])
        for i in range(config.listener_pool)
    )
    split_of = _split_speakers(config)
    rounds = math.ceil(config.listeners_per_speaker / len(policies))
    strata = {p: _lag_strata(listeners, p, rounds) for p in policies}
    clips = []
    for index in range(config.clips):
        rng = np.random.default_rng([config.seed, 4, index])
        order = [policies[k] for k in rng.permutation(len(policies))]
        chosen: list[int] = []
        for round_index in range(rounds):
            for policy in order:
                if len(chosen) == config.listeners_per_speaker:
                    break
                free = [i for i in strata[policy][round_index] if i not in chosen]
                free = free or [i for s in strata[policy] for i in s if i not in chosen]
                free = free or [i for i in range(len(listeners)) if i not in chosen]
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


def _lag_strata(listeners, policy: str, rounds: int) -> list[list[int]]:
    """The pool's persons of one policy, split by lag into `rounds` strata (early first)."""
    persons = sorted(
        (i for i, s in enumerate(listeners) if s.policy == policy), key=lambda i: listeners[i].lag_s
    )
    return [list(part) for part in np.array_split(np.array(persons, int), rounds)]


def load_plan(root: str | Path) -> WorldPlan:
    """The plan of a generated world, rebuilt from its dataset.json ("config"): with
    `speaker_side(plan.config, plan.speakers[clip.speaker_id], clip.index)` any clip's
    speaker side comes back exactly as `reactface synth` made it."""
    path = Path(root) / react.METADATA_FILE
    try:
        config = json.loads(path.read_text())["config"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path} has no world config ({error}); expected a world written by reactface synth"
        ) from error
    return plan_world(WorldConfig.from_dict(config))


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


@lru_cache(maxsize=8)
def _rig(identity: tuple[float, ...]):
    from reactface_core.face.rig import ArkitRig

    return ArkitRig(identity=identity_space().offsets(np.array(identity)))


@dataclass
class SpeakerSide:
    """The speaker's side of one clip, in memory (what listeners react to)."""

    style: speaker.SpeakerStyle
    script: speaker.SpeakerScript
    coefficients: np.ndarray  # (T, 58) float32 arkit58: what the camera sees (before the stage)
    expressive: np.ndarray  # (T, 52) the emotional part alone (no speech, blinks, gaze)
    audio: np.ndarray  # (T * 640,) float32 16 kHz: what the microphone records
    clean_speech: np.ndarray  # (T * 640,) float32: the placed espeak-ng phrases alone
    acoustics: speech.Acoustics
    stage: stage.Stage
    landmarks: np.ndarray  # (T, 468, 3) noisy raw landmarks, NaN rows where lost
    clean_landmarks: np.ndarray  # (T, 468, 3) the exact projection (no noise, no NaN)
    visible: np.ndarray  # (T,) bool: the face could be seen (not turned away, out, covered)
    detectable: np.ndarray  # (T,) bool: visible and large enough for the face detector

    @property
    def frames(self) -> int:
        return self.script.frames


@dataclass
class ClipData:
    """Everything generated for one speaker clip, in memory."""

    speaker: SpeakerSide
    listener_coefficients: list[np.ndarray]  # per listener (T, 58), in set order


# One independent random stream per purpose and clip, so fixing one range (or adding a
# draw to one part) leaves the others' draws as they were.
STREAMS = ("speech", "face", "acoustics", "stage", "detector", "room", "framing", "video")


def stored_clip_frames(root: str | Path, speaker_path: str, backend: str = "auto"):
    """Frames (start, uint8 (n, H, W, 3)) of a stored clip's speaker, rendered on its own
    stage exactly as `reactface synth --render-video` would have written them."""
    from reactface_core.data.world.video import render_frames

    plan = load_plan(root)
    clip = next((c for c in plan.clips if c.speaker_path == speaker_path), None)
    if clip is None:
        raise ValueError(f"{root} has no speaker clip {speaker_path!r}")
    side = speaker_side(plan.config, plan.speakers[clip.speaker_id], clip.index)
    yield from render_frames(side, clip_stream(plan.config, clip.index, "video"), backend)


def clip_stream(config: WorldConfig, index: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([config.seed, 5, index, 1 + STREAMS.index(purpose)])


def speaker_side(
    config: WorldConfig,
    style: speaker.SpeakerStyle,
    index: int,
    emotions: list[int] | None = None,
) -> SpeakerSide:
    """The speaker's side of clip `index` from (config.seed, index) alone: emotions,
    espeak-ng phrases in a room, timing read from the audio, the face driven by it, the
    stage and the detector's view. `emotions` forces the emotion sequence (tests, demos)."""

    def stream(purpose: str) -> np.random.Generator:
        return clip_stream(config, index, purpose)

    frames = config.frames
    clean = speech.speak(
        stream("speech"), style.voice, style.pause_scale, style.emotion_weights, frames, emotions
    )
    timing = speech.analyse(clean, frames, style.formant_scale)
    script = speaker.script_from_speech(clean, timing, frames)
    face = speaker.speaker_face(stream("face"), style, script, timing)
    acoustics = speech.sample_acoustics(
        stream("acoustics"), config.snr_db, config.mic_gain_db, config.rt60_seconds
    )
    audio = speech.room(stream("room"), clean, acoustics)

    rig = _rig(style.identity)
    vertices = rig.vertices(face.coefficients)
    face_size = float(np.ptp(rig.neutral[:, 1]))
    scene = stage.sample_stage(
        stream("stage"), config, frames, face_size, style.appearance.skin, identity_space()
    )
    scene = stage.frame_face(stream("framing"), scene, vertices, config.face_position)
    view = stage.observe(stream("detector"), scene, vertices, config.detector)
    return SpeakerSide(
        style=style,
        script=script,
        coefficients=face.coefficients,
        expressive=face.expressive,
        audio=audio,
        clean_speech=clean.clean,
        acoustics=acoustics,
        stage=scene,
        landmarks=view.landmarks,
        clean_landmarks=view.clean,
        visible=view.visible,
        detectable=view.detectable,
    )


def listener_reaction(
    side: SpeakerSide, style: listener.ListenerStyle, seed: int | list[int]
) -> np.ndarray:
    """(T, 58) float32 reaction of one listener person to a speaker side; `seed` (an int
    or a list of ints, as `numpy.random.default_rng` takes) draws its timing."""
    return listener.listener_coefficients(
        np.random.default_rng(seed),
        style,
        side.script,
        side.expressive,
        side.coefficients[:, 52:55],
        side.visible,
    )


def generate_clip(
    config: WorldConfig,
    style: speaker.SpeakerStyle,
    listener_styles: list[listener.ListenerStyle],
    index: int,
    emotions: list[int] | None = None,
) -> ClipData:
    """Generate one speaker clip and its listeners' reactions from (seed, index) alone."""
    side = speaker_side(config, style, index, emotions)
    reactions = [
        listener_reaction(side, listener_style, [config.seed, 6, index, k])
        for k, listener_style in enumerate(listener_styles)
    ]
    return ClipData(side, reactions)


def write_clip(root: Path, plan: WorldPlan, clip: ClipPlan) -> dict:
    """Generate one clip, write its files into the REACT layout, return its metadata."""
    import soundfile

    config = plan.config
    styles = [plan.listeners[i] for i in clip.listener_ids]
    data = generate_clip(config, plan.speakers[clip.speaker_id], styles, clip.index)
    side = data.speaker
    base = root / clip.split

    def target(modality: str, path: str) -> Path:
        file = react.modality_path(base, modality, path)
        file.parent.mkdir(parents=True, exist_ok=True)
        return file

    np.save(target("coefficients", clip.speaker_path), side.coefficients)
    landmarks = target(react.LANDMARK_FILES, clip.speaker_path)
    np.save(landmarks, side.landmarks.astype(np.float16))
    react.write_frame_size(landmarks, side.stage.width, side.stage.height)
    soundfile.write(target("audio", clip.speaker_path), side.audio, AUDIO_RATE, subtype="PCM_16")
    for listener_id, reaction in zip(clip.listener_ids, data.listener_coefficients, strict=True):
        np.save(target("coefficients", clip.listener_path(listener_id)), reaction)
    if config.render_video:
        from reactface_core.data.world.video import write_video

        rng = clip_stream(config, clip.index, "video")
        write_video(target("video", clip.speaker_path), side, rng)
    style = side.style
    return {
        "index": clip.index,
        "split": clip.split,
        "speaker_path": clip.speaker_path,
        "speaker_id": clip.speaker_id,
        "speaker": {
            "voice": asdict(style.voice),
            "poker_faced": style.poker_faced,
            "face_gain": round(style.face_gain, 3),
            "expressivity": round(style.expressivity, 3),
        },
        "script": side.script.summary(),
        "stage": side.stage.summary(),
        "acoustics": side.acoustics.summary(),
        "lost_frames": int(np.isnan(side.landmarks[:, 0, 0]).sum()),
        "hidden_frames": int((~side.visible).sum()),
        "undetectable_frames": int((side.visible & ~side.detectable).sum()),
        "cues": _cues(side),
        "listeners": [
            {
                "path": clip.listener_path(listener_id),
                "listener_id": listener_id,
                "policy": plan.listeners[listener_id].policy,
                "lag_s": round(plan.listeners[listener_id].lag_s, 4),
                "gain": round(plan.listeners[listener_id].gain, 4),
            }
            for listener_id in clip.listener_ids
        ],
    }


def _cues(side: SpeakerSide) -> dict:
    """The pauses and stresses listeners react to, and how many of them the landmark files
    do not show (no face there, or a poker-faced speaker): heard, not seen."""
    frames = np.concatenate([side.script.pause_onsets, side.script.stress_frames])
    at = np.clip(frames.astype(np.int64), 0, side.frames - 1)
    unseen = np.isnan(side.landmarks[at, 0, 0]) | side.style.poker_faced
    return {"count": int(len(at)), "unseen": int(unseen.sum())}


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
    """Write a whole world into `root` (must be empty or absent). It is built in a
    `<root>.partial-<pid>` folder renamed to `root` when complete, so an interrupted run
    leaves no half world under the name asked for."""
    import shutil

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"output folder {root} is not empty; choose a new --out folder")
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    plan = plan_world(config)
    espeak.program()  # EspeakMissing, naming the package, before any work starts
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    partial.mkdir(parents=True)
    try:
        _write_world(partial, plan, workers, progress, preview)
        if root.exists():
            root.rmdir()  # empty, checked above
        os.replace(partial, root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return plan


def _write_world(root: Path, plan: WorldPlan, workers: int, progress: bool, preview: bool):
    from tqdm import tqdm

    config = plan.config
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
        face_model="arkit58", directions="speaker_to_listener", generator=GENERATOR
    )
    react.write_info(
        root,
        info,
        clip_frames=config.frames,
        sample_rate=AUDIO_RATE,
        splits=counts,
        config=_config_dict(config),
    )
    with (root / "world_clips.jsonl").open("w") as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    (root / "README.md").write_text(_readme(plan, counts, records))


def _config_dict(config: WorldConfig) -> dict:
    return {**asdict(config), "frames": config.frames, "speakers": config.speakers}


def _readme(plan: WorldPlan, counts: dict, records: list[dict]) -> str:
    config = plan.config
    policies = [style.policy for style in plan.listeners]
    frames = config.frames * len(records)

    def share(key: str) -> str:
        return f"{sum(r[key] for r in records) / frames:.1%}"

    cues = sum(r["cues"]["count"] for r in records)
    unseen = sum(r["cues"]["unseen"] for r in records)
    speaking = sum(b - a for r in records for a, b in r["script"]["utterances"])
    lines = [
        "# Synthetic dyadic world (reactface synth)",
        "",
        "Generated by `reactface synth "
        f"--clips {config.clips} --seconds {config.seconds:g} "
        f"--listeners-per-speaker {config.listeners_per_speaker} "
        f"--clips-per-speaker {config.clips_per_speaker} --seed {config.seed}"
        + (" --render-video" if config.render_video else "")
        + "` and the scene, voice and room parameters below. The output is byte-identical "
        "for the same arguments (any --workers).",
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
        "convention landmarks (x, y in fractions of the clip's image width and height, "
        "which are in `world_clips.jsonl` as `stage.image_size`) through the clip's virtual "
        "camera, detector noise, NaN rows where the face is lost, turned away, out of frame "
        "or covered.",
        "- `{split}/Audio_files/<speaker path>.wav`: 16 kHz mono PCM16, T x 640 samples: "
        "espeak-ng phrases with room reverberation and noise.",
        *(
            [
                "- `{split}/Video_files/<speaker path>.mp4`: the clip's stage rendered at its "
                "resolution, 25 fps."
            ]
            if config.render_video
            else []
        ),
        "- `world_clips.jsonl`: per speaker clip its emotion segments, phrases, utterances, "
        "pauses and stresses (as the audio has them), the speaker's voice, the stage "
        "(image size, field of view, distance, body sway and lean, no-face and second-face "
        "spans), the room "
        "and microphone, and its listeners (policy, lag, gain) in set order.",
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
        f"- camera: resolutions {', '.join(f'{w}x{h}' for w, h in config.resolutions)}; "
        f"field of view {_range(config.fov_degrees)} deg; face height "
        f"{_range(config.face_height)} of the frame; position "
        + ("anywhere in frame" if config.face_position is None else str(config.face_position))
        + f"; camera yaw {_range(config.camera_yaw_degrees)} deg, pitch "
        f"{_range(config.camera_pitch_degrees)} deg",
        f"- speakers: head motion {_range(config.head_motion)} rad, body sway "
        f"{_range(config.body_sway)} m and lean {_range(config.body_lean)} rad (per clip), "
        "identity scale "
        f"{config.identity_scale:g}, poker-faced {config.poker_face_fraction:.0%}",
        f"- events: no face {config.no_face_fraction:.0%} of the time (turned away, stepped "
        f"out of the frame or covered by a hand), a second face "
        f"{config.second_face_fraction:.0%}",
        f"- room: SNR {_range(config.snr_db)} dB, microphone gain {_range(config.mic_gain_db)}"
        f" dB, RT60 {_range(config.rt60_seconds)} s",
        f"- detector noise: {asdict(config.detector)}",
        "- speaker emotions: " + ", ".join(speaker.EMOTIONS),
        "",
        "## What was drawn",
        "",
        f"- speech: {speaking / (frames / speaker.FPS):.0%} of the time, "
        f"{sum(len(r['script']['phrases']) for r in records) / len(records):.1f} phrases per "
        f"clip; {cues} pauses and stresses for listeners to react to",
        f"- landmark files without a face: {share('lost_frames')} of the frames (turned away, "
        f"covered or out of frame {share('hidden_frames')}, too small for the detector "
        f"{share('undetectable_frames')}, the rest random detector drops)",
        f"- poker-faced speaker clips: "
        f"{sum(r['speaker']['poker_faced'] for r in records) / len(records):.0%}",
        f"- pauses and stresses heard but not seen (no face in the landmark files, or a "
        f"poker face): {unseen / max(cues, 1):.0%}",
        "",
        "| split | speaker clips | csv rows |",
        "|---|---|---|",
        *(f"| {s} | {c['speaker_clips']} | {c['rows']} |" for s, c in counts.items()),
        "",
    ]
    return "\n".join(lines)


def _range(bounds: Range) -> str:
    low, high = bounds
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"
