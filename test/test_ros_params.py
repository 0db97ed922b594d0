"""Live parameters, the lifecycle, namespaces and the face layout, across real processes.

`ros2 param set` is rclpy's SetParameters service (what the `ros2 param` verb calls); the
lifecycle transitions are lifecycle_msgs' ChangeState service (`ros2 lifecycle set`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).parent / "peers"))

from ros_helpers import NodeProcess, RosPeer  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
T0 = 1_700_000_000_000_000_000
FRAME_NS = 40_000_000
W = 8  # the shipped model's window


@pytest.fixture
def peer(ros_domain):
    peer = RosPeer()
    yield peer
    peer.close()


def call(peer, service_type, name: str, request, process=None):
    """Call a service of a node in another process and wait for the answer."""
    client = peer.node.create_client(service_type, name)
    peer.spin_until(client.service_is_ready, 90.0, f"the service {name}", process)
    future = client.call_async(request)
    peer.spin_until(future.done, 30.0, f"the answer of {name}", process)
    peer.node.destroy_client(client)
    return future.result()


def set_parameter(peer, node: str, name: str, value, process=None):
    """(successful, reason) of `ros2 param set NODE NAME VALUE`."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
    (result,) = call(peer, SetParameters, f"{node}/set_parameters", request, process).results
    return result.successful, result.reason


def get_parameters(peer, node: str, *names, process=None):
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    request = GetParameters.Request(names=list(names))
    values = call(peer, GetParameters, f"{node}/get_parameters", request, process).values
    return [parameter_value_to_python(value) for value in values]


def transition(peer, node: str, label: str, process=None) -> None:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ids = {
        "configure": Transition.TRANSITION_CONFIGURE,
        "activate": Transition.TRANSITION_ACTIVATE,
        "deactivate": Transition.TRANSITION_DEACTIVATE,
        "cleanup": Transition.TRANSITION_CLEANUP,
    }
    request = ChangeState.Request(transition=Transition(id=ids[label]))
    assert call(peer, ChangeState, f"{node}/change_state", request, process).success, label


def state(peer, node: str, process=None) -> str:
    from lifecycle_msgs.srv import GetState

    return call(
        peer, GetState, f"{node}/get_state", GetState.Request(), process
    ).current_state.label


