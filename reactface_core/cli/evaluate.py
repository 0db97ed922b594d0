"""`reactface evaluate` (stub until issue #6 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers,
        common,
        "evaluate",
        "REACT metrics of predictions or a checkpoint against baselines",
        6,
    )
