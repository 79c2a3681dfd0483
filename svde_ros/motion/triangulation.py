"""Depth per pixel from the flow and the camera's motion (motion stereo), with its uncertainty.

Closed form and vectorised. A pixel x of the current frame with ray r = K^-1 x and inverse depth
rho was, in the earlier frame, at

    x'(rho) = (a_xy + rho b_xy) / (a_z + rho b_z),   a = K R r,  b = K t

(T_prev_cur = [R | t]): a straight line, the epipolar line, from the rotation's image of x
(rho = 0, infinitely far) towards the epipole. The observed x' gives rho by least squares on
the two linear equations u' (a_z + rho b_z) = a_x + rho b_x (and v'). Its uncertainty: a
flow error of sigma pixels moves x' along the line, and the depth's relative error is about
sigma / parallax, the parallax being x' against the rotation's image of x. So pixels near the
focus of expansion (no parallax) and far away get a large error, and fusion leans on the
network there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svde_ros.motion.flow import Flow, pixel_grid

# Flow error (pixels at the depth's resolution) of a reliable pixel, before the
# forward-backward miss and the distance from the epipolar line are added.
FLOW_SIGMA_PX = 0.25
# A pixel is triangulated where its flow is within this distance of its epipolar line, its
# parallax is at least MIN_PARALLAX_PX, and its ray is more than FOE_CONE_DEG from the focus of
# expansion (thresholds at 320 px, fixed on drive 0023 before anything else was scored).
MAX_EPIPOLAR_PX = 1.0
MIN_PARALLAX_PX = 1.0
FOE_CONE_DEG = 3.0


@dataclass
class Triangulated:
    """One frame's triangulation.

    depth HxW (NaN where not triangulated), rel_sigma HxW (relative depth error, inf where not
    triangulated), parallax HxW (pixels), epipolar HxW (pixels).
    """

    depth: np.ndarray
    rel_sigma: np.ndarray
    parallax: np.ndarray
    epipolar: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.depth)

    @property
    def coverage(self) -> float:
        return float(self.valid.mean())

    def without(self, pixels: np.ndarray) -> Triangulated:
        """This triangulation with `pixels` (HxW bool; movers) left out."""
        return Triangulated(np.where(pixels, np.nan, self.depth).astype(np.float32),
                            np.where(pixels, np.inf, self.rel_sigma).astype(np.float32),
                            self.parallax, self.epipolar)


def triangulate(flow: Flow, K: np.ndarray, T_prev_cur: np.ndarray,
                exclude: np.ndarray | None = None) -> Triangulated:
    """Depth of every pixel of the current frame, in the unit of T_prev_cur's translation.

    Args:
        flow: the current frame's flow into the earlier frame.
        K: 3x3 intrinsics at the flow's resolution.
        T_prev_cur: the camera's motion (with a non-zero translation).
        exclude: HxW bool of pixels not to triangulate (movers: their flow is not the
            camera's).
    """
    h, w = flow.shape
    grid = pixel_grid(h, w).astype(np.float64)
    rays = np.concatenate([grid, np.ones((h, w, 1))], -1) @ np.linalg.inv(K).T
    R, t = T_prev_cur[:3, :3], T_prev_cur[:3, 3]
    a = rays @ (K @ R).T
    b = K @ t
    there = grid + flow.flow
    # u' (a_z + rho b_z) = a_x + rho b_x  ->  rho (u' b_z - b_x) = a_x - u' a_z
    c = there * b[2] - b[:2]
    d = a[..., :2] - there * a[..., 2:]
    rho = np.sum(c * d, -1) / np.maximum(np.sum(c * c, -1), 1e-12)
    at_infinity = a[..., :2] / np.where(np.abs(a[..., 2:]) > 1e-9, a[..., 2:], 1e-9)
    parallax = np.linalg.norm(there - at_infinity, axis=-1)
    # Distance from the epipolar line: the residual of the least squares, in pixels.
    on_line = (a[..., :2] + rho[..., None] * b[:2]) / \
        np.maximum(a[..., 2:] + rho[..., None] * b[2], 1e-9)
    epipolar = np.linalg.norm(there - on_line, axis=-1)
    # Focus of expansion: the earlier camera's centre seen from the current one.
    centre = -R.T @ t
    cos = np.abs(rays @ centre) / np.maximum(np.linalg.norm(rays, axis=-1)
                                             * np.linalg.norm(centre), 1e-12)
    outside_cone = cos < np.cos(np.radians(FOE_CONE_DEG))
    sigma = np.sqrt(FLOW_SIGMA_PX ** 2 + (flow.fb_error / 2) ** 2 + epipolar ** 2)
    ok = (flow.reliable & (epipolar <= MAX_EPIPOLAR_PX) & (parallax >= MIN_PARALLAX_PX)
          & outside_cone & (rho > 0) & (a[..., 2] + rho * b[2] > 0))
    if exclude is not None:
        ok &= ~exclude
    depth = np.where(ok, 1.0 / np.where(ok, rho, 1.0), np.nan).astype(np.float32)
    rel = np.where(ok, sigma / np.maximum(parallax, 1e-9), np.inf).astype(np.float32)
    return Triangulated(depth, rel, parallax.astype(np.float32), epipolar.astype(np.float32))



def combine(a: Triangulated, b: Triangulated) -> Triangulated:
    """Two estimates of one frame's depth as one.

    Per pixel, the inverse-variance blend of their log depths where both have one, else
    whichever has one.
    """
    wa = np.where(a.valid, 1.0 / np.maximum(a.rel_sigma, 1e-3) ** 2, 0.0)
    wb = np.where(b.valid, 1.0 / np.maximum(b.rel_sigma, 1e-3) ** 2, 0.0)
    total = wa + wb
    some = total > 0
    la = np.log(np.where(a.valid, a.depth, 1.0))
    lb = np.log(np.where(b.valid, b.depth, 1.0))
    depth = np.where(some, np.exp((wa * la + wb * lb) / np.where(some, total, 1.0)), np.nan)
    rel = np.where(some, 1.0 / np.sqrt(np.where(some, total, 1.0)), np.inf)
    return Triangulated(depth.astype(np.float32), rel.astype(np.float32),
                        np.maximum(a.parallax, b.parallax), np.minimum(a.epipolar, b.epipolar))


def carried(depth: np.ndarray, rel_sigma: np.ndarray, K: np.ndarray,
            T_prev_cur: np.ndarray, inflation: float) -> Triangulated:
    """An earlier frame's depth (HxW, with its relative error) moved into the current frame.

    Each earlier pixel's point is moved by the camera's motion (T_prev_cur maps current points
    into the earlier camera, so the inverse here) and splatted to its nearest current pixel,
    the nearest point winning; its error grows by `inflation`.
    """
    h, w = depth.shape
    keep = np.isfinite(depth) & (depth > 0) & np.isfinite(rel_sigma)
    v, u = np.nonzero(keep)
    rays = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64) @ np.linalg.inv(K).T
    points = rays * depth[v, u, None]
    R, t = T_prev_cur[:3, :3], T_prev_cur[:3, 3]
    moved = (points - t) @ R                       # R^T (X - t), row vectors
    z = moved[:, 2]
    front = z > 1e-6
    at = moved[front] @ K.T
    cu = np.rint(at[:, 0] / at[:, 2]).astype(int)
    cv = np.rint(at[:, 1] / at[:, 2]).astype(int)
    inside = (cu >= 0) & (cu < w) & (cv >= 0) & (cv < h)
    index = cv[inside] * w + cu[inside]
    nearest = np.full(h * w, np.inf)
    np.minimum.at(nearest, index, z[front][inside])
    sigma = np.full(h * w, np.inf)
    winner = z[front][inside] <= nearest[index]
    sigma[index[winner]] = rel_sigma[v[front][inside][winner], u[front][inside][winner]]
    out = np.where(np.isfinite(nearest), nearest, np.nan).reshape(h, w)
    return Triangulated(out.astype(np.float32), (sigma.reshape(h, w) * inflation)
                        .astype(np.float32), np.zeros((h, w), np.float32),
                        np.zeros((h, w), np.float32))
