"""Video files with sound: read a video's own audio track, write mp4 with an audio track.

OpenCV reads frames but not sound, so the audio side uses PyAV (FFmpeg's libraries inside
the `av` wheel; nothing else to install). `read_audio_track` gives a video's first audio
stream mixed down to mono at its own rate; `read_audio_file` any file soundfile reads; `write_video` encodes RGB frames as H.264
(yuv420p) and, when given samples, an AAC track, to a temporary name renamed at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS


class NoAudioTrack(ValueError):
    """A media file without an audio stream."""


def read_audio_track(path: str | Path) -> tuple[np.ndarray, int]:
    """The first audio stream of a media file -> (float32 mono samples, sample rate)."""
    import av

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"video file {path} does not exist")
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise ValueError(f"cannot read {path} as a media file: {error}") from None
    with container:
        if not container.streams.audio:
            raise NoAudioTrack(f"video file {path} has no audio track")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().reshape(-1) for f in mono.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in mono.resample(None))
        except av.FFmpegError as error:
            raise ValueError(f"cannot decode the audio track of {path}: {error}") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, int(rate)


def read_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples (n,) mono or (n, channels) float32 and the rate of an audio file."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"audio file {path} does not exist")
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(
            f"cannot read audio file {path} (expected a wav/flac/ogg): {error}"
        ) from None
    if len(samples) == 0:
        raise ValueError(f"audio file {path} holds no samples")
    return (samples[:, 0] if samples.shape[1] == 1 else samples), int(rate)


def add_recording_arguments(parser) -> None:
    """--video and --audio of a command that takes your recording (`recording_audio`)."""
    parser.add_argument("--video", type=Path, required=True, help="the speaker's video file")
    parser.add_argument(
        "--audio", type=Path, help="the speaker's audio file (default: the video's own track)"
    )


def recording_audio(video: str | Path, audio: str | Path | None = None):
    """The sound of a recording: the `audio` file when given, else `video`'s own track.

    Returns (samples (n,) or (n, channels) float32, rate, where they came from). A missing
    or silent track is one error that says to give `--audio`.
    """
    if audio is not None:
        samples, rate = read_audio_file(audio)
        return samples, rate, str(audio)
    try:
        samples, rate = read_audio_track(video)
    except NoAudioTrack as error:
        raise ValueError(f"{error}; give the speaker's audio with --audio FILE.wav") from None
    if len(samples) == 0:
        raise ValueError(f"the audio track of {video} holds no samples")
    return samples, rate, f"{video}'s audio track"


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int = FPS,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 20,
) -> int:
    """Encode RGB uint8 frames (H, W, 3) as H.264 mp4, with mono float audio as AAC when
    given; written to a temporary name and renamed. Returns the number of frames."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    count = 0
    try:
        with av.open(str(partial), mode="w", format="mp4") as container:
            video = container.add_stream("libx264", rate=Fraction(fps))
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
            sound = None
            if audio is not None:
                sound = container.add_stream("aac", rate=int(sample_rate), layout="mono")
            for rgb in frames:
                rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
                if count == 0:  # yuv420p needs even sizes
                    video.width, video.height = rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2
                rgb = rgb[: video.height, : video.width]
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                container.mux(video.encode(frame))
                count += 1
            if count == 0:
                raise ValueError(f"no frames to write to {path}")
            container.mux(video.encode(None))
            if sound is not None:
                samples = np.clip(np.asarray(audio, np.float32).reshape(1, -1), -1.0, 1.0)
                block = 1024  # AAC frame size
                for first in range(0, samples.shape[1], block):
                    chunk = np.ascontiguousarray(samples[:, first : first + block])
                    frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                    frame.sample_rate, frame.pts = int(sample_rate), first
                    container.mux(sound.encode(frame))
                container.mux(sound.encode(None))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
