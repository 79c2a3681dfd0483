"""Camera geometry shared by training, export and the ROS nodes.

Conventions (defined once, here):
- Pixel coordinates follow OpenCV/ROS: the centre of the top-left pixel is (0, 0), so a resize by
  s maps x to (x + 0.5) * s - 0.5, and a horizontal flip of a W-wide image maps x to W - 1 - x.
- `K` is in pixels at the resolution of the image or tensor it travels with.
- `T_dst_src` is a [4,4] rigid transform that maps points from the src camera into the dst camera.
- Positional information (arXiv 2205.08851, Sec. 3): u, v in [-1, 1] at pixel centres of the FULL
  resized frame, so a crop carries the coordinates of where it sits in that frame.
- Camera channels: fx / W0 and fy / H0, with W0 x H0 the size of the frame the intrinsics belong
  to (before any crop). They describe the field of view and do not change under any resize, even
  one that changes the aspect ratio (1242x375 -> 640x192), so the same values are fed in
  training, export and the node.
- Resize-crop scale rule: a frame enlarged by s > 1 looks like a closer scene, so the depth the
  network is taught for it is depth / s. The pose translation used for warping is scaled by 1 / s
  to match; projection is invariant to that joint scaling, so geometry stays exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of a `width` x `height` image, in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(np.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f'invalid intrinsics: fx={self.fx} fy={self.fy} cx={self.cx} '
                             f'cy={self.cy} (focal lengths must be finite and positive)')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'invalid image size {self.width}x{self.height} for intrinsics')

    @classmethod
    def from_matrix(cls, K: np.ndarray, width: int, height: int) -> Intrinsics:
        """Build from a 3x3 (or 3x4 projection) matrix."""
        K = np.asarray(K, dtype=np.float64)
        return cls(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]),
                   int(width), int(height))

    def matrix(self) -> np.ndarray:
        """3x3 float64 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def resized(self, width: int, height: int) -> Intrinsics:
        """Intrinsics of this image resized (not cropped) to `width` x `height`."""
        sx, sy = width / self.width, height / self.height
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5,
                          (self.cy + 0.5) * sy - 0.5, int(width), int(height))

    def cropped(self, x0: int, y0: int, width: int, height: int) -> Intrinsics:
        """Intrinsics of the `width` x `height` window whose top-left pixel is (x0, y0)."""
        if x0 < 0 or y0 < 0 or x0 + width > self.width or y0 + height > self.height:
            raise ValueError(f'crop {width}x{height}+{x0}+{y0} outside a '
                             f'{self.width}x{self.height} image')
        return Intrinsics(self.fx, self.fy, self.cx - x0, self.cy - y0, int(width), int(height))

    def flipped(self) -> Intrinsics:
        """Intrinsics of the horizontally mirrored image."""
        return Intrinsics(self.fx, self.fy, self.width - 1 - self.cx, self.cy,
                          self.width, self.height)

    def camera_channels(self) -> tuple[float, float, float, float]:
        """(fx / W0, fy / H0, cx / W0, cy / H0) fed to the networks; resize invariant.

        The first two describe the field of view; with the last two a network can turn a
        pixel's place in the frame into its viewing ray (`ray_positions`). The principal point
        is measured to its pixel's centre ((cx + 0.5) / W0, as `resized` scales it), the
        convention of the positional channels.
        """
        return self.fx / self.width, self.fy / self.height, (self.cx + 0.5) / self.width, \
            (self.cy + 0.5) / self.height


def positional_grid(full_height: int, full_width: int, y0: int = 0, x0: int = 0,
                    height: int | None = None, width: int | None = None) -> np.ndarray:
    """Positional channels of a crop of a `full_width` x `full_height` frame.

    Returns:
        [2,H,W] float32: u (x) and v (y) in [-1, 1] at pixel centres of the full frame.
    """
    height = full_height if height is None else height
    width = full_width if width is None else width
    u = (2.0 * (np.arange(x0, x0 + width, dtype=np.float32) + 0.5) / full_width) - 1.0
    v = (2.0 * (np.arange(y0, y0 + height, dtype=np.float32) + 0.5) / full_height) - 1.0
    return np.stack(np.meshgrid(u, v, indexing='xy')).astype(np.float32)


