"""Metric scale of a monocular model, after training: from odometry, or from camera height.

Depth and PoseNet translation share one gauge at scale s = 1 (full frames), so metres per unit =
|t_odometry| / |t_posenet| between consecutive frames. The median over a clip's pairs is robust
to the few pairs where the vehicle barely moves (those are skipped). Without odometry, a known
camera height above a ground plane gives metres per unit = height / the ground-plane distance
found in the predicted depth.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from svde_ros.geometry import points_from_depth
from svde_ros.model import DepthNet
from svde_ros.model.pose_net import build_pose_net
from svde_ros.model.predict import predict_depth
from svde_training.config import stored_config
from svde_training.data import build_clips
from svde_training.data.clip import Clip, DataError
from svde_training.data.dataset import to_base

LOG = logging.getLogger(__name__)
MIN_MOTION_M = 0.05   # pairs moving less than this carry no scale information


@torch.no_grad()
def translation_ratios(pose_net: torch.nn.Module, clip: Clip, width: int, height: int,
                       max_pairs: int = 200) -> list[float]:
    """|t_odometry| / |t_posenet| for consecutive frame pairs of a clip with poses.

    Frames are fed whole at the base size `width` x `height` (scale s = 1); pairs moving less
    than MIN_MOTION_M are skipped.
    """
    ratios: list[float] = []
    if clip.pose(0) is None:
        return ratios
    for i in range(len(clip) - 1):
        gt = np.linalg.norm((np.linalg.inv(clip.pose(i + 1)) @ clip.pose(i))[:3, 3])
        if gt < MIN_MOTION_M:
            continue
        frames = [torch.from_numpy(to_base(clip, j, width, height)[0]).permute(2, 0, 1)[None]
                  for j in (i, i + 1)]
        cam = torch.tensor([clip.intrinsics(i).camera_channels()], dtype=torch.float32)
        predicted = float(pose_net(frames[0], frames[1], cam)[0, :3, 3].norm())
        ratios.append(gt / max(predicted, 1e-9))
        if len(ratios) >= max_pairs:
            break
    return ratios


def load_pose_net(state: dict[str, Any]) -> torch.nn.Module:
    """The PoseNet of a training checkpoint, in eval mode."""
    config = stored_config(state['config'], 'checkpoint config')
    pose_net = build_pose_net(config.pose_encoder, config.pose_width,
                              config.pose_translation_scale,
                              config.pose_rotation_scale)
    pose_net.load_state_dict(state['pose_net'])
    return pose_net.eval()


def odometry_scale(state: dict[str, Any], max_pairs: int = 200) -> tuple[float, int]:
    """Metres per gauge unit from the checkpoint's PoseNet and its training clips' poses.

    Returns:
        (scale, number of frame pairs used).
    """
    config = stored_config(state['config'], 'checkpoint config')
    pose_net = load_pose_net(state)
    d = config.data
    # pose_gauge per_source: source s warped with exp(gauge[s]) x PoseNet's translation.
    gauge = np.exp(state['source_gauge'].numpy()) if 'source_gauge' in state else None
    clips = ((1.0 if gauge is None else float(gauge[s]), clip)
             for s, source in enumerate(d.sources) for clip in build_clips(source))
    ratios: list[float] = []
    for factor, clip in clips:
        ratios += [r / factor for r in translation_ratios(
            pose_net, clip, d.base_width, d.base_height, max_pairs - len(ratios))]
        if len(ratios) >= max_pairs:
            break
    if not ratios:
        raise DataError('no training clip has poses with motion: the metric scale needs '
                        'odometry (e.g. kitti_odometry poses.txt or a folder source with poses)')
    LOG.info('odometry scale: %.3f m per unit (median of %d pairs, spread %.1f%% IQR)',
             float(np.median(ratios)), len(ratios),
             100 * float(np.subtract(*np.percentile(ratios, [75, 25])) / np.median(ratios)))
    return float(np.median(ratios)), len(ratios)


# The ground is looked for in the bottom-centre of the frame, where a forward-looking robot
# camera sees it; RANSAC tolerates the few objects standing there.
GROUND_ROWS, GROUND_COLS = (0.7, 1.0), (0.25, 0.75)
MIN_UPRIGHTNESS = 0.8      # |normal . camera down axis| of an acceptable ground plane


def ground_height(depth: np.ndarray, K: np.ndarray, seed: int = 0,
                  iterations: int = 200) -> float | None:
    """Camera height above the ground plane in the depth map's units, or None if no ground.

    A plane is fitted by RANSAC (then least squares on its inliers) to the points of the
    bottom-centre region; it must face the camera's down axis (y). The height is the distance
    of the camera centre from that plane.
    """
    H, W = depth.shape
    r0, r1 = int(GROUND_ROWS[0] * H), int(GROUND_ROWS[1] * H)
    c0, c1 = int(GROUND_COLS[0] * W), int(GROUND_COLS[1] * W)
    points = points_from_depth(depth, K)[r0:r1, c0:c1].reshape(-1, 3).astype(np.float64)
    points = points[np.isfinite(points).all(axis=1) & (points[:, 2] > 0)]
    if len(points) < 30:
        return None
    rng = np.random.default_rng(seed)
    tolerance = 0.02 * float(np.median(points[:, 2]))
    best = None
    for _ in range(iterations):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm < 1e-12 or abs(normal[1]) / norm < MIN_UPRIGHTNESS:
            continue
        normal /= norm
        inliers = np.abs((points - a) @ normal) < tolerance
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < 0.3 * len(points):
        return None
    inlying = points[best]
    centre = inlying.mean(axis=0)
    normal = np.linalg.svd(inlying - centre)[2][-1]
    if abs(normal[1]) < MIN_UPRIGHTNESS:
        return None
    return float(abs(centre @ normal))


@torch.no_grad()
def predicted_depths(net: DepthNet, clips: list[Clip], width: int, height: int,
                     max_frames: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """The network's depth [H,W] (gauge units) and K (3x3, px) of frames spread over the clips.

    Frames are fed whole at the base size `width` x `height` (scale s = 1).
    """
    candidates = [(clip, i) for clip in clips for i in range(len(clip))]
    step = max(1, len(candidates) // max_frames)
    was_training = net.training
    net.eval()
    out = []
    for clip, i in candidates[::step][:max_frames]:
        image, K = to_base(clip, i, width, height)
        cam = torch.tensor(clip.intrinsics(i).camera_channels(), dtype=torch.float32)
        depth = predict_depth(net, torch.from_numpy(image.transpose(2, 0, 1)), cam,
                              (height, width)).numpy()
        out.append((depth, K.matrix()))
    net.train(was_training)
    return out


def camera_height_scale(depths: list[tuple[np.ndarray, np.ndarray]],
                        camera_height_m: float) -> tuple[float, int]:
    """Metres per gauge unit from a known camera height above a ground plane.

    Args:
        depths: (depth [H,W] in gauge units, K 3x3 in px) of frames that see the ground,
            e.g. `predicted_depths` of a trained network.
        camera_height_m: the camera's height above the ground.

    Returns:
        (camera_height_m / the median ground height over the frames, frames with a ground).

    Raises:
        DataError: no frame shows a ground plane in its bottom centre.
    """
    heights = [h for h in (ground_height(depth, K) for depth, K in depths) if h is not None]
    if not heights:
        raise DataError('no ground plane found in the bottom-centre of the frames: the camera '
                        'height cannot give a metric scale here (use odometry instead)')
    return camera_height_m / float(np.median(heights)), len(heights)
