"""The parameters of a synthetic world (`WorldConfig`) and of its simulated face detector.

Kept free of heavy imports, so `reactface synth --help` can show the defaults. Ranges
(low, high) are drawn uniformly per clip, or per person for a person's own traits; a
range (v, v) fixes the value. Everything is written to the world's dataset.json
("config"), and `WorldConfig.from_dict` reads it back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from reactface_core.contract import FPS

# Common webcam and robot-camera resolutions between 320x240 and 1280x720 (4:3 and 16:9).
RESOLUTIONS = ((320, 240), (640, 360), (640, 480), (800, 600), (960, 540), (1024, 576), (1280, 720))


@dataclass(frozen=True)
class DetectorNoise:
    """How imperfect the simulated landmark detector is (pixels of the clip's image)."""

    jitter_px: float = 0.3  # independent per point and frame: floor ...
    jitter_face: float = 0.0015  # ... plus this fraction of the face height
    shake_px: float = 0.3  # whole-face shift, correlated over ~3 frames: floor ...
    shake_face: float = 0.002  # ... plus this fraction of the face height
    scale_wobble: float = 0.003  # relative size jitter per frame
    drop_rate: float = 0.003  # isolated frames without a face (large faces)
    occlusion_rate: float = 0.02  # expected short runs (4-15 frames) of lost face per second
    small_face_px: float = 40.0  # faces smaller than this (box height) are dropped more
    # MediaPipe's legacy face mesh (video mode) finds a face with its short-range detector
    # on the whole frame, then tracks it from frame to frame. Measured on renders of this
    # world (box height / the image's longer side): found at 0.14 always, at 0.11-0.13
    # in some clips only (a 320x240 face at 0.12 in some runs, not in others), never at 0.09;
    # a face moving away stayed tracked down to 0.05-0.15.
    min_face: float = 0.13  # to be found (first, and again after being lost)
    min_tracked_face: float = 0.09  # to stay tracked

    def scaled(self, factor: float) -> DetectorNoise:
        """Jitter, shake, wobble and random drops times `factor` (0: exact landmarks; the
        size limit stays, as it is what the detector can see at all)."""
        return replace(
            self,
            jitter_px=self.jitter_px * factor,
            jitter_face=self.jitter_face * factor,
            shake_px=self.shake_px * factor,
            shake_face=self.shake_face * factor,
            scale_wobble=self.scale_wobble * factor,
            drop_rate=self.drop_rate * factor,
            occlusion_rate=self.occlusion_rate * factor,
        )


Range = tuple[float, float]  # (low, high) drawn uniformly per clip; (v, v) fixes v


@dataclass(frozen=True)
class WorldConfig:
    """Every parameter of a generated world (also written to its README and dataset.json).

    Ranges are drawn per clip (per person for the person's own traits); a range (v, v)
    fixes the value."""

    clips: int = 1000
    seconds: float = 30.0
    listeners_per_speaker: int = 6
    clips_per_speaker: int = 5
    listener_pool: int = 40
    seed: int = 0
    render_video: bool = False
    # camera and framing (per clip)
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS
    fov_degrees: Range = (20.0, 70.0)  # vertical field of view
    face_height: Range = (0.12, 0.70)  # landmark box height / frame height (sets distance)
    face_position: tuple[float, float] | None = None  # (u, v) in [0, 1]; None: anywhere
    camera_yaw_degrees: Range = (-20.0, 20.0)  # the speaker's body turned off the axis
    camera_pitch_degrees: Range = (-12.0, 12.0)
    # the speaker (per person)
    head_motion: Range = (0.02, 0.06)  # std of the slow head drift, rad
    body_sway: Range = (0.0, 0.04)  # std of the slow body sway side to side, m (per clip)
    body_lean: Range = (0.0, 0.06)  # std of the slow sideways lean (roll), rad (per clip)
    identity_scale: float = 1.0  # 0: every face the canonical one
    poker_face_fraction: float = 0.25  # speakers with little visible speech motion
    # events (per clip): expected fraction of frames
    no_face_fraction: float = 0.08  # turned away or covered by a hand
    second_face_fraction: float = 0.12  # a second, smaller face in the frame
    # the room and microphone (per clip)
    snr_db: Range = (5.0, 30.0)
    mic_gain_db: Range = (-16.0, -2.0)
    rt60_seconds: Range = (0.15, 0.8)
    detector: DetectorNoise = field(default_factory=DetectorNoise)

    @property
    def frames(self) -> int:
        """Frames per clip at 25 fps, counting both ends like REACT (30 s -> 751)."""
        return int(round(self.seconds * FPS)) + 1

    @property
    def speakers(self) -> int:
        return math.ceil(self.clips / self.clips_per_speaker)

    @classmethod
    def from_dict(cls, data: dict) -> WorldConfig:
        """The config of a generated world from `dataset.json`'s "config" (extra keys such
        as "frames" are ignored; lists become tuples)."""
        known = {f.name for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key == "detector":
                value = DetectorNoise(**value)
            elif key == "resolutions":
                value = tuple(tuple(int(v) for v in pair) for pair in value)
            elif isinstance(value, list):
                value = tuple(value)
            values[key] = value
        return cls(**values)

    def check(self) -> None:
        if self.clips < 1 or self.clips_per_speaker < 1:
            raise ValueError("--clips and --clips-per-speaker must be >= 1")
        if self.speakers < 3:
            raise ValueError(
                f"{self.clips} clips at {self.clips_per_speaker} per speaker make "
                f"{self.speakers} speakers; the split by speaker needs at least 3 "
                "(raise --clips or lower --clips-per-speaker)"
            )
        if self.seconds < 2.0:
            raise ValueError(f"--seconds must be >= 2, got {self.seconds}")
        if not 1 <= self.listeners_per_speaker <= self.listener_pool:
            raise ValueError(
                f"--listeners-per-speaker must be between 1 and the listener pool "
                f"({self.listener_pool}), got {self.listeners_per_speaker}"
            )
        limits = {
            "fov_degrees": (5.0, 120.0, "--fov"),
            "face_height": (0.02, 0.9, "--face-height"),
            "camera_yaw_degrees": (-60.0, 60.0, "--camera-yaw"),
            "camera_pitch_degrees": (-45.0, 45.0, "--camera-pitch"),
            "head_motion": (0.0, 0.3, "--head-motion"),
            "body_sway": (0.0, 0.3, "--body-sway"),
            "body_lean": (0.0, 0.5, "--body-lean"),
            "snr_db": (-10.0, 80.0, "--snr"),
            "mic_gain_db": (-40.0, 20.0, "--mic-gain"),
            "rt60_seconds": (0.05, 2.0, "--rt60"),
        }
        for name, (low, high, option) in limits.items():
            value = getattr(self, name)
            if not low <= value[0] <= value[1] <= high:
                raise ValueError(
                    f"{option} must be a value or LOW:HIGH with {low:g} <= LOW <= HIGH <= "
                    f"{high:g}, got {value[0]:g}:{value[1]:g}"
                )
        if not self.resolutions or any(
            not (64 <= w <= 4096 and 64 <= h <= 4096) for w, h in self.resolutions
        ):
            raise ValueError(
                f"--resolution must be WIDTHxHEIGHT from 64 to 4096, got {self.resolutions}"
            )
        if self.face_position is not None and not all(0.0 <= p <= 1.0 for p in self.face_position):
            raise ValueError(f"--face-position must be U,V in [0, 1], got {self.face_position}")
        for name, high in FRACTION_LIMITS.items():
            if not 0.0 <= getattr(self, name) <= high:
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{option} must be in [0, {high:g}], got {getattr(self, name)}")


# Upper bounds of the fraction-like parameters (all start at 0).
FRACTION_LIMITS = {
    "identity_scale": 3.0,
    "poker_face_fraction": 1.0,
    "no_face_fraction": 0.5,
    "second_face_fraction": 0.5,
}
