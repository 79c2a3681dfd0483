"""Inference latency per backend, model and resolution, beside a Monodepth2-sized reference.

    python benchmarks/inference.py [--device cpu|cuda] [--runs 20] [--threads 2]

Every configuration runs in its own process (so peak memory is its own) through the project's
backends (`svde_ros.inference`), fed a real KITTI frame from ../shared/data at camera
resolution. The reference is a ResNet-18 encoder + Monodepth2 decoder built below from plain
torch layers, with the same input/output (image + K -> depth). Goals on CPU: default model no
slower than the reference, small model >= 2x the reference, SPIMO adds <= 50%.
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FRAME = (REPO.parent / 'shared/data/kitti_raw_tiny/2011_09_26/2011_09_26_drive_0023_sync/'
         'image_02/data/0000000003.png')
RESOLUTIONS = ((640, 192), (1024, 320))
MODELS = (('reference', False), ('default', False), ('default', True), ('small', False),
          ('small', True))


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
    import cv2
    import torch

    from svde_ros.geometry import Intrinsics
    from svde_ros.inference.onnx_backend import OnnxBackend
    from svde_ros.inference.torch_backend import TorchBackend
    from svde_ros.model import DepthNet, ModelConfig
    from svde_ros.model.checkpoint import InferenceSpec
    from svde_ros.model.inference_model import DepthInference
    from svde_ros.spimo import SpimoConfig
    from svde_training.export import export_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image = cv2.cvtColor(cv2.imread(str(FRAME)), cv2.COLOR_BGR2RGB)
    K = Intrinsics(721.5377, 721.5377, 609.5593, 172.854, image.shape[1], image.shape[0])
    width, height = args.width, args.height
    spimo = SpimoConfig() if args.spimo else None
    if args.model == 'reference':
        model = reference_network()
    else:
        config = ModelConfig(width=1.0 if args.model == 'default' else 0.5)
        model = DepthInference(DepthNet(config), InferenceSpec(config, height, width), spimo)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == 'onnxruntime':
            onnx = Path(tmp) / 'model.onnx'
            export_model(model, onnx, height, width,
                         {'spimo': None if spimo is None else vars(spimo)})
            backend = OnnxBackend(str(onnx), use_cuda=args.device == 'cuda',
                                  threads=args.threads)
        else:
            backend = TorchBackend.from_module(model, height, width, args.device,
                                               fp16=args.device == 'cuda')
        baseline = _rss_mb()
        for _ in range(3):
            backend.infer(image, K)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            backend.infer(image, K)
            times.append(time.perf_counter() - start)
        name = backend.name
    if args.device == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
    p50, p95 = np.percentile(times, [50, 95]) * 1000
    return {'model': args.model, 'spimo': args.spimo, 'size': f'{width}x{height}',
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
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--model', help=argparse.SUPPRESS)
    parser.add_argument('--spimo', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--width', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--height', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = []
    for width, height in RESOLUTIONS:
        for backend in args.backends.split(','):
            for model, spimo in MODELS:
                print(f'{width}x{height} {backend} {model}{" +SPIMO" if spimo else ""} ...',
                      file=sys.stderr)
                cmd = [sys.executable, __file__, '--worker', '--model', model, '--width',
                       str(width), '--height', str(height), '--backend', backend, '--device',
                       args.device, '--runs', str(args.runs), '--threads', str(args.threads)]
                out = subprocess.run(cmd + (['--spimo'] if spimo else []), check=True,
                                     capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
    memory = 'peak GPU MB' if args.device == 'cuda' else 'peak RSS MB'
    print(f'\ninference, KITTI frame 1242x375 in, {args.threads} threads, {args.runs} runs, '
          f'device {args.device}')
    print(f'| size | backend | model | params | p50 ms | p95 ms | fps | {memory} |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        label = r['model'] + (' + SPIMO' if r['spimo'] else '')
        print(f'| {r["size"]} | {r["backend"]} | {label} | {r["params"] / 1e6:.1f}M | '
              f'{r["p50_ms"]:.1f} | {r["p95_ms"]:.1f} | {r["fps"]:.1f} | {r["peak_mb"]:.0f} |')
    print()
    p50s = {(r['size'], r['backend'], r['model'], r['spimo']): r['p50_ms'] for r in rows}
    for (size, backend) in sorted({(r['size'], r['backend']) for r in rows}):
        def p50(model: str, spimo: bool = False, size: str = size, backend: str = backend) \
                -> float:
            return p50s[(size, backend, model, spimo)]
        print(f'{size} {backend}: reference/default speed {p50("reference") / p50("default"):.2f}'
              f' (goal >= 1), reference/small {p50("reference") / p50("small"):.2f} (goal >= 2),'
              f' SPIMO overhead default +{100 * (p50("default", True) / p50("default") - 1):.0f}%'
              f' small +{100 * (p50("small", True) / p50("small") - 1):.0f}% (goal <= 50%)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
