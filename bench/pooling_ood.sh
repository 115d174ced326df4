#!/usr/bin/env bash
# Other poolings of MobileNetV2's last feature map (issue 10): the rows of
# bench/bench_defaults.c that choose and check the defaults (the linear
# head fitted exactly over the L2 grid 10 ... 0.01; today's default, L2 1
# with Adam 1e-3 over 300 epochs; the previous one, L2 0.1 with Adam 1e-2
# over 30 epochs), on the features pooled from the 7x7x1280 map as
#   graph    the graph's own MEAN (the features every other table uses)
#   mean     the map's mean, computed by the bench (the control: the same)
#   gem2, gem3, gem4   generalised mean (mean x^p)^(1/p)
#   max      global max pooling
#   meanmax  mean and max side by side (2,560 features)
#   P+b16    P with the mean of block 16's 7x7x320 output appended (one
#            more backbone pass per model), P+b16Q with its Q pooling
# on both MobileNetV2s (QAT, TF2 PTQ), fp32, seeds 1-3: cv, closet
# validation and out-of-domain accuracy, and the one-standard-error rule's
# choice over the exact fits on both backbones' fold scores together; then
# one markdown table row per pooling.
#
#   bench/pooling_ood.sh [SEEDS] [POOLINGS...]   (default 3; all poolings)
#   DF_BENCH_CACHE=DIR  the feature cache (default build/bench_defaults_cache;
#                       the first pooled run fills every pooling's files from
#                       one backbone pass per model, about 10 minutes)
#   DF_POOL_LOGS=DIR    where each pooling's full output is kept
#                       (default build/pooling_logs)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DF_SHARED_DIR:-../shared}
SEEDS=${1:-3}
shift || true
POOLS=("$@")
[ ${#POOLS[@]} -gt 0 ] || POOLS=(graph mean gem2 gem3 gem4 max meanmax mean+b16 gem2+b16 gem3+b16 mean+b16gem2 gem2+b16gem2)
BIN=${DF_BENCH_DEFAULTS:-build/bench_defaults}
CACHE=${DF_BENCH_CACHE:-build/bench_defaults_cache}
LOGS=${DF_POOL_LOGS:-build/pooling_logs}
[ -x "$BIN" ] || { echo "build first: make ($BIN not found)" >&2; exit 1; }
mkdir -p "$LOGS"
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); load: $(cut -d' ' -f1-3 /proc/loadavg)"
# One table row per pooling from its log: the one-SE rule's pick over the
# exact fits on both backbones' fold scores together, that row's cv, val
# and ood (ood as a fraction of the 3 x 2,791 predictions) on each
# backbone, the best exact-fit ood of the grid, today's and the previous
# default's ood.
SUMMARY='
function row_name(   s, i) { s = $2; for (i = 3; i <= NF - 13; i++) s = s " " $i; return s }
function m(x,   a) { split(x, a, "±"); return a[1] }
/^(qat|tf2)[^ ]* +linear/ {
  b = substr($1, 1, 3); n = row_name(); last_b = b; last_n = n
  cv[b, n] = $(NF-12); val[b, n] = m($(NF-10))
}
/^#   ood [0-9]+ \/ [0-9]+ over the seeds/ {
  f = $0; sub(/.*\(/, "", f); sub(/\).*/, "", f); ood[last_b, last_n] = f
  if (last_n ~ /exact/ && f + 0 > best[last_b] + 0) best[last_b] = f
}
/^# qat\+tf2 one-SE rule over the exact fits/ { s = $0; sub(/.*-> chosen: /, "", s); sub(/ \(cv.*/, "", s); pick = s }
END {
  d = "linear l2=0.1 (the default)"; t = "linear l2=1 lr=1e-3 300ep"
  p = pick; sub(/linear /, "", p); sub(/ exact/, "", p)
  printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s |\n", POOL, p, cv["qat", pick],
    val["qat", pick], ood["qat", pick], cv["tf2", pick], val["tf2", pick], ood["tf2", pick], best["qat"], best["tf2"],
    ood["qat", t], ood["tf2", t], ood["qat", d], ood["tf2", d]
}'
for p in "${POOLS[@]}"; do
  start=$(date +%s)
  flag=(--pool "$p")
  [ "$p" = graph ] && flag=()
  "$BIN" --shared "$SHARED" --cache "$CACHE" --seeds "$SEEDS" --views qat,tf2 \
    --only "exact,(the default),l2=1 lr=1e-3 300ep" "${flag[@]}" > "$LOGS/$p.log"
  echo "## $p ($(( $(date +%s) - start )) s, load $(cut -d' ' -f1 /proc/loadavg)); columns: cv cv+tta val val+tta ood ood+tta ..."
  # the checks, the default's rows, the exact L2 3 and 1 rows, and the rule's choices
  grep -E '^# check: .*map mean|(the default)|300ep|l2=(3|1) exact|one-SE rule over the exact fits' "$LOGS/$p.log" |
    cut -c1-200
done
echo
echo "| features | rule's pick (exact fit) | QAT cv | QAT val | QAT ood | TF2 cv | TF2 val | TF2 ood |" \
  "best exact ood QAT / TF2 | today's default ood QAT / TF2 | previous default ood QAT / TF2 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for p in "${POOLS[@]}"; do awk -v POOL="$p" "$SUMMARY" "$LOGS/$p.log"; done
