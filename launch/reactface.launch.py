"""Launch the reactface nodes: reaction (inference), render, and optionally microphone, camera.

    ros2 launch reactface_ros reactface.launch.py
    ros2 launch reactface_ros reactface.launch.py checkpoint:=/path/model.pt device:=cuda \\
        camera_topic:=/head_camera/image_raw use_microphone:=false

Parameters come from config/reactface.yaml (argument `config`); an argument given here
overrides the YAML, an argument left out keeps the YAML's value. `reactface run` starts
the same nodes with the same YAML from a pip install (reactface_ros.launch_config is the
one table both read).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from reactface_ros.launch_config import NODES, PACKAGE, TOPICS, dds_environment, remappings

SWITCHES = {
    "use_microphone": ("true", "start the microphone node (sounddevice)"),
    "use_camera": ("false", "start the OpenCV camera node (for robots without a camera driver)"),
    "use_render": ("true", "start the render node (face images for a screen)"),
}
OVERRIDES = {  # launch argument -> (node, parameter, type, meaning); applied only when given
    "checkpoint": ("reaction", "checkpoint", str, "model file, or 'default' (shipped model)"),
    "device": ("reaction", "device", str, "auto, cpu or cuda"),
    "samples": ("reaction", "samples", int, "N reactions per window"),
    "selection": ("reaction", "selection", str, "first, random, most_typical or sticky"),
    "camera_device": ("camera", "device", str, "camera index, /dev/videoN or video file"),
    "show_window": ("render", "show_window", bool, "true: show the face in a window"),
}


def generate_launch_description() -> LaunchDescription:
    default_config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "reactface.yaml"])
    arguments = [
        DeclareLaunchArgument("config", default_value=default_config, description="parameter YAML")
    ]
    arguments += [
        DeclareLaunchArgument(name, default_value=default, description=text)
        for name, (default, text) in SWITCHES.items()
    ]
    arguments += [
        DeclareLaunchArgument(
            name,
            default_value="",
            description=f"{node} node's {param}: {meaning}; empty: the YAML's",
        )
        for name, (node, param, _, meaning) in OVERRIDES.items()
    ]
    arguments += [
        DeclareLaunchArgument(key, default_value=default, description=f"remap the {default} topic")
        for key, (_, default) in TOPICS.items()
    ]
    # the shipped Fast DDS profile (raw camera frames over shared memory), unless one is set
    environment = [SetEnvironmentVariable(k, v) for k, v in dds_environment().items()]
    return LaunchDescription([*arguments, *environment, OpaqueFunction(function=_nodes)])


def _nodes(context):
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    config = value("config")
    topics = {key: value(key) for key in TOPICS}
    nodes = []
    for spec in NODES:
        if spec.optional and value(spec.optional).lower() not in ("true", "1", "yes"):
            continue
        overrides = {
            param: _typed(value(argument), kind)
            for argument, (node, param, kind, _) in OVERRIDES.items()
            if node == spec.name and value(argument) != ""
        }
        nodes.append(
            Node(
                package=PACKAGE,
                executable=spec.executable,
                name=spec.name,
                parameters=[config, overrides] if overrides else [config],
                remappings=remappings(spec, topics),
                output="screen",
                emulate_tty=True,
            )
        )
    return nodes


def _typed(text: str, kind: type):
    """Launch arguments are strings; give the parameter its declared type."""
    if kind is bool:
        return text.lower() in ("true", "1", "yes")
    return kind(text)
