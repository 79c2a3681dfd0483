#!/usr/bin/env bash
# Training without odometry indoors (issue 42, item 3): one arm, one seed, 600 steps, the rate
# x0.1 after 2/3 (epoch 8 of 12, as the kitchen model), resumable.
#   bash experiments/pose_source_kitchen.sh ARM SEED
# ARM: flow (pose_source: flow: each pair's rotation and direction from the images' geometry,
# PoseNet's length), flow_rotation (the rotation only, PoseNet's translation), posenet (PoseNet
# alone), poses (the walk's poses: known motion).
# Table: python experiments/component_table.py --per-seed --step 600 \
#   --run flow=runs/kitchen_flow --run posenet=runs/kitchen_posenet --run poses=runs/kitchen_poses
set -euo pipefail
arm=${1:?arm: flow, posenet or poses}
seed=${2:?seed}
extra=()
case $arm in
  flow|posenet|poses) source=$arm ;;
  flow_rotation) source=flow; extra=(--set flow_fixes=rotation) ;;
  *) echo "pose_source_kitchen.sh: unknown arm '$arm' (flow, flow_rotation, posenet, poses)" >&2
     exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec svde-train fit --config config/indoor_kitchen.yaml --set pose_source="$source" "${extra[@]}" \
    --set optim.lr_step_epochs=8 --set optim.lr_gamma=0.1 --set optim.seed="$seed" \
    --out "runs/kitchen_${arm}_s$seed" --resume
