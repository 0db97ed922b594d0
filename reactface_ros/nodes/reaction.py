"""reaction node: speaker camera + microphone -> N sampled listener reactions every w frames.

A thin ROS adapter over `reactface_core.reactor.OnlineReactor`, which does all the work
(stamp grid, sessions, perception, generation, sample selection, pacing, counters).
Subscribes to camera/image_raw (sensor_msgs/Image; or .../compressed with
image_transport:=compressed) and audio/chunk (reactface_ros/AudioChunk); publishes

- reactface/reaction (ReactionWindow): all N samples, stamped with the window's first frame;
- reactface/face (FaceCoefficients): the selected sample, paced at 25 Hz;
- reactface/face_layout (FaceLayout, latched): names and ranges of the face's values;
- /diagnostics: latency, skipped / held / zero-filled frames, queue depths, lifecycle state.

A managed (lifecycle) node: configure loads the model, activate subscribes and publishes,
deactivate pauses (the interaction's state is kept), cleanup frees the model. With
`autostart` (the default) it configures and activates itself at start, so `ros2 run`,
`ros2 launch` and `reactface run` get a working node; `autostart:=false` leaves it
unconfigured for a lifecycle manager (`ros2 lifecycle set /reaction configure`).
Live parameters (samples, selection, seed, ...) go to `OnlineReactor.update`.

A bad message (unknown encoding, wrong size, stamp going backwards, wrong sample rate) is
logged and skipped; the node keeps running. Threads: the subscription callbacks only
decode messages and place them on the grid; a worker thread runs the reactor's processing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import fields

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from reactface_core import contract
from reactface_core.contract import FPS
from reactface_core.online import Rejected
from reactface_core.reactor import (
    LIVE_SETTINGS,
    OnlineReactor,
    ReactorSettings,
    ReactorWorker,
    open_reactor,
    settings_from,
)
from reactface_ros.convert import (
    MessageError,
    coefficients_to_message,
    layout_to_message,
    message_to_audio,
    stamp_to_ns,
    window_to_message,
)
from reactface_ros.image import ImageError, to_rgb
from reactface_ros.msg import AudioChunk, FaceCoefficients, FaceLayout, ReactionWindow
from reactface_ros.nodes.common import (
    AUDIO_QOS,
    CAMERA_QOS,
    DIAGNOSTICS_PERIOD,
    OUTPUT_QOS,
    Diagnostics,
    NodeStartupError,
    Param,
    RollingStats,
    declare,
    input_events,
    run,
)

# Latched: a face driver that starts later still learns the layout.
LAYOUT_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
PARAMS = [
    Param(
        "checkpoint",
        "default",
        "trained model file written by `reactface train`; 'default': the shipped model "
        "(reactface_core/models/reactface_synth.pt); empty: a randomly initialised model "
        "(for testing the plumbing only; a warning is logged)",
    ),
    Param(
        "device",
        "auto",
        "torch device; auto uses CUDA when present",
        choices=("auto", "cpu", "cuda"),
    ),
    *(  # the reactor's settings, as `ReactorSettings` defines them
        Param(
            f.name,
            f.default,
            f.metadata["description"],
            range=f.metadata["range"],
            choices=f.metadata["choices"],
            live=f.name in LIVE_SETTINGS,
        )
        for f in fields(ReactorSettings)
    ),
    Param(
        "window",
        8,
        "w: frames per window (320 ms at w=8) for a randomly initialised model; a "
        "checkpoint brings its own",
        range=(1, 250),
    ),
    Param(
        "image_transport",
        "raw",
        "raw: sensor_msgs/Image on camera/image_raw; compressed: sensor_msgs/CompressedImage "
        "(jpeg/png) on camera/image_raw/compressed",
        choices=("raw", "compressed"),
    ),
    Param("threads", 0, "torch CPU threads; 0: torch's default", range=(0, 64)),
    Param("frame_id", "reactface_listener", "frame_id of the published reactions", live=True),
    DIAGNOSTICS_PERIOD,
    Param(
        "autostart", True, "configure and activate at start; false: wait for lifecycle transitions"
    ),
]


class ReactionNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__("reaction", **kwargs)
        self.p = declare(self, PARAMS, self._apply)
        self.reactor: OnlineReactor | None = None
        self.failure = ""  # why the last configure failed
        self.subscriptions_: list = []
        self.face_timer = None
        self.face_frames_published = 0
        self.latency = RollingStats()  # s, capture of a window's last frame -> its publication
        self.compute = RollingStats()  # s, perception + generation per window
        self._last_skip_log = 0.0
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        if self.p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise NodeStartupError(self.failure)
            self.trigger_activate()

    # -- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model and build the reactor; publishers exist, nothing is consumed yet."""
        try:
            self._load()
        except NodeStartupError as error:
            self.failure = str(error)
            if not self.p["autostart"]:  # at start-up, `run` prints it
                self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def _load(self) -> None:
        import torch

        from reactface_core.checkpoint import CheckpointError

        if self.p["threads"]:
            torch.set_num_threads(self.p["threads"])
        try:
            loaded = open_reactor(
                self.p["checkpoint"], settings_from(self.p), self.p["device"], self.p["window"]
            )
        except CheckpointError as error:
            raise NodeStartupError(f"checkpoint {self.p['checkpoint']!r}: {error}") from None
        except RuntimeError as error:
            raise NodeStartupError(str(error)) from None
        if not self.p["checkpoint"]:
            self.get_logger().warning(
                "no checkpoint given: running a RANDOMLY INITIALISED model (reactions are "
                "noise-like); set the `checkpoint` parameter to a trained model"
            )
        self.reactor, self.face_model = loaded.reactor, loaded.face_model
        self.model_name, self.device = loaded.model_name, loaded.device
        self.worker = ReactorWorker(self.reactor, self._publish_window, self._on_failure)
        self.window_pub = self.create_lifecycle_publisher(
            ReactionWindow, contract.REACTION_TOPIC, OUTPUT_QOS
        )
        self.face_pub = self.create_lifecycle_publisher(
            FaceCoefficients, contract.FACE_TOPIC, OUTPUT_QOS
        )
        self.layout_pub = self.create_publisher(FaceLayout, contract.FACE_LAYOUT_TOPIC, LAYOUT_QOS)
        self.layout_pub.publish(layout_to_message(self.face_model))

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the speaker and publish reactions."""
        compressed = self.p["image_transport"] == "compressed"
        camera = self.create_subscription(
            CompressedImage if compressed else Image,
            contract.CAMERA_TOPIC + (contract.COMPRESSED_SUFFIX if compressed else ""),
            self._on_image,
            CAMERA_QOS,
            event_callbacks=input_events(self.reactor.transport, "camera"),
        )
        audio = self.create_subscription(
            AudioChunk,
            contract.AUDIO_TOPIC,
            self._on_audio,
            AUDIO_QOS,
            event_callbacks=input_events(self.reactor.transport, "audio"),
        )
        self.subscriptions_ = [camera, audio]
        self.face_timer = self.create_timer(1.0 / FPS, self._publish_face)
        self.get_logger().info(
            f"ready: model {self.model_name} ({self.face_model}, w={self.reactor.window}, "
            f"N={self.reactor.settings.samples}) on {self.device}, "
            f"selection {self.reactor.settings.selection}"
        )
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop consuming; the reactor keeps its state (a long pause starts a new session)."""
        for subscription in self.subscriptions_:
            self.destroy_subscription(subscription)
        self.subscriptions_ = []
        if self.face_timer is not None:
            self.destroy_timer(self.face_timer)
            self.face_timer = None
        self.get_logger().info("paused (inactive)")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model, the tracker and the worker."""
        self.close()
        self.destroy_lifecycle_publisher(self.window_pub)
        self.destroy_lifecycle_publisher(self.face_pub)
        self.destroy_publisher(self.layout_pub)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if state.label == "active":
            self.on_deactivate(state)
        self.close()
        return TransitionCallbackReturn.SUCCESS

    def _apply(self, changes: dict) -> None:
        """A `ros2 param set` of live parameters: to the reactor, if there is one yet."""
        settings = {key: value for key, value in changes.items() if key in LIVE_SETTINGS}
        if settings and self.reactor is not None:
            self.reactor.update(**settings)
            self.get_logger().info(
                "parameters changed: " + ", ".join(f"{k}={v!r}" for k, v in settings.items())
            )
        elif settings:
            settings_from({**self.p, **settings})  # only check: configure will use them
        if "diagnostics_period" in changes:
            self.diagnostics.set_period(changes["diagnostics_period"])

    # -- inputs (executor thread): decode, place on the grid, hand work to the worker ----

    def _on_image(self, msg) -> None:
        try:
            rgb = to_rgb(msg)
        except ImageError as error:
            self.reactor.reject(camera=True)
            return self._log_skip("camera", error)
        self._take(self.reactor.add_frame, "camera", stamp_to_ns(msg.header.stamp), rgb)

    def _on_audio(self, msg: AudioChunk) -> None:
        try:
            samples, rate = message_to_audio(msg)
        except MessageError as error:
            self.reactor.reject(camera=False)
            return self._log_skip("audio", error)
        self._take(self.reactor.add_audio, "audio", stamp_to_ns(msg.header.stamp), samples, rate)

    def _take(self, add, source: str, *message) -> None:
        try:
            intake = add(*message)
        except Rejected as error:
            return self._log_skip(source, error)
        if intake.new_session:
            self.get_logger().info("input stamps jumped: starting a new interaction")
        for note in intake.notes:
            self.get_logger().warning(note, throttle_duration_sec=5.0)
        for work in intake.work:
            self.worker.put(work)
        if intake.held or intake.audio_filled:
            filled = self.reactor.filled_in()
            self.get_logger().warning(
                f"filling in late or missing input: {intake.held} frame(s) without a camera "
                f"frame (last one held; {filled['frames_held']} so far), "
                f"{intake.audio_filled} with zero-filled audio "
                f"({filled['frames_audio_zero_filled']} so far)",
                throttle_duration_sec=5.0,
            )

    def _log_skip(self, source: str, error: Exception) -> None:
        """Log a skipped message: every one at first, then at most one line per 5 s."""
        counts = self.reactor.counts
        skipped = counts["frames_skipped"] + counts["audio_chunks_skipped"]
        now = time.monotonic()
        if skipped <= 20 or now - self._last_skip_log > 5.0:
            self._last_skip_log = now
            self.get_logger().warning(f"skipped {source} message: {error}")

    # -- outputs (worker thread: windows; timer: the paced face) ---------------------

    def _on_failure(self, error: Exception) -> None:
        self.get_logger().error(f"processing failed, interaction restarted: {error!r}")

    def _publish_window(self, reaction) -> None:
        msg = window_to_message(
            reaction.reactions, self.face_model, reaction.stamp_ns, FPS, reaction.selected
        )
        msg.header.frame_id = self.p["frame_id"]
        self.window_pub.publish(msg)
        self.latency.add(time.perf_counter() - reaction.captured)
        self.compute.add(reaction.compute_s)

    def _publish_face(self) -> None:
        frame = self.reactor.pacer.next()
        if frame is None:
            return
        stamp, coefficients, sample = frame
        msg = coefficients_to_message(coefficients, self.face_model, stamp, sample)
        msg.header.frame_id = self.p["frame_id"]
        self.face_pub.publish(msg)
        self.face_frames_published += 1

    def _diagnose(self):
        state = self._state_machine.current_state[1]
        if self.reactor is None:
            return DiagnosticStatus.WARN, f"{state}: no model loaded", {"state": state}
        errors, problems, values = self.reactor.status()
        if state != "active":
            problems.insert(0, f"{state}: not consuming input")
        values.update(
            state=state,
            face_frames_published=self.face_frames_published,
            latency_ms_p50=1000 * self.latency.percentile(50),
            latency_ms_p95=1000 * self.latency.percentile(95),
            compute_ms_p50=1000 * self.compute.percentile(50),
            model=self.model_name,
            device=self.device,
            window_frames=self.reactor.window,
            samples=self.reactor.settings.samples,
        )
        if not self.p["checkpoint"]:
            problems.insert(0, "random model")
        if errors:
            return DiagnosticStatus.ERROR, "; ".join(errors + problems), values
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        return level, "; ".join(problems) if problems else "ok", values

    def close(self) -> None:
        """Stop the worker and free the model (cleanup, shutdown, exit)."""
        if self.reactor is None:
            return
        self.worker.close()
        self.reactor = None


def main(args: list[str] | None = None) -> int:
    return run(ReactionNode, args)


if __name__ == "__main__":
    sys.exit(main())
