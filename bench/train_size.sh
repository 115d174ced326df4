#!/usr/bin/env bash
# The default recipe's training time on sets of the size users have: the
# first P photos of each of the 10 classes of ../shared/datasets/clothing's
# train/ and the first P/4 of its validation/ (symlinks), for each P given
# (P = 10: 100 photos, 40: 400). BASE_CLI (e.g. a build of an earlier
# commit) and this build interleaved, RUNS each, after one warm-up run of
# each (`--precision auto`'s race remembered); MobileNetV2 QAT, 2 threads.
# Prints every run, the medians, their ratio and this build's own line of
# where the time went (from its last run).
#
#   bench/train_size.sh BASE_CLI [RUNS] [P ...]     (default 3; 10 40)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BASE=${1:?usage: bench/train_size.sh BASE_CLI [RUNS] [P ...]}
NEW=${DF_CLI:-build/deepfashion}
RUNS=${2:-3}
shift $(($# > 2 ? 2 : $#))
SIZES=${*:-10 40}
SHARED=${DF_SHARED_DIR:-../shared}
SRC=$SHARED/datasets/clothing W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
[ -d "$SRC/train" ] || { echo "train_size: $SRC/train not found (set DF_SHARED_DIR)" >&2; exit 1; }
export OMP_NUM_THREADS=2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_vnni|avx512_bf16|avx_vnni|amx_tile' | tr '\n' ' ')
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($(nproc) cores; $isa); load $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
train() { # cli data -> wall seconds; the run's own accounting line in $T/last
  /usr/bin/time -f "%e" -o "$T/time" "$1" train --data "$2" --backbone tflite --weights "$W" --out "$T/m.dfm" \
    >"$T/out" 2>&1 || { echo "training failed: $1 on $2" >&2; tail -3 "$T/out" >&2; exit 1; }
  sed -n 's/^deepfashion: time /time /p' "$T/out" >"$T/last"
  cat "$T/time"
}
for P in $SIZES; do
  D=$T/set$P
  for part in train validation; do
    n=$P; [ "$part" = validation ] && n=$(((P + 3) / 4))
    for c in "$SRC/$part"/*/; do
      cls=$(basename "$c")
      mkdir -p "$D/$part/$cls"
      find "$c" -maxdepth 1 -type f | sort | head -n "$n" | while read -r f; do ln -s "$(realpath "$f")" "$D/$part/$cls/"; done
    done
  done
  photos=$(find "$D/train" -type l | wc -l)
  train "$BASE" "$D" >/dev/null
  train "$NEW" "$D" >/dev/null
  : >"$T/rows"
  for r in $(seq 1 "$RUNS"); do
    b=$(train "$BASE" "$D")
    n=$(train "$NEW" "$D")
    echo "$b $n" >>"$T/rows"
    printf "%d photos, run %d: base %.2f s, this build %.2f s\n" "$photos" "$r" "$b" "$n"
  done
  mb=$(cut -d' ' -f1 "$T/rows" | median); mn=$(cut -d' ' -f2 "$T/rows" | median)
  printf "%d photos: medians base %.2f s, this build %.2f s: %.2fx\n" "$photos" "$mb" "$mn" "$(echo "$mb / $mn" | bc -l)"
  echo "  this build's last run: $(cat "$T/last")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
