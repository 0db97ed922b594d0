"""`reactface generate` (stub until issue #7 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers, common, "generate", "generate N reactions per speaker clip with a checkpoint", 7
    )
