"""Procedural driving clips with exact depth, poses and moving-object masks.

A numpy ray caster renders textured scenes: a sloped ground, a wall or open space on each
side, a backdrop, many static boxes and poles of varied size (some close to the camera's
path), and movers: some travelling with the camera (the case that makes monocular depth fail
and that SPIMO targets), some oncoming, some crossing. Surfaces carry view-independent
textures, so brightness constancy holds exactly. Everything is drawn from one seed: the same
seed gives the same clip, at any image size.

The layout varies per clip (camera height and pitch, ground slope, heading and turn rate,
street width, open or closed sides, backdrop distance, object count), so depth is not a
function of pixel position: a network must read the image to predict it, which is what SPIMO
needs (a network that predicts depth from position alone flags everything or nothing).

World frame: x right, y down, z forward along the street; the camera starts at the origin
(plus its height); the ground is y = camera_height - slope * z.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svde_ros.geometry import Intrinsics
from svde_training.data.clip import Clip

FOCAL_PER_WIDTH = 0.58     # KITTI-like horizontal field of view
MOVER_SIZE_M = (1.8, 1.5, 4.0)
PATH_CLEARANCE_M = 1.2     # static objects keep this far from the camera's path
MOVER_KINDS = ('follow', 'oncoming', 'crossing')   # kind ids 1, 2, 3 (0 = static)
GLASS = np.array([0.10, 0.12, 0.16])                # vehicle windows and tyres
TYRE = np.array([0.05, 0.05, 0.05])


@dataclass(frozen=True)
class Box:
    """Axis-aligned box.

    corner: the smallest coordinates at frame 0; size; velocity (m/frame); kind: 0 static,
    else 1 + index in MOVER_KINDS; vehicle: looks like a vehicle (body colour, a dark window
    band on top, dark tyres below) rather than a textured crate.
    """

    corner: tuple[float, float, float]
    size: tuple[float, float, float]
    velocity: tuple[float, float, float]
    color: tuple[float, float, float]
    kind: int = 0
    vehicle: bool = False

    @property
    def moving(self) -> bool:
        return self.kind > 0


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
    """One seeded procedural clip; frames are rendered on demand and cached.

    Attributes drawn from the seed: camera_height (m), pitch (rad, positive looks down),
    slope (ground rise per metre ahead), heading and turn (rad, rad/frame), speed (m/frame),
    walls (x of the left and right walls, None where that side is open).

    vehicle_look: movers look like vehicles, and 2-6 parked vehicles stand beside the path.
    Moving objects in real video are mostly of a few classes (cars, people); a network can
    learn that their depth is unreliable only if it can tell them apart, which crates with
    the static scene's textures do not allow. Parked vehicles keep "vehicle" from meaning
    "moving". (False draws the same world without them, seed for seed.)
    """

    def __init__(self, seed: int = 0, num_frames: int = 24, height: int = 96, width: int = 256,
                 num_movers: int = 3, vehicle_look: bool = True) -> None:
        self.seed, self.num_frames = seed, num_frames
        self.name = f'synthetic-{seed}'
        self._frames: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        rng = np.random.default_rng(seed)
        f = FOCAL_PER_WIDTH * width
        self._intrinsics = Intrinsics(f, f, width / 2 - 0.5, height / 2 - 0.5, width, height)
        self.speed = float(rng.uniform(0.4, 0.9))
        self.camera_height = float(rng.uniform(1.0, 2.2))
        self.pitch = float(rng.uniform(-0.06, 0.10))
        self.slope = float(rng.uniform(-0.04, 0.04))
        self.heading = float(rng.uniform(-0.12, 0.12))
        self.turn = float(rng.uniform(-0.006, 0.006))
        self.backdrop_z = float(rng.uniform(50.0, 150.0))
        path = np.array([self.pose(i)[:3, 3] for i in range(num_frames)])
        self._path_xz = path[:, [0, 2]]
        walls: list[float | None] = []
        for side, edge in ((-1.0, path[:, 0].min()), (1.0, path[:, 0].max())):
            open_side = rng.uniform() < 0.35
            walls.append(None if open_side else float(edge + side * rng.uniform(2.5, 10.0)))
        self.walls = (walls[0], walls[1])
        self.wall_tops = tuple(float(-rng.uniform(2.0, 12.0)) for _ in range(2))
        self.colors = rng.uniform(0.3, 1.0, size=(4, 3))          # ground, walls x2, backdrop
        self.vehicle_look = vehicle_look
        self.boxes = self._static_boxes(rng) + self._movers(rng, num_movers)
        if vehicle_look:
            self.boxes += self._parked(rng)

    def ground_y(self, z: float | np.ndarray) -> float | np.ndarray:
        """Ground height (y, down) at distance z along the street."""
        return self.camera_height - self.slope * z

    def _x_limits(self) -> tuple[float, float]:
        """Lateral extent objects may use: the walls, or 15 m beyond the path if open."""
        left = self.walls[0] if self.walls[0] is not None else self._path_xz[:, 0].min() - 15
        right = self.walls[1] if self.walls[1] is not None else self._path_xz[:, 0].max() + 15
        return left, right

    def _clear_of_path(self, x: float, z: float, w: float, d: float) -> bool:
        px, pz = self._path_xz[:, 0], self._path_xz[:, 1]
        dx = np.maximum(np.maximum(x - px, px - (x + w)), 0.0)
        dz = np.maximum(np.maximum(z - pz, pz - (z + d)), 0.0)
        return bool(np.hypot(dx, dz).min() > PATH_CLEARANCE_M)

    def _static_boxes(self, rng: np.random.Generator) -> list[Box]:
        """Boxes and poles of varied size anywhere off the camera's path, some within metres."""
        boxes: list[Box] = []
        left, right = self._x_limits()
        z_end = self._path_xz[:, 1].max() + 45.0
        wanted = int(rng.integers(12, 32))
        for _ in range(wanted * 4):
            if len(boxes) == wanted:
                break
            if rng.uniform() < 0.25:                                   # pole
                w = d = float(rng.uniform(0.15, 0.35))
                h = float(rng.uniform(3.0, 7.0))
            else:
                w, d = (float(np.exp(rng.uniform(np.log(0.3), np.log(4.0)))) for _ in range(2))
                h = float(np.exp(rng.uniform(np.log(0.3), np.log(4.5))))
            z = float(rng.uniform(1.5, z_end))
            x = float(rng.uniform(left + 0.05, right - w - 0.05))
            if not self._clear_of_path(x, z, w, d):
                continue
            y = float(self.ground_y(z + d / 2)) - h
            boxes.append(Box((x, y, z), (w, h, d), (0.0, 0.0, 0.0),
                             tuple(rng.uniform(0.2, 1.0, 3))))
        return boxes

    def _parked(self, rng: np.random.Generator) -> list[Box]:
        """Static vehicles in a parking lane beside the path."""
        parked: list[Box] = []
        w, h, d = MOVER_SIZE_M
        for _ in range(int(rng.integers(2, 7)) * 4):
            if len(parked) >= 6:
                break
            z = float(rng.uniform(4.0, self._path_xz[:, 1].max() + 40.0))
            side = float(rng.choice([-1.0, 1.0]))
            x = float(self._path_xz[0, 0] + self.heading * z + side * rng.uniform(2.6, 3.8)
                      - w / 2)
            if not self._clear_of_path(x, z, w, d):
                continue
            y = float(self.ground_y(z + d / 2)) - h
            parked.append(Box((x, y, z), (w, h, d), (0.0, 0.0, 0.0),
                              tuple(rng.uniform(0.2, 1.0, 3)), 0, True))
        return parked

    def _movers(self, rng: np.random.Generator, count: int) -> list[Box]:
        """Movers cycling through MOVER_KINDS: with the camera, oncoming, crossing."""
        movers = []
        w, h, d = MOVER_SIZE_M
        travel = self._path_xz[-1] - self._path_xz[0]
        cam_v = travel / max(1, self.num_frames - 1)                 # mean (vx, vz)
        for i in range(count):
            kind = MOVER_KINDS[i % len(MOVER_KINDS)]
            side = float(rng.choice([-1.0, 1.0]))
            if kind == 'follow':       # keeps its distance: depth of infinity to the loss
                v = (float(cam_v[0]), float(cam_v[1]) * float(rng.uniform(0.95, 1.05)))
                x = side * float(rng.uniform(2.4, 3.6)) - w / 2
                z = float(rng.uniform(6.0, 16.0))
            elif kind == 'oncoming':
                v = (0.0, -float(rng.uniform(0.3, 1.2)))
                x = side * float(rng.uniform(2.6, 4.0)) - w / 2
                z = float(rng.uniform(15.0, 35.0)) - v[1] * self.num_frames * 0.5
            else:                      # crosses ahead of where the camera will be
                v = (-side * float(rng.uniform(0.15, 0.5)), 0.0)
                z = self._path_xz[-1, 1] + float(rng.uniform(6.0, 20.0))
                x = side * float(rng.uniform(2.0, 6.0)) - w / 2
            x += float(self._path_xz[0, 0] + self.heading * z)
            y = float(self.ground_y(z + d / 2)) - h
            velocity = (v[0], -self.slope * v[1], v[1])            # stays on the slope
            movers.append(Box((x, y, z), (w, h, d), velocity,
                              tuple(rng.uniform(0.2, 1.0, 3)), 1 + MOVER_KINDS.index(kind),
                              self.vehicle_look))
        return movers

    def __len__(self) -> int:
        return self.num_frames

    def intrinsics(self, index: int) -> Intrinsics:
        return self._intrinsics

    def pose(self, index: int) -> np.ndarray:
        """Camera-to-world transform of frame `index`: a turning path on the sloped ground."""
        yaw = self.heading + self.turn * index
        if abs(self.turn) > 1e-9:
            r = self.speed / self.turn
            x = r * (np.cos(self.heading) - np.cos(yaw))
            z = r * (np.sin(yaw) - np.sin(self.heading))
        else:
            x, z = self.speed * index * np.sin(yaw), self.speed * index * np.cos(yaw)
        cy, sy = np.cos(yaw), np.sin(yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        R_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
        R_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])   # positive looks down
        T = np.eye(4)
        T[:3, :3] = R_yaw @ R_pitch
        T[:3, 3] = [x, -self.slope * z, z]
        return T

    def image(self, index: int) -> np.ndarray:
        return self._render(index)[0]

    def depth(self, index: int) -> np.ndarray:
        return self._render(index)[1]

    def moving_mask(self, index: int) -> np.ndarray:
        return self._render(index)[2] > 0

    def mover_kinds(self, index: int) -> np.ndarray:
        """HxW uint8: 0 static, else 1 + the mover's index in MOVER_KINDS."""
        return self._render(index)[2]

    def _render(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image, depth, moving mask) of frame `index`, rendered once per clip.

        The cache is per clip (about 0.2 MB a frame at 256x96): a cache shared by all clips,
        as `functools.lru_cache` on a method is, thrashes as soon as a data set holds more
        frames than it, and rendering then dominates every training step.
        """
        if index not in self._frames:
            self._frames[index] = self._draw(index)
        return self._frames[index]

    def _draw(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        kinds = np.zeros(n, np.uint8)

        def hit(t: np.ndarray, ok: np.ndarray, color: np.ndarray, a: np.ndarray,
                b: np.ndarray, salt: int, cell: float, kind: int = 0,
                vehicle_height: float = 0.0, top_face: np.ndarray | None = None) -> None:
            closer = ok & (t > 1e-3) & (t < depth)
            depth[closer] = t[closer]
            tex = _texture(a[closer], b[closer], salt, cell)
            rgb = (0.25 + 0.75 * tex)[:, None] * color
            if vehicle_height:
                # Smooth body paint, a window band in the top 40% of the sides and front,
                # tyres in the bottom 20%; b is the height below the roof on those faces.
                rgb = (0.75 + 0.25 * tex)[:, None] * color
                side = ~top_face[closer] if top_face is not None else np.ones(len(rgb), bool)
                frac = b[closer] / vehicle_height
                rgb[side & (frac < 0.4)] = GLASS
                rgb[side & (frac > 0.8)] = TYRE
            shade[closer] = rgb
            kinds[closer] = kind

        with np.errstate(divide='ignore', invalid='ignore'):
            normal = np.array([0.0, 1.0, self.slope])                   # ground: n . p = h
            t = (self.camera_height - o @ normal) / (d @ normal)
            p = o + t[:, None] * d
            hit(t, d @ normal > 0, self.colors[0], p[:, 0], p[:, 2], 11, 0.8)
            for k, (wall_x, top) in enumerate(zip(self.walls, self.wall_tops)):
                if wall_x is None:
                    continue
                t = (wall_x - o[0]) / d[:, 0]
                p = o + t[:, None] * d
                below_top = p[:, 1] > self.ground_y(p[:, 2]) + top   # top < 0: above ground
                hit(t, below_top, self.colors[1 + k], p[:, 2], p[:, 1], 12 + k, 1.0)
            t = (self.backdrop_z - o[2]) / d[:, 2]
            p = o + t[:, None] * d
            hit(t, d[:, 2] > 0, self.colors[3], p[:, 0], p[:, 1], 14, 4.0)
            for i, box in enumerate(self.boxes):
                lo = np.array(box.corner) + np.array(box.velocity) * index
                hi = lo + box.size
                t1, t2 = (lo - o) / d, (hi - o) / d
                near, far = np.minimum(t1, t2), np.maximum(t1, t2)
                t_in, t_out = near.max(axis=1), far.min(axis=1)
                axis = near.argmax(axis=1)
                p = o + t_in[:, None] * d - lo                 # box-local surface coordinates
                a = np.where(axis == 0, p[:, 2], p[:, 0])
                b = np.where(axis == 1, p[:, 2], p[:, 1])
                hit(t_in, t_in <= t_out, np.array(box.color), a, b, 100 + i, 0.4, box.kind,
                    box.size[1] if box.vehicle else 0.0, axis == 1)
        image = (np.clip(shade, 0, 1) * 255).round().astype(np.uint8)
        shape = (K.height, K.width)
        return (image.reshape(*shape, 3), depth.reshape(shape).astype(np.float32),
                kinds.reshape(shape))


def synthetic_clips(seed: int, num_clips: int, num_frames: int, height: int, width: int,
                    num_movers: int = 3, vehicle_look: bool = True) -> list[SyntheticClip]:
    """`num_clips` clips with seeds seed, seed + 1, ..."""
    return [SyntheticClip(seed + i, num_frames, height, width, num_movers, vehicle_look)
            for i in range(num_clips)]
