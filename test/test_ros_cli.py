"""`reactface run` and `reactface bag`: the same nodes and YAML as the launch file, as processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("rclpy")
sys.path.insert(0, str(Path(__file__).parent / "peers"))

from ros_helpers import RosPeer  # noqa: E402

from reactface_core.cli import build_parser  # noqa: E402
from reactface_ros.launch_config import NODES, default_config  # noqa: E402

REACTFACE = [sys.executable, "-m", "reactface_core.cli"]


@pytest.fixture
def peer(ros_domain):
    peer = RosPeer()
    yield peer
    peer.close()


def node_params(name: str):
    import importlib

    return importlib.import_module(f"reactface_ros.nodes.{name}").PARAMS


def test_yaml_sets_every_declared_parameter_to_its_default():
    config = yaml.safe_load(default_config().read_text())
    assert set(config) == {spec.name for spec in NODES}
    for spec in NODES:
        values = config[spec.name]["ros__parameters"]
        declared = {p.name: p.default for p in node_params(spec.name)}
        assert values == declared, f"config/reactface.yaml [{spec.name}] differs from the node"
        for value, default in zip(values.values(), declared.values(), strict=True):
            assert type(value) is type(default)  # 25.0 stays a float, "0" a string


def test_every_parameter_has_a_description_and_a_sane_range():
    for spec in NODES:
        for param in node_params(spec.name):
            assert len(param.description) > 15, f"{spec.name}.{param.name} is not described"
            descriptor = param.descriptor()
            if param.range is not None:
                assert param.range[0] <= param.default <= param.range[1]
                assert descriptor.integer_range or descriptor.floating_point_range
            if param.choices:
                assert param.default in param.choices


def run_args(*argv):
    return build_parser().parse_args(["run", *argv])


def test_run_builds_the_same_node_commands_as_the_launch_file():
    from reactface_ros.cli import node_commands

    args = run_args(
        "--checkpoint",
        "models/m.pt",
        "--no-microphone",
        "--camera-topic",
        "/head/image",
        "--device",
        "cpu",
        "--seed",
        "3",
    )
    commands = dict(node_commands(args))
    assert list(commands) == ["reaction", "render"]
    reaction = commands["reaction"]
    assert reaction[:4] == [sys.executable, "-m", "reactface_ros.nodes.reaction", "--ros-args"]
    assert reaction[reaction.index("--params-file") + 1] == str(default_config())
    pairs = [(reaction[i], reaction[i + 1]) for i in range(4, len(reaction) - 1, 2)]
    assert ("-p", "checkpoint:='models/m.pt'") in pairs
    assert ("-p", "device:='cpu'") in pairs and ("-p", "seed:=3") in pairs
    assert ("-r", "camera/image_raw:=/head/image") in pairs
    assert ("-r", "camera/image_raw/compressed:=/head/image/compressed") in pairs
    assert not any(flag == "-r" and rule.startswith("audio/") for flag, rule in pairs)
    with_all = dict(node_commands(run_args("--use-camera", "--camera-device", "0", "--no-render")))
    assert list(with_all) == ["camera", "microphone", "reaction"]
    assert "device:='0'" in with_all["camera"]  # stays a string parameter
    assert not any(rule.startswith("__ns") for rule in with_all["reaction"])


def test_run_options_are_the_node_parameters_own():
    """Type, choices and meaning of each node option come from the node's PARAMS."""
    from reactface_ros.launch_config import OPTIONS

    parser = build_parser()._subparsers._group_actions[0].choices["run"]
    actions = {action.dest: action for action in parser._actions}
    for option in OPTIONS:
        param, action = option.spec(), actions[option.name]
        if option.name in ("device", "seed"):  # every command's own --device / --seed
            assert action.default == param.default
            continue
        assert action.default is None  # left out: the YAML's value
        assert param.description in action.help
        if not isinstance(param.default, bool):
            assert action.type is type(param.default)
            assert tuple(action.choices or ()) == tuple(param.choices or ())
    commands = dict(node_commands_for("--samples", "3", "--deterministic", "--selection", "sticky"))
    assert {"samples:=3", "deterministic:=true", "selection:='sticky'"} <= set(commands["reaction"])
    with pytest.raises(SystemExit):
        run_args("--selection", "best")  # not one of the parameter's choices


