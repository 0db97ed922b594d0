"""The nodes as real processes over real DDS: reaction, render, camera, microphone."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).parent / "peers"))

from ros_helpers import NodeProcess, RosPeer  # noqa: E402

from reactface_ros.bag.interaction import (  # noqa: E402
    DEFAULT_START_NS,
    FRAME_NS,
    Interaction,
    write_interaction_bag,
)

pytestmark = pytest.mark.ros
W = 8  # frames per window (the shipped model's w)


@pytest.fixture
def peer(ros_domain):
    peer = RosPeer()
    yield peer
    peer.close()


def speaker_bag(path: Path, frames: int) -> Path:
    """A speaker with a rendered-looking face (an ellipse) and noise-like speech."""
    rng = np.random.default_rng(0)
    images = np.full((frames, 96, 128, 3), 60, np.uint8)
    for i in range(frames):
        cv2.ellipse(images[i], (64, 48), (24, 32), 0, 0, 360, (200, 160, 140), -1)
        cv2.ellipse(images[i], (64, 62), (8, 2 + i % 5), 0, 0, 360, (40, 20, 20), -1)
    audio = (0.05 * rng.standard_normal(frames * 640)).astype(np.float32)
    write_interaction_bag(path, Interaction(images, frames, audio))
    return path


@pytest.mark.slow
def test_replayed_bag_gives_one_window_per_w_frames_and_bad_messages_are_skipped(peer, tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from reactface_ros.bag.replay import replay
    from reactface_ros.convert import (
        audio_to_message,
        message_to_window,
        ns_to_stamp,
        stamp_to_ns,
    )
    from reactface_ros.image import rgb_to_image
    from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow
    from reactface_ros.nodes.common import OUTPUT_QOS

    frames = 60  # 7 full windows of 8, 4 frames left over
    bag = speaker_bag(tmp_path / "speaker.mcap", frames)
    node = NodeProcess("reaction", tmp_path, "-p", "samples:=3", "-p", f"window:={W}")
    windows, faces, diagnostics = [], [], []
    peer.node.create_subscription(
        ReactionWindow,
        "/reactface/reaction",
        lambda m: windows.append(message_to_window(m)),
        OUTPUT_QOS,
    )
    peer.node.create_subscription(
        FaceCoefficients,
        "/reactface/face",
        lambda m: faces.append(stamp_to_ns(m.header.stamp)),
        OUTPUT_QOS,
    )
    peer.node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: diagnostics.extend(
            {kv.key: kv.value for kv in s.values} for s in m.status if s.name.endswith("reaction")
        ),
        10,
    )
    try:
        replay(
            peer.node,
            bag,
            topics=["/camera/image_raw", "/audio/chunk"],
            wait_for=["/camera/image_raw", "/audio/chunk"],
            wait_timeout=60.0,
            spin=peer.spin,
        )
        peer.spin_until(lambda: len(windows) >= 7, 10.0, "7 reaction windows", node)

        def face_frames_done():
            reported = diagnostics[-1] if diagnostics else {}
            dropped = int(reported.get("face_frames_dropped", 0))
            return len(faces) + dropped >= 7 * W and len(faces) == int(
                reported.get("face_frames_published", -1)
            )

        peer.spin_until(face_frames_done, 10.0, "the paced face stream", node)

        # one window per w frames, stamped with its first frame, in order
        assert [w.stamp_ns for w in windows] == [
            DEFAULT_START_NS + k * W * FRAME_NS for k in range(7)
        ]
        assert all(w.coefficients.shape == (3, W, 58) for w in windows)
        assert all(np.isfinite(w.coefficients).all() for w in windows)
        assert windows[0].face_model.name == "arkit58" and windows[0].fps == 25.0
        # the 25 Hz stream: frames of the selected sample at their own stamps, in order (a
        # stream that falls behind by more than 3 windows drops its oldest frames, counted)
        grid = [DEFAULT_START_NS + i * FRAME_NS for i in range(7 * W)]
        assert faces == sorted(faces) and set(faces) <= set(grid)
        assert faces[-W:] == grid[-W:]

        # now malformed messages, interleaved with a valid continuation of the stream
        camera = peer.node.create_publisher(Image, "/camera/image_raw", 10)
        audio = peer.node.create_publisher(AudioChunk, "/audio/chunk", 50)
        last = DEFAULT_START_NS + (frames - 1) * FRAME_NS

        def image(stamp, encoding="rgb8", data=None):
            msg = rgb_to_image(np.zeros((96, 128, 3), np.uint8))
            msg.header.stamp = ns_to_stamp(stamp)
            msg.encoding = encoding
            if data is not None:
                msg.data = data
            return msg

        def chunk(stamp, rate=16_000, samples=320, channels=1):
            msg = audio_to_message(np.zeros((samples, channels), np.float32), rate, stamp)
            return msg

        broken = chunk(last + FRAME_NS, channels=2)
        broken.samples = broken.samples[:-1]
        bad = [
            (
                camera,
                image(last + FRAME_NS, encoding="32FC1"),
                "unsupported image encoding '32FC1'",
            ),
            (
                camera,
                image(last + FRAME_NS, data=bytes(100)),
                "rgb8 image 128x96 with step 384 needs 36864 bytes, got 100",
            ),
            (camera, image(last - 2 * FRAME_NS), "non-monotonic camera stamp"),
            (
                audio,
                chunk(last + FRAME_NS, rate=44_100, samples=882),
                "wrong sample rate 44100 Hz: this audio stream is 16000 Hz",
            ),
            (audio, chunk(DEFAULT_START_NS + 30 * FRAME_NS), "non-monotonic audio stamp"),
            (audio, broken, "AudioChunk has 639 samples, not a multiple of 2 channels"),
        ]
        for publisher, msg, reason in bad:
            # sensor topics are best effort: a node starved of CPU may drop a message before
            # reading it, so send again until its log line shows it was read and skipped
            for _ in range(10):
                publisher.publish(msg)
                peer.spin(0.3)
                if reason in node.output():
                    break
            assert reason in node.output(), f"no log line {reason!r}:\n{node.output()[-2000:]}"
        # 20 more valid frames (60..79) with their audio: windows at 56, 64 and 72 complete
        for i in range(frames, frames + 20):
            stamp = DEFAULT_START_NS + i * FRAME_NS
            camera.publish(image(stamp))
            peer.spin(0.02)
            for half in (0, 1):
                audio.publish(chunk(stamp + half * FRAME_NS // 2))
                peer.spin(0.01)
        peer.spin_until(
            lambda: len(windows) >= 10, 10.0, "the windows after the bad messages", node
        )
        peer.spin(1.2)  # one more /diagnostics message
        assert node.poll() is None, "a bad message killed the reaction node"
        assert [w.stamp_ns for w in windows[7:]] == [
            DEFAULT_START_NS + k * FRAME_NS for k in (56, 64, 72)
        ]
    finally:
        node.stop()
    log = node.output()
    assert f"ready: model reactface_synth.pt (arkit58, w={W}, N=3)" in log  # the shipped default
    final = diagnostics[-1]
    assert int(final["frames_skipped"]) >= 3 and int(final["audio_chunks_skipped"]) >= 3
    assert final["windows_published"] == "10"
    assert float(final["latency_ms_p50"]) > 0


def test_render_node_turns_coefficients_into_face_images(peer, tmp_path):
    from sensor_msgs.msg import Image

    from reactface_ros.convert import coefficients_to_message, stamp_to_ns
    from reactface_ros.image import to_rgb
    from reactface_ros.msg import FaceCoefficients
    from reactface_ros.nodes.common import OUTPUT_QOS

    node = NodeProcess("render", tmp_path, "-p", "width:=160", "-p", "height:=120")
    images = []
    peer.node.create_subscription(Image, "/reactface/face_image", images.append, OUTPUT_QOS)
    publisher = peer.node.create_publisher(FaceCoefficients, "/reactface/face", OUTPUT_QOS)
    try:
        peer.spin_until(
            lambda: publisher.get_subscription_count() > 0, 60.0, "the render node", node
        )
        neutral = coefficients_to_message(np.zeros(58, np.float32), "arkit58", stamp_ns=5 * 10**9)
        bad = coefficients_to_message(np.zeros(58, np.float32), "arkit58", stamp_ns=6 * 10**9)
        bad.expression = [0.0] * 10
        jaw = np.zeros(58, np.float32)
        jaw[17] = 1.0  # jawOpen
        open_mouth = coefficients_to_message(jaw, "arkit58", stamp_ns=7 * 10**9)
        for msg in (neutral, bad, open_mouth):
            publisher.publish(msg)
            peer.spin(0.1)
        peer.spin_until(lambda: len(images) >= 2, 20.0, "two face images", node)
        assert node.poll() is None
    finally:
        node.stop()
    assert [stamp_to_ns(i.header.stamp) for i in images] == [5 * 10**9, 7 * 10**9]
    first, second = (to_rgb(i) for i in images)
    assert first.shape == (120, 160, 3) and images[0].encoding == "rgb8"
    background = first[0, 0]
    assert (np.abs(first.astype(int) - background).sum(axis=2) > 30).mean() > 0.1  # a face is drawn
    assert np.abs(first.astype(int) - second).sum(axis=2).astype(bool).mean() > 0.002  # jaw moved
    assert (
        "skipped face message: FaceCoefficients for arkit58 needs 52 expression values"
        in node.output()
    )


def test_microphone_node_without_input_device_exits_with_a_clear_error(tmp_path, ros_domain):
    sounddevice = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sounddevice.query_devices()):
        pytest.skip("this machine has an audio input device")
    node = NodeProcess("microphone", tmp_path)
    assert node.process.wait(timeout=60) == 1
    node.stop()
    assert "error: no audio input device found" in node.output()


def test_camera_node_with_missing_device_exits_with_a_clear_error(tmp_path, ros_domain):
    node = NodeProcess("camera", tmp_path, "-p", "device:=/dev/video99")
    assert node.process.wait(timeout=60) == 1
    node.stop()
    assert "error: camera device '/dev/video99' could not be opened" in node.output()


def test_camera_node_publishes_a_video_file_as_images(peer, tmp_path):
    from sensor_msgs.msg import Image

    from reactface_ros.convert import stamp_to_ns
    from reactface_ros.image import to_rgb
    from reactface_ros.nodes.common import CAMERA_QOS

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(40):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :, 2] = 200  # red in BGR
        frame[10:20, i : i + 10] = 255
        writer.write(frame)
    writer.release()
    images = []
    peer.node.create_subscription(Image, "/camera/image_raw", images.append, CAMERA_QOS)
    node = NodeProcess(
        "camera", tmp_path, "-p", f"device:={video}", "-p", "fps:=25.0", "-p", "loop:=true"
    )
    try:
        peer.spin_until(lambda: len(images) >= 5, 60.0, "five camera images", node)
    finally:
        assert node.stop() == 0
    rgb = to_rgb(images[-1])
    assert rgb.shape == (48, 64, 3) and images[-1].encoding == "rgb8"
    assert rgb[40, 5, 0] > 150 and rgb[40, 5, 2] < 80  # red stays red: channels in RGB order
    stamps = [stamp_to_ns(i.header.stamp) for i in images]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert 0.02 < (stamps[-1] - stamps[0]) / 1e9 / (len(stamps) - 1) < 0.08  # paced at ~25 fps


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "samples:=0"), "invalid parameter 'samples': expected int in [1, 64]"),
        (("-p", "selection:=best"), "parameter 'selection' is 'best'; expected one of first,"),
        (("-p", "device:=tpu"), "parameter 'device' is 'tpu'; expected one of auto, cpu, cuda"),
        (("-p", "checkpoint:=/nonexistent/model.pt"), "checkpoint /nonexistent/model.pt does not"),
    ],
)
def test_bad_parameters_stop_the_node_at_start_with_the_allowed_values(
    tmp_path, ros_domain, args, message
):
    node = NodeProcess("reaction", tmp_path, *args)
    assert node.process.wait(timeout=60) == 1
    node.stop()
    assert message in node.output()


def numbered_video(path: Path, frames: int, size: tuple[int, int]) -> Path:
    """An MJPG video whose frame i is uniformly grey level 4 i (readable after compression)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 4 * i, np.uint8))
    writer.release()
    return path


