"""The online pipeline: stamped camera frames and audio chunks in, stamped reaction windows out.

`OnlineReactor` is everything the robot runs between its sensors and its face, without
ROS: the 25 fps grid built from message stamps (`speaker_grid.SpeakerBuffer`), sessions (a
stamp jump starts a new interaction), the face tracker with its backlog policy, the
audio front end (log-mel and prosody), the causal generator, the choice of the sample to show
(`speaker_grid.SampleSelector`) and its own counters. The ROS reaction node only converts
messages, runs two threads and publishes; `reactface react` runs the same object on a
file.

Two halves, for two threads:

- intake (`add_frame`, `add_audio`): cheap; places a message on the grid and returns the
  `Work` that became ready (a new-session mark and/or a batch of grid frames);
- processing (`process(work)`): perception and generation; returns the finished
  `Reaction`s, each stamped with its window's first speaker frame, and feeds the selected
  sample frame by frame to `pacer` (a `FacePacer`) for a face stream at FPS.

Offline, call them in turn on one thread. Backlog: when the processing side is more than
`max_backlog` grid frames behind the intake, it skips the face tracker (holding the last
face) until it has caught up, so a busy CPU costs face detail rather than latency.

Bad input never costs the interaction: a frame too small to hold a face is refused at
the intake; a stamp that jumps (backwards, or far ahead) is kept aside until its new
timeline has lasted `session_confirm` seconds, so a clock glitch or one outlier stamp is
dropped (counted) while the history goes on, and only a lasting jump (a bag played
again, a restarted driver) starts a new session; windows that are not finite (a broken
model) are withheld and reported as an error. `status()` judges the last
`settings.status_horizon` seconds, so it returns to OK once a problem is over.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace

import numpy as np

from reactface_core.contract import AUDIO_RATE, FPS, FRAME_NS, SAMPLES_PER_FRAME
from reactface_core.perception.landmarks import NUM_LANDMARKS
from reactface_core.speaker_grid import (
    SELECTION_POLICIES,
    AlignedFrame,
    Rejected,
    SampleSelector,
    SpeakerBuffer,
)
from reactface_core.utils import RollingStats

NO_FACE = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)  # landmarks of a faceless frame


def _setting(default, description: str, limits=None, choices=None, unit: str = ""):
    """A ReactorSettings field with what it means and its allowed values (inclusive)."""
    meta = {"description": description, "range": limits, "choices": choices, "unit": unit}
    return field(default=default, metadata=meta)


def described(kind, name: str) -> str:
    """What setting `name` of `kind` (`ModelSettings`, `ReactorSettings`) means."""
    return next(f.metadata["description"] for f in fields(kind) if f.name == name)


class _Checked:
    """Settings whose fields carry their rules (`_setting`): checked on creation."""

    def __post_init__(self) -> None:
        problems = [
            f"{f.name} must be {rule}, got {getattr(self, f.name)!r}"
            for f in fields(self)
            if (rule := _broken_rule(getattr(self, f.name), f.default, f.metadata))
        ]
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class ModelSettings(_Checked):
    """Which model the reactor runs, and where; fixed once it is loaded (`open_reactor`)."""

    checkpoint: str = _setting(
        "default",
        "trained model file written by `reactface train`; 'default': the shipped model "
        "(reactface_core/checkpoints/reactface_synth.pt); empty: a randomly initialised model "
        "(for testing the plumbing only; a warning is logged)",
    )
    device: str = _setting(
        "auto", "torch device; auto uses CUDA when present", choices=("auto", "cpu", "cuda")
    )
    window: int = _setting(
        8,
        "w: frames per window (320 ms at w=8) for a randomly initialised model; a checkpoint "
        "brings its own",
        (1, 250),
    )
    threads: int = _setting(
        1,
        "torch CPU threads; 0: torch's default (one per core). One, because a window's small "
        "matrices gain little from a second thread, which then waits for a core that the "
        "face mesh, the transport and the robot's other nodes need (README, 'Nothing lost "
        "on the way in')",
        (0, 64),
    )
    far_faces: bool = _setting(
        True,
        "look for faces too small for the face mesh's own detector (under about an eighth of "
        "the image's longer side: a person beyond ~2 m of a webcam) with MediaPipe's "
        "full-range detector, and read them on an enlarged crop; costs a few ms on frames "
        "without a face",
    )


@dataclass(frozen=True)
class ReactorSettings(_Checked):
    """What a user may choose about the online pipeline: the one home of each setting's
    default, meaning and allowed values (the ROS node's parameters are made from them).

    All but `audio_sample_rate` may change while running (`OnlineReactor.update`).
    """

    samples: int = _setting(
        10, "N: reactions sampled per window; a change restarts the model's history", (1, 64)
    )
    selection: str = _setting(
        "first",
        "which sample goes to the face stream: first (one continuous trajectory), random, "
        "most_typical (closest to the samples' mean), sticky (smoothest continuation)",
        choices=SELECTION_POLICIES,
    )
    seed: int = _setting(0, "seed of the sampled reactions and of random selection", (0, 2**31 - 1))
    deterministic: bool = _setting(
        False, "use the distribution mean instead of sampling (all N samples are then equal)"
    )
    max_delay: float = _setting(
        0.2,
        "seconds (of message stamps) one input may lag the other before its frames are "
        "filled in: the last camera frame held, or audio zero-filled",
        (0.0, 5.0),
        unit=" s",
    )
    audio_sample_rate: int = _setting(
        0,
        "accept audio only at this rate in Hz; 0: the first chunk's rate, then fixed",
        (0, 192_000),
        unit=" Hz",
    )
    session_gap: float = _setting(
        2.0,
        "seconds of stamp jump (backwards, or forwards after both inputs were silent) that "
        "start a new interaction (buffers and generator reset)",
        (0.1, 3600.0),
        unit=" s",
    )
    session_confirm: float = _setting(
        1.0,
        "seconds the stamps must go on after such a jump before a new interaction starts; a "
        "shorter jump that comes back (a clock glitch, one outlier stamp) is ignored, counted",
        (0.0, 60.0),
        unit=" s",
    )
    max_hold: float = _setting(
        0.5,
        "seconds the last camera frame may stand in for missing ones; after that the face "
        "counts as missing (not seen) until a frame arrives",
        (0.0, 10.0),
        unit=" s",
    )
    max_backlog: int = _setting(
        25,
        "frames waiting for perception beyond which the face tracker is skipped (the last "
        "face is held) until the pipeline has caught up; 0: never skip",
        (0, 1000),
    )
    status_horizon: float = _setting(
        10.0,
        "seconds of the recent past the status level judges (it returns to OK once a "
        "problem is this old)",
        (1.0, 3600.0),
        unit=" s",
    )


LIVE_SETTINGS = tuple(f.name for f in fields(ReactorSettings) if f.name != "audio_sample_rate")


def _broken_rule(value, default, meta) -> str:
    """The rule `value` breaks ("" when none): the default's type, then range or choices."""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if isinstance(default, str):
        choices = meta["choices"]
        if choices is None:
            return "" if isinstance(value, str) else "a string"
        return "" if value in choices else "one of " + ", ".join(choices)
    is_int = isinstance(value, int) and not isinstance(value, bool)
    ok_type = is_int or (isinstance(default, float) and isinstance(value, float))
    low, high = meta["range"]
    kind = "an integer" if isinstance(default, int) else "a number"
    if ok_type and low <= value <= high:
        return ""
    return f"{kind} from {low:g} to {high:g}{meta['unit']}"


@dataclass
class NewSession:
    """Work mark: reset the models' state before the frames that follow."""


@dataclass
class FrameBatch:
    """Grid frames ready for perception, and when the newest input that completed them arrived."""

    frames: list[AlignedFrame]
    arrival: float  # time.perf_counter() of that input


Work = NewSession | FrameBatch


@dataclass
class Intake:
    """What one input message did: work to process, and what to tell the user."""

    work: list[Work] = field(default_factory=list)
    new_session: bool = False  # the stamps jumped: a new interaction started
    notes: list[str] = field(default_factory=list)  # lines worth a log (a clock glitch, ...)
    held: int = 0  # grid frames in `work` without their own camera frame
    audio_filled: int = 0  # grid frames in `work` with zero-filled audio


@dataclass
class Reaction:
    """One window of N sampled reactions, ready to publish."""

    stamp_ns: int  # stamp of the window's first speaker frame
    reactions: np.ndarray  # (N, w, D) face-model units
    selected: int  # the sample the face stream shows
    arrival: float  # time.perf_counter() of the input that completed it
    compute_s: float  # perception + generation of the batch that finished it
    captured: float  # time.perf_counter() when the window's last frame was captured (estimate)

    def frame_stamps(self) -> np.ndarray:
        """(w,) stamps of the window's frames."""
        return self.stamp_ns + FRAME_NS * np.arange(self.reactions.shape[1], dtype=np.int64)


COUNTERS = (
    "frames_received",
    "frames_skipped",
    "audio_chunks_received",
    "audio_chunks_skipped",
    "windows_published",
    "frames_tracker_skipped",
    "frames_face_found",
    "sessions",
    "stamp_glitches",
    "windows_not_finite",
)
MIN_FRAME_SIDE = 32  # pixels: a smaller image cannot show a face to the tracker
TRANSPORT_GAUGES = ("camera_lost", "audio_lost", "camera_publishers", "audio_publishers")


class OnlineReactor:
    """Speaker camera + microphone (stamped) -> N sampled listener reactions every w frames.

    generator: a `generate.NormalisedReactionGenerator` (raw features in, face-model units
    out); landmarker: a `perception.face_tracker.FaceLandmarker` (or anything mapping an
    RGB frame to raw landmarks, with `reset()`).
    """

    def __init__(
        self,
        generator,
        landmarker,
        settings: ReactorSettings = ReactorSettings(),
        clock=time.monotonic,
    ):
        from reactface_core.perception.audio import StreamingAudioFeatures
        from reactface_core.perception.landmarks import SpeakerFeatures

        self.generator, self.landmarker, self.settings = generator, landmarker, settings
        self.speaker_features = SpeakerFeatures()
        generator.reconfigure(settings.samples, settings.seed, settings.deterministic)
        self._processing = threading.Lock()  # `process` and `update` take turns
        self.audio_features = StreamingAudioFeatures()
        self.selector = SampleSelector(settings.selection, settings.seed)
        self.counts = dict.fromkeys(COUNTERS, 0)
        # kept by the caller from its transport (e.g. DDS events): messages lost before they
        # reached the intake (they explain held frames), publishers heard now
        self.transport = dict.fromkeys(TRANSPORT_GAUGES, 0)
        self.earlier = {"held": 0, "audio_filled": 0, "missing": 0}  # of past sessions
        self.backlog = 0  # grid frames handed out but not processed; both threads change it
        self._backlog_lock = threading.Lock()
        self.buffer = self._new_buffer()
        self.pacer = FacePacer()
        self.jumped: _Jump | None = None  # messages whose stamps jumped, not yet a session
        self.recent = RecentCounts(settings.status_horizon, clock)
        self._arrival_offsets: deque[float] = deque(maxlen=500)  # perf_counter - stamp (s)
        self._last_skip_log = 0.0
        self._reset_models()

    @property
    def window(self) -> int:
        return self.generator.window

    def update(self, **changes) -> None:
        """Change live settings while running; a bad value raises ValueError, nothing changed.

        selection, seed, deterministic, max_delay, session_gap, session_confirm, max_hold,
        max_backlog and status_horizon apply at once (to the next frame or window; a new seed restarts the sample noise and the random
        selection). samples applies at once with a reset of the generator's history, as at
        a new session (the model's listener history holds N rows). Call it from the intake
        thread; it waits for a `process` call in progress to finish.
        """
        fixed = sorted(set(changes) - set(LIVE_SETTINGS))
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)} cannot change while running; live: {', '.join(LIVE_SETTINGS)}"
            )
        new = replace(self.settings, **changes)  # validates
        with self._processing:
            old, self.settings = self.settings, new
            self.generator.reconfigure(new.samples, new.seed, new.deterministic)
            if (new.selection, new.seed) != (old.selection, old.seed):
                self.selector = SampleSelector(new.selection, new.seed)
            self.buffer.max_delay, self.buffer.max_hold = new.max_delay, new.max_hold
            self.recent.horizon = new.status_horizon
            if new.samples != old.samples:
                self._reset_models()

    # -- intake ------------------------------------------------------------------------

    def add_frame(self, stamp_ns: int, rgb: np.ndarray) -> Intake:
        """A camera frame (H, W, 3) uint8 RGB at its stamp; raises `Rejected` with why."""
        self.counts["frames_received"] += 1
        height, width = np.shape(rgb)[:2] if np.ndim(rgb) >= 2 else (0, 0)
        if np.ndim(rgb) != 3 or np.shape(rgb)[2] != 3 or min(height, width) < MIN_FRAME_SIDE:
            self.counts["frames_skipped"] += 1
            raise Rejected(
                f"camera frame of shape {np.shape(rgb)} is too small or not RGB: expected "
                f"(H, W, 3) with H, W >= {MIN_FRAME_SIDE} pixels"
            )
        self._note_arrival(stamp_ns)
        return self._add(True, stamp_ns, rgb)

    def add_audio(self, stamp_ns: int, samples: np.ndarray, sample_rate: int) -> Intake:
        """An audio chunk (n,) or (n, channels) whose first sample is at `stamp_ns`."""
        self.counts["audio_chunks_received"] += 1
        if sample_rate > 0:
            self._note_arrival(stamp_ns + round(len(samples) * 1e9 / sample_rate))
        return self._add(False, stamp_ns, samples, sample_rate)

    def reject(self, camera: bool) -> None:
        """Count an input message the caller could not even decode."""
        self.counts["frames_received" if camera else "audio_chunks_received"] += 1
        self.counts["frames_skipped" if camera else "audio_chunks_skipped"] += 1

    def _note_arrival(self, available_ns: int) -> None:
        """Relate stamps to this process's clock: the smallest arrival - stamp seen lately is
        taken as the moment a message is available at its source."""
        self._arrival_offsets.append(time.perf_counter() - available_ns / 1e9)

    def captured(self, stamp_ns: int) -> float:
        """perf_counter() time at which the input stamped `stamp_ns` existed at its source."""
        offset = min(self._arrival_offsets) if self._arrival_offsets else 0.0
        return stamp_ns / 1e9 + offset

    def _add(self, camera: bool, stamp_ns: int, *payload) -> Intake:
        intake = Intake()
        gap = self.settings.session_gap
        jumped = self.jumped
        if jumped is not None and jumped.continues(stamp_ns, gap):
            jumped.add(camera, stamp_ns, payload)
            if jumped.confirmed(self.settings.session_confirm):
                self._confirm_session(intake)
            return intake
        if self.buffer.starts_new_session(stamp_ns, camera, gap):
            if jumped is not None:
                self._drop_jump(intake)
            newest = [s for s in (self.buffer.last_frame_stamp, self.buffer.audio_clock()) if s]
            forward = bool(newest) and stamp_ns > max(newest)
            self.jumped = _Jump(camera, forward, stamp_ns, stamp_ns)
            self.jumped.add(camera, stamp_ns, payload)
            return intake
        if jumped is not None and camera == jumped.camera:
            self._drop_jump(intake)  # the old timeline came back: the jump was a glitch
        self._place(intake, camera, stamp_ns, payload)
        return intake

    def _place(self, intake: Intake, camera: bool, stamp_ns: int, payload: tuple) -> None:
        arrival = time.perf_counter()
        add = self.buffer.add_frame if camera else self.buffer.add_audio
        try:
            add(stamp_ns, *payload)
        except Rejected:
            self.counts["frames_skipped" if camera else "audio_chunks_skipped"] += 1
            raise
        frames = self.buffer.pop_ready()
        if frames:
            with self._backlog_lock:
                self.backlog += len(frames)
            intake.work.append(FrameBatch(frames, arrival))
            intake.held += sum(frame.held for frame in frames)
            intake.audio_filled += sum(frame.audio_filled > 0 for frame in frames)

    def _confirm_session(self, intake: Intake) -> None:
        """The jumped stamps went on for session_confirm s: a new interaction starts with them."""
        jumped, self.jumped = self.jumped, None
        self._start_session()
        intake.work.append(NewSession())
        intake.new_session = True
        for camera, stamp_ns, payload in jumped.messages:
            try:
                self._place(intake, camera, stamp_ns, payload)
            except Rejected as error:
                intake.notes.append(f"skipped a message of the new interaction: {error}")

    def _drop_jump(self, intake: Intake) -> None:
        jumped, self.jumped = self.jumped, None
        cameras = sum(camera for camera, _, _ in jumped.messages)
        self.counts["frames_skipped"] += cameras
        self.counts["audio_chunks_skipped"] += len(jumped.messages) - cameras
        self.counts["stamp_glitches"] += 1
        reference = self.buffer.last_frame_stamp if jumped.camera else None
        shift = (jumped.first - reference) / 1e9 if reference is not None else float("nan")
        intake.notes.append(
            f"ignored {len(jumped.messages)} {'camera' if jumped.camera else 'audio'} "
            f"message(s) whose stamps jumped by {shift:+.3f} s and came back within "
            f"{self.settings.session_confirm} s: a clock glitch, the interaction goes on"
        )

    def _new_buffer(self) -> SpeakerBuffer:
        return SpeakerBuffer(
            fps=FPS,
            samples_per_frame=SAMPLES_PER_FRAME,
            max_delay=self.settings.max_delay,
            max_hold=self.settings.max_hold,
            sample_rate=self.settings.audio_sample_rate,
        )

    def _start_session(self) -> None:
        self.earlier["held"] += self.buffer.stats.held
        self.earlier["audio_filled"] += self.buffer.stats.audio_filled
        self.earlier["missing"] += self.buffer.stats.missing
        self.buffer = self._new_buffer()
        self.counts["sessions"] += 1

    # -- processing --------------------------------------------------------------------

    def process(self, work: Work) -> list[Reaction]:
        """Run perception and generation on `work`; the windows it completed, in order.

        A failure resets the models' state (the interaction restarts) and is raised again
        for the caller to log.
        """
        with self._restarting_on_failure():
            return self._process(work)

    def settle(self) -> None:
        """Make the last window history (`streaming.ReactionGenerator.settle`): after its
        reactions are out, so that work is not between a window's last frame and its
        publication. A failure restarts the interaction, as in `process`."""
        with self._restarting_on_failure():
            self.generator.settle()

    @contextmanager
    def _restarting_on_failure(self):
        """Hold the processing lock; a failure inside restarts the interaction (the models'
        state is reset) and is raised again for the caller to log."""
        with self._processing:
            try:
                yield
            except Exception:
                self._reset_models()
                raise

    def _process(self, work: Work) -> list[Reaction]:
        if isinstance(work, NewSession):
            self._reset_models()
            return []
        start = time.perf_counter()
        try:
            for frame in work.frames:
                self.frame_stamps[self.frames_fed] = frame.stamp_ns
                self.frames_fed += 1
            visual, valid = self._visual_features(work.frames)
            audio = self.audio_features(np.concatenate([frame.audio for frame in work.frames]))
            windows = self.generator.push(visual, audio, valid)
        finally:
            with self._backlog_lock:
                self.backlog -= len(work.frames)
        reactions = []
        for window in windows:
            batch = np.asarray(window.reactions, np.float32)  # (N, w, D)
            stamp = self.frame_stamps[window.start]
            for index in range(window.start, window.start + batch.shape[1]):
                self.frame_stamps.pop(index, None)
            if not np.isfinite(batch).all():  # a broken model: withhold, report, start over
                self.counts["windows_not_finite"] += 1
                self._reset_models()
                break
            selected = self.selector(batch)
            compute = time.perf_counter() - start
            last_frame = stamp + (batch.shape[1] - 1) * FRAME_NS
            reaction = Reaction(
                stamp, batch, selected, work.arrival, compute, self.captured(last_frame)
            )
            reactions.append(reaction)
            self.pacer.add(reaction)
            self.counts["windows_published"] += 1
        return reactions

    def _reset_models(self) -> None:
        self.generator.reset()
        self.audio_features.reset()
        self.selector.reset()
        self.landmarker.reset()
        self.speaker_features.reset()
        self.pacer.clear()
        self.frame_stamps: dict[int, int] = {}  # generator frame index -> stamp
        self.frames_fed = 0
        self._cached_landmarks = (None, NO_FACE, 1.0)  # source stamp, landmarks, aspect

    def _visual_features(self, frames: list[AlignedFrame]) -> tuple[np.ndarray, np.ndarray]:
        """Grid frames -> speaker features, one frame at a time through the session's
        `SpeakerFeatures` (a frame without a camera image counts as a frame without a face)."""
        from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

        rows = np.zeros((len(frames), VISUAL_FEATURE_DIM), np.float32)
        valid = np.zeros(len(frames), bool)
        behind = self.backlog - len(frames) > self.settings.max_backlog > 0
        for i, frame in enumerate(frames):
            landmarks, aspect = NO_FACE, 1.0
            if frame.visual is not None:
                source, landmarks, aspect = self._cached_landmarks
                if source != frame.source_stamp_ns and behind and source is not None:
                    self.counts["frames_tracker_skipped"] += 1  # catching up: hold the last face
                elif source != frame.source_stamp_ns:
                    height, width = frame.visual.shape[:2]
                    landmarks, aspect = self.landmarker(frame.visual), height / width
                    self._cached_landmarks = (frame.source_stamp_ns, landmarks, aspect)
            features, found = self.speaker_features(landmarks[None], aspect)
            rows[i], valid[i] = features[0], found[0]
        self.counts["frames_face_found"] += int(valid.sum())
        return rows, valid

    def warm_up(self) -> None:
        """Run one window on silence so the first real window is not slowed by lazy init."""
        from reactface_core.perception.audio import silence
        from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

        w = self.window
        self.generator.push(
            np.zeros((w, VISUAL_FEATURE_DIM), np.float32),
            silence(2 * w),
            np.zeros(w, bool),
        )
        self.landmarker(np.zeros((64, 64, 3), np.uint8))
        self._reset_models()

    def filling_in(self, intake: Intake) -> str:
        """A log line about the frames one message filled in ("" when none)."""
        if not (intake.held or intake.audio_filled):
            return ""
        filled = self.filled_in()
        return (
            f"filling in late or missing input: {intake.held} frame(s) without a camera "
            f"frame (last one held; {filled['frames_held']} so far), {intake.audio_filled} "
            f"with zero-filled audio ({filled['frames_audio_zero_filled']} so far)"
        )

    def worth_logging_skip(self) -> bool:
        """Whether to log a skipped message: every one at first, then one per 5 s."""
        now = time.monotonic()
        skipped = self.counts["frames_skipped"] + self.counts["audio_chunks_skipped"]
        if skipped <= 20 or now - self._last_skip_log > 5.0:
            self._last_skip_log = now
            return True
        return False

    # -- state -------------------------------------------------------------------------

    def filled_in(self) -> dict[str, int]:
        """Grid frames emitted without their own camera frame / with zero-filled audio /
        without any frame (the camera silent for longer than max_hold)."""
        stats = self.buffer.stats
        return {
            "frames_held": stats.held + self.earlier["held"],
            "frames_audio_zero_filled": stats.audio_filled + self.earlier["audio_filled"],
            "frames_face_missing": stats.missing + self.earlier["missing"],
        }

    def status(self) -> tuple[list[str], list[str], dict]:
        """(errors, warnings, every counter and gauge) for diagnostics.

        Errors and warnings are about the last `status_horizon` seconds (the counters'
        growth over that time), so the status returns to OK once a problem is over.
        """
        filled = self.filled_in()
        totals = {
            **self.counts,
            **filled,
            "frames_lost_in_transport": self.transport["camera_lost"],
            "audio_chunks_lost_in_transport": self.transport["audio_lost"],
        }
        recent = self.recent.growth(totals)
        values = {
            **totals,
            "late_audio_ms": self.buffer.stats.late_audio_samples * 1000 / AUDIO_RATE,
            "face_queue_depth": len(self.pacer.frames),
            "face_frames_dropped": self.pacer.dropped,
            "queue_depth": self.buffer.queue_depth + self.backlog,
            "camera_publishers": self.transport["camera_publishers"],
            "audio_publishers": self.transport["audio_publishers"],
            "status_horizon_s": self.recent.horizon,
        }
        errors, warnings = [], []
        if recent["windows_not_finite"]:
            errors.append(
                f"the model produced non-finite reactions: {recent['windows_not_finite']} "
                "window(s) withheld (a broken checkpoint?)"
            )
        lost = recent["frames_lost_in_transport"] + recent["audio_chunks_lost_in_transport"]
        if lost:
            warnings.append(
                f"{lost} input message(s) lost by the middleware (raw frames larger than the "
                "publisher's shared-memory segment? see config/fastdds.xml)"
            )
        if recent["frames_skipped"] or recent["audio_chunks_skipped"]:
            warnings.append("skipped input messages")
        if recent["frames_held"] or recent["frames_audio_zero_filled"]:
            warnings.append("filled-in frames")
        if recent["frames_face_missing"]:
            warnings.append("no camera frame for longer than max_hold: face marked missing")
        return errors, warnings, values


