"""The audio_common bridge with real audio_common_msgs messages, across processes.

audio_common is not installable here, so the test builds its message package from the
published interface definitions (test/data/audio_common_msgs) in a temporary folder, with
the same CMake + rosidl machinery as the project's own messages (tools/build-messages.sh),
and an audio_capture stand-in publishes through it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).parent / "peers"))

from ros_helpers import NodeProcess, RosPeer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEER = Path(__file__).parent / "peers" / "publish_audio_common.py"


@pytest.fixture(scope="module")
def audio_common_msgs(tmp_path_factory) -> dict[str, str]:
    """Build audio_common_msgs into a temporary prefix; the environment that finds it."""
    prefix = tmp_path_factory.mktemp("audio_common") / "install"
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "build-messages.sh"), sys.prefix,
         str(ROOT / "test" / "data" / "audio_common_msgs"), str(prefix)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    paths = {
        "PYTHONPATH": str(site / "site-packages"),
        "LD_LIBRARY_PATH": str(prefix / "lib"),
        "AMENT_PREFIX_PATH": str(prefix),
    }
    return {
        k: os.pathsep.join([v, os.environ.get(k, "")]).rstrip(os.pathsep) for k, v in paths.items()
    }


@pytest.fixture
def peer(ros_domain):
    peer = RosPeer()
    yield peer
    peer.close()


@pytest.mark.ros
@pytest.mark.slow
def test_audio_common_audio_reaches_the_reaction_node_as_audio_chunks(
    peer, tmp_path, monkeypatch, audio_common_msgs
):
    from diagnostic_msgs.msg import DiagnosticArray

    from reactface_ros.convert import message_to_audio, stamp_to_ns
    from reactface_ros.msg import AudioChunk
    from reactface_ros.nodes.common import AUDIO_QOS

    sys.path.insert(0, str(PEER.parent))
    from publish_audio_common import CHANNELS, RATE, T0, pcm

    for key, value in audio_common_msgs.items():
        monkeypatch.setenv(key, value)
    chunks = []
    peer.node.create_subscription(AudioChunk, "/audio/chunk", chunks.append, AUDIO_QOS)
    bridge_sees_us = []

    def on_diagnostics(msg):
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if status.name.endswith("audio_common") and values.get("chunk_subscribers", "0") != "0":
                bridge_sees_us.append(True)

    peer.node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
    bridge = NodeProcess(
        "audio_common", tmp_path, "-p", "stamps:=header", "-p", "diagnostics_period:=0.2"
    )
    # best-effort chunks go only to readers the bridge has matched: wait for that, not a time
    peer.spin_until(lambda: bridge_sees_us, 120.0, "the bridge matching our subscription", bridge)
    count = 25
    capture = subprocess.Popen(
        [sys.executable, str(PEER), str(count)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        peer.spin_until(lambda: len(chunks) >= count, 120.0, f"{count} AudioChunks", bridge)
        peer.spin_until(
            lambda: "coding_format 'mp3' is not raw PCM" in bridge.output(),
            60.0,
            "the mp3 stream refused",
            bridge,
        )
    except AssertionError as error:
        capture.kill()
        raise AssertionError(
            f"{error}\nbridge:\n{bridge.output()}\ncapture:\n{capture.communicate()[0]}"
        ) from None
    finally:
        capture.kill()
        capture.wait()
        code = bridge.stop()
    assert code == 0, bridge.output()
    assert len(chunks) == count, "the mp3 chunks must not pass"
    for index, msg in enumerate(chunks):  # reliable: all of them, in order
        samples, rate = message_to_audio(msg)
        assert (rate, samples.shape) == (RATE, (960, CHANNELS))
        np.testing.assert_array_equal(samples, pcm(index).astype(np.float32) / 32768)
        assert stamp_to_ns(msg.header.stamp) == T0 + index * 20_000_000
        assert msg.header.frame_id == "microphone"


@pytest.mark.ros
def test_without_audio_common_msgs_the_bridge_says_what_to_install(tmp_path, ros_domain):
    result = subprocess.run(
        [sys.executable, "-m", "reactface_ros.nodes.audio_common"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "audio_common_msgs is not installed" in result.stderr


def test_arrival_stamps_chain_contiguous_chunks_and_resync_after_a_gap():
    from reactface_ros.nodes.audio_common import ArrivalStamps

    stamps = ArrivalStamps(resync=0.1)
    ms = 1_000_000
    # 20 ms chunks at 16 kHz arriving with jitter: stamps stay exactly 20 ms apart
    arrivals = [1_000 * ms + 20 * ms * i + jitter * ms for i, jitter in enumerate([0, 7, -5, 12])]
    assert [stamps(t, 320, 16_000) for t in arrivals] == [980 * ms + 20 * ms * i for i in range(4)]
    # a 500 ms gap (a dropped driver buffer) starts a new chain at the arrival
    assert stamps(arrivals[-1] + 500 * ms, 320, 16_000) == arrivals[-1] + 480 * ms
