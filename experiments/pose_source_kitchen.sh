#!/usr/bin/env bash
# Training without odometry indoors (issue 42, item 3): one arm, one seed, 600 steps, resumable.
#   bash experiments/pose_source_kitchen.sh ARM SEED [video|bag]
# ARM: flow (pose_source: flow: each pair's rotation and direction from the images' geometry,
# PoseNet's length), flow_rotation (the rotation only, PoseNet's translation), posenet (PoseNet
# alone), poses (the walk's poses: known motion).
# video (default): the folder indoor_kitchen/video, config/indoor_kitchen.yaml, the rate x0.1
#   after 2/3 (epoch 8 of 12); frames are paired 8 mm apart. Out: runs/kitchen_ARM_sSEED.
# bag: the walk recorded as a robot's bag (made here once, as the bundled model's card says;
#   frames paired by motion, about 55 mm apart), config/indoor_kitchen_model.yaml (the bundled
#   model's recipe: half width, the rate x0.1 after epoch 6); odometry is given to the poses arm
#   only. Out: runs/kitchenbag_ARM_sSEED.
# Table: python experiments/component_table.py --per-seed --step 600 \
#   --run flow=runs/kitchen_flow --run posenet=runs/kitchen_posenet --run poses=runs/kitchen_poses
set -euo pipefail
arm=${1:?arm: flow, flow_rotation, posenet or poses}
seed=${2:?seed}
setup=${3:-video}
extra=()
case $arm in
  flow|posenet|poses) source=$arm ;;
  flow_rotation) source=flow; extra=(--set flow_fixes=rotation) ;;
  *) echo "pose_source_kitchen.sh: unknown arm '$arm' (flow, flow_rotation, posenet, poses)" >&2
     exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
case $setup in
  video)
    exec svde-train fit --config config/indoor_kitchen.yaml --set pose_source="$source" \
        "${extra[@]}" --set optim.lr_step_epochs=8 --set optim.lr_gamma=0.1 \
        --set optim.seed="$seed" --out "runs/kitchen_${arm}_s$seed" --resume ;;
  bag)
    bag=runs/kitchen_bag525
    if [[ ! -d $bag ]]; then
      svde-train make-bag --images ../shared/data/indoor_kitchen/video \
          --intrinsics config/indoor_kitchen_camera.yaml \
          --poses ../shared/data/indoor_kitchen/poses.txt --out "$bag" --rate 30 \
          --compressed --camera-in-base 0.1 0 1.2 -1.5707963 0 -1.5707963
    fi
    [[ $arm == poses ]] && extra+=(--odom-topic /odom)
    exec svde-train fit --config config/indoor_kitchen_model.yaml --bag "$bag" \
        --image-topic /camera/image_raw/compressed "${extra[@]}" --set pose_source="$source" \
        --set optim.seed="$seed" --out "runs/kitchenbag_${arm}_s$seed" --resume ;;
  *) echo "pose_source_kitchen.sh: unknown setup '$setup' (video, bag)" >&2; exit 2 ;;
esac
