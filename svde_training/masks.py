"""Offline moving-object masks: written once from a stage-1 network, read by stage-2 training.

Either SPIMO's (dispersion under shifted positions) or the motion mask's (svde_ros.motion:
each frame's flow from the frame `gap` before it against what its depth explains), the two
methods the node offers.

Layout of a masks folder: manifest.json (what made the masks and for which data), one folder
per clip holding NNNNNN.png (mono8, 255 = moving) at the network's input size, and previews/
with overlays. Files are written atomically and existing ones are kept, so an interrupted run
continues where it stopped; a folder made by another model, for other data or at another size
is refused by name.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from svde_ros.files import atomic_write_bytes, sha256_file
from svde_ros.model.checkpoint import load_depth_net
from svde_ros.model.depth_net import DepthNet
from svde_ros.model.predict import predict_depth
from svde_ros.motion.mask import MotionMaskConfig
from svde_ros.motion.stream import mask_of_pair
from svde_ros.spimo import SpimoConfig, moving_mask, spimo_dispersion
from svde_training.data.clip import Clip, DataError
from svde_training.data.dataset import to_base
from svde_training.metrics import MaskScore
from svde_training.run_dir import RunDirError

LOG = logging.getLogger(__name__)
MANIFEST = 'manifest.json'
MASKS_FORMAT = 'svde_ros.masks/1'


def clip_folder(name: str) -> str:
    """A file-system-safe folder name for a clip."""
    return re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('_') or 'clip'


def resize_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A bool mask at width x height (nearest neighbour: no new, half-moving pixels)."""
    return cv2.resize(mask.astype(np.uint8), (width, height),
                      interpolation=cv2.INTER_NEAREST) > 0


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RGB uint8 image with moving pixels tinted red and outlined."""
    out = image.astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array([255.0, 0.0, 0.0])
    out = out.astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


class MaskStore:
    """Read access to a masks folder, checked against the clips it is used with."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise DataError(f'{manifest} not found: make masks with `svde-train masks` '
                            '(or train with pipeline: full)')
        try:
            self.manifest: dict[str, Any] = json.loads(manifest.read_text())
            self.width, self.height = int(self.manifest['width']), int(self.manifest['height'])
            self.clips: dict[str, int] = dict(self.manifest['clips'])
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f'{manifest}: not a masks manifest ({err})') from None

    def check(self, clips: list[Clip], width: int, height: int) -> None:
        """Raise DataError unless the folder holds masks for these clips at this size."""
        if (width, height) != (self.width, self.height):
            raise DataError(f'{self.folder / MANIFEST}: masks are {self.width}x{self.height} '
                            f'but the data is cut from {width}x{height} frames; remake them '
                            'with a network trained at that size')
        for clip in clips:
            if self.clips.get(clip.name) != len(clip):
                have = ', '.join(f'{k} ({v})' for k, v in self.clips.items())
                raise DataError(f'{self.folder / MANIFEST}: no masks for clip {clip.name} '
                                f'({len(clip)} frames); the folder has: {have}')

    def path(self, clip_name: str, index: int) -> Path:
        """Where the mask of frame `index` of a clip lives."""
        return self.folder / clip_folder(clip_name) / f'{index:06d}.png'

    def mask(self, clip_name: str, index: int) -> np.ndarray:
        """HxW bool mask (True = moving) at the manifest's size."""
        path = self.path(clip_name, index)
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise DataError(f'mask missing or unreadable: {path} (rerun `svde-train masks`, '
                            'it continues where it stopped)')
        if mask.shape != (self.height, self.width):
            raise DataError(f'{path}: mask is {mask.shape[1]}x{mask.shape[0]}, expected '
                            f'{self.width}x{self.height}')
        return mask > 127


def _manifest(checkpoint: Path, clips: list[Clip], width: int, height: int,
              spimo: SpimoConfig, motion: tuple[MotionMaskConfig, int] | None,
              ) -> dict[str, Any]:
    method = {'spimo': asdict(spimo)} if motion is None else \
        {'motion': {**asdict(motion[0]), 'gap': motion[1]}}
    return {'format': MASKS_FORMAT, 'checkpoint': str(checkpoint),
            'checkpoint_sha256': sha256_file(checkpoint), **method,
            'width': width, 'height': height, 'clips': {c.name: len(c) for c in clips}}


