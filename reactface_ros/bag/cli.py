"""The `reactface bag` subcommands (argument parsing; the work is in the sibling modules)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reactface_ros.launch_config import TOPICS

INPUT_DEFAULTS = [TOPICS["camera_topic"][1], TOPICS["audio_topic"][1]]


def register(commands, common):
    _from_dataset(commands, common, "from-synth")
    _from_dataset(commands, common, "from-react")
    _from_video(commands, common)
    _replay(commands, common)
    _record(commands, common)
    _evaluate(commands, common)
    _info(commands, common)
    _repair(commands, common)


def _from_dataset(commands, common, name):
    synthetic = name == "from-synth"
    parser = commands.add_parser(
        name,
        parents=[common],
        help=(
            "bag of a synthetic-world clip (rendered speaker + audio + known reactions)"
            if synthetic
            else "bag of a REACT clip (speaker video + audio + listener reactions)"
        ),
        description=(
            "Write one dataset item as an interaction bag: the speaker's camera frames on "
            "/camera/image_raw, audio on /audio/chunk (20 ms chunks at the file's rate), "
            "and the references /reference/speaker_face, /reference/listener_face (the real "
            "listener) and /reference/appropriate (every appropriate reaction), all stamped on "
            "one 25 fps clock."
            + (
                " The synthetic world stores no video: the speaker's face coefficients are "
                "rendered with the face renderer."
                if synthetic
                else ""
            )
        ),
        epilog=(
            "example:\n  reactface synth --out data/synth --clips 20 --seconds 20\n"
            "  reactface bag from-synth --data data/synth --clip 0 --out synth.mcap"
            if synthetic
            else "example:\n  reactface bag from-react NoXI/010_2016-03-25_Paris/Expert_video/3 "
            "--data REACT --split val --out noxi.mcap"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if synthetic:
        parser.add_argument(
            "--data", type=Path, required=True, help="output folder of `reactface synth`"
        )
        parser.add_argument(
            "--clip",
            default="0",
            help="item index in the split's csv, or a speaker clip path (default: 0)",
        )
    else:
        parser.add_argument("clip", help="speaker clip path (as in the csv) or an item index")
        parser.add_argument("--data", type=Path, required=True, help="REACT dataset root")
    parser.add_argument(
        "--split", default="test", choices=("train", "val", "test"), help="(default: test)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="bag to write (NAME.mcap or a directory)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="only the first S seconds")
    parser.add_argument(
        "--image-format",
        default="raw",
        choices=("raw", "jpeg", "png"),
        help="raw: sensor_msgs/Image rgb8 on /camera/image_raw; jpeg/png: CompressedImage on "
        "/camera/image_raw/compressed (default: raw)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    parser.set_defaults(func=lambda args: _run_from_dataset(args, synthetic))


def _run_from_dataset(args, synthetic: bool) -> int:
    from reactface_ros.bag.dataset import clip_interaction

    def interaction():
        return clip_interaction(
            args.data, args.split, args.clip, args.seconds, render_missing_video=synthetic
        )

    return _write(args, interaction, "reactface bag")


def _write(args, interaction, command: str) -> int:
    """Write the (interaction, description) that `interaction()` makes as args.out; an
    unusable input is one error line naming it (exit 2)."""
    from reactface_ros.bag.interaction import write_interaction_bag

    try:
        made, description = interaction()
        print(description, flush=True)
        counts = write_interaction_bag(
            args.out, made, image_format=args.image_format, overwrite=args.overwrite, progress=True
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: " + ", ".join(f"{topic} {n}" for topic, n in sorted(counts.items())))
    return 0


def _from_video(commands, common):
    parser = commands.add_parser(
        "from-video",
        parents=[common],
        help="bag of your own recording (any video OpenCV reads, its sound or a wav)",
        description=(
            "Write a video file as an interaction bag that `reactface bag replay` and "
            "`reactface bench ros --bag` accept: its frames at 25 fps on /camera/image_raw, "
            "its sound in 20 ms chunks on /audio/chunk at the audio's own rate. The sound is "
            "the video's own audio track, or --audio (any rate, mono or stereo). There are "
            "no /reference topics: nobody knows the appropriate reactions to your recording."
        ),
        epilog=(
            "example:\n  reactface bag from-video --video me.mp4 --out me.mcap\n"
            "  reactface bag from-video --video silent.avi --audio voice.wav --out me.mcap\n"
            "  reactface bench ros --bag me.mcap"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from reactface_core.perception.media import add_recording_arguments

    add_recording_arguments(parser)
    parser.add_argument(
        "--out", type=Path, required=True, help="bag to write (NAME.mcap or a directory)"
    )
    parser.add_argument(
        "--image-format",
        default="raw",
        choices=("raw", "jpeg", "png"),
        help="raw: sensor_msgs/Image rgb8; jpeg/png: CompressedImage (default: raw)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    parser.set_defaults(func=_run_from_video)


def _run_from_video(args) -> int:
    from reactface_ros.bag.video import video_interaction

    def interaction():
        if args.out.exists() and not args.overwrite:
            raise ValueError(f"{args.out} exists already (use --overwrite to replace it)")
        return video_interaction(args.video, args.audio)

    return _write(args, interaction, "reactface bag from-video")


def _replay(commands, common):
    parser = commands.add_parser(
        "replay",
        parents=[common],
        help="publish a bag in real time, paced by header stamps",
        description=(
            "Publish every message of BAG on its topic, released when a live robot would have "
            "had it (header stamp; an audio chunk when its last sample was captured), so the "
            "nodes see real-time input. Waits first for subscribers on the input topics."
        ),
        epilog="example:\n  reactface bag replay synth.mcap --rate 1.0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bag", type=Path, help="bag to play (NAME.mcap or a rosbag2 directory)")
    parser.add_argument(
        "--rate", type=float, default=1.0, help="speed factor (default: 1.0 = real time)"
    )
    parser.add_argument(
        "--topics", nargs="+", default=None, help="only these topics (default: all)"
    )
    parser.add_argument(
        "--wait-for",
        nargs="*",
        default=None,
        metavar="TOPIC",
        help="topics that need a subscriber before playing (default: the bag's camera and audio "
        "topics; give none to start at once)",
    )
    parser.add_argument(
        "--wait-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for subscribers (default: 30)",
    )
    parser.set_defaults(func=_run_replay)


def _run_replay(args) -> int:
    from reactface_ros.bag.replay import replay
    from reactface_ros.bag.store import BagError, check_bag, topics_of
    from reactface_ros.session import ros_session

    try:
        check_bag(args.bag)  # nothing is published from a damaged bag
        available = topics_of(args.bag)
    except BagError as error:
        print(f"reactface bag replay: {error}", file=sys.stderr)
        return 2
    wait_for = args.wait_for
    if wait_for is None:
        wait_for = [t for t in available if t in INPUT_DEFAULTS or t.endswith("/compressed")]
        wait_for = [t for t in wait_for if args.topics is None or t in args.topics]
    try:
        with ros_session("reactface_bag_replay") as ros:
            stats = replay(
                ros.node,
                args.bag,
                rate=args.rate,
                topics=args.topics,
                wait_for=wait_for,
                wait_timeout=args.wait_timeout,
                spin=ros.spin,
            )
    except (BagError, TimeoutError, ValueError) as error:
        print(f"reactface bag replay: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    total = sum(stats.published.values())
    print(
        f"replayed {total} messages ({', '.join(f'{t} {n}' for t, n in sorted(stats.published.items()))}); "
        f"worst delay behind schedule {stats.late_ms_max:.1f} ms"
    )
    return 0


def _record(commands, common):
    parser = commands.add_parser(
        "record",
        parents=[common],
        help="record topics into an mcap bag",
        description=(
            "Subscribe to TOPICS (types found on the ROS graph, QoS matched to the publishers) "
            "and write every message as it arrives, with its arrival time as log time, into "
            "the final file: a chunk at least every second, so a killed recorder loses at most "
            "the last second (`reactface bag repair` completes such a file). Ctrl-C (SIGINT) "
            "and SIGTERM stop it cleanly with exit status 0."
        ),
        epilog=(
            "example:\n  reactface bag record out.mcap --topics /reactface/reaction /camera/image_raw "
            "--idle-stop 3"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="bag to write (NAME.mcap or a directory)")
    parser.add_argument(
        "--topics",
        nargs="+",
        default=[TOPICS["reaction_topic"][1], TOPICS["camera_topic"][1]],
        help="topics to record (default: the reactions and the camera, for latency)",
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument(
        "--idle-stop",
        type=float,
        default=None,
        metavar="S",
        help="stop when nothing arrived for S seconds after the first message",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    parser.set_defaults(func=_run_record)


def _run_record(args) -> int:
    from reactface_ros.bag.record import record
    from reactface_ros.bag.store import BagError
    from reactface_ros.session import ros_session

    print(f"recording {', '.join(args.topics)} -> {args.out} (Ctrl-C to stop)", flush=True)
    try:
        with ros_session("reactface_bag_record", stop_on_signals=True) as ros:
            counts = record(
                ros.node,
                args.out,
                args.topics,
                spin=ros.spin,
                duration=args.duration,
                idle_stop=args.idle_stop,
                stop=lambda: ros.stop_requested,
                overwrite=args.overwrite,
            )
    except BagError as error:
        print(f"reactface bag record: {error}", file=sys.stderr)
        return 2
    print(f"recorded {', '.join(f'{t} {n}' for t, n in counts.items())}")
    return 0


def _evaluate(commands, common):
    parser = commands.add_parser(
        "evaluate",
        parents=[common],
        help="REACT metrics of recorded reactions against a bag's references",
        description=(
            "Put the ReactionWindows recorded in OUT back on the speaker frames of the "
            "reference bag by their stamps, and report windows (received vs one per w frames), "
            "stamp alignment, latency (if OUT has the camera topic too), FRCorr and FRDist "
            "against the appropriate reactions, FRDiv (S-MSE), FRVar and FRSyn."
        ),
        epilog="example:\n  reactface bag evaluate out.mcap --reference synth.mcap --json report.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="recorded bag with /reactface/reaction")
    parser.add_argument("--reference", type=Path, required=True, help="the bag that was replayed")
    parser.add_argument(
        "--topic", default=TOPICS["reaction_topic"][1], help="reaction topic in OUT"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args) -> int:
    from reactface_ros.bag.evaluate import evaluate_bags, format_report
    from reactface_ros.bag.store import BagError, check_bag

    try:
        check_bag(args.reference)
        check_bag(args.out)
        report = evaluate_bags(args.out, args.reference, args.topic)
    except BagError as error:
        print(f"reactface bag evaluate: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _info(commands, common):
    parser = commands.add_parser(
        "info",
        parents=[common],
        help="topics, types, message counts and duration of a bag (every checksum checked)",
        description=(
            "Read the whole bag, checking its structure and the mcap chunk checksums, then "
            "list its topics, types, message counts and duration. A truncated or corrupt "
            "bag is one error line naming the file (exit status 2)."
        ),
    )
    parser.add_argument("bag", type=Path)
    parser.set_defaults(func=_run_info)


def _run_info(args) -> int:
    from reactface_ros.bag.store import BagError, check_bag, open_reader

    try:
        check_bag(args.bag)
        reader = open_reader(args.bag)
    except BagError as error:
        print(f"reactface bag info: {error}", file=sys.stderr)
        return 2
    try:
        print(f"{args.bag}: {reader.message_count} messages, {reader.duration / 1e9:.2f} s")
        for topic, info in sorted(reader.topics.items()):
            print(f"  {topic:<32} {info.msgtype:<36} {info.msgcount}")
    finally:
        reader.close()
    return 0


def _repair(commands, common):
    parser = commands.add_parser(
        "repair",
        parents=[common],
        help="copy the readable messages of a truncated or damaged mcap into a complete bag",
        description=(
            "A recording killed before it closed (SIGKILL, power loss) keeps its chunks, one "
            "written at least every second, but not its index: readers refuse it. This copies "
            "every message up to the first missing or damaged byte into a complete bag."
        ),
        epilog="example:\n  reactface bag repair out.mcap out_repaired.mcap",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bag", type=Path, help="the damaged mcap file")
    parser.add_argument("out", type=Path, help="the complete bag to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.set_defaults(func=_run_repair)


def _run_repair(args) -> int:
    from reactface_ros.bag.store import BagError, repair_bag

    try:
        counts, problem = repair_bag(args.bag, args.out, overwrite=args.overwrite)
    except BagError as error:
        print(f"reactface bag repair: {error}", file=sys.stderr)
        return 2
    print(
        f"{args.bag}: {problem}; wrote {args.out}: "
        + ", ".join(f"{topic} {n}" for topic, n in sorted(counts.items()))
    )
    return 0
