"""`reactface bench NAME`: benchmarks that print ratios measured side by side in one run.

Each benchmark is a module exposing `add_arguments(parser)` and `run(args) -> int`.
Core benchmarks live in `reactface_core.bench`; `reactface_ros` contributes `ros` through
the `reactface.benchmarks` entry-point group.
"""

from __future__ import annotations

import argparse
import importlib
from importlib.metadata import entry_points

CORE_BENCHMARKS = {
    "render": "face renderers: frames per second per backend",
    "streaming": "online generator: per-window time at t=64 and t=750 vs naive recompute",
    "metrics": "REACT metrics: vectorised vs plain-loop time",
    "perception": "face landmarks per frame and audio features per second of audio",
    "realism": "real-face clips: faces found, speaker features' |z| against training",
    "world": "synthetic world rendered: MediaPipe faces found vs the landmark files",
    "camera": "FRCorr on the same test speakers filmed by the training camera and a webcam",
    "view": "the camera's learnt view (data.landmarks=camera_view) against MediaPipe's features",
}
PLUGIN_GROUP = "reactface.benchmarks"
PLUGIN_HELP = {
    "ros": "reaction node over DDS: frames lost, latency p50/p95 and dropped windows in a replay",
    "soak": "reaction and render nodes for --minutes (default 30): RSS growth, losses (not in CI)",
}


def register(subparsers, common):
    parser = subparsers.add_parser(
        "bench",
        help="benchmarks (render, streaming, metrics, perception, realism, world, camera, view, ros, "
        "soak)",
        description=__doc__.split("\n\n")[0],
    )
    names = parser.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name, help_text in CORE_BENCHMARKS.items():
        _add(names, common, name, help_text, f"reactface_core.bench.{name}")
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name):
        _add(names, common, plugin.name, PLUGIN_HELP.get(plugin.name, plugin.name), plugin.value)


def _add(names, common, name, help_text, module_name):
    module = importlib.import_module(module_name)
    parser = names.add_parser(
        name,
        parents=[common],
        help=help_text,
        description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)
    return parser
