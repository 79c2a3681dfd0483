"""Geometric moving-object mask: the image motion observed against what a static scene would show.

For each pixel of the current frame, the predicted depth and the camera's motion since the
previous frame say where the pixel was then if the world stood still (the expected flow); dense
optical flow (OpenCV's DIS) says where it really was (the observed flow), where its flow back
agrees (elsewhere: no verdict). A pixel moves where
the two disagree by more than a share of the flow its depth explains:

    score = |observed - expected| / (|expected parallax| + min_residual_px)
    moving where score > threshold

The parallax is the part of the expected flow that depends on depth (the flow of the camera's
translation); the rotation's part is the same at any depth. Dividing by it makes the test
relative to what the geometry can tell, and `min_residual_px` keeps distant static pixels (both
motions tiny) from counting as movers.

The cases a robot meets:
- a car followed at the camera's speed does not move in the image, but the static world at its
  depth would: it disagrees by its whole parallax;
- oncoming and crossing movers move more, or across the epipolar direction;
- a camera that stands still or only turns gives no parallax: nothing can be told from depth,
  so the mask is withheld (status `no_parallax`) rather than guessed;
- the first frame has no previous one (status `first_frame`).

The camera's rotation and direction of travel come from the robot's odometry when given;
otherwise from the essential matrix of the flow (RANSAC: the movers, a minority of the pixels,
are its outliers). The length of the step is measured on the depth either way, so it is in the
depth's own unit, metric or not.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# The flow runs at this multiple of the depth's resolution. DIS's MEDIUM preset at the
# network's own 320 px separates movers from the static scene about as well as at 640 px
# (benchmarks/real_masks.py) in a quarter of the time (about 4 ms against 15 on one core).
FLOW_SCALE = 1
# Frames kept to find one `interval_s` old (60 Hz for a second), and the oldest that counts:
# after a gap in the stream (nobody subscribed, a dropped camera) the scene has changed.
HISTORY_FRAMES = 64
MAX_AGE_S = 1.0
# Pixels kept from the frame's border when fitting the ego-motion: DIS flow is least
# reliable where patches leave the image.
BORDER_PX = 4
# Grid spacing of the points the ego-motion is fitted to (pixels at the mask's resolution).
FIT_STEP_PX = 8
# Essential matrix RANSAC: distance to the epipolar line of an inlier (pixels), confidence.
EPIPOLAR_INLIER_PX = 0.5
RANSAC_CONFIDENCE = 0.999
# Share of the flow one homography must explain for the camera to count as only turning;
# at that share 50 RANSAC draws miss a clean 4-point sample with odds below 1e-9 (OpenCV's
# default of 2000 draws cost 20 ms a frame when the camera moves).
ROTATION_ONLY_SHARE = 0.9
HOMOGRAPHY_ITERATIONS = 50
# Median flow (pixels) below which the camera stood still.
STILL_PX = 0.05
# Odometry translation (its unit, metres for a robot) below which the camera stood still.
STILL_M = 1e-3
# Length of the probe step that measures the parallax per unit of translation, as a share of
# the median depth.
PROBE_STEP = 1e-3
# Forward-backward flow disagreement (pixels) above which a pixel's flow is not trusted.
FB_TOLERANCE_PX = 1.0
# Fewer inliers than this share of the fitted points: the ego-motion is not trusted.
MIN_INLIER_SHARE = 0.3

# (earlier stamp, this stamp) -> T_prev_cur from the robot's odometry, or None.
Odometry = Callable[[float, float], np.ndarray | None]

STATUS_OK = 'ok'
STATUS_FIRST = 'first_frame'
STATUS_NO_PARALLAX = 'no_parallax'
STATUS_NO_EGO_MOTION = 'no_ego_motion'


@dataclass(frozen=True)
class MotionMaskConfig:
    """Settings of the geometric mask.

    Attributes:
        threshold: score above which a pixel is moving (disagreement / explained parallax).
        min_residual_px: floor added to the parallax (pixels at the mask's resolution), so a
            pixel whose motions are both tiny (far away) is not a mover.
        min_parallax_px: median parallax below which the camera counts as still or only
            turning, and no mask is given.
        interval_s: a frame is compared with the newest frame at least this much older
            (0.1 s: consecutive frames at KITTI's 10 Hz, every third at 25-30 Hz).
    """

    threshold: float = 0.7
    min_residual_px: float = 1.0
    min_parallax_px: float = 0.3
    interval_s: float = 0.1

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.min_residual_px <= 0 or self.min_parallax_px < 0 or \
                self.interval_s < 0:
            raise ValueError('motion mask: need threshold > 0, min_residual_px > 0, '
                             'min_parallax_px >= 0 and interval_s >= 0')


@dataclass
class MotionMaskResult:
    """One frame's outcome.

    mask: HxW bool (True = moving), or None when no mask can be given (see `status`);
    score: HxW float32 disagreement / parallax (zeros without a mask); status: one of the
    STATUS_* strings; parallax_px: median parallax over the frame; inliers: share of the
    fitted points that agree with the ego-motion (1 with odometry); T_prev_cur: 4x4 motion used.
    """

    mask: np.ndarray | None
    score: np.ndarray
    status: str
    parallax_px: float = 0.0
    inliers: float = 0.0
    T_prev_cur: np.ndarray | None = None


def observed_flow(current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of `current` was in `previous`, and where that is trustworthy.

    Args:
        current: HxW uint8 grey frame.
        previous: HxW uint8 grey frame of the same size.

    Returns:
        (flow HxWx2 float32 (dx, dy) pixels, reliable HxW bool): a pixel is reliable where the
        flow back from `previous` returns it within FB_TOLERANCE_PX. Flow fails in occlusions
        and on textureless road, and there it looked like motion: the check halved the static
        pixels flagged at the same share of vehicles (benchmarks/real_masks.py).
    """
    flow, back = dis_flow(current, previous), dis_flow(previous, current)
    at = pixel_grid(*current.shape) + flow
    returned = cv2.remap(back, at[..., 0], at[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return flow, np.linalg.norm(flow + returned, axis=-1) <= FB_TOLERANCE_PX


def dis_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """DIS optical flow from `current` to `previous` (HxW uint8 each): HxWx2 float32."""
    # MEDIUM, not FAST: FAST's blocky flow on a road flags more of the static scene at the
    # same share of vehicles, and was too coarse at 320 px for the essential matrix.
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    # No flow passed in: OpenCV 5 takes a given array as the initial flow, and a zero start
    # measurably worsens DIS's coarse-to-fine search (the stubs do not know None is allowed).
    return np.asarray(dis.calc(current, previous, None))  # type: ignore[call-overload]


def pixel_grid(height: int, width: int) -> np.ndarray:
    """HxWx2 float32 (u, v) pixel coordinates."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.stack([u, v], axis=-1)


def static_flow(uv: np.ndarray, depth: np.ndarray, K: np.ndarray,
                T_prev_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where static points seen at pixels `uv` with `depth` were in the previous frame.

    Args:
        uv: [...,2] pixel coordinates in the current frame.
        depth: [...] their depth (any unit; T_prev_cur's translation in the same).
        K: 3x3 intrinsics.
        T_prev_cur: 4x4 maps points of the current camera into the previous one.

    Returns:
        (flow [...,2], turned [...,2]): the whole expected flow, and the flow of the rotation
        alone (the same at any depth); their difference is the parallax depth explains.
    """
    rays = np.concatenate([uv, np.ones((*uv.shape[:-1], 1), uv.dtype)], -1) @ np.linalg.inv(K).T
    R, t = T_prev_cur[:3, :3], T_prev_cur[:3, 3]
    rotated = rays @ (K @ R).T                                 # rotation only: a homography
    moved = rotated * depth[..., None] + K @ t
    at_turned = rotated[..., :2] / np.maximum(rotated[..., 2:], 1e-6)
    at_moved = moved[..., :2] / np.maximum(moved[..., 2:], 1e-6)
    return (at_moved - uv).astype(np.float32), (at_turned - uv).astype(np.float32)


def expected_flow(depth: np.ndarray, K: np.ndarray,
                  T_prev_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow of a static scene from the current frame into the previous one, per pixel.

    Returns:
        (flow HxWx2, parallax HxW): the whole expected flow, and the length of its part due
        to translation (what depth explains).
    """
    flow, turned = static_flow(pixel_grid(*depth.shape), depth, K, T_prev_cur)
    return flow, np.linalg.norm(flow - turned, axis=-1)


def fit_ego_motion(depth: np.ndarray, flow: np.ndarray, K: np.ndarray,
                   reliable: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
    """T_prev_cur fitted to the observed flow, its scale from the current depth.

    The rotation and the direction of travel come from the essential matrix of the flow
    (RANSAC, so movers are outliers; only `reliable` pixels, HxW bool, when given), which does
    not lean on the depth; the length of the translation is the median ratio of the observed
    to the unit translation's parallax over the inliers, which puts it in the depth's unit.
    Returns (T or None when no fit, share of grid points that are inliers).
    """
    h, w = depth.shape
    v, u = np.mgrid[BORDER_PX:h - BORDER_PX:FIT_STEP_PX, BORDER_PX:w - BORDER_PX:FIT_STEP_PX]
    u, v = u.ravel(), v.ravel()
    keep = np.isfinite(depth[v, u]) & (depth[v, u] > 0)
    if reliable is not None:
        keep &= reliable[v, u]
    u, v = u[keep], v[keep]
    if len(u) < 8:
        return None, 0.0
    here = np.stack([u, v], -1).astype(np.float64)
    there = here + flow[v, u]
    if np.median(np.linalg.norm(flow[v, u], axis=-1)) < STILL_PX:
        return np.eye(4), 1.0        # nothing moved: no fit needed (and E is undefined)
    turned = only_turned(here, there, K)
    if turned is not None:
        return turned
    try:
        E, inliers = cv2.findEssentialMat(here, there, K.astype(np.float64), cv2.RANSAC,
                                          RANSAC_CONFIDENCE, EPIPOLAR_INLIER_PX)
        if E is None or E.shape != (3, 3):
            return None, 0.0
        _, R, t, inliers = cv2.recoverPose(E, here, there, K.astype(np.float64), mask=inliers)
    except cv2.error:                # degenerate point sets (OpenCV asserts on some)
        return None, 0.0
    inlier = inliers.ravel() > 0
    share = float(inlier.mean())
    if share < MIN_INLIER_SHARE:
        return None, share
    return with_depth_length(depth, flow, K, R, t.ravel(), (v[inlier], u[inlier])), share


def with_depth_length(depth: np.ndarray, flow: np.ndarray, K: np.ndarray, R: np.ndarray,
                      direction: np.ndarray,
                      pixels: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """T_prev_cur with rotation R and a translation along `direction` in the depth's unit.

    The length is the median ratio of the observed parallax to a probe step's, over `pixels`
    ((rows, columns) of static pixels; default: every pixel with depth): the parallax of a
    step much shorter than the scene is deep is linear in its length.
    """
    v, u = pixels if pixels is not None else np.nonzero(np.isfinite(depth) & (depth > 0))
    T = np.eye(4)
    T[:3, :3] = R
    norm = float(np.linalg.norm(direction))
    if norm == 0 or len(v) == 0:
        return T
    z = depth[v, u]
    T[:3, 3] = PROBE_STEP * float(np.median(z)) * direction / norm
    uv = np.stack([u, v], -1).astype(np.float32)
    probe, turned = static_flow(uv, z, K, T)
    seen = np.linalg.norm(flow[v, u] - turned, axis=-1)
    T[:3, 3] *= float(np.median(seen / np.maximum(np.linalg.norm(probe - turned, axis=-1),
                                                  1e-9)))
    return T


def only_turned(here: np.ndarray, there: np.ndarray,
                K: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The camera's rotation, when one homography explains nearly all the flow.

    So does a camera that only turns (or a scene far away); a pure rotation has no epipolar
    geometry, so the essential matrix is undefined there. Returns (T with the rotation and no
    translation, inlier share), or None.
    """
    H, inliers = cv2.findHomography(here, there, cv2.RANSAC, EPIPOLAR_INLIER_PX,
                                    maxIters=HOMOGRAPHY_ITERATIONS)
    if H is None or inliers.mean() < ROTATION_ONLY_SHARE:
        return None
    U, _, Vt = np.linalg.svd(np.linalg.inv(K) @ H @ K)    # the nearest rotation
    T = np.eye(4)
    T[:3, :3] = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt
    return T, float(inliers.mean())


def motion_score(depth: np.ndarray, K: np.ndarray, flow: np.ndarray, T_prev_cur: np.ndarray,
                 config: MotionMaskConfig,
                 reliable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(score HxW, parallax HxW) of each pixel; see the module docstring for the score.

    Pixels whose flow is not `reliable` (HxW bool) score 0: no verdict.
    """
    expected, parallax = expected_flow(depth, K, T_prev_cur)
    residual = np.linalg.norm(flow - expected, axis=-1)
    score = residual / (parallax + config.min_residual_px)
    h, w = depth.shape
    at = pixel_grid(h, w) + expected
    # Pixels the static scene would have brought in from outside the previous frame, and
    # those without depth, cannot be checked.
    outside = (at[..., 0] < 0) | (at[..., 0] > w - 1) | (at[..., 1] < 0) | (at[..., 1] > h - 1)
    score[outside | ~np.isfinite(depth)] = 0.0
    if reliable is not None:
        score[~reliable] = 0.0
    return score.astype(np.float32), parallax


class MotionMasker:
    """The geometric mask of a stream of frames: keeps the recent frames between calls.

    Each frame is compared with the newest earlier frame at least `config.interval_s` older,
    so that a fast camera (25-30 Hz) still gives pixels enough parallax to judge.
    """

    def __init__(self, config: MotionMaskConfig) -> None:
        self.config = config
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=HISTORY_FRAMES)

    def reset(self) -> None:
        """Forget the earlier frames (a gap in the stream, a new camera)."""
        self._history.clear()

    def update(self, image: np.ndarray, stamp_s: float, depth: np.ndarray, K: np.ndarray,
               odometry: Odometry | None = None) -> MotionMaskResult:
        """The mask of this frame against an earlier one given to `update`.

        Args:
            image: HixWix3 uint8 RGB frame (undistorted), any size of the depth's aspect; the
                flow runs on it at FLOW_SCALE x the depth's width.
            stamp_s: the frame's time (seconds); frames must come in time order.
            depth: HxW depth of this frame (NaN where unknown).
            K: 3x3 intrinsics at HxW.
            odometry: (earlier stamp, this stamp) -> T_prev_cur of the camera (4x4, any unit),
                or None where it has no pose; its rotation and direction of travel are used
                (a camera it says stands still has no parallax), and the length is measured
                in the depth's unit. Without it, or without a pose, the motion is fitted to
                the flow.
        """
        h, w = depth.shape
        grey = cv2.cvtColor(cv2.resize(image, (FLOW_SCALE * w, FLOW_SCALE * h),
                                       interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        if self._history and (stamp_s < self._history[-1][0] or
                              self._history[-1][1].shape != grey.shape):
            self.reset()             # time went back (a bag restarted) or the size changed
        earlier = [(t, g) for t, g in self._history
                   if stamp_s - MAX_AGE_S <= t <= stamp_s - self.config.interval_s]
        self._history.append((stamp_s, grey))
        empty = np.zeros((h, w), np.float32)
        if not earlier:
            return MotionMaskResult(None, empty, STATUS_FIRST)
        while len(self._history) > 2 and self._history[1][0] <= stamp_s - self.config.interval_s:
            self._history.popleft()  # later frames never need one older than earlier[-1]
        then, previous = earlier[-1]
        fine, trusted = observed_flow(grey, previous)
        flow = cv2.resize(fine, (w, h), interpolation=cv2.INTER_AREA) / FLOW_SCALE
        reliable = cv2.resize(trusted.astype(np.uint8), (w, h),
                              interpolation=cv2.INTER_NEAREST) > 0
        known = odometry(then, stamp_s) if odometry is not None else None
        if known is not None:
            inliers = 1.0
            still = np.linalg.norm(known[:3, 3]) < STILL_M
            T_prev_cur = with_depth_length(depth, flow, K, known[:3, :3],
                                           np.zeros(3) if still else known[:3, 3])
        else:
            fitted, inliers = fit_ego_motion(depth, flow, K, reliable)
            if fitted is None:
                return MotionMaskResult(None, empty, STATUS_NO_EGO_MOTION, inliers=inliers)
            T_prev_cur = fitted
        score, parallax = motion_score(depth, K, flow, T_prev_cur, self.config, reliable)
        median = float(np.nanmedian(parallax))
        if median < self.config.min_parallax_px:
            return MotionMaskResult(None, empty, STATUS_NO_PARALLAX, median, inliers, T_prev_cur)
        return MotionMaskResult(score > self.config.threshold, score, STATUS_OK, median,
                                inliers, T_prev_cur)


def mask_of_pair(config: MotionMaskConfig, earlier: np.ndarray, image: np.ndarray,
                 depth: np.ndarray, K: np.ndarray) -> MotionMaskResult:
    """The mask of `image` against `earlier`, taken config.interval_s before it.

    For frames judged one pair at a time (a benchmark, stage-2 masks): only the later frame's
    depth is needed, as in the node.
    """
    masker = MotionMasker(config)
    masker.update(earlier, 0.0, depth, K)         # only kept: the first frame has no verdict
    return masker.update(image, config.interval_s, depth, K)
