"""Each loss on hand-made tensors, and the stage totals on a real model output."""

from __future__ import annotations

import math

import pytest
import torch

from reactface_core.losses import (
    LossWeights,
    appropriate_reconstruction_loss,
    categorical_kl_loss,
    diversity_loss,
    kl_loss,
    motion_loss,
    posterior_kl_loss,
    reconstruction_loss,
    smoothness_loss,
    stage1_loss,
    stage2_loss,
)
from reactface_core.model import ReactFace, ReactFaceConfig


def constant(value: float, frames: int = 5, dims: int = 2) -> torch.Tensor:
    return torch.full((frames, dims), value)


def random_batch() -> dict[str, torch.Tensor]:
    """Two items of 16 frames; three appropriate slots, two valid for the first, one for
    the second."""
    g = torch.Generator().manual_seed(0)
    return {
        "listener_coefficients": torch.rand(2, 16, 58, generator=g),
        "speaker_coefficients": torch.rand(2, 16, 58, generator=g),
        "appropriate": torch.rand(2, 3, 16, 58, generator=g),
        "appropriate_valid": torch.tensor([[True, True, False], [True, False, False]]),
    }


def test_appropriate_reconstruction_picks_the_nearest_valid_reaction():
    # two samples; three appropriate reactions of which the last (nearest to both) is padding
    listener = torch.stack([constant(0.1), constant(0.75)])[None]  # (1, 2, 5, 2)
    appropriate = torch.stack([constant(0.0), constant(0.8), constant(0.5)])[None]
    valid = torch.tensor([[True, True, False]])
    loss, nearest = appropriate_reconstruction_loss(listener, appropriate, valid)
    assert nearest.tolist() == [[0, 1]]
    # smooth L1 (beta 1) of 0.1 and 0.05 errors: 0.5 * 0.01 and 0.5 * 0.0025
    assert loss.item() == pytest.approx((0.005 + 0.00125) / 2, rel=1e-5)
    loss_all, nearest_all = appropriate_reconstruction_loss(
        listener, appropriate, torch.ones(1, 3, dtype=torch.bool)
    )
    assert nearest_all.tolist() == [[0, 1]]  # 0.75 is nearer 0.8 than 0.5
    with pytest.raises(ValueError, match=r"batch rows \[0\] have no valid appropriate"):
        appropriate_reconstruction_loss(listener, appropriate, torch.zeros(1, 3, dtype=torch.bool))


def test_appropriate_loss_ignores_the_one_real_listener_when_another_fits():
    listener = constant(1.0)[None, None]
    appropriate = torch.stack([constant(3.0), constant(1.0)])[None]
    loss, _ = appropriate_reconstruction_loss(listener, appropriate, torch.ones(1, 2, dtype=bool))
    assert loss.item() == 0.0
    one_to_one = reconstruction_loss(listener, appropriate[:, 0], constant(0.0)[None],
                                     constant(0.0)[None])  # fmt: skip
    assert one_to_one.item() == pytest.approx(1.5)  # smooth L1 of error 2 is 2 - 0.5


def test_reconstruction_adds_listener_and_speaker_terms():
    listener, target = constant(0.2)[None, None].repeat(1, 2, 1, 1), constant(0.0)[None]
    speaker, speaker_target = constant(0.0)[None], constant(0.4)[None]
    loss = reconstruction_loss(listener, target, speaker, speaker_target)
    assert loss.item() == pytest.approx(0.5 * 0.04 + 0.5 * 0.16)


def test_diversity_energy_falls_as_samples_move_apart():
    energies = []
    for gap in (0.0, 0.05, 0.1, 0.3):
        samples = torch.stack([constant(0.0), constant(gap), constant(-gap)])[None]
        energies.append(diversity_loss(samples, scale=0.01).item())
    assert energies[0] == pytest.approx(1.0)
    assert energies == sorted(energies, reverse=True) and energies[-1] < 1e-3
    # pairs: (0, gap) twice, (gap, -gap) once, each counted both ways
    gap = 0.05
    expected = (4 * math.exp(-(gap**2) / 0.01) + 2 * math.exp(-((2 * gap) ** 2) / 0.01)) / 6
    assert energies[1] == pytest.approx(expected, rel=1e-5)
    assert diversity_loss(constant(0.0)[None, None]).item() == 0.0


def test_kl_is_zero_for_the_standard_normal_and_matches_the_formula():
    assert kl_loss(torch.zeros(2, 3, 4, 8), torch.zeros(2, 3, 4, 8)).item() == 0.0
    mu, logvar = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]])
    # 0.5 * (1 + 1 - 0 - 1) + 0.5 * (0 + 4 - log 4 - 1)
    assert kl_loss(mu, logvar).item() == pytest.approx(0.5 + 0.5 * (3 - math.log(4)))


