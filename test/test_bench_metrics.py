"""`reactface bench metrics` runs end to end on a small size and checks its own exactness."""

from __future__ import annotations

import re

from reactface_core.cli import main


def test_metric_benchmark_prints_speedups_and_exactness(capsys):
    argv = ["bench", "metrics", "--speakers", "3", "--samples", "2", "--frames", "40",
            "--dims", "30", "--appropriate", "3", "--loop-speakers", "2", "--loop-items", "2",
            "--repeat", "1", "--official-speakers", "2", "--threads", "1"]  # fmt: skip
    main(argv)  # the exit status says whether speed targets were met: not for a test to judge
    out = capsys.readouterr().out
    for metric in ("FRCorr", "FRDist"):
        row = next(line for line in out.splitlines() if line.startswith(metric + " "))
        assert float(re.findall(r"\d\.\de[-+]\d\d", row)[0]) <= 1e-9  # vectorised == loop
    assert "FRDist vs the official tslearn-based code" in out  # timed, or said to be skipped
    assert "load average" in out
