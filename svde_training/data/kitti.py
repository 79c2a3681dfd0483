"""KITTI raw (drive folders) and KITTI odometry (sequence folders) sources."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from svde_ros.geometry import Intrinsics
from svde_training.data.clip import (
    DataError,
    FileClip,
    image_size,
    list_images,
    numbers,
    read_poses,
)

ODOMETRY_IMAGE_DIRS = {'image_2': 'P2', 'image_3': 'P3', 'image_0': 'P0', 'image_1': 'P1',
                       'image_l': 'P0', 'image_r': 'P1'}


def read_calib_file(path: Path) -> dict[str, np.ndarray]:
    """Parse a KITTI calibration file of `key: v v v` lines (numeric values only)."""
    if not path.is_file():
        raise DataError(f'calibration file not found: {path}')
    values: dict[str, np.ndarray] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if ':' not in line:
            if line.strip():
                values[f'P{len(values)}'] = numbers(line, path, number)
            continue
        key, _, rest = line.partition(':')
        try:
            values[key.strip()] = np.array([float(v) for v in rest.split()])
        except ValueError:
            continue  # calib_time and other non-numeric entries
    return values


def _projection(calib: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    if key not in calib or calib[key].size != 12:
        raise DataError(f'{path}: no 3x4 projection {key!r}')
    return calib[key].reshape(3, 4)


DEPTH_SOURCES = ('auto', 'velodyne', 'groundtruth')


def velodyne_to_image(calib_dir: Path, camera: str) -> np.ndarray:
    """3x4 matrix taking homogeneous Velodyne points to (u z, v z, z) of a rectified camera.

    P_rect_0X @ R_rect_00 @ [R | T]_velo_to_cam, from the date folder's calibration files.
    """
    cam = read_calib_file(calib_dir / 'calib_cam_to_cam.txt')
    velo = read_calib_file(calib_dir / 'calib_velo_to_cam.txt')
    if 'R' not in velo or 'T' not in velo or 'R_rect_00' not in cam:
        raise DataError(f'{calib_dir}: calibration lacks R/T (velo_to_cam) or R_rect_00')
    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3], velo_to_cam[:3, 3] = velo['R'].reshape(3, 3), velo['T']
    rect = np.eye(4)
    rect[:3, :3] = cam['R_rect_00'].reshape(3, 3)
    P = _projection(cam, f'P_rect_{camera[-2:]}', calib_dir / 'calib_cam_to_cam.txt')
    return P @ rect @ velo_to_cam


def project_velodyne(points: np.ndarray, P_velo_to_image: np.ndarray, height: int,
                     width: int) -> np.ndarray:
    """Sparse depth map HxW (metres, 0 = none) of Velodyne points [N,>=3], KITTI's convention.

    The convention of the Eigen split as Monodepth2 and the paper evaluate it: points in front
    of the sensor (x >= 0) are projected, their image coordinates rounded and shifted by one
    (the original MATLAB tools' 1-based pixels), those outside the image dropped, and where
    several land on one pixel the nearest is kept.
    """
    pts = points[points[:, 0] >= 0, :3].astype(np.float64)
    homogeneous = np.hstack([pts, np.ones((len(pts), 1))])
    projected = homogeneous @ P_velo_to_image.T
    z = projected[:, 2]
    front = z > 0
    u = np.round(projected[front, 0] / z[front]).astype(np.int64) - 1
    v = np.round(projected[front, 1] / z[front]).astype(np.int64) - 1
    z = z[front]
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    u, v, z = u[inside], v[inside], z[inside]
    depth = np.full(height * width, np.inf)
    np.minimum.at(depth, v * width + u, z)          # the nearest point wins a pixel
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(height, width).astype(np.float32)


def image_to_velodyne(depth: np.ndarray, P_velo_to_image: np.ndarray) -> np.ndarray:
    """Inverse of `project_velodyne` for the pixels of a sparse depth map: points [N,4].

    (For building test fixtures and checking the convention; reflectance is set to 0.)
    """
    v, u = np.nonzero(depth > 0)
    z = depth[v, u].astype(np.float64)
    rhs = np.stack([(u + 1) * z, (v + 1) * z, z], axis=1) - P_velo_to_image[:, 3]
    xyz = np.linalg.solve(P_velo_to_image[:, :3], rhs.T).T
    return np.hstack([xyz, np.zeros((len(xyz), 1))]).astype(np.float32)


def read_velodyne_bin(path: Path) -> np.ndarray:
    """A KITTI Velodyne scan: float32 (x, y, z, reflectance) rows."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise DataError(f'{path}: {data.size * 4} bytes is not a whole number of '
                        '(x, y, z, reflectance) float32 points')
    return data.reshape(-1, 4)


