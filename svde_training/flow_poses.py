"""The camera's turn and direction of travel of every training pair, from the images themselves.

`pose_source: flow`: without odometry, the rotation between two frames, and the direction of
travel where the parallax allows, come from the flow's geometry (svde_ros.motion: DIS flow with
the forward-backward check, then the essential matrix, still and only-turning states), and
PoseNet predicts only what the geometry leaves open: the translation's length. PoseNet takes a
handheld camera's 2.6-3 degree turns for sideways steps (0.10-0.18 degrees predicted indoors);
the geometry is off by about 0.5 there, 0.04-0.08 on KITTI (issue 42's measurements).

Per pair, one of:
- MOVING: rotation and unit direction fixed, PoseNet gives the length;
- ONLY_TURNING / STILL: rotation fixed, PoseNet gives the (small) translation;
- UNCERTAIN: PoseNet gives everything (the run's log counts such pairs).

Computed once, before training, at FLOW_WIDTH, and cached in the run folder (FLOW_POSES_NAME)
with a digest of both frames, so a resumed run reuses it and a changed frame is computed again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from svde_ros.files import atomic_write_bytes
from svde_ros.motion.ego_motion import (
    MOVING,
    ONLY_TURNING,
    STILL,
    UNCERTAIN,
    estimate_ego_motion,
)
from svde_ros.motion.flow import FLOW_SCALE, grey_at, observed_flow
from svde_training.data.clip import Clip

LOG = logging.getLogger(__name__)

FLOW_POSES_NAME = 'flow_poses.json'
# Width (pixels) the flow runs at: 640 px was more accurate than 320 everywhere (issue 42).
FLOW_WIDTH = 640
# What each pair's geometry fixes (the dataset hands these codes to the trainer).
FIXES_NOTHING, FIXES_ROTATION, FIXES_ROTATION_AND_DIRECTION = 0, 1, 2
FIXES = {UNCERTAIN: FIXES_NOTHING, STILL: FIXES_ROTATION, ONLY_TURNING: FIXES_ROTATION,
         MOVING: FIXES_ROTATION_AND_DIRECTION}

Pair = tuple[int, int, int]          # (clip index, target frame, neighbour frame)


def _digest(grey: np.ndarray) -> str:
    return hashlib.sha1(grey.tobytes()).hexdigest()[:16]


def pair_geometry(clip: Clip, t: int, n: int) -> tuple[dict[str, Any], str]:
    """The geometry of frame t against neighbour n (T_n_t), and a digest of the two frames."""
    K = clip.intrinsics(t)
    width = FLOW_WIDTH // FLOW_SCALE
    height = max(8, round(K.height * width / K.width))
    current = grey_at(clip.image(t), width, height)
    neighbour = grey_at(clip.image(n), width, height)
    ego = estimate_ego_motion(observed_flow(current, neighbour), K.resized(width, height).matrix())
    entry: dict[str, Any] = {'state': ego.state, 'inliers': round(ego.inliers, 3)}
    if ego.T_prev_cur is not None:
        entry['R'] = ego.T_prev_cur[:3, :3].round(8).tolist()
    if ego.direction is not None:
        entry['direction'] = ego.direction.round(8).tolist()
    return entry, _digest(current) + _digest(neighbour)


class FlowPoses:
    """Every training pair's geometry, computed once and cached in the run folder."""

    def __init__(self, clips: list[Clip], pairs: list[Pair], cache: Path | None) -> None:
        """Compute (or reuse from `cache`) the geometry of `pairs` of `clips`."""
        self.entries: dict[Pair, dict[str, Any]] = {}
        stored: dict[str, Any] = {}
        if cache is not None and cache.is_file():
            stored = json.loads(cache.read_text())
        reused = changed = 0
        out: dict[str, Any] = {}
        for number, (c, t, n) in enumerate(pairs):
            key = f'{clips[c].name}|{t}|{n}'
            entry, digest = None, None
            if key in stored:
                K = clips[c].intrinsics(t)
                width = FLOW_WIDTH // FLOW_SCALE
                height = max(8, round(K.height * width / K.width))
                digest = _digest(grey_at(clips[c].image(t), width, height)) + \
                    _digest(grey_at(clips[c].image(n), width, height))
                if stored[key]['digest'] == digest:
                    entry, reused = stored[key], reused + 1
                else:
                    changed += 1
            if entry is None:
                geometry, digest = pair_geometry(clips[c], t, n)
                entry = {**geometry, 'digest': digest}
            out[key] = entry
            self.entries[(c, t, n)] = entry
            if (number + 1) % 200 == 0:
                LOG.info('flow poses: %d of %d pairs', number + 1, len(pairs))
        self.reused, self.changed = reused, changed
        if changed:
            LOG.warning('flow poses: %d cached pair(s) whose frames changed were computed '
                        'again', changed)
        if cache is not None:
            atomic_write_bytes(cache, json.dumps(out).encode())
        counts = self.counts()
        LOG.info('flow poses: %d pairs (%d reused from %s): %s; uncertain pairs use PoseNet',
                 len(pairs), reused, cache, ', '.join(f'{k} {v}' for k, v in counts.items()))

    def counts(self) -> dict[str, int]:
        """Pairs per state."""
        out: dict[str, int] = {}
        for entry in self.entries.values():
            out[entry['state']] = out.get(entry['state'], 0) + 1
        return dict(sorted(out.items()))

    def fixed(self, c: int, t: int, n: int, flip: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """(R 3x3, unit direction 3, FIXES_* code) of a pair, mirrored with the sample."""
        entry = self.entries[(c, t, n)]
        R = np.array(entry.get('R', np.eye(3)), np.float32)
        d = np.array(entry.get('direction', (0.0, 0.0, 0.0)), np.float32)
        if flip:                     # a mirrored sample sees the mirrored world: M T M
            M = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
            R, d = M @ R @ M, M @ d
        return R, d, FIXES[entry['state']]
