"""Checkpoints: everything needed to rebuild and trust a trained model, and nothing executable.

A checkpoint is a `torch.save`d dict of tensors and plain Python values, loaded with
`torch.load(..., weights_only=True)`: a file from somewhere else cannot run code on load.
It carries the model config, the face model (coefficient layout), the normalisation
statistics of the training data, the code version, the versions of what gives the weights
their meaning (`expected_versions`) and a fingerprint of the data it was trained on, so a
checkpoint can never be silently used with the wrong layout, config, code or features.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "reactface-checkpoint"
FORMAT_VERSION = 1


def expected_versions() -> dict[str, int]:
    """One version per part of the code that gives a checkpoint's numbers their meaning.

    A part bumps its version when the same weights would compute something else (the
    model) or be fed other values (e.g. feature definitions); a checkpoint loads only where
    every recorded version matches. Files written before versions were recorded count as
    version 1 of every part.
    """
    from reactface_core.model.config import MODEL_VERSION
    from reactface_core.perception.audio import AUDIO_FEATURE_VERSION
    from reactface_core.perception.landmarks import FEATURE_VERSION

    return {"model": MODEL_VERSION, "features": FEATURE_VERSION, "audio": AUDIO_FEATURE_VERSION}


@dataclass(frozen=True)
class Normalisation:
    """Per-feature mean/std for coefficients (D,), visual (D_v,) and audio (D_a,) features:
    the training data's statistics, stored in the checkpoint and applied at inference."""

    coefficient_mean: np.ndarray | None = None
    coefficient_std: np.ndarray | None = None
    visual_mean: np.ndarray | None = None
    visual_std: np.ndarray | None = None
    audio_mean: np.ndarray | None = None
    audio_std: np.ndarray | None = None

    def to_dict(self) -> dict[str, list[float] | None]:
        return {k: None if v is None else np.asarray(v).tolist() for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> Normalisation:
        return cls(**{k: None if v is None else np.asarray(v, np.float32) for k, v in data.items()})

    def coefficients(self, x: np.ndarray) -> np.ndarray:
        """Face-model units -> model space."""
        return _standardise(x, self.coefficient_mean, self.coefficient_std)

    def raw_coefficients(self, x: np.ndarray) -> np.ndarray:
        """Model space -> face-model units (the inverse of `coefficients`)."""
        if self.coefficient_mean is None:
            return x
        return (x * self.coefficient_std + self.coefficient_mean).astype(np.float32)

    def visual(self, features: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Standardise the rows with a face in place (masked rows stay as they are)."""
        if self.visual_mean is not None:
            features[valid] = _standardise(features[valid], self.visual_mean, self.visual_std)
        return features

    def audio(self, steps: np.ndarray) -> np.ndarray:
        return _standardise(steps, self.audio_mean, self.audio_std)


def _standardise(x: np.ndarray, mean, std) -> np.ndarray:
    if mean is None:
        return x
    return ((x - mean) / std).astype(np.float32)


class CheckpointError(ValueError):
    """A checkpoint file that is missing, truncated, foreign or does not fit a config."""


@dataclass
class Checkpoint:
    model_config: dict[str, Any]
    face_model: str
    state_dict: dict[str, torch.Tensor]
    normalization: dict[str, torch.Tensor] = field(default_factory=dict)
    train_config: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""
    data_fingerprint: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    training_state: dict[str, Any] = field(default_factory=dict)  # optimiser, step: for --resume
    versions: dict[str, int] = field(default_factory=expected_versions)

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **self.__dict__}


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write atomically (temp file + rename), so an interrupted run never leaves half a file.

    Serialised in memory first: `torch.save` to a file names the zip's entries after that
    file, so the same checkpoint would have other bytes (and md5) under another name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    serialised = io.BytesIO()
    torch.save(checkpoint.to_dict(), serialised)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(serialised.getvalue())
    temporary.replace(path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load safely; raise CheckpointError naming the file and what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to unpickle means "not loadable"
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise CheckpointError(
            f"{path} is not a readable reactface checkpoint (truncated, corrupt, or a file that "
            f"would need arbitrary code to load): {first_line}"
        ) from error
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a reactface checkpoint")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {raw.get('format_version')}, this reactface "
            f"reads version {FORMAT_VERSION}"
        )
    fields = {key: value for key, value in raw.items() if key not in ("format", "format_version")}
    expected = expected_versions()
    recorded = fields.setdefault("versions", dict.fromkeys(expected, 1))
    if any(recorded.get(part, 1) != version for part, version in expected.items()):
        raise CheckpointError(
            f"{path} was written for {_describe(recorded)}; this reactface expects "
            f"{_describe(expected)}: retrain it (`make model` for the shipped model)"
        )
    try:
        return Checkpoint(**fields)
    except TypeError as error:
        raise CheckpointError(f"{path} has unexpected checkpoint fields: {error}") from error


def _describe(versions: dict[str, int]) -> str:
    return ", ".join(f"{part} version {version}" for part, version in sorted(versions.items()))


def check_config(checkpoint: Checkpoint, model_config: dict[str, Any], path: str | Path) -> None:
    """Fail clearly when a checkpoint is loaded into a model built from another config."""
    differences = [
        f"{key}: checkpoint {checkpoint.model_config.get(key)!r} vs config {model_config.get(key)!r}"
        for key in sorted(set(checkpoint.model_config) | set(model_config))
        if checkpoint.model_config.get(key) != model_config.get(key)
    ]
    if differences:
        raise CheckpointError(
            f"checkpoint {path} was trained with a different model config: "
            + "; ".join(differences)
        )


def code_version() -> str:
    """Package version plus the git commit when running from a checkout."""
    from reactface_core import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+g{commit}" if commit else __version__


def fingerprint_files(paths: list[Path]) -> str:
    """A short hash of file names, sizes and contents: which data a model was trained on."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
