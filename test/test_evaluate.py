"""Baselines, the evaluation of several methods, tables, plot and prediction files."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.face.models import get_face_model
from reactface_core.metrics.baselines import (
    BASELINES,
    BaselineData,
    DelayedMime,
    baseline_predictions,
    fit_delayed_mime,
)
from reactface_core.metrics.dims import frdist_groups, part_columns
from reactface_core.metrics.evaluation import (
    EvaluationSet,
    evaluate,
    load_predictions,
    scored_columns,
)
from reactface_core.metrics.plot import most_active_dims, plot_reactions
from reactface_core.metrics.report import (
    METRICS,
    MetricSettings,
    format_table,
    read_csv,
    write_csv,
    write_markdown,
)

FRAMES, DIMS = 48, 58


def smooth(rng: np.random.Generator, count: int, frames: int = FRAMES) -> np.ndarray:
    noise = rng.standard_normal((count, frames + 10, DIMS))
    kernel = np.ones(11) / 11
    out = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), 1, noise)
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def data() -> EvaluationSet:
    rng = np.random.default_rng(0)
    speakers = 5
    listeners = smooth(rng, speakers)
    appropriate = [np.array([k, (k + 1) % speakers]) for k in range(speakers)]
    train_speakers = smooth(rng, 12, FRAMES + 3)
    return EvaluationSet(
        speakers=smooth(rng, speakers),
        listeners=listeners,
        true_listener=np.arange(speakers),
        appropriate=appropriate,
        face_model="arkit58",
        train_speakers=train_speakers,
        train_listeners=smooth(rng, 12, FRAMES + 3),
        delayed_mime=DelayedMime(delay=2, window=3),
        fresh=smooth(rng, speakers * 4).reshape(speakers, 4, FRAMES, DIMS),  # shape stand-in
        deaf=smooth(rng, speakers * 4).reshape(speakers, 4, FRAMES, DIMS),
        perceived_speakers=smooth(rng, speakers),
        perceived_mime=DelayedMime(delay=1, window=2),
        read_speakers=smooth(rng, speakers),
        read_mime=DelayedMime(delay=3, window=1),
    )


SETTINGS = MetricSettings(max_lag=10)


# ---- baselines ----------------------------------------------------------------------------


def test_every_baseline_has_the_prediction_shape(data):
    for name in BASELINES:
        predictions = baseline_predictions(name, data.baseline_data(), num_samples=4, seed=1)
        assert predictions.shape == (5, 4, FRAMES, DIMS), name
        assert np.isfinite(predictions).all()


def test_reference_baselines_are_the_real_reactions(data):
    base = data.baseline_data()
    gt = baseline_predictions("GT", base, 3, 0)
    np.testing.assert_array_equal(gt[2, 1], data.listeners[2])
    gt_set = baseline_predictions("GTSet", base, 3, 0)  # A(2) = [2, 3], cycled to 3 samples
    np.testing.assert_array_equal(gt_set[2], data.listeners[[2, 3, 2]])
    mime = baseline_predictions("Mime", base, 3, 0)
    np.testing.assert_array_equal(mime[4, 2], data.speakers[4])


def test_mean_baselines_average_training_speakers_and_listeners(data):
    base = data.baseline_data()
    pooled = np.concatenate([data.train_speakers, data.train_listeners])[:, :FRAMES]
    mean_seq = baseline_predictions("MeanSeq", base, 2, 0)
    np.testing.assert_allclose(mean_seq[0, 0], pooled.mean(0), atol=1e-6)
    np.testing.assert_array_equal(mean_seq[0], mean_seq[3])
    mean_frame = baseline_predictions("MeanFr", base, 2, 0)
    np.testing.assert_allclose(
        mean_frame[1, 1], np.tile(pooled.mean((0, 1)), (FRAMES, 1)), atol=1e-6
    )


def test_random_baseline_is_seeded_and_inside_the_training_range(data):
    base = data.baseline_data()
    first = baseline_predictions("Random", base, 3, seed=7)
    np.testing.assert_array_equal(first, baseline_predictions("Random", base, 3, seed=7))
    assert not np.array_equal(first, baseline_predictions("Random", base, 3, seed=8))
    listeners = data.train_listeners[:, :FRAMES]
    assert (first >= listeners.min((0, 1)) - 1e-6).all()
    assert (first <= listeners.max((0, 1)) + 1e-6).all()


def test_retrieval_returns_the_listeners_of_the_nearest_training_speakers():
    rng = np.random.default_rng(3)
    train_speakers, train_listeners = smooth(rng, 6), smooth(rng, 6)
    order = np.array([4, 0, 5])  # evaluated speakers are noisy copies of these training speakers
    speakers = train_speakers[order] + 0.01 * rng.standard_normal((3, FRAMES, DIMS)).astype(
        np.float32
    )
    base = BaselineData(
        speakers, speakers, train_speakers=train_speakers, train_listeners=train_listeners
    )
    retrieved = baseline_predictions("Retrieval", base, num_samples=2, seed=0)
    np.testing.assert_array_equal(retrieved[:, 0], train_listeners[order])
    assert not np.array_equal(retrieved[:, 1], retrieved[:, 0])  # 2nd nearest differs


def test_baselines_needing_training_data_say_so(data):
    base = BaselineData(data.speakers, data.listeners)
    with pytest.raises(ValueError, match="MeanSeq needs the training split"):
        baseline_predictions("MeanSeq", base, 2, 0)
    with pytest.raises(ValueError, match="DelayedMime needs its delay and window fitted"):
        baseline_predictions("DelayedMime", base, 2, 0)
    with pytest.raises(ValueError, match="FreshOracle needs a synthetic world"):
        baseline_predictions("FreshOracle", base, 2, 0)
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_predictions("Oracle", base, 2, 0)


def test_delayed_mime_is_a_causal_moving_average_shifted_late():
    speakers = np.zeros((1, 20, 2), np.float32)
    speakers[0, 5, 0] = 6.0  # an impulse at frame 5
    out = DelayedMime(delay=4, window=3)(speakers)
    expected = np.zeros(20)
    expected[9:12] = 2.0  # the 3-frame average of the impulse, 4 frames late
    np.testing.assert_allclose(out[0, :, 0], expected, atol=1e-6)
    assert (out[0, :, 1] == 0).all()
    ramp = np.arange(10, dtype=np.float32)[None, :, None]
    held = DelayedMime(delay=3, window=1)(ramp)[0, :, 0]
    np.testing.assert_array_equal(held, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6])  # first frame held


def test_delayed_mime_fit_finds_the_delay_and_smoothing_of_a_delayed_mirror():
    rng = np.random.default_rng(4)
    speakers = rng.standard_normal((6, 120, 3)).astype(np.float32)  # white: lags are sharp
    truth = DelayedMime(delay=6, window=5)
    listeners = truth(speakers)
    fitted, score = fit_delayed_mime(speakers, listeners, [[k] for k in range(6)])
    assert fitted == truth and score > 0.99


# ---- evaluation ---------------------------------------------------------------------------


def test_evaluation_table_of_a_model_and_the_baselines(data):
    perfect = baseline_predictions("GT", data.baseline_data(), 3, 0)
    results = evaluate(
        data, {"copy": perfect}, ["GT", "GTSet", "Mime", "MeanFr"], 3, settings=SETTINGS
    )
    assert list(results) == ["copy", "GT", "GTSet", "Mime", "MeanFr"]
    assert results["copy"] == results["GT"]
    assert results["GTSet"]["motion median"] == pytest.approx(1.0, abs=0.1)
    assert results["GT"]["FRCorr"] == pytest.approx(1.0, abs=1e-4)  # own listener is appropriate
    assert results["GT"]["FRDist"] == pytest.approx(0.0, abs=1e-5)
    assert results["GT"]["FRDiv"] == 0.0  # N identical samples
    assert results["GTSet"]["FRCorr"] == pytest.approx(1.0, abs=1e-4)
    assert results["GTSet"]["FRDiv"] > 0.0
    assert results["MeanFr"]["FRVar"] == 0.0  # one constant frame
    assert results["MeanFr"]["FRSyn"] == 10.0  # no correlation peak: the largest lag
    assert results["Mime"]["FRSyn"] == 0.0  # the speaker itself peaks at lag 0
    assert results["Mime"]["FRCorr"] < 0.5


def test_evaluation_cuts_to_the_prediction_length_and_selects_columns(data):
    short = baseline_predictions("GT", data.baseline_data(), 2, 0)[:, :, :30]
    face = evaluate(
        data, {"short": short}, [], 2, part="face", grouped_frdist=True, settings=SETTINGS
    )
    assert face["short"]["FRDist"] == pytest.approx(0.0, abs=1e-5)
    columns = part_columns(get_face_model("arkit58"), "head")
    np.testing.assert_array_equal(columns, np.arange(52, 58))
    groups = frdist_groups(get_face_model("arkit58"), columns)
    assert [(g.tolist(), w) for g, w in groups] == [([0, 1, 2], 1 / 3), ([3, 4, 5], 1 / 3)]


def test_tables_in_text_csv_and_markdown(tmp_path):
    results = {
        "model": dict(
            zip([m.name for m in METRICS], [0.5, 20.0, 0.1, 0.2, 0.03, 4.0], strict=True)
        ),
        "GT": dict(zip([m.name for m in METRICS], [1.0, 0.0, 0.0, 0.3, 0.05, 0.0], strict=True)),
        "Mime": dict(zip([m.name for m in METRICS], [0.1, 30.0, 0.0, 0.4, 0.05, 0.0], strict=True)),
    }
    text = format_table(results)
    assert text.splitlines()[0].split()[:3] == ["method", "FRCorr", "↑"]
    assert "0.5000" in text and "20.0000" in text and len(text.splitlines()) == 5
    write_csv(tmp_path / "m.csv", results)
    assert read_csv(tmp_path / "m.csv") == results
    write_markdown(tmp_path / "m.md", results, ["note: synthetic"])
    markdown = (tmp_path / "m.md").read_text()
    model_row = next(line for line in markdown.splitlines() if line.startswith("| model"))
    assert "**0.5000**" in model_row and "**20.0000**" in model_row  # GT is not a competitor
    mime_row = next(line for line in markdown.splitlines() if line.startswith("| Mime"))
    assert "**0.4000**" in mime_row and "**0.0000**" in mime_row
    assert "note: synthetic" in markdown


def test_plot_of_speakers_samples_and_appropriate_reactions(tmp_path, data):
    from PIL import Image

    predictions = baseline_predictions("GTSet", data.baseline_data(), 3, 0)
    path = tmp_path / "reactions.png"
    shown = plot_reactions(
        path, predictions, data.speakers, data.listeners, data.appropriate, [0, 3],
        get_face_model("arkit58").names,
    )  # fmt: skip
    image = Image.open(path)
    assert image.format == "PNG" and image.size[0] > 800 and image.size[1] > 300
    assert shown == most_active_dims(
        np.concatenate([data.listeners[[0, 1]], data.listeners[[3, 4]]]), 3
    )
    assert np.asarray(image.convert("L")).std() > 10  # not a blank canvas


# ---- prediction files ---------------------------------------------------------------------


def test_prediction_files_are_checked_against_the_split(tmp_path, data):
    good = np.zeros((5, 2, 40, DIMS), np.float32)
    np.save(tmp_path / "good.npy", good)
    assert load_predictions(tmp_path / "good.npy", data).shape == (5, 2, 40, DIMS)
    np.save(tmp_path / "single.npy", good[:, 0])
    assert load_predictions(tmp_path / "single.npy", data).shape == (5, 1, 40, DIMS)
    bad = {
        "speakers.npy": (np.zeros((4, 2, 40, DIMS), np.float32), "num_speakers=5"),
        "dims.npy": (np.zeros((5, 2, 40, 56), np.float32), "D=58"),
        "long.npy": (np.zeros((5, 2, FRAMES + 1, DIMS), np.float32), "T<=48"),
        "ints.npy": (np.zeros((5, 2, 40, DIMS), np.int64), "expected float"),
        "nan.npy": (np.full((5, 2, 40, DIMS), np.nan, np.float32), "NaN"),
    }
    for name, (array, message) in bad.items():
        np.save(tmp_path / name, array)
        with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
            load_predictions(tmp_path / name, data)
        assert name in str(error.value)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_predictions(tmp_path / "missing.npy", data)


# ---- the command on a REACT-layout folder -------------------------------------------------


def write_react_folder(root, rng) -> dict[str, np.ndarray]:
    """A tiny REACT-layout dataset (arkit58, one direction): 3 test, 4 train and 2 val speaker
    clips, each answered by 2 listeners; returns the clips' coefficients by clip path."""
    import json

    (root / "dataset.json").write_text(
        json.dumps({"face_model": "arkit58", "directions": "speaker_to_listener", "fps": 25})
    )
    arrays = {}
    for split, speakers in (("test", 3), ("train", 4), ("val", 2)):
        rows, groups = [], []
        for s in range(speakers):
            for listener in range(2):
                rows.append(
                    (f"Synth/{split}{s}/Speaker/1", f"Synth/{split}{s}/Listener{listener}/1")
                )
                groups.append(s)
        with open(root / f"{split}.csv", "w") as handle:
            handle.write(",speaker_path,listener_path\n")
            handle.writelines(f"{i},{a},{b}\n" for i, (a, b) in enumerate(rows))
        groups = np.array(groups)
        np.save(
            root / f"neighbour_emotion_{split}.npy",
            (groups[:, None] == groups[None]).astype(np.uint8),
        )
        for clip in {clip for row in rows for clip in row}:
            path = root / split / "3D_FV_files" / f"{clip}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            arrays[clip] = smooth(rng, 1, 61)[0]
            np.save(path, arrays[clip])
    return arrays


