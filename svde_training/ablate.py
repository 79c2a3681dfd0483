"""`svde-train ablate`: variants x seeds at one budget, with mean, spread and collapses.

Each (variant, seed) is a normal `svde-train fit` run folder under --out, resumed when it
exists, so an ablation cut short continues where it stopped. Variants are named changes of the
base config; `+` combines them (`video+lite0` = all real video with the pretrained encoder).
The table gives, per variant, the held-out AbsRel mean over seeds, the spread across seeds, the
mean spread over each run's last three evaluations (the noise an effect must beat), the runs
that collapsed (svde_training.diagnostics), and training images/s; the constant-depth and
depth-by-row priors of the same data stand beside them. `ablation.png` draws every run's
AbsRel per epoch.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from svde_ros.files import atomic_write_bytes
from svde_training import run_dir
from svde_training.config import (
    ConfigError,
    config_from_dict,
    merge,
    nested,
    read_config_yaml,
)
from svde_training.diagnostics import collapse_reason

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One named change of the base config.

    set: dotted keys and values, as `svde-train fit --set` takes them; sources: a config file
    (beside the base config) whose data.sources replace the base's. The value '<gt>' of
    masking.masks_dir stands for the training clips' ground-truth masks (synthetic data),
    '<spimo>' for the SPIMO masks that the same seed's `base` run makes with this run's spimo
    settings (the paper's stage 2: these runs start once the base runs are done),
    start_epoch -1 for the middle epoch.
    """

    help: str
    set: dict[str, Any] = field(default_factory=dict)
    sources: str = ''


