#!/usr/bin/env bash
# Where each thread of a command spends its time, to find work that runs
# on one thread while the others wait (OpenMP's waiting shows as
# libgomp). Records the command with `perf record` (Debian's linux-perf),
# then counts the samples per thread and library, and per thread the
# most sampled functions of the deepfashion binary.
#
#   bench/thread_waits.sh COMMAND [ARGS...]
#   e.g. OMP_NUM_THREADS=2 bench/thread_waits.sh build/deepfashion bench backbone \
#          --backbone tflite --weights ../shared/models/mobilenet_v2_1.0_224_quant.tflite \
#          --precision int8 --batch 1 --iters 400
#
# The seventh session found this way that the integer engine's own passes
# ran on one thread at batch 1 (the other: 41% of its samples in libgomp).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bench/thread_waits.sh COMMAND [ARGS...]" >&2; exit 2; }
command -v perf >/dev/null || { echo "thread_waits: needs perf (apt-get install linux-perf)" >&2; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
perf record -q -o "$T/perf.data" -- "$@" >/dev/null 2>"$T/err" || { cat "$T/err" >&2; exit 1; }
perf script -i "$T/perf.data" -F tid,ip,sym,dso 2>/dev/null >"$T/samples"
echo "samples per thread and library (threads with fewer than 1% of the samples left out):"
awk '{d=$NF; gsub(/[()]/, "", d); n=split(d, a, "/"); d=a[n]; if (d ~ /^perf-[0-9]+\.map$/) d="[JIT] (oneDNN kernels)";
      s[$1]++; c[$1 "\t" d]++; all++}
     END {for (k in c) {split(k, p, "\t"); if (s[p[1]] >= all / 100 && c[k] >= s[p[1]] / 100)
            printf "%s\t%6.1f%%\t%s\n", p[1], 100 * c[k] / s[p[1]], p[2]}}' "$T/samples" | sort -k1,1n -k2,2nr
echo
echo "the deepfashion binary's functions, samples per thread (top 12):"
grep "deepfashion)" "$T/samples" | awk '{c[$3 "\t" $1]++} END {for (k in c) print k "\t" c[k]}' |
  awk -F'\t' '{r[$1] = r[$1] " " $2 ":" $3; t[$1] += $3} END {for (k in r) printf "%6d %s  (thread:samples%s)\n", t[k], k, r[k]}' |
  sort -rn | head -12
