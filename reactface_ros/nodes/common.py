"""What every reactface node shares: parameters with descriptors, QoS, diagnostics, main().

Nodes declare their parameters from `Param` lists (description, range or choices), so
`ros2 param describe` explains each one and out-of-range values are refused at start-up
with a clear message. A `live` parameter changes while the node runs (`ros2 param set`,
checked, then handed to the node's `apply`); the others are read-only, so `param set`
refuses them with the reason. Each node publishes a `diagnostic_msgs/DiagnosticArray` on
`/diagnostics` once per `diagnostics_period` seconds.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.logging import LoggingSeverity, get_logger
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args

from reactface_core import contract
from reactface_core.native_logs import show_native_logs
from reactface_ros.launch_config import apply_dds_environment

# Sensors: best effort (a late frame is worthless, never block the driver), keep the newest
# 2 s of frames: a node whose executor is starved for a moment (measured: up to ~2 s at a
# load average of 12 on 2 cores) still gets them all. Raw frames must also fit the
# publisher's shared-memory segment (config/fastdds.xml).
CAMERA_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=50,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
# Audio chunks are small and every one matters for the features: a deeper queue (5 s of
# 20 ms chunks, 64 kB) rides out a busy moment of the node without losing audio.
AUDIO_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=250,
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
)
# Outputs: reliable, so recorders and evaluators see every window; best-effort
# subscribers (a face screen) still match a reliable publisher.
OUTPUT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)

# Latched: a subscriber that starts later still gets the last message (e.g. a face layout).
LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)


def input_events(counts: dict[str, int], name: str) -> SubscriptionEventCallbacks:
    """Subscription events that keep `counts[name + "_lost"]` (messages the middleware
    reported lost) and `counts[name + "_publishers"]` (publishers matched now).

    A best-effort sample that never arrived whole (e.g. a raw frame too large for the
    publisher's shared-memory segment) is reported here, so the node can say why frames
    are missing instead of silently holding the last one; the publisher count tells a
    replay (or a test) that the node hears it before the first message is sent.
    """

    def on_lost(info) -> None:
        counts[name + "_lost"] = int(info.total_count)

    def on_matched(info) -> None:
        counts[name + "_publishers"] = int(info.current_count)

    return SubscriptionEventCallbacks(message_lost=on_lost, matched=on_matched)


class NodeStartupError(RuntimeError):
    """A node cannot start (missing device, bad parameter, unreadable checkpoint)."""


@dataclass(frozen=True)
class Param:
    """A node parameter: default value, what it means, and its allowed values."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None  # inclusive, for int and float parameters
    choices: tuple[str, ...] | None = None
    live: bool = False  # may change while running; otherwise read-only after start

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(
            name=self.name, description=self.description, read_only=not self.live
        )
        if self.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(self.choices)
        if self.range is not None and isinstance(self.default, bool):
            raise TypeError(f"parameter {self.name}: a range makes no sense for a bool")
        if self.range is not None and isinstance(self.default, int):
            descriptor.integer_range = [
                IntegerRange(from_value=int(self.range[0]), to_value=int(self.range[1]), step=1)
            ]
        elif self.range is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(
                    from_value=float(self.range[0]), to_value=float(self.range[1]), step=0.0
                )
            ]
        return descriptor


# Every node's /diagnostics rate, declared the same way everywhere.
DIAGNOSTICS_PERIOD = Param(
    "diagnostics_period",
    1.0,
    "seconds between /diagnostics messages; 0: off",
    range=(0.0, 60.0),
    live=True,
)


def declare(
    node: Node, params: list[Param], apply: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Declare `params` on `node` and return their values (overrides applied, checked).

    The returned dict follows later `ros2 param set`s of live parameters: rclpy refuses a
    read-only parameter, a wrong type or an out-of-range value; a value outside `choices`
    and anything `apply(changes)` raises ValueError for are refused with that reason, and
    the node keeps its old values. An integer given to a float parameter is taken as float.
    """
    values = {}
    for param in params:
        try:
            value = node.declare_parameter(param.name, param.default, param.descriptor()).value
        except ParameterException as error:
            raise NodeStartupError(
                f"invalid parameter {param.name!r}: expected {_allowed(param)} ({error})"
            ) from None
        if param.choices and value not in param.choices:
            raise NodeStartupError(
                f"parameter {param.name!r} is {value!r}; expected one of {', '.join(param.choices)}"
            )
        values[param.name] = value
    by_name = {param.name: param for param in params}

    def promote(parameters: list[Parameter]) -> list[Parameter]:
        return [
            Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            if p.type_ == Parameter.Type.INTEGER
            and p.name in by_name
            and isinstance(by_name[p.name].default, float)
            else p
            for p in parameters
        ]

    def check(parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in by_name}
        for name, value in changes.items():
            choices = by_name[name].choices
            if choices and value not in choices:
                return SetParametersResult(
                    successful=False,
                    reason=f"{name} must be one of {', '.join(choices)}; got {value!r}",
                )
        try:
            if changes and apply is not None:
                apply(changes)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=f"{error}")
        values.update(changes)
        return SetParametersResult(successful=True)

    node.add_pre_set_parameters_callback(promote)
    node.add_on_set_parameters_callback(check)
    return values


def _allowed(param: Param) -> str:
    if param.choices:
        return "one of " + ", ".join(param.choices)
    if param.range:
        return f"{type(param.default).__name__} in [{param.range[0]}, {param.range[1]}]"
    return f"a {type(param.default).__name__}"


def settings_params(settings: type, live: tuple[str, ...] = ()) -> list[Param]:
    """Parameters made from a core settings dataclass, whose fields carry each setting's
    default, description, range and choices (e.g. `reactor.ReactorSettings`)."""
    return [
        Param(
            f.name,
            f.default,
            f.metadata["description"],
            range=f.metadata["range"],
            choices=f.metadata["choices"],
            live=f.name in live,
        )
        for f in fields(settings)
    ]


def judged(errors: list[str], warnings: list[str], values: dict) -> tuple[int, str, dict]:
    """(level, message, values) for `Diagnostics` from lists of errors and warnings."""
    if errors:
        return DiagnosticStatus.ERROR, "; ".join(errors + warnings), values
    level = DiagnosticStatus.WARN if warnings else DiagnosticStatus.OK
    return level, "; ".join(warnings) if warnings else "ok", values


class Diagnostics:
    """Publish one DiagnosticStatus for this node on /diagnostics every `period` seconds.

    `collect()` returns (level, message, values); level is DiagnosticStatus.OK / WARN / ERROR
    (bytes, as the message defines them).
    """

    def __init__(
        self,
        node: Node,
        period: float,
        collect: Callable[[], tuple[int, str, dict[str, Any]]],
    ):
        self.node, self.collect = node, collect
        self.publisher = node.create_publisher(DiagnosticArray, contract.DIAGNOSTICS_TOPIC, 10)
        self.timer = None
        self.set_period(period)

    def set_period(self, period: float) -> None:
        """Publish every `period` seconds from now on (0: stop)."""
        if self.timer is not None:
            self.node.destroy_timer(self.timer)
        self.timer = self.node.create_timer(period, self.publish) if period > 0 else None

    def publish(self) -> None:
        level, message, values = self.collect()
        status = DiagnosticStatus(
            level=level,
            name=f"reactface: {self.node.get_name()}",
            message=message,
            hardware_id=self.node.get_fully_qualified_name(),
            values=[KeyValue(key=key, value=_format(value)) for key, value in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(array)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.3f}"
    return str(value)


def run(make_node: Callable[[], Node], args: list[str] | None = None) -> int:
    """Init rclpy, build the node, spin until Ctrl-C / shutdown; return the exit status.

    `--help` prints the node's docstring and parameters (from its module's `PARAMS`);
    other arguments before `--ros-args` are a usage error (exit status 2). A
    `NodeStartupError` is printed as one clear line and gives exit status 1. A node can
    set `exit_code` (and shut the context down) to stop with an error while running.
    `--ros-args --log-level debug` also lets MediaPipe's native log lines through. The
    shipped Fast DDS profile is applied first (unless one is set), so a node started by
    `ros2 run` publishes raw frames as losslessly as one started by the launch file.
    """
    module = sys.modules[make_node.__module__]
    name = make_node.__module__.rsplit(".", 1)[-1]
    try:
        extra = remove_ros_args(sys.argv if args is None else args)[1:]
    except Exception as error:  # noqa: BLE001  (rcl's parse error names the bad rule)
        print(f"error: invalid ROS arguments: {error}", file=sys.stderr, flush=True)
        return 2
    if extra:
        if extra[0] in ("-h", "--help"):
            print(usage(name, module.__doc__ or "", getattr(module, "PARAMS", [])))
            return 0
        print(
            f"{name}_node: unknown arguments {' '.join(extra)}; parameters go after --ros-args "
            f"(--ros-args -p NAME:=VALUE); --help lists them",
            file=sys.stderr,
        )
        return 2
    apply_dds_environment()
    try:
        rclpy.init(args=args)
    except Exception as error:  # noqa: BLE001  (rcl rejects a bad --ros-args with a long trace)
        print(f"error: invalid ROS arguments: {error}", file=sys.stderr, flush=True)
        return 2
    if get_logger(name).get_effective_level() <= LoggingSeverity.DEBUG:
        show_native_logs()
    try:
        node = make_node()
    except NodeStartupError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except rclpy_implementation.RCLError:
        # A signal that shuts the context down between the executor's check of it and its
        # next wait set makes rclpy raise "context is not valid" instead of stopping; that
        # is a shutdown too. With the context still valid the error is real.
        if rclpy.ok():
            raise
    finally:
        # A Ctrl-C reaches a node twice (from the terminal's process group and forwarded by
        # `ros2 launch` / `reactface run`): the second must not interrupt the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = int(getattr(node, "exit_code", 0))
        close = getattr(node, "close", None)
        if close is not None:
            close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def usage(name: str, doc: str, params: list[Param]) -> str:
    """`NAME_node --help`: what the node does and every parameter it declares."""
    lines = [
        f"usage: ros2 run reactface_ros {name}_node [--help] [--ros-args -p NAME:=VALUE ...]",
        "",
        doc.strip(),
        "",
        "parameters (live: `ros2 param set` changes them while running; the others are read-only):",
    ]
    for param in params:
        kind = type(param.default).__name__
        allowed = f" in [{param.range[0]}, {param.range[1]}]" if param.range else ""
        if param.choices:
            allowed = ": " + " | ".join(param.choices)
        state = "live" if param.live else "read-only"
        lines.append(f"  {param.name} ({kind}{allowed}; {state}) default {param.default!r}")
        lines.append(f"      {param.description}")
    return "\n".join(lines)
