"""Eq. 11 alignment bias against matrices computed by hand."""

from __future__ import annotations

import math

import torch

from reactface_core.model.alignment_bias import AlignmentBias

INF = -math.inf


def _bias(bias: AlignmentBias, n_queries: int, n_keys: int) -> list[list[float]]:
    return bias(torch.arange(n_queries), torch.arange(n_keys)).tolist()


def test_vim_form_p2():
    # B(i, j) = -floor((i - j) / 2) for j <= i, 1-based i, j
    assert _bias(AlignmentBias(period=2), 4, 4) == [
        [0, INF, INF, INF],
        [0, 0, INF, INF],
        [-1, 0, 0, INF],
        [-1, -1, 0, 0],
    ]


def test_mim_form_k2_p2():
    # B(i, j) = -floor((2i - j) / 4) for j <= 2i: frame i sees audio steps 1..2i
    assert _bias(AlignmentBias(period=2, ratio=2), 3, 6) == [
        [0, 0, INF, INF, INF, INF],
        [0, 0, 0, 0, INF, INF],
        [-1, -1, 0, 0, 0, 0],
    ]


def test_mim_form_k3_p1():
    # -floor((3i - j) / 3): i=2 -> j=1..6 gives -floor(5/3), -floor(4/3), -1, 0, 0, 0
    assert _bias(AlignmentBias(period=1, ratio=3), 2, 7)[1] == [-1, -1, -1, 0, 0, 0, INF]


def test_context_cuts_old_keys_only():
    # p=1, context 2 frames: frame 4 sees frames 3 (-1) and 4 (0), nothing older
    limited = _bias(AlignmentBias(period=1, context=2), 4, 4)
    assert limited[3] == [INF, INF, -1, 0]
    assert _bias(AlignmentBias(period=1), 4, 4)[3] == [-3, -2, -1, 0]
    # MIM: context of 1 frame = the k=2 audio steps of the current frame
    assert _bias(AlignmentBias(period=1, ratio=2, context=1), 3, 6)[2] == [INF] * 4 + [0, 0]


def test_offsets_are_absolute_positions():
    bias = AlignmentBias(period=2, ratio=2)
    # frame 10 (0-based 9) against audio steps 17..20 (0-based 16..19): -floor((20-j)/4)
    assert bias(torch.tensor([9]), torch.arange(16, 20)).tolist() == [[-0.0, -0.0, -0.0, -0.0]]
    assert bias(torch.tensor([9]), torch.arange(12, 14)).tolist() == [[-1.0, -1.0]]


def test_key_span_covers_exactly_the_visible_keys():
    for bias in (AlignmentBias(3, 1, 5), AlignmentBias(2, 2, 4), AlignmentBias(4, 2)):
        for first, end in ((0, 3), (6, 9), (11, 12)):
            full = bias(torch.arange(first, end), torch.arange(0, 40))
            visible = torch.isfinite(full).any(0).nonzero().flatten()
            assert bias.key_span(first, end) == (int(visible[0]), int(visible[-1]) + 1)


def test_between_reuses_matrices_only_where_they_are_equal():
    bias = AlignmentBias(period=3, ratio=2, context=5)
    for first_query, first_key in ((0, 0), (7, 4), (7, 6), (11, 14), (30, 50)):
        expected = bias(
            torch.arange(first_query, first_query + 4), torch.arange(first_key, first_key + 9)
        )
        assert torch.equal(
            bias.between(first_query, 4, first_key, 9, torch.device("cpu")), expected
        )
    # same k*q - key offset -> the very same matrix object
    a = bias.between(10, 4, 6, 9, torch.device("cpu"))
    assert bias.between(11, 4, 8, 9, torch.device("cpu")) is a
