"""Publish a bag in real time, paced by the messages' header stamps (`reactface bag replay`).

A message is released when a live robot would have had it: at its header stamp, or for an
`AudioChunk` at stamp + duration (its last sample). Messages without a header use the
bag's log time. Release times are sorted within a look-ahead of 2 s of log time, so a
recorded bag whose arrival order differs from its stamps still plays in stamp order. `rate` scales
the pace (2 = twice as fast). Before the first message the replayer waits until every
topic listed in `wait_for` has a subscriber, and then `settle` seconds more, so nothing is
lost to DDS discovery.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message

from reactface_ros.bag.store import BagError, message_class, read_raw
from reactface_ros.convert import NANOSECONDS, ns_to_stamp, stamp_to_ns

LOOKAHEAD_NS = 2 * NANOSECONDS
# Reliable and transient-local: a recorder that requests both gets every message, even
# those sent before it had discovered this publisher; best-effort, volatile subscribers
# (the nodes' sensor inputs) match it too.
REPLAY_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


@dataclass
class ReplayStats:
    published: dict[str, int] = field(default_factory=dict)
    # topic -> [(header stamp ns, time.monotonic() of publication)]
    sent: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    late_ms_max: float = 0.0  # worst delay behind schedule


def release_time(msg, log_time_ns: int) -> int:
    """When a live robot would have had `msg` (ns, on the stamps' clock)."""
    header = getattr(msg, "header", None)
    if header is None:
        return log_time_ns
    stamp = stamp_to_ns(header.stamp)
    if hasattr(msg, "sample_rate") and hasattr(msg, "samples") and msg.sample_rate:
        frames = len(msg.samples) // max(1, msg.channels)
        stamp += round(frames * NANOSECONDS / msg.sample_rate)
    return stamp


def scheduled(
    path: str | Path, topics: list[str] | None = None
) -> Iterator[tuple[int, str, str, bytes, object]]:
    """(release ns, topic, msgtype, CDR bytes, message) in release order (look-ahead sort)."""
    heap: list = []
    classes: dict[str, type] = {}
    order = 0
    for topic, msgtype, log_time, data in read_raw(path, topics):
        cls = classes.get(msgtype) or classes.setdefault(msgtype, message_class(msgtype))
        msg = deserialize_message(data, cls)
        heapq.heappush(
            heap, (release_time(msg, log_time), order, log_time, topic, msgtype, data, msg)
        )
        order += 1
        # the earliest-due message goes out once LOOKAHEAD of log time has been read past it
        while heap and heap[0][2] <= log_time - LOOKAHEAD_NS:
            release, _, _, *rest = heapq.heappop(heap)
            yield (release, *rest)
    while heap:
        release, _, _, *rest = heapq.heappop(heap)
        yield (release, *rest)


def replay(
    node: Node,
    path: str | Path,
    rate: float = 1.0,
    topics: list[str] | None = None,
    wait_for: list[str] | None = None,
    wait_timeout: float = 30.0,
    settle: float = 0.5,
    spin: Callable[[float], None] | None = None,
    on_publish: Callable[[str, object, float], None] | None = None,
    ready: Callable[[], bool] | None = None,
    stamp_offset_ns: int = 0,
    publishers: dict[str, object] | None = None,
) -> ReplayStats:
    """Publish the bag's messages from `node` at their release times / `rate`.

    spin(seconds) lets the caller service its own subscriptions while waiting (default:
    sleep). ready(): true once the subscribers have heard these publishers (e.g. a node's
    diagnostics report them); without it, `settle` seconds are waited after the subscribers
    appear instead. on_publish(topic, msg, wall_time) is called after each publication.
    stamp_offset_ns shifts every header stamp (a bag played in a loop as one long stream);
    publishers: topic -> publisher, kept by the caller to reuse them across calls (a new
    publisher would have to be discovered again).
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    spin = spin or time.sleep
    events = scheduled(path, topics)
    first = next(events, None)
    if first is None:
        raise BagError(f"bag {path} has no messages" + (f" on {topics}" if topics else ""))
    publishers = {} if publishers is None else publishers
    stats = ReplayStats()

    def publisher(topic: str, msgtype: str):
        if topic not in publishers:
            publishers[topic] = node.create_publisher(message_class(msgtype), topic, REPLAY_QOS)
        return publishers[topic]

    _wait_for_subscribers(node, publishers, wait_for or [], wait_timeout, spin, publisher, path)
    # the publisher sees a subscriber slightly before that subscriber has discovered the
    # publisher, and a best-effort reader drops samples of writers it does not know yet
    if ready is not None:
        deadline = time.monotonic() + wait_timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the subscribers did not hear the replay within {wait_timeout} s"
                )
            spin(0.05)
    elif wait_for and settle > 0:
        spin(settle)

    start_release = first[0]
    start_wall = time.monotonic()
    for release, topic, msgtype, data, msg in _chain(first, events):
        due = start_wall + (release - start_release) / NANOSECONDS / rate
        while (wait := due - time.monotonic()) > 0:
            spin(min(wait, 0.05))
        if stamp_offset_ns and hasattr(msg, "header"):
            msg.header.stamp = ns_to_stamp(stamp_to_ns(msg.header.stamp) + stamp_offset_ns)
            publisher(topic, msgtype).publish(msg)
        else:
            publisher(topic, msgtype).publish(data)
        now = time.monotonic()
        stats.late_ms_max = max(stats.late_ms_max, 1000 * (now - due))
        stats.published[topic] = stats.published.get(topic, 0) + 1
        stamp = stamp_to_ns(msg.header.stamp) if hasattr(msg, "header") else release
        stats.sent.setdefault(topic, []).append((stamp, now))
        if on_publish is not None:
            on_publish(topic, msg, now)
    return stats


def _chain(first, rest):
    yield first
    yield from rest


def _wait_for_subscribers(node, publishers, wait_for, timeout, spin, publisher, path) -> None:
    if not wait_for:
        return
    types = _topic_types(path)
    for topic in wait_for:
        if topic not in types:
            raise BagError(f"bag {path} has no topic {topic} to wait for (has {sorted(types)})")
        publisher(topic, types[topic])
    deadline = time.monotonic() + timeout
    while any(publishers[t].get_subscription_count() == 0 for t in wait_for):
        if time.monotonic() > deadline:
            missing = [t for t in wait_for if publishers[t].get_subscription_count() == 0]
            raise TimeoutError(
                f"no subscriber appeared within {timeout} s on {', '.join(missing)} (are the nodes "
                "running, on this ROS_DOMAIN_ID? `--wait-for` with no topic plays at once)"
            )
        spin(0.05)


def _topic_types(path) -> dict[str, str]:
    from reactface_ros.bag.store import topics_of

    return {topic: msgtype for topic, (msgtype, _) in topics_of(path).items()}
