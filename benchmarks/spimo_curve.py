"""SPIMO learning curve: mask quality of a stage-1 run's snapshots against training steps.

For each deployable snapshot of a run (checkpoints/model_epoch_NNN.pt and checkpoints/model.pt)
it sweeps SPIMO's shift (delta), pass scale, shift axes (u, v, both) and threshold on the
TRAINING clips' ground-truth moving masks, picks the setting with the best IoU there, and
reports that setting's IoU / precision / recall on the held-out EVAL clips, beside the shipped
default setting. It also reports what the network predicts on movers: the median of
prediction / truth on moving and on static pixels (median-scaled per image; a value far above 1
on movers means the network pushes them away, the failure the paper's stage 2 targets).

    python benchmarks/spimo_curve.py --run runs/long --config config/train_synthetic_long.yaml \
        --png docs/spimo_curve.png --json runs/long/spimo_curve.json

Writes the table (markdown) to stdout, and the plot (IoU, precision, recall vs steps).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from svde_ros.model.checkpoint import load_depth_net, read_checkpoint
from svde_ros.model.depth_net import DepthNet
from svde_ros.model.predict import predict_depth
from svde_ros.spimo import SpimoConfig, spimo_dispersion
from svde_training.config import load_config
from svde_training.data import build_clips
from svde_training.data.dataset import EvalFrame, eval_frames
from svde_training.data.synthetic import MOVER_KINDS, SyntheticClip
from svde_training.masks import resize_mask
from svde_training.metrics import MaskScore
from svde_training.plots import line_plot
from svde_training.preview import write_png

DELTAS = (0.05, 0.1, 0.2, 0.4)
SCALES = (0.25, 0.5, 1.0)
AXES = ('uv', 'u', 'v')
THRESHOLDS = (0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
DEFAULT = SpimoConfig()


def _frames(config_path: Path, which: str, spec_size: tuple[int, int],
            max_frames: int) -> list[tuple[EvalFrame, np.ndarray]]:
    """Frames with GT masks, each with its per-pixel mover kinds (0 static, 1 follow, ...)."""
    config = load_config(config_path)
    sources = config.data.sources if which == 'train' else config.data.eval_sources
    clips = {c.name: c for s in sources for c in build_clips(s)}
    data = replace(config.data, base_height=spec_size[0], base_width=spec_size[1])
    frames = []
    for f in eval_frames(list(clips.values()), data, max_frames):
        name, index = f.name.rsplit('#', 1)
        if f.moving is not None:
            clip = clips[name]
            assert isinstance(clip, SyntheticClip), 'mover kinds come from the synthetic world'
            frames.append((f, clip.mover_kinds(int(index))))
    return frames


@torch.no_grad()
def _dispersions(net: DepthNet, frames: list[EvalFrame],
                 spimo: SpimoConfig) -> list[np.ndarray]:
    return [spimo_dispersion(net, f.image[None], f.cam[None], spimo)[0, 0].numpy()
            for f in frames]


def _gts(frames: list[EvalFrame]) -> list[np.ndarray]:
    return [resize_mask(f.moving, f.image.shape[2], f.image.shape[1]) for f in frames
            if f.moving is not None]


def _score(maps: list[np.ndarray], gts: list[np.ndarray], threshold: float) -> dict:
    score = MaskScore()
    for dispersion, gt in zip(maps, gts):
        score.add(dispersion > threshold, gt)
    s = score.scores()
    s['flagged'] = float(np.mean([np.mean(d > threshold) for d in maps]))
    return s


@torch.no_grad()
def _mover_depth(net: DepthNet,
                 frames: list[tuple[EvalFrame, np.ndarray]]) -> dict[str, float]:
    """Median prediction / truth per kind of pixel, median-scaled on static ones.

    Also the mean dispersion (default setting) per kind: SPIMO can only work where movers
    disperse more than the static scene.
    """
    names = ('static', *MOVER_KINDS)
    ratios: dict[str, list[float]] = {k: [] for k in names}
    spread: dict[str, list[float]] = {k: [] for k in names}
    for f, kinds in frames:
        h, w = f.depth.shape
        pred = predict_depth(net, f.image, f.cam, (h, w)).numpy()
        dispersion = spimo_dispersion(net, f.image[None], f.cam[None], DEFAULT)[0, 0].numpy()
        valid = (f.depth > 1e-3) & (f.depth < 80)
        static = (kinds == 0) & valid
        scale = np.median(f.depth[static]) / np.median(pred[static])
        for k, name in enumerate(names):
            region = (kinds == k) & valid
            if region.sum() >= 20:
                ratios[name].append(float(np.median(pred[region] * scale / f.depth[region])))
                small = cv2.resize(region.astype(np.uint8), dispersion.shape[::-1],
                                   interpolation=cv2.INTER_NEAREST) > 0
                if small.any():
                    spread[name].append(float(np.median(dispersion[small])))
    out = {f'{k}_ratio': float(np.median(v)) if v else float('nan') for k, v in ratios.items()}
    out.update({f'{k}_dispersion': float(np.median(v)) if v else float('nan')
                for k, v in spread.items()})
    return out


def evaluate_snapshot(path: Path, train_set: list[tuple[EvalFrame, np.ndarray]],
                      held_out_set: list[tuple[EvalFrame, np.ndarray]]) -> dict:
    """Sweep on the training frames, report the best and the default setting on held-out."""
    net, _ = load_depth_net(path)
    train, held_out = [f for f, _ in train_set], [f for f, _ in held_out_set]
    train_gts, eval_gts = _gts(train), _gts(held_out)
    # Best setting per pass scale (what a cheaper SPIMO frame costs in IoU), then overall.
    by_scale: dict[float, tuple[float, SpimoConfig]] = {s: (-1.0, DEFAULT) for s in SCALES}
    for delta, scale, axes in itertools.product(DELTAS, SCALES, AXES):
        maps = _dispersions(net, train, SpimoConfig(delta, scale, 1.0, axes))
        for threshold in THRESHOLDS:
            iou = _score(maps, train_gts, threshold)['iou']
            if iou > by_scale[scale][0]:
                by_scale[scale] = (iou, SpimoConfig(delta, scale, threshold, axes))
    best = max(by_scale.values(), key=lambda b: b[0])
    chosen = best[1]
    held_out_scores = {scale: _score(_dispersions(net, held_out, c), eval_gts, c.threshold)
                       for scale, (_, c) in by_scale.items()}   # the chosen one among them
    row = {'checkpoint': str(path), 'step': read_checkpoint(path).get('global_step'),
           'chosen': asdict(chosen), 'train_iou': best[0],
           'eval': held_out_scores[chosen.scale],
           'eval_default': _score(_dispersions(net, held_out, DEFAULT), eval_gts,
                                  DEFAULT.threshold),
           'eval_by_scale': {str(scale): score['iou']
                             for scale, score in held_out_scores.items()},
           **_mover_depth(net, held_out_set)}
    return row


def snapshots(run: Path) -> list[Path]:
    """The run's kept deployable models, oldest first, then the final one.

    The final model.pt is left out when it is within 10% of the last snapshot's steps (a run
    stopped early: it adds a point that says nothing new).
    """
    paths = sorted((run / 'checkpoints').glob('model_epoch_*.pt'))
    final = run / 'checkpoints' / 'model.pt'
    if final.is_file():
        last = read_checkpoint(paths[-1]).get('global_step') or 0 if paths else 0
        if not paths or (read_checkpoint(final).get('global_step') or 0) > 1.1 * last:
            paths.append(final)
    return paths


def markdown(rows: list[dict]) -> str:
    """Three tables: mask quality, IoU per pass scale, what the network does per pixel kind.

    The IoU per pass scale is held-out, at each scale's best setting on the training frames.
    """
    lines = ['| steps | chosen delta / scale / axes / threshold | IoU | precision | recall | '
             'flagged | IoU at default | flagged at default |', '|' + '---|' * 8]
    for r in rows:
        c, e, d = r['chosen'], r['eval'], r['eval_default']
        lines.append(f'| {r["step"]} | {c["delta"]:g} / {c["scale"]:g} / {c["axes"]} / '
                     f'{c["threshold"]:g} | {e["iou"]:.3f} | {e["precision"]:.3f} | '
                     f'{e["recall"]:.3f} | {e["flagged"]:.3f} | {d["iou"]:.3f} | '
                     f'{d["flagged"]:.3f} |')
    lines += ['', '| steps | ' + ' | '.join(f'IoU, passes at {s:g}' for s in SCALES) + ' |',
              '|' + '---|' * (1 + len(SCALES))]
    for r in rows:
        if 'eval_by_scale' in r:
            lines.append(f'| {r["step"]} | ' + ' | '.join(
                f'{r["eval_by_scale"][str(s)]:.3f}' for s in SCALES) + ' |')
    names = ('static', *MOVER_KINDS)
    lines += ['', '| steps | ' + ' | '.join(f'{n}: pred/GT' for n in names) + ' | ' +
              ' | '.join(f'{n}: dispersion' for n in names) + ' |',
              '|' + '---|' * (1 + 2 * len(names))]
    for r in rows:
        lines.append(f'| {r["step"]} | ' + ' | '.join(f'{r[n + "_ratio"]:.2f}' for n in names)
                     + ' | ' + ' | '.join(f'{r[n + "_dispersion"]:.4f}' for n in names) + ' |')
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', type=Path, required=True, help='a stage-1 run folder')
    parser.add_argument('--config', type=Path, required=True,
                        help='config with data.sources (selection) and data.eval_sources')
    parser.add_argument('--max-frames', type=int, default=32)
    parser.add_argument('--png', type=Path, help='write the plot here')
    parser.add_argument('--json', type=Path, help='write the rows here')
    args = parser.parse_args()
    paths = snapshots(args.run)
    if not paths:
        print(f'{args.run}: no snapshots (checkpoints/model_epoch_*.pt or model.pt)',
              file=sys.stderr)
        return 2
    spec = load_depth_net(paths[0])[1]
    size = (spec.input_height, spec.input_width)
    train = _frames(args.config, 'train', size, args.max_frames)
    held_out = _frames(args.config, 'eval', size, args.max_frames)
    print(f'{len(paths)} snapshots; {len(train)} training frames (selection), {len(held_out)} '
          f'held-out frames (report); grid {len(DELTAS)}x{len(SCALES)}x{len(AXES)}x'
          f'{len(THRESHOLDS)}', file=sys.stderr)
    rows = []
    for k, path in enumerate(paths, start=1):
        started = time.monotonic()
        rows.append(evaluate_snapshot(path, train, held_out))
        print(f'[{k}/{len(paths)}] {path.name}: step {rows[-1]["step"]}, held-out IoU '
              f'{rows[-1]["eval"]["iou"]:.3f} ({time.monotonic() - started:.0f} s)',
              file=sys.stderr)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.png:
        series = {name: [(float(r['step']), r['eval'][key]) for r in rows]
                  for name, key in (('IoU (best setting)', 'iou'),
                                    ('precision', 'precision'), ('recall', 'recall'))}
        series['IoU (default 0.1/0.5/uv/0.02)'] = [(float(r['step']), r['eval_default']['iou'])
                                                  for r in rows]
        write_png(args.png, line_plot(series, f'SPIMO masks vs training steps ({args.run.name})',
                                      'training steps (log)', 'held-out', log_x=True,
                                      y_range=(0.0, 1.0)))
        print(f'wrote {args.png}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
