"""The models that ship in models/, scored on real held-out frames of their own domain.

Each must be the file its model card describes: its input size, its scale source, depth far
better than a constant map on frames it never saw, and metres within a quarter of the truth
(the cards give the measured figures; these bounds hold on any CPU).
"""
from pathlib import Path

import pytest

from svde_training.config import config_from_dict
from svde_training.evaluate import evaluate_checkpoint

REPO = Path(__file__).resolve().parents[2]
KITCHEN = REPO / 'test/data/indoor_kitchen'
DRIVE = REPO / 'test/data/kitti_raw_tiny/2011_09_26/2011_09_26_drive_0023_sync'

CASES = {
    # model file: (held-out frames, eval settings, input size, scale source)
    'kitti_odometry_320x96.pt': (
        {'type': 'kitti_raw', 'path': str(DRIVE), 'camera': 'image_02'},
        {'max_frames': 0, 'garg_crop': True}, [320, 96], 'odometry'),
    'indoor_kitchen_224x160.pt': (
        {'type': 'rgbd', 'path': str(KITCHEN / 'eval/image'),
         'depth_path': str(KITCHEN / 'eval/depth'), 'intrinsics': str(KITCHEN / 'camera.yaml'),
         'depth_scale': 1000.0},
        {'max_frames': 0, 'max_depth': 10.0, 'garg_crop': False}, [224, 160], 'poses'),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_bundled_model_on_held_out_frames_of_its_domain(name):
    source, eval_settings, size, scale_source = CASES[name]
    config = config_from_dict({'data': {'sources': [source]}, 'eval': eval_settings})
    report = evaluate_checkpoint(REPO / 'models' / name, config)
    depth = report['depth']
    assert report['input_size'] == size and report['scale_source'] == scale_source
    assert depth['median-scaled']['abs_rel'] < 0.7 * depth['constant depth (median-scaled)'][
        'abs_rel']
    assert 0.75 < report['median_scale_ratio'] < 1.33
