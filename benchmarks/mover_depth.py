"""Depth on real moving cars, without depth labels: does a car stand on the road?

Stage 2 leaves the movers out of the view-synthesis loss, and boosting gives them a label of
the network's own (DESIGN.md, two-stage training). Whether that helps shows on the movers,
where there is no LiDAR here; but a car's depth has two checks that need none:

- contact: the car's median depth over the road's just below it (two rows under its box, in
  the box's middle columns). A car stands on the road, so about 1. A car that "flies off" (a
  followed car, unexplained by the static-scene warp, pushed to infinity) is far above 1.
- upright: the median depth of the box's top third over its bottom third. A car's back is
  upright, so about 1; a depth that is only a row prior treats the car as road, and its top
  rows come out deeper than its bottom ones (above 1).

The cars are the hand-boxed vehicles of the highway clip (data/udacity_highway_vehicles.json,
as benchmarks/real_masks.py reads them), per kind; boxes under MIN_ROWS rows at the model's
input size are too small to split in thirds and are left out. Each --model is measured on the
same boxes, so the first one (the bundled model by default) is the baseline of the run.

    python benchmarks/mover_depth.py [--model NAME=PATH ...] [--png docs/mover_depth.png]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from real_masks import REPO, Frame, highway_frames, outlined, served
from shared_data import SHARED_DATA, require

from svde_ros.colorize import colorize_depth
from svde_ros.model.checkpoint import CheckpointError, load_depth_net
from svde_ros.model.predict import predict_depth
from svde_training.data import DataError
from svde_training.masks import resize_mask
from svde_training.preview import write_png

MIN_ROWS = 6                      # at the model's input size: thirds of at least 2 rows
CONTACT_ROWS = 2                  # road rows under the box
HOLE = 1.5                        # contact ratio above which a car is behind its own road
KINDS = ('all', 'followed', 'overtaking', 'oncoming')


def car_checks(depth: np.ndarray, box: np.ndarray) -> tuple[float, float] | None:
    """(contact, upright) of one car's box on a depth map of the same size, or None.

    None when the box is under MIN_ROWS rows or touches the bottom edge (no road below).
    """
    rows, cols = np.nonzero(box)
    if rows.size == 0:
        return None
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    if bottom - top < MIN_ROWS or bottom + CONTACT_ROWS > depth.shape[0]:
        return None
    inset = (right - left) // 5
    middle = slice(left + inset, right - inset)
    car = float(np.median(depth[top:bottom, middle]))
    road = float(np.median(depth[bottom:bottom + CONTACT_ROWS, middle]))
    third = (bottom - top) // 3
    upper = float(np.median(depth[top:top + third, middle]))
    lower = float(np.median(depth[bottom - third:bottom, middle]))
    return car / road, upper / lower


@torch.no_grad()
def measure(model: Path, frames: list[Frame]) -> tuple[dict[str, list[tuple[float, float]]],
                                                       list[np.ndarray]]:
    """Per kind, every measurable car's (contact, upright); and each frame's depth map."""
    net, spec = load_depth_net(model)
    checks: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
    depths = []
    for frame in frames:
        image, cam, _ = served(frame.rgb, frame.K, spec)
        depth = predict_depth(net, image[0], cam[0],
                              (spec.input_height, spec.input_width)).numpy()
        depths.append(depth)
        h, w = depth.shape
        for kind, vehicle in frame.vehicles:
            found = car_checks(depth, resize_mask(vehicle, w, h))
            if found is not None:
                checks[kind].append(found)
                checks['all'].append(found)
    return checks, depths


def depth_panel(frame: Frame, depths: list[np.ndarray]) -> np.ndarray:
    """Input (cars outlined) above each model's depth, every map in its own median's range."""
    h, w = depths[0].shape
    tiles = [cv2.resize(frame.rgb, (w, h), interpolation=cv2.INTER_AREA)]
    tiles += [colorize_depth(d, float(np.median(d)) / 4, float(np.median(d)) * 4) for d in depths]
    return np.concatenate([outlined(tile, frame) for tile in tiles], axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', action='append', metavar='NAME=PATH',
                        help='a model or training checkpoint to measure (repeatable; the first '
                             'is the baseline); default: the bundled model')
    parser.add_argument('--png', type=Path,
                        help="panels: three highway frames, each model's depth under the input")
    args = parser.parse_args()
    models = {}
    for item in args.model or [f'bundled={REPO / "models/kitti_odometry_320x96.pt"}']:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            parser.error(f'--model: expected NAME=PATH, got {item!r}')
        models[name] = Path(path)
    require(SHARED_DATA / 'udacity_highway')
    try:
        frames = highway_frames()
        results = {name: measure(path, frames) for name, path in models.items()}
    except (CheckpointError, DataError, OSError, ValueError) as err:   # one line, exit 1
        print(f'mover_depth: {err}', file=sys.stderr)
        return 1
    print(f'\nCars of the highway clip ({len(frames)} frames): median contact ratio (car / '
          f'road under it; 1 = on the road) and upright ratio (top / bottom third; 1 = '
          f'upright), share of cars behind their road (contact > {HOLE:g})\n')
    print('| model | kind | cars | contact | upright | behind the road |')
    print('|---|---|---|---|---|---|')
    for name, (checks, _) in results.items():
        for kind in KINDS:
            found = np.array(checks[kind]).reshape(-1, 2)
            if not len(found):
                continue
            contact, upright = np.median(found, axis=0)
            print(f'| {name} | {kind} | {len(found)} | {contact:.2f} | {upright:.2f} | '
                  f'{np.mean(found[:, 0] > HOLE):.2f} |')
    if args.png:
        picks = (0, len(frames) // 2, len(frames) - 1)
        columns = [depth_panel(frames[i], [depths[i] for _, depths in results.values()])
                   for i in picks]
        write_png(args.png, np.concatenate(columns, axis=1))
        print(f'wrote {args.png} (columns: frames {", ".join(map(str, picks))}; rows: input, '
              + ', '.join(models) + ')', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
