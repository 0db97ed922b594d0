"""Non-learned reference predictors, scored with the same metrics as a model.

As in the REACT 2024 baseline script, plus a retrieval baseline. Every baseline returns
predictions of shape (num_speakers, num_samples, T, D) for the evaluated speakers:

- GT:        the real listener reaction of each speaker, repeated N times (an upper reference
             for appropriateness, zero diversity between samples);
- Random:    independent uniform values per frame, between each coefficient's minimum and
             maximum over the training listener reactions (the REACT script draws U[0, 1),
             the range of its emotion features);
- Mime:      the speaker's own behaviour copied as the reaction;
- DelayedMime: the speaker's behaviour through a causal moving average of `window` frames,
             `delay` frames late; both chosen by FRCorr on the validation split
             (`fit_delayed_mime`), never on the evaluated one;
- PerceivedMime: DelayedMime on the speaker as a camera sees it: coefficients a linear
             read-out of the speaker features recovers (`metrics.perceived`), the mirror a
             robot could really play; delay and window fitted on the validation split;
- ReadMime:  DelayedMime on the speaker as the evaluated model itself reads it (its speaker
             reconstruction R^s, `generate.read_speakers`; needs a checkpoint): how much of
             the mirrors' score is within reach of what the model sees, so a model that
             loses to DelayedMime but not to ReadMime is short of perception, not of
             listening; delay and window fitted on the validation split;
- MeanSeq:   the frame-by-frame mean over all training sequences, speakers' and listeners'
             alike (as the REACT script), the same for every speaker;
- MeanFr:    that mean averaged over frames too: one constant frame;
- Retrieval: sample n is the training listener reaction of the n-th nearest training speaker
             behaviour (mean squared distance over frames, coefficients standardised with
             the training statistics): a strong non-learned reference;
- GTSet:     the speaker's appropriate real reactions themselves as the N samples (cycled
             when there are fewer than N): the diversity real appropriate sets have;
- FreshOracle: synthetic world only: N new reactions drawn from the world's own listener
             policies with fresh persons and timing (`data.world.fresh`): appropriate by
             construction but not in the set, the ceiling a perfect generator would score;
- DeafOracle: the same listeners reacting to what they would perceive without hearing
             (`data.world.fresh.unheard`): the ceiling of a generator that cannot hear,
             so FreshOracle against it is the most FRCorr the audio can be worth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BASELINES = (
    "GT",
    "GTSet",
    "FreshOracle",
    "DeafOracle",
    "Random",
    "Mime",
    "DelayedMime",
    "PerceivedMime",
    "ReadMime",
    "MeanSeq",
    "MeanFr",
    "Retrieval",
)
# Real or oracle reactions: references to read a table by, not competitors.
REFERENCES = ("GT", "GTSet", "FreshOracle", "DeafOracle")
NEEDS_TRAINING = ("Random", "MeanSeq", "MeanFr", "Retrieval", "PerceivedMime")
NEEDS_VALIDATION = ("DelayedMime", "PerceivedMime", "ReadMime")
NEEDS_CHECKPOINT = ("ReadMime",)
NEEDS_WORLD = ("FreshOracle", "DeafOracle")
DELAYS = tuple(range(0, 31, 2))  # frames tried by fit_delayed_mime (0 to 1.2 s at 25 fps)
WINDOWS = (1, 3, 5, 9, 15, 25, 37, 50)  # moving-average lengths tried (1: no smoothing)


@dataclass(frozen=True)
class DelayedMime:
    """The speaker's behaviour, causally smoothed over `window` frames, `delay` frames late."""

    delay: int
    window: int

    def __call__(self, speakers: np.ndarray) -> np.ndarray:
        """(K, T, D) speaker behaviour -> (K, T, D); before `delay` the first frame is held."""
        speakers = np.asarray(speakers, dtype=np.float64)
        frames = speakers.shape[1]
        summed = np.concatenate([np.zeros_like(speakers[:, :1]), speakers.cumsum(1)], axis=1)
        end = np.arange(1, frames + 1)
        start = np.maximum(end - self.window, 0)
        smooth = (summed[:, end] - summed[:, start]) / (end - start)[:, None]  # mean of the last
        return smooth[:, np.maximum(np.arange(frames) - self.delay, 0)].astype(np.float32)


def fit_delayed_mime(
    speakers: np.ndarray,
    listeners: np.ndarray,
    appropriate: Sequence[np.ndarray],
    device: str = "cpu",
) -> tuple[DelayedMime, float]:
    """The (delay, window) of DELAYS x WINDOWS with the best FRCorr, and that FRCorr.

    Give it the validation split (never the evaluated one). Ties keep the smaller delay and
    window."""
    from reactface_core.metrics.correlation import frcorr

    best, best_score = None, -np.inf
    for delay in DELAYS:
        for window in WINDOWS:
            candidate = DelayedMime(delay, window)
            score = frcorr(candidate(speakers)[:, None], listeners, appropriate, device=device)
            if score > best_score + 1e-12:
                best, best_score = candidate, score
    return best, float(best_score)


