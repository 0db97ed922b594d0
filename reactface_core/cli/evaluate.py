"""`reactface evaluate`: REACT metrics of a model's reactions next to the baselines.

Scores generated listener reactions of one split (from a prediction file, or generated from
a checkpoint) with FRCorr, FRDist, FRDiv (S-MSE), FRDvs, FRVar and FRSyn, with what a
person watching the face sees (motion ratios per channel group, blinks and nods per
minute) and with when the samples follow the speaker (quartiles of the lag behind FRSyn),
together with the non-learned baselines; prints the three tables, saves them as CSV and
Markdown, and plots a few speakers with their generated samples and appropriate real
reactions (curves, and where blinks and nods start). With --ablate it also generates with
the speaker's audio or face taken away and reports the relative FRCorr change; with
--front it plots FRCorr against FRDiv of several evaluations.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from reactface_core.cli import usage_error
from reactface_core.data import react
from reactface_core.metrics.baselines import (
    BASELINES,
    NEEDS_CHECKPOINT,
    NEEDS_TRAINING,
    NEEDS_VALIDATION,
    NEEDS_WORLD,
)
from reactface_core.metrics.conventions import CONVENTIONS

COMMAND = "reactface evaluate"  # names this command in its one-line errors
PERCEPTIONS = {  # --perception -> the speaker landmarks the model and PerceivedMime see
    "files": react.LANDMARK_FILES,
    "camera": react.CAMERA_LANDMARK_FILES,
    "view": react.CAMERA_VIEW,
}
VALIDATION_SPLIT = "val"  # where DelayedMime's delay and smoothing are chosen
TRAINING_SPLIT = "train"  # where PerceivedMime's read-out of the speaker features is fitted

EPILOG = """\
prediction file (--pred): a .npy array (num_speakers, num_samples, T, D) with one row per
speaker item of the split, in the dataset's order, T <= clip frames, D columns of the
dataset's face model (58 for arkit58 / faceverse58); (num_speakers, T, D) = one sample.

conventions (--convention): ours (means over samples; a constant TLCC window scores 0),
official (the REACT 2023/2024 scripts: FRCorr/FRDist summed over the N samples, a constant
window wins the TLCC argmax as NaN, FRSyn over sample 0 only), reactface (the ReactFace
repository: official x10 for FRCorr/FRDist). To put numbers beside published ones, also
give --keep-constant (the scripts score every column). On face coefficients ReactFace's
script takes one DTW over all columns, as here by default; the REACT 2024 script's FRDist
weights its 25 emotion features' groups (15 AUs, 2 valence/arousal, 8 expressions), which
`metrics.dtw.frdist(groups=...)` takes.

DelayedMime's delay and moving-average length are chosen by FRCorr on the val split, never
on the evaluated one; PerceivedMime is DelayedMime on the speaker coefficients that a
linear read-out of the speaker features (fitted on the train split) recovers: the mirror
a robot could play from its camera, where Mime and DelayedMime read the dataset's exact
speaker coefficients; ReadMime (with --checkpoint) is DelayedMime on the speaker as that
model reads it (its speaker reconstruction R^s): a model below DelayedMime but above
ReadMime is held back by what it sees of the speaker more than by how it listens.
FreshOracle (fresh reactions of the world's own listener policies) and DeafOracle (the
same listeners as if they could not hear: the most FRCorr the audio is worth, beside
--ablate audio) exist only for worlds of `reactface synth`. Each is skipped with a note
otherwise.

