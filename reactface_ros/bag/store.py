"""Reading and writing rosbag2 (mcap) bags with `rosbags`, without a ROS installation.

Bags are mcap: either a rosbag2 directory (`DIR/metadata.yaml` + `DIR/DIR_0.mcap`) or a
single `NAME.mcap` file (what `ros2 bag play NAME.mcap` and Foxglove open directly). The
reactface message definitions from `msg/` are registered in the rosbags type store next to
the standard ROS 2 (kilted) types, so every connection carries its full definition and
RIHS01 type hash, identical to the ones rosidl generates. Messages are (de)serialised with
rclpy, so bag tools and nodes share the same message classes and converters.
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
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

    `path` ending in `.mcap` gives one mcap file, anything else a rosbag2 directory.
    """

    def __init__(self, path: str | Path, overwrite: bool = False):
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
        if self.single_file:
            self._scratch = Path(tempfile.mkdtemp(prefix=".bag-", dir=self.path.parent))
            directory = self._scratch / self.path.stem
        else:
            self._scratch, directory = None, self.path
        self.writer = Writer(directory, version=9, storage_plugin=StoragePlugin.MCAP)
        self.writer.open()
        self.connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        self.write_raw(topic, type_name(msg), serialize_message(msg), log_time_ns)

    def write_raw(self, topic: str, msgtype: str, data: bytes, log_time_ns: int) -> None:
        connection = self.connections.get(topic)
        if connection is None:
            connection = self.writer.add_connection(topic, msgtype, typestore=typestore())
            self.connections[topic] = connection
            self.counts[topic] = 0
        self.writer.write(connection, int(log_time_ns), data)
        self.counts[topic] += 1

    def close(self) -> Path:
        self.writer.close()
        if self.single_file:
            (mcap,) = (self._scratch / self.path.stem).glob("*.mcap")
            mcap.replace(self.path)
            shutil.rmtree(self._scratch)
        return self.path

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, kind, *_exc) -> None:
        if kind is None:
            self.close()
        else:
            self.writer.close()
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)


def open_reader(path: str | Path) -> Reader:
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as error:  # noqa: BLE001  (rosbags raises several kinds)
        raise BagError(f"{path} is not a readable rosbag2 / mcap bag: {error}") from None
    return reader


def read_raw(
    path: str | Path, topics: list[str] | None = None
) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log time ns, CDR bytes) of every message, in log-time order."""
    reader = open_reader(path)
    try:
        connections = [c for c in reader.connections if topics is None or c.topic in topics]
        for connection, log_time, data in reader.messages(connections=connections):
            yield connection.topic, connection.msgtype, log_time, bytes(data)
    finally:
        reader.close()


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
