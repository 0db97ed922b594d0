"""sensor_msgs/Image and CompressedImage <-> numpy, without cv_bridge.

ROS 2's cv_bridge is not installable from PyPI, so this is the one converter the nodes use.
It covers what cameras publish: rgb8, bgr8, mono8, rgba8, bgra8, the packed 4:2:2 formats
(yuv422_yuy2 / yuyv and yuv422 / uyvy) and jpeg / png compressed images, including rows
padded to a wider `step` than width x channels. Everything is returned as RGB uint8
(H, W, 3), the input the face tracker expects; anything else raises `ImageError` naming
what was expected, so a node can log and skip the message.
"""

from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

# encoding -> (bytes per pixel, OpenCV conversion to RGB or None for a plain copy)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "8UC1": (1, cv2.COLOR_GRAY2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2RGB_UYVY),
}
COMPRESSED_FORMATS = ("jpeg", "png")


class ImageError(ValueError):
    """An image message that cannot be converted (encoding, size or payload)."""


def image_to_rgb(msg: Image) -> np.ndarray:
    """Decode a sensor_msgs/Image into an RGB uint8 array (H, W, 3)."""
    if msg.encoding not in ENCODINGS:
        raise ImageError(
            f"unsupported image encoding {msg.encoding!r}; expected one of {', '.join(ENCODINGS)}"
        )
    channels, conversion = ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels
    if height == 0 or width == 0:
        raise ImageError(f"empty {msg.encoding} image ({width}x{height})")
    if msg.encoding in ("yuv422_yuy2", "yuyv", "yuv422", "uyvy") and width % 2:
        raise ImageError(f"{msg.encoding} needs an even width (2 pixels share U, V), got {width}")
    if step < row_bytes:
        raise ImageError(
            f"{msg.encoding} image {width}x{height} has step {step} < width x {channels} bytes "
            f"= {row_bytes}"
        )
    data = _uint8(msg.data)
    if data.size != step * height:
        raise ImageError(
            f"{msg.encoding} image {width}x{height} with step {step} needs {step * height} "
            f"bytes, got {data.size}"
        )
    pixels = data.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """Decode a jpeg or png sensor_msgs/CompressedImage into RGB uint8 (H, W, 3)."""
    # image_transport writes e.g. "jpeg" or "rgb8; jpeg compressed bgr8"
    declared = msg.format.lower()
    if declared and not any(name in declared for name in COMPRESSED_FORMATS):
        raise ImageError(f"unsupported compressed format {msg.format!r}; expected jpeg or png")
    buffer = _uint8(msg.data)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if decoded is None:
        raise ImageError(
            f"compressed image ({msg.format or 'no format'}, {buffer.size} bytes) "
            "is not a decodable jpeg or png"
        )
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def to_rgb(msg: Image | CompressedImage) -> np.ndarray:
    """Either kind of image message -> RGB uint8 (H, W, 3)."""
    if isinstance(msg, CompressedImage):
        return compressed_to_rgb(msg)
    return image_to_rgb(msg)


def rgb_to_image(rgb: np.ndarray, encoding: str = "rgb8", step: int | None = None) -> Image:
    """Encode RGB uint8 (H, W, 3) as a sensor_msgs/Image (header left to the caller).

    `step` pads each row to that many bytes (as some camera drivers do); default: no padding.
    """
    rgb = _checked_rgb(rgb)
    if encoding not in ENCODINGS:
        raise ImageError(f"cannot encode {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    pixels = _from_rgb(rgb, encoding)
    height, width = rgb.shape[:2]
    rows = pixels.reshape(height, -1)
    step = rows.shape[1] if step is None else step
    if step < rows.shape[1]:
        raise ImageError(f"step {step} is smaller than one row ({rows.shape[1]} bytes)")
    if step > rows.shape[1]:
        rows = np.pad(rows, ((0, 0), (0, step - rows.shape[1])))
    msg = Image()
    msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step = (
        height,
        width,
        encoding,
        0,
        step,
    )
    msg.data = rows.tobytes()
    return msg


def rgb_to_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> CompressedImage:
    """Encode RGB uint8 (H, W, 3) as a jpeg or png sensor_msgs/CompressedImage."""
    rgb = _checked_rgb(rgb)
    if fmt not in COMPRESSED_FORMATS:
        raise ImageError(f"cannot compress as {fmt!r}; expected jpeg or png")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, encoded = cv2.imencode(f".{fmt}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    msg = CompressedImage()
    msg.format = fmt
    msg.data = encoded.tobytes()
    return msg


def _uint8(data) -> np.ndarray:
    """A message's uint8[] field (array.array, bytes, numpy or list) as a flat array."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError):
        return np.asarray(data, dtype=np.uint8).ravel()


def _checked_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected an RGB uint8 array (H, W, 3), got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def _from_rgb(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """RGB (H, W, 3) -> the encoding's pixel bytes (H, W, channels)."""
    if encoding == "rgb8":
        return rgb
    if encoding == "bgr8":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if encoding in ("mono8", "8UC1"):
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None]
    if encoding == "rgba8":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA)
    if encoding == "bgra8":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    if rgb.shape[1] % 2:
        raise ImageError(f"{encoding} needs an even width, got {rgb.shape[1]}")
    return _rgb_to_yuv422(rgb, uyvy=encoding in ("yuv422", "uyvy"))


def _rgb_to_yuv422(rgb: np.ndarray, uyvy: bool) -> np.ndarray:
    """Packed 4:2:2, BT.601 limited range (the inverse of OpenCV's YUV2RGB_YUY2 / _UYVY)."""
    r, g, b = np.moveaxis(rgb.astype(np.float32) / 255.0, -1, 0)
    y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b
    u_pair = (u[:, 0::2] + u[:, 1::2]) / 2  # two neighbouring pixels share U and V
    v_pair = (v[:, 0::2] + v[:, 1::2]) / 2
    order = (
        (u_pair, y[:, 0::2], v_pair, y[:, 1::2])
        if uyvy
        else (y[:, 0::2], u_pair, y[:, 1::2], v_pair)
    )
    packed = np.stack(order, axis=-1)  # (H, W/2, 4)
    height, width = y.shape
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8).reshape(height, width, 2)
