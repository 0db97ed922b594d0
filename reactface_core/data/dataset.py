"""Torch Dataset over a REACT-layout root: model inputs, targets and appropriate reactions.

One item is one (speaker, listener) pair of the split (both directions or the csv's only,
per `dataset.json`; see `react.py`) cut to a window of `window` frames: a random crop per
epoch for training, the start of the clip (or the whole clip, `window=None`) otherwise.
Item dict (contract 5; T = window frames, K = `max_appropriate`):

    speaker_visual         (T, D_v) float32  `perception.landmarks.SpeakerFeatures` of
                                             Landmark_files/<speaker>.npy, run over the
                                             whole clip from its first frame (so a window's
                                             features carry the neutral of the frames
                                             before it, as online); zeros where lost
    speaker_visual_valid   (T,)     bool     False where no face was found
    speaker_audio          (2T, D_a) float32 causal audio features at 50 Hz (log-mel and
                                             prosody: `perception.audio`; Logmel_files
                                             cache, or computed from Audio_files/<speaker>.wav,
                                             from the clip's start as for the visual ones)
    speaker_coefficients   (T, D)   float32  the speaker's own face (reconstruction target)
    listener_coefficients  (T, D)   float32  the real listener's reaction
    listener_onsets        (T, E)   float32  1 where its blinks and nods start
                                             (`metrics.motion.event_onsets`)
    appropriate            (K, T, D) float32 appropriate real reactions to this speaker,
                                             the item's own listener first, zero padded
    appropriate_valid      (K,)     bool
    appropriate_index      (K,)     int64    their item indices (matrix columns), -1 padded
    speaker_index          int      index of the speaker clip in `dataset.speaker_clips`
    listener_index         int      this item's index (its row/column in the matrix)
    start                  int      first frame of the window in the clip
    speaker_path, listener_path  str

Coefficients, visual and audio features are normalised by an optional `Normalisation`
(`(x - mean) / std`; the trainer passes the statistics it stores in its checkpoint;
`compute_normalisation` measures them). Crops are deterministic for (seed, epoch, index),
so they do not depend on the number of loader workers.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from reactface_core.checkpoint import Normalisation
from reactface_core.data import camera_view, react
from reactface_core.data.react import CAMERA_VIEW
from reactface_core.face.models import get_face_model
from reactface_core.metrics.motion import event_onsets
from reactface_core.perception import audio as audio_features
from reactface_core.perception.landmarks import visual_features

FRAME_SLACK = 2  # landmarks / audio may be this many frames shorter than the coefficients
STEPS_PER_FRAME = 2  # audio steps per video frame (the paper's k)
VISUAL_CACHE, AUDIO_CACHE = "visual", "audio"  # the per-process whole-clip feature caches
LANDMARK_MODALITIES = {  # speaker landmark files a dataset reads -> how to make them
    react.LANDMARK_FILES: "extract them from the videos with `reactface prepare --data {root}`",
    react.CAMERA_LANDMARK_FILES: (
        "track the world's renders with `reactface prepare --data {root} --only camera`"
    ),
}
LANDMARK_SOURCES = (*LANDMARK_MODALITIES, CAMERA_VIEW)
VIEW_SHARE = 1.0  # with CAMERA_VIEW, the share of windows through the view unless told: all


def perceived_as(landmarks: str) -> str:
    """The landmarks a source stands for: the learnt camera view is the camera's."""
    return react.CAMERA_LANDMARK_FILES if landmarks == CAMERA_VIEW else landmarks


def learnt_to_see(landmarks: str, view_share: float = VIEW_SHARE) -> set[str]:
    """The landmarks a model trained on this source knows: a share of windows through the
    camera view and the rest as the files show them teach it both."""
    if landmarks != CAMERA_VIEW:
        return {landmarks}
    through_view = {perceived_as(landmarks)} if view_share > 0.0 else set()
    as_files = {react.LANDMARK_FILES} if view_share < 1.0 else set()
    return through_view | as_files


