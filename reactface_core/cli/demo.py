"""`reactface demo` (stub until issue #9 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers, common, "demo", "run the end-to-end demo on a synthetic interaction", 9
    )
