"""The camera's turn and direction of travel of every training pair, from the images themselves.

`pose_source: flow`: without odometry, the rotation between two frames, and the direction of
travel where the parallax allows, come from the flow's geometry (svde_ros.motion: DIS flow with
the forward-backward check, then the essential matrix, still and only-turning states), and
PoseNet predicts only what the geometry leaves open: the translation's length. PoseNet takes a
handheld camera's 2.6-3 degree turns for sideways steps (0.10-0.18 degrees predicted indoors);
the geometry is off by about 0.5 there, 0.04-0.08 on KITTI (issue 42's measurements).

Per pair, one of:
- MOVING: rotation and unit direction fixed, PoseNet gives the length (the rotation only where
  the fit explains less than DIRECTION_MIN_INLIERS of the flow: movers bent it);
- ONLY_TURNING / STILL: rotation fixed, PoseNet gives the (small) translation;
- UNCERTAIN: PoseNet gives everything (the run's log counts such pairs).

Computed once, before training, at FLOW_WIDTH, and cached in the run folder (FLOW_POSES_NAME)
with a digest of both frames, so a resumed run reuses it and a changed frame is computed again.
"""
from __future__ import annotations

import functools
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
# A moving pair's direction is fixed only where the essential matrix explains at least this
# share of the reliable flow; below, its rotation only. Over every driving camera's 1814 pairs
# (runs/streets_flow_s0), pairs at >= 0.9 were 1-2 degrees off the optical axis at the median
# and 1% more than 20; below 0.9 (nuScenes' busy streets, the highway's overtaking cars) 5-10
# degrees and 15-36%. Indoors 94-95% of the moving pairs reach 0.9.
DIRECTION_MIN_INLIERS = 0.9

Pair = tuple[int, int, int]          # (clip index, target frame, neighbour frame)


def flow_frame(clip: Clip, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(grey frame the flow runs on, K at the flow's output size) of one frame."""
    K = clip.intrinsics(index)
    width = FLOW_WIDTH // FLOW_SCALE
    height = max(8, round(K.height * width / K.width))
    return grey_at(clip.image(index), width, height), K.resized(width, height).matrix()


def _digest(grey: np.ndarray) -> str:
    return hashlib.sha1(grey.tobytes()).hexdigest()[:16]


def geometry_of(current: np.ndarray, neighbour: np.ndarray, K: np.ndarray) -> dict[str, Any]:
    """The geometry (T_n_t) of a target's grey frame against its neighbour's, as stored."""
    ego = estimate_ego_motion(observed_flow(current, neighbour), K)
    entry: dict[str, Any] = {'state': ego.state, 'inliers': round(ego.inliers, 3)}
    if ego.T_prev_cur is not None:
        entry['R'] = ego.T_prev_cur[:3, :3].round(8).tolist()
    if ego.direction is not None:
        entry['direction'] = ego.direction.round(8).tolist()
    return entry


def pair_geometry(clip: Clip, t: int, n: int) -> dict[str, Any]:
    """The geometry of frame t against neighbour n (T_n_t)."""
    current, K = flow_frame(clip, t)
    return geometry_of(current, flow_frame(clip, n)[0], K)


class FlowPoses:
    """Every training pair's geometry, computed once and cached in the run folder."""

    def __init__(self, clips: list[Clip], pairs: list[Pair], cache: Path | None) -> None:
        """Compute (or reuse from `cache`) the geometry of `pairs` of `clips`."""
        self.entries: dict[Pair, dict[str, Any]] = {}
        stored: dict[str, Any] = {}
        if cache is not None and cache.is_file():
            stored = json.loads(cache.read_text())

        @functools.lru_cache(maxsize=16)      # pairs come target by target: neighbours recur
        def frame(c: int, i: int) -> tuple[np.ndarray, np.ndarray, str]:
            grey, K = flow_frame(clips[c], i)
            return grey, K, _digest(grey)

        reused = changed = 0
        out: dict[str, Any] = {}
        for number, (c, t, n) in enumerate(pairs):
            key = f'{clips[c].name}|{t}|{n}'
            (current, K, here), (neighbour, _, there) = frame(c, t), frame(c, n)
            digest = here + there
            if key in stored and stored[key]['digest'] == digest:
                entry, reused = stored[key], reused + 1
            else:
                changed += key in stored
                entry = {**geometry_of(current, neighbour, K), 'digest': digest}
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
        """Pairs per state; moving ones whose direction is not fixed counted apart."""
        out: dict[str, int] = {}
        for entry in self.entries.values():
            name = entry['state']
            if _fixes(entry) != FIXES[name]:
                name += ' (rotation only)'
            out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))

    def fixed(self, c: int, t: int, n: int, flip: bool) -> tuple[np.ndarray, np.ndarray, int]:
        """(R 3x3, unit direction 3, FIXES_* code) of a pair, mirrored with the sample."""
        entry = self.entries[(c, t, n)]
        R = np.array(entry.get('R', np.eye(3)), np.float32)
        d = np.array(entry.get('direction', (0.0, 0.0, 0.0)), np.float32)
        if flip:                     # a mirrored sample sees the mirrored world: M T M
            M = np.diag([-1.0, 1.0, 1.0]).astype(np.float32)
            R, d = M @ R @ M, M @ d
        return R, d, _fixes(entry)


def _fixes(entry: dict[str, Any]) -> int:
    """What a stored pair's geometry fixes (FIXES_*)."""
    if entry['state'] == MOVING and entry['inliers'] < DIRECTION_MIN_INLIERS:
        return FIXES_ROTATION
    return FIXES[entry['state']]
