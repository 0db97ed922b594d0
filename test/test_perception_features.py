"""Visual features (contract 2) and log-mel audio features (contract 3)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from reactface_core.face.mesh import canonical_mesh
from reactface_core.perception import audio
from reactface_core.perception.landmarks import (
    ANCHOR_LANDMARKS,
    CAMERA_TO_FACE,
    DEFORMATION_GAIN,
    FEATURE_LANDMARKS,
    POSE_DIM,
    VISUAL_FEATURE_DIM,
    euler_to_rotation,
    normalize_landmarks,
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


def test_known_pose_is_recovered_and_neutral_face_has_zero_deformation():
    angles = np.array([[0.0, 0.0, 0.0], [0.2, -0.4, 0.1], [-0.3, 0.5, -0.25]])
    frames = np.repeat(template()[None], 3, axis=0)
    raw = posed_raw(frames, angles, scale=0.25 * np.e**0.5, centre=(0.6, 0.45, 0.1))
    features, valid = visual_features(raw)
    assert features.shape == (3, VISUAL_FEATURE_DIM) and features.dtype == np.float32
    assert valid.all()
    assert np.allclose(features[:, :3], angles, atol=1e-5)
    assert np.allclose(features[:, 3:5], [0.1, -0.05], atol=1e-5)
    assert np.allclose(features[:, 5], 0.5, atol=1e-5)  # log(scale / 0.25)
    assert np.abs(features[:, POSE_DIM:]).max() < 1e-4


def test_non_square_image_aspect_is_undone():
    frames = template()[None]
    raw = posed_raw(frames, [[0.1, 0.3, -0.2]], centre=(0.5, 0.6, 0.0), aspect=600 / 512)
    features, _ = visual_features(raw, aspect=600 / 512)
    assert np.allclose(features[0, :3], [0.1, 0.3, -0.2], atol=1e-5)
    assert features[0, 4] == pytest.approx(0.6 / (600 / 512) - 0.5, abs=1e-5)


def test_expression_changes_deformation_not_pose():
    neutral = template()
    open_mouth = neutral.copy()
    jaw = np.array([14, 17, 84, 87, 152, 148, 176, 377, 400, 178, 181, 317, 314, 402, 405])
    open_mouth[jaw, 1] += 0.15  # drop the lower lip and chin by 0.15 eye distances
    raw = posed_raw(np.stack([neutral, open_mouth]), [[0.1, 0.2, 0.0]] * 2)
    features, _ = visual_features(raw)
    assert np.allclose(features[0, :POSE_DIM], features[1, :POSE_DIM], atol=1e-6)
    deformation = features[1, POSE_DIM:].reshape(-1, 3)
    moved = np.isin(FEATURE_LANDMARKS, jaw)
    assert np.allclose(deformation[moved, 1], 0.15 * DEFORMATION_GAIN, atol=1e-4)
    assert np.abs(deformation[~moved]).max() < 1e-4


def test_mirrored_image_negates_yaw_roll_and_tx_and_swaps_sides():
    rng = np.random.default_rng(0)
    shape = template() + rng.normal(0, 0.02, size=(468, 3))  # an asymmetric expression
    raw = posed_raw(shape[None], [[0.15, 0.35, -0.2]], centre=(0.42, 0.5, 0.0))
    (f, f_flip), valid = visual_features(np.concatenate([raw, mirrored(raw)]))
    assert valid.all()
    assert f_flip[0] == pytest.approx(f[0], abs=1e-5)  # pitch
    assert f_flip[1:3] == pytest.approx(-f[1:3], abs=1e-5)  # yaw, roll
    assert f_flip[3] == pytest.approx(-f[3], abs=1e-5)  # tx
    assert f_flip[4:6] == pytest.approx(f[4:6], abs=1e-5)  # ty, log-scale
    shape, _, _ = normalize_landmarks(np.concatenate([raw, mirrored(raw)]))
    assert np.allclose(shape[1][MIRROR] * [-1, 1, 1], shape[0], atol=1e-6)


def test_frames_without_face_are_zero_and_invalid():
    raw = posed_raw(np.repeat(template()[None], 5, axis=0), np.zeros((5, 3)))
    raw[1] = np.nan
    raw[3, 100] = np.nan
    raw[4] = 0.5  # every point in one place: no face, not a division by zero
    features, valid = visual_features(raw.astype(np.float16))
    assert valid.tolist() == [True, False, True, False, False]
    assert not features[[1, 3, 4]].any()
    assert np.isfinite(features).all()
    shape, pose, valid = normalize_landmarks(np.full((2, 468, 3), np.nan))
    assert not valid.any() and np.isnan(shape).all() and not pose.any()
    features, valid = visual_features(np.full((2, 468, 3), np.nan))
    assert features.shape == (2, VISUAL_FEATURE_DIM) and not features.any() and not valid.any()
    features, valid = visual_features(np.zeros((0, 468, 3)))
    assert features.shape == (0, VISUAL_FEATURE_DIM) and valid.shape == (0,)


def test_bad_landmark_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(T, 468, 3\)"):
        visual_features(np.zeros((5, 68, 2)))


# ---- audio ----------------------------------------------------------------------------


def test_log_mel_has_two_steps_per_video_frame_and_documented_range():
    samples = np.random.default_rng(0).normal(0, 0.1, size=10 * 640 + 100).astype(np.float32)
    features = audio.log_mel(samples)
    assert features.shape == (20, audio.AUDIO_FEATURE_DIM) and features.dtype == np.float32
    silent = audio.log_mel(np.zeros(640))
    assert np.allclose(silent, np.log(audio.LOG_FLOOR))


def test_log_mel_is_causal():
    rng = np.random.default_rng(1)
    samples = rng.normal(0, 0.1, size=16000)
    reference = audio.log_mel(samples)
    for j in (0, 5, 31):
        changed = samples.copy()
        changed[(j + 1) * audio.HOP :] = rng.normal(0, 0.5, size=len(samples) - (j + 1) * 320)
        out = audio.log_mel(changed)
        assert np.array_equal(out[: j + 1], reference[: j + 1])
        assert not np.allclose(out[j + 1], reference[j + 1])


def test_sine_peaks_in_the_mel_band_of_its_frequency():
    t = np.arange(16000) / 16000
    features = audio.log_mel(0.5 * np.sin(2 * np.pi * 1000 * t))
    centres = audio.mel_filterbank().argmax(axis=0) * 16000 / audio.N_FFT
    peak = features[10:].mean(axis=0).argmax()
    assert abs(centres[peak] - 1000) < 100


@pytest.mark.parametrize("seed", range(4))
def test_streaming_log_mel_equals_offline_for_random_chunks(seed):
    rng = np.random.default_rng(seed)
    samples = rng.normal(0, 0.2, size=int(rng.integers(3000, 40000))).astype(np.float32)
    offline = audio.log_mel(samples)
    stream = audio.StreamingLogMel()
    outputs, position = [], 0
    while position < len(samples):
        size = int(rng.choice([1, 7, 319, 320, 321, 1000, int(rng.integers(1, 5000))]))
        outputs.append(stream(samples[position : position + size]))
        position += size
    streamed = np.concatenate(outputs)
    assert streamed.shape == offline.shape
    assert np.abs(streamed - offline).max() <= 1e-5
    assert stream.steps_emitted == len(offline)


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
    features, valid = visual_features(through_virtual_camera(rig.vertices(coefficients)))
    assert valid.all()
    # head pose of the rig comes back (perspective and the neck pivot cost a little)
    assert np.abs(features[:, :3] - coefficients[:, 52:55]).max() < 0.05
    assert -0.2 < features[0, 5] < 0.6  # the virtual camera frames a face near reference size
    # an open jaw is deformation, not head pose, and nearly the same at any head pose
    assert np.abs(features[1, :3] - features[0, :3]).max() < 0.02
    frontal_jaw = features[1, POSE_DIM:] - features[0, POSE_DIM:]
    posed_jaw = features[3, POSE_DIM:] - features[2, POSE_DIM:]
    assert np.abs(frontal_jaw).max() > 1.0
    assert np.abs(posed_jaw - frontal_jaw).mean() < 0.15 * np.abs(frontal_jaw).mean()
    # seen from far away (no perspective) the neutral rig face is the template itself
    far = through_virtual_camera(rig.vertices(coefficients[:1]), 55.0, 24.0 * 0.55 / 55.0)
    assert np.abs(visual_features(far)[0][0, POSE_DIM:]).max() < 0.01