def seen_by_default(landmarks: str, view_share: float = VIEW_SHARE) -> str:
    """The landmarks a model sees unless told: those it learnt from, except that a model
    that also learnt the files as they are sees those, which every dataset has (the view
    needs the train clips tracked)."""
    files = react.LANDMARK_FILES
    return files if files in learnt_to_see(landmarks, view_share) else landmarks


class ReactDataset(Dataset):
    """Windows of (speaker, listener) pairs of one split with their appropriate reactions.

    root: a REACT-layout folder (`react.py`); split: train, val or test; window: frames per
    item, None for whole clips; random_crop: random window starts (default: True for train);
    max_appropriate: K, appropriate reactions per item (more are subsampled: randomly when
    cropping randomly, else the first ones); normalisation: see `Normalisation`;
    directions: override dataset.json's direction policy; seed: crop/subset randomness;
    landmarks: the speaker landmarks read, "landmarks" (Landmark_files) or, for a synthetic
    world, "camera_landmarks" (MediaPipe on its renders: `reactface prepare --only camera`)
    or "camera_view" (Landmark_files through the camera's view learnt from the train clips
    that have both: `data/camera_view.py`); view_share: with "camera_view", the share of
    windows seen through the view (drawn per window and epoch), the rest as the files are.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        window: int | None = 256,
        random_crop: bool | None = None,
        max_appropriate: int = 8,
        normalisation: Normalisation | None = None,
        directions: str | None = None,
        seed: int = 0,
        landmarks: str = react.LANDMARK_FILES,
        view_share: float = VIEW_SHARE,
    ):
        if landmarks not in LANDMARK_SOURCES:
            raise ValueError(
                f"landmarks must be one of {', '.join(LANDMARK_SOURCES)}, got {landmarks!r}"
            )
        self.root = Path(root)
        self.split = split
        if not 0.0 <= view_share <= 1.0:
            raise ValueError(f"view_share must be in [0, 1], got {view_share}")
        self.landmarks = landmarks
        self.view_share = view_share
        self.info = react.read_info(self.root)
        self.face_model = get_face_model(self.info.face_model)
        self.directions = directions or self.info.directions
        self.base = react.split_root(self.root, split)
        self.pairs = react.read_pairs(self.root, split)
        self.items = react.items(self.pairs, self.directions)
        if not self.items:
            raise ValueError(f"{react.csv_path(self.root, split)} lists no pairs")
        if window is not None and window < 1:
            raise ValueError(f"window must be a positive number of frames or None, got {window}")
        if max_appropriate < 1:
            raise ValueError(f"max_appropriate must be >= 1, got {max_appropriate}")
        self.window = window
        self.random_crop = (split == "train") if random_crop is None else random_crop
        self.max_appropriate = max_appropriate
        self.normalisation = normalisation or Normalisation()
        self.seed = seed
        self.epoch = 0

        matrix = react.load_appropriateness(self.root, split, len(self.pairs), self.directions)
        if matrix is None:
            warnings.warn(
                f"{react.matrix_path(self.root, split)} not found: each item's only appropriate "
                "reaction is its own listener's",
                RuntimeWarning,
                stacklevel=2,
            )
            matrix = np.eye(len(self.items), dtype=bool)
        self.appropriate_sets = [
            np.concatenate([[i], np.flatnonzero(row)[np.flatnonzero(row) != i]])
            for i, row in enumerate(matrix)
        ]
        # Distinct speaker clips in order of first appearance (for REACT: the item order).
        self.speaker_clips = list(dict.fromkeys(item.speaker for item in self.items))
        position = {clip: k for k, clip in enumerate(self.speaker_clips)}
        self.speaker_of_item = np.array([position[item.speaker] for item in self.items])

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """New random crops and appropriate subsets each epoch (call before iterating)."""
        self.epoch = int(epoch)

    # ---- paths and raw arrays -----------------------------------------------------------

    def path(self, modality: str, clip: str) -> Path:
        return react.modality_path(self.base, modality, clip)

    def coefficients(self, clip: str) -> np.ndarray:
        """(T, D) float32 coefficients of a clip (cached, read-only)."""
        return _cached_coefficients(str(self.path("coefficients", clip)), self.face_model.dim)

    def clip_frames(self, index: int) -> int:
        return len(self.coefficients(self.items[index].speaker))

    # ---- items ----------------------------------------------------------------------------

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        speaker = self.coefficients(item.speaker)
        frames = len(speaker) if self.window is None else self.window
        if frames > len(speaker):
            raise ValueError(
                f"{self.path('coefficients', item.speaker)} has {len(speaker)} frames, fewer "
                f"than the window of {frames} frames"
            )
        start = int(rng.integers(0, len(speaker) - frames + 1)) if self.random_crop else 0
        stop = start + frames

        chosen = self.appropriate_sets[index]
        if len(chosen) > self.max_appropriate:
            others = chosen[1:]
            if self.random_crop:
                others = rng.choice(others, self.max_appropriate - 1, replace=False)
            chosen = np.concatenate([chosen[:1], others[: self.max_appropriate - 1]])
        norm = self.normalisation
        appropriate = np.zeros((self.max_appropriate, frames, self.face_model.dim), np.float32)
        for k, other in enumerate(chosen):
            reaction = self._window(self.items[other].listener, start, stop)
            if k == 0:
                onsets = event_onsets(reaction, self.face_model).astype(np.float32)
            appropriate[k] = norm.coefficients(reaction)
        valid = np.arange(self.max_appropriate) < len(chosen)
        appropriate_index = np.full(self.max_appropriate, -1, np.int64)
        appropriate_index[: len(chosen)] = chosen

        visual, visual_valid = self.speaker_visual(item.speaker, start, stop)
        return {
            "speaker_visual": torch.from_numpy(visual),
            "speaker_visual_valid": torch.from_numpy(visual_valid),
            "speaker_audio": torch.from_numpy(self.speaker_audio(item.speaker, start, stop)),
            "speaker_coefficients": torch.from_numpy(norm.coefficients(speaker[start:stop].copy())),
            "listener_coefficients": torch.from_numpy(appropriate[0].copy()),
            "listener_onsets": torch.from_numpy(onsets),
            "appropriate": torch.from_numpy(appropriate),
            "appropriate_valid": torch.from_numpy(valid),
            "appropriate_index": torch.from_numpy(appropriate_index),
            "speaker_index": int(self.speaker_of_item[index]),
            "listener_index": int(index),
            "start": start,
            "speaker_path": item.speaker,
            "listener_path": item.listener,
        }

    def _window(self, clip: str, start: int, stop: int) -> np.ndarray:
        array = self.coefficients(clip)
        if len(array) < stop:
            raise ValueError(
                f"{self.path('coefficients', clip)} has {len(array)} frames, expected at least "
                f"{stop} (window frames {start}..{stop - 1})"
            )
        return array[start:stop].copy()

    def clip_feature_keys(self, clips) -> list[tuple[str, str]]:
        """The (cache, path) keys under which the whole-clip speaker features of `clips` are
        computed once per process (`compute_clip_features`, `adopt_clip_features`); audio
        read from a Logmel_files cache needs no computing and has none."""
        keys = []
        for clip in clips:
            keys.append((VISUAL_CACHE, str(self.path(self._landmark_modality(), clip))))
            if not self.path("logmel", clip).exists():
                keys.append((AUDIO_CACHE, str(self.path("audio", clip))))
        return keys

    def _landmark_modality(self) -> str:
        """The landmark files read: the camera view is applied to the landmark files."""
        return react.LANDMARK_FILES if self.landmarks == CAMERA_VIEW else self.landmarks

    def speaker_visual(
        self, clip: str, start: int, stop: int, normalise: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(T, D_v) visual features and (T,) validity of a window."""
        modality = self._landmark_modality()
        path = self.path(modality, clip)
        if not path.exists():
            advice = LANDMARK_MODALITIES[modality].format(root=self.root)
            raise FileNotFoundError(
                f"landmark file {path} not found (expected (T, 468, 3) face-mesh landmarks); "
                f"{advice}"
            )
        clip_features, clip_valid = clip_visual_features(str(path))
        features, valid = clip_features[start:stop].copy(), clip_valid[start:stop].copy()
        missing = (stop - start) - len(features)
        if missing > FRAME_SLACK:
            raise ValueError(
                f"landmark file {path} has {start + len(features)} frames, expected at least "
                f"{stop} (window frames {start}..{stop - 1})"
            )
        if missing > 0:  # a frame or two short at the end: no face there
            features = np.concatenate(
                [features, np.zeros((missing, features.shape[1]), np.float32)]
            )
            valid = np.concatenate([valid, np.zeros(missing, bool)])
        if self.landmarks == CAMERA_VIEW:
            rng = camera_view.window_rng(self.seed, self.epoch, clip, start)
            # at share 1 nothing is drawn: the residual spans stay a view-only run's
            if self.view_share >= 1.0 or rng.random() < self.view_share:
                view = camera_view.camera_view(str(self.root))
                features, valid = view.apply(features, valid, rng)
        if normalise:
            self.normalisation.visual(features, valid)
        return features, valid

    def speaker_audio(self, clip: str, start: int, stop: int, normalise: bool = True) -> np.ndarray:
        """(2T, D_a) audio features of a window: the whole clip's, sliced (as online)."""
        first, last = STEPS_PER_FRAME * start, STEPS_PER_FRAME * stop
        cache = self.path("logmel", clip)
        if cache.exists():
            array = _load_logmel(cache)
            steps = np.array(array[first:last], np.float32)
            source = cache
        else:
            source = self.path("audio", clip)
            steps = _clip_audio_features(str(source))[first:last].copy()
        missing = (last - first) - len(steps)
        if missing > STEPS_PER_FRAME * FRAME_SLACK:
            raise ValueError(
                f"{source} covers {(first + len(steps)) / (STEPS_PER_FRAME * react.FPS):.2f} s, "
                f"expected at least {stop / react.FPS:.2f} s (frames {start}..{stop - 1} need "
                f"audio steps {first}..{last - 1})"
            )
        if missing > 0:
            steps = np.concatenate([steps, audio_features.silence(missing)])
        if not normalise:
            return steps
        return self.normalisation.audio(steps)


