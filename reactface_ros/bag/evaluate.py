"""REACT metrics of reactions recorded from the nodes against a bag's references.

`reactface bag evaluate OUT.mcap --reference IN.mcap`: OUT holds the `ReactionWindow`s the
reaction node published while IN was replayed (`reactface bag record`); IN holds the
speaker frames and the known listener reactions (`reactface bag from-synth` /
`from-react`). The windows are put back on IN's frame grid by their header stamps, so a
window whose stamp is not a frame of IN is reported, never silently shifted.

Reported: windows received vs expected (one per w frames), stamp alignment, frames
covered, latency (when OUT also recorded the camera topic: arrival of a window's last
frame -> arrival of the window), and FRCorr, FRDist (appropriate reactions, or the real
listener alone), FRDiv (S-MSE), FRVar, FRSyn (against the speaker's own face when known).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_core import contract
from reactface_ros.bag.interaction import (
    APPROPRIATE_TOPIC,
    INPUT_TOPICS,
    LISTENER_TOPIC,
    SPEAKER_TOPIC,
)
from reactface_ros.bag.store import BagError, read_messages
from reactface_ros.convert import message_to_coefficients, message_to_window, stamp_to_ns

REACTION_TOPIC = contract.absolute(contract.REACTION_TOPIC)
STAMP_TOLERANCE_NS = 1_000_000  # 1 ms: a window stamp this close to a frame stamp matches it


@dataclass
class Reference:
    frame_stamps: np.ndarray  # (T,) ns, the speaker's camera frames
    face_model: str | None
    speaker: np.ndarray | None  # (T, D)
    listener: np.ndarray | None  # (T, D)
    appropriate: np.ndarray | None  # (K, T, D)


def load_reference(path: str | Path) -> Reference:
    stamps, speaker, listener, appropriate = [], {}, {}, {}
    face_model = None
    for topic, _, msg in read_messages(
        path, [*INPUT_TOPICS, SPEAKER_TOPIC, LISTENER_TOPIC, APPROPRIATE_TOPIC]
    ):
        if topic in INPUT_TOPICS:
            if "image" in topic:
                stamps.append(stamp_to_ns(msg.header.stamp))
        elif topic == APPROPRIATE_TOPIC:
            window = message_to_window(msg)
            face_model = window.face_model.name
            for k, stamp in enumerate(window.frame_stamps()):
                appropriate[int(stamp)] = window.coefficients[:, k]
        else:
            row, model = message_to_coefficients(msg)
            face_model = model.name
            (speaker if topic == SPEAKER_TOPIC else listener)[stamp_to_ns(msg.header.stamp)] = row
    if not stamps:
        raise BagError(f"reference bag {path} has no camera frames on {INPUT_TOPICS[0]}")
    frame_stamps = np.array(sorted(stamps), dtype=np.int64)
    return Reference(
        frame_stamps,
        face_model,
        _on_grid(speaker, frame_stamps),
        _on_grid(listener, frame_stamps),
        None if not appropriate else np.moveaxis(_on_grid(appropriate, frame_stamps), 0, 1),
    )


def _on_grid(values: dict[int, np.ndarray], stamps: np.ndarray) -> np.ndarray | None:
    """Rows keyed by stamp -> array over the frame grid (None unless every frame has one)."""
    if not values:
        return None
    rows = [values.get(int(s)) for s in stamps]
    if any(r is None for r in rows):
        missing = sum(r is None for r in rows)
        raise BagError(f"reference reactions miss {missing} of {len(stamps)} frames")
    return np.stack(rows).astype(np.float32)


@dataclass
class Recorded:
    windows: list  # convert.Window, in stamp order
    arrivals: np.ndarray  # (windows,) log time ns of each window
    frame_arrivals: dict[int, int]  # camera frame stamp -> log time ns (if recorded)


def load_recorded(path: str | Path, topic: str = REACTION_TOPIC) -> Recorded:
    windows, arrivals, frames = [], [], {}
    for name, log_time, msg in read_messages(path, [topic, *INPUT_TOPICS]):
        if name == topic:
            windows.append(message_to_window(msg))
            arrivals.append(log_time)
        elif "image" in name:
            frames[stamp_to_ns(msg.header.stamp)] = log_time
    if not windows:
        raise BagError(f"{path} has no ReactionWindow messages on {topic}")
    order = np.argsort([w.stamp_ns for w in windows], kind="stable")
    return Recorded([windows[i] for i in order], np.asarray(arrivals)[order], frames)


@dataclass
class OnGrid:
    """Recorded windows put back on the speaker's frame grid."""

    reactions: np.ndarray  # (N, T, D), NaN on frames no window covers
    covered: np.ndarray  # (T,) bool
    window_frames: int  # w
    misaligned: int  # windows whose stamp is no speaker frame
    duplicates: int  # windows covering frames another window covered already
    latencies_ms: list[float]  # last frame arrival -> window arrival (when recorded)


