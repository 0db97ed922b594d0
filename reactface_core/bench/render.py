"""Face renderers: frames per second of each backend on one batch, side by side.

Renders the same batch (default 250 frames of 256x256, 10 s at 25 fps) of smoothly varying
arkit58 expressions and head turns with every backend available here, counting the whole
`render()` call (rig, geometry and rasterizing), after one warm-up call that pays for
context creation and shader compilation. Targets: moderngl >= 200 fps, numpy >= 30 fps.
"""

from __future__ import annotations

import time

import numpy as np

from reactface_core.cli import usage_error
from reactface_core.contract import FPS

BACKENDS = ("moderngl", "numpy")


def add_arguments(parser) -> None:
    parser.add_argument(
        "--frames", type=int, default=250, help="frames in the batch (default: 250)"
    )
    parser.add_argument(
        "--size", type=int, default=256, help="frame width and height in pixels (default: 256)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs per backend; the best is reported (default: 3)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=4,
        help="moderngl multisamples per pixel, 0 for no antialiasing (default: 4)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=list(BACKENDS),
        choices=BACKENDS,
        help="backends to compare (default: moderngl numpy)",
    )


def reaction_batch(frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 58) smooth, plausible arkit58 motion: random expression mixes and head turns."""
    from reactface_core.face.models import get_face_model

    model = get_face_model("arkit58")
    t = np.arange(frames)[:, None] / FPS
    phase = rng.uniform(0, 2 * np.pi, (1, model.dim))
    rate = rng.uniform(0.1, 0.6, (1, model.dim))
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * rate * t + phase)  # (T, 58) in [0, 1]
    c = model.neutral(frames)
    c[:, model.expression] = 0.6 * wave[:, model.expression] ** 2
    c[:, model.head_rotation] = 0.35 * (2 * wave[:, model.head_rotation] - 1)
    c[:, model.translation] = 0.01 * (2 * wave[:, model.translation] - 1)
    return c


def run(args) -> int:
    from reactface_core.face.render import RenderConfig, make_renderer

    if args.frames < 1 or args.size < 16 or args.repeats < 1:
        usage_error("reactface bench render", "--frames, --repeats >= 1 and --size >= 16")
    coefficients = reaction_batch(args.frames, np.random.default_rng(args.seed))
    config = RenderConfig(width=args.size, height=args.size, samples=args.samples)
    results: dict[str, float] = {}
    for backend in args.backends:
        try:
            renderer = make_renderer("arkit58", backend, config)
        except RuntimeError as error:
            print(f"{backend:>9}: unavailable ({error})")
            continue
        with renderer:
            renderer.render(coefficients[:2])  # warm-up: context, shaders, caches
            best = np.inf
            for _ in range(args.repeats):
                start = time.perf_counter()
                renderer.render(coefficients)
                best = min(best, time.perf_counter() - start)
        results[backend] = args.frames / best
    print(
        f"render {args.frames} frames of {args.size}x{args.size} (best of {args.repeats}; "
        f"moderngl with {args.samples} samples per pixel):"
    )
    targets = {"moderngl": 200.0, "numpy": 30.0}
    for backend, fps in results.items():
        mark = "meets" if fps >= targets[backend] else "MISSES"
        print(f"{backend:>9}: {fps:8.1f} frames/s  ({mark} the {targets[backend]:.0f} fps target)")
    if len(results) == 2:
        print(f"    ratio: moderngl / numpy = {results['moderngl'] / results['numpy']:.2f}x")
    return 0 if results else 1
