"""Your own recording as an interaction bag: any video OpenCV reads, with its sound.

The frames are sampled at 25 fps (`perception.face_tracker.read_frames`); the sound is the
video's own audio track (read with PyAV, `perception.media`) or a separate audio file
(`--audio`, anything soundfile reads, at any rate, mono or multi-channel), kept at its
own rate: the reaction node resamples it, as it does a microphone's. Everything is
checked before the bag is opened, so a bad input leaves no file behind.
"""

from __future__ import annotations

import math
from pathlib import Path

from reactface_core.contract import FPS
from reactface_ros.bag.interaction import Interaction


def video_interaction(
    video: str | Path, audio: str | Path | None = None
) -> tuple[Interaction, str]:
    """An `Interaction` of a video file (frames read lazily) and a description of it."""
    from reactface_core.perception.face_tracker import read_frames
    from reactface_core.perception.media import recording_audio

    video = Path(video)
    frames, size = 0, None
    for frame in read_frames(video):  # raises naming the file if it cannot be decoded
        frames, size = frames + 1, frame.shape[:2]
    samples, rate, source = recording_audio(video, audio)
    samples = samples[: math.ceil(frames * rate / FPS)]  # nothing after the last frame
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    description = (
        f"{video}: {frames} frames of {size[1]}x{size[0]} at {FPS} fps "
        f"({frames / FPS:.2f} s); audio from {source}: {rate} Hz, {channels} channel(s), "
        f"{len(samples) / rate:.2f} s"
    )
    return Interaction(read_frames(video), frames, samples, rate), description
