#!/usr/bin/env bash
# Bad-input matrix through the command line. Every refused input must give
# exactly one line on stderr ("deepfashion: ..." naming the file and the
# problem), exit non-zero without a crash (status < 128), finish within 20 s
# (each run is wrapped in `timeout 20`: a FIFO must not hang us), and leave no
# output file (not even a temp file) behind. Besides images: a VGG16 file
# with one wrong shape, truncated/odd TFLite files, and model files that are
# truncated, not model files, or meant for another backbone or other classes
# (train, classify, predict, evaluate). Inputs that look odd but are
# valid (16-bit, palette, grey, alpha PNGs, CMYK JPEG) must be accepted.
# `scan` must list every bad file in a class folder as skipped, with a reason.
#
# Fixtures are made here: PNG/BMP/GIF/HEIC/WebP bytes with python3, JPEGs with
# a tiny C program against libjpeg, TFLite models and Keras HDF5 files with
# the fuzz seed generators (cases needing a C compiler are skipped, with a
# message, when none is found). The read-only folder and full disk
# cases need root and mount(8) (or chattr); they are skipped with a message
# when that is not allowed.
set -u
CLI=${DF_CLI:-deepfashion}
tmp=$(mktemp -d /tmp/df-cli-bad-XXXXXX)
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
    [ -n "${immutable:-}" ] && chattr -i "$immutable" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
skip() { echo "SKIP: $*"; }

# ---- fixtures ------------------------------------------------------------
# make_png PATH W H COLOR_TYPE BIT_DEPTH: a valid PNG (pattern pixels, PLTE for
# type 3). make_png_claim PATH W H: a PNG whose IHDR claims W x H with a tiny
# IDAT (the decoder must refuse it before allocating).
pyfix() {
    python3 - "$@" <<'EOF'
import os, struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
def png(w, h, ct, bd, raw):
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bd, ct, 0, 0, 0))
            + (chunk(b"PLTE", bytes(range(48))) if ct == 3 else b"")
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
kind, path = sys.argv[1], sys.argv[2]
args = [int(a) for a in sys.argv[3:]] if kind not in ("jpeg_claim", "corrupt_jpeg") else []
if kind == "png":
    w, h, ct, bd = args
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ct]
    rowbytes = (w * chans * bd + 7) // 8
    raw = b""
    for y in range(h):
        row = bytes(((x * 37 + y * 11) % (16 if ct == 3 else 256)) for x in range(rowbytes))
        raw += b"\x00" + row
    data = png(w, h, ct, bd, raw)
elif kind == "png_claim":
    w, h = args
    data = png(w, h, 2, 8, b"\x00" * 64)
elif kind == "bmp":  # 24-bit; noise=1 for incompressible pixels
    w, h, noise = args
    row = (w * 3 + 3) & ~3
    pix = os.urandom(row * h) if noise else bytes((i * 7) & 255 for i in range(row * h))
    data = (b"BM" + struct.pack("<IHHI", 54 + len(pix), 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0) + pix)
elif kind == "gif":
    data = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
elif kind == "heic":
    data = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64
elif kind == "webp":
    body = b"WEBPVP8 " + struct.pack("<I", 10) + b"\x00" * 10
    data = b"RIFF" + struct.pack("<I", len(body)) + body
elif kind == "jpeg_claim":  # patch the SOF0 of an existing JPEG to claim W x H
    src, (w, h) = sys.argv[3], [int(a) for a in sys.argv[4:]]
    d = bytearray(open(src, "rb").read())
    i = d.find(b"\xff\xc0")
    assert i > 0, "no SOF0"
    d[i + 5:i + 9] = struct.pack(">HH", h, w)
    data = bytes(d)
elif kind == "corrupt_jpeg":  # keep the headers, scramble the entropy-coded data
    src = sys.argv[3]
    d = bytearray(open(src, "rb").read())
    sos = d.find(b"\xff\xda")
    for i in range(sos + 20, len(d) - 2, 3):
        d[i] = 0xff if i % 2 else 0xd9 - (i % 5)
    data = bytes(d)
else:
    sys.exit("unknown fixture " + kind)
open(path, "wb").write(data)
EOF
}

