"""Keep MediaPipe's and TensorFlow Lite's native log noise out of the user's terminal.

MediaPipe's C++ graph threads write absl log lines (`W0000 00:00:... inference_feedback_
manager.cc ...`) and TFLite writes `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`
straight to file descriptor 2, when a graph is made, closed or runs its first frame, and
partly later from its own threads; no Python logger or environment variable reaches them.
`filter_native_stderr()`, called before the first graph is made, routes this process's
fd 2 through a pipe and a thread that passes every line on except that noise, so real
errors (and progress bars) still show.

`REACTFACE_NATIVE_LOGS=1` (what `reactface --verbose`, the launch argument `verbose:=true`
and a node's `--ros-args --log-level debug` set) lets everything through unfiltered.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import sys
import threading

VERBOSE_ENV = "REACTFACE_NATIVE_LOGS"
NOISE = re.compile(
    r"^(?:[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "  # absl INFO / WARNING lines
    r"|INFO: Created TensorFlow Lite "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)
PARTIAL_LINE_WAIT = 0.1  # s a line without its newline (a progress bar) waits before passing
_lock = threading.Lock()
_installed = False


def show_native_logs(show: bool = True) -> None:
    """Let native log lines through (for this process and the processes it starts)."""
    if show:
        os.environ[VERBOSE_ENV] = "1"
    else:
        os.environ.pop(VERBOSE_ENV, None)


def native_logs_shown() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def is_noise(line: str) -> bool:
    return NOISE.match(line) is not None


def filter_native_stderr() -> None:
    """From now on, drop the noise lines from this process's stderr (idempotent)."""
    global _installed
    with _lock:
        if _installed or native_logs_shown():
            return
        _installed = True
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        forwarder = threading.Thread(
            target=_forward, args=(read_end, original), name="native-log-filter", daemon=True
        )
        forwarder.start()
        atexit.register(_restore, original, forwarder)


def _forward(read_end: int, original: int) -> None:
    """Pass what arrives on `read_end` to `original`, line by line, without the noise."""
    pending = b""
    while True:
        ready, _, _ = select.select([read_end], [], [], PARTIAL_LINE_WAIT if pending else None)
        if not ready:  # a partial line (e.g. a progress bar's \r update) waited long enough
            os.write(original, pending)
            pending = b""
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        lines = chunk.split(b"\n")
        if pending and is_noise(lines[0].decode(errors="replace")):
            os.write(original, pending)  # a partial line (a progress bar), then noise
        else:
            lines[0] = pending + lines[0]
        pending = lines.pop()
        kept = [line + b"\n" for line in lines if not is_noise(line.decode(errors="replace"))]
        if kept:
            os.write(original, b"".join(kept))
    if pending:
        os.write(original, pending)
    os.close(read_end)


def _restore(original: int, forwarder: threading.Thread) -> None:
    """At exit: put the real stderr back and let the filter pass on what it still holds."""
    sys.stderr.flush()
    os.dup2(original, 2)  # closes the pipe's write end: the forwarder reads to its end
    forwarder.join(timeout=1.0)  # a child process may still hold the pipe open
