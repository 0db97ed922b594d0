"""Benchmarks behind `reactface bench NAME` (`reactface_core.cli.bench`)."""

from __future__ import annotations

import os
import time


def machine_load(reference: float | None = None) -> str:
    """The 1-minute load average, core count and the machine's speed now (`reference_ms`,
    measured unless given): other processes skew wall-clock times, and the same machine
    computes faster on some days than on others."""
    speed = f"reference work {reference_ms() if reference is None else reference:.1f} ms"
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {speed}"
    except OSError:
        return f"{os.cpu_count()} cores, {speed}"


def reference_ms(rounds: int = 5) -> float:
    """Fastest of `rounds` timings of one fixed workload on one thread, shaped like a
    generator window (linear layers and attention of 10 samples x 8 frames against a 600
    frame history) plus the numpy of aligning a window's landmarks. It does not change with the
    code, so a benchmark's times divided by it compare across days and machines."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(80, 128, generator=generator)
        weight = torch.randn(512, 128, generator=generator) / 12
        back = torch.randn(128, 512, generator=generator) / 24
        queries = torch.randn(1, 4, 80, 32, generator=generator)
        keys = torch.randn(1, 4, 600, 32, generator=generator)
        points = np.random.default_rng(0).standard_normal((8, 468, 3))
        best = float("inf")
        with torch.inference_mode():
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(20):
                    F.linear(F.gelu(F.linear(x, weight)), back)
                    F.scaled_dot_product_attention(queries, keys, keys)
                    centred = points - points.mean(axis=1, keepdims=True)  # (8, 468, 3)
                    u, _, vt = np.linalg.svd(centred.transpose(0, 2, 1) @ centred)
                    np.linalg.norm(centred @ (u @ vt), axis=-1)
                best = min(best, time.perf_counter() - start)
        return 1000 * best
    finally:
        torch.set_num_threads(threads)
