#!/usr/bin/env bash
# Set up (idempotent), then train stage 1 for a few CPU minutes on the bundled real KITTI clip
# and write previews + metrics to runs/demo. (The ROS node demo replaces this once it lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
svde-train fit --config config/train_kitti_odometry_demo.yaml --out runs/demo --force "$@"
echo "previews: runs/demo/previews/, metrics: runs/demo/metrics.csv"
