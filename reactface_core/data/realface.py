"""Real-face test clips the project makes itself, from portraits shipped inside packages.

No recording of a real person ships with reactface, and none may be downloaded, so the
test clips are built from the two frontal portraits installed with the project's
dependencies: matplotlib's `grace_hopper.jpg` and scikit-image's `astronaut.png`. Each clip
animates one portrait at webcam framing (the face about 30 % of the frame width) with
smooth head motion (in-plane rotation, scale, translation) over a textured background,
and has spans where no face is visible (the face slides out of frame, or a hand-like
shape covers it) and spans with a second, smaller face (the other portrait). The audio is
espeak-ng speech (`data.espeak`) placed phrase by phrase with pauses. `far_clips` puts the
speaker a few metres away instead (the face 7 % of the frame width).

`write_clip` writes `NAME.mp4` (H.264 with the speech as an AAC track), `NAME.wav` (16 kHz
mono) and `NAME.json`, the ground truth per frame: `faces` is 1 or 2 where that many whole
faces are visible, 0 where none is, and -1 for frames in between (a face partly out of
frame or partly covered), which no score counts; `speaker_box` is the speaker's face box
in pixels (x0, y0, x1, y1) where visible. Everything is deterministic from the seed.

    python -m reactface_core.data.realface --out DIR [--seconds 12] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from reactface_core.contract import AUDIO_RATE, FPS

FACE_WIDTH = 0.30  # of the frame width: webcam framing
FAR_FACE_WIDTH = 0.07  # a person a few metres away: beyond the face mesh's own detector
SECOND_FACE = 0.55  # the second face's size relative to the speaker's
PHRASES = (
    "so I was thinking about what you said yesterday",
    "and honestly it made a lot of sense to me",
    "we could try it first with a small group",
    "but I am not sure everyone will agree",
    "the weather was lovely this morning",
    "let me tell you what happened at the station",
    "that is exactly what I meant",
    "do you think it will work",
)


@dataclass(frozen=True)
class ClipSpec:
    """One test clip: which portrait speaks, the frame size, the length and the seed."""

    name: str
    portrait: str  # "hopper" or "astronaut"
    width: int
    height: int
    seconds: float = 12.0
    seed: int = 0
    face_width: float = FACE_WIDTH  # the speaker's face box over the frame width

    @property
    def frames(self) -> int:
        return int(round(self.seconds * FPS))


def default_clips(seconds: float = 12.0, seed: int = 0) -> list[ClipSpec]:
    """Each portrait at 640x480 and at 1280x720."""
    return [
        ClipSpec(f"{portrait}_{w}x{h}", portrait, w, h, seconds, seed + k)
        for k, (portrait, (w, h)) in enumerate(
            [
                ("hopper", (640, 480)),
                ("astronaut", (1280, 720)),
                ("astronaut", (640, 480)),
                ("hopper", (1280, 720)),
            ]
        )
    ]


def far_clips(seconds: float = 12.0, seed: int = 0) -> list[ClipSpec]:
    """Each portrait a few metres away (face FAR_FACE_WIDTH of the frame width), at 1280x720
    and 640x480: faces the mesh's own detector misses (`FaceLandmarker(far_faces=...)`)."""
    return [
        ClipSpec(f"{portrait}_far_{w}x{h}", portrait, w, h, seconds, seed + 4 + k, FAR_FACE_WIDTH)
        for k, (portrait, (w, h)) in enumerate([("hopper", (1280, 720)), ("astronaut", (640, 480))])
    ]


