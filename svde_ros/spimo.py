"""SPIMO: moving-object evidence from shifted positional information (arXiv 2205.08851, Sec. 4).

A depth network trained with positional channels learns where things usually are. Static scene
depth is explained by the image and stays stable when the positional channels are shifted;
independently moving objects (whose depth the network had to guess from position) do not. The
network is run once per shift as one batch; the per-pixel dispersion Var(depth) / Mean(depth)^2
over the passes marks moving pixels where it exceeds a threshold. The same function serves stage-2
training (offline masks), export (the ONNX graph's dispersion output) and the node.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from svde_ros.geometry import positional_grid_torch
from svde_ros.model.depth_net import OUTPUT_STRIDE, DepthNet


@dataclass(frozen=True)
class SpimoConfig:
    """SPIMO settings.

    Attributes:
        delta: shift of u and v (positional units; [-1, 1] spans the frame); passes at -delta
            and +delta run beside the unshifted one.
        scale: resolution factor the passes run at (rounded to the network's stride).
        threshold: dispersion above which a pixel is moving.
        axes: which positional channels the shift moves: 'uv' (both), 'u' or 'v'.
    """

    delta: float = 0.1
    scale: float = 0.5
    threshold: float = 0.02
    axes: str = 'uv'

    def __post_init__(self) -> None:
        if self.axes not in ('uv', 'u', 'v'):
            raise ValueError(f'spimo.axes must be uv, u or v, got {self.axes!r}')

    def shift(self) -> tuple[float, float]:
        """The (u, v) shift of the +delta pass."""
        return (self.delta if 'u' in self.axes else 0.0, self.delta if 'v' in self.axes else 0.0)


def reduced_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The pass resolution: `scale` times the input, rounded to the network's stride."""
    h = max(OUTPUT_STRIDE, int(round(height * scale / OUTPUT_STRIDE)) * OUTPUT_STRIDE)
    w = max(OUTPUT_STRIDE, int(round(width * scale / OUTPUT_STRIDE)) * OUTPUT_STRIDE)
    return h, w


def spimo_dispersion(net: DepthNet, image: torch.Tensor, cam: torch.Tensor,
                     config: SpimoConfig) -> torch.Tensor:
    """Per-pixel depth dispersion under shifted positional channels.

    Args:
        net: a trained DepthNet.
        image: [B,3,H,W] full frames in [0, 1].
        cam: [B,4] camera channels (fx/W0, fy/H0, cx/W0, cy/H0).
        config: shift, resolution and threshold.

    Returns:
        [B,1,H,W] Var(depth) / Mean(depth)^2 over the unshifted, -delta and +delta passes.
    """
    B, H, W = (int(n) for n in (image.shape[0], image.shape[2], image.shape[3]))  # static
    h, w = reduced_size(H, W, config.scale)
    small = F.interpolate(image, size=(h, w), mode='bilinear', align_corners=False)
    pos = positional_grid_torch(B, h, w, image.device, image.dtype)
    shift = torch.tensor(config.shift(), dtype=pos.dtype, device=pos.device).reshape(1, 2, 1, 1)
    passes = torch.cat([pos, pos - shift, pos + shift])
    disp = net.predict_disparity(small.repeat(3, 1, 1, 1), passes, cam.repeat(3, 1))
    depth = (1.0 / disp).reshape(3, B, 1, h, w)
    mean = depth.mean(dim=0)
    dispersion = ((depth - mean) ** 2).mean(dim=0) / mean.clamp(min=1e-6) ** 2
    return F.interpolate(dispersion, size=(H, W), mode='bilinear', align_corners=False)


def moving_mask(dispersion: torch.Tensor, threshold: float) -> torch.Tensor:
    """Bool mask of moving pixels from a dispersion map of any shape."""
    return dispersion > threshold
