#!/usr/bin/env bash
# Stage 2 on the clip + highway (issue 36, item 5): one arm, one seed, 600 steps, resumable.
#   bash experiments/stage2_highway.sh ARM SEED
# ARM: unmasked (the recipe: auto-masking), masked (the recipe + the movers of the node's motion
# mask left out of the loss), boost (masked + boosting of the movers from the middle epoch).
# The masks (the bundled model's motion mask, each frame against the one 3 frames before):
#   svde-train masks --checkpoint models/kitti_odometry_320x96.pt --config config/clip_highway.yaml \
#       --method motion --gap 3 --out runs/masks_clip_highway
# Table (600 steps; the clip alone is the recipe's own run, config/recipe.yaml, same seeds):
#   python experiments/component_table.py --per-seed --step 600 --run 'clip alone=runs/clip_recipe' \
#     --run unmasked=runs/clip_highway --run masked=runs/clip_highway_masked \
#     --run boost=runs/clip_highway_boost
# Depth on the movers: python benchmarks/mover_depth.py \
#   --model unmasked=runs/clip_highway_s0/checkpoints/last.pt \
#   --model masked=runs/clip_highway_masked_s0/checkpoints/last.pt ... (each arm and seed)
set -euo pipefail
arm=${1:?arm: unmasked, masked or boost}
seed=${2:?seed}
masks=(--set masking.mode=spimo --set masking.masks_dir=runs/masks_clip_highway
       --set masking.with_auto=true)
case $arm in
  unmasked) extra=(); out=runs/clip_highway_s$seed ;;
  masked) extra=("${masks[@]}"); out=runs/clip_highway_masked_s$seed ;;
  boost) extra=("${masks[@]}" --set boost.weight=0.1 --set boost.start_epoch=6)
         out=runs/clip_highway_boost_s$seed ;;
  *) echo "stage2_highway.sh: unknown arm '$arm' (unmasked, masked, boost)" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec svde-train fit --config config/clip_highway.yaml "${extra[@]}" --set optim.seed="$seed" \
    --out "$out" --resume
