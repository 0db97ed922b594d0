"""Fitting a trained model's idle head motion (`model.idle`) on a split it did not train on.

For each idle channel c (`idle_channels`), with the motion statistics of `metrics.motion`
(each speaker's appropriate set counted once):

    set std      sigma_c = reference_std of the appropriate reactions
    sample std   g_c     = temporal_std of the model's own samples, idle motion off
    added std    s_c     = sqrt(max(0, sigma_c^2 - g_c^2))         in the model's units
    roughness    rho_c   = reference_std of the frame-to-frame change / sigma_c
    pole         a_c     = `pole_for_roughness(rho_c)`

The samples see the speaker through the landmarks the model learnt from: for a model that
learnt the camera's view, through the view, what a robot's camera resembles, even where it
learnt the files too. The model's weights are unchanged; the checkpoint gains `idle: true`
and s, a.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reactface_core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from reactface_core.face.models import get_face_model
from reactface_core.generate import TrainedModel, generate_reactions, trained_model
from reactface_core.metrics.evaluation import load_react_split
from reactface_core.metrics.motion import reference_std, temporal_std
from reactface_core.model.idle import idle_channels, pole_for_roughness


@dataclass(frozen=True)
class IdleFit:
    """One idle channel's fit, in the face model's units (std) and per frame (pole)."""

    channel: str
    set_std: float
    sample_std: float
    added_std: float
    roughness: float
    pole: float


def without_idle(checkpoint: Checkpoint) -> Checkpoint:
    """The checkpoint as training left it: no idle motion, whatever a calibration added."""
    state = {k: v for k, v in checkpoint.state_dict.items() if not k.startswith("idle.")}
    config = {**checkpoint.model_config, "idle": False}
    return dataclasses.replace(checkpoint, model_config=config, state_dict=state)


def fit_idle(
    trained: TrainedModel,
    data_dir: str | Path,
    split: str = "val",
    samples: int = 10,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> list[IdleFit]:
    """Measure what the samples of `trained` (without idle motion) lack on each idle channel."""
    if trained.model.config.idle:
        raise ValueError("fit the idle motion on the model without it (`without_idle`)")
    # generate_reactions also checks that the split is in the model's face model
    learnt = trained.data_config.landmarks
    generated = generate_reactions(
        trained, data_dir, split, samples, seed, device, progress=progress, landmarks=learnt
    )
    data = load_react_split(Path(data_dir), split, training_split=None)
    frames = min(generated.shape[2], data.listeners.shape[1])
    listeners = data.listeners[:, :frames]
    set_std = reference_std(listeners, data.appropriate)
    change_std = reference_std(np.diff(listeners, axis=1), data.appropriate)
    sample_std = temporal_std(generated[:, :, :frames])
    fits = []
    for c in idle_channels(trained.face_model):
        added = float(np.sqrt(max(0.0, set_std[c] ** 2 - sample_std[c] ** 2)))
        roughness = float(change_std[c] / set_std[c]) if set_std[c] > 0 else 0.0
        fits.append(
            IdleFit(
                trained.face_model.names[c],
                float(set_std[c]),
                float(sample_std[c]),
                added,
                roughness,
                pole_for_roughness(roughness) if added > 0 else 0.0,
            )
        )
    return fits


def calibrated(checkpoint: Checkpoint, fits: list[IdleFit]) -> Checkpoint:
    """`checkpoint` (without idle motion) with the fitted idle motion switched on."""
    names = get_face_model(checkpoint.face_model).names
    dim = len(names)
    std = checkpoint.normalization.get("coefficient_std")
    unit = np.ones(dim) if std is None else np.asarray(std, dtype=np.float64)
    scale, pole = np.zeros(dim, np.float32), np.zeros(dim, np.float32)
    for fit in fits:
        c = names.index(fit.channel)
        scale[c], pole[c] = fit.added_std / unit[c], fit.pole
    state = dict(checkpoint.state_dict)
    state["idle.scale"], state["idle.pole"] = torch.from_numpy(scale), torch.from_numpy(pole)
    config = {**checkpoint.model_config, "idle": True}
    return dataclasses.replace(checkpoint, model_config=config, state_dict=state)


def calibrate_checkpoint(
    path: str | Path, data_dir: str | Path, out: str | Path, **options
) -> list[IdleFit]:
    """Read `path`, fit its idle motion on `data_dir` (`options`: those of `fit_idle`),
    write the calibrated checkpoint to `out`."""
    base = without_idle(load_checkpoint(path, map_location="cpu"))
    trained = trained_model(base, Path(path), options.get("device", "cpu"))
    fits = fit_idle(trained, data_dir, **options)
    save_checkpoint(calibrated(base, fits), out)
    return fits
