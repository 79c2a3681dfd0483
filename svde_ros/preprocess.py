"""Frame preparation shared by training, export and every inference backend."""
from __future__ import annotations

import cv2
import numpy as np

from svde_ros.geometry import Intrinsics


def resize_frame(image: np.ndarray, intrinsics: Intrinsics, width: int,
                 height: int) -> tuple[np.ndarray, Intrinsics]:
    """Resize an HxWx3 uint8 RGB frame to the network size.

    Returns:
        HxWx3 uint8 RGB at `width` x `height` (divide by 255 for the network), and the
        intrinsics at that size.
    """
    if image.shape[:2] != (intrinsics.height, intrinsics.width):
        raise ValueError(f'image {image.shape[1]}x{image.shape[0]} does not match its '
                         f'intrinsics {intrinsics.width}x{intrinsics.height}')
    if image.shape[:2] == (height, width):
        resized = image
    else:
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return resized, intrinsics.resized(width, height)
