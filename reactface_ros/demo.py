"""`reactface demo` (`make demo`): the whole product on one synthetic interaction.

1. a short synthetic world (`reactface synth`) and one of its test speakers as an
   interaction bag (rendered camera frames + audio + the known appropriate reactions);
2. the reaction and render nodes as real processes (`reactface run`), a recorder
   (`reactface bag record`) and the bag replayed in real time (`reactface bag replay`);
3. the recorded ReactionWindows scored against the bag (`reactface bag evaluate`), and
   `reaction.mp4`: the speaker beside several sampled listener reactions, with the
   speaker's voice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from reactface_core.contract import FPS

SHOWN_SAMPLES = 3  # listener reactions side by side in reaction.mp4
DEMO_DOMAINS = range(60, 100)  # ROS_DOMAIN_ID by process id: not the default 0, inside 0-101
LISTENER_LOOK = {"skin": (0.80, 0.62, 0.50), "hair": (0.07, 0.06, 0.06), "iris": (0.20, 0.32, 0.45)}


def register(subparsers, common):
    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="run the end-to-end demo on a synthetic interaction (writes demo/)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: reactface demo --out demo --seconds 20",
    )
    parser.add_argument("--out", type=Path, default=Path("demo"), help="output folder (demo/)")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="length of the interaction (default: 20)"
    )
    parser.add_argument(
        "--checkpoint",
        default="default",
        help="model for the reaction node: 'default' = the shipped model, or a .pt file",
    )
    parser.add_argument("--samples", type=int, default=10, help="N reactions per window (10)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from reactface_core.cli import main as reactface

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    world, bag, recorded = out / "world", out / "interaction.mcap", out / "reactions.mcap"
    started = time.perf_counter()

    step(1, "a synthetic interaction")
    if world.exists():
        shutil.rmtree(world)
    for name, arguments in (
        (
            "synth",
            ["synth", "--out", str(world), "--clips", "8", "--seconds", str(args.seconds)]
            + ["--clips-per-speaker", "1", "--seed", str(args.seed), "--quiet", "--no-preview"],
        ),
        (
            "bag from-synth",
            ["bag", "from-synth", "--data", str(world), "--split", "test", "--clip", "0"]
            + ["--out", str(bag), "--overwrite"],
        ),
    ):
        status = reactface(arguments)
        if status:
            print(f"demo: `reactface {name}` failed (exit status {status})", file=sys.stderr)
            return status

    step(2, "reaction + render nodes, recorder, real-time replay")
    command = [sys.executable, "-m", "reactface_core.cli"]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # a domain of its own unless you chose one: a robot's real camera on this machine must
    # not feed the demo, nor the demo's replay drive the robot's face
    environment.setdefault("ROS_DOMAIN_ID", str(DEMO_DOMAINS[os.getpid() % len(DEMO_DOMAINS)]))
    print(f"      on ROS_DOMAIN_ID={environment['ROS_DOMAIN_ID']} (set it to watch the topics)")
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    nodes = _start(
        command
        + [
            "run",
            "--no-microphone",
            "--checkpoint",
            args.checkpoint,
            "--samples",
            str(args.samples),
        ]
        + ["--seed", str(args.seed), "--device", args.device],
        logs / "nodes.log",
        environment,
    )
    recorder = _start(
        command + ["bag", "record", str(recorded), "--idle-stop", "3", "--overwrite"],
        logs / "record.log",
        environment,
    )
    try:
        replay = subprocess.run(
            command + ["bag", "replay", str(bag), "--wait-timeout", "120"],
            env=environment,
            stdout=open(logs / "replay.log", "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
            timeout=args.seconds * 3 + 180,
        )
        if replay.returncode != 0:
            return _failed("replay", logs / "replay.log")
        recorder.wait(timeout=60)
        if recorder.returncode != 0:
            return _failed("recorder", logs / "record.log")
    finally:
        for process in (recorder, nodes):
            _stop(process)

    step(3, "scoring the recorded reactions and writing reaction.mp4")
    from reactface_ros.bag.evaluate import (
        evaluate_recording,
        format_report,
        load_recorded,
        load_reference,
    )

    windows, reference = load_recorded(recorded), load_reference(bag)
    report = evaluate_recording(windows, reference)
    video, frames, voiced = write_side_by_side(windows, reference, bag, out / "reaction.mp4")
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    summary = format_report(report)
    (out / "summary.txt").write_text(summary + "\n")
    print()
    print(summary)
    sound = "with the speaker's voice" if voiced else "silent: the bag has no audio"
    print(
        f"\nwrote {video} ({frames} frames: speaker | {SHOWN_SAMPLES} sampled reactions, {sound})"
    )
    print(f"      {out / 'summary.txt'}, {out / 'summary.json'}, {bag}, {recorded}, logs in {logs}")
    print(f"demo took {time.perf_counter() - started:.0f} s")
    return 0


def write_side_by_side(windows, reference, bag: Path, path: Path) -> tuple[Path, int, bool]:
    """Speaker camera frames (from `bag`) beside the first sampled reactions of the
    recorded `windows`, rendered and labelled, with the speaker's voice from `bag` (H.264
    and AAC); `reference` is the bag's frame grid. Returns the path, the frame count and
    whether the bag had a voice to add."""
    import cv2

    from reactface_core.face.render import RenderConfig, make_renderer
    from reactface_core.face.scene import Appearance
    from reactface_core.perception.media import write_video
    from reactface_ros.bag.evaluate import reactions_on_grid
    from reactface_ros.bag.interaction import INPUT_TOPICS, read_speech
    from reactface_ros.bag.store import read_messages
    from reactface_ros.image import to_rgb

    grid = reactions_on_grid(windows, reference.frame_stamps)
    shown = min(SHOWN_SAMPLES, grid.reactions.shape[0])
    reactions = np.nan_to_num(grid.reactions[:shown])  # frames before the first window: neutral
    face_model = windows.windows[0].face_model.name
    renderer = make_renderer(
        face_model, config=RenderConfig(appearance=Appearance(**LISTENER_LOOK))
    )
    camera = [to_rgb(msg) for topic, _, msg in read_messages(bag, INPUT_TOPICS) if "image" in topic]
    speech = read_speech(bag, int(reference.frame_stamps[0]), len(camera))
    labels = ["speaker"] + [f"reaction {n + 1}" for n in range(shown)]

    def composed():
        for start in range(0, len(camera), 64):
            stop = min(start + 64, len(camera))
            tiles = [renderer.render(reactions[n, start:stop]) for n in range(shown)]
            height = tiles[0].shape[1]  # the speaker as high as a reaction, its aspect kept
            width = max(2, round(camera[0].shape[1] * height / camera[0].shape[0]))
            speaker = [
                cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
                for f in camera[start:stop]
            ]
            tiles.insert(0, np.stack(speaker))
            for tile, label in zip(tiles, labels, strict=True):
                for frame in tile:
                    cv2.putText(frame, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255,) * 3, 1)
            yield from np.concatenate(tiles, axis=2)

    audio, rate = speech if speech is not None else (None, None)
    return path, write_video(path, composed(), FPS, audio, rate), speech is not None


def step(number: int, what: str) -> None:
    print(f"[{number}/3] {what}", flush=True)


def _start(command: list[str], log: Path, environment: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        env=environment,
        stdout=open(log, "w"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGINT, then after 20 s SIGKILL to its whole process group (the node processes
    `reactface run` started), so nothing is left running on the demo's domain."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _failed(what: str, log: Path) -> int:
    tail = "\n".join(log.read_text().splitlines()[-20:])
    print(f"reactface demo: the {what} failed; last lines of {log}:\n{tail}", file=sys.stderr)
    return 1
