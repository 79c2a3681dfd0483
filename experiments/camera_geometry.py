"""What one row of the network's input means in each training camera.

The paper's positional channels give a pixel its place in the frame, (u, v) in [-1, 1]. A prior
learnt from them (the road is near at the bottom, far at the horizon) holds for one camera.
Each configured source is opened as training opens it (undistorted, cropped, resized to the base
size), and its intrinsics there are printed: focal lengths, the principal point, the vertical
field of view, the row of the horizon (a level camera's), and the elevation below the horizon of
the rows at v = 0.5 and v = 0.9. Where these differ, the same v asks one network for different
depths. With `model.positions: rays` the network gets (y - cy) / fy instead, the same for every
camera. The image plots elevation against v for each camera.

    python experiments/camera_geometry.py --config config/all_video.yaml \
        --plot docs/camera_rows.png
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2

from svde_training.config import load_config
from svde_training.data import build_clips
from svde_training.data.dataset import to_base
from svde_training.plots import line_plot


def elevation_deg(v: float, height: int, fy: float, cy: float) -> float:
    """Degrees below the optical axis of the row at v in [-1, 1] of a `height`-row frame."""
    y = (v + 1) / 2 * height - 0.5
    return math.degrees(math.atan((y - cy) / fy))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', type=Path, default=Path('config/all_video.yaml'))
    parser.add_argument('--plot', type=Path, help='write the elevation-by-row plot here (PNG)')
    args = parser.parse_args(argv)
    config = load_config(args.config)
    d = config.data
    print(f'{args.config}: base size {d.base_width}x{d.base_height}\n')
    print('| source | frames | fx | fy | cx | cy | vertical FOV deg | horizon row (v) | '
          'elevation at v=0.5 deg | at v=0.9 deg |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    series = {}
    for source in d.sources:
        clips = build_clips(source)
        _, K = to_base(clips[0], 0, d.base_width, d.base_height)
        H = d.base_height
        fov = 2 * math.degrees(math.atan(H / 2 / K.fy))
        horizon_v = 2 * (K.cy + 0.5) / H - 1
        name = '/'.join(Path(getattr(source, 'path', source.type)).parts[-2:])
        print(f'| {name} | {sum(len(c) for c in clips)} | {K.fx:.1f} | {K.fy:.1f} | '
              f'{K.cx:.1f} | {K.cy:.1f} | {fov:.1f} | {horizon_v:+.2f} | '
              f'{elevation_deg(0.5, H, K.fy, K.cy):.1f} | '
              f'{elevation_deg(0.9, H, K.fy, K.cy):.1f} |')
        series[name] = [(v / 10, elevation_deg(v / 10, H, K.fy, K.cy)) for v in range(-10, 11)]
    if args.plot:
        image = line_plot(series, 'elevation below the optical axis of each input row',
                          'v (positional channel, -1 top, 1 bottom)', 'degrees')
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.plot), image[..., ::-1])
        print(f'\nwrote {args.plot}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
