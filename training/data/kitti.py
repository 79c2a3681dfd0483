"""KITTI raw (drive folders) and KITTI odometry (sequence folders) sources."""
from __future__ import annotations

from pathlib import Path

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


class KittiRawClip(FileClip):
    """One KITTI raw drive (<root>/<date>/<date>_drive_NNNN_sync) seen by a rectified camera.

    Intrinsics come from P_rect_0X in the date folder's calib_cam_to_cam.txt. Ground truth,
    where present: projected LiDAR depth in proj_depth/velodyne/<camera>/<frame>.npz (key
    `velodyne_depth`, metres, 0 = no return) and poses in <camera>/poses.txt.
    """

    def __init__(self, drive_dir: str | Path, camera: str = 'image_02') -> None:
        self.drive = Path(drive_dir)
        if not self.drive.is_dir():
            raise DataError(f'KITTI raw drive folder not found: {self.drive}')
        self.camera = camera
        self.files = list_images(self.drive / camera / 'data')
        self.name = f'{self.drive.name}/{camera}'
        calib_path = self.drive.parent / 'calib_cam_to_cam.txt'
        P = _projection(read_calib_file(calib_path), f'P_rect_{camera[-2:]}', calib_path)
        width, height = image_size(self.files[0])
        self._intrinsics = Intrinsics.from_matrix(P, width, height)
        self._poses = self._frame_poses(self.drive / camera / 'poses.txt')

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
        path = self.drive / 'proj_depth' / 'velodyne' / self.camera / (
            self.files[index].stem + '.npz')
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                return data['velodyne_depth'].astype(np.float32)
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f'cannot read LiDAR depth {path}: {err}') from None



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
