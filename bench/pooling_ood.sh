#!/usr/bin/env bash
# Other poolings of MobileNetV2's last feature map (issue 10): the rows of
# bench/bench_defaults.c that choose and check the defaults (the linear
# head fitted exactly over the L2 grid 10 ... 0.01, and the default, L2 0.1
# with Adam 1e-2 over 30 epochs), on the features pooled from the 7x7x1280
# map as
#   graph    the graph's own MEAN (the features every other table uses)
#   mean     the map's mean, computed by the bench (the control: the same)
#   gem2, gem3, gem4   generalised mean (mean x^p)^(1/p)
#   max      global max pooling
#   meanmax  mean and max side by side (2,560 features)
# on both MobileNetV2s (QAT, TF2 PTQ), fp32, seeds 1-3: cv, closet
# validation and out-of-domain accuracy, and the one-standard-error rule's
# choice over the exact fits on both backbones' fold scores together.
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
[ ${#POOLS[@]} -gt 0 ] || POOLS=(graph mean gem2 gem3 gem4 max meanmax)
BIN=${DF_BENCH_DEFAULTS:-build/bench_defaults}
CACHE=${DF_BENCH_CACHE:-build/bench_defaults_cache}
LOGS=${DF_POOL_LOGS:-build/pooling_logs}
[ -x "$BIN" ] || { echo "build first: make ($BIN not found)" >&2; exit 1; }
mkdir -p "$LOGS"
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${POOLS[@]}"; do
  start=$(date +%s)
  flag=(--pool "$p")
  [ "$p" = graph ] && flag=()
  "$BIN" --shared "$SHARED" --cache "$CACHE" --seeds "$SEEDS" --views qat,tf2 \
    --only "exact,(the default)" "${flag[@]}" > "$LOGS/$p.log"
  echo "## $p ($(( $(date +%s) - start )) s, load $(cut -d' ' -f1 /proc/loadavg)); columns: cv cv+tta val val+tta ood ood+tta ..."
  # the checks, the default's rows, the exact L2 3 and 1 rows, and the rule's choices
  grep -E '^# check: .*map mean|(the default)|l2=(3|1) exact|one-SE rule over the exact fits' "$LOGS/$p.log" |
    cut -c1-200
done
