"""Image pixels <-> numpy for sensor_msgs/Image and CompressedImage fields, without ROS.

Works on any object with the message's fields (encoding, height, width, step, data,
is_bigendian; or format, data), so the node (rclpy messages) and training (rosbags messages)
share one decoder. One table of supported encodings; row padding (`step`) honoured; anything
else raises ImageConversionError naming the problem.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# encoding -> (numpy dtype, channels, cv2 conversion to RGB or None)
ENCODINGS: dict[str, tuple[type, int, int | None]] = {
    'rgb8': (np.uint8, 3, None),
    'bgr8': (np.uint8, 3, cv2.COLOR_BGR2RGB),
    'rgba8': (np.uint8, 4, cv2.COLOR_RGBA2RGB),
    'bgra8': (np.uint8, 4, cv2.COLOR_BGRA2RGB),
    'mono8': (np.uint8, 1, cv2.COLOR_GRAY2RGB),
    'mono16': (np.uint16, 1, None),
    'bayer_rggb8': (np.uint8, 1, cv2.COLOR_BayerRG2RGB),
    'bayer_bggr8': (np.uint8, 1, cv2.COLOR_BayerBG2RGB),
    'bayer_gbrg8': (np.uint8, 1, cv2.COLOR_BayerGB2RGB),
    'bayer_grbg8': (np.uint8, 1, cv2.COLOR_BayerGR2RGB),
    '32FC1': (np.float32, 1, None),
    '16UC1': (np.uint16, 1, None),
}
COLOR_ENCODINGS = tuple(e for e in ENCODINGS if e not in ('32FC1', '16UC1'))


class ImageConversionError(ValueError):
    """A message cannot be converted; the text says why (for a throttled warning).

    `kind` names the problem (encoding, empty, step, short_data, not_camera, decode), so a node can
    throttle warnings per kind of problem: one kind of bad frame must not hide another.
    """

    def __init__(self, text: str, kind: str = 'image') -> None:
        super().__init__(text)
        self.kind = kind


def image_to_array(msg: Any) -> np.ndarray:
    """The pixels of an Image as an HxW or HxWxC array of the encoding's dtype (a copy)."""
    if msg.encoding not in ENCODINGS:
        raise ImageConversionError(f'unsupported encoding {msg.encoding!r} (supported: '
                                   f'{", ".join(ENCODINGS)})', 'encoding')
    dtype, channels, _ = ENCODINGS[msg.encoding]
    itemsize = np.dtype(dtype).itemsize
    if msg.height == 0 or msg.width == 0:
        raise ImageConversionError(f'empty image {msg.width}x{msg.height}', 'empty')
    row = msg.width * channels * itemsize
    if msg.step < row:
        raise ImageConversionError(f'{msg.encoding} {msg.width}x{msg.height}: step {msg.step} '
                                   f'is shorter than a row ({row} bytes)', 'step')
    if len(msg.data) < msg.step * msg.height:
        raise ImageConversionError(f'{msg.encoding} {msg.width}x{msg.height}: '
                                   f'{len(msg.data)} bytes, short of step x height = '
                                   f'{msg.step * msg.height}', 'short_data')
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = buffer.reshape(msg.height, msg.step)[:, :row]
    array: np.ndarray = np.ascontiguousarray(rows).view(dtype)
    if itemsize > 1 and bool(msg.is_bigendian) == np.little_endian:   # sender's byte order
        array = array.byteswap()
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    return array.reshape(shape)


def image_to_rgb8(msg: Any) -> np.ndarray:
    """Any supported colour/mono encoding -> HxWx3 uint8 RGB."""
    array = image_to_array(msg)   # rejects unknown encodings and malformed buffers
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageConversionError(f'encoding {msg.encoding!r} is not a camera image',
                                   'not_camera')
    if msg.encoding == 'mono16':
        array = cv2.cvtColor((array >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    conversion = ENCODINGS[msg.encoding][2]
    return array if conversion is None else cv2.cvtColor(array, conversion)


def compressed_to_rgb8(msg: Any) -> np.ndarray:
    """A jpeg/png CompressedImage -> HxWx3 uint8 RGB."""
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageConversionError(f'cannot decode CompressedImage (format {msg.format!r}, '
                                   f'{data.size} bytes)', 'decode')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