@torch.no_grad()
def motion_masks(net: DepthNet, clip: Clip, indices: list[int], width: int, height: int,
                 config: MotionMaskConfig, gap: int, device: torch.device | str = 'cpu',
                 ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The motion mask of frames `indices` of `clip`: (index, mask, frame) for each.

    mask: width x height bool (zeros = no verdict); frame: as served, uint8 RGB. Frame i is
    compared with frame i - gap (the first `gap` frames with i + gap: the same geometry in
    reverse), as the node compares a frame with the one motion_interval_s before.
    """
    @functools.lru_cache(maxsize=2 * gap + 2)     # frame i - gap was served gap frames ago
    def served(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(float RGB for the network, uint8 RGB for the flow, K) at width x height."""
        image, K = to_base(clip, i, width, height)
        return image, (image * 255).astype(np.uint8), K.matrix()

    for i in indices:
        image, frame, K = served(i)
        cam = torch.tensor(clip.intrinsics(i).camera_channels(), device=device)
        depth = predict_depth(net, torch.from_numpy(image.transpose(2, 0, 1)).to(device), cam,
                              (height, width)).cpu().numpy()
        other = i - gap if i >= gap else min(i + gap, len(clip) - 1)
        result = mask_of_pair(config, served(other)[1], frame, depth, K)
        yield i, result.mask if result.mask is not None else np.zeros(depth.shape, bool), frame


def summary_line(summary: dict[str, Any]) -> str:
    """write_masks' summary on one log line (counts as they are, shares to 4 digits)."""
    return ', '.join(f'{k} {v:.4g}' if isinstance(v, float) else f'{k} {v}'
                     for k, v in summary.items())


def write_masks(checkpoint: Path, clips: list[Clip], out: Path, spimo: SpimoConfig,
                force: bool = False, batch_size: int = 8, preview_every: int = 10,
                device: torch.device | str = 'cpu',
                motion: tuple[MotionMaskConfig, int] | None = None) -> dict[str, Any]:
    """The moving-object mask of every frame of `clips` from a trained network, resumable.

    SPIMO's with `spimo`, or with `motion` = (settings, gap in frames) the motion mask's.

    Returns:
        Summary: frames, written (this call), moving share, and mask IoU/precision/recall
        against ground truth where the clips have moving-object masks.
    """
    net, spec = load_depth_net(checkpoint, device)
    width, height = spec.input_width, spec.input_height
    manifest = _manifest(checkpoint, clips, width, height, spimo, motion)
    manifest_path = out / MANIFEST
    if manifest_path.is_file() and not force:
        stored = json.loads(manifest_path.read_text())
        keys = ('checkpoint_sha256', 'spimo', 'motion', 'width', 'height', 'clips')
        changed = [k for k in keys if stored.get(k) != manifest.get(k)]
        if changed:
            raise RunDirError(f'{out} holds masks made differently (differs at: '
                              f'{", ".join(changed)}); pass --force to replace them or choose '
                              'another --out')
    elif out.exists() and any(out.iterdir()) and not force:
        raise RunDirError(f'{out} is not empty and holds no masks; choose another --out')
    atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2).encode())
    store = MaskStore(out)
    todo = [(clip, i) for clip in clips for i in range(len(clip))
            if force or not store.path(clip.name, i).is_file()]
    frames = sum(len(c) for c in clips)
    method = f'SPIMO (delta {spimo.delta:.3g}, threshold {spimo.threshold:.3g})' \
        if motion is None else f'motion (threshold {motion[0].threshold:.3g}, gap {motion[1]})'
    LOG.info('%s masks for %d frames (%d already done) at %dx%d', method, frames,
             frames - len(todo), width, height)

    def write(clip: Clip, i: int, mask: np.ndarray, image: np.ndarray) -> None:
        ok, png = cv2.imencode('.png', mask.astype(np.uint8) * 255)
        assert ok
        atomic_write_bytes(store.path(clip.name, i), png.tobytes())
        if preview_every and i % preview_every == 0:
            ok, png = cv2.imencode('.png', overlay(image, mask)[..., ::-1])
            atomic_write_bytes(out / 'previews' / f'{clip_folder(clip.name)}_{i:06d}.png',
                               png.tobytes())
    bar = tqdm(total=len(todo), desc='masks', unit='frame')
    if motion is not None:
        for clip in {id(c): c for c, _ in todo}.values():
            indices = [i for c, i in todo if c is clip]
            for i, mask, image in motion_masks(net, clip, indices, width, height, *motion,
                                               device):
                write(clip, i, mask, image)
                bar.update(1)
    else:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            bases = [to_base(clip, i, width, height)[0] for clip, i in chunk]
            images = torch.stack([torch.from_numpy(b.transpose(2, 0, 1)) for b in bases])
            cams = torch.tensor([clip.intrinsics(i).camera_channels() for clip, i in chunk],
                                dtype=torch.float32)
            with torch.no_grad():
                masks = moving_mask(spimo_dispersion(net, images.to(device), cams.to(device),
                                                     spimo), spimo.threshold)[:, 0].cpu().numpy()
            for (clip, i), base, mask in zip(chunk, bases, masks):
                write(clip, i, mask, (base * 255).astype(np.uint8))
            bar.update(len(chunk))
    bar.close()
    return mask_summary(store, clips)


def write_gt_masks(clips: list[Clip], out: Path, width: int, height: int) -> None:
    """Ground-truth moving-object masks (synthetic data) in the masks-folder layout.

    The oracle for stage 2: what masking can give when the masks are right.
    """
    missing = [c.name for c in clips if c.moving_mask(0) is None]
    if missing:
        raise DataError(f'no ground-truth moving-object masks in {", ".join(missing)}')
    manifest = {'format': MASKS_FORMAT, 'source': 'ground truth', 'width': width,
                'height': height, 'clips': {c.name: len(c) for c in clips}}
    atomic_write_bytes(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    store = MaskStore(out)
    for clip in clips:
        for i in range(len(clip)):
            mask = resize_mask(clip.moving_mask(i), width, height)
            ok, png = cv2.imencode('.png', mask.astype(np.uint8) * 255)
            assert ok
            atomic_write_bytes(store.path(clip.name, i), png.tobytes())


def mask_summary(store: MaskStore, clips: list[Clip]) -> dict[str, Any]:
    """Moving share of a masks folder and, where clips have GT masks, IoU/precision/recall."""
    score, moving, total, with_gt = MaskScore(), 0, 0, 0
    for clip in clips:
        for i in range(len(clip)):
            mask = store.mask(clip.name, i)
            moving += int(mask.sum())
            total += mask.size
            gt = clip.moving_mask(i)
            if gt is not None:
                score.add(mask, resize_mask(gt, store.width, store.height))
                with_gt += 1
    summary: dict[str, Any] = {'frames': sum(len(c) for c in clips),
                               'moving_share': moving / max(1, total)}
    if with_gt:
        summary.update({f'mask_{k}': v for k, v in score.scores().items()})
    return summary
