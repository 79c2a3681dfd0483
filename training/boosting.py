"""Boosting: pseudo-labels for the pixels stage 2 masks out (our reading of arXiv 2205.08851).

In stage 2 moving objects get no photometric signal, so their depth is whatever the network
generalises to. Boosting supervises those pixels with the network's own prediction made more
robust: the crop is run again enlarged by several factors r and mirrored, each prediction is
brought back to the crop's gauge by the 1/s rule (enlarging by r makes the scene look r times
nearer, so disparity is divided by r) and the variants are fused by a per-pixel median. No
gradient flows through the pseudo-label.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from svde_ros.model import DepthNet
from svde_ros.model.depth_net import OUTPUT_STRIDE


def mirror_positions(pos: torch.Tensor) -> torch.Tensor:
    """Positional channels [B,2,h,w] of the mirrored crop: columns reversed and u negated."""
    flipped = pos.flip(-1)
    return torch.cat([-flipped[:, :1], flipped[:, 1:]], dim=1)


@torch.no_grad()
def pseudo_disparity(net: DepthNet, image: torch.Tensor, pos: torch.Tensor, cam: torch.Tensor,
                     scales: tuple[float, ...], flip: bool) -> torch.Tensor:
    """Fused disparity [B,1,h,w] of `net` over enlargements and mirroring (no gradient).

    Args:
        net: the depth network being trained (its train/eval mode is kept).
        image: [B,3,h,w] network input crop.
        pos: [B,2,h,w] its positional channels.
        cam: [B,2] camera channels (unchanged by resizing: they describe the original camera).
        scales: enlargement factors; each is rounded so the input stays a multiple of the stride.
        flip: also run each enlargement mirrored.
    """
    h, w = image.shape[-2:]
    variants = []
    for r in scales:
        size = (max(OUTPUT_STRIDE, round(h * r / OUTPUT_STRIDE) * OUTPUT_STRIDE),
                max(OUTPUT_STRIDE, round(w * r / OUTPUT_STRIDE) * OUTPUT_STRIDE))
        grown = F.interpolate(image, size=size, mode='bilinear', align_corners=False) \
            if size != (h, w) else image
        grown_pos = F.interpolate(pos, size=size, mode='bilinear', align_corners=False) \
            if size != (h, w) else pos
        for mirrored in ((False, True) if flip else (False,)):
            x = grown.flip(-1) if mirrored else grown
            p = mirror_positions(grown_pos) if mirrored else grown_pos
            disp = net(x, p, cam, num_outputs=1).disp(0).float()
            if mirrored:
                disp = disp.flip(-1)
            disp = F.interpolate(disp, size=(h, w), mode='bilinear', align_corners=False)
            variants.append(disp / (size[1] / w))
    return torch.stack(variants).median(dim=0).values


def boost_loss(disp: torch.Tensor, pseudo: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |log disp - log pseudo| over masked pixels (0 when the batch has none)."""
    weights = mask.to(disp.dtype)
    diff = (torch.log(disp.float().clamp(min=1e-7)) - torch.log(pseudo.clamp(min=1e-7))).abs()
    return (diff * weights).sum() / weights.sum().clamp(min=1.0)
