#!/usr/bin/env bash
# The out-of-domain check of the training defaults (issue 10): every head
# candidate of bench/bench_defaults.c, 3 seeds, scored three ways on each
# MobileNetV2 (QAT and the TF2 post-training-quantised one, fp32):
#   cv   5-fold cross-validation on the 106 closet training photos
#   val  the 21 closet validation photos
#   ood  2,791 photos of other people's clothes (../shared/datasets/clothing,
#        t-shirt/shirt/longsleeve -> tops, pants/shorts/skirt -> bottoms,
#        shoes -> shoes; dress, hat and outwear left out)
# and the one-standard-error choice per backbone and over both.
#
#   bench/defaults_ood.sh [SEEDS]                (default 3)
#   DF_BENCH_CACHE=DIR  where the features are kept between runs
#                       (default build/bench_defaults_cache; delete it after
#                       changing the photo pipeline or the augmentation)
#
# The first run computes the features (about 10 minutes on 2 loaded cores);
# later runs train only.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DF_SHARED_DIR:-../shared}
SEEDS=${1:-3}
BIN=${DF_BENCH_DEFAULTS:-build/bench_defaults}
[ -x "$BIN" ] || { echo "build first: make ($BIN not found)" >&2; exit 1; }
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
  "AVX-512: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
"$BIN" --shared "$SHARED" --cache "${DF_BENCH_CACHE:-build/bench_defaults_cache}" --seeds "$SEEDS"
echo "# $(( $(date +%s) - start )) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
