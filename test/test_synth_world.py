"""The synthetic dyadic world: speakers, espeak-ng speech, the stage, listeners (in process)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from reactface_core.contract import AUDIO_RATE, FPS, SAMPLES_PER_FRAME
from reactface_core.data import espeak
from reactface_core.data.world import listener, speaker, speech, stage
from reactface_core.data.world.config import DetectorNoise, WorldConfig
from reactface_core.data.world.synth import (
    generate_clip,
    listener_reaction,
    plan_world,
    speaker_side,
)
from reactface_core.face.models import get_face_model
from reactface_core.perception.landmarks import visual_features

ARKIT = get_face_model("arkit58")
HAPPY, SAD, SURPRISED, CONCERNED, NEUTRAL = 1, 2, 3, 4, 0
CALM = dict(no_face_fraction=0.0, second_face_fraction=0.0)  # no events unless asked
MOUTH = ("jawOpen", "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthLowerDownLeft")


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
    """An expressive (not poker-faced) speaker."""
    return speaker.SpeakerStyle.sample(np.random.default_rng(7), poker_face_fraction=0.0)


def one_per_policy(seed: int = 11) -> list[listener.ListenerStyle]:
    rng = np.random.default_rng(seed)
    return [listener.ListenerStyle.sample(rng, policy) for policy in listener.POLICIES]


# ---- listeners -------------------------------------------------------------------------------


def test_appropriate_reactions_are_closer_to_each_other_than_to_other_speaker_states(person):
    config = WorldConfig(seconds=5.0, seed=3, **CALM)
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
    for a in sets:  # every clip's own set is tighter than its distance to another state's
        own = [dtw(x, y) for i, x in enumerate(sets[a]) for y in sets[a][i + 1 :]]
        for b in sets:
            if b != a:
                other = [dtw(x, y) for x in sets[a] for y in sets[b]]
                assert np.mean(own) < np.mean(other), (a, b)


@pytest.mark.parametrize("lag_s", [0.24, 0.4, 0.56])
def test_mirroring_policy_shows_its_lag_by_cross_correlation(person, lag_s):
    config = WorldConfig(seconds=30.0, seed=5, **CALM)
    mirror = replace(listener.ListenerStyle.sample(np.random.default_rng(2), "mirror"), lag_s=lag_s)
    data = generate_clip(config, person, [mirror], index=1)
    names = ("mouthSmileLeft", "mouthSmileRight", "browInnerUp", "browOuterUpLeft")
    seen = np.diff(channels(data.speaker.expressive, *names))
    shown = np.diff(channels(data.listener_coefficients[0], *names))
    lags = np.arange(0, 40)
    xcorr = [np.corrcoef(seen[: len(seen) - k], shown[k:])[0, 1] for k in lags]
    assert lags[int(np.argmax(xcorr))] == pytest.approx(lag_s * FPS, abs=1)
    assert max(xcorr) > 0.6


def test_policies_respond_to_the_speakers_emotion(person):
    config = WorldConfig(seconds=8.0, seed=9, **CALM)
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


def test_backchannel_listeners_nod_after_the_pauses_the_audio_has(person):
    config = WorldConfig(seconds=30.0, seed=2, **CALM)
    style = listener.ListenerStyle.sample(np.random.default_rng(8), "backchannel")
    data = generate_clip(config, person, [style], index=4)
    side = data.speaker
    pitch_speed = np.abs(np.diff(data.listener_coefficients[0][:, ARKIT.index("headPitch")]))
    after = np.zeros(len(pitch_speed), bool)
    for onset in side.script.pause_onsets:
        # a pause onset is where a phrase's audio ends: silence follows in the clean speech
        sample = int(round(onset / FPS * AUDIO_RATE))
        assert np.abs(side.clean_speech[sample + 80 : sample + 3200]).max() == 0.0
        assert np.abs(side.clean_speech[sample - 3200 : sample]).max() > 0.02
        first = int(onset + style.lag_s * FPS)
        after[first : first + int(1.5 * FPS)] = True
    assert len(side.script.pause_onsets) >= 4
    assert pitch_speed[after].mean() > 2.5 * pitch_speed[~after].mean()


def test_listeners_hear_stress_and_pauses_when_the_face_is_hidden(person):
    """A reactive listener flashes its brows after stressed syllables whether or not the
    speaker's face can be seen; a mirroring one copies only what it sees."""
    config = WorldConfig(seconds=30.0, seed=4, **CALM)
    side = speaker_side(config, person, 3)
    hidden = replace(side, visible=np.zeros(side.frames, bool))
    reactive = listener.ListenerStyle.sample(np.random.default_rng(1), "reactive")
    mirror = listener.ListenerStyle.sample(np.random.default_rng(1), "mirror")
    brows = ("browInnerUp", "browOuterUpLeft")
    seen = channels(listener_reaction(side, reactive, 5), *brows)
    heard = channels(listener_reaction(hidden, reactive, 5), *brows)
    assert np.array_equal(seen, heard)  # stress reactions come from the audio alone
    assert len(side.script.stress_frames) >= 5
    smile = ("mouthSmileLeft", "mouthSmileRight")
    copied = channels(listener_reaction(side, mirror, 5), *smile)
    blind = channels(listener_reaction(hidden, mirror, 5), *smile)
    assert np.std(blind) < 0.5 * np.std(copied)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown listener policy 'sleepy'"):
        listener.ListenerStyle.sample(np.random.default_rng(0), "sleepy")


