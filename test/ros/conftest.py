"""Fixtures of the ROS tests: a tiny trained model and real KITTI frames as messages."""
import pytest
import yaml
from sensor_msgs.msg import CameraInfo

from svde_ros.model.checkpoint import read_checkpoint, slim_checkpoint
from svde_ros.ros.image_conversions import array_to_image
from svde_training.cli import main as train
from svde_training.data.kitti import KittiRawClip
from svde_training.run_dir import save_checkpoint

from ..training.test_trainer import TINY


@pytest.fixture(scope='session')
def checkpoint(tmp_path_factory):
    """A 1-step model without metric scale, so its depths stay in the network's range."""
    tmp = tmp_path_factory.mktemp('node_ckpt')
    (tmp / 'c.yaml').write_text(yaml.safe_dump(
        {**TINY, 'optim': {**TINY['optim'], 'epochs': 1, 'steps_per_epoch': 1}}))
    assert train(['fit', '--config', str(tmp / 'c.yaml'), '--out', str(tmp / 'run')]) == 0
    state = read_checkpoint(tmp / 'run' / 'checkpoints' / 'last.pt')
    state['inference'] = {**state['inference'], 'depth_scale': 1.0, 'scale_source': 'none'}
    save_checkpoint(tmp / 'unscaled.pt', slim_checkpoint(state))
    return str(tmp / 'unscaled.pt')


@pytest.fixture(scope='session')
def kitti(kitti_raw_drive):
    clip = KittiRawClip(kitti_raw_drive)
    frames = []
    for i in range(3):
        K = clip.intrinsics(i)
        info = CameraInfo(width=K.width, height=K.height, k=K.matrix().reshape(-1).tolist())
        frames.append((array_to_image(clip.image(i)[..., ::-1].copy(), 'bgr8'), info))
    return frames
