"""Message <-> numpy conversion for the three reactface messages, at the ROS edge."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")

from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402

from reactface_core.face.models import get_face_model  # noqa: E402
from reactface_ros.convert import (  # noqa: E402
    MessageError,
    audio_to_message,
    coefficients_to_message,
    message_to_audio,
    message_to_coefficients,
    message_to_window,
    ns_to_stamp,
    stamp_to_ns,
    window_to_message,
)
from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow  # noqa: E402


def through_cdr(msg):
    """Serialise as DDS would and read back, so the test covers the wire format."""
    return deserialize_message(serialize_message(msg), type(msg))


def test_stamps_round_trip_at_nanosecond_precision():
    for ns in (0, 1, 999_999_999, 1_700_000_000_123_456_789):
        stamp = ns_to_stamp(ns)
        assert stamp_to_ns(stamp) == ns and 0 <= stamp.nanosec < 10**9


@pytest.mark.parametrize("name", ["arkit58", "faceverse58", "flame56"])
def test_face_coefficients_split_into_groups_and_back(name):
    model = get_face_model(name)
    frame = np.linspace(-1, 1, model.dim, dtype=np.float32)
    msg = through_cdr(coefficients_to_message(frame, model, stamp_ns=42, sample_index=3))
    assert msg.face_model == name and msg.sample_index == 3
    assert stamp_to_ns(msg.header.stamp) == 42
    np.testing.assert_array_equal(msg.head_rotation, frame[model.head_rotation])
    if model.jaw_pose is None:
        assert list(msg.jaw_pose) == [0.0, 0.0, 0.0]
    back, back_model = message_to_coefficients(msg)
    assert back_model is model
    np.testing.assert_array_equal(back, frame)


def test_face_coefficients_with_wrong_layout_are_refused():
    with pytest.raises(ValueError, match=r"expected \(T, 58\)"):
        coefficients_to_message(np.zeros(57), "arkit58")
    msg = coefficients_to_message(np.zeros(58), "arkit58")
    msg.expression = [0.0] * 50
    with pytest.raises(MessageError, match="needs 52 expression values"):
        message_to_coefficients(msg)
    msg.face_model = "nonsense"
    with pytest.raises(MessageError, match="unknown face model"):
        message_to_coefficients(msg)


def test_reaction_window_is_row_major_sample_frame_coefficient():
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((3, 8, 58)).astype(np.float32)
    msg = through_cdr(window_to_message(windows, "arkit58", 10**9 + 5, selected_sample=2))
    assert (msg.num_samples, msg.num_frames, msg.selected_sample) == (3, 8, 2)
    d = 58
    assert msg.data[(1 * 8 + 4) * d + 7] == windows[1, 4, 7]  # the documented index formula
    window = message_to_window(msg)
    np.testing.assert_array_equal(window.coefficients, windows)
    assert window.stamp_ns == 10**9 + 5
    assert list(window.frame_stamps()[:3]) == [10**9 + 5, 10**9 + 40_000_005, 10**9 + 80_000_005]


def test_malformed_reaction_windows_are_refused():
    msg = window_to_message(np.zeros((2, 4, 58)), "arkit58", 0)
    msg.num_frames = 5
    with pytest.raises(MessageError, match="expected N\\*w\\*D"):
        message_to_window(msg)
    msg = window_to_message(np.zeros((2, 4, 58)), "arkit58", 0)
    msg.coefficient_names = msg.coefficient_names[:-1]
    with pytest.raises(MessageError, match="coefficient_names"):
        message_to_window(msg)
    with pytest.raises(MessageError, match=r"\(N, w, 56\)"):
        window_to_message(np.zeros((2, 4, 58)), "flame56", 0)
    with pytest.raises(MessageError, match="selected_sample 2"):
        window_to_message(np.zeros((2, 4, 58)), "arkit58", 0, selected_sample=2)


def test_audio_chunks_keep_interleaving_and_rate():
    stereo = np.stack([np.linspace(-1, 1, 480), np.linspace(1, -1, 480)], axis=1)
    msg = through_cdr(audio_to_message(stereo, 48_000, stamp_ns=7))
    assert (msg.sample_rate, msg.channels, len(msg.samples)) == (48_000, 2, 960)
    assert msg.samples[1] == pytest.approx(1.0)  # second value = right channel, frame 0
    samples, rate = message_to_audio(msg)
    assert rate == 48_000
    np.testing.assert_allclose(samples, stereo, atol=1e-7)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": 0, "sample_rate": 16000}, "0 channels"),
        ({"channels": 2, "sample_rate": 16000, "samples": [0.0] * 3}, "not a multiple"),
        ({"channels": 1, "sample_rate": 0}, "sample_rate 0"),
        ({"channels": 1, "sample_rate": 16000, "samples": [float("nan")]}, "NaN"),
    ],
)
def test_malformed_audio_chunks_are_refused(fields, message):
    with pytest.raises(MessageError, match=message):
        message_to_audio(AudioChunk(**fields))


def test_messages_defaults_are_the_documented_types():
    assert isinstance(window_to_message(np.zeros((1, 1, 58)), "arkit58", 0), ReactionWindow)
    assert isinstance(coefficients_to_message(np.zeros(58), "arkit58"), FaceCoefficients)
