"""Training-step cost: forward vs backward warping, both model sizes, both level heads.

Each configuration runs in its own process, so peak memory is that configuration's alone:
    python benchmarks/train_step.py [--crop 192x64] [--batch 4] [--steps 6] [--device cpu]
Prints step time, images/s and peak memory side by side for the paper's full-resolution level
head (stride 1, the old path) and the shipped stride-2 head, plus bf16 autocast on the CPU,
and on top of that channels_last weights and torch.compile of the depth network (each step
timed after compiling); then images/s after / before (goal >= 2x) and the forward/backward
ratio (goal <= 1.5x).
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

# (warping, width, head stride, mixed precision, optimisation: '' | channels_last | compile)
VARIANTS = [(w, width, stride, False, '') for stride in (1, 2) for width in (1.0, 0.5)
            for w in ('forward', 'backward')] + [
    ('forward', width, 2, True, extra) for width in (0.5, 1.0)
    for extra in ('', 'channels_last', 'compile')]
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
        'model': {'width': args.width, 'num_levels': args.levels,
                  'head_stride': args.head_stride},
        'loss': {'warping': args.warping, 'top_k': args.top_k},
        'optim': {'batch_size': args.batch, 'mixed_precision': args.mixed_precision,
                  'channels_last': args.extra == 'channels_last',
                  'compile': args.extra == 'compile'},
    })
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp), device, DistInfo())
        batch = collate([trainer.dataset[i % len(trainer.dataset)] for i in range(args.batch)])
        trainer.train_step(batch)                        # warm-up: allocator, lazy init,
        trainer.train_step(batch)                        # compilation (and recompilation)
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
    return {'warping': args.warping, 'width': args.width, 'stride': args.head_stride,
            'amp': str(trainer.amp_dtype).replace('torch.', '') if trainer.amp else 'fp32',
            'mixed_precision': args.mixed_precision, 'extra': args.extra,
            'params': params, 'step_s': step,
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
    parser.add_argument('--head-stride', type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument('--mixed-precision', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--extra', default='', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    common = ['--crop', args.crop, '--batch', str(args.batch), '--steps', str(args.steps),
              '--levels', str(args.levels), '--top-k', str(args.top_k), '--device',
              args.device, '--threads', str(args.threads)]
    for warping, width, stride, amp, extra in VARIANTS:
        print(f'running {warping} warping, {SIZE_NAMES[width]} model, head stride {stride}'
              f'{", mixed precision" if amp else ""}{", " + extra if extra else ""} ...',
              file=sys.stderr)
        out = subprocess.run([sys.executable, __file__, '--worker', '--warping', warping,
                              '--width', str(width), '--head-stride', str(stride),
                              '--extra', extra, *common]
                             + (['--mixed-precision'] if amp else []), check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    memory = 'peak GPU MB' if args.device.startswith('cuda') else 'peak RSS over baseline MB'
    print(f'\ntrain step, crop {args.crop}, batch {args.batch}, N={args.levels} levels, '
          f'top_k={args.top_k or "all"}, device {args.device}, {args.threads} threads, '
          f'median of {args.steps} steps')
    print(f'| warping | model | head stride | precision | layout / compile | params | step s | '
          f'images/s | {memory} |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["warping"]} | {SIZE_NAMES[r["width"]]} | {r["stride"]} | {r["amp"]} | '
              f'{r["extra"] or "-"} | {r["params"] / 1e6:.1f}M | {r["step_s"]:.3f} | '
              f'{r["images_per_s"]:.2f} | {r["peak_mb"]:.0f} |')

    def row(warping: str, width: float, stride: int, amp: bool = False,
            extra: str = '') -> dict:
        return next(r for r in rows if (r['warping'], r['width'], r['stride'],
                                        r['mixed_precision'], r['extra'])
                    == (warping, width, stride, amp, extra))
    for width in (1.0, 0.5):
        old, new = row('forward', width, 1), row('forward', width, 2)
        amp_row = row('forward', width, 2, True)
        best = max((r for r in rows if r['width'] == width and r['stride'] == 2
                    and r['warping'] == 'forward'), key=lambda r: r['images_per_s'])
        for extra in ('channels_last', 'compile'):
            ratio = row('forward', width, 2, True, extra)['images_per_s'] / amp_row['images_per_s']
            print(f'{SIZE_NAMES[width]} model, {amp_row["amp"]}: {extra} / plain {ratio:.2f}x '
                  'images/s')
        print(f'{SIZE_NAMES[width]} model: forward-warping images/s, stride-2 head / stride-1 '
              f'{new["images_per_s"] / old["images_per_s"]:.2f}x (best, {best["amp"]} '
              f'{best["extra"] or "plain"}: '
              f'{best["images_per_s"] / old["images_per_s"]:.2f}x; goal >= 2x); forward/backward '
              f'step time {new["step_s"] / row("backward", width, 2)["step_s"]:.2f}x at stride 2,'
              f' {old["step_s"] / row("backward", width, 1)["step_s"]:.2f}x at stride 1 '
              '(goal <= 1.5x)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
