"""The stage of one speaker clip: camera, framing, lighting, and what happens in front of it.

A robot meets people at every distance, angle, position and light. Per clip (from the
clip's own random stream) the stage draws, within the ranges of `WorldConfig`:

- the camera: output resolution, vertical field of view, and the speaker's distance so
  that the face (landmark box height) fills a given fraction of the frame height; a
  camera angle (the speaker's body turned/tilted away from the optical axis);
- the speaker's body sway: a slow drift of the whole body side to side, up and down and
  toward/away from the camera (people lean and shift while they talk), scaled down where
  the frame has no room for it, and a slow sideways lean (the head rolls with it);
- the face's position: anywhere such that the whole face stays in frame over the clip
  (chosen after the head motion and the sway are known);
- no-face spans: the speaker turns away (the body yaws 110-150 degrees and back), steps
  sideways out of the frame and back, or a hand-like shape passes in front of the face,
  close to the camera;
- spans with a second, smaller face (a bystander further back) beside the speaker's;
- lighting (key and fill direction, strength and colour temperature, ambient), the
  backdrop, and the camera's imperfections (sensor noise, blur, JPEG quality).

Everything that turns or moves the speaker's body is a `face.scene.Placement`, applied
after the head pose: the face coefficients never hold it. `observe` is the fast training
path (rig vertices -> placement -> pinhole projection -> visibility -> detector noise);
`video.py` renders the very same stage, so MediaPipe on the video sees what `observe`
simulates. A frame is "no face" when the face turns more than `FACING_LIMIT` from the
camera, when the hand covers more than `COVER_LIMIT` of the landmarks, or when more than
`OUT_LIMIT` of them leave the image; the face is there but not found when it is smaller
than the detector can find or follow (`tracked`, `DetectorNoise.min_face`). The limits
were measured with MediaPipe on renders of this world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reactface_core.contract import FPS
from reactface_core.data.world import camera as pinhole
from reactface_core.data.world import signals
from reactface_core.data.world.config import WorldConfig
from reactface_core.face.identity import IdentitySpace
from reactface_core.face.mesh import FACE_OVAL
from reactface_core.face.rig import head_rotation
from reactface_core.face.scene import Appearance, Camera, Placement

# Where MediaPipe's tracking (video mode) loses a face, measured on renders of this world
# (`reactface bench world`): turning, found at 87 degrees, lost at 93; a hand coming in,
# found with 0.62 of the landmarks behind it, lost at 0.63 going out; stepping out of the
# frame, found with up to 0.6-0.7 of the landmarks outside the image (its landmarks run
# past the edge), lost at 0.7-0.8.
FACING_LIMIT = np.radians(90.0)  # the face turned further than this from the camera
COVER_LIMIT = 0.625  # fraction of landmarks behind the hand
OUT_LIMIT = 0.7  # fraction of landmarks outside the image at which the face is lost
MARGIN = 0.02  # of the frame, kept free around the face by the framing
TURN_DEGREES = (110.0, 150.0)
TURN_SECONDS = (0.35, 0.6)  # to turn away (and back)
STEP_SECONDS = (1.0, 2.0)  # to step out of the frame (and back): a face crosses the edge in ~0.3 s
NO_FACE_SECONDS = (1.0, 3.0)  # held away / covered
HAND_DEPTH = (0.35, 0.55)  # fraction of the way from the face to the camera
SECOND_FACE_SECONDS = (3.0, 8.0)
SECOND_FACE_SCALE = (0.35, 0.7)  # its face height / the speaker's
SLIDE_SECONDS = 0.6  # a bystander steps in from the frame edge


@dataclass(frozen=True)
class Lighting:
    """Lights in the camera frame (`face.render.RenderConfig` fields)."""

    key_light: tuple[float, float, float]
    key_strength: float
    key_color: tuple[float, float, float]
    fill_light: tuple[float, float, float]
    fill_strength: float
    fill_color: tuple[float, float, float]
    ambient: float
    ambient_color: tuple[float, float, float]


@dataclass(frozen=True)
class Imaging:
    """The camera's imperfections applied to every rendered frame."""

    noise_std: float  # sensor noise, 8-bit levels
    blur_sigma: float  # Gaussian blur, pixels
    jpeg_quality: int  # 0-100


