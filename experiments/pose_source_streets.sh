#!/usr/bin/env bash
# Training without odometry on the road (issue 42, item 3): every driving camera
# (config/all_driving.yaml: the three KITTI streets + the Udacity highway + nuScenes), one arm,
# one seed, 600 steps, the rate x0.1 after 2/3 (epoch 8 of 12), resumable.
#   bash experiments/pose_source_streets.sh ARM SEED
# ARM: flow (every clip's turns and direction from the images' geometry, no poses anywhere),
# mixed (known motion where a drive has poses, PoseNet elsewhere), posenet (PoseNet everywhere).
# Out: runs/streets_ARM_sSEED. Table:
#   python experiments/component_table.py --per-seed --step 600 --run flow=runs/streets_flow \
#       --run mixed=runs/streets_mixed --run posenet=runs/streets_posenet
set -euo pipefail
arm=${1:?arm: flow, mixed or posenet}
seed=${2:?seed}
case $arm in
  flow|mixed|posenet) ;;
  *) echo "pose_source_streets.sh: unknown arm '$arm' (flow, mixed, posenet)" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec svde-train fit --config config/all_driving.yaml --set pose_source="$arm" \
    --set optim.lr_step_epochs=8 --set optim.lr_gamma=0.1 --set optim.seed="$seed" \
    --out "runs/streets_${arm}_s$seed" --resume
