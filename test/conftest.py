"""Shared fixtures: paths to the real clips shipped in test/data (see its README)."""
from pathlib import Path

import pytest
import yaml

from svde_ros.model.checkpoint import read_checkpoint, slim_checkpoint
from svde_training.cli import main as train
from svde_training.run_dir import save_checkpoint

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / 'test' / 'data'          # reduced copies of ../shared/data, in the repo
KITTI_RAW_DRIVE = DATA / 'kitti_raw_tiny' / '2011_09_26' / '2011_09_26_drive_0023_sync'
KITTI_ODOMETRY = DATA / 'kitti_odometry_clip'
KITTI_ODOMETRY_07 = DATA / 'kitti_odometry_07'          # 8 frames inside its first turn
KITTI_RAW_0926_GRAY = DATA / 'kitti_raw_0926_gray'      # 6 unrectified grey frames


@pytest.fixture(scope='session')
def kitti_raw_drive() -> Path:
    if not KITTI_RAW_DRIVE.is_dir():
        pytest.fail(f'real test data missing: {KITTI_RAW_DRIVE} (it ships in the repo)')
    return KITTI_RAW_DRIVE


@pytest.fixture(scope='session')
def kitti_odometry() -> Path:
    if not KITTI_ODOMETRY.is_dir():
        pytest.fail(f'real test data missing: {KITTI_ODOMETRY}')
    return KITTI_ODOMETRY


@pytest.fixture(scope='session')
def checkpoint(tmp_path_factory) -> str:
    """A 1-step model without metric scale, so its depths stay in the network's range."""
    tmp = tmp_path_factory.mktemp('node_ckpt')
    (tmp / 'c.yaml').write_text(yaml.safe_dump(
        {**tiny_config(), 'optim': {**tiny_config()['optim'], 'epochs': 1, 'steps_per_epoch': 1}}))
    assert train(['fit', '--config', str(tmp / 'c.yaml'), '--out', str(tmp / 'run')]) == 0
    state = read_checkpoint(tmp / 'run' / 'checkpoints' / 'last.pt')
    state['inference'] = {**state['inference'], 'depth_scale': 1.0, 'scale_source': 'none'}
    save_checkpoint(tmp / 'unscaled.pt', slim_checkpoint(state))
    return str(tmp / 'unscaled.pt')


def tiny_config() -> dict:
    """The tiny training config of test/training/test_trainer.py (imported lazily)."""
    from .training.test_trainer import TINY
    return TINY
