"""The road under a moving camera, and what the flow puts beneath it: a car followed at our speed.

A car driving ahead at the camera's speed does not move in the image. The static world at its
depth would, so the motion mask sees it by its missing parallax; but how much parallax a
static pixel there must show depends on its depth, and the network's depth on an unseen road
is poor (20-100% off, stream.depth_error), so the ordinary score forgives most of it. The road
gives a bound that needs no depth of the car: a static point seen below the horizon lies in
front of the road, so it is at most as deep as the road along its ray, and its parallax is at
least the road's. A pixel with clearly less parallax than the road beneath it is farther than
the road: under it, which nothing static is. Moving away with us, or faster, is the only
explanation.

The road's lie (which pixels, which tilt) is the plane fitted to the network's depth below the
principal point (RANSAC, then least squares): the network's road is its best part. Its
distance is the road's own flow's: the height is scaled so the road's reliable pixels show,
at their median, the parallax they have, and the spread of theirs about it is the error the
mask allows. A plane that tilts more than ROAD_TILT_DEG from the camera's down axis, explains
too few pixels, or whose pixels' flow disagrees with it by more than ROAD_MAX_ERROR is no road
(a textureless highway whose reliable "road" pixels are the cars on it; water, whose
reflections lie beneath it).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from svde_ros.motion.ego_motion import static_flow
from svde_ros.motion.flow import Flow, pixel_grid

# The plane's normal within this of the camera's down axis (+y): the camera looks ahead, and a
# road climbs or banks a few degrees.
ROAD_TILT_DEG = 20.0
# A point is on the plane within this share of the camera's height above it.
ROAD_INLIER = 0.1
# A fit needs this many points, and to explain this share of the lower half's points.
ROAD_MIN_POINTS = 50
ROAD_MIN_SHARE = 0.3
ROAD_ITERATIONS = 50   # all three on the road with a 50% share: 1 - 0.875^50 > 99.8%
# The road's relative parallax error the mask allows, whatever a frame measures (as
# stream.DEPTH_ERROR_RANGE for the network's depth); a road whose own flow is further from the
# plane than ROAD_MAX_ERROR is no road to judge by (water, grass, a plane fitted to clutter).
ROAD_ERROR_RANGE = (0.2, 1.0)
ROAD_MAX_ERROR = 0.3


class Road(NamedTuple):
    """The plane n . X = height (camera coordinates, n a unit normal pointing down).

    height is in the unit of the camera's step once `calibrated`; on: HxW bool, the pixels the
    plane explains; error: the relative spread of their parallax about the plane's (measured
    by `calibrated`; the upper end of ROAD_ERROR_RANGE before).
    """

    normal: np.ndarray
    height: float
    on: np.ndarray
    error: float = ROAD_ERROR_RANGE[1]

    def depth(self, K: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """HxW depth at which each pixel's ray meets the road (inf above the horizon)."""
        with np.errstate(divide='ignore'):
            return self.height / self._down(K, shape)

    def _down(self, K: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        rays = np.concatenate([pixel_grid(*shape), np.ones((*shape, 1), np.float32)], -1) \
            @ np.linalg.inv(K).T
        down = rays @ self.normal
        return np.where(down > 1e-6, down, 0.0)

    def parallax(self, flow: Flow, K: np.ndarray,
                 T_prev_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(seen, road), HxW pixels: parallax observed, and the road's, along the road's flow.

        Each pixel's observed parallax along the direction the road beneath it would move, and
        the road's parallax there (0 above the horizon).
        """
        ground = self.depth(K, flow.shape)
        below = np.isfinite(ground)               # only rays that meet the road are computed
        seen = np.zeros(flow.shape, np.float32)
        parallax = np.zeros(flow.shape, np.float32)
        if below.any():
            road, turned = static_flow(pixel_grid(*flow.shape)[below],
                                       ground[below].astype(np.float32), K, T_prev_cur)
            along_road = road - turned
            parallax[below] = np.linalg.norm(along_road, axis=-1)
            direction = along_road / np.maximum(parallax[below], 1e-9)[:, None]
            seen[below] = np.sum((flow.flow[below] - turned) * direction, -1)
        return seen, parallax

    def calibrated(self, flow: Flow, K: np.ndarray, T_prev_cur: np.ndarray) -> Road | None:
        """The plane at the height the road's own flow gives, with its measured error.

        The network's depth only says which pixels are road and how the road lies; its
        distance comes from the parallax the road's reliable pixels show (parallax is about
        inverse to depth, so the height scales by their median ratio to the plane's). None
        where too few road pixels have flow and parallax, or where they disagree with the
        plane by more than ROAD_MAX_ERROR.
        """
        seen, road = self.parallax(flow, K, T_prev_cur)
        usable = self.on & flow.reliable & (road >= 1.0) & (seen > 0)
        if usable.sum() < ROAD_MIN_POINTS:
            return None
        ratio = seen[usable] / road[usable]
        k = float(np.median(ratio))
        spread = 1.4826 * float(np.median(np.abs(ratio / k - 1.0)))
        if spread > ROAD_MAX_ERROR:
            return None
        return self._replace(height=self.height / k,
                             error=float(np.clip(spread, *ROAD_ERROR_RANGE)))

    def deficit(self, flow: Flow, K: np.ndarray,
                T_prev_cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lack, road parallax), HxW pixels: the parallax a pixel lacks against the road.

        How much less parallax each pixel shows than the road along its ray would (negative:
        nearer than the road, as static pixels are), and the road's parallax there.
        """
        seen, road = self.parallax(flow, K, T_prev_cur)
        return np.where(road > 0, road - seen, 0.0), road


def fit_road(depth: np.ndarray, K: np.ndarray, seed: int = 0) -> Road | None:
    """The road plane of a frame's depth below the principal point, or None (see above)."""
    h, w = depth.shape
    lower = np.isfinite(depth) & (depth > 0)
    lower[: int(np.ceil(K[1, 2]))] = False
    sample = lower.copy()
    sample[:, 1::2] = False
    sample[1::2] = False
    v, u = np.nonzero(sample)
    if len(v) < ROAD_MIN_POINTS:
        return None
    inv_K = np.linalg.inv(K)
    rays = np.stack([u, v, np.ones_like(u)], -1).astype(np.float64) @ inv_K.T
    points = rays * depth[v, u, None].astype(np.float64)
    rng = np.random.default_rng(seed)
    best: np.ndarray | None = None
    cos_tilt = np.cos(np.radians(ROAD_TILT_DEG))
    for _ in range(ROAD_ITERATIONS):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        size = np.linalg.norm(normal)
        if size < 1e-12:
            continue
        normal = normal / size * np.sign(normal[1] or 1.0)
        height = float(normal @ a)
        if normal[1] < cos_tilt or height <= 0:
            continue
        inliers = np.abs(points @ normal - height) < ROAD_INLIER * height
        if best is None or inliers.sum() > best.sum():
            best = inliers
    if best is None or best.sum() < max(ROAD_MIN_POINTS, ROAD_MIN_SHARE * len(points)):
        return None
    on_plane = points[best]
    centre = on_plane.mean(0)
    spread = on_plane - centre
    normal = np.linalg.eigh(spread.T @ spread)[1][:, 0]   # the least-spread direction
    normal = normal * np.sign(normal[1] or 1.0)
    height = float(normal @ centre)
    if normal[1] < cos_tilt or height <= 0:
        return None
    every = np.concatenate([pixel_grid(h, w), np.ones((h, w, 1), np.float32)], -1) @ inv_K.T
    distance = np.abs(every * np.where(lower, depth, np.nan)[..., None] @ normal - height)
    return Road(normal, height, lower & (distance < ROAD_INLIER * height))
