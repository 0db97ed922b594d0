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


def test_torchrun_two_cpu_processes_keep_replicas_in_sync(config, world, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    command += ["--master_port", str(29500 + os.getpid() % 1000), "-m", "reactface_core.cli"]
    command += ["train", "--config", str(config), "--data", str(world), "--device", "cpu"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
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
    tiny["stage1"] = {**TINY["stage1"], "camera_view": 0.5}
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


def test_camera_view_weakens_and_blurs_only_the_face_regions_of_a_share_of_the_items():
    import torch

    from reactface_core.perception.landmarks import POSE_DIM, VISUAL_FEATURE_DIM
    from reactface_core.train import CAMERA_NOISE_CORRELATION, camera_view

    generator = torch.Generator().manual_seed(1)
    visual = torch.randn(400, 200, VISUAL_FEATURE_DIM, generator=generator) + 3.0
    valid = torch.ones(400, 200, dtype=torch.bool)
    valid[:, :20] = False  # frames without a face are left alone
    seen = camera_view(visual, valid, 0.5, torch.Generator().manual_seed(0))
    changed = (seen != visual).any(2).any(1)
    assert 0.42 < changed.float().mean() < 0.58
    assert torch.equal(seen[~changed], visual[~changed])
    assert torch.equal(seen[:, :20], visual[:, :20])
    assert torch.allclose(seen[:, :, :POSE_DIM], visual[:, :, :POSE_DIM], atol=1e-5)
    face = seen[changed][:, 20:, POSE_DIM:]
    original = visual[changed][:, 20:, POSE_DIM:]
    # the crop mean stays where it was (gain acts on the motion around it) ...
    drift = (face.mean(1) - original.mean(1)).abs().mean()
    assert drift < 0.1
    # ... the motion is weaker: gain ~ U(0.2, 1) on a unit signal, noise std ~ U(0, 0.7)
    follows = (face - face.mean(1, keepdim=True)) * (original - original.mean(1, keepdim=True))
    gain = follows.mean(1) / original.var(1)
    assert 0.5 < gain.mean() < 0.7
    # ... and what is added is correlated over time as the AR(1) step says
    residual = face - gain[:, None] * original
    residual = residual - residual.mean(1, keepdim=True)
    lag = (residual[:, 5:] * residual[:, :-5]).mean() / residual.var(1).mean()
    assert abs(lag - CAMERA_NOISE_CORRELATION**5) < 0.1
    again = camera_view(visual, valid, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(again, seen)
    assert torch.equal(camera_view(visual, valid, 0.0, torch.Generator()), visual)


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
