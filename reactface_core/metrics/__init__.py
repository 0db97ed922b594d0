"""REACT 2023/2024 evaluation metrics of generated listener reactions, vectorised.

Appropriateness: FRCorr (`correlation`), FRDist (`dtw`); diversity: FRDiv / S-MSE, FRDvs,
FRVar (`diversity`); synchrony: FRSyn / TLCC and the quartiles of the peak lag
(`synchrony`); how the official REACT and ReactFace scripts print them (`conventions`).
What a person sees: motion ratios and blink and nod rates (`motion`). `reference` holds
plain loop versions of the REACT metrics, `baselines` the non-learned reference
predictors, `evaluation` and `report` the scoring of several methods and their tables,
`plot` figures of generated and appropriate reactions and of FRCorr against FRDiv.

The metric functions below load on first use (they import torch), so importing a light
submodule such as `baselines` from the command line stays fast.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "best_ccc": "correlation",
    "frcorr": "correlation",
    "best_dtw": "dtw",
    "dtw_all_pairs": "dtw",
    "frdist": "dtw",
    "frdiv": "diversity",
    "frdvs": "diversity",
    "frvar": "diversity",
    "frsyn": "synchrony",
    "lag_summary": "synchrony",
    "peak_lags": "synchrony",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