ORACLE = {'masking.mode': 'spimo', 'masking.masks_dir': '<gt>'}
SPIMO = {'masking.mode': 'spimo', 'masking.masks_dir': '<spimo>'}
BOOST = {'boost.weight': 0.1, 'boost.start_epoch': -1}
VARIANTS: dict[str, Variant] = {
    'base': Variant('the base config as it is'),
    'lite0': Variant('ImageNet-pretrained EfficientNet-Lite0 encoder (it learns at '
                     'optim.encoder_lr_scale of the rate)',
                     {'model.encoder': 'efficientnet_lite0'}),
    'lite0lr1': Variant('EfficientNet-Lite0 from ImageNet, learning at the full rate',
                        {'model.encoder': 'efficientnet_lite0', 'optim.encoder_lr_scale': 1.0}),
    'lite0init': Variant("EfficientNet-Lite0's architecture from its random init (what ImageNet "
                         'adds)', {'model.encoder': 'efficientnet_lite0',
                                   'model.encoder_weights': 'none',
                                   'optim.encoder_lr_scale': 1.0}),
    'rays': Variant("positional channels as each pixel's viewing-ray slopes",
                    {'model.positions': 'rays'}),
    'video': Variant('every real clip in ../shared/data, neighbours by motion '
                     '(config/real_video.yaml)', {'data.neighbours': 'motion'},
                     sources='real_video.yaml'),
    'unbounded': Variant('level logits without the norm cap (as before it)',
                         {'model.logit_norm': 0.0}),
    'gauge': Variant('PoseNet translation factor 0.1 and the gauge held at mid-range',
                     {'pose_translation_scale': 0.1, 'loss.gauge_weight': 0.1}),
    'tscale': Variant('PoseNet translation factor 0.1 (the default since it was measured; '
                      'the variant keeps recorded commands exact)',
                      {'pose_translation_scale': 0.1}),
    'tsmall': Variant("PoseNet translation factor 0.01 (Monodepth2's, the default before)",
                      {'pose_translation_scale': 0.01}),
    'wide': Variant('the depth range reaching 10x nearer (min_depth 0.01): the near end stops '
                    'clipping the road', {'model.min_depth': 0.01}),
    'balanced': Variant('every source drawn equally often, not every frame',
                        {'data.sampling': 'sources'}),
    'before': Variant('as before the collapse fixes: unbounded logits, one learning rate, '
                      'neighbours at fixed offsets',
                      {'model.logit_norm': 0.0, 'optim.encoder_lr_scale': 1.0,
                       'data.neighbours': 'fixed', 'pose_translation_scale': 0.01}),
    'backward': Variant('Monodepth2-style backward warping', {'loss.warping': 'backward'}),
    'fixed': Variant('fixed exponential levels instead of AQUANet',
                     {'model.quantization': 'fixed'}),
    'stride1': Variant("the paper's full-resolution level head", {'model.head_stride': 1}),
    'noholes': Variant('forward warping with holes free', {'loss.hole_weight': 0.0}),
    'topk8': Variant('splat only the 8 most probable levels', {'loss.top_k': 8}),
    'automask': Variant('Monodepth2 auto-masking', {'masking.mode': 'auto'}),
    'motion': Variant('neighbours chosen by motion', {'data.neighbours': 'motion'}),
    # The paper's parts, one at a time on config/baseline_monodepth2.yaml (docs/results/README.md).
    'pos': Variant('positional + camera channels into every encoder stage',
                   {'model.pos_channels': 16}),
    'aquanet': Variant('AQUANet levels (33, logits uncapped) instead of the sigmoid',
                       {'model.quantization': 'aquanet', 'model.logit_norm': 0.0}),
    'forward': Variant('forward instead of backward warping', {'loss.warping': 'forward'}),
    'crop': Variant('random resize (s in 1..1.3) + 256-wide crop with the 1/s rule',
                    {'data.scale_max': 1.3, 'data.crop_width': 256}),
    'cap': Variant('level logits capped at norm 8 (with levels)', {'model.logit_norm': 8.0}),
    'poses': Variant("the clip's own poses instead of PoseNet (metric depth, range 1-100 m)",
                     {'pose_source': 'poses', 'model.min_depth': 1.0}),
    'noise': Variant('known poses with wheel-odometry-like drift (5% of each translation, '
                     '0.2 degrees per axis)',
                     {'pose_noise.translation': 0.05, 'pose_noise.rotation_deg': 0.2}),
    'oracle': Variant('stage 2 with ground-truth moving masks (synthetic)', ORACLE),
    'spimo': Variant("stage 2 with the SPIMO masks of the same seed's base run (made with "
                     'the config\'s spimo settings)', SPIMO),
    'oracle+boost': Variant('... and boosting from the middle epoch', {**ORACLE, **BOOST}),
    'oracle+boost-weak': Variant('... boosting at a tenth of the weight (0.01)',
                                 {**ORACLE, **BOOST, 'boost.weight': 0.01}),
    'oracle+boost-fixed': Variant('... boosting with a teacher fixed at its first epoch',
                                  {**ORACLE, **BOOST, 'boost.teacher': 'fixed'}),
    'oracle+boost-fixed-all': Variant('... and the boost term averaged over all pixels',
                                      {**ORACLE, **BOOST, 'boost.teacher': 'fixed',
                                       'boost.average': 'all'}),
}
GT_MASKS = 'gt_masks'
COLUMNS = ('eval_abs_rel', 'eval_static_abs_rel', 'eval_moving_abs_rel', 'eval_a1',
           'unseen_abs_rel', 'unseen_row_flat_abs_rel', 'unseen_row_corr')
PRIORS = ('const_abs_rel', 'prior_abs_rel', 'unseen_const_abs_rel', 'unseen_prior_abs_rel')
TAIL = 3            # a run's figure: the mean of its last TAIL evaluations


def _parts(name: str) -> list[str]:
    """A variant name's registry entries: itself if registered, else its `+` parts."""
    if name in VARIANTS:
        return [name]
    parts = name.split('+')
    unknown = [p for p in parts if p not in VARIANTS]
    if unknown:
        raise ConfigError(f'unknown variant(s) {", ".join(unknown)}; choose from '
                          f'{", ".join(VARIANTS)} (combine with +)')
    return parts


def run_folder(out: Path, name: str, seed: int) -> Path:
    """Where variant `name` at `seed` trains under the ablation folder `out`."""
    return out / f'{name}-seed{seed}'


def variant_config(base: dict[str, Any], name: str, seed: int, out: Path,
                   config_dir: Path) -> dict[str, Any]:
    """The base config (a plain mapping) with variant `name` applied and the seed set.

    out: the ablation folder (where ground-truth and SPIMO masks are written);
    config_dir: the base config's folder, where a variant's `sources` file lies.
    """
    config = dict(base)
    for part in _parts(name):
        variant = VARIANTS[part]
        if variant.sources:
            sources = read_config_yaml(config_dir / variant.sources)['data']['sources']
            config = merge(config, {'data': {'sources': sources}})
        for key, value in variant.set.items():
            if value == '<gt>':
                value = str((out / GT_MASKS).resolve())
            elif value == '<spimo>':
                value = str(spimo_masks(out, name, seed).resolve())
            if key == 'boost.start_epoch' and value == -1:
                value = config.get('optim', {}).get('epochs', 10) // 2
            config = merge(config, nested(key, value))
    return merge(config, {'optim': {'seed': seed}})