def read_groundtruth_png(path: Path) -> np.ndarray:
    """KITTI depth-benchmark ground truth: uint16 PNG, depth x 256, 0 = none -> metres."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise DataError(f'{path}: not a 16-bit single-channel PNG (KITTI annotated depth)')
    return raw.astype(np.float32) / 256.0


class KittiRawClip(FileClip):
    """One KITTI raw drive (<root>/<date>/<date>_drive_NNNN_sync) seen by a rectified camera.

    Intrinsics come from P_rect_0X in the date folder's calib_cam_to_cam.txt. Ground truth,
    where present: projected LiDAR depth in proj_depth/velodyne/<camera>/<frame>.npz (key
    `velodyne_depth`, metres, 0 = no return) and poses in <camera>/poses.txt.
    """

    def __init__(self, drive_dir: str | Path, camera: str = 'image_02',
                 depth_source: str = 'auto', targets: set[int] | None = None) -> None:
        self.drive = Path(drive_dir)
        if not self.drive.is_dir():
            raise DataError(f'KITTI raw drive folder not found: {self.drive}')
        if depth_source not in DEPTH_SOURCES:
            raise DataError(f'depth source must be one of {", ".join(DEPTH_SOURCES)}, got '
                            f'{depth_source!r}')
        self.camera, self.depth_source = camera, depth_source
        self._P_velo: np.ndarray | None = None
        self.files = list_images(self.drive / camera / 'data')
        self.name = f'{self.drive.name}/{camera}'
        calib_path = self.drive.parent / 'calib_cam_to_cam.txt'
        P = _projection(read_calib_file(calib_path), f'P_rect_{camera[-2:]}', calib_path)
        width, height = image_size(self.files[0])
        self._intrinsics = Intrinsics.from_matrix(P, width, height)
        self._poses = self._frame_poses(self.drive / camera / 'poses.txt')
        numbers_ = [int(f.stem) for f in self.files]
        self._targets = None if targets is None else {i for i, n in enumerate(numbers_)
                                                      if n in targets}

    def index_of(self, frame: int) -> int | None:
        """The clip index of KITTI frame number `frame`, or None if the drive lacks it."""
        for i, f in enumerate(self.files):
            if int(f.stem) == frame:
                return i
        return None

    def is_target(self, index: int) -> bool:
        return self._targets is None or index in self._targets

    def _frame_poses(self, path: Path) -> list[np.ndarray] | None:
        """Poses of the frames present; the file may cover the whole drive (indexed by name)."""
        poses = read_poses(path, None)
        if poses is None:
            return None
        numbers = [int(f.stem) for f in self.files]
        if max(numbers) >= len(poses):
            raise DataError(f'{path}: {len(poses)} poses, but frame {max(numbers):010d} exists')
        return [poses[n] for n in numbers]

    def depth(self, index: int) -> np.ndarray | None:
        """Ground truth of frame `index`, from the first of these that exists.

        velodyne (also what 'auto' takes first): proj_depth/velodyne/<camera>/<frame>.npz
        (pre-projected, key velodyne_depth), else velodyne_points/data/<frame>.bin projected
        with the drive's calibration (`project_velodyne`). groundtruth (the KITTI depth
        benchmark's annotated maps, and 'auto''s last resort):
        proj_depth/groundtruth/<camera>/<frame>.png.
        """
        stem = self.files[index].stem
        if self.depth_source in ('auto', 'velodyne'):
            npz = self.drive / 'proj_depth' / 'velodyne' / self.camera / f'{stem}.npz'
            if npz.is_file():
                try:
                    with np.load(npz) as data:
                        return data['velodyne_depth'].astype(np.float32)
                except (OSError, KeyError, ValueError) as err:
                    raise DataError(f'cannot read LiDAR depth {npz}: {err}') from None
            scan = self.drive / 'velodyne_points' / 'data' / f'{stem}.bin'
            if scan.is_file():
                if self._P_velo is None:
                    self._P_velo = velodyne_to_image(self.drive.parent, self.camera)
                K = self._intrinsics
                return project_velodyne(read_velodyne_bin(scan), self._P_velo, K.height,
                                        K.width)
        if self.depth_source in ('auto', 'groundtruth'):
            png = self.drive / 'proj_depth' / 'groundtruth' / self.camera / f'{stem}.png'
            if png.is_file():
                return read_groundtruth_png(png)
        return None



class KittiOdometryClip(FileClip):
    """A KITTI odometry sequence: calib.txt (P0..P3), poses.txt and one image folder."""

    def __init__(self, sequence_dir: str | Path, image_dir: str = '') -> None:
        self.root = Path(sequence_dir)
        if not self.root.is_dir():
            raise DataError(f'KITTI odometry sequence folder not found: {self.root}')
        if not image_dir:
            found = [d for d in ODOMETRY_IMAGE_DIRS if (self.root / d).is_dir()]
            if not found:
                raise DataError(f'{self.root}: none of {", ".join(ODOMETRY_IMAGE_DIRS)} found')
            image_dir = found[0]
        if image_dir not in ODOMETRY_IMAGE_DIRS:
            raise DataError(f'{self.root}: unknown image folder {image_dir!r}')
        self.files = list_images(self.root / image_dir)
        self.name = f'{self.root.name}/{image_dir}'
        calib_path = self.root / 'calib.txt'
        P = _projection(read_calib_file(calib_path), ODOMETRY_IMAGE_DIRS[image_dir], calib_path)
        width, height = image_size(self.files[0])
        self._intrinsics = Intrinsics.from_matrix(P, width, height)
        self._poses = read_poses(self.root / 'poses.txt', len(self.files))


def read_split(path: Path) -> list[tuple[str, int, str, int]]:
    """(date/drive, frame number, camera folder, line number) per line of a KITTI split file.

    Lines are `<date>/<drive> <frame> l|r` (l = image_02, r = image_03), as in the Eigen and
    Eigen-Zhou splits; blank lines are skipped. A malformed line is an error naming it.
    """
    if not path.is_file():
        raise DataError(f'split file not found: {path}')
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or parts[2] not in ('l', 'r') or not parts[1].isdigit():
            raise DataError(f'{path}:{number}: expected "<date>/<drive> <frame> l|r", got '
                            f'{line.strip()!r}')
        entries.append((parts[0], int(parts[1]), 'image_02' if parts[2] == 'l' else 'image_03',
                        number))
    if not entries:
        raise DataError(f'{path}: no frames listed')
    return entries


def split_clips(root: Path, split: Path, depth_source: str = 'velodyne') -> list[KittiRawClip]:
    """One clip per (drive, camera) of a split, its listed frames as targets.

    Raises:
        DataError: naming the split line of a drive or frame the download lacks.
    """
    entries = read_split(split)
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for drive, frame, camera, number in entries:
        groups.setdefault((drive, camera), []).append((frame, number))
    clips = []
    for (drive, camera), frames in groups.items():
        folder = root / drive
        if not folder.is_dir():
            raise DataError(f'{split}:{frames[0][1]}: drive {drive} not found under {root}')
        try:
            clip = KittiRawClip(folder, camera, depth_source, {f for f, _ in frames})
        except DataError as err:
            raise DataError(f'{split}:{frames[0][1]}: {err}') from None
        for frame, number in frames:
            if clip.index_of(frame) is None:
                raise DataError(f'{split}:{number}: frame {frame:010d} not found in '
                                f'{folder / camera / "data"}')
        clips.append(clip)
    return clips



EARTH_RADIUS_M = 6378137.0


def oxts_poses(drive_dir: str | Path, camera: str = 'image_02') -> list[np.ndarray]:
    """Camera-to-world pose (4x4, metres) of every frame, from the drive's GPS/IMU (oxts/).

    The IMU's pose from latitude, longitude, altitude and roll, pitch, yaw (KITTI's devkit
    convention: a Mercator projection scaled at the first frame's latitude), carried to the
    rectified camera through the date folder's calib_imu_to_velo, calib_velo_to_cam and
    R_rect_00 / P_rect_0X. Some tiny sets ship a `poses.txt` that is not KITTI's (drive 0023's
    turns 0.93-1.28 degrees a frame where the car turns 0.1-0.2): take the motion from here.
    """
    drive = Path(drive_dir)
    files = sorted((drive / 'oxts' / 'data').glob('*.txt'))
    if not files:
        raise DataError(f'no oxts/data/*.txt in {drive}')
    calib = drive.parent
    imu = read_calib_file(calib / 'calib_imu_to_velo.txt')
    velo = read_calib_file(calib / 'calib_velo_to_cam.txt')
    cam = read_calib_file(calib / 'calib_cam_to_cam.txt')
    velo_imu, cam0_velo, rect = np.eye(4), np.eye(4), np.eye(4)
    velo_imu[:3, :3], velo_imu[:3, 3] = imu['R'].reshape(3, 3), imu['T']
    cam0_velo[:3, :3], cam0_velo[:3, 3] = velo['R'].reshape(3, 3), velo['T']
    rect[:3, :3] = cam['R_rect_00'].reshape(3, 3)
    P = _projection(cam, f'P_rect_{camera[-2:]}', calib / 'calib_cam_to_cam.txt')
    camx_rect = np.eye(4)
    camx_rect[:3, 3] = np.linalg.solve(P[:, :3], P[:, 3])     # the camera's offset from cam 0
    cam_imu = camx_rect @ rect @ cam0_velo @ velo_imu
    imu_cam = np.linalg.inv(cam_imu)
    rows = [np.loadtxt(f) for f in files]
    scale = np.cos(np.radians(rows[0][0]))
    poses = []
    for lat, lon, alt, roll, pitch, yaw in (r[:6] for r in rows):
        cr, sr, cp, sp, cy, sy = (np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch),
                                  np.cos(yaw), np.sin(yaw))
        Rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
        Ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
        Rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
        world_imu = np.eye(4)
        world_imu[:3, :3] = Rz @ Ry @ Rx
        world_imu[:3, 3] = (scale * EARTH_RADIUS_M * np.radians(lon),
                            scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90 + lat) / 2)),
                            alt)
        poses.append(world_imu @ imu_cam)
    return poses
