"""One rclpy node for a command-line tool: environment, init, executor and shutdown in one place.

`reactface bag replay`, `bag record` and the benchmarks each need a short-lived node in
their own process. `ros_session(name)` applies the reactface ROS environment (discovery on
this machine unless set, the shipped Fast DDS profile) before rclpy starts, gives a node
with a single-threaded executor, and shuts everything down on exit, also after Ctrl-C;
a session that ends normally first lets reliable subscribers acknowledge what it published.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from reactface_ros.launch_config import ros_environment


@dataclass
class RosSession:
    node: object  # rclpy.node.Node
    executor: object  # rclpy.executors.SingleThreadedExecutor
    stop_requested: bool = False  # SIGINT or SIGTERM arrived (with stop_on_signals)

    def spin(self, seconds: float) -> None:
        """Service the node's callbacks for up to `seconds` (one executor turn)."""
        self.executor.spin_once(timeout_sec=seconds)


def apply_ros_environment() -> None:
    """Set the reactface ROS environment in this process (before rclpy.init)."""
    os.environ.update(ros_environment())


DELIVERY_TIMEOUT = 10.0  # s a finished session waits for its reliable subscribers' acks


def _deliver(node) -> None:
    """Wait until reliable subscribers (a recorder) acknowledged every message published:
    the process usually exits right after, and its writers' last samples would go with it."""
    from rclpy.duration import Duration

    for publisher in node.publishers:
        publisher.wait_for_all_acked(Duration(seconds=DELIVERY_TIMEOUT))


@contextmanager
def ros_session(name: str, stop_on_signals: bool = False) -> Iterator[RosSession]:
    """rclpy context + node `name` + executor; torn down on exit.

    stop_on_signals: SIGINT and SIGTERM only set `stop_requested` (the caller finishes its
    work cleanly, e.g. closes a bag) instead of interrupting it.
    """
    apply_ros_environment()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    context = rclpy.Context()
    options = SignalHandlerOptions.NO if stop_on_signals else SignalHandlerOptions.ALL
    rclpy.init(context=context, signal_handler_options=options)
    node = rclpy.create_node(name, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    session = RosSession(node, executor)
    previous = {}
    if stop_on_signals:

        def request_stop(*_) -> None:
            session.stop_requested = True

        for number in (signal.SIGINT, signal.SIGTERM):
            previous[number] = signal.signal(number, request_stop)
    try:
        yield session
        _deliver(node)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
