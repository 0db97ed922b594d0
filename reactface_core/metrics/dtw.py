"""FRDist: appropriateness as the DTW distance to the closest appropriate real reaction.

Dynamic time warping of x (T1, D) and y (T2, D) with the squared Euclidean frame cost
c(i, j) = |x_i - y_j|^2 and steps (1, 0), (0, 1), (1, 1):

    R(i, j)    = c(i, j) + min(R(i-1, j), R(i, j-1), R(i-1, j-1)),   R(0, 0) = c(0, 0)
    DTW(x, y)  = sqrt(R(T1-1, T2-1))

i.e. the Euclidean distance between the optimally aligned series, as `tslearn.metrics.dtw`
(used by the REACT scripts) defines it; no global constraint. With column groups g and
weights w_g, DTW_groups = sum over g of w_g * DTW(x[:, g], y[:, g]) (the REACT scripts use
the emotion groups 15 AUs, 2 valence/arousal, 8 expressions with weights 1/15, 1, 1/8).

    best(k, n) = min over a in A(k) of DTW(P[k, n], L[a])
    FRDist     = mean over k, n of best(k, n)                 (lower is better)

as printed with convention 'ours'. The REACT 2024 script (`compute_FRD_mp`, emotion
groups) prints the mean over k of the sum over n, N x ours; ReactFace's `compute_FRD_mp`
(one DTW over all columns) multiplies that by 10 again, 10 N x ours; see `conventions`.

Vectorised: per speaker, matrix products give the frame costs of all (sample, appropriate
reaction) pairs at once (|x|^2 + |y|^2 - 2 x.y folded into GEMMs of a few rows at a time,
rearranged while still in cache), then one wavefront dynamic program sweeps the T1 + T2 - 1
anti-diagonals for the whole batch; cells of one anti-diagonal do not depend on each other,
so each step is three array operations. On the CPU, speakers are shared among torch's
threads, each running whole dynamic programs. The result equals the cell-by-cell program
(`reference.dtw_pair`) to rounding (<= 1e-9) and `tslearn.metrics.dtw`, which the official
scripts call.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from reactface_core.metrics.conventions import Convention, get_convention
from reactface_core.metrics.sets import (
    Appropriateness,
    appropriate_lists,
    check_predictions,
    check_sequences,
)

Groups = Sequence[tuple[slice | np.ndarray, float]]


def accumulated_cost(cost: torch.Tensor) -> torch.Tensor:
    """R(T1-1, T2-1) for a batch of frame-cost matrices laid out (T1, T2, B), batch last."""
    rows, cols, batch = cost.shape
    stride_i, stride_j, stride_b = cost.stride()
    offset = cost.storage_offset()
    # Buffer row i + 1 holds R(i, d - i) of one anti-diagonal d; row 0 and cells never
    # written stay +inf, which is exactly the boundary of the recursion.
    prev2, prev1, current = (
        torch.full((rows + 1, batch), torch.inf, dtype=cost.dtype, device=cost.device)
        for _ in range(3)
    )
    prev1[1] = cost[0, 0]
    for d in range(1, rows + cols - 1):
        lo, hi = max(0, d - cols + 1), min(d, rows - 1)
        # cells (i, d - i), i = lo..hi, as a strided view: no copy of the cost matrix
        diagonal = cost.as_strided(
            (hi - lo + 1, batch),
            (stride_i - stride_j, stride_b),
            offset + lo * stride_i + (d - lo) * stride_j,
        )
        out = current[lo + 1 : hi + 2]  # R(i, d - i) in place: three passes, no temporary
        torch.minimum(prev1[lo : hi + 1], prev1[lo + 1 : hi + 2], out=out)  # R(i-1,j), R(i,j-1)
        torch.minimum(out, prev2[lo : hi + 1], out=out)  # R(i-1, j-1)
        out.add_(diagonal)
        prev2, prev1, current = prev1, current, prev2
    return prev1[rows]


def frame_costs(x: torch.Tensor, y: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor) -> None:
    """out[i, j, n, m] = |x[n, i] - y[m, j]|^2 for x (N, T1, D), y (M, T2, D) (float64).

    |x_i - y_j|^2 = [x, |x|^2, 1] . [-2y, 1, |y|^2]: GEMMs of a few rows of x at a time
    into `scratch` (flat, small enough to stay in cache), each rearranged into `out` at once,
    so the (N T1) x (T2 M) products never travel to main memory and back.
    """
    (count_x, rows, _), (count_y, cols, _) = x.shape, y.shape
    xa = torch.cat([x, x.square().sum(-1, keepdim=True), torch.ones_like(x[..., :1])], -1)
    ya = torch.cat([-2 * y, torch.ones_like(y[..., :1]), y.square().sum(-1, keepdim=True)], -1)
    right = ya.transpose(0, 1).reshape(cols * count_y, -1).T.contiguous()  # (D+2, (j, m))
    block = max(1, scratch.numel() // (count_x * cols * count_y))
    for first in range(0, rows, block):
        last = min(rows, first + block)
        products = scratch[: count_x * (last - first) * cols * count_y]
        products = products.view(count_x * (last - first), cols * count_y)
        torch.matmul(xa[:, first:last].reshape(-1, xa.shape[-1]), right, out=products)
        out[first:last].copy_(products.view(count_x, -1, cols, count_y).permute(1, 2, 0, 3))


def dtw_all_pairs(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    workspace: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """DTW(x[n], y[m]) for all n, m: x (N, T1, D), y (M, T2, D) -> (N, M) float64.

    `workspace`: a flat float64 buffer of at least N * M * T1 * T2 values for the frame
    costs and a small scratch buffer (SCRATCH values), reused across calls so that large
    cost matrices do not fault in fresh memory every time.
    """
    x = torch.as_tensor(x).to(torch.float64)
    y = torch.as_tensor(y).to(device=x.device, dtype=torch.float64)
    (count_x, rows, _), (count_y, cols, _) = x.shape, y.shape
    size = count_x * rows * cols * count_y
    if workspace is None:
        workspace = make_workspace(size, x.device)
    cost = workspace[0][:size].view(rows, cols, count_x, count_y)
    frame_costs(x, y, cost, workspace[1])
    total = accumulated_cost(cost.view(rows, cols, -1)).clamp_min(0)  # rounding: -1e-13 for x == y
    return total.sqrt().view(count_x, count_y)


SCRATCH = 1 << 19  # float64 values (4 MB): one GEMM block of `frame_costs`


def make_workspace(
    size: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Buffers for `dtw_all_pairs` with up to `size` frame costs."""
    return (
        torch.empty(size, dtype=torch.float64, device=device),
        torch.empty(SCRATCH, dtype=torch.float64, device=device),
    )


