"""pose_source: flow: each training pair's rotation and direction from the images themselves."""
import json
import logging
import shutil

import cv2
import numpy as np
import torch
import yaml

from svde_ros.geometry import rotation_angle_deg
from svde_ros.motion.ego_motion import angle_deg
from svde_training.cli import main
from svde_training.data.kitti import KittiOdometryClip
from svde_training.flow_poses import (
    DIRECTION_MIN_INLIERS,
    FIXES_NOTHING,
    FIXES_ROTATION,
    FIXES_ROTATION_AND_DIRECTION,
    FLOW_POSES_NAME,
    FlowPoses,
)
from svde_training.trainer import with_fixed_geometry

from ..conftest import KITTI_ODOMETRY_07, REPO
from .test_trainer import TINY


def _clip_copy(tmp_path):
    folder = tmp_path / 'seq07'
    shutil.copytree(KITTI_ODOMETRY_07, folder)
    return folder


def test_the_geometry_of_real_pairs_matches_their_poses(tmp_path):
    """KITTI sequence 07 (a car turning at an intersection): rotation within 0.2 degrees and
    direction within 5 of the ground-truth poses, a pair in each temporal order."""
    clip = KittiOdometryClip(KITTI_ODOMETRY_07, 'image_l')
    pairs = [(0, 3, 2), (0, 3, 4), (0, 5, 4)]
    flow = FlowPoses([clip], pairs, tmp_path / FLOW_POSES_NAME)
    for c, t, n in pairs:
        R, d, code = flow.fixed(c, t, n, flip=False)
        truth = np.linalg.inv(clip.pose(n)) @ clip.pose(t)
        assert code == FIXES_ROTATION_AND_DIRECTION
        assert rotation_angle_deg(R.T @ truth[:3, :3]) < 0.2
        assert angle_deg(d, truth[:3, 3]) < 5.0
    R, d, _ = flow.fixed(0, 3, 2, flip=True)      # the mirrored world: M R M, M d
    R0, d0, _ = flow.fixed(0, 3, 2, flip=False)
    M = np.diag([-1.0, 1.0, 1.0])
    assert np.allclose(R, M @ R0 @ M) and np.allclose(d, M @ d0)


def test_the_cache_is_reused_and_refused_when_a_frame_changed(tmp_path):
    folder = _clip_copy(tmp_path)
    clip = KittiOdometryClip(folder, 'image_l')
    pairs = [(0, 2, 1), (0, 4, 3)]
    cache = tmp_path / FLOW_POSES_NAME
    first = FlowPoses([clip], pairs, cache)
    again = FlowPoses([clip], pairs, cache)
    assert again.reused == 2 and again.changed == 0 and again.entries == first.entries
    image = folder / 'image_l' / clip.files[4].name
    frame = cv2.imread(str(image))
    cv2.imwrite(str(image), np.ascontiguousarray(frame[:, ::-1]))   # another frame, same name
    changed = FlowPoses([KittiOdometryClip(folder, 'image_l')], pairs, cache)
    assert changed.reused == 1 and changed.changed == 1


def test_a_moving_pair_the_fit_explains_poorly_fixes_its_rotation_only(tmp_path):
    """Movers that bend the essential matrix bend the direction most (nuScenes' busy streets):
    below DIRECTION_MIN_INLIERS the pair keeps its rotation and PoseNet gives the translation."""
    clip = KittiOdometryClip(KITTI_ODOMETRY_07, 'image_l')
    pairs = [(0, 2, 1), (0, 4, 3)]
    cache = tmp_path / FLOW_POSES_NAME
    FlowPoses([clip], pairs, cache)
    stored = yaml.safe_load(cache.read_text())
    key = next(k for k in stored if k.endswith('|4|3'))
    assert stored[key]['state'] == 'moving' and stored[key]['inliers'] >= DIRECTION_MIN_INLIERS
    stored[key]['inliers'] = DIRECTION_MIN_INLIERS - 0.05     # as a fit with movers in view
    cache.write_text(json.dumps(stored))
    flow = FlowPoses([clip], pairs, cache)
    assert flow.reused == 2
    assert flow.fixed(0, 2, 1, flip=False)[2] == FIXES_ROTATION_AND_DIRECTION
    assert flow.fixed(0, 4, 3, flip=False)[2] == FIXES_ROTATION
    assert flow.counts() == {'moving': 1, 'moving (rotation only)': 1}


