"""`reactface bench world`: MediaPipe on the rendered world against its landmark files."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.bench.world import COMPARISONS, feature_agreement
from reactface_core.cli import main
from reactface_core.perception.landmarks import COLUMN_GROUPS, VISUAL_FEATURE_DIM


def test_feature_agreement_is_correlation_and_std_ratio_on_frames_both_see():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(200, VISUAL_FEATURE_DIM))
    valid = np.ones(200, bool)
    same = feature_agreement((reference, valid), (reference, valid))
    assert set(same) == set(COLUMN_GROUPS)
    assert all(c == pytest.approx(1.0) and g == pytest.approx(1.0) for c, g in same.values())

    noise = rng.normal(size=reference.shape)
    seen = 0.5 * (reference + noise)  # correlation 1/sqrt(2), gain sqrt(2)/2
    lost = valid.copy()
    lost[:50] = False
    seen[:50] = 1e6  # frames one side has no face for must not count
    result = feature_agreement((seen, lost), (reference, valid))
    for corr, gain in result.values():
        assert corr == pytest.approx(2**-0.5, abs=0.12) and gain == pytest.approx(
            0.5**0.5, abs=0.12
        )

    still = reference.copy()
    still[:, COLUMN_GROUPS["lips"]] = 0.0  # a group that does not move is left out
    assert "lips" not in feature_agreement((still, valid), (reference, valid))
    assert feature_agreement((reference, lost & (np.arange(200) < 60)), (reference, valid)) == {}


def test_bench_world_prints_how_well_each_feature_group_agrees(capsys):
    assert main(["bench", "world", "--clips", "1", "--seconds", "3"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("speaker features where both see a face") :].splitlines()
    assert all(name in table[1] for name in COMPARISONS)
    rows = {line.split()[0]: line.split() for line in table[2:] if line.startswith("  ")}
    assert set(rows) == set(COLUMN_GROUPS)
    # the files are the exact projection plus the simulated detector's noise: head pose and
    # position come through it nearly whole
    values = [float(v) for v in rows["rotation"][2::2]]  # group, then "corr" x, "gain" y ...
    files_vs_exact = values[2:4]
    assert files_vs_exact[0] > 0.9 and 0.8 < files_vs_exact[1] < 1.25
