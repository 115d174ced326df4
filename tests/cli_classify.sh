#!/usr/bin/env bash
# deepfashion classify through the built CLI: usage errors (exit 2), a bad
# model or labels file (exit 1, one line on stderr, nothing on stdout), a bad
# image among good ones (its own error line, the others still printed, exit
# 1), and the three photo checks of the ImageNet classifier with --json
# (parsed by python3's json module). Skipped (77) without ../shared.
set -u
CLI=${DF_CLI:-deepfashion}
SHARED=${DF_SHARED_DIR:-}
tmp=$(mktemp -d /tmp/df-cli-classify-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect CODE CMD...: runs CMD, checks the exit status, keeps out/err.
expect() {
    local want=$1
    shift
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$want" ] || { cat "$tmp/err" >&2; fail "exit $rc (expected $want): $*"; }
}

expect 0 "$CLI" classify --help
grep -q -- "--weights" "$tmp/out" || fail "--help does not describe --weights"
expect 2 "$CLI" classify
expect 2 "$CLI" classify --weights x.tflite
expect 2 "$CLI" classify --weights x.tflite --top 0 a.jpg
expect 2 "$CLI" classify --weights x.tflite --precision fp16 a.jpg
expect 2 "$CLI" classify --weights x.tflite --bogus a.jpg

printf 'not a model at all' >"$tmp/bad.tflite"
expect 1 "$CLI" classify --weights "$tmp/bad.tflite" a.jpg
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bad model: expected one error line"
grep -q "bad.tflite" "$tmp/err" || fail "bad model: error does not name the file"
[ ! -s "$tmp/out" ] || fail "bad model: something on stdout"
expect 1 "$CLI" classify --weights "$tmp/missing.tflite" a.jpg
grep -q "missing.tflite" "$tmp/err" || fail "missing model: error does not name the file"

if [ -z "$SHARED" ] || [ ! -f "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" ]; then
    echo "SKIP: ../shared models not found (set DF_SHARED_DIR)"
    exit 77
fi
M="$SHARED/models"
I="$SHARED/images/imagenet"
LABELS="$M/imagenet_labels.txt"

# the embedding extractor has no softmax: not a classifier
expect 1 "$CLI" classify --weights "$M/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite" "$I/cat.bmp"
grep -q "not a classifier" "$tmp/err" || fail "v1 extractor: unexpected message: $(cat "$tmp/err")"

# a labels file with the wrong number of lines
head -n 10 "$LABELS" >"$tmp/short.txt"
expect 1 "$CLI" classify --weights "$M/mobilenet_v2_1.0_224_quant.tflite" --labels "$tmp/short.txt" "$I/cat.bmp"
grep -q "10 labels" "$tmp/err" || fail "short labels: unexpected message: $(cat "$tmp/err")"

# the three photos, plus an unreadable one in the middle
expect 1 "$CLI" classify --json --top 3 --weights "$M/mobilenet_v2_1.0_224_quant.tflite" \
    --labels "$LABELS" "$I/parrot.jpg" "$tmp/bad.tflite" "$I/grace_hopper.bmp" "$I/cat.bmp"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "expected one error line for the bad image"
grep -q "bad.tflite" "$tmp/err" || fail "bad image: error does not name the file"
python3 - "$tmp/out" <<'EOF' || fail "photo checks (JSON above)"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
want = {"parrot.jpg": (None, "macaw", 0.0), "grace_hopper.bmp": (None, "military uniform", 0.0),
        "cat.bmp": (286, "Egyptian cat", 0.7)}
assert len(objs) == 3, lines
for o in objs:
    name = o["path"].rsplit("/", 1)[-1]
    cls, label, pmin = want[name]
    top = o["top"]
    assert len(top) == 3, o
    assert top[0]["label"] == label, o
    assert cls is None or top[0]["class"] == cls, o
    assert top[0]["score"] >= pmin, o
    assert top[0]["score"] >= top[1]["score"] >= top[2]["score"], o
    print("ok:", name, top[0])
EOF

# the text form and the int8 model
expect 0 "$CLI" classify --top 1 --precision fp32 --weights "$M/tf2_mobilenet_v2_1.0_224_ptq.tflite" \
    --labels "$LABELS" "$I/cat.bmp"
grep -q "286.*Egyptian cat" "$tmp/out" || fail "tf2 model, cat: $(cat "$tmp/out")"
echo "PASS"
