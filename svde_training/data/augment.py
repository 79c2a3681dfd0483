"""Random resize + crop, flip and colour jitter, keeping intrinsics and positions consistent.

A sample is cut as in arXiv 2205.08851 Sec. 3.2: the base frame (the network's full-frame input
size) is enlarged by s in [scale_min, scale_max], optionally mirrored, and a crop is taken.
Positional channels are those of the enlarged frame at the crop's location; K is resized, flipped
and cropped with the same numbers; s travels with the sample for the 1/s translation rule
(see svde_ros.geometry).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svde_ros.geometry import Intrinsics, positional_grid


@dataclass(frozen=True)
class CropParams:
    """Where a crop comes from: the enlarged frame's size, the crop box, and the mirror flag."""

    full_width: int
    full_height: int
    x0: int
    y0: int
    width: int
    height: int
    flip: bool
    base_width: int

    @property
    def scale(self) -> float:
        """Enlargement s of the base frame (horizontal; vertical differs only by rounding)."""
        return self.full_width / self.base_width


def sample_crop(rng: np.random.Generator, base_width: int, base_height: int, crop_width: int,
                crop_height: int, scale_min: float, scale_max: float,
                flip_prob: float) -> CropParams:
    """Draw an enlargement, a crop position and a flip."""
    s = rng.uniform(scale_min, scale_max)
    full_w = max(crop_width, int(round(base_width * s)))
    full_h = max(crop_height, int(round(base_height * s)))
    return CropParams(full_w, full_h, int(rng.integers(0, full_w - crop_width + 1)),
                      int(rng.integers(0, full_h - crop_height + 1)), crop_width, crop_height,
                      bool(rng.random() < flip_prob), base_width)


def identity_crop(base_width: int, base_height: int) -> CropParams:
    """The whole base frame, unflipped: what inference sees."""
    return CropParams(base_width, base_height, 0, 0, base_width, base_height, False, base_width)


def crop_image(image: np.ndarray, params: CropParams) -> np.ndarray:
    """Enlarge, mirror and crop an HxWxC image at base size."""
    full = cv2.resize(image, (params.full_width, params.full_height),
                      interpolation=cv2.INTER_LINEAR)
    if params.flip:
        full = full[:, ::-1]
    return np.ascontiguousarray(full[params.y0:params.y0 + params.height,
                                     params.x0:params.x0 + params.width])


def crop_intrinsics(intrinsics: Intrinsics, params: CropParams) -> Intrinsics:
    """Intrinsics of the crop, from those of the base frame."""
    full = intrinsics.resized(params.full_width, params.full_height)
    if params.flip:
        full = full.flipped()
    return full.cropped(params.x0, params.y0, params.width, params.height)


def crop_positions(params: CropParams) -> np.ndarray:
    """[2,h,w] positional channels of the crop within the enlarged (and mirrored) frame."""
    return positional_grid(params.full_height, params.full_width, params.y0, params.x0,
                           params.height, params.width)


@dataclass(frozen=True)
class JitterParams:
    """One colour perturbation, applied identically to every frame of a sample."""

    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


def sample_jitter(rng: np.random.Generator, brightness: float, contrast: float,
                  saturation: float, hue: float) -> JitterParams:
    """Draw factors around 1 (and a hue rotation in turns) within the given spreads."""
    return JitterParams(rng.uniform(1 - brightness, 1 + brightness),
                        rng.uniform(1 - contrast, 1 + contrast),
                        rng.uniform(1 - saturation, 1 + saturation), rng.uniform(-hue, hue))


def apply_jitter(image: np.ndarray, params: JitterParams) -> np.ndarray:
    """Perturb an HxWx3 float RGB image in [0, 1]; returns a new array in [0, 1]."""
    out = image * params.brightness
    grey = out.mean(axis=2, keepdims=True)
    out = (out - grey.mean()) * params.contrast + grey.mean()
    grey = out.mean(axis=2, keepdims=True)
    out = (out - grey) * params.saturation + grey
    if params.hue:
        # Rotate chroma in YIQ space by the hue angle.
        yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        a = 2 * np.pi * params.hue
        rot = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        out = out @ (np.linalg.inv(yiq) @ rot @ yiq).T
    return np.clip(out, 0.0, 1.0).astype(np.float32)
