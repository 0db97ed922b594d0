"""The camera's learnt view: how near are the world's features to what MediaPipe delivers?

`data.landmarks=camera_view` trains on a synthetic world's landmark files as the camera's
view learnt from the train clips tracked with `reactface prepare --only camera --clips N`
would show them (`reactface_core/data/camera_view.py`). This fits that view on DATA's
tracked train clips and scores it on the clips of --split that are tracked too (none of
them fitted on), against MediaPipe's own features of the same frames, beside the landmark
files' features: per column group, the median over its columns of

- the correlation over time with MediaPipe's features (the view's residual is replayed
  from other clips, so it cannot follow this clip's own tracking noise: near the files'
  correlation is all it can reach where MediaPipe follows the rig, and it should be
  nearer where MediaPipe mixes the points),
- the gain (std over MediaPipe's std; 1: as much motion as the camera delivers),
- the error (mean squared difference over MediaPipe's variance; 1: as far as a constant).

No target: it says how much of the camera's gap the learnt view closes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from reactface_core.bench import machine_load

SOURCES = ("files", "view")


def add_arguments(parser) -> None:
    parser.add_argument(
        "--data",
        default="data/synth",
        help="a world of `reactface synth` with some train clips and the --split clips tracked "
        "(`reactface prepare --only camera`) (default: data/synth)",
    )
    parser.add_argument(
        "--split", default="test", choices=("val", "test"), help="split scored (default: test)"
    )


def run(args) -> int:
    from reactface_core.bench.world import AGREEMENT_FRAMES, feature_agreement
    from reactface_core.data import react
    from reactface_core.data.camera_view import camera_view
    from reactface_core.data.dataset import ReactDataset
    from reactface_core.perception.landmarks import COLUMN_GROUPS

    started = time.perf_counter()
    root = Path(args.data)
    try:
        view = camera_view(str(root))
        datasets = {
            name: ReactDataset(root, args.split, window=None, random_crop=False, landmarks=kind)
            for name, kind in (
                ("camera", react.CAMERA_LANDMARK_FILES),
                ("files", react.LANDMARK_FILES),
                ("view", react.CAMERA_VIEW),
            )
        }
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"reactface bench view: {error}") from None
    camera = datasets["camera"]
    clips = [
        c for c in camera.speaker_clips if camera.path(react.CAMERA_LANDMARK_FILES, c).exists()
    ]
    if not clips:
        raise SystemExit(
            f"reactface bench view: no {args.split} clip of {root} is tracked; run `reactface "
            f"prepare --data {root} --only camera --split {args.split}`"
        )
    seen = {name: [] for name in datasets}
    for clip in clips:
        frames = len(camera.coefficients(clip))
        features = {
            name: data.speaker_visual(clip, 0, frames, normalise=False)
            for name, data in datasets.items()
        }
        both = np.logical_and.reduce([valid for _, valid in features.values()])
        for name, (values, _) in features.items():
            seen[name].append(values[both])
    seen = {name: np.concatenate(values) for name, values in seen.items()}
    if len(seen["camera"]) < AGREEMENT_FRAMES:
        raise SystemExit(
            f"reactface bench view: {len(seen['camera'])} frames of the tracked {args.split} "
            f"clips of {root} have a face in every source, {AGREEMENT_FRAMES} are needed"
        )
    print(
        f"{machine_load()}; the view fitted on {len(view.clips)} tracked train clips of {root} "
        f"({len(view.clips) - len(view.banked)} left out of the residual bank: head pose "
        f"misread), scored on {len(clips)} tracked {args.split} clips ({len(seen['camera'])} frames with "
        f"a face in every source)"
    )
    print(
        "  group         " + "".join(f"  {name + ': corr  gain  error':>25s}" for name in SOURCES)
    )
    every = np.ones(len(seen["camera"]), bool)  # `seen` holds the frames with a face only
    cells = {
        name: (
            feature_agreement((seen[name], every), (seen["camera"], every)),
            relative_error(seen[name], seen["camera"]),
        )
        for name in SOURCES
    }
    for group in COLUMN_GROUPS:  # nan: nothing moves in the group
        row = [
            (*agreement.get(group, (np.nan, np.nan)), error[group])
            for agreement, error in cells.values()
        ]
        print(f"  {group:12s}" + "".join(f"  {c:15.2f} {g:5.2f} {e:6.2f}" for c, g, e in row))
    print(f"{time.perf_counter() - started:.0f} s")
    return 0


def relative_error(source: np.ndarray, camera: np.ndarray) -> dict[str, float]:
    """Per column group: median over its moving columns of the mean squared difference from
    the camera's (frames, columns) over the camera's variance (1: as far as a constant)."""
    from reactface_core.bench.world import STILL
    from reactface_core.perception.landmarks import COLUMN_GROUPS

    result = {}
    for group, columns in COLUMN_GROUPS.items():
        x, y = source[:, columns].astype(np.float64), camera[:, columns].astype(np.float64)
        moving = (x.std(axis=0) > STILL) & (y.std(axis=0) > STILL)  # as `feature_agreement`
        error = ((x - y)[:, moving] ** 2).mean(axis=0) / y[:, moving].var(axis=0)
        result[group] = float(np.median(error)) if moving.any() else np.nan
    return result
