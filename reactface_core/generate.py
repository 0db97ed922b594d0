"""A trained ReactFace ready to use: offline generation for a dataset split, online streams.

The model works in normalised units (the training data's per-feature mean/std, stored in
the checkpoint). Everything here takes raw perception features and returns coefficients
in the face model's own units, so callers (`reactface generate`, `evaluate`, the demo,
the ROS reaction node) never see the normalisation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from reactface_core.checkpoint import Checkpoint, CheckpointError, Normalisation, load_checkpoint
from reactface_core.data.dataset import (
    ReactDataset,
    learnt_to_see,
    perceived_as,
    seen_by_default,
)
from reactface_core.face.models import FaceModel, get_face_model
from reactface_core.model.config import LANDMARK_ENCODER, ReactFaceConfig
from reactface_core.model.reactface import ReactFace
from reactface_core.perception.audio import AUDIO_FEATURE_DIM, silence
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM
from reactface_core.streaming import ReactionGenerator
from reactface_core.train import DataConfig

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "reactface_synth.pt"
# Inputs `generate_reactions` can take away, to measure what each modality contributes.
ABLATIONS = {"audio": "audio zeroed", "visual": "face masked"}


def ablation_label(name: str, ablate: str | None) -> str:
    """The evaluation row of model `name` with input `ablate` taken away (None: intact)."""
    return name if ablate is None else f"{name} ({ABLATIONS[ablate]})"


def is_ablation_label(label: str) -> bool:
    return any(label.endswith(f" ({what})") for what in ABLATIONS.values())


@dataclass
class TrainedModel:
    model: ReactFace
    normalisation: Normalisation
    checkpoint: Checkpoint
    path: Path

    @property
    def face_model(self) -> FaceModel:
        return get_face_model(self.checkpoint.face_model)

    @property
    def window(self) -> int:
        return self.model.config.window

    @property
    def data_config(self) -> DataConfig:
        """What the model learnt from, as its checkpoint recorded it."""
        return DataConfig.recorded(self.checkpoint.train_config.get("data", {}))

    def stream(
        self, samples: int = 10, seed: int = 0, deterministic: bool = False
    ) -> NormalisedReactionGenerator:
        return NormalisedReactionGenerator(
            ReactionGenerator(self.model, samples, seed, deterministic),
            self.normalisation,
            self.face_model,
        )


def load_trained_model(path: str | Path | None = None, device: str = "cpu") -> TrainedModel:
    """Load a checkpoint (default: the shipped model) into an eval-mode ReactFace."""
    path = Path(path) if path else DEFAULT_CHECKPOINT
    if not path.exists() and path == DEFAULT_CHECKPOINT:
        raise CheckpointError(
            f"the default model {path} is missing; train it with `make model` (see README)"
        )
    return trained_model(load_checkpoint(path, map_location=device), path, device)


def trained_model(checkpoint: Checkpoint, path: Path, device: str = "cpu") -> TrainedModel:
    """A loaded checkpoint (read from `path`) as an eval-mode ReactFace, checked."""
    try:
        config = ReactFaceConfig.from_dict(checkpoint.model_config)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path} has an unusable model config: {error}") from None
    for name, used, produced in (
        ("visual_dim", config.visual_encoder == LANDMARK_ENCODER, VISUAL_FEATURE_DIM),
        ("audio_dim", config.audio_encoder == "logmel", AUDIO_FEATURE_DIM),
    ):
        if used and getattr(config, name) != produced:
            raise CheckpointError(
                f"checkpoint {path} expects {name}={getattr(config, name)} but this reactface's "
                f"perception produces {produced}: it was trained with other features"
            )
    broken = [
        name
        for name, tensor in checkpoint.state_dict.items()
        if torch.is_tensor(tensor) and tensor.is_floating_point() and not tensor.isfinite().all()
    ]
    if broken:
        raise CheckpointError(
            f"checkpoint {path} has non-finite (NaN or inf) weights in {len(broken)} tensor(s), "
            f"e.g. {broken[0]}: it would generate NaN reactions (a diverged training run?)"
        )
    model = ReactFace(config)
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit the ReactFace built from its own config: {error}"
        ) from None
    model.to(device).eval()
    return TrainedModel(model, Normalisation.from_dict(checkpoint.normalization), checkpoint, path)


def load_online_generator(
    checkpoint: str,
    samples: int = 10,
    seed: int = 0,
    deterministic: bool = False,
    device: str = "cpu",
    window: int = 8,
) -> tuple[NormalisedReactionGenerator, str, str]:
    """The online generator a robot runs: raw perception features in, face-model units out.

    checkpoint: a file written by `reactface train`; "default": the shipped model; "": a
    randomly initialised model of window `window` with the perception feature sizes, so the
    whole pipeline runs exactly as with a trained one (for testing the plumbing). Returns
    (generator, face model name, description). A bad checkpoint raises `CheckpointError`.
    """
    if not checkpoint:
        config = ReactFaceConfig(
            visual_dim=VISUAL_FEATURE_DIM, audio_dim=AUDIO_FEATURE_DIM, window=window
        )
        torch.manual_seed(seed)
        model = ReactFace(config).to(device)
        generator = NormalisedReactionGenerator(
            ReactionGenerator(model, samples, seed, deterministic),
            Normalisation(),
            get_face_model(config.face_model),
        )
        return generator, config.face_model, "random init (no checkpoint)"
    try:
        trained = load_trained_model(None if checkpoint == "default" else checkpoint, device)
    except CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001  (torch.load raises many kinds on a bad file)
        raise CheckpointError(
            f"checkpoint {checkpoint!r} is not a readable reactface checkpoint: {error!r}"
        ) from None
    return trained.stream(samples, seed, deterministic), trained.face_model.name, trained.path.name


@dataclass
class ReactionWindowArray:
    start: int  # index of the window's first frame (25 fps)
    reactions: np.ndarray  # (N, w, D) in the face model's units


class NormalisedReactionGenerator:
    """`ReactionGenerator` fed raw perception features, giving face-model units back,
    clipped to the face model's documented range (e.g. ARKit blendshapes in [0, 1])."""

    def __init__(
        self, generator: ReactionGenerator, normalisation: Normalisation, face_model: FaceModel
    ):
        self.generator = generator
        self.normalisation = normalisation
        self.face_model = face_model

    @property
    def window(self) -> int:
        return self.generator.window

    @property
    def samples(self) -> int:
        return self.generator.samples

    def reset(self) -> None:
        self.generator.reset()

    def reconfigure(self, samples: int, seed: int, deterministic: bool) -> None:
        self.generator.reconfigure(samples, seed, deterministic)

    def settle(self) -> None:
        self.generator.settle()

    def push(
        self,
        visual: np.ndarray | None = None,
        audio: np.ndarray | None = None,
        visual_valid: np.ndarray | None = None,
    ) -> list[ReactionWindowArray]:
        """visual (n, D_v) raw `visual_features`, valid (n,), audio (m, D_a) raw `audio_features`."""
        norm = self.normalisation
        if visual is not None:
            visual_valid = (
                np.ones(len(visual), bool) if visual_valid is None else np.asarray(visual_valid)
            )
            visual = norm.visual(np.array(visual, dtype=np.float32), visual_valid)
        if audio is not None:
            audio = norm.audio(np.asarray(audio, np.float32))
        windows = self.generator.push(visual, audio, visual_valid)
        return [
            ReactionWindowArray(
                w.start, self.face_model.clip(norm.raw_coefficients(w.reactions.cpu().numpy()))
            )
            for w in windows
        ]