class RecentCounts:
    """How much each counter grew over the last `horizon` seconds (of `clock`)."""

    def __init__(self, horizon: float, clock=time.monotonic):
        self.horizon, self.clock = horizon, clock
        self.snapshots: deque[tuple[float, dict[str, int]]] = deque()

    def growth(self, totals: dict[str, int]) -> dict[str, int]:
        now = self.clock()
        self.snapshots.append((now, dict(totals)))
        # keep the newest snapshot at or before the horizon as the baseline
        while len(self.snapshots) > 1 and self.snapshots[1][0] <= now - self.horizon:
            self.snapshots.popleft()
        since, base = self.snapshots[0]
        if since > now - self.horizon:  # younger than the horizon: count from zero
            base = {}
        return {key: value - base.get(key, 0) for key, value in totals.items()}


@dataclass
class _Jump:
    """Messages whose stamps left the interaction's timeline, kept until they are confirmed
    as a new interaction or dropped as a glitch (the old timeline comes back first).

    Confirmed: when the new stamps have gone on for `session_confirm` seconds, or at once
    when both inputs jumped forward together (they resume after a pause or a stall: no
    clock glitch moves both streams the same way).
    """

    camera: bool  # the stream that jumped first
    forward: bool  # ahead of everything the interaction had seen
    first: int
    newest: int
    messages: list[tuple[bool, int, tuple]] = field(default_factory=list)  # (camera, ns, payload)
    streams: set[bool] = field(default_factory=set)  # which inputs have jumped (camera: True)

    def add(self, camera: bool, stamp_ns: int, payload: tuple) -> None:
        self.messages.append((camera, stamp_ns, payload))
        self.streams.add(camera)
        self.newest = max(self.newest, stamp_ns)

    def continues(self, stamp_ns: int, gap: float) -> bool:
        return abs(stamp_ns - self.newest) <= gap * 1e9

    def confirmed(self, confirm: float) -> bool:
        lasting = self.newest - self.first >= confirm * 1e9
        return lasting or (self.forward and len(self.streams) == 2)


