"""`reactface calibrate`: fit a trained model's idle head motion on a held-out split."""

from __future__ import annotations

import argparse
from pathlib import Path

from reactface_core.cli import usage_error


def register(subparsers, common):
    parser = subparsers.add_parser(
        "calibrate",
        parents=[common],
        help="fit a trained checkpoint's idle head motion (head sway) on a held-out split",
        description=(
            "Real listeners' heads sway (yaw, roll, position) whatever the speaker does; a "
            "model trained to reconstruct reactions leaves that drift out. This generates "
            "the model's samples on a split it did not train on, measures per idle channel "
            "how much motion they lack against the appropriate reactions and how smooth "
            "that motion is, and writes a checkpoint that adds the missing part as smooth "
            "noise (reactface_core/model/idle.py). The weights are unchanged; calibrating "
            "a calibrated checkpoint fits it afresh."
        ),
        epilog=(
            "example (the last step of `make model`):\n"
            "  reactface calibrate --checkpoint runs/synth/best.pt --data data/synth "
            "--out reactface_core/checkpoints/reactface_synth.pt"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, type=Path, help="trained checkpoint")
    parser.add_argument("--data", required=True, type=Path, help="REACT-layout dataset root")
    parser.add_argument(
        "--split",
        default="val",
        choices=("val", "test", "train"),
        help="split to measure on: one the model did not train on, and not the one you "
        "report results on (default: val)",
    )
    parser.add_argument(
        "--samples", type=int, default=10, help="reactions per speaker measured (default: 10)"
    )
    parser.add_argument("--out", required=True, type=Path, help="calibrated checkpoint to write")
    parser.set_defaults(func=run)


def run(args) -> int:
    from reactface_core.calibrate import calibrate_checkpoint
    from reactface_core.utils import resolve_device

    if args.samples < 2:
        usage_error("reactface calibrate", f"--samples must be at least 2, got {args.samples}")
    try:
        fits = calibrate_checkpoint(
            args.checkpoint,
            args.data,
            args.out,
            split=args.split,
            samples=args.samples,
            seed=args.seed,
            device=resolve_device(args.device),
        )
    except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        raise SystemExit(f"reactface calibrate: {error}") from None
    print(f"idle motion fitted on {args.data} ({args.split}):")
    print(f"  {'channel':18s} {'set std':>9s} {'samples':>9s} {'added':>9s} {'rough':>6s} pole")
    for fit in fits:
        print(
            f"  {fit.channel:18s} {fit.set_std:9.5f} {fit.sample_std:9.5f} {fit.added_std:9.5f}"
            f" {fit.roughness:6.3f} {fit.pole:.3f}"
        )
    print(f"wrote {args.out}")
    return 0
