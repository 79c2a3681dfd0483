"""Geometric moving-object mask: the image motion observed against what a static scene would show.

For each pixel of the current frame, the depth and the camera's motion since the earlier frame
(ego_motion.py) say where the pixel was then if the world stood still (the expected flow); the
observed flow (flow.py) says where it really was, where its flow back agrees (elsewhere: no
verdict). A pixel moves where the two disagree by more than a share of the flow its depth
explains:

    score = |observed - expected| / (e |expected parallax| + max(min_residual_px, 3 sigma))
    moving where score > threshold

The parallax is the part of the expected flow that depends on depth (the flow of the camera's
translation); the rotation's part is the same at any depth. Both terms below the line are
measured on each frame, so one threshold can hold on cameras and scenes nobody tuned it to:
e is the network's depth error (the spread of its log ratio to the triangulated depth, 20-100%),
sigma the flow's noise (the spread of its distance from the epipolar lines, which no depth
enters). A pixel also scores its distance from its epipolar line over the noise: motion across
the line is told at any depth.

By the camera's state:
- moving: as above; a car followed at the camera's speed does not move in the image, but the
  static world at its depth would: it disagrees by its whole parallax, and below the horizon it
  shows less parallax than the road beneath it (road.py), which no static point can; oncoming
  and crossing movers move more, or across the epipolar direction;
- still: nothing static moves, so the flow above its noise floor is the mask (parallax 0);
- only turning: the static scene moves by the rotation's homography at any depth, so what the
  homography does not explain moves (parallax 0);
- uncertain and first_frame: no mask is given rather than a guess.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svde_ros.motion.ego_motion import expected_flow
from svde_ros.motion.flow import TEXTURE_MIN, Flow, pixel_grid
from svde_ros.motion.road import Road

# The flow's noise counts this many times (its sigma, measured per frame) in the score.
NOISE_K = 3.0


@dataclass(frozen=True)
class MotionMaskConfig:
    """Settings of the geometric mask.

    Attributes:
        threshold: score above which a pixel is moving: its disagreement over what a static
            pixel's could be in this frame (2: the lowest of 1, 1.5, 2 that keeps the driving
            clips' static scenes at <= 5% flagged on average and <= 10% in any frame,
            benchmarks/real_masks.py).
        min_residual_px: the least flow noise assumed (pixels at the mask's resolution), so a
            pixel whose motions are both tiny (far away) is not a mover.
        interval_s: a frame is compared with the newest frame at least this much older
            (0.1 s: consecutive frames at KITTI's 10 Hz, every third at 25-30 Hz).
    """

    threshold: float = 2.0
    min_residual_px: float = 1.0
    interval_s: float = 0.1

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.min_residual_px <= 0 or self.interval_s < 0:
            raise ValueError('motion mask: need threshold > 0, min_residual_px > 0 and '
                             'interval_s >= 0')


def motion_score(depth: np.ndarray, K: np.ndarray, flow: Flow, T_prev_cur: np.ndarray,
                 config: MotionMaskConfig, moved_camera: bool = True,
                 noise_px: float | None = None, depth_share: float = 1.0,
                 epipolar: np.ndarray | None = None,
                 road: Road | None = None) -> np.ndarray:
    """Score HxW of each pixel (see the module docstring); 0 where there is no verdict.

    T_prev_cur's translation is in the depth's unit (zero for a still or turning camera).
    The disagreement is divided by what a static pixel's could be in this frame:
    `depth_share` x its parallax (the network's depth error, as a share) plus the flow's own
    noise (`noise_px`, pixels; when not given, measured on this frame's residuals: a still or
    turning camera's static scene is most of the frame), never below `min_residual_px`. With
    `epipolar` (HxW, pixels: the flow's distance from its epipolar line under the motion), a
    pixel also scores that distance over the noise. With `road` (calibrated to this motion), a
    pixel below the horizon also scores the parallax it lacks against the road along its ray,
    over the road's measured error share of that parallax plus the noise: a car followed at our
    speed, whatever the network's depth error.
    Pixels without depth, or that the static scene would have brought in from outside the
    earlier frame, cannot be checked; nor, when the camera moved (`moved_camera`), those whose
    flow is not reliable (the near road's large motion, occlusions). When it only turned or
    stood still, the static scene's flow is exact and goes back and forth cleanly, so a
    textured pixel whose flow does not return has moved: its forward-backward miss counts as
    residual (a dancer's limbs, a dog's legs fail the check more often than they pass it).
    """
    expected, parallax = expected_flow(depth, K, T_prev_cur)
    residual = np.linalg.norm(flow.flow - expected, axis=-1)
    if noise_px is None:
        noise_px = robust_spread(residual[flow.reliable])
    if not moved_camera:
        residual = np.where(flow.reliable, residual, np.maximum(residual, flow.fb_error))
    floor = max(config.min_residual_px, NOISE_K * noise_px)
    score = residual / (depth_share * parallax + floor)
    if epipolar is not None:
        # A static pixel's flow lies on its epipolar line at any depth: motion across it is
        # told without the depth.
        score = np.maximum(score, epipolar / floor)
    if road is not None:
        lack, road_parallax = road.deficit(flow, K, T_prev_cur)
        score = np.maximum(score, lack / (road.error * road_parallax + floor))
    h, w = depth.shape
    at = pixel_grid(h, w) + expected
    outside = (at[..., 0] < 0) | (at[..., 0] > w - 1) | (at[..., 1] < 0) | (at[..., 1] > h - 1)
    unknown = ~flow.reliable if moved_camera else flow.texture < TEXTURE_MIN
    score[outside | ~np.isfinite(depth) | unknown] = 0.0
    return score.astype(np.float32)


def robust_spread(values: np.ndarray) -> float:
    """1.4826 x the median of non-negative `values` (a normal's sigma from its half-normal)."""
    return float(1.4826 * np.median(values)) if values.size else 0.0
