"""Shared helpers of the cross-process ROS tests: a test-side rclpy node and node processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


class RosPeer:
    """An rclpy context + node + executor living in the test process."""

    def __init__(self, name: str = "reactface_test"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin(self, seconds: float) -> None:
        """Service callbacks for `seconds`."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=min(left, 0.02))

    def spin_until(self, predicate, timeout: float, what: str, process=None) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            if process is not None and process.poll() is not None:
                raise AssertionError(f"node process exited ({process.returncode}) before {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


class NodeProcess:
    """`python -m reactface_ros.nodes.<name> --ros-args ...`, its output kept in a file."""

    def __init__(self, name: str, log_dir: Path, *ros_args: str):
        self.log_path = log_dir / f"{name}.log"
        self.log = self.log_path.open("w")
        command = [sys.executable, "-m", f"reactface_ros.nodes.{name}", "--ros-args", *ros_args]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def poll(self):
        return self.process.poll()

    @property
    def returncode(self):
        return self.process.returncode

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 20.0) -> int:
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode
