"""FRCorr: appropriateness as concordance with the most similar appropriate real reaction.

Lin's concordance correlation coefficient of two series x, y of one dimension (population
moments over the T frames):

    CCC(x, y) = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2 + eps)

with eps = 1e-8 as in the REACT scripts, so a dimension that is constant in both series scores
0 (their `corrcoef` also maps the undefined correlation to 0). The CCC of two (T, D) sequences
is the mean of the D per-dimension values. For speaker k and sample n:

    best(k, n) = max over a in A(k) of CCC(P[k, n], L[a])
    FRCorr     = mean over k, n of best(k, n)                       (in [-1, 1])

as printed with convention 'ours'. The REACT 2023/2024 scripts (`compute_FRC_mp`) print
mean over k of the sum over n of best(k, n), N x ours; the ReactFace repository's
`compute_FRC_mp`, which its evaluation script calls, prints 10 x that, 10 N x ours (its
non-parallel `compute_FRC` prints 10 x ours), with eps = 1e-50; see `conventions`.
"""

from __future__ import annotations

import numpy as np
import torch

from reactface_core.metrics.conventions import CCC_EPS, Convention, get_convention
from reactface_core.metrics.sets import (
    Appropriateness,
    appropriate_lists,
    check_predictions,
    check_sequences,
)


def best_ccc(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    eps: float = CCC_EPS,
    device: str = "cpu",
) -> np.ndarray:
    """best(k, n) above for every speaker and sample: (num_speakers, num_samples) float64.

    One speaker at a time, so its samples stay in cache; the covariances with all of its
    appropriate reactions come from one matrix product batched over the D dimensions.
    """
    predictions = check_predictions(predictions)
    listeners = check_sequences(listeners, "listeners", like=predictions)
    lists = appropriate_lists(appropriate, predictions.shape[0], listeners.shape[0])
    _, samples, frames, dims = predictions.shape

    # Time last: per-dimension moments are contiguous reductions and the covariances with
    # the appropriate reactions are one matrix product per speaker, batched over dimensions.
    real = torch.as_tensor(listeners, device=device).permute(0, 2, 1)  # (C, D, T)
    r_mean = real.mean(-1, keepdim=True)
    real = (real - r_mean).contiguous()
    r_var = real.square().mean(-1, keepdim=True)  # (C, D, 1)
    r_mean, r_var = r_mean.permute(1, 2, 0), r_var.permute(1, 2, 0)  # (D, 1, C)
    p = torch.empty((dims, samples, frames), dtype=torch.float64, device=device)

    best = np.empty(predictions.shape[:2])
    for k, indices in enumerate(lists):
        chosen = torch.as_tensor(indices, device=device)
        p.copy_(torch.as_tensor(predictions[k]).permute(2, 0, 1))  # (D, N, T)
        p_mean = p.mean(-1, keepdim=True)  # (D, N, 1)
        p.sub_(p_mean)
        p_var = torch.linalg.vector_norm(p, dim=-1, keepdim=True).square() / frames
        cov = torch.bmm(p, real[chosen].permute(1, 2, 0)) / frames  # (D, N, M)
        a_mean, a_var = r_mean[..., chosen], r_var[..., chosen]  # (D, 1, M)
        ccc = 2 * cov / (p_var + a_var + (p_mean - a_mean).square() + eps)
        best[k] = ccc.mean(0).amax(-1).cpu().numpy()
    return best


def frcorr(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    convention: str | Convention = "ours",
    device: str = "cpu",
) -> float:
    """FRCorr (higher is better) as printed under `convention` (module docstring)."""
    convention = get_convention(convention)
    best = best_ccc(predictions, listeners, appropriate, convention.ccc_eps, device)
    return convention.reduce(best)
