"""Each custom message crosses a real DDS link between two processes intact."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

PEER = Path(__file__).parent / "peers" / "publish_messages.py"


def test_messages_cross_processes_intact(ros_domain):
    rclpy = pytest.importorskip("rclpy")
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow

    sys.path.insert(0, str(PEER.parent))
    from publish_messages import messages

    expected = messages()
    qos = QoSProfile(
        depth=10,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("reactface_test_subscriber", context=context)
    received = {}
    for name, msg_type in (
        ("audio", AudioChunk),
        ("face", FaceCoefficients),
        ("window", ReactionWindow),
    ):
        node.create_subscription(
            msg_type, f"/test/{name}", lambda msg, name=name: received.setdefault(name, msg), qos
        )
    peer = subprocess.Popen([sys.executable, str(PEER)], stdout=subprocess.PIPE, text=True)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        deadline = time.monotonic() + 40.0
        while len(received) < 3 and time.monotonic() < deadline and peer.poll() is None:
            executor.spin_once(timeout_sec=0.05)
    finally:
        peer.terminate()
        peer.wait(timeout=10)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)

    assert set(received) == {"audio", "face", "window"}, f"received only {sorted(received)}"
    for name, msg in expected.items():
        assert received[name] == msg, f"{name} message changed on the way"
    window = received["window"]
    assert len(window.data) == window.num_samples * window.num_frames * len(
        window.coefficient_names
    )
    assert received["audio"].samples[0] == pytest.approx(-0.48)
