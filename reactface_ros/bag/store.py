"""Reading and writing rosbag2 (mcap) bags without a ROS installation.

Bags are mcap: either a rosbag2 directory (`DIR/metadata.yaml` + `DIR/DIR_0.mcap`, written
with `rosbags`) or a single `NAME.mcap` file (what `ros2 bag play NAME.mcap` and Foxglove
open directly), written with the `mcap` library so every chunk carries a CRC. The reactface
message definitions from `msg/` are registered in the rosbags type store next to the
standard ROS 2 (kilted) types, so every schema carries its full definition, and the type
store's RIHS01 hashes are identical to the ones rosidl generates. Bags are read with
`rosbags`; `check_bag` reads every record first (structure, CRCs) and names a truncated or
corrupt file, `repair_bag` keeps the readable part of one. Messages are (de)serialised
with rclpy, so bag tools and nodes share the same message classes and converters.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

CUSTOM_MESSAGES = ("AudioChunk", "FaceCoefficients", "ReactionWindow")


class BagError(ValueError):
    """A bag that is missing, unreadable or lacks what a command needs."""


def message_dir() -> Path:
    """Where the reactface `.msg` files are: the source tree or an installed share/ dir."""
    here = Path(__file__).resolve().parents[2] / "msg"
    candidates = [here, Path(sys.prefix) / "share" / "reactface_ros" / "msg"]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("reactface_ros")) / "msg")
    except Exception:  # noqa: BLE001  (no ament index: not a colcon install)
        pass
    for folder in candidates:
        if all((folder / f"{name}.msg").is_file() for name in CUSTOM_MESSAGES):
            return folder
    raise BagError(
        "cannot find the reactface message definitions (msg/*.msg); looked in "
        + ", ".join(str(c) for c in candidates)
    )


@lru_cache(maxsize=1)
def typestore():
    """ROS 2 kilted types plus reactface_ros/msg/{AudioChunk,FaceCoefficients,ReactionWindow}."""
    store = get_typestore(Stores.ROS2_KILTED)
    folder = message_dir()
    types = {}
    for name in CUSTOM_MESSAGES:
        types.update(
            get_types_from_msg((folder / f"{name}.msg").read_text(), f"reactface_ros/msg/{name}")
        )
    store.register(types)
    return store


def type_name(msg_or_class: Any) -> str:
    """rclpy message (or class) -> 'pkg/msg/Name'."""
    cls = msg_or_class if isinstance(msg_or_class, type) else type(msg_or_class)
    package = cls.__module__.split(".")[0]
    return f"{package}/msg/{cls.__name__}"


def message_class(name: str) -> type:
    """'pkg/msg/Name' -> the rclpy message class."""
    package, kind, cls = name.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), cls)
    except (ImportError, AttributeError) as error:
        raise BagError(f"message type {name} is not available in this Python: {error}") from None


class BagWriter:
    """Write rclpy messages to an mcap bag; a connection per topic is made on first use.

    `path` ending in `.mcap` gives one mcap file (written with chunk CRCs, so corruption is
    detected when it is read), anything else a rosbag2 directory. A file is written under a
    hidden temporary name and renamed when closed, so a half-written bag never has the
    final name; with `live=True` (recording) it is written into the final file as it goes
    instead, a chunk at least every `flush_period` seconds, so a killed recorder loses at
    most that much (the file then lacks its index: `repair_bag` restores it).
    """

    def __init__(
        self,
        path: str | Path,
        overwrite: bool = False,
        live: bool = False,
        flush_period: float = 1.0,
    ):
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise BagError(f"{self.path} exists already (use --overwrite to replace it)")
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        self.single_file = self.path.suffix == ".mcap"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        if self.single_file:
            self._file_path = (
                self.path if live else self.path.with_name(f".{self.path.name}.partial")
            )
            self._mcap = McapFileWriter(self._file_path, flush_period)
        else:
            self._mcap = None
            self.writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
            self.writer.open()

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        self.write_raw(topic, type_name(msg), serialize_message(msg), log_time_ns)

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        connection = self.connections.get(topic)
        if connection is None:
            if self._mcap is not None:
                connection = self._mcap.add_channel(topic, msgtype)
            else:
                connection = self.writer.add_connection(topic, msgtype, typestore=typestore())
            self.connections[topic] = connection
            self.counts[topic] = 0
        if self._mcap is not None:
            self._mcap.write(connection, int(log_time_ns), data)
        else:
            self.writer.write(connection, int(log_time_ns), data)
        self.counts[topic] += 1

    def flush_if_due(self) -> None:
        """Live files: write buffered messages out once `flush_period` has passed."""
        if self._mcap is not None:
            self._mcap.flush_if_due()

    def close(self) -> Path:
        if self._mcap is not None:
            self._mcap.close()
            if self._file_path != self.path:
                self._file_path.replace(self.path)
        else:
            self.writer.close()
        return self.path

    def discard(self) -> None:
        """Close and delete what was written."""
        if self._mcap is not None:
            self._mcap.close()
            self._file_path.unlink(missing_ok=True)
        else:
            self.writer.close()
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


class McapFileWriter:
    """One mcap file with the ros2 profile: schemas from the type store, CDR messages,
    chunk and data-section CRCs, a chunk written out at least every `flush_period` s."""

    def __init__(self, path: Path, flush_period: float = 1.0):
        from mcap.writer import CompressionType
        from mcap.writer import Writer as McapWriter

        self.stream = path.open("wb")
        self.writer = McapWriter(
            self.stream,
            chunk_size=4 * 1024 * 1024,
            compression=CompressionType.NONE,
            enable_crcs=True,
            enable_data_crcs=True,
        )
        self.writer.start(profile="ros2", library="reactface")
        self.schemas: dict[str, int] = {}
        self.flush_period = flush_period
        self.last_flush = time.monotonic()
        self.pending = False  # messages not yet in the file

    def add_channel(self, topic: str, msgtype: str) -> int:
        if msgtype not in self.schemas:
            definition, _ = typestore().generate_msgdef(msgtype, ros_version=2)
            self.schemas[msgtype] = self.writer.register_schema(
                msgtype, "ros2msg", definition.encode()
            )
        return self.writer.register_channel(topic, "cdr", self.schemas[msgtype])

    def write(self, channel: int, log_time_ns: int, data: bytes) -> None:
        self.writer.add_message(channel, log_time_ns, data, log_time_ns)
        self.pending = True
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Write the chunk in progress to the file if `flush_period` has passed."""
        now = time.monotonic()
        if self.pending and now - self.last_flush >= self.flush_period:
            self.writer.flush()
            self.pending, self.last_flush = False, now

    def close(self) -> None:
        if self.stream.closed:
            return
        self.writer.finish()
        self.stream.close()


