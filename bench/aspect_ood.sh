#!/usr/bin/env bash
# Issue 10 with the aspect ratio kept: the closet and clothing photos padded
# (edge pixels repeated) or cropped to a square before the backbone
# stretches them to 224 x 224, then bench/features_ood.py's exact softmax
# regression (L2 grid, 5-fold cross-validation over seeds 1-3, the
# one-standard-error rule) on both MobileNetV2s' fp32 features.
#
#   bench/aspect_ood.sh MODE        MODE: pad or crop
# Needs bench/features_ood.sh's photo lists (it writes them; run it once).
# The copies and their features go to build/aspect_ood_MODE.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?usage: bench/aspect_ood.sh pad|crop}
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
LISTS=build/features_ood_cache
OUT=build/aspect_ood_$MODE
[ -s "$LISTS/ood.txt" ] || { echo "run bench/features_ood.sh first (it writes $LISTS/*.txt)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; mode $MODE"
[ -s "$OUT/ood.txt" ] || /usr/bin/python3 bench/aspect_ood.py "$LISTS" "$OUT" "$MODE"
for m in qat:mobilenet_v2_1.0_224_quant.tflite tf2:tf2_mobilenet_v2_1.0_224_ptq.tflite; do
  for s in train val ood; do
    f=$OUT/${m%%:*}_$s.npy
    [ -s "$f" ] && continue
    # shellcheck disable=SC2046
    "$CLI" features --backbone tflite --weights "$SHARED/models/${m#*:}" --precision fp32 --batch 16 \
      --out "$f" $(cat "$OUT/$s.txt") 2>&1 | tail -1
  done
done
/usr/bin/python3 bench/features_ood.py "$OUT" qat tf2
