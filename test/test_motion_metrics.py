"""What a person sees: motion ratios per channel group, blink and nod detectors."""

from __future__ import annotations

import numpy as np
import pytest

from reactface_core.data.world import signals
from reactface_core.data.world.speaker import BLINK, NOD_SIGN
from reactface_core.face.models import get_face_model
from reactface_core.metrics import motion

ARKIT = get_face_model("arkit58")
FRAMES = 750  # 30 s at 25 fps


def test_channel_groups_of_arkit58_by_name():
    groups = motion.channel_groups(ARKIT)
    names = {group: [ARKIT.names[i] for i in columns] for group, columns in groups.items()}
    assert list(groups) == list(motion.GROUPS)
    assert names["brows"] == [
        "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight"
    ]  # fmt: skip
    assert names["blinks"] == ["eyeBlinkLeft", "eyeBlinkRight"]
    assert "mouthSmileLeft" in names["smile"] and "mouthSmileLeft" not in names["jaw/mouth"]
    assert "jawOpen" in names["jaw/mouth"] and "mouthClose" in names["jaw/mouth"]
    assert names["head rotation"] == ["headPitch", "headYaw", "headRoll"]
    flame = motion.channel_groups(get_face_model("flame56"))
    assert set(flame) == {"jaw/mouth", "head rotation"}  # no ARKit names: no blinks, brows


def test_motion_ratio_is_the_generated_over_the_set_temporal_spread():
    rng = np.random.default_rng(0)
    listeners = rng.standard_normal((4, 200, 58))
    listeners[..., 10] = 0.2  # a channel that never moves in the set
    appropriate = [np.array([0, 1]), np.array([2, 3])]
    half = 0.5 * listeners[[[0, 1], [2, 3]]]  # the set itself at half amplitude, (2, 2, T, D)
    ratios = motion.motion_ratios(half, listeners, appropriate)
    assert np.isnan(ratios[10])
    np.testing.assert_allclose(np.delete(ratios, 10), 0.5)
    summary = motion.motion_summary(half, listeners, appropriate, ARKIT)
    assert summary["motion median"] == pytest.approx(0.5)
    assert summary["brows"] == pytest.approx(0.5) and summary["head rotation"] == pytest.approx(0.5)
    frozen = motion.motion_summary(np.zeros_like(half), listeners, appropriate, ARKIT)
    assert frozen["motion median"] == 0.0 and frozen["motion min"] == 0.0


def test_blinks_are_counted_once_each_with_the_worlds_blink_shape():
    face = np.zeros((2, FRAMES, 58))
    starts = np.array([30.0, 200.0, 204.0 + 12, 500.0])  # two blinks close together
    face[0, :, :52] = np.outer(np.minimum(signals.pulses(FRAMES, starts, 6.0), 1.0), BLINK)
    face[1, :, :52] = 0.3 * face[0, :, :52]  # a third-closed eyelid is not a blink
    assert motion.count_events(motion.blink_signal(face, ARKIT), 0.5, 0.25).tolist() == [4, 0]
    rates = motion.event_rates(face[:1], ARKIT)
    assert rates["blinks/min"] == pytest.approx(4 / (FRAMES / 25 / 60))


def test_nods_count_down_up_cycles_on_top_of_slow_head_motion():
    rng = np.random.default_rng(1)
    starts, cycles = np.array([40.0, 220.0, 480.0]), np.array([1, 3, 2])
    pose = np.zeros((FRAMES, 58))
    pose[:, 52] = NOD_SIGN * signals.nods(FRAMES, starts, cycles, 12.0, 0.1)
    pose[:, 52] += 0.05 * np.sin(np.arange(FRAMES) / FRAMES * 2 * np.pi)  # slow posture change
    pose[:, 52] += signals.drift(rng, FRAMES, 1.5 * 25, 0.003, 1)[:, 0]
    count = motion.count_events(motion.nod_signal(pose, ARKIT), motion.NOD_ON, motion.NOD_OFF)
    assert count == cycles.sum()
    still = pose.copy()
    still[:, 52] -= NOD_SIGN * signals.nods(FRAMES, starts, cycles, 12.0, 0.1)
    assert motion.event_rates(still[None], ARKIT)["nods/min"] == 0.0  # posture and drift alone


def test_event_counting_needs_the_signal_to_fall_back_before_counting_again():
    signal = np.array([0.0, 0.6, 0.4, 0.6, 0.1, 0.7, 0.7, 0.2, 0.55])
    assert motion.count_events(signal, 0.5, 0.25) == 3  # 0.4 is not low enough to re-arm
    assert motion.count_events(np.array([0.9, 0.9, 0.0]), 0.5, 0.25) == 1  # starts closed
