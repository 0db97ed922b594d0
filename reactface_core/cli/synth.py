"""`reactface synth` (stub until issue #4 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers, common, "synth", "generate the synthetic dyadic world in the REACT layout", 4
    )
