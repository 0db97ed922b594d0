"""How much of FRCorr an ideal generator owes to hearing the speaker, on a synthetic world.

Scores FreshOracle (new listeners of the world's own policies) and the same listeners
reacting to what they would perceive without hearing (`fresh.unheard`: pauses and stressed
syllables at random frames, a poker-faced speaker's emotion only as strong as its face
shows it) against the split's appropriate sets: their relative FRCorr change is the
ceiling of `reactface evaluate --ablate audio` on that world.

    .venv/bin/python tools/deaf_oracle.py --data data/synth --split test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reactface_core.data.world import fresh
from reactface_core.metrics import frcorr
from reactface_core.metrics.evaluation import load_react_split, scored_columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a world of `reactface synth`")
    parser.add_argument("--split", default="test")
    parser.add_argument("--num-samples", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = load_react_split(args.data, args.split, training_split=None)
    columns = scored_columns(data)
    scores = {}
    for deaf in (False, True):
        reactions = fresh.fresh_reactions(
            args.data, list(data.speaker_clips), args.num_samples, args.seed, deaf=deaf
        )[:, :, : data.frames]
        scores[deaf] = frcorr(
            reactions[..., columns], data.listeners[..., columns], data.appropriate
        )
    change = 100.0 * (scores[True] / scores[False] - 1.0)
    print(f"{args.data} {args.split}: FreshOracle FRCorr {scores[False]:.4f}, "
          f"deaf {scores[True]:.4f} ({change:+.1f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
