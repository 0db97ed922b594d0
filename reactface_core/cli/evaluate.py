"""`reactface evaluate`: REACT metrics of a model's reactions next to the baselines.

Scores generated listener reactions of one split (from a prediction file, or generated from
a checkpoint) with FRCorr, FRDist, FRDiv (S-MSE), FRDvs, FRVar and FRSyn, together with the
non-learned baselines, prints the table, saves it as CSV and Markdown, and plots a few
speakers with their generated samples and appropriate real reactions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reactface_core.metrics.baselines import BASELINES, NEEDS_TRAINING

EPILOG = """\
prediction file (--pred): a .npy array (num_speakers, num_samples, T, D) with one row per
speaker item of the split, in the dataset's order, T <= clip frames, D columns of the
dataset's face model (58 for arkit58 / faceverse58); (num_speakers, T, D) = one sample.

examples:
  reactface evaluate --data data/synth --split test --pred runs/test_pred.npy
  reactface evaluate --data data/synth --checkpoint models/reactface.pt --num-samples 10
  reactface evaluate --data data/react --pred pred.npy --scale official --part face
"""


def register(subparsers, common):
    parser = subparsers.add_parser(
        "evaluate",
        parents=[common],
        help="REACT metrics of predictions or a checkpoint against baselines",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="dataset root in the REACT layout")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", type=Path, help="prediction file (.npy), format below")
    source.add_argument(
        "--checkpoint", type=Path, help="model checkpoint: generate --num-samples reactions first"
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=10,
        help="samples per speaker generated from --checkpoint and drawn by the baselines "
        "(default: 10; with --pred the file's count is used)",
    )
    parser.add_argument("--name", help="table row name of the model (default: file stem)")
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help=f"comma-separated baselines, or 'none' (default: {','.join(BASELINES)})",
    )
    parser.add_argument(
        "--scale",
        choices=("mean", "official"),
        default="mean",
        help="mean: FRCorr/FRDist averaged over speakers and samples; official: summed over "
        "samples as the REACT scripts print them, N x mean (default: mean)",
    )
    parser.add_argument(
        "--part",
        choices=("all", "face", "head"),
        default="all",
        help="coefficient columns scored: all, face (expression) or head (pose) (default: all)",
    )
    parser.add_argument(
        "--keep-constant",
        action="store_true",
        help="also score columns that are constant in every real reaction of the split "
        "(dropped by default: every method scores CCC 0 there)",
    )
    parser.add_argument(
        "--grouped-frdist",
        action="store_true",
        help="FRDist per face-model group (expression, head rotation, translation) weighted "
        "1/group size, the REACT weighting, instead of one DTW over all columns",
    )
    parser.add_argument(
        "--max-lag",
        type=int,
        default=None,
        help="largest lag FRSyn scans, in frames (default: 2 s - 1 frame, 49 at 25 fps)",
    )
    parser.add_argument(
        "--plot-speakers", type=int, default=3, help="speakers in the plot, 0: none (default: 3)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("evaluation"),
        help="folder for metrics.csv, metrics.md and reactions.png (default: ./evaluation)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from reactface_core.metrics.evaluation import (
        check_predictions_against,
        evaluate,
        load_predictions,
        scored_columns,
    )
    from reactface_core.metrics.plot import plot_reactions
    from reactface_core.metrics.report import (
        MetricSettings,
        format_table,
        write_csv,
        write_markdown,
    )
    from reactface_core.metrics.synchrony import default_max_lag
    from reactface_core.utils import resolve_device, seed_everything

    seed_everything(args.seed)
    device = resolve_device(args.device)
    baselines = _baseline_names(args.baselines)
    data = load_evaluation_set(args.data, args.split)
    if args.pred is not None:
        try:
            predictions = load_predictions(args.pred, data)
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"reactface evaluate: {error}") from None
        name = args.name or args.pred.stem
    else:
        from reactface_core.generate import generate_reactions

        try:
            reactions = generate_reactions(
                args.checkpoint, args.data, args.split, args.num_samples, args.seed, device
            )
        except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
            raise SystemExit(f"reactface evaluate: {error}") from None
        what = f"reactions generated from {args.checkpoint}"
        predictions = check_predictions_against(reactions, data, what)
        name = args.name or args.checkpoint.stem
    num_samples = predictions.shape[1]
    if data.train_speakers is None:
        skipped = [b for b in baselines if b in NEEDS_TRAINING]
        if skipped:
            print(
                f"warning: {args.data} has no train split; skipping {', '.join(skipped)}",
                file=sys.stderr,
            )
        baselines = [b for b in baselines if b not in skipped]

    max_lag = default_max_lag(data.fps) if args.max_lag is None else args.max_lag
    settings = MetricSettings(scale=args.scale, max_lag=max_lag, device=device, progress=True)
    try:
        results = evaluate(
            data,
            {name: predictions},
            baselines,
            num_samples,
            args.seed,
            args.part,
            args.grouped_frdist,
            settings,
            args.keep_constant,
        )
    except ValueError as error:
        raise SystemExit(f"reactface evaluate: {error}") from None
    data = data.cut(predictions.shape[2])
    columns = scored_columns(data, args.part, args.keep_constant)
    notes = [
        "",
        f"Split {args.split} of {args.data}: {len(data.speakers)} speakers, {num_samples} "
        f"samples each, {predictions.shape[2]} frames at {data.fps:g} fps, face model "
        f"{data.face_model}, {len(columns)} columns ({args.part}"
        f"{'' if args.keep_constant else ', constant ones dropped'}); "
        f"FRCorr/FRDist scale: {args.scale}; "
        f"FRDist: {'per group, 1/size weights' if args.grouped_frdist else 'one DTW'}; "
        f"FRSyn lags within +-{max_lag} frames; seed {args.seed}.",
    ]
    print()
    print(format_table(results))
    print(notes[-1])
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "metrics.csv", results)
    write_markdown(args.out / "metrics.md", results, notes)
    saved = [args.out / "metrics.csv", args.out / "metrics.md"]
    if args.plot_speakers > 0:
        from reactface_core.face.models import get_face_model

        count = min(args.plot_speakers, len(data.speakers))
        chosen = np.linspace(0, len(data.speakers) - 1, count).round().astype(int)
        plot_reactions(
            args.out / "reactions.png",
            predictions,
            data.speakers,
            data.listeners,
            data.appropriate,
            chosen,
            get_face_model(data.face_model).names,
            data.fps,
            title=f"{name}: generated samples vs appropriate real reactions ({args.split})",
        )
        saved.append(args.out / "reactions.png")
    print("saved " + ", ".join(str(path) for path in saved))
    return 0


def _baseline_names(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise SystemExit(
            f"reactface evaluate: unknown baseline(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BASELINES)} or 'none'"
        )
    return names


def load_evaluation_set(data_dir: Path, split: str):
    """The split (and the train split for the baselines) as an `EvaluationSet`."""
    from reactface_core.metrics.evaluation import load_react_split

    if not data_dir.is_dir():
        raise SystemExit(f"reactface evaluate: --data {data_dir} is not a folder")
    try:
        return load_react_split(data_dir, split)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"reactface evaluate: {error}") from None
