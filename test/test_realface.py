"""Real-face clips (portraits shipped in packages, espeak-ng speech), `reactface bench
realism`, `reactface bag from-video` and `reactface react` on real files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import soundfile

pytest.importorskip("mediapipe")
pytest.importorskip("av")

from reactface_core.bench.realism import evaluate_clip  # noqa: E402
from reactface_core.checkpoint import Normalisation  # noqa: E402
from reactface_core.cli import main  # noqa: E402
from reactface_core.contract import AUDIO_RATE, FPS  # noqa: E402
from reactface_core.data import realface  # noqa: E402
from reactface_core.perception.audio import AUDIO_FEATURE_DIM, LOG_FLOOR  # noqa: E402
from reactface_core.perception.landmarks import VISUAL_FEATURE_DIM  # noqa: E402
from reactface_core.perception.media import read_audio_track, write_video  # noqa: E402

SPEC = realface.ClipSpec("hopper_test", "hopper", 640, 480, seconds=8.0, seed=3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return realface.write_clip(tmp_path_factory.mktemp("realface"), SPEC)


@pytest.fixture(scope="module")
def short(tmp_path_factory, clip):
    """The clip's first 2 s (50 frames) with its sound, and pieces for the bad inputs."""
    folder = tmp_path_factory.mktemp("inputs")
    frames = [f for _, f in zip(range(50), _frames(clip["mp4"]), strict=False)]
    speech, _ = soundfile.read(clip["wav"], dtype="float32")
    speech = speech[: 2 * AUDIO_RATE]
    write_video(folder / "short.mp4", frames, FPS, speech, AUDIO_RATE)
    write_video(folder / "silent.mp4", frames)
    write_video(folder / "one_frame.mp4", frames[:1], FPS, speech[: AUDIO_RATE // FPS], AUDIO_RATE)
    (folder / "empty.mp4").write_bytes(b"")
    from scipy.signal import resample_poly

    soundfile.write(folder / "speech_8k.wav", resample_poly(speech, 1, 2), 8000)
    stereo = resample_poly(speech, 3, 1)
    soundfile.write(folder / "speech_48k_stereo.wav", np.stack([stereo, 0.5 * stereo], 1), 48000)
    return folder


def _frames(path):
    capture = cv2.VideoCapture(str(path))
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def test_clip_has_truth_speech_and_webcam_framing(clip):
    truth = json.loads(clip["json"].read_text())
    faces = np.array(truth["faces"])
    assert len(faces) == SPEC.frames == sum(1 for _ in _frames(clip["mp4"]))
    assert {0, 1, 2} <= set(faces) and (faces == 0).sum() >= 25 and (faces == 2).sum() == 50
    widths = [box[2] - box[0] for box in truth["speaker_box"] if box]
    assert 0.22 < np.median(widths) / SPEC.width < 0.38  # face about 30 % of the width
    wav, rate = soundfile.read(clip["wav"], dtype="float32")
    assert rate == AUDIO_RATE and len(wav) == SPEC.frames * AUDIO_RATE // FPS
    track, track_rate = read_audio_track(clip["mp4"])
    assert track_rate == AUDIO_RATE and abs(len(track) - len(wav)) < 2048
    loud = np.sqrt(np.mean(wav.reshape(-1, 640) ** 2, axis=1)) > 0.01
    assert 0.3 < loud.mean() < 0.95  # speech with pauses
    energy = np.sqrt(np.mean(track[: len(wav)].reshape(-1, 640)[:, :] ** 2, axis=1)) > 0.01
    assert (energy == loud).mean() > 0.9  # the mp4's AAC track is the same speech


def test_mediapipe_finds_the_face_where_the_truth_says(clip):
    unit = Normalisation(
        visual_mean=np.zeros(VISUAL_FEATURE_DIM),
        visual_std=np.ones(VISUAL_FEATURE_DIM),
        audio_mean=np.zeros(AUDIO_FEATURE_DIM),
        audio_std=np.ones(AUDIO_FEATURE_DIM),
    )
    result = evaluate_clip(clip["mp4"], clip["json"], unit, clip["wav"])
    assert result["found"] >= 0.95 and result["false"] <= 0.05
    assert result["speaker_of_two"] >= 0.9  # the larger face is the speaker
    assert set(result["z"]) >= {"rotation", "motion", "lips"}
    # with a unit normalisation |z| is the features themselves: log-mel of speech and of
    # the pauses (-13.8 at digital silence), prosody around the speaker's baseline
    median_mel, p99_mel = result["audio_z"]["log-mel"]
    assert 3 < median_mel < 13.9 and p99_mel <= -np.log(LOG_FLOOR) + 1e-3
    assert result["audio_z"]["prosody"][1] < 3


def test_far_face_search_leaves_a_webcam_framed_clip_as_the_mesh_sees_it(clip):
    """Its covered and cut faces are large: the mesh's to find, not taken as far faces."""
    unit = Normalisation(
        visual_mean=np.zeros(VISUAL_FEATURE_DIM), visual_std=np.ones(VISUAL_FEATURE_DIM)
    )
    alone, searched = (
        evaluate_clip(clip["mp4"], clip["json"], unit, far_faces=f) for f in (False, True)
    )
    assert alone == searched


def test_a_far_speaker_is_found_by_the_far_face_search_only(tmp_path):
    spec = realface.far_clips(seconds=8.0, seed=3)[1]  # astronaut, 640x480: a 45 px face
    far = realface.write_clip(tmp_path, spec)
    unit = Normalisation(
        visual_mean=np.zeros(VISUAL_FEATURE_DIM), visual_std=np.ones(VISUAL_FEATURE_DIM)
    )
    alone, searched = (
        evaluate_clip(far["mp4"], far["json"], unit, far_faces=f) for f in (False, True)
    )
    assert alone["found"] <= 0.05 and searched["found"] >= 0.9
    assert searched["false"] <= 0.01 and searched["speaker_of_two"] >= 0.9
    widths = [box[2] - box[0] for box in json.loads(far["json"].read_text())["speaker_box"] if box]
    assert 0.05 < np.median(widths) / spec.width < 0.09


def test_bench_realism_prints_detection_and_z_per_clip(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "w"), "--clips", "15", "--seconds", "3"]) == 0
    args = ["bench", "realism", "--data", str(tmp_path / "w"), "--clips", str(tmp_path / "c")]
    assert main(args + ["--seconds", "8", "--count", "1", "--far-count", "1"]) == 0
    out = capsys.readouterr().out
    assert "hopper_640x480: face found in" in out and "no-face frames" in out
    assert "hopper_far_1280x720 (far, no target): face found in" in out
    assert "the face mesh alone found the face in" in out
    assert "lips" in out and "targets (found >= 98%" in out
    assert "voice (no target)" in out and "prosody" in out
    assert json.loads((tmp_path / "c" / "hopper_640x480.json").read_text())["seconds"] == 8.0


