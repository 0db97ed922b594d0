"""reaction node: speaker camera + microphone -> N sampled listener reactions every w frames.

Subscribes to camera/image_raw (sensor_msgs/Image; or camera/image_raw/compressed with
image_transport:=compressed) and audio/chunk (reactface_ros/AudioChunk). The messages'
header stamps place them on a 25 fps grid (`reactface_core.online.SpeakerBuffer`); each
grid frame goes through the face tracker and the log-mel front end
(`reactface_core.perception`) into the causal `ReactionGenerator`
(`reactface_core.streaming`). Every w frames it publishes

- reactface/reaction (ReactionWindow): all N samples, stamped with the window's first frame;
- reactface/face (FaceCoefficients): the selected sample, paced at 25 Hz;
- /diagnostics: latency, skipped / held / zero-filled frames, queue depths.

A bad message (unknown encoding, wrong size, stamp going backwards, wrong sample rate) is
logged and skipped; the node keeps running.

Threads: the subscription callbacks only decode messages and place them on the grid, so
the executor drains the camera and audio queues promptly and in stamp order; a worker
thread runs perception and generation on the grid frames. If it falls more than
`max_backlog` frames behind, it skips the face tracker (holding the last face) until it
has caught up, so latency stays bounded on a busy CPU.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from reactface_core import contract
from reactface_core.contract import FPS, SAMPLES_PER_FRAME
from reactface_core.online import (
    SELECTION_POLICIES,
    Rejected,
    SampleSelector,
    SpeakerBuffer,
)
from reactface_core.perception.landmarks import NUM_LANDMARKS
from reactface_ros.convert import (
    MessageError,
    coefficients_to_message,
    message_to_audio,
    stamp_to_ns,
    window_to_message,
)
from reactface_ros.image import ImageError, to_rgb
from reactface_ros.msg import AudioChunk, FaceCoefficients, ReactionWindow
from reactface_ros.nodes.common import (
    AUDIO_QOS,
    CAMERA_QOS,
    OUTPUT_QOS,
    Diagnostics,
    NodeStartupError,
    Param,
    RollingStats,
    declare,
    run,
)

NEW_SESSION = object()  # work-queue mark: reset the models' state before the next frames

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
    Param("samples", 10, "N: reactions sampled per window", range=(1, 64)),
    Param(
        "window",
        8,
        "w: frames per window (320 ms at w=8) for a randomly initialised model; a "
        "checkpoint brings its own",
        range=(1, 250),
    ),
    Param(
        "selection",
        "first",
        "which sample goes to reactface/face: first (one continuous trajectory), random, "
        "most_typical (closest to the samples' mean), sticky (smoothest continuation)",
        choices=SELECTION_POLICIES,
    ),
    Param("seed", 0, "seed of the sampled reactions and of random selection", range=(0, 2**31 - 1)),
    Param(
        "deterministic",
        False,
        "use the distribution mean instead of sampling (all N samples are then equal)",
    ),
    Param(
        "image_transport",
        "raw",
        "raw: sensor_msgs/Image on camera/image_raw; compressed: sensor_msgs/CompressedImage "
        "(jpeg/png) on camera/image_raw/compressed",
        choices=("raw", "compressed"),
    ),
    Param(
        "max_delay",
        0.2,
        "seconds (of message stamps) one input may lag the other before its frames are "
        "filled in: the last camera frame held, or audio zero-filled",
        range=(0.0, 5.0),
    ),
    Param(
        "audio_sample_rate",
        0,
        "accept audio only at this rate in Hz; 0: the first chunk's rate, then fixed",
        range=(0, 192_000),
    ),
    Param(
        "session_gap",
        2.0,
        "seconds of stamp jump (backwards, or forwards after both inputs were silent) that "
        "start a new interaction (buffers and generator reset)",
        range=(0.1, 3600.0),
    ),
    Param(
        "max_backlog",
        25,
        "frames waiting for perception beyond which the face tracker is skipped (the last "
        "face is held) until the node has caught up; 0: never skip",
        range=(0, 1000),
    ),
    Param("threads", 0, "torch CPU threads; 0: torch's default", range=(0, 64)),
    Param("frame_id", "reactface_listener", "frame_id of the published reactions"),
    Param(
        "diagnostics_period",
        1.0,
        "seconds between /diagnostics messages; 0: off",
        range=(0.0, 60.0),
    ),
]


def load_generator(
    checkpoint: str, window: int, device: str, samples: int, seed: int, deterministic: bool
):
    """The online generator to run, fed raw perception features, giving face-model units.

    checkpoint: a file written by `reactface train`; "default": the shipped model; "": a
    randomly initialised model of window `window` with the perception feature sizes, so
    the whole pipeline runs exactly as with a trained one. Returns (generator, face model
    name, w, description).
    """
    import torch

    from reactface_core.checkpoint import CheckpointError
    from reactface_core.data.dataset import Normalisation
    from reactface_core.generate import NormalisedReactionGenerator, load_trained_model
    from reactface_core.model import ReactFace, ReactFaceConfig
    from reactface_core.perception.audio import AUDIO_FEATURE_DIM
    from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM
    from reactface_core.streaming import ReactionGenerator

    if not checkpoint:
        config = ReactFaceConfig(
            visual_dim=VISUAL_FEATURE_DIM, audio_dim=AUDIO_FEATURE_DIM, window=window
        )
        torch.manual_seed(seed)
        model = ReactFace(config).to(device)
        generator = NormalisedReactionGenerator(
            ReactionGenerator(model, samples, seed, deterministic), Normalisation()
        )
        return generator, config.face_model, config.window, "random init (no checkpoint)"
    try:
        trained = load_trained_model(None if checkpoint == "default" else checkpoint, device)
    except CheckpointError as error:
        raise NodeStartupError(f"checkpoint {checkpoint!r}: {error}") from None
    except Exception as error:  # noqa: BLE001  (torch.load raises many kinds on a bad file)
        raise NodeStartupError(
            f"checkpoint {checkpoint!r} is not a readable reactface checkpoint: {error!r}"
        ) from None
    generator = trained.stream(samples, seed, deterministic)
    return generator, trained.face_model.name, trained.window, trained.path.name


class ReactionNode(Node):
    _no_face = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)  # landmarks of a faceless frame

    def __init__(self, **kwargs):
        super().__init__("reaction", **kwargs)
        self.p = declare(self, PARAMS)
        import torch

        from reactface_core.perception.audio import StreamingLogMel
        from reactface_core.perception.face_tracker import FaceLandmarker
        from reactface_core.perception.landmarks import SpeakerFeatures
        from reactface_core.utils import resolve_device

        if self.p["threads"]:
            torch.set_num_threads(self.p["threads"])
        try:
            self.device = resolve_device(self.p["device"])
        except RuntimeError as error:
            raise NodeStartupError(str(error)) from None
        self.generator, self.face_model, self.w, self.model_name = load_generator(
            self.p["checkpoint"],
            self.p["window"],
            self.device,
            self.p["samples"],
            self.p["seed"],
            self.p["deterministic"],
        )
        if not self.p["checkpoint"]:
            self.get_logger().warning(
                "no checkpoint given: running a RANDOMLY INITIALISED model (reactions are "
                "noise-like); set the `checkpoint` parameter to a trained model"
            )
        self.landmarker = FaceLandmarker(mode="video")
        self.speaker_features = SpeakerFeatures()
        self.logmel = StreamingLogMel()
        self.selector = SampleSelector(self.p["selection"], self.p["seed"])
        self._warm_up()

        self.counts = dict.fromkeys(
            (
                "frames_received",
                "frames_skipped",
                "audio_chunks_received",
                "audio_chunks_skipped",
                "windows_published",
                "face_frames_published",
                "face_frames_dropped",
                "frames_tracker_skipped",
                "sessions",
            ),
            0,
        )
        self.latency = RollingStats()  # s, last input message -> ReactionWindow published
        self.compute = RollingStats()  # s, perception + generation per window
        self.face_queue: deque[tuple[int, np.ndarray, int]] = deque()
        self._last_skip_log = 0.0
        self.earlier = {"held": 0, "audio_filled": 0}  # filled-in frames of past sessions
        self.work: queue.Queue = queue.Queue()  # grid frames (or a new-session mark) to process
        self.backlog = 0  # grid frames in `work`; changed by both threads, under the lock
        self.backlog_lock = threading.Lock()
        self._new_session(first=True)
        self.running = True
        self.worker = threading.Thread(target=self._work_loop, name="reaction-worker", daemon=True)
        self.worker.start()

        self.window_pub = self.create_publisher(ReactionWindow, contract.REACTION_TOPIC, OUTPUT_QOS)
        self.face_pub = self.create_publisher(FaceCoefficients, contract.FACE_TOPIC, OUTPUT_QOS)
        self.face_timer = self.create_timer(1.0 / FPS, self._publish_face)
        if self.p["image_transport"] == "compressed":
            self.create_subscription(
                CompressedImage,
                contract.CAMERA_TOPIC + contract.COMPRESSED_SUFFIX,
                self._on_image,
                CAMERA_QOS,
            )
        else:
            self.create_subscription(Image, contract.CAMERA_TOPIC, self._on_image, CAMERA_QOS)
        self.create_subscription(AudioChunk, contract.AUDIO_TOPIC, self._on_audio, AUDIO_QOS)
        self.diagnostics = Diagnostics(self, self.p["diagnostics_period"], self._diagnose)
        self.get_logger().info(
            f"ready: model {self.model_name} ({self.face_model}, w={self.w}, "
            f"N={self.p['samples']}) on {self.device}, selection {self.p['selection']}"
        )

    # -- inputs ------------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        arrival = time.perf_counter()
        self.counts["frames_received"] += 1
        try:
            rgb = to_rgb(msg)
        except ImageError as error:
            return self._skip("camera", "frames_skipped", error)
        stamp = stamp_to_ns(msg.header.stamp)
        if self.buffer.starts_new_session(stamp, camera=True, gap=self.p["session_gap"]):
            self._new_session()
        try:
            self.buffer.add_frame(stamp, rgb)
        except Rejected as error:
            return self._skip("camera", "frames_skipped", error)
        self._enqueue(arrival)

    def _on_audio(self, msg: AudioChunk) -> None:
        arrival = time.perf_counter()
        self.counts["audio_chunks_received"] += 1
        try:
            samples, rate = message_to_audio(msg)
        except MessageError as error:
            return self._skip("audio", "audio_chunks_skipped", error)
        stamp = stamp_to_ns(msg.header.stamp)
        if self.buffer.starts_new_session(stamp, camera=False, gap=self.p["session_gap"]):
            self._new_session()
        try:
            self.buffer.add_audio(stamp, samples, rate)
        except Rejected as error:
            return self._skip("audio", "audio_chunks_skipped", error)
        self._enqueue(arrival)

    def _skip(self, source: str, counter: str, error: Exception) -> None:
        """Log a skipped message: every one at first, then at most one line per 5 s."""
        self.counts[counter] += 1
        skipped = self.counts["frames_skipped"] + self.counts["audio_chunks_skipped"]
        now = time.monotonic()
        if skipped <= 20 or now - self._last_skip_log > 5.0:
            self._last_skip_log = now
            self.get_logger().warning(f"skipped {source} message: {error}")

    def _new_session(self, first: bool = False) -> None:
        """Start a new interaction: a fresh grid here, fresh models' state in the worker."""
        if not first:  # keep the filled-in counts of earlier interactions in the diagnostics
            self.earlier["held"] += self.buffer.stats.held
            self.earlier["audio_filled"] += self.buffer.stats.audio_filled
        self.buffer = SpeakerBuffer(
            fps=FPS,
            samples_per_frame=SAMPLES_PER_FRAME,
            max_delay=self.p["max_delay"],
            sample_rate=self.p["audio_sample_rate"],
        )
        self.work.put(NEW_SESSION)
        self.counts["sessions"] += 1
        if not first:
            self.get_logger().info("input stamps jumped: starting a new interaction")

    def _enqueue(self, arrival: float) -> None:
        frames = self.buffer.pop_ready()
        if not frames:
            return
        with self.backlog_lock:
            self.backlog += len(frames)
        self.work.put((frames, arrival))
        held = sum(frame.held for frame in frames)
        filled = sum(frame.audio_filled > 0 for frame in frames)
        if held or filled:
            stats = self.buffer.stats
            self.get_logger().warning(
                f"filling in late or missing input: {held} frame(s) without a camera frame (last "
                f"one held; {stats.held} so far), {filled} with zero-filled audio "
                f"({stats.audio_filled} so far)",
                throttle_duration_sec=5.0,
            )

    # -- work (worker thread) ------------------------------------------------------------

    def _work_loop(self) -> None:
        while self.running:
            try:
                item = self.work.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is NEW_SESSION:
                self._reset_models()
                continue
            frames, arrival = item
            try:
                self._process(frames, arrival)
            except Exception as error:  # noqa: BLE001  (a worker must not die silently)
                self.get_logger().error(f"processing failed, interaction restarted: {error!r}")
                self._reset_models()
            finally:
                with self.backlog_lock:
                    self.backlog -= len(frames)

    def _reset_models(self) -> None:
        self.generator.reset()
        self.logmel.reset()
        self.selector.reset()
        self.landmarker.reset()
        self.speaker_features.reset()
        self.face_queue.clear()
        self.frame_stamps: dict[int, int] = {}  # generator frame index -> stamp
        self.frames_fed = 0
        self._cached_landmarks = (None, self._no_face, 1.0)  # source stamp, landmarks, aspect

    def _process(self, frames, arrival: float) -> None:
        start = time.perf_counter()
        for frame in frames:
            self.frame_stamps[self.frames_fed] = frame.stamp_ns
            self.frames_fed += 1
        visual, valid = self._visual_features(frames)
        audio = self.logmel(np.concatenate([frame.audio for frame in frames]))
        for window in self.generator.push(visual, audio, valid):
            self._publish_window(window, arrival, start)

    def _visual_features(self, frames) -> tuple[np.ndarray, np.ndarray]:
        """Grid frames -> speaker features, one frame at a time through the session's
        `SpeakerFeatures` (frames without a camera image count as frames without a face)."""
        from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

        rows = np.zeros((len(frames), VISUAL_FEATURE_DIM), np.float32)
        valid = np.zeros(len(frames), bool)
        behind = self.backlog - len(frames) > self.p["max_backlog"] > 0
        for i, frame in enumerate(frames):
            landmarks, aspect = self._no_face, 1.0
            if frame.visual is not None:
                source, landmarks, aspect = self._cached_landmarks
                if source != frame.source_stamp_ns and behind and source is not None:
                    self.counts["frames_tracker_skipped"] += 1  # catching up: hold the last face
                elif source != frame.source_stamp_ns:
                    height, width = frame.visual.shape[:2]
                    landmarks, aspect = self.landmarker(frame.visual), height / width
                    self._cached_landmarks = (frame.source_stamp_ns, landmarks, aspect)
            features, ok = self.speaker_features(landmarks[None], aspect)
            rows[i], valid[i] = features[0], ok[0]
        return rows, valid

    def _publish_window(self, window, arrival: float, start: float) -> None:
        reactions = np.asarray(window.reactions, np.float32)  # (N, w, D), face-model units
        stamp = self.frame_stamps[window.start]
        for index in range(window.start, window.start + reactions.shape[1]):
            self.frame_stamps.pop(index, None)
        chosen = self.selector(reactions)
        msg = window_to_message(reactions, self.face_model, stamp, FPS, chosen)
        msg.header.frame_id = self.p["frame_id"]
        self.window_pub.publish(msg)
        now = time.perf_counter()
        self.latency.add(now - arrival)
        self.compute.add(now - start)
        self.counts["windows_published"] += 1
        period = 1e9 / FPS
        for k in range(reactions.shape[1]):
            self.face_queue.append((stamp + round(k * period), reactions[chosen, k], chosen))
        overflow = len(self.face_queue) - 3 * reactions.shape[1]
        for _ in range(max(0, overflow)):  # the face stream fell behind: drop the oldest
            self.face_queue.popleft()
            self.counts["face_frames_dropped"] += 1

    def _publish_face(self) -> None:
        if not self.face_queue:
            return
        stamp, coefficients, sample = self.face_queue.popleft()
        msg = coefficients_to_message(coefficients, self.face_model, stamp, sample)
        msg.header.frame_id = self.p["frame_id"]
        self.face_pub.publish(msg)
        self.counts["face_frames_published"] += 1

    def _warm_up(self) -> None:
        """Run one window on silence so the first real window is not slowed by lazy init."""
        from reactface_core.perception.audio import AUDIO_FEATURE_DIM
        from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

        w = self.w
        self.generator.push(
            np.zeros((w, VISUAL_FEATURE_DIM), np.float32),
            np.zeros((2 * w, AUDIO_FEATURE_DIM), np.float32),
            np.zeros(w, bool),
        )
        self.landmarker(np.zeros((64, 64, 3), np.uint8))
        self.landmarker.reset()
        self.generator.reset()

    def _diagnose(self):
        stats = self.buffer.stats
        values = {
            **self.counts,
            "frames_held": stats.held + self.earlier["held"],
            "frames_audio_zero_filled": stats.audio_filled + self.earlier["audio_filled"],
            "late_audio_ms": stats.late_audio_samples / 16.0,
            "queue_depth": self.buffer.queue_depth + self.backlog,
            "face_queue_depth": len(self.face_queue),
            "latency_ms_p50": 1000 * self.latency.percentile(50),
            "latency_ms_p95": 1000 * self.latency.percentile(95),
            "compute_ms_p50": 1000 * self.compute.percentile(50),
            "model": self.model_name,
            "device": self.device,
            "window_frames": self.w,
            "samples": self.p["samples"],
        }
        problems = []
        if not self.p["checkpoint"]:
            problems.append("random model")
        if self.counts["frames_skipped"] or self.counts["audio_chunks_skipped"]:
            problems.append("skipped input messages")
        if values["frames_held"] or values["frames_audio_zero_filled"]:
            problems.append("filled-in frames")
        level = DiagnosticStatus.WARN if problems else DiagnosticStatus.OK
        message = "; ".join(problems) if problems else "ok"
        return level, message, values

    def close(self) -> None:
        self.running = False
        self.worker.join(timeout=5.0)
        self.landmarker.close()


def main(args: list[str] | None = None) -> int:
    return run(ReactionNode, args)


if __name__ == "__main__":
    sys.exit(main())