examples:
  reactface evaluate --data data/synth --split test --pred runs/test_pred.npy
  reactface evaluate --data data/synth --checkpoint models/reactface.pt --ablate audio,visual
  reactface evaluate --data data/synth --pred pred.npy --set-size 5 --out eval_k5
  reactface evaluate --data data/react --pred pred.npy --convention official --keep-constant
  reactface evaluate --front runs/*/eval/metrics.csv --out front   (the plot alone)
"""


def register(subparsers, common):
    parser = subparsers.add_parser(
        "evaluate",
        parents=[common],
        help="REACT and motion metrics of predictions or a checkpoint against baselines",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, help="dataset root in the REACT layout")
    parser.add_argument("--split", default="test", help="split to evaluate (default: test)")
    source = parser.add_mutually_exclusive_group()
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
        "--ablate",
        default="",
        metavar="INPUTS",
        help="with --checkpoint: also generate with these inputs taken away, comma-separated: "
        "audio (the speaker's audio zeroed), visual (the speaker's face masked in every "
        "frame); reports each run and its relative FRCorr change",
    )
    parser.add_argument(
        "--perception",
        choices=tuple(PERCEPTIONS),
        default="files",
        help="the speaker landmarks of the evaluated split that the model (and PerceivedMime) "
        "see: files (Landmark_files: for a synthetic world the simulated detector's view), "
        "camera (Camera_landmark_files: MediaPipe tracking the world's own renders, made by "
        "`reactface prepare --data DIR --only camera --split SPLIT`) or view (the files as "
        "the camera's view learnt from the train clips tracked with `reactface prepare "
        "--data DIR --only camera --split train --clips 20` would show them) (default: files)",
    )
    parser.add_argument(
        "--set-size",
        type=int,
        default=None,
        metavar="K",
        help="score against the first K appropriate reactions of each speaker only, in the "
        "split's row order (default: all). In a world of `reactface synth` the first five "
        "are one listener of each policy",
    )
    parser.add_argument(
        "--convention",
        choices=tuple(CONVENTIONS),
        default="ours",
        help="how FRCorr, FRDist and FRSyn are reduced, as our docs define them or as the "
        "official REACT / ReactFace scripts print them (below; default: ours)",
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
        "--front",
        nargs="+",
        type=Path,
        metavar="CSV",
        help="metrics.csv files of other evaluations: plot FRCorr against FRDiv of all their "
        "rows (and of this evaluation, if one is run) to OUT/front.png",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("evaluation"),
        help="folder for metrics.csv, metrics.md, reactions.png (samples over time), "
        "events.png (where blinks and nods start) and front.png (default: ./evaluation)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    ablations = _ablations(args.ablate)
    if args.set_size is not None and args.set_size < 1:
        usage_error(COMMAND, f"--set-size must be >= 1, got {args.set_size}")
    if ablations and args.checkpoint is None:
        usage_error(
            COMMAND,
            "--ablate needs --checkpoint: it generates again with an input taken away",
        )
    if args.pred is None and args.checkpoint is None:
        if args.front:
            return _front_only(args)
        usage_error(
            COMMAND,
            "give --pred or --checkpoint (or --front alone to plot evaluations)",
        )
    if args.data is None:
        usage_error(COMMAND, "--data is required to evaluate predictions")
    return _evaluate(args, ablations)


def _evaluate(args: argparse.Namespace, ablations: list[str]) -> int:
    import numpy as np

    from reactface_core.metrics.evaluation import (
        appropriate_set_rates,
        evaluate,
        scored_columns,
    )
    from reactface_core.metrics.report import (
        CHANGE,
        MOTION,
        SYNCHRONY,
        MetricSettings,
        format_table,
        motion_rows,
        write_csv,
        write_markdown,
    )
    from reactface_core.metrics.synchrony import default_max_lag
    from reactface_core.utils import resolve_device, seed_everything

    seed_everything(args.seed)
    device = resolve_device(args.device)
    baselines = _baseline_names(args.baselines)
    data = load_evaluation_set(args.data, args.split)
    try:
        data = data.with_set_size(args.set_size)
    except ValueError as error:
        _fail(error)
    name, predictions, runs, trained = _model_predictions(args, data, ablations, device)
    num_samples = predictions.shape[1]
    notes = [""]
    baselines, data = _prepare_baselines(args, data, baselines, num_samples, device, notes, trained)

    max_lag = default_max_lag(data.fps) if args.max_lag is None else args.max_lag
    settings = MetricSettings(
        convention=args.convention, max_lag=max_lag, device=device, progress=True
    )
    try:
        results = evaluate(
            data,
            runs,
            baselines,
            num_samples,
            args.seed,
            args.part,
            args.grouped_frdist,
            settings,
            args.keep_constant,
        )
    except ValueError as error:
        _fail(error)
    full = results[name]["FRCorr"]
    for ablated in list(runs)[1:]:
        change = (results[ablated]["FRCorr"] - full) / abs(full) if full else float("nan")
        results[ablated][CHANGE] = change
    data = data.cut(predictions.shape[2])
    columns = scored_columns(data, args.part, args.keep_constant)
    set_sizes = sorted({len(indices) for indices in data.appropriate})
    notes.insert(
        1,
        f"Split {args.split} of {args.data}: {len(data.speakers)} speakers, {num_samples} "
        f"samples each, {predictions.shape[2]} frames at {data.fps:g} fps, face model "
        f"{data.face_model}, {len(columns)} columns ({args.part}"
        f"{'' if args.keep_constant else ', constant ones dropped'}); appropriate sets of "
        f"{'/'.join(map(str, set_sizes))} reactions"
        f"{f' (the first {args.set_size})' if args.set_size else ''}; "
        f"convention: {args.convention}; "
        f"FRDist: {'per group, 1/size weights' if args.grouped_frdist else 'one DTW'}; "
        f"FRSyn lags within +-{max_lag} frames; seed {args.seed}; speaker landmarks: "
        f"{args.perception}.",
    )
    set_rates = appropriate_set_rates(data)
    print()
    print(format_table(results))
    print()
    print(format_table(motion_rows(results, set_rates), MOTION))
    print()
    print(format_table(results, SYNCHRONY))
    for ablated in list(runs)[1:]:
        print(f"{ablated}: FRCorr {results[ablated][CHANGE]:+.1%} against {name}")
    print("\n".join(notes[1:]))
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "metrics.csv", results)
    write_markdown(args.out / "metrics.md", results, notes, set_rates)
    saved = [args.out / "metrics.csv", args.out / "metrics.md"]
    if args.plot_speakers > 0:
        from reactface_core.face.models import get_face_model
        from reactface_core.metrics.plot import plot_events, plot_reactions

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
        plot_events(
            args.out / "events.png",
            predictions,
            data.listeners,
            data.appropriate,
            chosen,
            get_face_model(data.face_model),
            data.fps,
            title=f"{name}: where blinks and nods start ({args.split})",
        )
        saved += [args.out / "reactions.png", args.out / "events.png"]
    if args.front:
        saved.append(_plot_front(args.front, args.out, {str(args.out): results}))
    print("saved " + ", ".join(str(path) for path in saved))
    return 0


def _model_predictions(args, data, ablations: list[str], device: str):
    """The model's row name, its predictions, every run to score (name -> predictions) and
    the model loaded from --checkpoint (None with --pred)."""
    from reactface_core.metrics.evaluation import check_predictions_against, load_predictions

    if args.pred is not None:
        try:
            predictions = load_predictions(args.pred, data)
        except (FileNotFoundError, ValueError) as error:
            _fail(error)
        name = args.name or args.pred.stem
        return name, predictions, {name: predictions}, None

    from reactface_core.generate import ablation_label, generate_reactions, load_trained_model

    try:
        trained = load_trained_model(args.checkpoint, device)
    except (FileNotFoundError, ValueError) as error:  # CheckpointError is a ValueError
        _fail(error)
    name = args.name or args.checkpoint.stem
    runs = {}
    for ablate in [None, *ablations]:
        try:
            reactions = generate_reactions(
                trained,
                args.data,
                args.split,
                args.num_samples,
                args.seed,
                device,
                ablate=ablate,
                landmarks=PERCEPTIONS[args.perception],
            )
            what = f"reactions generated from {args.checkpoint}"
            runs[ablation_label(name, ablate)] = check_predictions_against(reactions, data, what)
        except (FileNotFoundError, ValueError) as error:
            _fail(error)
    return name, runs[name], runs, trained


def _prepare_baselines(
    args, data, baselines: list[str], num_samples: int, device: str, notes, trained
):
    """Drop the baselines this dataset cannot make (with a warning and a note); fit
    DelayedMime on the val split and draw FreshOracle's reactions for the others."""
    from reactface_core.data.world import fresh
    from reactface_core.metrics.evaluation import (
        fit_delayed_mime_on,
        fit_speaker_readout,
        perceive,
    )

    def skip(names, reason: str) -> None:
        names = [b for b in baselines if b in names]
        if names:
            message = f"{', '.join(names)} skipped: {reason}"
            print(f"warning: {message}", file=sys.stderr)
            notes.append(f"{message}.")
            baselines[:] = [b for b in baselines if b not in names]

    if data.train_speakers is None:
        skip(NEEDS_TRAINING, f"{args.data} has no train split")
    if not react.csv_path(args.data, VALIDATION_SPLIT).exists():
        skip(NEEDS_VALIDATION, f"{args.data} has no {VALIDATION_SPLIT} split to fit it on")
    if not fresh.is_synthetic_world(args.data):
        skip(NEEDS_WORLD, f"{args.data} is not a world of `{fresh.GENERATOR}`")
    if trained is None:
        skip(NEEDS_CHECKPOINT, "it reads the speakers through a model: give --checkpoint")
    try:
        if "DelayedMime" in baselines:
            fitted, score = fit_delayed_mime_on(
                args.data, VALIDATION_SPLIT, args.part, args.keep_constant, args.set_size, device
            )
            data = replace(data, delayed_mime=fitted)
            same = " (the evaluated split itself)" if args.split == VALIDATION_SPLIT else ""
            notes.append(
                f"DelayedMime: {fitted.delay} frames late ({fitted.delay / data.fps:.2f} s), "
                f"causal moving average of {fitted.window} frames, chosen by FRCorr on the "
                f"{VALIDATION_SPLIT} split{same} (FRCorr {score:.4f} there)."
            )
        readout = None
        if "PerceivedMime" in baselines:
            try:
                readout = fit_speaker_readout(args.data, TRAINING_SPLIT)
            except FileNotFoundError:
                skip(["PerceivedMime"], f"{args.data} has no speaker features to read out "
                     "(`reactface prepare` extracts them)")  # fmt: skip
        if readout is not None:
            fitted, score = fit_delayed_mime_on(
                args.data, VALIDATION_SPLIT, args.part, args.keep_constant, args.set_size,
                device, readout,
            )  # fmt: skip
            try:
                seen = perceive(args.data, args.split, data, readout, PERCEPTIONS[args.perception])
            except FileNotFoundError as error:
                _fail(error)
            data = replace(data, perceived_speakers=seen, perceived_mime=fitted)
            notes.append(
                f"PerceivedMime: DelayedMime ({fitted.delay} frames late, moving average of "
                f"{fitted.window} frames; FRCorr {score:.4f} on {VALIDATION_SPLIT}) on the "
                f"speaker coefficients a linear read-out of the speaker features recovers "
                f"(ridge, fitted on {TRAINING_SPLIT})."
            )
        if "ReadMime" in baselines:
            data = _fit_read_mime(args, data, trained, device, notes)
        oracles = [name for name in ("FreshOracle", "DeafOracle") if name in baselines]
        if oracles:  # one regeneration of the speakers for both
            reactions = fresh.fresh_reactions(
                args.data, list(data.speaker_clips), num_samples, args.seed,
                deaf=tuple(name == "DeafOracle" for name in oracles),
            )  # fmt: skip
            drawn = dict(zip(oracles, reactions, strict=True))
            data = replace(data, fresh=drawn.get("FreshOracle"), deaf=drawn.get("DeafOracle"))
        if "FreshOracle" in oracles:
            notes.append(
                f"FreshOracle: {num_samples} new reactions per speaker clip from the world's "
                "own listener policies (new persons and timing), not in the appropriate set."
            )
        if "DeafOracle" in oracles:
            notes.append(
                "DeafOracle: FreshOracle's listeners reacting as if they could not hear (the "
                "speaker's pauses and stressed syllables at random frames, a poker-faced "
                "speaker's emotion only as strong as its face shows it)."
            )
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
    return baselines, data


def _fit_read_mime(args, data, trained, device: str, notes):
    """ReadMime: DelayedMime on the speakers as --checkpoint (loaded: `trained`) reads them,
    its delay and window fitted on the val split seen through the files, as PerceivedMime's."""
    from reactface_core.generate import read_speakers
    from reactface_core.metrics.evaluation import fit_delayed_mime_on

    def read(split: str, landmarks: str = PERCEPTIONS["files"]):
        return read_speakers(trained, args.data, split, device, landmarks=landmarks)

    fitted, score = fit_delayed_mime_on(
        args.data, VALIDATION_SPLIT, args.part, args.keep_constant, args.set_size, device,
        read=read,
    )  # fmt: skip
    seen = read(args.split, PERCEPTIONS[args.perception])
    notes.append(
        f"ReadMime: DelayedMime ({fitted.delay} frames late, moving average of "
        f"{fitted.window} frames; FRCorr {score:.4f} on {VALIDATION_SPLIT}) on the speaker "
        f"coefficients {args.checkpoint} reads from what it sees (its reconstruction R^s)."
    )
    return replace(data, read_speakers=seen, read_mime=fitted)


def _front_only(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"saved {_plot_front(args.front, args.out, {})}")
    return 0


def _plot_front(csv_files: list[Path], out: Path, current: dict) -> Path:
    """front.png of FRCorr against FRDiv: this evaluation's rows and those of `csv_files`,
    less the ablation rows (inputs taken away are not variants to choose from)."""
    from reactface_core.generate import is_ablation_label
    from reactface_core.metrics.plot import plot_front
    from reactface_core.metrics.report import read_csv

    tables = dict(current)
    for path in csv_files:
        try:
            table = read_csv(path)
        except (OSError, ValueError, KeyError) as error:
            _fail(f"--front {path}: {error} (expected a metrics.csv of reactface evaluate)")
        if any({"FRCorr", "FRDiv"} - set(row) for row in table.values()) or not table:
            _fail(f"--front {path} has no FRCorr and FRDiv columns (a metrics.csv of evaluate)")
        tables[str(path.parent)] = table
    tables = {
        name: {method: row for method, row in table.items() if not is_ablation_label(method)}
        for name, table in tables.items()
    }
    plot_front(out / "front.png", tables, title="FRCorr against FRDiv (S-MSE)")
    return out / "front.png"


def _ablations(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        return []
    from reactface_core.generate import ABLATIONS

    unknown = [name for name in names if name not in ABLATIONS]
    if unknown:
        usage_error(
            COMMAND,
            f"--ablate: unknown input {unknown[0]!r}; expected {' or '.join(ABLATIONS)} "
            "(or both, comma-separated)",
        )
    return list(dict.fromkeys(names))


def _baseline_names(text: str) -> list[str]:
    if text.strip().lower() == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        usage_error(
            COMMAND,
            f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)} "
            "or 'none'",
        )
    return names


def _fail(error: Exception | str):
    """Bad input (a file, a checkpoint): one line naming it and what was expected."""
    text = " ".join(str(error).split())  # torch's state-dict errors span many lines
    if len(text) > 400:
        text = text[:397] + "..."
    raise SystemExit(f"{COMMAND}: {text}")


def load_evaluation_set(data_dir: Path, split: str):
    """The split (and the train split for the baselines) as an `EvaluationSet`."""
    from reactface_core.metrics.evaluation import load_react_split

    if not data_dir.is_dir():
        _fail(f"--data {data_dir} is not a folder")
    try:
        return load_react_split(data_dir, split)
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
