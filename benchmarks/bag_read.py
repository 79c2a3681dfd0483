"""Bag reading throughput for training: index build and frame decode, raw vs compressed.

    python benchmarks/bag_read.py [--frames 51]

Writes the bundled KITTI odometry clip into temporary bags (rgb8 Image in sqlite3 and mcap, JPEG
CompressedImage in mcap) with the project's writer, then times RosbagClip: building the index
(opening + scanning the topic's timestamps) and decoding every frame in random order (what a
DataLoader does), beside reading the same frames as PNG files from the folder.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from shared_data import require

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / 'shared' / 'data' / 'kitti_odometry_clip'


def _time_reads(clip, order: np.ndarray) -> float:  # noqa: ANN001
    start = time.perf_counter()
    for i in order:
        clip.image(int(i))
    return len(order) / (time.perf_counter() - start)


def main() -> int:
    """Write, index and read; print one table."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=51)
    args = parser.parse_args()
    require(CLIP)
    from svde_training.data.folder import FolderClip
    from svde_training.data.rosbag import RosbagClip, write_bag

    source = FolderClip(CLIP / 'image_l', REPO / 'config' / 'kitti_odometry_camera.yaml',
                        CLIP / 'poses.txt')
    count = min(args.frames, len(source))
    order = np.random.default_rng(0).permutation(count)
    rows = [('PNG folder (baseline)', '-', _time_reads(source, order), 0.0)]
    with tempfile.TemporaryDirectory() as tmp:
        for storage, compressed in (('sqlite3', False), ('mcap', False), ('mcap', True)):
            out = Path(tmp) / f'{storage}_{int(compressed)}'
            write_bag(source, out, storage, 10.0, compressed, max_frames=count)
            topic = '/camera/image_raw' + ('/compressed' if compressed else '')
            size_mb = sum(p.stat().st_size for p in out.iterdir()) / 2 ** 20
            start = time.perf_counter()
            clip = RosbagClip(out, topic, odom_topic='/odom')
            index_s = time.perf_counter() - start
            kind = 'JPEG CompressedImage' if compressed else 'rgb8 Image'
            rows.append((f'bag {storage}, {kind}', f'{size_mb:.0f}', _time_reads(clip, order),
                         index_s))
    print(f'\nreading {count} KITTI frames (1226x370) in random order, 1 process')
    print('| source | size MB | frames/s decoded | index build s |')
    print('|---|---|---|---|')
    for name, size, fps, index_s in rows:
        print(f'| {name} | {size} | {fps:.1f} | {index_s:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