def spimo_masks(out: Path, name: str, seed: int) -> Path:
    """The SPIMO masks a stage-2 variant trains with (beside its run folder)."""
    return out / f'{name}-seed{seed}.masks'


def _uses(name: str, placeholder: str) -> bool:
    """Whether variant `name` sets a value to `placeholder` ('<gt>', '<spimo>')."""
    return any(placeholder in VARIANTS[p].set.values() for p in _parts(name))


def _write_spimo_masks(config: dict[str, Any], out: Path, name: str, seed: int,
                       epochs: int) -> None:
    """SPIMO masks of the run's training frames from the same seed's base run, once finished.

    epochs: the base run's budget; masks from a run cut short would be another stage 1.
    """
    from svde_training.data import build_clips
    from svde_training.masks import summary_line, write_masks

    stage1 = run_folder(out, 'base', seed)
    finished = (stage1 / run_dir.METRICS_NAME).is_file() and \
        read_metrics(stage1)[-1].get('epoch', 0) >= epochs
    if not finished or not (stage1 / run_dir.LAST_CHECKPOINT).is_file():
        raise run_dir.RunDirError(f'{name} at seed {seed} needs the finished base run of that '
                                  f'seed in {out}; add base to --variants')
    checkpoint = stage1 / run_dir.LAST_CHECKPOINT
    parsed = config_from_dict(config)
    clips = [c for s in parsed.data.sources for c in build_clips(s)]
    summary = write_masks(checkpoint, clips, spimo_masks(out, name, seed), parsed.spimo)
    LOG.info('ablation: masks for %s seed %d: %s', name, seed, summary_line(summary))


def _train(config: dict[str, Any], out: Path, threads: int, device: str) -> None:
    """Run (or resume) one training in a subprocess; its log goes to <out>.log."""
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f'{out.name}.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    resume = ['--resume'] if (out / 'config.yaml').exists() else []
    with open(out.parent / f'{out.name}.log', 'a') as log:
        done = subprocess.run([sys.executable, '-m', 'svde_training.cli', 'fit', '--config',
                               str(path), '--out', str(out), '--device', device, *resume],
                              stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, 'OMP_NUM_THREADS': str(threads)})
    if done.returncode:
        raise run_dir.RunDirError(f'{out}: training failed (exit {done.returncode}); see '
                                  f'{out.parent / f"{out.name}.log"}')


def read_metrics(out: Path) -> list[dict[str, float]]:
    """A run's metrics.csv rows as numbers (epoch 0 holds the untrained net and the priors)."""
    with open(out / run_dir.METRICS_NAME) as f:
        return [{k: float(v) for k, v in row.items() if v not in ('', None)}
                for row in csv.DictReader(f)]


def summarise(rows: list[dict[str, float]], batch_size: int) -> dict[str, float]:
    """One run's figures from its metrics rows (epoch 0 holds the priors).

    A run's metrics are the mean over its last TAIL evaluations: on a held-out set of a few
    frames one epoch's AbsRel moves by more than the effects an ablation looks for. The run
    counts as collapsed when its last epoch is flat or that mean is no better than constant
    depth (diagnostics.collapse_reason).
    """
    trained = [r for r in rows if r.get('epoch', 0) > 0]
    tail = trained[-TAIL:]
    scored = [r['eval_abs_rel'] for r in tail if 'eval_abs_rel' in r]
    figures = {c: float(np.mean([r.get(c, float('nan')) for r in tail])) for c in COLUMNS}
    verdict = collapse_reason({**rows[0], **trained[-1], 'eval_abs_rel':
                               figures['eval_abs_rel']})
    steps = sum(r['step'] - p['step'] for p, r in zip(rows, rows[1:]))
    seconds = sum(r.get('time_s', 0.0) for r in trained)
    return {**figures, 'epochs': float(trained[-1]['epoch']),
            'last_abs_rel': trained[-1].get('eval_abs_rel', float('nan')),
            'tail_spread': max(scored) - min(scored) if scored else float('nan'),
            'collapsed': float(verdict is not None),
            'collapsed_epochs': sum(r.get('collapsed', 0.0) for r in trained),
            'images_per_s': steps * batch_size / seconds if seconds else float('nan')}


