#!/usr/bin/env bash
# Issue 10's fine-tuning study: block 16's maps and the last 1x1
# convolution of both MobileNetV2s dumped once (build/bench_defaults
# --dump-maps 1, about a minute), then bench/finetune_ood.py's LP and LP-FT
# rows (Debian's python3-torch; scripts/setup-bench-deps.sh installs it).
#
#   bench/finetune_ood.sh [SEEDS] [ONLY-REGEX] [--cv]
#
# Without --cv the rows skip cross-validation (val and ood only).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
ONLY=${2:-}
CV=${3:-}
CACHE=${DF_FINETUNE_CACHE:-build/finetune_cache}
SHARED=${DF_SHARED_DIR:-../shared}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|avx512_bf16|avx512_vnni|amx_tile' | tr '\n' ' ')
echo "# CPU: $cpu ($(nproc) cores; $isa); load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$CACHE/tf2_b16map_var.npy" ] ||
  build/bench_defaults --shared "$SHARED" --views qat,tf2 --dump-maps 1 --cache "$CACHE"
args=("$CACHE" --seeds "$SEEDS")
[ -n "$ONLY" ] && args+=(--only "$ONLY")
[ "$CV" = --cv ] || args+=(--quick)
exec /usr/bin/python3 bench/finetune_ood.py "${args[@]}"
