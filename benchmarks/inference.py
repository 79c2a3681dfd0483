"""Inference latency per backend, model and resolution, beside a Monodepth2-sized reference.

    python benchmarks/inference.py [--device cpu|cuda] [--runs 20] [--threads 2]
        [--sizes 320x96,640x192]

Every configuration runs in its own process (so peak memory is its own) through the project's
backends (`svde_ros.inference`), fed a real KITTI frame from ../shared/data at camera
resolution. The reference is a ResNet-18 encoder + Monodepth2 decoder built below from plain
torch layers, with the same input/output (image + K -> depth). Rows: the default (width 1,
the recipe's sigmoid head at full resolution) and small (width 0.5) networks, each depth only,
with SPIMO (passes at 1/2 resolution, the default, and at 1/4), and with SPIMO loaded but the
mask unsubscribed (the depth-only graph runs); and the head at 1/2 resolution for comparison.
Goals on CPU: default >= 1x the reference's fps, small >= 2x; a SPIMO frame <= 1.5x a
depth-only frame; an unsubscribed-mask frame within 5% of depth-only.
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
from typing import Any

import numpy as np
from shared_data import read_rgb, require

REPO = Path(__file__).resolve().parents[1]
FRAME = (REPO.parent / 'shared/data/kitti_raw_tiny/2011_09_26/2011_09_26_drive_0023_sync/'
         'image_02/data/0000000003.png')
RESOLUTIONS = '640x192,1024x320'
# (label, width, head stride, SPIMO pass scale (0: not loaded), mask asked for)
MODELS = (('reference', 0.0, 1, 0.0, False),
          ('default', 1.0, 1, 0.0, False), ('default + SPIMO', 1.0, 1, 0.5, True),
          ('default + SPIMO at 1/4', 1.0, 1, 0.25, True),
          ('default, mask unsubscribed', 1.0, 1, 0.5, False),
          ('small', 0.5, 1, 0.0, False), ('small + SPIMO', 0.5, 1, 0.5, True),
          ('small + SPIMO at 1/4', 0.5, 1, 0.25, True),
          ('small, mask unsubscribed', 0.5, 1, 0.5, False),
          ('default, stride-2 head', 1.0, 2, 0.0, False),
          ('small, stride-2 head', 0.5, 2, 0.0, False))


def reference_network():  # noqa: ANN201 - torch imported lazily in worker processes
    """ResNet-18 encoder + Monodepth2 decoder (sigmoid disparity), inference path only."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout)) if stride != 1 or cin != cout \
                else nn.Identity()

        def forward(self, x):  # noqa: ANN001, ANN202
            return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.down(x))

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False),
                                      nn.BatchNorm2d(64), nn.ReLU())
            enc = [64, 64, 128, 256, 512]
            self.layers = nn.ModuleList(
                nn.Sequential(Block(enc[i - 1], enc[i], 1 if i == 1 else 2),
                              Block(enc[i], enc[i], 1)) for i in range(1, 5))
            dec = [16, 32, 64, 128, 256]
            self.up_a = nn.ModuleList(nn.Conv2d(enc[4] if i == 4 else dec[i + 1], dec[i], 3,
                                                padding=1) for i in range(4, -1, -1))
            self.up_b = nn.ModuleList(nn.Conv2d(dec[i] + (enc[i - 1] if i else 0), dec[i], 3,
                                                padding=1) for i in range(4, -1, -1))
            self.head = nn.Conv2d(dec[0], 1, 3, padding=1)

        def forward(self, image, K):  # noqa: ANN001, ANN202
            x = self.stem(image - 0.45)
            feats = [x]
            x = F.max_pool2d(x, 3, 2, 1)
            for layer in self.layers:
                x = layer(x)
                feats.append(x)
            x = feats[4]
            for j, i in enumerate(range(4, -1, -1)):
                x = F.interpolate(F.elu(self.up_a[j](x)), scale_factor=2.0, mode='nearest')
                if i:
                    x = torch.cat([x, feats[i - 1]], 1)
                x = F.elu(self.up_b[j](x))
            disp = 0.01 + 9.99 * torch.sigmoid(self.head(x))
            return (1.0 / disp,)

    return Reference().eval()


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20


