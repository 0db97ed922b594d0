"""One dyadic interaction as a bag: what the robot sees and hears, and the known reactions.

Topics (all stamped on one clock; frame i of the clip is at start + i / 25 s):

| topic | type | content |
| --- | --- | --- |
| /camera/image_raw | sensor_msgs/Image (rgb8) | the speaker's video frames, 25 fps |
| /camera/image_raw/compressed | sensor_msgs/CompressedImage | instead, with `image_format` jpeg/png |
| /audio/chunk | reactface_ros/AudioChunk | the speaker's audio, 20 ms chunks, at its own rate |
| /reference/speaker_face | reactface_ros/FaceCoefficients | the speaker's own face (when known), 25 Hz |
| /reference/listener_face | reactface_ros/FaceCoefficients | the real listener's reaction (when known), 25 Hz |
| /reference/appropriate | reactface_ros/ReactionWindow | all known appropriate reactions (N of them), one message per second |

Log times are when a live robot would have had each message: a frame at its stamp, an audio
chunk when its last sample was captured (stamp + duration), references at their stamps.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_core import contract
from reactface_core.contract import FPS, FRAME_NS
from reactface_core.face.models import get_face_model
from reactface_ros.bag.store import BagError, BagWriter, read_messages
from reactface_ros.convert import (
    NANOSECONDS,
    audio_to_message,
    coefficients_to_message,
    message_to_audio,
    ns_to_stamp,
    stamp_to_ns,
    window_to_message,
)
from reactface_ros.image import rgb_to_compressed, rgb_to_image

DEFAULT_START_NS = 1_700_000_000 * NANOSECONDS  # a fixed, realistic stamp: bags are reproducible
CAMERA_TOPIC = contract.absolute(contract.CAMERA_TOPIC)
AUDIO_TOPIC = contract.absolute(contract.AUDIO_TOPIC)
SPEAKER_TOPIC = "/reference/speaker_face"
LISTENER_TOPIC = "/reference/listener_face"
APPROPRIATE_TOPIC = "/reference/appropriate"
REFERENCE_WINDOW = 25  # frames per /reference/appropriate message
INPUT_TOPICS = (CAMERA_TOPIC, CAMERA_TOPIC + contract.COMPRESSED_SUFFIX, AUDIO_TOPIC)


@dataclass
class Interaction:
    """A speaker clip with what is known about the listener side.

    frames: T RGB uint8 images (H, W, 3), an array or any iterable (rendered lazily);
    audio: float32 samples at `sample_rate`, mono (n,) or interleaved channels (n, c); speaker: the speaker's own coefficients
    (T, D); listener: the real listener's reaction (T, D); appropriate: every appropriate
    reaction (K, T, D), the real listener's first if known.
    """

    frames: np.ndarray | Iterable[np.ndarray]
    num_frames: int
    audio: np.ndarray
    sample_rate: int = contract.AUDIO_RATE
    face_model: str = "arkit58"
    speaker: np.ndarray | None = None
    listener: np.ndarray | None = None
    appropriate: np.ndarray | None = None


def write_interaction_bag(
    path: str | Path,
    interaction: Interaction,
    start_ns: int = DEFAULT_START_NS,
    image_format: str = "raw",
    chunk_ms: float = 20.0,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Write `interaction` to an mcap bag; returns message counts per topic."""
    if image_format not in ("raw", "jpeg", "png"):
        raise ValueError(f"image_format must be raw, jpeg or png; got {image_format!r}")
    model = get_face_model(interaction.face_model)
    t = interaction.num_frames
    for name in ("speaker", "listener"):
        value = getattr(interaction, name)
        if value is not None and model.check(value, name).shape[0] != t:
            raise ValueError(f"{name} has {len(value)} frames, the video has {t}")
    if interaction.appropriate is not None:
        appropriate = np.asarray(interaction.appropriate, np.float32)
        if appropriate.ndim != 3 or appropriate.shape[1:] != (t, model.dim):
            raise ValueError(f"appropriate must be (K, {t}, {model.dim}), got {appropriate.shape}")

    others = list(_audio_events(interaction, start_ns, chunk_ms))
    others += _reference_events(interaction, model, start_ns)
    heapq.heapify(others)
    camera_topic = (
        CAMERA_TOPIC if image_format == "raw" else CAMERA_TOPIC + contract.COMPRESSED_SUFFIX
    )
    frames = iter(interaction.frames)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=t, desc=f"writing {Path(path).name}", unit="frame")
    with BagWriter(path, overwrite=overwrite) as writer:
        written = 0
        for index, rgb in enumerate(frames):
            if index >= t:
                break
            stamp = start_ns + index * FRAME_NS
            while others and others[0][0] <= stamp:
                log_time, _, topic, msg = heapq.heappop(others)
                writer.write(topic, msg, log_time)
            msg = (
                rgb_to_image(rgb) if image_format == "raw" else rgb_to_compressed(rgb, image_format)
            )
            msg.header.stamp = ns_to_stamp(stamp)
            msg.header.frame_id = "camera"
            writer.write(camera_topic, msg, stamp)
            written += 1
        if written != t:
            raise ValueError(f"interaction promised {t} frames but gave {written}")
        while others:
            log_time, _, topic, msg = heapq.heappop(others)
            writer.write(topic, msg, log_time)
        return dict(writer.counts)


