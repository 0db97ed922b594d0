"""reactface messages <-> numpy: face coefficients, reaction windows, audio chunks, stamps.

The layouts are the ones documented in `msg/`: a `FaceCoefficients` splits one frame of a
face model's coefficients into expression / jaw pose / head rotation / translation (a
`FaceLayout` names those values and gives their ranges), a
`ReactionWindow` carries N x w x D coefficients row-major, an `AudioChunk` interleaved
float32 samples. Everything here validates and raises `MessageError` naming what was
expected, so nodes can log and skip a bad message.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time

from reactface_core.contract import FPS
from reactface_core.face.models import FaceModel, get_face_model
from reactface_ros.msg import AudioChunk, FaceCoefficients, FaceLayout, ReactionWindow

NANOSECONDS = 1_000_000_000


class MessageError(ValueError):
    """A message whose contents do not fit its documented layout."""


def float_array(values: np.ndarray) -> array.array:
    """A float32[] field value; rosidl would otherwise check and copy element by element."""
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype=np.float32).tobytes())
    return out


# -- stamps ---------------------------------------------------------------------------


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * NANOSECONDS + int(stamp.nanosec)


def ns_to_stamp(nanoseconds: int) -> Time:
    sec, nanosec = divmod(int(nanoseconds), NANOSECONDS)
    return Time(sec=sec, nanosec=nanosec)


# -- FaceCoefficients ------------------------------------------------------------------


def coefficients_to_message(
    frame: np.ndarray, face_model: FaceModel | str, stamp_ns: int = 0, sample_index: int = 0
) -> FaceCoefficients:
    """One frame (D,) of `face_model` coefficients -> FaceCoefficients."""
    model = get_face_model(face_model) if isinstance(face_model, str) else face_model
    values = model.check(frame, "face coefficients frame")
    if len(values) != 1:
        raise MessageError(f"expected one frame of coefficients, got {len(values)}")
    row = values[0]
    msg = FaceCoefficients()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.face_model = model.name
    msg.expression = row[model.expression].tolist()
    msg.jaw_pose = _group(row, model.jaw_pose)
    msg.head_rotation = _group(row, model.head_rotation)
    msg.translation = _group(row, model.translation)
    msg.sample_index = int(sample_index)
    return msg


def message_to_coefficients(msg: FaceCoefficients) -> tuple[np.ndarray, FaceModel]:
    """FaceCoefficients -> one frame (D,) float32 and its face model."""
    try:
        model = get_face_model(msg.face_model)
    except ValueError as error:
        raise MessageError(str(error)) from None
    expected = model.expression.stop - model.expression.start
    if len(msg.expression) != expected:
        raise MessageError(
            f"FaceCoefficients for {model.name} needs {expected} expression values, "
            f"got {len(msg.expression)}"
        )
    row = np.zeros(model.dim, dtype=np.float32)
    row[model.expression] = np.asarray(msg.expression, dtype=np.float32)
    for part, values in (
        (model.jaw_pose, msg.jaw_pose),
        (model.head_rotation, msg.head_rotation),
        (model.translation, msg.translation),
    ):
        if part is not None:
            row[part] = np.asarray(values, dtype=np.float32)
    if not np.isfinite(row).all():
        raise MessageError("FaceCoefficients contains NaN or infinite values")
    return row, model


def _group(row: np.ndarray, part: slice | None) -> list[float]:
    return [0.0, 0.0, 0.0] if part is None else row[part].tolist()


# -- FaceLayout ------------------------------------------------------------------------

LAYOUT_FIELDS = ("expression", "jaw_pose", "head_rotation", "translation")


def layout_to_message(face_model: FaceModel | str) -> FaceLayout:
    """The names and plausible ranges of every FaceCoefficients value of `face_model`."""
    model = get_face_model(face_model) if isinstance(face_model, str) else face_model
    msg = FaceLayout(face_model=model.name)
    lower, upper = np.asarray(model.lower, np.float32), np.asarray(model.upper, np.float32)
    for name in LAYOUT_FIELDS:
        part = getattr(model, name) or slice(0, 0)
        setattr(msg, f"{name}_names", list(model.names[part]))
        setattr(msg, f"{name}_min", float_array(lower[part]))
        setattr(msg, f"{name}_max", float_array(upper[part]))
    return msg


def message_to_layout(msg: FaceLayout) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """FaceLayout -> {field: (names, minimum, maximum)}, checking the arrays agree."""
    layout = {}
    for name in LAYOUT_FIELDS:
        names = list(getattr(msg, f"{name}_names"))
        low = np.asarray(getattr(msg, f"{name}_min"), np.float32)
        high = np.asarray(getattr(msg, f"{name}_max"), np.float32)
        if not len(names) == len(low) == len(high):
            raise MessageError(
                f"FaceLayout {name}: {len(names)} names but {len(low)} minima and "
                f"{len(high)} maxima"
            )
        layout[name] = (names, low, high)
    return layout


# -- ReactionWindow --------------------------------------------------------------------


@dataclass
class Window:
    """A decoded ReactionWindow: coefficients (N, w, D) of frames stamp + k / fps."""

    stamp_ns: int
    coefficients: np.ndarray
    face_model: FaceModel
    fps: float
    selected_sample: int

    def frame_stamps(self) -> np.ndarray:
        """Stamps (ns) of the w frames."""
        steps = np.arange(self.coefficients.shape[1])
        return self.stamp_ns + np.rint(steps * NANOSECONDS / self.fps).astype(np.int64)


def window_to_message(
    coefficients: np.ndarray,
    face_model: FaceModel | str,
    stamp_ns: int,
    fps: float = FPS,
    selected_sample: int = 0,
) -> ReactionWindow:
    """N sampled reactions (N, w, D) of one window -> ReactionWindow."""
    model = get_face_model(face_model) if isinstance(face_model, str) else face_model
    values = np.asarray(coefficients, dtype=np.float32)
    if values.ndim != 3 or values.shape[2] != model.dim:
        raise MessageError(
            f"reaction window must be (N, w, {model.dim}) for {model.name}, got {values.shape}"
        )
    samples, frames = values.shape[:2]
    if not 0 <= selected_sample < samples:
        raise MessageError(f"selected_sample {selected_sample} outside 0..{samples - 1}")
    msg = ReactionWindow()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.fps = float(fps)
    msg.face_model = model.name
    msg.num_samples, msg.num_frames = samples, frames
    msg.coefficient_names = list(model.names)
    msg.data = float_array(values)
    msg.selected_sample = int(selected_sample)
    return msg


def message_to_window(msg: ReactionWindow) -> Window:
    """ReactionWindow -> Window, checking the layout and names against the face model."""
    try:
        model = get_face_model(msg.face_model)
    except ValueError as error:
        raise MessageError(str(error)) from None
    if tuple(msg.coefficient_names) != model.names:
        raise MessageError(
            f"ReactionWindow coefficient_names do not match face model {model.name} "
            f"({len(msg.coefficient_names)} names, expected {model.dim})"
        )
    data = np.asarray(msg.data, dtype=np.float32)
    expected = msg.num_samples * msg.num_frames * model.dim
    if data.size != expected:
        raise MessageError(
            f"ReactionWindow data has {data.size} values, expected N*w*D = "
            f"{msg.num_samples}*{msg.num_frames}*{model.dim} = {expected}"
        )
    if msg.fps <= 0:
        raise MessageError(f"ReactionWindow fps must be > 0, got {msg.fps}")
    return Window(
        stamp_to_ns(msg.header.stamp),
        data.reshape(msg.num_samples, msg.num_frames, model.dim),
        model,
        float(msg.fps),
        int(msg.selected_sample),
    )


# -- AudioChunk ------------------------------------------------------------------------


def audio_to_message(samples: np.ndarray, sample_rate: int, stamp_ns: int) -> AudioChunk:
    """Samples (frames,) mono or (frames, channels) float32 in [-1, 1] -> AudioChunk."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2 or not 1 <= audio.shape[1] <= 255:
        raise MessageError(f"audio must be (frames,) or (frames, channels), got {audio.shape}")
    msg = AudioChunk()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.sample_rate = int(sample_rate)
    msg.channels = audio.shape[1]
    msg.samples = float_array(audio)
    return msg


