"""Face landmarks from real images and videos with the legacy MediaPipe face mesh."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from reactface_core.perception.face_tracker import (  # noqa: E402
    FaceLandmarker,
    landmarks_from_video,
    read_frames,
)
from reactface_core.perception.landmarks import align_faces, visual_features  # noqa: E402


@pytest.fixture(scope="module")
def static():
    with FaceLandmarker(mode="image") as landmarker:
        yield landmarker


def grace_hopper() -> np.ndarray:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


def test_shipped_portraits_give_468_landmarks_inside_the_face(static):
    astronaut = skimage_data.astronaut()  # 512 x 512, face around x 170-270, y 60-180
    raw = static(astronaut)
    assert raw.shape == (468, 3) and raw.dtype == np.float32 and np.isfinite(raw).all()
    x, y = raw[:, 0] * 512, raw[:, 1] * 512
    assert 150 < x.min() < x.max() < 290 and 40 < y.min() < y.max() < 200
    assert raw[33, 0] < raw[263, 0] and raw[10, 1] < raw[152, 1] < raw[0, 1] + 0.2
    hopper = grace_hopper()  # 600 x 512 (H x W)
    faces = align_faces(static(hopper)[None], aspect=600 / 512)
    assert faces.valid.all()
    assert np.abs(faces.head_pose()).max() < 0.3  # a near-frontal portrait
    assert 0.1 < faces.scale[0] < 0.4  # outer eye corners ~ a fifth of the image width apart


def test_flipped_and_rotated_images_give_mirrored_and_rolled_pose(static):
    image = skimage_data.astronaut()
    rotation = cv2.getRotationMatrix2D((256, 256), 20, 1.0)  # 20 deg counter-clockwise
    rolled = cv2.warpAffine(image, rotation, (512, 512), borderMode=cv2.BORDER_REFLECT)
    frames = [image, image[:, ::-1], rolled, rolled[:, ::-1]]
    faces = align_faces(np.stack([static(f) for f in frames]))
    assert faces.valid.all()
    pose = faces.head_pose()
    for original, mirror in ((0, 1), (2, 3)):
        assert pose[mirror, 0] == pytest.approx(pose[original, 0], abs=0.03)  # pitch
        assert pose[mirror, 1] == pytest.approx(-pose[original, 1], abs=0.03)  # yaw
        assert pose[mirror, 2] == pytest.approx(-pose[original, 2], abs=0.03)  # roll
        assert faces.centre[mirror, 0] == pytest.approx(1 - faces.centre[original, 0], abs=0.01)
        assert faces.scale[mirror] == pytest.approx(faces.scale[original], rel=0.03)
    # counter-clockwise on screen lifts the subject's left side: + roll
    assert pose[2, 2] - pose[0, 2] == pytest.approx(np.deg2rad(20), abs=np.deg2rad(2.5))
    # rotation is not expression: the rolled face is the upright one, as speaker features
    features, valid = visual_features(np.stack([static(f) for f in (image, rolled)]))
    turned = np.deg2rad(20) - 0.1 / 2  # the neutral moved half a clipped step toward it
    assert valid.all() and np.abs(features[1, :3] - [0, 0, turned]).max() < 0.04
    assert np.abs(features[1, 6:]).mean() < 0.1


def test_images_without_a_face_are_masked_not_errors(static):
    for image in (skimage_data.coffee(), np.zeros((256, 256, 3), np.uint8)):
        raw = static(image)
        assert raw.shape == (468, 3) and np.isnan(raw).all()
        features, valid = visual_features(raw[None])
        assert not valid[0] and not features.any()


def test_largest_face_is_the_speaker(static):
    astronaut, hopper = skimage_data.astronaut(), grace_hopper()[50:550, 6:506]
    for crop, speaker_on_left in (((40, 240, 110, 310), True), ((0, 320, 60, 380), False)):
        canvas = np.zeros((512, 1024, 3), np.uint8)
        y0, y1, x0, x1 = crop
        canvas[:, :512] = cv2.resize(astronaut[y0:y1, x0:x1], (512, 512))
        canvas[:, 512:] = cv2.resize(hopper, (512, 512))
        faces = static._mesh.process(canvas).multi_face_landmarks
        assert len(faces) == 2  # both seen; MediaPipe lists the right one first here
        x = np.nanmean(static(canvas)[:, 0])
        assert (x < 0.5) == speaker_on_left


def test_input_formats_and_bad_shapes(static):
    gray = cv2.cvtColor(cv2.resize(skimage_data.astronaut(), (256, 256)), cv2.COLOR_RGB2GRAY)
    assert np.isfinite(static(gray)).all()
    rgba = np.dstack([skimage_data.astronaut(), np.full((512, 512), 255, np.uint8)])
    assert np.isfinite(static(rgba / 255.0)).all()  # float in [0, 1], alpha dropped
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        static(np.zeros((10, 10, 5), np.uint8))
    with pytest.raises(ValueError, match="'video'"):
        FaceLandmarker(mode="fast")


def far_frame(portrait: np.ndarray, scale: float, shift=(0.0, 0.0)):
    """The portrait scaled by `scale` onto a 1280x720 gray frame at (500, 300) + shift:
    (frame, the 2x3 map from portrait to frame pixels)."""
    paste = np.float32([[scale, 0, 500 + shift[0]], [0, scale, 300 + shift[1]]])
    frame = cv2.warpAffine(portrait, paste, (1280, 720), borderValue=(110, 110, 110))
    return frame, paste


def test_far_faces_are_found_on_a_crop_and_mapped_back_to_the_frame(static):
    hopper = grace_hopper()  # 600 x 512 (H x W)
    near = static(hopper)
    height = np.ptp(near[:, 1]) * 600  # the face's landmark box height, pixels
    # the face 0.075 of the frame's longer side: below what the mesh's detector finds
    frame, paste = far_frame(hopper, 0.075 * 1280 / height)
    assert np.isnan(static(frame)).all()
    with FaceLandmarker(mode="image", far_faces=True) as far:
        raw = far(frame)
    assert raw.shape == (468, 3) and np.isfinite(raw).all()
    # where the full-size face's landmarks land in the frame, pixels (z in x's pixels)
    expected = np.c_[near[:, :2] * [512, 600], np.ones(468)] @ paste.T
    found = raw[:, :2] * [1280, 720]
    assert np.abs(found - expected).mean() < 0.05 * 0.075 * 1280  # within 5 % of the face
    depth_near = (near[:, 2] - near[:, 2].mean()) * 512 * paste[0, 0]
    depth_far = (raw[:, 2] - raw[:, 2].mean()) * 1280
    assert np.corrcoef(depth_near, depth_far)[0, 1] > 0.9
    assert np.abs(depth_far).max() == pytest.approx(np.abs(depth_near).max(), rel=0.3)


def test_a_face_the_mesh_finds_stays_the_meshs_however_small(static, monkeypatch):
    """The model learnt from the mesh's readings: a face the mesh finds, near or under
    MESH_MIN_FACE, is not read again on the crop (the limit raised here, so that a face
    the mesh surely finds counts as small)."""
    from reactface_core.perception import face_tracker

    frame = cv2.resize(skimage_data.astronaut(), (640, 640))
    mesh = static(frame)
    assert np.isfinite(mesh).all()
    with FaceLandmarker(mode="image", far_faces=True) as far:
        assert np.array_equal(far(frame), mesh)  # a near face
        monkeypatch.setattr(face_tracker, "MESH_MIN_FACE", 0.9)
        assert np.array_equal(far(frame), mesh)  # the same face, counted as small


def test_a_far_face_is_tracked_across_frames():
    hopper = grace_hopper()
    scale = 0.075 * 1280 / (0.45 * 600)  # about as far as above
    shifts = [(8.0 * k, 3.0 * k) for k in range(12)]
    frames = [far_frame(hopper, scale, shift)[0] for shift in shifts]
    blank = np.full((720, 1280, 3), 110, np.uint8)
    with FaceLandmarker(mode="video", far_faces=True) as far:
        raw = far.track(frames + [blank])
    assert np.isfinite(raw[:-1]).all() and np.isnan(raw[-1]).all()
    moved = (raw[:-1, :, :2].mean(axis=1) - raw[0, :, :2].mean(axis=0)) * [1280, 720]
    assert np.abs(moved - np.array(shifts)).max() < 2.0  # pixels


def test_a_far_face_the_mesh_reads_too_large_is_read_on_the_crop():
    """Right after the mesh finds a far face it reads it too large (1.5-1.7 times): a face
    that seems to grow by more than FAR_FACE_GROWTH from one frame to the next, whether the
    crop or the mesh read it last, is read on the crop; one that grows less, or a larger
    face elsewhere (the speaker is the largest), is the mesh's, bit for bit."""
    from reactface_core.perception.face_tracker import FAR_FACE_GROWTH

    hopper = grace_hopper()
    frame, _ = far_frame(hopper, 0.075 * 1280 / (0.45 * 600))
    pixels = np.array([1280, 720, 1280], np.float32)

    def grown(face, factor, shift=(0.0, 0.0)):  # (468, 3) scaled about the box centre
        points = face * pixels
        centre = (points.min(axis=0) + points.max(axis=0)) / 2
        moved = centre + (points - centre) * factor + np.array([*shift, 0.0], np.float32)
        return (moved / pixels).astype(np.float32)

    with FaceLandmarker(mode="video", far_faces=True) as far:
        followed = far(frame)  # the mesh finds no face this small: the crop reads it
        assert np.isfinite(followed).all()
        too_large = grown(followed, 1.5)
        read = far._far.read(frame, too_large)
        assert np.abs(read - followed)[:, :2].max() * 1280 < 2.0  # the crop's, pixels
        slightly = grown(read, 0.98 * FAR_FACE_GROWTH)
        assert np.array_equal(far._far.read(frame, slightly), slightly)  # the mesh's
        jump = far._far.read(frame, grown(slightly, 1.5))  # the mesh's own last face, grown
        assert np.abs(jump - followed)[:, :2].max() * 1280 < 2.0  # read on the crop
        assert np.isfinite(far(frame)).all()  # the far face is searched for afresh
        elsewhere = grown(far._far.read(frame, None), 1.5, shift=(-300.0, 0.0))
        assert np.array_equal(far._far.read(frame, elsewhere), elsewhere)


