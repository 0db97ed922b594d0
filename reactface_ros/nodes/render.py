"""render node: FaceCoefficients -> sensor_msgs/Image of the face, for a robot's face screen.

Subscribes to reactface/face (reactface_ros/FaceCoefficients), renders each frame with the
renderer of the message's face model (`reactface_core.face.render`: moderngl EGL, or the
numpy rasterizer when no EGL exists) and publishes reactface/face_image (rgb8, same stamp).
With show_window:=true it also shows the face in an OpenCV window (needs a display).
Bad messages are logged and skipped. Coefficients outside the face model's documented
range (e.g. an ARKit blendshape of 5.0) are clamped into it before rendering, counted in
/diagnostics (`frames_clamped`) and warned about at most once per 5 s.
"""

from __future__ import annotations

import os
import sys
import time

from rclpy.node import Node
from sensor_msgs.msg import Image

from reactface_core import contract
from reactface_core.utils import RollingStats
from reactface_ros.convert import MessageError, message_to_coefficients
from reactface_ros.image import rgb_to_image
from reactface_ros.msg import FaceCoefficients
from reactface_ros.nodes.common import (
    DIAGNOSTICS_PERIOD,
    OUTPUT_QOS,
    Diagnostics,
    NodeStartupError,
    Param,
    declare,
    judged,
    run,
)

PARAMS = [
    Param("width", 256, "face image width (pixels)", range=(16, 4096), live=True),
    Param("height", 256, "face image height (pixels)", range=(16, 4096), live=True),
    Param(
        "backend",
        "auto",
        "renderer: moderngl (OpenGL via EGL), numpy (CPU rasterizer), auto (moderngl, else numpy)",
        choices=("auto", "moderngl", "numpy"),
        live=True,
    ),
    Param(
        "show_window",
        False,
        "also show the face in an on-screen OpenCV window (needs a display)",
        live=True,
    ),
    Param("frame_id", "reactface_face", "frame_id of the published images", live=True),
    DIAGNOSTICS_PERIOD,
]
WINDOW_TITLE = "reactface"


class RenderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("render", **kwargs)
        self.p = declare(self, PARAMS, self._apply)
        self.renderers = {}  # face model name -> renderer, made on first use
        self.show = self.p["show_window"]
        if self.show and not _has_display():
            self.get_logger().warning("show_window is set but there is no display: not showing")
            self.show = False
        self.counts = {
            "frames_received": 0,
            "frames_skipped": 0,
            "frames_clamped": 0,
            "images_published": 0,
        }
        self.latency = RollingStats()
        self.publisher = self.create_publisher(Image, contract.FACE_IMAGE_TOPIC, OUTPUT_QOS)
        self.create_subscription(FaceCoefficients, contract.FACE_TOPIC, self._on_face, OUTPUT_QOS)
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        self._renderer("arkit58")  # build the default renderer now, not on the first frame
        self.get_logger().info(
            f"ready: rendering {self.p['width']}x{self.p['height']} with "
            f"{self.renderers['arkit58'].backend}"
        )

    def _apply(self, changes: dict) -> None:
        """A `ros2 param set`: a new size or backend rebuilds the renderers before it is kept."""
        if "show_window" in changes:
            if changes["show_window"] and not _has_display():
                raise ValueError("show_window needs a display (DISPLAY or WAYLAND_DISPLAY)")
            if self.show and not changes["show_window"]:
                import cv2

                cv2.destroyWindow(WINDOW_TITLE)
            self.show = changes["show_window"]
        if {"width", "height", "backend"} & set(changes):
            wanted = {**self.p, **changes}
            renderers = {}
            try:
                for face_model in self.renderers:
                    renderers[face_model] = self._make_renderer(face_model, wanted)
            except (RuntimeError, ValueError, OSError) as error:
                for renderer in renderers.values():
                    renderer.close()
                raise ValueError(f"cannot render with {changes}: {error}") from None
            for renderer in self.renderers.values():
                renderer.close()
            self.renderers = renderers
            self.get_logger().info(
                f"rendering {wanted['width']}x{wanted['height']} with "
                + ", ".join(r.backend for r in renderers.values())
            )
        if "diagnostics_period" in changes:
            self.diagnostics.set_period(changes["diagnostics_period"])

    @staticmethod
    def _make_renderer(face_model: str, p: dict):
        from reactface_core.face.render import RenderConfig, make_renderer

        return make_renderer(
            face_model, p["backend"], RenderConfig(width=p["width"], height=p["height"])
        )

    def _renderer(self, face_model: str):
        if face_model not in self.renderers:
            try:
                self.renderers[face_model] = self._make_renderer(face_model, self.p)
            except (RuntimeError, ValueError, OSError) as error:
                if not self.renderers:  # at start-up: the node cannot do its job
                    raise NodeStartupError(f"cannot render {face_model}: {error}") from None
                raise MessageError(f"cannot render face model {face_model}: {error}") from None
        return self.renderers[face_model]

    def _on_face(self, msg: FaceCoefficients) -> None:
        start = time.perf_counter()
        self.counts["frames_received"] += 1
        try:
            coefficients, model = message_to_coefficients(msg)
            coefficients = self._clamped(coefficients, model)
            frame = self._renderer(model.name).render(coefficients[None])[0]
        except (MessageError, ValueError) as error:
            self.counts["frames_skipped"] += 1
            self.get_logger().warning(f"skipped face message: {error}")
            return
        image = rgb_to_image(frame)
        image.header = msg.header
        image.header.frame_id = self.p["frame_id"]
        self.publisher.publish(image)
        self.counts["images_published"] += 1
        self.latency.add(time.perf_counter() - start)
        if self.show:
            import cv2

            cv2.imshow(WINDOW_TITLE, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            cv2.waitKey(1)

    def _clamped(self, coefficients, model):
        """The coefficients inside the face model's documented range (a throttled warning)."""
        outside = model.out_of_range(coefficients)
        if not outside:
            return coefficients
        self.counts["frames_clamped"] += 1
        self.get_logger().warning(
            f"clamped {outside} coefficient(s) outside the {model.name} range (e.g. blendshapes "
            f"to [0, 1]); {self.counts['frames_clamped']} frame(s) so far",
            throttle_duration_sec=5.0,
        )
        return model.clip(coefficients)

    def _diagnose(self):
        values = {
            **self.counts,
            "render_ms_p50": 1000 * self.latency.percentile(50),
            "render_ms_p95": 1000 * self.latency.percentile(95),
            "backends": ",".join(f"{k}:{r.backend}" for k, r in self.renderers.items()),
        }
        problems = [
            text
            for key, text in (
                ("frames_skipped", "skipped face messages"),
                ("frames_clamped", "clamped out-of-range coefficients"),
            )
            if self.counts[key]
        ]
        return judged([], problems, values)

    def close(self) -> None:
        for renderer in self.renderers.values():
            renderer.close()
        if self.show:
            import cv2

            cv2.destroyAllWindows()


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(args: list[str] | None = None) -> int:
    return run(RenderNode, args)


if __name__ == "__main__":
    sys.exit(main())