def _audio_events(interaction: Interaction, start_ns: int, chunk_ms: float):
    rate = interaction.sample_rate
    audio = np.asarray(interaction.audio, np.float32)
    per_chunk = max(1, round(rate * chunk_ms / 1000))
    for order, first in enumerate(range(0, len(audio), per_chunk)):
        samples = audio[first : first + per_chunk]
        stamp = start_ns + round(first * NANOSECONDS / rate)
        msg = audio_to_message(samples, rate, stamp)
        msg.header.frame_id = "microphone"
        ready = start_ns + round((first + len(samples)) * NANOSECONDS / rate)
        yield (ready, (1, order), AUDIO_TOPIC, msg)


def read_speech(path: str | Path, start_ns: int, frames: int) -> tuple[np.ndarray, int] | None:
    """The speaker's audio in bag `path` as one mono track of `frames` frames from `start_ns`
    (each chunk placed at its stamp, silence where none covers), and its rate; None when the
    bag has no audio chunks."""
    track, rate = None, None
    for _, _, msg in read_messages(path, [AUDIO_TOPIC]):
        samples, chunk_rate = message_to_audio(msg)
        if track is None:
            rate = chunk_rate
            track = np.zeros(round(frames * rate / FPS), np.float32)
        elif chunk_rate != rate:
            raise BagError(
                f"{path}: audio chunks at {rate} Hz and at {chunk_rate} Hz; one rate expected"
            )
        first = round((stamp_to_ns(msg.header.stamp) - start_ns) * rate / NANOSECONDS)
        mono = samples.mean(axis=1)[max(0, -first) :]
        first = max(0, first)
        mono = mono[: max(0, len(track) - first)]
        track[first : first + len(mono)] = mono
    return None if track is None else (track, rate)


def _reference_events(interaction: Interaction, model, start_ns: int) -> list:
    events = []
    for topic, sequence in (
        (SPEAKER_TOPIC, interaction.speaker),
        (LISTENER_TOPIC, interaction.listener),
    ):
        if sequence is None:
            continue
        for index, row in enumerate(np.asarray(sequence, np.float32)):
            stamp = start_ns + index * FRAME_NS
            events.append(
                (stamp, (2, topic, index), topic, coefficients_to_message(row, model, stamp))
            )
    if interaction.appropriate is not None:
        appropriate = np.asarray(interaction.appropriate, np.float32)
        for first in range(0, appropriate.shape[1], REFERENCE_WINDOW):
            stamp = start_ns + first * FRAME_NS
            chunk = appropriate[:, first : first + REFERENCE_WINDOW]
            msg = window_to_message(chunk, model, stamp, FPS, selected_sample=0)
            events.append((stamp, (3, first), APPROPRIATE_TOPIC, msg))
    return events
