"""The demo as shipped (mask and cloud on), timed per stage, at several inference thread counts.

Runs `svde-demo` (the bundled model and sample bag, 20 frames over loopback DDS) `--repeats`
times per setting of the node's `inference_threads`, each in its own process, and prints the
frames processed, the end-to-end latency and the node's per-stage medians side by side. The
first setting is the baseline the others are read against (by default the old default, all
cores but one, against every core).

    python benchmarks/demo_stages.py --threads 1,2 --repeats 2
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

STAGES = ('decode', 'undistort', 'inference', 'depth', 'colorize', 'mask', 'cloud')


def run_demo(threads: int, out: Path, domain: int) -> dict:
    """One `svde-demo` run in a fresh process; its summary.json."""
    demo = Path(sys.executable).with_name('svde-demo')
    done = subprocess.run([str(demo), '--out', str(out), '--force', '--threads', str(threads),
                           '--domain-id', str(domain)], capture_output=True, text=True,
                          timeout=600)
    if done.returncode:
        raise SystemExit(f'svde-demo failed (exit {done.returncode}):\n{done.stderr[-2000:]}')
    return json.loads((out / 'summary.json').read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument('--threads', default=f'{max(1, cores - 1)},{cores}',
                        help='inference_threads settings, the first is the baseline')
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args(argv)
    settings = [int(t) for t in args.threads.split(',')]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, threads in enumerate(settings):
            runs = [run_demo(threads, Path(tmp) / f'{threads}-{r}', 60 + 2 * k + r)
                    for r in range(args.repeats)]
            rows[threads] = runs
            print(f'threads {threads}: ' + ', '.join(
                f'{r["frames_processed"]}/{r["frames_processed"] + r["frames_dropped"]} frames, '
                f'p50 {r["latency_ms_p50"]:.0f} ms' for r in runs), flush=True)
    print(f'\n{cores} CPU cores; backend {rows[settings[0]][0]["backend"]}; medians over '
          f'{args.repeats} runs each; stage times are the node\'s per-frame medians (ms)\n')
    print('| inference_threads | frames processed | latency p50 ms | latency p95 ms | '
          + ' | '.join(STAGES) + ' |')
    print('|---' * (4 + len(STAGES)) + '|')
    for threads, runs in rows.items():
        processed = [r['frames_processed'] / max(1, r['frames_processed'] + r['frames_dropped'])
                     for r in runs]

        def med(key: str, rs: list[dict] = runs) -> float:
            return float(np.median([r[key] for r in rs]))
        stages = [float(np.median([r['stage_ms_p50'].get(s, np.nan) for r in runs]))
                  for s in STAGES]
        label = f'{threads}' + (' (baseline)' if threads == settings[0] else '')
        print(f'| {label} | {np.median(processed):.0%} | {med("latency_ms_p50"):.0f} | '
              f'{med("latency_ms_p95"):.0f} | ' + ' | '.join(f'{v:.1f}' for v in stages) + ' |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
