"""`reactface train`: two-stage ReactFace training from a YAML config."""

from __future__ import annotations

import argparse

import yaml

from reactface_core.cli import usage_error

EXAMPLES = """examples:
  reactface train --config config/train_synth.yaml
  reactface train --config config/train_synth.yaml --resume
  reactface train --config config/train_synth.yaml --set stage2.epochs=4 --set data.batch_size=8
  torchrun --nproc_per_node 2 -m reactface_core.cli train --config config/train_synth.yaml
"""


def register(subparsers, common):
    parser = subparsers.add_parser(
        "train",
        parents=[common],
        help="train ReactFace (stage 1: Eq. 14, stage 2: Eq. 15) from a YAML config",
        description=(
            "Train ReactFace in two stages on a REACT-layout dataset (the REACT challenge data "
            "or `reactface synth` output). Writes last.pt (resumable), stage1.pt, best.pt (the "
            "stage-2 epoch with the best validation.select metric), history.jsonl and curves.png "
            "into the run directory. --seed overrides the config's seed. Runs unchanged under "
            "torchrun (DDP: gloo on CPU, nccl on GPUs)."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", required=True, help="training YAML (see config/train_synth.yaml)"
    )
    parser.add_argument("--data", help="dataset root (overrides data.root)")
    parser.add_argument("--output", help="run directory (overrides output)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config value, e.g. stage1.epochs=3 or model.dim=32 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    parser.set_defaults(func=run, seed=None)


def run(args) -> int:
    from reactface_core.train import Trainer, load_train_config
    from reactface_core.utils import resolve_device

    overrides = {}
    for item in args.set:
        key, separator, value = item.partition("=")
        if not separator:
            usage_error("reactface train", f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    if args.data:
        overrides["data.root"] = args.data
    if args.output:
        overrides["output"] = args.output
    if args.seed is not None:
        overrides["seed"] = args.seed
    try:
        config = load_train_config(args.config, overrides)
        trainer = Trainer(config, resolve_device(args.device), resume=args.resume)
    except (FileNotFoundError, ValueError) as error:  # config, data or --resume checkpoint
        raise SystemExit(f"reactface train: {error}") from None
    best = trainer.run()
    print(f"best checkpoint: {best}")
    return 0
