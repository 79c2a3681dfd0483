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
from svde_ros.model.depth_net import DepthPrediction
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


@dataclass
class ScaleInputs:
    """One pyramid level of a batch and its prediction.

    target: [B,3,h,w] frame t; neighbours: [B,3,h,w] each; probs, levels: [B,N,h,w];
    disp: [B,1,h,w]; K: [B,3,3] at h x w; poses: T_nbr_t [B,4,4] per neighbour (crop gauge).
    """

    target: torch.Tensor
    neighbours: list[torch.Tensor]
    probs: torch.Tensor
    levels: torch.Tensor
    disp: torch.Tensor
    K: torch.Tensor
    poses: list[torch.Tensor]


@dataclass
class PhotometricResult:
    """Photometric term of one scale plus what previews show (first neighbour)."""

    loss: torch.Tensor
    synth: torch.Tensor
    error: torch.Tensor
    valid: torch.Tensor


class ViewSynthesis(Protocol):
    """A strategy computing the photometric term of one scale."""

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult: ...


class ForwardWarpSynthesis:
    """Warp frame t into each neighbour over all levels; compare where something landed."""

    def __init__(self, config: LossConfig, disp_min: float, disp_max: float) -> None:
        self.config = config
        self.disp_range = (disp_min, disp_max)

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult:
        unit = normalized_log_disparity(inputs.levels, *self.disp_range)
        terms, first = [], None
        for neighbour, T_nbr_t in zip(inputs.neighbours, inputs.poses):
            synth: Synthesis = forward_warp(
                inputs.target, inputs.probs, inputs.levels, unit, inputs.K, T_nbr_t,
                self.config.occlusion_sharpness, self.config.landed_min_mass, self.config.top_k)
            valid = erode(synth.landed) if self.config.ssim_weight > 0 else synth.landed
            error = photometric_error(synth.image, neighbour, self.config.ssim_weight)
            terms.append(masked_mean(error, valid))
            if first is None:
                first = (synth.image, error, valid)
        assert first is not None
        return PhotometricResult(torch.stack(terms).mean(), *first)


class BackwardWarpSynthesis:
    """Monodepth2 baseline: reconstruct frame t from each neighbour, per-pixel minimum error."""

    def __init__(self, config: LossConfig) -> None:
        self.config = config

    def __call__(self, inputs: ScaleInputs) -> PhotometricResult:
        errors, synths, insides = [], [], []
        for neighbour, T_nbr_t in zip(inputs.neighbours, inputs.poses):
            synth = backward_warp(neighbour, inputs.disp, inputs.K, T_nbr_t)
            errors.append(photometric_error(synth.image, inputs.target, self.config.ssim_weight))
            synths.append(synth.image)
            insides.append(synth.landed)
        error = torch.cat(errors, dim=1).min(dim=1, keepdim=True).values
        valid = torch.stack(insides).any(dim=0)
        return PhotometricResult(masked_mean(error, valid), synths[0], error, valid)


def build_view_synthesis(config: LossConfig, disp_min: float, disp_max: float) -> ViewSynthesis:
    """Pick the warping strategy named in the config (the ablation switch)."""
    if config.warping == 'forward':
        return ForwardWarpSynthesis(config, disp_min, disp_max)
    return BackwardWarpSynthesis(config)


def self_supervised_loss(images: torch.Tensor, K: torch.Tensor, pred: DepthPrediction,
                         poses: list[torch.Tensor], synthesis: ViewSynthesis,
                         smoothness_weight: float,
                         ) -> tuple[dict[str, torch.Tensor], PhotometricResult]:
    """The stage-1 objective: multi-scale view synthesis + edge-aware smoothness.

    Args:
        images: [B,F,3,H,W] frame t then its neighbours, in [0, 1].
        K: [B,3,3] pixels at H x W.
        pred: the depth network's prediction for frame t.
        poses: T_nbr_t [B,4,4] per neighbour, already in the crop's gauge (1/s rule).
        synthesis: the warping strategy.
        smoothness_weight: weight of the smoothness term at full resolution.

    Returns:
        Named loss terms (summed by the caller) and the finest scale's synthesis for previews.
    """
    B, F_, _, H, W = images.shape
    photo, smooth, finest = [], [], None
    for s in range(len(pred.logits)):
        h, w = pred.logits[s].shape[-2:]
        frames = images if s == 0 else F.interpolate(
            images.flatten(0, 1), size=(h, w), mode='area').unflatten(0, (B, F_))
        disp = pred.disp(s)
        result = synthesis(ScaleInputs(
            target=frames[:, 0], neighbours=[frames[:, j] for j in range(1, F_)],
            probs=pred.probs(s), levels=pred.levels[s], disp=disp,
            K=resize_intrinsics_matrix(K, w / W, h / H), poses=poses))
        photo.append(result.loss)
        smooth.append(edge_aware_smoothness(disp, frames[:, 0]) / 2 ** s)
        finest = finest or result
    assert finest is not None
    terms = {'photo': torch.stack(photo).mean(),
             'smooth': smoothness_weight * torch.stack(smooth).mean()}
    return terms, finest
