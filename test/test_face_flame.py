"""flame56: safe loading of FLAME-structured pickles and linear blend skinning."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from reactface_core.face.flame import FlameScene, load_flame, rodrigues
from reactface_core.face.models import get_face_model
from reactface_core.face.render import NumpyRenderer, make_renderer
from reactface_core.face.safe_pickle import ChumpyArray, load_npy_object, load_pickle

MODEL = get_face_model("flame56")


class _FakeChumpy:
    """Makes `chumpy.ch.Ch` importable while pickling, as in the real FLAME files."""

    def __enter__(self):
        package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

        class Ch:
            def __init__(self, x):
                self.x = np.asarray(x)
                self._dirty_vars = set()

        Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
        module.Ch, package.ch = Ch, module
        sys.modules.update({"chumpy": package, "chumpy.ch": module})
        return Ch

    def __exit__(self, *exc):
        sys.modules.pop("chumpy", None)
        sys.modules.pop("chumpy.ch", None)


def synthetic_flame(path, protocol: int = 2):
    """A small file with FLAME's keys, types and shapes (N = 40 vertices instead of 5023).

    Vertices 0-19 hang on the root joint, 20-39 on the jaw; the face grid is a shallow
    bowl bulging toward the camera, so it renders as a visible patch with an outside.
    """
    rng = np.random.default_rng(0)
    n = 40
    grid = np.stack(np.meshgrid(np.linspace(-0.06, 0.06, 5), np.linspace(-0.08, 0.08, 8)), -1)
    xy = grid.reshape(-1, 2)
    template = np.concatenate([xy, -3.0 * (xy**2).sum(1, keepdims=True)], axis=1)  # a bowl
    shapedirs = np.zeros((n, 3, 400))
    shapedirs[:, :, :300] = rng.normal(0, 1e-3, (n, 3, 300))
    shapedirs[:, 2, 300] = 0.01  # expression 0 pushes every vertex 1 cm toward the camera
    weights = np.zeros((n, 5))
    weights[:20, 0] = 1.0
    weights[20:, 2] = 1.0
    regressor = np.zeros((5, n))
    regressor[0, :] = 1.0 / n  # root at the centroid
    regressor[1, 10] = 1.0
    regressor[2, 5] = 1.0  # jaw joint at vertex 5
    regressor[3, 0] = regressor[4, 4] = 1.0
    faces = np.array([(r * 5 + c, r * 5 + c + 1, (r + 1) * 5 + c) for r in range(7) for c in range(4)]
                     + [(r * 5 + c + 1, (r + 1) * 5 + c + 1, (r + 1) * 5 + c) for r in range(7) for c in range(4)],
                     dtype=np.uint32)  # fmt: skip
    with _FakeChumpy() as Ch:
        data = {
            "v_template": Ch(template),
            "shapedirs": Ch(shapedirs),
            "posedirs": np.zeros((n, 3, 36)),
            "J_regressor": scipy.sparse.csc_matrix(regressor),
            "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
            "weights": weights,
            "f": faces,
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=protocol)
    return template, regressor


@pytest.mark.parametrize("protocol", [0, 2])
def test_loads_chumpy_and_sparse_without_chumpy(tmp_path, protocol):
    path = tmp_path / "generic_model.pkl"
    template, _ = synthetic_flame(path, protocol)
    assert "chumpy" not in sys.modules
    raw = load_pickle(path)
    assert isinstance(raw["v_template"], ChumpyArray)
    model = load_flame(path)
    np.testing.assert_allclose(model.v_template, template)
    assert model.expression_dirs.shape == (40, 3, 50)
    assert model.j_regressor.shape == (5, 40) and model.parents.tolist() == [-1, 0, 1, 1, 1]


def test_pickle_with_another_callable_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": Exploit()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os)\.system"):
        load_flame(path)
    assert not marker.exists()
    eval_path = tmp_path / "eval.pkl"
    eval_path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")  # builtins.eval('1+1')
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        load_pickle(eval_path)
    npy = tmp_path / "evil.npy"
    np.save(npy, np.array({"exp_name_list": Exploit()}, dtype=object), allow_pickle=True)
    with pytest.raises(pickle.UnpicklingError, match="system"):
        load_npy_object(npy)
    assert not marker.exists()


def test_skinning_expression_jaw_and_global_pose(tmp_path):
    path = tmp_path / "flame2023.pkl"
    template, regressor = synthetic_flame(path)
    model = load_flame(path)
    c = MODEL.neutral(4)
    c[1, MODEL.index("flameExpression00")] = 2.0
    c[2, MODEL.index("jawPoseX")] = 0.3
    c[3, MODEL.index("globalPoseY")] = 0.5
    out = model.vertices(c)
    np.testing.assert_allclose(out[0], template, atol=1e-7)
    np.testing.assert_allclose(out[1] - out[0], np.broadcast_to([0, 0, 0.02], (40, 3)), atol=1e-7)
    jaw = template[5]
    rotation = rodrigues(np.array([[0.3, 0.0, 0.0]]))[0]
    np.testing.assert_allclose(out[2, 20:], (template[20:] - jaw) @ rotation.T + jaw, atol=1e-6)
    np.testing.assert_allclose(out[2, :20], template[:20], atol=1e-7)  # root-bound vertices stay
    root = regressor[0] @ template
    rotation = rodrigues(np.array([[0.0, 0.5, 0.0]]))[0]
    np.testing.assert_allclose(out[3], (template - root) @ rotation.T + root, atol=1e-6)


def test_renders_and_jaw_pose_changes_the_image(tmp_path):
    path = tmp_path / "generic_model.pkl"
    synthetic_flame(path)
    renderer = NumpyRenderer(FlameScene(path))
    c = MODEL.neutral(2)
    c[1, MODEL.index("jawPoseX")] = 0.6
    frames = renderer.render(c)
    assert frames.shape == (2, 256, 256, 3)
    face = np.abs(frames.astype(int) - renderer.config.background).max(-1) > 12
    assert face[0].mean() > 0.1
    assert (face[0] != face[1]).mean() > 0.01  # the lower half swings away
    flipped = tmp_path / "flipped.pkl"
    data = load_pickle(path)
    data["f"] = data["f"][:, ::-1].copy()  # the other winding must render the same
    data["v_template"], data["shapedirs"] = data["v_template"].x, data["shapedirs"].x
    flipped.write_bytes(pickle.dumps(data, protocol=2))
    again = NumpyRenderer(FlameScene(flipped)).render(c)
    assert np.abs(again.astype(int) - frames).max() <= 1  # rounding only
    with pytest.raises(ValueError, match=r"expected \(T, 56\) for face model 'flame56'"):
        renderer.render(np.zeros((1, 58)))


def test_missing_model_file_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.delenv("REACTFACE_FLAME_MODEL", raising=False)
    with pytest.raises(FileNotFoundError, match="needs your FLAME model file"):
        make_renderer("flame56", backend="numpy")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_flame(tmp_path / "nope.pkl")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"v_template": np.zeros((3, 3))}, protocol=2))
    with pytest.raises(ValueError, match="missing shapedirs"):
        load_flame(bad)
