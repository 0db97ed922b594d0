"""`reactface train` (stub until issue #7 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(subparsers, common, "train", "train ReactFace (two stages)", 7)
