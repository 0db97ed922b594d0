"""Blinks and nods as events: where they start, how their shapes play across windows,
the refractory gap between sampled onsets, and the loss that trains them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reactface_core.data.world import signals
from reactface_core.data.world.speaker import BLINK, NOD_SIGN
from reactface_core.face.models import get_face_model
from reactface_core.losses import LossWeights, stage1_loss
from reactface_core.metrics import motion
from reactface_core.model import ReactFace, ReactFaceConfig
from reactface_core.model.events import EVENT_KINDS, SHAPE_SCALE, EventHead

ARKIT = get_face_model("arkit58")
FRAMES = 300


def test_onsets_mark_the_last_open_frame_before_each_counted_event():
    face = np.zeros((FRAMES, 58))
    blinks = np.array([30.0, 120.0, 220.0])
    face[:, :52] = np.outer(np.minimum(signals.pulses(FRAMES, blinks, 6.0), 1.0), BLINK)
    nods, cycles = np.array([60.0, 180.0]), np.array([1, 2])
    face[:, 52] = NOD_SIGN * signals.nods(FRAMES, nods, cycles, 12.0, 0.1)
    onsets = motion.event_onsets(face, ARKIT)
    assert onsets.shape == (FRAMES, len(motion.EVENTS)) == (FRAMES, EVENT_KINDS)
    blink_signal = motion.blink_signal(face, ARKIT)
    starts = np.flatnonzero(onsets[:, 0])
    assert len(starts) == motion.count_events(blink_signal, motion.BLINK_ON, motion.BLINK_OFF)
    assert np.all(np.abs(starts - blinks) <= 3)  # at the start of each 6-frame pulse
    assert np.all(blink_signal[starts] <= motion.BLINK_OFF)
    assert np.all(blink_signal[starts + 1] > motion.BLINK_OFF)
    nod_starts = np.flatnonzero(onsets[:, 1])
    assert len(nod_starts) == cycles.sum()  # one per down-up cycle
    assert nod_starts[0] == pytest.approx(nods[0], abs=3)
    assert not motion.event_onsets(np.zeros((FRAMES, 58)), ARKIT).any()
    flame = motion.event_onsets(np.zeros((FRAMES, 56)), get_face_model("flame56"))
    assert not flame[:, 0].any()  # no eyelid channels: no blinks


def head(frames: int = 6) -> EventHead:
    config = ReactFaceConfig(visual_dim=4, audio_dim=4, dim=8, heads=2, events=True,
                             event_frames=frames)  # fmt: skip
    module = EventHead(config)
    with torch.no_grad():
        module.scaled_shapes.copy_(
            torch.arange(EVENT_KINDS * 58 * frames, dtype=torch.float32).view_as(module.shapes)
            / SHAPE_SCALE
        )
    return module


def test_an_onset_plays_its_whole_shape_across_later_windows():
    module, w = head(frames=6), 4
    onsets = torch.zeros(2, 12, EVENT_KINDS)
    onsets[0, 3, 0] = 1.0  # a blink at the last frame of the first window
    onsets[1, 5, 1] = 1.0  # and a nod inside the second
    onsets[1, 6, 0] = 1.0
    state = module.new_state(2, onsets)
    windowed = torch.cat([module.play(onsets[:, i : i + w], state) for i in range(0, 12, w)], 1)
    whole = module.play(onsets, module.new_state(2, onsets))
    assert torch.allclose(windowed, whole)
    shapes = module.shapes.detach().transpose(1, 2)  # (E, L, D)
    assert torch.equal(windowed[0, 3:9], shapes[0])
    assert windowed[0, :3].abs().sum() == 0 and windowed[0, 9:].abs().sum() == 0
    assert torch.allclose(windowed[1, 6:11], shapes[1, 1:] + shapes[0, :5])
    # frames since each onset; never fired: the initial "long ago" (L) plus the 12 frames
    assert torch.equal(state.since, torch.tensor([[8.0, 6.0 + 12], [5.0, 6.0]]))


def test_sampled_onsets_keep_the_refractory_gap_across_windows():
    module, w = head(frames=6), 4
    certain = torch.full((1, w, EVENT_KINDS), 20.0)
    state = module.new_state(1, certain)
    fired = []
    for _ in range(5):
        onsets = module.sample(certain, torch.full_like(certain, 0.5), state)
        module.play(onsets, state)
        fired.append(onsets)
    starts = torch.cat(fired, 1)[0, :, 0].nonzero().flatten()
    assert starts.tolist() == list(range(0, 20, module.refractory + 1))
    never = module.sample(torch.full_like(certain, -20.0), torch.rand(1, w, EVENT_KINDS), state)
    assert never.sum() == 0
    assert module.sample(certain, None, module.new_state(1, certain))[0, 0].tolist() == [1.0, 1.0]


def test_the_event_loss_trains_the_hazard_and_the_shapes_through_the_real_onsets():
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=12, audio_dim=6, dim=32, heads=2, window=4, period=3,
                             context=12, dropout=0.0, events=True, event_frames=6)  # fmt: skip
    model = ReactFace(config)
    g = torch.Generator().manual_seed(1)
    visual, audio = torch.randn(2, 16, 12, generator=g), torch.randn(2, 32, 6, generator=g)
    onsets = torch.zeros(2, 16, EVENT_KINDS)
    onsets[0, 5, 0] = onsets[1, 9, 1] = 1.0
    batch = {
        "listener_coefficients": torch.rand(2, 16, 58, generator=g),
        "speaker_coefficients": torch.rand(2, 16, 58, generator=g),
        "listener_onsets": onsets,
    }
    output = model(visual, audio, generator=g, onsets=onsets)
    assert output["event_logits"].shape == (2, 1, 16, EVENT_KINDS)
    terms = stage1_loss(output, batch, LossWeights(events=0.5))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        output["event_logits"][:, 0], onsets
    )
    assert torch.allclose(terms["events"], expected)
    terms["total"].backward()
    assert model.events.hazard.weight.grad.abs().sum() > 0
    shape_grad = model.events.scaled_shapes.grad  # (E, D, L): only the shapes of given onsets move
    assert shape_grad.abs().sum() > 0
    unplayed = torch.zeros(2, 16, EVENT_KINDS)
    model.zero_grad()
    stage1_loss(model(visual, audio, generator=g, onsets=unplayed), batch, LossWeights())[
        "rec"
    ].backward()
    unmoved = model.events.scaled_shapes.grad
    assert unmoved is None or unmoved.abs().sum() == 0


def test_training_plays_the_real_onsets_only_where_no_posterior_can_place_them():
    from reactface_core.train import _played_onsets

    onsets = torch.zeros(3, 10, EVENT_KINDS)
    onsets[:, 4, 0] = 1.0
    recognised = torch.tensor([True, False, True])
    played = _played_onsets({"listener_onsets": onsets}, recognised)
    assert played[:, 4, 0].tolist() == [0.0, 1.0, 0.0]
    assert torch.equal(_played_onsets({"listener_onsets": onsets}, None), onsets)
