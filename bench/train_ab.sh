#!/usr/bin/env bash
# The default recipe's wall time, two builds interleaved in one run (so both
# see the same machine): BASE (e.g. a build of an earlier commit) and this
# build, natively and with the CPU capped to AVX2 (DF_CPU_ISA=avx2), then
# `--head auto`. Closet photos, MobileNetV2 (QAT), 2 threads.
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
for _ in $(seq 1 "$REPEATS"); do run "base default" "$BASE" X=1; run "new  default" "$NEW" X=1; done
for _ in $(seq 1 "$REPEATS"); do run "base default avx2" "$BASE" DF_CPU_ISA=avx2; run "new  default avx2" "$NEW" DF_CPU_ISA=avx2; done
for _ in $(seq 1 "$REPEATS"); do run "base head auto" "$BASE" X=1 --head auto; run "new  head auto" "$NEW" X=1 --head auto; done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
