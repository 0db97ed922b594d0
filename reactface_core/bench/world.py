"""Synthetic world, rendered: does MediaPipe see what the landmark files say?

Generates a few speaker clips of a world with many events (no-face and second-face spans
over a quarter of the time each by default), renders each to mp4 as `reactface synth
--render-video` does (its stage, lighting, skin, hair, hand, bystander, noise, blur, JPEG),
and runs the same MediaPipe tracking `reactface prepare` runs on it. Per clip and overall:

- face found in face frames (the landmark path has a face: not turned away, covered, out
  of frame or below the detector's size limit; its random drops aside) and in no-face
  frames (turned away, covered, out of frame); targets >= 98 % and <= 1 %;
- where both have a face, the distance between MediaPipe's landmarks and the exact
  projection the landmark files are made from, in pixels and in % of the face height
  (median over frames of the mean over the 468 points), beside the simulated detector's
  own noise on the same frames;
- the speaker features (`perception.landmarks.SpeakerFeatures`) of MediaPipe's landmarks
  against those of the landmark files, which the model is trained on, where both have a
  face: per column group, the median over its columns of the correlation over time and of
  the gain (MediaPipe's std over the files'); beside it the files against the exact
  projection they are made from (the simulated detector's noise alone) and MediaPipe
  against that projection. No target: it says how much of what the model learns to read
  from the world a camera delivers, and whether the world's noise is a camera's;
- the same three comparisons for expression measured as whole shapes of the frontalised
  face (`EXPRESSION_MEASURES`: mouth opening and width, the mouth corners' and brows'
  height, each eye's opening): what a camera delivers of the expression when the single
  points' columns are mostly the tracker's own error;
- rendering time per frame.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from reactface_core.bench import machine_load
from reactface_core.perception.landmarks import COLUMN_GROUPS, REGIONS

COMPARISONS = ("MediaPipe vs files", "files vs exact", "MediaPipe vs exact")
# name: (points, points, axis): mean of the first points minus mean of the second, on axis
# 0 (x, image right) or 1 (y, down) of the frontalised face, in eye distances
EXPRESSION_MEASURES = {
    "mouth_open": ((14,), (13,), 1),  # inner lower lip below the upper
    "mouth_width": ((291,), (61,), 0),  # the subject's left corner right of the right one
    "corners_up": ((13, 14), (61, 291), 1),  # the lips' centre below the corners
    "right_eye_open": ((145,), (159,), 1),  # lower lid below the upper
    "left_eye_open": ((374,), (386,), 1),
    "right_brow_up": ((33, 133), tuple(REGIONS["right_brow"]), 1),  # eye corners below it
    "left_brow_up": ((263, 362), tuple(REGIONS["left_brow"]), 1),
}
MEASURE_COLUMNS = {name: slice(k, k + 1) for k, name in enumerate(EXPRESSION_MEASURES)}
FOUND_TARGET = 0.98
FALSE_TARGET = 0.01


def add_arguments(parser) -> None:
    parser.add_argument("--clips", type=int, default=6, help="clips to render (default: 6)")
    parser.add_argument(
        "--seconds", type=float, default=12.0, help="seconds per clip (default: 12)"
    )
    parser.add_argument(
        "--no-face-fraction",
        type=float,
        default=0.25,
        help="expected fraction of no-face frames (default: 0.25)",
    )
    parser.add_argument(
        "--second-face-fraction",
        type=float,
        default=0.25,
        help="expected fraction of frames with a second face (default: 0.25)",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the rendered mp4 files in this folder"
    )


def run(args) -> int:
    from reactface_core.data.world.synth import (
        WorldConfig,
        clip_stream,
        plan_world,
        speaker_side,
    )
    from reactface_core.data.world.video import write_video
    from reactface_core.perception.face_tracker import FaceLandmarker, landmarks_from_video
    from reactface_core.perception.landmarks import visual_features

    config = WorldConfig(
        clips=max(args.clips, 3),
        seconds=args.seconds,
        clips_per_speaker=1,
        seed=args.seed,
        no_face_fraction=args.no_face_fraction,
        second_face_fraction=args.second_face_fraction,
    )
    plan = plan_world(config)
    print(f"{machine_load()}; {args.clips} clips of {args.seconds:g} s")
    header = (
        "clip  size      fov  face  frames | face found | no face found | below limit found "
        "| error px  % face  noise px | ms/frame"
    )
    print(header)
    totals = {"face": 0, "found": 0, "none": 0, "false": 0, "small": 0, "small_found": 0}
    errors = []
    agreement = {name: [] for name in COMPARISONS}  # per clip: group -> (corr, gain)
    expression = {name: [] for name in COMPARISONS}  # per clip: measure -> (corr, gain)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="reactface-world-"))
    folder.mkdir(parents=True, exist_ok=True)
    with FaceLandmarker(mode="video") as landmarker:
        for clip in plan.clips[: args.clips]:
            side = speaker_side(config, plan.speakers[clip.speaker_id], clip.index)
            stage = side.stage
            path = folder / f"clip_{clip.index:03d}.mp4"
            start = time.perf_counter()
            write_video(path, side, clip_stream(config, clip.index, "video"))
            ms = (time.perf_counter() - start) / side.frames * 1e3
            seen = landmarks_from_video(path, landmarker)[: side.frames]
            found = np.isfinite(seen).all(axis=(1, 2))
            face = side.detectable  # frames whose landmark file has a face (but random drops)
            none = ~side.visible  # turned away, covered, out of frame
            small = side.visible & ~side.detectable  # below the simulated detector's limit
            both = face & found
            scale = np.array([stage.width, stage.height])
            clean = side.clean_landmarks[both, :, :2] * scale
            error = np.linalg.norm(seen[both, :, :2] * scale - clean, axis=2).mean(axis=1)
            kept = both & np.isfinite(side.landmarks).all(axis=(1, 2))
            noise = side.landmarks[kept, :, :2] * scale - side.clean_landmarks[kept, :, :2] * scale
            face_px = np.median(np.ptp(side.clean_landmarks[side.visible, :, 1], axis=1))
            face_px *= stage.height
            error_px = float(np.median(error)) if len(error) else float("nan")
            noise_px = np.linalg.norm(noise, axis=2).mean(axis=1)
            noise_px = float(np.median(noise_px)) if len(noise_px) else float("nan")
            if len(error):
                errors.append(error_px / face_px)
            aspect = stage.height / stage.width
            tables = (
                (agreement, visual_features, COLUMN_GROUPS),
                (expression, expression_measures, MEASURE_COLUMNS),
            )
            for table, measure, groups in tables:
                camera, files, exact = (
                    measure(raw, aspect) for raw in (seen, side.landmarks, side.clean_landmarks)
                )
                pairs = ((camera, files), (files, exact), (camera, exact))
                for name, (features, reference) in zip(COMPARISONS, pairs, strict=True):
                    table[name].append(feature_agreement(features, reference, groups))
            for key, count in (
                ("face", face.sum()),
                ("found", both.sum()),
                ("none", none.sum()),
                ("false", (none & found).sum()),
                ("small", small.sum()),
                ("small_found", (small & found).sum()),
            ):
                totals[key] += int(count)
            print(
                f"{clip.index:4d}  {stage.width:4d}x{stage.height:<4d} {stage.fov_degrees:3.0f} "
                f"{stage.face_height:5.2f}  {side.frames:6d} | {_rate(both, face):>10} | "
                f"{_rate(none & found, none):>13} | {_rate(small & found, small):>17} | "
                f"{error_px:8.2f}  {100 * error_px / face_px:6.2f}  {noise_px:8.2f} | {ms:8.1f}"
            )
    found_rate = totals["found"] / max(totals["face"], 1)
    false_rate = totals["false"] / max(totals["none"], 1)
    print(
        f"overall: face found in {found_rate:.1%} of {totals['face']} face frames "
        f"(target >= {FOUND_TARGET:.0%}), in {false_rate:.1%} of {totals['none']} no-face "
        f"frames (target <= {FALSE_TARGET:.0%}); MediaPipe vs projected landmarks "
        f"{100 * np.median(errors):.2f} % of the face height (median clip)"
    )
    if args.keep is None:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    print(
        f"faces below the simulated size limit (no landmarks in the files): MediaPipe found "
        f"{totals['small_found']} of {totals['small']} frames"
    )
    print(format_agreement(agreement))
    print(format_agreement(expression, EXPRESSION_TITLE))
    met = found_rate >= FOUND_TARGET and false_rate <= FALSE_TARGET
    print("targets met" if met else "TARGETS MISSED")
    return 0


def expression_measures(raw: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, len(EXPRESSION_MEASURES)) measures of raw landmarks (T, 468, 3) and (T,) valid."""
    from reactface_core.perception.landmarks import align_faces

    faces = align_faces(raw, aspect)
    columns = [
        faces.shape[:, list(first), axis].mean(axis=1)
        - faces.shape[:, list(second), axis].mean(axis=1)
        for first, second, axis in EXPRESSION_MEASURES.values()
    ]
    return np.nan_to_num(np.stack(columns, axis=1)), faces.valid


