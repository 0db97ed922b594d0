"""The synthetic dyadic world: speakers, speech, listener policies, landmarks (in process)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reactface_core.data.world import camera, listener, speaker, speech
from reactface_core.data.world.generate import WorldConfig, generate_clip
from reactface_core.face.models import get_face_model
from reactface_core.perception.landmarks import align_faces, visual_features

ARKIT = get_face_model("arkit58")
HAPPY, SAD, SURPRISED, CONCERNED, NEUTRAL = 1, 2, 3, 4, 0


def channels(coefficients: np.ndarray, *names: str) -> np.ndarray:
    return coefficients[:, [ARKIT.index(n) for n in names]].sum(axis=1)


def dtw(a: np.ndarray, b: np.ndarray) -> float:
    """DTW with Euclidean frame cost, sqrt of the accumulated squared cost (as tslearn)."""
    cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    n, m = cost.shape
    table = np.full((n + 1, m + 1), np.inf)
    table[0, 0] = 0.0
    for k in range(2, n + m + 1):  # anti-diagonals only depend on the previous two
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        best = np.minimum(np.minimum(table[i - 1, j], table[i, j - 1]), table[i - 1, j - 1])
        table[i, j] = cost[i - 1, j - 1] + best
    return float(np.sqrt(table[n, m]))


def test_dtw_helper_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(5, 3))
    table = np.full((8, 6), np.inf)
    table[0, 0] = 0
    for i in range(1, 8):
        for j in range(1, 6):
            step = min(table[i - 1, j], table[i, j - 1], table[i - 1, j - 1])
            table[i, j] = ((a[i - 1] - b[j - 1]) ** 2).sum() + step
    assert dtw(a, b) == pytest.approx(np.sqrt(table[7, 5]))


@pytest.fixture(scope="module")
def person():
    return speaker.SpeakerStyle.sample(np.random.default_rng(7))


def one_per_policy(seed: int = 11) -> list[listener.ListenerStyle]:
    rng = np.random.default_rng(seed)
    return [listener.ListenerStyle.sample(rng, policy) for policy in listener.POLICIES]


def test_appropriate_reactions_are_closer_to_each_other_than_to_other_speaker_states(person):
    config = WorldConfig(seconds=5.0, seed=3)
    listeners = one_per_policy()
    sets = {
        emotion: generate_clip(
            config, person, listeners, index=emotion, emotions=[emotion]
        ).listener_coefficients
        for emotion in (HAPPY, SAD, SURPRISED, CONCERNED)
    }
    within = [
        dtw(r[i], r[j]) for r in sets.values() for i in range(len(r)) for j in range(i + 1, len(r))
    ]
    across = [dtw(x, y) for a in sets for b in sets if a < b for x in sets[a] for y in sets[b]]
    assert np.mean(within) < 0.75 * np.mean(across)
    # ... yet the appropriate reactions of one clip really differ (not one reaction + noise)
    assert np.mean(within) > 0.3 * np.mean(across)
    # and every clip's own set is tighter than its distance to any other state's set
    for a in sets:
        own = [dtw(x, y) for i, x in enumerate(sets[a]) for y in sets[a][i + 1 :]]
        for b in sets:
            if b != a:
                other = [dtw(x, y) for x in sets[a] for y in sets[b]]
                assert np.mean(own) < np.mean(other), (a, b)


@pytest.mark.parametrize("lag_s", [0.24, 0.4, 0.56])
def test_mirroring_policy_shows_its_lag_by_cross_correlation(person, lag_s):
    config = WorldConfig(seconds=30.0, seed=5)
    mirror = replace(listener.ListenerStyle.sample(np.random.default_rng(2), "mirror"), lag_s=lag_s)
    data = generate_clip(config, person, [mirror], index=1)
    names = ("mouthSmileLeft", "mouthSmileRight", "browInnerUp", "browOuterUpLeft")
    seen = np.diff(channels(data.speaker_coefficients, *names))
    shown = np.diff(channels(data.listener_coefficients[0], *names))
    lags = np.arange(0, 40)
    xcorr = [np.corrcoef(seen[: len(seen) - k], shown[k:])[0, 1] for k in lags]
    assert lags[int(np.argmax(xcorr))] == pytest.approx(lag_s * speaker.FPS, abs=1)
    assert max(xcorr) > 0.6


def test_policies_respond_to_the_speakers_emotion(person):
    config = WorldConfig(seconds=8.0, seed=9)
    empathic = [listener.ListenerStyle.sample(np.random.default_rng(4), "empathic")]
    happy = generate_clip(config, person, empathic, index=0, emotions=[HAPPY])
    sad = generate_clip(config, person, empathic, index=0, emotions=[SAD])
    smile = ("mouthSmileLeft", "mouthSmileRight")
    concern = ("browInnerUp", "mouthFrownLeft", "mouthFrownRight")
    late = slice(50, None)  # after the reaction has built up
    happy_r, sad_r = happy.listener_coefficients[0][late], sad.listener_coefficients[0][late]
    assert channels(happy_r, *smile).mean() > 3 * channels(sad_r, *smile).mean() + 0.2
    assert channels(sad_r, *concern).mean() > 3 * channels(happy_r, *concern).mean() + 0.2
    # sad listeners' heads tilt (roll) in empathy
    assert sad_r[:, ARKIT.index("headRoll")].mean() > happy_r[:, ARKIT.index("headRoll")].mean()


def test_backchannel_listeners_nod_after_the_speakers_pauses(person):
    config = WorldConfig(seconds=30.0, seed=2)
    style = listener.ListenerStyle.sample(np.random.default_rng(8), "backchannel")
    data = generate_clip(config, person, [style], index=4)
    pitch_speed = np.abs(np.diff(data.listener_coefficients[0][:, ARKIT.index("headPitch")]))
    after = np.zeros(len(pitch_speed), bool)
    for onset in data.script.pause_onsets:
        first = int(onset + style.lag_s * speaker.FPS)
        after[first : first + int(1.5 * speaker.FPS)] = True
    assert len(data.script.pause_onsets) >= 4
    assert pitch_speed[after].mean() > 2.5 * pitch_speed[~after].mean()


def test_audio_energy_follows_the_mouth_and_pauses_are_silent(person):
    config = WorldConfig(seconds=20.0, seed=4)
    data = generate_clip(config, person, [], index=0)
    frames = data.script.frames
    assert data.audio.shape == (frames * speech.SAMPLES_PER_FRAME,)
    assert data.audio.dtype == np.float32 and np.abs(data.audio).max() < 1.0
    rms = np.sqrt((data.audio.reshape(frames, -1) ** 2).mean(axis=1))
    mouth = channels(
        data.speaker_coefficients, "jawOpen", "mouthFunnel", "mouthPucker", "mouthStretchLeft"
    )
    assert np.corrcoef(np.log(rms + 1e-3), mouth)[0, 1] > 0.65
    speaking, silent = data.script.speaking > 0.99, data.script.speaking < 0.01
    assert rms[silent].mean() < 0.05 * rms[speaking].mean()
    assert 0.02 < rms[speaking].mean() < 0.3  # speech at a usable level, not clipped


def median_f0(audio: np.ndarray, syllables: speaker.Syllables) -> float:
    """Median autocorrelation pitch estimate at the vowel centres of a clip."""
    estimates = []
    for begin, end in zip(syllables.voice_onset, syllables.end, strict=True):
        centre = int(0.5 * (begin + end) * speech.SAMPLE_RATE)
        chunk = audio[centre - 400 : centre + 400].astype(np.float64)
        if len(chunk) < 800:
            continue
        chunk -= chunk.mean()
        ac = np.correlate(chunk, chunk, "full")[len(chunk) - 1 :]
        low, high = speech.SAMPLE_RATE // 450, speech.SAMPLE_RATE // 70
        estimates.append(speech.SAMPLE_RATE / (low + np.argmax(ac[low:high])))
    return float(np.median(estimates))


def test_pitch_rises_with_happiness_and_falls_with_sadness(person):
    config = WorldConfig(seconds=12.0, seed=6)
    happy = generate_clip(config, person, [], index=0, emotions=[HAPPY])
    sad = generate_clip(config, person, [], index=0, emotions=[SAD])
    f0_happy = median_f0(happy.audio, happy.script.syllables)
    f0_sad = median_f0(sad.audio, sad.script.syllables)
    assert f0_happy > 1.15 * f0_sad
    assert 0.7 * person.f0_hz < f0_sad < 1.3 * person.f0_hz


def test_landmarks_follow_the_face_with_detector_noise(person):
    noise = camera.DetectorNoise(drop_rate=0.1, occlusion_rate=0.0, jitter_px=0.5, shake_px=0.0)
    config = WorldConfig(seconds=8.0, seed=1, detector=noise)
    data = generate_clip(config, person, [], index=3)
    landmarks = data.landmarks
    assert landmarks.shape == (data.script.frames, 468, 3)
    lost = np.isnan(landmarks).any(axis=(1, 2))
    assert np.isnan(landmarks[lost]).all()  # whole rows, like a detector that lost the face
    assert 0.04 < lost.mean() < 0.18
    x, y = landmarks[~lost, :, 0], landmarks[~lost, :, 1]
    assert 0.05 < x.min() and x.max() < 0.95 and 0.0 < y.min() and y.max() < 1.0

    features, valid = visual_features(landmarks)
    assert (valid == ~lost).all()
    pose = data.speaker_coefficients[valid, 52:55]
    seen = align_faces(landmarks).head_pose()[valid]
    assert np.abs(seen - pose).mean() < 0.03  # pitch, yaw, roll in radians
    jaw = data.speaker_coefficients[valid, ARKIT.index("jawOpen")]
    best = max(abs(np.corrcoef(column, jaw)[0, 1]) for column in features[valid, 6:].T)
    assert best > 0.9


def test_clip_generation_is_deterministic_and_seed_dependent(person):
    listeners = one_per_policy()[:2]
    a = generate_clip(WorldConfig(seconds=4.0, seed=1), person, listeners, index=2)
    b = generate_clip(WorldConfig(seconds=4.0, seed=1), person, listeners, index=2)
    c = generate_clip(WorldConfig(seconds=4.0, seed=2), person, listeners, index=2)
    assert np.array_equal(a.audio, b.audio)
    assert np.array_equal(a.landmarks, b.landmarks, equal_nan=True)
    assert all(
        np.array_equal(x, y)
        for x, y in zip(a.listener_coefficients, b.listener_coefficients, strict=True)
    )
    assert not np.array_equal(a.audio, c.audio)
    assert not np.array_equal(a.speaker_coefficients, c.speaker_coefficients)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown listener policy 'sleepy'"):
        listener.ListenerStyle.sample(np.random.default_rng(0), "sleepy")
