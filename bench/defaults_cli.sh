#!/usr/bin/env bash
# The defaults as a new user meets them, through the command line: `train`
# on the 106 closet photos (seeds 1..S, --precision fp32 or $PRECISION), then `evaluate`
# on all 2,791 photos of ../shared/datasets/clothing mapped to the closet's
# classes (t-shirt, shirt, longsleeve -> tops; pants, shorts, skirt ->
# bottoms; shoes -> shoes), for both MobileNetV2s. Prints the cross-validation
# accuracy (the calibration's 5-fold out-of-fold predictions), closet validation
# accuracy, out-of-domain accuracy and the wall time of `train`.
#
#   [FLAGS="--head mlp"] bench/defaults_cli.sh [SEEDS]     (default 3)
#   BACKBONES="qat tf2" (default both)
#   PRECISION=auto      the engine (default fp32, the bench's features; auto
#                       is what a user's `train` picks: int8 or bf16 here)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
SEEDS=${1:-3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$SHARED/datasets/clothing" "$T/ood" <<'PYEOF'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
to = {"t-shirt": "tops", "shirt": "tops", "longsleeve": "tops",
      "pants": "bottoms", "shorts": "bottoms", "skirt": "bottoms", "shoes": "shoes"}
for part in ("train", "validation"):
    for cls in to:
        os.makedirs(os.path.join(dst, to[cls]), exist_ok=True)
        for name in os.listdir(os.path.join(src, part, cls)):
            os.symlink(os.path.join(os.path.abspath(src), part, cls, name),
                       os.path.join(dst, to[cls], "%s_%s_%s" % (part, cls, name)))
PYEOF
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); flags: ${FLAGS:-(defaults)}; precision: ${PRECISION:-fp32}"
for bb in ${BACKBONES:-qat tf2}; do
  case $bb in
    qat) W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite ;;
    tf2) W=$SHARED/models/tf2_mobilenet_v2_1.0_224_ptq.tflite ;;
  esac
  for s in $(seq 1 "$SEEDS"); do
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --precision "${PRECISION:-fp32}" \
      --seed "$s" ${FLAGS:-} --out "$T/m.dfm" >"$T/out" 2>"$T/err"
    t1=$(date +%s.%N)
    val=$(sed -n 's/^validation accuracy \([0-9.]*\).*/\1/p' "$T/out")
    # the calibration's 5-fold out-of-fold accuracy on the training photos
    cv=$(sed -n 's/.*out-of-fold predictions of the [0-9]* training photos: accuracy \([0-9.]*\).*/\1/p' "$T/err")
    "$CLI" evaluate --model "$T/m.dfm" --data "$T/ood" --json >"$T/ev.json"
    ood=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert sum(map(sum,d["confusion"]))==2791; print("%.4f" % d["accuracy"])' "$T/ev.json")
    printf "%s seed %d: cv %s, closet validation %s, out-of-domain %s, train %s s\n" "$bb" "$s" "${cv:-?}" "$val" "$ood" \
      "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
  done
done
