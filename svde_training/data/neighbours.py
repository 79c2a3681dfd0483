"""Which frames are a target's neighbours: fixed offsets, or chosen by how far the camera moved.

`frame_offsets: [-1, 1]` assumes KITTI's 10 Hz car, where consecutive frames are about a metre
apart. A 30 Hz handheld or slow robot camera moves millimetres between frames: neighbours one
frame away show almost no parallax, and view synthesis has nothing to learn from. With
`data.neighbours: motion` each target takes, in the direction of each configured offset, the
nearest frame that lies at least a set motion away: by odometry (metres) when every frame of the
clip has a pose, else by the median optical flow (pixels at the base width) between thumbnails.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svde_training.config import DataConfig
from svde_training.data.clip import Clip

THUMB_WIDTH = 160     # optical flow runs on thumbnails this wide


@dataclass(frozen=True)
class ClipMotion:
    """Motion between consecutive frames i and i + 1 of a clip, and its unit ('m' or 'px')."""

    steps: np.ndarray
    unit: str


def clip_motion(clip: Clip, base_width: int) -> ClipMotion:
    """Odometry translation per frame step when the clip has poses, else median flow."""
    n = len(clip)
    poses = [clip.pose(i) for i in range(n)]
    if all(p is not None for p in poses):
        positions = np.array([p[:3, 3] for p in poses])          # type: ignore[index]
        return ClipMotion(np.linalg.norm(np.diff(positions, axis=0), axis=1), 'm')
    thumbs = []
    for i in range(n):
        grey = cv2.cvtColor(clip.image(i), cv2.COLOR_RGB2GRAY)
        h = max(8, round(grey.shape[0] * THUMB_WIDTH / grey.shape[1]))
        thumbs.append(cv2.resize(grey, (THUMB_WIDTH, h), interpolation=cv2.INTER_AREA))
    steps = []
    for a, b in zip(thumbs, thumbs[1:]):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        steps.append(float(np.median(np.linalg.norm(flow, axis=2))) * base_width / THUMB_WIDTH)
    return ClipMotion(np.asarray(steps), 'px')


def neighbour_offsets(clip: Clip, config: DataConfig) -> tuple[dict[int, tuple[int, ...]], str]:
    """Per target frame, its neighbours' offsets; and the motion unit used.

    Fixed mode: `frame_offsets` for every frame that has them all. Motion mode: for each
    configured offset's direction, the smallest step count whose accumulated motion reaches
    `neighbour_motion_m` (odometry) or `neighbour_flow_px` (flow), at most
    `neighbour_max_gap` frames; a target is kept only where every neighbour exists (near a
    clip's end, one that reaches the goal).
    """
    n = len(clip)
    if config.neighbours == 'fixed':
        return ({t: tuple(config.frame_offsets) for t in range(n)
                 if all(0 <= t + o < n for o in config.frame_offsets)}, '')
    motion = clip_motion(clip, config.base_width)
    goal = config.neighbour_motion_m if motion.unit == 'm' else config.neighbour_flow_px
    result: dict[int, tuple[int, ...]] = {}
    for t in range(n):
        chosen = []
        for direction in (int(np.sign(o)) for o in config.frame_offsets):
            moved, k = 0.0, 0
            while k < config.neighbour_max_gap and 0 <= t + direction * (k + 1) < n:
                k += 1
                step = t + direction * k
                moved += motion.steps[min(step, step - direction)]
                if moved >= goal:
                    break
            # Too little motion before the clip ends: no usable neighbour that way (a
            # neighbour max_gap away is taken even if the camera barely moved).
            enough = moved >= goal or k == config.neighbour_max_gap
            chosen.append(direction * k if enough else 0)
        if all(chosen):
            result[t] = tuple(chosen)
    return result, motion.unit


def spacing_summary(offsets: dict[str, dict[int, tuple[int, ...]]],
                    units: dict[str, str]) -> dict[str, dict]:
    """Per clip: targets, and min / median / max absolute offset of each neighbour slot."""
    summary = {}
    for name, per_target in offsets.items():
        gaps = np.abs(np.array(list(per_target.values()))) if per_target else np.zeros((0, 0))
        summary[name] = {'targets': len(per_target), 'unit': units.get(name, ''),
                         'gap_min': gaps.min(axis=0).tolist() if gaps.size else [],
                         'gap_median': np.median(gaps, axis=0).tolist() if gaps.size else [],
                         'gap_max': gaps.max(axis=0).tolist() if gaps.size else []}
    return summary
