#!/usr/bin/env bash
# A quantized MobileNetV2 (default the TF2 post-training int8 one: int8
# activations, int8 per-channel weights; MODEL=mobilenet_v2_1.0_224_quant.tflite
# for the uint8 quantization-aware one) on the integer engine's two
# backends, oneDNN and XNNPACK (DF_INT8_ENGINE), against our fp32 and bf16
# of the same model,
# interleaved: each round runs every configuration once, in turn, so a
# change in the machine's load hits all of them alike. 2 threads.
#
#   bench/int8_backends.sh [ROUNDS] [ITERS] [MODES]    (default: 5 10 "native avx2_vnni avx2")
#   THREADS=1 METRIC=cpu bench/int8_backends.sh ...    (a shared, loaded machine)
#   MODEL=mobilenet_v2_1.0_224_quant.tflite bench/int8_backends.sh ...
#
# Each run is `deepfashion bench backbone` (ITERS timed batches after 2
# warm-up, its median wall-clock ms per image, or with METRIC=cpu its
# process CPU time per image: with THREADS=1 the compute time even when
# other jobs hold the cores); the table gives the median over the rounds,
# and the ratio XNNPACK / oneDNN.
# Modes (the same CPU capped):
#   native     everything the CPU has
#   avx2_vnni  DF_CPU_ISA=avx2_vnni + ONEDNN_MAX_CPU_ISA=AVX2_VNNI: our kernels
#              and XNNPACK AVX2, oneDNN AVX2 + AVX-VNNI (Intel client CPUs from
#              Alder Lake)
#   avx2       DF_CPU_ISA=avx2 + ONEDNN_MAX_CPU_ISA=AVX2 (AMD Zen 2/3, older
#              Intel client CPUs): oneDNN's int8 sums saturate there
# bf16 only natively and only where the CPU has avx512_bf16.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
ROUNDS=${1:-5}
ITERS=${2:-10}
MODES=${3:-native avx2_vnni avx2}
export OMP_NUM_THREADS=${THREADS:-2}
METRIC=${METRIC:-wall}
W=$SHARED/models/${MODEL:-tf2_mobilenet_v2_1.0_224_ptq.tflite}
[ -f "$W" ] || { echo "int8_backends: $W not found" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "model: $(basename "$W")"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ' ')"
echo "threads: $OMP_NUM_THREADS, metric: $METRIC; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
has_bf16=0
grep -qw avx512_bf16 /proc/cpuinfo && has_bf16=1

mode_env() {
  case $1 in
    native) ;;
    avx2_vnni) echo DF_CPU_ISA=avx2_vnni ONEDNN_MAX_CPU_ISA=AVX2_VNNI ;;
    avx2) echo DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
    *) echo "int8_backends: unknown mode $1" >&2; exit 2 ;;
  esac
}

configs() {
  echo "int8-onednn int8-xnnpack fp32"
  [ "$1" = native ] && [ $has_bf16 = 1 ] && echo bf16
  return 0
}

for r in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    for b in 8 1; do
      for c in $(configs "$mode"); do
        read -r -a envs <<< "$(mode_env "$mode")"
        case $c in
          int8-*) envs+=(DF_INT8_ENGINE=${c#int8-}); p=int8 ;;
          *) p=$c ;;
        esac
        ms=$(env "${envs[@]}" "$CLI" bench backbone --backbone tflite --weights "$W" \
               --precision $p --batch $b --iters "$ITERS" 2>&1 |
             awk -v m="$METRIC" 'm == "wall" && /^median/ {print $2} m == "cpu" && /^cpu time/ {print $3}')
        echo "round $r $mode b$b $c $ms"
        echo "$mode b$b $c $ms" >> "$OUT/runs.txt"
      done
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| ISA | batch | int8 oneDNN | int8 XNNPACK | fp32 | bf16 | XNNPACK / oneDNN |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for mode in $MODES; do
  for b in 8 1; do
    awk -v m=$mode -v b=b$b '
      $1 == m && $2 == b { v[$3] = v[$3] " " $4 }
      function med(s,   a, n, i, j, t) {
        n = split(s, a, " "); if (!n) return ""
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : sprintf("%.2f", (a[n / 2] + a[n / 2 + 1]) / 2)
      }
      END { d = med(v["int8-onednn"]); x = med(v["int8-xnnpack"])
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", m, substr(b, 2), d, x,
              med(v["fp32"]), med(v["bf16"]), (d > 0 ? sprintf("%.2fx", x / d) : "-") }' "$OUT/runs.txt"
  done
done
echo "(median over $ROUNDS interleaved rounds of each run's $METRIC ms per image, $OMP_NUM_THREADS threads)"
