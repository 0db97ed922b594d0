"""`reactface render` and `reactface bench render` end to end, on real files."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from PIL import Image

from reactface_core.cli import main
from reactface_core.face.expressions import presets
from reactface_core.face.models import get_face_model

SIZE = 64


@pytest.fixture(scope="module")
def coefficients(tmp_path_factory):
    path = tmp_path_factory.mktemp("coefficients") / "reaction.npy"
    c = np.repeat(presets(["neutral", "happy", "surprise", "turn left"]), 3, axis=0)  # (12, 58)
    c[:, get_face_model().index("headRoll")] = np.linspace(-0.1, 0.1, 12)  # every frame differs
    np.save(path, c)
    return path


def test_mp4_gif_and_png_frames(coefficients, tmp_path):
    common = ["--size", str(SIZE), "--backend", "numpy"]
    assert main(["render", str(coefficients), "--out", str(tmp_path / "r.mp4"), *common]) == 0
    video = cv2.VideoCapture(str(tmp_path / "r.mp4"))
    frames = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == 12 and frames[0].shape == (SIZE, SIZE, 3)
    assert np.abs(frames[0].astype(int) - frames[4]).mean() > 1  # the face changes

    assert main(["render", str(coefficients), "--out", str(tmp_path / "r.gif"), *common]) == 0
    gif = Image.open(tmp_path / "r.gif")
    assert gif.n_frames == 12 and gif.size == (SIZE, SIZE)
    assert gif.info["duration"] == 40  # 25 fps

    assert main(["render", str(coefficients), "--out", str(tmp_path / "frames"), *common]) == 0
    pngs = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(pngs) == 12 and pngs[0].name == "frame_00000.png"
    first = np.asarray(Image.open(pngs[0]))
    assert first.shape == (SIZE, SIZE, 3) and np.ptp(first) > 100


def test_samples_file_and_gallery(coefficients, tmp_path):
    samples = np.stack([np.load(coefficients), get_face_model().neutral(12)])  # (2, 12, 58)
    np.save(tmp_path / "samples.npy", samples)
    args = ["render", str(tmp_path / "samples.npy"), "--size", str(SIZE), "--backend", "numpy"]
    assert main([*args, "--sample", "1", "--out", str(tmp_path / "s1")]) == 0
    assert main([*args, "--sample", "0", "--out", str(tmp_path / "s0")]) == 0
    s0, s1 = (np.asarray(Image.open(tmp_path / d / "frame_00004.png")) for d in ("s0", "s1"))
    assert np.abs(s0.astype(int) - s1).mean() > 1  # happy vs neutral
    with pytest.raises(SystemExit, match="--sample 5 out of range"):
        main([*args, "--sample", "5"])

    assert main(["render", "--gallery", str(tmp_path / "g.png"), "--size", "96"]) == 0
    sheet = Image.open(tmp_path / "g.png")
    assert sheet.size[0] == 4 * 96 and sheet.size[1] > 4 * 96  # 4 x 4 tiles plus labels


def test_bad_inputs_are_named(coefficients, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((5, 56), np.float32))
    with pytest.raises(
        SystemExit,
        match=r"bad.npy has shape \(5, 56\), expected \(T, 58\) for face model 'arkit58'",
    ):
        main(["render", str(tmp_path / "bad.npy"), "--backend", "numpy"])
    with pytest.raises(SystemExit, match="no such file"):
        main(["render", str(tmp_path / "missing.npy")])
    with pytest.raises(SystemExit, match="unknown output type '.webm'"):
        main(["render", str(coefficients), "--out", str(tmp_path / "x.webm"), "--backend", "numpy"])
    with pytest.raises(SystemExit, match="needs your FLAME model file"):
        main(["render", str(coefficients), "--face-model", "flame56", "--backend", "numpy"])


def test_bench_render_prints_both_backends_and_their_ratio(capsys):
    args = ["bench", "render", "--frames", "4", "--size", "32", "--repeats", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    rates = dict(re.findall(r"(moderngl|numpy):\s+([\d.]+) frames/s", out))
    assert set(rates) == {"moderngl", "numpy"} and all(float(v) > 0 for v in rates.values())
    ratio = float(re.search(r"moderngl / numpy = ([\d.]+)x", out).group(1))
    assert ratio == pytest.approx(float(rates["moderngl"]) / float(rates["numpy"]), abs=0.01)