def best_dtw(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    groups: Groups | None = None,
    device: str = "cpu",
    max_pairs: int = 80,
    progress: bool = False,
) -> np.ndarray:
    """best(k, n) above for every speaker and sample: (num_speakers, num_samples) float64.

    `groups` is a list of (columns, weight); None means all columns with weight 1. Samples of
    a speaker that are all identical (deterministic baselines) are computed once. On the
    CPU, speakers are shared among torch's threads (each runs whole dynamic programs, one
    thread per operation), which scales better than splitting every small operation.
    """
    predictions = check_predictions(predictions)
    listeners = check_sequences(listeners, "listeners", like=predictions)
    lists = appropriate_lists(appropriate, predictions.shape[0], listeners.shape[0])
    groups = [(slice(None), 1.0)] if groups is None else list(groups)
    listeners_t = torch.as_tensor(listeners, device=device)
    frames, clip_frames = predictions.shape[2], listeners.shape[1]
    largest = max(predictions.shape[1], max_pairs) * frames * clip_frames
    best = np.empty(predictions.shape[:2])

    def speaker(k: int, workspace) -> None:
        samples = predictions[k]
        distinct = 1 if (samples == samples[:1]).all() else len(samples)
        x = torch.as_tensor(samples[:distinct], device=device)
        chunks = -(-len(lists[k]) * distinct // max_pairs)  # as few as fit, of equal size
        chunk = -(-len(lists[k]) // chunks)
        distances = []
        for start in range(0, len(lists[k]), chunk):
            y = listeners_t[torch.as_tensor(lists[k][start : start + chunk], device=device)]
            total = sum(
                weight * dtw_all_pairs(x[..., cols], y[..., cols], workspace)
                for cols, weight in groups
            )
            distances.append(total)
        best[k] = torch.cat(distances, 1).amin(1).cpu().numpy()  # broadcasts when distinct == 1

    threads = 1 if torch.device(device).type != "cpu" else min(torch.get_num_threads(), len(lists))
    bar = tqdm(
        total=len(lists), desc="FRDist (DTW)", unit="speaker", disable=not progress, leave=False
    )
    with _one_thread_per_operation(threads > 1), ThreadPoolExecutor(threads) as pool:

        def shard(first: int) -> None:
            workspace = make_workspace(largest, device)
            for k in range(first, len(lists), threads):
                speaker(k, workspace)
                bar.update()

        list(pool.map(shard, range(threads)))
    bar.close()
    return best


@contextmanager
def _one_thread_per_operation(active: bool):
    """torch's intra-op threads set to 1 while our own threads run, then restored."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def frdist(
    predictions: np.ndarray,
    listeners: np.ndarray,
    appropriate: Appropriateness,
    groups: Groups | None = None,
    convention: str | Convention = "ours",
    device: str = "cpu",
    progress: bool = False,
) -> float:
    """FRDist (lower is better) as printed under `convention` (module docstring)."""
    convention = get_convention(convention)
    best = best_dtw(predictions, listeners, appropriate, groups, device, progress=progress)
    return convention.reduce(best)
