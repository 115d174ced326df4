#!/usr/bin/env bash
# What the default recipe costs beyond the backbone itself (issue: one batch
# contract, no wasted backbone work). In one run, per precision:
#   bench    - `deepfashion bench backbone` at batch 32: ms per image
#   train    - one epoch of the default recipe (--feature-cache 4): its wall
#              time (the feature cache's pass, with the clean features the
#              calibration reuses, the validation pass, the epoch, the
#              calibration and the saved model)
#   features - `deepfashion features` over the same photo list (each
#              training photo 4 times, plus the validation photos): wall time
# and the ratio train / features (target <= 1.25).
#
#   bench/train_overhead.sh [REPEATS] [PRECISIONS]    (default 3, "fp32 auto")
#
# Prints medians over REPEATS and the CPU it ran on.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
REPEATS=${1:-3}
PRECISIONS=${2:-fp32 auto}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=2

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_bf16|avx512_vnni|avx_vnni|amx_tile' | tr '\n' ' ')
echo "CPU: $cpu ($(nproc) cores; $isa); load $(cut -d' ' -f1-3 /proc/loadavg)"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

find "$DATA/train" -type f | sort > "$T/train.txt"
find "$DATA/validation" -type f | sort > "$T/val.txt"
for _ in 1 2 3 4; do cat "$T/train.txt"; done > "$T/list.txt"
cat "$T/val.txt" >> "$T/list.txt"
n=$(wc -l <"$T/list.txt")

for p in $PRECISIONS; do
  : >"$T/bench" ; : >"$T/tw" ; : >"$T/fw"
  for _ in $(seq 1 "$REPEATS"); do
    "$CLI" bench backbone --backbone tflite --weights "$W" --precision "$p" --batch 32 --iters 10 >"$T/b.out" 2>&1
    sed -n 's/^median *\([0-9.]*\) ms\/image.*/\1/p' "$T/b.out" | head -1 >>"$T/bench"
    /usr/bin/time -f "%e" -o "$T/time" "$CLI" train --data "$DATA" --backbone tflite --weights "$W" \
      --precision "$p" --epochs 1 --feature-cache 4 --out "$T/m.dfm" 2>"$T/t.err" >/dev/null
    cat "$T/time" >>"$T/tw"
    # shellcheck disable=SC2046
    /usr/bin/time -f "%e" -o "$T/time" "$CLI" features --backbone tflite --weights "$W" --precision "$p" \
      --batch 32 --out "$T/f.npy" $(cat "$T/list.txt") >/dev/null 2>&1
    cat "$T/time" >>"$T/fw"
  done
  b=$(median <"$T/bench"); tw=$(median <"$T/tw"); fw=$(median <"$T/fw")
  printf "%-5s bench backbone %.2f ms/img (x %d photos = %.2f s) | train, 1 epoch %.2f s | features on the same %d photos %.2f s | train / features %.2fx\n" \
    "$p" "$b" "$n" "$(echo "$b * $n / 1000" | bc -l)" "$tw" "$n" "$fw" "$(echo "$tw / $fw" | bc -l)"
done
