"""Interaction bags: mcap files with our message types, replay order, offline evaluation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("rosbags")

from reactface_ros.bag.evaluate import evaluate_bags  # noqa: E402
from reactface_ros.bag.interaction import (  # noqa: E402
    APPROPRIATE_TOPIC,
    AUDIO_TOPIC,
    CAMERA_TOPIC,
    DEFAULT_START_NS,
    FRAME_NS,
    LISTENER_TOPIC,
    SPEAKER_TOPIC,
    Interaction,
    read_speech,
    write_interaction_bag,
)
from reactface_ros.bag.replay import scheduled  # noqa: E402
from reactface_ros.bag.store import (  # noqa: E402
    BagError,
    BagWriter,
    read_messages,
    topics_of,
    typestore,
)
from reactface_ros.convert import (  # noqa: E402
    message_to_audio,
    message_to_coefficients,
    message_to_window,
    stamp_to_ns,
    window_to_message,
)
from reactface_ros.image import to_rgb  # noqa: E402


def small_interaction(frames=20, rate=16_000, channels=1, seed=0) -> Interaction:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (frames, 12, 16, 3), dtype=np.uint8)
    audio = rng.uniform(-0.5, 0.5, (frames * rate // 25, channels)).astype(np.float32)
    speaker = rng.uniform(0, 1, (frames, 58)).astype(np.float32)
    appropriate = rng.uniform(0, 1, (3, frames, 58)).astype(np.float32)
    return Interaction(
        frames=images,
        num_frames=frames,
        audio=audio if channels > 1 else audio[:, 0],
        sample_rate=rate,
        speaker=speaker,
        listener=appropriate[0],
        appropriate=appropriate,
    )


def test_custom_types_in_the_bag_have_the_hashes_rosidl_generates():
    share = Path(sys.prefix) / "share" / "reactface_ros" / "msg"
    if not (share / "ReactionWindow.json").exists():
        pytest.skip(f"no rosidl type descriptions in {share} (messages not built into this prefix)")
    store = typestore()
    for name in ("AudioChunk", "FaceCoefficients", "ReactionWindow"):
        generated = json.loads((share / f"{name}.json").read_text())["type_hashes"][0]
        assert store.hash_rihs01(f"reactface_ros/msg/{name}") == generated["hash_string"]


@pytest.mark.parametrize("name", ["speaker.mcap", "speaker_dir"])
def test_interaction_bag_round_trips_every_topic(tmp_path, name):
    interaction = small_interaction()
    counts = write_interaction_bag(tmp_path / name, interaction)
    path = tmp_path / name
    assert path.is_file() == name.endswith(".mcap")
    assert counts == {
        CAMERA_TOPIC: 20,
        AUDIO_TOPIC: 40,
        SPEAKER_TOPIC: 20,
        LISTENER_TOPIC: 20,
        APPROPRIATE_TOPIC: 1,
    }
    assert {t: n for t, (_, n) in topics_of(path).items()} == counts
    frames, audio, speaker, windows, log_times = [], [], [], [], []
    for topic, log_time, msg in read_messages(path):
        log_times.append(log_time)
        if topic == CAMERA_TOPIC:
            assert log_time == stamp_to_ns(msg.header.stamp)  # a frame is there at its stamp
            frames.append((stamp_to_ns(msg.header.stamp), to_rgb(msg)))
        elif topic == AUDIO_TOPIC:
            samples, rate = message_to_audio(msg)
            assert rate == 16_000 and log_time == stamp_to_ns(msg.header.stamp) + 20_000_000
            audio.append(samples[:, 0])
        elif topic == SPEAKER_TOPIC:
            speaker.append(message_to_coefficients(msg)[0])
        elif topic == APPROPRIATE_TOPIC:
            windows.append(message_to_window(msg))
    assert log_times == sorted(log_times)  # written in time order
    assert [s for s, _ in frames] == [DEFAULT_START_NS + i * FRAME_NS for i in range(20)]
    np.testing.assert_array_equal(np.stack([f for _, f in frames]), interaction.frames)
    np.testing.assert_array_equal(np.concatenate(audio), interaction.audio)
    np.testing.assert_array_equal(np.stack(speaker), interaction.speaker)
    (window,) = windows
    np.testing.assert_array_equal(window.coefficients, interaction.appropriate)


def test_stereo_48k_audio_and_compressed_frames(tmp_path):
    interaction = small_interaction(frames=5, rate=48_000, channels=2)
    write_interaction_bag(tmp_path / "b.mcap", interaction, image_format="png")
    topics = topics_of(tmp_path / "b.mcap")
    assert topics[CAMERA_TOPIC + "/compressed"] == ("sensor_msgs/msg/CompressedImage", 5)
    chunks = [m for t, _, m in read_messages(tmp_path / "b.mcap", [AUDIO_TOPIC])]
    assert (chunks[0].sample_rate, chunks[0].channels, len(chunks[0].samples)) == (48_000, 2, 1920)
    samples = np.concatenate([message_to_audio(c)[0] for c in chunks])
    np.testing.assert_array_equal(samples, interaction.audio)


def test_the_speakers_voice_reads_back_as_one_mono_track_on_the_frame_grid(tmp_path):
    """`read_speech` (the demo's sound track): chunks at their stamps, channels averaged,
    what lies before the first frame or after the last left out, silence where no chunk
    is; a bag of two rates or without audio says so."""
    from reactface_ros.convert import audio_to_message

    interaction = small_interaction(frames=10, rate=48_000, channels=2)
    write_interaction_bag(tmp_path / "b.mcap", interaction)
    mono, per_frame = interaction.audio.mean(axis=1), 48_000 // 25
    track, rate = read_speech(tmp_path / "b.mcap", DEFAULT_START_NS + 3 * FRAME_NS, 5)
    assert rate == 48_000 and track.shape == (5 * per_frame,)
    np.testing.assert_allclose(track, mono[3 * per_frame : 8 * per_frame], atol=1e-6)
    track, _ = read_speech(tmp_path / "b.mcap", DEFAULT_START_NS - FRAME_NS, 12)
    np.testing.assert_array_equal(track[:per_frame], 0)  # before the first chunk
    np.testing.assert_array_equal(track[11 * per_frame :], 0)  # after the last
    np.testing.assert_allclose(track[per_frame : 11 * per_frame], mono, atol=1e-6)

    with BagWriter(tmp_path / "two.mcap") as writer:
        for stamp, rate in ((10**9, 16_000), (10**9 + 20_000_000, 48_000)):
            writer.write(AUDIO_TOPIC, audio_to_message(np.zeros(320), rate, stamp), stamp)
    with pytest.raises(BagError, match="16000 Hz and at 48000 Hz"):
        read_speech(tmp_path / "two.mcap", 10**9, 2)
    with BagWriter(tmp_path / "mute.mcap") as writer:
        writer.write("/w", window_to_message(np.zeros((1, 1, 58)), "arkit58", 10**9), 10**9)
    assert read_speech(tmp_path / "mute.mcap", 10**9, 2) is None
    assert list(read_messages(tmp_path / "mute.mcap", [AUDIO_TOPIC])) == []  # not every topic


def test_replay_order_follows_header_stamps_not_log_times(tmp_path):
    """A recorded bag whose log (arrival) times are jumbled still plays in stamp order; an
    audio chunk is due when its last sample exists."""
    from reactface_ros.convert import audio_to_message

    path = tmp_path / "jumbled.mcap"
    with BagWriter(path) as writer:
        for i in (2, 0, 1, 3):  # arrival order differs from stamp order
            msg = window_to_message(np.zeros((1, 1, 58)), "arkit58", 10**9 + i * FRAME_NS)
            writer.write("/w", msg, 5 * 10**9 + (3 - i) * 1000)
        writer.write("/a", audio_to_message(np.zeros(800), 16_000, 10**9), 5 * 10**9)
    released = [(release, topic) for release, topic, *_ in scheduled(path)]
    assert released == [
        (10**9, "/w"),
        (10**9 + 40_000_000, "/w"),
        (10**9 + 50_000_000, "/a"),  # 800 samples at 16 kHz = 50 ms after its stamp
        (10**9 + 80_000_000, "/w"),
        (10**9 + 120_000_000, "/w"),
    ]


def test_writer_refuses_to_overwrite_and_reader_names_the_bad_file(tmp_path):
    path = tmp_path / "x.mcap"
    write_interaction_bag(path, small_interaction(frames=2))
    with pytest.raises(BagError, match="exists already"):
        write_interaction_bag(path, small_interaction(frames=2))
    write_interaction_bag(path, small_interaction(frames=3), overwrite=True)
    assert topics_of(path)[CAMERA_TOPIC][1] == 3
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"not a bag")
    with pytest.raises(BagError, match="junk.mcap is corrupt after 0 messages: not an mcap file"):
        topics_of(junk)
    with pytest.raises(BagError, match="does not exist"):
        topics_of(tmp_path / "missing.mcap")


def recorded_bag(path, interaction, w=4, shift_ns=0, drop=(), camera=False):
    """What the reaction node would have published: here the appropriate reactions
    themselves (sample k = appropriate reaction k), one window per w frames, each arriving
    3 frames after its last frame; with `camera`, the camera frames as they arrived."""
    from reactface_ros.convert import ns_to_stamp
    from reactface_ros.image import rgb_to_image

    reactions = interaction.appropriate
    with BagWriter(path) as writer:
        for i in range(interaction.num_frames if camera else 0):
            image = rgb_to_image(interaction.frames[i])
            image.header.stamp = ns_to_stamp(DEFAULT_START_NS + i * FRAME_NS)
            writer.write("/camera/image_raw", image, DEFAULT_START_NS + i * FRAME_NS)
        for n, first in enumerate(range(0, interaction.num_frames - w + 1, w)):
            if n in drop:
                continue
            stamp = DEFAULT_START_NS + first * FRAME_NS + shift_ns
            msg = window_to_message(reactions[:, first : first + w], "arkit58", stamp)
            writer.write("/reactface/reaction", msg, stamp + (w + 2) * FRAME_NS)


def test_evaluate_scores_perfect_reactions_perfectly(tmp_path):
    interaction = small_interaction(frames=40)
    write_interaction_bag(tmp_path / "in.mcap", interaction)
    recorded_bag(tmp_path / "out.mcap", interaction)
    report = evaluate_bags(tmp_path / "out.mcap", tmp_path / "in.mcap")
    assert report["windows"] == report["windows_expected"] == 10
    assert report["stamps_match_frames"] and report["frames_covered"] == 40
    assert report["appropriate_reactions"] == 3 and report["samples"] == 3
    assert report["FRCorr"] == pytest.approx(1.0, abs=1e-6)  # every sample is appropriate
    assert report["FRDist"] == pytest.approx(0.0, abs=1e-6)
    assert report["FRDiv"] > 0.1  # three different reactions
    # the bag recorded no camera frames, so no latency can be claimed
    assert "latency_ms_p50" not in report
    recorded_bag(tmp_path / "with_camera.mcap", interaction, camera=True)
    report = evaluate_bags(tmp_path / "with_camera.mcap", tmp_path / "in.mcap")
    assert report["latency_ms_p50"] == report["latency_ms_p95"] == pytest.approx(120.0)


def test_evaluate_reports_missing_and_misaligned_windows(tmp_path):
    interaction = small_interaction(frames=40)
    write_interaction_bag(tmp_path / "in.mcap", interaction)
    recorded_bag(tmp_path / "gaps.mcap", interaction, drop={3, 4})
    report = evaluate_bags(tmp_path / "gaps.mcap", tmp_path / "in.mcap")
    assert report["windows"] == 8 and report["windows_expected"] == 10
    assert report["frames_covered"] == 32 and report["metric_frames"] == 12  # first run only
    recorded_bag(tmp_path / "shifted.mcap", interaction, shift_ns=7_000_000)
    report = evaluate_bags(tmp_path / "shifted.mcap", tmp_path / "in.mcap")
    assert report["windows_misaligned"] == 10 and not report["stamps_match_frames"]
    assert report["frames_covered"] == 0
    with pytest.raises(BagError, match="no ReactionWindow"):
        evaluate_bags(tmp_path / "in.mcap", tmp_path / "in.mcap")


def damaged_copies(tmp_path, frames=60):
    """A bag written with chunk checksums, a copy with bytes overwritten inside a chunk, and a
    copy cut short in the middle (a recorder killed before it wrote the index)."""
    from reactface_ros.bag.store import read_raw

    write_interaction_bag(tmp_path / "source.mcap", small_interaction(frames=frames))
    good = tmp_path / "good.mcap"
    with BagWriter(good, live=True, flush_period=0.0) as writer:  # a chunk per message
        for topic, msgtype, log_time, data in read_raw(tmp_path / "source.mcap"):
            writer.write_raw(topic, msgtype, data, log_time)
    data = bytearray(good.read_bytes())
    corrupt, truncated = tmp_path / "corrupt.mcap", tmp_path / "truncated.mcap"
    middle = len(data) // 2
    data[middle : middle + 16] = np.random.default_rng(1).integers(0, 256, 16, np.uint8).tobytes()
    corrupt.write_bytes(bytes(data))
    truncated.write_bytes(good.read_bytes()[: int(len(data) * 0.6)])
    return good, corrupt, truncated


def test_overwritten_bytes_and_a_truncated_file_are_detected_by_name(tmp_path):
    from reactface_ros.bag.store import check_bag

    good, corrupt, truncated = damaged_copies(tmp_path)
    assert check_bag(good) == sum(n for _, n in topics_of(good).values())
    with pytest.raises(BagError, match=r"corrupt.mcap is corrupt after \d+ messages: checksum"):
        check_bag(corrupt)
    with pytest.raises(BagError, match="corrupt.mcap is corrupt"):
        list(read_raw_all(corrupt))  # reading the messages fails too, never silently
    with pytest.raises(BagError, match=r"truncated.mcap is truncated: \d+ messages are readable"):
        check_bag(truncated)
    with pytest.raises(BagError, match="truncated.mcap is truncated"):
        topics_of(truncated)


def read_raw_all(path):
    from reactface_ros.bag.store import read_raw

    return read_raw(path)


def test_repair_keeps_every_message_before_the_cut_in_order(tmp_path):
    from reactface_ros.bag.store import check_bag, read_raw, repair_bag

    good, _, truncated = damaged_copies(tmp_path)
    counts, problem = repair_bag(truncated, tmp_path / "repaired.mcap")
    assert problem == "the file ended without its index"
    assert check_bag(tmp_path / "repaired.mcap") == sum(counts.values())
    kept = list(read_raw(tmp_path / "repaired.mcap"))
    original = list(read_raw(good))
    assert 0 < len(kept) < len(original)
    assert kept == original[: len(kept)]  # a prefix, byte for byte


@pytest.mark.parametrize("command", ["info", "replay", "evaluate"])
def test_bag_commands_refuse_a_damaged_bag_with_one_line_naming_it(tmp_path, capsys, command):
    from reactface_core.cli import main

    good, corrupt, truncated = damaged_copies(tmp_path)
    for damaged, what in ((corrupt, "is corrupt"), (truncated, "is truncated")):
        argv = {
            "info": ["bag", "info", str(damaged)],
            "replay": ["bag", "replay", str(damaged), "--wait-for"],
            "evaluate": ["bag", "evaluate", str(damaged), "--reference", str(good)],
        }[command]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{damaged} {what}" in err[0], err
