"""`reactface synth`: determinism, the REACT layout it writes, and its round trip."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import soundfile

from reactface_core.cli import main
from reactface_core.data import react
from reactface_core.data.dataset import ReactDataset
from reactface_core.data.world.config import RESOLUTIONS
from reactface_core.data.world.listener import POLICIES
from reactface_core.perception.audio import AUDIO_FEATURE_DIM

ARGS = [
    "--clips",
    "8",
    "--seconds",
    "3",
    "--clips-per-speaker",
    "2",
    "--listeners-per-speaker",
    "3",
]
FRAMES = 3 * 25 + 1


def synth(out, *extra):
    assert main(["synth", "--out", str(out), "--quiet", *ARGS, *extra]) == 0
    return out


def digest(root):
    """sha256 of every file under root, by relative path."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("world") / "out", "--seed", "4", "--workers", "2")


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files_whatever_the_workers(world, tmp_path):
    one = digest(synth(tmp_path / "one", "--seed", "4", "--workers", "1"))
    two = digest(world)
    assert one.keys() == two.keys()
    assert one == two
    other = digest(synth(tmp_path / "other", "--seed", "5", "--workers", "2", "--no-preview"))
    changed = [name for name, value in other.items() if one.get(name) != value]
    assert any(name.endswith(".wav") for name in changed)


