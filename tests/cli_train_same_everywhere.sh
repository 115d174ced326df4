#!/usr/bin/env bash
# `train --precision int8` makes the same model on every CPU: the integer
# engines give the same features bit for bit whichever backend runs them
# (oneDNN int8 with VNNI, oneDNN's fp32 kernels below it, XNNPACK), and the
# linear head sums in one order at every vector width (nn/layers.c). Trained
# natively, capped to AVX2 and capped to plain C, the three models' predictions
# on the validation photos are the same to the last printed digit (they were
# not when the head ran through OpenBLAS, whose kernels differ per CPU).
# Skipped when ../shared is absent.
set -euo pipefail
CLI=${DF_CLI:?}
SHARED=${DF_SHARED_DIR:-../shared}
if [ ! -d "$SHARED/datasets/closet" ]; then
  echo "SKIP: $SHARED/datasets/closet not found (set DF_SHARED_DIR)"; exit 77
fi
DATA=$SHARED/datasets/closet
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
runs=(native scalar)
case " $flags " in *" avx2 "*) case " $flags " in *" fma "*) runs+=(avx2) ;; esac ;; esac
for isa in "${runs[@]}"; do
  envs=()
  [ "$isa" = avx2 ] && envs=(DF_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2)
  [ "$isa" = scalar ] && envs=(DF_CPU_ISA=scalar)
  env "${envs[@]}" "$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision int8 \
    --out "$T/$isa.dfm" --quiet >"$T/$isa.train" 2>&1 || { cat "$T/$isa.train"; fail "train ($isa)"; }
  "$CLI" predict --model "$T/$isa.dfm" --json "$DATA"/validation/*/* >"$T/$isa.json" 2>/dev/null ||
    fail "predict with the model trained as $isa"
  [ "$(wc -l <"$T/$isa.json")" -eq 21 ] || fail "21 predictions expected ($isa)"
done
for isa in "${runs[@]}"; do
  cmp -s "$T/native.json" "$T/$isa.json" || {
    diff "$T/native.json" "$T/$isa.json" | head -4 || true
    fail "the model trained as $isa predicts otherwise than the one trained natively"
  }
done
echo "cli_train_same_everywhere: ${#runs[@]} trainings (${runs[*]}), the same predictions"
