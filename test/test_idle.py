"""Idle head motion: the filter is as smooth and as large as fitted, on the idle channels
only, and it is not fed back into the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reactface_core.face.models import get_face_model
from reactface_core.model import ReactFace, ReactFaceConfig
from reactface_core.model.idle import IdleMotion, idle_channels, pole_for_roughness
from reactface_core.streaming import ReactionGenerator


@pytest.mark.parametrize("roughness", [0.03, 0.065, 0.2, 0.6])
def test_the_filter_is_as_rough_and_as_large_as_asked(roughness):
    idle = IdleMotion(2)
    idle.scale.copy_(torch.tensor([0.3, 0.0]))
    idle.pole.fill_(pole_for_roughness(roughness))
    noise = torch.randn(32, 12000, 2, generator=torch.Generator().manual_seed(0))
    state = idle.new_state(32, noise)
    y = torch.cat([idle(noise[:, t : t + 8], state) for t in range(0, 12000, 8)], 1)
    y = y[:, 1000:].numpy()  # past the start from rest
    std = y[..., 0].std(1).mean()
    measured = (np.diff(y[..., 0], axis=1).std(1) / y[..., 0].std(1)).mean()
    assert std == pytest.approx(0.3, rel=0.06)
    assert measured == pytest.approx(roughness, rel=0.05)
    assert not y[..., 1].any()  # scale 0: nothing


def test_idle_channels_are_head_sway_not_nods():
    arkit = get_face_model("arkit58")
    assert [arkit.names[c] for c in idle_channels(arkit)] == [
        "headYaw", "headRoll", "headTranslationX", "headTranslationY", "headTranslationZ"
    ]  # fmt: skip
    flame = get_face_model("flame56")
    assert idle_channels(flame) == list(range(flame.dim)[flame.head_rotation])[1:]


def test_idle_motion_moves_its_channels_and_is_not_fed_back():
    torch.manual_seed(0)
    config = ReactFaceConfig(visual_dim=6, audio_dim=5, dim=16, heads=2, window=4,
                             context=12, style_dim=4, idle=True)  # fmt: skip
    model = ReactFace(config).eval()
    g = torch.Generator().manual_seed(1)
    visual, audio = torch.randn(40, 6, generator=g), torch.randn(80, 5, generator=g)
    yaw = get_face_model("arkit58").index("headYaw")

    def reactions() -> torch.Tensor:
        windows = ReactionGenerator(model, samples=3, seed=7).push(visual, audio)
        return torch.cat([w.reactions for w in windows], 1)

    still = reactions()
    with torch.no_grad():
        model.idle.scale[yaw], model.idle.pole[yaw] = 0.5, 0.9
    swaying = reactions()
    moved = (swaying - still).abs().amax((0, 1))
    assert moved[yaw] > 0.05
    assert moved[torch.arange(58) != yaw].max() == 0.0  # the model never sees its sway