@dataclass(frozen=True)
class BaselineData:
    """What baselines may look at: the evaluated split and, optionally, the training split."""

    speakers: np.ndarray  # (K, T, D) behaviour of the evaluated speakers
    true_listeners: np.ndarray  # (K, T, D) the real listener reaction of each speaker
    listeners: np.ndarray | None = None  # (C, T, D) all real reactions, for GTSet
    appropriate: list[np.ndarray] | None = None  # A(k) as indices into `listeners`
    train_speakers: np.ndarray | None = None  # (K_train, T_train >= T, D)
    train_listeners: np.ndarray | None = None  # (K_train, T_train >= T, D)
    delayed_mime: DelayedMime | None = None  # fitted on the validation split
    fresh: np.ndarray | None = None  # (K, N', T' >= T, D) fresh appropriate reactions
    deaf: np.ndarray | None = None  # (K, N', T' >= T, D) the same listeners, unhearing
    perceived_speakers: np.ndarray | None = None  # (K, T, D) read out of speaker features
    perceived_mime: DelayedMime | None = None  # fitted on the validation split's perceived
    read_speakers: np.ndarray | None = None  # (K, T, D) as the evaluated model reads them
    read_mime: DelayedMime | None = None  # fitted on the validation split's read speakers

    @property
    def frames(self) -> int:
        return self.speakers.shape[1]

    def training(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Training speakers and listeners cut to T frames, or a clear error."""
        if self.train_speakers is None or self.train_listeners is None:
            raise ValueError(f"baseline {name} needs the training split, which was not given")
        if self.train_speakers.shape[1] < self.frames:
            raise ValueError(
                f"baseline {name}: training clips have {self.train_speakers.shape[1]} frames, "
                f"fewer than the {self.frames} evaluated"
            )
        return self.train_speakers[:, : self.frames], self.train_listeners[:, : self.frames]


def baseline_predictions(name: str, data: BaselineData, num_samples: int, seed: int) -> np.ndarray:
    """Predictions (K, N, T, D) of baseline `name`; deterministic ones ignore `seed`."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    count = len(data.speakers)
    if name == "GT":
        return _repeat(data.true_listeners, num_samples)
    if name == "Mime":
        return _repeat(data.speakers, num_samples)
    if name == "DelayedMime":
        if data.delayed_mime is None:
            raise ValueError(
                "baseline DelayedMime needs its delay and window fitted on a val split"
            )
        return _repeat(data.delayed_mime(data.speakers), num_samples)
    if name in ("PerceivedMime", "ReadMime"):
        perceived = name == "PerceivedMime"
        seen = data.perceived_speakers if perceived else data.read_speakers
        mime = data.perceived_mime if perceived else data.read_mime
        if seen is None or mime is None:
            reading = "read out of their features" if perceived else "as the model reads them"
            raise ValueError(
                f"baseline {name} needs the speakers {reading} and its delay and window "
                "fitted on a val split"
            )
        return _repeat(mime(seen), num_samples)
    if name in ("FreshOracle", "DeafOracle"):
        reactions = data.fresh if name == "FreshOracle" else data.deaf
        if reactions is None:
            raise ValueError(f"baseline {name} needs a synthetic world (reactface synth)")
        if reactions.shape[1] < num_samples:
            raise ValueError(
                f"baseline {name} has {reactions.shape[1]} reactions per speaker, "
                f"{num_samples} asked"
            )
        return np.asarray(reactions[:, :num_samples, : data.frames], dtype=np.float32)
    if name == "GTSet":
        if data.listeners is None or data.appropriate is None:
            raise ValueError("baseline GTSet needs the real reactions and appropriate sets")
        cycled = [np.resize(indices, num_samples) for indices in data.appropriate]
        return np.asarray(data.listeners, dtype=np.float32)[np.stack(cycled)]
    speakers, listeners = data.training(name)
    if name == "Random":
        low, high = listeners.min(axis=(0, 1)), listeners.max(axis=(0, 1))
        rng = np.random.default_rng(seed)
        shape = (count, num_samples, data.frames, low.size)
        return rng.uniform(low, high, size=shape).astype(np.float32)
    mean_sequence = np.concatenate([speakers, listeners]).mean(axis=0)  # (T, D)
    if name == "MeanSeq":
        return _repeat(np.broadcast_to(mean_sequence, (count, *mean_sequence.shape)), num_samples)
    if name == "MeanFr":
        frame = np.broadcast_to(mean_sequence.mean(axis=0), (count, *mean_sequence.shape))
        return _repeat(frame, num_samples)
    return _retrieve(data.speakers, speakers, listeners, num_samples)


def _repeat(sequences: np.ndarray, num_samples: int) -> np.ndarray:
    return np.repeat(np.asarray(sequences, dtype=np.float32)[:, None], num_samples, axis=1)


def _retrieve(
    speakers: np.ndarray, train_speakers: np.ndarray, train_listeners: np.ndarray, num_samples: int
) -> np.ndarray:
    if num_samples > len(train_speakers):
        raise ValueError(
            f"baseline Retrieval: {num_samples} samples need as many training clips, "
            f"only {len(train_speakers)} exist"
        )
    mean = train_speakers.mean(axis=(0, 1))
    std = train_speakers.std(axis=(0, 1)) + 1e-8
    query = ((speakers - mean) / std).reshape(len(speakers), -1).astype(np.float64)
    keys = ((train_speakers - mean) / std).reshape(len(train_speakers), -1).astype(np.float64)
    # |q - k|^2 = |q|^2 - 2 q.k + |k|^2; the |q|^2 term does not change the ranking
    distance = (keys**2).sum(1)[None] - 2 * query @ keys.T  # (K, K_train)
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :num_samples]
    return np.asarray(train_listeners, dtype=np.float32)[nearest]