def reactions_on_grid(recorded: Recorded, frame_stamps: np.ndarray) -> OnGrid:
    """Place every window at the frame its stamp names (within STAMP_TOLERANCE_NS)."""
    first = recorded.windows[0]
    samples, w, dim = first.coefficients.shape
    total = len(frame_stamps)
    reactions = np.full((samples, total, dim), np.nan, np.float32)
    misaligned, duplicates, latencies = 0, 0, []
    for window, arrival in zip(recorded.windows, recorded.arrivals, strict=True):
        index = int(np.searchsorted(frame_stamps, window.stamp_ns - STAMP_TOLERANCE_NS))
        if index >= total or abs(frame_stamps[index] - window.stamp_ns) > STAMP_TOLERANCE_NS:
            misaligned += 1
            continue
        if window.coefficients.shape != (samples, w, dim):
            raise BagError(
                f"recorded windows change shape ({first.coefficients.shape} then "
                f"{window.coefficients.shape}): were two reaction nodes publishing?"
            )
        span = slice(index, min(index + w, total))
        if not np.isnan(reactions[:, span]).all():
            duplicates += 1
        reactions[:, span] = window.coefficients[:, : span.stop - span.start]
        last_frame = recorded.frame_arrivals.get(int(frame_stamps[span.stop - 1]))
        if last_frame is not None:
            latencies.append((arrival - last_frame) / 1e6)
    covered = ~np.isnan(reactions[0, :, 0])
    return OnGrid(reactions, covered, w, misaligned, duplicates, latencies)


def evaluate_bags(
    recorded_path: str | Path, reference_path: str | Path, topic: str = REACTION_TOPIC
) -> dict:
    """Everything `reactface bag evaluate` reports, as a dict."""
    reference = load_reference(reference_path)  # first: a missing reference is named first
    return evaluate_recording(load_recorded(recorded_path, topic), reference)


def evaluate_recording(recorded: Recorded, reference: Reference) -> dict:
    """`evaluate_bags` on bags already read."""
    first = recorded.windows[0]
    if reference.face_model is not None and reference.face_model != first.face_model.name:
        raise BagError(
            f"recorded reactions are {first.face_model.name}, the reference is {reference.face_model}"
        )
    grid = reactions_on_grid(recorded, reference.frame_stamps)
    total = len(reference.frame_stamps)
    report = {
        "windows": len(recorded.windows),
        "windows_expected": total // grid.window_frames,
        "windows_misaligned": grid.misaligned,
        "windows_duplicated": grid.duplicates,
        "window_frames": grid.window_frames,
        "samples": grid.reactions.shape[0],
        "frames": total,
        "frames_covered": int(grid.covered.sum()),
        "stamps_match_frames": grid.misaligned == 0,
        "face_model": first.face_model.name,
    }
    if grid.latencies_ms:
        report["latency_ms_p50"] = float(np.percentile(grid.latencies_ms, 50))
        report["latency_ms_p95"] = float(np.percentile(grid.latencies_ms, 95))
    report.update(_metrics(grid.reactions, grid.covered, reference))
    return report


def _metrics(predictions: np.ndarray, covered: np.ndarray, reference: Reference) -> dict:
    """REACT metrics on the longest covered run of frames from the start of coverage."""
    from reactface_core.metrics import frcorr, frdist, frdiv, frsyn, frvar

    if not covered.any():
        return {}
    start = int(np.argmax(covered))
    stop = start + int(np.argmin(covered[start:])) if not covered[start:].all() else len(covered)
    span = slice(start, stop)
    generated = predictions[None, :, span]  # (1 speaker, N, T', D)
    out = {"metric_frames": stop - start, "FRDiv": frdiv(generated), "FRVar": frvar(generated)}
    references = (
        reference.appropriate
        if reference.appropriate is not None
        else (reference.listener[None] if reference.listener is not None else None)
    )
    if references is not None:
        listeners = references[:, span]
        appropriate = [list(range(len(listeners)))]
        out["appropriate_reactions"] = len(listeners)
        out["FRCorr"] = frcorr(generated, listeners, appropriate)
        out["FRDist"] = frdist(generated, listeners, appropriate)
        # the same distance for a face that does not react at all (all coefficients 0)
        out["FRDist_neutral"] = frdist(np.zeros_like(generated[:, :1]), listeners, appropriate)
    if reference.speaker is not None and stop - start >= 3:
        from reactface_core.metrics.synchrony import default_max_lag

        max_lag = min(default_max_lag(), stop - start - 2)  # +-2 s, or what a short run allows
        out["FRSyn"] = frsyn(generated, reference.speaker[None, span], max_lag)
    return out


def format_report(report: dict) -> str:
    lines = [
        f"windows          {report['windows']} received, {report['windows_expected']} expected "
        f"(one per w={report['window_frames']} of {report['frames']} frames)",
        f"stamps           {'every window starts on a speaker frame' if report['stamps_match_frames'] else str(report['windows_misaligned']) + ' windows off the frame grid'}",
        f"frames covered   {report['frames_covered']} / {report['frames']}",
    ]
    if "latency_ms_p50" in report:
        lines.append(
            f"latency          p50 {report['latency_ms_p50']:.1f} ms, p95 {report['latency_ms_p95']:.1f} ms "
            "(last frame of a window -> its ReactionWindow, as recorded)"
        )
    metrics = [m for m in ("FRCorr", "FRDist", "FRDiv", "FRVar", "FRSyn") if m in report]
    if metrics:
        lines.append(
            f"metrics          over {report['metric_frames']} frames, {report['samples']} samples"
            + (
                f", {report['appropriate_reactions']} appropriate reactions"
                if "appropriate_reactions" in report
                else ""
            )
        )
        for name in metrics:
            neutral = report.get(f"{name}_neutral")
            reference = "" if neutral is None else f"   (a face that does not react: {neutral:.4f})"
            lines.append(f"  {name:<8} {report[name]:.4f}{reference}")
    return "\n".join(lines)
