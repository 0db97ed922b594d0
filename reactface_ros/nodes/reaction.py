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
unconfigured for a lifecycle manager (`ros2 lifecycle set /reaction configure`). Live
parameters (samples, selection, seed, ...) go to `OnlineReactor.update`.

A bad message (bad encoding or size, a stamp glitch, a wrong sample rate) is logged and
skipped. Callbacks decode and place on the grid; the reactor's worker thread does the rest.
"""

from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image

from reactface_core import contract
from reactface_core.reactor import (
    LIVE_SETTINGS,
    RANDOM_MODEL_WARNING,
    LoadedReactor,
    ModelSettings,
    ReactorSettings,
    open_reactor,
    settings_from,
)
from reactface_core.speaker_grid import Rejected
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
    LATCHED_QOS,
    OUTPUT_QOS,
    Diagnostics,
    NodeStartupError,
    Param,
    declare,
    input_events,
    judged,
    run,
    settings_params,
)

PARAMS = [
    *settings_params(ModelSettings),  # the model and where it runs, as core defines them
    *settings_params(ReactorSettings, live=LIVE_SETTINGS),  # the reactor's settings
    Param(
        "image_transport",
        "raw",
        "raw: sensor_msgs/Image on camera/image_raw; compressed: sensor_msgs/CompressedImage "
        "(jpeg/png) on camera/image_raw/compressed",
        choices=("raw", "compressed"),
    ),
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
        self.loaded: LoadedReactor | None = None
        self.failure = ""  # why the last configure failed
        self.subscriptions_: list = []
        self.face_timer = None
        self.face_frames_published = 0
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        if self.p["autostart"]:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise NodeStartupError(self.failure)
            self.trigger_activate()

    @property
    def reactor(self):
        return None if self.loaded is None else self.loaded.reactor

    # -- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model and build the reactor; publishers exist, nothing is consumed yet."""
        from reactface_core.checkpoint import CheckpointError

        try:
            self.loaded = open_reactor(settings_from(self.p, ModelSettings), settings_from(self.p))
        except (CheckpointError, RuntimeError) as error:
            bad = isinstance(error, CheckpointError)
            prefix = f"checkpoint {self.p['checkpoint']!r}: " if bad else ""
            self.failure = prefix + str(error)
            if not self.p["autostart"]:  # at start-up, `run` prints it
                self.get_logger().error(f"configure failed: {self.failure}")
            return TransitionCallbackReturn.FAILURE
        if self.loaded.random:
            self.get_logger().warning(RANDOM_MODEL_WARNING)
        self.loaded.start(self._publish_window, self.get_logger().error)
        lifecycle = self.create_lifecycle_publisher
        self.window_pub = lifecycle(ReactionWindow, contract.REACTION_TOPIC, OUTPUT_QOS)
        self.face_pub = lifecycle(FaceCoefficients, contract.FACE_TOPIC, OUTPUT_QOS)
        self.layout_pub = self.create_publisher(FaceLayout, contract.FACE_LAYOUT_TOPIC, LATCHED_QOS)
        self.layout_pub.publish(layout_to_message(self.loaded.face_model))
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the speaker and publish reactions."""
        compressed = self.p["image_transport"] == "compressed"
        camera = contract.CAMERA_TOPIC + (contract.COMPRESSED_SUFFIX if compressed else "")
        transport, subscribe = self.reactor.transport, self.create_subscription
        self.subscriptions_ = [
            subscribe(CompressedImage if compressed else Image, camera, self._on_image,
                      CAMERA_QOS, event_callbacks=input_events(transport, "camera")),
            subscribe(AudioChunk, contract.AUDIO_TOPIC, self._on_audio, AUDIO_QOS,
                      event_callbacks=input_events(transport, "audio")),
        ]  # fmt: skip
        self.face_timer = self.create_timer(1.0 / contract.FPS, self._publish_face)
        self.get_logger().info(f"ready: {self.loaded.describe()}")
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
        for publisher in (self.window_pub, self.face_pub):
            self.destroy_lifecycle_publisher(publisher)
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
            changed = ", ".join(f"{k}={v!r}" for k, v in settings.items())
            self.get_logger().info(f"parameters changed: {changed}")
        elif settings:
            settings_from({**self.p, **settings})  # only check: configure will use them
        if "diagnostics_period" in changes:
            self.diagnostics.set_period(changes["diagnostics_period"])

    # -- inputs (executor thread): decode, place on the grid, hand work to the worker ----

    def _on_image(self, msg) -> None:
        self._take("camera", msg.header.stamp, lambda: (to_rgb(msg),), self.reactor.add_frame)

    def _on_audio(self, msg: AudioChunk) -> None:
        self._take("audio", msg.header.stamp, lambda: message_to_audio(msg), self.reactor.add_audio)

    def _take(self, source: str, stamp, decode, add) -> None:
        """Decode a message, place it on the grid, log what that did, hand on the work."""
        try:
            intake = add(stamp_to_ns(stamp), *decode())
        except (ImageError, MessageError, Rejected) as error:
            if not isinstance(error, Rejected):  # the reactor counts what it rejects itself
                self.reactor.reject(camera=source == "camera")
            if self.reactor.worth_logging_skip():
                self.get_logger().warning(f"skipped {source} message: {error}")
            return
        log = self.get_logger()  # one call site per kind of line: rclpy throttles per site
        if intake.new_session:
            log.info("input stamps jumped: starting a new interaction")
        for note in intake.notes:
            log.warning(note, throttle_duration_sec=5.0)
        if filling := self.reactor.filling_in(intake):
            log.warning(filling, throttle_duration_sec=5.0)
        for work in intake.work:
            self.loaded.worker.put(work)

    # -- outputs (worker thread: windows; timer: the paced face) ---------------------

    def _publish_window(self, reaction) -> None:
        model, stamp = self.loaded.face_model, reaction.stamp_ns
        msg = window_to_message(reaction.reactions, model, stamp, selected_sample=reaction.selected)
        msg.header.frame_id = self.p["frame_id"]
        self.window_pub.publish(msg)

    def _publish_face(self) -> None:
        frame = self.reactor.pacer.next()
        if frame is None:
            return
        stamp, coefficients, sample = frame
        msg = coefficients_to_message(coefficients, self.loaded.face_model, stamp, sample)
        msg.header.frame_id = self.p["frame_id"]
        self.face_pub.publish(msg)
        self.face_frames_published += 1

    def _diagnose(self):
        state = self._state_machine.current_state[1]
        if self.loaded is None:
            return judged([], [f"{state}: no model loaded"], {"state": state})
        errors, warnings, values = self.loaded.status()
        if state != "active":
            warnings.insert(0, f"{state}: not consuming input")
        values.update(state=state, face_frames_published=self.face_frames_published)
        return judged(errors, warnings, values)

    def close(self) -> None:
        """Stop the worker and free the model (cleanup, shutdown, exit)."""
        if self.loaded is not None:
            self.loaded.close()
            self.loaded = None


def main(args: list[str] | None = None) -> int:
    return run(ReactionNode, args)


if __name__ == "__main__":
    sys.exit(main())