@dataclass(frozen=True)
class Hand:
    """A hand-like occluder: ellipsoids (palm, four fingers, thumb) in a plane facing the
    camera, part of the way from the face to the camera; per frame its palm centre
    relative to the camera's line of sight to the face (metres; z toward the camera from
    the face) and whether it is there (`Stage.hand_centre` gives where it is)."""

    centre: np.ndarray  # (T, 3)
    present: np.ndarray  # (T,) bool
    size: float  # palm half-height, metres (the rest scales with it)
    color: tuple[float, float, float]

    def ellipsoids(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres relative to the palm centre (E, 3) and semi-axes (E, 3), metres."""
        s = self.size
        centres = [(0.0, 0.0, 0.0)]
        axes = [(0.85 * s, s, 0.3 * s)]
        for k, (x, length) in enumerate(((-0.62, 0.9), (-0.2, 1.0), (0.22, 0.97), (0.6, 0.8))):
            angle = (k - 1.5) * 0.12  # fingers spread a little
            reach = 0.7 * s + length * s  # finger bases overlap the palm's rounded top
            centres.append((x * s + np.sin(angle) * reach, np.cos(angle) * reach, 0.0))
            axes.append((0.23 * s, length * s, 0.2 * s))
        centres.append((1.05 * s, -0.2 * s, 0.0))  # thumb
        axes.append((0.22 * s, 0.6 * s, 0.2 * s))
        return np.array(centres), np.array(axes)


@dataclass(frozen=True)
class SecondFace:
    """A bystander: another person's face, further back, beside the speaker."""

    identity: np.ndarray  # (K,) identity coordinates
    extent: tuple[float, float]  # neutral landmark box width, height (metres)
    relative_size: float  # its face height in the image / the speaker's
    appearance: Appearance
    coefficients: np.ndarray  # (T, 58) arkit58 (idle: blinks, gaze, drift, smiles)
    placement: Placement  # (T frames); far away (hidden) outside its span
    present: np.ndarray  # (T,) bool
    distance: float  # metres from the camera plane


@dataclass(frozen=True)
class Stage:
    """Everything about one clip's camera and scene (JSON summary: `summary`)."""

    width: int
    height: int
    fov_degrees: float
    face_height: float  # target fraction of the frame height
    distance: float  # metres, camera to the face centre
    view: tuple[float, float]  # body yaw, pitch (rad) off the optical axis
    shift: tuple[float, float]  # face position, metres in the camera-world frame
    sway: np.ndarray  # (T, 3) the body's slow drift around it, metres (x right, y up, z near)
    lean: np.ndarray  # (T,) the body's slow sideways lean, radians (roll)
    turn: np.ndarray  # (T,) body yaw added by turning away
    step: np.ndarray  # (T,) metres the body has stepped sideways (+ = image right), out of frame
    hand: Hand | None
    second: SecondFace | None
    lighting: Lighting
    imaging: Imaging
    props_seed: int  # the rendered backdrop and clothes

    @property
    def camera(self) -> Camera:
        return Camera(distance=self.distance, fov_degrees=self.fov_degrees, target=(0.0, 0.0, 0.0))

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return self.height / 2 / np.tan(np.radians(self.fov_degrees) / 2)

    def hand_centre(self) -> np.ndarray:
        """(T, 3) the hand's palm centre in the camera-world frame (on the line of sight to
        the face's centre, so it covers the face wherever the face is in the image)."""
        centre = np.array(self.hand.centre, np.float64)
        face = self.placement().apply(np.zeros((len(centre), 1, 3), np.float32))[:, 0]
        along = 1.0 - centre[:, 2] / self.distance  # the sight line shrinks toward the camera
        centre[:, :2] += face[:, :2] * along[:, None]
        return centre

    def placement(self) -> Placement:
        """The speaker's body: camera angle, turning away, position (T frames)."""
        frames = len(self.turn)
        angles = np.zeros((frames, 3))
        angles[:, 0] = self.view[1]
        angles[:, 1] = self.view[0] + self.turn
        angles[:, 2] = self.lean
        shift = np.array(self.sway, np.float64)
        shift[:, :2] += self.shift
        shift[:, 0] += self.step
        return Placement(head_rotation(angles), shift)

    def summary(self) -> dict:
        turned = np.abs(self.turn) > FACING_LIMIT
        return {
            "image_size": [self.width, self.height],
            "fov_degrees": round(self.fov_degrees, 2),
            "face_height": round(self.face_height, 4),
            "distance_m": round(self.distance, 4),
            "view_degrees": [round(float(np.degrees(a)), 2) for a in self.view],
            "sway_std_m": [round(float(s), 4) for s in self.sway.std(axis=0)],
            "lean_std_degrees": round(float(np.degrees(self.lean.std())), 2),
            "turned_away_frames": _spans(turned),
            "stepped_out_frames": _spans(self.step != 0.0),
            "hand_frames": _spans(self.hand.present) if self.hand is not None else [],
            "second_face_frames": _spans(self.second.present) if self.second is not None else [],
            "imaging": {
                "noise_std": round(self.imaging.noise_std, 2),
                "blur_sigma": round(self.imaging.blur_sigma, 2),
                "jpeg_quality": self.imaging.jpeg_quality,
            },
        }


def _spans(mask: np.ndarray) -> list[list[int]]:
    """[[start, end), ...] frame spans where mask is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def pick(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A value uniform in [lo, hi] (lo == hi fixes it; no draw is skipped either way)."""
    low, high = bounds
    return float(low + (high - low) * rng.random())


# ---- sampling ------------------------------------------------------------------------------


def sample_stage(
    rng: np.random.Generator,
    config: WorldConfig,
    frames: int,
    face_size: float,
    skin: tuple[float, float, float],
    identities: IdentitySpace,
) -> Stage:
    """Draw a clip's stage. `face_size`: the speaker's landmark box height in metres;
    `skin`: the speaker's skin (the hand's colour). The face's position is framed
    later (`frame_face`), once the head motion is known; until then it is centred."""
    resolutions = config.resolutions
    width, height = resolutions[int(rng.integers(len(resolutions)))]
    fov = pick(rng, config.fov_degrees)
    face_height = pick(rng, config.face_height)
    distance = face_size / (2.0 * face_height * np.tan(np.radians(fov) / 2))
    view = (
        np.radians(pick(rng, config.camera_yaw_degrees)),
        np.radians(pick(rng, config.camera_pitch_degrees)),
    )

    # Event spans: no-face (turn away or hand) and second face, disjoint, 1 s apart.
    busy = np.zeros(frames, bool)
    turn = np.zeros(frames)
    step = np.zeros(frames)
    hand_centre = np.zeros((frames, 3))
    hand_present = np.zeros(frames, bool)
    no_face_events = _event_count(rng, config.no_face_fraction, frames, NO_FACE_SECONDS, 0.8)
    for _ in range(no_face_events):
        kind = int(rng.integers(3))  # turn away, step out, a hand
        hold = pick(rng, NO_FACE_SECONDS) * FPS
        ramp = pick(rng, STEP_SECONDS if kind == 1 else TURN_SECONDS) * FPS
        start = _free_start(rng, busy, int(hold + 2 * ramp))
        if start is None:
            continue
        length = int(hold + 2 * ramp)
        busy[max(0, start - FPS) : start + length + FPS] = True
        if kind == 0:
            angle = np.radians(pick(rng, TURN_DEGREES)) * rng.choice([-1.0, 1.0])
            turn += angle * _trapezoid(frames, start, ramp, hold)
        elif kind == 1:
            # A frame width plus two faces: out of the frame from anywhere in it.
            frame_width = 2.0 * distance * np.tan(np.radians(fov) / 2) * width / height
            side = rng.choice([-1.0, 1.0])
            step += side * (frame_width + 2.0 * face_size) * _trapezoid(frames, start, ramp, hold)
        else:
            _hand_pass(rng, hand_centre, hand_present, start, ramp, hold, fov, distance)
    hand = None
    if hand_present.any():
        size = face_size * pick(rng, (0.33, 0.4))  # a palm half-height ~ a third of the face
        hand = Hand(
            hand_centre,
            hand_present,
            size,
            tuple(float(c) for c in np.clip(np.asarray(skin) * pick(rng, (0.92, 1.05)), 0, 1)),
        )

    second_spans = []
    for _ in range(
        _event_count(rng, config.second_face_fraction, frames, SECOND_FACE_SECONDS, 1.0)
    ):
        length = int(pick(rng, SECOND_FACE_SECONDS) * FPS)
        start = _free_start(rng, busy, length)
        if start is not None:
            busy[max(0, start - FPS) : start + length + FPS] = True
            second_spans.append((start, length))
    second = None
    if second_spans:
        second = _second_face(rng, config, frames, second_spans, identities)

    return Stage(
        width=int(width),
        height=int(height),
        fov_degrees=fov,
        face_height=face_height,
        distance=float(distance),
        view=(float(view[0]), float(view[1])),
        shift=(0.0, 0.0),
        turn=turn,
        step=step,
        hand=hand,
        second=second,
        lighting=sample_lighting(rng),
        imaging=Imaging(
            noise_std=pick(rng, (0.5, 6.0)),
            blur_sigma=pick(rng, (0.0, 1.2)) * height / 480,
            jpeg_quality=int(rng.integers(35, 96)),
        ),
        props_seed=int(rng.integers(2**31)),
        sway=_sway(rng, config.body_sway, frames, distance),
        lean=signals.drift(rng, frames, SWAY_SECONDS * FPS, pick(rng, config.body_lean))[:, 0],
    )


# Side to side : up and down : toward the camera, and the slowest sway, in seconds.
SWAY_AXES = np.array([1.0, 0.5, 1.5])
SWAY_SECONDS = 2.5
NEAREST_SWAY = 0.1  # of the distance: the depth sway's std at most (a 10 % larger face)


def _sway(rng, bounds: tuple[float, float], frames: int, distance: float) -> np.ndarray:
    """(frames, 3) the body's slow drift, metres: `bounds` draws its side-to-side std."""
    std = pick(rng, bounds) * SWAY_AXES
    std[2] = min(std[2], NEAREST_SWAY * distance)
    unit = signals.drift(rng, frames, SWAY_SECONDS * FPS, 1.0, 3)
    return unit * std


def _event_count(
    rng, fraction: float, frames: int, seconds: tuple[float, float], extra: float
) -> int:
    """How many events of about `seconds` (+ `extra` s of transitions) cover `fraction`."""
    mean = fraction * frames / FPS / (np.mean(seconds) + extra)
    return int(rng.poisson(mean)) if mean > 0 else 0


def _free_start(rng, busy: np.ndarray, length: int) -> int | None:
    """A random start frame where `length` frames are free and inside the clip (or None)."""
    frames = len(busy)
    if length + 2 * FPS >= frames:
        return None
    taken = np.convolve(busy, np.ones(length, int), "valid")[: frames - length - FPS] > 0
    candidates = np.flatnonzero(~taken[FPS // 2 :]) + FPS // 2
    return int(rng.choice(candidates)) if len(candidates) else None


def _trapezoid(frames: int, start: float, ramp: float, hold: float) -> np.ndarray:
    """0 -> 1 (raised cosine over `ramp`), held `hold` frames, -> 0 again."""
    up = signals.raised_ramp(frames, start, ramp)
    down = signals.raised_ramp(frames, start + ramp + hold, ramp)
    return up - down


def _hand_pass(rng, centre, present, start, ramp, hold, fov, distance) -> None:
    """The hand rises from below the frame to cover the face, holds, and goes back down."""
    frames = len(present)
    depth = pick(rng, HAND_DEPTH)
    z = depth * distance  # toward the camera from the face plane
    half_view = (distance - z) * np.tan(np.radians(fov) / 2)  # frame half-height at the hand
    over = _trapezoid(frames, start, ramp, hold)
    centre_y = -1.8 * half_view * (1.0 - over)  # from well below the frame to the face
    wobble = signals.drift(rng, frames, FPS, 0.01 * distance, 2)
    span = slice(int(start), min(frames, int(np.ceil(start + 2 * ramp + hold))))
    present[span] = True
    centre[span, 0] = wobble[span, 0]
    centre[span, 1] = centre_y[span] + wobble[span, 1] - 0.01
    centre[span, 2] = z


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Key light from anywhere in front (up to 70 degrees aside, -15..60 up), a weaker fill
    from the other side, warm-to-cool colour temperatures, dim to bright ambient."""
    azimuth = np.radians(pick(rng, (-70.0, 70.0)))
    elevation = np.radians(pick(rng, (-15.0, 60.0)))
    key = (
        np.sin(azimuth) * np.cos(elevation),
        np.sin(elevation),
        np.cos(azimuth) * np.cos(elevation),
    )
    fill_azimuth = -np.sign(azimuth + 1e-9) * np.radians(pick(rng, (20.0, 80.0)))
    fill = (np.sin(fill_azimuth), np.radians(pick(rng, (-10.0, 20.0))), np.cos(fill_azimuth))
    return Lighting(
        key_light=tuple(float(c) for c in key),
        key_strength=pick(rng, (0.45, 0.95)),
        key_color=colour_temperature(pick(rng, (2700.0, 7500.0))),
        fill_light=tuple(float(c) for c in fill),
        fill_strength=pick(rng, (0.08, 0.4)),
        fill_color=colour_temperature(pick(rng, (3500.0, 9000.0))),
        ambient=pick(rng, (0.15, 0.42)),
        ambient_color=colour_temperature(pick(rng, (4000.0, 8000.0))),
    )


def colour_temperature(kelvin: float) -> tuple[float, float, float]:
    """RGB gain of a light of `kelvin` (a smooth fit of the Planckian locus, 6500 K ~ white)."""
    t = np.clip(kelvin, 1500.0, 12000.0) / 6500.0
    red = np.clip(1.0 + 0.45 * (1.0 - t), 0.75, 1.3)
    green = np.clip(1.0 + 0.1 * (1.0 - t), 0.85, 1.1)
    blue = np.clip(1.0 - 0.6 * (1.0 - t), 0.45, 1.25)
    rgb = np.array([red, green, blue])
    return tuple(float(c) for c in rgb / rgb.max())


def _second_face(rng, config, frames: int, spans, identities: IdentitySpace) -> SecondFace:
    """A bystander with its own identity, look and idle face (placed by `frame_face`)."""
    from reactface_core.data.world import speaker

    present = np.zeros(frames, bool)
    for start, length in spans:
        present[start : start + length] = True
    face = np.zeros((frames, 58))
    speaker.add_blinks(rng, face[:, :52], pick(rng, (0.2, 0.45)))
    speaker.add_gaze(rng, face[:, :52], spread=0.15)
    smiles = signals.poisson_events(rng, frames, 0.08 / FPS, refractory=3 * FPS)
    face[:, :52] += np.outer(
        signals.pulses(frames, smiles, 2.0 * FPS, pick(rng, (0.3, 0.7))), speaker.SMILE
    )
    np.clip(face[:, :52], 0.0, 1.0, out=face[:, :52])
    face[:, 52:55] = signals.drift(rng, frames, 1.5 * FPS, 0.05, 3) + [
        pick(rng, (-0.1, 0.1)),
        pick(rng, (-0.5, 0.5)),
        0.0,
    ]
    identity = identities.sample(rng, config.identity_scale)
    return SecondFace(
        identity=identity,
        extent=landmark_extent(identities.offsets(identity)),
        relative_size=pick(rng, SECOND_FACE_SCALE),
        appearance=speaker.sample_appearance(rng),
        coefficients=face.astype(np.float32),
        placement=Placement(np.repeat(np.eye(3)[None], frames, 0), np.zeros((frames, 3))),
        present=present,
        distance=0.0,  # set by `frame_face`
    )


def landmark_extent(identity_offsets: np.ndarray) -> tuple[float, float]:
    """Width and height (metres) of a person's neutral frontal landmark box."""
    from reactface_core.face.mesh import canonical_mesh

    vertices = canonical_mesh().vertices + identity_offsets
    size = vertices.max(axis=0) - vertices.min(axis=0)
    return float(size[0]), float(size[1])


# ---- framing and observation ------------------------------------------------------------------


def frame_face(
    rng: np.random.Generator,
    stage: Stage,
    vertices: np.ndarray,
    position: tuple[float, float] | None,
) -> Stage:
    """Place the face: `vertices` (T, 468, 3) posed face-frame vertices of the clip. The face
    goes where its landmark box over the clip (the frames it faces the camera) stays
    `MARGIN` inside the frame; `position` (u, v) in [0, 1] picks where in that range
    (None: uniform). Then the bystander goes beside it where it fits (or is dropped)."""
    from dataclasses import replace

    u, v = (pick(rng, (0.0, 1.0)), pick(rng, (0.0, 1.0))) if position is None else position
    # Framed where the speaker stands: the steps out of the frame do not count.
    centred = replace(stage, shift=(0.0, 0.0), step=np.zeros_like(stage.step))
    still = _landmark_box(replace(centred, sway=np.zeros_like(stage.sway)), vertices)
    if still is None:
        return replace(stage, second=None)
    # Where the face's box, swaying, does not fit in the frame, scale the sway down to fit.
    swaying = _landmark_box(centred, vertices)
    room = 1.0 - 2.0 * MARGIN - (still[1] - still[0])
    extra = (swaying[1] - swaying[0]) - (still[1] - still[0])
    fit = float(np.clip(np.min(np.maximum(room, 0.0) / np.maximum(extra, 1e-9)), 0.0, 1.0))
    if fit < 1.0:
        stage = replace(stage, sway=stage.sway * fit)
        centred = replace(centred, sway=stage.sway)
        swaying = _landmark_box(centred, vertices)
    low, high = swaying
    # Shift range in image fractions that keeps [low, high] within [MARGIN, 1 - MARGIN].
    lo_shift = MARGIN - low
    hi_shift = 1.0 - MARGIN - high
    fractions = np.array([u, v])
    target = np.where(
        hi_shift >= lo_shift,
        lo_shift + fractions * (hi_shift - lo_shift),
        0.5 * (lo_shift + hi_shift),
    )
    metres = target * np.array([stage.width, stage.height]) * stage.distance / stage.focal
    shift = (float(metres[0]), float(-metres[1]))  # image y grows downwards
    framed = replace(stage, shift=shift)
    if stage.second is not None:
        box = (low + target, high + target)
        framed = replace(framed, second=_place_second(rng, framed, box))
    return framed


def _landmark_box(centred: Stage, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high) image fractions of the face's landmark box over the frames it faces the
    camera, with some slack for perspective; None when it never does."""
    outline = centred.placement().apply(vertices[:, OUTLINE])
    seen = _facing(centred, outline) < FACING_LIMIT
    image = pinhole.project(outline, centred.camera, centred.width, centred.height)[seen]
    if len(image) == 0:
        return None
    low = image[..., :2].min(axis=(0, 1)) - PERSPECTIVE_SLACK
    high = image[..., :2].max(axis=(0, 1)) + PERSPECTIVE_SLACK
    return low, high


# The landmark box's extremes: the face oval and the nose tip (all that can stick out).
OUTLINE = np.array([*FACE_OVAL, 1])
PERSPECTIVE_SLACK = 0.01  # of the frame: a moved face is seen a little obliquely


def _place_second(rng, stage: Stage, box) -> SecondFace | None:
    """Put the bystander beside the speaker's face box (image fractions), smaller and
    further back, sliding in from its frame edge; None when there is no room."""
    from dataclasses import replace

    second = stage.second
    face_h = stage.face_height * second.relative_size  # fraction of the frame height
    size = second.extent
    distance = size[1] / (2.0 * face_h * np.tan(np.radians(stage.fov_degrees) / 2))
    half_w = 0.5 * face_h * stage.height * size[0] / size[1] / stage.width * 1.15  # width fraction
    half_h = 0.5 * face_h * 1.15
    left_room = box[0][0] - MARGIN
    right_room = 1.0 - MARGIN - box[1][0]
    sides = [
        s for s, room in (("left", left_room), ("right", right_room)) if room > 2 * half_w + 0.02
    ]
    if not sides or 2 * half_h > 1.0 - 2 * MARGIN:
        return None
    side = sides[int(rng.integers(len(sides)))]
    if side == "left":
        x = pick(rng, (MARGIN + half_w, box[0][0] - half_w - 0.01))
        outside = -half_w - 0.02
    else:
        x = pick(rng, (box[1][0] + half_w + 0.01, 1.0 - MARGIN - half_w))
        outside = 1.0 + half_w + 0.02
    y = pick(rng, (MARGIN + half_h, 1.0 - MARGIN - half_h))
    frames = len(second.present)
    # Slide in from the frame edge at the start of each span and out at its end.
    inside = np.zeros(frames)
    for start, end in _spans(second.present):
        inside += _trapezoid(
            frames, start, SLIDE_SECONDS * FPS, max(0.0, end - start - 2 * SLIDE_SECONDS * FPS)
        )
    image_x = outside + (x - outside) * np.clip(inside, 0.0, 1.0)
    depth_scale = distance / stage.focal
    shift = np.zeros((frames, 3))
    shift[:, 0] = (image_x - 0.5) * stage.width * depth_scale
    shift[:, 1] = -(y - 0.5) * stage.height * depth_scale
    shift[:, 2] = stage.distance - distance  # further from the camera than the speaker
    placement = Placement(np.repeat(np.eye(3)[None], frames, 0), shift)
    return replace(second, placement=placement, distance=float(distance))


def _facing(stage: Stage, placed: np.ndarray) -> np.ndarray:
    """(T,) angle between where the face points and the direction to the camera (rad),
    from placed `OUTLINE` points (its forehead-chin and the oval's left-right axes)."""
    index = {vertex: k for k, vertex in enumerate(OUTLINE)}
    across = placed[:, index[454]] - placed[:, index[234]]  # right -> left face side (+x)
    up = placed[:, index[10]] - placed[:, index[152]]  # chin -> forehead (+y)
    normal = np.cross(across, up)  # toward the camera for a frontal face
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    to_camera = np.array([0.0, 0.0, stage.distance]) - placed[:, index[1]]  # from the nose tip
    to_camera /= np.linalg.norm(to_camera, axis=1, keepdims=True)
    return np.arccos(np.clip((normal * to_camera).sum(axis=1), -1.0, 1.0))


def hand_cover(stage: Stage, image: np.ndarray) -> np.ndarray:
    """(T,) fraction of the landmarks (T, 468, 2 image fractions) behind the hand."""
    cover = np.zeros(len(image))
    hand = stage.hand
    if hand is None:
        return cover
    centres, axes = hand.ellipsoids()
    palm = stage.hand_centre()
    for t in np.flatnonzero(hand.present):
        depth = stage.distance - palm[t, 2]  # camera to the hand plane
        scale = stage.focal / depth
        inside = np.zeros(image.shape[1], bool)
        for centre, axis in zip(centres, axes, strict=True):
            cx = 0.5 * stage.width + scale * (palm[t, 0] + centre[0])
            cy = 0.5 * stage.height - scale * (palm[t, 1] + centre[1])
            dx = (image[t, :, 0] * stage.width - cx) / (scale * axis[0])
            dy = (image[t, :, 1] * stage.height - cy) / (scale * axis[1])
            inside |= dx * dx + dy * dy <= 1.0
        cover[t] = inside.mean()
    return cover


@dataclass(frozen=True)
class Observation:
    """What the camera shows of the speaker's face, per frame."""

    landmarks: np.ndarray  # (T, 468, 3) float32 raw landmarks (contract 1), NaN rows when lost
    visible: np.ndarray  # (T,) bool: the face could be seen (no turn, hand or frame edge)
    detectable: np.ndarray  # (T,) bool: visible and large enough for the detector
    face_pixels: np.ndarray  # (T,) landmark box height in pixels
    clean: np.ndarray  # (T, 468, 3) the exact projection (no detector noise, never NaN)


def observe(
    rng: np.random.Generator, stage: Stage, vertices: np.ndarray, noise: pinhole.DetectorNoise
) -> Observation:
    """The fast path: posed face-frame vertices (T, 468, 3) -> what a detector reports."""
    placed = stage.placement().apply(vertices)
    clean = pinhole.project(placed, stage.camera, stage.width, stage.height)
    facing = _facing(stage, placed[:, OUTLINE]) < FACING_LIMIT
    outside = ((clean[..., :2] < 0.0) | (clean[..., :2] > 1.0)).any(axis=2).mean(axis=1)
    visible = facing & (hand_cover(stage, clean) < COVER_LIMIT) & (outside < OUT_LIMIT)
    face_pixels = (clean[..., 1].max(axis=1) - clean[..., 1].min(axis=1)) * stage.height
    landmarks = pinhole.detector_noise(rng, clean, noise, stage.width, stage.height, face_pixels)
    detectable = tracked(visible, face_pixels / max(stage.width, stage.height), noise)
    landmarks[~detectable] = np.nan
    return Observation(landmarks, visible, detectable, face_pixels, clean.astype(np.float32))


def tracked(visible: np.ndarray, size: np.ndarray, noise: pinhole.DetectorNoise) -> np.ndarray:
    """(T,) bool: frames where a tracking detector has the face. `size`: box height over
    the image's longer side. A face is found when visible and its typical size (the
    median over a second: a nod does not make a face detectable) is at least
    `noise.min_face` (first, and again after every frame it could not be seen), then
    followed while visible and at least `noise.min_tracked_face`."""
    from scipy.ndimage import median_filter

    typical = median_filter(size, size=FPS, mode="nearest")
    found = np.zeros(len(visible), bool)
    following = False
    for t in range(len(visible)):
        big_enough = (
            size[t] >= noise.min_tracked_face if following else typical[t] >= noise.min_face
        )
        following = bool(visible[t] and big_enough)
        found[t] = following
    return found
