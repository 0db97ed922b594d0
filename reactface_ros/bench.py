"""`reactface bench ros`: end-to-end latency of the reaction node over a real-time replay.

A synthetic speaker (the synthetic world's speaker, rendered to 256x256 camera frames,
with its 16 kHz audio in 20 ms chunks) is replayed in real time, paced by header stamps,
to the reaction node running as its own process over DDS. For every ReactionWindow the
benchmark measures

- latency from the last input frame: publication of the window's last camera frame ->
  arrival of its ReactionWindow (the figure the target is about: p95 <= 100 ms at w = 8);
- latency from the last input message: publication of whichever message completed the
  window (that frame, or the audio chunk ending the frame's 40 ms of sound, which is
  published up to 40 ms later) -> arrival; what the node itself adds;

and counts dropped windows: one ReactionWindow is due per w frames replayed. It prints
these, the ratio of p95 to the target and to the window period (w / 25 s), and the node's
own compute time from /diagnostics.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
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
        "--checkpoint", default="", help="model to run (default: randomly initialised, same cost)"
    )
    parser.add_argument(
        "--bag", type=Path, default=None, help="replay this bag instead of a synthetic speaker"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads in the node (0: default)"
    )
    parser.add_argument(
        "--image-format",
        default="raw",
        choices=("raw", "jpeg"),
        help="camera messages (default: raw)",
    )


def run(args) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    with tempfile.TemporaryDirectory(prefix="reactface-bench-ros-") as scratch:
        bag = args.bag or _synthetic_bag(Path(scratch), args.seconds, args.seed, args.image_format)
        load_before = os.getloadavg()[0]
        result = _measure(args, bag)
        result["load"] = (load_before, os.getloadavg()[0])
    _print(result, args)
    return 0


def _synthetic_bag(scratch: Path, seconds: float, seed: int, image_format: str) -> Path:
    from reactface_core.data.react import read_pairs
    from reactface_core.data.world.generate import WorldConfig, generate_world
    from reactface_ros.bag.dataset import clip_interaction
    from reactface_ros.bag.interaction import write_interaction_bag

    world = scratch / "world"
    config = WorldConfig(
        clips=3, seconds=seconds, listeners_per_speaker=2, clips_per_speaker=1, seed=seed
    )
    generate_world(world, config, workers=1, progress=False, preview=False)
    split = next(s for s in ("test", "val", "train") if read_pairs(world, s))
    interaction, description = clip_interaction(world, split, "0", render_missing_video=True)
    print(f"speaker: synthetic world {description}", flush=True)
    bag = scratch / "speaker.mcap"
    write_interaction_bag(bag, interaction, image_format=image_format, progress=True)
    return bag


def _measure(args, bag: Path) -> dict:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from reactface_core import contract
    from reactface_ros.bag.interaction import AUDIO_TOPIC, CAMERA_TOPIC, INPUT_TOPICS
    from reactface_ros.bag.replay import replay
    from reactface_ros.bag.store import topics_of
    from reactface_ros.convert import stamp_to_ns
    from reactface_ros.msg import ReactionWindow
    from reactface_ros.nodes.common import OUTPUT_QOS

    inputs = [t for t in topics_of(bag) if t.startswith(CAMERA_TOPIC) or t == AUDIO_TOPIC]
    compressed = INPUT_TOPICS[1] in inputs
    command = [
        sys.executable, "-m", "reactface_ros.nodes.reaction", "--ros-args",
        "-p", f"window:={args.window}", "-p", f"samples:={args.samples}",
        "-p", f"checkpoint:='{args.checkpoint}'", "-p", f"device:={args.device}",
        "-p", f"seed:={args.seed}", "-p", f"threads:={args.threads}",
        "-p", f"image_transport:={'compressed' if compressed else 'raw'}",
    ]  # fmt: skip
    node_process = subprocess.Popen(command)
    rclpy.init()
    receiver = rclpy.create_node("reactface_bench_receiver")
    player = rclpy.create_node("reactface_bench_player")
    arrivals: dict[int, float] = {}
    window_frames: list[int] = []
    diagnostics: list[dict[str, str]] = []

    def on_window(msg) -> None:
        arrivals[stamp_to_ns(msg.header.stamp)] = time.monotonic()
        window_frames.append(msg.num_frames)

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.name.endswith("reaction"):
                diagnostics.append({kv.key: kv.value for kv in status.values})

    receiver.create_subscription(
        ReactionWindow, contract.absolute(contract.REACTION_TOPIC), on_window, OUTPUT_QOS
    )
    receiver.create_subscription(DiagnosticArray, contract.DIAGNOSTICS_TOPIC, on_diagnostics, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(receiver)
    spinning = threading.Thread(target=executor.spin, daemon=True)
    spinning.start()
    try:
        print("waiting for the reaction node ...", flush=True)
        stats = replay(player, bag, topics=inputs, wait_for=inputs, wait_timeout=120.0)
        deadline = time.monotonic() + 5.0
        expected = stats.published[next(t for t in inputs if t.startswith(CAMERA_TOPIC))]
        while time.monotonic() < deadline and len(arrivals) < expected // max(1, args.window):
            time.sleep(0.05)
        time.sleep(1.2)  # one more /diagnostics message
    finally:
        node_process.terminate()
        node_process.wait(timeout=20)
        executor.shutdown()
        spinning.join(timeout=5)
        rclpy.try_shutdown()

    camera = dict(stats.sent[next(t for t in inputs if t.startswith(CAMERA_TOPIC))])
    audio = stats.sent.get(AUDIO_TOPIC, [])
    audio_stamps = np.array([s for s, _ in audio], dtype=np.int64)
    audio_times = np.array([t for _, t in audio])
    w = window_frames[0] if window_frames else args.window
    frame_ns = 40_000_000
    from_frame, from_input = [], []
    for stamp, arrival in sorted(arrivals.items()):
        last_frame = camera.get(stamp + (w - 1) * frame_ns)
        if last_frame is None:
            continue
        from_frame.append(1000 * (arrival - last_frame))
        # the chunk holding the last sample before the window's end completes the window
        chunk = int(np.searchsorted(audio_stamps, stamp + w * frame_ns, side="left")) - 1
        completed = (
            max(last_frame, audio_times[chunk]) if 0 <= chunk < len(audio_times) else last_frame
        )
        from_input.append(1000 * (arrival - completed))
    return {
        "frames": len(camera),
        "w": w,
        "expected": len(camera) // w,
        "received": len(arrivals),
        "from_frame": np.array(from_frame),
        "from_input": np.array(from_input),
        "node": diagnostics[-1] if diagnostics else {},
        "late_ms_max": stats.late_ms_max,
    }


def _print(result: dict, args) -> None:
    frame, inp = result["from_frame"], result["from_input"]
    period_ms = 1000 * result["w"] / 25
    dropped = result["expected"] - result["received"]
    print()
    print(
        f"reaction node, w={result['w']}, N={args.samples}, {result['frames']} frames "
        f"({result['frames'] / 25:.1f} s) replayed in real time"
    )
    print(
        f"  windows received        {result['received']} / {result['expected']} (dropped {dropped})"
    )
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
    node = result["node"]
    if node:
        print(
            f"  node: compute p50 {node.get('compute_ms_p50')} ms, held frames "
            f"{node.get('frames_held')}, zero-filled {node.get('frames_audio_zero_filled')}, "
            f"skipped {node.get('frames_skipped')}+{node.get('audio_chunks_skipped')}, "
            f"device {node.get('device')}"
        )
    print(f"  replay: worst delay behind schedule {result['late_ms_max']:.1f} ms")
    before, after = result["load"]
    print(f"  machine: {os.cpu_count()} CPUs, load average {before:.2f} before, {after:.2f} after")
    verdict = (
        "met" if len(frame) and np.percentile(frame, 95) <= TARGET_MS and dropped == 0 else "MISSED"
    )
    print(f"  targets (p95 <= {TARGET_MS:.0f} ms from the last frame, 0 dropped): {verdict}")
