"""Procedural synthetic driving clips with exact depth, poses and moving-object masks.

A numpy ray caster renders a textured street: ground plane, two walls, a distant backdrop, static
boxes along the sides and boxes moving in the adjacent lanes (some with the camera's speed, the
case that makes monocular depth fail and that SPIMO targets). Surfaces carry view-independent
textures, so brightness constancy holds exactly. Everything is drawn from one seed: the same
seed gives the same clip, at any image size.

World frame = first camera frame: x right, y down, z forward; the ground is at y = +CAMERA_HEIGHT.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from svde_ros.geometry import Intrinsics
from svde_training.data.clip import Clip

CAMERA_HEIGHT_M = 1.5
BACKDROP_Z_M = 120.0
WALL_TOP_M = -7.0          # walls reach 7 m above the camera (y points down)
FOCAL_PER_WIDTH = 0.58     # KITTI-like horizontal field of view
MOVER_SIZE_M = (1.8, 1.5, 4.0)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box: lower corner at frame 0, size, velocity along z (m/frame)."""

    corner: tuple[float, float, float]
    size: tuple[float, float, float]
    speed: float
    color: tuple[float, float, float]
    moving: bool


def _hash_noise(ix: np.ndarray, iy: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic per-cell value noise in [0, 1)."""
    h = (ix.astype(np.int64) * 73856093) ^ (iy.astype(np.int64) * 19349663) ^ (salt * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def _value_noise(a: np.ndarray, b: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Smooth value noise: hashed lattice values blended with a smoothstep, in [0, 1)."""
    fa, fb = a / cell, b / cell
    ia, ib = np.floor(fa), np.floor(fb)
    ta, tb = fa - ia, fb - ib
    ta, tb = ta * ta * (3 - 2 * ta), tb * tb * (3 - 2 * tb)
    v00, v10 = _hash_noise(ia, ib, salt), _hash_noise(ia + 1, ib, salt)
    v01, v11 = _hash_noise(ia, ib + 1, salt), _hash_noise(ia + 1, ib + 1, salt)
    return (v00 * (1 - ta) + v10 * ta) * (1 - tb) + (v01 * (1 - ta) + v11 * ta) * tb


def _texture(a: np.ndarray, b: np.ndarray, salt: int, cell: float) -> np.ndarray:
    """Grey-level pattern over surface coordinates (metres).

    Two octaves of smooth noise (features no smaller than cell / 2, so distant surfaces do not
    alias into pixel noise) plus sharp-edged tiles that give the photometric loss corners.
    """
    smooth = 0.6 * _value_noise(a, b, cell, salt) + 0.4 * _value_noise(a, b, cell / 2, salt + 1)
    tiles = _hash_noise(np.floor(a / (2 * cell)), np.floor(b / (2 * cell)), salt + 2)
    return 0.65 * smooth + 0.35 * tiles


class SyntheticClip(Clip):
    """One seeded procedural clip; frames are rendered on demand and cached."""

    def __init__(self, seed: int = 0, num_frames: int = 24, height: int = 96, width: int = 256,
                 num_movers: int = 2) -> None:
        self.seed, self.num_frames = seed, num_frames
        self.name = f'synthetic-{seed}'
        rng = np.random.default_rng(seed)
        f = FOCAL_PER_WIDTH * width
        self._intrinsics = Intrinsics(f, f, width / 2 - 0.5, height / 2 - 0.5, width, height)
        self.speed = float(rng.uniform(0.5, 0.9))               # camera, m/frame
        self.yaw_amplitude = float(rng.uniform(0.0, 0.03))      # rad
        self.half_width = float(rng.uniform(4.5, 6.5))
        self.colors = rng.uniform(0.3, 1.0, size=(4, 3))          # ground, walls x2, backdrop
        self.boxes = self._static_boxes(rng) + self._movers(rng, num_movers)

    def _static_boxes(self, rng: np.random.Generator) -> list[Box]:
        boxes = []
        for z in np.arange(4.0, 4.0 + self.speed * self.num_frames + 40.0, 5.0):
            side = rng.choice([-1.0, 1.0])
            w, h, d = rng.uniform(0.8, 2.0), rng.uniform(0.8, 2.8), rng.uniform(0.8, 2.5)
            x = side * rng.uniform(3.0, self.half_width - 0.3) - (w if side > 0 else 0.0)
            x = float(np.clip(x, -self.half_width + 0.1, self.half_width - w - 0.1))
            boxes.append(Box((x, CAMERA_HEIGHT_M - h, float(z + rng.uniform(0, 2))), (w, h, d),
                             0.0, tuple(rng.uniform(0.3, 1.0, 3)), False))
        return boxes

    def _movers(self, rng: np.random.Generator, count: int) -> list[Box]:
        movers = []
        w, h, d = MOVER_SIZE_M
        for i in range(count):
            lane = -2.6 if i % 2 == 0 else 2.6 - w
            if i % 3 == 2:
                speed = self.speed                       # travels with the camera
            else:
                speed = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.2))
            z0 = float(rng.uniform(8.0, 18.0)) - min(speed, 0.0) * self.num_frames * 0.6
            movers.append(Box((lane, CAMERA_HEIGHT_M - h, z0), (w, h, d), speed,
                              tuple(rng.uniform(0.3, 1.0, 3)), True))
        return movers

    def __len__(self) -> int:
        return self.num_frames

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics

    def pose(self, index: int) -> np.ndarray:
        """Camera-to-world transform of frame `index`."""
        yaw = self.yaw_amplitude * np.sin(index * 0.35)
        c, s = np.cos(yaw), np.sin(yaw)
        T = np.eye(4)
        T[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
        T[:3, 3] = [0.4 * np.sin(index * 0.2), 0.0, self.speed * index]
        return T

    def image(self, index: int) -> np.ndarray:
        return self._render(index)[0]

    def depth(self, index: int) -> np.ndarray:
        return self._render(index)[1]

    def moving_mask(self, index: int) -> np.ndarray:
        return self._render(index)[2]

    @lru_cache(maxsize=64)  # noqa: B019 - a clip is long-lived and its frames are immutable
    def _render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        K = self._intrinsics
        T = self.pose(index)
        xs, ys = np.meshgrid(np.arange(K.width), np.arange(K.height))
        # Camera rays with unit z: the hit distance along them is the camera depth.
        rays = np.stack([(xs - K.cx) / K.fx, (ys - K.cy) / K.fy, np.ones_like(xs, float)], -1)
        d = rays.reshape(-1, 3) @ T[:3, :3].T
        o = T[:3, 3]
        n = d.shape[0]
        depth = np.full(n, np.inf)
        shade = np.zeros((n, 3))
        moving = np.zeros(n, bool)

        def hit(t: np.ndarray, ok: np.ndarray, color: np.ndarray, a: np.ndarray,
                b: np.ndarray, salt: int, cell: float, is_moving: bool) -> None:
            closer = ok & (t > 1e-3) & (t < depth)
            depth[closer] = t[closer]
            tex = _texture(a[closer], b[closer], salt, cell)
            shade[closer] = (0.25 + 0.75 * tex)[:, None] * color
            moving[closer] = is_moving

        with np.errstate(divide='ignore', invalid='ignore'):
            t = (CAMERA_HEIGHT_M - o[1]) / d[:, 1]
            p = o + t[:, None] * d
            hit(t, d[:, 1] > 0, self.colors[0], p[:, 0], p[:, 2], 11, 0.8, False)
            for side, (salt, color) in zip((-1, 1), ((12, self.colors[1]), (13, self.colors[2]))):
                t = (side * self.half_width - o[0]) / d[:, 0]
                p = o + t[:, None] * d
                hit(t, p[:, 1] > WALL_TOP_M, color, p[:, 2], p[:, 1], salt, 1.0, False)
            t = (BACKDROP_Z_M - o[2]) / d[:, 2]
            p = o + t[:, None] * d
            hit(t, d[:, 2] > 0, self.colors[3], p[:, 0], p[:, 1], 14, 4.0, False)
            for i, box in enumerate(self.boxes):
                lo = np.array(box.corner) + [0.0, 0.0, box.speed * index]
                hi = lo + box.size
                t1, t2 = (lo - o) / d, (hi - o) / d
                near, far = np.minimum(t1, t2), np.maximum(t1, t2)
                t_in, t_out = near.max(axis=1), far.min(axis=1)
                axis = near.argmax(axis=1)
                p = o + t_in[:, None] * d - lo                 # box-local surface coordinates
                a = np.where(axis == 0, p[:, 2], p[:, 0])
                b = np.where(axis == 1, p[:, 2], p[:, 1])
                hit(t_in, t_in <= t_out, np.array(box.color), a, b, 100 + i, 0.4, box.moving)
        image = (np.clip(shade, 0, 1) * 255).round().astype(np.uint8)
        shape = (K.height, K.width)
        return (image.reshape(*shape, 3), depth.reshape(shape).astype(np.float32),
                moving.reshape(shape))


def synthetic_clips(seed: int, num_clips: int, num_frames: int, height: int, width: int,
                    num_movers: int) -> list[SyntheticClip]:
    """`num_clips` clips with seeds seed, seed + 1, ..."""
    return [SyntheticClip(seed + i, num_frames, height, width, num_movers)
            for i in range(num_clips)]
