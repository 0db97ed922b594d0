"""What `reactface run` and `ros2 launch reactface_ros reactface.launch.py` both start.

One table of nodes, one YAML, one set of options, so the pip path (`reactface run`, no
ROS installation) and the ROS path (the launch file) run the same thing. The options'
types, choices and help come from the nodes' own `PARAMS` (each default written once).

Topic names are relative, so a namespace (`namespace:=robot1`, `reactface run --namespace
robot1`) moves every topic under it; a remapped topic given as an absolute name stays put.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reactface_core import contract

PACKAGE = "reactface_ros"
CONFIG_NAME = "reactface.yaml"
DDS_PROFILE_NAME = "fastdds.xml"  # shared-memory transport large enough for raw camera frames

# Launch argument -> (the nodes' relative topic name, also the default: no remapping;
# the name as seen from the root namespace, e.g. for bags).
TOPICS = {
    key: (name, contract.absolute(name))
    for key, name in (
        ("camera_topic", contract.CAMERA_TOPIC),
        ("audio_topic", contract.AUDIO_TOPIC),
        ("reaction_topic", contract.REACTION_TOPIC),
        ("face_topic", contract.FACE_TOPIC),
        ("face_image_topic", contract.FACE_IMAGE_TOPIC),
        ("audio_common_topic", contract.AUDIO_COMMON_TOPIC),
        ("audio_common_info_topic", contract.AUDIO_COMMON_INFO_TOPIC),
    )
}


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name = module reactface_ros.nodes.<name>, executable <name>_node
    optional: str | None  # launch argument that switches it on (None: always started)
    topics: tuple[str, ...]  # the TOPICS keys it uses

    @property
    def module(self) -> str:
        return f"reactface_ros.nodes.{self.name}"

    @property
    def executable(self) -> str:
        return f"{self.name}_node"

    def params(self) -> dict:
        """The node's declared parameters by name (its module's `PARAMS`)."""
        return {param.name: param for param in importlib.import_module(self.module).PARAMS}


NODES = (
    NodeSpec("camera", "use_camera", ("camera_topic",)),
    NodeSpec("microphone", "use_microphone", ("audio_topic",)),
    NodeSpec(
        "audio_common",
        "use_audio_common",
        ("audio_common_topic", "audio_common_info_topic", "audio_topic"),
    ),
    NodeSpec(
        "reaction",
        None,
        ("camera_topic", "audio_topic", "reaction_topic", "face_topic"),
    ),
    NodeSpec("render", "use_render", ("face_topic", "face_image_topic")),
)
SPECS = {spec.name: spec for spec in NODES}

# Switches: launch argument -> (default, what it starts); `reactface run --use-camera` etc.
SWITCHES = {
    "use_microphone": (True, "start the microphone node (sounddevice)"),
    "use_camera": (False, "start the OpenCV camera node (for robots without a camera driver)"),
    "use_audio_common": (
        False,
        "start the audio_common bridge (audio_common_msgs audio -> AudioChunk; needs "
        "audio_common_msgs installed)",
    ),
    "use_render": (True, "start the render node (face images for a screen)"),
}


@dataclass(frozen=True)
class Option:
    """A node parameter offered as a launch argument and a `reactface run` option."""

    name: str  # launch argument; `reactface run --<name with dashes>`
    node: str
    param: str

    def spec(self):
        """The node's `Param`: type, default, range, choices and description."""
        return SPECS[self.node].params()[self.param]


OPTIONS = (
    Option("checkpoint", "reaction", "checkpoint"),
    Option("device", "reaction", "device"),
    Option("seed", "reaction", "seed"),
    Option("samples", "reaction", "samples"),
    Option("selection", "reaction", "selection"),
    Option("deterministic", "reaction", "deterministic"),
    Option("autostart", "reaction", "autostart"),
    Option("camera_device", "camera", "device"),
    Option("show_window", "render", "show_window"),
)


def typed(option: Option, text: str):
    """A launch argument's text as the parameter's declared type (usage error: ValueError)."""
    kind = type(option.spec().default)
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{option.name} must be true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    value = kind(text)
    choices = option.spec().choices
    if choices and value not in choices:
        raise ValueError(f"{option.name} must be one of {', '.join(choices)}, got {text!r}")
    return value


def node_namespace(namespace: str) -> str:
    """`robot1` or `/robot1` -> `/robot1` ("" -> "/"); an invalid name raises ValueError."""
    from rclpy.exceptions import InvalidNamespaceException
    from rclpy.validate_namespace import validate_namespace

    absolute = "/" + namespace.strip("/") if namespace.strip("/") else "/"
    try:
        validate_namespace(absolute)
    except InvalidNamespaceException as error:
        raise ValueError(f"invalid namespace {namespace!r}: {error}") from None
    return absolute


def remappings(spec: NodeSpec, topics: dict[str, str]) -> list[tuple[str, str]]:
    """(relative name, chosen topic) pairs for the topics `spec` uses that were changed."""
    rules = []
    for key in spec.topics:
        default, _ = TOPICS[key]
        chosen = topics.get(key) or default
        if chosen == default:
            continue
        rules.append((default, chosen))
        if key == "camera_topic":  # image_transport's compressed sub-topic follows along
            suffix = contract.COMPRESSED_SUFFIX
            rules.append((default + suffix, chosen + suffix))
    return rules


def default_config() -> Path | None:
    """config/reactface.yaml of the source tree, or of an installed share/reactface_ros."""
    return _config_file(CONFIG_NAME)


def dds_profile() -> Path | None:
    """config/fastdds.xml (source tree or installed share/reactface_ros), if found."""
    return _config_file(DDS_PROFILE_NAME)


def _config_file(name: str) -> Path | None:
    candidates = [
        Path(__file__).resolve().parents[1] / "config" / name,
        Path(sys.prefix) / "share" / PACKAGE / "config" / name,
    ]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / "config" / name)
    except Exception:  # noqa: BLE001  (no ament index: not a ROS install)
        pass
    return next((path for path in candidates if path.is_file()), None)


def dds_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """FASTDDS_DEFAULT_PROFILES_FILE = the shipped Fast DDS profile, unless already set.

    The profile gives Fast DDS a shared-memory segment that holds raw camera frames (see
    config/fastdds.xml); a profile of your own wins. The launch file, `reactface run`, the
    `reactface bag` tools and every node process apply it.
    """
    environ = os.environ if environ is None else environ
    profile = dds_profile()
    if profile is None or environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return {}
    return {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)}


def ros_environment() -> dict[str, str]:
    """The environment for reactface processes: DDS discovery on this machine unless
    ROS_AUTOMATIC_DISCOVERY_RANGE is set, and `dds_environment()`."""
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return {**env, **dds_environment(env)}


def apply_dds_environment() -> None:
    """Set `dds_environment()` in this process. Call before rclpy.init: Fast DDS reads its
    profile once, when the process creates its first participant."""
    os.environ.update(dds_environment())
