"""Peer process for the audio_common bridge test: an audio_capture stand-in.

Publishes audio_common_msgs as audio_common's capture node does (AudioInfo on
audio/audio_info, raw PCM AudioDataStamped on audio/audio_stamped), with the message
package the test built. It waits, through the bridge's /diagnostics, until the bridge has
the AudioInfo before sending audio (no blind sleep), then switches to an mp3 stream.

    python publish_audio_common.py CHUNKS
"""

import sys
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile, ReliabilityPolicy

RATE, CHANNELS, FRAMES = 48_000, 2, 960  # 20 ms chunks, stereo
T0 = 1_700_000_000_000_000_000


def pcm(index: int) -> np.ndarray:
    """Chunk `index` as (FRAMES, CHANNELS) int16: a sine per channel, continuous."""
    t = (index * FRAMES + np.arange(FRAMES)) / RATE
    left, right = np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 330 * t)
    return np.round(np.stack([left, right], 1) * 20_000).astype("<i2")


def main() -> int:
    from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo

    chunks = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("audio_capture_stand_in")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    info_pub = node.create_publisher(AudioInfo, "/audio/audio_info", reliable)
    data_pub = node.create_publisher(AudioDataStamped, "/audio/audio_stamped", reliable)
    bridge = {}

    def on_diagnostics(msg):
        for status in msg.status:
            if status.name.endswith("audio_common"):
                bridge.update({kv.key: kv.value for kv in status.values})

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    def publish_info(coding: str, until) -> None:
        end = time.monotonic() + 120
        while not until() and time.monotonic() < end:
            info = AudioInfo(channels=CHANNELS, sample_rate=RATE, sample_format="S16LE")
            info.bitrate, info.coding_format = RATE * CHANNELS * 16, coding
            info_pub.publish(info)
            rclpy.spin_once(node, timeout_sec=0.1)

    def chunk(index: int) -> AudioDataStamped:
        msg = AudioDataStamped(audio=AudioData(data=pcm(index).tobytes()))
        stamp = T0 + index * 20_000_000
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        return msg

    publish_info(
        "wave",
        lambda: bridge.get("sample_rate") == str(RATE) and data_pub.get_subscription_count() > 0,
    )
    for index in range(chunks):
        data_pub.publish(chunk(index))
        rclpy.spin_once(node, timeout_sec=0.01)
    publish_info("mp3", lambda: bridge.get("coding_format") == "mp3")
    for index in range(chunks, chunks + 3):
        data_pub.publish(chunk(index))
        rclpy.spin_once(node, timeout_sec=0.05)
    print("published", flush=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:  # until the test stops it
        rclpy.spin_once(node, timeout_sec=0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
