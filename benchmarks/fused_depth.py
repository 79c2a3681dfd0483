"""Depth from the camera's own motion on real video with ground truth: network, tri, fused.

Each clip is played in time order through the node's motion geometry (svde_ros/motion: DIS flow,
ego-motion, triangulation, fusion), with the network's depth of every frame as the node makes
it (the model's input size, the frame 0.1 s earlier), and every frame with ground truth after
the first is scored against it:

- network: the model alone;
- triangulated: AbsRel on the pixels that got a triangulated depth, with their share
  (coverage) and the network's AbsRel on the same pixels;
- fused: the node's `depth_source: fused` output;
each median-scaled, and, where the motion comes from odometry (metric), without any scaling;
beside the row prior (leave-one-out over the clip's frames) and a constant map.

Motions: `flow` (essential matrix of the flow: no odometry) and `odometry` (KITTI's oxts,
the indoor clip's poses). Clips (../shared/data): KITTI raw drive 0023 (7 frames) and 0009 (51
frames, LiDAR in each) with the bundled driving model; indoor_kitchen/eval (25 frames with
Kinect depth, their neighbours and poses in eval_video/) with the bundled kitchen model.
eval_mix has single frames without neighbours: the network's figure stands there.

The goals (issue 40) are checked on the last line: on both drives, fused <= 0.60x the network
(flow motion, median-scaled) and <= 0.13 metric (oxts); indoors fused <= 0.12 metric (poses).

    python benchmarks/fused_depth.py [--png docs/fused_depth.png]
    python benchmarks/fused_depth.py --model M.pt --images DIR --depth DIR --camera cam.yaml
        [--poses poses.txt] [--fps 30] [--depth-scale 1000]     # your own recording
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from shared_data import SHARED_DATA, require

from svde_ros.colorize import colorize
from svde_ros.geometry import Intrinsics
from svde_ros.model.checkpoint import CheckpointError, InferenceSpec, load_depth_net
from svde_ros.model.depth_net import DepthNet
from svde_ros.model.predict import predict_depth
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import MotionGeometry
from svde_ros.preprocess import resize_frame
from svde_training.config import EvalConfig
from svde_training.data import DataError
from svde_training.data.clip import read_poses, read_rgb
from svde_training.data.dataset import EvalFrame
from svde_training.data.folder import load_camera
from svde_training.data.kitti import KittiRawClip, oxts_poses
from svde_training.evaluate import constant_depth_baseline, garg_mask, row_prior_baseline
from svde_training.metrics import evaluate_depth
from svde_training.preview import write_png

REPO = Path(__file__).resolve().parents[1]
DRIVING_MODEL = REPO / 'models/kitti_odometry_320x96.pt'
KITCHEN_MODEL = REPO / 'models/indoor_kitchen_224x160.pt'
RATIO_GOAL, METRIC_GOAL_ROAD, METRIC_GOAL_INDOOR = 0.60, 0.13, 0.12
MOTIONS = ('flow', 'odometry')


@dataclass
class Clip:
    """Frames in time order: image paths, stamps, intrinsics, poses, and depth where scored."""

    name: str
    images: list[Path]
    stamps: list[float]
    K: Intrinsics
    poses: list[np.ndarray] | None
    depth: dict[int, np.ndarray]              # index -> ground truth (metres, 0 = none)
    eval_config: EvalConfig
    garg: bool
    undistort: object = None                  # a CameraModel for distorted frames


@dataclass
class Scores:
    """Per-frame rows of one clip under one motion."""

    network: list[dict] = field(default_factory=list)
    fused: list[dict] = field(default_factory=list)
    fused_metric: list[dict] = field(default_factory=list)
    network_metric: list[dict] = field(default_factory=list)
    tri: list[float] = field(default_factory=list)
    tri_metric: list[float] = field(default_factory=list)
    tri_network: list[float] = field(default_factory=list)
    coverage: list[float] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)


def read_depth_png(path: Path, per_metre: float) -> np.ndarray:
    """A depth PNG (uint16, `per_metre` units a metre, 0 = none) in metres."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataError(f'{path}: not a readable depth PNG')
    return raw.astype(np.float32) / per_metre


