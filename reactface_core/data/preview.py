"""A picture of what the synthetic world does: one speaker clip and its appropriate reactions.

`plot_clip(root, speaker_path, out_png)` draws, over time, the speaker's scripted emotion
segments and speech (shaded), the speaker's key coefficients (jaw, smile, brows, frown,
head pitch) and, for each appropriate listener reaction of that clip (labelled by policy
and lag), the same key channels. It reads only the files `reactface synth` wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reactface_core.data import react
from reactface_core.face.models import get_face_model

EMOTION_COLOURS = {
    "neutral": "#dddddd",
    "happy": "#ffd27f",
    "sad": "#9ecae1",
    "surprised": "#c7a4e0",
    "concerned": "#f4a582",
}
KEY_CHANNELS = {  # panel -> coefficient names averaged into one curve
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "brows up": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "frown / concern": ("mouthFrownLeft", "mouthFrownRight", "browDownLeft", "browDownRight"),
    "eyes wide": ("eyeWideLeft", "eyeWideRight"),
    "head pitch (rad, + = nod down)": ("headPitch",),
}


def key_curves(coefficients: np.ndarray) -> dict[str, np.ndarray]:
    """The plotted key channels of (T, 58) arkit58 coefficients."""
    model = get_face_model("arkit58")
    return {
        panel: coefficients[:, [model.index(n) for n in names]].mean(axis=1)
        for panel, names in KEY_CHANNELS.items()
    }


def find_record(root: Path, speaker_path: str) -> dict:
    with (root / "world_clips.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            if record["speaker_path"] == speaker_path:
                return record
    raise ValueError(f"speaker clip {speaker_path!r} is not in {root / 'world_clips.jsonl'}")


def plot_clip(root: str | Path, speaker_path: str, out: str | Path) -> Path:
    """Write a PNG preview of one speaker clip of a generated world; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    root, out = Path(root), Path(out)
    record = find_record(root, speaker_path)
    base = react.split_root(root, record["split"])
    spk = react.load_coefficients(react.modality_path(base, "coefficients", speaker_path), 58)
    reactions = [
        (
            entry,
            react.load_coefficients(react.modality_path(base, "coefficients", entry["path"]), 58),
        )
        for entry in record["listeners"]
    ]
    seconds = np.arange(len(spk)) / react.FPS
    model = get_face_model("arkit58")

    panels = ["speaker", *KEY_CHANNELS]
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 2.0 * len(panels)), sharex=True)
    for axis in axes:
        for segment in record["script"]["segments"]:
            axis.axvspan(
                segment["start"] / react.FPS,
                segment["end"] / react.FPS,
                color=EMOTION_COLOURS[segment["emotion"]],
                alpha=0.35,
                lw=0,
            )
    top = axes[0]
    for start, end in record["script"]["utterances"]:
        top.axvspan(start, end, ymin=0.92, ymax=1.0, color="k", alpha=0.5, lw=0)
    for name in ("jawOpen", "mouthSmileLeft", "browInnerUp", "mouthFrownLeft"):
        top.plot(seconds, spk[:, model.index(name)], lw=1, label=name)
    top.set_title(f"speaker {speaker_path} ({record['split']}): speech bars on top")
    top.legend(loc="upper left", fontsize=7, ncol=4)
    fig.legend(
        handles=[Patch(color=c, alpha=0.5, label=e) for e, c in EMOTION_COLOURS.items()],
        loc="upper right",
        ncol=5,
        fontsize=8,
        title="speaker emotion",
        title_fontsize=8,
    )
    for stress in record["script"]["stress_frames"]:
        top.axvline(stress / react.FPS, color="k", lw=0.3, alpha=0.4)

    speaker_keys = key_curves(spk)
    for axis, panel in zip(axes[1:], KEY_CHANNELS, strict=True):
        axis.plot(seconds, speaker_keys[panel], color="k", lw=1.6, alpha=0.6, label="speaker")
        for entry, reaction in reactions:
            label = f"{entry['policy']} (lag {entry['lag_s'] * 1000:.0f} ms)"
            axis.plot(seconds, key_curves(reaction)[panel], lw=0.9, label=label)
        axis.set_ylabel(panel, fontsize=8)
    axes[1].legend(loc="upper left", fontsize=7, ncol=4)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return out
