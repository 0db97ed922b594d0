"""The `reactface` command line.

Each subcommand lives in its own module `reactface_core.cli.<name>` exposing
`register(subparsers, common)`; heavy imports happen inside the command, so `--help` is
instant. Commands that need ROS (`demo`, `run`, `bag`) are contributed by `reactface_ros` through
the `reactface.commands` entry-point group, which keeps this package free of ROS imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points
from typing import NoReturn

# Order is the order `reactface --help` lists them in.
CORE_COMMANDS = (
    "synth",
    "prepare",
    "train",
    "calibrate",
    "generate",
    "react",
    "evaluate",
    "render",
    "bench",
)
PLUGIN_GROUP = "reactface.commands"


def usage_error(command: str, message: str) -> NoReturn:
    """A wrong option value: one line on stderr and exit status 2, as argparse's own errors."""
    print(f"{command}: {message}", file=sys.stderr)
    raise SystemExit(2)


def common_parser() -> argparse.ArgumentParser:
    """Options every command accepts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    common.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="torch device; auto picks CUDA when available (default: auto)",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        help="also show MediaPipe/TensorFlow Lite native log lines (hidden by default)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reactface",
        description=(
            "Generate multiple appropriate listener facial reactions to a speaker "
            "(ReactFace), train and evaluate the model, and run it on a robot."
        ),
        epilog="Run `reactface COMMAND --help` for the options of one command.",
    )
    from reactface_core import __version__

    parser.add_argument("--version", action="version", version=f"reactface {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # A fresh parent per command: argparse shares parent actions, so one command changing
    # a default (train takes its seed from its config) must not change the others'.
    for name in CORE_COMMANDS:
        importlib.import_module(f"reactface_core.cli.{name}").register(subparsers, common_parser())
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name):
        plugin.load()(subparsers, common_parser())
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        from reactface_core.native_logs import show_native_logs

        show_native_logs()  # also for the node processes `run` and `demo` start
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
