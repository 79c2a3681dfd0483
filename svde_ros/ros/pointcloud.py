"""Depth -> sensor_msgs/PointCloud2 (x, y, z float32 [+ rgb packed as float]), vectorised."""
from __future__ import annotations

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from svde_ros.geometry import points_from_depth


def cloud_fields(with_rgb: bool) -> list[PointField]:
    """x, y, z float32 (and rgb: a float holding 0x00RRGGBB, as PCL and RViz expect)."""
    names = ['x', 'y', 'z'] + (['rgb'] if with_rgb else [])
    return [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
            for i, n in enumerate(names)]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW float32 whose bits are 0x00RRGGBB."""
    rgb = rgb.astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed.view(np.float32)


def depth_to_cloud(depth_m: np.ndarray, K: np.ndarray, header: object,
                   rgb: np.ndarray | None = None, decimation: int = 1,
                   organized: bool = True) -> PointCloud2:
    """Build a cloud from a depth map (metres, NaN invalid) and its K.

    Every `decimation`-th pixel in each direction is kept. Organized clouds keep the (decimated)
    image grid with NaN points where depth is invalid (is_dense false); unorganized ones drop
    invalid points (height 1, is_dense true).
    """
    step = max(1, int(decimation))
    points = points_from_depth(depth_m, K, step)
    columns = [points]
    if rgb is not None:
        columns.append(pack_rgb(rgb[::step, ::step])[..., None])
    data = np.concatenate(columns, axis=-1).astype(np.float32)
    height, width, fields = data.shape
    if not organized:
        data = data[np.isfinite(data[..., 2])].reshape(1, -1, fields)
        height, width = data.shape[:2]
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = int(height), int(width)
    msg.fields = cloud_fields(rgb is not None)
    msg.is_bigendian = False
    msg.point_step = 4 * fields
    msg.row_step = msg.point_step * msg.width
    msg.is_dense = not organized
    msg.data = np.ascontiguousarray(data).tobytes()
    return msg


def cloud_to_array(msg: PointCloud2) -> np.ndarray:
    """Inverse view for tests and tools: [height, width, fields] float32."""
    fields = msg.point_step // 4
    return np.frombuffer(bytes(msg.data), dtype=np.float32).reshape(msg.height, msg.width,
                                                                    fields)
