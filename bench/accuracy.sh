#!/usr/bin/env bash
# Validation accuracy on the closet photos (train -> validation folder) over
# several seeds, for the default recipe and the original one, MobileNetV2.
#
#   [RECIPES="default original"] bench/accuracy.sh [SEEDS]      (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
SEEDS=${1:-3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for recipe in ${RECIPES:-default original}; do
  accs=()
  for s in $(seq 1 "$SEEDS"); do
    "$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --recipe "$recipe" \
      --seed "$s" --out "$T/m.dfm" --quiet > "$T/out"
    accs+=("$(sed -n 's/^validation accuracy \([0-9.]*\).*/\1/p' "$T/out")")
  done
  printf "%-9s recipe, %d seeds: validation accuracy %s (mean %s)\n" "$recipe" "$SEEDS" "${accs[*]}" \
    "$(printf '%s\n' "${accs[@]}" | awk '{s+=$1} END {printf "%.3f", s/NR}')"
done
