"""Fusion of the triangulated depth with the network's, in log depth.

Two steps:
1. The network's map is put in the triangulation's unit with a *local* scale: the log ratio
   triangulated / network, weighted by the triangulation's confidence, is spread into the
   pixels without parallax by normalised convolution (a wide Gaussian), and falls back to the
   frame's weighted median where no triangulated pixel is near. One scale for the whole map
   left the network's own shape where nothing is triangulated (drive 0009: 0.66x of the
   network's error with one scale, 0.63x with a local one, issue 40).
2. Where a pixel is triangulated, its log depth is the inverse-variance blend of the two: the
   triangulation's variance from its parallax (triangulation.py), the network's a constant.

The unit is the triangulation's: metric when the step's length came from odometry, else the
network's own (the length was measured on the network's depth).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svde_ros.motion.triangulation import Triangulated

# The network's error in log depth (about its AbsRel on places it has not seen).
NETWORK_LOG_SIGMA = 0.25
# Width of the Gaussian that spreads the local scale, as a share of the image's width (0.02
# against 0.04-0.16: drive 0023's fused AbsRel 0.131 against 0.142-0.153); and the
# mean inverse variance under it at which the local scale is trusted half (a neighbourhood
# fully triangulated at 10% relative error has 100).
SCALE_SPREAD = 0.02
SCALE_TRUST = 5.0


@dataclass
class Fused:
    """One frame's fusion.

    depth HxW (the fused map), scale HxW (triangulated / network, per pixel), share (of the
    pixels whose depth is triangulated, blended), median_scale (the frame's).
    """

    depth: np.ndarray
    scale: np.ndarray
    share: float
    median_scale: float


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The weighted median of 1-D `values`."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


def fuse(network: np.ndarray, tri: Triangulated) -> Fused | None:
    """The fused map, or None when nothing is triangulated (the caller keeps the network's).

    Args:
        network: HxW depth of the network (NaN or <= 0 where none).
        tri: the triangulated depth of the same frame and size.
    """
    good = tri.valid & np.isfinite(network) & (network > 0)
    if good.sum() < 10:
        return None
    log_net = np.log(np.where(network > 0, network, 1.0))
    w_tri = np.where(good, 1.0 / np.maximum(tri.rel_sigma, 1e-3) ** 2, 0.0)
    ratio = np.where(good, np.log(np.where(good, tri.depth, 1.0)) - log_net, 0.0)
    median = weighted_median(ratio[good], w_tri[good])
    h, w = network.shape
    sigma = SCALE_SPREAD * w
    num = cv2.GaussianBlur((w_tri * (ratio - median)).astype(np.float32), (0, 0), sigma)
    den = cv2.GaussianBlur(w_tri.astype(np.float32), (0, 0), sigma)
    # Normalised convolution, pulled towards the frame's median where the weight is thin.
    local = median + num / (den + SCALE_TRUST)
    scaled = log_net + local
    w_net = 1.0 / NETWORK_LOG_SIGMA ** 2
    log_tri = np.log(np.where(good, tri.depth, 1.0))
    fused = np.where(good, (w_tri * log_tri + w_net * scaled) / (w_tri + w_net), scaled)
    depth = np.where(np.isfinite(network) & (network > 0), np.exp(fused), np.nan)
    return Fused(depth.astype(np.float32), np.exp(local).astype(np.float32),
                 float(good.mean()), float(np.exp(median)))
