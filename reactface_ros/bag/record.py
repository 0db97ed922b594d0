"""Record topics into an mcap bag (`reactface bag record`), like `ros2 bag record`.

Each topic's type is discovered from the ROS graph (the recorder waits until a publisher
appears), and the subscription matches the publishers' QoS: reliable when they all offer
it (a best-effort camera needs a best-effort subscriber), transient-local when they all
offer it, so a replay's messages sent before this subscriber had heard of the replay are
still delivered. Messages are stored as they arrive, undecoded, with their arrival time
(system clock, ns) as log time, into the final file as they come: a chunk is written at
least once a second, so a killed recorder loses at most the last second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from reactface_ros.bag.store import BagWriter, message_class, typestore

RECORD_DEPTH = 1000  # messages per topic the subscription may queue while the writer is busy


class Recorder:
    """Subscribe to `topics` on `node` and write every message to `path`."""

    def __init__(self, node: Node, path: str | Path, topics: list[str], overwrite: bool = False):
        self.node, self.topics = node, list(topics)
        self.writer = BagWriter(path, overwrite=overwrite, live=True)
        typestore()  # built now, not while the first messages wait (seconds on a busy machine)
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
            offered = [info.qos_profile for info in self.node.get_publishers_info_by_topic(topic)]
            reliable = all(q.reliability == ReliabilityPolicy.RELIABLE for q in offered)
            durable = all(q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in offered)
            qos = QoSProfile(
                history=HistoryPolicy.KEEP_LAST,
                depth=RECORD_DEPTH,
                reliability=ReliabilityPolicy.RELIABLE
                if reliable
                else ReliabilityPolicy.BEST_EFFORT,
                durability=DurabilityPolicy.TRANSIENT_LOCAL
                if durable
                else DurabilityPolicy.VOLATILE,
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
        self.writer.write_raw(topic, msgtype, data, time.time_ns())
        self.counts[topic] += 1
        # idle time counts from when the recorder was last busy, not from before the write
        self.last_arrival = time.monotonic()
        self.first_arrival = self.first_arrival or self.last_arrival

    def close(self) -> Path | None:
        if not self.writer.connections:
            self.writer.discard()  # nothing recorded: leave no file
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
            recorder.writer.flush_if_due()
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
