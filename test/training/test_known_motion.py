"""Training with a clip's own motion (pose_source: poses) and the sources that carry it."""
import numpy as np
import pytest
import torch
import yaml

from svde_ros.model.checkpoint import load_depth_net
from svde_training.cli import main
from svde_training.config import DataConfig, FolderSource, PoseNoise, SyntheticSource
from svde_training.data import build_clips
from svde_training.data.clip import DataError
from svde_training.data.dataset import TupleDataset, known_motion
from svde_training.data.rosbag import camera_offset
from svde_training.warping import backward_warp

from ..conftest import KITTI_RAW_0926_GRAY
from .test_trainer import TINY


def _static_data(flip_prob: float) -> tuple[list, DataConfig]:
    source = SyntheticSource(seed=4, num_clips=1, num_frames=8, height=64, width=128,
                             num_movers=0)
    config = DataConfig(sources=(source,), base_height=64, base_width=128, crop_height=64,
                        crop_width=128, scale_min=1.0, scale_max=1.0, flip_prob=flip_prob,
                        brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    return build_clips(source), config


@pytest.mark.parametrize('flip_prob', [0.0, 1.0], ids=['as-recorded', 'mirrored'])
def test_known_motion_warps_the_true_depth_onto_the_neighbour(flip_prob):
    clips, config = _static_data(flip_prob)
    dataset = TupleDataset(clips, config, poses=PoseNoise())
    sample = dataset[2]
    c, t, offsets = dataset.items[2]
    depth = torch.from_numpy(np.ascontiguousarray(
        clips[c].depth(t)[:, ::-1] if flip_prob else clips[c].depth(t))).float()[None, None]
    for j, offset in enumerate(offsets):
        def error(T: torch.Tensor, j: int = j) -> float:
            synth = backward_warp(sample.images[j + 1][None], 1.0 / depth, sample.K[None], T)
            valid = synth.landed & (depth < 60)
            return float((synth.image - sample.images[0][None]).abs().mean(1, keepdim=True)[
                valid].mean())
        T = sample.motion[j][None]
        backwards = T.clone()
        backwards[:, :3, 3] *= -1
        assert error(T) < 0.6 * error(torch.eye(4)[None]), offset
        assert error(T) < 0.6 * error(backwards), offset


def test_a_mirrored_sample_needs_the_mirrored_motion():
    """A point seen at u moves to u' under T; in the mirrored images it must move to W-1-u'."""
    from svde_ros.geometry import Intrinsics, pose_to_matrix

    K = Intrinsics(100.0, 100.0, 60.3, 31.0, 128, 64)
    T = pose_to_matrix(torch.tensor([[0.02, -0.05, 0.01]]),
                       torch.tensor([[0.4, 0.1, 0.8]]))[0].double().numpy()
    M = np.diag([-1.0, 1.0, 1.0, 1.0])
    X = np.array([1.5, -0.3, 7.0, 1.0])

    def pixel(K: Intrinsics, point: np.ndarray) -> np.ndarray:
        p = K.matrix() @ point[:3]
        return p[:2] / p[2]
    moved = pixel(K, T @ X)
    mirrored = pixel(K.flipped(), (M @ T @ M) @ (M @ X))
    assert np.allclose(mirrored, [K.width - 1 - moved[0], moved[1]])
    assert pixel(K.flipped(), M @ X)[0] == pytest.approx(K.width - 1 - pixel(K, X)[0])


def test_the_dataset_mirrors_the_motion_of_a_mirrored_sample():
    as_recorded = TupleDataset(*_static_data(0.0), poses=PoseNoise())[2].motion
    mirrored = TupleDataset(*_static_data(1.0), poses=PoseNoise())[2].motion
    M = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))
    assert torch.allclose(mirrored, M @ as_recorded @ M)
    assert not torch.allclose(mirrored, as_recorded)


def test_pose_noise_drifts_the_motion_reproducibly():
    clips, _ = _static_data(0.0)
    exact = known_motion(clips[0], 3, 4, False, PoseNoise(), np.random.default_rng(0))
    noisy = [known_motion(clips[0], 3, 4, False, PoseNoise(0.1, 1.0),
                          np.random.default_rng(k)) for k in (0, 0, 1)]
    assert np.allclose(noisy[0], noisy[1]) and not np.allclose(noisy[0], noisy[2])
    drift = np.linalg.norm(noisy[2][:3, 3] - exact[:3, 3]) / np.linalg.norm(exact[:3, 3])
    assert 0 < drift < 0.5
    assert np.allclose(noisy[2][:3, :3] @ noisy[2][:3, :3].T, np.eye(3), atol=1e-9)


