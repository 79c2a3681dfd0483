"""Dense optical flow between two frames, with where it can be trusted.

The flow of a pixel of the current frame says where it was in the earlier frame (current ->
earlier). DIS (OpenCV) runs at FLOW_SCALE x the depth's resolution and is area-averaged down:
averaging a finer flow gives sub-pixel flow at the depth's size, which triangulation needs (at
the network's own 320x96 the triangulated depth scored 0.15-0.17 AbsRel on KITTI, at 640x192
0.10; docs/results/fused_depth.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The flow runs at this multiple of the depth's resolution (see the module docstring).
FLOW_SCALE = 2
# Forward-backward flow disagreement (pixels at the depth's resolution) above which a pixel's
# flow is not trusted.
FB_TOLERANCE_PX = 1.0
# Texture (the smaller eigenvalue of the grey level's structure tensor, grey in [0, 1], 5x5
# blocks) below which the flow cannot tell motion: a clear sky measures 1-3e-6, a plain road
# 1-5e-5, KITTI's parked cars and trees 1e-4 to 1e-2. There the flow is DIS's interpolation.
TEXTURE_MIN = 5e-6


@dataclass
class Flow:
    """Flow of the current frame into the earlier one, at the depth's resolution.

    flow: HxWx2 float32 (dx, dy) pixels; fb_error: HxW float32, how far the flow back misses
    the pixel it started from (pixels); texture: HxW float32 (see TEXTURE_MIN); reliable:
    HxW bool, fb_error within FB_TOLERANCE_PX where there is texture.
    Flow fails in occlusions and on textureless road, and there it looked like motion: the
    check halved the static pixels flagged at the same share of vehicles
    (benchmarks/real_masks.py).
    """

    flow: np.ndarray
    fb_error: np.ndarray
    texture: np.ndarray

    @property
    def reliable(self) -> np.ndarray:
        return (self.fb_error <= FB_TOLERANCE_PX) & (self.texture >= TEXTURE_MIN)

    @property
    def shape(self) -> tuple[int, int]:
        return self.flow.shape[0], self.flow.shape[1]


def grey_at(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The grey frame the flow runs on: HxWx3 RGB uint8 resized to FLOW_SCALE x (width, height)."""
    small = cv2.resize(image, (FLOW_SCALE * width, FLOW_SCALE * height),
                       interpolation=cv2.INTER_AREA)
    return small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def observed_flow(current: np.ndarray, previous: np.ndarray) -> Flow:
    """Flow of `current` into `previous` (grey frames from `grey_at`), at 1/FLOW_SCALE size."""
    fine, back = dis_flow(current, previous), dis_flow(previous, current)
    at = pixel_grid(*current.shape) + fine
    returned = cv2.remap(back, at[..., 0], at[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    miss = np.linalg.norm(fine + returned, axis=-1)
    texture = np.asarray(cv2.cornerMinEigenVal(
        (current / np.float32(255)).astype(np.float32), 5, ksize=3))
    h, w = current.shape[0] // FLOW_SCALE, current.shape[1] // FLOW_SCALE
    if FLOW_SCALE == 1:
        return Flow(fine, miss, texture)
    flow = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA) / FLOW_SCALE
    # A pixel at the depth's size is as trustworthy as the worst fine pixel under it.
    worst = cv2.dilate(miss, np.ones((FLOW_SCALE, FLOW_SCALE), np.uint8))
    fb = cv2.resize(worst, (w, h), interpolation=cv2.INTER_NEAREST) / FLOW_SCALE
    return Flow(flow.astype(np.float32), fb.astype(np.float32),
                cv2.resize(texture, (w, h), interpolation=cv2.INTER_AREA))


def dis_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """DIS optical flow from `current` to `previous` (HxW uint8 each): HxWx2 float32."""
    # MEDIUM, not FAST: FAST's blocky flow on a road flags more of the static scene at the
    # same share of vehicles, and was too coarse for the essential matrix.
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    # No flow passed in: OpenCV 5 takes a given array as the initial flow, and a zero start
    # measurably worsens DIS's coarse-to-fine search (the stubs do not know None is allowed).
    return np.asarray(dis.calc(current, previous, None))  # type: ignore[call-overload]


def pixel_grid(height: int, width: int) -> np.ndarray:
    """HxWx2 float32 (u, v) pixel coordinates."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([u, v], axis=-1)