@lru_cache(maxsize=1)
def portraits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (RGB image, face box x0, y0, x1, y1 in pixels, from MediaPipe's mesh)."""
    from reactface_core.face.mesh import sample_portraits
    from reactface_core.perception.face_tracker import FaceLandmarker

    out = {}
    with FaceLandmarker(mode="image") as landmarker:
        for source, image in sample_portraits():
            name = "hopper" if "hopper" in source else "astronaut"
            points = landmarker(image)[:, :2] * [image.shape[1], image.shape[0]]
            out[name] = (image, np.r_[points.min(axis=0), points.max(axis=0)])
    return out


def _smooth_path(rng: np.random.Generator, frames: int, period: int, low, high) -> np.ndarray:
    """(frames, len(low)) smooth random values in [low, high], a new target every period."""
    low, high = np.atleast_1d(low), np.atleast_1d(high)
    knots = rng.uniform(low, high, (frames // period + 3, len(low)))
    time = np.arange(frames) / period
    return np.stack([np.interp(time, np.arange(len(knots)), k) for k in knots.T], axis=1)


@dataclass
class _Motion:
    centre: np.ndarray  # (T, 2) speaker face centre, pixels
    scale: np.ndarray  # (T,) portrait pixels -> frame pixels
    angle: np.ndarray  # (T,) degrees, counter-clockwise
    cover: np.ndarray  # (T,) 0..1: how far the hand has moved over the face
    second: np.ndarray  # (T,) bool: the second face is in the frame


def _plan(spec: ClipSpec, portrait_face: float, rng: np.random.Generator) -> _Motion:
    """Head motion and the spans: out of frame, covered, a second face (one each)."""
    t = spec.frames
    wobble = 1 + 0.1 * _smooth_path(rng, t, 40, -1, 1)[:, 0]
    scale = spec.face_width * spec.width / portrait_face * wobble
    centre = np.array([spec.width / 2, spec.height * 0.45]) + _smooth_path(
        rng,
        t,
        30,
        [-0.12 * spec.width, -0.06 * spec.height],
        [0.12 * spec.width, 0.06 * spec.height],
    )
    angle = _smooth_path(rng, t, 25, -10, 10)[:, 0]
    cover, second = np.zeros(t), np.zeros(t, bool)
    thirds = t // 3
    # out of frame: slide right and out over 0.6 s, stay 1.2 s, come back
    out_start = int(rng.integers(thirds // 4, thirds // 2))
    slide, stay = int(0.6 * FPS), int(1.2 * FPS)
    ramp = np.r_[np.linspace(0, 1, slide), np.ones(stay), np.linspace(1, 0, slide)]
    span = slice(out_start, out_start + len(ramp))
    centre[span, 0] += ramp[: t - out_start] * 1.2 * spec.width
    # covered by a hand: 0.4 s in, 1.2 s over the face, 0.4 s away
    cover_start = thirds + int(rng.integers(0, thirds // 2))
    move = int(0.4 * FPS)
    hand = np.r_[np.linspace(0, 1, move), np.ones(stay), np.linspace(1, 0, move)]
    cover[cover_start : cover_start + len(hand)] = hand[: t - cover_start]
    # a second face for 2 s in the last third
    second_start = 2 * thirds + int(rng.integers(0, thirds // 3))
    second[second_start : second_start + 2 * FPS] = True
    return _Motion(centre, scale, angle, cover, second)


def _affine(box: np.ndarray, centre, scale: float, angle: float) -> np.ndarray:
    """2x3 map from portrait pixels to frame pixels: face box centre -> centre."""
    import cv2

    face_centre = (box[:2] + box[2:]) / 2
    matrix = cv2.getRotationMatrix2D(tuple(face_centre), angle, scale)
    matrix[:, 2] += np.asarray(centre) - face_centre
    return matrix


def _paste(frame, image, matrix, feather: float) -> np.ndarray:
    """Composite a warped image onto the frame with a soft-edged elliptical mask."""
    import cv2

    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.float32)
    cv2.ellipse(
        mask, (width // 2, height // 2), (int(width * 0.48), int(height * 0.49)), 0, 0, 360, 1.0, -1
    )
    mask = cv2.GaussianBlur(mask, (0, 0), feather * width)
    size = (frame.shape[1], frame.shape[0])
    warped = cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(mask, matrix, size)[..., None]
    return (frame * (1 - alpha) + warped * alpha).astype(np.uint8)


def _head(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The portrait cut to its head (the face box grown by half), and the box in the cut."""
    size = box[2:] - box[:2]
    low = np.maximum(box[:2] - 0.5 * size, 0).astype(int)
    high = np.minimum(box[2:] + 0.5 * size, image.shape[1::-1]).astype(int)
    return image[low[1] : high[1], low[0] : high[0]], box - np.r_[low, low]


def _box_in_frame(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    return np.r_[mapped.min(axis=0), mapped.max(axis=0)]


def _background(spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """A room-like backdrop: a vertical colour gradient, soft blobs and fine noise."""
    import cv2

    top, bottom = rng.uniform(60, 200, 3), rng.uniform(30, 150, 3)
    ramp = np.linspace(0, 1, spec.height)[:, None, None]
    frame = np.broadcast_to(top * (1 - ramp) + bottom * ramp, (spec.height, spec.width, 3)).copy()
    for _ in range(6):
        centre = (int(rng.integers(0, spec.width)), int(rng.integers(0, spec.height)))
        axes = (int(rng.integers(40, spec.width // 3)), int(rng.integers(40, spec.height // 3)))
        cv2.ellipse(frame, centre, axes, 0, 0, 360, tuple(rng.uniform(40, 220, 3).tolist()), -1)
    frame = cv2.GaussianBlur(frame, (0, 0), 15)
    frame += rng.normal(0, 3, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def render_clip(spec: ClipSpec):
    """(frames (T, H, W, 3) uint8 RGB, truth dict) of one clip."""
    import cv2

    rng = np.random.default_rng([spec.seed, 12])
    faces = portraits()
    if spec.portrait not in faces:
        raise ValueError(f"unknown portrait {spec.portrait!r}; choose from {sorted(faces)}")
    image, box = faces[spec.portrait]
    other_name = next(name for name in faces if name != spec.portrait)
    other, other_box = faces[other_name]
    motion = _plan(spec, box[2] - box[0], rng)
    background = _background(spec, rng)
    skin = rng.uniform([150, 100, 80], [230, 180, 150])
    other, other_box = _head(other, other_box)  # only the head, pasted beside the speaker
    other_centre = (spec.width * 0.12, spec.height * 0.3)
    other_scale = SECOND_FACE * spec.face_width * spec.width / (other_box[2] - other_box[0])
    frames = np.empty((spec.frames, spec.height, spec.width, 3), np.uint8)
    counts, boxes = [], []
    for t in range(spec.frames):
        matrix = _affine(box, motion.centre[t], motion.scale[t], motion.angle[t])
        frame = _paste(background.copy(), image, matrix, 0.04)
        visible = 0
        if motion.second[t]:
            frame = _paste(frame, other, _affine(other_box, other_centre, other_scale, 5.0), 0.08)
            visible += 1
        face = _box_in_frame(box, matrix)
        inside = face[0] >= 0 and face[1] >= 0 and face[2] < spec.width and face[3] < spec.height
        outside = face[0] >= spec.width or face[2] < 0
        size = face[2:] - face[:2]
        if motion.cover[t] > 0:  # a hand sweeps in from below and covers the face
            top = face[3] + 0.2 * size[1] - motion.cover[t] * 1.5 * size[1]
            centre = (int((face[0] + face[2]) / 2), int(top + 0.9 * size[1]))
            axes = (int(0.75 * size[0]), int(0.9 * size[1]))
            cv2.ellipse(frame, centre, axes, 0, 0, 360, tuple(skin.tolist()), -1)
        covered = motion.cover[t] >= 1.0
        speaker_visible = inside and motion.cover[t] == 0
        if covered or outside:
            count = visible
        elif speaker_visible:
            count = visible + 1
        else:
            count = -1  # partly out of frame or partly covered: not scored
        counts.append(count)
        boxes.append(face.round(1).tolist() if speaker_visible else None)
        frames[t] = frame
    truth = {
        **asdict(spec),
        "fps": FPS,
        "frames": spec.frames,
        "second_portrait": other_name,
        "faces": counts,
        "speaker_box": boxes,
    }
    return frames, truth


def speech(spec: ClipSpec) -> np.ndarray:
    """espeak-ng phrases with pauses, (T * samples per frame,) float32 at AUDIO_RATE."""
    from reactface_core.data.espeak import Voice, speak

    rng = np.random.default_rng([spec.seed, 13])
    voice = Voice.sample(rng)
    total = spec.frames * AUDIO_RATE // FPS
    audio = np.zeros(total, np.float32)
    position = int(rng.uniform(0.2, 0.6) * AUDIO_RATE)
    while position < total:
        phrase = speak(str(rng.choice(PHRASES)), voice)
        end = min(total, position + len(phrase))
        audio[position:end] = phrase[: end - position]
        position = end + int(rng.uniform(0.3, 1.2) * AUDIO_RATE)
    return audio


def write_clip(out: str | Path, spec: ClipSpec) -> dict[str, Path]:
    """Write NAME.mp4 (with audio), NAME.wav and NAME.json into `out`; returns their paths."""
    import soundfile

    from reactface_core.perception.media import write_video

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames, truth = render_clip(spec)
    audio = speech(spec)
    paths = {kind: out / f"{spec.name}.{kind}" for kind in ("mp4", "wav", "json")}
    write_video(paths["mp4"], frames, FPS, audio, AUDIO_RATE)
    partial = out / f".{spec.name}.{os.getpid()}.partial.wav"
    soundfile.write(partial, audio, AUDIO_RATE, subtype="PCM_16")
    os.replace(partial, paths["wav"])
    partial = partial.with_suffix(".json")
    partial.write_text(json.dumps(truth) + "\n")
    os.replace(partial, paths["json"])  # last: a clip with its json is complete
    return paths


def ensure_clips(out: str | Path, specs: list[ClipSpec]) -> list[dict[str, Path]]:
    """Write the clips not already in `out` (a clip is there when its json is)."""
    from tqdm import tqdm

    out = Path(out)
    written = []
    for spec in tqdm(specs, desc="real-face clips", unit="clip", disable=len(specs) < 2):
        paths = {kind: out / f"{spec.name}.{kind}" for kind in ("mp4", "wav", "json")}
        done = paths["json"].exists() and all(
            json.loads(paths["json"].read_text()).get(key) == value
            for key, value in asdict(spec).items()
        )
        if not done:
            paths = write_clip(out, spec)
        written.append(paths)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reactface_core.data.realface",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the clips")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each clip (12)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    args = parser.parse_args(argv)
    if args.seconds < 8:
        parser.error("--seconds must be at least 8 (room for the no-face and two-face spans)")
    for paths in ensure_clips(args.out, default_clips(args.seconds, args.seed)):
        print(f"wrote {paths['mp4']} (+ .wav, .json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
