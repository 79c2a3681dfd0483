"""Stage-1 variants x seeds at one budget: mean, spread across seeds and over the last epochs.

A 320-step ablation moves by about 0.05 AbsRel from one epoch to the next, more than the
effects it looks for; this script runs every variant with several seeds and reports the mean,
the spread across seeds and the mean spread over each run's last three evaluations, so a
reader can tell an effect from noise. Each run is a normal `svde-train fit` run folder under
--out, resumed when it exists.

    python benchmarks/seeded_ablation.py --config config/ablation_seeds.yaml \
        --variants stride2,stride1 --seeds 0,1 --out runs/seeded [--png docs/ablation.png]

--png draws every run's held-out AbsRel per epoch (one colour per variant, seed 0 thick,
other seeds thin): the curves show the noise the table summarises.

Variants change one setting of the base config:
    stride2   the base (shipped stride-2 level head)
    stride1   the paper's full-resolution level head (model.head_stride 1)
    fixed     fixed exponential levels instead of AQUANet (model.quantization fixed)
    backward  Monodepth2-style backward warping (loss.warping backward)
    noholes   forward warping with holes free (loss.hole_weight 0, the old loss)
    topk8     forward warping splats only the 8 most probable levels per pixel (loss.top_k 8)
    oracle    stage 2 from scratch with the ground-truth moving masks (synthetic only)
    oracle+boost              ... and boosting (weight 0.1 from the middle epoch)
    oracle+boost-fixed        ... boosting with the teacher fixed at its first epoch
    oracle+boost-fixed-all    ... boosting with the teacher fixed at its first epoch and the
                              term averaged over all pixels (the two leads in the README)
"""
from __future__ import annotations

import argparse
import copy
import csv
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    'stride2': {},
    'stride1': {'model': {'head_stride': 1}},
    'fixed': {'model': {'quantization': 'fixed'}},
    'backward': {'loss': {'warping': 'backward'}},
    'noholes': {'loss': {'hole_weight': 0.0}},
    'topk8': {'loss': {'top_k': 8}},
    'oracle': {'masking': {'mode': 'spimo', 'masks_dir': '<gt>'}},
    'oracle+boost': {'masking': {'mode': 'spimo', 'masks_dir': '<gt>'},
                     'boost': {'weight': 0.1, 'start_epoch': -1}},
    'oracle+boost-fixed': {'masking': {'mode': 'spimo', 'masks_dir': '<gt>'},
                           'boost': {'weight': 0.1, 'start_epoch': -1, 'teacher': 'fixed'}},
    'oracle+boost-fixed-all': {'masking': {'mode': 'spimo', 'masks_dir': '<gt>'},
                               'boost': {'weight': 0.1, 'start_epoch': -1, 'teacher': 'fixed',
                                         'average': 'all'}},
}
COLUMNS = ('eval_abs_rel', 'eval_static_abs_rel', 'eval_moving_abs_rel', 'eval_a1')


def run_config(base: dict[str, Any], variant: str, seed: int, gt_masks: Path) -> dict[str, Any]:
    """The base config with the variant's changes.

    '<gt>' stands for the ground-truth masks folder, start_epoch -1 for the middle epoch.
    """
    config = copy.deepcopy(base)
    for section, values in copy.deepcopy(VARIANTS[variant]).items():
        if values.get('masks_dir') == '<gt>':
            values['masks_dir'] = str(gt_masks.resolve())
        if values.get('start_epoch') == -1:
            values['start_epoch'] = config['optim']['epochs'] // 2
        config.setdefault(section, {}).update(values)
    config.setdefault('optim', {})['seed'] = seed
    return config


def ground_truth_masks(base: dict[str, Any], out: Path) -> Path:
    """The training clips' ground-truth moving masks, written once under `out`."""
    from svde_training.config import config_from_dict
    from svde_training.data import build_clips
    from svde_training.masks import write_gt_masks

    folder = out / 'gt_masks'
    if not (folder / 'manifest.json').is_file():
        config = config_from_dict(base)
        clips = [c for s in config.data.sources for c in build_clips(s)]
        write_gt_masks(clips, folder, config.data.base_width, config.data.base_height)
    return folder


def train(config: dict[str, Any], out: Path) -> float:
    """Run (or resume) one training; returns its wall time in seconds."""
    out.mkdir(parents=True, exist_ok=True)
    path = out.parent / f'{out.name}.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    resume = ['--resume'] if (out / 'config.yaml').exists() else []
    started = time.monotonic()
    with open(out.parent / f'{out.name}.log', 'a') as log:
        subprocess.run([sys.executable, '-m', 'svde_training.cli', 'fit', '--config', str(path),
                        '--out', str(out), *resume], check=True, stdout=log, stderr=log,
                       env={**os.environ, 'OMP_NUM_THREADS': os.environ.get(
                           'OMP_NUM_THREADS', '1')})
    return time.monotonic() - started


