#!/usr/bin/env bash
# The main job: train a classifier on the closet photos with a real
# pretrained backbone (MobileNetV2, ImageNet), evaluate it, write the model
# and the report. Run through `make demo` (which builds and finds assets).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
OUT=${DF_DEMO_OUT:-demo-out}
DATA=assets/closet
WEIGHTS=assets/mobilenet_v2_1.0_224_quant.tflite
mkdir -p "$OUT"

echo "== data set"
"$CLI" scan "$DATA/train"
"$CLI" scan "$DATA/validation"

echo "== what the model sees: one training photo, augmented"
first=$(find "$DATA/train/tops" -type f | sort | head -n 1)
"$CLI" augment "$first" --out "$OUT/augment" --count 8 --seed 1

echo "== train: MobileNetV2 (ImageNet) backbone, default recipe"
"$CLI" train --data "$DATA" --backbone tflite --weights "$WEIGHTS" \
  --out "$OUT/closet.dfm" --history "$OUT/history.csv" --report "$OUT/report"

echo "== evaluate on the validation photos"
"$CLI" evaluate --model "$OUT/closet.dfm" --data "$DATA"

echo "== predict three validation photos"
"$CLI" predict --model "$OUT/closet.dfm" $(find "$DATA/validation" -type f | sort | awk 'NR%7==1')

echo
echo "model:  $OUT/closet.dfm"
echo "report: $OUT/report/report.html"