def run_ablation(base_path: Path, out: Path, variants: list[str], seeds: list[int],
                 jobs: int = 1, report_only: bool = False,
                 device: str = 'auto') -> dict[str, Any]:
    """Train (or resume) every variant x seed, then tabulate; returns the table as data."""
    base = read_config_yaml(base_path)
    for name in variants:
        _parts(name)
    configs = {(v, s): variant_config(base, v, s, out, base_path.parent)
               for s in seeds for v in variants}
    for (v, _), config in configs.items():       # every run valid before any starts
        config_from_dict(config, f'{base_path} + variant {v}')
    if not report_only:
        if any(_uses(v, '<gt>') for v in variants):
            _write_gt_masks(base, out / GT_MASKS)
        # The cores this ablation may use: OMP_NUM_THREADS when set (so it can share the
        # machine with another run), else all; split evenly over the parallel runs.
        omp = os.environ.get('OMP_NUM_THREADS', '')
        cores = int(omp) if omp.isdigit() and int(omp) > 0 else os.cpu_count() or 1
        threads = max(1, cores // jobs)
        # Seed-major, so a cut-short ablation still compares every variant at seed 0; runs
        # on SPIMO masks go last, once the base runs that make their masks are done.
        order = [(v, s) for s in seeds for v in variants]
        later = [key for key in order if _uses(key[0], '<spimo>')]
        started = time.monotonic()
        done = 0

        def train_all(keys: list[tuple[str, int]]) -> None:
            nonlocal done
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for _ in pool.map(lambda key: _train(configs[key], run_folder(out, *key),
                                                     threads, device), keys):
                    done += 1
                    LOG.info('ablation: %d/%d runs done (%.0f min)', done, len(order),
                             (time.monotonic() - started) / 60)
        train_all([key for key in order if key not in later])
        epochs = config_from_dict(base).optim.epochs
        for v, s in later:
            _write_spimo_masks(configs[(v, s)], out, v, s, epochs)
        train_all(later)
    runs, curves = {}, {}
    for (v, s), config in configs.items():
        folder = run_folder(out, v, s)
        if not (folder / run_dir.METRICS_NAME).is_file():
            raise run_dir.RunDirError(f'{folder}: no finished run to report; run without '
                                      '--report-only')
        rows = read_metrics(folder)
        curves[f'{v} s{s}'] = rows
        runs[f'{v} s{s}'] = {'variant': v, 'seed': s,
                             **summarise(rows, config.get('optim', {}).get('batch_size', 4))}
    first = curves[f'{variants[0]} s{seeds[0]}'][0]
    table = {'base': str(base_path), 'variants': variants, 'seeds': seeds, 'runs': runs,
             'priors': {k: first[k] for k in PRIORS if k in first},
             'budget': {k: base.get('optim', {}).get(k) for k in
                        ('epochs', 'steps_per_epoch', 'batch_size')}}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / 'ablation.json', json.dumps(table, indent=2).encode())
    atomic_write_bytes(out / 'ablation.md', ablation_markdown(table).encode())
    _write_curves(out / 'ablation.png', curves, variants, seeds, first, base_path.stem)
    return table


def _write_gt_masks(base: dict[str, Any], folder: Path) -> None:
    from svde_training.data import build_clips
    from svde_training.masks import write_gt_masks

    if (folder / 'manifest.json').is_file():
        return
    config = config_from_dict(base)
    clips = [c for s in config.data.sources for c in build_clips(s)]
    write_gt_masks(clips, folder, config.data.base_width, config.data.base_height)


def _fmt(value: float) -> str:
    return 'n/a' if value != value else f'{value:.4f}'


