"""What a training step's outputs say about the run's health, and when it has collapsed.

Self-supervised depth has degenerate minima that a falling loss does not reveal: a flat map (one
depth everywhere, which a pure rotation warps as well as any), a level softmax saturated at one
end of the disparity range (its gradient vanishes), a pose whose translation shrinks to zero
(depth then receives no gradient at all). These statistics are logged per epoch so a collapse
shows where it starts; `collapse_reason` turns an epoch row into a one-line verdict.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from svde_ros.model.depth_net import DepthPrediction
from svde_ros.model.quantization import normalized_log_disparity

# A depth map whose log disparity varies by less than this (std over the image) is flat: a real
# scene spans at least a factor of 3 in depth (std of log disparity > 0.3); measured, collapsed
# runs sit at 0.00-0.03 (docs/results/README.md).
FLAT_LOG_STD = 0.05
# Pixels whose log disparity lies in this top share of the range sit against disp_max: a near
# surface there cannot come nearer, however near it is.
NEAR_END = 0.05
# A level softmax this peaked on its most likely level carries almost no gradient to the others.
SATURATED_PROB = 0.99


@torch.no_grad()
def step_stats(pred: DepthPrediction, poses: list[torch.Tensor], disp_min: float,
               disp_max: float) -> dict[str, float]:
    """Detached health statistics of one step's finest-scale prediction and poses.

    Returns:
        disp_pos: mean log disparity as a position in the range (0 = disp_min, far; 1 near).
        near_end: share of pixels in the top NEAR_END of the range (clipped near surfaces).
        level_span: share of the log range between a pixel's nearest and farthest level
            (AQUANet squeezing every level to one end gives a flat map too).
        log_disp_std: per-image std of log disparity, averaged (0 = a flat map).
        entropy: level-softmax entropy over log N (1 = uniform, 0 = one level).
        saturated: share of pixels whose most likely level holds > SATURATED_PROB.
        logit_range: mean over pixels of (max - min) logit.
        trans: mean |t| of the poses used for warping (network gauge); rot_deg: mean angle.
    """
    logits = pred.logits[0].float()
    probs = torch.softmax(logits, dim=1)
    disp = pred.disp(0).float().clamp(min=1e-12)
    log_disp = torch.log(disp)
    position = normalized_log_disparity(disp, disp_min, disp_max)
    entropy = -(probs * torch.log(probs.clamp(min=1e-12))).sum(dim=1) / math.log(
        probs.shape[1])
    levels = normalized_log_disparity(pred.levels[0].float().clamp(min=1e-12), disp_min,
                                      disp_max)
    span = levels[:, -1] - levels[:, 0]
    T = torch.stack(poses).float()                           # [J,B,4,4]
    trace = T[..., 0, 0] + T[..., 1, 1] + T[..., 2, 2]
    angle = torch.rad2deg(torch.acos(((trace - 1) / 2).clamp(-1.0, 1.0)))
    return {
        'disp_pos': float(position.mean()),
        'near_end': float((position > 1 - NEAR_END).float().mean()),
        'level_span': float(span.mean()),
        'log_disp_std': float(log_disp.flatten(1).std(dim=1).mean()),
        'entropy': float(entropy.mean()),
        'saturated': float((probs.amax(dim=1) > SATURATED_PROB).float().mean()),
        'logit_range': float((logits.amax(dim=1) - logits.amin(dim=1)).mean()),
        'trans': float(T[..., :3, 3].norm(dim=-1).mean()),
        'rot_deg': float(angle.mean()),
    }


def collapse_reason(row: dict[str, Any]) -> str | None:
    """Why an epoch row (means of step_stats, eval metrics) shows a collapse, or None.

    A collapse is a flat map (log-disparity std below FLAT_LOG_STD) or, where ground truth is
    scored, AbsRel no better than a constant depth map.
    """
    flat = row.get('log_disp_std')
    if flat is not None and flat < FLAT_LOG_STD:
        return (f'flat depth map (log-disparity std {flat:.3f} < {FLAT_LOG_STD}; level '
                f'saturation {row.get("saturated", float("nan")):.0%}, mean |t| '
                f'{row.get("trans", float("nan")):.2g})')
    ours, constant = row.get('eval_abs_rel'), row.get('const_abs_rel')
    if ours is not None and constant is not None and ours >= constant:
        return f'AbsRel {ours:.3f} no better than a constant depth map ({constant:.3f})'
    return None
