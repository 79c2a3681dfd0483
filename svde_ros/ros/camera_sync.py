"""Which camera_info belongs to an image: matched by stamp, waited for briefly, else a steady one.

Plain Python over any object with camera_info's fields (no rclpy import), so its logic is tested
without DDS; the node feeds it camera_info messages from its callback and asks it from the worker.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from svde_ros.camera_model import CameraModel, camera_model
from svde_ros.geometry import Intrinsics

# How long an image waits for its camera_info while a camera_info publisher is connected.
INFO_WAIT_S = 0.2
# camera_info messages kept for matching: at 30 Hz, about a second of them.
INFO_HISTORY = 32
# Camera models (with their undistortion maps) kept; a node rarely sees more than one camera.
MODEL_CACHE = 8


class FrameRejectedError(ValueError):
    """A frame the node cannot process; `kind` names the problem (warnings throttle by it)."""

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(text)
        self.kind = kind


def stamp_seconds(stamp: Any) -> float:
    """A builtin_interfaces/Time (sec, nanosec) as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


class CameraSync:
    """Gives each image the camera model of its camera_info.

    max_delay_s: a camera_info this close in time to the image matches it. rectified: frames
    are already undistorted (K from P). fallback: (fx, fy, cx, cy) when nothing matches, or
    None. publishers: how many camera_info publishers are connected (while any is, an image
    waits up to INFO_WAIT_S for its camera_info, since drivers publish the two in either order).
    """

    def __init__(self, max_delay_s: float, rectified: bool,
                 fallback: tuple[float, float, float, float] | None,
                 publishers: Callable[[], int], wait_s: float = INFO_WAIT_S) -> None:
        self.max_delay_s, self.rectified, self.fallback = max_delay_s, rectified, fallback
        self.publishers, self.wait_s = publishers, wait_s
        self.reused = 0             # images given the newest camera_info as theirs came late
        self.fallbacks = 0          # images given the fallback intrinsics
        self._infos: deque[Any] = deque(maxlen=INFO_HISTORY)
        self._models: dict[tuple, CameraModel] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Event()

    def add(self, info: Any) -> None:
        """A camera_info arrived (callback thread)."""
        with self._lock:
            self._infos.append(info)
        self._arrived.set()

    def model_for(self, stamp: Any, width: int, height: int) -> CameraModel:
        """The camera model for an image of this stamp and size (worker thread).

        Raises:
            FrameRejectedError: no camera_info and no fallback, K changed recently, a bad K,
                or a camera_info of another size.
        """
        t = stamp_seconds(stamp)
        deadline = time.monotonic() + self.wait_s
        while True:
            self._arrived.clear()
            model = self._matching(t, width, height)
            if model is not None:
                return model
            if not self.publishers() or not self._arrived.wait(
                    max(0.0, deadline - time.monotonic())):
                break
        model = self._steady(width, height)
        if model is not None:
            self.reused += 1
            return model
        if self.fallback is None:
            raise FrameRejectedError('no camera_info within camera_info_max_delay_s of the '
                                     'image and no fallback_fx/fy/cx/cy set', 'no_info')
        self.fallbacks += 1
        return CameraModel(Intrinsics(*self.fallback, width, height))

    def _matching(self, t: float, width: int, height: int) -> CameraModel | None:
        """The camera_info closest to time t, if within max_delay_s."""
        with self._lock:
            infos = list(self._infos)
        best = min(infos, key=lambda i: abs(stamp_seconds(i.header.stamp) - t), default=None)
        if best is None or abs(stamp_seconds(best.header.stamp) - t) > self.max_delay_s:
            return None
        return self._checked(best, width, height)

    def _steady(self, width: int, height: int) -> CameraModel | None:
        """The newest camera_info when no stamp-matched one came in time.

        Nearly every camera has a constant K, so a late camera_info need not cost the frame:
        the newest one is used when every camera_info received recently agrees with it. When
        K has changed (zoom, another camera on the topic) there is no safe choice.
        """
        with self._lock:
            infos = list(self._infos)
        if not infos:
            return None
        newest = infos[-1]
        if any(not np.array_equal(i.k, newest.k) or not np.array_equal(i.d, newest.d) or
               i.header.frame_id != newest.header.frame_id or
               (i.width, i.height) != (newest.width, newest.height) for i in infos):
            raise FrameRejectedError('no camera_info matches the image in time and K has '
                                     'changed recently: the frame cannot be given a K',
                                     'k_changed')
        return self._checked(newest, width, height)

    def _checked(self, info: Any, width: int, height: int) -> CameraModel:
        """The camera model of `info` (cached: undistortion maps are built once per camera)."""
        key = (tuple(info.k), tuple(info.d), tuple(info.p), info.distortion_model, info.width,
               info.height)
        model = self._models.get(key)
        if model is None:
            try:
                model = camera_model(info, self.rectified)
            except ValueError as err:
                raise FrameRejectedError(f'camera_info: {err}', 'bad_k') from None
            if len(self._models) >= MODEL_CACHE:
                self._models.clear()
            self._models[key] = model
        K = model.intrinsics
        if (K.width, K.height) != (width, height):
            raise FrameRejectedError(f'camera_info is {K.width}x{K.height} but the image is '
                                     f'{width}x{height}', 'info_size')
        return model
