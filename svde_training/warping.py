"""View synthesis: forward warping over disparity levels, and the backward-warping baseline.

Forward warping (arXiv 2205.08851, Sec. 3.3): every source pixel is projected into the
destination view once per quantization level and splatted bilinearly. Contributions are
composited with a softmax over their scores, log p_i(x) + beta * u(x), where p_i(x) is the
level's probability at source pixel x and u(x) the pixel's expected normalised log disparity
(detached). Between source pixels landing on one destination pixel, the nearer surface dominates
(soft z-buffer); within one source pixel, levels compete by probability alone, so an unlikely near
hypothesis never hides a likely far one. Pixels that receive (almost) nothing are holes; they are
reported in `landed` and must be excluded from the loss, never filled.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from svde_ros.geometry import backproject, pixel_grid, project, transform_points

EPS = 1e-7


@dataclass
class Synthesis:
    """A synthesised view.

    image: [B,C,H,W] (C as warped, zero where nothing landed); landed: [B,1,H,W] bool;
    mass: [B,1,H,W] expected number of source pixels that landed on each destination pixel;
    coverage: [B,1,H,W] min(1, mass / landed_min_mass) with gradient (1 = landed, 0 = hole).
    """

    image: torch.Tensor
    landed: torch.Tensor
    mass: torch.Tensor
    coverage: torch.Tensor


def _splat(values: torch.Tensor, weights: torch.Tensor, xy: torch.Tensor, valid: torch.Tensor,
           batch: int, height: int, width: int) -> torch.Tensor:
    """Bilinear splat of weighted per-point values into a [C,B,H,W] accumulator.

    values: [C,B*P] channel-first (so no per-corner layout copies); weights, valid: [B*P];
    xy: [2,B*P] pixel coordinates of points whose batch index is `point // P`.
    """
    C, BP = values.shape
    x, y = xy[0], xy[1]
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = x - x0, y - y0
    x0i, y0i = x0.long(), y0.long()
    batch_offset = torch.arange(batch, device=values.device).repeat_interleave(
        BP // batch) * (height * width)
    out = values.new_zeros(C, batch * height * width)
    for dx, wx in ((0, 1 - fx), (1, fx)):
        xc = x0i + dx
        in_x = (xc >= 0) & (xc < width)
        for dy, wy in ((0, 1 - fy), (1, fy)):
            yc = y0i + dy
            inside = valid & in_x & (yc >= 0) & (yc < height)
            w = torch.where(inside, wx * wy * weights, torch.zeros_like(weights))
            index = torch.where(inside, yc * width + xc + batch_offset,
                                torch.zeros_like(xc))
            out = out.index_add(1, index, values * w)
    return out.reshape(C, batch, height, width)


def forward_warp(image: torch.Tensor, probs: torch.Tensor, levels: torch.Tensor,
                 levels_unit: torch.Tensor, K: torch.Tensor, T_dst_src: torch.Tensor,
                 occlusion_sharpness: float = 20.0, landed_min_mass: float = 0.25,
                 top_k: int = 0) -> Synthesis:
    """Synthesise the destination view by forward-warping the source frame over all levels.

    Args:
        image: [B,C,H,W] source values: RGB in [0, 1], optionally with extra channels (a
            moving-object mask) that are composited exactly like colour.
        probs: [B,N,H,W] softmax over levels of the source depth prediction.
        levels: [B,N,H,W] disparity of each level (network gauge, 1/depth).
        levels_unit: [B,N,H,W] the same levels mapped to [0, 1] (0 far, 1 near); their
            probability-weighted mean orders surfaces for occlusion.
        K: [B,3,3] pixels at H x W (source and destination share the camera).
        T_dst_src: [B,4,4] source camera -> destination camera.
        occlusion_sharpness: beta, how strongly nearer contributions win a destination pixel.
        landed_min_mass: destination pixels receiving less expected mass are holes.
        top_k: splat only the k most probable levels per pixel (0 = all N).

    Returns:
        Synthesis of the destination view.
    """
    B, N, H, W = probs.shape
    C = image.shape[1]
    with torch.autocast(device_type=image.device.type, enabled=False):
        image, probs, levels = image.float(), probs.float(), levels.float()
        nearness = (probs * levels_unit.float()).sum(dim=1, keepdim=True).detach()  # [B,1,H,W]
        if 0 < top_k < N:
            probs, index = probs.topk(top_k, dim=1)
            levels = levels.gather(1, index)
            N = top_k
        rays = torch.linalg.inv(K.float()) @ pixel_grid(H, W, image.device)     # [B,3,HW]
        depth = 1.0 / levels.reshape(B, N, H * W).clamp(min=EPS)               # [B,N,HW]
        points = (rays.unsqueeze(2) * depth.unsqueeze(1)).reshape(B, 3, N * H * W)
        xy, z = project(transform_points(T_dst_src.float(), points), K.float())
        valid = ((z[:, 0] > EPS) & torch.isfinite(xy).all(dim=1)).reshape(-1)
        # Soft z-buffer factor, exp(beta * (u - 1)) <= 1 so it cannot overflow.
        zbuffer = torch.exp(occlusion_sharpness * (nearness - 1.0)).reshape(B, 1, H * W)
        # Channels: values * zbuffer (C), zbuffer (1), 1 (1); all splatted with weight p, so
        # channel C normalises the composite and channel C + 1 is the expected landed mass.
        per_pixel = torch.cat([image.reshape(B, C, H * W) * zbuffer, zbuffer,
                               torch.ones_like(zbuffer)], dim=1)               # [B,C+2,HW]
        values = per_pixel.permute(1, 0, 2).unsqueeze(2).expand(C + 2, B, N, H * W)
        acc = _splat(values.reshape(C + 2, B * N * H * W), probs.reshape(-1),
                     xy.permute(1, 0, 2).reshape(2, -1), valid, B, H, W).permute(1, 0, 2, 3)
        mass = acc[:, C + 1:].detach()
        norm = acc[:, C:C + 1]
        landed = (mass >= landed_min_mass) & (norm > 1e-12)
        synth = torch.where(landed, acc[:, :C] / norm.clamp(min=1e-12),
                            torch.zeros_like(acc[:, :C]))
        coverage = (acc[:, C + 1:] / landed_min_mass).clamp(max=1.0)
    return Synthesis(image=synth, landed=landed, mass=mass, coverage=coverage)


def backward_warp(image_src: torch.Tensor, disp_dst: torch.Tensor, K: torch.Tensor,
                  T_src_dst: torch.Tensor) -> Synthesis:
    """Monodepth2-style baseline: sample the source image at the reprojection of each dst pixel.

    Args:
        image_src: [B,3,H,W] the image to sample from.
        disp_dst: [B,1,H,W] disparity of the view being reconstructed.
        K: [B,3,3] pixels at H x W.
        T_src_dst: [B,4,4] dst camera -> src camera.

    Returns:
        Synthesis of the dst view; `landed` marks pixels whose reprojection falls inside src.
    """
    B, _, H, W = image_src.shape
    points = transform_points(T_src_dst, backproject(1.0 / disp_dst.clamp(min=EPS), K))
    xy, z = project(points, K)
    grid = torch.stack([2 * (xy[:, 0] + 0.5) / W - 1, 2 * (xy[:, 1] + 0.5) / H - 1], dim=-1)
    grid = grid.reshape(B, H, W, 2)
    synth = F.grid_sample(image_src, grid.to(image_src.dtype), mode='bilinear',
                          padding_mode='border', align_corners=False)
    inside = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    inside = inside & (z.reshape(B, 1, H, W) > EPS)
    return Synthesis(image=synth, landed=inside, mass=inside.float(), coverage=inside.float())
