#!/usr/bin/env bash
# The audit's targets, measured: copies of the closet and clothing photos
# with planted problems (bench_audit_plant: 6 wrong labels, 3 re-encoded /
# resized / cropped copies of training photos in validation, 2 duplicates in
# train, 3 off-topic photos, a dark and a blurred photo), audited with
# MobileNetV2, scored per type (bench/audit_score.py), timed with peak memory.
#
#   bench/audit_planted.sh [SEED] [SETS]     SETS default "closet clothing"
#
# Needs ../shared (datasets, models, images/imagenet), python3 and GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:-1}
SETS=${2:-closet clothing}
SHARED=${DF_SHARED_DIR:-../shared}
MODEL=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
make -s all >/dev/null
WORK=$(mktemp -d /tmp/df-audit-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for set in $SETS; do
  build/bench_audit_plant "$SHARED/datasets/$set" "$WORK/$set" "$SEED" "$SHARED/images/imagenet" \
      "$WORK/$set.tsv"
  /usr/bin/time -v build/deepfashion audit "$WORK/$set" --backbone tflite --weights "$MODEL" --json \
      > "$WORK/$set.json" 2> "$WORK/$set.time"
  python3 bench/audit_score.py "$WORK/$set.tsv" "$WORK/$set.json" "$set (seed $SEED)"
  echo "wall $(grep 'Elapsed (wall' "$WORK/$set.time" | awk '{print $NF}'), peak RSS" \
       "$(($(grep 'Maximum resident' "$WORK/$set.time" | awk '{print $NF}') / 1024)) MB;" \
       "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
done