def write_video(path, frames, fps=25.0):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_tracking_a_video_gives_stable_landmarks_that_follow_the_face(tmp_path):
    face = cv2.resize(skimage_data.astronaut(), (256, 256))
    shifts = np.concatenate([np.zeros(10), np.arange(1.0, 21.0), np.full(10, 20.0)])
    frames = [
        cv2.warpAffine(face, np.float32([[1, 0, s], [0, 1, 0]]), (256, 256),
                       borderMode=cv2.BORDER_REFLECT)
        for s in shifts
    ]  # fmt: skip
    write_video(tmp_path / "clip.mp4", frames)
    raw = landmarks_from_video(tmp_path / "clip.mp4")
    assert raw.shape == (40, 468, 3) and np.isfinite(raw).all()
    centre_x = raw[:, :, 0].mean(axis=1) * 256
    assert np.abs(centre_x - centre_x[0] - shifts).max() < 1.0  # pixels
    still = np.concatenate([np.diff(raw[:10], axis=0), np.diff(raw[-10:], axis=0)])
    assert np.abs(still[..., :2]).mean() * 256 < 0.3  # mean jitter of a still face, pixels
    features, valid = visual_features(raw)
    assert valid.all() and features[:, :3].std(axis=0).max() < 0.02  # steady head pose


