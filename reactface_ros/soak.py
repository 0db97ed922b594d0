"""`reactface bench soak`: does a long interaction leak memory or lose anything? (not in CI)

The synthetic speaker of `bench ros` (default 640x480 raw rgb8, 20 s) is replayed in a
loop for `--minutes`, its stamps shifted every turn so the reaction node sees one
continuous interaction, to the reaction and render nodes running as their own processes
with the shipped model. It prints the resident memory (RSS) of each node at the start,
after the first minute and at the end, camera frames and audio chunks published /
received / lost, and ReactionWindows expected / received. Targets: 0 windows dropped,
RSS growth <= 5 % after the first minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from reactface_ros.bench import Observer, add_stream_arguments, reaction_node_command, synthetic_bag

RSS_GROWTH_TARGET = 0.05


def add_arguments(parser) -> None:
    parser.add_argument("--minutes", type=float, default=30.0, help="soak length (default: 30)")
    parser.add_argument(
        "--clip-seconds", type=float, default=20.0, help="length of the looped clip (default: 20)"
    )
    parser.add_argument(
        "--checkpoint", default="default", help="model to run (default: the shipped model)"
    )
    parser.add_argument("--samples", type=int, default=10, help="N per window (default: 10)")
    parser.add_argument("--window", type=int, default=8, help="w of a random model (default: 8)")
    add_stream_arguments(parser)
    parser.set_defaults(size=(640, 480))


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(args) -> int:
    from reactface_ros.bag.interaction import AUDIO_TOPIC, CAMERA_TOPIC, INPUT_TOPICS
    from reactface_ros.bag.replay import replay
    from reactface_ros.bag.store import topics_of
    from reactface_ros.session import ros_session

    with tempfile.TemporaryDirectory(prefix="reactface-soak-") as scratch:
        bag = synthetic_bag(
            Path(scratch), args.clip_seconds, args.seed, args.image_format, args.size
        )
        counts = topics_of(bag)
        inputs = [t for t in counts if t.startswith(CAMERA_TOPIC) or t == AUDIO_TOPIC]
        camera_topic = next(t for t in inputs if t.startswith(CAMERA_TOPIC))
        clip_ns = counts[camera_topic][1] * 40_000_000
        observer = Observer()
        with ros_session("reactface_soak") as ros:
            nodes = {
                "reaction": subprocess.Popen(
                    reaction_node_command(args, INPUT_TOPICS[1] in inputs)
                ),
                "render": subprocess.Popen(
                    [sys.executable, "-m", "reactface_ros.nodes.render", "--ros-args"]
                ),
            }
            observer.attach(ros.node)
            spinning = threading.Thread(target=ros.executor.spin, daemon=True)
            spinning.start()
            rss = {name: [] for name in nodes}  # (minutes, MiB)
            published = {camera_topic: 0, AUDIO_TOPIC: 0}
            publishers: dict[str, object] = {}
            start = None
            turn = 0
            try:
                print("waiting for the nodes ...", flush=True)
                while start is None or time.monotonic() - start < 60 * args.minutes:
                    stats = replay(
                        ros.node,
                        bag,
                        topics=inputs,
                        wait_for=inputs if turn == 0 else None,
                        wait_timeout=180.0,
                        ready=(lambda: observer.hears_inputs("reaction")) if turn == 0 else None,
                        stamp_offset_ns=turn * clip_ns,
                        publishers=publishers,
                    )
                    start = start or time.monotonic() - clip_ns / 1e9
                    turn += 1
                    for topic in published:
                        published[topic] += stats.published.get(topic, 0)
                    minutes = (time.monotonic() - start) / 60
                    for name, process in nodes.items():
                        rss[name].append((minutes, rss_mib(process.pid)))
                    print(
                        f"  {minutes:5.1f} min: turn {turn}, windows {len(observer.arrivals)}, "
                        + ", ".join(f"{n} RSS {v[-1][1]:.0f} MiB" for n, v in rss.items())
                        + f", load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
                frames = published[camera_topic]

                def settled() -> bool:
                    return len(observer.arrivals) >= frames // args.window and (
                        observer.counter("reaction", "frames_received") >= frames
                    )

                end = time.monotonic() + 15
                while not settled() and time.monotonic() < end:
                    time.sleep(0.1)
                reports = observer.reports
                while observer.reports == reports and time.monotonic() < end + 3:
                    time.sleep(0.1)
            finally:
                for process in nodes.values():
                    process.terminate()
                for process in nodes.values():
                    process.wait(timeout=30)
        spinning.join(timeout=5)
    return 0 if _report(args, observer, published, camera_topic, AUDIO_TOPIC, rss) else 1


def _report(args, observer, published, camera_topic, audio_topic, rss) -> bool:
    from reactface_core.bench import machine_load

    frames, audio = published[camera_topic], published[audio_topic]
    w = observer.window_frames[0] if observer.window_frames else args.window
    expected, received = frames // w, len(observer.arrivals)
    frames_lost = frames - observer.counter("reaction", "frames_received")
    audio_lost = audio - observer.counter("reaction", "audio_chunks_received")
    print()
    print(
        f"soak: {args.minutes:g} min of a {args.clip_seconds:g} s clip in a loop, "
        f"{'x'.join(map(str, args.size))} {args.image_format}, checkpoint {args.checkpoint!r}"
    )
    print(
        f"  camera frames   published {frames}, lost {frames_lost} "
        f"(by the middleware {observer.counter('reaction', 'frames_lost_in_transport')}), "
        f"held {observer.counter('reaction', 'frames_held')}"
    )
    print(f"  audio chunks    published {audio}, lost {audio_lost}")
    print(f"  windows         received {received} / {expected} (dropped {expected - received})")
    grown = {}
    for name, samples in rss.items():
        first = samples[0][1]
        after_minute = next((v for m, v in samples if m >= 1.0), samples[-1][1])
        last = samples[-1][1]
        grown[name] = last / after_minute - 1
        print(
            f"  {name:<9} RSS    start {first:.0f} MiB, after 1 min {after_minute:.0f} MiB, "
            f"end {last:.0f} MiB (growth after the first minute {100 * grown[name]:+.1f} %)"
        )
    print(f"  machine: {machine_load()} now")
    met = (
        expected == received
        and frames_lost == 0
        and audio_lost == 0
        and all(g <= RSS_GROWTH_TARGET for g in grown.values())
    )
    print(
        "  targets (0 windows dropped, 0 frames lost, RSS growth <= 5 % after the first "
        f"minute): {'met' if met else 'MISSED'}"
    )
    return met
