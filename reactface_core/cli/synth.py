"""`reactface synth`: generate the synthetic dyadic world in the REACT layout."""

from __future__ import annotations

import argparse
import sys
import time

DESCRIPTION = """\
Generate the built-in training/evaluation data: synthetic speakers whose emotion, speech
and emphasis drive arkit58 face coefficients, face-mesh landmarks (virtual 256x256 camera,
detector noise) and 16 kHz speech-like audio, and listeners who react through several
appropriate policies (delayed mirroring, nods and smiles at pauses, empathic concern,
surprise and brow flashes, attentive neutral). Every speaker clip's appropriate reactions
are the reactions generated for it.

Writes into DIR the REACT layout (train/val/test csv, split by speaker; 3D_FV_files,
Landmark_files, Audio_files, optional Video_files; neighbour_emotion_{split}.npy), plus
dataset.json (face model, direction policy), world_clips.jsonl, README.md and preview.png.
The same --seed and arguments give byte-identical files whatever --workers is.
Size: about 4.2 MB per 30 s clip with 6 listeners (4.2 GB for the default 1000 clips);
time: about 0.2 CPU-seconds per 30 s clip."""


def register(subparsers, common):
    parser = subparsers.add_parser(
        "synth",
        parents=[common],
        help="generate the synthetic dyadic world in the REACT layout",
        description=DESCRIPTION,
        epilog=(
            "examples:\n"
            "  reactface synth --out data/synth --clips 1000 --seed 0\n"
            "  reactface synth --out /tmp/tiny --clips 12 --seconds 6 --clips-per-speaker 2"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    parser.add_argument(
        "--clips",
        type=int,
        default=1000,
        metavar="N",
        help="speaker clips to generate (default: 1000)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="length of each clip in seconds; S*25+1 frames like REACT's 751 (default: 30)",
    )
    parser.add_argument(
        "--listeners-per-speaker",
        type=int,
        default=6,
        metavar="K",
        help="listener reactions per speaker clip = size of its appropriate set (default: 6)",
    )
    parser.add_argument(
        "--clips-per-speaker",
        type=int,
        default=5,
        metavar="C",
        help="clips per synthetic speaker person; splits are by speaker (default: 5)",
    )
    parser.add_argument(
        "--listener-pool",
        type=int,
        default=40,
        metavar="L",
        help="listener persons, policies assigned round robin (default: 40)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, metavar="W", help="worker processes (default: 2)"
    )
    parser.add_argument(
        "--render-video",
        action="store_true",
        help="also render each speaker clip to Video_files/<path>.mp4 (slow)",
    )
    parser.add_argument("--no-preview", action="store_true", help="do not draw preview.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from reactface_core.data.world.generate import WorldConfig, generate_world

    config = WorldConfig(
        clips=args.clips,
        seconds=args.seconds,
        listeners_per_speaker=args.listeners_per_speaker,
        clips_per_speaker=args.clips_per_speaker,
        listener_pool=args.listener_pool,
        seed=args.seed,
        render_video=args.render_video,
    )
    start = time.perf_counter()
    try:
        generate_world(
            args.out,
            config,
            workers=args.workers,
            progress=not args.quiet,
            preview=not args.no_preview,
        )
    except (ValueError, FileExistsError) as error:
        print(f"reactface synth: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(
        f"wrote {config.clips} clips ({config.frames} frames each) to {args.out} "
        f"in {elapsed:.1f} s with {args.workers} workers"
    )
    return 0
