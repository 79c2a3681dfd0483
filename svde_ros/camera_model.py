"""camera_info -> what the network sees: intrinsics and, for a distorted camera, undistortion.

One module for training (every source: bags, videos, image folders, RGB-D) and the node, so a
model trained on undistorted frames is served undistorted frames too. Works on any object with
camera_info's fields (a rclpy message, a rosbags message, or a `CameraCalibration` read from a
camera YAML), so it needs no ROS import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from svde_ros.geometry import Intrinsics

DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant')


class CalibrationError(ValueError):
    """A camera YAML is missing, malformed or describes an unsupported camera (one line)."""


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of the frames after `undistort`, and the remap that undistorts them.

    maps is None for a camera without distortion or a rectified input: frames pass as they are.
    """

    intrinsics: Intrinsics
    maps: tuple[np.ndarray, np.ndarray] | None = None
    distortion_model: str = ''

    def undistort(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """The frame as a pinhole camera with `intrinsics` sees it.

        Colour is remapped bilinearly; pass cv2.INTER_NEAREST for depth or masks, whose values
        must not be blended across edges.
        """
        if self.maps is None:
            return image
        if image.shape[:2] != (self.intrinsics.height, self.intrinsics.width):
            raise ValueError(f'image {image.shape[1]}x{image.shape[0]} does not match its '
                             f'camera_info {self.intrinsics.width}x{self.intrinsics.height}')
        return cv2.remap(image, *self.maps, interpolation)


@dataclass(frozen=True)
class CameraCalibration:
    """The camera_info fields a camera YAML holds (sizes in pixels, K and P row-major).

    Duck-types sensor_msgs/CameraInfo for `camera_model`.
    """

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...] = ()
    distortion_model: str = 'plumb_bob'
    p: tuple[float, ...] = field(default=(0.0,) * 12)

    def resized(self, width: int, height: int) -> CameraCalibration:
        """The same camera at another resolution: K scales, D (normalised coordinates) not."""
        if (width, height) == (self.width, self.height):
            return self
        K = Intrinsics.from_matrix(np.reshape(self.k, (3, 3)), self.width, self.height)
        return CameraCalibration(width, height, tuple(K.resized(width, height).matrix().ravel()),
                                 self.d, self.distortion_model)


def camera_model(info: Any, rectified: bool = False) -> CameraModel:
    """The camera model of a CameraInfo.

    rectified: the frames come from an `image_rect` topic, already undistorted (and rectified):
    K is P's left 3x3 (the rectified camera) and no remap is done. Otherwise a non-zero D is
    undistorted with K kept as the new camera matrix (plumb_bob / rational_polynomial with
    cv2.initUndistortRectifyMap, equidistant with the fisheye variant). Keeping K keeps the
    whole output valid for barrel distortion (every output pixel samples inside the frame).

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


def load_camera_yaml(path: str | Path) -> CameraCalibration:
    """Read a ROS camera_info YAML (what `camera_calibration` writes) or a plain one.

    The ROS form has image_width, image_height, camera_matrix.data and optionally
    distortion_model and distortion_coefficients.data; the plain form is
    `{fx, fy, cx, cy, width, height}` (a pinhole camera without distortion).

    Raises:
        CalibrationError: missing file, bad YAML, missing keys or an unsupported distortion
            model, naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f'intrinsics file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise CalibrationError(f'{path}: not valid YAML: {err}') from None
    if not isinstance(data, dict):
        raise CalibrationError(f'{path}: expected a mapping of intrinsics, got '
                               f'{type(data).__name__}')
    try:
        if 'camera_matrix' in data:
            k = tuple(float(v) for v in data['camera_matrix']['data'])
            d = tuple(float(v) for v in (data.get('distortion_coefficients') or {}).get(
                'data', []))
            model = str(data.get('distortion_model') or 'plumb_bob')
            calibration = CameraCalibration(int(data['image_width']),
                                            int(data['image_height']), k, d, model)
        else:
            fx, fy, cx, cy = (float(data[key]) for key in ('fx', 'fy', 'cx', 'cy'))
            calibration = CameraCalibration(int(data['width']), int(data['height']),
                                            (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0))
        if len(calibration.k) != 9:
            raise ValueError(f'camera_matrix needs 9 values, got {len(calibration.k)}')
        if any(calibration.d) and calibration.distortion_model not in DISTORTION_MODELS:
            raise ValueError(f'unsupported distortion model {calibration.distortion_model!r} '
                             f'({", ".join(DISTORTION_MODELS)})')
        Intrinsics.from_matrix(np.reshape(calibration.k, (3, 3)), calibration.width,
                               calibration.height)
    except KeyError as err:
        raise CalibrationError(f'{path}: missing key {err.args[0]!r}; give either fx, fy, cx, '
                               'cy, width, height or a ROS camera_info YAML') from None
    except (TypeError, ValueError) as err:
        raise CalibrationError(f'{path}: malformed intrinsics: {err}') from None
    return calibration
