"""Visual features (contract 2) and audio features (contract 3): log-mel and prosody."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from reactface_core.face.mesh import canonical_mesh
from reactface_core.perception import audio
from reactface_core.perception.landmarks import (
    ANCHOR_LANDMARKS,
    CAMERA_TO_FACE,
    COLUMN_GROUPS,
    DEFORMATION_GAIN,
    FEATURE_LANDMARKS,
    POSE_DIM,
    VISUAL_FEATURE_DIM,
    SpeakerFeatures,
    align_faces,
    euler_to_rotation,
    rotation_to_euler,
    template,
    visual_features,
)

MIRROR = canonical_mesh().mirror


def posed_raw(shape, angles, scale=0.3, centre=(0.5, 0.5, 0.0), aspect=1.0):
    """Template-frame shapes (T, 468, 3) -> raw MediaPipe landmarks with a known pose."""
    rotation = CAMERA_TO_FACE @ euler_to_rotation(np.asarray(angles, np.float64)) @ CAMERA_TO_FACE
    points = scale * np.einsum("tij,tnj->tni", rotation, shape)
    points = points - points[:, ANCHOR_LANDMARKS].mean(axis=1, keepdims=True) + np.array(centre)
    return points / np.array([1.0, aspect, 1.0])


def mirrored(raw):
    """What a detector reports for the horizontally flipped image: x -> 1 - x, left <-> right."""
    flipped = raw[:, MIRROR].copy()
    flipped[..., 0] = 1.0 - flipped[..., 0]
    return flipped


def test_template_is_symmetric_unit_size_in_camera_axes():
    t = template()
    assert np.allclose(t[MIRROR] * [-1, 1, 1], t, atol=1e-5)
    assert np.linalg.norm(t[263] - t[33]) == pytest.approx(1.0)
    assert t[33, 0] < t[263, 0]  # subject's right eye on the image's left
    assert t[10, 1] < t[152, 1]  # forehead above the chin (y down)
    assert t[1, 2] < t[234, 2]  # nose tip nearer the camera (z away)


def test_known_pose_size_and_position_are_recovered_by_the_alignment():
    angles = np.array([[0.0, 0.0, 0.0], [0.2, -0.4, 0.1], [-0.3, 0.5, -0.25]])
    frames = np.repeat(template()[None], 3, axis=0)
    raw = posed_raw(frames, angles, scale=0.3, centre=(0.6, 0.45, 0.1))
    faces = align_faces(raw)
    assert faces.valid.all()
    assert np.allclose(faces.head_pose(), angles, atol=1e-5)
    assert np.allclose(faces.scale, 0.3) and np.allclose(faces.centre, [0.6, 0.45])
    assert np.allclose(faces.shape, template(), atol=1e-6)


def test_non_square_image_aspect_is_undone():
    raw = posed_raw(template()[None], [[0.1, 0.3, -0.2]], centre=(0.5, 0.6, 0.0), aspect=600 / 512)
    faces = align_faces(raw, aspect=600 / 512)
    assert np.allclose(faces.head_pose(), [[0.1, 0.3, -0.2]], atol=1e-5)
    assert np.allclose(faces.centre, [[0.5, 0.6]]) and np.allclose(faces.shape, template())


def test_first_face_is_the_neutral_and_motion_is_measured_against_it():
    """A still face gives zeros wherever it sits; a nod, a turn, a step aside or nearer
    then shows as rotation and motion in face sizes, an open mouth as deformation."""
    still = np.repeat(template()[None], 300, axis=0)
    raw = posed_raw(still, np.tile([0.1, 0.4, -0.1], (300, 1)), 0.2, (0.7, 0.4, 0.0))
    features, valid = visual_features(raw)
    assert valid.all() and np.abs(features).max() < 1e-6

    nod = euler_to_rotation([[0.1, 0.4, -0.1]])[0] @ euler_to_rotation([[0.2, 0.0, 0.0]])[0]
    jaw = np.array([14, 17, 84, 87, 152, 148, 176, 377, 400, 178, 181, 317, 314, 402, 405])
    open_mouth = template().copy()
    open_mouth[jaw, 1] += 0.15  # drop the lower lip and chin by 0.15 eye distances
    moved = np.concatenate(
        [
            posed_raw(still[:1], [rotation_to_euler(nod[None])[0]], 0.2, (0.7, 0.4, 0.0)),
            posed_raw(still[:1], [[0.1, 0.4, -0.1]], 0.2, (0.7 + 0.2 * 0.5, 0.4, 0.0)),
            posed_raw(still[:1], [[0.1, 0.4, -0.1]], 0.2 * np.e**0.1, (0.7, 0.4, 0.0)),
            posed_raw(open_mouth[None], [[0.1, 0.4, -0.1]], 0.2, (0.7, 0.4, 0.0)),
        ]
    )
    speaker = SpeakerFeatures()
    speaker(raw)
    f, _ = speaker(moved)
    rate = 1 / 250  # the neutral has seen 300 frames: 10 s time constant
    assert f[0, :3] == pytest.approx([0.2 * (1 - rate * 0.1 / 0.2), 0, 0], abs=1e-3)  # a nod
    assert np.abs(f[0, 3:]).max() < 0.01
    assert f[1, 3] == pytest.approx(0.5 * (1 - rate * 0.25 / 0.5), abs=1e-3)  # half a face
    assert f[2, 5] == pytest.approx(0.1 * (1 - rate), abs=1e-3)  # nearer: log-scale
    deformation = f[3, POSE_DIM:].reshape(-1, 3)
    lowered = np.isin(FEATURE_LANDMARKS, jaw)
    assert np.allclose(deformation[lowered, 1], (0.15 - rate * 0.05) * DEFORMATION_GAIN, atol=1e-3)
    assert np.abs(deformation[~lowered]).max() < 1e-2


def test_features_do_not_depend_on_where_the_face_is_or_its_size_or_the_image_aspect():
    rng = np.random.default_rng(3)
    shapes = template() + rng.normal(0, 0.01, (80, 468, 3)).cumsum(axis=0) * 0.1
    angles = rng.normal(0, 0.05, (80, 3)).cumsum(axis=0) * 0.3
    near = posed_raw(shapes, angles, 0.35, (0.5, 0.5, 0.0))
    far_corner = posed_raw(shapes, angles, 0.08, (0.2, 0.8, 0.3), aspect=720 / 1280)
    a, _ = visual_features(near)
    b, _ = visual_features(far_corner, aspect=720 / 1280)
    assert np.abs(a).max() > 0.1 and np.abs(a - b).max() < 1e-4


def test_a_persons_own_face_shape_is_removed_by_the_neutral():
    rng = np.random.default_rng(4)
    identity = rng.normal(0, 0.03, (468, 3))  # another person: every point a few % off
    expression = rng.normal(0, 0.01, (60, 468, 3)).cumsum(axis=0) * 0.5
    angles = rng.normal(0, 0.03, (60, 3)).cumsum(axis=0)
    a, _ = visual_features(posed_raw(template() + expression, angles))
    b, _ = visual_features(posed_raw(template() + identity + expression, angles))
    deformation = slice(POSE_DIM, None)
    assert np.abs(a[:, deformation]).mean() > 0.1
    assert (
        np.abs(a[:, deformation] - b[:, deformation]).mean()
        < 0.05 * np.abs(a[:, deformation]).mean()
    )
    assert np.abs(a[:, :POSE_DIM] - b[:, :POSE_DIM]).max() < 0.01


@pytest.mark.parametrize("seed", range(3))
def test_streaming_in_any_chunks_equals_the_whole_clip(seed):
    rng = np.random.default_rng(seed)
    frames = 400
    shapes = template() + rng.normal(0, 0.01, (frames, 468, 3)).cumsum(axis=0) * 0.05
    angles = rng.normal(0, 0.02, (frames, 3)).cumsum(axis=0)
    centres = np.c_[0.5 + rng.normal(0, 0.003, (frames, 2)).cumsum(axis=0), np.zeros(frames)]
    raw = np.concatenate(
        [posed_raw(shapes[i : i + 1], angles[i : i + 1], 0.25, centres[i]) for i in range(frames)]
    )
    raw[rng.random(frames) < 0.1] = np.nan  # lost frames
    raw[150:240] = np.nan  # 3.6 s without a face: a new neutral afterwards
    offline, valid = visual_features(raw, aspect=0.75)
    speaker, parts, position = SpeakerFeatures(), [], 0
    while position < frames:
        size = int(rng.choice([1, 2, 7, 8, 25, int(rng.integers(1, 60))]))
        parts.append(speaker(raw[position : position + size], aspect=0.75))
        position += size
    assert np.array_equal(np.concatenate([f for f, _ in parts]), offline)
    assert np.array_equal(np.concatenate([v for _, v in parts]), valid)
    first_after_gap = 240 + np.flatnonzero(valid[240:])[0]
    assert np.abs(offline[first_after_gap]).max() < 1e-6  # after the long gap: a new neutral
    speaker.reset()
    assert np.array_equal(speaker(raw, aspect=0.75)[0], offline)


def test_frames_without_a_face_leave_the_neutral_untouched():
    rng = np.random.default_rng(5)
    shapes = template() + rng.normal(0, 0.01, (120, 468, 3)).cumsum(axis=0) * 0.05
    raw = posed_raw(shapes, rng.normal(0, 0.02, (120, 3)).cumsum(axis=0))
    gappy = raw.copy()
    lost = np.zeros(120, bool)
    lost[[5, 6, 40, 41, 42, 90]] = True
    gappy[lost] = np.nan
    gappy[41, :10] = 0.5  # a corrupt detection: not a face either
    gappy[42] = 0.5  # every point in one place: degenerate, not a division by zero
    features, valid = visual_features(gappy.astype(np.float16))
    assert (valid == ~lost).all() and not features[lost].any() and np.isfinite(features).all()
    assert np.allclose(features[~lost], visual_features(raw[~lost].astype(np.float16))[0])
    features, valid = visual_features(np.full((2, 468, 3), np.nan))
    assert features.shape == (2, VISUAL_FEATURE_DIM) and not features.any() and not valid.any()
    features, valid = visual_features(np.zeros((0, 468, 3)))
    assert features.shape == (0, VISUAL_FEATURE_DIM) and valid.shape == (0,)


def test_one_glitch_barely_moves_the_neutral():
    rng = np.random.default_rng(6)
    shapes = template() + rng.normal(0, 0.002, (100, 468, 3))
    raw = posed_raw(shapes, np.zeros((100, 3)))
    glitch = raw.copy()
    glitch[50] = posed_raw(template()[None] + rng.normal(0, 0.3, (1, 468, 3)), [[0.6, -0.5, 0.4]])
    a, _ = visual_features(raw)
    b, _ = visual_features(glitch)
    after = slice(51, None)
    assert np.abs(a[after] - b[after]).max() < 2 * DEFORMATION_GAIN * 0.05 / 50


def test_mirrored_image_negates_yaw_roll_and_motion_x_and_swaps_sides():
    rng = np.random.default_rng(0)
    shapes = template() + rng.normal(0, 0.02, (30, 468, 3))  # asymmetric expressions
    angles = rng.normal(0, 0.1, (30, 3))
    raw = (
        posed_raw(shapes, angles, centre=(0.42, 0.5, 0.0))
        + np.c_[rng.normal(0, 0.01, (30, 2)), np.zeros(30)][:, None]
    )
    f, _ = visual_features(raw)
    f_flip, _ = visual_features(mirrored(raw))
    assert np.allclose(f_flip[:, [0, 4, 5]], f[:, [0, 4, 5]], atol=1e-5)  # pitch, y, scale
    assert np.allclose(f_flip[:, [1, 2, 3]], -f[:, [1, 2, 3]], atol=1e-5)  # yaw, roll, x
    deformation = f[:, POSE_DIM:].reshape(30, -1, 3)
    flipped = f_flip[:, POSE_DIM:].reshape(30, -1, 3)
    position = {point: k for k, point in enumerate(FEATURE_LANDMARKS)}
    pairs = [
        (k, position[MIRROR[p]]) for k, p in enumerate(FEATURE_LANDMARKS) if MIRROR[p] in position
    ]
    assert len(pairs) > 100
    for k, m in pairs:
        assert np.allclose(flipped[:, m], deformation[:, k] * [-1, 1, 1], atol=1e-4)


def test_column_groups_cover_every_column_once():
    covered = np.concatenate([np.arange(VISUAL_FEATURE_DIM)[s] for s in COLUMN_GROUPS.values()])
    assert np.array_equal(covered, np.arange(VISUAL_FEATURE_DIM))
    assert list(COLUMN_GROUPS)[:2] == ["rotation", "motion"]


def test_bad_landmark_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(T, 468, 3\)"):
        visual_features(np.zeros((5, 68, 2)))


# ---- audio ----------------------------------------------------------------------------


def test_audio_features_have_two_steps_per_video_frame_and_silence_is_documented():
    samples = np.random.default_rng(0).normal(0, 0.1, size=10 * 640 + 100).astype(np.float32)
    features = audio.audio_features(samples)
    assert features.shape == (20, audio.AUDIO_FEATURE_DIM) and features.dtype == np.float32
    silent = audio.audio_features(np.zeros(640))
    assert np.array_equal(silent, audio.silence(2))
    assert np.allclose(silent[:, : audio.N_MELS], np.log(audio.LOG_FLOOR))
    assert np.all(silent[:, audio.N_MELS :] == 0)


def test_audio_features_are_causal():
    rng = np.random.default_rng(1)
    samples = voice(rng.uniform(90, 200, 8), seconds=1.0)
    reference = audio.audio_features(samples)
    for j in (0, 5, 31):
        changed = samples.copy()
        changed[(j + 1) * audio.HOP :] = rng.normal(0, 0.5, size=len(samples) - (j + 1) * 320)
        out = audio.audio_features(changed)
        assert np.array_equal(out[: j + 1], reference[: j + 1])
        assert not np.allclose(out[j + 1], reference[j + 1])


def test_sine_peaks_in_the_mel_band_of_its_frequency():
    t = np.arange(16000) / 16000
    features = audio.audio_features(0.5 * np.sin(2 * np.pi * 1000 * t))[:, : audio.N_MELS]
    centres = audio.mel_filterbank().argmax(axis=0) * 16000 / audio.N_FFT
    peak = features[10:].mean(axis=0).argmax()
    assert abs(centres[peak] - 1000) < 100


@pytest.mark.parametrize("seed", range(4))
def test_streaming_audio_features_equal_offline_for_random_chunks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3000, 40000))
    samples = voice(rng.uniform(80, 250, 6), n / 16000) + rng.normal(0, 0.02, n)
    offline = audio.audio_features(samples.astype(np.float32))
    stream = audio.StreamingAudioFeatures()
    outputs, position = [], 0
    while position < len(samples):
        size = int(rng.choice([1, 7, 319, 320, 321, 1000, int(rng.integers(1, 5000))]))
        outputs.append(stream(samples[position : position + size].astype(np.float32)))
        position += size
    streamed = np.concatenate(outputs)
    assert streamed.shape == offline.shape
    assert np.abs(streamed - offline).max() <= 1e-5
    assert stream.steps_emitted == len(offline)
    assert offline[:, audio.N_MELS].mean() > 0.3  # the voice was heard as voiced


def voice(f0s, seconds: float, gain: float = 0.3, pauses: bool = True) -> np.ndarray:
    """A buzzy vowel-like voice at 16 kHz whose pitch steps through `f0s` (Hz) in equal
    parts, each ending in a silent fifth (the pause after a phrase) when `pauses`."""
    rate = 16000
    n = int(seconds * rate)
    part = n // len(f0s)
    f0 = np.repeat(np.asarray(f0s, float), part)
    f0 = np.concatenate([f0, np.full(n - len(f0), f0[-1])])
    phase = 2 * np.pi * np.cumsum(f0) / rate
    buzz = sum(np.sin(k * phase) / k for k in range(1, 12))  # harmonics, as a glottal source
    gaps = ((np.arange(n) % part) > 0.8 * part) & pauses
    return (gain * buzz * ~gaps).astype(np.float32)


def test_pitch_is_found_within_a_semitone_across_the_voice_range():
    for f0 in (70.0, 100.0, 160.0, 250.0, 380.0):
        voiced, pitch, _ = audio._pitch(audio_frames(voice([f0], 0.5, pauses=False)))
        assert voiced[2:].all(), f0
        assert np.abs(np.exp(pitch[2:]) / f0 - 1).max() < 0.06, f0
    noise = np.random.default_rng(0).normal(0, 0.1, 8000)
    brown = np.cumsum(noise) / 30  # room rumble swings slowly: it must not count as a voice
    for unvoiced in (noise, brown, 0.3 * np.sin(2 * np.pi * 60 * np.arange(8000) / 16000)):
        assert audio._pitch(audio_frames(unvoiced))[0][2:].mean() < 0.05


def audio_frames(samples: np.ndarray) -> np.ndarray:
    """The PITCH_WINDOW frames of the steps of `samples`."""
    starts = np.arange(0, len(samples) - audio.PITCH_WINDOW + 1, audio.HOP)
    return samples[starts[:, None] + np.arange(audio.PITCH_WINDOW)].astype(np.float64)


def test_prosody_follows_the_speaker_s_own_voice_not_the_microphone_or_the_person():
    prosody = slice(audio.N_MELS, None)
    calm = [110.0] * 10
    excited = calm + [135.0] * 4  # the same person, pitch raised by 20 % for 4 s
    base = audio.audio_features(voice(excited, 14.0))[:, prosody]
    # a 4x louder microphone: the same prosody (loudness is measured against the speaker)
    louder = audio.audio_features(voice(excited, 14.0, gain=1.2))[:, prosody]
    assert np.abs(louder - base).max() < 1e-4
    # a deeper voice telling the same: the same prosody, as pitch is against its own baseline
    deeper = audio.audio_features(voice(np.array(excited) * 0.7, 14.0))[:, prosody]
    assert np.abs(deeper[:, 3] - base[:, 3]).max() < 0.02
    # during the calm part the pitch level is at the baseline; 2 s into the rise it is up by
    # most of ln 1.2 = 0.18 and stays there through the pauses
    steps = audio.STEPS_PER_SECOND
    assert np.abs(base[5 * steps : 10 * steps, 3]).max() < 0.03
    assert 0.1 < base[12 * steps, 3] < 0.19 and base[14 * steps - 1, 3] > 0.1
    assert np.all(base[base[:, 0] == 0, 1:3] == 0)  # pitch and loudness only where voiced
    # a new session (reset) forgets the speaker
    stream = audio.StreamingAudioFeatures()
    stream(voice([200.0], 3.0))
    stream.reset()
    assert np.array_equal(stream(voice(excited, 14.0))[:, prosody], base)


def test_44k1_stereo_wav_resamples_to_16k_mono_with_the_same_pitch(tmp_path):
    rate, seconds, pitch = 44100, 1.5, 440.0
    t = np.arange(int(rate * seconds)) / rate
    left = 0.3 * np.sin(2 * np.pi * pitch * t)
    stereo = np.stack([left, 0.5 * left], axis=1)
    path = tmp_path / "speaker.wav"
    soundfile.write(path, stereo, rate, subtype="FLOAT")
    samples = audio.load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == 24000
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    assert np.fft.rfftfreq(len(samples), 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=1)
    assert np.abs(samples[2000:-2000]).max() == pytest.approx(0.225, abs=0.005)  # mono mean


def test_unreadable_audio_names_the_file(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"not a wav")
    with pytest.raises(ValueError, match="broken.wav"):
        audio.load_audio(path)


def through_virtual_camera(vertices, distance=0.55, fov_degrees=24.0, size=256):
    """Rig vertices (T, 468, 3) in metres, face frame -> raw MediaPipe landmarks (pinhole)."""
    focal = size / 2 / np.tan(np.radians(fov_degrees) / 2)  # pixels
    depth = distance - vertices[..., 2]
    x = size / 2 + focal * vertices[..., 0] / depth
    y = size / 2 - focal * vertices[..., 1] / depth
    centre_depth = depth.mean(axis=1, keepdims=True)
    z = (depth - centre_depth) * focal / centre_depth  # pixels, like x
    return np.stack([x, y, z], axis=-1) / size


def test_rig_head_pose_and_expression_map_to_pose_and_deformation_columns():
    from reactface_core.face.models import ARKIT_BLENDSHAPES
    from reactface_core.face.rig import ArkitRig

    rig = ArkitRig()
    jaw_open = ARKIT_BLENDSHAPES.index("jawOpen")
    coefficients = np.zeros((5, 58), np.float32)  # neutral, jaw, posed, posed + jaw, other
    coefficients[[1, 3], jaw_open] = 1.0
    coefficients[[2, 3], 52:55] = [0.2, -0.3, 0.15]  # pitch, yaw, roll
    coefficients[4, 52:55] = [-0.15, 0.35, -0.1]
    faces = align_faces(through_virtual_camera(rig.vertices(coefficients)))
    assert faces.valid.all()
    # head pose of the rig comes back (perspective and the neck pivot cost a little)
    pose = faces.head_pose()
    assert np.abs(pose - coefficients[:, 52:55]).max() < 0.05
    # an open jaw is deformation, not head pose, and nearly the same at any head pose
    assert np.abs(pose[1] - pose[0]).max() < 0.02
    shape = faces.shape[:, FEATURE_LANDMARKS] * DEFORMATION_GAIN
    frontal_jaw, posed_jaw = shape[1] - shape[0], shape[3] - shape[2]
    assert np.abs(frontal_jaw).max() > 1.0
    assert np.abs(posed_jaw - frontal_jaw).mean() < 0.15 * np.abs(frontal_jaw).mean()
    # seen from far away (no perspective) the neutral rig face is the template itself
    far = through_virtual_camera(rig.vertices(coefficients[:1]), 55.0, 24.0 * 0.55 / 55.0)
    assert np.abs(align_faces(far).shape - template()).max() < 0.001
