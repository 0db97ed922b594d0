"""Time-aligned speaker buffer: camera frames and audio chunks -> a 25 fps frame grid.

A robot's camera and microphone deliver messages at their own pace, with jitter, gaps and
different clocks of arrival. The model needs one speaker frame plus k = 2 audio steps
(640 samples at 16 kHz) per video frame. `SpeakerBuffer` builds that grid from the
*stamps* of the messages (never their arrival order):

- the grid starts at the first camera frame's stamp t0; slot i is the frame at
  s_i = t0 + i / fps and owns the audio of [s_i, s_i + 1 / fps) (contract 3: frame i's
  audio steps 2i, 2i+1 cover samples [640 i, 640 (i + 1)));
- the camera frame nearest to s_i within half a frame period fills slot i; a slot left
  without a frame holds the previous frame (`held`), e.g. a dropped frame or a slower
  camera, for at most `max_hold` seconds: after that the slot has no frame (the face is
  missing, not frozen); a faster camera is decimated;
- audio is mixed down to mono, resampled to 16 kHz by a streaming polyphase filter and
  placed at its stamp; chunks that follow each other within the stamp jitter tolerance are
  treated as one contiguous stream, a gap is zero-filled (`audio_filled`);
- a slot is emitted once both modalities have covered it; if one modality is late by more
  than `max_delay` seconds of the other's stamps, the slot is emitted anyway (held frame
  or zero-filled audio), so a dead microphone or camera never stalls the robot;
- messages that cannot be placed raise `Rejected` with the reason: stamps that go
  backwards, data for slots already emitted, sample rates that change mid-stream or are
  outside 8-192 kHz, malformed sample arrays.

Everything is pure numpy and deterministic, so the ROS node stays a thin adapter and the
alignment is tested without ROS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import gcd
from typing import Any

import numpy as np
from scipy.signal import firwin

from reactface_core.contract import AUDIO_RATE, FPS, SAMPLES_PER_FRAME

NANOSECONDS = 1_000_000_000
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000


class Rejected(ValueError):
    """A message the buffer cannot use; the text says why (for a log line)."""


@dataclass
class AlignedFrame:
    """One slot of the grid: the speaker frame at `stamp_ns` and its audio."""

    index: int  # slot number, 0 = first camera frame
    stamp_ns: int  # t0 + index / fps
    visual: Any  # payload of the camera frame in this slot (None before any frame)
    audio: np.ndarray  # (samples_per_frame,) float32 mono at 16 kHz
    held: bool  # no camera frame for this slot: the previous payload is repeated (or None)
    audio_filled: float  # fraction of `audio` that was zero-filled (gap or late audio)
    source_stamp_ns: int | None  # stamp of the camera frame whose payload is used


@dataclass
class BufferStats:
    frames: int = 0  # camera frames accepted
    extra_frames: int = 0  # camera frames replaced by a nearer one in the same slot
    chunks: int = 0  # audio chunks accepted
    rejected: int = 0  # messages refused (see Rejected)
    emitted: int = 0  # slots emitted
    held: int = 0  # slots emitted without their own camera frame
    missing: int = 0  # of those, slots whose last frame was older than max_hold: no payload
    audio_filled: int = 0  # slots emitted with some zero-filled audio
    late_audio_samples: int = 0  # samples (16 kHz) that arrived for slots already emitted


class StreamResampler:
    """Streaming polyphase resampler rate_in -> rate_out, chunk size independent.

    The filter is scipy's `resample_poly` design (Kaiser window, beta 5, 10 zero crossings
    per side), applied causally: output sample m depends only on input up to its own time,
    so no output waits for future input. The price is a constant lag of 10 samples of the
    slower rate (0.625 ms from 48 or 44.1 kHz to 16 kHz), far below the 20 ms log-mel hop. Feeding a
    signal in any chunking gives the same output as `scipy.signal.upfirdn(h, x, up, down)`.
    """

    def __init__(self, rate_in: int, rate_out: int = AUDIO_RATE):
        divisor = gcd(rate_in, rate_out)
        self.up, self.down = rate_out // divisor, rate_in // divisor
        self.identity = self.up == self.down
        if self.identity:
            return
        longest = max(self.up, self.down)
        taps = firwin(2 * 10 * longest + 1, 1.0 / longest, window=("kaiser", 5.0)) * self.up
        self.filter = taps  # at the upsampled rate
        self.taps_per_phase = -(-len(taps) // self.up)
        padded = np.zeros(self.taps_per_phase * self.up)
        padded[: len(taps)] = taps
        # phases[p, t] = h[p + t * up]: output m uses phase (m * down) % up on
        # inputs (m * down) // up - t, t = 0 .. taps_per_phase - 1
        self.phases = padded.reshape(self.taps_per_phase, self.up).T.copy()
        self.history = np.zeros(self.taps_per_phase - 1)
        self.consumed = 0  # input samples seen
        self.produced = 0  # output samples returned

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float64)
        if self.identity:
            return samples.astype(np.float32)
        buffer = np.concatenate([self.history, samples])
        total = self.consumed + len(samples)
        end = (total * self.up - 1) // self.down + 1 if total else 0  # outputs now computable
        m = np.arange(self.produced, end)
        phase = (m * self.down) % self.up
        newest = (m * self.down) // self.up  # input index of the newest tap
        offset = self.consumed - len(self.history)  # input index of buffer[0]
        rows = newest[:, None] - np.arange(self.taps_per_phase)[None] - offset
        output = (self.phases[phase] * buffer[rows]).sum(axis=1)
        keep = self.taps_per_phase - 1
        self.history = buffer[len(buffer) - keep :] if keep else buffer[:0]
        self.consumed, self.produced = total, end
        return output.astype(np.float32)


@dataclass
class _AudioSegment:
    """A run of contiguous audio chunks sharing one resampler."""

    sample_rate: int
    resampler: StreamResampler
    start_ns: int  # stamp of the segment's first sample
    produced: int = 0  # 16 kHz samples output so far
    last_stamp_ns: int = 0  # stamp of the newest chunk
    next_stamp_ns: int = 0  # where the next contiguous chunk should start


@dataclass
class SpeakerBuffer:
    """Camera frames + audio chunks (by header stamp) -> `AlignedFrame`s on a 25 fps grid.

    fps: grid rate (Hz); samples_per_frame: 16 kHz samples per slot (k = 2 audio steps of
    320 samples at 25 fps); max_delay: seconds one modality may lag the other before its
    slots are filled in (held frame / zeros); max_hold: seconds a camera frame may stand in
    for the slots after it (then they have no frame); sample_rate: the only accepted input audio
    rate (0 = whatever the first chunk has, then fixed); jitter: stamp tolerance (seconds)
    within which consecutive audio chunks count as contiguous (default: half a chunk).
    """

    fps: float = FPS
    samples_per_frame: int = SAMPLES_PER_FRAME
    max_delay: float = 0.2
    max_hold: float = 0.5
    sample_rate: int = 0
    jitter: float | None = None
    stats: BufferStats = field(default_factory=BufferStats)

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.samples_per_frame < 1 or min(self.max_delay, self.max_hold) < 0:
            raise ValueError(
                f"SpeakerBuffer needs fps > 0, samples_per_frame >= 1, max_delay >= 0 and "
                f"max_hold >= 0; got {self.fps}, {self.samples_per_frame}, {self.max_delay}, "
                f"{self.max_hold}"
            )
        self.period_ns = NANOSECONDS / self.fps
        self.t0: int | None = None
        self.next_slot = 0  # first slot not yet emitted
        self.frames: dict[int, tuple[int, Any]] = {}  # slot -> (stamp, payload)
        self.last_frame_stamp: int | None = None
        self.last_payload: tuple[int, Any] | None = None  # for holding
        # 16 kHz chunks that came before t0: (segment start stamp, offset, samples)
        self.pending_audio: list[tuple[int, int, np.ndarray]] = []
        self.audio = np.zeros(0, np.float32)  # 16 kHz samples from slot next_slot on
        self.covered = np.zeros(0, bool)  # which of them were really written
        self.audio_end = 0  # grid index one past the newest written sample
        self.segment: _AudioSegment | None = None

    @property
    def delay_ns(self) -> int:  # derived, so `max_delay` may change while running
        return int(self.max_delay * NANOSECONDS)

    @property
    def hold_ns(self) -> int:  # derived, so `max_hold` may change while running
        return int(self.max_hold * NANOSECONDS)

    # -- input -----------------------------------------------------------------------

    def add_frame(self, stamp_ns: int, payload: Any) -> None:
        """Add a camera frame (any payload: pixels, landmarks, features) at its stamp."""
        if self.last_frame_stamp is not None and stamp_ns <= self.last_frame_stamp:
            self._reject(
                f"non-monotonic camera stamp {_seconds(stamp_ns)} s: not after the previous "
                f"frame's {_seconds(self.last_frame_stamp)} s"
            )
        if self.t0 is None:
            self._start(stamp_ns)
        slot = int(np.floor((stamp_ns - self.t0) / self.period_ns + 0.5))  # nearest slot
        if slot < self.next_slot:
            self._reject(
                f"late camera frame {_seconds(stamp_ns)} s: its slot {slot} was already emitted "
                f"(waited {self.max_delay} s for it)"
            )
        self.last_frame_stamp = stamp_ns
        self.stats.frames += 1
        previous = self.frames.get(slot)
        centre = self._slot_stamp(slot)
        if previous is not None:
            self.stats.extra_frames += 1
            if abs(previous[0] - centre) <= abs(stamp_ns - centre):
                return
        self.frames[slot] = (stamp_ns, payload)

    def add_audio(self, stamp_ns: int, samples: np.ndarray, sample_rate: int) -> None:
        """Add an audio chunk: samples (frames,) or (frames, channels), stamp of the first."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if samples.ndim != 1 or not len(samples):
            self._reject(
                f"audio chunk must be non-empty (frames,) or (frames, channels), got "
                f"{samples.shape}"
            )
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            self._reject(
                f"wrong sample rate {sample_rate} Hz: expected {MIN_SAMPLE_RATE}-"
                f"{MAX_SAMPLE_RATE} Hz"
            )
        expected_rate = self.segment.sample_rate if self.segment else self.sample_rate
        if expected_rate and sample_rate != expected_rate:
            self._reject(
                f"wrong sample rate {sample_rate} Hz: this audio stream is {expected_rate} Hz"
            )
        if self.segment is not None and stamp_ns <= self.segment.last_stamp_ns:
            self._reject(
                f"non-monotonic audio stamp {_seconds(stamp_ns)} s: not after the previous "
                f"chunk's {_seconds(self.segment.last_stamp_ns)} s"
            )
        duration_ns = round(len(samples) * NANOSECONDS / sample_rate)
        tolerance = (
            max(2_000_000, duration_ns // 2) if self.jitter is None else round(self.jitter * 1e9)
        )
        segment = self.segment
        if segment is None or abs(stamp_ns - segment.next_stamp_ns) > tolerance:
            # a gap (or an overlap): start a new segment at this stamp, zeros in between
            segment = _AudioSegment(sample_rate, StreamResampler(sample_rate), stamp_ns)
            self.segment = segment
        segment.last_stamp_ns = stamp_ns
        segment.next_stamp_ns = stamp_ns + duration_ns
        self.stats.chunks += 1
        resampled = segment.resampler(samples)
        placed = (segment.start_ns, segment.produced, resampled)
        segment.produced += len(resampled)
        if self.t0 is None:
            self.pending_audio.append(placed)
            self._start_from_audio_if_camera_is_missing()
        else:
            self._write_audio(*placed)

    # -- output ----------------------------------------------------------------------

    def pop_ready(self) -> list[AlignedFrame]:
        """Every slot that both modalities have covered (or given up on), in order."""
        ready = []
        while self.t0 is not None:
            frame = self._emit_if_ready(self.next_slot)
            if frame is None:
                break
            ready.append(frame)
        return ready

    def slot_stamp(self, slot: int) -> int:
        """Stamp (ns) of grid slot `slot`; the grid must have started."""
        if self.t0 is None:
            raise RuntimeError("the grid has not started (no camera frame or audio yet)")
        return self._slot_stamp(slot)

    def starts_new_session(self, stamp_ns: int, camera: bool, gap: float) -> bool:
        """Whether a message at `stamp_ns` belongs to a new interaction, not this one.

        True when its stamp goes back more than `gap` seconds on its own stream (a bag
        replayed again, a restarted driver), or when it is more than `gap` seconds after
        everything this buffer has seen (both streams paused). The caller then starts over
        with a fresh buffer instead of rejecting everything as non-monotonic or filling
        the whole pause with held frames.
        """
        gap_ns = gap * NANOSECONDS
        last = (
            self.last_frame_stamp
            if camera
            else (self.segment.last_stamp_ns if self.segment else None)
        )
        if last is not None and stamp_ns < last - gap_ns:
            return True
        newest = [s for s in (self.last_frame_stamp, self.audio_clock()) if s is not None]
        return bool(newest) and stamp_ns > max(newest) + gap_ns

    @property
    def queue_depth(self) -> int:
        """Camera frames waiting for their audio (or for a verdict) in the buffer."""
        return len(self.frames)

    # -- internals -------------------------------------------------------------------

    def _reject(self, reason: str) -> None:
        self.stats.rejected += 1
        raise Rejected(reason)

    def _start(self, t0: int) -> None:
        self.t0 = t0
        pending, self.pending_audio = self.pending_audio, []
        for placed in pending:
            self._write_audio(*placed)

    def _start_from_audio_if_camera_is_missing(self) -> None:
        """No camera frame yet but max_delay of audio: start the grid without video."""
        start, offset, chunk = self.pending_audio[0]
        first = start + round(offset * NANOSECONDS / AUDIO_RATE)
        start, offset, chunk = self.pending_audio[-1]
        audio_clock = start + round((offset + len(chunk)) * NANOSECONDS / AUDIO_RATE)
        if audio_clock - first > self.delay_ns + self.period_ns:
            self._start(first)

    def audio_clock(self) -> int | None:
        """Stamp just after the newest audio sample seen (None before any audio)."""
        if self.segment is None:
            return None
        return self.segment.next_stamp_ns

    def _slot_stamp(self, slot: int) -> int:
        return self.t0 + round(slot * self.period_ns)

    def _grid_index(self, stamp_ns: int) -> int:
        """16 kHz sample index (0 = t0) of a stamp."""
        return round((stamp_ns - self.t0) * AUDIO_RATE / NANOSECONDS)

    def _write_audio(self, segment_start_ns: int, offset: int, chunk: np.ndarray) -> None:
        index = self._grid_index(segment_start_ns) + offset
        base = self.next_slot * self.samples_per_frame  # grid index of self.audio[0]
        if index < base:  # before t0 (pre-roll) or for slots already emitted (late)
            late = min(base - index, len(chunk))
            if self.next_slot:
                self.stats.late_audio_samples += late
            chunk, index = chunk[late:], index + late
        if not len(chunk):
            return
        start, stop = index - base, index - base + len(chunk)
        if stop > len(self.audio):
            grow = stop - len(self.audio)
            self.audio = np.concatenate([self.audio, np.zeros(grow, np.float32)])
            self.covered = np.concatenate([self.covered, np.zeros(grow, bool)])
        self.audio[start:stop] = chunk
        self.covered[start:stop] = True
        self.audio_end = max(self.audio_end, index + len(chunk))

    def _emit_if_ready(self, slot: int) -> AlignedFrame | None:
        stamp = self._slot_stamp(slot)
        half = round(self.period_ns / 2)
        slot_end = self._slot_stamp(slot + 1)
        camera_clock = self.last_frame_stamp
        audio_clock = self.t0 + round(self.audio_end * NANOSECONDS / AUDIO_RATE)
        has_frame = slot in self.frames
        camera_done = (
            has_frame
            or (camera_clock is not None and camera_clock >= stamp + half)
            or audio_clock >= slot_end + self.delay_ns
        )
        audio_needed = (slot + 1) * self.samples_per_frame
        audio_done = self.audio_end >= audio_needed or (
            camera_clock is not None and camera_clock >= slot_end + self.delay_ns
        )
        if not (camera_done and audio_done):
            return None

        if has_frame:
            self.last_payload = self.frames.pop(slot)
        held = not has_frame
        source_stamp, payload = self.last_payload if self.last_payload else (None, None)
        if held and source_stamp is not None and stamp - source_stamp > self.hold_ns:
            source_stamp, payload = None, None  # the camera went quiet: no face, not a frozen one
            self.stats.missing += 1
        n = self.samples_per_frame
        audio = np.zeros(n, np.float32)
        covered = np.zeros(n, bool)
        available = min(n, len(self.audio))
        audio[:available] = self.audio[:available]
        covered[:available] = self.covered[:available]
        self.audio, self.covered = self.audio[available:], self.covered[available:]
        filled = 1.0 - covered.mean()

        self.next_slot += 1
        self.stats.emitted += 1
        self.stats.held += held
        self.stats.audio_filled += filled > 0
        return AlignedFrame(slot, stamp, payload, audio, held, float(filled), source_stamp)


def _seconds(stamp_ns: int) -> str:
    return f"{stamp_ns / NANOSECONDS:.3f}"


SELECTION_POLICIES = ("first", "random", "most_typical", "sticky")


class SampleSelector:
    """Which of the N sampled reactions of a window a robot face should show.

    - first: always sample 0. Each sample row is its own continuous trajectory across
      windows (the generator keeps per-sample state), so this never jumps.
    - random: a uniformly drawn sample per window (seeded): varied, may jump at windows.
    - most_typical: the sample closest (mean squared distance over the window) to the
      mean of the N samples: the safest, least idiosyncratic reaction.
    - sticky: the sample whose first frame continues the last shown frame most smoothly
      (most_typical for the first window): varied yet without visible jumps.
    """

    def __init__(self, policy: str = "first", seed: int = 0):
        if policy not in SELECTION_POLICIES:
            raise ValueError(
                f"selection policy must be one of {', '.join(SELECTION_POLICIES)}; got {policy!r}"
            )
        self.policy = policy
        self.rng = np.random.default_rng(seed)
        self.previous: np.ndarray | None = None  # last frame shown (D,)

    def __call__(self, windows: np.ndarray) -> int:
        """windows: (N, w, D) -> index of the sample to show."""
        windows = np.asarray(windows, dtype=np.float64)
        if self.policy == "first":
            chosen = 0
        elif self.policy == "random":
            chosen = int(self.rng.integers(len(windows)))
        elif self.policy == "most_typical" or self.previous is None:
            distance = ((windows - windows.mean(axis=0)) ** 2).mean(axis=(1, 2))
            chosen = int(np.argmin(distance))
        else:
            chosen = int(np.argmin(((windows[:, 0] - self.previous) ** 2).sum(axis=1)))
        self.previous = windows[chosen, -1]
        return chosen

    def reset(self) -> None:
        self.previous = None
