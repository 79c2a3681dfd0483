"""Image-folder and video-file sources, with intrinsics from a camera YAML."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from svde_ros.camera_model import CalibrationError, CameraModel, camera_model, load_camera_yaml
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


def load_camera(path: str | Path, where: str,
                size: tuple[int, int] | None = None) -> CameraModel:
    """The camera model of frames of `size` (width, height) from a camera YAML.

    The model undistorts when the YAML has a non-zero D. Without `size`, the frames are as
    large as the YAML says. A YAML describing the same camera at another resolution is
    rescaled (D is in normalised coordinates and does not change). Up to MAX_ASPECT_CHANGE of
    aspect is accepted (codecs round sizes to even pixels; KITTI is often resized 1242x375 ->
    640x192); more means a crop or another camera, which scaling cannot fix.
    """
    try:
        calibration = load_camera_yaml(path)
    except CalibrationError as err:
        raise DataError(str(err)) from None
    width, height = size or (calibration.width, calibration.height)
    if (calibration.width, calibration.height) != (width, height):
        aspect = calibration.width / calibration.height
        if abs(width / height - aspect) / aspect > MAX_ASPECT_CHANGE:
            raise DataError(f'{where}: frames are {width}x{height} but the intrinsics describe '
                            f'{calibration.width}x{calibration.height} (another aspect ratio)')
        calibration = calibration.resized(width, height)
    try:
        model = camera_model(calibration)
    except ValueError as err:
        raise DataError(f'{path}: {err}') from None
    if model.maps is not None:
        LOG.info('%s: undistorting with %s D=%s', where, model.distortion_model,
                 np.round(calibration.d, 4).tolist())
    return model


class FolderClip(FileClip):
    """Frames in a folder, in name order, from one camera; undistorted when the YAML has a D."""

    def __init__(self, folder: str | Path, intrinsics_path: str | Path,
                 poses_path: str | Path | None = None) -> None:
        self.folder = Path(folder)
        self.files = list_images(self.folder)
        self.name = self.folder.name
        width, height = image_size(self.files[0])
        self.camera = load_camera(intrinsics_path, str(self.folder), (width, height))
        self._intrinsics = self.camera.intrinsics
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
        return self.camera.undistort(image)


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
        return self.camera.undistort(depth, cv2.INTER_NEAREST)


def depth_frame_clips(root: Path, depth_scale: float) -> list[Clip]:
    """One single-frame RgbdClip per sub-folder of `root` (DepthFramesSource's layout)."""
    if not root.is_dir():
        raise DataError(f'depth frames folder not found: {root}')
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(f'{root}: no frame folders (NAME/image, NAME/depth, NAME/camera.yaml)')
    clips: list[Clip] = []
    for folder in folders:
        camera = folder / 'camera.yaml'
        if not camera.is_file():
            raise DataError(f'{folder}: camera.yaml missing')
        clips.append(RgbdClip(folder / 'image', folder / 'depth', camera, depth_scale))
        clips[-1].name = folder.name
    return clips


class VideoClip(Clip):
    """Frames of a video file, decoded (and undistorted) once into memory, every `stride`-th."""

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
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        camera = load_camera(intrinsics_path, str(path), size)
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        frames: list[np.ndarray] = []
        with tqdm(total=total, desc=f'decoding {path.name}', unit='frame') as bar:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if index % stride == 0:
                    frames.append(camera.undistort(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
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
        self._intrinsics = camera.intrinsics

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        return self.frames[index]

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics
