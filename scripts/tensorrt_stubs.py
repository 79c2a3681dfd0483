"""Install `tensorrt-stubs` into a stub folder that mypy can read (see DESIGN.md section 5).

The published stubs do not parse as they are: parameters are named `in`, `add_scale_nd` has a
defaultless parameter after defaulted ones, and they import the unavailable `tensorrt_libs`.
This repairs those lines so CI can type-check svde_ros/inference/tensorrt_backend.py against
TensorRT's real API without installing TensorRT.

    python scripts/tensorrt_stubs.py .mypy_stubs
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

STUBS = 'tensorrt-stubs==10.13.0.35.1'


def repair(text: str) -> str:
    """Make one .pyi file parse."""
    text = re.sub(r'\bin: ', 'in_: ', text)
    text = text.replace('power: Weights = None, channel_axis: int)',
                        'power: Weights = None, channel_axis: int = ...)')
    return '\n'.join(line for line in text.splitlines()
                     if line.strip() != 'import tensorrt_libs as tensorrt_libs') + '\n'


def main() -> int:
    """Download, repair and place the stubs."""
    target = Path(sys.argv[1] if len(sys.argv) > 1 else '.mypy_stubs')
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
                        '--target', tmp, STUBS], check=True)
        shutil.rmtree(target, ignore_errors=True)
        for package in ('tensorrt', 'tensorrt_bindings'):
            for stub in (Path(tmp) / package).glob('*.pyi'):
                out = target / package / stub.name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(repair(stub.read_text()))
    print(f'tensorrt stubs ready in {target}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
