"""Two-stage ReactFace training (paper §4.4), single process or under `torchrun` (DDP).

Stage 1 (Eq. 14) fits the speaker reconstruction and the real listener's reaction with
KL and smoothness; stage 2 (Eq. 15) replaces the real listener by the nearest appropriate
reaction (Eq. 5) and adds the RBF diversity of M samples (Eq. 6). Every hyper-parameter
comes from a YAML file (`config/train_synth.yaml`); the run directory gets `last.pt`
(resumable), `best.pt` (the stage-2 epoch with the best `validation.select` metric),
`stage1.pt`, `history.jsonl`
and `curves.png`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from reactface_core.checkpoint import (
    Checkpoint,
    Normalisation,
    check_config,
    code_version,
    fingerprint_files,
    load_checkpoint,
    save_checkpoint,
)
from reactface_core.data import react
from reactface_core.data.dataset import (
    CAMERA_VIEW,
    VIEW_SHARE,
    ReactDataset,
    adopt_clip_features,
    collate,
    compute_clip_features,
    compute_normalisation,
    seen_by_default,
)
from reactface_core.losses import LossWeights, stage1_loss, stage2_loss
from reactface_core.model.config import ReactFaceConfig
from reactface_core.model.reactface import ReactFace
from reactface_core.perception.audio import AUDIO_FEATURE_DIM
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM

STAGES = ("stage1", "stage2")
SELECT_SIGN = {"FRCorr": -1.0, "FRDist": 1.0}  # best.pt minimises sign * metric


@dataclass
class DataConfig:
    root: str = "data/synth"
    window: int = 200  # frames per training crop (8 s at 25 fps)
    batch_size: int = 16
    workers: int = 0  # loader processes; 0: in the training process (features are cached)
    max_appropriate: int = 8  # K appropriate reactions per item (Eq. 5)
    normalisation_clips: int = 200  # speaker clips measured for feature statistics
    # speaker landmarks learnt from: "landmarks" (Landmark_files) or, for a synthetic world,
    # "camera_landmarks" (MediaPipe on its renders: `reactface prepare --only camera`) or
    # "camera_view" (Landmark_files as MediaPipe would see them, learnt from the train clips
    # tracked with `reactface prepare --only camera --clips N`: `data/camera_view.py`)
    landmarks: str = react.LANDMARK_FILES
    # with "camera_view": the share of windows seen through the view, the rest as the files
    # show them (below 1: a model for both the files and a camera)
    view_share: float = VIEW_SHARE

    @classmethod
    def recorded(cls, values: dict[str, Any]) -> DataConfig:
        """The data section a checkpoint recorded, today's defaults for keys it predates."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


@dataclass
class StageConfig:
    epochs: int = 10
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    samples: int = 1  # M samples per speaker (Eq. 6 needs M >= 2)
    posterior: bool = False  # latents from the recognition networks (a CVAE; stage 1 only)
    posterior_fraction: float = 1.0  # share of items recognised; the rest: the priors' means
    kl: float = 1e-3  # lambda_kl
    kl_posterior: float = 1e-3  # KL(q(z*_t) || CIE prior) per window, when posterior
    kl_balance: float | None = None  # share of that KL's gradient moving the prior (None: plain)
    kl_style: float = 1e-4  # KL(q(s) || N(0, I)) per session, when posterior and style_dim
    motion: float = 0.0  # motion-statistics term of each sample (stage 2)
    smooth: float = 1.0  # lambda_smo
    diversity: float = 0.0  # lambda_div (stage 2)
    diversity_scale: float = 0.01  # sigma_d per coefficient
    diversity_pool: int = 1  # frames averaged before Eq. 6 compares samples (1: the paper)
    smooth_l1_beta: float = 1.0
    events: float = 0.5  # binary cross-entropy of the event onsets (models with events)
    face_dropout: float = 0.0  # share of items whose speaker face is hidden for one span

    def loss_weights(self) -> LossWeights:
        return LossWeights(
            kl=self.kl,
            kl_posterior=self.kl_posterior,
            kl_balance=self.kl_balance,
            kl_style=self.kl_style,
            motion=self.motion,
            smooth=self.smooth,
            diversity=self.diversity,
            diversity_scale=self.diversity_scale,
            diversity_pool=self.diversity_pool,
            smooth_l1_beta=self.smooth_l1_beta,
            events=self.events,
        )


