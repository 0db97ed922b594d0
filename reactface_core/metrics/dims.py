"""Which coefficient columns the metrics look at, and the FRDist group weights.

The REACT scripts score 25 emotion features (15 AU occurrences, valence and arousal, 8
expression probabilities) and weight FRDist by group: the DTW of each group separately, times
1/15, 1 and 1/8, i.e. roughly one unit per group whatever its size. reactface models predict
face coefficients, not emotion features, so by default every metric uses all D coefficient
columns with one Euclidean DTW, as ReactFace's own 3DMM evaluation does. Two options:

- `part`: 'all' columns, 'face' (expression blendshapes/coefficients and, for flame56, jaw
  pose) or 'head' (head rotation and translation);
- grouped FRDist: the face model's groups (expression, jaw pose, head rotation, translation)
  each with weight 1/size, the REACT weighting applied to our layouts.
"""

from __future__ import annotations

import numpy as np

from reactface_core.face.models import FaceModel
from reactface_core.metrics.dtw import Groups

PARTS = ("all", "face", "head")


def _groups(model: FaceModel) -> dict[str, list[slice]]:
    face = [model.expression] + ([model.jaw_pose] if model.jaw_pose is not None else [])
    head = [model.head_rotation] + ([model.translation] if model.translation is not None else [])
    return {"face": face, "head": head}


def part_columns(model: FaceModel, part: str = "all") -> np.ndarray:
    """Column indices of one part of the face model's layout."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}; got {part!r}")
    if part == "all":
        return np.arange(model.dim)
    return np.concatenate([np.arange(model.dim)[group] for group in _groups(model)[part]])


def frdist_groups(model: FaceModel, columns: np.ndarray) -> Groups:
    """The face model's groups inside `columns` (positions into them), each weighted 1/size."""
    position = {column: i for i, column in enumerate(columns.tolist())}
    groups = []
    for part in _groups(model).values():
        for group in part:
            inside = [position[c] for c in np.arange(model.dim)[group] if c in position]
            if inside:
                groups.append((np.asarray(inside), 1.0 / len(inside)))
    return groups