# ---- reactface bag from-video ------------------------------------------------------------


def test_from_video_writes_a_bag_with_the_videos_own_sound(short, tmp_path):
    from reactface_ros.bag.interaction import AUDIO_TOPIC, CAMERA_TOPIC
    from reactface_ros.bag.store import read_messages, topics_of
    from reactface_ros.convert import message_to_audio

    out = tmp_path / "me.mcap"
    assert main(["bag", "from-video", "--video", str(short / "short.mp4"), "--out", str(out)]) == 0
    topics = topics_of(out)
    assert topics[CAMERA_TOPIC] == ("sensor_msgs/msg/Image", 50)
    chunks = [m for _, _, m in read_messages(out, [AUDIO_TOPIC])]
    samples = np.concatenate([message_to_audio(c)[0] for c in chunks])
    assert chunks[0].sample_rate == AUDIO_RATE and len(samples) == 2 * AUDIO_RATE
    assert np.sqrt(np.mean(samples**2)) > 0.01


@pytest.mark.parametrize(
    "audio, rate, channels", [("speech_8k.wav", 8000, 1), ("speech_48k_stereo.wav", 48000, 2)]
)
def test_from_video_takes_audio_at_any_rate_and_channels(short, tmp_path, audio, rate, channels):
    from reactface_ros.bag.interaction import AUDIO_TOPIC
    from reactface_ros.bag.store import read_messages

    out = tmp_path / "me.mcap"
    args = ["bag", "from-video", "--video", str(short / "silent.mp4"), "--audio"]
    assert main(args + [str(short / audio), "--out", str(out)]) == 0
    (_, _, first), *_ = read_messages(out, [AUDIO_TOPIC])
    assert (first.sample_rate, first.channels) == (rate, channels)


def test_from_video_one_frame_video_is_a_one_frame_bag(short, tmp_path):
    from reactface_ros.bag.interaction import CAMERA_TOPIC
    from reactface_ros.bag.store import topics_of

    out = tmp_path / "one.mcap"
    assert (
        main(["bag", "from-video", "--video", str(short / "one_frame.mp4"), "--out", str(out)]) == 0
    )
    assert topics_of(out)[CAMERA_TOPIC][1] == 1


