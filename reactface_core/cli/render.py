"""`reactface render`: face coefficients to a video, GIF, PNG frames, or a labelled gallery.

Examples:
  reactface render reaction.npy --out reaction.mp4
  reactface render sample.npy --face-model flame56 --model-file generic_model.pkl --out frames/
  reactface render reactions.npy --sample 3 --out reaction.gif --size 192
  reactface render --gallery docs/gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from reactface_core.cli import usage_error
from reactface_core.contract import FPS
from reactface_core.face.models import DEFAULT_FACE_MODEL, FACE_MODELS

if TYPE_CHECKING:
    import numpy as np


def register(subparsers, common):
    parser = subparsers.add_parser(
        "render",
        parents=[common],
        help="render face coefficients to video, GIF, PNG frames or a gallery",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "coefficients",
        nargs="?",
        type=Path,
        help="a .npy of shape (T, D) at 25 fps, or (K, T, D) for K samples (see --sample)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="output: .mp4/.avi/.mov video, .gif, or a folder (no suffix) of PNG frames "
        "(default: COEFFICIENTS with .mp4)",
    )
    parser.add_argument(
        "--gallery",
        type=Path,
        metavar="OUT.png",
        help="instead of COEFFICIENTS, write a labelled sheet of key expressions and head turns",
    )
    parser.add_argument(
        "--face-model",
        default=DEFAULT_FACE_MODEL,
        choices=sorted(FACE_MODELS),
        help=f"coefficient layout of the file (default: {DEFAULT_FACE_MODEL})",
    )
    parser.add_argument(
        "--model-file",
        type=Path,
        help="flame56: your FLAME generic_model.pkl/flame2023.pkl; faceverse58: optional "
        "faceverse_simple_v2.npy giving the order of its 52 ARKit channels",
    )
    parser.add_argument(
        "--sample", type=int, default=0, help="which sample of a (K, T, D) file (default: 0)"
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "moderngl", "numpy"),
        help="auto = moderngl through EGL, numpy rasterizer if EGL is missing (default: auto)",
    )
    parser.add_argument(
        "--size", type=int, default=256, help="frame width and height in pixels (default: 256)"
    )
    parser.add_argument(
        "--fps", type=float, default=float(FPS), help=f"frames per second (default: {FPS})"
    )
    parser.add_argument(
        "--background",
        default="38,44,58",
        help="background colour as R,G,B in 0-255 (default: 38,44,58)",
    )
    parser.add_argument(
        "--skin", default=None, help="skin colour as R,G,B in 0-255 (default: 237,189,158)"
    )
    parser.add_argument(
        "--hair", default=None, help="hair colour as R,G,B in 0-255 (default: 61,41,28)"
    )
    parser.add_argument(
        "--camera-distance",
        type=float,
        default=0.55,
        help="metres from the camera to the face centre (default: 0.55)",
    )
    parser.add_argument(
        "--fov", type=float, default=22.0, help="vertical field of view in degrees (default: 22)"
    )
    parser.set_defaults(func=run)
    return parser


def _rgb(text: str, option: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        usage_error("reactface render", f"{option} {text!r}: expected R,G,B in 0-255")
    return values  # type: ignore[return-value]


def _load(args) -> np.ndarray:
    import numpy as np

    path = args.coefficients
    if not path.is_file():
        raise SystemExit(f"reactface render: {path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise SystemExit(f"reactface render: {path}: not a plain .npy array ({error})") from None
    if array.ndim == 3:
        if not 0 <= args.sample < len(array):
            raise SystemExit(
                f"reactface render: --sample {args.sample} out of range for {path} with "
                f"{len(array)} samples"
            )
        array = array[args.sample]
    return array


def run(args) -> int:
    from tqdm import tqdm

    from reactface_core.face.render import RenderConfig, make_renderer
    from reactface_core.face.scene import Appearance, Camera
    from reactface_core.face.video import FrameWriter

    # Rendering is deterministic; --seed is accepted like everywhere else.
    if (args.coefficients is None) == (args.gallery is None):
        usage_error("reactface render", "give a COEFFICIENTS.npy file or --gallery OUT.png")
    if args.size < 16:
        usage_error("reactface render", f"--size {args.size}: expected at least 16 pixels")
    looks = {
        name: tuple(v / 255 for v in _rgb(value, f"--{name}"))
        for name, value in (("skin", args.skin), ("hair", args.hair))
        if value is not None
    }
    config = RenderConfig(
        width=args.size,
        height=args.size,
        background=_rgb(args.background, "--background"),
        camera=Camera(distance=args.camera_distance, fov_degrees=args.fov),
        appearance=Appearance(**looks),
    )
    if args.gallery is not None:
        from PIL import Image

        from reactface_core.face.gallery import gallery_image

        with make_renderer("arkit58", args.backend, config) as renderer:
            sheet = gallery_image(renderer)
        args.gallery.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(args.gallery, optimize=True)
        print(f"wrote {args.gallery} ({sheet.shape[1]}x{sheet.shape[0]}, {renderer.backend})")
        return 0

    coefficients = _load(args)
    out = args.out or args.coefficients.with_suffix(".mp4")
    try:
        FrameWriter.check_path(out)
        renderer = make_renderer(args.face_model, args.backend, config, args.model_file)
        coefficients = renderer.face_model.check(coefficients, what=str(args.coefficients))
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"reactface render: {error}") from None
    with renderer, FrameWriter(out, args.fps) as writer:
        bar = tqdm(total=len(coefficients), unit="frame", desc=f"render {renderer.backend}")
        for _, chunk in renderer.chunks(coefficients):
            writer.write(renderer.render(chunk))
            bar.update(len(chunk))
        bar.close()
    print(f"wrote {out} ({writer.count} frames, {args.size}x{args.size}, {renderer.backend})")
    return 0