have_jpeg=0
CC_BIN=${CC:-cc}
if command -v "$CC_BIN" >/dev/null 2>&1; then
    cat >"$tmp/mkjpeg.c" <<'EOF'
/* mkjpeg OUT W H COMPONENTS: 1 grey, 3 RGB, 4 CMYK (Adobe APP14 written by libjpeg). */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    if (argc != 5) return 2;
    int w = atoi(argv[2]), h = atoi(argv[3]), comps = atoi(argv[4]);
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 4 ? JCS_CMYK : comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * (size_t)comps);
    if (!row) return 1;
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < w * comps; i++) row[i] = (unsigned char)(i * 7 + (int)c.next_scanline * 3);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return fclose(f) != 0;
}
EOF
    if "$CC_BIN" -O1 "$tmp/mkjpeg.c" -ljpeg -o "$tmp/mkjpeg" 2>"$tmp/cc.err"; then
        have_jpeg=1
    else
        skip "cannot build the JPEG fixture maker ($(head -1 "$tmp/cc.err")): JPEG cases skipped"
    fi
else
    skip "no C compiler ($CC_BIN): JPEG cases (corrupt/truncated/CMYK/huge JPEG) skipped"
fi

fx="$tmp/fx"
mkdir -p "$fx"
pyfix bmp "$fx/good.bmp" 40 30 0
pyfix png "$fx/rgb.png" 20 10 2 8
pyfix png "$fx/grey16.png" 9 7 0 16
pyfix png "$fx/rgb16.png" 9 7 2 16
pyfix png "$fx/palette.png" 11 5 3 4
pyfix png "$fx/grey.png" 8 8 0 8
pyfix png "$fx/grey_alpha.png" 8 6 4 8
pyfix png "$fx/rgba.png" 7 9 6 8
pyfix png_claim "$fx/huge.png" 60000 60000
pyfix gif "$fx/anim.gif"
pyfix heic "$fx/photo.heic"
pyfix webp "$fx/photo.webp"
pyfix heic "$fx/heic_named.jpg"
printf '<html><body>404 Not Found</body></html>\n' >"$fx/text.jpg"
: >"$fx/empty.jpg"
head -c 40 "$fx/rgb.png" >"$fx/truncated.png"
if [ $have_jpeg -eq 1 ]; then
    "$tmp/mkjpeg" "$fx/good.jpg" 64 48 3
    "$tmp/mkjpeg" "$fx/cmyk.jpg" 32 24 4
    "$tmp/mkjpeg" "$fx/grey.jpg" 30 20 1
    head -c $(( $(stat -c %s "$fx/good.jpg") / 2 )) "$fx/good.jpg" >"$fx/truncated.jpg"
    pyfix corrupt_jpeg "$fx/corrupt.jpg" "$fx/good.jpg"
    pyfix jpeg_claim "$fx/huge.jpg" "$fx/good.jpg" 60000 60000
fi

# ---- checks --------------------------------------------------------------
# run NAME CMD...: runs CMD under `timeout 20`, stdout/stderr to $tmp/out,
# $tmp/err; sets $rc.
run() {
    local name=$1; shift
    timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 124 ]; then fail "$name: hung (killed after 20 s)"; return 1; fi
    if [ $rc -ge 128 ]; then fail "$name: crashed (exit $rc): $(head -c 400 "$tmp/err")"; return 1; fi
    return 0
}

# expect_error NAME PATTERN CMD...: exit 1..127, one stderr line starting
# "deepfashion: " and matching the grep -E PATTERN (file name and problem).
expect_error() {
    local name=$1 pattern=$2; shift 2
    run "$name" "$@" || return 1
    if [ $rc -eq 0 ]; then fail "$name: accepted (exit 0), want an error"; return 1; fi
    local lines
    lines=$(wc -l <"$tmp/err")
    if [ "$lines" -ne 1 ]; then
        fail "$name: want one stderr line, got $lines: $(head -c 600 "$tmp/err")"
        return 1
    fi
    grep -q '^deepfashion: ' "$tmp/err" || { fail "$name: message lacks the 'deepfashion: ' prefix: $(cat "$tmp/err")"; return 1; }
    grep -Eq -- "$pattern" "$tmp/err" || { fail "$name: message does not match /$pattern/: $(cat "$tmp/err")"; return 1; }
    return 0
}