def test_camera_node_640x480_raw_frames_reach_a_subscriber_without_a_gap(peer, tmp_path):
    from sensor_msgs.msg import Image

    from reactface_ros.image import to_rgb
    from reactface_ros.nodes.common import CAMERA_QOS

    video = numbered_video(tmp_path / "numbered.avi", 60, (640, 480))
    indices = []
    peer.node.create_subscription(
        Image,
        "/camera/image_raw",
        lambda m: indices.append(round(float(to_rgb(m).mean()) / 4)),
        CAMERA_QOS,
    )
    node = NodeProcess("camera", tmp_path, "-p", f"device:={video}", "-p", "loop:=true")
    try:
        peer.spin_until(lambda: len(indices) >= 75, 90.0, "75 frames of 640x480", node)
    finally:
        assert node.stop() == 0
    # from the first frame after the subscriber matched, every frame arrived, in order
    assert indices == [(indices[0] + k) % 60 for k in range(len(indices))]


def test_camera_node_resizes_and_compresses_at_the_source(peer, tmp_path):
    from sensor_msgs.msg import CompressedImage

    from reactface_ros.image import to_rgb
    from reactface_ros.nodes.common import CAMERA_QOS

    video = numbered_video(tmp_path / "numbered.avi", 40, (640, 480))
    images = []
    peer.node.create_subscription(
        CompressedImage, "/camera/image_raw/compressed", images.append, CAMERA_QOS
    )
    node = NodeProcess(
        "camera", tmp_path, "-p", f"device:={video}", "-p", "output_width:=160",
        "-p", "image_transport:=compressed", "-p", "loop:=true",
    )  # fmt: skip
    try:
        peer.spin_until(lambda: len(images) >= 5, 60.0, "five compressed images", node)
    finally:
        assert node.stop() == 0
    assert images[-1].format == "jpeg"
    assert to_rgb(images[-1]).shape == (120, 160, 3)  # the aspect ratio kept
    assert "-> camera/image_raw/compressed (160x120, jpeg)" in node.output()
