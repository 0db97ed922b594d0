"""Launch the reactface nodes: reaction (inference), render, and optionally microphone, camera,
the audio_common bridge.

    ros2 launch reactface_ros reactface.launch.py
    ros2 launch reactface_ros reactface.launch.py checkpoint:=/path/model.pt device:=cuda \\
        camera_topic:=/head_camera/image_raw use_microphone:=false
    ros2 launch reactface_ros reactface.launch.py namespace:=robot1   # topics under /robot1

Parameters come from config/reactface.yaml (argument `config`); an argument given here
overrides the YAML, an argument left out keeps the YAML's value. `reactface run` starts
the same nodes with the same YAML from a pip install (reactface_ros.launch_config is the
one table both read; the arguments' types, choices and help come from the nodes' PARAMS).
Topic names are relative: `namespace` (or a pushed namespace) moves them all. The reaction
node is a lifecycle node that brings itself to active (`autostart:=false`: it waits).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from reactface_core.native_logs import VERBOSE_ENV
from reactface_ros.launch_config import (
    NODES,
    OPTIONS,
    PACKAGE,
    SWITCHES,
    TOPICS,
    dds_environment,
    node_namespace,
    remappings,
    typed,
)


def generate_launch_description() -> LaunchDescription:
    default_config = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "reactface.yaml"])
    arguments = [
        DeclareLaunchArgument("config", default_value=default_config, description="parameter YAML"),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of every node and topic"
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="ROS log level of the nodes"
        ),
        DeclareLaunchArgument(
            "verbose",
            default_value="false",
            description="true: also show MediaPipe/TensorFlow Lite native log lines",
        ),
    ]
    arguments += [
        DeclareLaunchArgument(name, default_value=str(default).lower(), description=text)
        for name, (default, text) in SWITCHES.items()
    ]
    arguments += [
        DeclareLaunchArgument(
            option.name,
            default_value="",
            description=f"{option.node} node's {option.param}: {option.spec().description}"
            + (f" ({' | '.join(option.spec().choices)})" if option.spec().choices else "")
            + "; empty: the YAML's",
        )
        for option in OPTIONS
    ]
    arguments += [
        DeclareLaunchArgument(key, default_value=name, description=f"remap the {name} topic")
        for key, (name, _) in TOPICS.items()
    ]
    # the shipped Fast DDS profile (raw camera frames over shared memory), unless one is set
    environment = [SetEnvironmentVariable(k, v) for k, v in dds_environment().items()]
    return LaunchDescription([*arguments, *environment, OpaqueFunction(function=_nodes)])


def _nodes(context):
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    namespace = value("namespace").rstrip("/")
    node_namespace(namespace)  # an invalid name stops the launch here, saying why
    config = value("config")
    topics = {key: value(key) for key in TOPICS}
    environment = {VERBOSE_ENV: "1"} if value("verbose").lower() in ("true", "1", "yes") else {}
    nodes = []
    for spec in NODES:
        if spec.optional and value(spec.optional).lower() not in ("true", "1", "yes"):
            continue
        overrides = {
            option.param: typed(option, value(option.name))
            for option in OPTIONS
            if option.node == spec.name and value(option.name) != ""
        }
        nodes.append(
            Node(
                package=PACKAGE,
                executable=spec.executable,
                name=spec.name,
                namespace=namespace or None,  # None: a pushed namespace still applies
                parameters=[config, overrides] if overrides else [config],
                remappings=remappings(spec, topics),
                ros_arguments=["--log-level", value("log_level")],
                additional_env=environment,
                output="screen",
                emulate_tty=True,
            )
        )
    return nodes
