"""What `reactface run` and `ros2 launch reactface_ros reactface.launch.py` both start.

One table of nodes, one YAML, one set of arguments, so the pip path (`reactface run`, no
ROS installation) and the ROS path (the launch file) run the same thing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from reactface_core import contract

PACKAGE = "reactface_ros"
CONFIG_NAME = "reactface.yaml"

# Launch argument -> (the node's relative topic name, its default absolute name).
TOPICS = {
    key: (name, contract.absolute(name))
    for key, name in (
        ("camera_topic", contract.CAMERA_TOPIC),
        ("audio_topic", contract.AUDIO_TOPIC),
        ("reaction_topic", contract.REACTION_TOPIC),
        ("face_topic", contract.FACE_TOPIC),
        ("face_image_topic", contract.FACE_IMAGE_TOPIC),
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


NODES = (
    NodeSpec("camera", "use_camera", ("camera_topic",)),
    NodeSpec("microphone", "use_microphone", ("audio_topic",)),
    NodeSpec(
        "reaction",
        None,
        ("camera_topic", "audio_topic", "reaction_topic", "face_topic"),
    ),
    NodeSpec("render", "use_render", ("face_topic", "face_image_topic")),
)


def remappings(spec: NodeSpec, topics: dict[str, str]) -> list[tuple[str, str]]:
    """(relative default name, chosen topic) pairs for the topics `spec` uses."""
    rules = []
    for key in spec.topics:
        default, _ = TOPICS[key]
        chosen = topics.get(key) or TOPICS[key][1]
        rules.append((default, chosen))
        if key == "camera_topic":  # image_transport's compressed sub-topic follows along
            suffix = contract.COMPRESSED_SUFFIX
            rules.append((default + suffix, chosen + suffix))
    return rules


def default_config() -> Path | None:
    """config/reactface.yaml of the source tree, or of an installed share/reactface_ros."""
    candidates = [
        Path(__file__).resolve().parents[1] / "config" / CONFIG_NAME,
        Path(sys.prefix) / "share" / PACKAGE / "config" / CONFIG_NAME,
    ]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)) / "config" / CONFIG_NAME)
    except Exception:  # noqa: BLE001  (no ament index: not a ROS install)
        pass
    return next((path for path in candidates if path.is_file()), None)
