"""Record topics into an mcap bag (`reactface bag record`), like `ros2 bag record`.

Each topic's type is discovered from the ROS graph (the recorder waits until a publisher
appears), and the subscription matches the publishers' reliability (a best-effort camera
needs a best-effort subscriber). Messages are stored as they arrive, undecoded, with
their arrival time (system clock, ns) as log time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from reactface_ros.bag.store import BagWriter, message_class


class Recorder:
    """Subscribe to `topics` on `node` and write every message to `path`."""

    def __init__(self, node: Node, path: str | Path, topics: list[str], overwrite: bool = False):
        self.node, self.topics = node, list(topics)
        self.writer = BagWriter(path, overwrite=overwrite)
        self.subscriptions: dict[str, object] = {}
        self.counts = dict.fromkeys(self.topics, 0)
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None

    def subscribe_available(self) -> list[str]:
        """Subscribe to the topics that now have a publisher; return those still missing."""
        known = dict(self.node.get_topic_names_and_types())
        for topic in self.topics:
            if topic in self.subscriptions or topic not in known:
                continue
            msgtype = known[topic][0]
            publishers = self.node.get_publishers_info_by_topic(topic)
            best_effort = any(
                info.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for info in publishers
            )
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=100,
                reliability=ReliabilityPolicy.BEST_EFFORT
                if best_effort
                else ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.VOLATILE,
            )
            self.subscriptions[topic] = self.node.create_subscription(
                message_class(msgtype),
                topic,
                lambda data, topic=topic, msgtype=msgtype: self._store(topic, msgtype, data),
                qos,
                raw=True,
            )
        return [t for t in self.topics if t not in self.subscriptions]

    def _store(self, topic: str, msgtype: str, data: bytes) -> None:
        now = time.monotonic()
        self.first_arrival = self.first_arrival or now
        self.last_arrival = now
        self.writer.write_raw(topic, msgtype, data, time.time_ns())
        self.counts[topic] += 1

    def close(self) -> Path | None:
        if not self.writer.connections:
            self.writer.__exit__(RuntimeError, None, None)  # nothing recorded: leave no file
            return None
        return self.writer.close()


def record(
    node: Node,
    path: str | Path,
    topics: list[str],
    spin: Callable[[float], None],
    duration: float | None = None,
    idle_stop: float | None = None,
    stop: Callable[[], bool] | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Record until `duration` s have passed, or nothing arrived for `idle_stop` s after a
    first message, or `stop()` is true. spin(seconds) services the node."""
    recorder = Recorder(node, path, topics, overwrite)
    start = time.monotonic()
    try:
        while True:
            recorder.subscribe_available()
            spin(0.05)
            now = time.monotonic()
            if duration is not None and now - start >= duration:
                break
            if (
                idle_stop is not None
                and recorder.last_arrival
                and now - recorder.last_arrival > idle_stop
            ):
                break
            if stop is not None and stop():
                break
    finally:
        recorder.close()
    return recorder.counts
