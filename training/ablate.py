"""`svde-train ablate`: the paper's ablations trained with one budget and reported in one table.

Variants (each a full training run under the output folder, resumable):
  fixed-levels   stage 1 with fixed exponential quantization levels instead of AQUANet
  backward-warp  stage 1 with Monodepth2-style backward warping instead of forward warping
  stage1         stage 1, AQUANet, forward warping, no mask (the reference; makes the masks)
  auto-mask      stage 2 from scratch with Monodepth2 auto-masking
  spimo          stage 2 from scratch with stage-1 SPIMO masks
  spimo+boost    stage 2 with SPIMO masks and boosting
  oracle         stage 2 with the ground-truth moving-object masks: what the stage-2
                 machinery gives when the masks are right (synthetic data only)
  oracle+boost   the same with boosting
Every variant is evaluated on the config's eval sources: AbsRel on all, static and moving
pixels, and the masks (SPIMO and auto-mask of the stage-1 network, and none) against GT masks.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from svde_training import run_dir
from svde_training.config import ConfigError, MaskingConfig, TrainConfig
from svde_training.data import build_clips
from svde_training.distributed import DistInfo
from svde_training.evaluate import evaluate_checkpoint
from svde_training.masks import write_gt_masks, write_masks
from svde_training.pipeline import stage_configs, train_stage
from svde_training.preview import write_png

LOG = logging.getLogger(__name__)
COLUMNS = ('abs_rel', 'static_abs_rel', 'moving_abs_rel', 'a1')


def variants(config: TrainConfig, masks_dir: Path) -> dict[str, tuple[TrainConfig, str]]:
    """Name -> (training config, mask it trains with), all with the config's budget."""
    boost = config.boost if config.boost.weight > 0 else replace(config.boost, weight=0.1)
    stage1 = stage_configs(config, masks_dir)[0]
    spimo = replace(stage1, masking=MaskingConfig('spimo', str(masks_dir)))
    oracle = MaskingConfig('spimo', str(masks_dir.parent / 'gt_masks'))
    return {
        'fixed-levels': (replace(stage1, model=replace(config.model, quantization='fixed')),
                         'none'),
        'backward-warp': (replace(stage1, loss=replace(config.loss, warping='backward')),
                          'none'),
        'stage1': (stage1, 'none'),
        'auto-mask': (replace(stage1, masking=MaskingConfig('auto')), 'auto-mask'),
        'spimo': (spimo, 'spimo'),
        'spimo+boost': (replace(spimo, boost=boost), 'spimo'),
        'oracle': (replace(spimo, masking=oracle), 'ground truth'),
        'oracle+boost': (replace(spimo, boost=boost, masking=oracle), 'ground truth'),
    }


def run_ablation(config: TrainConfig, out: Path, device: torch.device,
                 only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train and evaluate every variant (or those in `only`); returns the table as data."""
    runs = variants(config, out / 'masks')
    unknown = [name for name in only if name not in runs]
    if unknown:
        raise ConfigError(f'unknown variant(s) {", ".join(unknown)}; choose from '
                          f'{", ".join(runs)}')
    chosen = [name for name in runs if not only or name in only]
    if any(runs[name][1] == 'spimo' for name in chosen) and 'stage1' not in chosen:
        chosen.insert(0, 'stage1')   # the SPIMO variants need its masks
    info = DistInfo(0, 1, 0)
    results: dict[str, Any] = {}
    mask_report: dict[str, Any] = {}
    needs_clips = any(runs[name][1] in ('spimo', 'ground truth') for name in chosen)
    clips = [c for s in config.data.sources for c in build_clips(s)] if needs_clips else []
    for number, name in enumerate(chosen, start=1):
        variant, mask = runs[name]
        LOG.info('ablation %d/%d: %s', number, len(chosen), name)
        if mask == 'spimo':
            write_masks(out / 'stage1' / run_dir.LAST_CHECKPOINT, clips, out / 'masks',
                        config.spimo, device=device)
        elif mask == 'ground truth':
            write_gt_masks(clips, out / 'gt_masks', config.data.base_width,
                           config.data.base_height)
        train_stage(variant, out / name, device, info, resume=True, force=False)
        report = evaluate_checkpoint(out / name / run_dir.LAST_CHECKPOINT, variant,
                                     device=device)
        if name == 'stage1':
            mask_report = report.get('masks', {})
        metrics = dict(report['depth']['median-scaled'])
        for part, row in report.get('split', {}).items():
            metrics[f'{part}_abs_rel'] = row['abs_rel']
        results[name] = {'mask': mask, 'metrics': metrics}
    table = {'variants': results, 'masks': mask_report,
             'budget': {'epochs': config.optim.epochs,
                        'steps_per_epoch': config.optim.steps_per_epoch,
                        'batch_size': config.optim.batch_size}}
    run_dir.atomic_write_bytes(out / 'ablation.json', json.dumps(table, indent=2).encode())
    run_dir.atomic_write_bytes(out / 'ablation.md', ablation_markdown(table).encode())
    write_png(out / 'ablation.png', ablation_plot(table))
    return table


def ablation_markdown(table: dict[str, Any]) -> str:
    """One Markdown table: depth per variant, and the quality of the mask it trained with."""
    masks = table['masks']
    lines = ['| variant | AbsRel | AbsRel static | AbsRel moving | d1 | trained with mask | '
             'mask IoU | precision | recall |', '|---' * 9 + '|']
    for name, row in table['variants'].items():
        m = row['metrics']
        cells = [f'{m[k]:.4f}' if k in m else 'n/a' for k in COLUMNS]
        score = masks.get(row['mask'])
        mask_cells = [f'{score[k]:.3f}' for k in ('iou', 'precision', 'recall')] \
            if score else ['-', '-', '-']
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {row["mask"]} | '
                     + ' | '.join(mask_cells) + ' |')
    budget = table['budget']
    lines += ['', f'Budget per variant: {budget["epochs"]} epochs x {budget["steps_per_epoch"]} '
              f'steps, batch {budget["batch_size"]}. Masks are those of the stage-1 network, '
              'scored on the evaluation frames against ground-truth moving-object masks.']
    return '\n'.join(lines) + '\n'


def ablation_plot(table: dict[str, Any], bar_height: int = 14) -> np.ndarray:
    """Horizontal bars of AbsRel on static (blue) and moving (orange) pixels per variant."""
    names = list(table['variants'])
    values = [[table['variants'][n]['metrics'].get(k, 0.0) for k in
               ('static_abs_rel', 'moving_abs_rel')] for n in names]
    top = max([v for row in values for v in row] + [1e-6])
    label_w, plot_w = 130, 360
    height = 30 + len(names) * (2 * bar_height + 12)
    canvas = np.full((height, label_w + plot_w + 70, 3), 255, np.uint8)
    cv2.putText(canvas, 'AbsRel: static (blue) / moving (orange) pixels', (6, 18),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (name, row) in enumerate(zip(names, values)):
        y = 30 + i * (2 * bar_height + 12)
        cv2.putText(canvas, name, (6, y + bar_height + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                    (0, 0, 0), 1, cv2.LINE_AA)
        for j, (value, colour) in enumerate(zip(row, ((60, 110, 220), (240, 140, 30)))):
            y0 = y + j * bar_height
            x1 = label_w + int(plot_w * value / top)
            cv2.rectangle(canvas, (label_w, y0), (x1, y0 + bar_height - 2), colour, -1)
            cv2.putText(canvas, f'{value:.3f}', (x1 + 4, y0 + bar_height - 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
