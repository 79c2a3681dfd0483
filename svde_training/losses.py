"""Self-supervised loss terms and the two view-synthesis strategies (forward | backward warping).

Each term is a function of tensors; the strategy is picked once from the config
(`build_view_synthesis`), never by branching inside a loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from svde_ros.geometry import resize_intrinsics_matrix
from svde_ros.model.depth_net import DepthPrediction, upsample_log
from svde_ros.model.quantization import normalized_log_disparity
from svde_training.config import LossConfig
from svde_training.warping import Synthesis, backward_warp, forward_warp


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [B,C,H,W] over pixels where mask [B,1,H,W] (bool) holds."""
    weights = mask.to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp(min=1.0)


def dssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 over 3x3 windows, channel mean -> [B,1,H,W]."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    x, y = F.pad(x, (1, 1, 1, 1), mode='reflect'), F.pad(y, (1, 1, 1, 1), mode='reflect')
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x ** 2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)) / (
        (mu_x ** 2 + mu_y ** 2 + c1) * (sigma_x + sigma_y + c2))
    return ((1 - ssim) / 2).clamp(0, 1).mean(dim=1, keepdim=True)


def photometric_error(synth: torch.Tensor, target: torch.Tensor,
                      ssim_weight: float) -> torch.Tensor:
    """Per-pixel SSIM + L1 mix [B,1,H,W]; synth, target [B,3,H,W] in [0, 1]."""
    l1 = (synth - target).abs().mean(dim=1, keepdim=True)
    if ssim_weight == 0:
        return l1
    return ssim_weight * dssim(synth, target) + (1 - ssim_weight) * l1


def erode(mask: torch.Tensor) -> torch.Tensor:
    """3x3 erosion of a [B,1,H,W] bool mask: keeps pixels whose SSIM window is fully valid."""
    return -F.max_pool2d(-mask.float(), 3, 1, 1) > 0.5