STILL = 1e-6  # a feature column whose std over time is below this does not move
AGREEMENT_FRAMES = 25  # fewer frames with a face in both: no correlation is reported


def feature_agreement(
    seen, reference, groups: dict[str, slice] = COLUMN_GROUPS
) -> dict[str, tuple[float, float]]:
    """Per column group: median over its columns of the correlation over time and of the
    gain (std of `seen` over std of `reference`), on frames where both have a face. Each
    argument is `(features, valid)`; columns that do not move in either are left out."""
    (a, valid_a), (b, valid_b) = seen, reference
    both = valid_a & valid_b
    if both.sum() < AGREEMENT_FRAMES:
        return {}
    a, b = a[both].astype(np.float64), b[both].astype(np.float64)
    result = {}
    for group, columns in groups.items():
        x, y = a[:, columns], b[:, columns]
        x_std, y_std = x.std(axis=0), y.std(axis=0)
        moving = (x_std > STILL) & (y_std > STILL)
        if not moving.any():
            continue
        x, y, x_std, y_std = x[:, moving], y[:, moving], x_std[moving], y_std[moving]
        corr = ((x - x.mean(axis=0)) * (y - y.mean(axis=0))).mean(axis=0) / (x_std * y_std)
        result[group] = (float(np.median(corr)), float(np.median(x_std / y_std)))
    return result


