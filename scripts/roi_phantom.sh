#!/usr/bin/env bash
# Two-stage ROI against single-stage on the 2D phantom in a field of view three times as large
# (docs/roi.md, "Measured"). Usage: scripts/roi_phantom.sh [WORK_DIR] [EPOCHS] [ITERATIONS]
# Trains on the CPU: a 2d model on the whole images (the single-stage result, and the coarse
# stage) and a 2d model on `convert roi` crops (the fine stage), each EPOCHS x ITERATIONS
# steps; predicts the 8 test images both ways and scores them against labelsTs.
set -euo pipefail
work=${1:-roi_phantom}
epochs=${2:-12}
iterations=${3:-20}
nnunet=${NNUNET:-target/release/nnunet}
mkdir -p "$work"/{raw,pre,res}
work=$(cd "$work" && pwd)
export nnUNet_raw=$work/raw nnUNet_preprocessed=$work/pre nnUNet_results=$work/res
train() {
  local start=$SECONDS
  "$nnunet" train -d "$1" -c 2d -f all --epochs "$epochs" --iterations-per-epoch "$iterations" \
    --device cpu --no-validation
  echo "training of dataset $1: $((SECONDS - start)) s"
}
"$nnunet" demo-data --dim 2 --cases 24 --test-cases 8 --id 903 --field-of-view 3 --force
"$nnunet" plan-and-preprocess -d 903 -c 2d
train 903
"$nnunet" convert roi -i 903 -o "$nnUNet_raw/Dataset904_Phantom2DWideRoi" --force
"$nnunet" plan-and-preprocess -d 904 -c 2d
train 904
tests=$nnUNet_raw/Dataset903_Phantom2DWide
rm -rf "$work/pred_roi"
"$nnunet" predict-roi -i "$tests/imagesTs" -o "$work/pred_roi" --coarse 903 --coarse-c 2d \
  --fine 904 --fine-c 2d -f all --save-coarse --device cpu
echo "single-stage (the coarse model alone):"
"$nnunet" evaluate "$tests/labelsTs" "$work/pred_roi/coarse" -d 903
echo "two-stage:"
"$nnunet" evaluate "$tests/labelsTs" "$work/pred_roi" -d 903
