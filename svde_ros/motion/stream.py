"""The per-frame motion geometry of a stream of frames: what the node runs.

For each frame: one flow into an earlier frame, one ego-motion, the motion mask, and (when the
camera moves) the triangulated depth fused with the network's. The earlier frame is the newest
one at least `interval_s` older, so a fast camera (25-30 Hz) still gives the pixels parallax.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from svde_ros.motion.ego_motion import (
    FIRST_FRAME,
    MOVING,
    UNCERTAIN,
    EgoMotion,
    estimate_ego_motion,
    with_depth_length,
)
from svde_ros.motion.flow import Flow, grey_at, observed_flow
from svde_ros.motion.fusion import NETWORK_LOG_SIGMA, fuse
from svde_ros.motion.mask import MotionMaskConfig, motion_score, robust_spread
from svde_ros.motion.road import Road, fit_road
from svde_ros.motion.triangulation import Triangulated, carried, combine, triangulate

# Frames kept to find one `interval_s` old (60 Hz for a second), and the oldest that counts:
# after a gap in the stream (nobody subscribed, a dropped camera) the scene has changed.
HISTORY_FRAMES = 64
MAX_AGE_S = 1.0
# The baseline follows the parallax: a camera that moves little for its frame rate (a handheld
# camera at 30 Hz moves 2-30 mm in 0.1 s, 0.5-2 px of parallax at 224 px) is compared with an
# older frame, up to MAX_BASELINE_S, until the median parallax reaches PARALLAX_LOW_PX; a fast
# one (above PARALLAX_HIGH_PX, where the flow of the near scene starts to fail) with a newer
# one, down to `interval_s`. The age doubles or halves once a frame.
PARALLAX_LOW_PX = 2.0
PARALLAX_HIGH_PX = 8.0
MAX_BASELINE_S = 0.5
# Frames over which the metric scale is kept: the median ratio of the odometry's step to the
# step measured on the network's depth. A median over many frames, because one frame's ratio
# is only as good as the odometry's stamp and its step (indoors the single frames' ratio
# wandered 0.2-1.4 over 20 frames; on KITTI with its GPS/IMU it held within a few percent).
SCALE_FRAMES = 30

# The network's depth error (a share) the mask allows for, whatever a frame measures: at least
# a fifth (a static pixel must not be flagged for an ordinary error), at most as large as the
# depth itself.
DEPTH_ERROR_RANGE = (0.2, 1.0)

# The fused depth of the frame compared with is carried into this one as a prior, its error
# grown by this factor (issue 40: a depth carried forward beat two frames: drive 0009 0.191 ->
# 0.171, the kitchen 0.165 -> 0.145; 1.2 instead of 1.5 changed neither by more than 0.001).
CARRY_INFLATION = 1.5
# A mask that flags more than this share of the pixels it can judge is withheld (uncertain).
MAX_FLAGGED_SHARE = 0.5

# (earlier stamp, this stamp) -> T_prev_cur of the camera from the robot's odometry, or None.
Odometry = Callable[[float, float], np.ndarray | None]


@dataclass
class FrameGeometry:
    """One frame's outcome.

    ego: the camera's motion and state; mask: HxW bool (True = moving) or None when no mask
    can be given (first frame, uncertain motion); score: HxW float32 (zeros without a mask);
    depth: the depth to publish (fused where the camera moved and something was triangulated,
    else the network's at the last known scale); fused_share: share of pixels whose depth is
    blended with a triangulated one (0 when not fused); scale: metres per unit of the
    network's depth (with odometry; else 1); tri: the triangulation, when made.
    """

    ego: EgoMotion
    mask: np.ndarray | None
    score: np.ndarray
    depth: np.ndarray
    fused_share: float = 0.0
    scale: float = 1.0
    tri: Triangulated | None = None
    road: Road | None = None

    @property
    def state(self) -> str:
        return self.ego.state


class Measured(NamedTuple):
    """What `MotionGeometry.measure` found.

    The motion, the flow (None on a first frame), K, and the two frames' stamps (this one, the
    earlier one compared with).
    """

    ego: EgoMotion
    flow: Flow | None
    K: np.ndarray
    stamps: tuple[float, float | None] = (0.0, None)


class MotionGeometry:
    """Keeps the recent frames and the last motion between calls (see the module docstring)."""

    def __init__(self, config: MotionMaskConfig) -> None:
        self.config = config
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=HISTORY_FRAMES)
        self._last: EgoMotion | None = None
        self.baseline_s = config.interval_s   # the age of the earlier frame now used
        self.scale = 1.0           # metres per unit of the network's depth, with odometry
        self._scales: deque[float] = deque(maxlen=SCALE_FRAMES)
        self._fused_at: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.metric = False        # that scale came from odometry

    def reset(self) -> None:
        """Forget the earlier frames (a gap in the stream, a new camera)."""
        self._history.clear()
        self._last = None
        self.baseline_s = self.config.interval_s

    def _earlier(self, grey: np.ndarray, stamp_s: float) -> tuple[float, np.ndarray] | None:
        """The earlier frame to compare with, after keeping this one."""
        if self._history and (stamp_s < self._history[-1][0] or
                              self._history[-1][1].shape != grey.shape):
            self.reset()             # time went back (a bag restarted) or the size changed
        self.baseline_s = min(max(self.baseline_s, self.config.interval_s),
                              max(MAX_BASELINE_S, self.config.interval_s))
        oldest = stamp_s - MAX_AGE_S
        earlier = [(t, g) for t, g in self._history
                   if oldest <= t <= stamp_s - self.config.interval_s]
        wanted = [(t, g) for t, g in earlier if t <= stamp_s - self.baseline_s + 1e-6]
        self._history.append((stamp_s, grey))
        keep = stamp_s - max(self.baseline_s * 2, self.config.interval_s)
        while len(self._history) > 2 and self._history[1][0] <= keep:
            self._history.popleft()  # later frames never need one older than this
        if wanted:
            return wanted[-1]
        return earlier[0] if earlier else None    # the oldest there is, while history grows

    def update(self, image: np.ndarray, stamp_s: float, depth: np.ndarray, K: np.ndarray,
               odometry: Odometry | None = None, fused: bool = True) -> FrameGeometry:
        """This frame's geometry against an earlier frame given to `update`.

        `measure` then `apply`; a caller with the depth still to come (the node, whose network
        runs meanwhile on the other core) calls the two itself.
        """
        return self.apply(self.measure(image, stamp_s, K, depth.shape, odometry), depth, fused)

    def measure(self, image: np.ndarray, stamp_s: float, K: np.ndarray,
                size: tuple[int, int], odometry: Odometry | None = None) -> Measured:
        """The flow and the ego-motion of this frame, which need no depth.

        Args:
            image: HixWix3 uint8 RGB frame (undistorted), any size of the depth's aspect.
            stamp_s: the frame's time (seconds); frames must come in time order.
            K: 3x3 intrinsics at the depth's size.
            size: (height, width) of the depth.
            odometry: (earlier stamp, this stamp) -> T_prev_cur of the camera (4x4, metres),
                or None where it has no pose. With it the step's length is the odometry's and
                the fused depth metric; without, the motion is fitted to the flow and its
                length measured on the network's depth.
        """
        h, w = size
        grey = grey_at(image, w, h)
        found = self._earlier(grey, stamp_s)
        if found is None:
            self._last = None
            return Measured(EgoMotion(FIRST_FRAME), None, K, (stamp_s, None))
        then, previous = found
        flow = observed_flow(grey, previous)
        known = odometry(then, stamp_s) if odometry is not None else None
        ego = estimate_ego_motion(flow, K, self._last, known)
        self._last = ego if ego.state != UNCERTAIN else self._last
        self._adapt_baseline(ego, stamp_s - then)
        return Measured(ego, flow, K, (stamp_s, then))

    def apply(self, measured: Measured, depth: np.ndarray, fused: bool = True) -> FrameGeometry:
        """The mask and (with `fused`, when the camera moves) the fused depth of the frame.

        Args:
            measured: this frame's `measure`.
            depth: HxW depth of the network (NaN where unknown).
            fused: triangulate and fuse (else only the mask is made).
        """
        ego, flow, K, (now, then) = measured
        empty = np.zeros(depth.shape, np.float32)
        if flow is None or ego.state == UNCERTAIN or ego.T_prev_cur is None:
            return FrameGeometry(ego, None, empty, depth * self.scale, scale=self.scale)
        static = flow.reliable & np.isfinite(depth)
        in_depth_unit = with_depth_length(depth, flow.flow, K, ego.T_prev_cur, static)
        self._keep_scale(ego, in_depth_unit)
        noise, share, epipolar, calibration, road = None, 1.0, None, None, None
        if ego.state == MOVING:
            # This frame's own uncertainty: the flow's distance from its epipolar lines (no
            # depth in it), and how far the network's depth is from the triangulated one.
            calibration = triangulate(flow, K, in_depth_unit)
            noise = robust_spread(calibration.epipolar[flow.reliable])
            share = depth_error(calibration, depth)
            epipolar = calibration.epipolar
            plane = fit_road(depth, K)
            road = plane.calibrated(flow, K, in_depth_unit) if plane is not None else None
        score = motion_score(depth, K, flow, in_depth_unit, self.config,
                             ego.state == MOVING, noise, share, epipolar, road)
        mask = score > self.config.threshold
        judged = score > 0
        if judged.sum() and mask.sum() > MAX_FLAGGED_SHARE * judged.sum():
            # Most of what can be judged disagrees with the motion: the motion is wrong (a
            # blurred frame, a fit on a mover), not the world.
            ego.state, ego.why = UNCERTAIN, f'{mask.sum() / judged.sum():.0%} of the frame flagged'
            return FrameGeometry(ego, None, empty, depth * self.scale, scale=self.scale)
        out = FrameGeometry(ego, mask, score, depth * self.scale, scale=self.scale, road=road)
        if fused and ego.state == MOVING:
            # Triangulated in the network's unit (the step measured on its depth, so one
            # frame's odometry error does not bend the map), then put in metres by the scale.
            assert calibration is not None
            out.tri = calibration.without(mask)
            if then in self._fused_at:
                # The earlier frame's fused depth, moved here, as a prior.
                before, error = self._fused_at[then]
                prior = carried(before, error, K, in_depth_unit, CARRY_INFLATION)
                prior.depth[mask] = np.nan
                out.tri = combine(out.tri, prior)
            result = fuse(depth, out.tri)
            if result is not None:
                out.depth = result.depth * self.scale
                out.fused_share = result.share
                self._keep_fused(now, result.depth, out.tri)
        return out

    def _keep_fused(self, stamp_s: float, depth: np.ndarray, tri: Triangulated) -> None:
        """This frame's fused depth and its error, for the frames compared with it later."""
        net = NETWORK_LOG_SIGMA
        error = np.where(tri.valid, 1.0 / np.sqrt(1.0 / np.maximum(tri.rel_sigma, 1e-3) ** 2
                                                  + 1.0 / net ** 2), np.inf)
        self._fused_at[stamp_s] = (depth, error.astype(np.float32))
        kept = {t for t, _ in self._history}
        for t in [t for t in self._fused_at if t not in kept and t != stamp_s]:
            del self._fused_at[t]

    def _keep_scale(self, ego: EgoMotion, in_depth_unit: np.ndarray) -> None:
        """With odometry, the metric scale: the median of the recent frames' step ratios."""
        assert ego.T_prev_cur is not None
        step = float(np.linalg.norm(in_depth_unit[:3, 3]))
        if self.metric != ego.metric:
            self._scales.clear()      # odometry came or went: the unit changed
            self.metric, self.scale = ego.metric, 1.0
        if ego.metric and ego.state == MOVING and step > 0:
            self._scales.append(float(np.linalg.norm(ego.T_prev_cur[:3, 3])) / step)
            self.scale = float(np.median(self._scales))

    def _adapt_baseline(self, ego: EgoMotion, used_s: float) -> None:
        """The next frame's baseline, from this frame's parallax (see PARALLAX_LOW_PX)."""
        if ego.state == MOVING and ego.parallax_px < PARALLAX_LOW_PX:
            self.baseline_s = min(2 * used_s, MAX_BASELINE_S)
        elif ego.state != MOVING or ego.parallax_px > PARALLAX_HIGH_PX:
            # A still or turning camera has no parallax to gain: the mask wants fresh frames.
            self.baseline_s = max(used_s / 2, self.config.interval_s)


def depth_error(tri: Triangulated, depth: np.ndarray) -> float:
    """How far the network's depth is from the triangulated one, as a share.

    The robust spread of their log ratio over the triangulated pixels (the frame's scale
    removed), within DEPTH_ERROR_RANGE; its upper end where too little is triangulated.
    """
    good = tri.valid & np.isfinite(depth) & (depth > 0)
    if good.sum() < 50:
        return DEPTH_ERROR_RANGE[1]
    ratio = np.log(tri.depth[good]) - np.log(depth[good])
    spread = robust_spread(np.abs(ratio - np.median(ratio)))
    return float(np.clip(np.expm1(spread), *DEPTH_ERROR_RANGE))


def mask_of_pair(config: MotionMaskConfig, earlier: np.ndarray, image: np.ndarray,
                 depth: np.ndarray, K: np.ndarray) -> FrameGeometry:
    """The geometry of `image` against `earlier`, taken config.interval_s before it.

    For frames judged one pair at a time (a benchmark, stage-2 masks): only the later frame's
    depth is needed, as in the node.
    """
    stream = MotionGeometry(config)
    stream.update(earlier, 0.0, depth, K, fused=False)   # only kept: the first frame
    return stream.update(image, config.interval_s, depth, K, fused=False)
