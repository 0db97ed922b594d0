"""Checkpoints round-trip, and bad files fail with a message naming the file and the problem."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from reactface_core.checkpoint import (
    Checkpoint,
    CheckpointError,
    check_config,
    expected_versions,
    load_checkpoint,
    save_checkpoint,
)


def make_checkpoint() -> Checkpoint:
    return Checkpoint(
        model_config={"dim": 8, "window": 8},
        face_model="arkit58",
        state_dict={"weight": torch.arange(6.0).reshape(2, 3)},
        normalization={"listener_mean": torch.zeros(58)},
        code_version="0.1.0",
        data_fingerprint="abc",
        metrics={"FRCorr": 0.5},
    )


def test_round_trip(tmp_path):
    path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    assert loaded.model_config == {"dim": 8, "window": 8}
    assert loaded.face_model == "arkit58"
    assert torch.equal(loaded.state_dict["weight"], torch.arange(6.0).reshape(2, 3))
    assert loaded.metrics == {"FRCorr": 0.5}
    assert not (tmp_path / "model.pt.tmp").exists()


def test_the_same_checkpoint_has_the_same_bytes_under_any_name(tmp_path):
    first = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    renamed = save_checkpoint(load_checkpoint(first), tmp_path / "other" / "shipped_model.pt")
    assert renamed.read_bytes() == first.read_bytes()


def test_truncated_file(tmp_path):
    path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.pt is not a readable reactface checkpoint"):
        load_checkpoint(path)


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "reactface-checkpoint", "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="arbitrary code"):
        load_checkpoint(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(RunsCode()))
    with pytest.raises(CheckpointError, match="plain.pkl"):
        load_checkpoint(plain)


def test_tiny_junk_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x80\x02K")
    with pytest.raises(CheckpointError, match="junk.pt is not a readable"):
        load_checkpoint(path)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not a reactface checkpoint"):
        load_checkpoint(path)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_config_mismatch_names_the_keys(tmp_path):
    checkpoint = make_checkpoint()
    with pytest.raises(CheckpointError, match=r"dim: checkpoint 8 vs config 16"):
        check_config(checkpoint, {"dim": 16, "window": 8}, "model.pt")
    check_config(checkpoint, {"dim": 8, "window": 8}, "model.pt")


def test_versions_are_recorded_and_a_checkpoint_of_other_code_refuses_to_load(
    tmp_path, monkeypatch
):
    path = save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    assert load_checkpoint(path).versions == expected_versions()
    monkeypatch.setattr(
        "reactface_core.checkpoint.expected_versions",
        lambda: {"model": 99, "features": 7, "audio": 3},
    )
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    recorded = expected_versions()
    assert (
        f"written for audio version {recorded['audio']}, features version {recorded['features']}"
        f", model version {recorded['model']}" in message
    )
    assert "expects audio version 3, features version 7, model version 99" in message


def test_a_checkpoint_without_versions_counts_as_version_1_of_everything(tmp_path, monkeypatch):
    raw = make_checkpoint().to_dict()
    del raw["versions"]
    torch.save(raw, tmp_path / "old.pt")
    monkeypatch.setattr("reactface_core.checkpoint.expected_versions", lambda: {"model": 1})
    assert load_checkpoint(tmp_path / "old.pt").versions == {"model": 1}
    monkeypatch.setattr(
        "reactface_core.checkpoint.expected_versions", lambda: {"model": 1, "features": 2}
    )
    with pytest.raises(CheckpointError, match="written for features version 1, model version 1; "
                       "this reactface expects features version 2, model version 1"):  # fmt: skip
        load_checkpoint(tmp_path / "old.pt")