class Speaker:
    """Publishes camera frames and 20 ms audio chunks on a continuing stamp grid."""

    def __init__(self, peer, namespace: str = ""):
        from sensor_msgs.msg import Image

        from reactface_ros.msg import AudioChunk

        self.peer, self.next = peer, 0
        self.camera = peer.node.create_publisher(Image, f"{namespace}/camera/image_raw", 10)
        self.audio = peer.node.create_publisher(AudioChunk, f"{namespace}/audio/chunk", 50)

    def frames(self, count: int) -> None:
        import cv2

        from reactface_ros.convert import audio_to_message, ns_to_stamp
        from reactface_ros.image import rgb_to_image

        for _ in range(count):
            stamp = T0 + self.next * FRAME_NS
            rgb = np.full((96, 128, 3), 60, np.uint8)
            cv2.ellipse(rgb, (64, 48), (24, 32), 0, 0, 360, (200, 160, 140), -1)
            image = rgb_to_image(rgb)
            image.header.stamp = ns_to_stamp(stamp)
            self.camera.publish(image)
            self.peer.spin(0.02)
            for half in (0, 1):
                noise = 0.05 * np.sin(np.arange(320) * (self.next + 1) / 7.0)
                self.audio.publish(audio_to_message(noise, 16_000, stamp + half * FRAME_NS // 2))
                self.peer.spin(0.01)
            self.next += 1


def test_reaction_node_lifecycle_and_live_parameters(peer, tmp_path):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from reactface_core.face.models import get_face_model
    from reactface_ros.convert import message_to_layout, message_to_window
    from reactface_ros.msg import FaceLayout, ReactionWindow
    from reactface_ros.nodes.common import OUTPUT_QOS

    node = NodeProcess("reaction", tmp_path, "-p", "autostart:=false", "-p", "samples:=3")
    windows = []
    peer.node.create_subscription(
        ReactionWindow, "/reactface/reaction", lambda m: windows.append(message_to_window(m)),
        OUTPUT_QOS,
    )  # fmt: skip
    speaker = Speaker(peer)
    try:
        # unconfigured: nothing loaded, nothing published; configure + activate by hand
        assert state(peer, "/reaction", node) == "unconfigured"
        assert peer.node.count_publishers("/reactface/reaction") == 0
        transition(peer, "/reaction", "configure", node)
        assert state(peer, "/reaction", node) == "inactive"
        assert peer.node.count_subscribers("/camera/image_raw") == 0
        transition(peer, "/reaction", "activate", node)
        peer.spin_until(
            lambda: peer.node.count_subscribers("/camera/image_raw") == 1, 30.0, "subscriptions"
        )
        speaker.frames(2 * W + 2)
        peer.spin_until(lambda: len(windows) >= 2, 60.0, "2 windows of N=3", node)
        assert all(w.coefficients.shape[0] == 3 for w in windows)

        # the face layout, latched: a subscriber that joins now still gets it
        layouts = []
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        peer.node.create_subscription(FaceLayout, "/reactface/face_layout", layouts.append, latched)
        peer.spin_until(lambda: layouts, 30.0, "the latched face layout", node)
        layout, model = message_to_layout(layouts[0]), get_face_model("arkit58")
        assert layouts[0].face_model == "arkit58"
        assert layout["expression"][0] == list(model.names[model.expression])
        assert (
            layout["head_rotation"][0] == ["headPitch", "headYaw", "headRoll"]
            or len(layout["head_rotation"][0]) == 3
        )
        assert layout["jaw_pose"][0] == []  # arkit58 has no jaw pose values
        np.testing.assert_array_equal(layout["expression"][2], 1.0)

        # live: applied at once, answered as success, visible in the next windows
        assert set_parameter(peer, "/reaction", "samples", 2, node) == (True, "")
        assert set_parameter(peer, "/reaction", "selection", "most_typical", node)[0]
        assert set_parameter(peer, "/reaction", "max_delay", 1, node)[0]  # int taken as float
        assert get_parameters(peer, "/reaction", "samples", "selection", "max_delay") == [
            2,
            "most_typical",
            1.0,
        ]
        seen = len(windows)
        speaker.frames(2 * W + 2)
        peer.spin_until(lambda: len(windows) >= seen + 2, 60.0, "2 windows of N=2", node)
        assert windows[-1].coefficients.shape[0] == 2
        assert "parameters changed: samples=2" in node.output()

        # refused with the reason; the node keeps its values
        refusals = [
            ("checkpoint", "other.pt", "read-only"),
            ("device", "cpu", "read-only"),
            ("samples", 0, "out of range"),
            ("samples", "many", "Wrong parameter type"),
            ("selection", "best", "selection must be one of first, random, most_typical, sticky"),
        ]
        for name, value, reason in refusals:
            successful, said = set_parameter(peer, "/reaction", name, value, node)
            assert not successful and reason in said, (name, said)
        assert get_parameters(peer, "/reaction", "checkpoint", "samples", "selection") == [
            "default",
            2,
            "most_typical",
        ]

        # deactivate: stops consuming, keeps the interaction; activate: it goes on
        transition(peer, "/reaction", "deactivate", node)
        peer.spin_until(
            lambda: peer.node.count_subscribers("/camera/image_raw") == 0, 30.0, "unsubscribed"
        )
        assert state(peer, "/reaction", node) == "inactive"
        transition(peer, "/reaction", "activate", node)
        peer.spin_until(
            lambda: peer.node.count_subscribers("/camera/image_raw") == 1, 30.0, "resubscribed"
        )
        seen = len(windows)
        speaker.frames(2 * W)
        peer.spin_until(lambda: len(windows) >= seen + 1, 60.0, "windows after a pause", node)
        # since the samples change (which restarts the model's history) one unbroken run
        stamps = [w.stamp_ns for w in windows if w.coefficients.shape[0] == 2]
        assert len(stamps) >= 3 and set(np.diff(stamps)) == {W * FRAME_NS}
        assert "starting a new interaction" not in node.output()

        # cleanup frees the model: back to unconfigured, no publishers left
        transition(peer, "/reaction", "deactivate", node)
        transition(peer, "/reaction", "cleanup", node)
        assert state(peer, "/reaction", node) == "unconfigured"
        peer.spin_until(
            lambda: peer.node.count_publishers("/reactface/reaction") == 0, 30.0, "no publisher"
        )
    finally:
        code = node.stop()
    assert code == 0, node.output()[-3000:]
    assert "Traceback" not in node.output()


def test_render_node_size_and_backend_change_live_and_bad_values_are_refused(peer, tmp_path):
    from sensor_msgs.msg import Image

    from reactface_ros.convert import coefficients_to_message
    from reactface_ros.msg import FaceCoefficients
    from reactface_ros.nodes.common import OUTPUT_QOS

    node = NodeProcess("render", tmp_path, "-p", "backend:=numpy")
    images = []
    peer.node.create_subscription(Image, "/reactface/face_image", images.append, OUTPUT_QOS)
    face = peer.node.create_publisher(FaceCoefficients, "/reactface/face", OUTPUT_QOS)

    def render_one(stamp: int) -> Image:
        count = len(images)
        face.publish(coefficients_to_message(np.zeros(58, np.float32), "arkit58", stamp))
        peer.spin_until(lambda: len(images) > count, 30.0, "a face image", node)
        return images[-1]

    try:
        peer.spin_until(lambda: face.get_subscription_count() == 1, 60.0, "the render node", node)
        assert (render_one(1).width, images[-1].height) == (256, 256)
        assert set_parameter(peer, "/render", "width", 128, node) == (True, "")
        assert set_parameter(peer, "/render", "height", 96, node) == (True, "")
        assert (render_one(2).width, images[-1].height) == (128, 96)
        for name, value, reason in [
            ("backend", "opengl", "backend must be one of auto, moderngl, numpy"),
            ("width", 8, "out of range"),
            ("width", 200.5, "Wrong parameter type"),
        ]:
            successful, said = set_parameter(peer, "/render", name, value, node)
            assert not successful and reason in said, (name, said)
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            successful, said = set_parameter(peer, "/render", "show_window", True, node)
            assert not successful and "needs a display" in said
        assert get_parameters(peer, "/render", "width", "backend", "show_window") == [
            128,
            "numpy",
            False,
        ]
        assert (render_one(3).width, images[-1].height) == (128, 96)
    finally:
        assert node.stop() == 0, node.output()[-3000:]


def test_two_namespaced_instances_run_side_by_side_without_mixing(peer, tmp_path):
    from sensor_msgs.msg import Image

    from reactface_ros.convert import coefficients_to_message, stamp_to_ns
    from reactface_ros.msg import FaceCoefficients
    from reactface_ros.nodes.common import OUTPUT_QOS

    robots = ("robot1", "robot2")
    runs = {
        robot: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reactface_core.cli",
                "run",
                "--no-microphone",
                "--namespace",
                robot,
                "--duration",
                "240",
            ],
            stdout=(tmp_path / f"{robot}.log").open("w"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for robot in robots
    }
    received = {robot: [] for robot in robots}
    faces = {}
    for robot in robots:
        peer.node.create_subscription(
            Image,
            f"/{robot}/reactface/face_image",
            lambda m, robot=robot: received[robot].append(stamp_to_ns(m.header.stamp)),
            OUTPUT_QOS,
        )
        faces[robot] = peer.node.create_publisher(
            FaceCoefficients, f"/{robot}/reactface/face", OUTPUT_QOS
        )
    try:
        expected = {
            f"/{robot}/{topic}"
            for robot in robots
            for topic in ("reactface/reaction", "reactface/face_image", "camera/image_raw")
        }
        peer.spin_until(
            lambda: (
                expected <= {name for name, _ in peer.node.get_topic_names_and_types()}
                and all(faces[r].get_subscription_count() == 1 for r in robots)
                and {("reaction", "/robot1"), ("render", "/robot2")}
                <= set(peer.node.get_node_names_and_namespaces())
            ),
            180.0,
            "both instances' topics and nodes",
        )
        names = {name for name, _ in peer.node.get_topic_names_and_types()}
        assert not {"/reactface/reaction", "/camera/image_raw", "/reactface/face"} & names
        sent = {"robot1": [1, 2, 3], "robot2": [11, 12, 13, 14, 15]}
        for robot, stamps in sent.items():
            for stamp in stamps:
                faces[robot].publish(
                    coefficients_to_message(np.zeros(58, np.float32), "arkit58", stamp)
                )
                peer.spin(0.05)
        peer.spin_until(
            lambda: all(len(received[r]) >= len(sent[r]) for r in robots),
            60.0,
            "each robot's face images",
        )
        for robot in robots:
            assert sorted(received[robot]) == sent[robot]  # its own faces, none of the other's
    finally:
        for process in runs.values():
            process.send_signal(2)
        codes = [process.wait(timeout=60) for process in runs.values()]
    assert codes == [0, 0], [(tmp_path / f"{r}.log").read_text()[-2000:] for r in robots]


def test_an_invalid_namespace_is_a_clear_error_at_start(tmp_path, ros_domain):
    node = NodeProcess("render", tmp_path, "-r", "__ns:=/robot 1")
    node.process.wait(timeout=60)
    assert node.stop() == 2
    assert "error: invalid ROS arguments" in node.output() and "__ns:=/robot 1" in node.output()
    result = subprocess.run(
        [sys.executable, "-m", "reactface_core.cli", "run", "--namespace", "robot-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid namespace 'robot-1'" in result.stderr