class FacePacer:
    """The selected sample of each window as a stream of single frames, for a timer at FPS.

    Windows arrive in bursts every w frames; a face screen wants one frame per period. If
    the consumer falls more than `slack` windows behind, the oldest frames are dropped.
    """

    def __init__(self, slack: int = 3):
        self.slack = slack
        self.frames: deque[tuple[int, np.ndarray, int]] = deque()  # (stamp, coefficients, sample)
        self.dropped = 0

    def add(self, reaction: Reaction) -> None:
        chosen = reaction.reactions[reaction.selected]  # (w, D)
        for stamp, row in zip(reaction.frame_stamps(), chosen, strict=True):
            self.frames.append((int(stamp), row, reaction.selected))
        overflow = len(self.frames) - self.slack * len(chosen)
        for _ in range(max(0, overflow)):
            self.frames.popleft()
            self.dropped += 1

    def next(self) -> tuple[int, np.ndarray, int] | None:
        return self.frames.popleft() if self.frames else None

    def clear(self) -> None:
        self.frames.clear()


def settings_from(values: dict, kind: type = ReactorSettings):
    """The settings of `kind` (`ReactorSettings`, `ModelSettings`) named in `values` (other
    keys are ignored)."""
    names = {f.name for f in fields(kind)}
    return kind(**{key: value for key, value in values.items() if key in names})


