"""rosbag2 files (sqlite3 or mcap) through the pure-Python `rosbags` library, no ROS needed.

Writing: `write_bag` turns any Clip into Image or CompressedImage + CameraInfo (+ Odometry from
the clip's poses) at a fixed rate; used by `svde-train make-bag`, the demo and tests.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from svde_ros.geometry import matrix_to_quaternion
from svde_training.data.clip import Clip, DataError

LOG = logging.getLogger(__name__)
STORAGES = ('mcap', 'sqlite3')
BAG_VERSION = 8   # the rosbag2 metadata version Jazzy writes; Humble reads bags via rosbags


@dataclass(frozen=True)
class BagTopics:
    """Topic names and frames written into a bag."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    odometry: str = '/odom'
    frame_id: str = 'camera_optical'
    odom_frame_id: str = 'odom'


def _typestore():  # noqa: ANN202 - rosbags' Typestore, imported lazily
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def write_bag(clip: Clip, out: Path, storage: str = 'mcap', rate_hz: float = 10.0,
              compressed: bool = False, topics: BagTopics = BagTopics(),
              max_frames: int = 0, jpeg_quality: int = 90) -> int:
    """Write the clip's frames as a new bag folder `out` (refuses to touch an existing one).

    Returns:
        The number of frames written.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    if storage not in STORAGES:
        raise DataError(f'storage must be one of {", ".join(STORAGES)}, got {storage!r}')
    if out.exists():
        raise DataError(f'{out} exists; choose a new --out (bags are never overwritten)')
    if rate_hz <= 0:
        raise DataError(f'rate must be positive, got {rate_hz}')
    ts = _typestore()
    T = ts.types
    Time, Header = T['builtin_interfaces/msg/Time'], T['std_msgs/msg/Header']
    count = min(len(clip), max_frames) if max_frames else len(clip)
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    image_topic = f'{topics.image}/compressed' if compressed else topics.image
    with Writer(out, version=BAG_VERSION, storage_plugin=plugin) as writer:
        image_conn = writer.add_connection(image_topic, image_type, typestore=ts)
        info_conn = writer.add_connection(topics.camera_info, 'sensor_msgs/msg/CameraInfo',
                                          typestore=ts)
        odom_conn = None
        if clip.pose(0) is not None:
            odom_conn = writer.add_connection(topics.odometry, 'nav_msgs/msg/Odometry',
                                              typestore=ts)
        for i in tqdm(range(count), desc=f'writing {out.name}', unit='frame'):
            stamp_ns = int(round(i * 1e9 / rate_hz))
            header = Header(stamp=Time(sec=stamp_ns // 10 ** 9, nanosec=stamp_ns % 10 ** 9),
                            frame_id=topics.frame_id)
            rgb = clip.image(i)
            if compressed:
                ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1],
                                        [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                assert ok
                msg = T[image_type](header=header, format='jpeg',
                                    data=np.frombuffer(jpeg.tobytes(), np.uint8))
            else:
                msg = T[image_type](header=header, height=rgb.shape[0], width=rgb.shape[1],
                                    encoding='rgb8', is_bigendian=0, step=rgb.shape[1] * 3,
                                    data=np.ascontiguousarray(rgb).reshape(-1))
            writer.write(image_conn, stamp_ns, ts.serialize_cdr(msg, image_type))
            writer.write(info_conn, stamp_ns, ts.serialize_cdr(
                _camera_info(T, header, clip, i), 'sensor_msgs/msg/CameraInfo'))
            pose = clip.pose(i)
            if odom_conn is not None and pose is not None:
                writer.write(odom_conn, stamp_ns, ts.serialize_cdr(
                    _odometry(T, header, pose, topics), 'nav_msgs/msg/Odometry'))
    LOG.info('wrote %d frames to %s (%s, %g Hz%s)', count, out, storage, rate_hz,
             ', with odometry' if odom_conn else '')
    return count


def _camera_info(T, header, clip: Clip, index: int):  # noqa: ANN001, ANN202
    K = clip.intrinsics(index)
    P = np.hstack([K.matrix(), np.zeros((3, 1))])
    roi = T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                do_rectify=False)
    return T['sensor_msgs/msg/CameraInfo'](
        header=header, height=K.height, width=K.width, distortion_model='plumb_bob',
        d=np.zeros(5), k=K.matrix().reshape(-1), r=np.eye(3).reshape(-1), p=P.reshape(-1),
        binning_x=0, binning_y=0, roi=roi)


def _odometry(T, header, pose: np.ndarray, topics: BagTopics):  # noqa: ANN001, ANN202
    x, y, z, w = matrix_to_quaternion(pose[:3, :3])
    point = T['geometry_msgs/msg/Point'](x=float(pose[0, 3]), y=float(pose[1, 3]),
                                         z=float(pose[2, 3]))
    quat = T['geometry_msgs/msg/Quaternion'](x=x, y=y, z=z, w=w)
    vec = T['geometry_msgs/msg/Vector3'](x=0.0, y=0.0, z=0.0)
    odom_header = T['std_msgs/msg/Header'](stamp=header.stamp, frame_id=topics.odom_frame_id)
    return T['nav_msgs/msg/Odometry'](
        header=odom_header, child_frame_id=topics.frame_id,
        pose=T['geometry_msgs/msg/PoseWithCovariance'](
            pose=T['geometry_msgs/msg/Pose'](position=point, orientation=quat),
            covariance=np.zeros(36)),
        twist=T['geometry_msgs/msg/TwistWithCovariance'](
            twist=T['geometry_msgs/msg/Twist'](linear=vec, angular=vec),
            covariance=np.zeros(36)))