def ablation_markdown(table: dict[str, Any]) -> str:
    """The table: per variant, mean and spreads of held-out AbsRel, collapses, speed.

    With unseen places in the runs (data.unseen_sources), their AbsRel and the two
    image-share figures stand beside the held-out set's.
    """
    budget = table['budget']
    runs_all = list(table['runs'].values())
    unseen = any(r.get('unseen_abs_rel', float('nan')) == r.get('unseen_abs_rel')
                 for r in runs_all)
    extra = ' unseen AbsRel | across seeds | row-flattened | within-row corr |' if unseen else ''
    lines = ['| variant | seeds | AbsRel mean | across seeds (max-min) | last-3 spread | '
             'static | moving | d1 |' + extra + ' collapsed (runs) | images/s | per seed '
             '(last epoch) |', '|---' * (11 + 4 * unseen) + '|']
    for variant in table['variants']:
        runs = [r for r in runs_all if r['variant'] == variant]
        values = [r['eval_abs_rel'] for r in runs]

        def mean(key: str, rs: list[dict] = runs) -> float:
            return float(np.mean([r.get(key, float('nan')) for r in rs]))
        cells = ''
        if unseen:
            seen = [r.get('unseen_abs_rel', float('nan')) for r in runs]
            cells = (f' {_fmt(mean("unseen_abs_rel"))} | {_fmt(max(seen) - min(seen))} | '
                     f'{_fmt(mean("unseen_row_flat_abs_rel"))} | '
                     f'{_fmt(mean("unseen_row_corr"))} |')
        lines.append(
            f'| {variant} | {len(runs)} | {_fmt(mean("eval_abs_rel"))} | '
            f'{_fmt(max(values) - min(values))} | {_fmt(mean("tail_spread"))} | '
            f'{_fmt(mean("eval_static_abs_rel"))} | {_fmt(mean("eval_moving_abs_rel"))} | '
            f'{_fmt(mean("eval_a1"))} |{cells} '
            f'{int(sum(r["collapsed"] for r in runs))}/{len(runs)} | '
            f'{mean("images_per_s"):.1f} | ' + ', '.join(
                f'{_fmt(r["eval_abs_rel"])} ({_fmt(r["last_abs_rel"])})'
                + ('' if r['epochs'] >= budget['epochs'] else f' after {int(r["epochs"])} epochs')
                for r in runs) + ' |')
    priors = table['priors']
    nan = float('nan')
    lines += ['', f'Base {table["base"]}; seeds {", ".join(map(str, table["seeds"]))}; '
              f'{budget["epochs"]} epochs x {budget["steps_per_epoch"]} steps, batch '
              f'{budget["batch_size"]}. Priors on the same frames: constant depth '
              f'{_fmt(priors.get("const_abs_rel", nan))}, depth by row '
              f'{_fmt(priors.get("prior_abs_rel", nan))}'
              + (f'; unseen places: constant depth '
                 f'{_fmt(priors.get("unseen_const_abs_rel", nan))}, depth by row '
                 f'(leave-one-out, cross-scene) {_fmt(priors.get("unseen_prior_abs_rel", nan))}'
                 if unseen else '') +
              f'. Each run\'s figures are the mean of its last {TAIL} evaluations; it counts as '
              'collapsed when its last epoch is a flat map or that mean is no better than '
              'constant depth.']
    return '\n'.join(lines) + '\n'


def _write_curves(png: Path, curves: dict[str, list[dict[str, float]]], variants: list[str],
                  seeds: list[int], first: dict[str, float], title: str) -> None:
    """Every run's held-out AbsRel per epoch: a colour per variant, seeds after the first thin."""
    from svde_training.plots import line_plot
    from svde_training.preview import write_png

    series, colours, thin = {}, {}, set()
    for k, variant in enumerate(variants):
        for seed in seeds:
            name = f'{variant} s{seed}'
            series[name] = [(r['step'], r['eval_abs_rel']) for r in curves[name]
                            if r.get('epoch', 0) > 0 and 'eval_abs_rel' in r]
            colours[name] = k
            if seed != seeds[0]:
                thin.add(name)
    steps = [x for points in series.values() for x, _ in points]
    if not steps:
        return
    for k, (key, label) in enumerate((('const_abs_rel', 'constant depth'),
                                      ('prior_abs_rel', 'depth by row'))):
        if key in first:
            series[label] = [(min(steps), first[key]), (max(steps), first[key])]
            colours[label] = len(variants) + k
            thin.add(label)
    write_png(png, line_plot(series, f'held-out AbsRel per epoch ({title})', 'training steps',
                             'AbsRel', color_index=colours, thin=frozenset(thin),
                             size=(760, 440)))