def test_evaluate_command_writes_table_csv_markdown_and_plot(tmp_path, capsys):
    from PIL import Image

    from reactface_core.cli import main

    rng = np.random.default_rng(11)
    root = tmp_path / "data"
    root.mkdir()
    clips = write_react_folder(root, rng)
    # the model answers each test speaker clip with its two real listeners (T = 60 of 61)
    predictions = np.stack(
        [[clips[f"Synth/test{s}/Listener{n}/1"][:60] for n in range(2)] for s in range(3)]
    )
    np.save(tmp_path / "pred.npy", predictions)
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "--data", str(root), "--split", "test", "--pred", str(tmp_path / "pred.npy"),
         "--out", str(out), "--max-lag", "10", "--seed", "3"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "pred" in printed and "Retrieval" in printed and "FRCorr" in printed
    results = read_csv(out / "metrics.csv")
    # the oracles need a world of `reactface synth`, PerceivedMime speaker features (this
    # folder has coefficients only), ReadMime a checkpoint; DelayedMime is fitted on val
    skipped = ("FreshOracle", "DeafOracle", "PerceivedMime", "ReadMime")
    assert list(results) == ["pred", *(b for b in BASELINES if b not in skipped)]
    markdown = (out / "metrics.md").read_text()
    assert "PerceivedMime skipped: " in markdown and "has no speaker features" in markdown
    assert "ReadMime skipped: it reads the speakers through a model: give --checkpoint" in markdown
    assert "FreshOracle, DeafOracle skipped: " in markdown
    assert "is not a world of `reactface synth`" in markdown
    assert "chosen by FRCorr on the val split" in markdown
    assert results["pred"]["FRCorr"] == pytest.approx(1.0, abs=1e-4)
    assert results["pred"]["FRDist"] == pytest.approx(0.0, abs=1e-4)
    assert results["pred"] == pytest.approx(results["GTSet"])  # the same reactions
    assert results["pred"]["FRCorr"] > results["Random"]["FRCorr"]
    assert "| pred |" in (out / "metrics.md").read_text()
    assert Image.open(out / "reactions.png").size[0] > 800
    events = np.asarray(Image.open(out / "events.png").convert("L"))
    assert events.shape[1] > 800 and events.std() > 10  # blink and nod rasters, not blank
    # a second run with the same seed gives the same table
    main(["evaluate", "--data", str(root), "--pred", str(tmp_path / "pred.npy"), "--out",
          str(tmp_path / "again"), "--max-lag", "10", "--seed", "3", "--plot-speakers", "0"])  # fmt: skip
    assert read_csv(tmp_path / "again" / "metrics.csv") == results
    # a prediction file for the wrong number of speakers is refused with its name
    np.save(tmp_path / "short.npy", predictions[:2])
    with pytest.raises(SystemExit, match="short.npy has shape"):
        main(["evaluate", "--data", str(root), "--pred", str(tmp_path / "short.npy")])


