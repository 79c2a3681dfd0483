"""Stage-1 variants x seeds at one budget: mean, spread across seeds and over the last epochs.

A 320-step ablation moves by about 0.05 AbsRel from one epoch to the next, more than the
effects it looks for; this script runs every variant with several seeds and reports the mean,
the spread across seeds and the mean spread over each run's last three evaluations, so a
reader can tell an effect from noise. Each run is a normal `svde-train fit` run folder under
--out, resumed when it exists.

    python benchmarks/seeded_ablation.py --config config/ablation_seeds.yaml \
        --variants stride2,stride1 --seeds 0,1 --out runs/seeded

Variants change one setting of the base config:
    stride2   the base (shipped stride-2 level head)
    stride1   the paper's full-resolution level head (model.head_stride 1)
    fixed     fixed exponential levels instead of AQUANet (model.quantization fixed)
    backward  Monodepth2-style backward warping (loss.warping backward)
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
}
COLUMNS = ('eval_abs_rel', 'eval_static_abs_rel', 'eval_moving_abs_rel', 'eval_a1')


def run_config(base: dict[str, Any], variant: str, seed: int) -> dict[str, Any]:
    config = copy.deepcopy(base)
    for section, values in VARIANTS[variant].items():
        config.setdefault(section, {}).update(values)
    config.setdefault('optim', {})['seed'] = seed
    return config


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
    args = parser.parse_args()
    base = yaml.safe_load(args.config.read_text())
    variants = args.variants.split(',')
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        print(f'unknown variant(s) {", ".join(unknown)}; choose from {", ".join(VARIANTS)}',
              file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(',')]
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for seed in seeds:                      # seed-major: a cut-short run still compares
        for variant in variants:
            out = args.out / f'{variant}-seed{seed}'
            print(f'{variant}, seed {seed}: training in {out} ...', file=sys.stderr)
            seconds = train(run_config(base, variant, seed), out)
            rows = [r for r in read_metrics(out) if r.get('epoch', 0) > 0]
            last = rows[-1]
            tail = rows[-3:]
            results[variant].append({
                'seed': seed, 'seconds': seconds, **{c: last[c] for c in COLUMNS},
                'tail_spread': float(np.mean([max(r['eval_abs_rel'] for r in tail) -
                                              min(r['eval_abs_rel'] for r in tail)]))})
            print(f'  AbsRel {last["eval_abs_rel"]:.4f} (static '
                  f'{last["eval_static_abs_rel"]:.4f}, moving {last["eval_moving_abs_rel"]:.4f})'
                  f' in {seconds / 60:.1f} min', file=sys.stderr)
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
    return 0


if __name__ == '__main__':
    sys.exit(main())
