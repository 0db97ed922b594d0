"""A figure to look at: a few speakers, their generated samples and their appropriate reactions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS


def most_active_dims(sequences: np.ndarray, count: int, smoothing: int = 12) -> list[int]:
    """`count` informative coefficient columns of `sequences` (..., T, D) to plot.

    Columns are ranked by the variance of their moving average over `smoothing` frames, so
    slow expressive movements rank above blinks; a column correlated (|r| > 0.9) with one
    already chosen (the Left/Right twin of a blendshape) is skipped.
    """
    flat = sequences.reshape(-1, *sequences.shape[-2:]).astype(np.float64)
    window = max(1, min(smoothing, flat.shape[1]))
    kernel = np.ones(window) / window
    smooth = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), 1, flat)
    smooth = smooth.reshape(-1, smooth.shape[-1])
    variance = smooth.var(axis=0)
    chosen: list[int] = []
    for column in np.argsort(-variance, kind="stable"):
        if variance[column] <= 0 or len(chosen) == count:
            break
        twins = [abs(np.corrcoef(smooth[:, column], smooth[:, c])[0, 1]) > 0.9 for c in chosen]
        if not any(twins):
            chosen.append(int(column))
    return sorted(chosen)


def plot_reactions(
    path: Path,
    predictions: np.ndarray,
    speakers: np.ndarray,
    listeners: np.ndarray,
    appropriate_lists: Sequence[np.ndarray],
    speaker_indices: Sequence[int],
    dim_names: Sequence[str],
    fps: float = FPS,
    dims: Sequence[int] | None = None,
    title: str = "",
) -> list[int]:
    """Save a grid (speakers x coefficients) of curves over time; return the columns shown.

    Each panel shows the generated samples (colour), the appropriate real reactions (grey,
    drawn over them) and the speaker's own coefficient (dashed black) for one speaker and
    one column; columns default to `most_active_dims` of the appropriate reactions shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [int(k) for k in speaker_indices]
    if dims is None:
        dims = most_active_dims(
            np.concatenate([listeners[appropriate_lists[k]] for k in chosen]), 3
        )
    time = np.arange(predictions.shape[2]) / fps
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(
        len(chosen), len(dims), figsize=(4.2 * len(dims), 2.4 * len(chosen)), squeeze=False
    )
    for row, k in enumerate(chosen):
        for col, d in enumerate(dims):
            ax = axes[row, col]
            for a in appropriate_lists[k]:
                ax.plot(time, listeners[a, :, d], color="0.65", linewidth=0.8)
            for n in range(predictions.shape[1]):
                ax.plot(
                    time, predictions[k, n, :, d], color=colours(n % 10), linewidth=0.9, alpha=0.8
                )
            ax.plot(time, speakers[k, :, d], color="black", linestyle="--", linewidth=0.9)
            ax.set_title(f"speaker {k} · {dim_names[d]}", fontsize=9)
            ax.tick_params(labelsize=7)
            if row == len(chosen) - 1:
                ax.set_xlabel("time (s)", fontsize=8)
    handles = [
        matplotlib.lines.Line2D([], [], color="0.3", label="appropriate real reactions"),
        matplotlib.lines.Line2D([], [], color=colours(0), label="generated samples"),
        matplotlib.lines.Line2D([], [], color="black", linestyle="--", label="speaker"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.05, 1, 0.96 if title else 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return list(dims)


def plot_front(
    path: Path, tables: dict[str, dict[str, dict[str, float]]], title: str = ""
) -> list[str]:
    """FRCorr against FRDiv (S-MSE) of every model in `tables` (label -> evaluate's results),
    with the baselines and references on the same axes; returns the labels of the points.
    Models are numbered at their points (highest FRCorr first) and named in a key; with
    several models, a linear close-up of the box around them sits under the key.

    A baseline evaluated in several tables is drawn once (the first); a model name that
    appears in several tables is prefixed with its table's name. The dashed line joins
    the competitors no other beats on both axes (the Pareto front: more diverse and more
    appropriate is better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reactface_core.metrics.baselines import BASELINES, REFERENCES

    def kind(method: str) -> str:
        return (
            "reference" if method in REFERENCES else "baseline" if method in BASELINES else "model"
        )

    models = [m for results in tables.values() for m in results if kind(m) == "model"]
    points: dict[str, tuple[float, float, str]] = {}  # label -> (FRDiv, FRCorr, kind)
    for table, results in tables.items():
        for method, row in results.items():
            # a model name met in two tables is told apart by its table's name
            label = f"{table}: {method}" if models.count(method) > 1 else method
            if label not in points:
                points[label] = (row["FRDiv"], row["FRCorr"], kind(method))
    style = {
        "model": dict(marker="o", color="tab:blue"),
        "baseline": dict(marker="s", color="0.45"),
        "reference": dict(marker="*", color="tab:red", s=120),
    }
    figure, ax = plt.subplots(figsize=(9.5, 5.2))
    # a symmetric-log x axis keeps the many zero or tiny diversities apart from Random's
    diversities = [x for x, _, _ in points.values() if x > 0]
    if diversities:
        ax.set_xscale("symlog", linthresh=min(diversities), linscale=0.5)
    # Models crowd together: each is numbered at its point and named in a key beside the
    # axes; the baselines and references, far apart, are named at their points.
    ranked = sorted(points.items(), key=lambda item: -item[1][1])
    models_ranked = [label for label, (_, _, kind) in ranked if kind == "model"]
    numbers = {label: str(n + 1) for n, label in enumerate(models_ranked)}
    placed: list[tuple[float, float]] = []  # label anchors so far, to stack close ones
    for label, (x, y, kind) in ranked:
        ax.scatter([x], [y], **style[kind], zorder=3)
        if kind == "model":
            text, offset = numbers[label], (4, 3)
        else:
            close = sum(
                abs(x - px) <= 0.1 * max(abs(x), 1e-9) and abs(y - py) < 0.03 for px, py in placed
            )
            placed.append((x, y))
            text, offset = label, (5, 4 - 9 * close)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=offset, fontsize=7)
    key = [f"{numbers[label]:>2}  {label}" for label in models_ranked]
    if key:
        ax.text(1.02, 1.0, "models\n" + "\n".join(key), transform=ax.transAxes, va="top",
                fontsize=7, family="monospace")  # fmt: skip
    front = _pareto_front([(x, y) for x, y, kind in points.values() if kind != "reference"])
    if len(front) > 1:
        ax.plot(*zip(*front, strict=True), linestyle="--", color="tab:blue", alpha=0.5)
    if len(numbers) > 1:
        _zoom_on_models(figure, ax, points, numbers, style, front)
    ax.set_xlabel("FRDiv (S-MSE) → more diverse")
    ax.set_ylabel("FRCorr → more appropriate")
    ax.grid(alpha=0.3)
    handles = [
        matplotlib.lines.Line2D([], [], linestyle="", marker="o", color="tab:blue", label="model"),
        matplotlib.lines.Line2D([], [], linestyle="", marker="s", color="0.45", label="baseline"),
        matplotlib.lines.Line2D(
            [], [], linestyle="", marker="*", color="tab:red", label="real / oracle reactions"
        ),
    ]
    ax.legend(handles=handles, fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    figure.subplots_adjust(left=0.08, right=0.66, top=0.93, bottom=0.1)
    temporary = Path(path).with_name(Path(path).stem + ".tmp.png")
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(path)
    return list(points)


def _pareto_front(competitors: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(FRDiv, FRCorr) points no other beats on both axes, most diverse first."""
    front, best = [], -np.inf
    for x, y in sorted(competitors, key=lambda p: (-p[0], -p[1])):
        if y > best:  # more appropriate than every more diverse one
            front.append((x, y))
            best = y
    return front


def _zoom_on_models(figure, ax, points, numbers, style, front) -> None:
    """A linear close-up of the box around the models, under the key: on the overview
    they sit within a few hundredths of FRCorr of each other and their numbers overlap."""
    import matplotlib

    xs = [points[label][0] for label in numbers]
    ys = [points[label][1] for label in numbers]
    pad_x, pad_y = 0.15 * (max(xs) - min(xs)) + 1e-5, 0.15 * (max(ys) - min(ys)) + 1e-3
    box = (min(xs) - pad_x, max(xs) + pad_x, min(ys) - pad_y, max(ys) + pad_y)
    ax.add_patch(matplotlib.patches.Rectangle(
        (box[0], box[2]), box[1] - box[0], box[3] - box[2], fill=False, color="0.3", lw=0.8
    ))  # fmt: skip
    zoom = figure.add_axes((0.72, 0.1, 0.26, 0.42))
    for label, (x, y, kind) in points.items():
        if box[0] <= x <= box[1] and box[2] <= y <= box[3]:
            zoom.scatter([x], [y], **{**style[kind], "s": 18}, zorder=3)
            text = numbers.get(label, label)
            zoom.annotate(text, (x, y), textcoords="offset points", xytext=(3, 2), fontsize=7)
    if len(front) > 1:
        zoom.plot(*zip(*front, strict=True), linestyle="--", color="tab:blue", alpha=0.5)
    zoom.set_xlim(box[0], box[1])
    zoom.set_ylim(box[2], box[3])
    zoom.tick_params(labelsize=6)
    zoom.set_title("the models, closer", fontsize=7)
    zoom.grid(alpha=0.3)


def plot_events(
    path: Path,
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate_lists: Sequence[np.ndarray],
    speaker_indices: Sequence[int],
    face_model,
    fps: float = FPS,
    title: str = "",
) -> None:
    """Save rasters of where blinks and nods start (`motion.event_onsets`): per speaker and
    kind, one row per appropriate real reaction (grey) and per generated sample (colour),
    so rates and timing against the set can be seen at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reactface_core.metrics.motion import EVENTS, event_onsets

    chosen = [int(k) for k in speaker_indices]
    colours = plt.get_cmap("tab10")
    figure, axes = plt.subplots(
        len(chosen), len(EVENTS), figsize=(6.5 * len(EVENTS), 2.6 * len(chosen)), squeeze=False
    )
    for row, k in enumerate(chosen):
        real = event_onsets(listeners[appropriate_lists[k]], face_model)  # (A, T, E)
        generated = event_onsets(predictions[k], face_model)  # (N, T, E)
        for col, kind in enumerate(EVENTS):
            ax = axes[row, col]
            rows = [(onsets[:, col], "0.45") for onsets in real]
            rows += [(onsets[:, col], colours(n % 10)) for n, onsets in enumerate(generated)]
            for line, (onsets, colour) in enumerate(rows):
                ax.vlines(np.flatnonzero(onsets) / fps, line + 0.1, line + 0.9, color=colour)
            ax.axhline(len(real), color="black", linewidth=0.6)
            ax.set_ylim(0, len(rows))
            ax.set_xlim(0, predictions.shape[2] / fps)
            ax.set_yticks([len(real) / 2, len(real) + len(generated) / 2],
                          ["appropriate", "generated"], fontsize=7)  # fmt: skip
            ax.set_title(f"speaker {k} · {kind} (starts)", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
            if row == len(chosen) - 1:
                ax.set_xlabel("time (s)", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.96 if title else 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