def test_smoothness_zero_for_equal_second_differences():
    t = torch.arange(8.0)[:, None]
    target = 0.5 * t**2 + torch.tensor([0.0, 1.0])  # second difference 1 everywhere
    shifted = target + 3.0 * t - 7.0  # same second differences (linear trend added)
    assert smoothness_loss(shifted, target).item() == pytest.approx(0.0, abs=1e-6)
    jitter = target.clone()
    jitter[4] += 0.2  # second differences +0.2, -0.4, +0.2 at three frames, both dims
    assert smoothness_loss(jitter, target).item() == pytest.approx(0.8 / 6, rel=1e-5)
    assert smoothness_loss(target[:2], target[:2]).item() == 0.0


def test_stage_totals_combine_terms_and_train_the_model():
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=12, audio_dim=6, dim=32, heads=2, window=4, context=12)
    model = ReactFace(config)
    batch = random_batch()
    output = model(torch.randn(2, 16, 12), torch.randn(2, 32, 6), samples=2)
    weights = LossWeights(kl=0.1, smooth=2.0, diversity=0.5)
    one = stage1_loss(output, batch, weights)
    expected = one["rec"] + 0.1 * one["kl"] + 2.0 * one["smooth"]
    assert one["total"].item() == pytest.approx(expected.item())
    two = stage2_loss(output, batch, weights)
    expected = two["rec_appropriate"] + 0.1 * two["kl"] + 2.0 * two["smooth"]
    assert two["total"].item() == pytest.approx((expected + 0.5 * two["diversity"]).item())
    assert 0.0 < two["diversity"].item() <= 1.0
    two["total"].backward()
    assert model.cie.tokens.grad.abs().sum() > 0


def test_pooled_diversity_ignores_jitter_but_sees_slow_differences():
    torch.manual_seed(0)
    base = torch.randn(1, 1, 64, 4).repeat(1, 2, 1, 1)
    jitter = base.clone()
    jitter[:, 1] += 0.3 * torch.tensor([1.0, -1.0]).repeat(32)[:, None]  # alternates per frame
    assert diversity_loss(jitter, scale=0.1) < 0.5  # frame by frame, jitter looks diverse
    assert diversity_loss(jitter, scale=0.1, pool=8) == pytest.approx(1.0)  # block means agree
    offset = base.clone()
    offset[:, 1] += 0.3  # a slow, lasting difference
    assert diversity_loss(offset, scale=0.1, pool=8) < 0.5


def test_posterior_kl_is_zero_for_the_prior_itself_and_matches_the_formula():
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    assert posterior_kl_loss(mu, logvar, mu, logvar).abs().item() < 1e-6
    # one dimension: KL(N(1, 0.5^2) || N(0.5, 2^2)) = log(2 / 0.5) + (0.25 + 0.25) / 8 - 0.5
    value = posterior_kl_loss(
        torch.tensor([[1.0]]), torch.tensor([[math.log(0.25)]]),
        torch.tensor([[0.5]]), torch.tensor([[math.log(4.0)]]),
    )  # fmt: skip
    assert value.item() == pytest.approx(math.log(4.0) + 0.5 / 8 - 0.5)
    # with a standard normal prior it is Eq. 7
    assert posterior_kl_loss(mu, logvar, torch.zeros(3, 5), torch.zeros(3, 5)).item() == (
        pytest.approx(kl_loss(mu, logvar).item())
    )


def test_motion_loss_asks_for_the_same_movement_not_the_same_timing():
    t = torch.linspace(0, 6 * math.pi, 60)
    target = torch.stack([torch.sin(t), 0.2 * torch.cos(3 * t)], -1)  # (T, D)
    reversed_in_time = target.flip(0)  # other timing, same spread and speed
    assert motion_loss(reversed_in_time, target).item() < 1e-6
    assert smoothness_loss(reversed_in_time, target).item() > 0.001
    flat = torch.zeros_like(target)
    expected = (target.std(0) + target.diff(dim=0).std(0)).mean()
    assert motion_loss(flat, target).item() == pytest.approx(expected.item(), rel=1e-5)
    jitter = 0.3 * torch.tensor([1.0, -1.0]).repeat(30)[:, None].expand(60, 2)
    assert motion_loss(jitter, target) > motion_loss(0.5 * target, target)  # too fast


