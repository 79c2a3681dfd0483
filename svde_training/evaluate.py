"""Evaluate a depth network against ground truth, and moving-object masks against GT masks.

Depth: Eigen metrics with per-image median scaling (and unscaled when the model is metric),
optionally inside the Garg crop, split into static and moving-object pixels when the data has
moving-object masks (the median scale is always the whole image's). Masks: SPIMO, Monodepth2
auto-masking and no mask, scored by IoU/precision/recall at the network's input size.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from svde_ros.colorize import colorize
from svde_ros.files import atomic_write_bytes
from svde_ros.geometry import positional_grid_torch
from svde_ros.model import DepthNet
from svde_ros.model.checkpoint import depth_net_from_state, read_checkpoint
from svde_ros.model.pose_net import temporal_pose
from svde_ros.model.predict import predict_depth
from svde_ros.spimo import SpimoConfig, moving_mask, spimo_dispersion
from svde_training.config import EvalConfig, TrainConfig
from svde_training.data import DataError, build_clips
from svde_training.data.dataset import EvalFrame, eval_frames
from svde_training.losses import photometric_error
from svde_training.masks import resize_mask
from svde_training.metrics import (
    IMAGE_SHARE_NAMES,
    METRIC_NAMES,
    MaskScore,
    evaluate_depth,
    image_share,
    mean_metrics,
)
from svde_training.preview import write_png
from svde_training.scale import load_pose_net
from svde_training.warping import backward_warp

# Garg et al. 2016 crop of KITTI frames: rows, then columns, as fractions of the image size.
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)


def garg_mask(height: int, width: int) -> np.ndarray:
    """HxW bool mask of the Garg crop (the KITTI Eigen-split evaluation region)."""
    mask = np.zeros((height, width), bool)
    top, bottom, left, right = GARG_CROP
    mask[int(top * height):int(bottom * height), int(left * width):int(right * width)] = True
    return mask


def _region(frame: EvalFrame, config: EvalConfig) -> np.ndarray | None:
    return garg_mask(*frame.depth.shape) if config.garg_crop else None


def evaluate_frames(net: DepthNet, frames: list[EvalFrame], config: EvalConfig,
                    device: torch.device, metric_scale: float | None = None,
                    ) -> dict[str, float]:
    """Mean median-scaled metrics over frames (the network keeps its train/eval mode).

    With `metric_scale` (metres per network unit), the unscaled metric errors are added with
    the prefix `metric_`, and `median_scale_ratio` reports how far the metric scale is from
    the per-image median scale (1.0 = exact). Frames with moving-object masks add `static_`
    and `moving_` metrics, each with the whole image's median scale.
    """
    was_training = net.training
    net.eval()
    rows, metric_rows, ratios = [], [], []
    split: dict[str, list[dict[str, float]]] = {'static': [], 'moving': []}
    for frame in frames:
        depth = predict_depth(net, frame.image.to(device), frame.cam.to(device),
                              frame.depth.shape).cpu().numpy()
        region = _region(frame, config)
        result = evaluate_depth(depth, frame.depth, config.min_depth, config.max_depth,
                                mask=region)
        if result is None:
            continue
        share = image_share(depth, frame.depth, config.min_depth, config.max_depth, region)
        rows.append({**result[0], **(share or {})})
        if frame.moving is not None:
            for name, part in (('static', ~frame.moving), ('moving', frame.moving)):
                part = part if region is None else part & region
                scored = evaluate_depth(depth * result[1], frame.depth, config.min_depth,
                                        config.max_depth, median_scaling=False, mask=part)
                if scored is not None:
                    split[name].append(scored[0])
        if metric_scale is not None:
            metric = evaluate_depth(depth * metric_scale, frame.depth, config.min_depth,
                                    config.max_depth, median_scaling=False, mask=region)
            assert metric is not None
            metric_rows.append(metric[0])
            ratios.append(result[1] / metric_scale)
    net.train(was_training)
    metrics = mean_metrics(rows)
    for name, part_rows in split.items():
        metrics.update({f'{name}_{k}': v for k, v in mean_metrics(part_rows).items()})
    if metric_rows:
        metrics.update({f'metric_{k}': v for k, v in mean_metrics(metric_rows).items()})
        metrics['median_scale_ratio'] = float(np.median(ratios))
    return metrics


def constant_depth_baseline(frames: list[EvalFrame], config: EvalConfig) -> dict[str, float]:
    """Metrics of a constant depth map (median-scaled): the floor any trained model must beat."""
    rows = []
    for frame in frames:
        result = evaluate_depth(np.ones_like(frame.depth), frame.depth, config.min_depth,
                                config.max_depth, mask=_region(frame, config))
        if result is not None:
            rows.append(result[0])
    return mean_metrics(rows)


def row_prior_baseline(frames: list[EvalFrame], config: EvalConfig) -> dict[str, float]:
    """Metrics of "depth by image row" (median-scaled): what position alone gives.

    Each frame is predicted by the median ground-truth depth of each image row over the OTHER
    frames (leave-one-out; rows without data take the overall median). Frames of other sizes
    count by relative row height (row r of an H-row frame lies at (r + 0.5) / H), so a set of
    several cameras gives one cross-scene prior. On a driving set this prior is strong, since
    the road recedes row by row; the gap between it and a model is what the model reads from
    the image.
    """
    samples = []
    for frame in frames:
        valid = (frame.depth > config.min_depth) & (frame.depth < config.max_depth)
        r, _ = np.nonzero(valid)
        samples.append(((r + 0.5) / frame.depth.shape[0], frame.depth[valid].astype(np.float64)))
    rows = []
    for i, frame in enumerate(frames):
        others = [s for j, s in enumerate(samples) if j != i and len(s[1])]
        if not others:
            continue
        height = frame.depth.shape[0]
        bins = np.concatenate([np.minimum((f * height).astype(int), height - 1)
                               for f, _ in others])
        values = np.concatenate([v for _, v in others])
        order = np.argsort(bins, kind='stable')
        bins, values = bins[order], values[order]
        starts = np.searchsorted(bins, np.arange(height + 1))
        per_row = np.array([np.median(values[a:b]) if b > a else np.nan
                            for a, b in zip(starts[:-1], starts[1:])])
        per_row = np.where(np.isfinite(per_row), per_row, np.median(values))
        prior = np.repeat(per_row[:, None], frame.depth.shape[1], axis=1)
        result = evaluate_depth(prior, frame.depth, config.min_depth, config.max_depth,
                                mask=_region(frame, config))
        if result is not None:
            rows.append(result[0])
    return mean_metrics(rows)


@torch.no_grad()
def auto_mask(net: DepthNet, pose_net: torch.nn.Module, frame: EvalFrame, ssim_weight: float,
              device: torch.device) -> np.ndarray | None:
    """Monodepth2's auto-mask of a frame as a moving-object detector, [Hb,Wb] bool.

    A pixel is flagged when some unwarped neighbour explains it at least as well as the best
    reprojection with the predicted depth and pose (objects moving with the camera, and also
    static camera or textureless regions: the baseline's known false positives). None when
    the frame has no neighbour.
    """
    if not frame.neighbours:
        return None
    image, cam = frame.image[None].to(device), frame.cam[None].to(device)
    _, _, h, w = image.shape
    disp = net.predict_disparity(image, positional_grid_torch(1, h, w, device), cam)
    reprojected, identity = [], []
    for offset, neighbour in frame.neighbours:
        neighbour = neighbour[None].to(device)
        T_nbr_t = temporal_pose(pose_net, image, neighbour, cam, offset)
        synth = backward_warp(neighbour, disp, frame.K[None].to(device), T_nbr_t)
        reprojected.append(photometric_error(synth.image, image, ssim_weight))
        identity.append(photometric_error(neighbour, image, ssim_weight))
    best_reprojection = torch.cat(reprojected, 1).min(1).values
    best_identity = torch.cat(identity, 1).min(1).values
    return (best_identity <= best_reprojection)[0].cpu().numpy()


@torch.no_grad()
def mask_scores(net: DepthNet, frames: list[EvalFrame], spimo: SpimoConfig,
                device: torch.device, pose_net: torch.nn.Module | None = None,
                ssim_weight: float = 0.85) -> dict[str, dict[str, float]]:
    """IoU/precision/recall of SPIMO, auto-mask (when a PoseNet is given) and no mask.

    Scored at the network's input size against the frames' GT moving-object masks; empty
    when no frame has one.
    """
    was_training = net.training
    net.eval()
    scores = {'spimo': MaskScore(), 'auto-mask': MaskScore(), 'none': MaskScore()}
    for frame in frames:
        if frame.moving is None:
            continue
        h, w = frame.image.shape[1:]
        gt = resize_mask(frame.moving, w, h)
        dispersion = spimo_dispersion(net, frame.image[None].to(device),
                                      frame.cam[None].to(device), spimo)
        scores['spimo'].add(moving_mask(dispersion, spimo.threshold)[0, 0].cpu().numpy(), gt)
        scores['none'].add(np.zeros_like(gt), gt)
        if pose_net is not None:
            flagged = auto_mask(net, pose_net, frame, ssim_weight, device)
            if flagged is not None:
                scores['auto-mask'].add(flagged, gt)
    net.train(was_training)
    return {name: score.scores() for name, score in scores.items()
            if score.tp + score.fp + score.fn > 0}


@torch.no_grad()
def eval_grid(net: DepthNet, frames: list[EvalFrame], config: EvalConfig,
              device: torch.device) -> np.ndarray:
    """One row per frame: input | prediction | ground truth | AbsRel error (RGB uint8).

    Prediction and GT share one colour range per row (median-scaled); sparse GT (LiDAR) is
    dilated so it can be seen; error runs from 0 (black) to 0.5 AbsRel (bright).
    """
    was_training = net.training
    net.eval()
    rows = []
    for frame in frames:
        h, w = frame.image.shape[1:]
        depth = predict_depth(net, frame.image.to(device), frame.cam.to(device),
                              frame.depth.shape).cpu().numpy()
        gt = frame.depth
        valid = (gt > config.min_depth) & (gt < config.max_depth)
        if valid.any():
            depth = depth * np.median(gt[valid]) / np.median(depth[valid])
        shown = cv2.resize(gt, (w, h), interpolation=cv2.INTER_NEAREST)
        if valid.mean() < 0.2:
            shown = cv2.dilate(shown, np.ones((3, 3), np.uint8))
        pred = cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR)
        lo, hi = np.log(max(config.min_depth, 0.5)), np.log(config.max_depth)
        error = np.where(shown > 0, np.abs(pred - shown) / np.maximum(shown, 1e-6), np.nan)
        image = (frame.image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        rows.append(np.concatenate([
            image, colorize(-np.log(np.maximum(pred, 1e-6)), -hi, -lo),
            colorize(np.where(shown > 0, -np.log(np.maximum(shown, 1e-6)), np.nan), -hi, -lo),
            colorize(error, 0.0, 0.5)], axis=1))
    net.train(was_training)
    return np.concatenate(rows, axis=0)


def evaluate_checkpoint(checkpoint: Path, config: TrainConfig, max_frames: int = 0,
                        device: torch.device | str = 'cpu') -> dict[str, Any]:
    """Everything `svde-train evaluate` reports about a checkpoint, as plain data.

    Frames come from the config's eval sources (else its training sources) at the model's own
    input size. Keys: depth (rows of Eigen metrics), split (static/moving rows, when GT masks
    exist), masks (SPIMO/auto-mask/none scores, same condition), and run facts.
    """
    device = torch.device(device)
    state = read_checkpoint(checkpoint)
    net, spec = depth_net_from_state(state, checkpoint, device)
    clips = [c for s in (config.data.eval_sources or config.data.sources)
             for c in build_clips(s)]
    data = replace(config.data, base_height=spec.input_height, base_width=spec.input_width)
    frames = eval_frames(clips, data, max_frames or config.eval.max_frames)
    if not frames:
        raise DataError('none of the evaluation frames has ground-truth depth')
    metric = spec.depth_scale if spec.scale_source != 'none' else None
    metrics = evaluate_frames(net, frames, config.eval, device, metric)
    depth = {'median-scaled': {k: metrics[k] for k in (*METRIC_NAMES, *IMAGE_SHARE_NAMES)}}
    if metric is not None:
        depth[f'metric ({spec.scale_source} scale)'] = {
            k: metrics[f'metric_{k}'] for k in METRIC_NAMES}
    depth['constant depth (median-scaled)'] = constant_depth_baseline(frames, config.eval)
    prior = row_prior_baseline(frames, config.eval)
    if prior:
        depth['depth by image row, leave-one-out (median-scaled)'] = prior
    report: dict[str, Any] = {
        'checkpoint': str(checkpoint), 'frames': len(frames),
        'input_size': [spec.input_width, spec.input_height], 'garg_crop': config.eval.garg_crop,
        'depth_range_m': [config.eval.min_depth, config.eval.max_depth],
        'scale_source': spec.scale_source, 'depth': depth}
    if metric is not None:
        report['median_scale_ratio'] = metrics['median_scale_ratio']
    split = {name: {k: metrics[f'{name}_{k}'] for k in METRIC_NAMES}
             for name in ('static', 'moving') if f'{name}_abs_rel' in metrics}
    if split:
        report['split'] = split
        pose_net = load_pose_net(state).to(device) if 'pose_net' in state else None
        report['masks'] = mask_scores(net, frames, spec.spimo or config.spimo, device,
                                      pose_net, config.loss.ssim_weight)
    report['grid'] = eval_grid(net, frames[:4], config.eval, device)
    return report


def report_markdown(report: dict[str, Any]) -> str:
    """The report's tables in Markdown (what the CLI prints and writes to metrics.md)."""
    header = '| | ' + ' | '.join(METRIC_NAMES) + ' |\n' + '|---' * (len(METRIC_NAMES) + 1) + '|'
    shares = ('| | ' + ' | '.join(METRIC_NAMES) + ' | row-flattened AbsRel | within-row corr |\n'
              + '|---' * (len(METRIC_NAMES) + 3) + '|')
    lines = [f'Depth on {report["frames"]} frames at {report["input_size"][0]}x'
             f'{report["input_size"][1]}, capped to {report["depth_range_m"]} m'
             f'{", Garg crop" if report["garg_crop"] else ""}:', '', shares]
    lines += [f'| {name} | ' + ' | '.join(f'{row[k]:.4f}' for k in METRIC_NAMES) + ' | ' +
              ' | '.join(f'{row[k]:.4f}' if k in row else '' for k in IMAGE_SHARE_NAMES) + ' |'
              for name, row in report['depth'].items()]
    lines += ['', 'Row-flattened AbsRel: the prediction replaced by its own per-row median; '
              'within-row corr: of log depth with the ground truth\'s once each row\'s median '
              'is taken out. A depth map that is only position scores its own AbsRel on the '
              'first and 0 on the second.']
    if 'median_scale_ratio' in report:
        lines += ['', f'median scale / metric scale: {report["median_scale_ratio"]:.3f} '
                  '(1 = exact)']
    if 'split' in report:
        lines += ['', 'Median-scaled, by ground-truth moving-object mask:', '', header]
        lines += [f'| {name} pixels | ' + ' | '.join(f'{row[k]:.4f}' for k in METRIC_NAMES)
                  + ' |' for name, row in report['split'].items()]
    if report.get('masks'):
        lines += ['', 'Moving-object masks vs ground truth:', '',
                  '| mask | IoU | precision | recall |', '|---|---|---|---|']
        lines += [f'| {name} | {s["iou"]:.3f} | {s["precision"]:.3f} | {s["recall"]:.3f} |'
                  for name, s in report['masks'].items()]
    return '\n'.join(lines) + '\n'


def write_report(report: dict[str, Any], out: Path) -> None:
    """metrics.json, metrics.md and grid.png (input | prediction | GT | error) in `out`."""
    plain = {k: v for k, v in report.items() if k != 'grid'}
    atomic_write_bytes(out / 'metrics.json', json.dumps(plain, indent=2).encode())
    atomic_write_bytes(out / 'metrics.md', report_markdown(report).encode())
    write_png(out / 'grid.png', report['grid'])