def test_fifteen_listeners_cover_every_policy_at_three_lags():
    plan = plan_world(WorldConfig(clips=6, clips_per_speaker=2, listeners_per_speaker=15))
    for clip in plan.clips:
        styles = [plan.listeners[i] for i in clip.listener_ids]
        assert len(set(clip.listener_ids)) == 15
        first_round = [s.policy for s in styles[:5]]
        assert sorted(first_round) == sorted(listener.POLICIES)  # K = 5: one per policy
        for policy in listener.POLICIES:
            lags = [s.lag_s for s in styles if s.policy == policy]
            assert len(lags) == 3 and lags == sorted(lags)  # early, middle, late rounds
        assert [s.policy for s in styles[5:10]] == first_round  # same order every round


# ---- speech --------------------------------------------------------------------------------


def test_speech_is_espeak_phrases_where_the_script_says(person):
    config = WorldConfig(seconds=20.0, seed=4, **CALM)
    side = speaker_side(config, person, 0)
    script, clean = side.script, side.clean_speech
    assert side.audio.shape == clean.shape == (script.frames * SAMPLES_PER_FRAME,)
    assert side.audio.dtype == np.float32 and np.abs(side.audio).max() < 1.0
    inside = np.zeros(len(clean), bool)
    for start, end in script.utterances:
        inside[int(round(start * AUDIO_RATE)) : int(round(end * AUDIO_RATE))] = True
    assert not clean[~inside].any()  # nothing but the phrases
    assert len(script.utterances) == len(script.phrases) >= 4
    # each utterance is what espeak-ng says for its phrase: same length spoken alone
    first, end = (int(round(t * AUDIO_RATE)) for t in script.utterances[1])
    alone = espeak.speak(script.phrases[1], person.voice)
    assert 0.75 < (end - first) / len(alone) < 1.35
    # the microphone: speech in utterances, near-silence plus room noise in pauses
    rms = np.sqrt((side.audio.reshape(script.frames, -1) ** 2).mean(axis=1))
    speaking, silent = script.speaking > 0.99, script.speaking < 0.01
    tail = int(side.acoustics.rt60 * FPS)  # reverberation dies away first
    quiet = silent & ~np.convolve(~silent, np.ones(tail), "full")[: len(silent)].astype(bool)
    measured = 10 * np.log10(np.mean(rms[speaking] ** 2) / np.mean(rms[quiet] ** 2))
    assert measured == pytest.approx(side.acoustics.snr_db, abs=6.0)
    assert rms[quiet].min() > 0  # room noise, never digital silence


