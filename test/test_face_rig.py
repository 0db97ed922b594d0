"""ARKit rig: every channel moves the mesh plausibly, L/R pairs mirror, head pose conventions."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.face import mesh as face_mesh
from reactface_core.face.models import ARKIT_BLENDSHAPES, get_face_model
from reactface_core.face.rig import ArkitRig, head_rotation

MODEL = get_face_model("arkit58")


@pytest.fixture(scope="module")
def rig():
    return ArkitRig()


def one_hot(name: str, value: float = 1.0) -> np.ndarray:
    c = MODEL.neutral()
    c[0, MODEL.index(name)] = value
    return c


def test_neutral_is_the_canonical_mesh(rig):
    out = rig.vertices(MODEL.neutral(3))
    assert out.shape == (3, 468, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.broadcast_to(rig.mesh.vertices, out.shape), atol=1e-7)


def test_every_channel_moves_a_plausible_amount(rig):
    for name in ARKIT_BLENDSHAPES:
        c = one_hot(name)
        if name == "mouthClose":  # a corrective: it closes lips the jaw has opened
            c[0, MODEL.index("jawOpen")] = 1.0
            neutral = rig.unposed_vertices(one_hot("jawOpen"))[0]
        else:
            neutral = rig.mesh.vertices
        moved = np.linalg.norm(rig.unposed_vertices(c)[0] - neutral, axis=1)
        assert 0.4e-3 < moved.max() < 0.045, name  # between 0.4 mm and 4.5 cm
        assert np.isfinite(moved).all()


def test_left_right_pairs_mirror_exactly(rig):
    flip = np.array([-1.0, 1.0, 1.0])
    pairs = [(n, n[:-4] + "Right") for n in ARKIT_BLENDSHAPES if n.endswith("Left")]
    assert len(pairs) == 20  # 18 per-side channels + mouthLeft/Right + jawLeft/Right
    neutral = rig.mesh.vertices
    for left, right in pairs:
        d_left = rig.unposed_vertices(one_hot(left))[0] - neutral
        d_right = rig.unposed_vertices(one_hot(right))[0] - neutral
        np.testing.assert_allclose(d_right, d_left[rig.mesh.mirror] * flip, atol=1e-7)
    for name in ARKIT_BLENDSHAPES:  # unpaired channels are symmetric themselves
        if not name.endswith(("Left", "Right")):
            d = rig.unposed_vertices(one_hot(name))[0] - neutral
            np.testing.assert_allclose(d, d[rig.mesh.mirror] * flip, atol=1e-7, err_msg=name)


def test_left_channels_act_on_the_subjects_left(rig):
    neutral = rig.mesh.vertices
    for name in ("eyeBlinkLeft", "mouthSmileLeft", "browOuterUpLeft", "noseSneerLeft"):
        moved = np.linalg.norm(rig.unposed_vertices(one_hot(name))[0] - neutral, axis=1)
        assert neutral[np.argmax(moved), 0] > 0, name  # x > 0 is the subject's left


def test_semantics_of_key_channels(rig):
    v0 = rig.mesh.vertices

    def after(name):
        return rig.unposed_vertices(one_hot(name))[0]

    gap = lambda v, a, b: v[a, 1] - v[b, 1]  # noqa: E731
    assert gap(after("jawOpen"), 13, 14) > 0.025  # lips part by more than 2.5 cm
    assert after("jawOpen")[face_mesh.CHIN, 1] < v0[face_mesh.CHIN, 1] - 0.02
    for lid_up, lid_down, name in ((159, 145, "eyeBlinkRight"), (386, 374, "eyeBlinkLeft")):
        assert gap(v0, lid_up, lid_down) > 0.006
        assert abs(gap(after(name), lid_up, lid_down)) < 0.0005  # lids meet
    assert gap(after("eyeWideLeft"), 386, 374) > gap(v0, 386, 374) + 0.002
    smile = after("mouthSmileLeft")
    assert smile[291, 1] > v0[291, 1] + 0.004 and smile[291, 0] > v0[291, 0] + 0.003
    assert after("mouthFrownLeft")[291, 1] < v0[291, 1] - 0.004
    assert after("browInnerUp")[336, 1] > v0[336, 1] + 0.005
    assert after("browDownLeft")[334, 1] < v0[334, 1] - 0.003
    pucker = after("mouthPucker")
    assert np.ptp(pucker[[61, 291], 0]) < np.ptp(v0[[61, 291], 0]) - 0.01
    assert pucker[0, 2] > v0[0, 2] + 0.005
    assert after("mouthLeft")[0, 0] > v0[0, 0] + 0.004
    np.testing.assert_array_equal(after("mouthClose"), v0)  # no jaw opening to close
    half_closed = rig.unposed_vertices(one_hot("jawOpen") + one_hot("mouthClose"))[0]
    assert abs(gap(half_closed, 13, 14)) < 0.25 * gap(after("jawOpen"), 13, 14)


def test_head_pose_conventions(rig):
    c = MODEL.neutral(4)
    c[1, MODEL.index("headYaw")] = 0.4
    c[2, MODEL.index("headPitch")] = 0.3
    c[3, MODEL.index("headTranslationX")] = 0.05
    out = rig.vertices(c)
    nose, forehead = face_mesh.NOSE_TIP, face_mesh.FOREHEAD
    assert out[1, nose, 0] > out[0, nose, 0] + 0.02  # yaw + turns the nose to the subject's left
    assert out[2, forehead, 2] > out[0, forehead, 2] + 0.02  # pitch + tips the forehead forward
    np.testing.assert_allclose(out[3] - out[0], np.broadcast_to([0.05, 0, 0], (468, 3)), atol=1e-6)
    rotation = head_rotation(np.array([[0.1, -0.7, 0.3]]))[0]
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-6)


def test_bad_shape_names_the_layout(rig):
    with pytest.raises(ValueError, match=r"expected \(T, 58\) for face model 'arkit58'"):
        rig.vertices(np.zeros((5, 52)))
