"""The backend interface used by the node and the benchmarks.

A backend takes a camera frame (HxWx3 uint8 RGB, any size) and its intrinsics, and returns depth
at the network's input size together with the intrinsics at that size, so a consumer can publish
a matching camera_info and back-project points. Pre-processing is `svde_ros.preprocess`, shared
with training.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svde_ros.geometry import Intrinsics
from svde_ros.preprocess import resize_frame
from svde_ros.spimo import SpimoConfig


class BackendError(RuntimeError):
    """A backend cannot be created or run; the message names the file or the missing piece."""


@dataclass
class DepthResult:
    """One frame's output at the network's input size.

    Attributes:
        depth: HxW float32 metres, NaN where invalid.
        dispersion: HxW float32 SPIMO dispersion, or None without SPIMO.
        intrinsics: of the output size.
        image: HxWx3 uint8 RGB, the input resized to the output size (for coloured clouds).
    """

    depth: np.ndarray
    dispersion: np.ndarray | None
    intrinsics: Intrinsics
    image: np.ndarray


class Backend:
    """Runs the exported depth graph; subclasses implement `_run` and `close`.

    A backend with SPIMO holds two graphs over one network: depth + dispersion, and depth
    only. `infer(..., with_mask=False)` runs the second, so a frame whose mask nobody will
    see does not pay for the two shifted passes. `spimo` is the model's own SPIMO settings
    (from the checkpoint or the export sidecar), None without SPIMO.
    """

    name = 'backend'

    def __init__(self, input_height: int, input_width: int,
                 spimo: SpimoConfig | None) -> None:
        self.input_height, self.input_width, self.spimo = input_height, input_width, spimo

    @property
    def has_spimo(self) -> bool:
        """Whether the backend can produce a dispersion output."""
        return self.spimo is not None

    def infer(self, image: np.ndarray, intrinsics: Intrinsics,
              with_mask: bool = True) -> DepthResult:
        """Depth of one frame, and its dispersion when `with_mask` and the model has SPIMO."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'expected an HxWx3 uint8 RGB image, got {image.shape} '
                             f'{image.dtype}')
        small, K = resize_frame(image, intrinsics, self.input_width, self.input_height)
        nchw = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        depth, dispersion = self._run(nchw, K.matrix().astype(np.float32)[None],
                                      with_mask and self.has_spimo)
        depth = depth.reshape(self.input_height, self.input_width).astype(np.float32)
        depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
        if dispersion is not None:
            dispersion = dispersion.reshape(self.input_height, self.input_width)
        return DepthResult(depth, dispersion, K, small)

    def warm_up(self) -> None:
        """Run every graph once on a blank frame, before the first real one.

        A runtime's first run of a graph allocates and plans (onnxruntime, TensorRT contexts,
        oneDNN kernels): seconds in which a camera's frames would queue up and be dropped.
        """
        h, w = self.input_height, self.input_width
        blank = np.full((h, w, 3), 128, np.uint8)
        intrinsics = Intrinsics(float(w), float(w), (w - 1) / 2, (h - 1) / 2, w, h)
        for with_mask in (False, True)[:1 + self.has_spimo]:
            self.infer(blank, intrinsics, with_mask)

    def _run(self, image: np.ndarray, K: np.ndarray,
             with_mask: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Image [1,3,H,W] float32 in [0,1], K [1,3,3] float32 -> depth [1,1,H,W] (+ disp.).

        The dispersion [1,1,H,W] comes only when `with_mask` (asked only of a backend with
        SPIMO); otherwise None, and the depth-only graph runs.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Free the runtime's resources (GPU memory, sessions)."""