def open_reader(path: str | Path) -> Reader:
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # noqa: BLE001  (rosbags raises several kinds)
        if path.is_file():
            check_bag(path)  # a precise reason when there is one (truncated, checksum)
        raise BagError(f"{path} is not a readable rosbag2 / mcap bag: {error}") from None
    return reader


def read_raw(
    path: str | Path, topics: list[str] | None = None
) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log time ns, CDR bytes) of every message, in log-time order."""
    reader = open_reader(path)
    try:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        if not connections:  # rosbags reads every topic when given none
            return
        try:
            for connection, log_time, data in reader.messages(connections=connections):
                yield connection.topic, connection.msgtype, log_time, bytes(data)
        except BagError:
            raise
        except Exception as error:  # noqa: BLE001  (a chunk that fails its checksum, ...)
            raise BagError(f"{path} is corrupt: {error}") from None
    finally:
        reader.close()


def check_bag(path: str | Path) -> int:
    """Read every record of the bag's mcap file(s), checking their structure and checksums.

    Returns the number of messages; raises `BagError` naming the file and what is wrong:
    truncated (a recording that was never closed: `repair_bag` keeps what is readable),
    a checksum mismatch, or a broken record.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    files = sorted(path.glob("*.mcap")) if path.is_dir() else [path]
    if not files:
        raise BagError(f"{path} is not a rosbag2 directory: it holds no .mcap file")
    return sum(_check_mcap(file) for file in files)


