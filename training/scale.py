"""Metric scale of a monocular model from odometry, after training.

Depth and PoseNet translation share one gauge at scale s = 1 (full frames), so metres per unit =
|t_odometry| / |t_posenet| between consecutive frames. The median over a clip's pairs is robust
to the few pairs where the vehicle barely moves (those are skipped).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from svde_ros.model import PoseNet
from svde_training.config import config_from_dict
from svde_training.data import build_clips
from svde_training.data.clip import Clip, DataError
from svde_training.data.dataset import to_base

LOG = logging.getLogger(__name__)
MIN_MOTION_M = 0.05   # pairs moving less than this carry no scale information


@torch.no_grad()
def translation_ratios(pose_net: PoseNet, clip: Clip, width: int, height: int,
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


def load_pose_net(state: dict[str, Any]) -> PoseNet:
    """The PoseNet of a training checkpoint, in eval mode."""
    config = config_from_dict(state['config'], 'checkpoint config')
    pose_net = PoseNet(config.pose_width)
    pose_net.load_state_dict(state['pose_net'])
    return pose_net.eval()


def odometry_scale(state: dict[str, Any], max_pairs: int = 200) -> tuple[float, int]:
    """Metres per gauge unit from the checkpoint's PoseNet and its training clips' poses.

    Returns:
        (scale, number of frame pairs used).
    """
    config = config_from_dict(state['config'], 'checkpoint config')
    pose_net = load_pose_net(state)
    d = config.data
    ratios: list[float] = []
    for clip in (c for s in d.sources for c in build_clips(s)):
        ratios += translation_ratios(pose_net, clip, d.base_width, d.base_height,
                                     max_pairs - len(ratios))
        if len(ratios) >= max_pairs:
            break
    if not ratios:
        raise DataError('no training clip has poses with motion: the metric scale needs '
                        'odometry (e.g. kitti_odometry poses.txt or a folder source with poses)')
    LOG.info('odometry scale: %.3f m per unit (median of %d pairs, spread %.1f%% IQR)',
             float(np.median(ratios)), len(ratios),
             100 * float(np.subtract(*np.percentile(ratios, [75, 25])) / np.median(ratios)))
    return float(np.median(ratios)), len(ratios)
