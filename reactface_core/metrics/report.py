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

    scale: str = "mean"  # 'official': FRCorr and FRDist summed over samples (REACT scripts)
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
        "FRCorr": frcorr(predictions, listeners, appropriate, s.scale, device=s.device),
        "FRDist": frdist(
            predictions, listeners, appropriate, s.frdist_groups, s.scale, s.device, s.progress
        ),
        "FRDiv": frdiv(predictions),
        "FRDvs": frdvs(predictions),
        "FRVar": frvar(predictions),
        "FRSyn": frsyn(predictions, speakers, s.max_lag, s.device),
    }


def _cell(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.2f}"


def format_table(results: dict[str, dict[str, float]]) -> str:
    """Aligned plain-text table: one row per method, one column per metric."""
    headers = ["method"] + [metric.header for metric in METRICS]
    rows = [[name] + [_cell(row[m.name]) for m in METRICS] for name, row in results.items()]
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]
    lines = [headers, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def write_csv(path: Path, results: dict[str, dict[str, float]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method"] + [metric.name for metric in METRICS])
        for name, row in results.items():
            writer.writerow([name] + [repr(float(row[m.name])) for m in METRICS])


def read_csv(path: Path) -> dict[str, dict[str, float]]:
    with open(path, newline="") as handle:
        return {
            row.pop("method"): {key: float(value) for key, value in row.items()}
            for row in csv.DictReader(handle)
        }


def write_markdown(path: Path, results: dict[str, dict[str, float]], notes: list[str]) -> None:
    """The table as Markdown, with the best value of each metric in bold and notes below.

    'Best' ignores the rows of real reactions (GT, GTSet), references rather than competitors.
    """
    competing = [name for name in results if name not in REFERENCES]
    best = {}
    for metric in METRICS:
        values = [results[name][metric.name] for name in competing]
        if values:
            best[metric.name] = max(values) if metric.better == "higher" else min(values)
    lines = [
        "| method | " + " | ".join(metric.header for metric in METRICS) + " |",
        "|---" + "|---:" * len(METRICS) + "|",
    ]
    for name, row in results.items():
        cells = []
        for metric in METRICS:
            text = _cell(row[metric.name])
            bold = name in competing and row[metric.name] == best.get(metric.name)
            cells.append(f"**{text}**" if bold else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {metric.name}: {metric.meaning}" for metric in METRICS], *notes]
    Path(path).write_text("\n".join(lines) + "\n")
