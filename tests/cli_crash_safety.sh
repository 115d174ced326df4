#!/usr/bin/env bash
# Crash safety of `deepfashion train`, through the built CLI:
#  1. kill -9 during training leaves the previous model file byte-identical
#     and loadable (predict gives the same output as before);
#  2. kill -9 while the model file is being saved (caught by watching for its
#     "<model>.tmp-*" temp file) leaves either the previous file untouched or
#     the complete new one, never a broken file under the final name;
#  3. SIGINT saves a checkpoint; --resume from it finishes the run with the
#     same history, byte for byte, as an uninterrupted run with the same seed,
#     and the same model (same predictions).
#
# The backbone is a small TFLite model with 4096 features made by
# fuzz/tflite_seeds.c (built here with the tests' flatbuffer writer), and the
# head an MLP with 2048 units, so an epoch takes a noticeable time and the
# model file is ~34 MB (a save window long enough to kill into). Photos are
# BMPs made with python3. Exit 77 (skipped) without a C compiler.
set -u
CLI=${DF_CLI:-deepfashion}
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d /tmp/df-cli-crash-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

CC_BIN=${CC:-cc}
if ! command -v "$CC_BIN" >/dev/null 2>&1; then
    echo "SKIP: no C compiler ($CC_BIN) to build the test backbone"
    exit 77
fi
if ! "$CC_BIN" -O1 -I"$SRC/include" -I"$SRC/src" -I"$SRC/tests" "$SRC/fuzz/tflite_seeds.c" \
        "$SRC/tests/support/tflite_builder.c" -o "$tmp/tflite_seeds" 2>"$tmp/cc.err"; then
    echo "SKIP: cannot build fuzz/tflite_seeds.c: $(head -3 "$tmp/cc.err")"
    exit 77
fi
mkdir -p "$tmp/models"
"$tmp/tflite_seeds" "$tmp/models" || { echo "FAIL: tflite_seeds" >&2; exit 1; }
wide="$tmp/models/wide_notop.tflite"

data="$tmp/data"
python3 - "$data" <<'EOF'
import os, struct, sys
def bmp(path, w, h, seed):
    row = (w * 3 + 3) & ~3
    pix = bytearray(row * h)
    for r in range(h):
        for c in range(w):
            o = r * row + c * 3
            pix[o:o + 3] = bytes(((c * 7 + seed * 50) & 255, (r * 5 + seed * 30) & 255,
                                  ((r + c) * 3 * seed) & 255))
    open(path, "wb").write(b"BM" + struct.pack("<IHHI", 54 + len(pix), 0, 0, 54)
                           + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0)
                           + bytes(pix))
for cls, s in (("pants", 1), ("shirts", 3)):
    os.makedirs(os.path.join(sys.argv[1], cls), exist_ok=True)
    for i in range(4):
        bmp(os.path.join(sys.argv[1], cls, "%d.bmp" % i), 20 + i, 16, s + i)
EOF
photo="$data/pants/0.bmp"
common=(--data "$data" --backbone tflite --weights "$wide" --head mlp --units 2048
        --precision fp32 --seed 7)

# wait_for PATTERN FILE SECONDS: until grep -q PATTERN FILE (0) or timeout (1).
wait_for() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        grep -q -- "$1" "$2" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# ---- a previous model --------------------------------------------------------
m="$tmp/m.h5"
timeout 60 "$CLI" train "${common[@]}" --epochs 2 --out "$m" >"$tmp/out" 2>"$tmp/err" \
    || { echo "FAIL: first training: $(tail -3 "$tmp/err")" >&2; exit 1; }
cp "$m" "$tmp/orig.h5"
timeout 20 "$CLI" predict --model "$m" --precision fp32 "$photo" >"$tmp/pred_orig" 2>"$tmp/err" \
    || { echo "FAIL: predict with the first model: $(cat "$tmp/err")" >&2; exit 1; }

# same_as_orig WHAT: the model file is the previous one, byte for byte, and loads.
same_as_orig() {
    cmp -s "$m" "$tmp/orig.h5" || { fail "$1: the previous model file changed"; return 1; }
    timeout 20 "$CLI" predict --model "$m" --precision fp32 "$photo" >"$tmp/pred" 2>"$tmp/err" \
        || { fail "$1: previous model no longer loads: $(cat "$tmp/err")"; return 1; }
    cmp -s "$tmp/pred" "$tmp/pred_orig" || fail "$1: previous model predicts differently"
}

