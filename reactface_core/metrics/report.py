"""All metrics of one set of predictions, and the table comparing methods (text, CSV, Markdown)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reactface_core.metrics.baselines import REFERENCES
from reactface_core.metrics.correlation import frcorr
from reactface_core.metrics.diversity import frdiv, frdvs, frvar
from reactface_core.metrics.dtw import Groups, frdist
from reactface_core.metrics.sets import Appropriateness
from reactface_core.metrics.synchrony import default_max_lag, frsyn


@dataclass(frozen=True)
class Metric:
    name: str
    better: str  # "higher" or "lower"
    meaning: str

    @property
    def header(self) -> str:
        return f"{self.name} {'↑' if self.better == 'higher' else '↓'}"


METRICS = (
    Metric("FRCorr", "higher", "appropriateness: best CCC with an appropriate real reaction"),
    Metric("FRDist", "lower", "appropriateness: smallest DTW distance to an appropriate one"),
    Metric("FRDiv", "higher", "diversity between the samples of one speaker (S-MSE)"),
    Metric("FRDvs", "higher", "diversity between the reactions to different speakers"),
    Metric("FRVar", "higher", "variance over time within a reaction"),
    Metric("FRSyn", "lower", "|lag| of peak cross-correlation with the speaker (frames)"),
)


@dataclass(frozen=True)
class MetricSettings:
    """Options shared by every method in one evaluation."""

    convention: str = "ours"  # how FRCorr/FRDist/FRSyn are printed (`metrics.conventions`)
    frdist_groups: Groups | None = None
    max_lag: int = default_max_lag()
    device: str = "cpu"
    progress: bool = False


def score(
    predictions: np.ndarray,
    speakers: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    settings: MetricSettings | None = None,
) -> dict[str, float]:
    """Every metric of `predictions` (K, N, T, D), keyed by metric name."""
    s = settings or MetricSettings()
    return {
        "FRCorr": frcorr(predictions, listeners, appropriate, s.convention, s.device),
        "FRDist": frdist(
            predictions, listeners, appropriate, s.frdist_groups, s.convention, s.device, s.progress
        ),
        "FRDiv": frdiv(predictions),
        "FRDvs": frdvs(predictions),
        "FRVar": frvar(predictions),
        "FRSyn": frsyn(predictions, speakers, s.max_lag, s.device, s.convention),
    }


# Columns of the second table (`metrics.motion`): what a person watching the face sees.
MOTION = (
    Metric("motion median", "near 1", "median over moving channels of generated / set motion"),
    Metric("motion min", "near 1", "smallest motion ratio of a channel that moves in the set"),
    Metric("brows", "near 1", "median motion ratio of the brow channels"),
    Metric("smile", "near 1", "... of the smile channels (mouthSmile, cheekSquint, dimple)"),
    Metric("blinks", "near 1", "... of the eyeBlink channels"),
    Metric("jaw/mouth", "near 1", "... of the other jaw and mouth channels"),
    Metric("head rotation", "near 1", "... of head pitch, yaw and roll"),
    Metric("blinks/min", "near the set's", "eyelid closures per minute"),
    Metric("nods/min", "near the set's", "chin-down head nods per minute (one per cycle)"),
)
# Columns of the third table (`metrics.synchrony.lag_summary`): when the samples follow.
SYNCHRONY = (
    Metric("lag p25", "near GTSet's", "25th percentile of the signed peak lag (frames)"),
    Metric("lag median", "near GTSet's", "median signed peak lag (frames; > 0: follows)"),
    Metric("lag p75", "near GTSet's", "75th percentile of the signed peak lag (frames)"),
)
SET_ROW = "(appropriate set)"  # reference row of the motion table
CHANGE = "FRCorr change"  # relative FRCorr change of an ablated run against the full one


def _cell(value: float) -> str:
    if np.isnan(value):
        return "-"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.2f}"


def _header(metric: Metric) -> str:
    return metric.header if metric.better in ("higher", "lower") else metric.name


def format_table(
    results: dict[str, dict[str, float]], columns: tuple[Metric, ...] = METRICS
) -> str:
    """Aligned plain-text table: one row per method, one column per metric."""
    headers = ["method"] + [_header(metric) for metric in columns]
    rows = [
        [name] + [_cell(row.get(m.name, np.nan)) for m in columns] for name, row in results.items()
    ]
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def motion_rows(
    results: dict[str, dict[str, float]], set_rates: dict[str, float]
) -> dict[str, dict[str, float]]:
    """The motion table's rows: the appropriate set itself (ratio 1, its rates), then methods."""
    reference = {m.name: 1.0 for m in MOTION} | set_rates
    return {SET_ROW: reference, **results}


def _columns(results: dict[str, dict[str, float]]) -> list[str]:
    names = [m.name for m in METRICS + MOTION + SYNCHRONY]
    extra = [key for row in results.values() for key in row if key not in names]
    present = [name for name in names if any(name in row for row in results.values())]
    return present + list(dict.fromkeys(extra))


def write_csv(path: Path, results: dict[str, dict[str, float]]) -> None:
    """One row per method, every metric it has (missing ones as nan); written atomically."""
    columns = _columns(results)
    temporary = Path(path).with_name(Path(path).name + ".tmp")
    with open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", *columns])
        for name, row in results.items():
            writer.writerow([name] + [repr(float(row.get(c, np.nan))) for c in columns])
    temporary.replace(path)


def read_csv(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as handle:
        return {
            row.pop("method"): {key: float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        }


def _markdown_table(
    results: dict[str, dict[str, float]], columns: tuple[Metric, ...], bold: bool
) -> list[str]:
    competing = [name for name in results if name not in REFERENCES]
    best = {}
    for metric in columns:
        values = [results[name].get(metric.name, np.nan) for name in competing]
        values = [v for v in values if not np.isnan(v)]
        if bold and len(values) > 1 and metric.better in ("higher", "lower"):
            best[metric.name] = max(values) if metric.better == "higher" else min(values)
    lines = [
        "| method | " + " | ".join(_header(metric) for metric in columns) + " |",
        "|---" + "|---:" * len(columns) + "|",
    ]
    for name, row in results.items():
        cells = []
        for metric in columns:
            value = row.get(metric.name, np.nan)
            text = _cell(value)
            winner = name in competing and value == best.get(metric.name)
            cells.append(f"**{text}**" if winner else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_markdown(
    path: Path,
    results: dict[str, dict[str, float]],
    notes: list[str],
    set_rates: dict[str, float] | None = None,
) -> None:
    """The REACT table (best value of each metric in bold), the motion table when the rows
    have motion metrics, and notes below; written atomically.

    'Best' ignores the rows of real and oracle reactions (REFERENCES): references rather
    than competitors."""
    lines = _markdown_table(results, METRICS, bold=True)
    if any(MOTION[0].name in row for row in results.values()):
        lines += ["", "What a person watching the face sees (`metrics.motion`):", ""]
        lines += _markdown_table(motion_rows(results, set_rates or {}), MOTION, bold=False)
    if any(SYNCHRONY[0].name in row for row in results.values()):
        lines += ["", "When the samples follow the speaker (`metrics.synchrony.lag_summary`):", ""]
        lines += _markdown_table(results, SYNCHRONY, bold=False)
    changes = {name: row[CHANGE] for name, row in results.items() if CHANGE in row}
    if changes:
        lines += ["", "Modality effect (relative FRCorr change against the full input):", ""]
        lines += [f"- {name}: {value:+.1%}" for name, value in changes.items()]
    lines += ["", *[f"- {m.name}: {m.meaning}" for m in METRICS + MOTION + SYNCHRONY], *notes]
    temporary = Path(path).with_name(Path(path).name + ".tmp")
    temporary.write_text("\n".join(lines) + "\n")
    temporary.replace(path)
