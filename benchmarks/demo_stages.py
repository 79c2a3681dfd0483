"""The demo as shipped (mask and cloud on), timed per stage, per model and node setting.

Runs `svde-demo` (the sample bag, 20 frames over loopback DDS) `--repeats` times per model and
setting, each in its own process, and prints the frames processed, the end-to-end latency
(image published -> depth received) and the node's per-stage medians side by side. A setting is
`threads:spimo_every_n[:mask_method[:depth_source]]` (the node's inference_threads,
spimo_every_n, mask_method and depth_source; 0 or nothing = the node's default). `--models`
lists model files (default: the bundled one); the first model at the first setting is the
baseline the others are read against.

    python benchmarks/demo_stages.py --settings 1:1,2:1,1:3 --repeats 2
    python benchmarks/demo_stages.py --settings 0:0 --models old.pt,new.pt --repeats 3
    python benchmarks/demo_stages.py --settings 0:2:spimo,0:0:motion,0:1:both --repeats 3
    python benchmarks/demo_stages.py --settings 0:0:motion:network,0:0:motion:fused --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from svde_ros.ros.depth_node import STAGES


def run_demo(threads: int, every_n: int, out: Path, domain: int,
             model: Path | None = None, mask_method: str = '', depth_source: str = '') -> dict:
    """One `svde-demo` run in a fresh process (the bundled model, or `model`); its summary."""
    demo = Path(sys.executable).with_name('svde-demo')
    done = subprocess.run([str(demo), '--out', str(out), '--force', '--threads', str(threads),
                           '--spimo-every-n', str(every_n), '--domain-id', str(domain),
                           *(['--checkpoint', str(model)] if model else []),
                           *(['--mask-method', mask_method] if mask_method else []),
                           *(['--depth-source', depth_source] if depth_source else [])],
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f'svde-demo failed (exit {done.returncode}):\n{done.stderr[-2000:]}')
    return json.loads((out / 'summary.json').read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument('--settings', default=f'{max(1, cores - 1)}:1,{cores}:1',
                        help='threads:spimo_every_n[:mask_method] settings, the first is '
                             'the baseline')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--models', default='',
                        help='comma-separated model files (default: the bundled model)')
    args = parser.parse_args(argv)
    settings = args.settings.split(',')
    models: list[Path | None] = [Path(m) for m in args.models.split(',')] if args.models \
        else [None]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (model, setting) in enumerate((m, s) for m in models for s in settings):
            threads, every_n, *named = setting.split(':')
            method, source = (named + ['', ''])[:2]
            runs = [run_demo(int(threads), int(every_n), Path(tmp) / f'{k}-{r}', 60 + 2 * k + r,
                             model, '' if method == '0' else method,
                             '' if source == '0' else source)
                    for r in range(args.repeats)]
            name = f'{model.name if model else "bundled"} {setting}'
            rows[name] = runs
            print(f'{name}: ' + ', '.join(
                f'{r["frames_processed"]}/{r["frames_processed"] + r["frames_dropped"]} frames, '
                f'p50 {r["latency_ms_p50"]:.0f} ms' for r in runs), flush=True)
    print(f'\n{cores} CPU cores; backend {next(iter(rows.values()))[0]["backend"]}; medians over '
          f'{args.repeats} runs each; stage times are the node\'s per-frame medians (ms)\n')
    print('| model threads:spimo_every_n[:mask_method[:depth_source]] | frames processed | '
          'latency p50 ms | '
          'latency p95 ms | ' + ' | '.join(STAGES) + ' |')
    print('|---' * (4 + len(STAGES)) + '|')
    for number, (setting, runs) in enumerate(rows.items()):
        processed = [r['frames_processed'] / max(1, r['frames_processed'] + r['frames_dropped'])
                     for r in runs]

        def med(key: str, rs: list[dict] = runs) -> float:
            return float(np.median([r[key] for r in rs]))
        stages = [float(np.median([r['stage_ms_p50'].get(s, np.nan) for r in runs]))
                  for s in STAGES]
        label = setting + (' (baseline)' if number == 0 else '')
        print(f'| {label} | {np.median(processed):.0%} | {med("latency_ms_p50"):.0f} | '
              f'{med("latency_ms_p95"):.0f} | ' + ' | '.join(f'{v:.1f}' for v in stages) + ' |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
