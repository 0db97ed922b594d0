"""`reactface react`: your recording in, reactions out (offline, no ROS).

The video's frames (as 25 fps) and its sound (its own audio track, or --audio) run through
`reactface_core.reactor.OnlineReactor`, the pipeline of the ROS reaction node: MediaPipe
face mesh in tracking mode, the session's `SpeakerFeatures`, the causal audio front end
and the trained generator, window by window, exactly as online. It writes N sampled
reactions as coefficients (N, T, D) .npy and a video of the speaker beside the first few
of them rendered, with the speaker's sound muxed in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS


def register(subparsers, common):
    parser = subparsers.add_parser(
        "react",
        parents=[common],
        help="your recording in, reactions out: a video of N sampled listener reactions",
        description=__doc__.split("\n\n", 1)[1],
        epilog=(
            "example:\n  reactface react --video me.mp4 --out reaction.mp4\n"
            "  reactface react --video silent.avi --audio voice.wav --samples 10 --show 4 "
            "--out reaction.mp4\n"
            "writes reaction.mp4 and reaction.npy (samples, frames, coefficients)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from reactface_core.perception.media import add_recording_arguments

    add_recording_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="video to write (.mp4)")
    parser.add_argument(
        "--checkpoint", help="model checkpoint (default: the shipped reactface_synth.pt)"
    )
    parser.add_argument("--samples", type=int, default=10, help="N reactions to sample (10)")
    parser.add_argument("--show", type=int, default=3, help="reactions shown in the video (3)")
    parser.add_argument("--size", type=int, default=256, help="height of the video (256)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    from reactface_core.reactor import ModelSettings, described

    parser.add_argument(
        "--far-faces",
        action=argparse.BooleanOptionalAction,
        default=ModelSettings.far_faces,
        help=described(ModelSettings, "far_faces")
        + " (default: on, as the reaction node's far_faces parameter)",
    )
    parser.set_defaults(func=run)


def run(args) -> int:
    from reactface_core.utils import resolve_device, seed_everything

    try:
        check_arguments(args)
        seed_everything(args.seed)
        device = resolve_device(args.device)
        reactions, coefficients_path = react(args, device)
    except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        print(f"reactface react: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {args.out} (speaker + {min(args.show, len(reactions))} reactions) and "
        f"{coefficients_path}: {reactions.shape} (samples, frames, coefficients)"
    )
    return 0


def check_arguments(args) -> None:
    if args.out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must be an .mp4 file, got {args.out}")
    if args.samples < 1 or args.show < 0 or args.size < 32:
        raise ValueError("--samples must be >= 1, --show >= 0 and --size >= 32")
    for path in (args.out, args.out.with_suffix(".npy")):
        if path.exists() and not args.overwrite:
            raise ValueError(f"{path} exists already (use --overwrite to replace it)")


def react(args, device: str) -> tuple[np.ndarray, Path]:
    """Run perception and the generator over the recording; write the .npy and the video."""
    from reactface_core.generate import load_trained_model
    from reactface_core.perception.face_tracker import read_frames

    frames = sum(1 for _ in read_frames(args.video))  # raises if it cannot be decoded
    speech, rate = read_speech(args.video, args.audio)
    trained = load_trained_model(args.checkpoint, device)
    if frames < trained.window:
        raise ValueError(
            f"{args.video} has {frames} frame(s), fewer than one reaction window "
            f"({trained.window} frames)"
        )
    reactions, found = generate(
        trained, args.video, speech, rate, frames, args.samples, args.seed, args.far_faces
    )
    if not found:
        raise ValueError(f"no face was found in any frame of {args.video}")
    coefficients_path = args.out.with_suffix(".npy")
    partial = coefficients_path.with_name(f".{coefficients_path.name}.partial")
    with open(partial, "wb") as handle:
        np.save(handle, reactions.astype(np.float32), allow_pickle=False)
    try:
        write_reaction_video(args, trained.face_model.name, reactions, speech, rate)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(coefficients_path)
    return reactions, coefficients_path


def read_speech(video: Path, audio: Path | None) -> tuple[np.ndarray, int]:
    """Mono samples and rate: the --audio file, else the video's own track."""
    from reactface_core.perception.media import recording_audio

    if not video.is_file():
        raise ValueError(f"video file {video} does not exist")
    samples, rate, _ = recording_audio(video, audio)
    return (samples if samples.ndim == 1 else samples.mean(axis=1)), rate


def generate(
    trained,
    video: Path,
    speech: np.ndarray,
    rate: int,
    frames: int,
    samples: int,
    seed: int,
    far_faces: bool,
) -> tuple[np.ndarray, int]:
    """(N, T, D) reactions in face-model units and how many frames showed a face.

    The recording runs through `OnlineReactor`, the pipeline the ROS node runs: frames
    stamped at 25 fps and 20 ms audio chunks, fed in stamp order, processed at once.
    """
    from tqdm import tqdm

    from reactface_core.contract import FRAME_NS
    from reactface_core.perception.face_tracker import FaceLandmarker, read_frames
    from reactface_core.reactor import OnlineReactor, ReactorSettings

    chunk = rate // 50  # 20 ms
    needed = -(-frames * rate // FPS)  # audio shorter than the video: silence after it
    speech = np.concatenate([speech, np.zeros(max(0, needed - len(speech)), np.float32)])
    audio = [
        (round(start * 1e9 / rate), speech[start : start + chunk])
        for start in range(0, len(speech), chunk)
    ]
    windows = []
    with FaceLandmarker(mode="video", far_faces=far_faces) as landmarker:
        settings = ReactorSettings(samples=samples, seed=seed)
        reactor = OnlineReactor(trained.stream(samples, seed), landmarker, settings)
        next_audio = 0
        for index, frame in enumerate(tqdm(read_frames(video), total=frames, desc="reacting")):
            stamp = index * FRAME_NS
            intakes = [reactor.add_frame(stamp, frame)]
            while next_audio < len(audio) and audio[next_audio][0] < stamp + FRAME_NS:
                intakes.append(reactor.add_audio(*audio[next_audio], rate))
                next_audio += 1
            windows += [
                r for intake in intakes for work in intake.work for r in reactor.process(work)
            ]
    reactions = np.concatenate([window.reactions for window in windows], axis=1)
    return reactions, reactor.counts["frames_face_found"]


def write_reaction_video(args, face_model: str, reactions, speech, rate) -> None:
    """The speaker (scaled to --size high) beside the first --show reactions, with sound."""
    import cv2

    from reactface_core.face.render import RenderConfig, make_renderer
    from reactface_core.perception.face_tracker import read_frames
    from reactface_core.perception.media import write_video

    shown = reactions[: args.show]
    size = args.size // 2 * 2
    covered = reactions.shape[1]  # whole windows only: the last partial window has no reaction
    config = RenderConfig(width=size, height=size)
    with make_renderer(face_model, config=config) as renderer:

        def composed():
            for index, frame in enumerate(read_frames(args.video)):
                if index >= covered:
                    return
                width = max(2, round(frame.shape[1] * size / frame.shape[0]))
                tiles = [cv2.resize(frame, (width, size), interpolation=cv2.INTER_AREA)]
                tiles += [renderer.render(sample[index : index + 1])[0] for sample in shown]
                yield np.hstack(tiles)

        audio = speech[: round(covered * rate / FPS)]
        write_video(args.out, composed(), FPS, audio, rate)
