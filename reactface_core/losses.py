"""ReactFace losses (Sec. 4.2, 4.4) and the two training-stage totals (Eq. 14, 15), with
two terms beyond the paper: the KL of recognised latents to their priors (conditional VAE
training) and a motion-statistics term.

Shapes: predictions from `ReactFace.forward` are listener (B, M, T, D) for M samples,
speaker (B, T, D), mu/logvar (B, M, W, d); targets follow the data contract: listener
and speaker coefficients (B, T, D), appropriate reactions (B, K, T, D) padded to K with
a validity mask (B, K).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossWeights:
    """lambda_kl, lambda_smo, lambda_div of Eq. 14-15 and the kernel/loss scales.

    The paper does not publish its values; these are starting points for coefficients in
    [0, 1] (arkit58) and deserve tuning per face model.
    """

    kl: float = 1e-3
    kl_posterior: float = 1e-3  # KL(q(z*_t) || CIE prior) per window (posterior models)
    kl_balance: float | None = None  # share of that KL's gradient moving the prior (None: plain)
    kl_style: float = 1e-4  # KL(q(s) || N(0, I)) per session (style models)
    motion: float = 0.0  # motion statistics of each sample vs its matched reaction (stage 2)
    smooth: float = 1.0
    diversity: float = 0.01
    diversity_scale: float = 0.01  # sigma_d per coefficient (mean squared difference)
    diversity_pool: int = 1  # frames averaged before Eq. 6 compares samples (1: the paper)
    smooth_l1_beta: float = 1.0  # transition point of the smooth L1 loss
    events: float = 0.5  # binary cross-entropy of the event onsets (models with events)

    def to_dict(self) -> dict:
        return asdict(self)


def _smooth_l1(prediction: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Smooth L1 averaged over the last two dimensions (T, D), broadcasting the rest."""
    prediction, target = torch.broadcast_tensors(prediction, target)
    return F.smooth_l1_loss(prediction, target, reduction="none", beta=beta).mean((-2, -1))


def reconstruction_loss(
    listener: torch.Tensor,
    listener_target: torch.Tensor,
    speaker: torch.Tensor,
    speaker_target: torch.Tensor,
    beta: float = 1.0,
) -> torch.Tensor:
    """Eq. 12: SL1(R^l, R^l_real) + SL1(R^s, R^s_real); every sample is held to R^l_real."""
    listener_term = _smooth_l1(listener, listener_target[:, None], beta).mean()
    return listener_term + _smooth_l1(speaker, speaker_target, beta).mean()