RANDOM_MODEL_WARNING = (
    "no checkpoint given: running a RANDOMLY INITIALISED model (reactions are noise-like); "
    "set the `checkpoint` parameter to a trained model"
)


@dataclass
class LoadedReactor:
    """An `OnlineReactor` ready to run, what it runs, and (after `start`) its worker."""

    reactor: OnlineReactor
    face_model: str
    model_name: str
    device: str
    random: bool  # a randomly initialised model (no checkpoint)
    threads: int  # torch's CPU threads in this process
    worker: ReactorWorker | None = None

    def start(self, on_reaction, on_error) -> None:
        self.worker = ReactorWorker(self.reactor, on_reaction, on_error)

    def describe(self) -> str:
        settings = self.reactor.settings
        return (
            f"model {self.model_name} ({self.face_model}, w={self.reactor.window}, "
            f"N={settings.samples}) on {self.device} ({self.threads} torch CPU "
            f"thread{'s' if self.threads > 1 else ''}), selection {settings.selection}"
        )

    def status(self) -> tuple[list[str], list[str], dict]:
        """`OnlineReactor.status` with the model, its timings and whether it is random."""
        errors, warnings, values = self.reactor.status()
        if self.random:
            warnings.insert(0, "random model")
        if self.worker is not None:
            values.update(self.worker.timings())
        values.update(
            model=self.model_name,
            device=self.device,
            torch_threads=self.threads,
            window_frames=self.reactor.window,
            samples=self.reactor.settings.samples,
        )
        return errors, warnings, values

    def close(self) -> None:
        """Stop the worker (if started) and close the face tracker."""
        if self.worker is not None:
            self.worker.close()
        self.reactor.landmarker.close()


