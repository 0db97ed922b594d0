"""`reactface prepare` on a small dataset in the REACT layout with real mp4/wav files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import soundfile

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from reactface_core.cli import main  # noqa: E402
from reactface_core.data.react import landmark_aspect  # noqa: E402
from reactface_core.perception.audio import (  # noqa: E402
    AUDIO_FEATURE_DIM,
    audio_features,
    load_audio,
)
from reactface_core.perception.prepare import find_jobs  # noqa: E402

CLIP = "NoXI/001_2016-03-17_Paris/Expert_video/1"


def write_video(path, frames, fps=25.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def write_wav(path, seconds, rate=44100, channels=2):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.2 * np.sin(2 * np.pi * 220 * t)
    soundfile.write(path, np.stack([tone] * channels, axis=1), rate)


@pytest.fixture
def dataset(tmp_path):
    """8 face frames + 4 empty frames; a frame folder; a broken video; a wav; a broken wav."""
    face = cv2.resize(skimage_data.astronaut(), (256, 256))
    frames = [face] * 8 + [np.zeros((256, 256, 3), np.uint8)] * 4
    write_video(tmp_path / "Video_files" / f"{CLIP}.mp4", frames)
    folder = tmp_path / "Video_files" / "RECOLA/group-1/P25/2"
    folder.mkdir(parents=True)
    for k in range(3):
        cv2.imwrite(str(folder / f"{k:05d}.jpg"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    (tmp_path / "Video_files" / "RECOLA/group-1/P25/broken.mp4").write_bytes(b"junk" * 10)
    write_wav(tmp_path / "Audio_files" / f"{CLIP}.wav", seconds=12 / 25)
    (tmp_path / "Audio_files" / "RECOLA/group-1/P25").mkdir(parents=True)
    (tmp_path / "Audio_files" / "RECOLA/group-1/P25/broken.wav").write_bytes(b"RIFF....")
    return tmp_path


def test_prepare_writes_contract_files_reports_failures_and_resumes(dataset, capsys):
    assert main(["prepare", "--data", str(dataset)]) == 1  # two broken inputs
    out = capsys.readouterr()
    assert "prepared 3 files, skipped 0 already done, 2 failed" in out.out
    assert "broken.mp4" in out.err and "broken.wav" in out.err

    landmarks = np.load(dataset / "Landmark_files" / f"{CLIP}.npy")
    assert landmarks.dtype == np.float16 and landmarks.shape == (12, 468, 3)
    assert np.isfinite(landmarks[:8]).all() and np.isnan(landmarks[8:]).all()
    folder = np.load(dataset / "Landmark_files" / "RECOLA/group-1/P25/2.npy")
    assert folder.shape == (3, 468, 3) and np.isfinite(folder).all()
    assert np.abs(folder[0].astype(np.float32) - landmarks[0]).mean() < 2 / 256  # same face
    assert landmark_aspect(dataset / "Landmark_files" / f"{CLIP}.npy") == 1.0  # 256 x 256

    logmel = np.load(dataset / "Logmel_files" / f"{CLIP}.npy")
    wav = dataset / "Audio_files" / f"{CLIP}.wav"
    assert logmel.shape == (24, AUDIO_FEATURE_DIM)  # 12 frames at 25 fps -> 24 steps at 50 Hz
    assert np.array_equal(logmel, audio_features(load_audio(wav)))
    assert not list(dataset.rglob("*.partial"))

    stamp = (dataset / "Logmel_files" / f"{CLIP}.npy").stat().st_mtime_ns
    (dataset / "Landmark_files" / "RECOLA/group-1/P25/2.npy").unlink()
    assert main(["prepare", "--data", str(dataset)]) == 1
    assert "prepared 1 files, skipped 2 already done, 2 failed" in capsys.readouterr().out
    assert (dataset / "Logmel_files" / f"{CLIP}.npy").stat().st_mtime_ns == stamp


def test_prepare_only_audio_with_two_workers(dataset, capsys):
    for k in range(3):
        write_wav(dataset / "Audio_files" / f"extra/{k}.wav", seconds=0.2 + 0.1 * k, rate=16000)
    (dataset / "Audio_files/RECOLA/group-1/P25/broken.wav").unlink()
    assert main(["prepare", "--data", str(dataset), "--only", "logmel", "--workers", "2"]) == 0
    assert "prepared 4 files" in capsys.readouterr().out
    assert not (dataset / "Landmark_files").exists()
    for k in range(3):
        shape = np.load(dataset / "Logmel_files" / f"extra/{k}.npy").shape
        assert shape == (10 + 5 * k, AUDIO_FEATURE_DIM)


def test_clip_paths_mirror_the_react_layout(dataset):
    jobs = find_jobs(dataset)
    targets = {str(job.target.relative_to(dataset)) for job in jobs}
    assert f"Landmark_files/{CLIP}.npy" in targets
    assert f"Logmel_files/{CLIP}.npy" in targets
    assert "Landmark_files/RECOLA/group-1/P25/2.npy" in targets


def test_split_folders_of_the_challenge_release_are_walked(tmp_path):
    for split in ("train", "val"):
        write_wav(tmp_path / split / "Audio_files" / f"{CLIP}.wav", seconds=0.2)
    targets = {str(job.target.relative_to(tmp_path)) for job in find_jobs(tmp_path)}
    assert targets == {f"train/Logmel_files/{CLIP}.npy", f"val/Logmel_files/{CLIP}.npy"}
    only_val = find_jobs(tmp_path, splits=("val",))
    assert [str(job.target.relative_to(tmp_path)) for job in only_val] == [
        f"val/Logmel_files/{CLIP}.npy"
    ]
    with pytest.raises(ValueError, match="test/"):
        find_jobs(tmp_path, splits=("test",))


def test_not_a_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["prepare", "--data", str(tmp_path)]) == 2
    assert "Video_files/" in capsys.readouterr().err
    assert main(["prepare", "--data", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_frame_size_is_kept_beside_the_landmarks_and_sets_the_aspect(tmp_path, capsys):
    face = cv2.resize(skimage_data.astronaut(), (480, 480))
    wide = np.zeros((480, 640, 3), np.uint8)
    wide[:, 80:560] = face
    write_video(tmp_path / "Video_files" / "clip.mp4", [wide] * 4)
    assert main(["prepare", "--data", str(tmp_path), "--only", "landmarks"]) == 0
    target = tmp_path / "Landmark_files" / "clip.npy"
    assert json.loads(target.with_suffix(".json").read_text()) == {"width": 640, "height": 480}
    assert landmark_aspect(target) == 0.75
    target.with_suffix(".json").write_text("{")
    with pytest.raises(ValueError, match=r"clip\.json is unreadable"):
        landmark_aspect(target)