@lru_cache(maxsize=512)
def _cached_coefficients(path: str, dim: int) -> np.ndarray:
    array = react.load_coefficients(path, dim)
    array.setflags(write=False)
    return array


def _load_logmel(path: Path) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read audio feature cache {path}: {error}") from error
    if array.ndim != 2 or array.shape[1] != audio_features.AUDIO_FEATURE_DIM:
        raise ValueError(
            f"audio feature cache {path} has shape {array.shape}, expected "
            f"(2T, {audio_features.AUDIO_FEATURE_DIM}) (an older cache? "
            f"`reactface prepare --overwrite` rewrites it)"
        )
    return array


_ADOPTED: dict[tuple[str, str], object] = {}  # computed elsewhere, on their way into a cache


@lru_cache(maxsize=1024)
def clip_visual_features(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Visual features (T, D_v) and validity (T,) of a whole clip, computed once per process.

    The features of a window are the whole clip's, sliced: the running neutral has seen
    the frames before the window, exactly as the online node has. Training revisits every
    clip each epoch, and this is most of an item's cost. The aspect ratio comes from the
    frame-size file beside the landmarks (`react.landmark_aspect`)."""
    if (VISUAL_CACHE, path) in _ADOPTED:
        return _ADOPTED.pop((VISUAL_CACHE, path))
    raw = np.asarray(react.open_landmarks(path), dtype=np.float32)
    features, valid = visual_features(raw, aspect=react.landmark_aspect(path))
    features.setflags(write=False)
    valid.setflags(write=False)
    return features, valid


@lru_cache(maxsize=1024)
def _clip_audio_features(path: str) -> np.ndarray:
    """Causal audio features (2T, D_a) of a whole speaker wav, computed once per process."""
    if (AUDIO_CACHE, path) in _ADOPTED:
        return _ADOPTED.pop((AUDIO_CACHE, path))
    if not Path(path).exists():
        raise FileNotFoundError(f"audio file {path} not found (expected a wav of the speaker)")
    steps = audio_features.audio_features(audio_features.load_audio(path))
    steps.setflags(write=False)
    return steps


_CACHES = {VISUAL_CACHE: clip_visual_features, AUDIO_CACHE: _clip_audio_features}


def compute_clip_features(keys: list[tuple[str, str]]) -> list:
    """The cached whole-clip features of `ReactDataset.clip_feature_keys` (computing those
    this process has not), to hand to another process's `adopt_clip_features`."""
    return [_CACHES[cache](path) for cache, path in keys]


def adopt_clip_features(keys: list[tuple[str, str]], values: list) -> None:
    """Put features another process computed (`compute_clip_features`) into this one's
    caches, so the clips are not computed here again: the same code on the same files
    gives the same arrays, so nothing downstream can tell where they were computed."""
    for key, value in zip(keys, values, strict=True):
        for array in value if isinstance(value, tuple) else (value,):
            array.setflags(write=False)  # as computed here: read-only
        _ADOPTED[key] = value
        _CACHES[key[0]](key[1])
        _ADOPTED.pop(key, None)  # already cached here: the cache kept its own


# ---- batching ------------------------------------------------------------------------------


def collate(items: list[dict]) -> dict:
    """Stack item dicts into a batch (tensors stacked, ints to a tensor, strings listed)."""
    batch = {}
    for key, first in items[0].items():
        values = [item[key] for item in items]
        if isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(
                    f"cannot batch {key!r} of shapes {sorted(shapes)}: clips of different "
                    "lengths need a fixed window (window=...) or batch_size=1"
                )
            batch[key] = torch.stack(values)
        elif isinstance(first, int):
            batch[key] = torch.tensor(values, dtype=torch.int64)
        else:
            batch[key] = values
    return batch


def make_dataloader(
    dataset: ReactDataset,
    batch_size: int = 8,
    *,
    shuffle: bool | None = None,
    workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader producing contract-5 batches; shuffles (seeded) when cropping randomly."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=dataset.random_crop if shuffle is None else shuffle,
        num_workers=workers,
        collate_fn=collate,
        generator=generator,
        drop_last=drop_last,
        persistent_workers=False,
    )


def compute_normalisation(
    dataset: ReactDataset, max_clips: int | None = None, min_std: float = 1e-3
) -> Normalisation:
    """Mean/std of coefficients (all speaker and listener clips of the split) and of the
    speaker visual/audio features (whole speaker clips; at most `max_clips` of them)."""
    clips = sorted({c for item in dataset.items for c in (item.speaker, item.listener)})
    coefficients = np.concatenate([dataset.coefficients(c) for c in clips])
    speakers = dataset.speaker_clips[:max_clips]
    visual, audio = [], []
    for clip in speakers:
        frames = len(dataset.coefficients(clip))
        features, valid = dataset.speaker_visual(clip, 0, frames, normalise=False)
        visual.append(features[valid])
        audio.append(dataset.speaker_audio(clip, 0, frames, normalise=False))
    visual, audio = np.concatenate(visual), np.concatenate(audio)

    def stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.mean(axis=0).astype(np.float32), np.maximum(x.std(axis=0), min_std).astype(
            np.float32
        )

    (cm, cs), (vm, vs), (am, as_) = stats(coefficients), stats(visual), stats(audio)
    return Normalisation(cm, cs, vm, vs, am, as_)