def test_stresses_are_loud_syllables_of_the_audio(person):
    config = WorldConfig(seconds=20.0, seed=8, **CALM)
    side = speaker_side(config, person, 1)
    level = 20 * np.log10(_frame_rms(side.clean_speech) + 1e-6)
    stressed = side.script.stress_frames.astype(int)
    assert len(stressed) >= 4
    spoken = side.script.speaking > 0.99
    assert np.median(level[stressed]) > np.median(level[spoken]) + 3.0


def _frame_rms(audio: np.ndarray) -> np.ndarray:
    return np.sqrt((audio.reshape(-1, SAMPLES_PER_FRAME).astype(np.float64) ** 2).mean(axis=1))


def test_emotion_changes_the_voice(person):
    config = WorldConfig(seconds=12.0, seed=6, **CALM)
    happy = speaker_side(config, person, 0, emotions=[HAPPY])
    sad = speaker_side(config, person, 0, emotions=[SAD])
    f0_happy, f0_sad = median_f0(happy), median_f0(sad)
    assert f0_happy > 1.08 * f0_sad
    assert 60 < f0_sad < 400

    def pace(side) -> float:  # words per second of speech
        words = sum(len(p.split()) for p in side.script.phrases)
        return words / np.diff(side.script.utterances, axis=1).sum()

    assert pace(happy) > 1.1 * pace(sad)


def median_f0(side) -> float:
    """Median autocorrelation pitch of the clean speech's loud 50 ms windows."""
    audio = side.clean_speech.astype(np.float64)
    estimates = []
    for centre in range(400, len(audio) - 400, 800):
        chunk = audio[centre - 400 : centre + 400]
        if np.sqrt((chunk**2).mean()) < 0.05:
            continue
        chunk = chunk - chunk.mean()
        ac = np.correlate(chunk, chunk, "full")[len(chunk) - 1 :]
        low, high = AUDIO_RATE // 450, AUDIO_RATE // 60
        estimates.append(AUDIO_RATE / (low + np.argmax(ac[low:high])))
    return float(np.median(estimates))


def test_the_mouth_follows_the_audio_envelope_and_poker_faces_barely_move(person):
    config = WorldConfig(seconds=20.0, seed=4, **CALM)
    side = speaker_side(config, person, 0)
    mouth = channels(side.coefficients, *MOUTH)
    envelope = _frame_rms(side.clean_speech)
    assert np.corrcoef(mouth, envelope)[0, 1] > 0.7
    poker = replace(person, face_gain=0.2, expressivity=0.2, poker_faced=True)
    still = speaker_side(config, poker, 0)
    assert np.array_equal(still.clean_speech, side.clean_speech)  # the same voice ...
    assert np.std(channels(still.coefficients, *MOUTH)) < 0.35 * np.std(mouth)  # ... a still face
    assert np.array_equal(still.script.stress_frames, side.script.stress_frames)


