"""`reactface synth`: generate the synthetic dyadic world in the REACT layout."""

from __future__ import annotations

import argparse
import sys
import time

from reactface_core.data.world.config import RESOLUTIONS, WorldConfig

DEFAULTS = WorldConfig()

DESCRIPTION = """\
Generate the built-in training/evaluation data: synthetic speakers (each with an
espeak-ng voice, a face shape, a look and habits; some poker-faced) whose emotion and
speech drive arkit58 face coefficients, face-mesh landmarks through a randomised camera
(resolution, field of view, distance, position, angle, the body's sway, detector noise;
spans where the face is turned away, out of the frame or covered by a hand, and with a
second, smaller face) and 16 kHz
speech recorded in a room (reverberation, noise at a random SNR, microphone gain); and
listeners who react through several appropriate policies (delayed mirroring, nods and
smiles at pauses, empathic concern, surprise and brow flashes at stressed syllables,
attentive neutral). Pauses and stresses are where the audio has them. Every speaker
clip's appropriate reactions are the reactions generated for it: rounds of one listener
per policy, round r from the r-th lag stratum of that policy's listeners.

Ranges are LOW:HIGH (drawn per clip, or per speaker person for its own traits) or a
single value (fixed); write negative ones with '=', e.g. --camera-yaw=-20:20.

Writes into DIR the REACT layout (train/val/test csv, split by speaker; 3D_FV_files,
Landmark_files, Audio_files, optional Video_files at each clip's resolution;
neighbour_emotion_{split}.npy), plus dataset.json (face model, direction policy, every
parameter), world_clips.jsonl (per clip: phrases, timing, stage, room, listeners),
README.md and preview.png. The same --seed and arguments give byte-identical files
whatever --workers is. Size: about 4.2 MB per 30 s clip with 6 listeners, 5.8 MB with 15;
time: about 0.23 CPU-seconds per 30 s clip (espeak-ng included); --render-video
adds 10-130 s per 30 s clip (by resolution)."""


