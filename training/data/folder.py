"""Image-folder and video-file sources, with intrinsics from a camera YAML."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from svde_ros.geometry import Intrinsics
from svde_training.data.clip import (
    Clip,
    DataError,
    FileClip,
    image_size,
    list_images,
    read_poses,
    read_rgb,
)

LOG = logging.getLogger(__name__)
MAX_ASPECT_CHANGE = 0.03


def load_intrinsics_yaml(path: str | Path) -> Intrinsics:
    """Read intrinsics from a ROS camera_info YAML or a plain fx/fy/cx/cy/width/height YAML.

    The ROS form is what `camera_calibration` writes (image_width, image_height,
    camera_matrix.data); the plain form is `{fx, fy, cx, cy, width, height}`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f'intrinsics file not found: {path}')
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DataError(f'{path}: not valid YAML: {err}') from None
    if not isinstance(data, dict):
        raise DataError(f'{path}: expected a mapping of intrinsics, got {type(data).__name__}')
    try:
        if 'camera_matrix' in data:
            K = np.asarray(data['camera_matrix']['data'], dtype=np.float64).reshape(3, 3)
            return Intrinsics.from_matrix(K, int(data['image_width']), int(data['image_height']))
        return Intrinsics(float(data['fx']), float(data['fy']), float(data['cx']),
                          float(data['cy']), int(data['width']), int(data['height']))
    except KeyError as err:
        raise DataError(f'{path}: missing key {err.args[0]!r}; give either fx, fy, cx, cy, '
                        'width, height or a ROS camera_info YAML') from None
    except (TypeError, ValueError) as err:
        raise DataError(f'{path}: malformed intrinsics: {err}') from None


def _fit(intrinsics: Intrinsics, width: int, height: int, where: str) -> Intrinsics:
    """Intrinsics at the frame size, rescaled if the YAML describes the same camera resized.

    Up to MAX_ASPECT_CHANGE is accepted (codecs round sizes to even pixels; KITTI is often
    resized 1242x375 -> 640x192); more means a crop or another camera, which scaling cannot fix.
    """
    if (intrinsics.width, intrinsics.height) == (width, height):
        return intrinsics
    aspect = intrinsics.width / intrinsics.height
    if abs(width / height - aspect) / aspect > MAX_ASPECT_CHANGE:
        raise DataError(f'{where}: frames are {width}x{height} but the intrinsics describe '
                        f'{intrinsics.width}x{intrinsics.height} (another aspect ratio)')
    return intrinsics.resized(width, height)


class FolderClip(FileClip):
    """Frames in a folder, in name order, from one camera."""

    def __init__(self, folder: str | Path, intrinsics_path: str | Path,
                 poses_path: str | Path | None = None) -> None:
        self.folder = Path(folder)
        self.files = list_images(self.folder)
        self.name = self.folder.name
        width, height = image_size(self.files[0])
        self._intrinsics = _fit(load_intrinsics_yaml(intrinsics_path), width, height,
                                str(self.folder))
        self._poses = None
        if poses_path:
            self._poses = read_poses(Path(poses_path), None)
            if self._poses is None:
                raise DataError(f'poses file not found: {poses_path}')
            if len(self._poses) < len(self.files):
                raise DataError(f'{poses_path}: {len(self._poses)} poses for '
                                f'{len(self.files)} frames')

    def image(self, index: int) -> np.ndarray:
        image = read_rgb(self.files[index])
        if image.shape[:2] != (self._intrinsics.height, self._intrinsics.width):
            raise DataError(f'{self.files[index]} is {image.shape[1]}x{image.shape[0]}, the '
                            f'folder\'s first frame is {self._intrinsics.width}x'
                            f'{self._intrinsics.height}')
        return image


class RgbdClip(FolderClip):
    """An RGB-D folder pair: colour frames plus uint16 depth PNGs with the same file stems.

    Depth is value / depth_scale metres (1000 per metre for most RGB-D cameras); 0 and 65535
    mark pixels without a measurement and become 0 (unknown).
    """

    def __init__(self, folder: str | Path, depth_folder: str | Path,
                 intrinsics_path: str | Path, depth_scale: float = 1000.0) -> None:
        super().__init__(folder, intrinsics_path)
        if depth_scale <= 0:
            raise DataError(f'{folder}: depth_scale must be positive, got {depth_scale}')
        self.depth_folder, self.depth_scale = Path(depth_folder), depth_scale
        if not self.depth_folder.is_dir():
            raise DataError(f'depth folder not found: {self.depth_folder}')

    def depth(self, index: int) -> np.ndarray:
        path = self.depth_folder / f'{self.files[index].stem}.png'
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise DataError(f'depth image missing or unreadable: {path}')
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise DataError(f'{path}: depth must be a single-channel uint16 PNG, got '
                            f'{raw.dtype} with shape {raw.shape}')
        K = self._intrinsics
        if raw.shape != (K.height, K.width):
            raise DataError(f'{path}: depth is {raw.shape[1]}x{raw.shape[0]} but the colour '
                            f'frame {self.files[index].name} is {K.width}x{K.height}')
        depth = raw.astype(np.float32) / self.depth_scale
        depth[(raw == 0) | (raw == 65535)] = 0.0
        return depth


class VideoClip(Clip):
    """Frames of a video file, decoded once into memory (every `stride`-th frame)."""

    def __init__(self, path: str | Path, intrinsics_path: str | Path, stride: int = 1,
                 max_frames: int = 0) -> None:
        path = Path(path)
        if not path.is_file():
            raise DataError(f'video file not found: {path}')
        if stride < 1:
            raise DataError(f'{path}: stride must be >= 1, got {stride}')
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise DataError(f'cannot open video {path} (unsupported codec or not a video)')
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        frames: list[np.ndarray] = []
        with tqdm(total=total, desc=f'decoding {path.name}', unit='frame') as bar:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index % stride == 0:
                    frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
                index += 1
                bar.update()
                if max_frames and len(frames) >= max_frames:
                    break
        capture.release()
        if len(frames) < 2:
            raise DataError(f'{path}: decoded {len(frames)} frame(s); a clip needs at least 2')
        LOG.info('%s: %d frames decoded (stride %d)', path.name, len(frames), stride)
        self.frames = frames
        self.name = path.stem
        h, w = frames[0].shape[:2]
        self._intrinsics = _fit(load_intrinsics_yaml(intrinsics_path), w, h, str(path))

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        return self.frames[index]

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics
