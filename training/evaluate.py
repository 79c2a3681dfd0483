"""Evaluate a depth network against ground-truth depth (Eigen metrics, median scaling)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from svde_ros.geometry import positional_grid_torch
from svde_ros.model import DepthNet
from svde_training.config import EvalConfig
from svde_training.data.dataset import EvalFrame
from svde_training.metrics import evaluate_depth, mean_metrics


@torch.no_grad()
def predict_depth(net: DepthNet, image: torch.Tensor, cam: torch.Tensor,
                  size: tuple[int, int]) -> torch.Tensor:
    """Full-frame depth (network gauge) [H,W] at `size`, from image [3,h,w] and cam [2]."""
    _, h, w = image.shape
    pos = positional_grid_torch(1, h, w, image.device)
    disp = net(image[None], pos, cam[None]).disp(0)
    disp = F.interpolate(disp, size=size, mode='bilinear', align_corners=False)
    return 1.0 / disp[0, 0]


def evaluate_frames(net: DepthNet, frames: list[EvalFrame], config: EvalConfig,
                    device: torch.device, metric_scale: float | None = None,
                    ) -> dict[str, float]:
    """Mean median-scaled metrics over frames (the network keeps its train/eval mode).

    With `metric_scale` (metres per network unit), the unscaled metric errors are added with
    the prefix `metric_`, and `median_scale_ratio` reports how far the metric scale is from
    the per-image median scale (1.0 = exact).
    """
    was_training = net.training
    net.eval()
    rows, metric_rows, ratios = [], [], []
    for frame in frames:
        depth = predict_depth(net, frame.image.to(device), frame.cam.to(device),
                              frame.depth.shape).cpu().numpy()
        result = evaluate_depth(depth, frame.depth, config.min_depth, config.max_depth)
        if result is None:
            continue
        rows.append(result[0])
        if metric_scale is not None:
            metric = evaluate_depth(depth * metric_scale, frame.depth, config.min_depth,
                                    config.max_depth, median_scaling=False)
            assert metric is not None
            metric_rows.append(metric[0])
            ratios.append(result[1] / metric_scale)
    net.train(was_training)
    metrics = mean_metrics(rows)
    if metric_rows:
        metrics.update({f'metric_{k}': v for k, v in mean_metrics(metric_rows).items()})
        metrics['median_scale_ratio'] = float(np.median(ratios))
    return metrics


def constant_depth_baseline(frames: list[EvalFrame], config: EvalConfig) -> dict[str, float]:
    """Metrics of a constant depth map (median-scaled): the floor any trained model must beat."""
    rows = []
    for frame in frames:
        result = evaluate_depth(np.ones_like(frame.depth), frame.depth, config.min_depth,
                                config.max_depth)
        if result is not None:
            rows.append(result[0])
    return mean_metrics(rows)