def test_room_noise_level_follows_the_snr():
    rng = np.random.default_rng(0)
    clean = np.zeros(3 * AUDIO_RATE, np.float32)
    clean[AUDIO_RATE : 2 * AUDIO_RATE] = 0.3 * np.sin(np.arange(AUDIO_RATE) * 0.2)
    phrases = ((AUDIO_RATE, 2 * AUDIO_RATE, "tone"),)
    said = speech.Speech(clean, phrases, np.zeros((1, 4)))
    for snr in (5.0, 30.0):
        acoustics = speech.Acoustics(0.2, 30.0, snr, 1.5, 0.0, 0.0)
        recorded = speech.room(rng, said, acoustics)
        noise = recorded[: AUDIO_RATE // 2]
        voice = recorded[AUDIO_RATE : 2 * AUDIO_RATE]
        measured = 10 * np.log10((voice**2).mean() / (noise**2).mean())
        assert measured == pytest.approx(10 * np.log10(10 ** (snr / 10) + 1), abs=1.5)


# ---- stage and landmarks ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sides():
    """Clips of a small default world (every range drawn), generated once."""
    config = WorldConfig(clips=12, seconds=6.0, clips_per_speaker=2, seed=3)
    plan = plan_world(config)
    return config, [speaker_side(config, plan.speakers[c.speaker_id], c.index) for c in plan.clips]


def test_randomised_ranges_are_honoured_on_the_landmarks(sides):
    config, clips = sides
    heights, sizes, fovs = [], set(), []
    for side in clips:
        s = side.stage
        sizes.add((s.width, s.height))
        fovs.append(s.fov_degrees)
        seen = side.clean_landmarks[side.visible & (np.abs(s.turn) < 0.05) & (s.step == 0)]
        assert len(seen) > 0
        assert seen[..., :2].min() >= 0.0 and seen[..., :2].max() <= 1.0  # whole face in frame
        height = np.median(seen[..., 1].max(axis=1) - seen[..., 1].min(axis=1))
        heights.append(height)
        assert height == pytest.approx(s.face_height, rel=0.15)
        assert config.face_height[0] <= s.face_height <= config.face_height[1]
        assert config.fov_degrees[0] <= s.fov_degrees <= config.fov_degrees[1]
        found = np.isfinite(side.landmarks).all(axis=(1, 2))
        noise = np.abs(side.landmarks[found] - side.clean_landmarks[found])
        assert noise.size == 0 or noise.max() < 0.05
        box = np.ptp(side.clean_landmarks[..., 1], axis=1) * s.height / max(s.width, s.height)
        assert not (found & ~side.visible).any()
        assert not (found & (box < config.detector.min_tracked_face)).any()  # too small
        typical = np.median(box[side.visible])
        if typical > config.detector.min_face + 0.01:  # found but for random drops
            assert found[side.visible].mean() > 0.8
        if typical < config.detector.min_face - 0.01:  # never found
            assert not found.any()
    assert sizes <= set(config.resolutions) and len(sizes) >= 3
    assert np.ptp(heights) > 0.25 and np.ptp(fovs) > 20  # really drawn across the ranges
    centres = [side.clean_landmarks[side.visible][..., 0].mean() for side in clips]
    assert np.ptp(centres) > 0.2  # faces anywhere, not centred


def test_fixed_values_are_fixed():
    config = WorldConfig(
        clips=3,
        seconds=3.0,
        clips_per_speaker=1,
        resolutions=((640, 480),),
        fov_degrees=(45.0, 45.0),
        face_height=(0.3, 0.3),
        face_position=(0.5, 0.5),
        camera_yaw_degrees=(0.0, 0.0),
        camera_pitch_degrees=(0.0, 0.0),
        **CALM,
    )
    plan = plan_world(config)
    for clip in plan.clips:
        side = speaker_side(config, plan.speakers[clip.speaker_id], clip.index)
        s = side.stage
        assert (s.width, s.height, s.fov_degrees, s.face_height) == (640, 480, 45.0, 0.3)
        box = side.clean_landmarks[..., :2]
        centre = 0.5 * (box.min(axis=(0, 1)) + box.max(axis=(0, 1)))
        assert centre == pytest.approx([0.5, 0.5], abs=0.03)


def test_no_face_spans_and_second_faces():
    config = WorldConfig(clips=6, seconds=20.0, clips_per_speaker=1, seed=1,
                         no_face_fraction=0.3, second_face_fraction=0.3)  # fmt: skip
    plan = plan_world(config)
    kinds = {"turn": 0, "step": 0, "hand": 0, "second": 0}
    for clip in plan.clips:
        side = speaker_side(config, plan.speakers[clip.speaker_id], clip.index)
        s = side.stage
        lost = np.isnan(side.landmarks).all(axis=(1, 2))
        assert lost[~side.visible].all()  # no landmarks where the face cannot be seen
        turned = np.abs(s.turn) > np.radians(100)
        assert not side.visible[turned].any()
        kinds["turn"] += int(turned.any())
        frame_width = 2 * s.distance * np.tan(np.radians(s.fov_degrees) / 2) * s.width / s.height
        out = np.abs(s.step) > frame_width  # stepped out of the frame
        assert not side.visible[out].any()
        kinds["step"] += int(out.any())
        if s.hand is not None:
            palm = s.hand_centre()
            covered = s.hand.present & (np.abs(palm[:, 1]) < 0.02)  # over the face
            assert covered.any() and not side.visible[covered].any()
            kinds["hand"] += 1
        if s.second is not None:
            assert not (s.second.present & ~side.visible).any()  # never when the face is gone
            assert s.second.relative_size < 1.0
            kinds["second"] += 1
    assert all(count > 0 for count in kinds.values()), kinds


@pytest.mark.parametrize("sway", [0.0, 0.04, 0.3])
def test_the_body_sways_but_the_face_stays_in_frame(sway):
    """The sway moves the face in the image and in size; where the frame has no room for
    it (a close-up, a sway of 30 cm) it is scaled down so the whole face stays in frame."""
    config = WorldConfig(clips=3, seconds=12.0, clips_per_speaker=1, seed=2, face_height=(0.6, 0.7),
                         body_sway=(sway, sway), **CALM)  # fmt: skip
    plan = plan_world(config)
    for clip in plan.clips:
        side = speaker_side(config, plan.speakers[clip.speaker_id], clip.index)
        seen = side.clean_landmarks[side.visible]
        assert seen[..., :2].min() >= 0.0 and seen[..., :2].max() <= 1.0
        size = np.log(np.ptp(seen[..., 0], axis=1))  # face width in the image
        moved = side.stage.sway.std(axis=0)
        if sway == 0.0:
            assert not moved.any()
        else:
            assert (moved > 0.0).all() and moved[0] < 3 * sway
            assert size.std() > 0.01  # toward and away from the camera


def test_the_body_leans_sideways_and_the_head_rolls_with_it():
    def rolls(lean: float) -> list[tuple[np.ndarray, np.ndarray]]:
        config = WorldConfig(clips=3, seconds=12.0, clips_per_speaker=1, seed=2,
                             body_lean=(lean, lean), **CALM)  # fmt: skip
        plan = plan_world(config)
        out = []
        for clip in plan.clips:
            side = speaker_side(config, plan.speakers[clip.speaker_id], clip.index)
            s = side.stage
            eyes = side.clean_landmarks[:, [33, 263], :2] * [s.width, s.height]  # outer corners
            across = eyes[:, 1] - eyes[:, 0]
            out.append((np.arctan2(across[:, 1], across[:, 0]), s.lean))
        return out

    for (still, no_lean), (leaning, lean) in zip(rolls(0.0), rolls(0.1), strict=True):
        assert not no_lean.any() and 0.03 < lean.std() < 0.3
        # the eye line turns in the image by the lean (the camera's y points down)
        assert np.abs((still - leaning) - lean).max() < 0.02


def test_a_small_face_is_followed_once_found_but_not_found_again():
    noise = DetectorNoise(min_face=0.12, min_tracked_face=0.08)
    second = np.ones(FPS)
    visible = np.concatenate([second, second, second, 0 * second, second]).astype(bool)
    size = np.concatenate([0.13 * second, 0.1 * second, 0.07 * second, second, 0.1 * second])
    size[-3] = 0.15  # a nod: the face looks bigger for a frame
    found = stage.tracked(visible, size, noise)
    assert found[: 2 * FPS].all()  # found, then followed while it shrinks
    assert not found[2 * FPS :].any()  # lost when too small, not found again at 0.1


def test_detector_noise_grows_as_the_face_shrinks():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(0.3, 0.6, 468 * 3).reshape(1, 468, 3), (400, 1, 1))
    noise = replace(DetectorNoise(), drop_rate=0.0, occlusion_rate=0.0)
    errors = {}
    for face_px in (40.0, 300.0):
        noisy = stage.pinhole.detector_noise(rng, clean, noise, 640, 480, face_px)
        errors[face_px] = np.abs(noisy - clean)[..., :2].mean() * 640 / face_px  # per face
    assert errors[40.0] > 2.5 * errors[300.0]
    drops = replace(DetectorNoise(), occlusion_rate=0.0)
    long = np.repeat(clean, 10, axis=0)
    small = stage.pinhole.detector_noise(rng, long, drops, 640, 480, 20.0)
    large = stage.pinhole.detector_noise(rng, long, drops, 640, 480, 300.0)
    assert np.isnan(small[:, 0, 0]).mean() > 2 * np.isnan(large[:, 0, 0]).mean()


