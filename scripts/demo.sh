#!/usr/bin/env bash
# Set up (idempotent), then run depth_node on the bundled real sample bag (20 KITTI frames),
# played over loopback DDS. Writes runs/node_demo/: panel_*.png (input | depth | moving mask |
# bird's-eye cloud), outputs/ (an mcap bag of every output, for Foxglove or RViz) and
# summary.json; prints rates and latencies.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# The default folder is the demo's own and is replaced on every run; a folder given with --out
# is the user's and is only replaced when they pass --force too.
case " $* " in
    *" --out "*|*" --out="*) svde-demo "$@" ;;
    *) svde-demo --out runs/node_demo --force "$@" ;;
esac