def test_columns_constant_in_every_real_reaction_are_not_scored(data):
    listeners = data.listeners.copy()
    listeners[..., 7] = 0.0  # an unused blendshape: constant in every real reaction
    unused = EvaluationSet(listeners=listeners, **{
        k: v for k, v in data.__dict__.items() if k != "listeners"
    })  # fmt: skip
    assert 7 not in scored_columns(unused).tolist() and len(scored_columns(unused)) == DIMS - 1
    assert len(scored_columns(unused, keep_constant=True)) == DIMS
    gt = baseline_predictions("GT", unused.baseline_data(), 2, 0)
    dropped = evaluate(unused, {"gt": gt}, [], 2, settings=SETTINGS)["gt"]["FRCorr"]
    kept = evaluate(unused, {"gt": gt}, [], 2, settings=SETTINGS, keep_constant=True)["gt"][
        "FRCorr"
    ]
    assert dropped == pytest.approx(1.0, abs=1e-4)
    assert kept == pytest.approx((DIMS - 1) / DIMS, abs=1e-4)  # CCC 0 on the constant column


def test_front_plot_labels_models_and_draws_each_baseline_once(tmp_path):
    from PIL import Image

    from reactface_core.metrics.plot import plot_front

    row = {"FRCorr": 0.3, "FRDiv": 0.01}
    tables = {
        "runs/a": {"model": row, "small": row, "Mime": row, "FreshOracle": row},
        "runs/b": {"model": row, "Mime": {"FRCorr": 0.9, "FRDiv": 0.0}},
    }
    labels = plot_front(tmp_path / "front.png", tables)
    assert labels == ["runs/a: model", "small", "Mime", "FreshOracle", "runs/b: model"]
    assert Image.open(tmp_path / "front.png").size[0] > 600