def _range(text: str) -> tuple[float, float]:
    try:
        parts = [float(part) for part in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        return (parts[0], parts[0])
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected a number or LOW:HIGH, got {text!r}")
    return (parts[0], parts[1])


def _resolutions(text: str) -> tuple[tuple[int, int], ...]:
    try:
        sizes = tuple(tuple(int(v) for v in item.lower().split("x", 1)) for item in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(len(size) != 2 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT or a comma-separated list of them, got {text!r}"
        )
    return sizes


def _position(text: str) -> tuple[float, float] | None:
    if text == "random":
        return None
    try:
        u, v = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected U,V or 'random', got {text!r}") from None
    return (u, v)


def _shown(bounds: tuple[float, float]) -> str:
    low, high = bounds
    return f"{low:g}" if low == high else f"{low:g}:{high:g}"


def register(subparsers, common):
    parser = subparsers.add_parser(
        "synth",
        parents=[common],
        help="generate the synthetic dyadic world in the REACT layout",
        description=DESCRIPTION,
        epilog=(
            "examples:\n"
            "  reactface synth --out data/synth --clips 1000 --seed 0\n"
            "  reactface synth --out /tmp/tiny --clips 12 --seconds 6 --clips-per-speaker 2\n"
            "  reactface synth --out /tmp/webcam --clips 50 --resolution 640x480 --fov 45 \\\n"
            "      --face-height 0.3:0.5 --listeners-per-speaker 15 --render-video"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = DEFAULTS
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    size = parser.add_argument_group("size")
    size.add_argument(
        "--clips",
        type=int,
        default=d.clips,
        metavar="N",
        help=f"speaker clips (default: {d.clips})",
    )
    size.add_argument(
        "--seconds",
        type=float,
        default=d.seconds,
        metavar="S",
        help=f"length of each clip; S*25+1 frames like REACT's 751 (default: {d.seconds:g})",
    )
    size.add_argument(
        "--listeners-per-speaker",
        type=int,
        default=d.listeners_per_speaker,
        metavar="K",
        help="listener reactions per speaker clip = size of its appropriate set; e.g. 15 = "
        f"5 policies x 3 lags (default: {d.listeners_per_speaker})",
    )
    size.add_argument(
        "--clips-per-speaker",
        type=int,
        default=d.clips_per_speaker,
        metavar="C",
        help=f"clips per synthetic speaker person; splits are by speaker (default: {d.clips_per_speaker})",
    )
    size.add_argument(
        "--listener-pool",
        type=int,
        default=d.listener_pool,
        metavar="L",
        help=f"listener persons, policies assigned round robin (default: {d.listener_pool})",
    )
    camera = parser.add_argument_group("camera and framing (per clip)")
    camera.add_argument(
        "--resolution",
        type=_resolutions,
        default=d.resolutions,
        metavar="WxH[,WxH...]",
        help="image sizes drawn from; landmarks are fractions of width/height (default: "
        + ",".join(f"{w}x{h}" for w, h in RESOLUTIONS)
        + ")",
    )
    camera.add_argument(
        "--fov", type=_range, default=d.fov_degrees, metavar="DEG",
        help=f"vertical field of view, degrees (default: {_shown(d.fov_degrees)})",
    )  # fmt: skip
    camera.add_argument(
        "--face-height", type=_range, default=d.face_height, metavar="F",
        help="face (landmark box) height / frame height; sets the speaker's distance "
        f"(default: {_shown(d.face_height)})",
    )  # fmt: skip
    camera.add_argument(
        "--face-position", type=_position, default=d.face_position, metavar="U,V",
        help="where the face is within the range that keeps it whole in frame: 0,0 top "
        "left, 0.5,0.5 centred, 1,1 bottom right; 'random' draws it (default: random)",
    )  # fmt: skip
    camera.add_argument(
        "--camera-yaw", type=_range, default=d.camera_yaw_degrees, metavar="DEG",
        help=f"speaker's body turned off the camera axis (default: {_shown(d.camera_yaw_degrees)})",
    )  # fmt: skip
    camera.add_argument(
        "--camera-pitch", type=_range, default=d.camera_pitch_degrees, metavar="DEG",
        help=f"camera above (+) or below the face (default: {_shown(d.camera_pitch_degrees)})",
    )  # fmt: skip
    camera.add_argument(
        "--detector-noise", type=float, default=1.0, metavar="K",
        help="scale of the simulated detector's jitter, shake and random drops; 0 = exact "
        "landmarks (default: 1)",
    )  # fmt: skip
    people = parser.add_argument_group("speakers (per person) and events (per clip)")
    people.add_argument(
        "--head-motion", type=_range, default=d.head_motion, metavar="RAD",
        help=f"std of the slow head drift (default: {_shown(d.head_motion)})",
    )  # fmt: skip
    people.add_argument(
        "--body-sway", type=_range, default=d.body_sway, metavar="M",
        help="std of the slow body sway side to side, in metres, per clip; half that up and "
        "down, 1.5x (at most a tenth of the distance) toward and away from the camera; the "
        f"framing keeps the face in frame (default: {_shown(d.body_sway)})",
    )  # fmt: skip
    people.add_argument(
        "--body-lean", type=_range, default=d.body_lean, metavar="RAD",
        help="std of the slow sideways lean of the body (head roll with it), per clip "
        f"(default: {_shown(d.body_lean)})",
    )  # fmt: skip
    people.add_argument(
        "--identity-scale", type=float, default=d.identity_scale, metavar="S",
        help="spread of face shapes; 0 = everyone the canonical face (default: "
        f"{d.identity_scale:g})",
    )  # fmt: skip
    people.add_argument(
        "--poker-face-fraction", type=float, default=d.poker_face_fraction, metavar="F",
        help="speakers whose mouth, brows and head barely move while their voice carries "
        f"stress and emotion (default: {d.poker_face_fraction:g})",
    )  # fmt: skip
    people.add_argument(
        "--no-face-fraction", type=float, default=d.no_face_fraction, metavar="F",
        help="expected fraction of frames with the face turned away, stepped out of the "
        "frame or covered by a hand "
        f"(default: {d.no_face_fraction:g})",
    )  # fmt: skip
    people.add_argument(
        "--second-face-fraction", type=float, default=d.second_face_fraction, metavar="F",
        help="expected fraction of frames with a second, smaller face beside the speaker's "
        f"(default: {d.second_face_fraction:g})",
    )  # fmt: skip
    room = parser.add_argument_group("room and microphone (per clip)")
    room.add_argument(
        "--snr", type=_range, default=d.snr_db, metavar="DB",
        help=f"speech over room noise (default: {_shown(d.snr_db)})",
    )  # fmt: skip
    room.add_argument(
        "--mic-gain", type=_range, default=d.mic_gain_db, metavar="DB",
        help=f"microphone gain; loud speech clips (default: {_shown(d.mic_gain_db)})",
    )  # fmt: skip
    room.add_argument(
        "--rt60", type=_range, default=d.rt60_seconds, metavar="S",
        help=f"reverberation time (default: {_shown(d.rt60_seconds)})",
    )  # fmt: skip
    run_group = parser.add_argument_group("running")
    run_group.add_argument(
        "--workers", type=int, default=2, metavar="W", help="worker processes (default: 2)"
    )
    run_group.add_argument(
        "--render-video",
        action="store_true",
        help="also render each clip's stage to Video_files/<path>.mp4 (slow)",
    )
    run_group.add_argument("--no-preview", action="store_true", help="do not draw preview.png")
    run_group.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def config_from_args(args) -> WorldConfig:
    """The WorldConfig the command line asks for."""
    return WorldConfig(
        clips=args.clips,
        seconds=args.seconds,
        listeners_per_speaker=args.listeners_per_speaker,
        clips_per_speaker=args.clips_per_speaker,
        listener_pool=args.listener_pool,
        seed=args.seed,
        render_video=args.render_video,
        resolutions=args.resolution,
        fov_degrees=args.fov,
        face_height=args.face_height,
        face_position=args.face_position,
        camera_yaw_degrees=args.camera_yaw,
        camera_pitch_degrees=args.camera_pitch,
        head_motion=args.head_motion,
        body_sway=args.body_sway,
        body_lean=args.body_lean,
        identity_scale=args.identity_scale,
        poker_face_fraction=args.poker_face_fraction,
        no_face_fraction=args.no_face_fraction,
        second_face_fraction=args.second_face_fraction,
        snr_db=args.snr,
        mic_gain_db=args.mic_gain,
        rt60_seconds=args.rt60,
        detector=DEFAULTS.detector.scaled(args.detector_noise),
    )


def run(args) -> int:
    from reactface_core.data.espeak import EspeakMissing
    from reactface_core.data.world.synth import generate_world

    config = config_from_args(args)
    start = time.perf_counter()
    try:
        if args.detector_noise < 0:
            raise ValueError(f"--detector-noise must be >= 0, got {args.detector_noise:g}")
        generate_world(
            args.out,
            config,
            workers=args.workers,
            progress=not args.quiet,
            preview=not args.no_preview,
        )
    except (ValueError, FileExistsError) as error:
        print(f"reactface synth: {error}", file=sys.stderr)
        return 2
    except EspeakMissing as error:
        print(f"reactface synth: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(
        f"wrote {config.clips} clips ({config.frames} frames each) to {args.out} "
        f"in {elapsed:.1f} s with {args.workers} workers"
    )
    return 0
