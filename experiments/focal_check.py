"""Which focal length do a clip's images agree with, given its poses?

Known motion (`pose_source: poses`) trains metric depth only if K is the colour camera's own:
parallax is f * t / Z, so a focal length too long by a factor k makes every depth k too far.
For frame pairs `--gap` frames apart this matches ORB features, and for each candidate focal
length scores the matches against the epipolar geometry the poses give (E = [t]x R; median
Sampson distance in pixels, principal point kept at the camera file's). The candidate with the
smallest error is the focal length the images and poses agree on; it is printed beside the
camera file's, with the depth factor the difference makes.

    python experiments/focal_check.py --images ../shared/data/indoor_kitchen/video \
        --poses ../shared/data/indoor_kitchen/poses.txt \
        --intrinsics ../shared/data/indoor_kitchen/camera.yaml
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from svde_ros.camera_model import CalibrationError, load_camera_yaml
from svde_training.data.clip import DataError, read_poses


def sampson(x1: np.ndarray, x2: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Sampson distance (pixels) of matches x1 -> x2 [N,2] under the fundamental matrix F."""
    h1 = np.hstack([x1, np.ones((len(x1), 1))])
    h2 = np.hstack([x2, np.ones((len(x2), 1))])
    Fx1, Ftx2 = h1 @ F.T, h2 @ F
    num = np.sum(h2 * Fx1, axis=1) ** 2
    den = Fx1[:, 0] ** 2 + Fx1[:, 1] ** 2 + Ftx2[:, 0] ** 2 + Ftx2[:, 1] ** 2
    return np.sqrt(num / np.maximum(den, 1e-12))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=Path, default=Path('../shared/data/indoor_kitchen/video'))
    parser.add_argument('--poses', type=Path,
                        default=Path('../shared/data/indoor_kitchen/poses.txt'))
    parser.add_argument('--intrinsics', type=Path,
                        default=Path('../shared/data/indoor_kitchen/camera.yaml'))
    parser.add_argument('--gap', type=int, default=8, help='frames between the two views')
    parser.add_argument('--pairs', type=int, default=40)
    args = parser.parse_args(argv)
    if not args.images.is_dir():
        print(f'focal_check: {args.images} is not a folder of frames', file=sys.stderr)
        return 2
    files = sorted(p for p in args.images.iterdir() if p.suffix in ('.jpg', '.png'))
    try:
        poses = read_poses(args.poses, len(files))
        calibration = load_camera_yaml(args.intrinsics)
    except (DataError, CalibrationError) as err:
        print(f'focal_check: {err}', file=sys.stderr)
        return 2
    if poses is None or len(files) <= args.gap:
        print(f'focal_check: need {args.poses} and more than --gap {args.gap} frames in '
              f'{args.images} (found {len(files)})', file=sys.stderr)
        return 2
    fx, cx, cy = calibration.k[0], calibration.k[2], calibration.k[5]
    orb = cv2.ORB.create(2000)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    starts = np.linspace(0, len(files) - 1 - args.gap, args.pairs).astype(int)
    matches = []
    for i in starts:
        a = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
        b = cv2.imread(str(files[i + args.gap]), cv2.IMREAD_GRAYSCALE)
        if a is None or b is None:
            print(f'cannot read {files[i]} or {files[i + args.gap]}', file=sys.stderr)
            return 1
        ka, da = orb.detectAndCompute(a, None)
        kb, db = orb.detectAndCompute(b, None)
        if da is None or db is None:
            continue
        m = matcher.match(da, db)
        x1 = np.array([ka[match.queryIdx].pt for match in m])
        x2 = np.array([kb[match.trainIdx].pt for match in m])
        T = np.linalg.inv(poses[i + args.gap]) @ poses[i]        # camera i -> camera i+gap
        R, t = T[:3, :3], T[:3, 3]
        tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
        matches.append((x1, x2, tx @ R))
    candidates = np.arange(0.75, 1.25001, 0.005) * fx
    errors = []
    for f in candidates:
        Kc = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
        Kinv = np.linalg.inv(Kc)
        d = np.concatenate([sampson(x1, x2, Kinv.T @ E @ Kinv) for x1, x2, E in matches])
        errors.append(float(np.median(d)))
    best = float(candidates[int(np.argmin(errors))])
    print(f'{len(matches)} pairs {args.gap} frames apart, '
          f'{sum(len(m[0]) for m in matches)} ORB matches')
    for f, e in zip(candidates[::10], errors[::10]):
        print(f'  f {f:6.1f} px: median Sampson distance {e:.3f} px')
    at_file = errors[int(np.argmin(abs(candidates - fx)))]
    print(f'camera file: f = {fx:.1f} px; the images and poses agree best on f = {best:.1f} px '
          f'(median Sampson distance {min(errors):.3f} px, {at_file:.3f} px at the file\'s): '
          f'depth trained with the file\'s K is {fx / best:.3f}x too far')
    return 0


if __name__ == '__main__':
    sys.exit(main())