def test_clips_without_poses_are_refused_in_one_line(tmp_path, kitti_odometry):
    from svde_training.data.folder import FolderClip

    (tmp_path / 'cam.yaml').write_text(yaml.safe_dump(
        {'fx': 700.0, 'fy': 700.0, 'cx': 600.0, 'cy': 180.0, 'width': 1226, 'height': 370}))
    clip = FolderClip(kitti_odometry / 'image_l', tmp_path / 'cam.yaml')
    with pytest.raises(DataError, match='without poses'):
        TupleDataset([clip], DataConfig(crop_width=128, crop_height=64), poses=PoseNoise())


def test_camera_offset_from_a_static_transform():
    assert np.array_equal(camera_offset(()), np.eye(4))
    # base_link (x forward, z up) -> camera optical frame (z forward, x right, y down).
    optical = camera_offset((1.0, 0.0, 1.5, -np.pi / 2, 0.0, -np.pi / 2))
    assert np.allclose(optical[:3, 3], [1.0, 0.0, 1.5])
    assert np.allclose(optical[:3, :3] @ [0, 0, 1], [1, 0, 0])     # optical z = base x
    assert np.allclose(optical[:3, :3] @ [1, 0, 0], [0, -1, 0])    # optical x = base -y
    with pytest.raises(DataError, match='roll pitch yaw'):
        camera_offset((1.0, 2.0))


def test_fit_with_known_motion_is_metric_from_the_poses(tmp_path):
    config = {**TINY, 'pose_source': 'poses',
              'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}
    path = tmp_path / 'known.yaml'
    path.write_text(yaml.safe_dump(config))
    assert main(['fit', '--config', str(path), '--out', str(tmp_path / 'run')]) == 0
    _, spec = load_depth_net(tmp_path / 'run' / 'checkpoints' / 'last.pt')
    # The poses are scaled so their median step is known_translation depth units; the
    # checkpoint's depth_scale turns those units back into metres.
    clips = build_clips(SyntheticSource(**TINY['data']['sources'][0]))
    metres, _ = TupleDataset(clips, DataConfig(**{k: v for k, v in TINY['data'].items()
                                                 if k.endswith(('height', 'width'))}),
                             poses=PoseNoise()).pair_motion()
    assert spec.scale_source == 'poses'
    assert spec.depth_scale == pytest.approx(metres / 0.05)


def test_mixed_known_motion_where_a_clip_has_poses_and_posenet_elsewhere(tmp_path):
    posed = build_clips(SyntheticSource(seed=3, num_clips=1, num_frames=6, height=64,
                                        width=128))
    unposed = build_clips(FolderSource(str(KITTI_RAW_0926_GRAY / 'image'),
                                       str(KITTI_RAW_0926_GRAY / 'camera.yaml')))
    config = DataConfig(base_height=64, base_width=128, crop_height=64, crop_width=128,
                        scale_min=1.0, scale_max=1.0, flip_prob=0.0)
    with pytest.raises(DataError, match='without poses'):
        TupleDataset(posed + unposed, config, poses=PoseNoise())
    dataset = TupleDataset(posed + unposed, config, poses=PoseNoise(), every_clip_posed=False)
    for index, (c, t, offsets) in enumerate(dataset.items):
        sample = dataset[index]
        clip = dataset.clips[c]
        assert bool(sample.known) == (c == 0)
        if c == 0:
            T = np.linalg.inv(clip.pose(t + offsets[0])) @ clip.pose(t)
            assert np.allclose(sample.motion[0].numpy(), T, atol=1e-5)
        else:
            assert torch.equal(sample.motion, torch.eye(4).repeat(len(offsets), 1, 1))
    config_file = tmp_path / 'mixed.yaml'
    config_file.write_text(yaml.safe_dump({
        **TINY, 'pose_source': 'mixed',
        'data': {**TINY['data'], 'sources': [
            TINY['data']['sources'][0],
            {'type': 'folder', 'path': str(KITTI_RAW_0926_GRAY / 'image'),
             'intrinsics': str(KITTI_RAW_0926_GRAY / 'camera.yaml')}]},
        'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 2}}))
    assert main(['fit', '--config', str(config_file), '--out', str(tmp_path / 'run')]) == 0
    _, spec = load_depth_net(tmp_path / 'run' / 'checkpoints' / 'last.pt')
    assert spec.scale_source == 'poses' and spec.depth_scale > 0
