#!/usr/bin/env bash
# Set up (idempotent), lint and run the whole test suite. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
echo '== ruff'
ruff check .
echo '== mypy (runtime, benchmarks, experiments; TensorRT code against tensorrt-stubs)'
python scripts/tensorrt_stubs.py .mypy_stubs
MYPYPATH=.mypy_stubs mypy svde_ros/ benchmarks/ experiments/
echo '== pytest'
python -m pytest -q "$@"
