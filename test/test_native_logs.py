"""MediaPipe/TFLite native log noise stays out of stderr; real lines and --verbose get through."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reactface_core.native_logs import VERBOSE_ENV, is_noise

NOISE_LINES = (
    "W0000 00:00:1796017528.707664   24323 inference_feedback_manager.cc:114] Feedback "
    "manager requires a model with a single signature inference.",
    "I0000 00:00:1796017528.707664   24323 gl_context.cc:369] GL version: 3.2",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
)
# a real MediaPipe session: make a graph, run it, reset (a new graph), run, and write an
# error line and a progress-bar update straight to fd 2 as native code would
SCRIPT = """
import os, numpy as np
from reactface_core.perception.face_tracker import FaceLandmarker
landmarker = FaceLandmarker(mode="video")
landmarker(np.zeros((64, 64, 3), np.uint8)); landmarker.reset()
landmarker(np.zeros((64, 64, 3), np.uint8)); landmarker.close()
os.write(2, b"E0000 00:00:1.0 1 real.cc:1] a real error\\n")
os.write(2, b"\\rprogress 50%")
"""


def test_noise_pattern_matches_only_the_noise():
    assert all(is_noise(line) for line in NOISE_LINES)
    for line in ("E0000 00:00:1.0 1 x.cc:1] failed", "Traceback (most recent call last):", ""):
        assert not is_noise(line)


def run_mediapipe(**env) -> str:
    import os

    environment = {k: v for k, v in os.environ.items() if k != VERBOSE_ENV} | env
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, env=environment
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


@pytest.mark.slow
def test_mediapipe_sessions_print_no_noise_but_real_lines_get_through():
    stderr = run_mediapipe()
    assert not [line for line in stderr.splitlines() if is_noise(line)], stderr
    assert "a real error" in stderr and stderr.endswith("progress 50%")  # \r read as \n


@pytest.mark.slow
def test_the_verbose_switch_brings_the_native_lines_back():
    stderr = run_mediapipe(**{VERBOSE_ENV: "1"})
    assert any("TensorFlow Lite" in line or line.startswith("W0000") for line in stderr.split("\n"))


def test_reactface_verbose_option_lets_native_lines_through(monkeypatch, tmp_path):
    import os

    from reactface_core.cli import main

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    missing = str(tmp_path / "missing.npy")
    try:
        main(["render", missing, "--out", str(tmp_path / "x.mp4"), "--verbose"])
    except SystemExit:
        pass  # the missing file; the switch was applied before the command ran
    assert os.environ.get(VERBOSE_ENV) == "1"
