"""camera_info -> what the network sees: intrinsics and, for a distorted camera, undistortion.

One module for training (rosbag source) and the node, so a model trained on undistorted bag
frames is served undistorted frames too. Works on any object with camera_info's fields (a
rclpy message, a rosbags message), so it needs no ROS import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from svde_ros.geometry import Intrinsics

DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant')


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of the frames after `undistort`, and the remap that undistorts them.

    maps is None for a camera without distortion or a rectified input: frames pass as they are.
    """

    intrinsics: Intrinsics
    maps: tuple[np.ndarray, np.ndarray] | None = None
    distortion_model: str = ''

    def undistort(self, image: np.ndarray) -> np.ndarray:
        """The frame as a pinhole camera with `intrinsics` sees it (bilinear remap)."""
        if self.maps is None:
            return image
        if image.shape[:2] != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(f'image {image.shape[1]}x{image.shape[0]} does not match its '
                             f'camera_info {self.intrinsics.width}x{self.intrinsics.height}')
        return cv2.remap(image, *self.maps, cv2.INTER_LINEAR)


def camera_model(info: Any, rectified: bool = False) -> CameraModel:
    """The camera model of a CameraInfo.

    rectified: the frames come from an `image_rect` topic, already undistorted (and rectified):
    K is P's left 3x3 (the rectified camera) and no remap is done. Otherwise a non-zero D is
    undistorted with K kept as the new camera matrix (plumb_bob / rational_polynomial with
    cv2.initUndistortRectifyMap, equidistant with the fisheye variant).

    Raises:
        ValueError: zero or invalid K, or an unsupported distortion model (one line).
    """
    width, height = int(info.width), int(info.height)
    if rectified:
        P = np.asarray(info.p, dtype=np.float64).reshape(3, 4)
        if P[0, 0] > 0 and P[1, 1] > 0:
            return CameraModel(Intrinsics.from_matrix(P[:, :3], width, height))
    K = np.asarray(info.k, dtype=np.float64).reshape(3, 3)
    intrinsics = Intrinsics.from_matrix(K, width, height)   # raises for a zero K
    D = np.asarray(info.d, dtype=np.float64)
    if rectified or not D.size or not np.any(D):
        return CameraModel(intrinsics)
    model = info.distortion_model
    if model == 'equidistant':
        maps = cv2.fisheye.initUndistortRectifyMap(K, D[:4], np.eye(3), K, (width, height),
                                                   cv2.CV_32FC1)
    elif model in ('plumb_bob', 'rational_polynomial'):
        maps = cv2.initUndistortRectifyMap(K, D, None, K, (width, height), cv2.CV_32FC1)
    else:
        raise ValueError(f'unsupported distortion model {model!r} '
                         f'({", ".join(DISTORTION_MODELS)})')
    return CameraModel(intrinsics, (maps[0], maps[1]), model)
