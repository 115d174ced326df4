#!/usr/bin/env bash
# Backbone speed, DeepFashion against PyTorch at its best, same run, same
# thread count (2), same batch: median ms per image, and the ratio PyTorch's
# best fp32 / DeepFashion.
#
#   bench/backbone.sh [ITERS] [native|avx2|avx2_vnni|both]     (default: 20 both)
#   THREADS=1 METRIC=cpu bench/backbone.sh ...       (a shared, loaded machine)
#
# METRIC=wall (default): median wall-clock ms per image. METRIC=cpu: median
# process CPU time per image, all threads: with THREADS=1 that is the
# compute time even when other jobs hold the cores (waiting does not count).
# native: everything the CPU has. avx2: the same CPU restricted to AVX2 + FMA
# (what Intel client parts and AMD Zen 2/3 have), for both sides:
#   DeepFashion  DF_CPU_ISA=avx2 (our kernels, XNNPACK, oneDNN) + ONEDNN_MAX_CPU_ISA=AVX2
#   PyTorch      ATEN_CPU_CAPABILITY=avx2, ONEDNN_MAX_CPU_ISA=AVX2 (and DNNL_ for older
#                oneDNN), OPENBLAS_CORETYPE=Haswell
# avx2_vnni: the same plus AVX-VNNI (Intel client CPUs from the 12th
# generation): DF_CPU_ISA=avx2_vnni + ONEDNN_MAX_CPU_ISA=AVX2_VNNI for us,
# ONEDNN_MAX_CPU_ISA=AVX2_VNNI for PyTorch (its fp32 does not use VNNI).
# XNNPACK's own MobileNetV2 (bench_xnnpack_mobilenet, subgraph API, random
# weights) runs beside them in fp32 and qu8.
# bf16 rows only where the CPU has native bf16 (avx512_bf16) and not under
# the AVX2 cap (emulated bf16 takes minutes for VGG16 and means nothing).
# MobileNetV2 is mobilenet_v2_1.0_224_quant.tflite (int8 = its own integers
# on oneDNN where it has VNNI or AMX, else on oneDNN's fp32 kernels, exact: XNNPACK's
# results bit for bit), or MOBILENET=tf2_mobilenet_v2_1.0_224_ptq.tflite (the int8
# model: int8 on oneDNN where it has VNNI, else XNNPACK); VGG16 uses random
# weights (timing only). BACKBONES="mobilenet_v2" skips VGG16. The summary at the
# end is a Markdown table; the machine's load is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
ITERS=${1:-20}
MODES=${2:-both}
[ "$MODES" = both ] && MODES="native avx2"
. bench/support/isa_caps.sh
for mode in $MODES; do
  isa_caps "$mode" || { echo "backbone.sh: mode '$mode' is not native, avx2, avx2_vnni or both" >&2; exit 2; }
done
THREADS=${THREADS:-2}
METRIC=${METRIC:-wall}
export OMP_NUM_THREADS=$THREADS
echo "threads: $THREADS, metric: $METRIC"
W=$SHARED/models/${MOBILENET:-mobilenet_v2_1.0_224_quant.tflite}
BACKBONES=${BACKBONES:-mobilenet_v2 vgg16}
has() { [[ " $BACKBONES " == *" $1 "* ]]; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ' ')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
has_bf16=0
grep -qw avx512_bf16 /proc/cpuinfo && has_bf16=1

# df MODE NAME ARGS...: one DeepFashion run, its median recorded as NAME.
df() {
  local mode=$1 name=$2
  shift 2
  echo "== [$mode] deepfashion $name"
  isa_caps "$mode"
  env "${DF_ENV[@]}" "$CLI" bench backbone "$@" 2>&1 | tee "$OUT/run.txt"
  if [ "$METRIC" = cpu ]; then
    awk -v n="$name" '/^cpu time/ {print n "\t" $3}' "$OUT/run.txt" >> "$OUT/$mode.tsv"
  else
    awk -v n="$name" '/^median/ {print n "\t" $2}' "$OUT/run.txt" >> "$OUT/$mode.tsv"
  fi
}

