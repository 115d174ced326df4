#!/usr/bin/env bash
# "None of these" and calibration on real photos (README, "Predict for real
# use"). Trains the default recipe on the closet photos (seeds 1..N), then
#  - genuine photos by other people: ../shared/datasets/clothing/validation
#    mapped to the closet classes (t-shirt, shirt, longsleeve -> tops; pants,
#    shorts, skirt -> bottoms; shoes -> shoes; dress and outwear left out:
#    neither clearly a top nor off-topic);
#  - off-topic photos: clothing's hats (train + validation: a hat is none of
#    tops/bottoms/shoes) and the ImageNet check photos;
#  - evaluate --unknown-dir on both, and on the closet validation photos
#    (ECE before/after the temperature);
# and, with FEATURES=1, writes the .npy features bench_unknown compares
# scores on. Usage: bench/unknown.sh [SEEDS]   (default 1)
set -euo pipefail
SEEDS=${1:-1}
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
C=$SHARED/datasets/clothing
T=${OUT:-$(mktemp -d /tmp/df-unknown-XXXXXX)}
mkdir -p "$T/genuine/tops" "$T/genuine/bottoms" "$T/genuine/shoes" "$T/off/hats" "$T/off/imagenet"
for c in t-shirt shirt longsleeve; do ln -sf "$(realpath "$C/validation/$c")" "$T/genuine/tops/$c"; done
for c in pants shorts skirt; do ln -sf "$(realpath "$C/validation/$c")" "$T/genuine/bottoms/$c"; done
ln -sf "$(realpath "$C/validation/shoes")" "$T/genuine/shoes/shoes"
ln -sf "$(realpath "$C/validation/hat")" "$T/off/hats/validation"
ln -sf "$(realpath "$C/train/hat")" "$T/off/hats/train"
for f in "$SHARED"/images/imagenet/*.jpg "$SHARED"/images/imagenet/*.bmp; do ln -sf "$(realpath "$f")" "$T/off/imagenet/"; done
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $(seq 1 "$SEEDS"); do
  "$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --seed "$s" \
    --out "$T/closet-$s.dfm" 2>&1 | grep -E "calibration|validation accuracy"
  echo "seed $s, closet validation:"
  "$CLI" evaluate --model "$T/closet-$s.dfm" --data "$SHARED/datasets/closet" | grep -E "^accuracy|^calibration|^unknown"
  echo "seed $s, clothing (genuine) and hats + ImageNet (off-topic):"
  "$CLI" evaluate --model "$T/closet-$s.dfm" --data "$T/genuine" --unknown-dir "$T/off" 2>/dev/null \
    | grep -E "^accuracy|^unknown"
done
if [ "${FEATURES:-0}" = 1 ]; then
  f() { n=$1; shift; "$CLI" features --backbone tflite --weights "$W" --precision bf16 --out "$T/feat/$n.npy" "$@" 2>/dev/null; }
  mkdir -p "$T/feat"
  for c in bottoms shoes tops; do
    f "closet_train_$c" "$SHARED/datasets/closet/train/$c"/*; f "closet_val_$c" "$SHARED/datasets/closet/validation/$c"/*
  done
  for c in t-shirt shirt longsleeve pants shorts skirt shoes hat; do f "clothing_val_$c" "$C/validation/$c"/*; done
  f clothing_train_hat "$C/train/hat"/*
  f imagenet "$SHARED"/images/imagenet/*.jpg "$SHARED"/images/imagenet/*.bmp
  build/bench_unknown "$T/feat"
fi
echo "outputs in $T"
