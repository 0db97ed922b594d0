"""REACT layout I/O and the torch Dataset, on a tiny dataset built in the exact layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import soundfile
import torch

from reactface_core.checkpoint import Normalisation
from reactface_core.data import react
from reactface_core.data.dataset import (
    ReactDataset,
    collate,
    compute_normalisation,
    make_dataloader,
)
from reactface_core.data.world.camera import project
from reactface_core.face.models import get_face_model
from reactface_core.face.rig import ArkitRig
from reactface_core.face.scene import Camera
from reactface_core.metrics.motion import event_onsets
from reactface_core.perception import audio as audio_features
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM, visual_features

T = 40  # frames per clip (REACT clips have 751; small here for speed)
PAIRS = [
    ("NoXI/010_2016-03-25_Paris/Expert_video/1", "NoXI/010_2016-03-25_Paris/Novice_video/1"),
    ("NoXI/010_2016-03-25_Paris/Expert_video/2", "NoXI/010_2016-03-25_Paris/Novice_video/2"),
    ("RECOLA/group-1/P25/1", "RECOLA/group-1/P26/1"),
]
CLIPS = [clip for pair in PAIRS for clip in pair]
# Row i of the (2N, 2N) matrix: which items' listener reactions suit item i's speaker.
MATRIX = np.eye(6, dtype=np.float64)
MATRIX[0, [1, 4]] = 1
MATRIX[1, [0]] = 1
MATRIX[3, [5, 2]] = 1


def frame_image(t: int) -> np.ndarray:
    """A 256x256 BGR frame whose brightness encodes its index."""
    image = np.full((256, 256, 3), 20 + 5 * t, np.uint8)
    image[100:150, 100:150] = (0, 0, 255)
    return image


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """val split of a REACT-layout root: csv, matrix, 3D_FV, audio, video, landmarks."""
    root = tmp_path_factory.mktemp("react")
    base = root / "val"
    react.write_pairs(root, "val", [react.Pair(s, listener) for s, listener in PAIRS])
    np.save(root / "neighbour_emotion_val.npy", MATRIX)
    rng = np.random.default_rng(0)
    rig = ArkitRig()
    for k, clip in enumerate(CLIPS):

        def path(modality, clip=clip):
            file = react.modality_path(base, modality, clip)
            file.parent.mkdir(parents=True, exist_ok=True)
            return file

        coefficients = rng.normal(0.0, 0.3, (T, 58)).astype(np.float32)
        # REACT files sometimes carry a singleton axis: (T, 1, 58)
        np.save(path("coefficients"), coefficients[:, None] if k == 1 else coefficients)
        if clip.startswith("NoXI"):  # the challenge's 44.1 kHz, here stereo
            tone = np.sin(2 * np.pi * 220 * np.arange(int(44100 * T / 25)) / 44100) * 0.3
            soundfile.write(path("audio"), np.stack([tone, 0.5 * tone], 1), 44100)
        else:  # 16 kHz mono
            soundfile.write(path("audio"), rng.normal(0, 0.1, T * 640).astype(np.float32), 16000)
        arkit = np.zeros((T, 58), np.float32)
        arkit[:, 17] = np.linspace(0, 1, T)  # jawOpen
        arkit[:, 52:55] = rng.normal(0, 0.1, 3)
        landmarks = project(rig.vertices(arkit), Camera(distance=0.65))
        landmarks[5] = np.nan  # the detector lost the face on one frame
        np.save(path("landmarks"), landmarks.astype(np.float16))
        if clip.startswith("NoXI"):
            writer = cv2.VideoWriter(
                str(path("video")), cv2.VideoWriter_fourcc(*"mp4v"), 25, (256, 256)
            )
            for t in range(T):
                writer.write(frame_image(t))
            writer.release()
        else:
            folder = path("video").with_suffix("")
            folder.mkdir(parents=True)
            for t in range(T):
                cv2.imwrite(str(folder / f"{t + 1}.png"), frame_image(t))
    return root


def file(root, modality, clip):
    return react.modality_path(root / "val", modality, clip)


def test_csv_pairs_and_both_direction_items_follow_react(root):
    text = (root / "val.csv").read_text().splitlines()
    assert text[0] == ",speaker_path,listener_path"
    assert text[3] == "2,RECOLA/group-1/P25/1,RECOLA/group-1/P26/1"
    pairs = react.read_pairs(root, "val")
    assert [(p.speaker, p.listener) for p in pairs] == PAIRS
    items = react.items(pairs, "both")
    assert len(items) == 6 and items[:3] == pairs
    assert items[3] == react.Pair(PAIRS[0][1], PAIRS[0][0])  # item N + i mirrors row i
    assert react.items(pairs, "speaker_to_listener") == pairs
    info = react.read_info(root)  # no dataset.json: REACT's own conventions
    assert (info.face_model, info.directions) == ("faceverse58", "both")


def test_whole_clip_item_matches_the_files(root):
    dataset = ReactDataset(root, "val", window=None)
    assert len(dataset) == 6
    item = dataset[3]  # mirrored: the novice speaks, the expert listens
    speaker, listener = PAIRS[0][1], PAIRS[0][0]
    assert (item["speaker_path"], item["listener_path"]) == (speaker, listener)
    assert item["speaker_visual"].shape == (T, VISUAL_FEATURE_DIM)
    assert item["speaker_audio"].shape == (2 * T, audio_features.AUDIO_FEATURE_DIM)
    assert item["speaker_coefficients"].dtype == torch.float32
    stored = np.load(file(root, "coefficients", speaker))
    assert stored.shape == (T, 1, 58)  # squeezed on loading
    assert np.array_equal(item["speaker_coefficients"], stored[:, 0])
    listened = np.load(file(root, "coefficients", listener))
    assert np.array_equal(item["listener_coefficients"], listened)
    onsets = event_onsets(listened.reshape(T, 58), get_face_model("arkit58"))
    assert np.array_equal(item["listener_onsets"], onsets) and onsets.shape == (T, 2)

    raw = np.load(file(root, "landmarks", speaker)).astype(np.float32)
    features, valid = visual_features(raw)
    assert np.array_equal(item["speaker_visual"], features)
    assert np.array_equal(item["speaker_visual_valid"], valid) and not valid[5]

    # 44.1 kHz stereo -> 16 kHz mono -> causal audio features, 2 steps per frame
    wav = file(root, "audio", speaker)
    expected = audio_features.audio_features(audio_features.load_audio(wav))
    assert np.allclose(item["speaker_audio"], expected[: 2 * T], atol=1e-5)

    # appropriate reactions: the matrix row, own listener first, zero padded to K
    assert item["appropriate_index"].tolist() == [3, 2, 5] + [-1] * 5
    assert item["appropriate_valid"].tolist() == [True] * 3 + [False] * 5
    for k, other in enumerate([3, 2, 5]):
        reaction = np.load(file(root, "coefficients", dataset.items[other].listener)).reshape(T, 58)
        assert np.array_equal(item["appropriate"][k], reaction)
    assert item["appropriate"][3:].abs().sum() == 0
    assert item["listener_index"] == 3
    assert dataset.speaker_clips[item["speaker_index"]] == speaker


def test_random_windows_read_exactly_the_whole_clip_values(root):
    dataset = ReactDataset(root, "val", window=16, random_crop=True, seed=3)
    whole = ReactDataset(root, "val", window=None)
    starts = set()
    for index in (2, 5):  # RECOLA: 16 kHz mono wav read partially; NoXI: 44.1 kHz resampled
        for epoch in range(4):
            dataset.set_epoch(epoch)
            item, full = dataset[index], whole[index]
            s = item["start"]
            starts.add(s)
            assert 0 <= s <= T - 16
            assert torch.allclose(
                item["speaker_audio"], full["speaker_audio"][2 * s : 2 * s + 32], atol=1e-5
            )
            assert torch.equal(item["speaker_visual"], full["speaker_visual"][s : s + 16])
            assert torch.equal(item["appropriate"], full["appropriate"][:, s : s + 16])
    assert len(starts) > 2
    dataset.set_epoch(1)
    again = dataset[2]["start"]
    assert dataset[2]["start"] == again  # deterministic for (seed, epoch, index)


def test_loader_batches_are_identical_with_and_without_workers(root):
    def batches(workers):
        dataset = ReactDataset(root, "val", window=12, random_crop=True, seed=1)
        loader = make_dataloader(dataset, batch_size=4, workers=workers, seed=5)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 2
    for a, b in zip(serial, parallel, strict=True):
        assert a["speaker_path"] == b["speaker_path"]
        assert torch.equal(a["start"], b["start"])
        assert torch.equal(a["appropriate"], b["appropriate"])
    assert serial[0]["speaker_audio"].shape == (4, 24, audio_features.AUDIO_FEATURE_DIM)
    assert serial[0]["appropriate"].shape == (4, 8, 12, 58)
    assert serial[1]["appropriate"].shape == (2, 8, 12, 58)


def test_appropriate_sets_are_capped_at_k(root):
    evaluation = ReactDataset(root, "val", window=None, max_appropriate=2)
    assert evaluation[0]["appropriate_index"].tolist() == [0, 1]  # own, then the first other
    training = ReactDataset(root, "val", window=8, random_crop=True, max_appropriate=2)
    picked = set()
    for epoch in range(12):
        training.set_epoch(epoch)
        own, other = training[0]["appropriate_index"].tolist()
        assert own == 0
        picked.add(other)
    assert picked == {1, 4}  # random subsets of the others while training


def test_normalisation_standardises_with_the_given_statistics(root):
    plain = ReactDataset(root, "val", window=None)
    stats = compute_normalisation(plain)
    assert stats.coefficient_mean.shape == (58,)
    assert stats.audio_std.shape == (audio_features.AUDIO_FEATURE_DIM,)
    normalised = ReactDataset(root, "val", window=None, normalisation=stats)
    a, b = plain[1], normalised[1]
    expected = (a["listener_coefficients"].numpy() - stats.coefficient_mean) / stats.coefficient_std
    assert np.allclose(b["listener_coefficients"], expected, atol=1e-5)
    audio = (a["speaker_audio"].numpy() - stats.audio_mean) / stats.audio_std
    assert np.allclose(b["speaker_audio"], audio, atol=1e-4)
    valid = a["speaker_visual_valid"].numpy()
    assert np.all(b["speaker_visual"].numpy()[~valid] == 0)  # lost frames stay zero
    restored = Normalisation.from_dict(stats.to_dict())
    assert np.array_equal(restored.visual_std, stats.visual_std)


def test_cached_audio_features_are_used_when_present(root, tmp_path):
    import shutil

    copy = tmp_path / "react"
    shutil.copytree(root, copy)
    clip = PAIRS[2][0]
    cache = file(copy, "logmel", clip)
    cache.parent.mkdir(parents=True)
    dim = audio_features.AUDIO_FEATURE_DIM
    marker = np.arange(2 * T * dim, dtype=np.float32).reshape(2 * T, dim)
    np.save(cache, marker)
    item = ReactDataset(copy, "val", window=None)[2]
    assert np.array_equal(item["speaker_audio"], marker)


def test_video_files_and_frame_folders_load_in_order(root):
    mp4 = react.load_video(react.video_source(root / "val", PAIRS[0][0]))
    folder = react.video_source(root / "val", PAIRS[2][0])
    assert folder.is_dir()
    frames = react.load_video(folder)
    assert frames.shape == mp4.shape == (T, 256, 256, 3)
    assert frames[7, 0, 0, 0] == 20 + 5 * 7  # lossless PNG: exact, in numeric order (not 1, 10, 11)
    assert tuple(frames[7, 120, 120]) == (255, 0, 0)  # RGB
    brightness = mp4[:, :50, :50].mean(axis=(1, 2, 3))
    assert np.all(np.diff(brightness) > 2)  # lossy mp4: right order and content
    with pytest.raises(FileNotFoundError, match="neither .*Nobody/1.mp4 nor a frame folder"):
        react.video_source(root / "val", "Nobody/1")


def broken_copy(root, tmp_path, damage):
    import shutil

    copy = tmp_path / "react"
    shutil.copytree(root, copy)
    damage(copy)
    return copy


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (lambda r: file(r, "coefficients", PAIRS[0][1]).unlink(), FileNotFoundError,
         r"3D_FV file .*Novice_video/1.npy not found \(expected an .npy array \(T, 58\)\)"),
        (lambda r: file(r, "coefficients", PAIRS[0][1]).write_bytes(b"\x93NUMPY garbage"),
         ValueError, r"cannot read 3D_FV file .*Novice_video/1.npy"),
        (lambda r: np.save(file(r, "coefficients", PAIRS[0][1]), np.zeros((T, 52))), ValueError,
         r"has shape \(40, 52\), expected \(T, 58\)"),
        (lambda r: np.save(file(r, "landmarks", PAIRS[0][0]), np.zeros((T - 10, 468, 3))),
         ValueError, r"landmark file .*Expert_video/1.npy has 30 frames, expected at least 40"),
        (lambda r: np.save(file(r, "landmarks", PAIRS[0][0]), np.zeros((T, 68, 2))), ValueError,
         r"expected \(T, 468, 3\)"),
        (lambda r: file(r, "landmarks", PAIRS[0][0]).unlink(), FileNotFoundError,
         r"reactface prepare --data"),
        (lambda r: soundfile.write(file(r, "audio", PAIRS[0][0]), np.zeros(16000), 16000),
         ValueError, r"Expert_video/1.wav covers 1.00 s, expected at least 1.60 s"),
        (lambda r: file(r, "audio", PAIRS[0][0]).write_bytes(b"RIFF....WAVE"), ValueError,
         r"cannot read audio file .*Expert_video/1.wav"),
    ],
    ids=["missing", "corrupt", "wrong-dim", "short-landmarks", "bad-landmarks",
         "no-landmarks", "short-audio", "corrupt-audio"],
)  # fmt: skip
def test_bad_files_raise_errors_naming_the_file_and_the_expectation(
    root, tmp_path, damage, error, message
):
    dataset = ReactDataset(broken_copy(root, tmp_path, damage), "val", window=None)
    with pytest.raises(error, match=message):
        dataset[0]


def test_bad_csv_and_matrix_are_refused(root, tmp_path):
    bad = broken_copy(root, tmp_path, lambda r: (r / "val.csv").write_text("a,b\n1,2\n"))
    with pytest.raises(ValueError, match="expected ',speaker_path,listener_path'"):
        ReactDataset(bad, "val")
    with pytest.raises(FileNotFoundError, match="test.csv not found"):
        ReactDataset(root, "test")
    wrong = tmp_path / "wrong"
    import shutil

    shutil.copytree(root, wrong)
    np.save(wrong / "neighbour_emotion_val.npy", np.eye(3))
    with pytest.raises(ValueError, match=r"shape \(3, 3\), expected \(6, 6\)"):
        ReactDataset(wrong, "val")
    (wrong / "neighbour_emotion_val.npy").unlink()
    with pytest.warns(RuntimeWarning, match="only appropriate reaction is its own"):
        alone = ReactDataset(wrong, "val", window=None)
    assert alone[0]["appropriate_index"].tolist()[:2] == [0, -1]


def test_collate_explains_unequal_lengths():
    a = {"x": torch.zeros(3, 2), "n": 1, "path": "a"}
    b = {"x": torch.zeros(4, 2), "n": 2, "path": "b"}
    with pytest.raises(ValueError, match="clips of different lengths need a fixed window"):
        collate([a, b])
    batch = collate([a, dict(a, n=5, path="c")])
    assert batch["n"].tolist() == [1, 5] and batch["path"] == ["a", "c"]
