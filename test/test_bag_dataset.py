"""`reactface bag from-synth` / `from-react`: a dataset item becomes an interaction bag."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

pytest.importorskip("rclpy")

from reactface_core.data import react  # noqa: E402
from reactface_ros.bag.dataset import clip_interaction  # noqa: E402
from reactface_ros.bag.interaction import (  # noqa: E402
    APPROPRIATE_TOPIC,
    AUDIO_TOPIC,
    CAMERA_TOPIC,
    LISTENER_TOPIC,
    SPEAKER_TOPIC,
)
from reactface_ros.bag.store import read_messages, topics_of  # noqa: E402
from reactface_ros.convert import message_to_audio, message_to_window  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from reactface_core.data.world.synth import WorldConfig, generate_world

    root = tmp_path_factory.mktemp("world")
    config = WorldConfig(clips=3, seconds=2.0, listeners_per_speaker=3, clips_per_speaker=1)
    generate_world(root, config, workers=1, progress=False, preview=False)
    return root


@pytest.mark.slow
def test_synthetic_clip_becomes_a_bag_with_rendered_speaker_and_every_appropriate_reaction(
    world, tmp_path, capsys
):
    from reactface_core.cli import main

    split = next(s for s in ("test", "val", "train") if react.read_pairs(world, s))
    interaction, description = clip_interaction(world, split, "0", render_missing_video=True)
    base = react.split_root(world, split)
    item = react.items(react.read_pairs(world, split), react.read_info(world).directions)[0]
    speaker = react.load_coefficients(react.modality_path(base, "coefficients", item.speaker), 58)
    listener = react.load_coefficients(react.modality_path(base, "coefficients", item.listener), 58)
    assert interaction.num_frames == 51 and "rendered on the clip's own stage" in description
    np.testing.assert_array_equal(interaction.speaker, speaker[:51])
    assert interaction.appropriate.shape == (3, 51, 58)  # the 3 listeners of this speaker clip
    np.testing.assert_array_equal(interaction.appropriate[0], listener[:51])  # real one first
    audio, rate = soundfile.read(react.modality_path(base, "audio", item.speaker), dtype="float32")
    assert interaction.sample_rate == rate == 16_000

    out = tmp_path / "synth.mcap"
    assert (
        main(["bag", "from-synth", "--data", str(world), "--split", split, "--out", str(out)]) == 0
    )
    assert "wrote" in capsys.readouterr().out
    counts = {topic: n for topic, (_, n) in topics_of(out).items()}
    assert counts == {
        CAMERA_TOPIC: 51,
        AUDIO_TOPIC: 102,
        SPEAKER_TOPIC: 51,
        LISTENER_TOPIC: 51,
        APPROPRIATE_TOPIC: 3,
    }
    images = [m for _, _, m in read_messages(out, [CAMERA_TOPIC])]
    clips = [json.loads(line) for line in (world / "world_clips.jsonl").read_text().splitlines()]
    width, height = next(c for c in clips if c["speaker_path"] == item.speaker)["stage"][
        "image_size"
    ]  # the clip's own camera, as `synth --render-video` renders it
    assert (images[0].height, images[0].width, images[0].encoding) == (height, width, "rgb8")
    first = np.frombuffer(images[0].data, np.uint8).reshape(height, width, 3)
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 100  # a shaded face, not a blank
    chunks = [message_to_audio(m)[0][:, 0] for _, _, m in read_messages(out, [AUDIO_TOPIC])]
    np.testing.assert_array_equal(np.concatenate(chunks), audio[: 51 * 640])
    windows = [message_to_window(m) for _, _, m in read_messages(out, [APPROPRIATE_TOPIC])]
    np.testing.assert_array_equal(
        np.concatenate([w.coefficients for w in windows], axis=1), interaction.appropriate
    )


def test_react_clip_needs_its_video_and_names_what_is_missing(world):
    split = next(s for s in ("test", "val", "train") if react.read_pairs(world, s))
    with pytest.raises(FileNotFoundError, match="no video for clip"):
        clip_interaction(world, split, "0", render_missing_video=False)
    with pytest.raises(ValueError, match="clip index 99 outside"):
        clip_interaction(world, split, "99")
    with pytest.raises(ValueError, match="no item of .* has speaker clip 'nobody'"):
        clip_interaction(world, split, "nobody")


def test_react_clip_keeps_its_video_and_its_44k_stereo_audio(tmp_path, capsys):
    """A tiny dataset in the exact REACT layout: mp4 video, 44.1 kHz stereo wav, faceverse58."""
    import cv2

    from reactface_core.cli import main

    root = tmp_path / "react"
    clips = ["NoXI/001_2016-03-17_Paris/Expert_video/1", "NoXI/001_2016-03-17_Paris/Novice_video/1"]
    root.mkdir()
    react.write_pairs(root, "val", [react.Pair(clips[0], clips[1])])
    base = root / "val"
    rng = np.random.default_rng(0)
    frames = 30
    for clip in clips:
        for modality in ("video", "audio", "coefficients"):
            react.modality_path(base, modality, clip).parent.mkdir(parents=True, exist_ok=True)
        coefficients = rng.normal(size=(frames, 58)).astype(np.float32)
        np.save(react.modality_path(base, "coefficients", clip), coefficients)
        stereo = rng.uniform(-0.5, 0.5, (frames * 44_100 // 25 + 100, 2)).astype(np.float32)
        soundfile.write(react.modality_path(base, "audio", clip), stereo, 44_100)
        writer = cv2.VideoWriter(
            str(react.modality_path(base, "video", clip)),
            cv2.VideoWriter_fourcc(*"mp4v"),
            25,
            (64, 64),
        )
        for i in range(frames):
            writer.write(np.full((64, 64, 3), 8 * i, np.uint8))
        writer.release()
    matrix = np.eye(2, dtype=np.uint8)
    np.save(react.matrix_path(root, "val"), matrix)

    out = tmp_path / "react.mcap"
    assert (
        main(
            [
                "bag",
                "from-react",
                clips[1],
                "--data",
                str(root),
                "--split",
                "val",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "val item 1: speaker " + clips[1] in capsys.readouterr().out  # the mirrored item
    counts = {topic: n for topic, (_, n) in topics_of(out).items()}
    assert counts[CAMERA_TOPIC] == frames and counts[APPROPRIATE_TOPIC] == 2
    chunk = next(m for _, _, m in read_messages(out, [AUDIO_TOPIC]))
    assert (chunk.sample_rate, chunk.channels, len(chunk.samples)) == (44_100, 2, 882 * 2)
    images = [m for _, _, m in read_messages(out, [CAMERA_TOPIC])]
    brightness = [np.frombuffer(m.data, np.uint8).mean() for m in images]
    assert images[0].width == 64 and np.all(np.diff(brightness) > 0)  # the video's own frames
    window = message_to_window(next(m for _, _, m in read_messages(out, [APPROPRIATE_TOPIC])))
    assert window.face_model.name == "faceverse58"  # REACT data without dataset.json