def test_landmarks_follow_the_face_with_detector_noise(person):
    square = dict(resolutions=((480, 480),), face_height=(0.5, 0.5))  # aspect 1: any features
    config = WorldConfig(seconds=8.0, seed=1, **square, **CALM)
    side = speaker_side(config, person, 3)
    landmarks = side.landmarks
    assert landmarks.shape == (side.frames, 468, 3)
    lost = np.isnan(landmarks).any(axis=(1, 2))
    assert np.isnan(landmarks[lost]).all()  # whole rows, like a detector that lost the face
    assert lost.mean() < 0.2
    features, valid = visual_features(landmarks)
    assert (valid == ~lost).all()
    jaw = side.coefficients[valid, ARKIT.index("jawOpen")]
    best = max(abs(np.corrcoef(column, jaw)[0, 1]) for column in features[valid, 6:].T)
    assert best > 0.9


def test_identities_differ_and_are_mirror_symmetric():
    from reactface_core.face import mesh
    from reactface_core.face.identity import identity_space
    from reactface_core.face.rig import ArkitRig

    space = identity_space()
    canonical = mesh.canonical_mesh()
    flip = np.array([-1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    faces = []
    for _ in range(4):
        offsets = space.offsets(space.sample(rng))
        assert np.abs(offsets[canonical.mirror] * flip - offsets).max() < 1e-7
        rig = ArkitRig(identity=offsets)
        neutral = rig.neutral.astype(np.float64)
        assert np.abs(neutral[canonical.mirror] * flip - neutral).max() < 1e-6
        smile = ARKIT.neutral()
        smile[0, ARKIT.index("mouthSmileLeft")] = 1.0
        mirrored = ARKIT.neutral()
        mirrored[0, ARKIT.index("mouthSmileRight")] = 1.0
        left, right = rig.vertices(smile)[0], rig.vertices(mirrored)[0]
        assert np.abs(left[canonical.mirror] * flip - right).max() < 1e-6
        faces.append(neutral)
    for i in range(len(faces)):
        for j in range(i + 1, len(faces)):  # shapes differ beyond a similarity transform
            aligned = mesh.apply(mesh.similarity(faces[j], faces[i]), faces[j])
            assert np.sqrt(((aligned - faces[i]) ** 2).sum(1).mean()) > 1.5e-3  # metres
    assert space.offsets(space.sample(rng, scale=0.0)).max() == 0.0


def test_clip_generation_is_deterministic_and_seed_dependent(person):
    listeners = one_per_policy()[:2]
    a = generate_clip(WorldConfig(seconds=4.0, seed=1), person, listeners, index=2)
    b = generate_clip(WorldConfig(seconds=4.0, seed=1), person, listeners, index=2)
    c = generate_clip(WorldConfig(seconds=4.0, seed=2), person, listeners, index=2)
    assert np.array_equal(a.speaker.audio, b.speaker.audio)
    assert np.array_equal(a.speaker.landmarks, b.speaker.landmarks, equal_nan=True)
    assert all(
        np.array_equal(x, y)
        for x, y in zip(a.listener_coefficients, b.listener_coefficients, strict=True)
    )
    assert not np.array_equal(a.speaker.audio, c.speaker.audio)
    assert not np.array_equal(a.speaker.coefficients, c.speaker.coefficients)


def test_config_round_trips_through_json():
    import json
    from dataclasses import asdict

    config = WorldConfig(clips=15, fov_degrees=(30.0, 30.0), face_position=(0.2, 0.8))
    assert WorldConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config
    with pytest.raises(ValueError, match="--fov"):
        replace(config, fov_degrees=(70.0, 20.0)).check()
