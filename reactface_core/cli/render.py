"""`reactface render` (stub until issue #3 lands)."""

from reactface_core.cli._stub import register_stub


def register(subparsers, common):
    register_stub(
        subparsers,
        common,
        "render",
        "render face coefficients to video, GIF, PNG frames or a gallery",
        3,
    )
