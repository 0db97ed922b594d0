"""faceverse58: ARKit-semantics channels mapped onto the arkit58 rig, order from the model file."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.face.faceverse import FaceVerseScene, FaceVerseToArkit, expression_order
from reactface_core.face.models import ARKIT_BLENDSHAPES, get_face_model
from reactface_core.face.render import NumpyRenderer
from reactface_core.face.scene import FaceScene

FV, ARKIT = get_face_model("faceverse58"), get_face_model("arkit58")


def faceverse_file(path, names):
    """A small file shaped like faceverse_simple_v2.npy (a pickled dict in a .npy)."""
    model = {
        "meanshape": np.zeros((10, 3), np.float32),
        "exBase": np.zeros((30, len(names)), np.float32),
        "exp_name_list": np.array(names),
        "tri": np.array([[0, 1, 2]]),
    }
    np.save(path, np.array(model, dtype=object), allow_pickle=True)
    return path


def test_order_comes_from_the_model_file(tmp_path):
    names = list(reversed(ARKIT_BLENDSHAPES))
    path = faceverse_file(tmp_path / "faceverse_simple_v2.npy", names)
    assert expression_order(path) == tuple(names)
    mapping = FaceVerseToArkit(path)
    c = FV.neutral(2)
    c[0, names.index("jawOpen")] = 0.8
    c[1, names.index("eyeBlinkLeft")] = 1.7  # overshoot is clipped to ARKit's [0, 1]
    c[1, 52:55] = (0.1, -0.2, 0.3)
    c[1, 55:58] = (0.5, 0.0, -0.2)
    out = mapping(c)
    assert out[0, ARKIT.index("jawOpen")] == pytest.approx(0.8)
    assert out[1, ARKIT.index("eyeBlinkLeft")] == 1.0
    assert np.count_nonzero(out[:, :52]) == 2
    np.testing.assert_allclose(out[1, 52:55], (0.1, -0.2, 0.3))
    np.testing.assert_allclose(out[1, 55:58], (0.05, 0.0, -0.02), atol=1e-7)


def test_without_a_model_file_it_warns_and_assumes_arkit_order(monkeypatch):
    monkeypatch.delenv("REACTFACE_FACEVERSE_MODEL", raising=False)
    with pytest.warns(RuntimeWarning, match="assuming its 52 expression channels are in ARKit"):
        assert expression_order() == ARKIT_BLENDSHAPES


def test_bad_model_file_is_named(tmp_path):
    path = faceverse_file(tmp_path / "fv.npy", ["jawOpen", "notAShape"] + ["x"] * 50)
    with pytest.raises(ValueError, match=r"fv.npy: exp_name_list .* unknown: notAShape"):
        expression_order(path)
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros(3))
    with pytest.raises(ValueError, match="not a FaceVerse v2 model"):
        expression_order(plain)


def test_renders_like_the_arkit_face(tmp_path):
    names = list(ARKIT_BLENDSHAPES[26:] + ARKIT_BLENDSHAPES[:26])
    path = faceverse_file(tmp_path / "faceverse_simple_v2.npy", names)
    scene = FaceVerseScene(path)
    fv = FV.neutral(1)
    fv[0, names.index("mouthSmileRight")] = 1.0
    fv[0, FV.index("headYaw")] = 0.3
    ark = ARKIT.neutral(1)
    ark[0, ARKIT.index("mouthSmileRight")] = 1.0
    ark[0, ARKIT.index("headYaw")] = 0.3
    np.testing.assert_array_equal(
        NumpyRenderer(scene).render(fv), NumpyRenderer(FaceScene()).render(ark)
    )
    with pytest.raises(ValueError, match="face model 'faceverse58'"):
        NumpyRenderer(scene).render(np.zeros((1, 56)))
