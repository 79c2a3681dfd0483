"""The one interface every data source implements: a Clip of consecutive frames."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from svde_ros.geometry import Intrinsics

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff')


class DataError(ValueError):
    """A data source is missing, empty or malformed; the message names the file."""


class Clip:
    """Consecutive frames of one camera.

    Subclasses implement `__len__`, `image` and `intrinsics`; ground truth is optional and
    returns None where a source has none.
    """

    name: str = 'clip'

    def __len__(self) -> int:
        raise NotImplementedError

    def image(self, index: int) -> np.ndarray:
        """Frame `index` as HxWx3 uint8 RGB."""
        raise NotImplementedError

    def intrinsics(self, index: int) -> Intrinsics:
        """Intrinsics at the resolution `image(index)` returns."""
        raise NotImplementedError

    def depth(self, index: int) -> np.ndarray | None:
        """Ground-truth depth HxW float32 metres (0 = unknown), or None."""
        return None

    def pose(self, index: int) -> np.ndarray | None:
        """Camera-to-world 4x4 pose (metres), or None."""
        return None

    def moving_mask(self, index: int) -> np.ndarray | None:
        """HxW bool mask of independently moving objects, or None."""
        return None

    def is_target(self, index: int) -> bool:
        """Whether frame `index` is a training target or an evaluation frame.

        A split restricts this; neighbours are read whatever the split says (as in Monodepth2).
        """
        return True


class FileClip(Clip):
    """Frames stored as image files, seen by one camera, with optional camera-to-world poses.

    Subclasses set `files`, `_intrinsics` and `_poses` (None when the source has none).
    """

    files: list[Path]
    _intrinsics: Intrinsics
    _poses: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int) -> np.ndarray:
        return read_rgb(self.files[index])

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics

    def pose(self, index: int) -> np.ndarray | None:
        return None if self._poses is None else self._poses[index]


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB (grey and 16-bit inputs converted)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise DataError(f'cannot read image {path} (missing, empty or not an image)')
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name; errors if none."""
    if not folder.is_dir():
        raise DataError(f'image folder not found: {folder}')
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {folder}')
    return files


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file."""
    h, w = read_rgb(path).shape[:2]
    return w, h


def numbers(line: str, path: Path, number: int) -> np.ndarray:
    """The floats of one text line; DataError naming file and line otherwise."""
    try:
        return np.array([float(v) for v in line.split()])
    except ValueError:
        raise DataError(f'{path}:{number}: expected numbers, got {line[:60]!r}') from None


def read_poses(path: Path, count: int | None) -> list[np.ndarray] | None:
    """Camera-to-world 4x4 poses from 12-value rows, or None when the file is absent.

    With `count`, the file must hold exactly that many poses.
    """
    if not path.is_file():
        return None
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    poses = []
    for number, line in enumerate(rows, start=1):
        values = numbers(line, path, number)
        if values.size != 12:
            raise DataError(f'{path}:{number}: a pose needs 12 values, got {values.size}')
        poses.append(np.vstack([values.reshape(3, 4), [0, 0, 0, 1]]))
    if count is not None and len(poses) != count:
        raise DataError(f'{path}: {len(poses)} poses for {count} frames')
    return poses


class ClipView(Clip):
    """Frames [start, stop) of a clip with `crop` (top, bottom, left, right) pixels cut off.

    K, depth and masks follow the crop, so a hood left out of the frames is left out of the
    geometry too; poses and the split pass through.
    """

    def __init__(self, clip: Clip, start: int, stop: int,
                 crop: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        self.clip, self.start, self.stop, self.crop = clip, start, stop, crop
        whole = (start, stop) == (0, len(clip))
        self.name = clip.name if whole else f'{clip.name}[{start}:{stop}]'
        K = clip.intrinsics(start)
        top, bottom, left, right = crop
        if min(crop) < 0 or top + bottom >= K.height or left + right >= K.width:
            raise DataError(f'{clip.name}: crop (top {top}, bottom {bottom}, left {left}, '
                            f'right {right}) leaves nothing of {K.width}x{K.height} frames')

    def __len__(self) -> int:
        return self.stop - self.start

    def _cut(self, array: np.ndarray) -> np.ndarray:
        top, bottom, left, right = self.crop
        h, w = array.shape[:2]
        return np.ascontiguousarray(array[top:h - bottom, left:w - right])

    def image(self, index: int) -> np.ndarray:
        return self._cut(self.clip.image(self.start + index))

    def intrinsics(self, index: int) -> Intrinsics:
        K = self.clip.intrinsics(self.start + index)
        top, bottom, left, right = self.crop
        return K.cropped(left, top, K.width - left - right, K.height - top - bottom)

    def depth(self, index: int) -> np.ndarray | None:
        depth = self.clip.depth(self.start + index)
        return None if depth is None else self._cut(depth)

    def pose(self, index: int) -> np.ndarray | None:
        return self.clip.pose(self.start + index)

    def moving_mask(self, index: int) -> np.ndarray | None:
        mask = self.clip.moving_mask(self.start + index)
        return None if mask is None else self._cut(mask)

    def is_target(self, index: int) -> bool:
        return self.clip.is_target(self.start + index)


def frame_clip(clip: Clip, crop: tuple[int, int, int, int], cuts: tuple[int, ...]) -> list[Clip]:
    """The shots of `clip` between `cuts` (frame indices that start a new shot), cropped.

    Shots shorter than two frames cannot pair and are left out.
    """
    bad = [c for c in cuts if not 0 < c < len(clip)]
    if bad:
        raise DataError(f'{clip.name}: cuts {bad} outside its frames 1..{len(clip) - 1}')
    if not any(crop) and not cuts:
        return [clip]
    bounds = [0, *sorted(set(cuts)), len(clip)]
    return [ClipView(clip, a, b, crop) for a, b in zip(bounds, bounds[1:]) if b - a >= 2]