def test_stage1_adds_the_posterior_terms_and_stage2_the_motion_term():
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=12, audio_dim=6, dim=32, heads=2, window=4, context=12,
                             style_dim=3, posterior=True)  # fmt: skip
    model = ReactFace(config)
    batch = random_batch()
    visual, audio = torch.randn(2, 16, 12), torch.randn(2, 32, 6)
    output = model(visual, audio, target=batch["listener_coefficients"])
    weights = LossWeights(
        kl=0.1, smooth=2.0, diversity=0.0, kl_posterior=0.01, kl_style=0.001, motion=0.5
    )
    one = stage1_loss(output, batch, weights)
    expected = one["rec"] + 0.1 * one["kl"] + 2.0 * one["smooth"]
    expected = expected + 0.01 * one["kl_posterior"] + 0.001 * one["kl_style"]
    assert one["total"].item() == pytest.approx(expected.item())
    assert one["kl_posterior"] > 0 and one["kl_style"] > 0
    one["total"].backward()
    assert model.posterior.style_out.weight.grad.abs().sum() > 0
    sampled = model(visual, audio, samples=2)  # stage 2 samples from the priors
    two = stage2_loss(sampled, batch, weights)
    expected = two["rec_appropriate"] + 0.1 * two["kl"] + 2.0 * two["smooth"]
    expected = expected + 0.5 * two["motion"]
    assert two["total"].item() == pytest.approx(expected.item())
    assert "kl_posterior" not in two and two["motion"] > 0


def test_only_recognised_rows_pay_the_posterior_kl():
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=12, audio_dim=6, dim=32, heads=2, window=4, context=12,
                             style_dim=3, posterior=True)  # fmt: skip
    model = ReactFace(config).eval()
    g = torch.Generator().manual_seed(0)
    batch = {
        "listener_coefficients": torch.rand(3, 16, 58, generator=g),
        "speaker_coefficients": torch.rand(3, 16, 58, generator=g),
    }
    visual, audio = torch.randn(3, 16, 12), torch.randn(3, 32, 6)
    weights = LossWeights()
    rows = torch.tensor([True, False, True])
    with torch.no_grad():
        seeded = [torch.Generator().manual_seed(1) for _ in range(2)]  # the same draws
        mixed = model(visual, audio, generator=seeded[0],
                      target=batch["listener_coefficients"], recognised=rows)  # fmt: skip
        every = model(visual, audio, generator=seeded[1], target=batch["listener_coefficients"])
        means = model(visual, audio, deterministic=True)
    assert torch.equal(mixed["recognised"], rows[:, None])
    # unrecognised rows follow the priors' means (the deterministic path), the others not
    assert torch.allclose(mixed["listener"][1], means["listener"][1], atol=1e-6)
    assert not torch.allclose(mixed["listener"][0], means["listener"][0], atol=1e-3)
    kept = stage1_loss(mixed, batch, weights)
    for name, q, p in (("kl_posterior", "q_", ""), ("kl_style", "style_", None)):
        if p is None:
            per_row = [kl_loss(every["style_mu"][b], every["style_logvar"][b]) for b in (0, 2)]
        else:
            per_row = [
                posterior_kl_loss(
                    every[q + "mu"][b], every[q + "logvar"][b], every["mu"][b], every["logvar"][b]
                )  # fmt: skip
                for b in (0, 2)
            ]
        assert kept[name].item() == pytest.approx(sum(per_row).item() / 2, rel=1e-4)


def test_kl_balance_splits_the_gradient_between_prior_and_posterior():
    def grads(balance):
        q_mu, q_logvar = torch.tensor([[0.5]], requires_grad=True), torch.zeros(1, 1)
        mu = torch.tensor([[-0.5]], requires_grad=True)
        value = posterior_kl_loss(q_mu, q_logvar, mu, torch.zeros(1, 1), balance=balance)
        value.backward()
        return value.item(), q_mu.grad.item(), mu.grad.item()

    plain, balanced = grads(None), grads(0.8)
    assert plain[0] == pytest.approx(balanced[0])  # the same value: KL = 0.5 * 1^2
    assert plain[1:] == pytest.approx((1.0, -1.0))
    assert balanced[1:] == pytest.approx((0.2, -0.8))  # the prior moves 4x faster


def test_categorical_kl_matches_the_formula_and_is_zero_for_equal_distributions():
    logits = torch.randn(2, 1, 3, 4, 5)  # (B, M, W, G, K)
    assert categorical_kl_loss(logits, logits).abs().item() < 1e-6
    assert categorical_kl_loss(torch.zeros(1, 1, 1, 2, 4), None).abs().item() < 1e-6  # uniform
    q, p = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.2, 0.3, 0.5])
    expected = 2 * (q * (q / p).log()).sum()  # two variables, the same distributions
    value = categorical_kl_loss(q.log().expand(1, 1, 1, 2, 3), p.log().expand(1, 1, 1, 2, 3))
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    to_uniform = categorical_kl_loss(q.log().view(1, 1, 1, 1, 3), None)
    assert to_uniform.item() == pytest.approx((q * (3 * q).log()).sum().item(), rel=1e-5)
