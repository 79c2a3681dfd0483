"""The one way to run a trained DepthNet on a full frame (evaluation, scale, tools)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from svde_ros.geometry import positional_grid_torch
from svde_ros.model.depth_net import DepthNet


@torch.no_grad()
def predict_depth(net: DepthNet, image: torch.Tensor, cam: torch.Tensor,
                  size: tuple[int, int]) -> torch.Tensor:
    """Full-frame depth (network gauge) [H,W] at `size`, from image [3,h,w] and cam [2].

    The network sees the whole frame (positional channels of the full frame) at the size the
    image comes in; its disparity is resized to `size` (a ground-truth map's, say).
    """
    _, h, w = image.shape
    pos = positional_grid_torch(1, h, w, image.device)
    disp = net.predict_disparity(image[None], pos, cam[None])
    if tuple(disp.shape[-2:]) != tuple(size):
        disp = F.interpolate(disp, size=size, mode='bilinear', align_corners=False)
    return 1.0 / disp[0, 0]
