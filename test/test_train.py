"""Two-stage training end to end on a tiny synthetic world: checkpoints, resume, DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from reactface_core.checkpoint import load_checkpoint
from reactface_core.cli import main
from reactface_core.data.dataset import ReactDataset
from reactface_core.generate import generate_reactions, load_trained_model

pytestmark = pytest.mark.slow

TINY = {
    "seed": 3,
    "data": {"window": 40, "batch_size": 4, "workers": 0, "max_appropriate": 4},
    "model": {"dim": 16, "heads": 2, "context": 50, "dropout": 0.0},
    "stage1": {"epochs": 1, "warmup_steps": 2},
    "stage2": {"epochs": 1, "warmup_steps": 2, "samples": 2, "diversity": 0.01},
    "validation": {"speakers": 2, "frames": 48, "samples": 3},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("world") / "synth"
    argv = ["synth", "--out", str(root), "--clips", "12", "--seconds", "3", "--seed", "5"]
    argv += ["--clips-per-speaker", "2", "--listeners-per-speaker", "3", "--workers", "1"]
    assert main(argv + ["--no-preview", "--quiet"]) == 0
    return root


@pytest.fixture
def config(tmp_path, world) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "run")}))
    return path


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


def test_two_stages_write_usable_checkpoints(config, world, tmp_path):
    assert main(["train", "--config", str(config), "--data", str(world), "--device", "cpu"]) == 0
    run = tmp_path / "run"
    for name in ("last.pt", "stage1.pt", "best.pt", "history.jsonl", "curves.png", "config.yaml"):
        assert (run / name).is_file(), name
    records = history(run)
    assert [r["stage"] for r in records] == ["stage1", "stage2"]
    assert "train_rec" in records[0] and "train_rec_appropriate" in records[1]
    assert "train_diversity" in records[1]
    for record in records:
        assert np.isfinite(record["val_FRCorr"]) and record["val_FRDist"] > 0

    best = load_checkpoint(run / "best.pt")
    assert best.face_model == "arkit58"
    assert best.training_state == {}  # shipped checkpoints carry no optimiser state
    assert best.data_fingerprint and best.code_version.startswith("0.1.0")
    assert len(best.normalization["coefficient_mean"]) == 58
    assert best.train_config["stage2"]["samples"] == 2

    reactions = generate_reactions(run / "best.pt", world, "test", num_samples=3, progress=False)
    speakers = load_trained_model(run / "best.pt")
    assert reactions.shape[1:] == (3, 76, 58) and np.isfinite(reactions).all()
    assert speakers.face_model.name == "arkit58"
    # the samples differ (it is a distribution), the deterministic variant does not sample
    assert np.abs(reactions[:, 0] - reactions[:, 1]).max() > 1e-4
    fixed = generate_reactions(
        run / "best.pt", world, "test", num_samples=2, deterministic=True, progress=False
    )
    assert np.abs(fixed[:, 0] - fixed[:, 1]).max() < 1e-6


def test_resume_continues_and_refuses_another_config(config, world, tmp_path):
    base = ["train", "--config", str(config), "--data", str(world), "--device", "cpu"]
    assert main(base) == 0
    first = history(tmp_path / "run")
    assert main(base + ["--resume", "--set", "stage2.epochs=2"]) == 0
    resumed = history(tmp_path / "run")
    assert len(resumed) == 3 and resumed[:2] == first
    assert resumed[2]["stage"] == "stage2" and resumed[2]["step"] > first[1]["step"]
    with pytest.raises(SystemExit, match="^reactface train: .*dim: checkpoint 16 vs config 32"):
        main(base + ["--resume", "--set", "model.dim=32"])  # the CheckpointError, in one line


def torchrun_train(config: Path, data: Path) -> None:
    """`reactface train` in two CPU processes under torchrun, as `make model` runs it."""
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(29500 + os.getpid() % 1000), "-m", "reactface_core.cli"]
    command += ["train", "--config", str(config), "--data", str(data), "--device", "cpu"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_torchrun_two_cpu_processes_keep_replicas_in_sync(config, world, tmp_path):
    torchrun_train(config, world)
    records = history(tmp_path / "run")
    assert [r["world_size"] for r in records] == [2, 2]
    assert all(r["replicas_in_sync"] for r in records)
    # each process trains on its own half of the items
    items = len(ReactDataset(world, "train").items)
    assert records[0]["step"] == (items // 2) // TINY["data"]["batch_size"]
    assert (tmp_path / "run" / "best.pt").is_file()


def test_training_lowers_the_loss_and_beats_the_constant_mean_frame(world, tmp_path):
    """A model that learns nothing would pass every check above; this one must learn."""
    from reactface_core.metrics.evaluation import evaluate, load_react_split

    config = {**TINY, "output": str(tmp_path / "run")}
    config["stage1"] = {**TINY["stage1"], "epochs": 8}
    config["stage2"] = {**TINY["stage2"], "epochs": 0}
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(path), "--data", str(world), "--device", "cpu"]) == 0
    losses = [r["train_rec"] for r in history(tmp_path / "run")]
    assert losses[-1] < 0.95 * losses[0], losses

    data = load_react_split(world, "test")
    predictions = generate_reactions(
        tmp_path / "run" / "best.pt", world, "test", num_samples=3, progress=False
    )
    rows = evaluate(data, {"model": predictions}, ["MeanFr"], num_samples=3)
    assert rows["model"]["FRDist"] < rows["MeanFr"]["FRDist"], rows


def test_a_model_can_learn_from_what_mediapipe_sees_in_the_world_s_renders(world, tmp_path):
    from reactface_core.data.dataset import compute_normalisation
    from reactface_core.train import DataConfig

    config = tmp_path / "camera.yaml"
    tiny = {**TINY, "output": str(tmp_path / "run"), "stage2": {**TINY["stage2"], "epochs": 0}}
    tiny["data"] = {**TINY["data"], "landmarks": "camera_landmarks"}
    config.write_text(yaml.safe_dump(tiny))
    argv = ["train", "--config", str(config), "--data", str(world), "--device", "cpu"]
    with pytest.raises(SystemExit, match="Camera_landmark_files.*--only camera"):
        main(argv)
    assert main(["prepare", "--data", str(world), "--only", "camera", "--workers", "2"]) == 0
    assert main(argv) == 0
    learnt = load_checkpoint(tmp_path / "run" / "best.pt")
    assert learnt.train_config["data"]["landmarks"] == "camera_landmarks"
    run = tmp_path / "run" / "best.pt"
    with pytest.warns(RuntimeWarning, match="learnt from the speakers' camera_landmarks"):
        files = generate_reactions(run, world, num_samples=2, landmarks="landmarks")
    with warnings.catch_warnings():  # by default it sees what it learnt from: no warning
        warnings.simplefilter("error", RuntimeWarning)
        camera = generate_reactions(run, world, num_samples=2, progress=False)
        explicit = generate_reactions(run, world, "test", 2, landmarks="camera_landmarks")
        calibrate = ["calibrate", "--checkpoint", str(run), "--data", str(world), "--samples", "2"]
        assert main([*calibrate, "--out", str(tmp_path / "calibrated.pt")]) == 0
    assert np.array_equal(camera, explicit) and not np.allclose(camera, files)
    clips = DataConfig().normalisation_clips
    for landmarks, same in (("camera_landmarks", True), ("landmarks", False)):
        dataset = ReactDataset(world, "train", window=None, random_crop=False, landmarks=landmarks)
        measured = compute_normalisation(dataset, clips).visual_mean
        assert np.allclose(learnt.normalization["visual_mean"], measured) == same


def test_a_few_tracked_clips_teach_every_clip_what_the_camera_does(world, tmp_path, capsys):
    """data.landmarks=camera_view: the rig's features through a view learnt from the train
    clips MediaPipe tracked (`prepare --only camera --clips N`), and a model that learnt
    from it sees the camera's landmarks as what it learnt from."""
    import shutil

    from reactface_core.checkpoint import Normalisation
    from reactface_core.data.camera_view import camera_view, fit_camera_view, window_rng
    from reactface_core.data.dataset import compute_normalisation, learnt_to_see, seen_by_default
    from reactface_core.perception.landmarks import COLUMN_GROUPS, POSE_DIM
    from reactface_core.perception.prepare import find_jobs
    from reactface_core.train import TrainConfig, validation_metrics, validation_sources

    every = [job.clip for job in find_jobs(world, ("camera",), ("train",))]
    spread = [job.clip for job in find_jobs(world, ("camera",), ("train",), camera_clips=2)]
    assert spread == [every[0], every[-1]]
    copy = tmp_path / "world"
    shutil.copytree(world, copy, ignore=shutil.ignore_patterns("Camera_landmark_files"))
    with pytest.raises(FileNotFoundError, match="--only camera --split train --clips 20"):
        fit_camera_view(copy)
    track = ["prepare", "--data", str(copy), "--only", "camera", "--split", "train"]
    assert main([*track, "--clips", "0"]) == 2
    assert main([*track, "--clips", "2"]) == 0
    assert len(list(copy.rglob("Camera_landmark_files/**/*.npy"))) == 2
    fitted = fit_camera_view(copy).clips  # those with a face in the rig
    assert fitted and set(fitted) <= set(spread)

    def dataset(landmarks, epoch=0, view_share=1.0):
        data = ReactDataset(
            copy,
            "train",
            window=None,
            random_crop=False,
            landmarks=landmarks,
            view_share=view_share,
        )
        data.set_epoch(epoch)
        return data

    faces = 0
    for clip in spread:  # nearer what MediaPipe saw than the rig's own features
        frames = len(dataset("landmarks").coefficients(clip))
        (rig, face_in_rig), (camera, seen), (view, in_view) = (
            dataset(kind).speaker_visual(clip, 0, frames, normalise=False)
            for kind in ("landmarks", "camera_landmarks", "camera_view")
        )
        if not face_in_rig.any():  # the world's faceless clips stay faceless in the view
            assert not in_view.any()
            continue
        faces += 1
        both = seen & in_view
        assert both.mean() > 0.7
        face = slice(POSE_DIM, None)
        assert np.mean((view - camera)[both, face] ** 2) < np.mean((rig - camera)[both, face] ** 2)
        direct, _ = camera_view(str(copy)).apply(rig, face_in_rig, window_rng(0, 0, clip, 0))
        assert np.array_equal(direct, view)  # view_share 1 draws nothing before the span
        again, _ = dataset("camera_view").speaker_visual(clip, 0, frames, normalise=False)
        later, _ = dataset("camera_view", epoch=1).speaker_visual(clip, 0, frames, normalise=False)
        assert np.array_equal(again, view) and not np.allclose(later, view)
        # view_share: a share of the windows through the view, the rest as the files are
        shared = [
            dataset("camera_view", epoch, share).speaker_visual(clip, 0, frames, False)[0]
            for epoch in range(16)
            for share in (0.0, 0.5)
        ]
        assert all(np.array_equal(features, rig) for features in shared[0::2])
        assert 0 < sum(not np.array_equal(features, rig) for features in shared[1::2]) < 16
    assert faces
    with pytest.raises(ValueError, match="view_share must be in"):
        dataset("camera_view", view_share=1.5)
    assert learnt_to_see("camera_view") == {"camera_landmarks"}
    assert learnt_to_see("camera_view", 0.5) == {"camera_landmarks", "landmarks"}
    assert learnt_to_see("camera_view", 0.0) == {"landmarks"}  # it never saw the view
    assert learnt_to_see("landmarks", 0.5) == {"landmarks"}
    # unless told, a model that learnt the files too sees them: every dataset has them
    assert seen_by_default("camera_view", 0.25) == "landmarks"
    assert seen_by_default("camera_view") == "camera_view"
    assert seen_by_default("camera_landmarks") == "camera_landmarks"

    with pytest.raises(SystemExit, match="no test clip of .* is tracked"):
        main(["bench", "view", "--data", str(copy)])
    assert main(["prepare", "--data", str(copy), "--only", "camera", "--split", "test"]) == 0
    assert main(["bench", "view", "--data", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "the view fitted on" in printed and all(group in printed for group in COLUMN_GROUPS)

    config = tmp_path / "view.yaml"
    tiny = {**TINY, "output": str(tmp_path / "run"), "stage2": {**TINY["stage2"], "epochs": 0}}
    tiny["data"] = {**TINY["data"], "landmarks": "camera_view"}
    config.write_text(yaml.safe_dump(tiny))
    assert main(["train", "--config", str(config), "--data", str(copy), "--device", "cpu"]) == 0
    run = tmp_path / "run" / "best.pt"
    measured = compute_normalisation(dataset("camera_view"), 200).visual_mean
    assert np.allclose(load_checkpoint(run).normalization["visual_mean"], measured)
    with pytest.warns(RuntimeWarning, match="learnt from the speakers' camera_view"):
        generate_reactions(run, copy, "train", 2, progress=False, landmarks="landmarks")
    assert main(["prepare", "--data", str(world), "--only", "camera", "--split", "test"]) == 0
    with warnings.catch_warnings():  # the camera's own landmarks are what it learnt to see
        warnings.simplefilter("error", RuntimeWarning)
        generate_reactions(run, world, "test", 2, progress=False, landmarks="camera_landmarks")
        scored = tmp_path / "scored"
        argv = ["evaluate", "--data", str(copy), "--split", "test", "--checkpoint", str(run)]
        argv += ["--num-samples", "2", "--baselines", "none", "--plot-speakers", "0"]
        assert main([*argv, "--perception", "view", "--out", str(scored)]) == 0
    assert "speaker landmarks: view." in (scored / "metrics.md").read_text()

    # half the windows through the view: validated through each source, selected on the mean
    tiny["data"]["view_share"], tiny["output"] = 0.5, str(tmp_path / "both")
    config.write_text(yaml.safe_dump(tiny))
    assert main(["train", "--config", str(config), "--data", str(copy), "--device", "cpu"]) == 0
    files_scale = compute_normalisation(dataset("landmarks"), 200).to_dict()
    recorded = load_checkpoint(tmp_path / "both" / "best.pt").normalization
    assert all(np.array_equal(recorded[key], value) for key, value in files_scale.items())
    history = (tmp_path / "both" / "history.jsonl").read_text().splitlines()
    for record in map(json.loads, history):
        files, view = record["val_files_FRCorr"], record["val_view_FRCorr"]
        assert files != view and record["val_FRCorr"] == pytest.approx((files + view) / 2)
    with warnings.catch_warnings():  # it learnt to see both
        warnings.simplefilter("error", RuntimeWarning)
        for landmarks, data in (("landmarks", copy), ("camera_landmarks", world)):
            both = tmp_path / "both" / "best.pt"
            generate_reactions(both, data, "test", 2, progress=False, landmarks=landmarks)

    # in two processes each rank computes half the clips' features and scores one source:
    # the statistics and the figures are those one process gets
    tiny["output"] = str(tmp_path / "ranks")
    config.write_text(yaml.safe_dump(tiny))
    torchrun_train(config, copy)
    last = load_checkpoint(tmp_path / "ranks" / "last.pt")
    assert all(np.array_equal(last.normalization[k], v) for k, v in files_scale.items())
    model = load_trained_model(tmp_path / "ranks" / "last.pt").model
    trained = TrainConfig.from_dict(last.train_config)
    record = json.loads((tmp_path / "ranks" / "history.jsonl").read_text().splitlines()[-1])
    for source, share in validation_sources(trained.data).items():
        data = ReactDataset(
            copy,
            "val",
            window=trained.validation.frames,
            random_crop=False,
            max_appropriate=trained.data.max_appropriate,
            normalisation=Normalisation.from_dict(last.normalization),
            seed=trained.seed,
            landmarks="camera_view",
            view_share=share,
        )
        scored = validation_metrics(model, data, trained)
        assert record[f"val_{source}_FRCorr"] == pytest.approx(scored["val_FRCorr"], rel=1e-5)
        assert record[f"val_{source}_FRDist"] == pytest.approx(scored["val_FRDist"], rel=1e-5)


def test_face_dropout_hides_one_contiguous_span_in_a_share_of_the_items():
    import torch

    from reactface_core.train import _hide_faces

    valid = torch.ones(4000, 200, dtype=torch.bool)
    valid[:, 10] = False  # a frame with no face stays without one
    hidden = ~_hide_faces(valid, 0.3, torch.Generator().manual_seed(0)) & valid
    touched = hidden.any(1)
    assert 0.27 < touched.float().mean() < 0.33
    lengths = hidden.sum(1)[touched]
    assert lengths.min() >= 49 and lengths.max() <= 200  # a quarter to all of the crop
    steps = torch.arange(200)
    first = torch.where(hidden, steps, 200).amin(1)[touched]
    last = torch.where(hidden, steps, -1).amax(1)[touched]
    gap = (~valid[touched]).long().sum(1) * ((first <= 10) & (last >= 10)).long()
    assert torch.equal(last - first + 1, lengths + gap)  # one span, across the faceless frame
    again = _hide_faces(valid, 0.3, torch.Generator().manual_seed(0))
    assert torch.equal(again, valid & ~hidden)
    assert torch.equal(_hide_faces(valid, 0.0, torch.Generator().manual_seed(0)), valid)


def test_a_clip_whose_head_pose_mediapipe_misread_is_left_out_of_the_residual_bank():
    from reactface_core.data.camera_view import MISREAD_POSE, misread_pose
    from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

    rng = np.random.default_rng(0)

    def residual(rotation_std: float, frames: int = 300) -> np.ndarray:
        values = rng.normal(0.0, 0.1, (frames, VISUAL_FEATURE_DIM))
        values[:, :3] = rng.normal(0.0, rotation_std, (frames, 3))
        return values

    unseen = np.full((50, VISUAL_FEATURE_DIM), np.nan)  # MediaPipe never found this face
    typical = [residual(s) for s in (0.02, 0.03, 0.04, 0.05)]
    misread = residual(0.04 * MISREAD_POSE * 1.5)
    assert misread_pose([*typical, misread, unseen]).tolist() == [False] * 4 + [True, False]
    assert not misread_pose(typical).any() and not misread_pose([unseen]).any()


def test_a_checkpoint_s_recorded_data_config_reads_with_today_s_defaults():
    from reactface_core.data.dataset import VIEW_SHARE
    from reactface_core.train import DataConfig

    older = DataConfig.recorded({"landmarks": "camera_view", "a_retired_key": 3})
    assert older == DataConfig(landmarks="camera_view") and older.view_share == VIEW_SHARE
    assert DataConfig.recorded({}) == DataConfig()
    assert DataConfig.recorded({"view_share": 0.5}).view_share == 0.5
