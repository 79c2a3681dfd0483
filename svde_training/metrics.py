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


# How much of a depth map comes from the image rather than from the row it sits in
# (docs/results/README.md, "places never seen"): AbsRel once the prediction is replaced by its own
# per-row median, and the correlation of log depth with the ground truth's within rows.
IMAGE_SHARE_NAMES = ('row_flat_abs_rel', 'row_corr')


def row_median(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """HxW map of each row's median of `values` over `mask` (NaN where a row has none)."""
    out = np.full(values.shape, np.nan, dtype=np.float64)
    for r in np.flatnonzero(mask.any(axis=1)):
        out[r] = np.median(values[r, mask[r]])
    return out


def image_share(pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3,
                max_depth: float = 80.0, mask: np.ndarray | None = None,
                ) -> dict[str, float] | None:
    """The two figures that tell depth read from the image from depth read from position.

    row_flat_abs_rel: median-scaled AbsRel of the prediction replaced by its per-row median
    (over `mask`, or the whole row). A map that is position only scores its own AbsRel here.
    row_corr: Pearson correlation of log predicted and log ground-truth depth over the valid
    pixels, after each row's median (over that row's valid pixels) is taken out of both; near 0
    for a map that is position only. None when no pixel is valid.
    """
    region = np.ones(gt.shape, bool) if mask is None else mask
    valid = (gt > min_depth) & (gt < max_depth) & np.isfinite(pred) & (pred > 0) & region
    if not valid.any():
        return None
    flat = row_median(pred.astype(np.float64), region & np.isfinite(pred) & (pred > 0))
    scored = evaluate_depth(np.nan_to_num(flat, nan=0.0), gt, min_depth, max_depth, mask=valid)
    log_p, log_g = np.log(np.where(valid, pred, 1.0)), np.log(np.where(valid, gt, 1.0))
    dp = (log_p - row_median(log_p, valid))[valid]
    dg = (log_g - row_median(log_g, valid))[valid]
    spread = float(np.sqrt((dp ** 2).sum() * (dg ** 2).sum()))
    corr = float((dp * dg).sum() / spread) if spread > 0 else 0.0
    flat_abs_rel = scored[0]['abs_rel'] if scored is not None else float('nan')
    return {'row_flat_abs_rel': flat_abs_rel, 'row_corr': corr}


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Average each metric (Eigen's, and the image-share figures where present) over images."""
    if not rows:
        return {}
    names = [*METRIC_NAMES, *(k for k in IMAGE_SHARE_NAMES if all(k in r for r in rows))]
    return {k: float(np.mean([r[k] for r in rows])) for k in names}


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
