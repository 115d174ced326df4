#!/usr/bin/env bash
# Training time of the default recipe against the previous defaults,
# alternating runs on the closet photos, MobileNetV2 QAT, fp32:
#   prev  the default of 2026-12-03 (the graph's mean, linear head, L2 1,
#         Adam 1e-3 over 300 epochs): --pooling mean --solver adam
#   prev2 the default of 2026-12-02 (mean, L2 0.1, Adam 1e-2, 30 epochs):
#         --pooling mean --l2 0.1 --lr 1e-2 --epochs 30
#   mlp   the default before it (--head mlp: MLP 1024 + BN + dropout 0.25,
#         no L2, Adam 1e-3, 30 epochs, on the mean), the default when the
#         out-of-domain issue was filed: its time is the budget's baseline
#   (these three with 4 variants per photo, as then: --feature-cache 4)
#   fcK   the default with K augmented variants per photo (--feature-cache K)
# Prints each run's wall time and the medians.
#
#   [PRECISION=auto] [CANDIDATES="default fc4 mlp"] bench/defaults_time.sh [RUNS]
#   (default 3 runs of each of default prev prev2 mlp, fp32)
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
RUNS=${1:-3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$T/times"
CANDIDATES=${CANDIDATES:-default prev prev2 mlp}
echo "# precision: ${PRECISION:-fp32}"
for r in $(seq 1 "$RUNS"); do
  for what in $CANDIDATES; do
    flags=()
    case $what in fc[0-9]*) flags=(--feature-cache "${what#fc}") ;; esac
    [ "$what" = prev ] && flags=(--pooling mean --solver adam --feature-cache 4)
    [ "$what" = prev2 ] && flags=(--pooling mean --l2 0.1 --lr 1e-2 --epochs 30 --feature-cache 4)
    [ "$what" = mlp ] && flags=(--pooling mean --head mlp --feature-cache 4)
    t0=$(date +%s.%N)
    "$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --precision "${PRECISION:-fp32}" \
      "${flags[@]}" --out "$T/m.dfm" --quiet >/dev/null
    t1=$(date +%s.%N)
    awk -v w="$what" -v a="$t0" -v b="$t1" 'BEGIN { printf "%s %.2f\n", w, b - a }' | tee -a "$T/times"
  done
done
for what in $CANDIDATES; do
  printf "%s: median %s s\n" "$what" "$(awk -v w="$what" '$1 == w {print $2}' "$T/times" | sort -n |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
