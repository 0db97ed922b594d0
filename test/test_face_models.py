import numpy as np
import pytest

from reactface_core.face.models import ARKIT_BLENDSHAPES, FACE_MODELS, get_face_model


def test_layout_sizes():
    assert len(set(ARKIT_BLENDSHAPES)) == 52
    assert get_face_model("arkit58").dim == 58
    assert get_face_model("faceverse58").dim == 58
    assert get_face_model("flame56").dim == 56
    for model in FACE_MODELS.values():
        assert len(model.lower) == len(model.upper) == model.dim


def test_bad_shape_names_the_layout():
    with pytest.raises(ValueError, match=r"expected \(T, 58\) for face model 'arkit58'"):
        get_face_model().check(np.zeros((10, 56)))


def test_unknown_model():
    with pytest.raises(ValueError, match="known: arkit58"):
        get_face_model("nope")