def message_to_audio(msg: AudioChunk) -> tuple[np.ndarray, int]:
    """AudioChunk -> (frames, channels) float32 and its sample rate, validated."""
    if msg.channels < 1:
        raise MessageError(f"AudioChunk has {msg.channels} channels, expected >= 1")
    if msg.sample_rate < 1:
        raise MessageError(f"AudioChunk has sample_rate {msg.sample_rate} Hz, expected > 0")
    samples = np.asarray(msg.samples, dtype=np.float32)
    if samples.size % msg.channels:
        raise MessageError(
            f"AudioChunk has {samples.size} samples, not a multiple of {msg.channels} channels"
        )
    if not np.isfinite(samples).all():
        raise MessageError("AudioChunk contains NaN or infinite samples")
    return samples.reshape(-1, msg.channels), int(msg.sample_rate)


# -- audio_common_msgs (raw PCM bytes) -------------------------------------------------

# GStreamer raw audio formats (AudioInfo.sample_format) -> (numpy dtype, offset, full scale)
PCM_FORMATS = {
    "S16LE": ("<i2", 0.0, 2.0**15),
    "S32LE": ("<i4", 0.0, 2.0**31),
    "F32LE": ("<f4", 0.0, 1.0),
    "U8": ("u1", 128.0, 128.0),
}


def pcm_to_audio(data: bytes, sample_format: str, channels: int) -> np.ndarray:
    """Interleaved raw PCM bytes -> (frames, channels) float32 in [-1, 1]."""
    if sample_format not in PCM_FORMATS:
        raise MessageError(
            f"audio sample_format {sample_format!r} is not supported; expected one of "
            f"{', '.join(PCM_FORMATS)}"
        )
    if channels < 1:
        raise MessageError(f"audio has {channels} channels, expected >= 1")
    dtype, offset, scale = PCM_FORMATS[sample_format]
    frame_bytes = np.dtype(dtype).itemsize * channels
    if len(data) % frame_bytes:
        raise MessageError(
            f"{len(data)} bytes of {sample_format} audio is not a whole number of "
            f"{channels}-channel frames ({frame_bytes} bytes each)"
        )
    samples = (np.frombuffer(bytes(data), dtype).astype(np.float32) - offset) / scale
    if not np.isfinite(samples).all():
        raise MessageError("audio contains NaN or infinite samples")
    return samples.reshape(-1, channels)
