"""How much of a recording's frame-to-frame motion can teach depth: parallax against rotation.

View synthesis learns depth only from parallax: a translation t moves a point at depth Z by
about f * t / Z pixels, while a rotation moves every pixel alike, whatever its depth. For a
clip with poses (KITTI-style poses.txt), this prints, for neighbour gaps of k frames, the median
translation and rotation between a frame and its neighbour, the parallax in pixels at the
training width for a point at the scene's median depth, and the rotation's shift in pixels.
A gap whose parallax is under a pixel, or small beside the rotation's shift, gives the loss
nothing to tell depths apart. `--skip-static-m` keeps a frame only once the camera moved that
far from the last kept one (what a bag source does, `skip_static`), and the gaps count kept
frames.

    python experiments/walk_motion.py --poses ../shared/data/indoor_kitchen/poses.txt \
        --fx 585 --width 640 --train-width 224 --depth-m 1.9 --skip-static-m 0.05
"""
from __future__ import annotations

import argparse
import math

import numpy as np

from svde_ros.geometry import rotation_angle_deg


def kept_frames(positions: np.ndarray, min_motion_m: float) -> list[int]:
    """Indices kept when a frame counts only once it is min_motion_m from the last kept one."""
    keep = [0]
    for i in range(1, len(positions)):
        if np.linalg.norm(positions[i] - positions[keep[-1]]) >= min_motion_m:
            keep.append(i)
    return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--poses', default='../shared/data/indoor_kitchen/poses.txt')
    parser.add_argument('--fx', type=float, default=585.0, help='focal length, px')
    parser.add_argument('--width', type=int, default=640, help='frame width, px')
    parser.add_argument('--train-width', type=int, default=224, help='network input width')
    parser.add_argument('--depth-m', type=float, default=1.9,
                        help="the scene's median depth (the kitchen's eval frames: 1.9 m)")
    parser.add_argument('--skip-static-m', type=float, default=0.0)
    parser.add_argument('--gaps', default='1,2,4,8,16')
    args = parser.parse_args(argv)
    poses = np.loadtxt(args.poses).reshape(-1, 3, 4)
    frames = kept_frames(poses[:, :, 3], args.skip_static_m) if args.skip_static_m \
        else list(range(len(poses)))
    f = args.fx * args.train_width / args.width
    print(f'{len(poses)} poses, {len(frames)} frames kept; f = {f:.1f} px at the training width '
          f'{args.train_width}; scene depth {args.depth_m} m\n')
    print('| gap (frames) | translation mm | rotation deg | parallax px | rotation shift px | '
          'parallax / rotation |')
    print('|---|---|---|---|---|---|')
    for gap in (int(g) for g in args.gaps.split(',')):
        pairs = list(zip(frames, frames[gap:]))
        if not pairs:
            continue
        moved, turned = [], []
        for a, b in pairs:
            moved.append(np.linalg.norm(poses[b][:, 3] - poses[a][:, 3]))
            R = poses[a][:, :3].T @ poses[b][:, :3]
            turned.append(rotation_angle_deg(R))
        t, r = float(np.median(moved)), float(np.median(turned))
        parallax, shift = f * t / args.depth_m, f * math.tan(math.radians(r))
        print(f'| {gap} | {1000 * t:.1f} | {r:.2f} | {parallax:.2f} | {shift:.1f} | '
              f'{parallax / max(shift, 1e-9):.2f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
