"""The road bound of the motion mask (svde_ros/motion/road.py) on a benchmark clip, frame by frame.

For each scored frame of a `benchmarks/real_masks.py` clip, played as the node plays it: whether
a road was judged by (the plane of the network's depth, its height from the road's own flow,
its measured error), and for each annotated mover the road's parallax beneath it, the parallax
it lacks against the road, and the road's score there (the lack over error x road parallax +
the flow's noise floor), median and share above the mask's threshold. Also the plane before the
road's flow was asked (`plane`), to see what calibration changed.

    python experiments/road_check.py [--clip highway] [--model models/kitti_odometry_320x96.pt]
        [--max-error 1.0]   # the road's error limit instead of road.ROAD_MAX_ERROR
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'benchmarks'))

import real_masks  # noqa: E402

from svde_ros.model.checkpoint import load_depth_net  # noqa: E402
from svde_ros.model.predict import predict_depth  # noqa: E402
from svde_ros.motion import road as road_module  # noqa: E402
from svde_ros.motion.ego_motion import MOVING, with_depth_length  # noqa: E402
from svde_ros.motion.mask import MotionMaskConfig  # noqa: E402
from svde_ros.motion.road import fit_road  # noqa: E402
from svde_ros.motion.stream import MotionGeometry  # noqa: E402
from svde_training.masks import resize_mask  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--clip', default='highway')
    parser.add_argument('--model', type=Path, default=REPO / 'models/kitti_odometry_320x96.pt')
    parser.add_argument('--max-error', type=float,
                        help="the road's error limit instead of road.ROAD_MAX_ERROR")
    args = parser.parse_args()
    if args.max_error is not None:
        road_module.ROAD_MAX_ERROR = args.max_error
    net, spec = load_depth_net(args.model)
    found = [s for s in real_masks.sequences() if s.name == args.clip]
    if not found:
        print(f'road_check: no clip {args.clip!r} in benchmarks/real_masks.py', file=sys.stderr)
        return 2
    sequence, config = found[0], MotionMaskConfig()
    stream = MotionGeometry(config)
    print('| frame | state | plane height / road height (step units), error | mover | pixels '
          '| road parallax px | lacks px | road score | share > threshold |')
    print('|---|---|---|---|---|---|---|---|---|')
    for index, rgb, K in sequence.frames:
        image, cam, K_small = real_masks.served(rgb, K, spec)
        depth = predict_depth(net, image[0], cam[0],
                              (spec.input_height, spec.input_width)).numpy()
        measured = stream.measure(rgb, index / sequence.fps, K_small.matrix(), depth.shape)
        geometry = stream.apply(measured, depth, fused=False)
        if index not in sequence.scored:
            continue
        flow, Km = measured.flow, measured.K
        if flow is None or geometry.state != MOVING or measured.ego.T_prev_cur is None:
            print(f'| {index} | {geometry.state} | - | | | | | | |')
            continue
        plane, road = fit_road(depth, Km), geometry.road
        head = f'| {index} | {geometry.state} | ' + (
            'no plane' if plane is None else f'{plane.height:.3g} / ' + (
                'refused (too few road pixels with flow, or error above the limit)'
                if road is None else f'{road.height:.3g}, {road.error:.2f}'))
        if road is None:
            print(head + ' | | | | | | |')
            continue
        T = with_depth_length(depth, flow.flow, Km, measured.ego.T_prev_cur,
                              flow.reliable & np.isfinite(depth))
        lack, road_parallax = road.deficit(flow, Km, T)
        floor = max(config.min_residual_px, 1.0)
        score = lack / (road.error * road_parallax + floor)
        h, w = depth.shape
        rows = [(name, resize_mask(box, w, h) & flow.reliable & (road_parallax > 0))
                for name, box in sequence.scored[index]] or [('(none)', np.zeros((h, w), bool))]
        for name, box in rows:
            if not box.any():
                print(head + f' | {name} | 0 | | | | |')
                continue
            print(head + f' | {name} | {box.sum()} | {np.median(road_parallax[box]):.2f} | '
                  f'{np.median(lack[box]):.2f} | {np.median(score[box]):.2f} | '
                  f'{(score[box] > config.threshold).mean():.2f} |')
            head = '| | | '
    return 0


if __name__ == '__main__':
    sys.exit(main())
