"""Real-face clips: is the face found, and do the speaker features look like training?

On the project's own real-face clips (`reactface_core.data.realface`: portraits shipped in
matplotlib and scikit-image, animated at webcam framing, with no-face and two-face spans
and espeak-ng speech; generated into --clips when missing) it prints per clip: the
fraction of one-face frames where MediaPipe found a face, of two-face frames where it
found one inside the speaker's box, and of no-face frames where it found none; and the
speaker features' distance from the training distribution as median and p99 |z| per column
group (rotation, motion, each face region), with the training mean/std from a
checkpoint's normalisation (--checkpoint) or measured on a world's train split (--data).
Targets: face found in >= 98 % of one-face frames and <= 1 % of no-face frames; median
|z| <= 1.0 and p99 |z| <= 4 for every column group. The face tracker is the reaction
node's (`ModelSettings.far_faces`). Then, without a target, the far clips (the speaker a
few metres away, `realface.far_clips`): how often the face mesh alone finds the face and
how often the node's tracker does with its far-face search. The voice's features (log-mel and
prosody, `perception.audio`) are reported the same way, without a target: log-mel moves
with the microphone's gain and the room, which the prosody columns measure against the
speaker's own voice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reactface_core.bench import machine_load

FOUND_TARGET, FALSE_TARGET = 0.98, 0.01
MEDIAN_Z_TARGET, P99_Z_TARGET = 1.0, 4.0


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--checkpoint", help="training statistics from this checkpoint ('default': the shipped)"
    )
    source.add_argument(
        "--data", type=Path, help="training statistics measured on this world's train split"
    )
    parser.add_argument(
        "--clips",
        type=Path,
        default=Path("data/realface"),  # beside the worlds, out of git
        help="folder of real-face clips; missing ones are generated (default: data/realface)",
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="clip length (default: 12)")
    parser.add_argument(
        "--count", type=int, default=4, help="how many of the four clips to score (default: 4)"
    )
    parser.add_argument(
        "--far-count", type=int, default=2, help="how many of the two far clips (default: 2)"
    )
    parser.add_argument(
        "--max-clips", type=int, default=None, help="statistics from at most N train clips"
    )


def run(args) -> int:
    from reactface_core.data import realface

    try:
        normalisation, source = training_statistics(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"reactface bench realism: {error}")
        return 2
    clips = realface.ensure_clips(
        args.clips, realface.default_clips(args.seconds, args.seed)[: args.count]
    )
    print(f"training statistics: {source}; {machine_load()}")
    met = True
    for paths in clips:
        result = evaluate_clip(paths["mp4"], paths["json"], normalisation, paths["wav"])
        print(format_result(paths["mp4"].stem, result))
        met &= result["found"] >= FOUND_TARGET and result["false"] <= FALSE_TARGET
        met &= all(m <= MEDIAN_Z_TARGET and p <= P99_Z_TARGET for m, p in result["z"].values())
    print(
        f"targets (found >= {FOUND_TARGET:.0%}, false <= {FALSE_TARGET:.0%}, median |z| <= "
        f"{MEDIAN_Z_TARGET}, p99 |z| <= {P99_Z_TARGET}): {'met' if met else 'missed'}"
    )
    far = realface.ensure_clips(args.clips, realface.far_clips(args.seconds, args.seed))
    for paths in far[: args.far_count]:
        alone = evaluate_clip(paths["mp4"], paths["json"], normalisation, far_faces=False)
        result = evaluate_clip(paths["mp4"], paths["json"], normalisation, paths["wav"])
        print(format_result(paths["mp4"].stem + " (far, no target)", result))
        print(f"  the face mesh alone found the face in {alone['found']:.1%} of one-face frames")
    return 0


def training_statistics(args):
    """The training data's `Normalisation` (feature means and stds), and where it came from."""
    if args.checkpoint:
        from reactface_core.checkpoint import Normalisation, load_checkpoint
        from reactface_core.generate import DEFAULT_CHECKPOINT

        path = DEFAULT_CHECKPOINT if args.checkpoint == "default" else Path(args.checkpoint)
        norm = Normalisation.from_dict(load_checkpoint(path).normalization)
        if norm.visual_mean is None:
            raise ValueError(f"checkpoint {path} stores no visual normalisation")
        return norm, f"checkpoint {path}"
    from reactface_core.data.dataset import ReactDataset, compute_normalisation

    dataset = ReactDataset(args.data, "train", window=None, random_crop=False)
    norm = compute_normalisation(dataset, max_clips=args.max_clips)
    clips = len(dataset.speaker_clips[: args.max_clips])
    return norm, f"{args.data} train split ({clips} speaker clips)"


