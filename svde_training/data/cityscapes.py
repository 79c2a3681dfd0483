"""Cityscapes sequences: leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png.

Intrinsics come from camera/<split>/<city>/<city>_<seq>_<frame>_camera.json (`intrinsic`: fx, fy,
u0, v0). The dataset ships one camera file per annotated frame, so a snippet uses the camera file
of any of its frames, else of any frame of its city (one car per city). The bottom of each frame
shows the ego vehicle's bonnet; `crop_bottom` removes that fraction (cy is unaffected).
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from svde_ros.geometry import Intrinsics
from svde_training.data.clip import Clip, DataError, image_size, read_rgb

FRAME_PATTERN = re.compile(r'^(?P<city>.+)_(?P<seq>\d+)_(?P<frame>\d+)_leftImg8bit\.png$')
BONNET_FRACTION = 0.25


def _read_camera(path: Path, width: int, height: int) -> Intrinsics:
    try:
        data = json.loads(path.read_text())['intrinsic']
        return Intrinsics(float(data['fx']), float(data['fy']), float(data['u0']),
                          float(data['v0']), width, height)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DataError(f'malformed Cityscapes camera file {path}: {err}') from None


class CityscapesClip(Clip):
    """One snippet of consecutive Cityscapes frames."""

    def __init__(self, files: list[Path], camera_file: Path, crop_bottom: float) -> None:
        self.files = files
        m = FRAME_PATTERN.match(files[0].name)
        assert m is not None
        self.name = f'{m["city"]}_{m["seq"]}_{m["frame"]}'
        width, height = image_size(files[0])
        self.height = int(round(height * (1.0 - crop_bottom)))
        self._intrinsics = _read_camera(camera_file, width, height).cropped(0, 0, width,
                                                                            self.height)

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int) -> np.ndarray:
        return read_rgb(self.files[index])[:self.height]

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics


def cityscapes_clips(root: str | Path, split: str = 'train',
                     crop_bottom: float = BONNET_FRACTION) -> list[CityscapesClip]:
    """All snippets of a split, each a run of consecutive frame numbers."""
    root = Path(root)
    image_root = root / 'leftImg8bit_sequence' / split
    camera_root = root / 'camera' / split
    if not image_root.is_dir():
        raise DataError(f'Cityscapes sequence folder not found: {image_root}')
    groups: dict[tuple[str, str], list[tuple[int, Path]]] = defaultdict(list)
    for path in sorted(image_root.glob('*/*_leftImg8bit.png')):
        m = FRAME_PATTERN.match(path.name)
        if m:
            groups[(m['city'], m['seq'])].append((int(m['frame']), path))
    if not groups:
        raise DataError(f'no *_leftImg8bit.png frames under {image_root}')
    clips = []
    for (city, seq), frames in sorted(groups.items()):
        cameras = sorted((camera_root / city).glob(f'{city}_{seq}_*_camera.json')) or sorted(
            (camera_root / city).glob(f'{city}_*_camera.json'))
        if not cameras:
            raise DataError(f'no camera JSON for {city}_{seq} under {camera_root / city}')
        frames.sort()
        runs = [[frames[0][1]]]
        for (previous, _), (number, path) in zip(frames, frames[1:]):
            if number == previous + 1:
                runs[-1].append(path)
            else:
                runs.append([path])
        clips += [CityscapesClip(run, cameras[0], crop_bottom) for run in runs if len(run) > 1]
    return clips
