"""`reactface bench ros`: is anything lost, and how late are the reactions, over a real-time replay.

A synthetic speaker (the synthetic world's speaker rendered to camera frames of `--size`,
raw rgb8 or jpeg, with its 16 kHz audio in 20 ms chunks) is replayed in real time, paced
by header stamps, to the reaction node running as its own process over DDS, optionally
while `--load N` CPU-bound processes compete for the cores. It prints

- what went in and what arrived: camera frames published / received by the node / held
  (grid slots without their own frame) / lost by the middleware, audio chunks published /
  received, ReactionWindows expected (one per w frames) / received;
- latency from the last input frame: publication of the window's last camera frame ->
  arrival of its ReactionWindow (the target: p95 <= 100 ms at w = 8), p50/p95/max;
- latency from the last input message: publication of whichever message completed the
  window (that frame, or the audio chunk ending the frame's 40 ms of sound) -> arrival;
- the node's compute time and the load average before and after.

The verdict fails (exit status 1) when any camera frame or audio chunk is lost, a window
is missing, or p95 from the last frame exceeds 100 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TARGET_MS = 100.0


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="replay length (default: 60)")
    parser.add_argument("--window", type=int, default=8, help="w for the random model (default: 8)")
    parser.add_argument(
        "--samples", type=int, default=10, help="N samples per window (default: 10)"
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        help="model to run: 'default' the shipped one, a .pt file, or '' a randomly "
        "initialised model of the default size (default: default)",
    )
    parser.add_argument(
        "--bag", type=Path, default=None, help="replay this bag instead of a synthetic speaker"
    )
    add_stream_arguments(parser)
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="run N CPU-bound processes beside the node during the replay (default: 0)",
    )


def add_stream_arguments(parser) -> None:
    """What the replayed speaker looks like, and the node's thread count."""
    from reactface_core.reactor import ModelSettings

    threads = ModelSettings.threads
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"the node's torch CPU threads (default: {threads}, the node's own; 0: torch's)",
    )
    parser.add_argument(
        "--size",
        type=parse_size,
        default=(256, 256),
        metavar="WxH",
        help="camera frame size of the synthetic speaker, e.g. 640x480 (default: 256x256)",
    )
    parser.add_argument(
        "--image-format",
        default="raw",
        choices=("raw", "jpeg"),
        help="camera messages: raw rgb8 Image or jpeg CompressedImage (default: raw)",
    )


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480)."""
    import argparse

    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WIDTHxHEIGHT, e.g. 640x480; got {text!r}"
        ) from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"size {text} outside 16x16 .. 8192x8192")
    return width, height


def run(args) -> int:
    from reactface_core.bench import reference_ms

    reference = reference_ms()  # before any load starts: the machine's own speed today
    with tempfile.TemporaryDirectory(prefix="reactface-bench-ros-") as scratch:
        bag = args.bag or synthetic_bag(
            Path(scratch), args.seconds, args.seed, args.image_format, args.size
        )
        with CpuLoad(args.load):
            load_before = os.getloadavg()[0]
            result = _measure(args, bag)
            result.load = (load_before, os.getloadavg()[0])
            result.reference_ms = reference
    return 0 if _print(result, args) else 1


def _ratio(value, reference: float) -> str:
    return f"{float(value) / reference:.2f}" if value is not None and reference > 0 else "n/a"


def synthetic_bag(
    scratch: Path, seconds: float, seed: int, image_format: str, size: tuple[int, int]
) -> Path:
    """A synthetic-world speaker rendered at `size` as an interaction bag in `scratch`."""
    from reactface_core.data.react import read_pairs
    from reactface_core.data.world.synth import WorldConfig, generate_world
    from reactface_ros.bag.dataset import clip_interaction
    from reactface_ros.bag.interaction import write_interaction_bag

    world = scratch / "world"
    config = WorldConfig(
        clips=3,
        seconds=seconds,
        listeners_per_speaker=2,
        clips_per_speaker=1,
        seed=seed,
        resolutions=(tuple(size),),  # the camera's stage; everything else stays randomised
    )
    generate_world(world, config, workers=1, progress=False, preview=False)
    split = next(s for s in ("test", "val", "train") if read_pairs(world, s))
    interaction, description = clip_interaction(
        world, split, "0", render_missing_video=True, render_size=size
    )
    print(f"speaker: synthetic world {description}", flush=True)
    bag = scratch / "speaker.mcap"
    write_interaction_bag(bag, interaction, image_format=image_format, progress=True)
    return bag


class CpuLoad:
    """`processes` CPU-bound Python processes running while the block runs."""

    def __init__(self, processes: int):
        self.count = processes
        self.processes: list[subprocess.Popen] = []

    def __enter__(self):
        command = [sys.executable, "-c", "while True: pass"]
        self.processes = [subprocess.Popen(command) for _ in range(self.count)]
        if self.count:
            print(f"load: {self.count} CPU-bound processes started", flush=True)
        return self

    def __exit__(self, *_):
        for process in self.processes:
            process.kill()
            process.wait()


def reaction_node_command(args, compressed: bool, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable, "-m", "reactface_ros.nodes.reaction", "--ros-args",
        "-p", f"window:={args.window}", "-p", f"samples:={args.samples}",
        "-p", f"checkpoint:='{args.checkpoint}'", "-p", f"device:={args.device}",
        "-p", f"seed:={args.seed}", "-p", f"threads:={args.threads}",
        "-p", f"image_transport:={'compressed' if compressed else 'raw'}", *extra,
    ]  # fmt: skip


@dataclass
class Observer:
    """ReactionWindow arrivals and the newest /diagnostics values of each reactface node."""

    arrivals: dict[int, float] = field(default_factory=dict)  # window stamp -> arrival
    window_frames: list[int] = field(default_factory=list)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # node name -> values
    reports: int = 0

    def attach(self, node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        from reactface_core import contract
        from reactface_ros.msg import ReactionWindow
        from reactface_ros.nodes.common import OUTPUT_QOS

        node.create_subscription(
            ReactionWindow, contract.absolute(contract.REACTION_TOPIC), self._window, OUTPUT_QOS
        )
        node.create_subscription(DiagnosticArray, contract.DIAGNOSTICS_TOPIC, self._diagnostics, 10)

    def _window(self, msg) -> None:
        from reactface_ros.convert import stamp_to_ns

        self.arrivals[stamp_to_ns(msg.header.stamp)] = time.monotonic()
        self.window_frames.append(msg.num_frames)

    def _diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith("reactface: "):
                name = status.name.removeprefix("reactface: ")
                self.nodes[name] = {kv.key: kv.value for kv in status.values}
                self.reports += 1

    def hears_inputs(self, node: str) -> bool:
        """The node's diagnostics say it has matched a camera and an audio publisher."""
        return (
            self.counter(node, "camera_publishers") > 0
            and self.counter(node, "audio_publishers") > 0
        )

    def counter(self, node: str, key: str) -> int:
        return int(self.nodes.get(node, {}).get(key, 0))