def evaluate_clip(
    video: Path,
    truth_file: Path,
    normalisation,
    wav: Path | None = None,
    far_faces: bool | None = None,
) -> dict:
    """Detection rates against the ground truth, |z| statistics per column group of the
    speaker features and, with `wav` and audio statistics, of the voice's features; the
    face tracker looks for far faces as the reaction node does unless `far_faces` says."""
    from reactface_core.perception.face_tracker import FaceLandmarker, read_frames
    from reactface_core.perception.landmarks import COLUMN_GROUPS, SpeakerFeatures
    from reactface_core.reactor import ModelSettings

    if far_faces is None:
        far_faces = ModelSettings.far_faces

    truth = json.loads(Path(truth_file).read_text())
    with FaceLandmarker(mode="video", far_faces=far_faces) as landmarker:
        raw = np.stack([landmarker(frame) for frame in read_frames(video)])
    faces = np.array(truth["faces"])[: len(raw)]
    found = np.isfinite(raw).all(axis=(1, 2))
    speaker = np.zeros(len(raw), bool)
    for t in np.flatnonzero(found & (faces == 2)):
        x0, y0, x1, y1 = truth["speaker_box"][t]
        x, y = raw[t, :, :2].mean(axis=0) * [truth["width"], truth["height"]]
        speaker[t] = x0 <= x <= x1 and y0 <= y <= y1
    features, valid = SpeakerFeatures()(raw, aspect=truth["height"] / truth["width"])
    z = np.abs((features[valid] - normalisation.visual_mean) / normalisation.visual_std)
    return {
        "frames": {
            "one": int((faces == 1).sum()),
            "two": int((faces == 2).sum()),
            "none": int((faces == 0).sum()),
        },
        "found": float(found[faces == 1].mean()),
        "speaker_of_two": float(speaker[faces == 2].mean()) if (faces == 2).any() else np.nan,
        "false": float(found[faces == 0].mean()),
        "z": _z_by_group(z, COLUMN_GROUPS),
        "audio_z": {} if wav is None else _audio_z(wav, normalisation),
    }


def _z_by_group(z: np.ndarray, groups: dict[str, slice]) -> dict[str, tuple[float, float]]:
    """|z| (n, D) -> group name -> (median, p99) over its columns (NaN with no rows: no
    face was found)."""
    if not len(z):
        return {group: (np.nan, np.nan) for group in groups}
    return {
        group: (float(np.median(z[:, columns])), float(np.percentile(z[:, columns], 99)))
        for group, columns in groups.items()
    }


def _audio_z(wav: Path, normalisation) -> dict[str, tuple[float, float]]:
    from reactface_core.perception.audio import N_MELS, audio_features, load_audio

    if normalisation.audio_mean is None:
        return {}
    steps = audio_features(load_audio(wav))
    z = np.abs((steps - normalisation.audio_mean) / normalisation.audio_std)
    return _z_by_group(z, {"log-mel": slice(0, N_MELS), "prosody": slice(N_MELS, None)})


def format_result(name: str, result: dict) -> str:
    frames = result["frames"]
    lines = [
        f"{name}: face found in {result['found']:.1%} of {frames['one']} one-face frames, the "
        f"speaker in {result['speaker_of_two']:.1%} of {frames['two']} two-face frames, a face "
        f"in {result['false']:.1%} of {frames['none']} no-face frames",
        "  |z| per group      median      p99",
    ]
    lines += _z_lines(result["z"])
    if result["audio_z"]:
        lines += ["  voice (no target)", *_z_lines(result["audio_z"])]
    return "\n".join(lines)


def _z_lines(z_by_group: dict[str, tuple[float, float]]) -> list[str]:
    return [
        f"  {group:16s} {median:8.2f} {p99:8.2f}" for group, (median, p99) in z_by_group.items()
    ]
