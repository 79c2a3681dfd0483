"""Neighbours chosen by motion: a slow (30 Hz-like) camera gets neighbours that moved."""
import json
import shutil

import numpy as np
import yaml

from svde_training.cli import main
from svde_training.config import DataConfig
from svde_training.data.folder import FolderClip
from svde_training.data.neighbours import clip_motion, neighbour_offsets
from svde_training.data.synthetic import SyntheticClip

from ..conftest import REPO
from .test_trainer import TINY

CAMERA = REPO / 'config' / 'kitti_odometry_camera.yaml'


def _held(kitti_odometry, tmp_path, hold=3):
    """The real clip with each frame held `hold` times, as a 30 Hz camera of a 10 Hz scene."""
    folder = tmp_path / 'held'
    folder.mkdir()
    for i, f in enumerate(sorted((kitti_odometry / 'image_l').iterdir())[:6]):
        for k in range(hold):
            shutil.copy(f, folder / f'{i * hold + k:06d}{f.suffix}')
    return FolderClip(folder, CAMERA)


def test_flow_picks_neighbours_that_moved(kitti_odometry, tmp_path):
    clip = _held(kitti_odometry, tmp_path)
    config = DataConfig(base_width=320, base_height=96, crop_width=256, crop_height=96)
    fixed, _ = neighbour_offsets(clip, config)
    assert set(fixed.values()) == {(-1, 1)}
    motion = clip_motion(clip, 320)
    assert motion.unit == 'px' and (motion.steps[0::3] < 0.5).all()   # held frames: no flow
    chosen, unit = neighbour_offsets(clip, DataConfig(
        neighbours='motion', base_width=320, base_height=96, crop_width=256, crop_height=96))
    assert unit == 'px' and len(chosen) >= 9
    for t, offsets in chosen.items():
        for o in offsets:
            assert not np.array_equal(clip.image(t), clip.image(t + o))   # never a held copy
            assert abs(o) <= 3


def test_odometry_picks_neighbours_by_distance_and_the_run_records_them(tmp_path):
    clip = SyntheticClip(0, 12, 64, 128)
    config = DataConfig(neighbours='motion', neighbour_motion_m=1.5, base_width=128,
                        base_height=64, crop_width=96, crop_height=64)
    chosen, unit = neighbour_offsets(clip, config)
    assert unit == 'm'
    expected = int(np.ceil(1.5 / clip.speed - 1e-9))
    assert chosen[6] == (-expected, expected)
    run_config = {**TINY, 'data': {**TINY['data'], 'neighbours': 'motion',
                                   'neighbour_motion_m': 1.0},
                  'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}}
    (tmp_path / 'c.yaml').write_text(yaml.safe_dump(run_config))
    assert main(['fit', '--config', str(tmp_path / 'c.yaml'), '--out', str(tmp_path / 'r')]) == 0
    spacing = json.loads((tmp_path / 'r' / 'neighbours.json').read_text())
    assert spacing['synthetic-0']['unit'] == 'm' and spacing['synthetic-0']['gap_min'][1] >= 1