FEATURES_TITLE = (
    "speaker features where both see a face (median over clips of the correlation over "
    "time and the gain, std over std; files = the landmark files the model is trained on, "
    "exact = the projection they are made from before the simulated detector noise):"
)
EXPRESSION_TITLE = (
    "expression as whole shapes of the frontalised face, where both see a face (the same "
    "medians; eye distances):"
)


def format_agreement(agreement: dict[str, list[dict]], title: str = FEATURES_TITLE) -> str:
    """Median over clips, per group, of each comparison's (correlation, gain)."""
    groups = dict.fromkeys(g for clips in agreement.values() for clip in clips for g in clip)
    width = max(12, *(len(group) for group in groups))
    lines = [title, "  " + f"{'group':{width}s}" + "".join(f"  {name:>23s}" for name in agreement)]
    for group in groups:
        cells = []
        for clips in agreement.values():
            values = np.array([clip[group] for clip in clips if group in clip])
            corr, gain = np.median(values, axis=0) if len(values) else (np.nan, np.nan)
            cells.append(f"corr {corr:5.2f}  gain {gain:5.2f}")
        lines.append("  " + f"{group:{width}s}" + "".join(f"  {cell:>23s}" for cell in cells))
    return "\n".join(lines)


def _rate(hits: np.ndarray, frames: np.ndarray) -> str:
    """'97.0% of 120', or 'none' when there are no such frames."""
    count = int(frames.sum())
    return f"{hits.sum() / count:.1%} of {count}" if count else "none"
