"""Brief facial events as sampled onsets (beyond the paper): blinks and nods.

A blink lasts about 6 frames and a nod cycle 9-15; listeners make a few per minute, at
moments the speaker cues (pauses) but never at exactly the same frame. A decoder trained to
reconstruct reactions (Eq. 5, 12) averages such events over their uncertain timing into
nothing, so the samples never blink or nod. Here they are modelled as events:

    hazard:   p_t = sigmoid(W LN(R-_t))                 R-_t synchronised (Eq. 8-9), (B, w, E)
    onset:    o_t ~ Bernoulli(p_t), none within `event_frames` / 2 frames of the last one
    shape:    R^_t += sum_{e, j <= t} o_{e,j} S_e[t - j]   S learnt, (E, L, D), L = event_frames

In training the onsets are the real listener's (teacher forcing, in the rows whose latents
come from the prior: `train._played_onsets`): the shapes S are learnt through the
reconstruction loss and the hazard by binary cross-entropy against the same onsets. Generated reactions, events included, feed the history as usual, so the model sees
its own blinks and nods. The kinds and their detection live in `metrics.motion` (EVENTS).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reactface_core.model.config import ReactFaceConfig

EVENT_KINDS = 2  # blinks, nods: `metrics.motion.EVENTS`
# The shapes are stored divided by this: a blink is ~10 coefficient std high, which an
# optimiser moving each weight ~lr per step would not reach in a run of ~1000 steps.
SHAPE_SCALE = 20.0


@dataclass
class EventState:
    """What the events carry across windows (batch rows B)."""

    pending: torch.Tensor  # (B, L - 1, D) the tails of shapes started in earlier windows
    since: torch.Tensor  # (B, E) frames since each kind's last onset


class EventHead(nn.Module):
    def __init__(self, config: ReactFaceConfig):
        super().__init__()
        self.frames = config.event_frames
        self.refractory = config.event_frames // 2
        self.norm = nn.LayerNorm(config.dim)
        self.hazard = nn.Linear(config.dim, EVENT_KINDS)
        # S / SHAPE_SCALE (E, D, L), the layout conv_transpose1d wants; zero: no event shape
        # before training
        self.scaled_shapes = nn.Parameter(torch.zeros(EVENT_KINDS, config.face_dim, self.frames))

    @property
    def shapes(self) -> torch.Tensor:
        """S (E, D, L): what one onset adds to the reactions over the frames that follow."""
        return SHAPE_SCALE * self.scaled_shapes

    def new_state(self, rows: int, like: torch.Tensor) -> EventState:
        pending = like.new_zeros(rows, self.frames - 1, self.scaled_shapes.shape[1])
        return EventState(pending, like.new_full((rows, EVENT_KINDS), float(self.frames)))

    def logits(self, synchronised: torch.Tensor) -> torch.Tensor:
        """R- (B, w, d) -> onset logits (B, w, E)."""
        return self.hazard(self.norm(synchronised))

    def sample(
        self, logits: torch.Tensor, uniform: torch.Tensor | None, state: EventState
    ) -> torch.Tensor:
        """Onsets (B, w, E) in {0, 1}: where uniform noise (B, w, E) falls below p_t (None:
        where p_t > 0.5), more than `refractory` frames after the kind's last onset."""
        wanted = logits > 0 if uniform is None else uniform < torch.sigmoid(logits)
        onsets = torch.zeros_like(logits)
        since = state.since.clone()
        for step in range(logits.shape[1]):  # w steps: the refractory rule is sequential
            since += 1
            fire = wanted[:, step] & (since > self.refractory)
            onsets[:, step] = fire.to(onsets)
            since = torch.where(fire, torch.zeros_like(since), since)
        return onsets

    def play(self, onsets: torch.Tensor, state: EventState) -> torch.Tensor:
        """Onsets (B, w, E) -> the event shapes they add over this window (B, w, D); the
        tails carry into later windows through `state`."""
        w = onsets.shape[1]
        played = F.conv_transpose1d(onsets.transpose(1, 2), self.shapes).transpose(1, 2)
        # (B, w + L - 1, D): this window, then what spills over into the next ones
        played = torch.cat(
            [played[:, : self.frames - 1] + state.pending, played[:, self.frames - 1 :]], 1
        )
        state.pending = played[:, w:]
        frames = torch.arange(1, w + 1, device=onsets.device)
        last = torch.where(onsets > 0, frames[None, :, None], 0).amax(1)  # (B, E), 0: none
        state.since = torch.where(last > 0, (w - last).to(state.since), state.since + w)
        return played[:, :w]