def test_posenet_keeps_only_what_the_geometry_leaves_open():
    T = torch.eye(4).repeat(3, 1, 1)
    T[:, :3, 3] = torch.tensor([0.0, 0.3, 0.4])          # PoseNet: length 0.5, sideways
    R = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).repeat(3, 1, 1)
    direction = torch.tensor([0.0, 0.0, 1.0]).repeat(3, 1)
    fixes = torch.tensor([FIXES_NOTHING, FIXES_ROTATION, FIXES_ROTATION_AND_DIRECTION])
    out = with_fixed_geometry(T, R, direction, fixes)
    assert torch.equal(out[0], T[0])
    assert torch.equal(out[1, :3, :3], R[1]) and torch.equal(out[1, :3, 3], T[1, :3, 3])
    assert torch.equal(out[2, :3, :3], R[2])
    assert torch.allclose(out[2, :3, 3], torch.tensor([0.0, 0.0, 0.5]))


def _short_fit(tmp_path, pose_source, sources):
    """Two steps of `fit` on `sources` with `pose_source`; the run folder."""
    config = {**TINY, 'pose_source': pose_source,
              'data': {**TINY['data'], 'sources': sources, 'eval_sources': [],
                       'base_height': 64, 'base_width': 192, 'crop_height': 64,
                       'crop_width': 192},
              'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}
    path = tmp_path / f'{pose_source}.yaml'
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / 'run'
    assert main(['fit', '--config', str(path), '--out', str(out)]) == 0
    return out


def test_a_short_fit_with_flow_poses_on_a_real_clip(tmp_path):
    """The geometry is computed once into the run folder, counted in the log, and reused on
    --resume."""
    folder = _clip_copy(tmp_path)
    out = _short_fit(tmp_path, 'flow', [
        {'type': 'kitti_odometry', 'path': str(folder), 'image_dir': 'image_l'}])
    cached = yaml.safe_load((out / FLOW_POSES_NAME).read_text())
    assert len(cached) >= 4 and all('digest' in v and 'state' in v for v in cached.values())
    assert any(v['state'] == 'moving' for v in cached.values())


def test_auto_warps_with_poses_where_a_clip_has_them_and_with_the_images_elsewhere(tmp_path,
                                                                                   caplog):
    """pose_source auto: the posed clip (KITTI, poses.txt) trains with known motion, the same
    frames as a folder without poses with the images' geometry, computed for its pairs only."""
    folder = _clip_copy(tmp_path)
    camera = tmp_path / 'camera.yaml'
    shutil.copy(REPO / 'config' / 'kitti_odometry_camera.yaml', camera)
    with caplog.at_level(logging.INFO):
        out = _short_fit(tmp_path, 'auto', [
            {'type': 'kitti_odometry', 'path': str(folder), 'image_dir': 'image_l'},
            {'type': 'folder', 'path': str(folder / 'image_l'), 'intrinsics': str(camera)}])
    assert 'known motion on 1 clip(s) with poses' in caplog.text
    assert "the images' geometry on 1 without" in caplog.text
    assert 'depth is metric' in caplog.text
    cached = json.loads((out / FLOW_POSES_NAME).read_text())
    assert cached and all(key.startswith('image_l|') for key in cached)


def test_auto_gives_a_posed_pair_its_known_motion_and_an_unposed_pair_the_images_turn(
        tmp_path):
    """Within one batch: the posed clip's pair warps with its own (scaled) poses, the folder's
    pair with PoseNet's motion whose rotation the images' geometry fixed."""
    from svde_training.config import config_from_dict
    from svde_training.data.dataset import collate
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    folder = _clip_copy(tmp_path)
    camera = tmp_path / 'camera.yaml'
    shutil.copy(REPO / 'config' / 'kitti_odometry_camera.yaml', camera)
    config = config_from_dict({
        **TINY, 'pose_source': 'auto',
        'data': {**TINY['data'], 'sources': [
            {'type': 'kitti_odometry', 'path': str(folder), 'image_dir': 'image_l'},
            {'type': 'folder', 'path': str(folder / 'image_l'), 'intrinsics': str(camera)}],
            'eval_sources': [], 'base_height': 64, 'base_width': 192, 'crop_height': 64,
            'crop_width': 192, 'flip_prob': 0.0},
        'optim': {**TINY['optim'], 'mixed_precision': False}})
    trainer = Trainer(config, tmp_path / 'run', torch.device('cpu'), DistInfo())
    items = trainer.dataset.items
    posed = next(i for i, (c, _, _) in enumerate(items) if c == 0)
    unposed = next(i for i, (c, _, _) in enumerate(items) if c == 1)
    batch = collate([trainer.dataset[posed], trainer.dataset[unposed]])
    assert batch.known.tolist() == [True, False]
    with torch.no_grad():
        T = trainer.pose(batch, 1, -1)
    known = batch.motion[0, 0].clone()
    known[:3, 3] /= trainer.motion_unit_m
    assert torch.allclose(T[0], known, atol=1e-5)
    assert int(batch.fixes[1, 0]) != FIXES_NOTHING
    assert torch.allclose(T[1, :3, :3], batch.fixed_rotation[1, 0], atol=1e-5)
