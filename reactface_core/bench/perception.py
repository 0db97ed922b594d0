"""Perception speed: face landmarks per 256x256 frame, audio features per second of audio.

Landmarks: MediaPipe face mesh on a moving 256x256 face (scikit-image's astronaut, shifted
and rotated a little every frame) in tracking ("video") and detect-every-frame ("image")
mode, plus `visual_features`; then, at webcam sizes, what the reaction node's far-face
search (`FaceLandmarker(far_faces=True)`) costs beside the mesh alone, on frames without a
face (the detector runs on each) and on the same face a few metres away. Audio: offline
`audio_features` (log-mel and prosody) against `StreamingAudioFeatures` fed 20 ms and
100 ms chunks, on the same speech-like noise.
Targets: <= 15 ms per frame, <= 5 ms per second of audio.
"""

from __future__ import annotations

import time

import numpy as np

LANDMARK_TARGET_MS = 15.0
AUDIO_TARGET_MS = 5.0


def add_arguments(parser) -> None:
    parser.add_argument(
        "--frames", type=int, default=200, help="video frames to time per mode (default: 200)"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="seconds of audio to time (default: 60)"
    )


def run(args) -> int:
    from reactface_core.utils import seed_everything

    rng = seed_everything(args.seed)
    frames = moving_face(args.frames)
    from reactface_core.bench import machine_load

    print(machine_load())
    print(f"face landmarks, {len(frames)} frames of 256x256 (ms per frame):")
    tracked, ms_video = time_landmarks(frames, "video")
    _, ms_image = time_landmarks(frames, "image")
    ms_features = best_of(3, lambda: _visual_features(tracked)) / len(frames) * 1e3
    found = np.isfinite(tracked).all(axis=(1, 2)).mean()
    print(f"  tracking (video mode)    {ms_video:8.3f}  faces found {found:.0%}")
    print(f"  detect every frame       {ms_image:8.3f}  ({ms_image / ms_video:.2f}x tracking)")
    print(f"  visual_features          {ms_features:8.3f}")
    total_frame = ms_video + ms_features
    print(f"  tracking + features      {total_frame:8.3f}  target <= {LANDMARK_TARGET_MS} ms")
    print("far-face search at webcam sizes (ms per frame; mesh alone / with the search):")
    for width, height in ((640, 480), (1280, 720)):
        scenes = {"no face": [np.full((height, width, 3), 110, np.uint8)] * len(frames)}
        scenes["far face"] = far_away(frames, width, height)
        for scene, shown in scenes.items():
            alone, ms_alone = time_landmarks(shown, "video")
            searched, ms_far = time_landmarks(shown, "video", far_faces=True)
            print(
                f"  {width}x{height} {scene:8s} {ms_alone:8.3f} / {ms_far:8.3f} "
                f"({ms_far / ms_alone:.2f}x), faces found "
                f"{np.isfinite(alone).all(axis=(1, 2)).mean():.0%} / "
                f"{np.isfinite(searched).all(axis=(1, 2)).mean():.0%}"
            )

    from reactface_core.perception.audio import (
        SAMPLE_RATE,
        StreamingAudioFeatures,
        audio_features,
    )

    samples = (0.1 * rng.normal(size=int(args.seconds * SAMPLE_RATE))).astype(np.float32)
    print(f"audio features, {args.seconds:g} s of 16 kHz audio (ms per second of audio):")
    ms_offline = best_of(3, lambda: audio_features(samples)) / args.seconds * 1e3
    print(f"  offline audio_features   {ms_offline:8.3f}")
    worst = ms_offline
    for chunk_ms in (20, 100):
        chunk = SAMPLE_RATE * chunk_ms // 1000

        def stream(chunk=chunk):
            streamer = StreamingAudioFeatures()
            for start in range(0, len(samples), chunk):
                streamer(samples[start : start + chunk])

        ms = best_of(3, stream) / args.seconds * 1e3
        worst = max(worst, ms)
        print(f"  streaming, {chunk_ms:3d} ms chunks {ms:8.3f}  ({ms / ms_offline:.2f}x offline)")
    print(f"  target <= {AUDIO_TARGET_MS} ms per second of audio")
    met = total_frame <= LANDMARK_TARGET_MS and worst <= AUDIO_TARGET_MS
    print("targets met" if met else "TARGETS MISSED")
    return 0


def moving_face(count: int) -> list[np.ndarray]:
    """A face that drifts and tilts, so tracking has work to do (RGB uint8 256x256)."""
    import cv2
    import skimage.data

    face = cv2.resize(skimage.data.astronaut(), (256, 256))
    frames = []
    for k in range(count):
        phase = 2 * np.pi * k / 50
        matrix = cv2.getRotationMatrix2D((128, 110), 8 * np.sin(phase), 1.0)
        matrix[:, 2] += (10 * np.sin(phase / 2), 5 * np.cos(phase))
        frames.append(cv2.warpAffine(face, matrix, (256, 256), borderMode=cv2.BORDER_REFLECT))
    return frames


def far_away(frames: list[np.ndarray], width: int, height: int) -> list[np.ndarray]:
    """`moving_face` frames shrunk onto a gray width x height frame, the face 1/13 of the
    longer side: a person a few metres from the camera, beyond the mesh's own detector."""
    import cv2

    side = round(256 * max(width, height) / 13 / 60)  # the astronaut's face: ~60 of 256 px
    out = []
    for frame in frames:
        canvas = np.full((height, width, 3), 110, np.uint8)
        y, x = (height - side) // 2, (width - side) // 2
        canvas[y : y + side, x : x + side] = cv2.resize(frame, (side, side))
        out.append(canvas)
    return out


def time_landmarks(
    frames: list[np.ndarray], mode: str, far_faces: bool = False
) -> tuple[np.ndarray, float]:
    from reactface_core.perception.face_tracker import FaceLandmarker

    with FaceLandmarker(mode=mode, far_faces=far_faces) as landmarker:
        for frame in frames[:5]:  # warm-up: graph start and first detection
            landmarker(frame)
        landmarker.reset()
        start = time.perf_counter()
        raw = landmarker.track(frames)
        elapsed = time.perf_counter() - start
    return raw, elapsed / len(frames) * 1e3


def _visual_features(raw: np.ndarray) -> None:
    from reactface_core.perception.landmarks import visual_features

    for frame in raw:  # per frame, as the online node calls it
        visual_features(frame[None])


def best_of(repeats: int, work) -> float:
    """Fastest of `repeats` runs in seconds (the least disturbed by other processes)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)
