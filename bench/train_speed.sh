#!/usr/bin/env bash
# Training speed of the original recipe (45 epochs x n//30 batches of 30
# live-augmented photos through the frozen backbone), DeepFashion against the
# same recipe in PyTorch (bench/torch_train_original.py), in the same run.
#
#   bench/train_speed.sh [mobilenet|vgg16|default|all] [REPEATS]
#
# default: only the default recipe and `--head auto` with MobileNetV2 (no
# PyTorch).
#
# Needs Debian's python3-torch, python3-torchvision, python3-h5py
# (scripts/setup-bench-deps.sh). VGG16 timing uses a random-weight file in
# the Keras layout (bench/make_vgg16_h5.py): speed does not depend on the
# weights' values. Prints one line per run; quote medians.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet
WHICH=${1:-all}
REPEATS=${2:-1}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=2

ours() { # label, train flags...
  local label=$1; shift
  for _ in $(seq 1 "$REPEATS"); do
    /usr/bin/time -f "%e %M" -o "$T/time" "$CLI" train --data "$DATA" "$@" --out "$T/m.dfm" --quiet \
      > "$T/out"
    read -r wall rss <"$T/time"
    acc=$(sed -n 's/^validation accuracy \([0-9.]*\).*/\1/p' "$T/out")
    printf "deepfashion %-40s %7.1f s  peak RSS %5d MB  val_acc %s\n" "$label" "$wall" $((rss / 1024)) "$acc"
  done
}
torch_run() { # label, args...
  local label=$1; shift
  for _ in $(seq 1 "$REPEATS"); do
    /usr/bin/time -f "%e %M" -o "$T/time" /usr/bin/python3 bench/torch_train_original.py \
      --data "$DATA/train" "$@" > "$T/out" 2>/dev/null
    read -r wall rss <"$T/time"
    printf "pytorch     %-40s %7.1f s  peak RSS %5d MB  (%s)\n" "$label" "$wall" $((rss / 1024)) \
      "$(sed -n 's/.*in \([0-9.]* s\).*/recipe loop \1/p' "$T/out")"
  done
}

if [ "$WHICH" = mobilenet ] || [ "$WHICH" = all ]; then
  W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
  ours "mobilenet_v2 original fp32" --recipe original --backbone tflite --weights "$W" --precision fp32
  ours "mobilenet_v2 original bf16" --recipe original --backbone tflite --weights "$W" --precision bf16
  ours "mobilenet_v2 original auto" --recipe original --backbone tflite --weights "$W"
  torch_run "mobilenet_v2 original jit (fp32 best)" --backbone mobilenet_v2 --mode jit
  torch_run "mobilenet_v2 original bf16 autocast" --backbone mobilenet_v2 --mode bf16
fi
if [ "$WHICH" = default ] || [ "$WHICH" = mobilenet ] || [ "$WHICH" = all ]; then
  W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
  ours "mobilenet_v2 default recipe" --backbone tflite --weights "$W"
  ours "mobilenet_v2 default, --head auto" --backbone tflite --weights "$W" --head auto
fi
if [ "$WHICH" = vgg16 ] || [ "$WHICH" = all ]; then
  /usr/bin/python3 bench/make_vgg16_h5.py "$T/vgg16.h5" >/dev/null
  ours "vgg16 original (random weights) auto" --recipe original --backbone vgg16 --weights "$T/vgg16.h5"
  ours "vgg16 original --feature-cache 8" --recipe original --backbone vgg16 --weights "$T/vgg16.h5" \
    --feature-cache 8
  # PyTorch VGG16 is slow: 5 of the 45 epochs, the figure scaled to 45.
  for mode in jit bf16; do
    /usr/bin/time -f "%e %M" -o "$T/time" /usr/bin/python3 bench/torch_train_original.py \
      --data "$DATA/train" --backbone vgg16 --mode $mode --epochs 5 > "$T/out" 2>/dev/null
    read -r wall rss <"$T/time"
    loop=$(sed -n 's/.*in \([0-9.]*\) s.*/\1/p' "$T/out")
    printf "pytorch     %-40s %7.1f s  peak RSS %5d MB  (5 epochs measured: %s s; x9)\n" \
      "vgg16 original $mode (45 ep est.)" "$(echo "$loop * 9" | bc)" $((rss / 1024)) "$loop"
  done
fi
