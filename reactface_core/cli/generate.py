"""`reactface generate`: N sampled reactions to every speaker clip of a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers, common):
    parser = subparsers.add_parser(
        "generate",
        parents=[common],
        help="generate N reactions per speaker clip of a split with a checkpoint",
        description=(
            "Run a trained model causally over every distinct speaker clip of a REACT-layout "
            "split and save the reactions as a (num_speakers, N, T, D) .npy file, the format "
            "`reactface evaluate --pred` reads (speakers in dataset order)."
        ),
        epilog="example: reactface generate --data data/synth --split test --out pred.npy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="REACT-layout dataset root")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument(
        "--checkpoint",
        help="model checkpoint (default: the shipped reactface_core/checkpoints/reactface_synth.pt)",
    )
    parser.add_argument("--samples", type=int, default=10, help="N reactions per speaker (10)")
    parser.add_argument(
        "--deterministic", action="store_true", help="use the distribution means (no sampling)"
    )
    parser.add_argument("--out", required=True, type=Path, help="output .npy file")
    parser.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from reactface_core.generate import generate_reactions
    from reactface_core.utils import resolve_device

    try:
        predictions = generate_reactions(
            args.checkpoint,
            args.data,
            args.split,
            args.samples,
            seed=args.seed,
            device=resolve_device(args.device),
            deterministic=args.deterministic,
        )
    except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        raise SystemExit(f"reactface generate: {error}") from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, predictions.astype(np.float32))
    print(f"wrote {args.out}: {predictions.shape} (speakers, samples, frames, coefficients)")
    return 0