def node_commands_for(*argv):
    from reactface_ros.cli import node_commands

    return node_commands(run_args("--no-microphone", *argv))


def test_run_namespace_moves_every_node_and_an_invalid_one_is_a_usage_error(capsys):
    commands = dict(node_commands_for("--namespace", "robot1", "--face-topic", "face"))
    for argv in commands.values():
        assert argv[argv.index("__ns:=/robot1") - 1] == "-r"
    assert "reactface/face:=face" in commands["render"]  # relative: stays in the namespace
    with pytest.raises(SystemExit) as stop:
        node_commands_for("--namespace", "robot 1")
    assert stop.value.code == 2
    assert "invalid namespace 'robot 1'" in capsys.readouterr().err


@pytest.mark.slow
def test_run_starts_the_nodes_as_processes_and_stops_them(peer, tmp_path):
    process = subprocess.Popen(
        [*REACTFACE, "run", "--no-microphone", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def topics():
            return dict(peer.node.get_topic_names_and_types())

        # endpoints and node names are discovered separately: wait for both
        peer.spin_until(
            lambda: (
                {"/reactface/reaction", "/reactface/face_image", "/camera/image_raw"}
                <= set(topics())
                and {"reaction", "render"} <= set(peer.node.get_node_names())
            ),
            90.0,
            "the reaction and render nodes and their topics on the graph",
            process,
        )
        topics = topics()
        assert topics["/reactface/reaction"] == ["reactface_ros/msg/ReactionWindow"]
        assert topics["/reactface/face_image"] == ["sensor_msgs/msg/Image"]
        assert topics["/camera/image_raw"] == ["sensor_msgs/msg/Image"]
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "starting reaction, render" in output and "discovery LOCALHOST" in output


@pytest.mark.slow
def test_run_fails_when_a_node_fails(ros_domain):
    # no audio input device here: the microphone node exits 1, so `run` stops and says why
    sounddevice = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sounddevice.query_devices()):
        pytest.skip("this machine has an audio input device")
    start = time.monotonic()
    result = subprocess.run(
        [*REACTFACE, "run", "--use-microphone", "--no-render", "--duration", "60"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 1
    assert "node microphone exited with status 1" in result.stderr
    assert "no audio input device found" in result.stderr
    assert time.monotonic() - start < 60  # it did not wait for --duration


def interaction_bag(path: Path, frames: int = 25) -> Path:
    from reactface_ros.bag.interaction import Interaction, write_interaction_bag

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (frames, 24, 32, 3), dtype=np.uint8)
    audio = rng.uniform(-1, 1, frames * 640).astype(np.float32)
    write_interaction_bag(path, Interaction(images, frames, audio))
    return path


def start_recorder(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*REACTFACE, "bag", "record", str(out), "--topics", "/camera/image_raw", "/audio/chunk"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def replay_bag(path: Path) -> subprocess.CompletedProcess:
    replay = subprocess.run(
        [*REACTFACE, "bag", "replay", str(path), "--wait-timeout", "120"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    return replay


def raw_messages(path: Path) -> list[tuple[str, bytes]]:
    from reactface_ros.bag.store import read_raw

    return [(topic, bytes(data)) for topic, _, _, data in read_raw(path)]


def wait_until_recorded(recorder: subprocess.Popen, out: Path, count: int) -> None:
    """The recorder writes as it goes: wait until `count` messages are readable in its file
    (or it has exited), for at most a minute."""
    from reactface_ros.bag.store import readable_messages

    end = time.monotonic() + 60
    while readable_messages(out) < count and recorder.poll() is None and time.monotonic() < end:
        time.sleep(0.1)


@pytest.mark.slow
def test_bag_replay_and_record_round_trip_across_processes(tmp_path, ros_domain):
    bag = interaction_bag(tmp_path / "in.mcap")
    out = tmp_path / "out.mcap"
    recorder = start_recorder(out)
    start = time.monotonic()
    replay = replay_bag(bag)
    assert "replayed 75 messages (/audio/chunk 50, /camera/image_raw 25)" in replay.stdout
    assert time.monotonic() - start > 1.0  # 1 s of stamps took real time to play
    wait_until_recorded(recorder, out, 75)
    recorder.send_signal(signal.SIGINT)
    output, _ = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, output
    received = raw_messages(out)
    missing = set(raw_messages(bag)) - set(received)
    assert not missing, f"{len(missing)} not recorded: {sorted(t for t, _ in missing)}\n{output}"
    assert len(received) == 75  # every message once, byte for byte


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_bag_record_stops_cleanly_on_sigterm_and_sigint(tmp_path, ros_domain, stop):
    from reactface_ros.bag.store import check_bag

    bag = interaction_bag(tmp_path / "in.mcap")
    out = tmp_path / "out.mcap"
    recorder = start_recorder(out)
    replay_bag(bag)
    wait_until_recorded(recorder, out, 75)  # then stop it
    recorder.send_signal(stop)
    output, _ = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, output
    assert "Traceback" not in output and "recorded /camera/image_raw 25, /audio/chunk 50" in output
    assert check_bag(out) == 75  # closed properly: index, checksums
    assert sorted(raw_messages(out)) == sorted(raw_messages(bag))


@pytest.mark.slow
def test_bag_record_killed_keeps_what_it_received_in_the_final_file(tmp_path, ros_domain):
    from reactface_ros.bag.store import BagError, check_bag, repair_bag

    bag = interaction_bag(tmp_path / "in.mcap")
    out = tmp_path / "out.mcap"
    recorder = start_recorder(out)
    replay_bag(bag)
    wait_until_recorded(recorder, out, 75)  # chunks reach the file within a second of arriving
    recorder.kill()
    recorder.communicate(timeout=30)
    assert out.is_file() and not list(tmp_path.glob(".*"))  # the final name, no scratch left
    with pytest.raises(BagError, match="is truncated: 75 messages are readable"):
        check_bag(out)
    counts, _ = repair_bag(out, tmp_path / "repaired.mcap")
    assert counts == {"/camera/image_raw": 25, "/audio/chunk": 50}
    assert sorted(raw_messages(tmp_path / "repaired.mcap")) == sorted(raw_messages(bag))


def test_bag_cli_errors_are_clear(tmp_path, capsys):
    from reactface_core.cli import main

    assert main(["bag", "evaluate", str(tmp_path / "none.mcap"), "--reference", "x.mcap"]) == 2
    assert "reactface bag evaluate: bag x.mcap does not exist" in capsys.readouterr().err
    assert main(["bag", "from-synth", "--data", str(tmp_path), "--out", "x.mcap"]) == 2
    assert "test.csv not found" in capsys.readouterr().err
    assert main(["bag", "replay", str(tmp_path / "none.mcap")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_every_reactface_process_gets_the_shipped_dds_profile_unless_one_is_set(monkeypatch):
    import xml.etree.ElementTree as ElementTree

    from reactface_ros.launch_config import dds_environment, ros_environment

    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE", raising=False)
    profile = Path(ros_environment()["FASTDDS_DEFAULT_PROFILES_FILE"])
    assert profile == Path(__file__).resolve().parents[1] / "config" / "fastdds.xml"
    namespace = {"dds": "http://www.eprosima.com"}
    segment = ElementTree.parse(profile).find(".//dds:segment_size", namespace)
    assert int(segment.text) >= 11 * 1280 * 720 * 3  # about 11 frames of 720p in flight
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", "/etc/my_robot/fastdds.xml")
    assert dds_environment() == {}  # the integrator's own profile wins
    assert ros_environment()["FASTDDS_DEFAULT_PROFILES_FILE"] == "/etc/my_robot/fastdds.xml"
    launch = (Path(__file__).resolve().parents[1] / "launch" / "reactface.launch.py").read_text()
    assert "SetEnvironmentVariable(k, v) for k, v in dds_environment().items()" in launch


@pytest.mark.parametrize("size", ["640", "640x", "8x8", "axb"])
def test_bench_ros_size_must_be_width_x_height(capsys, size):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["bench", "ros", "--size", size])
    assert stop.value.code == 2 and "size" in capsys.readouterr().err
