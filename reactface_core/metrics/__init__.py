"""REACT 2023/2024 evaluation metrics of generated listener reactions, vectorised.

Appropriateness: FRCorr (`correlation`), FRDist (`dtw`); diversity: FRDiv / S-MSE, FRDvs,
FRVar (`diversity`); synchrony: FRSyn / TLCC (`synchrony`). `reference` holds plain loop
versions of all of them, `baselines` the non-learned reference predictors, `report` the
metric table of several methods, `plot` a figure of generated and appropriate reactions.
"""

from reactface_core.metrics.correlation import best_ccc, frcorr
from reactface_core.metrics.diversity import frdiv, frdvs, frvar
from reactface_core.metrics.dtw import best_dtw, dtw_all_pairs, frdist
from reactface_core.metrics.synchrony import frsyn, peak_lags

__all__ = [
    "best_ccc",
    "best_dtw",
    "dtw_all_pairs",
    "frcorr",
    "frdist",
    "frdiv",
    "frdvs",
    "frsyn",
    "frvar",
    "peak_lags",
]