def kitti_clip(name: str, drive: Path) -> Clip:
    """A KITTI raw drive: colour camera 2, LiDAR of every frame, oxts motion, 10 Hz."""
    raw = KittiRawClip(require(drive))
    depth = {i: d for i in range(len(raw)) if (d := raw.depth(i)) is not None}
    return Clip(name, list(raw.files), [0.1 * i for i in range(len(raw))],
                raw.intrinsics(0), oxts_poses(drive), depth, EvalConfig(), True)


def kitchen_clip() -> Clip:
    """indoor_kitchen eval_video (30 Hz, poses), scored on eval/'s frames (Kinect depth)."""
    root = require(SHARED_DATA / 'indoor_kitchen')
    images = sorted((root / 'eval_video/image').glob('*.jpg'))
    poses = read_poses(root / 'eval_video/poses.txt', len(images))
    depth = {}
    for i, path in enumerate(images):
        gt = root / 'eval/depth' / f'{path.stem}.png'
        if gt.is_file():
            depth[i] = read_depth_png(gt, 1000.0)
    h, w = read_rgb(images[0]).shape[:2]
    camera = load_camera(str(root / 'camera.yaml'), str(images[0]), (w, h))
    return Clip('indoor_kitchen eval', images, [i / 30 for i in range(len(images))],
                camera.intrinsics, poses, depth, EvalConfig(max_depth=10.0, garg_crop=False),
                False)


def user_clip(args: argparse.Namespace) -> Clip:
    """A user's recording: an image folder, depth PNGs of some frames, a camera YAML."""
    images = sorted(p for p in Path(args.images).iterdir()
                    if p.suffix.lower() in ('.png', '.jpg', '.jpeg'))
    if not images:
        sys.exit(f'{args.images}: no images')
    depth = {}
    for i, path in enumerate(images):
        gt = Path(args.depth) / f'{path.stem}.png'
        if gt.is_file():
            depth[i] = read_depth_png(gt, args.depth_scale)
    if not depth:
        sys.exit(f'{args.depth}: no depth PNG named as an image of {args.images}')
    h, w = read_rgb(images[0]).shape[:2]
    camera = load_camera(args.camera, str(images[0]), (w, h))
    poses = read_poses(Path(args.poses), len(images)) if args.poses else None
    return Clip(Path(args.images).name, images, [i / args.fps for i in range(len(images))],
                camera.intrinsics, poses, depth,
                EvalConfig(max_depth=args.max_depth, garg_crop=False), False, camera)


def score(pred: np.ndarray, gt: np.ndarray, clip: Clip, scaled: bool = True,
          where: np.ndarray | None = None) -> dict | None:
    """Eigen metrics of `pred` (any size, resized to the ground truth's) against `gt`."""
    big = cv2.resize(pred, gt.shape[::-1], interpolation=cv2.INTER_NEAREST)
    region = garg_mask(*gt.shape) if clip.garg else np.ones(gt.shape, bool)
    if where is not None:
        region &= cv2.resize(where.astype(np.uint8), gt.shape[::-1],
                             interpolation=cv2.INTER_NEAREST) > 0
    c = clip.eval_config
    result = evaluate_depth(big, gt, c.min_depth, c.max_depth, median_scaling=scaled,
                            mask=region)
    return result[0] if result is not None else None


