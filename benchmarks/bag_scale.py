"""Metric scale from odometry in a bag: trained with vs without odometry, from one run.

1. Writes the KITTI odometry clip (51 frames, GT poses as /odom) and the KITTI raw drive 0023
   (7 frames, the drive's camera poses as /odom) as mcap bags.
2. Trains stage 1 three times on the odometry bag with one budget: with `--odom-topic /odom`
   (the scale is calibrated from odometry at the end of training), without odometry but with
   the KITTI camera height (1.65 m above the road), and with neither (depth up to scale).
3. Prints, per run: the ratio of predicted (PoseNet x depth scale) to odometry translation on
   the training bag and on the other drive's bag (median and IQR over frame pairs; goal: within
   10% of 1), and the unscaled depth AbsRel on the raw drive's frames against projected LiDAR
   (Eigen cap 80 m, Garg crop), next to the median-scaled AbsRel, and the model's metric scale
   over the per-image median scale LiDAR gives (1 = exact). With --out, a second call reuses
   the trained runs and only evaluates.

    python benchmarks/bag_scale.py [--steps 150] [--out runs/bag_scale]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from shared_data import require

from svde_ros.model.checkpoint import read_checkpoint
from svde_training import run_dir
from svde_training.config import RosbagSource, load_config
from svde_training.data.folder import FolderClip
from svde_training.data.kitti import KittiRawClip
from svde_training.data.rosbag import RosbagClip, write_bag
from svde_training.distributed import DistInfo
from svde_training.evaluate import evaluate_checkpoint
from svde_training.pipeline import train_stage
from svde_training.scale import load_pose_net, translation_ratios

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / 'shared' / 'data'
ODOMETRY = DATA / 'kitti_odometry_clip'
RAW = DATA / 'kitti_raw_tiny' / '2011_09_26' / '2011_09_26_drive_0023_sync'
KITTI_HEIGHT_M = 1.65     # camera above the road on the KITTI car


def ratio_summary(checkpoint: Path, bag: Path, width: int, height: int) -> str:
    """Median [IQR] of predicted / odometry translation over the bag's frame pairs."""
    state = read_checkpoint(checkpoint)
    scale = state['inference']['depth_scale']
    clip = RosbagClip(bag, '/camera/image_raw', odom_topic='/odom', skip_static=False)
    ratios = scale / np.array(translation_ratios(load_pose_net(state), clip, width, height))
    q1, med, q3 = np.percentile(ratios, [25, 50, 75])
    return f'{med:.3f} [{q1:.3f}-{q3:.3f}]'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=150, help='training steps per run')
    parser.add_argument('--out', type=Path, help='keep the runs here (default: temporary)')
    args = parser.parse_args()
    require(DATA)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        train_bag, raw_bag = out / 'kitti_odometry_bag', out / 'kitti_raw_0023_bag'
        if not train_bag.exists():
            write_bag(FolderClip(ODOMETRY / 'image_l', REPO / 'config' /
                                 'kitti_odometry_camera.yaml', ODOMETRY / 'poses.txt'),
                      train_bag, 'mcap', 10.0)
        if not raw_bag.exists():
            write_bag(KittiRawClip(RAW, 'image_02'), raw_bag, 'mcap', 10.0)
        base = load_config(REPO / 'config' / 'train_kitti_odometry_demo.yaml')
        epochs = max(1, args.steps // 25)
        base = replace(base, optim=replace(base.optim, epochs=epochs, steps_per_epoch=25))
        eval_config = load_config(REPO / 'config' / 'eval_kitti_raw_tiny.yaml')
        rows = []
        runs = (('odometry', 'with odometry', '/odom', 0.0),
                ('camera_height', 'camera height 1.65 m', '', KITTI_HEIGHT_M),
                ('none', 'neither', '', 0.0))
        for slug, name, odom, camera_height in runs:
            source = RosbagSource(str(train_bag), '/camera/image_raw', odom_topic=odom,
                                  skip_static=False)
            config = replace(base, data=replace(base.data, sources=(source,), eval_sources=(),
                                                camera_height_m=camera_height))
            run = out / slug
            print(f'training {name}: {epochs * 25} steps on {train_bag.name} ...', flush=True)
            train_stage(config, run, torch.device('cpu'), DistInfo(), resume=True, force=False)
            checkpoint = run / run_dir.LAST_CHECKPOINT
            spec = read_checkpoint(checkpoint)['inference']
            report = evaluate_checkpoint(checkpoint, replace(eval_config, data=replace(
                eval_config.data, frame_offsets=base.data.frame_offsets)))
            metric = next((v for k, v in report['depth'].items() if k.startswith('metric')),
                          None)
            w, h = config.data.base_width, config.data.base_height
            rows.append((name, spec['scale_source'], ratio_summary(checkpoint, train_bag, w, h),
                         ratio_summary(checkpoint, raw_bag, w, h),
                         f'{metric["abs_rel"]:.3f}' if metric else 'n/a (not metric)',
                         f'{report["depth"]["median-scaled"]["abs_rel"]:.3f}',
                         f'{1 / report["median_scale_ratio"]:.3f}' if metric else 'n/a'))
        print('\n| run | scale source | t_pred / t_odom, training bag | t_pred / t_odom, raw '
              '0023 bag | AbsRel unscaled (0023) | AbsRel median-scaled (0023) | depth scale / '
              'LiDAR median scale (0023) |')
        print('|---|---|---|---|---|---|---|')
        for row in rows:
            print('| ' + ' | '.join(row) + ' |')
        print('\nRatios: median [25%-75%] over consecutive frame pairs; 1 = metric. The '
              'training-bag ratio is calibrated on those pairs; the raw-drive one is held out. '
              'Last column: the model\'s metric scale over the per-image median scale that '
              'LiDAR would give (1 = exact).')


if __name__ == '__main__':
    main()
