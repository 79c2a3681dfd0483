"""Depth -> sensor_msgs/PointCloud2 (x, y, z float32 [+ rgb packed as float]), vectorised."""
from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

from svde_ros.geometry import pixel_rays


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


class CloudPacker:
    """Builds clouds into one reused float32 buffer, with the pixel rays cached per camera.

    A node publishes a cloud per frame of the same size and K: the ray grid is computed once,
    x, y, z are written in place, and rgb is written as bytes (B, G, R, 0 = 0x00RRGGBB in a
    little-endian float), so a frame costs a few vector operations and one copy into the
    message (measured by benchmarks/node_latency.py).
    """

    def __init__(self) -> None:
        self._buffer = np.empty(0, np.float32)
        self._rays_key: tuple | None = None
        self._rays: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))

    def _rays_for(self, K: np.ndarray, height: int, width: int,
                  step: int) -> tuple[np.ndarray, np.ndarray]:
        key = (tuple(np.asarray(K, np.float64).ravel()), height, width, step)
        if key != self._rays_key:
            self._rays_key, self._rays = key, pixel_rays(K, height, width, step)
        return self._rays

    def pack(self, depth_m: np.ndarray, K: np.ndarray, header: object,
             rgb: np.ndarray | None = None, decimation: int = 1,
             organized: bool = True) -> PointCloud2:
        """See `depth_to_cloud`."""
        step = max(1, int(decimation))
        z = depth_m[::step, ::step]
        h, w = z.shape
        fields = 3 if rgb is None else 4
        if self._buffer.size != h * w * fields:
            self._buffer = np.empty(h * w * fields, np.float32)
        data = self._buffer.reshape(h, w, fields)
        x_ray, y_ray = self._rays_for(K, int(depth_m.shape[0]), int(depth_m.shape[1]), step)
        np.multiply(x_ray, z, out=data[..., 0])
        np.multiply(y_ray, z, out=data[..., 1])
        data[..., 2] = z
        if rgb is not None:
            if sys.byteorder == 'little':
                raw = data.view(np.uint8).reshape(h, w, 16)
                small = rgb[::step, ::step]
                raw[..., 12], raw[..., 13], raw[..., 14] = small[..., 2], small[..., 1], \
                    small[..., 0]
                raw[..., 15] = 0
            else:
                data[..., 3] = pack_rgb(rgb[::step, ::step])
        if not organized:
            data = data[np.isfinite(data[..., 2])].reshape(1, -1, fields)
        msg = PointCloud2()
        msg.header = header
        msg.height, msg.width = int(data.shape[0]), int(data.shape[1])
        msg.fields = cloud_fields(rgb is not None)
        msg.is_bigendian = False
        msg.point_step = 4 * fields
        msg.row_step = msg.point_step * msg.width
        msg.is_dense = not organized
        msg.data = data.tobytes()
        return msg


def depth_to_cloud(depth_m: np.ndarray, K: np.ndarray, header: object,
                   rgb: np.ndarray | None = None, decimation: int = 1,
                   organized: bool = True, packer: CloudPacker | None = None) -> PointCloud2:
    """Build a cloud from a depth map (metres, NaN invalid) and its K.

    Every `decimation`-th pixel in each direction is kept. Organized clouds keep the (decimated)
    image grid with NaN points where depth is invalid (is_dense false); unorganized ones drop
    invalid points (height 1, is_dense true). A long-lived `packer` reuses its buffer and rays.
    """
    return (packer or CloudPacker()).pack(depth_m, K, header, rgb, decimation, organized)


def cloud_to_array(msg: PointCloud2) -> np.ndarray:
    """Inverse view for tests and tools: [height, width, fields] float32."""
    fields = msg.point_step // 4
    return np.frombuffer(bytes(msg.data), dtype=np.float32).reshape(msg.height, msg.width,
                                                                    fields)
