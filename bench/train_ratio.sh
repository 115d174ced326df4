#!/usr/bin/env bash
# Issue 11's training ratio: the default recipe's wall time against
# photos x variants x per-image backbone time (the image passes this
# build's training reports: on the closet photos 106 x (8 variants + the
# clean view) + 21 validation photos = 975; 551 with 4 variants), with a
# `bench backbone --precision P --batch 8 --pooling r3s2` (the feature
# cache's batch: FEATURE_PASS_BATCH in src/cli/cmd_train.c, 16 until
# 2026-12-05; and the features the default recipe takes: the 7x7 map's
# 3x3 windows, pooled after the engine; POOLING=mean for the graph's own
# 1,280, the reference before 2026-12-05) right after each training run, so
# that each ratio sees
# the machine's speed of that moment; BASE's runs (e.g. a build of an
# earlier commit) interleaved with this build's for a paired comparison,
# each going first in every other run.
# MobileNetV2 QAT, 2 threads, warm (`--precision auto`'s race remembered).
#
#   bench/train_ratio.sh BASE_CLI [RUNS]        (default 11)
#
# Prints every run, then medians, the ratio from the medians, the median
# of the runs' own ratios and the median paired difference.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BASE=${1:?usage: bench/train_ratio.sh BASE_CLI [RUNS]}
NEW=${DF_CLI:-build/deepfashion}
RUNS=${2:-11}
POOLING=${POOLING:-r3s2}
BATCH=${BATCH:-8} # the feature pass's (src/cli/cmd_train.c FEATURE_PASS_BATCH)
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
export OMP_NUM_THREADS=2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile' | tr '\n' ' ')
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores; $isa); load $(cut -d' ' -f1-3 /proc/loadavg)"
# OpenBLAS's kernels (the exact fit's): its own pick, or OPENBLAS_CORETYPE's
# where the environment sets it (some sandboxes do: run under
# `env -u OPENBLAS_CORETYPE` for what a user's machine picks)
blas=$(OPENBLAS_VERBOSE=2 "$NEW" --version 2>&1 | sed -n 's/^Core: //p' | tail -1)
case "${DF_CPU_ISA:-}" in avx2*) [ -z "${OPENBLAS_CORETYPE:-}" ] && blas="Haswell (DF_CPU_ISA=$DF_CPU_ISA: train restarts into them)" ;; esac
echo "OpenBLAS kernels: $blas${OPENBLAS_CORETYPE:+ (OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE)}"
train() { # cli -> wall seconds
  /usr/bin/time -f "%e" -o "$T/time" "$1" train --data "$DATA" --backbone tflite --weights "$W" --out "$T/m.dfm" \
    --quiet >/dev/null 2>&1 || { echo "training failed: $1" >&2; exit 1; }
  cat "$T/time"
}
# A first run each: the race, remembered for the timed runs; the new
# build's run also says which precision it picked (its line before training).
"$NEW" train --data "$DATA" --backbone tflite --weights "$W" --out "$T/m.dfm" >/dev/null 2>"$T/first"
PREC=$(sed -n 's/^deepfashion: [^(]*(tflite, [0-9]* features, \([a-z0-9]*\)).*/\1/p' "$T/first" | head -1)
[ -n "$PREC" ] || { echo "train_ratio: could not read the precision training used" >&2; exit 1; }
# the backbone's image passes, from training's time line ("backbone S for N images")
PASSES=$(sed -n 's/.*feature pass [0-9.]* (backbone [0-9.]* for \([0-9]*\) images.*/\1/p' "$T/first" | head -1)
[ -n "$PASSES" ] || { echo "train_ratio: could not read the image passes training ran" >&2; exit 1; }
train "$BASE" >/dev/null
echo "training's backbone precision: $PREC; image passes: $PASSES; reference: bench backbone --batch $BATCH --pooling $POOLING"
: >"$T/rows"
for r in $(seq 1 "$RUNS"); do
  # ABBA: on the AMD EPYC guest the second of two back-to-back runs was
  # the faster (2026-12-05: by 0.02-0.055 s in two sets of 6 pairs, the
  # builds' order swapped between them), so each build goes first in
  # every other run.
  if [ $((r % 2)) -eq 1 ]; then
    b=$(train "$BASE")
    n=$(train "$NEW")
  else
    n=$(train "$NEW")
    b=$(train "$BASE")
  fi
  ms=$("$NEW" bench backbone --backbone tflite --weights "$W" --precision "$PREC" --batch "$BATCH" --iters 20 \
    --pooling "$POOLING" 2>&1 |
    sed -n 's/^median *\([0-9.]*\) ms\/image.*/\1/p' | head -1)
  echo "$b $n $ms" >>"$T/rows"
  printf "run %2d: base %.2f s, this build %.2f s, backbone %.2f ms/image, ratio %.2fx\n" "$r" "$b" "$n" "$ms" \
    "$(echo "$n / ($PASSES * $ms / 1000)" | bc -l)"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mb=$(cut -d' ' -f1 "$T/rows" | median); mn=$(cut -d' ' -f2 "$T/rows" | median); mms=$(cut -d' ' -f3 "$T/rows" | median)
mr=$(awk -v p=$PASSES '{print $2 / (p * $3 / 1000)}' "$T/rows" | median)
md=$(awk '{print $2 - $1}' "$T/rows" | median)
printf "medians: base %.2f s, this build %.2f s (paired difference %+.2f s), backbone %.2f ms/image\n" "$mb" "$mn" "$md" "$mms"
printf "ratio: %.2fx from the medians (%.2f s against %d x %.2f ms), %.2fx as the median of the runs' own (target 1.3x)\n" \
  "$(echo "$mn / ($PASSES * $mms / 1000)" | bc -l)" "$mn" "$PASSES" "$mms" "$mr"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
