#!/usr/bin/env bash
# Backbone speed, DeepFashion (oneDNN) against PyTorch at its best, same run,
# same thread count (2), same batch: median ms per image.
#
#   bench/backbone.sh [ITERS]
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
ITERS=${1:-20}
export OMP_NUM_THREADS=2
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
for p in fp32 bf16; do
  for b in 8 1; do
    echo "== deepfashion mobilenet_v2 $p batch $b"
    "$CLI" bench backbone --backbone tflite --weights "$W" --precision $p --batch $b --iters "$ITERS"
  done
done
for p in fp32 bf16; do
  for b in 8 1; do
    echo "== deepfashion vgg16 $p batch $b"
    "$CLI" bench backbone --backbone vgg16 --precision $p --batch $b --iters $((ITERS / 4 > 2 ? ITERS / 4 : 2))
  done
done
echo "== pytorch"
/usr/bin/python3 bench/torch_backbone.py --batch 8 --iters "$ITERS"
