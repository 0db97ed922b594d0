"""`reactface bench world`: MediaPipe on the rendered world against its landmark files."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.bench.world import (
    COMPARISONS,
    EXPRESSION_MEASURES,
    expression_measures,
    feature_agreement,
)
from reactface_core.cli import main
from reactface_core.perception.landmarks import (
    COLUMN_GROUPS,
    REGIONS,
    VISUAL_FEATURE_DIM,
    template,
)


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


def test_expression_measures_read_each_shape_change_alone_at_any_framing():
    face = np.repeat(template()[None], 4, axis=0)
    face[1, 14, 1] += 0.1  # the lower lip drops (y down, eye distances)
    face[2, 159, 1] += 0.05  # the right upper lid closes a little
    face[3, REGIONS["left_brow"], 1] -= 0.08  # the left brow rises
    names = list(EXPRESSION_MEASURES)
    for scale, shift, aspect in ((0.2, 0.5, 1.0), (0.05, 0.3, 0.75)):  # near centre, far off
        raw = face * scale + np.array([shift, shift / aspect, 0.0])
        raw[..., 1] *= 1 / aspect  # y in fractions of a shorter image's height
        measures, valid = expression_measures(raw, aspect)
        assert valid.all()
        change = measures - measures[0]
        expected = np.zeros_like(change)
        expected[1, names.index("mouth_open")] = 0.1
        expected[1, names.index("corners_up")] = 0.05  # the lips' centre moves with it
        expected[2, names.index("right_eye_open")] = -0.05
        expected[3, names.index("left_brow_up")] = 0.08
        np.testing.assert_allclose(change, expected, atol=0.01)
    lost = np.full((2, 468, 3), np.nan)
    assert not expression_measures(lost, 1.0)[1].any()


def test_bench_world_prints_how_well_each_feature_group_agrees(capsys):
    assert main(["bench", "world", "--clips", "1", "--seconds", "3"]) == 0
    out = capsys.readouterr().out
    start, end = out.index("speaker features where both"), out.index("expression as whole")
    table = out[start:end].splitlines()
    assert all(name in table[1] for name in COMPARISONS)
    rows = {line.split()[0]: line.split() for line in table[2:] if line.startswith("  ")}
    assert set(rows) == set(COLUMN_GROUPS)
    # the files are the exact projection plus the simulated detector's noise: head pose and
    # position come through it nearly whole
    values = [float(v) for v in rows["rotation"][2::2]]  # group, then "corr" x, "gain" y ...
    files_vs_exact = values[2:4]
    assert files_vs_exact[0] > 0.9 and 0.8 < files_vs_exact[1] < 1.25
    shapes = out[out.index("expression as whole shapes") :].splitlines()
    rows = {line.split()[0]: line.split() for line in shapes[2:] if line.startswith("  ")}
    assert set(rows) <= set(EXPRESSION_MEASURES) and "mouth_open" in rows
