"""Small helpers shared by every command: seeding, device choice, rolling percentiles."""

from __future__ import annotations

import os
import random
from collections import deque

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python and torch and return a NumPy generator; NumPy code takes generators."""
    random.seed(seed)
    try:
        import torch
    except ImportError:  # torch is a hard dependency of the model, not of every command
        pass
    else:
        torch.manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return np.random.default_rng(seed)


def resolve_device(name: str = "auto") -> str:
    """Map 'auto' to 'cuda' when a GPU is visible, else 'cpu'; validate explicit names."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be one of auto, cpu, cuda; got {name!r}")
    if name == "cpu":
        return "cpu"
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but torch sees no CUDA GPU")
    return "cuda" if torch.cuda.is_available() else "cpu"


class RollingStats:
    """The last `size` values of a measurement (e.g. latency), summarised as percentiles."""

    def __init__(self, size: int = 200):
        self.values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self.values.append(value)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.values, q)) if self.values else float("nan")