def test_front_plot_zooms_on_the_models_when_there_are_several(tmp_path):
    import numpy as np
    from PIL import Image

    from reactface_core.metrics.plot import plot_front

    baselines = {
        "DelayedMime": {"FRCorr": 0.32, "FRDiv": 0.0},
        "Random": {"FRCorr": 0.0, "FRDiv": 0.06},
    }
    one = {"a": {"model": {"FRCorr": 0.26, "FRDiv": 0.0045}, **baselines}}
    two = {"a": {**one["a"], "other": {"FRCorr": 0.28, "FRDiv": 0.0030}}}

    def panel_ink(tables):  # dark pixels where the close-up goes (under the key)
        plot_front(tmp_path / "front.png", tables)
        image = np.asarray(Image.open(tmp_path / "front.png").convert("L"))
        height, width = image.shape
        return (image[int(0.5 * height) : int(0.88 * height), int(0.73 * width) :] < 128).sum()

    assert panel_ink(one) == 0
    assert panel_ink(two) > 100


def test_ablation_rows_are_told_from_model_names():
    from reactface_core.generate import ABLATIONS, ablation_label, is_ablation_label

    assert ablation_label("ReactFace", None) == "ReactFace"
    assert not is_ablation_label("ReactFace") and not is_ablation_label("ReactFace (small)")
    for ablate in ABLATIONS:
        assert is_ablation_label(ablation_label("ReactFace", ablate))
