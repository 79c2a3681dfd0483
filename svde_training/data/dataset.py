"""Torch datasets over clips: training tuples (t and its neighbours) and evaluation frames."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from svde_ros.geometry import Intrinsics, rotation_angle_deg
from svde_ros.preprocess import resize_frame
from svde_training.config import DataConfig, PoseNoise
from svde_training.data.augment import (
    CropParams,
    apply_jitter,
    crop_image,
    crop_intrinsics,
    crop_positions,
    identity_crop,
    sample_crop,
    sample_jitter,
)
from svde_training.data.clip import Clip, DataError
from svde_training.data.neighbours import neighbour_offsets, spacing_summary

if TYPE_CHECKING:
    from svde_training.flow_poses import FlowPoses
    from svde_training.masks import MaskStore


@dataclass
class TrainBatch:
    """A batch of training tuples; frame 0 is the target t, then `frame_offsets` in order.

    images: [B,F,3,h,w] crops in [0,1] (loss targets); images_aug: same, colour-jittered
    (network inputs); pose_images: [B,F,3,Hb,Wb] jittered full frames at base size, scale s = 1
    (PoseNet inputs); pos: [B,2,h,w] positional channels; K: [B,3,3] crop intrinsics (pixels);
    cam: [B,2] (fx/W0, fy/H0); scale: [B] enlargement s; index: [B] dataset index (int64);
    masks: [B,F,1,h,w] moving-object masks of the crops (1 = moving; zeros without masks);
    motion: [B,F-1,4,4] T_nbr_t of each neighbour from the clip's own poses, metres, in the
    frame of the (possibly mirrored) base image at s = 1 (identity when the dataset does not
    read poses or the clip has none); known: [B] bool, whether `motion` holds the clip's poses;
    fixed_rotation: [B,F-1,3,3], fixed_dir: [B,F-1,3], fixes: [B,F-1] int64: what the images' own
    geometry fixes of each pair's T_nbr_t (pose_source: flow; svde_training.flow_poses: 0
    nothing, 1 the rotation, 2 the rotation and the direction of travel).
    """

    images: torch.Tensor
    images_aug: torch.Tensor
    pose_images: torch.Tensor
    pos: torch.Tensor
    K: torch.Tensor
    cam: torch.Tensor
    scale: torch.Tensor
    index: torch.Tensor
    masks: torch.Tensor
    motion: torch.Tensor
    known: torch.Tensor
    fixed_rotation: torch.Tensor
    fixed_dir: torch.Tensor
    fixes: torch.Tensor

    def to(self, device: torch.device) -> TrainBatch:
        """Move every tensor to `device`."""
        return TrainBatch(**{f.name: getattr(self, f.name).to(device, non_blocking=True)
                             for f in fields(self)})


def collate(samples: list[TrainBatch]) -> TrainBatch:
    """Stack single samples (each a TrainBatch without the batch dimension)."""
    return TrainBatch(**{f.name: torch.stack([getattr(s, f.name) for s in samples])
                         for f in fields(TrainBatch)})


def to_base(clip: Clip, index: int, width: int, height: int) -> tuple[np.ndarray, Intrinsics]:
    """Frame `index` resized to the base size, as float RGB in [0,1], with its intrinsics."""
    try:
        image, K = resize_frame(clip.image(index), clip.intrinsics(index), width, height)
        return image.astype(np.float32) / 255.0, K
    except ValueError as err:
        raise DataError(f'{clip.name} frame {index}: {err}') from None


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


MIRROR = np.diag([-1.0, 1.0, 1.0, 1.0])


def known_motion(clip: Clip, t: int, neighbour: int, flip: bool, noise: PoseNoise,
                 rng: np.random.Generator) -> np.ndarray:
    """T_nbr_t (4x4, metres) from the clip's camera-to-world poses, with drift added.

    A mirrored sample sees the mirrored world: M T M with M = diag(-1, 1, 1, 1).
    """
    pose_t, pose_n = clip.pose(t), clip.pose(neighbour)
    assert pose_t is not None and pose_n is not None
    T = np.linalg.inv(pose_n) @ pose_t
    if noise.translation > 0:
        T[:3, 3] = T[:3, 3] * (1.0 + noise.translation * rng.standard_normal()) + \
            noise.translation * np.linalg.norm(T[:3, 3]) * rng.standard_normal(3)
    if noise.rotation_deg > 0:
        angles = np.deg2rad(noise.rotation_deg) * rng.standard_normal(3)
        R, _ = cv2.Rodrigues(angles)
        T[:3, :3] = R @ T[:3, :3]
    return MIRROR @ T @ MIRROR if flip else T


class TupleDataset(Dataset):
    """Frame t with its neighbours, randomly enlarged, cropped, mirrored and jittered.

    Randomness is drawn from (seed, epoch, index), so a resumed run sees the same samples.
    """

    def __init__(self, clips: list[Clip], config: DataConfig, seed: int = 0,
                 masks: MaskStore | None = None, groups: list[int] | None = None,
                 poses: PoseNoise | None = None, every_clip_posed: bool = True,
                 flow_poses: FlowPoses | None = None) -> None:
        """Open the tuples of `clips`.

        groups: the source each clip came from (for `data.sampling: sources`); poses: read
        each pair's motion from the clips' poses, with this drift added (None: do not);
        every_clip_posed: a clip without poses is an error (else its motion stays unknown);
        flow_poses: each pair's rotation and direction from the images (pose_source: flow; may
        be set after construction, from `pairs()`).
        """
        self.clips, self.config, self.seed, self.epoch = clips, config, seed, 0
        self.poses = poses
        self.flow_poses = flow_poses
        self.posed = [poses is not None and c.pose(0) is not None for c in clips]
        if poses is not None and every_clip_posed:
            missing = [c.name for c, posed in zip(clips, self.posed) if not posed]
            if missing:
                raise DataError(f'pose_source poses: clip(s) without poses: '
                                f'{", ".join(missing[:5])} (give a poses file or an odometry '
                                f'topic, or use pose_source: posenet)')
        self.groups = groups if groups is not None else [0] * len(clips)
        self.masks = masks
        if masks is not None:
            masks.check(clips, config.base_width, config.base_height)
        for clip in clips:
            K = clip.intrinsics(0)
            if K.width < config.crop_width or K.height < config.crop_height:
                raise DataError(f'{clip.name}: frames are {K.width}x{K.height}, smaller than '
                                f'the crop {config.crop_width}x{config.crop_height}')
        self.offsets: dict[str, dict[int, tuple[int, ...]]] = {}
        self.units: dict[str, str] = {}
        for clip in clips:
            self.offsets[clip.name], self.units[clip.name] = neighbour_offsets(clip, config)
        self.items = [(c, t, offsets) for c, clip in enumerate(clips)
                      for t, offsets in sorted(self.offsets[clip.name].items())
                      if clip.is_target(t)]
        if not self.items:
            raise DataError(f'no frame has all neighbours {config.frame_offsets}: clips are too '
                            f'short ({", ".join(f"{c.name}: {len(c)}" for c in clips)})')

    def pairs(self) -> list[tuple[int, int, int]]:
        """Every (clip, target, neighbour) pair training uses."""
        return [(c, t, t + o) for c, t, offsets in self.items for o in offsets]

    def draw_weights(self) -> np.ndarray | None:
        """Per item, its probability of being drawn; None = uniform (`sampling: frames`)."""
        if self.config.sampling == 'frames':
            return None
        group = np.array([self.groups[c] for c, _, _ in self.items])
        counts = np.bincount(group)
        weights = 1.0 / counts[group]
        return weights / weights.sum()

    def pair_motion(self) -> tuple[float, float] | None:
        """Median translation (m) and rotation (deg) between a target and its neighbours.

        From the poses of the clips that have them; None when none has.
        """
        translations, rotations, rng = [], [], np.random.default_rng(0)
        for c, t, offsets in self.items:
            if self.clips[c].pose(0) is None:
                continue
            for o in offsets:
                T = known_motion(self.clips[c], t, t + o, False, PoseNoise(), rng)
                translations.append(float(np.linalg.norm(T[:3, 3])))
                rotations.append(rotation_angle_deg(T[:3, :3]))
        if not translations:
            return None
        return float(np.median(translations)), float(np.median(rotations))

    def spacing(self) -> dict[str, dict]:
        """Per clip: targets and the neighbour gaps chosen (for the log and the run folder)."""
        return spacing_summary(self.offsets, self.units)

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of `epoch`."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> TrainBatch:
        cfg = self.config
        rng = np.random.default_rng((self.seed, self.epoch, index))
        c, t, offsets = self.items[index]
        clip = self.clips[c]
        frames, K_base = [], None
        for offset in (0, *offsets):
            image, K = to_base(clip, t + offset, cfg.base_width, cfg.base_height)
            frames.append(image)
            K_base = K_base or K
        assert K_base is not None
        crop: CropParams = sample_crop(rng, cfg.base_width, cfg.base_height, cfg.crop_width,
                                       cfg.crop_height, cfg.scale_min, cfg.scale_max,
                                       cfg.flip_prob)
        jitter = sample_jitter(rng, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
        crops = [crop_image(f, crop) for f in frames]
        # PoseNet sees whole frames at s = 1, mirrored like the crop so poses stay consistent.
        mirror = replace(identity_crop(cfg.base_width, cfg.base_height), flip=crop.flip)
        K_crop = crop_intrinsics(K_base, crop)
        if self.masks is None:
            masks = torch.zeros(len(frames), 1, cfg.crop_height, cfg.crop_width)
        else:
            masks = torch.stack([torch.from_numpy(
                crop_image(self.masks.mask(clip.name, t + o).astype(np.float32), crop) > 0.5)
                for o in (0, *offsets)]).float().unsqueeze(1)
        motion = torch.eye(4).repeat(len(offsets), 1, 1)
        known = self.poses is not None and self.posed[c]
        if known:
            assert self.poses is not None
            motion = torch.from_numpy(np.stack([
                known_motion(clip, t, t + o, crop.flip, self.poses, rng) for o in offsets
            ]).astype(np.float32))
        fixed_rotation = torch.eye(3).repeat(len(offsets), 1, 1)
        fixed_dir = torch.zeros(len(offsets), 3)
        fixes = torch.zeros(len(offsets), dtype=torch.int64)
        if self.flow_poses is not None and not known:
            for j, o in enumerate(offsets):
                R, d, code = self.flow_poses.fixed(c, t, t + o, crop.flip)
                fixed_rotation[j], fixed_dir[j] = torch.from_numpy(R), torch.from_numpy(d)
                fixes[j] = code
        return TrainBatch(
            motion=motion, known=torch.tensor(known),
            fixed_rotation=fixed_rotation, fixed_dir=fixed_dir, fixes=fixes,
            images=torch.stack([_chw(x) for x in crops]),
            images_aug=torch.stack([_chw(apply_jitter(x, jitter)) for x in crops]),
            pose_images=torch.stack([_chw(apply_jitter(crop_image(f, mirror), jitter))
                                     for f in frames]),
            pos=torch.from_numpy(crop_positions(crop)),
            K=torch.from_numpy(K_crop.matrix().astype(np.float32)),
            # The mirrored frame's camera: its principal point mirrors too (ray positions).
            cam=torch.tensor((clip.intrinsics(t).flipped() if crop.flip else
                              clip.intrinsics(t)).camera_channels(), dtype=torch.float32),
            scale=torch.tensor(crop.scale, dtype=torch.float32),
            index=torch.tensor(index), masks=masks)


@dataclass
class EvalFrame:
    """A full frame at base size with its ground truth at native size.

    image: [3,Hb,Wb] in [0,1]; cam: [2]; K: [3,3] pixels at base size; depth: HxW metres
    (0 = unknown); moving: HxW bool or None; neighbours: (offset, [3,Hb,Wb]) for the
    configured frame offsets that exist in the clip (used by auto-masking).
    """

    name: str
    image: torch.Tensor
    cam: torch.Tensor
    K: torch.Tensor
    depth: np.ndarray
    moving: np.ndarray | None
    neighbours: list[tuple[int, torch.Tensor]]


def eval_frames(clips: list[Clip], config: DataConfig, max_frames: int) -> list[EvalFrame]:
    """Up to `max_frames` frames with depth ground truth, spread evenly over the clips."""
    candidates = [(clip, i) for clip in clips for i in range(len(clip)) if clip.is_target(i)]
    if max_frames and len(candidates) > max_frames:
        step = len(candidates) / max_frames
        candidates = [candidates[int(k * step)] for k in range(max_frames)]
    frames = []
    for clip, i in candidates:
        depth = clip.depth(i)
        if depth is None:
            continue
        image, K = to_base(clip, i, config.base_width, config.base_height)
        neighbours = [(o, _chw(to_base(clip, i + o, config.base_width, config.base_height)[0]))
                      for o in config.frame_offsets if 0 <= i + o < len(clip)]
        frames.append(EvalFrame(f'{clip.name}#{i}', _chw(image),
                                torch.tensor(clip.intrinsics(i).camera_channels(),
                                             dtype=torch.float32),
                                torch.from_numpy(K.matrix().astype(np.float32)),
                                depth, clip.moving_mask(i), neighbours))
    return frames
