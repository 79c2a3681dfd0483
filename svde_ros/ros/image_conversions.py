"""sensor_msgs Image / CompressedImage <-> numpy for the node (decoding: svde_ros.image_codec).

The PyPI `cv-bridge` is a ROS 1 port that breaks on NumPy 2, so the project's numpy code is the
conversion path everywhere (it gives cv_bridge's results for the supported encodings).
"""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from svde_ros.image_codec import (
    COLOR_ENCODINGS,
    ENCODINGS,
    ImageConversionError,
    compressed_to_rgb8,
    image_to_array,
    image_to_rgb8,
)

__all__ = ['COLOR_ENCODINGS', 'ENCODINGS', 'ImageConversionError', 'array_to_image',
           'compressed_to_rgb8', 'depth_to_image', 'image_to_array', 'image_to_rgb8']


def array_to_image(array: np.ndarray, encoding: str, header: object = None) -> Image:
    """Pack an array as an Image (tightly, little-endian); the header is copied if given."""
    if encoding not in ENCODINGS:
        raise ImageConversionError(f'unsupported encoding {encoding!r}')
    dtype, channels, _ = ENCODINGS[encoding]
    if array.dtype != dtype or (array.ndim == 3) != (channels > 1) or (
            channels > 1 and array.shape[2] != channels):
        raise ImageConversionError(f'array {array.shape} {array.dtype} does not fit {encoding}')
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * np.dtype(dtype).itemsize
    msg.data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder('<')).tobytes()
    return msg


def depth_to_image(depth_m: np.ndarray, encoding: str, header: object) -> Image:
    """Depth in metres (NaN invalid) as an Image, following REP 118.

    32FC1 keeps metres and NaN; 16UC1 is millimetres with 0 for invalid, and a depth beyond
    65.535 m, which 16 bits cannot hold, is invalid too (never saturated to a valid-looking
    65535).
    """
    if encoding == '32FC1':
        return array_to_image(depth_m.astype(np.float32), '32FC1', header)
    if encoding == '16UC1':
        mm = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0)
        mm[(mm < 0) | (mm > 65535)] = 0
        return array_to_image(mm.astype(np.uint16), '16UC1', header)
    raise ImageConversionError(f'depth encoding must be 32FC1 or 16UC1, got {encoding!r}')
