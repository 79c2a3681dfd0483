"""Fixtures of the ROS tests: real KITTI frames as messages."""
import pytest
from sensor_msgs.msg import CameraInfo

from svde_ros.ros.image_conversions import array_to_image
from svde_training.data.kitti import KittiRawClip


@pytest.fixture(scope='session')
def kitti(kitti_raw_drive):
    clip = KittiRawClip(kitti_raw_drive)
    frames = []
    for i in range(3):
        K = clip.intrinsics(i)
        info = CameraInfo(width=K.width, height=K.height, k=K.matrix().reshape(-1).tolist())
        frames.append((array_to_image(clip.image(i)[..., ::-1].copy(), 'bgr8'), info))
    return frames
