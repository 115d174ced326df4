#!/usr/bin/env bash
# How the default recipe is chosen: stratified 5-fold cross-validation on the
# closet TRAINING photos only (the validation folder is never scored here),
# repeated with different fold assignments (seeds). For each augmentation
# setting, `train --head auto` scores the six head candidates of
# src/train/model_select.c (linear at L2 1e-4/1e-3/1e-2 and Adam 1e-3, linear
# at Adam 1e-2, the original's MLP at Adam 1e-3 and 1e-4) on the same folds;
# this script averages each (augmentation, head) pair over the seeds.
#
#   bench/select_defaults.sh [SEEDS] [EPOCHS]      (default 3 seeds, 30 epochs)
#
# Prints one line per pair: mean 5-fold accuracy [min..max over seeds] and
# mean 5-fold cross-entropy, best first.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
DATA=$SHARED/datasets/closet
WEIGHTS=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
SEEDS=${1:-3}
EPOCHS=${2:-30}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

declare -a AUG_NAMES=(
  "none"
  "mild (shift/zoom 0.1), h-flip"
  "mild (shift/zoom 0.1), no flips"
  "original (shift/shear/zoom 0.2), hv-flips"
)
declare -a AUG_FLAGS=(
  "--no-augment --feature-cache 1"
  "--shift 0.1 --zoom 0.1 --shear 0 --flip h --feature-cache 4"
  "--shift 0.1 --zoom 0.1 --shear 0 --flip none --feature-cache 4"
  "--shift 0.2 --zoom 0.2 --shear 0.2 --flip hv --feature-cache 4"
)

: >"$TMP/scores.tsv"
for a in "${!AUG_NAMES[@]}"; do
  for s in $(seq 1 "$SEEDS"); do
    # shellcheck disable=SC2086
    "$CLI" train --data "$DATA" --backbone tflite --weights "$WEIGHTS" --precision fp32 \
      --head auto --epochs "$EPOCHS" --seed "$s" ${AUG_FLAGS[$a]} --out "$TMP/m.dfm" \
      >/dev/null 2>"$TMP/err"
    # "  <candidate>   <accuracy> <loss>[  <- chosen]" lines of the search table.
    grep -E '^  (linear|mlp)' "$TMP/err" | sed 's/  <- chosen$//' |
      awk -v aug="${AUG_NAMES[$a]}" '{acc=$(NF-1); loss=$NF; $NF=""; $(NF)=""; NF-=2;
        sub(/^ +/, ""); printf "%s | %s\t%s\t%s\n", aug, $0, acc, loss}' >>"$TMP/scores.tsv"
  done
done

printf "%-78s %s\n" "augmentation | head (5-fold CV on closet/train, $SEEDS seeds, $EPOCHS epochs)" \
  "accuracy mean [min..max]  loss"
awk -F'\t' '{n[$1]++; s[$1]+=$2; l[$1]+=$3;
    if (!($1 in mn) || $2 < mn[$1]) mn[$1]=$2; if (!($1 in mx) || $2 > mx[$1]) mx[$1]=$2}
  END {for (k in n) printf "%.4f\t%.4f\t%-78s %.3f [%.3f..%.3f]  %.3f\n", s[k]/n[k], l[k]/n[k], k,
    s[k]/n[k], mn[k], mx[k], l[k]/n[k]}' "$TMP/scores.tsv" | sort -t$'\t' -k1,1nr -k2,2n | cut -f3-
