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

from reactface_ros.launch_config import (
    NODES,
    OPTIONS,
    SWITCHES,
    TOPICS,
    default_config,
    node_namespace,
    remappings,
    ros_environment,
)

RUN_DESCRIPTION = """\
Start the reactface ROS 2 nodes as separate processes, exactly as
`ros2 launch reactface_ros reactface.launch.py` does, but from the pip install (no ROS
installation or `ros2` command needed): reaction (inference) and render always, camera,
microphone and the audio_common bridge on request. Parameters come from the YAML
(default: config/reactface.yaml) plus the options below; each node option's type, choices
and meaning are the node parameter's own. Ctrl-C stops them all; if one node fails, the
others are stopped and the exit status is non-zero.

DDS traffic stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) unless you
set ROS_AUTOMATIC_DISCOVERY_RANGE yourself, and the nodes use the shipped Fast DDS profile
(config/fastdds.xml: shared memory large enough for raw camera frames) unless you set
FASTDDS_DEFAULT_PROFILES_FILE yourself."""
COMMON_OPTIONS = ("device", "seed")  # every command's --device and --seed feed these


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
            "  reactface run --namespace robot1 --no-microphone   # topics under /robot1\n"
            "  reactface run --duration 30   # stop after 30 s (for scripts)"
        ),
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="ROS parameter YAML (default: config/reactface.yaml of the installation)",
    )
    for name, (default, text) in SWITCHES.items():
        short = name.removeprefix("use_").replace("_", "-")
        group = parser.add_mutually_exclusive_group()
        flags = [f"--use-{short}"] + ([f"--{short}"] if short == "render" else [])
        group.add_argument(
            *flags,
            dest=name,
            action="store_true",
            default=default,
            help=text + (" (the default)" if default else ""),
        )
        group.add_argument(f"--no-{short}", dest=name, action="store_false", help="do not")
    for option in OPTIONS:
        if option.name not in COMMON_OPTIONS:
            _add_option(parser, option)
    parser.add_argument(
        "--namespace", default="", help="namespace of every node and topic (default: none)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warn", "error", "fatal"),
        help="ROS log level of the nodes (default: info)",
    )
    for key, (name, _) in TOPICS.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            default=name,
            metavar="TOPIC",
            help=f"(default: {name}, relative to the namespace)",
        )
    parser.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop all nodes after S seconds"
    )
    parser.set_defaults(func=run_nodes)
    return parser


def _add_option(parser, option) -> None:
    """`--name` for a node parameter, typed and explained by the parameter itself."""
    param = option.spec()
    flag = "--" + option.name.replace("_", "-")
    text = f"{option.node} node: {param.description} (default: the YAML's)"
    if isinstance(param.default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        return
    if param.range is not None:
        text = text.replace(" (default", f"; {param.range[0]}..{param.range[1]} (default")
    parser.add_argument(
        flag, type=type(param.default), choices=param.choices, default=None, help=text
    )


def node_commands(args) -> list[tuple[str, list[str]]]:
    """(node name, argv) of every process `reactface run` starts."""
    config = args.config or default_config()
    if config is not None and not Path(config).is_file():
        raise SystemExit(f"reactface run: --config {config} does not exist")
    try:
        namespace = node_namespace(args.namespace)
    except ValueError as error:
        print(f"reactface run: --namespace: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    topics = {key: getattr(args, key) for key in TOPICS}
    commands = []
    for spec in NODES:
        if spec.optional and not getattr(args, spec.optional):
            continue
        argv = [sys.executable, "-m", spec.module, "--ros-args"]
        if config is not None:
            argv += ["--params-file", str(config)]
        for option in OPTIONS:
            value = getattr(args, option.name)
            if option.node == spec.name and value is not None:
                argv += ["-p", f"{option.param}:={_ros_value(value)}"]
        for default, chosen in remappings(spec, topics):
            argv += ["-r", f"{default}:={chosen}"]
        if namespace != "/":
            argv += ["-r", f"__ns:={namespace}"]
        argv += ["--log-level", args.log_level]
        commands.append((spec.name, argv))
    return commands


def _ros_value(value) -> str:
    """A `-p name:=value` value that keeps its type: strings quoted ("0" stays a string)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def run_nodes(args) -> int:
    commands = node_commands(args)
    # Ctrl-C / SIGINT stops the nodes even when a script started us in the background, where
    # the shell set SIGINT to "ignore" (inherited, also by the nodes, which then never stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
