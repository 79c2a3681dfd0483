"""Rendered frames with a known answer for the motion geometry's tests.

A textured scene of known depth seen by a camera with a known motion. The earlier frame is
rendered by moving each current pixel to where the static scene puts it; the flow the tests
use is OpenCV's DIS on those images, so it is measured, not given.
"""
from __future__ import annotations

import cv2
import numpy as np

from svde_ros.motion.ego_motion import expected_flow

H, W = 96, 320
K = np.array([[200.0, 0.0, W / 2], [0.0, 200.0, H / 2], [0.0, 0.0, 1.0]])
MOVER = (slice(30, 60), slice(100, 150))     # rows, columns of the mover in the current frame
ROAD_HEIGHT_M = 1.5
# A car on the road ahead (road_scene), its back 8.6 m away, right of the focus of expansion.
CAR = (slice(66, 83), slice(215, 265))


def texture(seed: int = 0, sky_rows: int = 0) -> np.ndarray:
    """An RGB texture DIS can follow, at twice the depth's size (camera frames come larger).

    The top `sky_rows` rows (at the depth's size) are one flat grey: a clear sky.
    """
    rng = np.random.default_rng(seed)
    grey = cv2.GaussianBlur(rng.random((2 * H, 2 * W)).astype(np.float32), (0, 0), 2.0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    grey[:2 * sky_rows] = 180
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def scene_depth() -> np.ndarray:
    """A non-planar scene (so the essential matrix is defined), 5-15 m."""
    v, u = np.mgrid[0:H, 0:W].astype(np.float32)
    return 5.0 + 8.0 * (u / W - 0.5) ** 2 * 4 + 2.0 * v / H


def motion(yaw_deg: float, t: tuple[float, float, float]) -> np.ndarray:
    """T_prev_cur: a turn about the camera's y axis and a step t (metres)."""
    T = np.eye(4)
    T[:3, :3], _ = cv2.Rodrigues(np.array([0.0, np.deg2rad(yaw_deg), 0.0]))
    T[:3, 3] = t
    return T


def road_scene() -> np.ndarray:
    """A road seen by a camera 1.5 m above it, looking ahead, and a wall where the road is 25 m
    away (the horizon is row H / 2, the principal point's)."""
    v = np.mgrid[0:H, 0:W][0].astype(np.float32)
    below = np.maximum(v - K[1, 2], 1e-3)
    return np.minimum(K[1, 1] * ROAD_HEIGHT_M / below, 25.0).astype(np.float32)


def render_previous(current: np.ndarray, depth: np.ndarray, T_prev_cur: np.ndarray,
                    mover_shift: tuple[float, float] | None = None,
                    mover: tuple[slice, slice] = MOVER) -> np.ndarray:
    """The earlier frame: each current pixel moved to where the static scene puts it.

    The motions are kept to a few pixels: DIS, coarse to fine, does not find a mover whose
    flow differs from its surroundings' by tens of pixels. The flow field (current -> earlier)
    is inverted by fixed-point iteration, exact enough for the smooth depth used here. With
    `mover_shift` (dx, dy pixels at the depth's size), the mover's pixels are where they are
    now moved by that much instead ((0, 0): a car followed at the camera's speed); `mover`
    says where it is.
    """
    flow, _ = expected_flow(depth, K, T_prev_cur)
    flow = cv2.resize(flow, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR) * 2
    if mover_shift is not None:
        rows, cols = mover
        big = (slice(2 * rows.start, 2 * rows.stop), slice(2 * cols.start, 2 * cols.stop))
        flow[big] = np.array(mover_shift, np.float32) * 2
    q = np.stack(np.meshgrid(np.arange(2 * W), np.arange(2 * H)), -1).astype(np.float32)
    p = q.copy()
    for _ in range(10):
        p = q - cv2.remap(flow, p[..., 0], p[..., 1], cv2.INTER_LINEAR)
    return cv2.remap(current, p[..., 0], p[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def static_region(mover: tuple[slice, slice] = MOVER) -> np.ndarray:
    """HxW bool: the pixels well away from the mover."""
    rows, cols = mover
    static = np.ones((H, W), bool)
    static[rows.start - 8:rows.stop + 8, cols.start - 8:cols.stop + 8] = False
    return static


def mover_inside(mover: tuple[slice, slice] = MOVER) -> np.ndarray:
    """HxW bool: the mover's pixels, away from its edges."""
    rows, cols = mover
    inner = np.zeros((H, W), bool)
    inner[rows.start + 4:rows.stop - 4, cols.start + 4:cols.stop - 4] = True
    return inner