def test_layout_round_trips_through_the_react_loader(world):
    info = react.read_info(world)
    assert (info.face_model, info.directions) == ("arkit58", "speaker_to_listener")
    meta = json.loads((world / "dataset.json").read_text())
    assert meta["clip_frames"] == FRAMES and meta["config"]["seed"] == 4
    records = [json.loads(line) for line in (world / "world_clips.jsonl").read_text().splitlines()]
    assert len(records) == 8

    by_path = {record["speaker_path"]: record for record in records}
    assert sum(r["lost_frames"] for r in records) < 0.5 * 8 * FRAMES
    rows, speakers_of = 0, {}
    for split in react.SPLITS:
        pairs = react.read_pairs(world, split)
        rows += len(pairs)
        dataset = ReactDataset(world, split, window=None)
        assert len(dataset) == len(pairs)  # one direction only: no silent "speakers"
        matrix = np.load(world / f"neighbour_emotion_{split}.npy")
        assert matrix.shape == (2 * len(pairs), 2 * len(pairs))  # REACT convention
        for index in range(len(dataset)):
            item = dataset[index]
            same = [j for j, p in enumerate(pairs) if p.speaker == pairs[index].speaker]
            assert sorted(item["appropriate_index"][item["appropriate_valid"]].tolist()) == same
            assert item["appropriate_index"][0] == index
            assert item["speaker_visual"].shape == (FRAMES, 426)
            assert item["speaker_audio"].shape == (2 * FRAMES, AUDIO_FEATURE_DIM)
            record = by_path[pairs[index].speaker]  # valid = the landmark file's faces
            found = 1.0 - record["lost_frames"] / FRAMES
            assert item["speaker_visual_valid"].float().mean().item() == pytest.approx(found)
            for j in same:  # the appropriate set = this clip's listener files
                stored = np.load(
                    react.modality_path(world / split, "coefficients", pairs[j].listener)
                )
                assert np.array_equal(
                    item["appropriate"][item["appropriate_index"].tolist().index(j)], stored
                )
        for pair in pairs:
            speakers_of.setdefault(pair.speaker.split("/")[1], set()).add(split)
            assert pair.listener.split("/")[1] == pair.speaker.split("/")[1]
    assert rows == 8 * 3
    assert all(len(splits) == 1 for splits in speakers_of.values())  # split by speaker
    assert {r["split"] for r in records} == set(react.SPLITS)

    record = records[0]
    base = world / record["split"]
    audio, rate = soundfile.read(react.modality_path(base, "audio", record["speaker_path"]))
    assert rate == 16000 and audio.shape == (FRAMES * 640,)
    landmarks = np.load(react.modality_path(base, "landmarks", record["speaker_path"]))
    assert landmarks.dtype == np.float16 and landmarks.shape == (FRAMES, 468, 3)
    assert len({entry["policy"] for entry in record["listeners"]}) == 3  # distinct policies
    width, height = record["stage"]["image_size"]
    assert (width, height) in RESOLUTIONS
    visible = landmarks[np.isfinite(landmarks).all(axis=(1, 2))]
    assert visible.size == 0 or (visible[..., :2].min() > -0.01 and visible[..., :2].max() < 1.01)
    assert record["script"]["phrases"] and record["acoustics"]["snr_db"] >= 5.0
    assert all(entry["policy"] in POLICIES for entry in record["listeners"])
    assert (world / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    readme = (world / "README.md").read_text()
    assert "--clips 8 --seconds 3" in readme and "heard but not seen" in readme
    cues = record["cues"]
    assert cues["count"] == len(record["script"]["pause_onsets"]) + len(
        record["script"]["stress_frames"]
    )
    assert 0 <= cues["unseen"] <= cues["count"]


def test_bad_arguments_fail_with_a_message(world, tmp_path, capsys):
    assert main(["synth", "--out", str(world), "--quiet", *ARGS]) == 2
    assert "is not empty" in capsys.readouterr().err
    too_few = ["synth", "--out", str(tmp_path / "x"), "--clips", "4", "--clips-per-speaker", "2"]
    assert main(too_few) == 2
    assert "needs at least 3" in capsys.readouterr().err


@pytest.mark.slow
def test_rendered_speaker_video_shows_the_face_of_the_landmark_files(tmp_path):
    pytest.importorskip("mediapipe")
    from reactface_core.perception.face_tracker import landmarks_from_video

    out = tmp_path / "video"
    args = ["--clips", "3", "--seconds", "4", "--clips-per-speaker", "1", "--resolution", "640x360"]
    calm = ["--face-height", "0.45", "--no-face-fraction", "0", "--second-face-fraction", "0"]
    command = ["synth", "--out", str(out), "--quiet", "--no-preview", "--render-video"]
    assert main([*command, *args, *calm]) == 0
    record = json.loads((out / "world_clips.jsonl").read_text().splitlines()[0])
    base = out / record["split"]
    video = react.video_source(base, record["speaker_path"])
    assert react.load_video(video).shape == (101, 360, 640, 3)
    landmarks = np.load(react.modality_path(base, "landmarks", record["speaker_path"]))
    seen = landmarks_from_video(video)
    both = np.isfinite(seen).all(axis=(1, 2)) & np.isfinite(landmarks).all(axis=(1, 2))
    assert both.mean() > 0.9
    pixels = np.array([640, 360])
    error = np.linalg.norm((seen[both, :, :2] - landmarks[both, :, :2]) * pixels, axis=2).mean()
    face = np.ptp(landmarks[both, :, 1], axis=1).mean() * 360
    assert error < 0.05 * face  # the video and the landmark files show one face, one place


@pytest.mark.slow
def test_mediapipe_finds_no_face_where_the_landmark_files_have_none(tmp_path):
    pytest.importorskip("mediapipe")
    from reactface_core.perception.face_tracker import landmarks_from_video

    out = tmp_path / "video"
    args = ["--clips", "3", "--seconds", "8", "--clips-per-speaker", "1", "--seed", "2"]
    events = ["--no-face-fraction", "0.45", "--second-face-fraction", "0.2", "--face-height", "0.5"]
    command = ["synth", "--out", str(out), "--quiet", "--no-preview", "--render-video"]
    assert main([*command, *args, *events, "--resolution", "480x360"]) == 0
    face, found_in_face, no_face, found_in_none = 0, 0, 0, 0
    for line in (out / "world_clips.jsonl").read_text().splitlines():
        record = json.loads(line)
        base = out / record["split"]
        seen = np.isfinite(
            landmarks_from_video(react.video_source(base, record["speaker_path"]))
        ).all(axis=(1, 2))
        hidden = np.zeros(len(seen), bool)
        for key in ("turned_away_frames", "hand_frames"):
            for start, end in record["stage"][key]:
                hidden[start:end] = True
        stored = np.load(react.modality_path(base, "landmarks", record["speaker_path"]))
        has_face = np.isfinite(stored).all(axis=(1, 2))
        none = hidden & ~has_face  # the event's frames where the file has no face
        face += int((~hidden).sum())
        found_in_face += int((seen & ~hidden).sum())
        no_face += int(none.sum())
        found_in_none += int((seen & none).sum())
    assert no_face > 30, no_face
    assert found_in_face / face > 0.97, (found_in_face, face)
    assert found_in_none / no_face < 0.05, (found_in_none, no_face)


def test_a_clip_regenerates_from_the_worlds_config(world):
    from reactface_core.data.world.synth import load_plan, speaker_side

    plan = load_plan(world)
    clip = plan.clips[5]
    side = speaker_side(plan.config, plan.speakers[clip.speaker_id], clip.index)
    base = world / clip.split
    stored = np.load(react.modality_path(base, "coefficients", clip.speaker_path))
    assert np.array_equal(side.coefficients, stored)
    landmarks = np.load(react.modality_path(base, "landmarks", clip.speaker_path))
    assert np.array_equal(side.landmarks.astype(np.float16), landmarks, equal_nan=True)


def test_missing_espeak_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from reactface_core.data import espeak

    espeak.program.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        assert main(["synth", "--out", str(tmp_path / "w"), "--quiet", *ARGS]) == 1
    finally:
        espeak.program.cache_clear()
    error = capsys.readouterr().err
    assert "espeak-ng" in error and "apt-get install espeak-ng" in error
    assert not (tmp_path / "w").exists()  # nothing written


def test_an_interrupted_world_leaves_nothing_under_its_name(tmp_path, monkeypatch):
    from reactface_core.data.world import synth

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "write_index", fail)
    config = synth.WorldConfig(clips=6, seconds=2.0, clips_per_speaker=2)
    with pytest.raises(KeyboardInterrupt):
        synth.generate_world(tmp_path / "w", config, workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []
