"""Boosting: pseudo-labels for the pixels stage 2 masks out (our reading of arXiv 2205.08851).

In stage 2 moving objects get no photometric signal, so their depth is whatever the network
generalises to. Boosting supervises those pixels with the network's own prediction made more
robust: the crop is run again enlarged by several factors r and mirrored, each prediction is
brought back to the crop's gauge by the 1/s rule (enlarging by r makes the scene look r times
nearer, so disparity is divided by r), the variants are fused by a per-pixel median, and the
result is aligned to the current prediction on the static pixels (see `align_to_static`). The
network that makes the label is a frozen copy taken at the start of each epoch (the trainer's
teacher), and no gradient flows through the label.
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


def enlarge(image: torch.Tensor, pos: torch.Tensor, r: float,
            ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """The crop and its positional channels enlarged by r (same factor on both axes).

    The network needs sides that are multiples of its stride, which an exact enlargement
    rarely has: the image is padded (replicating its border) and the positions continue their
    linear ramp into the padding. Returns the padded input and the (H, W) of the real content.
    """
    h, w = image.shape[-2:]
    H, W = max(1, round(h * r)), max(1, round(w * r))
    x = F.interpolate(image, size=(H, W), mode='bilinear', align_corners=False)
    Hp = -(-H // OUTPUT_STRIDE) * OUTPUT_STRIDE
    Wp = -(-W // OUTPUT_STRIDE) * OUTPUT_STRIDE
    x = F.pad(x, (0, Wp - W, 0, Hp - H), mode='replicate')
    # Positions are an affine ramp per axis; resample it at the enlarged pixel centres.
    u0, v0 = pos[:, 0, 0, 0], pos[:, 1, 0, 0]
    du = (pos[:, 0, 0, -1] - u0) / max(1, w - 1)
    dv = (pos[:, 1, -1, 0] - v0) / max(1, h - 1)
    cols = (torch.arange(Wp, device=pos.device, dtype=pos.dtype) + 0.5) * (w / W) - 0.5
    rows = (torch.arange(Hp, device=pos.device, dtype=pos.dtype) + 0.5) * (h / H) - 0.5
    u = (u0[:, None] + du[:, None] * cols[None]).reshape(-1, 1, 1, Wp).expand(-1, 1, Hp, Wp)
    v = (v0[:, None] + dv[:, None] * rows[None]).reshape(-1, 1, Hp, 1).expand(-1, 1, Hp, Wp)
    return x, torch.cat([u, v], dim=1), (H, W)


@torch.no_grad()
def pseudo_disparity(net: DepthNet, image: torch.Tensor, pos: torch.Tensor, cam: torch.Tensor,
                     scales: tuple[float, ...], flip: bool) -> torch.Tensor:
    """Fused disparity [B,1,h,w] of `net` over enlargements and mirroring (no gradient).

    Args:
        net: the teacher, in eval mode. In train mode BatchNorm would normalise each view by
            the statistics of its own enlarged, padded batch (and update its running
            statistics with them); measured (experiments/stage2_probe.py label) on an oracle
            stage-2 network, that put the label on moving pixels 3% farther than the
            prediction, against 0.3% nearer in eval mode.
        image: [B,3,h,w] network input crop.
        pos: [B,2,h,w] its positional channels.
        cam: [B,2] camera channels (unchanged by resizing: they describe the original camera).
        scales: enlargement factors (applied equally to both axes).
        flip: also run each enlargement mirrored.
    """
    views = [view for r in scales for view in _views(net, image, pos, cam, r, flip)]
    return torch.stack(views).median(dim=0).values


def _views(net: DepthNet, image: torch.Tensor, pos: torch.Tensor, cam: torch.Tensor,
           r: float, flip: bool) -> list[torch.Tensor]:
    """The crop's disparity seen enlarged by r (and mirrored), back in the crop's gauge."""
    h, w = image.shape[-2:]
    grown, grown_pos, (H, W) = enlarge(image, pos, r)
    views = []
    for mirrored in ((False, True) if flip else (False,)):
        # Mirror the real content only, so the padding stays on the same side.
        x, p = grown, grown_pos
        if mirrored:
            x = x.clone()
            x[..., :H, :W] = x[..., :H, :W].flip(-1)
            p = p.clone()
            p[..., :H, :W] = mirror_positions(p[..., :H, :W])
        disp = net.predict_disparity(x, p, cam).float()[..., :H, :W]
        if mirrored:
            disp = disp.flip(-1)
        disp = F.interpolate(disp, size=(h, w), mode='bilinear', align_corners=False)
        views.append(disp / (W / w))
    return views


def align_to_static(pseudo: torch.Tensor, disp: torch.Tensor,
                    moving: torch.Tensor) -> torch.Tensor:
    """The pseudo-label rescaled per image to agree with `disp` on the static pixels.

    Boosting should only tell the moving pixels how deep they are relative to the static scene.
    A network that does not (yet) follow the 1/s rule gives enlarged views another global
    scale (measured on a 320-step oracle network: the label of its 1x and 1.25x views came
    back at 0.82 of the prediction on static pixels, i.e. it ignored the enlargement; see
    experiments/stage2_probe.py), which would pull every masked pixel by that factor. The
    per-image median ratio on static pixels removes it.
    """
    ratios = []
    for d, p, m in zip(disp.detach().float(), pseudo, moving):
        static = ~m
        ratio = (d[static] / p[static].clamp(min=1e-7)).median() if static.any() \
            else d.new_tensor(1.0)
        ratios.append(ratio)
    return pseudo * torch.stack(ratios).reshape(-1, 1, 1, 1)


def boost_loss(disp: torch.Tensor, pseudo: torch.Tensor, mask: torch.Tensor,
               over_all_pixels: bool = False) -> torch.Tensor:
    """Boosting's error: |log disp - log pseudo| over the masked pixels.

    Summed and divided by the masked pixels' count (0 when the batch has none) or, with
    `over_all_pixels`, by the number of all pixels.
    """
    weights = mask.to(disp.dtype)
    diff = (torch.log(disp.float().clamp(min=1e-7)) - torch.log(pseudo.clamp(min=1e-7))).abs()
    count = float(weights.numel()) if over_all_pixels else weights.sum().clamp(min=1.0)
    return (diff * weights).sum() / count
