"""Metric conventions: ours, and what the official REACT 2024 and ReactFace scripts print.

The properties pinned here are the ones documented in `reactface_core.metrics.conventions`
(checked against the official code on the same arrays, see the README): the x N and x 10 N
reductions, TLCC's NaN-wins argmax and its first-sample-only FRSyn.
"""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.metrics import frcorr, frdist, frsyn, peak_lags
from reactface_core.metrics import reference as ref
from reactface_core.metrics.conventions import CONVENTIONS, get_convention
from reactface_core.metrics.dtw import best_dtw


def smooth(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Low-pass random sequences (..., T, D), like facial coefficients."""
    noise = rng.standard_normal(shape[:-2] + (shape[-2] + 20, shape[-1]))
    kernel = np.hanning(21) / np.hanning(21).sum()
    out = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), -2, noise)
    return out[..., : shape[-2], :].astype(np.float32)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    predictions = smooth(rng, (3, 4, 60, 5))  # K = 3 speakers, N = 4 samples
    listeners = smooth(rng, (6, 60, 5))
    appropriate = [[0, 1], [2, 5], [3, 4, 0]]
    return predictions, listeners, appropriate


def test_official_sums_samples_and_reactface_multiplies_by_ten_again(case):
    predictions, listeners, appropriate = case
    samples = predictions.shape[1]
    ours = frcorr(predictions, listeners, appropriate)
    assert frcorr(predictions, listeners, appropriate, "official") == pytest.approx(samples * ours)
    # ReactFace's CCC has eps 1e-50 instead of 1e-8: a difference of order 1e-8 / variance
    reactface = frcorr(predictions, listeners, appropriate, "reactface")
    assert reactface == pytest.approx(10 * samples * ours, rel=1e-5)
    distance = frdist(predictions, listeners, appropriate)
    assert frdist(predictions, listeners, appropriate, convention="official") == pytest.approx(
        samples * distance
    )
    assert frdist(predictions, listeners, appropriate, convention="reactface") == pytest.approx(
        10 * samples * distance
    )


def test_every_convention_is_reachable_by_name_and_unknown_names_are_refused():
    assert set(CONVENTIONS) == {"ours", "official", "reactface"}
    assert get_convention("reactface").ccc_eps == 1e-50
    with pytest.raises(ValueError, match="unknown metric convention 'leaderboard'"):
        get_convention("leaderboard")


def follower(rng: np.random.Generator, lag: int, frames: int = 60, dims: int = 3):
    """A speaker (T, D) and a reaction that repeats it `lag` frames later."""
    signal = smooth(rng, (frames + 30, dims)).astype(np.float64)
    speaker = signal[15 : 15 + frames]
    return speaker.copy(), signal[15 - lag : 15 - lag + frames].copy()


def test_a_constant_channel_makes_the_official_tlcc_peak_at_the_first_lag():
    speaker, reaction = follower(np.random.default_rng(1), lag=5)
    reaction[:, 1] = 0.0  # one channel never moves (e.g. an unused blendshape)
    predictions = reaction[None, None]
    # ours: the constant channel adds 0 at every lag, the others still peak at the true lag
    assert frsyn(predictions, speaker[None], max_lag=20) == 5
    # official: corrcoef is NaN at every lag, the mean is NaN, argmax takes the first: -L
    assert peak_lags(predictions, speaker[None], 20, nan_peak=True)[0, 0] == -20
    assert frsyn(predictions, speaker[None], 20, convention="official") == 20
    assert ref.frsyn_loop(predictions, speaker[None], 20, convention="official") == 20
    # a channel the speaker never moves does the same
    speaker[:, 2] = 0.3
    reaction = follower(np.random.default_rng(1), lag=5)[1]
    assert frsyn(reaction[None, None], speaker[None], 20, convention="official") == 20


def test_the_official_tlcc_takes_the_first_lag_whose_window_is_constant():
    speaker, reaction = follower(np.random.default_rng(2), lag=-3)
    reaction[8:, 0] = reaction[8, 0]  # channel 0 stops moving after frame 8
    predictions = reaction[None, None]
    # windows x[l:] with l >= 8 hold only the constant part: NaN from lag 8 on
    assert peak_lags(predictions, speaker[None], 55, nan_peak=True)[0, 0] == 8
    assert ref.peak_lag_pair(reaction, speaker, 55, nan_peak=True) == 8
    # ours: the frozen part only weakens channel 0; the peak stays next to the true lag
    ours = peak_lags(predictions, speaker[None], 55)[0, 0]
    assert ours == ref.peak_lag_pair(reaction, speaker, 55) and abs(ours - -3) <= 1


def test_the_official_frsyn_uses_the_first_sample_of_each_speaker_only():
    rng = np.random.default_rng(3)
    signal = smooth(rng, (100, 2)).astype(np.float64)
    speaker = signal[20:80]
    samples = np.stack([signal[20 - lag : 80 - lag] for lag in (3, 9)])[None]
    assert frsyn(samples, speaker[None], 15) == pytest.approx(6.0)
    assert frsyn(samples, speaker[None], 15, convention="official") == 3.0
    assert frsyn(samples, speaker[None], 15, convention="reactface") == 3.0


def test_dtw_equals_tslearn_which_the_official_frdist_calls(case):
    tslearn = pytest.importorskip("tslearn.metrics")  # the `test` extra
    predictions, listeners, appropriate = case
    groups = [(slice(0, 2), 0.5), (slice(2, 5), 1 / 3)]
    ours = best_dtw(predictions, listeners, appropriate, groups)
    for k, indices in enumerate(appropriate):
        for n in range(predictions.shape[1]):
            theirs = min(
                sum(
                    weight * tslearn.dtw(predictions[k, n][:, cols], listeners[a][:, cols])
                    for cols, weight in groups
                )
                for a in indices
            )
            assert abs(ours[k, n] - theirs) <= 1e-9
