"""Interaction bags from a REACT-layout dataset: a real REACT clip or a synthetic-world clip.

One dataset item (speaker -> listener, in REACT item order) becomes an `Interaction`:
the speaker's video frames (`Video_files`; for the synthetic world, which stores no video
by default, the clip rendered on its own stage as `reactface synth --render-video` would;
otherwise the speaker's own face coefficients rendered by the face renderer), the
speaker's audio at its file's own rate and channels (the reaction node resamples, as it
would for a real microphone), the speaker's coefficients, the real listener's reaction and
every reaction the appropriateness matrix marks appropriate (the real listener's first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reactface_core.data.world.synth import GENERATOR
from reactface_ros.bag.interaction import Interaction

RENDER_CHUNK = 64  # frames rendered at a time (bounds memory for long clips)


def clip_interaction(
    root: str | Path,
    split: str,
    clip: str,
    seconds: float | None = None,
    render_missing_video: bool = False,
    render_backend: str = "auto",
    render_size: tuple[int, int] = (256, 256),
) -> tuple[Interaction, str]:
    """The `Interaction` of dataset item `clip` (an item index, or a speaker clip path:
    its first item). Returns it with a one-line description. A clip of `reactface synth`
    is rendered on its own stage (camera, lighting, events); other coefficients are rendered
    at `render_size` (width, height) pixels."""
    import soundfile

    from reactface_core.data import react
    from reactface_core.face.models import get_face_model

    root = Path(root)
    info = react.read_info(root)
    model = get_face_model(info.face_model)
    pairs = react.read_pairs(root, split)
    dataset_items = react.items(pairs, info.directions)
    index = _item_index(clip, dataset_items, root, split)
    item = dataset_items[index]
    base = react.split_root(root, split)

    def coefficients(clip_path: str) -> np.ndarray:
        path = react.modality_path(base, "coefficients", clip_path)
        return react.load_coefficients(path, model.dim)

    speaker = coefficients(item.speaker)
    listener = coefficients(item.listener)
    matrix = react.load_appropriateness(root, split, len(pairs), info.directions)
    others = [] if matrix is None else [j for j in np.flatnonzero(matrix[index]) if j != index]
    appropriate_clips = [item.listener] + [dataset_items[j].listener for j in others]

    audio_path = react.modality_path(base, "audio", item.speaker)
    if not audio_path.exists():
        raise FileNotFoundError(f"audio of clip {item.speaker} not found: {audio_path}")
    audio, rate = soundfile.read(str(audio_path), dtype="float32", always_2d=True)

    try:
        source = react.video_source(base, item.speaker)
    except FileNotFoundError:
        if not render_missing_video:
            raise
        source = None
    frames_available = len(speaker) if source is None else None
    if source is not None:
        video = react.load_video(source)
        frames_available = len(video)

    count = min(frames_available, len(speaker), len(listener), int(len(audio) * 25 // rate))
    if seconds is not None:
        count = min(count, max(1, int(round(seconds * 25))))
    appropriate = np.stack([coefficients(c)[:count] for c in appropriate_clips])
    if appropriate.shape[1] < count:
        raise ValueError(f"appropriate reactions of {item.speaker} are shorter than {count} frames")
    if source is None and info.generator == GENERATOR:
        frames = _stage(root, item.speaker, count, render_backend)
        how = "rendered on the clip's own stage"
    elif source is None:
        frames = _rendered(speaker[:count], info.face_model, render_backend, render_size)
        how = f"rendered at {render_size[0]}x{render_size[1]} from {model.name} coefficients"
    else:
        frames = video[:count]
        how = f"video {Path(source).name}"
    interaction = Interaction(
        frames=frames,
        num_frames=count,
        audio=audio[: int(round(count * rate / 25))],
        sample_rate=int(rate),
        face_model=model.name,
        speaker=speaker[:count],
        listener=listener[:count],
        appropriate=appropriate,
    )
    description = (
        f"{split} item {index}: speaker {item.speaker} -> listener {item.listener}, "
        f"{count} frames ({count / 25:.2f} s, {how}), audio {rate} Hz x {audio.shape[1]}, "
        f"{len(appropriate)} appropriate reactions"
    )
    return interaction, description


def _item_index(clip: str, dataset_items, root: Path, split: str) -> int:
    if str(clip).isdigit():
        index = int(clip)
        if not 0 <= index < len(dataset_items):
            raise ValueError(
                f"clip index {index} outside 0..{len(dataset_items) - 1} of {root}/{split}.csv"
            )
        return index
    for index, item in enumerate(dataset_items):
        if item.speaker == clip:
            return index
    raise ValueError(
        f"no item of {root}/{split}.csv has speaker clip {clip!r} "
        f"(e.g. {dataset_items[0].speaker!r}, or give an item index)"
    )


def _stage(root: Path, speaker_path: str, count: int, backend: str):
    """A synthetic clip's frames as its world renders them (camera, lighting, events)."""
    from reactface_core.data.world.synth import stored_clip_frames

    for start, frames in stored_clip_frames(root, speaker_path, backend):
        yield from frames[: max(0, count - start)]
        if start + len(frames) >= count:
            return


def _rendered(coefficients: np.ndarray, face_model: str, backend: str, size: tuple[int, int]):
    """Render lazily, RENDER_CHUNK frames at a time."""
    from reactface_core.face.render import RenderConfig, make_renderer

    renderer = make_renderer(face_model, backend, RenderConfig(width=size[0], height=size[1]))
    try:
        for start in range(0, len(coefficients), RENDER_CHUNK):
            yield from renderer.render(coefficients[start : start + RENDER_CHUNK])
    finally:
        renderer.close()
