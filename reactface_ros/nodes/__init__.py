"""The reactface ROS 2 nodes: camera, microphone, reaction (inference) and render.

Each module defines one `rclpy.node.Node` subclass and a `main()`; run one with
`python -m reactface_ros.nodes.<name>`, `ros2 run reactface_ros <name>_node`, or all of
them with `reactface run` / `ros2 launch reactface_ros reactface.launch.py`.
"""