def ray_positions(pos: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """Viewing-ray slopes ((x - cx) / fx, (y - cy) / fy) [B,2,H,W] of positional channels.

    pos: [B,2,H,W] (u, v) in [-1, 1] over the full frame (a crop's pixels carry those of the
    frame it was cut from); cam: [B,4] camera channels (Intrinsics.camera_channels). A row
    of pixels means a different elevation in every camera (KITTI's horizon lies mid-frame, the
    highway crop's at a quarter from the top); a ray slope means the same in all of them.
    """
    f = cam[:, 0:2].reshape(-1, 2, 1, 1).to(pos.dtype)
    c = cam[:, 2:4].reshape(-1, 2, 1, 1).to(pos.dtype)
    return ((pos + 1.0) * 0.5 - c) / f


def positional_grid_torch(batch: int, height: int, width: int,
                          device: torch.device | None = None,
                          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Full-frame positional channels [B,2,H,W] built from tensor ops (traceable for ONNX)."""
    u = (2.0 * (torch.arange(width, device=device, dtype=dtype) + 0.5) / width) - 1.0
    v = (2.0 * (torch.arange(height, device=device, dtype=dtype) + 0.5) / height) - 1.0
    grid = torch.stack(torch.meshgrid(u, v, indexing='xy'))
    return grid.unsqueeze(0).expand(batch, 2, height, width)


def pixel_grid(height: int, width: int, device: torch.device | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Homogeneous pixel coordinates [3, H*W] (x, y, 1), row-major."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                            torch.arange(width, device=device, dtype=dtype), indexing='ij')
    return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)])


def backproject(depth: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Lift every pixel to 3D.

    Args:
        depth: [B,1,H,W] metres (or the network's gauge).
        K: [B,3,3] pixels at H x W.

    Returns:
        [B,3,H*W] points in the camera frame.
    """
    B, _, H, W = depth.shape
    rays = torch.linalg.inv(K) @ pixel_grid(H, W, depth.device, depth.dtype)
    return rays * depth.reshape(B, 1, H * W)


def transform_points(T: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply [B,4,4] rigid transforms to points [B,3,P] (or [B,3,...] flattened)."""
    return T[:, :3, :3] @ points + T[:, :3, 3:]


def project(points: torch.Tensor, K: torch.Tensor,
            eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Project camera-frame points [B,3,P] with K [B,3,3].

    Returns:
        pixels [B,2,P] (x, y) and z [B,1,P]; points with z <= eps get z clamped to eps.
    """
    cam = K @ points
    z = cam[:, 2:3]
    return cam[:, :2] / z.clamp(min=eps), z


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. axis_angle: [B,3] radians -> rotations [B,3,3]."""
    angle = axis_angle.norm(dim=1, keepdim=True).clamp(min=1e-8)
    axis = axis_angle / angle
    x, y, z = axis[:, 0], axis[:, 1], axis[:, 2]
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=1).reshape(-1, 3, 3)
    s, c = torch.sin(angle)[:, :, None], torch.cos(angle)[:, :, None]
    eye = torch.eye(3, device=axis_angle.device, dtype=axis_angle.dtype).expand_as(skew)
    return eye + s * skew + (1 - c) * (skew @ skew)


def pose_to_matrix(axis_angle: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """[B,3] rotation vector and [B,3] translation -> [B,4,4] rigid transform."""
    T = torch.zeros(axis_angle.shape[0], 4, 4, device=axis_angle.device, dtype=axis_angle.dtype)
    T[:, :3, :3] = axis_angle_to_matrix(axis_angle)
    T[:, :3, 3] = translation
    T[:, 3, 3] = 1.0
    return T


def rotation_angle_deg(R: np.ndarray) -> float:
    """The angle in degrees of a 3x3 rotation (from its trace; clipped against rounding)."""
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))


def scale_translation(T: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Multiply the translation of [B,4,4] transforms by per-sample factors [B]."""
    out = T.clone()
    out[:, :3, 3] = T[:, :3, 3] * scale.reshape(-1, 1)
    return out


def points_from_depth(depth: np.ndarray, K: np.ndarray, step: int = 1) -> np.ndarray:
    """Back-project every `step`-th pixel (each direction) of an HxW depth map.

    Args:
        depth: HxW metres, NaN invalid.
        K: 3x3 intrinsics at H x W.
        step: decimation; only the kept pixels are computed.

    Returns:
        ceil(H/step) x ceil(W/step) x 3 float32 camera-frame points.
    """
    z = depth[::step, ::step].astype(np.float32)
    x, y = pixel_rays(K, depth.shape[0], depth.shape[1], step)
    return np.stack([x * z, y * z, z], axis=-1)


def pixel_rays(K: np.ndarray, height: int, width: int,
               step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """x/z of every `step`-th column [1,w] and y/z of every `step`-th row [h,1], float32."""
    x = (np.arange(0, width, step, dtype=np.float32) - np.float32(K[0, 2])) / np.float32(K[0, 0])
    y = (np.arange(0, height, step, dtype=np.float32) - np.float32(K[1, 2])) / np.float32(K[1, 1])
    return x[None, :], y[:, None]


def resize_intrinsics_matrix(K: torch.Tensor, sx: float, sy: float) -> torch.Tensor:
    """Torch twin of `Intrinsics.resized` for [B,3,3] matrices (pyramid levels)."""
    out = K.clone()
    out[:, 0, 0] = K[:, 0, 0] * sx
    out[:, 1, 1] = K[:, 1, 1] * sy
    out[:, 0, 2] = (K[:, 0, 2] + 0.5) * sx - 0.5
    out[:, 1, 2] = (K[:, 1, 2] + 0.5) * sy - 0.5
    return out


def matrix_to_quaternion(R: np.ndarray) -> tuple[float, float, float, float]:
    """Rotation matrix -> unit quaternion (x, y, z, w), numerically stable branch choice."""
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + R[i, i] - R[j, j] - R[k, k])
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i] = s / 4
        q[j] = (R[j, i] + R[i, j]) / s
        q[k] = (R[k, i] + R[i, k]) / s
    q_arr = np.array(q) / np.linalg.norm(q)
    return float(q_arr[0]), float(q_arr[1]), float(q_arr[2]), float(q_arr[3])


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> 3x3 rotation matrix."""
    q = np.array([x, y, z, w], dtype=np.float64)
    x, y, z, w = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def pose_from_xyz_rpy(xyz_rpy: tuple[float, ...] | list[float]) -> np.ndarray:
    """4x4 pose from x y z roll pitch yaw (metres, radians); identity for an empty tuple.

    Angles in REP-103 fixed-axis order, as a static TF gives them (e.g. a camera's optical
    frame in base_link: its x right, y down, z forward).

    Raises:
        ValueError: not six numbers.
    """
    if not len(xyz_rpy):
        return np.eye(4)
    if len(xyz_rpy) != 6:
        raise ValueError(f'expected x y z roll pitch yaw, got {list(xyz_rpy)}')
    x, y, z, roll, pitch, yaw = xyz_rpy
    cr, sr, cp, sp, cy, sy = (np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch),
                              np.cos(yaw), np.sin(yaw))
    T = np.eye(4)
    T[:3, :3] = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ \
        np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]) @ \
        np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    T[:3, 3] = (x, y, z)
    return T


def transform_matrix(translation: object, rotation: object) -> np.ndarray:
    """4x4 of a ROS translation (x, y, z) and quaternion (x, y, z, w).

    A Transform's or a Pose's (position, orientation) fields, as messages or any objects with
    those attributes.
    """
    T = np.eye(4)
    q = rotation
    T[:3, :3] = quaternion_to_matrix(q.x, q.y, q.z, q.w)  # type: ignore[attr-defined]
    t = translation
    T[:3, 3] = (t.x, t.y, t.z)  # type: ignore[attr-defined]
    return T
