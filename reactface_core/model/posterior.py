"""Recognition networks (training only; beyond the paper): the latents a real reaction implies.

In the paper the CIE's N(mu_t, sigma_t) is learnt only through its own samples (Eq. 5-7):
nothing tells a latent which of the appropriate reactions it should become, so the
samples drift to the set's mean and the noise turns into jitter. Here, as in a
conditional VAE, a recognition network reads the real listener reaction during training
and proposes the latents that reproduce it:

    q(z*_t | R_{t-w+1:t+w}, mu_t, sigma_t)   per window (this window and the next, which
                                             the interpolation of Eq. 3 reaches into)
    q(s | R_{1:T}, F-_{1:T})                 once per session: the listener's style (a
                                             mirrorer stays a mirrorer; lags, gains)

The decoder reconstructs the listener from them and KL(q || p) pulls the CIE (the prior p
of z*_t) and N(0, I) (the prior of s) towards where real reactions lie. Online nothing
here runs: the latents come from the priors, so the cost per window is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reactface_core.model.config import ReactFaceConfig


class PosteriorEncoder(nn.Module):
    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        d, face, w = config.dim, config.face_dim, config.window
        self.window = w
        self.frames = nn.Linear(2 * w * face, d)  # two windows of the real listener
        prior = config.latent_groups * config.latent_classes if config.categorical else 2 * d
        self.hidden = nn.Linear(d + prior, d)  # with the prior's parameters
        # -> (mu_q - mu_t, log sigma_q^2), or the logits' change
        self.out = nn.Linear(d, prior)
        self.style_dim = config.style_dim
        if self.style_dim:
            self.style_input = nn.Linear(face, d)
            # non-causal temporal convolutions over listener + speaker (~1.3 s receptive
            # field: enough to see how late and how strongly the listener follows)
            self.style_convs = nn.ModuleList(
                [nn.Conv1d(d, d, 9, padding=4), nn.Conv1d(d, d, 9, padding=12, dilation=3)]
            )
            self.style_out = nn.Linear(2 * d, 2 * self.style_dim)

    def window_latent(self, target: torch.Tensor, prior: tuple) -> tuple:
        """target (B, 2w, D): the real listener over this window and the next; the prior
        (mu_t, log sigma_t^2 (B, d)) or (logits (B, G K),) -> the posterior, alike."""
        x = F.gelu(self.frames(target.flatten(1)))
        x = F.gelu(self.hidden(torch.cat([x, *prior], -1)))
        if len(prior) == 1:
            return (prior[0] + self.out(x),)
        delta, q_log_variance = self.out(x).chunk(2, -1)
        return prior[0] + delta, q_log_variance

    def style(
        self, listener: torch.Tensor, face: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """listener (B, T, D), aligned speaker face F- (B, T, d) -> mean, log-variance of s."""
        x = (self.style_input(listener) + face).transpose(1, 2)  # (B, d, T)
        for conv in self.style_convs:
            x = x + F.gelu(conv(x))
        pooled = torch.cat([x.mean(2), x.amax(2)], 1)  # (B, 2d)
        mean, log_variance = self.style_out(pooled).chunk(2, -1)
        return mean, log_variance
