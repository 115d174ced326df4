#!/usr/bin/env bash
# deepfashion bench backbone through the built CLI: --pooling times the
# features the training recipe takes (r3s2: 9 x 1280 of MobileNetV2's 7x7
# map; mean: the graph's own 1280), its bad values and VGG16 (which pools
# with --pool) are usage errors (exit 2, one line naming the flag); the
# first (cold) run is reported apart, with the pages asked for. The
# timings themselves are benchmarks, not checked. Skipped (77) without
# ../shared's MobileNetV2.
set -u
CLI=${DF_CLI:-deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
if [ ! -f "$W" ]; then echo "SKIP: $W not found (set DF_SHARED_DIR)"; exit 77; fi
tmp=$(mktemp -d /tmp/df-cli-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE ARGS...: runs bench backbone, checks the exit status, keeps out/err.
expect() {
  local want=$1
  shift
  "$CLI" bench backbone "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "exit $rc (expected $want): bench backbone $*"; }
}

run=(--backbone tflite --weights "$W" --precision int8 --batch 2 --iters 1)
DF_HUGE_PAGES= expect 0 "${run[@]}" --pooling r3s2 # the default, whatever the caller's environment
grep -q 'input .* -> 11520 features' "$tmp/out" || fail "--pooling r3s2: $(cat "$tmp/out")"
grep -q '^median .* ms/image' "$tmp/out" || fail "--pooling r3s2 printed no time: $(cat "$tmp/out")"
grep -q '^first run  [0-9.]* ms (the buffers touched the first time; huge pages asked for)$' "$tmp/out" ||
  fail "no first run, or not in huge pages by default: $(cat "$tmp/out")"
# DF_HUGE_PAGES=0 (core/memory.h) says so in the same line
DF_HUGE_PAGES=0 expect 0 "${run[@]}" --pooling r3s2
grep -q '^first run  [0-9.]* ms (.*; DF_HUGE_PAGES=0: ordinary pages)$' "$tmp/out" ||
  fail "DF_HUGE_PAGES=0 not reported: $(cat "$tmp/out")"
expect 0 "${run[@]}" --pooling mean
grep -q 'input .* -> 1280 features' "$tmp/out" || fail "--pooling mean: $(cat "$tmp/out")"
expect 0 "${run[@]}"
grep -q 'input .* -> 1280 features' "$tmp/out" || fail "no --pooling is not the graph's own: $(cat "$tmp/out")"

expect 2 "${run[@]}" --pooling r3
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "pooling 'r3' is not mean or r<k>s<s>" "$tmp/err" ||
  fail "--pooling r3: $(cat "$tmp/err")"
expect 2 --backbone vgg16 --pooling r3s2
grep -q -- '--pooling is for --backbone tflite' "$tmp/err" || fail "vgg16 --pooling: $(cat "$tmp/err")"
expect 2 "${run[@]}" --pooling
grep -q -- '--pooling needs a value' "$tmp/err" || fail "--pooling without a value: $(cat "$tmp/err")"
echo "cli_bench: passed"
