"""PerceivedMime's read-out: what the speaker features say the speaker's coefficients are."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.metrics.perceived import fit_readout

MIXING = np.random.default_rng(9).normal(size=(5, 12))  # the camera: 5 coefficients -> 12


def speakers(rng, count=6, frames=80):
    coefficients = rng.normal(size=(count, frames, 5)).cumsum(1) * 0.1
    mixing, features = MIXING, MIXING.shape[1]
    observed = coefficients @ mixing + 0.01 * rng.normal(size=(count, frames, features)) + 3.0
    return coefficients, observed


def test_a_linear_camera_is_read_back_where_a_face_is_seen():
    rng = np.random.default_rng(0)
    coefficients, features = speakers(rng, frames=400)
    valid = rng.random(coefficients.shape[:2]) > 0.2
    readout = fit_readout(features, valid, coefficients)
    test_coefficients, test_features = speakers(np.random.default_rng(1))
    seen = np.ones(test_coefficients.shape[:2], bool)
    perceived = readout(test_features, seen)
    assert np.abs(perceived - test_coefficients).max() < 0.05


def test_without_a_face_the_last_reading_is_held_and_the_mean_before_any():
    rng = np.random.default_rng(2)
    coefficients, features = speakers(rng, count=2, frames=30)
    readout = fit_readout(features, np.ones((2, 30), bool), coefficients)
    valid = np.ones((2, 30), bool)
    valid[0, :4] = False  # no face yet
    valid[1, 10:20] = False  # turned away
    perceived = readout(features, valid)
    np.testing.assert_allclose(perceived[0, :4], np.broadcast_to(readout.rest, (4, 5)), atol=1e-6)
    np.testing.assert_allclose(perceived[1, 10:20], np.repeat(perceived[1, 9:10], 10, 0))
    assert not np.allclose(perceived[1, 20], perceived[1, 9])


def test_too_few_face_frames_is_a_clear_error():
    rng = np.random.default_rng(3)
    coefficients, features = speakers(rng, count=1, frames=10)
    with pytest.raises(ValueError, match="more frames with a face than features"):
        fit_readout(features, np.ones((1, 10), bool), coefficients)
