"""Peer process for test_messages: publishes one of each reactface message, then lingers.

It waits until the test's subscriber has matched (no blind sleep), publishes the three
messages with known contents, and exits when the test stops it or after a timeout.
"""

import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow

QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def messages():
    audio = AudioChunk()
    audio.header.stamp.sec, audio.header.stamp.nanosec = 12, 345
    audio.header.frame_id = "mic"
    audio.sample_rate, audio.channels = 48000, 2
    audio.samples = [i / 1000.0 for i in range(-480, 480)]

    face = FaceCoefficients()
    face.header.stamp.sec = 7
    face.header.frame_id = "face"
    face.face_model = "arkit58"
    face.expression = [i / 52.0 for i in range(52)]
    face.jaw_pose = [0.0, 0.0, 0.0]
    face.head_rotation = [0.1, -0.2, 0.3]
    face.translation = [0.0, 0.01, -0.02]
    face.sample_index = 3

    window = ReactionWindow()
    window.header.stamp.sec, window.header.stamp.nanosec = 100, 40_000_000
    window.fps = 25.0
    window.face_model = "arkit58"
    window.num_samples, window.num_frames = 2, 8
    window.coefficient_names = [f"c{d}" for d in range(58)]
    window.data = [float(i % 97) / 97.0 for i in range(2 * 8 * 58)]
    window.selected_sample = 1
    return {"audio": audio, "face": face, "window": window}


def main() -> int:
    rclpy.init()
    node = rclpy.create_node("reactface_test_publisher")
    to_send = messages()
    publishers = {
        name: node.create_publisher(type(msg), f"/test/{name}", QOS)
        for name, msg in to_send.items()
    }
    deadline = time.monotonic() + 30.0
    while any(p.get_subscription_count() == 0 for p in publishers.values()):
        if time.monotonic() > deadline:
            print("no subscriber matched within 30 s", file=sys.stderr)
            return 1
        rclpy.spin_once(node, timeout_sec=0.05)
    for name, publisher in publishers.items():
        publisher.publish(to_send[name])
    print("published", flush=True)
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