def readable_messages(path: str | Path) -> int:
    """Messages of an mcap file readable now, up to its end or first damage (e.g. the
    chunks a running recorder has written so far)."""
    from mcap.records import Message

    count = 0
    try:
        for record in _records(Path(path)):
            count += isinstance(record, Message)
    except (_Truncated, _Corrupt):
        pass
    return count


def _check_mcap(file: Path) -> int:
    from mcap.records import Message

    messages, end = 0, None
    try:
        for record in _records(file):
            if isinstance(record, Message):
                messages += 1
                end = record.log_time
    except _Truncated:
        where = f", the last at log time {end / 1e9:.3f} s" if end is not None else ""
        raise BagError(
            f"{file} is truncated: {messages} messages are readable{where}, then the file "
            f"ends without its index (a recorder that was killed?); `reactface bag repair "
            f"{file} OUT.mcap` writes the readable messages to a complete bag"
        ) from None
    except _Corrupt as error:
        raise BagError(f"{file} is corrupt after {messages} messages: {error}") from None
    return messages


class _Truncated(Exception):
    pass


class _Corrupt(Exception):
    pass


def _records(file: Path) -> Iterator[Any]:
    """The mcap records of `file` in order (chunks opened, CRCs checked)."""
    import struct

    from mcap.exceptions import EndOfFile, InvalidMagic, McapError, RecordLengthLimitExceeded
    from mcap.stream_reader import CRCValidationError, StreamReader

    size = file.stat().st_size
    with file.open("rb") as stream:
        reader = StreamReader(stream, validate_crcs=True, record_size_limit=max(size, 1))
        try:
            yield from reader.records
        except (EndOfFile, RecordLengthLimitExceeded):  # a record longer than what is left
            raise _Truncated() from None
        except InvalidMagic as error:
            if stream.tell() >= size and size > 8:  # the closing magic is missing
                raise _Truncated() from None
            raise _Corrupt(f"not an mcap file ({error})") from None
        except CRCValidationError as error:
            raise _Corrupt(f"checksum mismatch: {error}") from None
        except (McapError, ValueError, KeyError, struct.error, UnicodeDecodeError) as error:
            raise _Corrupt(f"broken record: {error!r}") from None


def repair_bag(
    path: str | Path, out: str | Path, overwrite: bool = False
) -> tuple[dict[str, int], str]:
    """Copy every message of an unclosed or damaged mcap file up to its first damaged or
    missing byte into a complete bag `out`; returns (message counts per topic, what was
    wrong with the file)."""
    from mcap.records import Channel, Message, Schema

    path = Path(path)
    if not path.is_file():
        raise BagError(f"{path} is not an mcap file")
    schemas, channels = {}, {}
    problem = "none: the bag was complete"
    with BagWriter(out, overwrite=overwrite) as writer:
        try:
            for record in _records(path):
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    channels[record.id] = (record.topic, record.schema_id)
                elif isinstance(record, Message) and record.channel_id in channels:
                    topic, schema = channels[record.channel_id]
                    writer.write_raw(topic, schemas[schema], record.data, record.log_time)
        except _Truncated:
            problem = "the file ended without its index"
        except _Corrupt as error:
            problem = str(error)
        counts = dict(writer.counts)
    if not counts:
        Path(out).unlink(missing_ok=True)
        raise BagError(f"{path}: no readable message to keep ({problem})")
    return counts, problem


def read_messages(
    path: str | Path, topics: list[str] | None = None
) -> Iterator[tuple[str, int, Any]]:
    """(topic, log time ns, rclpy message) of every message, in log-time order."""
    classes: dict[str, type] = {}
    for topic, msgtype, log_time, data in read_raw(path, topics):
        cls = classes.get(msgtype) or classes.setdefault(msgtype, message_class(msgtype))
        yield topic, log_time, deserialize_message(data, cls)


def topics_of(path: str | Path) -> dict[str, tuple[str, int]]:
    """topic -> (msgtype, message count)."""
    reader = open_reader(path)
    try:
        return {topic: (info.msgtype, info.msgcount) for topic, info in reader.topics.items()}
    finally:
        reader.close()
