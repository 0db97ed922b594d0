"""Placeholder for a command whose issue is still open: it says so and exits non-zero."""

from __future__ import annotations

import argparse
import sys


def register_stub(
    subparsers, common, name: str, help_text: str, issue: int
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, parents=[common], help=f"{help_text} [not yet: issue #{issue}]"
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def not_yet(_args) -> int:
        print(f"reactface {name}: not implemented yet (issue #{issue} is open)", file=sys.stderr)
        return 2

    parser.set_defaults(func=not_yet)
    return parser
