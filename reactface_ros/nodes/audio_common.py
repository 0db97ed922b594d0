"""audio_common node: audio_common_msgs audio (a robot's usual microphone driver) -> AudioChunk.

audio_common's capture node (`ros2 launch audio_capture capture_wave.launch.py`) publishes
raw PCM as audio_common_msgs/AudioDataStamped on audio/audio_stamped and the stream's
format as audio_common_msgs/AudioInfo on audio/audio_info. This bridge turns each message
into a reactface_ros/AudioChunk on audio/chunk for the reaction node. Until an AudioInfo
arrives the format comes from the parameters; capture with format:=wave (an mp3 stream is
refused with a warning: it would need a decoder).

Stamps: audio_capture stamps buffers with the GStreamer pipeline clock, not ROS time, so
by default (`stamps:=arrival`) a chunk is stamped with its arrival time minus its duration,
chained to the previous chunk while they stay within `chunk jitter`; `stamps:=header`
keeps the message's own stamp for drivers that stamp in ROS time. Needs audio_common_msgs
installed (`apt install ros-$ROS_DISTRO-audio-common-msgs`); without it the node exits
with status 1 and says so.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from reactface_core import contract
from reactface_ros.convert import (
    PCM_FORMATS,
    MessageError,
    audio_to_message,
    pcm_to_audio,
    stamp_to_ns,
)
from reactface_ros.msg import AudioChunk
from reactface_ros.nodes.common import (
    AUDIO_QOS,
    DIAGNOSTICS_PERIOD,
    Diagnostics,
    NodeStartupError,
    Param,
    declare,
    run,
)

PARAMS = [
    Param(
        "sample_format",
        "S16LE",
        "PCM sample format until an AudioInfo message says otherwise",
        choices=tuple(PCM_FORMATS),
        live=True,
    ),
    Param(
        "sample_rate",
        16_000,
        "Hz, until an AudioInfo message says otherwise",
        range=(8_000, 192_000),
        live=True,
    ),
    Param(
        "channels",
        1,
        "interleaved channels, until an AudioInfo says otherwise",
        range=(1, 32),
        live=True,
    ),
    Param(
        "stamps",
        "arrival",
        "arrival: arrival time minus the chunk's duration, chained while contiguous "
        "(audio_capture stamps with the GStreamer clock); header: the message's own stamp",
        choices=("arrival", "header"),
        live=True,
    ),
    Param("frame_id", "microphone", "frame_id of the published chunks", live=True),
    DIAGNOSTICS_PERIOD,
]


class ArrivalStamps:
    """Stamps for chunks that arrive without usable ones: arrival time minus the chunk's
    duration, chained to the previous chunk (contiguous audio stays contiguous) unless
    that is more than `resync` seconds away from the arrival-based stamp."""

    def __init__(self, resync: float = 0.1):
        self.resync_ns = int(resync * 1e9)
        self.next_ns: int | None = None

    def __call__(self, arrival_ns: int, frames: int, rate: int) -> int:
        duration = frames * 1_000_000_000 // rate
        start = arrival_ns - duration
        if self.next_ns is not None and abs(start - self.next_ns) < self.resync_ns:
            start = self.next_ns
        self.next_ns = start + duration
        return start


class AudioCommonNode(Node):
    def __init__(self, **kwargs):
        super().__init__("audio_common", **kwargs)
        self.p = declare(self, PARAMS, self._apply)
        try:
            from audio_common_msgs.msg import AudioDataStamped, AudioInfo
        except ImportError:
            raise NodeStartupError(
                "audio_common_msgs is not installed (apt install "
                "ros-$ROS_DISTRO-audio-common-msgs, or build it in your workspace); "
                "without it, publish reactface_ros/AudioChunk yourself or use the "
                "microphone node"
            ) from None
        self.format = {k: self.p[k] for k in ("sample_format", "sample_rate", "channels")}
        self.coding = "wave"
        self.arrival_stamps = ArrivalStamps()
        self.counts = {"chunks_published": 0, "messages_skipped": 0, "info_received": 0}
        self.publisher = self.create_publisher(AudioChunk, contract.AUDIO_TOPIC, AUDIO_QOS)
        self.create_subscription(
            AudioDataStamped, contract.AUDIO_COMMON_TOPIC, self._on_audio, AUDIO_QOS
        )
        self.create_subscription(
            AudioInfo,
            contract.AUDIO_COMMON_INFO_TOPIC,
            self._on_info,
            QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE),
        )
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        self.get_logger().info(
            f"ready: {self.resolve_topic_name(contract.AUDIO_COMMON_TOPIC)} -> "
            f"{self.resolve_topic_name(contract.AUDIO_TOPIC)}"
        )

    def _apply(self, changes: dict) -> None:
        self.format.update({k: v for k, v in changes.items() if k in self.format})
        if "diagnostics_period" in changes:
            self.diagnostics.set_period(changes["diagnostics_period"])

    def _on_info(self, msg) -> None:
        self.counts["info_received"] += 1
        self.coding = msg.coding_format.lower()
        self.format.update(
            sample_format=msg.sample_format, sample_rate=msg.sample_rate, channels=msg.channels
        )

    def _on_audio(self, msg) -> None:
        try:
            if self.coding not in ("wave", "wav", ""):
                raise MessageError(
                    f"coding_format {self.coding!r} is not raw PCM; start audio_capture with "
                    "format:=wave"
                )
            if self.format["sample_rate"] < 1:
                raise MessageError(f"sample_rate {self.format['sample_rate']} Hz")
            samples = pcm_to_audio(
                msg.audio.data, self.format["sample_format"], self.format["channels"]
            )
        except MessageError as error:
            self.counts["messages_skipped"] += 1
            self.get_logger().warning(
                f"skipped audio_common message: {error}", throttle_duration_sec=5.0
            )
            return
        rate = self.format["sample_rate"]
        chunk = audio_to_message(samples, rate, self._stamp(msg, len(samples), rate))
        chunk.header.frame_id = self.p["frame_id"]
        self.publisher.publish(chunk)
        self.counts["chunks_published"] += 1

    def _stamp(self, msg, frames: int, rate: int) -> int:
        if self.p["stamps"] == "header":
            return stamp_to_ns(msg.header.stamp)
        return self.arrival_stamps(self.get_clock().now().nanoseconds, frames, rate)

    def _diagnose(self):
        skipped = self.counts["messages_skipped"]
        level = DiagnosticStatus.WARN if skipped else DiagnosticStatus.OK
        values = {**self.counts, **self.format, "coding_format": self.coding}
        values["chunk_subscribers"] = self.publisher.get_subscription_count()
        return level, "skipped audio messages" if skipped else "ok", values


def main(args: list[str] | None = None) -> int:
    return run(AudioCommonNode, args)


if __name__ == "__main__":
    sys.exit(main())