def worker(args: argparse.Namespace) -> dict:
    """Time one (model, spimo, resolution, backend) configuration through a Backend."""
    import torch

    from svde_ros.geometry import Intrinsics
    from svde_ros.inference.backend import Backend
    from svde_ros.inference.export import export_model
    from svde_ros.inference.onnx_backend import OnnxBackend
    from svde_ros.inference.torch_backend import TorchBackend
    from svde_ros.model import DepthNet, ModelConfig
    from svde_ros.model.checkpoint import InferenceSpec
    from svde_ros.model.inference_model import DepthInference
    from svde_ros.spimo import SpimoConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = read_rgb(FRAME)
    K = Intrinsics(721.5377, 721.5377, 609.5593, 172.854, image.shape[1], image.shape[0])
    width, height = args.width, args.height
    label, net_width, stride, spimo_scale, with_mask = MODELS[args.model]
    spimo = SpimoConfig(scale=spimo_scale) if spimo_scale else None
    depth_only: torch.nn.Module | None = None
    if label == 'reference':
        model = reference_network()
    else:
        config = ModelConfig(width=net_width, head_stride=stride)
        net, spec = DepthNet(config), InferenceSpec(config, height, width)
        model = DepthInference(net, spec, spimo)
        depth_only = DepthInference(net, spec, None)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == 'onnxruntime':
            onnx = Path(tmp) / 'model.onnx'
            sidecar: dict[str, Any] = {'spimo': None if spimo is None else vars(spimo)}
            if spimo is not None and depth_only is not None:
                export_model(depth_only, Path(tmp) / 'depth.onnx', height, width, {},
                             write_sidecar=False)
                sidecar['depth_only_model'] = 'depth.onnx'
            export_model(model, onnx, height, width, sidecar)
            backend: Backend = OnnxBackend(str(onnx), use_cuda=args.device == 'cuda',
                                  threads=args.threads)
        else:
            backend = TorchBackend(model, height, width, args.device, args.device == 'cuda',
                                   spimo, depth_only)
        baseline = _rss_mb()
        for _ in range(3):
            backend.infer(image, K, with_mask=with_mask)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            backend.infer(image, K, with_mask=with_mask)
            times.append(time.perf_counter() - start)
        name = backend.name
    if args.device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
    p50, p95 = np.percentile(times, [50, 95]) * 1000
    return {'model': label, 'size': f'{width}x{height}',
            'backend': name, 'params': params, 'p50_ms': p50, 'p95_ms': p95,
            'fps': 1000 / p50, 'peak_mb': peak}


def main() -> int:
    """Run the matrix in subprocesses and print one table plus the goal ratios."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--backends', default='torch,onnxruntime')
    parser.add_argument('--sizes', default=RESOLUTIONS,
                        help='comma-separated WIDTHxHEIGHT network input sizes')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--model', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--width', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--height', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    args = parser.parse_args()
    require(FRAME)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    for width, height in (map(int, size.split('x')) for size in args.sizes.split(',')):
        for backend in args.backends.split(','):
            for index, (label, *_rest) in enumerate(MODELS):
                print(f'{width}x{height} {backend} {label} ...', file=sys.stderr)
                cmd = [sys.executable, __file__, '--worker', '--model', str(index), '--width',
                       str(width), '--height', str(height), '--backend', backend, '--device',
                       args.device, '--runs', str(args.runs), '--threads', str(args.threads)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
    memory = 'peak GPU MB' if args.device == 'cuda' else 'peak RSS MB'
    print(f'\ninference, KITTI frame 1242x375 in, {args.threads} threads, {args.runs} runs, '
          f'device {args.device}')
    print(f'| size | backend | model | params | p50 ms | p95 ms | fps | {memory} |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["size"]} | {r["backend"]} | {r["model"]} | {r["params"] / 1e6:.1f}M | '
              f'{r["p50_ms"]:.1f} | {r["p95_ms"]:.1f} | {r["fps"]:.1f} | {r["peak_mb"]:.0f} |')
    print()
    p50s = {(r['size'], r['backend'], r['model']): r['p50_ms'] for r in rows}
    for (size, backend) in sorted({(r['size'], r['backend']) for r in rows}):
        def p50(model: str, size: str = size, backend: str = backend) -> float:
            return p50s[(size, backend, model)]
        ref = p50('reference')
        print(f'{size} {backend}: fps vs reference: default {ref / p50("default"):.2f}x '
              f'(goal >= 1), small {ref / p50("small"):.2f}x (goal >= 2), stride-2 heads '
              f'{ref / p50("default, stride-2 head"):.2f}x / '
              f'{ref / p50("small, stride-2 head"):.2f}x; SPIMO frame / depth-only: default '
              f'{p50("default + SPIMO") / p50("default"):.2f}x, small '
              f'{p50("small + SPIMO") / p50("small"):.2f}x, passes at 1/4: default '
              f'{p50("default + SPIMO at 1/4") / p50("default"):.2f}x, small '
              f'{p50("small + SPIMO at 1/4") / p50("small"):.2f}x (goal <= 1.5x); '
              'unsubscribed mask / depth-only: default '
              f'{p50("default, mask unsubscribed") / p50("default"):.3f}, '
              f'small {p50("small, mask unsubscribed") / p50("small"):.3f} (goal <= 1.05)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