# ---- 1. kill -9 during training -------------------------------------------------
"$CLI" train "${common[@]}" --epochs 200 --out "$m" >"$tmp/out" 2>"$tmp/log" &
pid=$!
pids+=("$pid")
if wait_for "epoch   1/200" "$tmp/log" 30; then  # over 30 epochs only every 7th has a line
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    same_as_orig "kill -9 during training"
else
    kill -9 "$pid" 2>/dev/null
    fail "training never finished epoch 1: $(tail -3 "$tmp/log")"
fi
rm -f "$m".tmp-* "$m".ckpt

# ---- 2. kill -9 during the save ---------------------------------------------------
caught=0
for trial in 1 2 3 4 5; do
    "$CLI" train "${common[@]}" --epochs 1 --out "$m" >"$tmp/out" 2>"$tmp/log" &
    pid=$!
    pids+=("$pid")
    # Spin until the temp file of the save appears, then kill at once.
    deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ] && kill -0 "$pid" 2>/dev/null; do
        compgen -G "$m.tmp-*" >/dev/null && break
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if compgen -G "$m.tmp-*" >/dev/null; then
        caught=$((caught + 1)) # killed with the save in progress
        same_as_orig "kill -9 during the save (trial $trial)"
    elif ! cmp -s "$m" "$tmp/orig.h5"; then
        # The save finished before the kill: the new file must be complete.
        timeout 20 "$CLI" predict --model "$m" --precision fp32 "$photo" >/dev/null 2>"$tmp/err" \
            || fail "kill -9 after the save (trial $trial): new model does not load: $(cat "$tmp/err")"
        cp "$tmp/orig.h5" "$m"
    fi
    rm -f "$m".tmp-* "$m".ckpt
    [ $caught -ge 2 ] && break
done
if [ $caught -eq 0 ]; then
    fail "no trial killed the process while the model was being saved (save too fast to catch?)"
fi
echo "kill -9 during the save: caught $caught time(s) in $trial trial(s)"

# ---- 3. SIGINT, checkpoint, --resume -------------------------------------------
a="$tmp/a.h5" b="$tmp/b.h5"
timeout 120 "$CLI" train "${common[@]}" --epochs 12 --out "$a" --history "$tmp/a.csv" \
    >"$tmp/out" 2>"$tmp/err" || fail "uninterrupted run: $(tail -3 "$tmp/err")"
"$CLI" train "${common[@]}" --epochs 12 --out "$b" --history "$tmp/b.csv" >"$tmp/out" 2>"$tmp/log" &
pid=$!
pids+=("$pid")
if wait_for "epoch   2/12" "$tmp/log" 60; then
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "SIGINT: exit status $rc (want 1..127)"; fi
    grep -q "checkpoint saved to $b.ckpt" "$tmp/log" || fail "SIGINT: no checkpoint message: $(tail -2 "$tmp/log")"
    [ -s "$b.ckpt" ] || fail "SIGINT: no checkpoint file $b.ckpt"
    [ -e "$b" ] && fail "SIGINT: wrote the final model $b for an interrupted run"
    compgen -G "$tmp/b.h5*.tmp-*" >/dev/null && fail "SIGINT: left temp files: $(ls "$tmp" | grep tmp-)"
    interrupted=$(grep -o "interrupted in epoch [0-9]*" "$tmp/log")
    timeout 120 "$CLI" train "${common[@]}" --epochs 12 --out "$b" --history "$tmp/b.csv" \
        --resume "$b.ckpt" >"$tmp/out" 2>"$tmp/err" || fail "--resume: $(tail -3 "$tmp/err")"
    if ! cmp -s "$tmp/a.csv" "$tmp/b.csv"; then
        fail "resumed history differs from the uninterrupted one ($interrupted):
$(diff "$tmp/a.csv" "$tmp/b.csv" | head -10)"
    fi
    timeout 20 "$CLI" predict --model "$a" --precision fp32 "$photo" >"$tmp/pa" 2>&1
    timeout 20 "$CLI" predict --model "$b" --precision fp32 "$photo" >"$tmp/pb" 2>&1
    cmp -s "$tmp/pa" "$tmp/pb" || fail "resumed model predicts $(cat "$tmp/pb"), uninterrupted $(cat "$tmp/pa")"
    [ -e "$b.ckpt" ] && fail "the checkpoint was left behind after the resumed run finished"
    echo "SIGINT + --resume: $interrupted, history identical over 12 epochs"
else
    kill -9 "$pid" 2>/dev/null
    fail "training never reached epoch 2: $(tail -3 "$tmp/log")"
fi

if [ $failures -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "PASS"
