"""`reactface prepare` (stub until issue #8 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers,
        common,
        "prepare",
        "extract and cache speaker landmarks and audio features for a dataset",
        8,
    )
