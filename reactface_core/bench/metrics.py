"""REACT metrics: FRCorr and FRDist, vectorised vs the plain per-pair loops, side by side,
and FRDist vs the official tslearn-based code when tslearn is installed.

Random predictions (speakers x samples x frames x dims) and real reactions, each speaker with
its own set of appropriate reactions. The vectorised metric runs on everything; the plain loop
(one pair at a time: CCC one dimension at a time, DTW one cell at a time, as the REACT scripts
loop) runs on the first speakers or (speaker, sample) items only, its time is scaled to the
full size, and its values are compared with the vectorised ones on that subset.

With tslearn (`pip install -e .[test]`), FRDist is also timed as the official scripts compute
it, on the first --official-speakers speakers of the same arrays and with the same number of
threads (the official `compute_FRD_mp` runs one process per thread): one `tslearn.metrics.dtw`
per (sample, appropriate reaction, column group) on float32 inputs, in the REACT 2024 setting
(the first 25 columns as its emotion groups 15/2/8, weights 1/15, 1, 1/8) and in ReactFace's
(one DTW over all columns).

Example: reactface bench metrics --speakers 20   (a quick run; defaults are the issue's size)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from reactface_core.bench import machine_load
from reactface_core.metrics.correlation import best_ccc
from reactface_core.metrics.dtw import best_dtw
from reactface_core.metrics.reference import best_ccc_loop, best_dtw_loop
from reactface_core.utils import resolve_device, seed_everything

TARGETS = {"FRCorr": 50.0, "FRDist": 5.0}
OFFICIAL_TARGET = 2.0  # FRDist at least this many times faster than the tslearn-based code
REACT2024_GROUPS = ((0, 15, 1 / 15), (15, 17, 1.0), (17, 25, 1 / 8))  # emotion columns


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speakers", type=int, default=200, help="speakers (default: 200)")
    parser.add_argument("--samples", type=int, default=10, help="samples per speaker (default: 10)")
    parser.add_argument("--frames", type=int, default=750, help="frames per clip (default: 750)")
    parser.add_argument("--dims", type=int, default=58, help="coefficients per frame (default: 58)")
    parser.add_argument(
        "--appropriate", type=int, default=8, help="appropriate reactions per speaker (default: 8)"
    )
    parser.add_argument(
        "--loop-speakers",
        type=int,
        default=10,
        help="speakers the FRCorr loop is timed on, then scaled (default: 10)",
    )
    parser.add_argument(
        "--loop-items",
        type=int,
        default=2,
        help="(speaker, sample) items the FRDist loop is timed on, then scaled; each is "
        "--appropriate DTWs (default: 2)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice, one per core); 1 is steadier on a "
        "machine that other processes keep busy",
    )
    parser.add_argument(
        "--official-speakers",
        type=int,
        default=4,
        help="speakers FRDist is timed on against the official tslearn-based code, when "
        "tslearn is installed; 0: skip (default: 4)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of each timing but the (long) vectorised FRDist; the fastest counts, which "
        "damps other processes' load on a shared machine (default: 3)",
    )


def run(args: argparse.Namespace) -> int:
    rng = seed_everything(args.seed)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    clips = max(args.speakers, args.appropriate)
    shape = (args.speakers, args.samples, args.frames, args.dims)
    predictions = rng.standard_normal(shape).astype(np.float32)
    listeners = rng.standard_normal((clips, args.frames, args.dims)).astype(np.float32)
    lists = [rng.choice(clips, args.appropriate, replace=False) for _ in range(args.speakers)]
    pairs = args.speakers * args.samples * args.appropriate
    print(
        f"{args.speakers} speakers x {args.samples} samples x {args.frames} frames x {args.dims} "
        f"dims, {args.appropriate} appropriate reactions each: {pairs} (sample, reaction) pairs; "
        f"device {device}, {torch.get_num_threads()} torch threads, {machine_load()}"
    )

    rows = []
    # FRCorr: the loop runs on the first speakers
    subset = min(args.loop_speakers, args.speakers)
    fast, fast_time = _timed(
        lambda: best_ccc(predictions, listeners, lists, device=device), args.repeat
    )
    slow, slow_time = _timed(
        lambda: best_ccc_loop(predictions[:subset], listeners, lists[:subset]), args.repeat
    )
    scale = args.speakers / subset
    rows.append(("FRCorr", fast_time, slow_time, scale, f"{subset} speakers", fast[:subset], slow))

    # FRDist: the loop runs on the first (speaker, sample) items
    items = min(args.loop_items, args.speakers * args.samples)
    fast, fast_time = _timed(
        lambda: best_dtw(predictions, listeners, lists, device=device, progress=True)
    )
    flat = predictions.reshape(-1, 1, args.frames, args.dims)[:items]
    item_lists = [lists[i // args.samples] for i in range(items)]
    slow, slow_time = _timed(lambda: best_dtw_loop(flat, listeners, item_lists), args.repeat)
    scale = args.speakers * args.samples / items
    rows.append(
        (
            "FRDist",
            fast_time,
            slow_time,
            scale,
            f"{items} items",
            fast.reshape(-1)[:items],
            slow[:, 0],
        )
    )

    print()
    print(
        f"{'metric':7} {'vectorised s':>12} {'loop s (est.)':>13} {'loop timed on':>15} "
        f"{'speed-up':>9} {'target':>7} {'max |diff|':>11}"
    )
    failed = False
    for name, fast_time, slow_time, scale, timed_on, fast_values, slow_values in rows:
        estimate = slow_time * scale
        speedup = estimate / fast_time
        diff = float(np.abs(fast_values.reshape(-1) - slow_values.reshape(-1)).max())
        ok = speedup >= TARGETS[name] and diff <= 1e-6
        failed |= not ok
        print(
            f"{name:7} {fast_time:12.2f} {estimate:13.1f} {timed_on + f' x{scale:g}':>15} "
            f"{speedup:8.0f}x {TARGETS[name]:6.0f}x {diff:11.1e}  {'ok' if ok else 'MISSED'}"
        )
    print(
        "\nloop = one (speaker, sample, appropriate reaction) pair at a time; CCC one dimension "
        "at a time, DTW one cell at a time (Python). Its time is measured on the subset shown "
        f"and multiplied by the factor shown. Wall-clock seconds, fastest of {args.repeat} runs "
        f"(vectorised FRDist: one run). Machine at the end: {machine_load()}."
    )
    if args.official_speakers > 0:
        failed |= _against_official(args, predictions, listeners, lists, device)
    return 1 if failed else 0


def _against_official(args, predictions, listeners, lists, device: str) -> bool:
    """FRDist timed beside the official tslearn-based computation; True when a target is
    missed. Both run on the same float32 arrays with the same number of threads/processes."""
    try:
        import tslearn.metrics  # noqa: F401
    except ImportError:
        print(
            "\nFRDist vs the official tslearn-based code: skipped, tslearn is not installed "
            "(pip install -e .[test])"
        )
        return False
    threads = torch.get_num_threads()
    count = min(args.official_speakers, args.speakers)
    settings = [(f"one DTW, {args.dims} dims (ReactFace)", ((0, args.dims, 1.0),))]
    if args.dims >= 25:
        settings.insert(0, ("REACT 2024 groups, 25 dims", REACT2024_GROUPS))
    pairs = count * args.samples * args.appropriate
    print(
        f"\nFRDist vs the official tslearn-based code on {count} speakers ({pairs} pairs), "
        f"{threads} thread(s) / process(es) each, {machine_load()}"
    )
    print(f"{'setting':29} {'ours s':>7} {'official s':>10} {'speed-up':>9} {'target':>7} "
          f"{'max |diff|':>11}")  # fmt: skip
    failed = False
    with _official_pool(threads) as pool:
        for label, groups in settings:
            columns = groups[-1][1]
            ours_input = predictions[:count, ..., :columns]
            ours_groups = [(slice(start, end), weight) for start, end, weight in groups]
            times = {"ours": [], "official": []}
            for _ in range(2):  # alternate, so that other processes' load hits both alike
                start = time.perf_counter()
                ours = best_dtw(ours_input, listeners[..., :columns], lists[:count], ours_groups,
                                device)  # fmt: skip
                times["ours"].append(time.perf_counter() - start)
                start = time.perf_counter()
                work = [(ours_input[k], listeners[lists[k]][..., :columns], groups)
                        for k in range(count)]  # fmt: skip
                theirs = np.stack(pool.starmap(_official_speaker, work) if pool else
                                  [_official_speaker(*item) for item in work])  # fmt: skip
                times["official"].append(time.perf_counter() - start)
            ours_time, their_time = min(times["ours"]), min(times["official"])
            speedup = their_time / ours_time
            diff = float(np.abs(ours - theirs).max())
            ok = speedup >= OFFICIAL_TARGET and diff <= 1e-9
            failed |= not ok
            print(f"{label:29} {ours_time:7.2f} {their_time:10.2f} {speedup:8.2f}x "
                  f"{OFFICIAL_TARGET:6.0f}x {diff:11.1e}  {'ok' if ok else 'MISSED'}")  # fmt: skip
    print(
        "official = the REACT 2024 / ReactFace `compute_FRD_mp` computation: per (sample, "
        "appropriate reaction, group) one tslearn.metrics.dtw on float32 columns, weighted sum, "
        "minimum over the set; its processes are started and numba-compiled before timing. "
        f"Fastest of 2 alternating runs each. Machine at the end: {machine_load()}."
    )
    return failed


def _official_speaker(samples: np.ndarray, reactions: np.ndarray, groups) -> np.ndarray:
    """One speaker as the official FRDist loops: best(k, n) for each sample n, (N,)."""
    from tslearn.metrics import dtw

    return np.array(
        [
            min(
                sum(
                    weight
                    * dtw(
                        sample.astype(np.float32)[:, start:end],
                        reaction[:, start:end].astype(np.float32),
                    )
                    for start, end, weight in groups
                )
                for reaction in reactions
            )
            for sample in samples
        ]
    )


def _warm_official() -> None:
    """Import tslearn and compile its numba DTW in this (worker) process."""
    from tslearn.metrics import dtw

    dtw(np.zeros((3, 2), np.float32), np.ones((4, 2), np.float32))


class _official_pool:
    """A warm process pool of `threads` workers (None for one: the loop runs in-process)."""

    def __init__(self, threads: int):
        self.threads = threads

    def __enter__(self):
        import multiprocessing

        _warm_official()
        if self.threads == 1:
            self.pool = None
            return None
        self.pool = multiprocessing.get_context("spawn").Pool(self.threads, _warm_official)
        self.pool.map(abs, range(self.threads))  # wait until every worker is up
        return self.pool

    def __exit__(self, *exc):
        if self.pool is not None:
            self.pool.terminate()


def _timed(function, repeat: int = 1):
    """The result of `function` and its fastest wall-clock time over `repeat` runs."""
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, min(times)
