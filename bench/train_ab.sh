#!/usr/bin/env bash
# The default recipe's wall time, two builds interleaved in one run (so both
# see the same machine): BASE (e.g. a build of an earlier commit) and this
# build, natively and with the CPU capped to AVX2 (DF_CPU_ISA=avx2), then
# `--head auto`. Closet photos, MobileNetV2 (QAT), 2 threads. This build
# runs twice per row: "cold" is a CPU's first run (an empty cache folder:
# the race, best of 3, whose answer is then remembered), "warm" takes the
# choice a first, untimed run remembered (a folder of its own, per ISA
# cap). Then the per-image int8 time of `bench backbone` at the feature
# cache's batch (16), the denominator of the issue's ratio.
#
#   bench/train_ab.sh BASE_CLI [REPEATS]        (default 3; quote medians)
set -uo pipefail
cd "$(dirname "$0")/.."
BASE=${1:?usage: bench/train_ab.sh BASE_CLI [REPEATS]}
NEW=${DF_CLI:-build/deepfashion}
REPEATS=${2:-3}
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
export OMP_NUM_THREADS=2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_bf16|amx_tile' | tr '\n' ' ')
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores; $isa); load $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # label cli env-assignment [train flags...]
  local label=$1 cli=$2 env1=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$T/time" env "$env1" "$cli" train --data "$DATA" --backbone tflite --weights "$W" \
    "$@" --out "$T/m.dfm" --quiet >"$T/out" 2>&1
  read -r wall rss <"$T/time"
  printf "%-24s %6.2f s %5d MB  val_acc %s\n" "$label" "$wall" $((rss / 1024)) \
    "$(sed -n 's/^validation accuracy \([0-9.]*\).*/\1/p' "$T/out")"
}
C=$T/cache
for isa in native avx2; do  # prime the warm rows' caches
  DF_CACHE_DIR=$C/$isa DF_CPU_ISA=$isa "$NEW" train --data "$DATA" --backbone tflite --weights "$W" --epochs 1 \
    --out "$T/m.dfm" --quiet >/dev/null 2>&1
done
for _ in $(seq 1 "$REPEATS"); do
  run "base default" "$BASE" X=1
  run "new  default cold" "$NEW" DF_CACHE_DIR="$(mktemp -d -p "$T")"
  run "new  default warm" "$NEW" DF_CACHE_DIR=$C/native
done
for _ in $(seq 1 "$REPEATS"); do
  run "base default avx2" "$BASE" DF_CPU_ISA=avx2
  DF_CACHE_DIR="$(mktemp -d -p "$T")" run "new  default avx2 cold" "$NEW" DF_CPU_ISA=avx2
  DF_CACHE_DIR=$C/avx2 run "new  default avx2 warm" "$NEW" DF_CPU_ISA=avx2
done
for _ in $(seq 1 "$REPEATS"); do
  run "base head auto" "$BASE" X=1 --head auto
  run "new  head auto warm" "$NEW" DF_CACHE_DIR=$C/native --head auto
done
for _ in $(seq 1 "$REPEATS"); do
  "$NEW" bench backbone --backbone tflite --weights "$W" --precision int8 --batch 8 2>/dev/null |
    sed -n 's/^median *\([0-9.]*\) ms\/image.*/bench backbone int8 batch 8 (the feature pass): \1 ms\/image/p'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
