"""False-colour images of depth and disparity, for previews, the node and humans."""
from __future__ import annotations

import cv2
import numpy as np


def colorize(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map an HxW array to HxWx3 uint8 RGB with the magma colormap.

    `low` maps to dark, `high` to bright; NaN and inf render black.
    """
    span = max(high - low, 1e-12)
    finite = np.isfinite(values)
    unit = np.where(finite, (np.nan_to_num(values) - low) / span, 0.0)
    index = (np.clip(unit, 0.0, 1.0) * 255).astype(np.uint8)
    rgb = cv2.applyColorMap(index, cv2.COLORMAP_MAGMA)[..., ::-1]
    rgb[~finite] = 0
    return np.ascontiguousarray(rgb)


def colorize_depth(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Near is bright, far is dark, logarithmic over the fixed range [min_depth, max_depth].

    A log scale gives a street scene (0.5 - 80 m) as much contrast at 20 m as at 2 m; linear
    inverse depth would crush everything beyond a few metres to black. NaN renders black.
    """
    with np.errstate(divide='ignore', invalid='ignore'):
        nearness = -np.log(depth)
    return colorize(nearness, -np.log(max_depth), -np.log(min_depth))
