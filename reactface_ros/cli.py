"""`reactface run` and `reactface bag ...`: the ROS commands, contributed to the core CLI.

Registered through the `reactface.commands` entry points (pyproject.toml), so
`reactface_core` never imports ROS. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from reactface_ros.launch_config import NODES, TOPICS, default_config, remappings, ros_environment

RUN_DESCRIPTION = """\
Start the reactface ROS 2 nodes as separate processes, exactly as
`ros2 launch reactface_ros reactface.launch.py` does, but from the pip install (no ROS
installation or `ros2` command needed): reaction (inference) and render always, camera
and microphone on request. Parameters come from the YAML (default: config/reactface.yaml)
plus the options below. Ctrl-C stops them all; if one node fails, the others are stopped
and the exit status is non-zero.

DDS traffic stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless you
set ROS_AUTOMATIC_DISCOVERY_RANGE yourself, and the nodes use the shipped Fast DDS profile
(config/fastdds.xml: shared memory large enough for raw camera frames) unless you set
FASTDDS_DEFAULT_PROFILES_FILE yourself."""


def register_run(subparsers, common):
    parser = subparsers.add_parser(
        "run",
        parents=[common],
        help="start the ROS 2 nodes (reaction, render, optional camera/microphone)",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  reactface run --use-camera --use-microphone --checkpoint runs/synth/best.pt\n"
            "  reactface run --camera-topic /robot/head_camera/image_raw --no-render\n"
            "  reactface run --duration 30   # stop after 30 s (for scripts)"
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="ROS parameter YAML (default: config/reactface.yaml of the installation)",
    )
    parser.add_argument(
        "--checkpoint", default=None, help="trained model for the reaction node (default: YAML)"
    )
    parser.add_argument(
        "--samples", type=int, default=None, help="N reactions per window (default: YAML)"
    )
    parser.add_argument(
        "--selection",
        default=None,
        choices=("first", "random", "most_typical", "sticky"),
        help="sample streamed on the face topic (default: YAML)",
    )
    parser.add_argument(
        "--use-camera", action="store_true", help="start the OpenCV camera node too"
    )
    parser.add_argument(
        "--camera-device",
        default=None,
        help="camera index, /dev/videoN or video file (default: YAML)",
    )
    microphone = parser.add_mutually_exclusive_group()
    microphone.add_argument(
        "--use-microphone",
        dest="use_microphone",
        action="store_true",
        default=True,
        help="start the microphone node (the default; it fails without an input device)",
    )
    microphone.add_argument(
        "--no-microphone",
        dest="use_microphone",
        action="store_false",
        help="do not start it (audio comes from elsewhere, e.g. `reactface bag replay`)",
    )
    parser.add_argument(
        "--render",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the render node",
    )
    parser.add_argument("--show", action="store_true", help="show the rendered face in a window")
    for key, (_, default) in TOPICS.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            default=default,
            metavar="TOPIC",
            help=f"(default: {default})",
        )
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop all nodes after S seconds"
    )
    parser.set_defaults(func=run_nodes)
    return parser


def node_commands(args) -> list[tuple[str, list[str]]]:
    """(node name, argv) of every process `reactface run` starts."""
    config = args.config or default_config()
    if config is not None and not Path(config).is_file():
        raise SystemExit(f"reactface run: --config {config} does not exist")
    switches = {
        "use_camera": args.use_camera,
        "use_microphone": args.use_microphone,
        "use_render": args.render,
    }
    topics = {key: getattr(args, key) for key in TOPICS}
    commands = []
    for spec in NODES:
        if spec.optional and not switches[spec.optional]:
            continue
        argv = [sys.executable, "-m", spec.module, "--ros-args"]
        if config is not None:
            argv += ["--params-file", str(config)]
        for name, value in _overrides(spec.name, args).items():
            argv += ["-p", f"{name}:={value}"]
        for default, chosen in remappings(spec, topics):
            if chosen != "/" + default:
                argv += ["-r", f"{default}:={chosen}"]
        commands.append((spec.name, argv))
    return commands


def _overrides(node: str, args) -> dict[str, str]:
    values = {}
    if node == "reaction":
        values["device"] = args.device
        values["seed"] = str(args.seed)
        if args.checkpoint is not None:
            values["checkpoint"] = f"'{args.checkpoint}'"  # quoted: an empty path stays a string
        if args.samples is not None:
            values["samples"] = str(args.samples)
        if args.selection is not None:
            values["selection"] = args.selection
    if node == "render" and args.show:
        values["show_window"] = "true"
    if node == "camera" and args.camera_device is not None:
        values["device"] = f"'{args.camera_device}'"
    return values


def run_nodes(args) -> int:
    commands = node_commands(args)
    env = ros_environment()
    processes: dict[str, subprocess.Popen] = {}
    print(
        f"reactface run: starting {', '.join(name for name, _ in commands)} "
        f"(ROS_DOMAIN_ID={env.get('ROS_DOMAIN_ID', '0')}, "
        f"discovery {env['ROS_AUTOMATIC_DISCOVERY_RANGE']})",
        flush=True,
    )
    for name, argv in commands:
        processes[name] = subprocess.Popen(argv, env=env)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    status = 0
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            failed = [(n, p.returncode) for n, p in processes.items() if p.poll() not in (None, 0)]
            if failed:
                for name, code in failed:
                    print(f"reactface run: node {name} exited with status {code}", file=sys.stderr)
                status = failed[0][1]
                break
            if all(p.poll() is not None for p in processes.values()):
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_all(processes)
    return status


def _stop_all(processes: dict[str, subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGINT (a clean rclpy shutdown) to every node still running, then wait; kill stragglers."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    end = time.monotonic() + timeout
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"reactface run: node {name} did not stop, killing it", file=sys.stderr)
            process.kill()
            process.wait()


# -- reactface bag ----------------------------------------------------------------------

BAG_DESCRIPTION = """\
rosbag2 (mcap) tools that need no ROS installation: make interaction bags from the
synthetic world or REACT clips, replay them to the nodes in real time, record the nodes'
output, and score the recorded reactions with the REACT metrics. A path ending in .mcap
is a single mcap file (what `ros2 bag play FILE.mcap` and Foxglove open), anything else
a rosbag2 directory."""


def register_bag(subparsers, common):
    parser = subparsers.add_parser(
        "bag",
        help="interaction bags: from-synth, from-react, replay, record, evaluate, info",
        description=BAG_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="bag_command", metavar="COMMAND", required=True)
    from reactface_ros.bag import cli as bag_cli

    bag_cli.register(commands, common)
    return parser
