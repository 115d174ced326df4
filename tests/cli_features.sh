#!/bin/bash
# deepfashion features: .npy header and shape, rows in argument order, --pool,
# --no-resize, --cut, atomic output (nothing written on failure), usage errors.
# The VGG16 weights file is written by test_vgg16 (full Keras layout,
# deterministic weights); the images are BMPs written here.
set -u
CLI=${DF_CLI:?DF_CLI must name the built CLI}
FIX="$(dirname "$CLI")/test_vgg16"
if [ ! -x "$FIX" ]; then echo "SKIP: $FIX is not built"; exit 77; fi
if ! command -v python3 >/dev/null; then echo "SKIP: python3 is needed to write BMPs"; exit 77; fi
T=$(mktemp -d /tmp/df-cli-features-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$FIX" write-fixture "$T/vgg16_notop.h5" || fail "could not write the VGG16 fixture"

python3 - "$T" <<'EOF'
import struct, sys
def bmp(path, w, h, f):
    row = (w * 3 + 3) & ~3
    data = bytearray()
    for y in range(h - 1, -1, -1):
        r = bytearray()
        for x in range(w):
            R, G, B = f(x, y)
            r += bytes((B, G, R))
        data += r + bytes(row - len(r))
    hdr = struct.pack('<2sIHHI', b'BM', 54 + len(data), 0, 0, 54)
    info = struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    open(path, 'wb').write(hdr + info + data)
d = sys.argv[1]
bmp(d + '/a.bmp', 300, 200, lambda x, y: (x * 255 // 299, y * 255 // 199, (x * y) % 256))
bmp(d + '/b.bmp', 224, 224, lambda x, y: ((x ^ y) & 255, (3 * x) & 255, 255 - y))
bmp(d + '/c.bmp', 240, 260, lambda x, y: (128, (x + y) & 255, (x * 7) & 255))
EOF
[ -s "$T/a.bmp" ] || fail "could not write BMPs"

# check_npy FILE ROWS COLS: header as numpy.save writes it, exact size.
check_npy() {
    python3 - "$@" <<'EOF' || exit 1
import struct, sys
path, rows, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
b = open(path, 'rb').read()
assert b[:8] == b'\x93NUMPY\x01\x00', 'magic/version %r' % b[:8]
n = struct.unpack('<H', b[8:10])[0]
assert (10 + n) % 64 == 0, 'header not 64-aligned: %d' % (10 + n)
h = b[10:10 + n].decode('latin1')
want = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
assert h.startswith(want), 'header %r' % h
assert h.endswith('\n') and h[len(want):-1].strip(' ') == '', 'padding %r' % h[len(want):]
assert len(b) == 10 + n + rows * cols * 4, 'size %d' % len(b)
v = struct.unpack('<%df' % (rows * cols), b[10 + n:])
assert all(x == x and abs(x) < 1e30 for x in v), 'non-finite feature'
assert all(x >= 0 for x in v), 'negative feature after ReLU / max-pool'
assert sum(1 for x in v if x > 0) > len(v) // 20, 'features are (almost) all zero'
EOF
}

# same_rows A I B J COLS: row I of A equals row J of B (1e-5 of max|row|).
same_rows() {
    python3 - "$@" <<'EOF' || exit 1
import struct, sys
def row(path, i, cols):
    b = open(path, 'rb').read()
    n = struct.unpack('<H', b[8:10])[0]
    o = 10 + n + i * cols * 4
    return struct.unpack('<%df' % cols, b[o:o + cols * 4])
a, i, b, j, cols = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
x, y = row(a, i, cols), row(b, j, cols)
m = max(abs(v) for v in x)
d = max(abs(p - q) for p, q in zip(x, y))
assert d <= 1e-5 * m, 'row %d of %s vs row %d of %s: max diff %g (max %g)' % (i, a, j, b, d, m)
EOF
}

W="$T/vgg16_notop.h5"
cd "$T" || fail "cd"

help=$("$CLI" features --help)
grep -q -- "--no-resize" <<<"$help" || fail "--help"

# bf16 where the CPU has it (else fp32 with a note): fast enough for 3 runs.
"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --batch 2 --out f.npy a.bmp b.bmp c.bmp 2>err.txt \
    || fail "features: $(cat err.txt)"
grep -q "wrote 3 x 25088 features" err.txt || fail "summary line: $(cat err.txt)"
check_npy f.npy 3 25088 || fail "f.npy"

"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --batch 3 --out r.npy c.bmp b.bmp a.bmp 2>err.txt \
    || fail "features reversed: $(cat err.txt)"
same_rows f.npy 0 r.npy 2 25088 || fail "row order (a)"
same_rows f.npy 1 r.npy 1 25088 || fail "row order (b)"
same_rows f.npy 2 r.npy 0 25088 || fail "row order (c)"

"$CLI" features --backbone vgg16 --weights "$W" --precision fp32 --out f32.npy b.bmp 2>err.txt \
    || fail "features fp32: $(cat err.txt)"
grep -q "(vgg16, fp32, caffe)" err.txt || fail "fp32 summary: $(cat err.txt)"
check_npy f32.npy 1 25088 || fail "f32.npy"

"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --pool --out p.npy a.bmp c.bmp 2>err.txt \
    || fail "features --pool: $(cat err.txt)"
check_npy p.npy 2 512 || fail "p.npy"

"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --preprocess seed --no-resize --out n.npy b.bmp 2>err.txt \
    || fail "--no-resize on a 224x224 image: $(cat err.txt)"
check_npy n.npy 1 25088 || fail "n.npy"

# Failures: one line naming the problem, exit 1, nothing written, an old file kept.
echo old > keep.npy
"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --no-resize --out keep.npy b.bmp a.bmp 2>err.txt
[ $? -eq 1 ] || fail "--no-resize on 300x200 should exit 1"
grep -q "a.bmp: image is 300x200, vgg16 needs 224x224" err.txt || fail "no-resize message: $(cat err.txt)"
[ "$(cat keep.npy)" = old ] || fail "keep.npy was replaced by a failed run"
"$CLI" features --backbone vgg16 --weights "$W" --precision bf16 --out x.npy b.bmp missing.jpg 2>err.txt
[ $? -eq 1 ] || fail "missing image should exit 1"
grep -q "missing.jpg" err.txt || fail "missing image message: $(cat err.txt)"
[ ! -e x.npy ] || fail "x.npy written by a failed run"
echo "not hdf5" > bad.h5
"$CLI" features --backbone vgg16 --weights bad.h5 --out x.npy b.bmp 2>err.txt
[ $? -eq 1 ] || fail "bad weights should exit 1"
grep -q "bad.h5: not an HDF5 file" err.txt || fail "bad weights message: $(cat err.txt)"
[ "$(wc -l < err.txt)" -eq 1 ] || fail "more than one line: $(cat err.txt)"
ls | grep -q tmp- && fail "temp file left: $(ls)"

# --cut: VGG16 has no tensors to name; a TFLite model's any tensor (the
# QAT MobileNetV2's #171 is its 1001 ImageNet logits, before the softmax).
"$CLI" features --backbone vgg16 --weights "$W" --cut block5_pool --out x.npy b.bmp 2>err.txt
[ $? -eq 1 ] || fail "--cut on vgg16 should exit 1"
grep -q "applies to TFLite models only" err.txt || fail "--cut on vgg16 message: $(cat err.txt)"
[ ! -e x.npy ] || fail "x.npy written by a failed run"
SHARED=${DF_SHARED_DIR:-}
M=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
if [ -n "$SHARED" ] && [ -f "$M" ] && [ -f "$SHARED/images/imagenet/parrot.jpg" ]; then
    "$CLI" features --backbone tflite --weights "$M" --precision fp32 --cut '#171' --out l.npy \
        "$SHARED/images/imagenet/parrot.jpg" 2>err.txt || fail "features --cut #171: $(cat err.txt)"
    grep -q "wrote 1 x 1001 features" err.txt || fail "--cut summary: $(cat err.txt)"
    python3 - l.npy "$SHARED/models/imagenet_labels.txt" <<'EOF' || fail "logits of parrot.jpg"
import struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<H', b[8:10])[0]
v = struct.unpack('<1001f', b[10 + n:])
top = max(range(1001), key=lambda i: v[i])
label = open(sys.argv[2]).read().split('\n')[top]
assert label == 'macaw' and min(v) < 0, (top, label, min(v))
EOF
    "$CLI" features --backbone tflite --weights "$M" --cut nosuch --out x.npy b.bmp 2>err.txt
    [ $? -eq 1 ] || fail "--cut nosuch should exit 1"
    grep -q "no tensor named 'nosuch'" err.txt || fail "--cut nosuch message: $(cat err.txt)"
    [ ! -e x.npy ] || fail "x.npy written by a failed run"
else
    echo "note: ../shared models not found (DF_SHARED_DIR): --cut on a TFLite model not checked"
fi

# Usage errors exit 2.
for args in "--weights $W --out x.npy b.bmp" \
            "--backbone vgg16 --out x.npy b.bmp" \
            "--backbone vgg16 --weights $W b.bmp" \
            "--backbone vgg16 --weights $W --out x.npy" \
            "--backbone resnet --weights $W --out x.npy b.bmp" \
            "--backbone vgg16 --weights $W --out x.npy --batch 0 b.bmp" \
            "--backbone vgg16 --weights $W --out x.npy --precision fp16 b.bmp" \
            "--backbone vgg16 --weights $W --out x.npy --frobnicate b.bmp"; do
    # shellcheck disable=SC2086
    "$CLI" features $args 2>/dev/null
    [ $? -eq 2 ] || fail "usage error expected for: $args"
done
echo "ok"
