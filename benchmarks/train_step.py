"""Training-step cost of forward vs backward warping, for both model sizes, from one run.

Each configuration runs in its own process, so peak memory is that configuration's alone:
    python benchmarks/train_step.py [--crop 192x64] [--batch 4] [--steps 6] [--device cpu]
Prints step time, images/s and peak memory side by side, and the forward/backward ratio
(goal: forward <= 1.5x backward at the same crop and batch).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = [('forward', 1.0), ('backward', 1.0), ('forward', 0.5), ('backward', 0.5)]
SIZE_NAMES = {1.0: 'default', 0.5: 'small'}


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def worker(args: argparse.Namespace) -> dict:
    """Time `steps` training steps of one variant (after one warm-up step)."""
    import torch

    from svde_training.config import config_from_dict
    from svde_training.data.dataset import collate
    from svde_training.distributed import DistInfo
    from svde_training.trainer import Trainer

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.crop.split('x'))
    config = config_from_dict({
        'data': {'sources': [{'type': 'synthetic', 'num_clips': 1, 'num_frames': 8,
                              'height': height + 32, 'width': width + 64}],
                 'base_height': height + 32, 'base_width': width + 64,
                 'crop_height': height, 'crop_width': width},
        'model': {'width': args.width, 'num_levels': args.levels},
        'loss': {'warping': args.warping, 'top_k': args.top_k},
        'optim': {'batch_size': args.batch},
    })
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp), device, DistInfo())
        batch = collate([trainer.dataset[i % len(trainer.dataset)] for i in range(args.batch)])
        trainer.train_step(batch)                        # warm-up: allocator, lazy init
        if device.type == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        baseline = _rss_mb()
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            trainer.train_step(batch)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    times.sort()
    step = times[len(times) // 2]
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
    params = sum(p.numel() for p in trainer.depth_net.parameters())
    return {'warping': args.warping, 'width': args.width, 'params': params, 'step_s': step,
            'images_per_s': args.batch / step, 'peak_mb': peak}


def main() -> int:
    """Run every variant in a subprocess and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--crop', default='192x64', help='WIDTHxHEIGHT, multiples of 32')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=6)
    parser.add_argument('--levels', type=int, default=33)
    parser.add_argument('--top-k', type=int, default=0, help='forward warp: levels splatted')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--warping', default='forward', help=argparse.SUPPRESS)
    parser.add_argument('--width', type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    common = ['--crop', args.crop, '--batch', str(args.batch), '--steps', str(args.steps),
              '--levels', str(args.levels), '--top-k', str(args.top_k), '--device',
              args.device, '--threads', str(args.threads)]
    for warping, width in VARIANTS:
        print(f'running {warping} warping, {SIZE_NAMES[width]} model ...', file=sys.stderr)
        out = subprocess.run([sys.executable, __file__, '--worker', '--warping', warping,
                              '--width', str(width), *common], check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    memory = 'peak GPU MB' if args.device.startswith('cuda') else 'peak RSS over baseline MB'
    print(f'\ntrain step, crop {args.crop}, batch {args.batch}, N={args.levels} levels, '
          f'top_k={args.top_k or "all"}, device {args.device}, {args.threads} threads, '
          f'median of {args.steps} steps')
    print(f'| warping | model | params | step s | images/s | {memory} |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["warping"]} | {SIZE_NAMES[r["width"]]} | {r["params"] / 1e6:.1f}M | '
              f'{r["step_s"]:.3f} | {r["images_per_s"]:.2f} | {r["peak_mb"]:.0f} |')
    for width in (1.0, 0.5):
        fwd, bwd = (next(r for r in rows if r['warping'] == w and r['width'] == width)
                    for w in ('forward', 'backward'))
        print(f'{SIZE_NAMES[width]} model: forward/backward step time '
              f'{fwd["step_s"] / bwd["step_s"]:.2f}x (goal <= 1.5x), memory '
              f'{fwd["peak_mb"] / max(bwd["peak_mb"], 1e-9):.2f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