@dataclass
class ValidationConfig:
    every_epochs: int = 1
    speakers: int = 24  # validation speaker clips scored (deterministic: the first ones)
    frames: int = 250  # frames per validation clip
    samples: int = 5  # N generated reactions per speaker
    select: str = "FRCorr"  # metric choosing best.pt in stage 2: FRCorr (higher) or FRDist (lower)

    def __post_init__(self) -> None:
        if self.select not in SELECT_SIGN:
            raise ValueError(
                f"validation.select must be one of {sorted(SELECT_SIGN)}, got {self.select!r}"
            )


@dataclass
class TrainConfig:
    output: str = "runs/synth"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: dict[str, Any] = field(  # ReactFaceConfig overrides
        default_factory=lambda: {
            "dim": 128,
            "posterior": True,
            "style_dim": 16,
            "events": True,
            "follow": True,
        }
    )
    # The defaults are the shipped recipe (config/train_synth.yaml repeats them for reading;
    # a test keeps both equal): a CVAE in stage 1, no stage 2.
    stage1: StageConfig = field(
        default_factory=lambda: StageConfig(
            epochs=12,
            posterior=True,
            posterior_fraction=0.5,
            kl_posterior=5e-3,
            kl_style=5e-4,
            face_dropout=0.4,
        )
    )
    stage2: StageConfig = field(
        default_factory=lambda: StageConfig(
            epochs=0,
            learning_rate=5e-4,
            warmup_steps=50,
            samples=2,
            diversity=0.1,
            diversity_scale=0.03,
            kl_style=1e-4,
        )
    )
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """The defaults with `values` (a YAML's contents) over them, key by key: a section
        given in part keeps the shipped values of the keys it does not name."""
        defaults = cls()
        _check_keys(values, {f.name for f in fields(cls)}, source)
        kwargs = dict(values)
        for name in ("data", "stage1", "stage2", "validation"):
            if name in kwargs:
                default = getattr(defaults, name)
                _check_keys(kwargs[name], {f.name for f in fields(default)}, f"{source}: {name}")
                kwargs[name] = replace(default, **kwargs[name])
        if "model" in kwargs:
            _check_keys(
                kwargs["model"], {f.name for f in fields(ReactFaceConfig)}, f"{source}: model"
            )
            kwargs["model"] = {**defaults.model, **kwargs["model"]}
        return cls(**kwargs)

    def model_config(self) -> ReactFaceConfig:
        values = {"visual_dim": VISUAL_FEATURE_DIM, "audio_dim": AUDIO_FEATURE_DIM, **self.model}
        return ReactFaceConfig.from_dict(values)