def run(clip: Clip, net: DepthNet, spec: InferenceSpec, motion: str,
        panels: list[np.ndarray]) -> Scores:
    """Play the clip through the motion geometry and score every frame with ground truth."""
    stream = MotionGeometry(MotionMaskConfig())
    out = Scores()
    use_odometry = motion == 'odometry' and clip.poses is not None
    poses = clip.poses
    stamps = clip.stamps
    index_of = {round(s, 6): i for i, s in enumerate(stamps)}

    def odometry(then: float, now: float) -> np.ndarray | None:
        assert poses is not None
        a, b = index_of[round(then, 6)], index_of[round(now, 6)]
        return np.linalg.inv(poses[a]) @ poses[b]

    for i, path in enumerate(clip.images):
        rgb = read_rgb(path)
        if clip.undistort is not None:
            rgb = clip.undistort.undistort(rgb)  # type: ignore[attr-defined]
        small, K = resize_frame(rgb, clip.K, spec.input_width, spec.input_height)
        image = torch.from_numpy(small).permute(2, 0, 1).float() / 255
        cam = torch.tensor(K.camera_channels(), dtype=torch.float32)
        network = predict_depth(net, image, cam, (spec.input_height, spec.input_width)).numpy()
        network = network * spec.depth_scale
        started = time.perf_counter()
        result = stream.update(rgb, stamps[i], network, K.matrix(),
                               odometry if use_odometry else None)
        out.seconds.append(time.perf_counter() - started)
        if i == 0 or i not in clip.depth:     # the stream's first frame is the network's
            continue
        gt = clip.depth[i]
        out.states[result.state] += 1
        rows = (score(network, gt, clip), score(result.depth, gt, clip))
        if rows[0] is None or rows[1] is None:
            continue
        out.network.append(rows[0])
        out.fused.append(rows[1])
        if use_odometry:
            for target, pred in ((out.fused_metric, result.depth),
                                 (out.network_metric, network)):
                row = score(pred, gt, clip, scaled=False)
                if row is not None:
                    target.append(row)
        if result.tri is not None and result.tri.coverage > 0:
            there = score(result.tri.depth, gt, clip, where=result.tri.valid)
            same = score(network, gt, clip, where=result.tri.valid)
            if there is not None and same is not None:
                out.tri.append(there['abs_rel'])
                out.tri_network.append(same['abs_rel'])
            if use_odometry:
                metric = score(result.tri.depth * result.scale, gt, clip, scaled=False,
                               where=result.tri.valid)
                if metric is not None:
                    out.tri_metric.append(metric['abs_rel'])
            big = np.isfinite(cv2.resize(result.tri.depth, gt.shape[::-1],
                                         interpolation=cv2.INTER_NEAREST))
            valid_gt = (gt > clip.eval_config.min_depth) & (gt < clip.eval_config.max_depth)
            if clip.garg:
                valid_gt &= garg_mask(*gt.shape)
            out.coverage.append(float(big[valid_gt].mean()))
        else:
            out.coverage.append(0.0)
        if motion == 'flow' and len(panels) < 3 and result.tri is not None and \
                len(out.fused) == max(1, len(clip.depth) // 2):
            panels.append(panel(small, network, result.tri.depth, result.depth, gt))
    return out


def panel(small: np.ndarray, network: np.ndarray, tri: np.ndarray, fused: np.ndarray,
          gt: np.ndarray) -> np.ndarray:
    """One panel row: input | network | triangulated | fused | ground truth (dilated).

    One colour scale: inverse depth over the frame's ground-truth range.
    """
    h, w = network.shape
    truth = cv2.resize(cv2.dilate(gt, np.ones((9, 9), np.uint8)), (w, h),
                       interpolation=cv2.INTER_NEAREST)
    valid = truth > 0
    lo, hi = np.percentile(truth[valid], [2, 98]) if valid.any() else (1.0, 80.0)

    def shown(depth: np.ndarray) -> np.ndarray:
        scale = np.nanmedian(truth[valid]) / np.nanmedian(depth[valid & np.isfinite(depth)]) \
            if (valid & np.isfinite(depth)).any() else 1.0
        inverse = np.where(np.isfinite(depth) & (depth > 0), 1.0 / (depth * scale), np.nan)
        return colorize(inverse, 1.0 / hi, 1.0 / lo)

    return np.concatenate([small] + [shown(d) for d in (network, tri, fused,
                                                         np.where(valid, truth, np.nan))], 1)


def mean(rows: list[dict], key: str = 'abs_rel') -> float:
    return float(np.mean([r[key] for r in rows])) if rows else float('nan')


def average(values: list[float]) -> float:
    return float(np.mean(values)) if values else float('nan')


def priors(clip: Clip) -> tuple[float, float]:
    """(constant, row prior) AbsRel over the clip's frames with ground truth (median-scaled)."""
    frames = [EvalFrame(str(i), torch.empty(0), torch.empty(0), torch.empty(0), d, None, [])
              for i, d in clip.depth.items()]
    return (constant_depth_baseline(frames, clip.eval_config).get('abs_rel', float('nan')),
            row_prior_baseline(frames, clip.eval_config).get('abs_rel', float('nan')))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', type=Path, help='driving model (default: the bundled one), '
                        'or with --images the model to score')
    parser.add_argument('--kitchen-model', type=Path, default=KITCHEN_MODEL)
    parser.add_argument('--png', type=Path, help='write the panel (input | network | '
                        'triangulated | fused | ground truth) here')
    parser.add_argument('--images', help='your own clip: folder of frames in time order')
    parser.add_argument('--depth', help='folder of depth PNGs named as the frames they match')
    parser.add_argument('--camera', help='camera_info YAML of the frames')
    parser.add_argument('--poses', help='camera-to-world poses, one 3x4 row-major per frame')
    parser.add_argument('--fps', type=float, default=30.0)
    parser.add_argument('--depth-scale', type=float, default=1000.0,
                        help='depth PNG units per metre (1000: millimetres)')
    parser.add_argument('--max-depth', type=float, default=10.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        if args.images:
            if not (args.depth and args.camera and args.model):
                parser.error('--images needs --depth, --camera and --model')
            sets = [(user_clip(args), args.model)]
        else:
            model = args.model or DRIVING_MODEL
            sets = [(kitti_clip('drive 0023', SHARED_DATA / 'kitti_raw_tiny/2011_09_26/'
                                '2011_09_26_drive_0023_sync'), model),
                    (kitti_clip('drive 0009', SHARED_DATA / 'kitti_raw_0009/2011_09_26/'
                                '2011_09_26_drive_0009_sync'), model),
                    (kitchen_clip(), args.kitchen_model)]
        nets = {m: load_depth_net(m) for m in {m for _, m in sets}}
    except (CheckpointError, DataError, OSError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print('AbsRel (Eigen; median-scaled unless "metric"); frames after the first with ground '
          'truth; flow at 2x the model\'s input size')
    print('| clip | motion | network | triangulated (coverage) / network there | fused '
          '(x network) | metric: network / triangulated / fused | states | ms/frame | '
          'row prior / constant |')
    print('|---|---|---|---|---|---|---|---|---|')
    goals: list[tuple[str, bool]] = []
    panels: list[np.ndarray] = []
    for clip, model in sets:
        net, spec = nets[model]
        constant, row = priors(clip)
        for motion in MOTIONS:
            if motion == 'odometry' and clip.poses is None:
                continue
            try:
                s = run(clip, net, spec, motion, panels)
            except DataError as err:            # an unreadable frame of a user's clip
                print(f'error: {err}', file=sys.stderr)
                return 2
            ratio = mean(s.fused) / mean(s.network)
            metric = (f'{mean(s.network_metric):.3f} / {average(s.tri_metric):.3f} / '
                      f'{mean(s.fused_metric):.3f}' if s.fused_metric else '-')
            states = ', '.join(f'{k} {v}' for k, v in sorted(s.states.items()))
            print(f'| {clip.name} | {motion} | {mean(s.network):.3f} | {average(s.tri):.3f} '
                  f'({average(s.coverage):.0%}) / {average(s.tri_network):.3f} | '
                  f'{mean(s.fused):.3f} ({ratio:.2f}x) | {metric} | {states} | '
                  f'{1000 * float(np.median(s.seconds)):.0f} | {row:.3f} / {constant:.3f} |',
                  flush=True)
            if args.images:
                continue
            if clip.name.startswith('drive') and motion == 'flow':
                goals.append((f'{clip.name} fused {ratio:.2f}x <= {RATIO_GOAL}x',
                              ratio <= RATIO_GOAL))
            if motion == 'odometry':
                goal = METRIC_GOAL_ROAD if clip.name.startswith('drive') else METRIC_GOAL_INDOOR
                goals.append((f'{clip.name} metric {mean(s.fused_metric):.3f} <= {goal}',
                              mean(s.fused_metric) <= goal))
    if not args.images:
        print('eval_mix: single frames without neighbours, nothing to triangulate: the '
              'network\'s figure stands there (svde-train evaluate)')
    if args.png and panels:
        width = max(p.shape[1] for p in panels)
        rows = [cv2.resize(p, (width, round(p.shape[0] * width / p.shape[1])),
                           interpolation=cv2.INTER_NEAREST) for p in panels]
        write_png(args.png, np.concatenate(rows, 0))
        print(f'panel: {args.png}')
    if goals:
        print('; '.join(f'{text}: {"met" if ok else "MISSED"}' for text, ok in goals))
        print('goal met' if all(ok for _, ok in goals) else 'goal not met')
    return 0


if __name__ == '__main__':
    sys.exit(main())