@torch.no_grad()
def generate_reactions(
    checkpoint: str | Path | TrainedModel | None,
    data_dir: str | Path,
    split: str = "test",
    num_samples: int = 10,
    seed: int = 0,
    device: str = "cpu",
    deterministic: bool = False,
    batch_size: int = 8,
    progress: bool = True,
    ablate: str | None = None,
    landmarks: str | None = None,
) -> np.ndarray:
    """(num_speakers, num_samples, T, D) reactions to every distinct speaker clip of a split.

    `checkpoint`: a file (None: the shipped model) or a model already loaded. Speakers are
    in the order `reactface evaluate` expects (first appearance among the split's items);
    T is the shortest clip's length. Whole clips run causally, exactly as
    the online generator would produce them. `ablate` (a key of ABLATIONS) takes one input
    away: 'audio' replaces the speaker's audio by digital silence (`perception.audio.silence`),
    'visual' masks the speaker's face in every frame (no face detected). `landmarks`: the
    speaker landmarks seen (`ReactDataset`'s; "camera_landmarks": MediaPipe's on a world's
    renders); None: `seen_by_default`, those the checkpoint learnt from or, for one that
    learnt the files too, the files (a model that learnt from the camera's view sees the
    camera's landmarks without a warning).
    """
    if ablate is not None and ablate not in ABLATIONS:
        raise ValueError(f"unknown ablation {ablate!r}; expected one of {', '.join(ABLATIONS)}")
    trained = _loaded(checkpoint, device)
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    batches = _SpeakerBatches(trained, data_dir, split, landmarks, batch_size)
    for visual, valid, audio in tqdm(
        batches, desc=f"generating {split}", disable=not progress, unit="batch"
    ):
        if ablate == "audio":
            audio = np.stack([trained.normalisation.audio(silence(audio.shape[1]))] * len(audio))
        if ablate == "visual":
            visual, valid = np.zeros_like(visual), np.zeros_like(valid)
        output = trained.model(
            torch.from_numpy(visual).to(device),
            torch.from_numpy(audio).to(device),
            torch.from_numpy(valid).to(device),
            samples=num_samples,
            generator=generator,
            deterministic=deterministic,
        )
        raw = trained.normalisation.raw_coefficients(output["listener"].cpu().numpy())
        outputs.append(trained.face_model.clip(raw))
    return np.concatenate(outputs)