def test_video_frame_rate_is_resampled_to_25_fps(tmp_path):
    def numbered(n):  # frame k has brightness 10 k
        return [np.full((64, 64, 3), 10 * k, np.uint8) for k in range(n)]

    write_video(tmp_path / "fast.mp4", numbered(20), fps=50)
    write_video(tmp_path / "slow.mp4", numbered(4), fps=10)
    fast = [int(round(f.mean() / 10)) for f in read_frames(tmp_path / "fast.mp4")]
    slow = [int(round(f.mean() / 10)) for f in read_frames(tmp_path / "slow.mp4")]
    assert fast == list(range(0, 20, 2))
    assert slow == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(numbered(3)):
        cv2.imwrite(str(folder / f"{k:04d}.png"), frame)
    assert [int(f.mean() / 10) for f in read_frames(folder)] == [0, 1, 2]


def test_a_folder_of_unpadded_numbered_frames_is_read_in_frame_order(tmp_path):
    """REACT's frame folders hold 1.png, 2.png, ..., 10.png: by number, not by name (by name
    10.png would come second), as `react.load_video` reads the same folder."""
    from reactface_core.data.react import load_video

    for k in range(12):  # frame k has brightness 10 k
        cv2.imwrite(str(tmp_path / f"{k + 1}.png"), np.full((64, 64, 3), 10 * k, np.uint8))
    expected = list(range(12))
    assert [int(f.mean() / 10) for f in read_frames(tmp_path)] == expected
    assert [int(f.mean() / 10) for f in load_video(tmp_path)] == expected


def test_unreadable_video_names_the_file(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="broken.mp4"):
        landmarks_from_video(broken)
    with pytest.raises(ValueError, match="missing.mp4"):
        landmarks_from_video(tmp_path / "missing.mp4")
