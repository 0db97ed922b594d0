"""`reactface demo` end to end: nodes as processes, a real-time replay, scored reactions, video."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ros]


def test_demo_publishes_one_window_per_w_frames_and_writes_the_video(tmp_path, ros_domain):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "reactface_core.cli", "demo", "--out", str(out)]
        + ["--seconds", "4", "--samples", "4", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads((out / "summary.json").read_text())
    assert report["windows"] == report["windows_expected"] == report["frames"] // 8
    assert report["stamps_match_frames"] and report["windows_duplicated"] == 0
    assert report["samples"] == 4 and report["face_model"] == "arkit58"
    assert report["frames_covered"] >= report["frames"] - 2 * report["window_frames"]
    assert report["FRDiv"] > 0 and report["FRVar"] > 0  # N different samples that move
    assert 0 < report["FRDist"] < 10 * report["FRDist_neutral"] and -1 <= report["FRCorr"] <= 1
    assert "latency" in result.stdout and "FRCorr" in result.stdout

    from reactface_core.perception.media import read_audio_track
    from reactface_ros.bag.evaluate import load_reference
    from reactface_ros.bag.interaction import CAMERA_TOPIC, read_speech
    from reactface_ros.bag.store import read_messages

    video = cv2.VideoCapture(str(out / "reaction.mp4"))
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    width = int(video.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    assert frames == report["frames"] and height == 256
    _, _, image = next(read_messages(out / "interaction.mcap", [CAMERA_TOPIC]))
    speaker_width = round(image.width * 256 / image.height)  # the speaker, its aspect kept
    assert width == (speaker_width + 3 * 256) // 2 * 2  # beside 3 reactions, cut to even

    sound, rate = read_audio_track(out / "reaction.mp4")  # the speaker's voice, in step
    first_frame = int(load_reference(out / "interaction.mcap").frame_stamps[0])
    voice, voice_rate = read_speech(out / "interaction.mcap", first_frame, frames)
    assert rate == voice_rate and len(voice) <= len(sound) < len(voice) + 1024  # AAC frames
    assert np.corrcoef(sound[: len(voice)], voice)[0, 1] > 0.99