# no_output DIR NAME: DIR is absent or holds no file at all (temp files included).
no_output() {
    local dir=$1 name=$2
    if [ -d "$dir" ] && [ -n "$(find "$dir" -mindepth 1 -not -type d 2>/dev/null | head -1)" ]; then
        fail "$name: left output behind: $(find "$dir" -mindepth 1 -not -type d | head -3 | tr '\n' ' ')"
    fi
}

# ---- augment: one image in, refused ---------------------------------------
n=0
aug_bad() { # NAME FILE PATTERN
    n=$((n + 1))
    local out="$tmp/aug-bad-$n"
    expect_error "augment $1" "$3" "$CLI" augment "$2" --out "$out" --count 2
    no_output "$out" "augment $1"
}
aug_bad "zero-byte file" "$fx/empty.jpg" "empty\.jpg: .*empty"
aug_bad "text file named .jpg" "$fx/text.jpg" "text\.jpg: .*(text|HTML)"
aug_bad "truncated PNG" "$fx/truncated.png" "truncated\.png: .*(truncated|corrupt)"
aug_bad "PNG claiming 60000x60000" "$fx/huge.png" "huge\.png: .*60000"
aug_bad "GIF" "$fx/anim.gif" "anim\.gif: .*GIF"
aug_bad "HEIC" "$fx/photo.heic" "photo\.heic: .*HEIC"
aug_bad "WebP" "$fx/photo.webp" "photo\.webp: .*WebP"
aug_bad "HEIC named .jpg" "$fx/heic_named.jpg" "heic_named\.jpg: .*HEIC"
aug_bad "missing file" "$fx/nope.jpg" "nope\.jpg: .*(no such|not found|No such)"
mkdir -p "$fx/dir.jpg"
aug_bad "directory named x.jpg" "$fx/dir.jpg" "dir\.jpg: .*(folder|directory)"
mkfifo "$fx/fifo.jpg"
aug_bad "FIFO named x.jpg" "$fx/fifo.jpg" "fifo\.jpg: .*(FIFO|regular)"
ln -s "$fx/loop.jpg" "$fx/loop.jpg"
aug_bad "symlink loop" "$fx/loop.jpg" "loop\.jpg: .*(loop|symbolic links)"
if [ $have_jpeg -eq 1 ]; then
    aug_bad "truncated JPEG" "$fx/truncated.jpg" "truncated\.jpg: .*(truncated|Premature)"
    aug_bad "corrupt JPEG" "$fx/corrupt.jpg" "corrupt\.jpg: .*(corrupt|JPEG)"
    aug_bad "JPEG claiming 60000x60000" "$fx/huge.jpg" "huge\.jpg: .*60000"
fi

# ---- augment: odd but valid images are accepted ---------------------------
ok_list="good.bmp rgb.png grey16.png rgb16.png palette.png grey.png grey_alpha.png rgba.png"
[ $have_jpeg -eq 1 ] && ok_list="$ok_list good.jpg cmyk.jpg grey.jpg"
for f in $ok_list; do
    out="$tmp/aug-ok-$f"
    run "augment $f" "$CLI" augment "$fx/$f" --out "$out" --count 1 --size 32 || continue
    [ $rc -eq 0 ] || { fail "augment $f: refused (exit $rc): $(cat "$tmp/err")"; continue; }
    [ -s "$out/original.png" ] && [ -s "$out/augmented_01.png" ] || fail "augment $f: missing outputs"
done

# ---- scan: bad files in a class folder are skipped, with a reason ----------
data="$tmp/data"
mkdir -p "$data/good" "$data/mixed"
cp "$fx/good.bmp" "$data/good/a.bmp"
for f in $ok_list; do cp "$fx/$f" "$data/good/ok_$f"; done
cp "$fx/good.bmp" "$data/mixed/fine.bmp"
cp "$fx/good.bmp" "$data/mixed/caf$(printf '\xe9')_$(printf '\xff\xfe').bmp"  # not UTF-8: accepted
for f in empty.jpg text.jpg truncated.png huge.png anim.gif photo.heic photo.webp heic_named.jpg; do
    cp "$fx/$f" "$data/mixed/$f"
done
[ $have_jpeg -eq 1 ] && cp "$fx/truncated.jpg" "$fx/corrupt.jpg" "$fx/huge.jpg" "$data/mixed/"
mkdir "$data/mixed/dir.jpg"
mkfifo "$data/mixed/fifo.jpg"
ln -s loop.jpg "$data/mixed/loop.jpg"            # a link to itself (ELOOP)
ln -s .. "$data/mixed/up"                         # a folder loop back to the root
ln -s nowhere.jpg "$data/mixed/broken.jpg"
# A wrongly encoded name that must print as valid JSON; the file is bad too.
printf 'x' >"$data/mixed/bad$(printf '\xc3\x28').jpg"

want_ok=$(( $(echo $ok_list | wc -w) + 1 ))
run "scan bad-file matrix" "$CLI" scan "$data" --json
if [ $rc -ne 0 ]; then
    fail "scan of a folder with bad files exited $rc: $(cat "$tmp/err")"
else
    python3 - "$tmp/out" "$data" "$want_ok" "$have_jpeg" <<'EOF' || fail "scan JSON: $(head -c 3000 "$tmp/out")"
import json, sys
text = open(sys.argv[1], "rb").read()
text.decode("utf-8")
o = json.loads(text)
root, want_ok, have_jpeg = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
counts = {c["name"]: c["count"] for c in o["classes"]}
assert counts == {"good": want_ok, "mixed": 2}, counts
skipped = {s["path"][len(root) + 1:]: s["reason"] for s in o["skipped"]}
want = {
    "mixed/empty.jpg": "empty file",
    "mixed/text.jpg": "text",
    "mixed/truncated.png": "",
    "mixed/huge.png": "60000",
    "mixed/anim.gif": "unsupported type .gif",
    "mixed/photo.heic": "unsupported type .heic",
    "mixed/photo.webp": "unsupported type .webp",
    "mixed/heic_named.jpg": "HEIC",
    "mixed/dir.jpg": "",            # a folder named like an image: may be scanned as a folder
    "mixed/fifo.jpg": "FIFO",
    "mixed/loop.jpg": "symlink loop",
    "mixed/up": "",
    "mixed/broken.jpg": "broken symlink",
    "mixed/bad\udcc3(.jpg": "",
}
if have_jpeg:
    want.update({"mixed/truncated.jpg": "", "mixed/corrupt.jpg": "", "mixed/huge.jpg": "60000"})
# JSON escapes the bad byte as \u00c3, so compare on what the scanner printed.
want = {k.replace("\udcc3", "\u00c3"): v for k, v in want.items()}
missing = []
for k, v in want.items():
    if k == "mixed/dir.jpg":
        continue  # an empty folder yields nothing to skip
    if k not in skipped or v not in skipped[k]:
        missing.append((k, v, skipped.get(k)))
assert not missing, "missing or wrong skips: %r; got %r" % (missing, skipped)
for k, v in skipped.items():
    assert v and "\n" not in v, (k, v)
EOF
fi
# The human listing of the same folder must also finish and name the skips.
run "scan human listing" "$CLI" scan "$data"
[ $rc -eq 0 ] || fail "human scan exited $rc: $(cat "$tmp/err")"
grep -q "fifo.jpg: not a regular file" "$tmp/out" || fail "human scan lacks the FIFO skip: $(head -c 2000 "$tmp/out")"

# ---- scan: whole-command failures ------------------------------------------
expect_error "scan missing folder" "nope: no such folder" "$CLI" scan "$tmp/nope"
expect_error "scan of a file" "good\.bmp: .*(not a folder|folder)" "$CLI" scan "$fx/good.bmp"
single="$tmp/single"
mkdir -p "$single/only"
cp "$fx/good.bmp" "$single/only/a.bmp"
expect_error "scan single class" "at least two class" "$CLI" scan "$single"
expect_error "scan single class --json" "at least two class" "$CLI" scan "$single" --json
[ -s "$tmp/out" ] && fail "scan --json printed output for an unusable set"
emptyc="$tmp/emptyclass"
mkdir -p "$emptyc/a" "$emptyc/b"
cp "$fx/good.bmp" "$emptyc/a/x.bmp"
expect_error "scan empty class folder" "class 'b' has no usable image" "$CLI" scan "$emptyc" --json
badonly="$tmp/badonly"
mkdir -p "$badonly/a" "$badonly/b"
cp "$fx/good.bmp" "$badonly/a/x.bmp"
cp "$fx/empty.jpg" "$fx/text.jpg" "$badonly/b/"
expect_error "scan class of bad files" "class 'b' has no usable image \(2 skipped\)" "$CLI" scan "$badonly"
mkdir -p "$tmp/noclass"
expect_error "scan folder without classes" "noclass: .*(class|two)" "$CLI" scan "$tmp/noclass"

# ---- backbones and model files (classify, train, predict, evaluate) ---------
# Small TFLite models and Keras VGG16-layout HDF5 files come from the fuzz
# seed generators (fuzz/tflite_seeds.c, fuzz/keras_h5_seeds.c), built here.
SRC=${DF_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
gen="$tmp/gen"
mkdir -p "$gen"
have_tflite=0 have_h5=0
if command -v "$CC_BIN" >/dev/null 2>&1; then
    if "$CC_BIN" -O1 -I"$SRC/include" -I"$SRC/src" -I"$SRC/tests" "$SRC/fuzz/tflite_seeds.c" \
            "$SRC/tests/support/tflite_builder.c" -o "$tmp/tflite_seeds" 2>"$tmp/cc.err" &&
        "$tmp/tflite_seeds" "$gen"; then
        have_tflite=1
    else
        skip "cannot build fuzz/tflite_seeds.c ($(head -1 "$tmp/cc.err")): TFLite/model cases skipped"
    fi
    if "$CC_BIN" -O1 -I"$SRC/tests" "$SRC/fuzz/keras_h5_seeds.c" "$SRC/tests/support/h5_fixture.c" \
            $(pkg-config --cflags --libs hdf5 2>/dev/null) -o "$tmp/keras_h5_seeds" 2>"$tmp/cc.err" &&
        "$tmp/keras_h5_seeds" "$gen"; then
        have_h5=1
    else
        skip "cannot build fuzz/keras_h5_seeds.c ($(head -1 "$tmp/cc.err")): VGG16 file cases skipped"
    fi
fi
small="$tmp/small"
mkdir -p "$small/a" "$small/b"
for i in 1 2 3; do
    pyfix png "$small/a/$i.png" $((10 + i)) 9 2 8
    pyfix png "$small/b/$i.png" 9 $((12 + i)) 6 8
done

if [ $have_h5 -eq 1 ]; then
    # A VGG16 file with one wrong shape (block4_conv1 has 256 filters, not 512).
    out="$tmp/train-vgg-wrong"
    mkdir -p "$out"
    expect_error "train on a VGG16 file with a wrong shape" \
        "vgg16_wrong_shape\.h5: .*block4_conv1.*\(3, 3, 256, 256\).*\(3, 3, 256, 512\)" \
        "$CLI" train --data "$small" --backbone vgg16 --weights "$gen/vgg16_wrong_shape.h5" \
        --out "$out/model.h5" --epochs 1 --precision fp32
    no_output "$out" "train on a VGG16 file with a wrong shape"
    expect_error "train on a VGG16 file with a layer missing" "vgg16_missing_group\.h5: .*block4_conv2" \
        "$CLI" train --data "$small" --backbone vgg16 --weights "$gen/vgg16_missing_group.h5" \
        --out "$out/model.h5" --epochs 1 --precision fp32
    no_output "$out" "train on a VGG16 file with a layer missing"
    expect_error "train on a VGG16 file with control characters in a layer name" \
        "vgg16_control_name\.h5: layer 'block2 conv1\\\\x1b\\[31m' .*has no group" \
        "$CLI" train --data "$small" --backbone vgg16 --weights "$gen/vgg16_control_name.h5" \
        --out "$out/model.h5" --epochs 1 --precision fp32
    no_output "$out" "train on a VGG16 file with control characters in a layer name"
    mkdir -p "$tmp/feat-wrong"
    expect_error "features from a VGG16 file with a wrong shape" \
        "vgg16_wrong_shape\.h5: .*block4_conv1.*\(3, 3, 256, 256\)" \
        "$CLI" features --backbone vgg16 --weights "$gen/vgg16_wrong_shape.h5" --precision fp32 \
        --out "$tmp/feat-wrong/features.npy" "$fx/good.bmp"
    no_output "$tmp/feat-wrong" "features from a VGG16 file with a wrong shape"
fi

if [ $have_tflite -eq 1 ]; then
    head -c 2000 "$gen/float.tflite" >"$gen/truncated.tflite"
    printf 'TFL3 is not enough\n' >"$gen/text.tflite"
    mkfifo "$gen/fifo.tflite"
    expect_error "classify with a truncated TFLite file" "truncated\.tflite: " \
        "$CLI" classify --weights "$gen/truncated.tflite" "$fx/good.bmp"
    expect_error "classify with a text file as TFLite" "text\.tflite: " \
        "$CLI" classify --weights "$gen/text.tflite" "$fx/good.bmp"
    expect_error "classify with a FIFO as TFLite" "fifo\.tflite: .*(FIFO|regular)" \
        "$CLI" classify --weights "$gen/fifo.tflite" "$fx/good.bmp"
    expect_error "classify with a model without its top" "float_notop\.tflite: .*SOFTMAX" \
        "$CLI" classify --weights "$gen/float_notop.tflite" "$fx/good.bmp"
    run "classify with a small valid model" "$CLI" classify --weights "$gen/float.tflite" "$fx/good.bmp"
    [ $rc -eq 0 ] || fail "classify with a valid model exited $rc: $(cat "$tmp/err")"
    mkdir -p "$tmp/feat-bad"
    expect_error "features with a truncated TFLite file" "truncated\.tflite: " \
        "$CLI" features --backbone tflite --weights "$gen/truncated.tflite" --precision fp32 \
        --out "$tmp/feat-bad/f.npy" "$fx/good.bmp"
    no_output "$tmp/feat-bad" "features with a truncated TFLite file"
    expect_error "features with a bad image among good ones" "text\.jpg: " \
        "$CLI" features --backbone tflite --weights "$gen/float_notop.tflite" --precision fp32 \
        --out "$tmp/feat-bad/f.npy" "$fx/good.bmp" "$fx/text.jpg" "$fx/rgb.png"
    no_output "$tmp/feat-bad" "features with a bad image among good ones"
    out="$tmp/train-trunc"
    mkdir -p "$out"
    expect_error "train on a truncated TFLite file" "truncated\.tflite: " \
        "$CLI" train --data "$small" --backbone tflite --weights "$gen/truncated.tflite" \
        --out "$out/model.h5" --epochs 1 --precision fp32
    no_output "$out" "train on a truncated TFLite file"

    # A model trained here on float_notop.tflite, for classes a and b.
    model="$tmp/model/m.h5"
    mkdir -p "$tmp/model"
    run "train a small model" "$CLI" train --data "$small" --backbone tflite \
        --weights "$gen/float_notop.tflite" --out "$model" --epochs 2 --precision fp32 --quiet
    if [ $rc -ne 0 ] || [ ! -s "$model" ]; then
        fail "training the small model exited $rc: $(tail -3 "$tmp/err")"
    else
        expect_error "predict with another backbone's weights" "m\.h5: .*quant_notop\.tflite.*not the ones" \
            "$CLI" predict --model "$model" --weights "$gen/quant_notop.tflite" --precision fp32 "$fx/good.bmp"
        other="$tmp/otherclasses"
        mkdir -p "$other/a" "$other/shoes"
        cp "$small/a/1.png" "$other/a/"
        cp "$small/b/1.png" "$other/shoes/"
        expect_error "evaluate on other classes" "otherclasses: class folder 'shoes' is not one of the model's classes" \
            "$CLI" evaluate --model "$model" --data "$other" --precision fp32
        # The classes are checked before the backbone is built: a weights
        # file that is not even there is never reached.
        expect_error "evaluate on other classes, before the backbone" \
            "otherclasses: class folder 'shoes' is not one of the model's classes" \
            "$CLI" evaluate --model "$model" --data "$other" --weights "$tmp/model/no-such-weights.tflite"
        head -c 3000 "$model" >"$tmp/model/truncated.h5"
        expect_error "predict with a truncated model file" "truncated\.h5: .*(truncated|corrupt)" \
            "$CLI" predict --model "$tmp/model/truncated.h5" --precision fp32 "$fx/good.bmp"
        expect_error "predict with a TFLite file as the model" "float\.tflite: .*not a DeepFashion model" \
            "$CLI" predict --model "$gen/float.tflite" --precision fp32 "$fx/good.bmp"
        expect_error "predict with a Keras weights file as the model" "small\.h5: " \
            "$CLI" predict --model "$gen/small.h5" --precision fp32 "$fx/good.bmp"
        mkfifo "$tmp/model/fifo.h5"
        expect_error "predict with a FIFO as the model" "fifo\.h5: .*(FIFO|regular)" \
            "$CLI" predict --model "$tmp/model/fifo.h5" --precision fp32 "$fx/good.bmp"
        expect_error "predict with a missing model" "nope\.h5: " \
            "$CLI" predict --model "$tmp/model/nope.h5" --precision fp32 "$fx/good.bmp"
    fi
fi

# ---- augment: where the output cannot be written ---------------------------
# A read-only output folder. Root ignores permissions, so use a read-only
# bind mount, else an immutable folder (chattr +i), else /proc.
ro="$tmp/ro"
mkdir -p "$ro"
ro_kind=""
if mount --bind "$ro" "$ro" 2>/dev/null; then
    mounts+=("$ro")
    if mount -o remount,bind,ro "$ro" 2>/dev/null; then ro_kind="read-only bind mount"; fi
fi
if [ -z "$ro_kind" ] && chattr +i "$ro" 2>/dev/null; then
    immutable="$ro"
    ro_kind="chattr +i folder"
fi
if [ -z "$ro_kind" ] && [ -d /proc/self ]; then
    ro="/proc/self"
    ro_kind="/proc"
fi
if [ -n "$ro_kind" ]; then
    expect_error "augment into a $ro_kind" "(original\.png|$ro).*(Read-only|ermission|cannot|Operation not permitted|No such)" \
        "$CLI" augment "$fx/good.bmp" --out "$ro" --count 1
    [ "$ro" = /proc/self ] || no_output "$ro" "augment into a $ro_kind"
    expect_error "augment into a subfolder of a $ro_kind" "$ro/sub" \
        "$CLI" augment "$fx/good.bmp" --out "$ro/sub" --count 1
else
    skip "cannot make a read-only folder as this user (no bind mount, chattr or /proc)"
fi

# A full disk: a 64 KiB tmpfs, and an image whose PNG is bigger than that.
full="$tmp/full"
mkdir -p "$full"
if mount -t tmpfs -o size=64k tmpfs "$full" 2>/dev/null; then
    mounts+=("$full")
    pyfix bmp "$fx/noise.bmp" 256 256 1
    expect_error "augment onto a full disk" "original\.png: .*No space left" \
        "$CLI" augment "$fx/noise.bmp" --out "$full/out" --count 2 --size 256 --resize nearest
    no_output "$full" "augment onto a full disk"
    # Nearly full: the original fits, an augmented image does not; the
    # original may stay (it is complete), but no temp or partial file may.
    pyfix bmp "$fx/noise2.bmp" 100 100 1
    run "augment partially fits" "$CLI" augment "$fx/noise2.bmp" --out "$full/out2" --count 5 --size 100 --resize nearest
    if [ $rc -ne 0 ]; then
        [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "partial full disk: want one stderr line: $(cat "$tmp/err")"
        leftovers=$(find "$full" -name '*.tmp-*' | head -3)
        [ -z "$leftovers" ] || fail "full disk left temp files: $leftovers"
        for f in "$full"/out2/*.png; do
            [ -e "$f" ] || continue
            python3 - "$f" <<'EOF' || fail "full disk left a broken $f"
import sys, zlib, struct
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[-12:] == struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
EOF
        done
    fi
else
    skip "cannot mount a 64k tmpfs as this user: full-disk case skipped"
fi

if [ $failures -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "PASS"
