"""Write data/demo/udacity_highway_demo: 40 highway frames with moving cars, for the mask demo.

Frames 100-139 of ../shared/data/udacity_highway/project_video.mp4 (25 fps; the followed and
overtaking cars ahead, oncoming cars on the other carriageway), undistorted and cut to the band
above the hood exactly as config/real_video.yaml trains on them, as CompressedImage (JPEG 90) +
CameraInfo of that pinhole camera (no distortion left) on /camera/image_raw/compressed and
/camera/camera_info, at 25 Hz:

    python scripts/make_highway_demo_bag.py [--out data/demo/udacity_highway_demo]
    svde-demo --bag data/demo/udacity_highway_demo --out runs/highway_demo   # the node on it
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from svde_training.config import VideoSource, load_config
from svde_training.data import DataError, build_clips
from svde_training.data.clip import ClipView
from svde_training.data.rosbag import write_bag

REPO = Path(__file__).resolve().parents[1]
FIRST, FRAMES, RATE_HZ = 100, 40, 25.0


def main() -> int:
    """Write the bag; 2 with one line when the video or the folder is a problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', type=Path, default=REPO / 'data/demo/udacity_highway_demo')
    args = parser.parse_args()
    config = load_config(REPO / 'config/real_video.yaml')
    source = next(s for s in config.data.sources if isinstance(s, VideoSource))
    source = dataclasses.replace(source, path=str(REPO / source.path),
                                 intrinsics=str(REPO / source.intrinsics))
    try:
        [clip] = build_clips(source)
        written = write_bag(ClipView(clip, FIRST, FIRST + FRAMES), args.out, 'mcap', RATE_HZ,
                            compressed=True)
    except DataError as err:
        print(f'make_highway_demo_bag: {err}', file=sys.stderr)
        return 2
    print(f'wrote {written} frames to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