def _check_keys(values: Any, known: set[str], source: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{source} must be a mapping, got {type(values).__name__}")
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{source}: unknown keys {unknown}; known: {sorted(known)}")


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    values = yaml.safe_load(path.read_text()) or {}
    for dotted, value in (overrides or {}).items():
        target = values
        *parents, leaf = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
    return TrainConfig.from_dict(values, str(path))


# ---- distributed ------------------------------------------------------------------------


@dataclass
class Distributed:
    """Where this process sits in a `torchrun` job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: str) -> Distributed:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls(0, 1, device)
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if device == "cuda":
            torch.cuda.set_device(local_rank)
            device = f"cuda:{local_rank}"
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        return cls(rank, world_size, device)

    def all_reduce_mean(self, value: float) -> float:
        if self.world_size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return float(tensor.item() / self.world_size)

    def gather(self, value: Any) -> list:
        """Every rank's `value` (any picklable object), in rank order, on every rank."""
        if self.world_size == 1:
            return [value]
        values = [None] * self.world_size
        torch.distributed.all_gather_object(values, value)
        return values

    def same_on_all_ranks(self, value: float) -> bool:
        """True when every rank holds `value` (e.g. a parameter checksum: DDP keeps replicas equal)."""
        values = self.gather(value)
        return all(v == values[0] for v in values)

    def barrier(self) -> None:
        if self.world_size > 1:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.world_size > 1:
            torch.distributed.destroy_process_group()


# ---- the loop -----------------------------------------------------------------------------


class Trainer:
    def __init__(self, config: TrainConfig, device: str = "cpu", resume: bool = False):
        self.config = config
        self.dist = Distributed.from_environment(device)
        self.output = Path(config.output)
        root = Path(config.data.root)
        info = react.read_info(root)
        self.model_config = config.model_config()
        if self.model_config.face_model != info.face_model:
            raise ValueError(
                f"data {root} is in face model {info.face_model!r} but the model config asks for "
                f"{self.model_config.face_model!r}; set model.face_model in the training config"
            )
        if config.stage1.posterior and not self.model_config.posterior:
            raise ValueError("stage1.posterior needs model.posterior: true (recognition networks)")
        if config.stage2.posterior:
            raise ValueError("stage2 samples from the priors (Eq. 15); posterior is for stage1")
        torch.manual_seed(config.seed)
        self.model = ReactFace(self.model_config).to(self.dist.device)
        self.data_fingerprint = _data_fingerprint(root)
        self.history: list[dict[str, Any]] = []
        self.stage, self.epoch, self.step = STAGES[0], 0, 0
        self.best = math.inf
        checkpoint = None
        self._share_clip_features(root)
        if resume:
            last = self.output / "last.pt"
            checkpoint = load_checkpoint(last, map_location=self.dist.device)
            self.normalisation = Normalisation.from_dict(checkpoint.normalization)
        else:
            self.normalisation = self._measure_normalisation(root)
        self.train_set = ReactDataset(
            root,
            "train",
            window=config.data.window,
            max_appropriate=config.data.max_appropriate,
            normalisation=self.normalisation,
            seed=config.seed,
            landmarks=config.data.landmarks,
            view_share=config.data.view_share,
        )
        self.val_sets = {
            source: ReactDataset(
                root,
                "val",
                window=config.validation.frames,
                random_crop=False,
                max_appropriate=config.data.max_appropriate,
                normalisation=self.normalisation,
                seed=config.seed,
                landmarks=config.data.landmarks,
                view_share=share,
            )
            for source, share in validation_sources(config.data).items()
        }
        self.sampler = (
            DistributedSampler(self.train_set, seed=config.seed, drop_last=True)
            if self.dist.world_size > 1
            else None
        )
        self._new_optimiser()
        if checkpoint is not None:
            self._restore(checkpoint)
        self.network = self.model
        if self.dist.world_size > 1:
            # Stage 2 leaves the speaker reconstruction head unused (Eq. 15 has no L^s_rec).
            self.network = torch.nn.parallel.DistributedDataParallel(
                self.model, find_unused_parameters=True
            )

    def _share_clip_features(self, root: Path) -> None:
        """Compute the whole-clip speaker features of the training and validation clips
        once, each rank its share, and give every rank all of them: otherwise rank 0
        computes most of them for the statistics while the others wait, and each rank
        computes every clip again in the first epoch."""
        if self.dist.world_size == 1:
            return
        data, keys = self.config.data, []
        for split, clips in (("train", None), ("val", self.config.validation.speakers)):
            dataset = ReactDataset(root, split, window=None, landmarks=data.landmarks)
            keys += dataset.clip_feature_keys(dataset.speaker_clips[:clips])
        keys = sorted(
            key for key in set(keys) if Path(key[1]).exists()
        )  # else: the dataset's error
        mine = keys[self.dist.rank :: self.dist.world_size]
        for rank, values in enumerate(self.dist.gather(compute_clip_features(mine))):
            if rank != self.dist.rank:
                adopt_clip_features(keys[rank :: self.dist.world_size], values)

    def _measure_normalisation(self, root: Path) -> Normalisation:
        """Statistics of the training split as the model sees it unless told, measured once
        on rank 0 and shared: a model that learns the files and the view measures the files,
        so its scale does not hang on which windows the view happened to draw."""
        values = None
        if self.dist.main:
            data = self.config.data
            dataset = ReactDataset(
                root,
                "train",
                window=None,
                random_crop=False,
                landmarks=seen_by_default(data.landmarks, data.view_share),
            )
            values = compute_normalisation(dataset, self.config.data.normalisation_clips).to_dict()
        if self.dist.world_size > 1:
            shared = [values]
            torch.distributed.broadcast_object_list(shared, src=0)
            values = shared[0]
        return Normalisation.from_dict(values)

    def _selection_stage(self) -> str:
        """best.pt comes from the last stage that trains (stage 2, unless it has 0 epochs)."""
        return "stage2" if self.config.stage2.epochs > 0 else "stage1"

    def _stage_config(self) -> StageConfig:
        return getattr(self.config, self.stage)

    def _new_optimiser(self) -> None:
        stage = self._stage_config()
        self.optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=stage.learning_rate, weight_decay=stage.weight_decay
        )
        steps_per_epoch = max(1, len(self._loader()))
        total = max(1, stage.epochs * steps_per_epoch)
        warmup = min(stage.warmup_steps, total // 2)

        def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 10 %
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimiser, schedule)

    def _loader(self) -> DataLoader:
        data = self.config.data
        generator = torch.Generator().manual_seed(self.config.seed)
        return DataLoader(
            self.train_set,
            batch_size=data.batch_size,
            shuffle=self.sampler is None,
            sampler=self.sampler,
            num_workers=data.workers,
            collate_fn=collate,
            generator=generator,
            drop_last=True,
            persistent_workers=False,
        )

    def _restore(self, checkpoint: Checkpoint) -> None:
        check_config(checkpoint, self.model_config.to_dict(), self.output / "last.pt")
        state = checkpoint.training_state
        self.model.load_state_dict(checkpoint.state_dict)
        self.stage, self.epoch, self.step = state["stage"], state["epoch"], state["step"]
        self.best = state["best"]
        self.history = [json.loads(line) for line in state["history"]]
        self._new_optimiser()
        self.optimiser.load_state_dict(state["optimiser"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Path:
        """Train both stages to the end (or on from `last.pt`) and return best.pt's path."""
        if self.dist.main:
            self.output.mkdir(parents=True, exist_ok=True)
            (self.output / "config.yaml").write_text(yaml.safe_dump(self.config.to_dict()))
        start_stage = STAGES.index(self.stage)
        for stage in STAGES[start_stage:]:
            if stage != self.stage:
                self.stage, self.epoch = stage, 0
                self._new_optimiser()
            while self.epoch < self._stage_config().epochs:
                self._train_epoch()
                self.epoch += 1
                validate = self.epoch % self.config.validation.every_epochs == 0
                if validate or self.epoch == self._stage_config().epochs:
                    self._validate()
                self._save("last.pt")
            if stage == "stage1":
                self._save("stage1.pt")
        if self.dist.main:
            _plot_history(self.history, self.output / "curves.png")
        self.dist.barrier()
        self.dist.close()
        return self.output / "best.pt"

    def _train_epoch(self) -> None:
        stage = self._stage_config()
        loss_function = stage1_loss if self.stage == "stage1" else stage2_loss
        weights = stage.loss_weights()
        self.model.train()
        self.train_set.set_epoch(self.epoch + (100 if self.stage == "stage2" else 0))
        if self.sampler is not None:
            self.sampler.set_epoch(self.epoch)
        noise = torch.Generator().manual_seed(self.config.seed * 1000 + self.step)
        sums: dict[str, float] = {}
        count, started, frames = 0, time.perf_counter(), 0
        progress = tqdm(
            self._loader(),
            desc=f"{self.stage} epoch {self.epoch + 1}/{stage.epochs}",
            disable=not self.dist.main,
            leave=False,
            dynamic_ncols=True,
        )
        for batch in progress:
            batch = {
                k: v.to(self.dist.device) if torch.is_tensor(v) else v for k, v in batch.items()
            }
            recognised = _recognised(batch, stage) if stage.posterior else None
            seen = batch["speaker_visual_valid"]
            if stage.face_dropout:
                hiding = torch.Generator().manual_seed(self.config.seed * 1000 + self.step)
                seen = _hide_faces(seen, stage.face_dropout, hiding)
            output = self.network(
                batch["speaker_visual"],
                batch["speaker_audio"],
                seen,
                samples=stage.samples,
                generator=noise,
                target=batch["listener_coefficients"] if stage.posterior else None,
                recognised=recognised,
                onsets=_played_onsets(batch, recognised) if self.stage == "stage1" else None,
            )
            terms = loss_function(output, batch, weights)
            self.optimiser.zero_grad(set_to_none=True)
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), stage.grad_clip)
            self.optimiser.step()
            self.scheduler.step()
            self.step += 1
            count += 1
            frames += batch["speaker_visual"].shape[0] * batch["speaker_visual"].shape[1]
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            seconds = time.perf_counter() - started
            progress.set_postfix(
                loss=f"{sums['total'] / count:.4f}", fps=f"{frames / seconds:.0f}", refresh=False
            )
        record = {
            "stage": self.stage,
            "epoch": self.epoch + 1,
            "step": self.step,
            "lr": self.scheduler.get_last_lr()[0],
            "seconds": round(time.perf_counter() - started, 2),
        }
        record.update(
            {f"train_{k}": self.dist.all_reduce_mean(v / max(count, 1)) for k, v in sums.items()}
        )
        if self.dist.world_size > 1:
            record["world_size"] = self.dist.world_size
            checksum = float(sum(p.detach().double().sum() for p in self.model.parameters()))
            record["replicas_in_sync"] = self.dist.same_on_all_ranks(checksum)
        self.history.append(record)
        if self.dist.main:
            tqdm.write(_format_record(record))

    @torch.no_grad()
    def _validate(self) -> None:
        """FRCorr, FRDist, S-MSE of N samples on the first validation items; a model for
        both sources is scored through each (on its own rank where there are two) and
        selected on their mean; rank 0 records them and saves best.pt."""
        record = self.history[-1]
        scored = self._score_validation()
        if self.dist.main:
            for source, metrics in scored.items():
                if source:  # val_files_FRCorr, val_view_FRCorr, ...
                    record.update(
                        {k.replace("val_", f"val_{source}_"): v for k, v in metrics.items()}
                    )
            for key in next(iter(scored.values())):
                record[key] = float(np.mean([metrics[key] for metrics in scored.values()]))
            tqdm.write(_format_record(record, prefix="  val"))
            select = self.config.validation.select
            score = SELECT_SIGN[select] * record[f"val_{select}"]
            if self.stage == self._selection_stage() and score < self.best:
                self.best = score
                self._save("best.pt")
        self.dist.barrier()

    def _score_validation(self) -> dict[str, dict]:
        """Each validation source's metrics, on rank 0; with several ranks each scores
        its share of the sources (the same model and noise give the same figures)."""
        sources = list(self.val_sets)
        rank, world = self.dist.rank, self.dist.world_size
        mine = {
            source: validation_metrics(self.model, self.val_sets[source], self.config)
            for source in sources[rank::world]
        }
        scored = {k: v for part in self.dist.gather(mine) for k, v in part.items()}
        return {source: scored[source] for source in sources}

    def _save(self, name: str) -> None:
        if not self.dist.main:
            return
        state = {
            "stage": self.stage,
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "history": [json.dumps(record) for record in self.history],
            "optimiser": self.optimiser.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        metrics = {k: v for k, v in self.history[-1].items() if k.startswith("val_")}
        checkpoint = Checkpoint(
            model_config=self.model_config.to_dict(),
            face_model=self.model_config.face_model,
            state_dict={k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            normalization=self.normalisation.to_dict(),
            train_config=self.config.to_dict(),
            code_version=code_version(),
            data_fingerprint=self.data_fingerprint,
            metrics=metrics,
            training_state=state if name == "last.pt" else {},
        )
        save_checkpoint(checkpoint, self.output / name)
        with open(self.output / "history.jsonl", "w") as log:
            log.writelines(json.dumps(record) + "\n" for record in self.history)


def _recognised(batch: dict, stage: StageConfig) -> torch.Tensor:
    """Which items of a batch train through the recognition networks: a deterministic
    `posterior_fraction` of them, varying over items and epochs (via the random crops)."""
    key = batch["start"] + 7919 * batch["listener_index"]
    return (key % 1000) < round(1000 * stage.posterior_fraction)


def _hide_faces(valid: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """Mark the speaker's face unseen (B, T) over one span, a quarter to all of the crop,
    in a `share` of the items: as when a speaker turns away, but for as long as a crop, so
    the model must also learn from the voice what the face usually tells it first."""
    batch, frames = valid.shape
    hidden = torch.rand(batch, generator=generator) < share
    length = (frames * torch.empty(batch).uniform_(0.25, 1.0, generator=generator)).long()
    start = ((frames - length + 1) * torch.rand(batch, generator=generator)).long()
    steps = torch.arange(frames)
    span = (steps >= start[:, None]) & (steps < (start + length)[:, None]) & hidden[:, None]
    return valid & ~span.to(valid.device)


def _played_onsets(batch: dict, recognised: torch.Tensor | None) -> torch.Tensor:
    """The real listener's event onsets to play (models with events), in the rows whose
    latents are not recognised: there nothing else can place a blink or nod at its frame,
    so the event shapes learn the whole event; recognised rows reconstruct it through their
    posterior latents and play none (else the shapes learn only what those leave over)."""
    onsets = batch["listener_onsets"]
    return onsets if recognised is None else onsets * (~recognised)[:, None, None]


def validation_sources(data: DataConfig) -> dict[str, float]:
    """The view shares validation scores through, by name: a model trained on both the
    files and the camera view is scored through each apart, any other through its own."""
    if data.landmarks == CAMERA_VIEW and 0.0 < data.view_share < 1.0:
        return {"files": 0.0, "view": 1.0}
    return {"": data.view_share}


@torch.no_grad()
def validation_metrics(model: ReactFace, dataset: ReactDataset, config: TrainConfig) -> dict:
    """Score N samples per validation item against its appropriate reactions, in physical
    units (de-normalised), with the REACT metrics."""
    from reactface_core.metrics import frcorr, frdist, frdiv

    settings = config.validation
    model.eval()
    first_of_speaker = np.unique(dataset.speaker_of_item, return_index=True)[1]
    items = [dataset[int(i)] for i in np.sort(first_of_speaker)[: settings.speakers]]
    batch = collate(items)
    device = next(model.parameters()).device
    output = model(
        batch["speaker_visual"].to(device),
        batch["speaker_audio"].to(device),
        batch["speaker_visual_valid"].to(device),
        samples=settings.samples,
        generator=torch.Generator().manual_seed(config.seed),
    )
    norm = dataset.normalisation
    predictions = norm.raw_coefficients(output["listener"].cpu().numpy())  # (B, N, T, D)
    appropriate = norm.raw_coefficients(batch["appropriate"].numpy())  # (B, K, T, D)
    valid = batch["appropriate_valid"].numpy()
    rows, width = appropriate.shape[:2]
    listeners = appropriate.reshape(rows * width, *appropriate.shape[2:])
    sets = [np.flatnonzero(valid[b]) + b * width for b in range(rows)]
    model.train()
    return {
        "val_FRCorr": frcorr(predictions, listeners, sets),
        "val_FRDist": frdist(predictions, listeners, sets),
        "val_S-MSE": frdiv(predictions),
    }


def _data_fingerprint(root: Path) -> str:
    """Hash of what defines the data: split lists, appropriateness, generator metadata."""
    files = [p for p in root.glob("*.csv")] + [p for p in root.glob("*.npy")]
    files += [p for p in (root / react.METADATA_FILE, root / "README.md") if p.exists()]
    return fingerprint_files(files)


def _format_record(record: dict, prefix: str = "") -> str:
    shown = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()]
    return (prefix + " " if prefix else "") + " ".join(shown)


def _plot_history(history: list[dict], path: Path) -> None:
    """Loss and validation-metric curves over the epochs of both stages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if not history:
        return
    epochs = np.arange(1, len(history) + 1)
    recorded = sorted({k for record in history for k in record})
    losses = [k for k in recorded if k.startswith("train_")]

    def validation(metric: str) -> list[str]:  # val_<metric>, then each source's
        return [f"val_{metric}"] + [
            k
            for k in recorded
            if k.startswith("val_") and k.endswith(f"_{metric}") and k != f"val_{metric}"
        ]

    panels = [
        ("training losses", losses),
        ("validation FRCorr (higher is better)", validation("FRCorr")),
        ("validation FRDist (lower is better)", validation("FRDist")),
        ("validation S-MSE (diversity)", validation("S-MSE")),
    ]
    stage2_start = next((i for i, r in enumerate(history) if r["stage"] == "stage2"), None)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for axis, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            values = [record.get(key, np.nan) for record in history]
            axis.plot(epochs, values, marker="o", markersize=3, label=key.removeprefix("train_"))
        if stage2_start is not None:
            axis.axvline(stage2_start + 0.5, color="grey", linestyle="--", linewidth=1)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(
            "epoch" + ("" if stage2_start is None else " (dashed line: stage 2 starts)"),
            fontsize=8,
        )
    axes[0].set_yscale("log")
    for axis, (_, keys) in zip(axes, panels, strict=True):
        if len(keys) > 1:  # the losses, and a model validated through each source
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