def read_metrics(out: Path) -> list[dict[str, float]]:
    with open(out / 'metrics.csv') as f:
        return [{k: float(v) for k, v in row.items() if v not in ('', None)}
                for row in csv.DictReader(f)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', type=Path, required=True)
    parser.add_argument('--variants', default='stride2,stride1')
    parser.add_argument('--seeds', default='0,1')
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--png', type=Path, help='write the per-epoch curves here')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: tabulate (and plot) the finished runs under --out')
    args = parser.parse_args()
    base = yaml.safe_load(args.config.read_text())
    variants = args.variants.split(',')
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f'unknown variant(s) {", ".join(unknown)}; choose from {", ".join(VARIANTS)}',
              file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(',')]
    args.out.mkdir(parents=True, exist_ok=True)
    gt_masks = ground_truth_masks(base, args.out) if any(
        v.startswith('oracle') for v in variants) and not args.report_only \
        else args.out / 'gt_masks'
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    curves: dict[str, list[dict[str, float]]] = {}        # '<variant> s<seed>': epoch rows
    for seed in seeds:                      # seed-major: a cut-short run still compares
        for variant in variants:
            out = args.out / f'{variant}-seed{seed}'
            if args.report_only:
                if not (out / 'metrics.csv').is_file():
                    print(f'{out}: no finished run to report; run without --report-only',
                          file=sys.stderr)
                    return 2
                seconds = float('nan')
            else:
                print(f'{variant}, seed {seed}: training in {out} ...', file=sys.stderr)
                seconds = train(run_config(base, variant, seed, gt_masks), out)
            metrics = read_metrics(out)
            rows = [r for r in metrics if r.get('epoch', 0) > 0]
            curves[f'{variant} s{seed}'] = metrics
            last = rows[-1]
            tail = rows[-3:]
            results[variant].append({
                'seed': seed, 'seconds': seconds,
                **{c: last.get(c, float('nan')) for c in COLUMNS},   # real video: no masks
                'tail_spread': float(np.mean([max(r['eval_abs_rel'] for r in tail) -
                                              min(r['eval_abs_rel'] for r in tail)]))})
            result = results[variant][-1]
            if not args.report_only:
                print(f'  AbsRel {result["eval_abs_rel"]:.4f} (static '
                      f'{result["eval_static_abs_rel"]:.4f}, moving '
                      f'{result["eval_moving_abs_rel"]:.4f}) in {seconds / 60:.1f} min',
                      file=sys.stderr)
    print('| variant | seeds | AbsRel mean | across seeds (max-min) | last-3-epoch spread | '
          'static | moving | d1 | per seed |')
    print('|---|---|---|---|---|---|---|---|---|')
    for variant, runs in results.items():
        values = [r['eval_abs_rel'] for r in runs]
        print(f'| {variant} | {len(runs)} | {np.mean(values):.4f} | '
              f'{max(values) - min(values):.4f} | '
              f'{np.mean([r["tail_spread"] for r in runs]):.4f} | '
              f'{np.mean([r["eval_static_abs_rel"] for r in runs]):.4f} | '
              f'{np.mean([r["eval_moving_abs_rel"] for r in runs]):.4f} | '
              f'{np.mean([r["eval_a1"] for r in runs]):.4f} | '
              + ', '.join(f'{v:.4f}' for v in values) + ' |')
    if args.png:
        write_curves(args.png, curves, variants, seeds, args.config.stem)
    return 0


def write_curves(png: Path, curves: dict[str, list[dict[str, float]]], variants: list[str],
                 seeds: list[int], title: str) -> None:
    """Every run's held-out AbsRel against steps, one colour per variant, and the constant.

    curves: each run's metrics.csv rows, keyed '<variant> s<seed>'.
    """
    from svde_training.plots import line_plot
    from svde_training.preview import write_png

    series, colours, thin = {}, {}, set()
    for k, variant in enumerate(variants):
        for seed in seeds:
            name = f'{variant} s{seed}'
            series[name] = [(r['step'], r['eval_abs_rel']) for r in curves[name]
                            if r.get('epoch', 0) > 0]
            colours[name] = k
            if seed != seeds[0]:
                thin.add(name)
    first = curves[f'{variants[0]} s{seeds[0]}'][0]          # epoch 0: the baselines
    steps = [x for points in series.values() for x, _ in points]
    if 'const_abs_rel' in first:
        series['constant depth'] = [(min(steps), first['const_abs_rel']),
                                    (max(steps), first['const_abs_rel'])]
        colours['constant depth'] = len(variants)
        thin.add('constant depth')
    write_png(png, line_plot(series, f'held-out AbsRel per epoch ({title})', 'training steps',
                             'AbsRel', color_index=colours, thin=frozenset(thin),
                             size=(720, 420)))
    print(f'wrote {png}', file=sys.stderr)


if __name__ == '__main__':
    sys.exit(main())
