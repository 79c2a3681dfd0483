"""Metric scale without odometry: a known camera height above the ground plane."""
import cv2
import numpy as np
import pytest
import yaml

from svde_ros.model.checkpoint import load_depth_net
from svde_training.cli import main
from svde_training.config import stored_config
from svde_training.data import build_clips
from svde_training.data.clip import DataError
from svde_training.data.kitti import KittiRawClip
from svde_training.data.synthetic import SyntheticClip
from svde_training.scale import camera_height_scale, ground_height, predicted_depths

from .test_trainer import TINY, _write


def test_ground_height_of_synthetic_gt_depth_in_any_gauge():
    for seed in (0, 1, 2):          # each clip has its own camera height, pitch and slope
        clip = SyntheticClip(seed, 4, 96, 256)
        height = clip.camera_height / (1 + clip.slope ** 2) ** 0.5   # to the sloped plane
        for i in range(0, 4, 2):
            K = clip.intrinsics(i).matrix()
            assert ground_height(clip.depth(i), K) == pytest.approx(height, rel=0.03)
            assert ground_height(clip.depth(i) * 0.1, K) == pytest.approx(0.1 * height,
                                                                          rel=0.03)


def test_ground_height_of_kitti_lidar_is_the_kitti_camera_height(kitti_raw_drive):
    clip = KittiRawClip(kitti_raw_drive, 'image_02')
    K = clip.intrinsics(0).matrix()
    assert ground_height(clip.depth(0), K) == pytest.approx(1.65, rel=0.03)   # KITTI setup


def test_no_ground_no_height():
    K = np.array([[100.0, 0, 64], [0, 100.0, 48], [0, 0, 1]])
    assert ground_height(np.full((96, 128), 5.0), K) is None          # a wall facing the camera
    assert ground_height(np.zeros((96, 128)), K) is None              # nothing measured


def test_camera_height_scale_of_a_known_ground_plane():
    clip = SyntheticClip(0, 4, 96, 256)
    height = clip.camera_height / (1 + clip.slope ** 2) ** 0.5   # to the sloped plane
    gauge = 0.37                                # the network's depth in its own units
    depths = [(clip.depth(i) * gauge, clip.intrinsics(i).matrix()) for i in range(4)]
    depths.append((np.full((96, 256), 5.0), depths[0][1]))   # a frame with no ground is skipped
    scale, frames = camera_height_scale(depths, 1.5)
    assert frames == 4
    assert scale == pytest.approx(1.5 / (gauge * height), rel=0.03)
    with pytest.raises(DataError, match='no ground plane'):
        camera_height_scale(depths[-1:], 1.5)


def test_fit_takes_the_camera_height_from_the_command_line(tmp_path):
    """The CLI's wiring: --camera-height reaches the run's config, and the scale follows it.

    Whether a few training steps give a ground plane rides on floating-point details, so the
    outcome is checked against the saved network itself: a ground found means the camera
    height's scale, none means no scale.
    """
    clip = SyntheticClip(0, 6, 64, 128)
    frames = tmp_path / 'frames'
    frames.mkdir()
    for i in range(len(clip)):
        cv2.imwrite(str(frames / f'{i:03d}.png'), clip.image(i)[..., ::-1])
    K = clip.intrinsics(0)
    camera = tmp_path / 'camera.yaml'
    camera.write_text(f'{{fx: {K.fx}, fy: {K.fy}, cx: {K.cx}, cy: {K.cy}, width: 128, '
                      'height: 64}')
    config = {**TINY, 'data': {**TINY['data'], 'eval_sources': [], 'sources': [
        {'type': 'folder', 'path': str(frames), 'intrinsics': str(camera)}]},
        'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}
    path = _write(tmp_path, config)
    plain = tmp_path / 'plain'
    assert main(['fit', '--config', str(path), '--out', str(plain)]) == 0
    assert load_depth_net(plain / 'checkpoints' / 'last.pt')[1].scale_source == 'none'
    run = tmp_path / 'run'
    assert main(['fit', '--config', str(path), '--out', str(run), '--camera-height',
                 '1.5']) == 0
    stored = stored_config(yaml.safe_load((run / 'config.yaml').read_text())).data
    assert stored.camera_height_m == 1.5
    net, spec = load_depth_net(run / 'checkpoints' / 'last.pt')
    clips = [c for source in stored.sources for c in build_clips(source)]
    try:
        expected = camera_height_scale(predicted_depths(
            net, clips, stored.base_width, stored.base_height), 1.5)[0]
    except DataError:
        assert spec.scale_source == 'none'
    else:
        assert spec.scale_source == 'camera_height'
        assert spec.depth_scale == pytest.approx(expected, rel=1e-5)