def edge_aware_smoothness(disp: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Gradients of mean-normalised disparity [B,1,H,W], down-weighted at image edges."""
    disp = disp / disp.mean(dim=(2, 3), keepdim=True).clamp(min=1e-7)
    dx = (disp[..., :, 1:] - disp[..., :, :-1]).abs()
    dy = (disp[..., 1:, :] - disp[..., :-1, :]).abs()
    ix = (image[..., :, 1:] - image[..., :, :-1]).abs().mean(dim=1, keepdim=True)
    iy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=1, keepdim=True)
    return (dx * torch.exp(-ix)).mean() + (dy * torch.exp(-iy)).mean()


def gauge_term(disp: torch.Tensor, disp_min: float, disp_max: float,
               target: float = 0.5) -> torch.Tensor:
    """(mean normalised log disparity - target)^2 over the batch: pins the free scale.

    View synthesis cannot see the scale shared by depth and pose translation (scaling both
    moves no pixel), but the levels span a fixed [disp_min, disp_max], and PoseNet's small
    initial translations drag depth toward the near end, where near surfaces clip. This term
    holds the batch's mean at `target` of the range; the photometric terms are unchanged by
    it. Off by default: measured, it did not improve depth (docs/results/README.md).
    """
    position = normalized_log_disparity(disp.float().clamp(min=1e-12), disp_min, disp_max)
    return (position.mean() - target) ** 2


@dataclass
class ScaleInputs:
    """One pyramid level of a batch and its prediction.

    target: [B,3,h,w] frame t; neighbours: [B,3,h,w] each; probs, levels: [B,N,h,w];
    disp: [B,1,h,w]; K: [B,3,3] at h x w; poses: T_nbr_t [B,4,4] per neighbour (crop gauge);
    masks: [B,1,h,w] moving-object masks (1 = moving) of t then each neighbour, or None.
    """

    target: torch.Tensor
    neighbours: list[torch.Tensor]
    probs: torch.Tensor
    levels: torch.Tensor
    disp: torch.Tensor
    K: torch.Tensor
    poses: list[torch.Tensor]
    masks: list[torch.Tensor] | None = None


@dataclass
class PhotometricResult:
    """Photometric term of one scale plus what previews show (first neighbour).

    valid marks the pixels that entered the loss; masked is the fraction of otherwise usable
    pixels left out as moving (by SPIMO masks or auto-masking).
    """

    loss: torch.Tensor
    synth: torch.Tensor
    error: torch.Tensor
    valid: torch.Tensor
    masked: torch.Tensor


# A warped moving-object mask covers a pixel when at least this share of what landed there
# came from moving pixels.
MOVING_SHARE = 0.1


def _excluded_share(usable: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """Fraction of usable pixels that masking removed (for logs), as a 0-d tensor."""
    return 1.0 - kept.float().sum() / usable.float().sum().clamp(min=1.0)


class ViewSynthesis(Protocol):
    """A strategy computing the photometric term of one scale."""

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult: ...


class ForwardWarpSynthesis:
    """Warp frame t into each neighbour over all levels; compare where something landed.

    The comparison lives in the neighbour's image, so moving-object masks leave out the
    neighbour's own moving pixels and those that t's moving pixels land on (t's mask is warped
    with the colours). Auto-masking keeps pixels where the warp beats the unwarped frame t.
    """

    def __init__(self, config: LossConfig, disp_min: float, disp_max: float,
                 auto_mask: bool = False) -> None:
        self.config, self.auto_mask = config, auto_mask
        self.disp_range = (disp_min, disp_max)

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult:
        unit = normalized_log_disparity(inputs.levels, *self.disp_range)
        source = inputs.target if inputs.masks is None else torch.cat(
            [inputs.target, inputs.masks[0]], dim=1)
        terms, usable, kept, first = [], [], [], None
        for j, (neighbour, T_nbr_t) in enumerate(zip(inputs.neighbours, inputs.poses)):
            synth: Synthesis = forward_warp(
                source, inputs.probs, inputs.levels, unit, inputs.K, T_nbr_t,
                self.config.occlusion_sharpness, self.config.landed_min_mass, self.config.top_k)
            image = synth.image[:, :3]
            valid = erode(synth.landed) if self.config.ssim_weight > 0 else synth.landed
            error = photometric_error(image, neighbour, self.config.ssim_weight)
            identity = photometric_error(inputs.target, neighbour,
                                         self.config.ssim_weight).detach()
            keep = valid
            counted = torch.ones_like(valid)
            if inputs.masks is not None:
                moving = (synth.image[:, 3:] > MOVING_SHARE) | (inputs.masks[j + 1] > 0.5)
                keep = keep & ~moving
                counted = ~(inputs.masks[j + 1] > 0.5)
            if self.auto_mask:
                keep = keep & (error.detach() < identity)
            term = masked_mean(error, keep)
            if self.config.hole_weight:
                # A hole costs what a static camera would have cost there. Without this,
                # leaving pixels unexplained is free, and a network can scatter every pixel
                # out of view (all disparities at the near end) for a low loss on the few
                # that still land: measured, stage 1 fell into that from step ~300 on the
                # synthetic world and never left it (README).
                holes = (1.0 - synth.coverage) * identity
                term = term + self.config.hole_weight * masked_mean(holes, counted)
            terms.append(term)
            usable.append(valid)
            kept.append(keep)
            if first is None:
                first = (image, error, keep)
        assert first is not None
        return PhotometricResult(torch.stack(terms).mean(), *first,
                                 _excluded_share(torch.stack(usable), torch.stack(kept)))


class BackwardWarpSynthesis:
    """Monodepth2 baseline: reconstruct frame t from each neighbour, per-pixel minimum error.

    Here the comparison lives in frame t: masks leave out t's moving pixels and, per neighbour,
    pixels whose reprojection samples the neighbour's moving pixels. Auto-masking is
    Monodepth2's: keep pixels whose best reprojection beats the best unwarped neighbour.
    """

    def __init__(self, config: LossConfig, auto_mask: bool = False) -> None:
        self.config, self.auto_mask = config, auto_mask

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult:
        errors, synths, landed, insides, identities = [], [], [], [], []
        for j, (neighbour, T_nbr_t) in enumerate(zip(inputs.neighbours, inputs.poses)):
            source = neighbour if inputs.masks is None else torch.cat(
                [neighbour, inputs.masks[j + 1]], dim=1)
            synth = backward_warp(source, inputs.disp, inputs.K, T_nbr_t)
            error = photometric_error(synth.image[:, :3], inputs.target, self.config.ssim_weight)
            inside = synth.landed
            landed.append(synth.landed)
            if inputs.masks is not None:
                moving = synth.image[:, 3:] > MOVING_SHARE
                error = torch.where(moving, torch.full_like(error, 1e3), error)
                inside = inside & ~moving
            errors.append(error)
            synths.append(synth.image[:, :3])
            insides.append(inside)
            if self.auto_mask:
                identities.append(photometric_error(neighbour, inputs.target,
                                                    self.config.ssim_weight))
        error = torch.cat(errors, dim=1).min(dim=1, keepdim=True).values
        usable = torch.stack(landed).any(dim=0)
        keep = torch.stack(insides).any(dim=0)
        if inputs.masks is not None:
            keep = keep & ~(inputs.masks[0] > 0.5)
        if self.auto_mask:
            identity = torch.cat(identities, dim=1).min(dim=1, keepdim=True).values
            keep = keep & (error.detach() < identity)
        return PhotometricResult(masked_mean(error, keep), synths[0], error, keep,
                                 _excluded_share(usable, keep))


def build_view_synthesis(config: LossConfig, disp_min: float, disp_max: float,
                         auto_mask: bool = False) -> ViewSynthesis:
    """Pick the warping strategy named in the config (the ablation switch)."""
    if config.warping == 'forward':
        return ForwardWarpSynthesis(config, disp_min, disp_max, auto_mask)
    return BackwardWarpSynthesis(config, auto_mask)


def self_supervised_loss(images: torch.Tensor, K: torch.Tensor, pred: DepthPrediction,
                         poses: list[torch.Tensor], synthesis: ViewSynthesis,
                         smoothness_weight: float, masks: torch.Tensor | None = None,
                         gauge: tuple[float, float, float, float] | None = None,
                         full_resolution: bool = False,
                         ) -> tuple[dict[str, torch.Tensor], PhotometricResult]:
    """The stage-1 objective: multi-scale view synthesis + edge-aware smoothness.

    Args:
        images: [B,F,3,H,W] frame t then its neighbours, in [0, 1].
        K: [B,3,3] pixels at H x W.
        pred: the depth network's prediction for frame t.
        poses: T_nbr_t [B,4,4] per neighbour, already in the crop's gauge (1/s rule).
        synthesis: the warping strategy.
        smoothness_weight: weight of the smoothness term at full resolution.
        masks: [B,F,1,H,W] moving-object masks (1 = moving) of the same frames (stage 2), or
            None; at coarser scales a pixel is moving when any of its area is.
        gauge: (weight, target, disp_min, disp_max) of the gauge term on the finest scale, or
            None.
        full_resolution: compare every scale at H x W, its prediction upsampled (Monodepth2),
            instead of against frames downsampled to the scale.

    Returns:
        Named loss terms (summed by the caller) and the finest scale's synthesis for previews.
    """
    B, F_, _, H, W = images.shape
    photo, smooth, finest = [], [], None
    for s in range(len(pred.logits)):
        h, w = pred.logits[s].shape[-2:]
        frames = images if (h, w) == (H, W) else F.interpolate(
            images.flatten(0, 1), size=(h, w), mode='area').unflatten(0, (B, F_))
        disp, logits, levels = pred.disp(s), pred.logits[s], pred.levels[s]
        smooth.append(edge_aware_smoothness(disp, frames[:, 0]) / 2 ** s)
        if full_resolution and (h, w) != (H, W):
            # Monodepth2: every scale's disparity is brought to the input size and judged
            # against the full-resolution frames, so coarse scales cannot hide in blurred
            # images (their smoothness term stays at their own size).
            logits = F.interpolate(logits, size=(H, W), mode='bilinear', align_corners=False)
            levels = upsample_log(levels, (H, W))
            disp = upsample_log(disp, (H, W))
            frames, (h, w) = images, (H, W)
        moving = None
        if masks is not None:
            scaled = masks if (h, w) == (H, W) else (F.interpolate(
                masks.flatten(0, 1), size=(h, w), mode='area') > 0).float().unflatten(0, (B, F_))
            moving = [scaled[:, j] for j in range(F_)]
        result = synthesis(ScaleInputs(
            target=frames[:, 0], neighbours=[frames[:, j] for j in range(1, F_)],
            probs=torch.softmax(logits.float(), dim=1), levels=levels, disp=disp,
            K=resize_intrinsics_matrix(K, w / W, h / H), poses=poses, masks=moving))
        photo.append(result.loss)
        finest = finest or result
    assert finest is not None
    terms = {'photo': torch.stack(photo).mean(),
             'smooth': smoothness_weight * torch.stack(smooth).mean()}
    if gauge is not None and gauge[0] > 0:
        weight, target, disp_min, disp_max = gauge
        terms['gauge'] = weight * gauge_term(pred.disp(0), disp_min, disp_max, target)
    return terms, finest