@dataclass
class Result:
    frames: int  # camera frames published
    audio: int  # audio chunks published
    w: int
    observer: Observer
    from_frame: np.ndarray
    from_input: np.ndarray
    late_ms_max: float
    load: tuple[float, float] = (0.0, 0.0)
    reference_ms: float = 0.0  # `bench.reference_ms` before the run

    @property
    def expected(self) -> int:
        return self.frames // self.w

    def node(self, key: str) -> int:
        return self.observer.counter("reaction", key)


def _measure(args, bag: Path) -> Result:
    from reactface_ros.bag.interaction import AUDIO_TOPIC, CAMERA_TOPIC, INPUT_TOPICS
    from reactface_ros.bag.replay import replay
    from reactface_ros.bag.store import topics_of
    from reactface_ros.session import ros_session

    inputs = [t for t in topics_of(bag) if t.startswith(CAMERA_TOPIC) or t == AUDIO_TOPIC]
    camera_topic = next(t for t in inputs if t.startswith(CAMERA_TOPIC))
    observer = Observer()
    with ros_session("reactface_bench") as ros:
        # the node inherits this process's environment: discovery and DDS profile included
        node_process = subprocess.Popen(reaction_node_command(args, INPUT_TOPICS[1] in inputs))
        observer.attach(ros.node)
        spinning = threading.Thread(target=ros.executor.spin, daemon=True)
        spinning.start()
        try:
            print("waiting for the reaction node ...", flush=True)
            stats = replay(
                ros.node,
                bag,
                topics=inputs,
                wait_for=inputs,
                wait_timeout=120.0,
                ready=lambda: observer.hears_inputs("reaction"),
            )
            frames, audio = stats.published[camera_topic], stats.published.get(AUDIO_TOPIC, 0)

            def settled() -> bool:  # every message accounted for, every window in
                done = observer.counter("reaction", "frames_received") + observer.counter(
                    "reaction", "frames_lost_in_transport"
                )
                return done >= frames and len(observer.arrivals) >= frames // args.window

            _wait(settled, 10.0)
            reports = observer.reports
            _wait(lambda: observer.reports > reports, 3.0)  # counters after the last window
        finally:
            node_process.terminate()
            node_process.wait(timeout=20)
    spinning.join(timeout=5)
    w = observer.window_frames[0] if observer.window_frames else args.window
    from_frame, from_input = latencies(observer.arrivals, stats, camera_topic, AUDIO_TOPIC, w)
    return Result(frames, audio, w, observer, from_frame, from_input, stats.late_ms_max)


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def latencies(arrivals, stats, camera_topic: str, audio_topic: str, w: int):
    """(from the window's last frame, from the last input message) in ms, per window."""
    from reactface_core.contract import FRAME_NS

    camera = dict(stats.sent[camera_topic])
    audio = stats.sent.get(audio_topic, [])
    audio_stamps = np.array([s for s, _ in audio], dtype=np.int64)
    audio_times = np.array([t for _, t in audio])
    from_frame, from_input = [], []
    for stamp, arrival in sorted(arrivals.items()):
        last_frame = camera.get(stamp + (w - 1) * FRAME_NS)
        if last_frame is None:
            continue
        from_frame.append(1000 * (arrival - last_frame))
        # the chunk holding the last sample before the window's end completes the window
        chunk = int(np.searchsorted(audio_stamps, stamp + w * FRAME_NS, side="left")) - 1
        completed = (
            max(last_frame, audio_times[chunk]) if 0 <= chunk < len(audio_times) else last_frame
        )
        from_input.append(1000 * (arrival - completed))
    return np.array(from_frame), np.array(from_input)


