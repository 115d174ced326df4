#!/usr/bin/env bash
# Out-of-domain check of other feature sources, as issue 10's orientation
# figures were measured: `deepfashion features` (plain photos, fp32) of the
# 106 closet training photos, the 21 validation photos and the 2,791
# clothing photos mapped to tops / bottoms / shoes, then an exact softmax
# regression on standardised features (bench/features_ood.py: L-BFGS, L2
# grid, 5-fold cross-validation over seeds 1-3, the one-standard-error rule).
#
#   bench/features_ood.sh [COMBO...]
#     COMBO: feature sources joined by '+', e.g. qat tf2 v1 qat+v1 qatlogit
#     (default: qat tf2 v1 qat+v1 tf2+v1 qatlogit tf2logit)
#   Sources: qat, tf2 (the two MobileNetV2s' pooled 1,280), v1 (MobileNetV1's
#   1,024-d embedding extractor), qatlogit / tf2logit (the MobileNetV2s'
#   1,001 ImageNet logits: tensors #171 / #173, before the softmax).
#   A source may end in transforms applied before the standardisation,
#   e.g. qat:sqrt or tf2:sqrt,l2n: sqrt (the square root of the ReLU6
#   features, "power normalisation"), l2n (each row to unit length).
#   A source may carry an input size, e.g. qat@256 or tf2@192: the model
#   run at that size (`features --input-size S`, fp32), its last 1,280-map
#   averaged here (the QAT model's own pool is a fixed 7x7 window).
# Features are kept in build/features_ood_cache (delete it to recompute).
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
CACHE=build/features_ood_cache
mkdir -p "$CACHE"
COMBOS=("$@")
[ ${#COMBOS[@]} -gt 0 ] || COMBOS=(qat tf2 v1 qat+v1 tf2+v1 qatlogit tf2logit)
D=$SHARED/datasets
find "$D/closet/train" -type f | sort >"$CACHE/train.txt"
find "$D/closet/validation" -type f | sort >"$CACHE/val.txt"
for c in t-shirt shirt longsleeve pants shorts skirt shoes; do
  find "$D/clothing/train/$c" "$D/clothing/validation/$c" -type f
done | sort >"$CACHE/ood.txt"
echo "# $(date -u +%Y-%m-%dT%H:%MZ); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
spec() { # source -> "model.tflite cut"
  case $1 in
    qat) echo "mobilenet_v2_1.0_224_quant.tflite -" ;;
    tf2) echo "tf2_mobilenet_v2_1.0_224_ptq.tflite -" ;;
    v1) echo "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite -" ;;
    qatlogit) echo "mobilenet_v2_1.0_224_quant.tflite #171" ;;
    tf2logit) echo "tf2_mobilenet_v2_1.0_224_ptq.tflite #173" ;;
    *) echo "unknown feature source '$1'" >&2; exit 2 ;;
  esac
}
for src in $(printf '%s\n' "${COMBOS[@]}" | tr '+' '\n' | sed 's/:.*//' | sort -u); do
  read -r model cut <<<"$(spec "${src%@*}")"
  for set in train val ood; do
    out=$CACHE/${src}_$set.npy
    [ -s "$out" ] && continue
    args=()
    [ "$cut" = - ] || args=(--cut "$cut")
    raw=$out
    if [ "$src" != "${src%@*}" ]; then
      args=(--input-size "${src#*@}" --cut @feature_map)
      raw=$CACHE/map.npy
    fi
    # shellcheck disable=SC2046
    "$CLI" features --backbone tflite --weights "$SHARED/models/$model" --precision fp32 --batch 16 \
      "${args[@]}" --out "$raw" $(cat "$CACHE/$set.txt") 2>&1 | tail -1
    if [ "$raw" != "$out" ]; then
      /usr/bin/python3 -c 'import sys, numpy as np
a = np.load(sys.argv[1], mmap_mode="r")
np.save(sys.argv[2], np.asarray(a).reshape(a.shape[0], -1, 1280).mean(1).astype(np.float32))' "$raw" "$out"
      rm -f "$raw"
    fi
  done
done
/usr/bin/python3 bench/features_ood.py "$CACHE" "${COMBOS[@]}"
