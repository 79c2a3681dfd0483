"""SPIMO mask quality over a grid of shift (delta) and threshold, for choosing the settings.

Scores the masks of a trained checkpoint against ground-truth moving-object masks of the
config's TRAINING sources (choose settings there, report on the eval sources), for every
delta x threshold, with auto-masking-free numbers only (IoU / precision / recall), and prints
the best cell. Run:

    python benchmarks/spimo_sweep.py --checkpoint runs/synthetic/checkpoints/last.pt \
        --config config/pipeline_synthetic.yaml
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from svde_ros.colorize import colorize
from svde_ros.model.checkpoint import load_depth_net
from svde_ros.model.predict import predict_depth
from svde_ros.spimo import SpimoConfig, spimo_dispersion
from svde_training.config import load_config
from svde_training.data import build_clips
from svde_training.data.dataset import eval_frames
from svde_training.masks import resize_mask
from svde_training.metrics import MaskScore
from svde_training.preview import write_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--config', required=True)
    parser.add_argument('--deltas', default='0.05,0.1,0.2,0.3')
    parser.add_argument('--thresholds', default='0.005,0.01,0.02,0.04,0.08')
    parser.add_argument('--scale', type=float, default=0.5)
    parser.add_argument('--max-frames', type=int, default=32)
    parser.add_argument('--panel', help='write a PNG: input | dispersion | GT mask | SPIMO mask '
                        '(the config\'s spimo settings) | depth, for 4 frames')
    args = parser.parse_args()
    net, spec = load_depth_net(args.checkpoint)
    config = load_config(args.config)
    clips = [c for s in config.data.sources for c in build_clips(s)]
    data = replace(config.data, base_height=spec.input_height, base_width=spec.input_width)
    frames = [f for f in eval_frames(clips, data, args.max_frames) if f.moving is not None]
    deltas = [float(v) for v in args.deltas.split(',')]
    thresholds = [float(v) for v in args.thresholds.split(',')]
    print(f'{len(frames)} training frames with GT masks, pass scale {args.scale}')
    print('delta  threshold  IoU    precision  recall  moving share')
    best = (-1.0, 0.0, 0.0)
    for delta in deltas:
        spimo = SpimoConfig(delta, args.scale, 1.0)
        maps, gts = [], []
        with torch.no_grad():
            for f in frames:
                maps.append(spimo_dispersion(net, f.image[None], f.cam[None], spimo)[0, 0]
                            .numpy())
                h, w = f.image.shape[1:]
                gts.append(resize_mask(f.moving, w, h))
        for threshold in thresholds:
            score = MaskScore()
            for dispersion, gt in zip(maps, gts):
                score.add(dispersion > threshold, gt)
            s = score.scores()
            share = np.mean([np.mean(d > threshold) for d in maps])
            print(f'{delta:<6g} {threshold:<10g} {s["iou"]:.3f}  {s["precision"]:.3f}      '
                  f'{s["recall"]:.3f}   {share:.3f}')
            best = max(best, (s['iou'], delta, threshold))
    gt_share = np.mean([g.mean() for g in gts])
    print(f'best IoU {best[0]:.3f} at delta {best[1]:g}, threshold {best[2]:g} '
          f'(GT moving share {gt_share:.3f})')
    if args.panel:
        write_png(Path(args.panel), panel(net, frames[:4], config.spimo))
        print(f'wrote {args.panel}')


@torch.no_grad()
def panel(net: torch.nn.Module, frames: list, spimo: SpimoConfig) -> np.ndarray:
    """Rows of input | log dispersion | GT moving mask | SPIMO mask | predicted depth."""
    rows = []
    for f in frames:
        dispersion = spimo_dispersion(net, f.image[None], f.cam[None], spimo)[0, 0].numpy()
        h, w = f.image.shape[1:]
        depth = predict_depth(net, f.image, f.cam, (h, w)).numpy()
        gt = resize_mask(f.moving, w, h)
        grey = [np.repeat((m * 255).astype(np.uint8)[..., None], 3, 2)
                for m in (gt, dispersion > spimo.threshold)]
        rows.append(np.concatenate([
            (f.image.permute(1, 2, 0).numpy() * 255).astype(np.uint8),
            colorize(np.log(dispersion + 1e-6), np.log(1e-3), np.log(0.3)), *grey,
            colorize(-np.log(depth), float(-np.log(depth).max()),
                     float(-np.log(depth).min()))], axis=1))
    return np.concatenate(rows, axis=0)


if __name__ == '__main__':
    main()
