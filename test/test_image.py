"""sensor_msgs/Image and CompressedImage <-> numpy: every encoding a camera publishes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("sensor_msgs")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from reactface_ros.image import (  # noqa: E402
    ImageError,
    image_to_rgb,
    rgb_to_compressed,
    rgb_to_image,
    to_rgb,
)


def picture(height=6, width=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def raw(encoding, rows: np.ndarray, width: int, step: int | None = None) -> Image:
    """An Image message built by hand (not by our encoder) from per-row bytes."""
    rows = np.asarray(rows, dtype=np.uint8).reshape(rows.shape[0], -1)
    step = rows.shape[1] if step is None else step
    padded = np.zeros((rows.shape[0], step), np.uint8)
    padded[:, : rows.shape[1]] = rows
    padded[:, rows.shape[1] :] = 0xEE  # garbage in the padding must be ignored
    msg = Image(height=rows.shape[0], width=width, encoding=encoding, step=step)
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("step_padding", [0, 5])
def test_each_channel_order_decodes_to_the_same_rgb(step_padding):
    rgb = picture()
    h, w = rgb.shape[:2]
    cases = {
        "rgb8": rgb,
        "bgr8": rgb[:, :, ::-1],
        "rgba8": np.concatenate([rgb, np.full((h, w, 1), 7, np.uint8)], axis=2),
        "bgra8": np.concatenate([rgb[:, :, ::-1], np.full((h, w, 1), 7, np.uint8)], axis=2),
    }
    for encoding, pixels in cases.items():
        channels = pixels.shape[2]
        msg = raw(encoding, pixels, w, step=w * channels + step_padding)
        np.testing.assert_array_equal(image_to_rgb(msg), rgb, err_msg=encoding)


def test_mono8_becomes_grey_rgb_with_padded_rows():
    grey = picture()[:, :, 0]
    out = image_to_rgb(raw("mono8", grey, grey.shape[1], step=grey.shape[1] + 3))
    assert out.shape == (*grey.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_yuyv_and_uyvy_decode_known_bt601_colours():
    # BT.601 limited range: white (235,128,128), red (81,90,240), green (145,54,34)
    white, red, green = (235, 128, 128), (81, 90, 240), (145, 54, 34)
    pairs = [white, red, green]  # each (Y, U, V) fills two pixels
    yuyv = np.array([[y, u, y, v] for y, u, v in pairs], np.uint8).reshape(1, -1)
    uyvy = np.array([[u, y, v, y] for y, u, v in pairs], np.uint8).reshape(1, -1)
    expected = np.array([[255, 255, 255]] * 2 + [[255, 0, 0]] * 2 + [[0, 255, 0]] * 2)
    for encoding, row in (("yuv422_yuy2", yuyv), ("yuyv", yuyv), ("uyvy", uyvy), ("yuv422", uyvy)):
        out = image_to_rgb(raw(encoding, np.repeat(row, 2, axis=0), 6, step=16))
        assert out.shape == (2, 6, 3)
        assert np.abs(out[0].astype(int) - expected).max() <= 2, encoding


@pytest.mark.parametrize(
    "encoding", ["rgb8", "bgr8", "mono8", "rgba8", "bgra8", "yuv422_yuy2", "uyvy"]
)
def test_encoder_and_decoder_round_trip(encoding):
    rgb = np.repeat(picture(8, 6), 2, axis=1)  # pairs of equal pixels survive 4:2:2
    msg = rgb_to_image(rgb, encoding, step=64)
    assert msg.step == 64 and len(msg.data) == 64 * 8
    out = image_to_rgb(msg)
    if encoding == "mono8":
        expected = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
        np.testing.assert_array_equal(out, expected)
    else:
        assert np.abs(out.astype(int) - rgb).max() <= (2 if "y" in encoding else 0)


def test_png_is_lossless_and_jpeg_close_on_a_smooth_image():
    y, x = np.mgrid[0:64, 0:96]
    smooth = np.stack([x * 2, y * 3, (x + y)], axis=2).astype(np.uint8)
    png = rgb_to_compressed(smooth, "png")
    assert png.format == "png"
    np.testing.assert_array_equal(to_rgb(png), smooth)
    jpeg = rgb_to_compressed(smooth, "jpeg", quality=95)
    assert len(jpeg.data) < smooth.nbytes / 4
    assert np.abs(to_rgb(jpeg).astype(int) - smooth).mean() < 2.0
    # image_transport style format strings are understood too
    jpeg.format = "rgb8; jpeg compressed bgr8"
    assert to_rgb(jpeg).shape == smooth.shape


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16)), "unsupported"),
        (Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(11)), "needs 12 bytes"),
        (Image(height=2, width=2, encoding="rgb8", step=5, data=bytes(10)), "step 5 <"),
        (Image(height=0, width=2, encoding="rgb8", step=6), "empty"),
        (Image(height=1, width=3, encoding="yuyv", step=6, data=bytes(6)), "even width"),
        (CompressedImage(format="jpeg", data=b"not an image"), "not a decodable"),
        (CompressedImage(format="tiff", data=b"II*\x00"), "unsupported compressed format"),
    ],
)
def test_bad_images_raise_image_error_naming_the_problem(msg, message):
    with pytest.raises(ImageError, match=message):
        to_rgb(msg)


def test_encoder_refuses_non_rgb_arrays():
    with pytest.raises(ImageError, match=r"RGB uint8 array \(H, W, 3\)"):
        rgb_to_image(np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageError, match="RGB uint8"):
        rgb_to_compressed(np.zeros((4, 4, 3), np.float32))
