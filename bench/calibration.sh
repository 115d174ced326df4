#!/usr/bin/env bash
# Calibration on real photos (README, "Predict for real use": the
# temperature). Trains the default recipe on the closet photos with seeds
# 1..S (precision fixed, bf16 by default: `auto` picks int8 or bf16 by a
# timing, which would change the features between runs), then `evaluate`s
# each model on
#  - the 21 closet validation photos (issue 12's target: ECE <= 0.05 after
#    scaling), and
#  - 271 photos of tops, bottoms and shoes taken by other people:
#    ../shared/datasets/clothing/validation with t-shirt, shirt, longsleeve
#    -> tops; pants, shorts, skirt -> bottoms; shoes (as bench/unknown.sh).
# Prints per seed the temperature, ECE (15 bins) before -> after scaling and
# the log loss before -> after, then the means over seeds.
# Usage: bench/calibration.sh [SEEDS] [PRECISION]   (default 5 bf16)
# TRAIN_ARGS adds train flags (e.g. TRAIN_ARGS="--head mlp").
set -euo pipefail
SEEDS=${1:-5}
PREC=${2:-bf16}
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
C=$SHARED/datasets/clothing
T=${OUT:-$(mktemp -d /tmp/df-calibration-XXXXXX)}
mkdir -p "$T/clothing/tops" "$T/clothing/bottoms" "$T/clothing/shoes"
for c in t-shirt shirt longsleeve; do ln -sfn "$(realpath "$C/validation/$c")" "$T/clothing/tops/$c"; done
for c in pants shorts skirt; do ln -sfn "$(realpath "$C/validation/$c")" "$T/clothing/bottoms/$c"; done
ln -sfn "$(realpath "$C/validation/shoes")" "$T/clothing/shoes/shoes"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# "accuracy A  loss L0 ..." and "calibration: temperature T; expected
# calibration error E (E0 before scaling), loss L" -> "A T E0 E L0 L"
figures() {
  awk '/^accuracy/ {a = $2; l0 = $4}
       /^calibration: temperature/ {t = $3; sub(/;/, "", t); e = $7; e0 = $8; sub(/\(/, "", e0); l = $NF}
       END {print a, t, e0, e, l0, l}'
}
rows=$T/rows.txt
: >"$rows"
for s in $(seq 1 "$SEEDS"); do
  # shellcheck disable=SC2086 # TRAIN_ARGS is split into flags on purpose
  "$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --precision "$PREC" --seed "$s" \
    ${TRAIN_ARGS:-} --out "$T/closet-$s.dfm" >/dev/null 2>&1
  v=$("$CLI" evaluate --model "$T/closet-$s.dfm" --data "$SHARED/datasets/closet" 2>/dev/null | figures)
  o=$("$CLI" evaluate --model "$T/closet-$s.dfm" --data "$T/clothing" 2>/dev/null | figures)
  echo "$s $v $o" >>"$rows"
  echo "$s $v $o" | awk '{printf "seed %d: T %.3f | closet validation (acc %.3f): ECE %.3f -> %.3f, loss %.3f -> %.3f | clothing (acc %.3f): ECE %.3f -> %.3f, loss %.3f -> %.3f\n", $1, $3, $2, $4, $5, $6, $7, $8, $10, $11, $12, $13}'
done
awk '{for (i = 2; i <= NF; i++) m[i] += $i; n++}
     END {printf "mean of %d seeds: T %.3f | closet validation: ECE %.3f -> %.3f, loss %.3f -> %.3f | clothing: ECE %.3f -> %.3f, loss %.3f -> %.3f\n", n, m[3]/n, m[4]/n, m[5]/n, m[6]/n, m[7]/n, m[10]/n, m[11]/n, m[12]/n, m[13]/n}' "$rows"
echo "outputs in $T"
