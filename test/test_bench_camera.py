"""`reactface bench camera`: one world, two cameras, FRCorr as `evaluate` scores it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from reactface_core.bench.camera import CAMERAS, paired_cost
from reactface_core.cli import main
from reactface_core.data.dataset import ReactDataset
from reactface_core.generate import generate_reactions
from reactface_core.metrics.correlation import frcorr
from reactface_core.metrics.evaluation import load_react_split, scored_columns


def test_paired_cost_is_the_relative_drop_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.2, 0.4, 60)
    assert paired_cost(reference, reference, 200, rng) == (0.0, 0.0, 0.0)
    cost, low, high = paired_cost(reference, 0.9 * reference, 200, rng)
    assert cost == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    noisy = 0.9 * reference + rng.normal(0.0, 0.05, 60)
    cost, low, high = paired_cost(reference, noisy, 2000, rng)
    assert cost == pytest.approx(1 - noisy.mean() / reference.mean())
    assert low < cost < high and high - low > 0.02
    with pytest.raises(ValueError, match="paired scores"):
        paired_cost(reference, reference[:10], 10, rng)


def test_bench_camera_films_the_same_world_twice_and_scores_it_as_evaluate(tmp_path, capsys):
    status = main(["bench", "camera", "--clips", "20", "--samples", "2", "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    assert "load average" in out
    printed = {
        name: float(re.search(rf"^{name} .*FRCorr (\d\.\d{{4}})", out, re.M).group(1))
        for name in CAMERAS
    }
    cost = float(re.search(r"webcam cost (-?\d+\.\d) %", out).group(1))
    assert cost == pytest.approx(100 * (1 - printed["webcam"] / printed["training"]), abs=0.06)
    assert status == (0 if cost <= 5.0 else 1)

    worlds = {name: ReactDataset(tmp_path / name, "test", window=None) for name in CAMERAS}
    speaker = worlds["training"].speaker_clips[0]
    assert speaker == worlds["webcam"].speaker_clips[0]
    same, other = (world.coefficients(speaker) for world in worlds.values())
    np.testing.assert_array_equal(same, other)  # the same speaker, filmed differently
    seen = [world.speaker_visual(speaker, 0, 100, normalise=False)[0] for world in worlds.values()]
    assert not np.allclose(*seen)

    data = load_react_split(tmp_path / "training", "test", training_split=None)
    predictions = generate_reactions(None, tmp_path / "training", "test", 2, 0, progress=False)
    columns = scored_columns(data)
    expected = frcorr(predictions[..., columns], data.listeners[..., columns], data.appropriate)
    assert printed["training"] == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--clips", "0"], "--clips must be >= 1"), (["--clips", "3"], "3 clips at 5 per speaker")],
)
def test_bench_camera_usage_errors_are_one_line_with_status_2(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "camera", "--keep", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("reactface bench camera: ") and message in err and "\n" not in err
    assert not any(tmp_path.iterdir())  # nothing built


def test_bench_camera_names_a_missing_checkpoint_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "camera", "--keep", str(tmp_path), "--checkpoint", "missing.pt"])
    assert exit_info.value.code == "reactface bench camera: checkpoint missing.pt does not exist"
    assert not any(tmp_path.iterdir())
