"""Shared fixtures: paths to the real clips shipped in test/data (see its README)."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / 'test' / 'data'          # reduced copies of ../shared/data, in the repo
KITTI_RAW_DRIVE = DATA / 'kitti_raw_tiny' / '2011_09_26' / '2011_09_26_drive_0023_sync'
KITTI_ODOMETRY = DATA / 'kitti_odometry_clip'


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
