"""REACT metrics: hand-computed cases and agreement with the plain loop implementations."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.metrics import (
    best_ccc,
    dtw_all_pairs,
    frcorr,
    frdist,
    frdiv,
    frdvs,
    frsyn,
    frvar,
    lag_summary,
    peak_lags,
)
from reactface_core.metrics import reference as ref


def series(*values: float) -> np.ndarray:
    """One single-dimension sequence (T, 1)."""
    return np.asarray(values, dtype=np.float64)[:, None]


def smooth_signals(rng: np.random.Generator, count: int, frames: int, dims: int) -> np.ndarray:
    """Random but smooth (low-pass) sequences, like facial coefficients: (count, T, D)."""
    noise = rng.standard_normal((count, frames + 20, dims))
    kernel = np.hanning(21) / np.hanning(21).sum()
    smooth = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="valid"), 1, noise)
    return smooth[:, :frames]


# ---- FRCorr / CCC -------------------------------------------------------------------------


def test_ccc_by_hand():
    # x = 1..4, y = 2x: means 2.5 and 5, variances 1.25 and 5, covariance 2.5
    # CCC = 2 * 2.5 / (1.25 + 5 + 2.5^2) = 0.4
    x, y = series(1, 2, 3, 4), series(2, 4, 6, 8)
    value = best_ccc(x[None, None], y[None], [[0]], eps=0.0)[0, 0]
    assert value == pytest.approx(0.4, abs=1e-12)
    assert ref.ccc_pair(x, y, eps=0.0) == pytest.approx(0.4, abs=1e-12)


def test_ccc_of_identical_series_is_one_and_of_negated_is_minus_one():
    rng = np.random.default_rng(0)
    reaction = rng.standard_normal((50, 4)) * 3
    reaction -= reaction.mean(0)  # zero mean: the negated copy has the same mean
    listeners = np.stack([reaction, -reaction])
    predictions = np.stack([reaction, -reaction])[None]  # (1, 2, T, D)
    both = best_ccc(predictions, listeners, [[0, 1]])
    np.testing.assert_allclose(both, [[1.0, 1.0]], atol=1e-8)
    only_first = best_ccc(predictions, listeners, [[0]])
    np.testing.assert_allclose(only_first, [[1.0, -1.0]], atol=1e-8)


def test_frcorr_takes_the_best_appropriate_reaction_only_among_the_appropriate_ones():
    rng = np.random.default_rng(1)
    listeners = smooth_signals(rng, 4, 60, 3)
    predictions = np.stack([listeners[2], listeners[3]])[None]  # copies of clips 2 and 3
    appropriate = np.array([[True, True, True, False]])
    best = best_ccc(predictions, listeners, appropriate)
    assert best[0, 0] == pytest.approx(1.0, abs=1e-6)  # clip 2 is appropriate (1 - eps/2var)
    assert best[0, 1] < 0.9  # clip 3 is identical but not appropriate


def test_constant_dimensions_score_zero_like_the_official_scripts():
    constant = np.full((30, 2), 0.25)
    assert best_ccc(constant[None, None], constant[None], [[0]])[0, 0] == pytest.approx(0.0)


def test_official_convention_sums_over_samples():
    rng = np.random.default_rng(2)
    predictions, listeners = rng.standard_normal((3, 5, 20, 2)), rng.standard_normal((4, 20, 2))
    appropriate = [[0, 1], [2], [1, 3]]
    mean = frcorr(predictions, listeners, appropriate)
    official = frcorr(predictions, listeners, appropriate, convention="official")
    assert official == pytest.approx(5 * mean)
    with pytest.raises(ValueError, match="unknown metric convention 'x10'; choose one of ours"):
        frcorr(predictions, listeners, appropriate, convention="x10")


# ---- FRDist / DTW -------------------------------------------------------------------------


def test_dtw_by_hand():
    # costs (x_i - y_j)^2 for x = 0, 1, 2 and y = 0, 2: [[0, 4], [1, 1], [4, 0]]
    # best path (0,0) (1,0) (2,1) accumulates 0 + 1 + 0 = 1 -> DTW = sqrt(1)
    x, y = series(0, 1, 2), series(0, 2)
    assert dtw_all_pairs(x[None], y[None]).item() == pytest.approx(1.0)
    assert ref.dtw_pair(x, y) == pytest.approx(1.0)


def test_dtw_frame_cost_is_euclidean_over_dimensions():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    y = np.zeros((2, 2))
    # the last frame must be matched: cost 3^2 + 4^2 = 25, all others 0 -> sqrt(25)
    assert dtw_all_pairs(x[None], y[None]).item() == pytest.approx(5.0)


def test_dtw_of_a_shifted_copy_is_zero_but_its_euclidean_distance_is_not():
    frames, shift = 40, 5
    t = np.arange(frames)
    bump = np.exp(-0.5 * ((t - 15) / 3.0) ** 2)
    shifted = np.exp(-0.5 * ((t - 15 - shift) / 3.0) ** 2)
    x, y = bump[:, None], shifted[:, None]
    assert np.linalg.norm(x - y) > 1.0
    # warping aligns the bump; the (near zero) tails differ by at most exp(-0.5 * 25 / 9)^2
    assert dtw_all_pairs(x[None], y[None]).item() < 0.05
    step = (t >= 12).astype(float)[:, None]
    late_step = (t >= 12 + shift).astype(float)[:, None]
    assert dtw_all_pairs(step[None], late_step[None]).item() == pytest.approx(0.0, abs=1e-9)
    assert ref.dtw_pair(step, late_step) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 6), (6, 1), (9, 4), (4, 9), (13, 13)])
def test_dtw_matches_the_textbook_program_for_any_lengths(rows, cols):
    rng = np.random.default_rng(rows * 100 + cols)
    x, y = rng.standard_normal((3, rows, 4)), rng.standard_normal((2, cols, 4))
    expected = np.array([[ref.dtw_pair(a, b) for b in y] for a in x])
    np.testing.assert_allclose(dtw_all_pairs(x, y).numpy(), expected, rtol=0, atol=1e-9)


def test_frdist_is_zero_for_an_appropriate_copy_and_takes_the_minimum():
    rng = np.random.default_rng(3)
    listeners = smooth_signals(rng, 3, 30, 2)
    predictions = listeners[[1]][None]  # one speaker, one sample: a copy of clip 1
    assert frdist(predictions, listeners, [[0, 1]]) == pytest.approx(0.0, abs=1e-6)
    away = frdist(predictions, listeners, [[0, 2]])
    expected = min(
        ref.dtw_pair(listeners[1], listeners[0]), ref.dtw_pair(listeners[1], listeners[2])
    )
    assert away == pytest.approx(expected)


# ---- diversity ----------------------------------------------------------------------------


def test_diversity_by_hand():
    frames, dims = 6, 3
    zeros, ones = np.zeros((frames, dims)), np.ones((frames, dims))
    # speaker 0: samples 0 and 1; speaker 1: samples 1 and 1
    predictions = np.stack([np.stack([zeros, ones]), np.stack([ones, ones])])
    # S-MSE: speaker 0 -> (|0-1|^2 + |1-0|^2) / (2 * 1 * T * D) = 1; speaker 1 -> 0; mean 0.5
    assert frdiv(predictions) == pytest.approx(0.5)
    # FRDvs: sample 0 differs between speakers (1 per value), sample 1 does not -> 0.5
    assert frdvs(predictions) == pytest.approx(0.5)
    assert frvar(predictions) == 0.0
    ramp = np.array([0.0, 2.0])[None, None, :, None]  # unbiased variance of (0, 2) is 2
    assert frvar(ramp) == pytest.approx(2.0)


def test_smse_is_zero_for_identical_samples():
    rng = np.random.default_rng(4)
    one = rng.standard_normal((1, 1, 25, 5))
    assert frdiv(np.repeat(one, 10, axis=1)) == 0.0
    assert frdiv(one) == 0.0  # a single sample has no pair
    assert frdvs(np.repeat(one, 4, axis=0)) == 0.0


# ---- FRSyn / TLCC -------------------------------------------------------------------------


@pytest.mark.parametrize("lag", [7, -4, 0])
def test_tlcc_recovers_a_known_lag(lag):
    rng = np.random.default_rng(5)
    frames = 200
    signal = smooth_signals(rng, 1, frames + 40, 3)[0]
    speaker = signal[20 : 20 + frames]
    follower = signal[20 - lag : 20 - lag + frames]  # follower[t] = speaker[t - lag]
    predictions = follower[None, None]
    assert peak_lags(predictions, speaker[None], max_lag=20)[0, 0] == lag
    assert frsyn(predictions, speaker[None], max_lag=20) == abs(lag)
    assert ref.peak_lag_pair(follower, speaker, max_lag=20) == lag


def _followers(rng, lags, frames, margin, dims):
    """A speaker (1, T, D) and samples (1, N, T, D) that copy it `lags` frames late."""
    signal = smooth_signals(rng, 1, frames + 2 * margin, dims)[0]
    speaker = signal[margin : margin + frames]
    samples = np.stack([signal[margin - lag : margin - lag + frames] for lag in lags])
    return speaker[None], samples[None]


def test_tlcc_evaluates_every_sample_not_just_the_first():
    speaker, samples = _followers(np.random.default_rng(6), (0, 3, 6, 9), 120, 20, 2)
    lags = peak_lags(samples, speaker, max_lag=15)
    np.testing.assert_array_equal(lags, [[0, 3, 6, 9]])
    assert frsyn(samples, speaker, max_lag=15) == pytest.approx(4.5)


def test_lag_quartiles_tell_a_late_follower_from_a_weak_one():
    rng = np.random.default_rng(8)
    speaker, late = _followers(rng, (10, 12, 14, 16), 300, 40, 3)
    summary = lag_summary(late, speaker, max_lag=30)
    assert summary == {"lag p25": 11.5, "lag median": 13.0, "lag p75": 14.5}
    # unrelated samples peak anywhere: the same FRSyn scale, far wider quartiles
    weak = smooth_signals(rng, 40, 300, 3)
    spread = lag_summary(weak[None], speaker, max_lag=30)
    assert spread["lag p75"] - spread["lag p25"] > 3 * (summary["lag p75"] - summary["lag p25"])


def test_a_constant_reaction_has_no_synchrony_peak():
    rng = np.random.default_rng(7)
    speaker = rng.standard_normal((1, 60, 3))
    constant = np.full((1, 2, 60, 3), 0.3)
    assert frsyn(constant, speaker, max_lag=10) == 10.0
    assert ref.frsyn_loop(constant, speaker, max_lag=10) == 10.0


# ---- vectorised == plain loop -------------------------------------------------------------


@pytest.fixture(scope="module")
def random_case():
    rng = np.random.default_rng(8)
    speakers, samples, frames, dims, clips = 4, 3, 36, 5, 7
    predictions = rng.standard_normal((speakers, samples, frames, dims)).astype(np.float32)
    listeners = smooth_signals(rng, clips, frames, dims)
    speaker_behaviour = smooth_signals(rng, speakers, frames, dims)
    appropriate = rng.random((speakers, clips)) < 0.4
    appropriate[np.arange(speakers), np.arange(speakers)] = True
    return predictions, listeners, speaker_behaviour, appropriate


def test_vectorised_metrics_agree_with_the_plain_loops(random_case):
    predictions, listeners, speakers, appropriate = random_case
    pairs = [
        (
            frcorr(predictions, listeners, appropriate),
            ref.frcorr_loop(predictions, listeners, appropriate),
        ),
        (
            frdist(predictions, listeners, appropriate),
            ref.frdist_loop(predictions, listeners, appropriate),
        ),
        (frdiv(predictions), ref.frdiv_loop(predictions)),
        (frdvs(predictions), ref.frdvs_loop(predictions)),
        (frvar(predictions), ref.frvar_loop(predictions)),
        (
            frsyn(predictions, speakers, max_lag=12),
            ref.frsyn_loop(predictions, speakers, max_lag=12),
        ),
    ]
    for vectorised, loop in pairs:
        assert abs(vectorised - loop) <= 1e-6


def test_grouped_frdist_and_index_lists_agree_with_the_loop(random_case):
    predictions, listeners, _, appropriate = random_case
    groups = [(slice(0, 2), 0.5), (np.array([2, 4]), 0.5), (slice(3, 4), 1.0)]
    lists = [np.flatnonzero(row).tolist() for row in appropriate]
    vectorised = frdist(predictions, listeners, lists, groups=groups, convention="official")
    loop = ref.frdist_loop(
        predictions, listeners, appropriate, groups=groups, convention="official"
    )
    assert abs(vectorised - loop) <= 1e-6


def test_identical_samples_are_computed_once_with_the_same_result(random_case):
    predictions, listeners, _, appropriate = random_case
    repeated = np.repeat(predictions[:, :1], 4, axis=1)
    single = frdist(predictions[:, :1], listeners, appropriate)
    assert frdist(repeated, listeners, appropriate) == pytest.approx(single, abs=1e-12)


# ---- input errors -------------------------------------------------------------------------


def test_bad_inputs_are_named():
    predictions, listeners = np.zeros((2, 1, 10, 3)), np.zeros((3, 10, 3))
    with pytest.raises(ValueError, match="speaker 1 has no appropriate"):
        frcorr(predictions, listeners, [[0], []])
    with pytest.raises(ValueError, match=r"appropriateness matrix has shape \(3, 3\)"):
        frdist(predictions, listeners, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="listeners has frames x dims"):
        frcorr(predictions, np.zeros((3, 10, 4)), [[0], [1]])
    with pytest.raises(ValueError, match="expected \\(num_speakers, num_samples, T, D\\)"):
        frdiv(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="outside"):
        frcorr(predictions, listeners, [[0], [3]])
    with pytest.raises(ValueError, match="NaN"):
        frvar(np.full((1, 1, 4, 2), np.nan))


def test_frdist_shares_speakers_among_threads_with_the_same_result(random_case):
    import torch

    predictions, listeners, _, appropriate = random_case
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = frdist(predictions, listeners, appropriate)
        torch.set_num_threads(3)
        shared = frdist(predictions, listeners, appropriate)
        assert torch.get_num_threads() == 3  # restored after the speakers are done
    finally:
        torch.set_num_threads(threads)
    assert shared == alone