for mode in $MODES; do
  : > "$OUT/$mode.tsv"
  precs="auto fp32 int8"
  [ "$mode" = native ] && [ $has_bf16 = 1 ] && precs="auto fp32 bf16 int8"
  for b in 8 1; do
    has mobilenet_v2 || break
    for p in $precs; do
      df "$mode" "mobilenet_v2 $p b$b" --backbone tflite --weights "$W" --precision "$p" --batch $b --iters "$ITERS"
    done
  done
  vprecs="auto fp32"
  [ "$mode" = native ] && [ $has_bf16 = 1 ] && vprecs="auto fp32 bf16"
  VITERS=$((ITERS / 4 > 3 ? ITERS / 4 : 3))
  for b in 8 1; do
    has vgg16 || break
    for p in $vprecs; do
      df "$mode" "vgg16 $p b$b" --backbone vgg16 --precision "$p" --batch $b --iters "$VITERS"
    done
  done
  for d in fp32 qu8; do
    for b in 8 1; do
      has mobilenet_v2 || break
      echo "== [$mode] xnnpack's own mobilenet_v2 $d b$b"
      isa_caps "$mode"
      env "${DF_ENV[@]}" "${DF_BENCH_XNN:-build/bench_xnnpack_mobilenet}" $d $b "$ITERS" | tee "$OUT/x.txt"
      # "... median 7.12 ms/image 14.10 cpu-ms/image"
      awk -v k="mobilenet_v2 xnn-$d b$b" -v m="$METRIC" \
        '{print k "\t" (m == "cpu" ? $(NF-1) : $(NF-3))}' "$OUT/x.txt" >> "$OUT/$mode.tsv"
    done
  done
  echo "== [$mode] pytorch"
  isa_caps "$mode"
  targs=()
  if [ "$mode" != native ] || [ $has_bf16 = 0 ]; then targs=(--no-bf16); fi
  for b in 8 1; do
    env "${TORCH_ENV[@]}" /usr/bin/python3 bench/torch_backbone.py --batch $b --iters "$ITERS" \
      --threads "$THREADS" --models "${BACKBONES// /,}" "${targs[@]}" | tee "$OUT/torch.txt"
    # "vgg16  fp32 jit-frozen  12.34 ms/image  24.5 cpu-ms/image" -> best fp32, bf16 per model
    col=4
    [ "$METRIC" = cpu ] && col=6
    awk -v b=$b -v c=$col '$2 == "fp32" { v = $c; k = $1; if (!(k in best) || v < best[k]) best[k] = v }
                 $2 == "bf16" { print $1 " torch-bf16 b" b "\t" $c }
                 END { for (k in best) print k " torch-fp32 b" b "\t" best[k] }' "$OUT/torch.txt" >> "$OUT/$mode.tsv"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "($METRIC ms per image, $THREADS threads; ratio = PyTorch's best fp32 / DeepFashion)"

echo
echo "| ISA | backbone | batch | DeepFashion auto | fp32 | bf16 | int8 | XNNPACK's own fp32 / qu8 | PyTorch best fp32 | bf16 autocast | ratio auto / fp32 / int8 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for mode in $MODES; do
  for m in mobilenet_v2 vgg16; do
    for b in 8 1; do
      awk -F'\t' -v m=$m -v b=b$b -v mode=$mode '
        { split($1, k, " "); if (k[1] == m && k[3] == b) v[k[2]] = $2 }
        function cell(x) { return (x in v) ? v[x] : "" }
        function ratio(x) { return (x in v && "torch-fp32" in v) ? sprintf("%.2fx", v["torch-fp32"] / v[x]) : "-" }
        END { xnn = ("xnn-fp32" in v) ? v["xnn-fp32"] " / " v["xnn-qu8"] : ""
              printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n", mode, m,
              substr(b, 2), cell("auto"), cell("fp32"), cell("bf16"), cell("int8"), xnn,
              cell("torch-fp32"), cell("torch-bf16"), ratio("auto"), ratio("fp32"), ratio("int8") }' "$OUT/$mode.tsv"
    done
  done
done
