"""`reactface prepare`: extract and cache speaker landmarks and audio features for a dataset."""

from __future__ import annotations

import argparse
import sys

from reactface_core.data.react import SPLITS
from reactface_core.perception.prepare import CAMERA, KINDS

DESCRIPTION = """\
Walk a REACT-layout dataset root and cache the model's speaker inputs:

  Video_files/<clip>.mp4 (or a Video_files/<clip>/ folder of frame images)
    -> Landmark_files/<clip>.npy  float16 (T, 468, 3) MediaPipe face-mesh landmarks,
       one row per frame at 25 fps, NaN rows where no face was found
  Audio_files/<clip>.wav (any sample rate / channels)
    -> Logmel_files/<clip>.npy    float32 (n_steps, 70) causal audio features at 50 Hz:
       64 log-mel bands and 6 prosody values (pitch, loudness, voicing against the
       speaker's own running average)
  a synthetic world of `reactface synth` (--only camera: never by default)
    -> Camera_landmark_files/<clip>.npy  the same landmarks, as MediaPipe tracks each
       speaker clip rendered on its own stage (what a robot's camera would deliver; the
       world's Landmark_files are its simulated detector's); for
       `reactface evaluate --perception camera`, and (a few train clips, --clips) to
       learn what the camera does to every clip (`data.landmarks=camera_view`). About
       45 ms a frame per worker (render and track): 17 min for the 60 test clips of a
       400-clip world with --workers 2

Files already written are skipped, so an interrupted run resumes where it stopped."""


def register(subparsers, common):
    parser = subparsers.add_parser(
        "prepare",
        parents=[common],
        help="extract and cache speaker landmarks and audio features for a dataset",
        description=DESCRIPTION,
        epilog=(
            "example: reactface prepare --data data/react --workers 2\n"
            "         reactface prepare --data data/synth --only camera --split test --workers 2\n"
            "         reactface prepare --data data/synth --only camera --split train --clips 20\n"
            "Unreadable files are reported and skipped; the exit status is 1 if any failed."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", required=True, metavar="DIR", help="dataset root holding Video_files/ etc."
    )
    parser.add_argument(
        "--only",
        choices=(*KINDS, CAMERA),
        help="extract only face landmarks, only the audio features (default: both) or, for a "
        "synthetic world, only the camera landmarks of its renders",
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        action="append",
        help="only this split folder (repeatable; default: all, and the root itself)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="parallel worker processes (default: 1; each holds its own MediaPipe graph)",
    )
    parser.add_argument(
        "--clips",
        type=int,
        metavar="N",
        help="--only camera: track only N speaker clips of each split, spread evenly over it "
        "(20 train clips teach `data.landmarks=camera_view` what the camera does)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="recompute files that already exist"
    )
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from reactface_core.perception.prepare import prepare

    if args.workers < 1:
        print(f"reactface prepare: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.clips is not None and (args.clips < 1 or args.only != CAMERA):
        print("reactface prepare: --clips N needs N >= 1 and --only camera", file=sys.stderr)
        return 2
    kinds = (args.only,) if args.only else tuple(KINDS)
    splits = tuple(dict.fromkeys(args.split)) if args.split else SPLITS
    try:
        summary = prepare(
            args.data,
            kinds,
            workers=args.workers,
            overwrite=args.overwrite,
            splits=splits,
            camera_clips=args.clips,
        )
    except ValueError as error:
        print(f"reactface prepare: {error}", file=sys.stderr)
        return 2
    print(
        f"prepared {len(summary.done)} files, skipped {len(summary.skipped)} already done, "
        f"{len(summary.failed)} failed"
    )
    for source, error in summary.failed:
        print(f"  failed: {source}: {error}", file=sys.stderr)
    return 1 if summary.failed else 0
