#!/usr/bin/env bash
# MobileNetV2 against PyTorch in adjacent pairs: on a machine whose speed
# drifts from minute to minute (the KVM guests these figures come from:
# the same binary 2.4-3.4 ms per image within an hour), a ratio is only
# as good as the two timings' closeness in time. bench/backbone.sh runs
# every DeepFashion row, then XNNPACK's, then PyTorch's, 10-20 s apart;
# here each pair is one DeepFashion run (`bench backbone`, --precision
# auto and int8) and one PyTorch run (bench/torch_backbone.py, its best
# fp32 of eager NCHW, channels_last and jit-frozen) back to back, the
# order alternating so that a drift favours neither, and the summary is
# the median of the pairs' own ratios (with their range and how many
# pairs reach the target) beside the ratio of the medians. Each pair also
# runs XNNPACK's own qu8 MobileNetV2 (build/bench_xnnpack_mobilenet,
# random weights, the same caps) right after our int8, for issue 11's
# "int8 at least as fast as XNNPACK's own MobileNetV2".
#
#   bench/backbone_pairs.sh [PAIRS] [BATCH] [native|avx2|avx2_vnni] [ITERS]
#                                               (default: 15 1 avx2 100)
#
# MOBILENET as in bench/backbone.sh (default mobilenet_v2_1.0_224_quant.tflite);
# TARGET the ratio counted (default 1.6, issue 11's); 2 threads (THREADS).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
PAIRS=${1:-15}
BATCH=${2:-1}
MODE=${3:-avx2}
ITERS=${4:-100}
TARGET=${TARGET:-1.6}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
W=$SHARED/models/${MOBILENET:-mobilenet_v2_1.0_224_quant.tflite}
[ -f "$W" ] || { echo "backbone_pairs: $W not found (set DF_SHARED_DIR)" >&2; exit 1; }
[ -x "$CLI" ] || { echo "backbone_pairs: $CLI not built (make all)" >&2; exit 1; }
XNN=${DF_BENCH_XNN:-build/bench_xnnpack_mobilenet}
[ -x "$XNN" ] || { echo "backbone_pairs: $XNN not built (make all)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch, torchvision' 2>/dev/null ||
  { echo "backbone_pairs: needs PyTorch under /usr/bin/python3 (scripts/setup-bench-deps.sh)" >&2; exit 1; }
. bench/support/isa_caps.sh
isa_caps "$MODE" || { echo "backbone_pairs: mode '$MODE' is not native, avx2 or avx2_vnni" >&2; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile)$' | tr '\n' ' ')"
echo "mode $MODE, batch $BATCH, $THREADS threads, $ITERS timed runs each, $PAIRS pairs; load $(cut -d' ' -f1-3 /proc/loadavg)"

ours() { # precision -> median ms per image
  env "${DF_ENV[@]}" "$CLI" bench backbone --backbone tflite --weights "$W" --precision "$1" --batch "$BATCH" \
    --iters "$ITERS" >"$T/ours" 2>&1 || { cat "$T/ours" >&2; exit 1; }
  awk '/^median/ {print $2}' "$T/ours"
}
xnn() { # -> XNNPACK's own qu8 MobileNetV2, median ms per image
  env "${DF_ENV[@]}" "$XNN" qu8 "$BATCH" "$ITERS" >"$T/xnn" 2>&1 || { cat "$T/xnn" >&2; exit 1; }
  awk '/median/ {print $(NF-3)}' "$T/xnn"
}
torch() { # -> PyTorch's best fp32 median ms per image
  env "${TORCH_ENV[@]}" /usr/bin/python3 bench/torch_backbone.py --batch "$BATCH" --iters "$ITERS" --threads "$THREADS" \
    --models mobilenet_v2 --no-bf16 >"$T/torch" 2>&1 || { cat "$T/torch" >&2; exit 1; }
  awk '$1 == "mobilenet_v2" && $2 == "fp32" {if (b == "" || $4 < b) b = $4} END {print b}' "$T/torch"
}
# The auto race is remembered per CPU and model: run it once before timing.
ours auto >/dev/null
printf "%-5s %8s %8s %9s %9s %8s %8s %9s\n" pair auto int8 "XNN qu8" "PyTorch" "r auto" "r int8" "XNN/int8"
: >"$T/rows"
for i in $(seq 1 "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then a=$(ours auto); q=$(ours int8); x=$(xnn); p=$(torch)
  else p=$(torch); x=$(xnn); q=$(ours int8); a=$(ours auto); fi
  echo "$a $q $p $x" >>"$T/rows"
  awk -v i="$i" '{printf "%-5s %8.2f %8.2f %9.2f %9.2f %7.2fx %7.2fx %8.2fx\n",
                       i, $1, $2, $4, $3, $3 / $1, $3 / $2, $4 / $2}' <<<"$a $q $p $x"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v t="$TARGET" '
function med(x, n,   i, j, s) {
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { s = x[i]; x[i] = x[j]; x[j] = s }
  return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
}
# one summary line: the median of the ratios r over the pairs (med sorts r, so
# r[1] and r[n] are their range), how many met the bar, the ratio of the medians
function summary(label, r, count, bar, of_medians,   m) {
  m = med(r, n)
  printf "%s: %.2fx as the median of the pairs'"'"' own ratios (%.2f-%.2fx; %d of %d pairs %s), ", label, m, r[1], r[n],
         count, n, bar
  printf "%.2fx from the medians\n", of_medians
}
{ n++; a[n] = $1; q[n] = $2; p[n] = $3; x[n] = $4; ra[n] = $3 / $1; rq[n] = $3 / $2; rx[n] = $4 / $2
  ca += ($3 / $1 >= t); cq += ($3 / $2 >= t); cx += ($4 >= $2) }
END {
  ma = med(a, n); mq = med(q, n); mp = med(p, n); mx = med(x, n)
  printf "medians: auto %.2f, int8 %.2f, XNNPACK qu8 %.2f, PyTorch best fp32 %.2f ms per image\n", ma, mq, mx, mp
  summary("auto", ra, ca, ">= " t "x", mp / ma)
  summary("int8", rq, cq, ">= " t "x", mp / mq)
  summary("int8 against XNNPACK'"'"'s own qu8", rx, cx, "at least as fast", mx / mq)
}' "$T/rows"