@torch.no_grad()
def read_speakers(
    checkpoint: str | Path | TrainedModel | None,
    data_dir: str | Path,
    split: str = "test",
    device: str = "cpu",
    batch_size: int = 8,
    progress: bool = True,
    landmarks: str | None = None,
) -> np.ndarray:
    """(num_speakers, T, D) the speakers' face coefficients as the model reads them from
    what it sees (R^s, `ReactFace.read_speaker`), in `generate_reactions`' speaker order."""
    trained = _loaded(checkpoint, device)
    outputs = []
    batches = _SpeakerBatches(trained, data_dir, split, landmarks, batch_size)
    for visual, valid, audio in tqdm(
        batches, desc=f"reading {split} speakers", disable=not progress, unit="batch"
    ):
        read = trained.model.read_speaker(
            torch.from_numpy(visual).to(device),
            torch.from_numpy(audio).to(device),
            torch.from_numpy(valid).to(device),
        )
        outputs.append(trained.normalisation.raw_coefficients(read.cpu().numpy()))
    return np.concatenate(outputs)


def _loaded(checkpoint: str | Path | TrainedModel | None, device: str) -> TrainedModel:
    if isinstance(checkpoint, TrainedModel):
        return checkpoint
    return load_trained_model(checkpoint, device)


class _SpeakerBatches:
    """Every distinct speaker clip of a split as the model's inputs, `batch_size` at a time:
    (visual (B, T, F), valid (B, T), audio (B, k T, A)) normalised, T the shortest clip."""

    def __init__(self, trained: TrainedModel, data_dir, split: str, landmarks, batch_size: int):
        data_config = trained.data_config
        learnt = data_config.landmarks
        if landmarks is None:
            landmarks = seen_by_default(learnt, data_config.view_share)
        dataset = ReactDataset(
            data_dir,
            split,
            window=None,
            random_crop=False,
            normalisation=trained.normalisation,
            landmarks=landmarks,
        )
        if dataset.info.face_model != trained.checkpoint.face_model:
            raise ValueError(
                f"{data_dir} is in face model {dataset.info.face_model!r}, the checkpoint "
                f"{trained.path} generates {trained.checkpoint.face_model!r}"
            )
        known = learnt_to_see(learnt, data_config.view_share)
        if perceived_as(landmarks) not in known:  # the camera's gap: rarely meant
            warnings.warn(
                f"{trained.path} learnt from the speakers' {learnt}, here it sees their "
                f"{landmarks}",
                RuntimeWarning,
                stacklevel=3,
            )
        self.dataset, self.batch_size = dataset, batch_size
        self.clips = dataset.speaker_clips
        self.frames = min(len(dataset.coefficients(clip)) for clip in self.clips)

    def __len__(self) -> int:
        return -(-len(self.clips) // self.batch_size)

    def __iter__(self):
        dataset, frames = self.dataset, self.frames
        for first in range(0, len(self.clips), self.batch_size):
            group = self.clips[first : first + self.batch_size]
            visual, valid = zip(*(dataset.speaker_visual(c, 0, frames) for c in group), strict=True)
            audio = np.stack([dataset.speaker_audio(c, 0, frames) for c in group])
            yield np.stack(visual), np.stack(valid), audio
