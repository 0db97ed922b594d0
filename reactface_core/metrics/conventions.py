"""How the published evaluation scripts turn per-sample scores into the numbers they print.

The metric definitions are the same everywhere; three choices are not, and they change
the printed figures (checked against the REACT 2024 baseline's `metric/` and ReactFace's
`metric/` code on the same arrays; they agree with ours to float32 rounding otherwise):

- `ours` (the default): FRCorr and FRDist are means over speakers and samples; a TLCC
  window without a defined correlation (a constant channel) scores 0 at that lag; FRSyn
  uses every sample.
- `official` (REACT 2023/2024 challenge scripts, `compute_FRC_mp`, `compute_FRD_mp`,
  `compute_TLCC_mp`): FRCorr and FRDist are summed over a speaker's N samples and then
  averaged over speakers (N x ours, x10 for N = 10); a constant window gives NumPy's
  `corrcoef` NaN, the channel mean is NaN at that lag, and `torch.argmax` takes the first
  NaN as the peak (one constant channel gives |offset| = the largest lag, 49 frames); the
  multiprocessing TLCC returns after the first sample of every speaker, so FRSyn is over
  sample 0 only.
- `reactface` (the ReactFace repository's `evaluate_metric.py`, `compute_FRC_mp`,
  `compute_FRD_mp`, `compute_FRSyn_mp`): like `official`, then FRCorr and FRDist times 10
  again (10 N x ours, x100 for N = 10; its non-parallel `compute_FRC`/`compute_FRD` print
  10 x ours instead), and CCC with eps = 1e-50 instead of 1e-8 (FRDist uses one DTW over
  all columns there; pass no FRDist groups).

FRDiv (S-MSE), FRDvs and FRVar are the same in all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CCC_EPS = 1e-8  # the CCC denominator's eps in the REACT scripts


@dataclass(frozen=True)
class Convention:
    name: str
    sum_samples: bool  # FRCorr/FRDist: sum over a speaker's samples, then mean over speakers
    factor: float  # ... then times this
    ccc_eps: float  # the denominator's eps in CCC
    tlcc_nan_peak: bool  # an undefined correlation is NaN and wins the argmax
    tlcc_first_sample: bool  # FRSyn over sample 0 of every speaker only

    def reduce(self, values: np.ndarray) -> float:
        """(num_speakers, num_samples) per-sample scores -> the printed FRCorr/FRDist."""
        mean = float(np.mean(values))
        return mean * (values.shape[1] if self.sum_samples else 1) * self.factor


CONVENTIONS = {
    "ours": Convention("ours", False, 1.0, CCC_EPS, False, False),
    "official": Convention("official", True, 1.0, CCC_EPS, True, True),
    "reactface": Convention("reactface", True, 10.0, 1e-50, True, True),
}


def get_convention(name: str | Convention) -> Convention:
    if isinstance(name, Convention):
        return name
    if name not in CONVENTIONS:
        raise ValueError(
            f"unknown metric convention {name!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    return CONVENTIONS[name]
