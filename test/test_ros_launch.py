"""launch/reactface.launch.py and the `ros2 run` executables.

`launch`, `launch_ros` and `ros2` are not on PyPI: the launch tests run where a ROS 2
installation provides them and skip with the reason otherwise. The executables and the
node table both paths share are tested everywhere.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "reactface.launch.py"
sys.path.insert(0, str(Path(__file__).parent / "peers"))

from reactface_ros.launch_config import NODES, OPTIONS, SWITCHES, TOPICS  # noqa: E402


def test_every_node_has_an_executable_script_for_ros2_run():
    for spec in NODES:
        script = ROOT / "scripts" / spec.executable
        assert script.is_file(), f"missing scripts/{spec.executable}"
        assert os.access(script, os.X_OK), f"scripts/{spec.executable} is not executable"
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env python3\n")
        assert f"from {spec.module} import main" in text
    # installed where `ros2 run` looks: test_ros_install.py checks the venv's layout


def test_a_script_runs_its_node(tmp_path, ros_domain):
    sounddevice = pytest.importorskip("sounddevice")
    if any(d["max_input_channels"] > 0 for d in sounddevice.query_devices()):
        pytest.skip("this machine has an audio input device")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "microphone_node")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "no audio input device found" in result.stderr


def launch_module():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not importable (it is not on PyPI; needs a ROS 2 install)")
    spec = importlib.util.spec_from_file_location("reactface_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def launched_nodes(**arguments):
    """The Node actions the launch file creates for `arguments`, substitutions performed."""
    module = launch_module()  # skips without launch_ros
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    description = module.generate_launch_description()
    context = LaunchContext()
    context.launch_configurations.update({"config": str(ROOT / "config" / "reactface.yaml")})
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument) and entity.name not in arguments:
            if entity.name != "config":
                context.launch_configurations[entity.name] = entity.default_value[0].text
    context.launch_configurations.update(arguments)
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    nodes = opaque.execute(context)
    for node in nodes:
        node._perform_substitutions(context)
    return {node.node_name.split("/")[-1]: node for node in nodes}


def test_launch_file_declares_the_documented_arguments():
    module = launch_module()
    from launch.actions import DeclareLaunchArgument

    description = module.generate_launch_description()
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert {"config", "namespace", "log_level", "verbose", *SWITCHES} <= set(arguments)
    assert set(TOPICS) <= set(arguments)
    for option in OPTIONS:  # each node option explains itself with the parameter's own words
        assert option.spec().description in arguments[option.name].description


def test_launch_file_starts_the_same_nodes_as_reactface_run():
    nodes = launched_nodes()
    assert set(nodes) == {"microphone", "reaction", "render"}
    assert {n.node_executable for n in nodes.values()} == {
        "microphone_node",
        "reaction_node",
        "render_node",
    }
    assert all(not n.expanded_remapping_rules for n in nodes.values())  # relative names
    nodes = launched_nodes(use_microphone="false", use_camera="true", camera_topic="/head/image")
    assert set(nodes) == {"camera", "reaction", "render"}
    rules = dict(nodes["reaction"].expanded_remapping_rules)
    assert rules["camera/image_raw"] == "/head/image"
    assert rules["camera/image_raw/compressed"] == "/head/image/compressed"
    assert dict(nodes["camera"].expanded_remapping_rules)["camera/image_raw"] == "/head/image"


def test_launch_namespace_and_typed_options():
    nodes = launched_nodes(namespace="robot1", samples="3", deterministic="true")
    assert {n.expanded_node_namespace for n in nodes.values()} == {"/robot1"}
    written, _ = nodes["reaction"]._Node__expanded_parameter_arguments[-1]  # a params file
    (overrides,) = [
        node["ros__parameters"] for node in yaml.safe_load(Path(written).read_text()).values()
    ]
    assert overrides == {"samples": 3, "deterministic": True}  # typed as the parameters are
    for bad, reason in [
        ({"namespace": "robot 1"}, "invalid namespace 'robot 1'"),
        ({"samples": "many"}, "invalid literal for int"),
        ({"selection": "best"}, "selection must be one of first, random"),
    ]:
        with pytest.raises(ValueError, match=reason):
            launched_nodes(**bad)


def ros2_launch_available() -> bool:
    if shutil.which("ros2") is None:
        return False
    try:
        from ament_index_python.packages import get_package_prefix

        prefix = Path(get_package_prefix("reactface_ros"))
    except Exception:  # noqa: BLE001  (package not in the ament index)
        return False
    return (prefix / "lib" / "reactface_ros" / "reaction_node").exists()


@pytest.mark.slow
@pytest.mark.ros
def test_ros2_launch_starts_the_nodes(ros_domain, tmp_path):
    if not ros2_launch_available():
        pytest.skip("needs `ros2` and reactface_ros installed in an ament prefix (colcon build)")
    from ros_helpers import RosPeer

    peer = RosPeer()
    log = (tmp_path / "launch.log").open("w")
    process = subprocess.Popen(
        ["ros2", "launch", "reactface_ros", "reactface.launch.py", "use_microphone:=false",
         "device:=cpu", "samples:=3", "face_image_topic:=/robot/face_screen",
         "namespace:=robot1"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:

        def topics():
            return dict(peer.node.get_topic_names_and_types())

        peer.spin_until(
            lambda: (
                {"/robot1/reactface/reaction", "/robot/face_screen"} <= set(topics())
                and "ready: model reactface_synth.pt" in (tmp_path / "launch.log").read_text()
            ),
            120.0,
            "the launched nodes' topics and the reaction node ready",
            process,
        )
        nodes = set(peer.node.get_node_names_and_namespaces())
        assert {("reaction", "/robot1"), ("render", "/robot1")} <= nodes
        assert "microphone" not in peer.node.get_node_names()
        param = subprocess.run(
            ["ros2", "param", "set", "/robot1/reaction", "samples", "2"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "Set parameter successful" in param.stdout, param.stdout + param.stderr
        refused = subprocess.run(
            ["ros2", "param", "set", "/robot1/reaction", "checkpoint", "x.pt"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "read-only" in refused.stdout + refused.stderr
        state = subprocess.run(
            ["ros2", "lifecycle", "get", "/robot1/reaction"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert state.stdout.startswith("active")
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
        peer.close()
        log.close()
    output = (tmp_path / "launch.log").read_text()
    assert code == 0 and "ready: model reactface_synth.pt" in output and "Traceback" not in output
    assert "parameters changed: samples=2" in output
    noise = [line for line in output.splitlines() if "W0000" in line or "TensorFlow Lite" in line]
    assert not noise, noise