@pytest.mark.parametrize(
    "video, audio, message",
    [
        ("missing.mp4", None, "missing.mp4 does not exist"),
        ("empty.mp4", None, "cannot decode video file"),
        (
            "silent.mp4",
            None,
            "silent.mp4 has no audio track; give the speaker's audio with --audio",
        ),
        ("short.mp4", "missing.wav", "audio file .*missing.wav does not exist"),
        ("short.mp4", "empty.mp4", "cannot read audio file"),
    ],
)
def test_from_video_bad_input_is_one_line_exit_2_and_no_file(
    short, tmp_path, capsys, video, audio, message
):
    out = tmp_path / "bad.mcap"
    args = ["bag", "from-video", "--video", str(short / video), "--out", str(out)]
    args += ["--audio", str(short / audio)] if audio else []
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and pytest.importorskip("re").search(message, err)
    assert not out.exists() and not list(tmp_path.iterdir())


# ---- reactface react ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A randomly initialised model saved as `reactface train` saves one (w = 4)."""
    import torch

    from reactface_core.checkpoint import Checkpoint, save_checkpoint
    from reactface_core.model import ReactFace, ReactFaceConfig
    from reactface_core.perception.audio import AUDIO_FEATURE_DIM

    config = ReactFaceConfig(visual_dim=VISUAL_FEATURE_DIM, audio_dim=AUDIO_FEATURE_DIM, window=4)
    torch.manual_seed(0)
    model = ReactFace(config)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    return save_checkpoint(Checkpoint(model.config.to_dict(), "arkit58", model.state_dict()), path)


def react(short, checkpoint, out, video="short.mp4", *extra):
    args = ["react", "--video", str(short / video), "--out", str(out), "--samples", "4"]
    return main(args + ["--checkpoint", str(checkpoint), "--size", "128", *extra])


def test_react_writes_reactions_and_a_video_with_sound(short, checkpoint, tmp_path):
    out = tmp_path / "reaction.mp4"
    assert react(short, checkpoint, out) == 0
    reactions = np.load(out.with_suffix(".npy"))
    assert reactions.shape == (4, 48, 58) and np.isfinite(reactions).all()  # 12 windows of 4
    assert np.abs(reactions[0] - reactions[1]).max() > 0  # sampled, not one reaction
    frames = list(_frames(out))
    assert len(frames) == 48 and frames[0].shape == (128, 170 + 3 * 128, 3)
    sound, rate = read_audio_track(out)
    assert rate == AUDIO_RATE and np.sqrt(np.mean(sound**2)) > 0.01
    again = tmp_path / "again.mp4"
    assert react(short, checkpoint, again) == 0  # --seed 0 both times: the same reactions
    assert np.array_equal(np.load(again.with_suffix(".npy")), reactions)


@pytest.mark.parametrize("audio", ["speech_8k.wav", "speech_48k_stereo.wav"])
def test_react_takes_audio_at_any_rate_and_channels(short, checkpoint, tmp_path, audio):
    out = tmp_path / "reaction.mp4"
    assert react(short, checkpoint, out, "silent.mp4", "--audio", str(short / audio)) == 0
    assert np.load(out.with_suffix(".npy")).shape == (4, 48, 58)


@pytest.mark.parametrize(
    "video, extra, message",
    [
        ("missing.mp4", [], "missing.mp4 does not exist"),
        ("empty.mp4", [], "cannot decode video file"),
        ("silent.mp4", [], "has no audio track; give the speaker's audio with --audio"),
        ("one_frame.mp4", [], "1 frame\\(s\\), fewer than one reaction window \\(4 frames\\)"),
    ],
)
def test_react_bad_input_is_one_line_exit_2_and_nothing_written(
    short, checkpoint, tmp_path, capsys, video, extra, message
):
    import re

    out = tmp_path / "reaction.mp4"
    assert react(short, checkpoint, out, video, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not list(tmp_path.iterdir())


def test_react_with_no_face_in_any_frame_says_so(short, checkpoint, tmp_path, capsys):
    blank = tmp_path / "in" / "blank.mp4"
    speech, _ = soundfile.read(short / "speech_8k.wav", dtype="float32")
    write_video(blank, [np.full((240, 320, 3), 90, np.uint8)] * 12, FPS, speech[:3840], 8000)
    assert react(blank.parent, checkpoint, tmp_path / "r.mp4", "blank.mp4") == 2
    assert "no face was found in any frame" in capsys.readouterr().err
    assert not (tmp_path / "r.mp4").exists() and not (tmp_path / "r.npy").exists()
