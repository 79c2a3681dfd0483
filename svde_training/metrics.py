"""Depth-error metrics of the KITTI Eigen protocol (Eigen et al. 2014, as used by Monodepth2)."""
from __future__ import annotations

import numpy as np

METRIC_NAMES = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'a1', 'a2', 'a3')


def depth_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Eigen metrics between matching 1-D arrays of positive depths (metres)."""
    ratio = np.maximum(gt / pred, pred / gt)
    return {
        'abs_rel': float(np.mean(np.abs(gt - pred) / gt)),
        'sq_rel': float(np.mean((gt - pred) ** 2 / gt)),
        'rmse': float(np.sqrt(np.mean((gt - pred) ** 2))),
        'rmse_log': float(np.sqrt(np.mean((np.log(gt) - np.log(pred)) ** 2))),
        'a1': float(np.mean(ratio < 1.25)),
        'a2': float(np.mean(ratio < 1.25 ** 2)),
        'a3': float(np.mean(ratio < 1.25 ** 3)),
    }


def evaluate_depth(pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3,
                   max_depth: float = 80.0, median_scaling: bool = True,
                   mask: np.ndarray | None = None) -> tuple[dict[str, float], float] | None:
    """Compare a predicted depth map with ground truth of the same HxW size.

    Pixels count where min_depth < gt < max_depth (and `mask`, if given). Predictions are
    median-scaled per image when asked, then capped to [min_depth, max_depth].

    Returns:
        (metrics, scale applied) or None when no pixel is valid.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ in size')
    valid = (gt > min_depth) & (gt < max_depth) & np.isfinite(pred) & (pred > 0)
    if mask is not None:
        valid &= mask
    if not valid.any():
        return None
    g, p = gt[valid].astype(np.float64), pred[valid].astype(np.float64)
    scale = float(np.median(g) / np.median(p)) if median_scaling else 1.0
    p = np.clip(p * scale, min_depth, max_depth)
    return depth_errors(g, p), scale


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average each metric over images."""
    return {k: float(np.mean([r[k] for r in rows])) for k in METRIC_NAMES} if rows else {}


class MaskScore:
    """Moving-object mask quality accumulated over frames (pixel counts, not per-image means).

    IoU, precision and recall of a predicted mask against ground truth; an empty prediction
    (no masking) has recall 0 and, by convention here, precision 0.
    """

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """Count one frame; pred and gt are HxW bool of the same size."""
        if pred.shape != gt.shape:
            raise ValueError(f'mask {pred.shape} and ground truth {gt.shape} differ in size')
        self.tp += int(np.count_nonzero(pred & gt))
        self.fp += int(np.count_nonzero(pred & ~gt))
        self.fn += int(np.count_nonzero(~pred & gt))

    def scores(self) -> dict[str, float]:
        """iou, precision, recall in [0, 1]."""
        tp, fp, fn = self.tp, self.fp, self.fn
        return {'iou': tp / max(1, tp + fp + fn), 'precision': tp / max(1, tp + fp),
                'recall': tp / max(1, tp + fn)}