def _print(result: Result, args) -> bool:
    """Print the report; True when every target is met."""
    frame, inp = result.from_frame, result.from_input
    period_ms = 1000 * result.w / 25
    received = len(result.observer.arrivals)
    dropped = result.expected - received
    frames_in = result.node("frames_received")
    frames_lost = result.frames - frames_in
    audio_lost = result.audio - result.node("audio_chunks_received")
    size = "x".join(map(str, args.size)) if args.bag is None else "from the bag"
    print()
    print(
        f"reaction node, w={result.w}, N={args.samples}, {result.frames} frames "
        f"({result.frames / 25:.1f} s, {size}, {args.image_format}) replayed in real time"
        + (f" beside {args.load} CPU-bound processes" if args.load else "")
    )
    print(
        f"  camera frames   published {result.frames}, received {frames_in}, "
        f"held {result.node('frames_held')}, lost by the middleware "
        f"{result.node('frames_lost_in_transport')} (lost in all {frames_lost})"
    )
    print(
        f"  audio chunks    published {result.audio}, received "
        f"{result.node('audio_chunks_received')} (lost {audio_lost}), zero-filled frames "
        f"{result.node('frames_audio_zero_filled')}"
    )
    print(f"  windows         received {received} / {result.expected} (dropped {dropped})")
    if len(frame):
        p50, p95 = np.percentile(frame, [50, 95])
        print(
            f"  latency last frame -> ReactionWindow   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
            f"max {frame.max():6.1f} ms"
        )
        q50, q95 = np.percentile(inp, [50, 95])
        print(
            f"  latency last input -> ReactionWindow   p50 {q50:6.1f} ms   p95 {q95:6.1f} ms   "
            f"max {inp.max():6.1f} ms"
        )
        print(
            f"  p95 / target ({TARGET_MS:.0f} ms)      {p95 / TARGET_MS:.2f}   "
            f"p95 / window period ({period_ms:.0f} ms)  {p95 / period_ms:.2f}"
        )
    node = result.observer.nodes.get("reaction", {})
    if node:
        print(
            f"  node: compute p50 {node.get('compute_ms_p50')} ms (then, once the window is "
            f"out, the history update p50 {node.get('settle_ms_p50')} ms), skipped "
            f"{node.get('frames_skipped')}+{node.get('audio_chunks_skipped')}, tracker skipped "
            f"{node.get('frames_tracker_skipped')}, device {node.get('device')}, torch threads "
            f"{node.get('torch_threads')}"
        )
    print(f"  replay: worst delay behind schedule {result.late_ms_max:.1f} ms")
    before, after = result.load
    print(
        f"  machine: {os.cpu_count()} CPUs, load average {before:.2f} before, {after:.2f} after, "
        f"reference work {result.reference_ms:.1f} ms before (node compute p50 / reference "
        f"{_ratio(node.get('compute_ms_p50'), result.reference_ms)})"
    )
    met = (
        len(frame) > 0
        and np.percentile(frame, 95) <= TARGET_MS
        and dropped == 0
        and frames_lost == 0
        and audio_lost == 0
    )
    print(
        f"  targets (0 frames and chunks lost, 0 windows dropped, p95 <= {TARGET_MS:.0f} ms "
        f"from the last frame): {'met' if met else 'MISSED'}"
    )
    return met
