"""Benchmarks behind `reactface bench NAME` (`reactface_core.cli.bench`)."""

from __future__ import annotations

import os


def machine_load() -> str:
    """The 1-minute load average and core count: other processes skew wall-clock times."""
    try:
        return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"
