#!/usr/bin/env bash
# MobileNetV2 with and without the depthwise fusion (engine/net.h,
# dw_fusion: a 1x1 convolution and the depthwise 3x3 after it as one oneDNN
# primitive), A and B interleaved in the same run so that a shared machine's
# load hits both alike.
#
#   bench/dw_fusion_ab.sh [ROUNDS] [ITERS]      (default: 7 rounds, 10 iters)
#   THREADS=1 METRIC=cpu bench/dw_fusion_ab.sh  (a shared, loaded machine)
#
# METRIC=wall (default): bench's median wall-clock ms per image; METRIC=best:
# its fastest batch (the one a loaded machine disturbed least); METRIC=cpu:
# its process CPU time per image, all threads (waiting for the cores does not
# count; OpenMP's spinning at barriers does unless OMP_WAIT_POLICY=passive).
# Each round runs every configuration (ISA x precision x batch) once fused
# and once not (DF_NO_DW_FUSION=1), alternating which goes first; each run is
# `deepfashion bench backbone` (median ms/image over ITERS timed batches).
# Printed per configuration: the median over rounds of each side, and the
# median of the per-round ratios unfused / fused (> 1: fusion faster). AVX2 is
# this CPU capped with DF_CPU_ISA=avx2 + ONEDNN_MAX_CPU_ISA=AVX2; bf16 only
# natively and where the CPU has it. The load (uptime) before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
ROUNDS=${1:-7}
ITERS=${2:-10}
export OMP_NUM_THREADS=${THREADS:-2}
METRIC=${METRIC:-wall}
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
[ -f "$W" ] || { echo "dw_fusion_ab: $W not found" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|amx_bf16)$' | tr '\n' ' ')"
echo "threads: $OMP_NUM_THREADS, metric: $METRIC, rounds: $ROUNDS, iters: $ITERS, OMP_WAIT_POLICY: ${OMP_WAIT_POLICY:-unset}"
echo "load before: $(uptime)"

CONFIGS="avx2:fp32:8 avx2:fp32:1 native:fp32:8 native:fp32:1"
grep -q -m1 avx512_bf16 /proc/cpuinfo && CONFIGS="$CONFIGS native:bf16:8 native:bf16:1"

one() { # isa precision batch fusion(on|off) -> "median_ms_per_image depthwise_layers_fused"
    local isa=$1 prec=$2 batch=$3 fusion=$4 envs=(OMP_NUM_THREADS=$OMP_NUM_THREADS)
    [ "$isa" = avx2 ] && envs+=(DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
    [ "$fusion" = off ] && envs+=(DF_NO_DW_FUSION=1)
    env "${envs[@]}" "$CLI" bench backbone --backbone tflite --weights "$W" --precision "$prec" \
        --batch "$batch" --iters "$ITERS" | awk -v metric="$METRIC" '/^median/ && metric == "wall" {m = $2} /^cpu time/ && metric == "cpu" {m = $3}
                                   /^best/ && metric == "best" {m = $2}
                                   /^dw fusion/ {n = $3} END {print m, n}'
}

for r in $(seq 1 "$ROUNDS"); do
    for c in $CONFIGS; do
        IFS=: read -r isa prec batch <<< "$c"
        if [ $((r % 2)) = 1 ]; then order="on off"; else order="off on"; fi
        for f in $order; do
            read -r ms nf <<< "$(one "$isa" "$prec" "$batch" "$f")"
            echo "$ms" >> "$OUT/$c.$f"
            [ "$f" = on ] && echo "$nf" > "$OUT/$c.nfused"
        done
        paste "$OUT/$c.on" "$OUT/$c.off" | tail -1 | awk -v c="$c" -v r="$r" '{printf "round %s %-16s fused %7.2f  unfused %7.2f ms/image  ratio %.3f\n", r, c, $1, $2, $2 / $1}'
    done
done
echo "load after: $(uptime)"

median() { sort -g | awk '{a[NR] = $1} END {print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo
echo "| ISA | precision | batch | depthwise layers fused | fused ms/image | unfused ms/image | unfused / fused (median of rounds) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for c in $CONFIGS; do
    IFS=: read -r isa prec batch <<< "$c"
    on=$(median < "$OUT/$c.on")
    off=$(median < "$OUT/$c.off")
    ratio=$(paste "$OUT/$c.on" "$OUT/$c.off" | awk '{print $2 / $1}' | median)
    printf "| %s | %s | %s | %s | %.2f | %.2f | %.3f |\n" "$isa" "$prec" "$batch" "$(cat "$OUT/$c.nfused")" "$on" "$off" "$ratio"
done