def open_reactor(model: ModelSettings, settings: ReactorSettings) -> LoadedReactor:
    """The reactor a robot runs: the model of `model.checkpoint` ("default": the shipped
    one; "": random init of `model.window`, see `generate.load_online_generator`) with a
    video-mode face tracker, warmed up. A bad checkpoint raises `CheckpointError`; an
    unavailable device RuntimeError."""
    import torch

    from reactface_core.generate import load_online_generator
    from reactface_core.perception.face_tracker import FaceLandmarker
    from reactface_core.utils import resolve_device

    if model.threads:
        torch.set_num_threads(model.threads)
    device = resolve_device(model.device)
    generator, face_model, name = load_online_generator(
        model.checkpoint, settings.samples, settings.seed, settings.deterministic, device,
        model.window,
    )  # fmt: skip
    landmarker = FaceLandmarker(mode="video", far_faces=model.far_faces)
    reactor = OnlineReactor(generator, landmarker, settings)
    reactor.warm_up()
    return LoadedReactor(
        reactor, face_model, name, device, not model.checkpoint, torch.get_num_threads()
    )


class ReactorWorker:
    """`reactor.process` on a thread of its own, so intake never waits for the model.

    put(work) from the intake side; each finished `Reaction` goes to on_reaction(reaction)
    on the worker thread, which then times it: from the capture of the window's last frame
    to the end of on_reaction (latency), and its perception + generation (compute); then
    the window joins the generator's history (`OnlineReactor.settle`, timed as settle). A
    failing window is reported to on_error(line), a log line naming the error, and the
    worker goes on (the reactor has restarted the interaction).
    """

    def __init__(self, reactor: OnlineReactor, on_reaction, on_error):
        self.reactor, self.on_reaction, self.on_error = reactor, on_reaction, on_error
        self.latency, self.compute = RollingStats(), RollingStats()  # seconds
        self.settling = RollingStats()  # the history update after a window is out, seconds
        self.queue: queue.Queue = queue.Queue()
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="reactor-worker", daemon=True)
        self.thread.start()

    def put(self, work) -> None:
        self.queue.put(work)

    def timings(self) -> dict[str, float]:
        return {
            "latency_ms_p50": 1000 * self.latency.percentile(50),
            "latency_ms_p95": 1000 * self.latency.percentile(95),
            "compute_ms_p50": 1000 * self.compute.percentile(50),
            "settle_ms_p50": 1000 * self.settling.percentile(50),
        }

    def _loop(self) -> None:
        while self.running:
            try:
                work = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                reactions = self.reactor.process(work)
            except Exception as error:  # noqa: BLE001  (a worker must not die silently)
                self._report(error)
                continue
            for reaction in reactions:
                self.on_reaction(reaction)
                self.latency.add(time.perf_counter() - reaction.captured)
                self.compute.add(reaction.compute_s)
            if reactions:
                start = time.perf_counter()
                try:
                    self.reactor.settle()  # once the window is out, not before
                except Exception as error:  # noqa: BLE001
                    self._report(error)
                    continue
                self.settling.add(time.perf_counter() - start)

    def _report(self, error: Exception) -> None:
        self.on_error(f"processing failed, interaction restarted: {error!r}")

    def close(self) -> None:
        """Stop the thread (the work still queued is dropped)."""
        self.running = False
        self.thread.join(timeout=5.0)