def appropriate_reconstruction_loss(
    listener: torch.Tensor,
    appropriate: torch.Tensor,
    appropriate_valid: torch.Tensor,
    beta: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5: each sample is held to its nearest valid appropriate reaction.

    listener (B, M, T, D), appropriate (B, K, T, D), appropriate_valid (B, K) bool ->
    (mean over B and M of the smallest smooth L1, index (B, M) of the nearest reaction).
    """
    if not appropriate_valid.any(1).all():
        empty = (~appropriate_valid.any(1)).nonzero().flatten().tolist()
        raise ValueError(f"batch rows {empty} have no valid appropriate reaction")
    distances = _smooth_l1(listener[:, :, None], appropriate[:, None], beta)  # (B, M, K)
    distances = distances.masked_fill(~appropriate_valid[:, None], float("inf"))
    nearest_distance, nearest = distances.min(2)
    return nearest_distance.mean(), nearest


def diversity_loss(listener: torch.Tensor, scale: float = 0.01, pool: int = 1) -> torch.Tensor:
    """Eq. 6: mean RBF energy exp(-|R_i - R_j|^2 / sigma_d) over sample pairs i != j.

    The squared distance is taken per coefficient (averaged over T and D), so `scale`
    does not depend on the clip length; the paper's sigma_d equals scale * T * D.
    `pool` > 1 compares the samples' means over consecutive blocks of `pool` frames, so
    frame-to-frame jitter cannot pass for diversity; only slower differences count.
    Lower is more diverse. Fewer than two samples have no pairs and give 0.
    """
    batch, samples = listener.shape[:2]
    if samples < 2:
        return listener.new_zeros(())
    if pool > 1:
        frames = listener.shape[2] // pool * pool
        listener = listener[:, :, :frames].unflatten(2, (-1, pool)).mean(3)  # (B, M, T/pool, D)
    flat = listener.reshape(batch, samples, -1)
    squared = (flat[:, :, None] - flat[:, None]).square().mean(-1)  # (B, M, M)
    energy = torch.exp(-squared / scale)
    off_diagonal = ~torch.eye(samples, dtype=torch.bool, device=listener.device)
    return energy[:, off_diagonal].mean()


def kl_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Eq. 7: KL(N(mu, sigma^2) || N(0, I)), summed over latent dims, mean over the rest."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0).sum(-1).mean()


def posterior_kl_loss(
    q_mu: torch.Tensor,
    q_logvar: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    rows: torch.Tensor | None = None,
    balance: float | None = None,
) -> torch.Tensor:
    """KL(N(q_mu, q_sigma^2) || N(mu, sigma^2)), summed over latent dims, mean over the rest:
    Eq. 7 with the CIE's distribution as the prior of the recognised latents (CVAE).

    All (B, M, ...); `rows` (B, M) bool keeps only the rows whose latents were recognised.
    `balance` (None: the plain KL) splits its gradient: balance * KL(sg(q) || p) +
    (1 - balance) * KL(q || sg(p)), the same value; above 0.5 the prior moves towards the
    posterior faster than the posterior towards the prior (KL balancing, Hafner et al. 2021).
    """

    def kl(q_mu, q_logvar, mu, logvar):
        ratio = (q_logvar - logvar).exp()
        value = ratio + (q_mu - mu).square() / logvar.exp() - 1.0 - (q_logvar - logvar)
        return 0.5 * value.sum(-1)

    if balance is None:
        value = kl(q_mu, q_logvar, mu, logvar)
    else:
        prior_side = kl(q_mu.detach(), q_logvar.detach(), mu, logvar)
        posterior_side = kl(q_mu, q_logvar, mu.detach(), logvar.detach())
        value = balance * prior_side + (1.0 - balance) * posterior_side
    return _mean_over_rows(value, rows)


def categorical_kl_loss(
    q_logits: torch.Tensor,
    logits: torch.Tensor | None,
    rows: torch.Tensor | None = None,
    balance: float | None = None,
) -> torch.Tensor:
    """KL(q || p) of categorical latents with logits (B, M, W, G, K), summed over the G
    variables, mean over the rest; p uniform when `logits` is None (Eq. 7's analogue).
    `rows` and `balance` as in `posterior_kl_loss`."""

    def kl(q_logits, logits):
        q_log = q_logits.log_softmax(-1)
        p_log = -math.log(q_logits.shape[-1]) if logits is None else logits.log_softmax(-1)
        return (q_log.exp() * (q_log - p_log)).sum((-2, -1))

    if balance is None or logits is None:
        value = kl(q_logits, logits)
    else:
        value = balance * kl(q_logits.detach(), logits) + (1.0 - balance) * kl(
            q_logits, logits.detach()
        )
    return _mean_over_rows(value, rows)


def _mean_over_rows(value: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, M, ...) values, over the (B, M) rows where `rows` is True (all: None)."""
    if rows is None:
        return value.mean()
    value = value.reshape(*rows.shape, -1).mean(-1)
    return (value * rows).sum() / rows.sum().clamp(min=1)


def latent_kl_loss(output: dict[str, torch.Tensor]) -> torch.Tensor:
    """Eq. 7 for the model's latent: KL(N(mu, sigma^2) || N(0, I)), or for a categorical
    latent its KL to the uniform distribution."""
    if "logits" in output:
        return categorical_kl_loss(output["logits"], None)
    return kl_loss(output["mu"], output["logvar"])


def motion_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """How differently two reactions move: |temporal std of the prediction - that of the
    target| and the same for the frame-to-frame velocity, per coefficient, averaged.

    prediction and target (..., T, D). Eq. 5 and 13 are satisfied by a calm sample near the
    set's centre; this term asks each sample to move as much, and as fast, as the
    appropriate reaction it was matched to (not when), so samples are neither flat nor jitter.
    """
    if prediction.shape[-2] < 3:
        return prediction.new_zeros(())
    prediction, target = torch.broadcast_tensors(prediction, target)
    spread = (prediction.std(-2) - target.std(-2)).abs()
    speed = (prediction.diff(dim=-2).std(-2) - target.diff(dim=-2).std(-2)).abs()
    return (spread + speed).mean()


def smoothness_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 13: |second difference of the target - that of the prediction|, per coefficient.

    prediction (..., T, D) and target (..., T, D) (broadcast); averaged over the T - 2
    second differences and the D coefficients. Clips shorter than 3 frames give 0.
    """
    if prediction.shape[-2] < 3:
        return prediction.new_zeros(())

    def second_difference(x: torch.Tensor) -> torch.Tensor:
        return x[..., 2:, :] - 2.0 * x[..., 1:-1, :] + x[..., :-2, :]

    return (second_difference(target) - second_difference(prediction)).abs().mean()


def stage1_loss(
    output: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], weights: LossWeights
) -> dict[str, torch.Tensor]:
    """Eq. 14: L_rec + lambda_kl L_kl + lambda_smo L_smo against the real listener.

    When the latents came from the recognition networks (`output` has q_mu; a conditional
    VAE), their KL to the priors is added: CIE prior per window, N(0, I) for the style;
    for a model with events, the cross-entropy of its onset logits against the real
    listener's onsets (`model.events`).
    """
    listener = output["listener"]
    target = batch["listener_coefficients"]
    terms = {
        "rec": reconstruction_loss(
            listener,
            target,
            output["speaker"],
            batch["speaker_coefficients"],
            weights.smooth_l1_beta,
        ),
        "kl": latent_kl_loss(output),
        "smooth": smoothness_loss(listener, target[:, None]),
    }
    total = terms["rec"] + weights.kl * terms["kl"] + weights.smooth * terms["smooth"]
    rows = output.get("recognised")  # (B, M) bool: rows trained through the posteriors
    if "q_mu" in output:
        terms["kl_posterior"] = posterior_kl_loss(
            output["q_mu"], output["q_logvar"], output["mu"], output["logvar"], rows,
            weights.kl_balance,
        )  # fmt: skip
    if "q_logits" in output:
        terms["kl_posterior"] = categorical_kl_loss(
            output["q_logits"], output["logits"], rows, weights.kl_balance
        )
    if "kl_posterior" in terms:
        total = total + weights.kl_posterior * terms["kl_posterior"]
    if "event_logits" in output:
        onsets = batch["listener_onsets"][:, None].expand_as(output["event_logits"])
        terms["events"] = F.binary_cross_entropy_with_logits(output["event_logits"], onsets)
        total = total + weights.events * terms["events"]
    if "style_mu" in output:
        zeros = torch.zeros_like(output["style_mu"])
        terms["kl_style"] = posterior_kl_loss(
            output["style_mu"], output["style_logvar"], zeros, zeros, rows
        )
        total = total + weights.kl_style * terms["kl_style"]
    terms["total"] = total
    return terms


def stage2_loss(
    output: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], weights: LossWeights
) -> dict[str, torch.Tensor]:
    """Eq. 15: L^a_rec + lambda_kl L_kl + lambda_smo L_smo + lambda_div L_div.

    Smoothness is measured against the appropriate reaction each sample was matched to.
    """
    listener = output["listener"]
    appropriate = batch["appropriate"]
    rec, nearest = appropriate_reconstruction_loss(
        listener, appropriate, batch["appropriate_valid"], weights.smooth_l1_beta
    )
    rows = torch.arange(appropriate.shape[0], device=appropriate.device)[:, None]
    matched = appropriate[rows, nearest]  # (B, M, T, D)
    terms = {
        "rec_appropriate": rec,
        "kl": latent_kl_loss(output),
        "smooth": smoothness_loss(listener, matched),
        "diversity": diversity_loss(listener, weights.diversity_scale, weights.diversity_pool),
    }
    terms["total"] = (
        rec
        + weights.kl * terms["kl"]
        + weights.smooth * terms["smooth"]
        + weights.diversity * terms["diversity"]
    )
    if weights.motion:
        terms["motion"] = motion_loss(listener, matched)
        terms["total"] = terms["total"] + weights.motion * terms["motion"]
    return terms
