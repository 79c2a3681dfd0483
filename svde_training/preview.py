"""PNG previews of training: input, predicted depth, synthesised view, photometric error."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from svde_ros.colorize import colorize


def _rgb(image: torch.Tensor) -> np.ndarray:
    return (image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).astype(
        np.uint8)


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    panel = panel.copy()
    cv2.putText(panel, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                cv2.LINE_AA)
    return panel


def preview_panel(image: torch.Tensor, disp: torch.Tensor, synth: torch.Tensor,
                  error: torch.Tensor, valid: torch.Tensor) -> np.ndarray:
    """Stack the four views of one sample vertically (HxWx3 uint8 RGB each).

    image: [3,H,W] in [0,1]; disp: [1,H,W]; synth [3,h,w], error [1,h,w], valid [1,h,w] bool
    at the loss's finest scale (h x w below H x W for a coarse head; shown enlarged).
    """
    d = disp[0].detach().float().cpu().numpy()
    e = error[0].detach().float().cpu().numpy()
    e = np.where(valid[0].cpu().numpy(), e, np.nan)
    lo, hi = np.percentile(d, 1), np.percentile(d, 99)
    panels = [
        _label(_rgb(image), 'input'),
        _label(colorize(d, lo, hi), 'disparity (bright = near)'),
        _label(_rgb(synth), 'synthesised view'),
        _label(colorize(e, 0.0, 0.3), 'photometric error (black = excluded)'),
    ]
    size = (panels[0].shape[1], panels[0].shape[0])
    return np.concatenate([p if p.shape[:2] == panels[0].shape[:2] else
                           cv2.resize(p, size, interpolation=cv2.INTER_NEAREST)
                           for p in panels], axis=0)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), rgb[..., ::-1]):
        raise OSError(f'cannot write {path}')
