"""camera node: OpenCV capture -> sensor_msgs/Image, for robots and laptops without a driver.

`device` is a V4L2 index ("0"), a device path (/dev/video0), a video file or a stream URL
that OpenCV can open. Frames are stamped with the capture time on the node's clock and
published on camera/image_raw (sensor-data QoS), or as jpeg on camera/image_raw/compressed
with image_transport:=compressed (about 20x fewer bytes: no large-message transport
needed). `output_width`/`output_height` resize at the source (the face tracker works at
192 px; sending less costs less everywhere). A video file is paced at `fps`; a live camera
delivers at its own rate. A device that cannot be opened is a clear error and a non-zero
exit status.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace

import cv2
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from reactface_core import contract
from reactface_core.contract import FPS
from reactface_ros.image import rgb_to_compressed, rgb_to_image
from reactface_ros.nodes.common import (
    CAMERA_QOS,
    DIAGNOSTICS_PERIOD,
    Diagnostics,
    NodeStartupError,
    Param,
    declare,
    run,
)

PARAMS = [
    Param("device", "0", "camera index (0), device path (/dev/video0), video file or stream URL"),
    Param(
        "width",
        640,
        "requested capture width in pixels (the camera may pick another)",
        range=(16, 8192),
    ),
    Param("height", 480, "requested capture height in pixels", range=(16, 8192)),
    Param(
        "fps",
        float(FPS),
        "requested frame rate (Hz); video files are paced at this rate",
        range=(1.0, 240.0),
    ),
    Param("encoding", "rgb8", "published pixel encoding", choices=("rgb8", "bgr8")),
    Param(
        "output_width",
        0,
        "resize frames to this width before publishing; 0: as captured (with output_height "
        "0 too); one of the two 0: keep the aspect ratio",
        range=(0, 8192),
    ),
    Param(
        "output_height",
        0,
        "resize frames to this height before publishing; 0: see output_width",
        range=(0, 8192),
    ),
    Param(
        "image_transport",
        "raw",
        "raw: sensor_msgs/Image on camera/image_raw; compressed: jpeg sensor_msgs/"
        "CompressedImage on camera/image_raw/compressed",
        choices=("raw", "compressed"),
    ),
    Param("jpeg_quality", 90, "jpeg quality of image_transport compressed", range=(1, 100)),
    Param("loop", False, "restart a video file at its end instead of stopping"),
    Param("frame_id", "camera", "frame_id of the published images"),
    replace(DIAGNOSTICS_PERIOD, live=False),  # the capture loop reads it once
]


def open_capture(device: str, width: int, height: int, fps: float) -> tuple[cv2.VideoCapture, bool]:
    """Open `device` with OpenCV; returns (capture, is_live). Raises NodeStartupError."""
    live = device.isdigit() or device.startswith("/dev/")
    source = int(device) if device.isdigit() else device
    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        capture.release()
        hint = (
            "no such camera (is it plugged in, and is the user in the 'video' group?)"
            if live
            else "not a readable video file or stream"
        )
        raise NodeStartupError(f"camera device {device!r} could not be opened: {hint}")
    if live:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
    return capture, live


def output_size(captured: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """The published (width, height): as captured, as asked, or one side with the aspect kept."""
    if not width and not height:
        return captured
    if not height:
        return width, max(1, round(captured[1] * width / captured[0]))
    if not width:
        return max(1, round(captured[0] * height / captured[1])), height
    return width, height


class CameraNode(Node):
    def __init__(self, **kwargs):
        super().__init__("camera", **kwargs)
        self.p = declare(self, PARAMS)
        self.capture, self.live = open_capture(
            self.p["device"], self.p["width"], self.p["height"], self.p["fps"]
        )
        ok, frame = self.capture.read()
        if not ok:
            self.capture.release()
            raise NodeStartupError(f"camera device {self.p['device']!r} opened but gave no frame")
        self.size = (frame.shape[1], frame.shape[0])
        self.output_size = output_size(self.size, self.p["output_width"], self.p["output_height"])
        self.pending = frame  # first frame, published by the capture thread
        self.counts = {"frames_published": 0, "read_failures": 0}
        self.exit_code = 0
        self.compressed = self.p["image_transport"] == "compressed"
        self.topic = contract.CAMERA_TOPIC + (contract.COMPRESSED_SUFFIX if self.compressed else "")
        self.publisher = self.create_publisher(
            CompressedImage if self.compressed else Image, self.topic, CAMERA_QOS
        )
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        self.running = True
        self.thread = threading.Thread(target=self._capture_loop, daemon=True)
        self.thread.start()
        width, height = self.output_size
        self.get_logger().info(
            f"ready: {self.p['device']} {self.size[0]}x{self.size[1]} -> {self.topic} "
            f"({width}x{height}, {'jpeg' if self.compressed else self.p['encoding']})"
        )

    def _capture_loop(self) -> None:
        period = 1.0 / self.p["fps"]
        next_due = time.monotonic()
        while self.running:
            frame, self.pending = self.pending, None
            if frame is None:
                ok, frame = self.capture.read()
                if not ok:
                    if not self.live and self.p["loop"]:
                        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        continue
                    self.counts["read_failures"] += 1
                    if not self.live:
                        self.get_logger().info("end of video file: camera node stops")
                        self.running = False
                        self.context.try_shutdown()
                        return
                    time.sleep(0.01)
                    continue
            stamp = self.get_clock().now().to_msg()
            if (frame.shape[1], frame.shape[0]) != self.output_size:
                frame = cv2.resize(frame, self.output_size, interpolation=cv2.INTER_AREA)
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if self.compressed:
                msg = rgb_to_compressed(rgb, "jpeg", self.p["jpeg_quality"])
            else:
                msg = rgb_to_image(rgb, self.p["encoding"])
            msg.header.stamp = stamp
            msg.header.frame_id = self.p["frame_id"]
            self.publisher.publish(msg)
            self.counts["frames_published"] += 1
            if not self.live:  # a file reads instantly: pace it
                next_due += period
                time.sleep(max(0.0, next_due - time.monotonic()))

    def _diagnose(self):
        level = DiagnosticStatus.WARN if self.counts["read_failures"] else DiagnosticStatus.OK
        message = "camera read failures" if self.counts["read_failures"] else "ok"
        values = {**self.counts, "device": self.p["device"], "size": self.size}
        return level, message, {**values, "output_size": self.output_size}

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)
        self.capture.release()


def main(args: list[str] | None = None) -> int:
    return run(CameraNode, args)


if __name__ == "__main__":
    sys.exit(main())
