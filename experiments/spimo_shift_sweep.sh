#!/usr/bin/env bash
# SPIMO at other shifts and pass scales: docs/results/moving_masks.md.
#   bash experiments/spimo_shift_sweep.sh [MODEL]   (default: the bundled model)
cd "$(dirname "$0")/.." && . .venv/bin/activate
model=${1:-models/kitti_odometry_320x96.pt}
export OMP_NUM_THREADS=1
for d in 0.05 0.2 0.4; do for sc in 0.5 1.0; do
  echo "== delta $d scale $sc"
  python benchmarks/real_masks.py --methods spimo --model "$model" --spimo-delta $d \
      --spimo-scale $sc 2>&1 | grep -v "decoding\|frame/s" | grep "vehicles flagged\|mean\|worst\|outside\|spimo:"
done; done
