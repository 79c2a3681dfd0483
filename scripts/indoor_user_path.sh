#!/usr/bin/env bash
# The indoor user's path, end to end, as a robotics user runs it on a recording of their place:
#   1. record: the kitchen walk as a robot's rosbag2 (CompressedImage + CameraInfo at 30 Hz,
#      the base's Odometry, the camera's offset from the base on /tf_static)
#   2. svde-train bag-info: what the bag holds and which topics to train on
#   3. svde-train fit --bag: nothing but the topic names (the defaults are the recipe, warping
#      with the bag's odometry: metric from the first step)
#   4. svde-train evaluate: the depth on the walk's held-out frames with Kinect depth
#   5. svde-train slim + export: the model file the node loads, and its ONNX graph
#   6. svde-demo: depth_node on the bag with the new model (panels, outputs bag, summary)
#
#   bash scripts/indoor_user_path.sh runs/kitchen                       # the whole walk
#   CAMERA=config/indoor_kitchen_camera.yaml bash scripts/indoor_user_path.sh runs/kitchen \
#       ../shared/data/indoor_kitchen                                    # the colour camera's K
#   bash scripts/indoor_user_path.sh runs/kitchen_small test/data/indoor_kitchen \
#       --set optim.epochs=1 --set optim.steps_per_epoch=2               # a smoke run
#
# Arguments: OUT (a new folder), DATA (default ../shared/data/indoor_kitchen), then any extra
# `fit` arguments. CAMERA names the camera YAML (default DATA/camera.yaml; the shared kitchen's
# gives the depth sensor's focal length, config/indoor_kitchen_camera.yaml the colour camera's).
# DOMAIN_ID sets the demo's DDS domain (default 78).
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 OUT [DATA [fit arguments...]]" >&2
    exit 2
fi
OUT=$1
DATA=${2:-../shared/data/indoor_kitchen}
shift $(( $# >= 2 ? 2 : 1 ))
if [ -e "$OUT" ]; then
    echo "$OUT exists; choose a new folder (nothing is overwritten)" >&2
    exit 2
fi
for need in video camera.yaml poses.txt eval/image eval/depth; do
    if [ ! -e "$DATA/$need" ]; then
        echo "$DATA/$need not found: DATA is a folder laid out as ../shared/data/indoor_kitchen" >&2
        exit 2
    fi
done
CAMERA=${CAMERA:-$DATA/camera.yaml}
if [ ! -f "$CAMERA" ]; then
    echo "$CAMERA not found: CAMERA is a camera_info YAML" >&2
    exit 2
fi
mkdir -p "$OUT"
step() { echo; echo "== $*"; }

# A camera 1.2 m above the base and 0.1 m ahead of it, looking along the base's x axis: its
# optical frame (z forward, x right, y down) in base_link (x forward, y left, z up).
step "1/6 record the walk as a robot's bag"
svde-train make-bag --images "$DATA/video" --intrinsics "$CAMERA" \
    --poses "$DATA/poses.txt" --out "$OUT/bag" --rate 30 --compressed \
    --camera-in-base 0.1 0 1.2 -1.5707963 0 -1.5707963

step "2/6 svde-train bag-info"
svde-train bag-info "$OUT/bag" | tee "$OUT/bag_info.txt"

step "3/6 svde-train fit --bag (topic names only)"
svde-train fit --bag "$OUT/bag" --image-topic /camera/image_raw/compressed \
    --odom-topic /odom --out "$OUT/run" "$@" 2>&1 | tee "$OUT/fit.log"

step "4/6 svde-train evaluate on the held-out frames with Kinect depth"
cat > "$OUT/eval.yaml" <<EOF
data:
  sources:
    - {type: rgbd, path: $DATA/eval/image, depth_path: $DATA/eval/depth, intrinsics: $CAMERA, depth_scale: 1000.0}
eval: {max_frames: 0, max_depth: 10.0, garg_crop: false}
EOF
svde-train evaluate --checkpoint "$OUT/run/checkpoints/last.pt" --config "$OUT/eval.yaml" \
    --out "$OUT/eval"

step "5/6 svde-train slim + export"
svde-train slim --checkpoint "$OUT/run/checkpoints/last.pt" --out "$OUT/indoor_kitchen.pt"
svde-train export --checkpoint "$OUT/indoor_kitchen.pt" --out "$OUT/indoor_kitchen.onnx"

step "6/6 depth_node on the bag with the new model"
svde-demo --bag "$OUT/bag" --checkpoint "$OUT/indoor_kitchen.pt" --out "$OUT/node" \
    --view-range 5 --panel-every 10 --domain-id "${DOMAIN_ID:-78}"
echo
echo "done: $OUT/eval/metrics.md, $OUT/node/panel_*.png, $OUT/indoor_kitchen.pt"
