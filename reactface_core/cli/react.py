"""`reactface react`: your recording in, reactions out (offline, no ROS).

The video's frames (25 fps) go through the reaction node's perception — MediaPipe face
mesh in tracking mode, then one `SpeakerFeatures` for the whole recording — and its sound
(its own audio track, or --audio) through the causal log-mel front end; the trained
generator runs over them window by window, exactly as online. It writes N sampled
reactions as coefficients (N, T, D) .npy and a video of the speaker beside the first few
of them rendered, with the speaker's sound muxed in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from reactface_core.contract import AUDIO_RATE, FPS


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
    parser.add_argument("--video", type=Path, required=True, help="the speaker's video file")
    parser.add_argument(
        "--audio", type=Path, help="the speaker's audio file (default: the video's own track)"
    )
    parser.add_argument("--out", type=Path, required=True, help="video to write (.mp4)")
    parser.add_argument(
        "--checkpoint", help="model checkpoint (default: the shipped reactface_synth.pt)"
    )
    parser.add_argument("--samples", type=int, default=10, help="N reactions to sample (10)")
    parser.add_argument("--show", type=int, default=3, help="reactions shown in the video (3)")
    parser.add_argument("--size", type=int, default=256, help="height of the video (256)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
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
    reactions, found = generate(trained, args.video, speech, rate, frames, args.samples, args.seed)
    if not found.any():
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
    from reactface_core.perception.media import NoAudioTrack, read_audio_file, read_audio_track

    if not video.is_file():
        raise ValueError(f"video file {video} does not exist")
    if audio is not None:
        samples, rate = read_audio_file(audio)
        return (samples if samples.ndim == 1 else samples.mean(axis=1)), rate
    try:
        samples, rate = read_audio_track(video)
    except NoAudioTrack as error:
        raise ValueError(f"{error}; give the speaker's audio with --audio FILE.wav") from None
    if len(samples) == 0:
        raise ValueError(f"the audio track of {video} holds no samples")
    return samples, rate


def generate(
    trained, video: Path, speech: np.ndarray, rate: int, frames: int, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, D) reactions in face-model units and (T,) face-found flags, window by window."""
    from tqdm import tqdm

    from reactface_core.perception.audio import log_mel, resample
    from reactface_core.perception.face_tracker import FaceLandmarker, read_frames
    from reactface_core.perception.landmarks import SpeakerFeatures

    steps = log_mel(resample(speech, rate, AUDIO_RATE))  # causal: equal to streaming chunks
    k = 2 * frames - len(steps)
    if k > 0:  # audio shorter than the video: silence after it, as the node zero-fills
        from reactface_core.perception.audio import LOG_FLOOR

        steps = np.concatenate([steps, np.full((k, steps.shape[1]), np.log(LOG_FLOOR), np.float32)])
    generator = trained.stream(samples, seed)
    w = generator.window
    speaker = SpeakerFeatures()
    windows, found = [], []
    with FaceLandmarker(mode="video") as landmarker:
        bar = tqdm(total=frames, desc="reacting", unit="frame")
        chunk, first = [], 0
        for index, frame in enumerate(read_frames(video)):
            chunk.append((landmarker(frame), frame.shape[0] / frame.shape[1]))
            if len(chunk) == w or index == frames - 1:
                raw = np.stack([landmarks for landmarks, _ in chunk])
                visual, valid = speaker(raw, aspect=chunk[0][1])
                audio = steps[2 * first : 2 * (first + len(chunk))]
                windows += generator.push(visual, audio, valid)
                found.append(valid)
                first += len(chunk)
                bar.update(len(chunk))
                chunk = []
        bar.close()
    reactions = np.concatenate([window.reactions for window in windows], axis=1)
    return reactions, np.concatenate(found)


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
