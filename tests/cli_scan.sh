#!/usr/bin/env bash
# deepfashion scan / augment through the built CLI: exit codes, one-line
# errors, valid JSON (even for names that are not UTF-8), PNG sizes read
# from the IHDR chunk, same seed -> identical files, and the closet data set's
# exact counts (skipped with exit 77 when ../shared is absent).
set -u
CLI=${DF_CLI:-deepfashion}
SHARED=${DF_SHARED_DIR:-}
tmp=$(mktemp -d /tmp/df-cli-scan-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A w x h 24-bit BMP made with python3 (no image tools needed).
make_bmp() {
    python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys
path, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
row = (w * 3 + 3) & ~3
pix = bytearray(row * h)
for r in range(h):
    for c in range(w):
        o = r * row + c * 3
        pix[o:o + 3] = bytes(((c * 7) & 255, (r * 5) & 255, ((r + c) * 3) & 255))
hdr = b"BM" + struct.pack("<IHHI", 54 + len(pix), 0, 0, 54)
info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0)
open(path, "wb").write(hdr + info + bytes(pix))
EOF
}

# PNG width and height from the IHDR chunk.
png_size() {
    python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(24)
assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR", "not a PNG"
print("%dx%d" % struct.unpack(">II", d[16:24]))' "$1"
}

# --- errors: one line on stderr, nothing on stdout, non-zero exit ---------
for json in "" --json; do
    "$CLI" scan "$tmp/nope" $json >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] || fail "scan of a missing folder exited $rc (want 1)"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "want one stderr line, got: $(cat "$tmp/err")"
    grep -q "$tmp/nope: no such folder" "$tmp/err" || fail "message: $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "stdout not empty: $(cat "$tmp/out")"
done
"$CLI" scan >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "scan without a folder exited $rc (want 2)"
"$CLI" scan "$tmp" --bogus >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "scan --bogus exited $rc (want 2)"
help=$("$CLI" scan --help)
grep -q "usage: deepfashion scan" <<<"$help" || fail "scan --help"

# --- a synthetic tree: non-UTF-8 names, junk, one unusable class ---------
data="$tmp/data"
mkdir -p "$data/Tops" "$data/caf$(printf '\xe9')" "$data/empty"
make_bmp "$data/Tops/a.bmp" 9 7
make_bmp "$data/caf$(printf '\xe9')/b$(printf '\xff')\"q\\.bmp" 9 7
printf 'hello' >"$data/Tops/notes.txt"
"$CLI" scan "$data" --json >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "scan with an empty class exited $rc (want 1)"
[ ! -s "$tmp/out" ] || fail "--json printed a partial object on failure"
grep -q "class 'empty' has no usable image (0 skipped)" "$tmp/err" || fail "$(cat "$tmp/err")"
"$CLI" scan "$data" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "human scan with an empty class exited $rc"
grep -q "notes.txt: unsupported type .txt" "$tmp/out" || fail "human listing lacks the skip: $(cat "$tmp/out")"
rmdir "$data/empty"
"$CLI" scan "$data" --json >"$tmp/out" 2>"$tmp/err" || fail "scan --json: $(cat "$tmp/err")"
python3 - "$tmp/out" "$data" <<'EOF' || fail "JSON check: $(cat "$tmp/out")"
import json, sys
text = open(sys.argv[1], "rb").read()
text.decode("utf-8")  # strictly valid UTF-8
o = json.loads(text)
assert list(o) == ["classes", "total", "skipped"], o
assert o["classes"] == [{"name": "Tops", "count": 1}, {"name": "caf\u00e9", "count": 1}], o
assert o["total"] == 2, o
assert o["skipped"] == [{"path": sys.argv[2] + "/Tops/notes.txt", "reason": "unsupported type .txt"}], o
EOF

# --- augment ---------------------------------------------------------------
make_bmp "$tmp/photo.bmp" 300 200
"$CLI" augment "$tmp/photo.bmp" --out "$tmp/aug1/sub" --count 3 --seed 5 >"$tmp/out" 2>&1 \
    || fail "augment: $(cat "$tmp/out")"
want="augmented_01.png augmented_02.png augmented_03.png original.png"
got=$(cd "$tmp/aug1/sub" && ls | sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] || fail "augment wrote [$got], want [$want]"
for f in "$tmp"/aug1/sub/*.png; do
    [ "$(png_size "$f")" = "224x224" ] || fail "$f is $(png_size "$f"), want 224x224"
done
"$CLI" augment "$tmp/photo.bmp" --out "$tmp/aug2" --count 3 --seed 5 >/dev/null 2>&1 || fail "augment 2"
for f in original.png augmented_01.png augmented_02.png augmented_03.png; do
    cmp -s "$tmp/aug1/sub/$f" "$tmp/aug2/$f" || fail "same seed, different $f"
done
"$CLI" augment "$tmp/photo.bmp" --out "$tmp/aug3" --count 3 --seed 6 >/dev/null 2>&1 || fail "augment 3"
cmp -s "$tmp/aug1/sub/original.png" "$tmp/aug3/original.png" || fail "original depends on the seed"
cmp -s "$tmp/aug1/sub/augmented_01.png" "$tmp/aug3/augmented_01.png" && fail "seed 6 gave seed 5's image"
"$CLI" augment "$tmp/photo.bmp" --out "$tmp/aug4" --count 1 --size 64 --resize nearest \
    --shift 0 --shear 0 --zoom 0 --no-flips >/dev/null 2>&1 || fail "augment identity"
[ "$(png_size "$tmp/aug4/original.png")" = "64x64" ] || fail "--size 64"
cmp -s "$tmp/aug4/original.png" "$tmp/aug4/augmented_01.png" || fail "no augmentation must copy exactly"
"$CLI" augment "$tmp/photo.bmp" --count 2 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "augment without --out exited $rc (want 2)"
"$CLI" augment "$tmp/photo.bmp" --out "$tmp/aug5" --zoom 1.5 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "augment --zoom 1.5 exited $rc (want 2)"
printf 'not an image' >"$tmp/bad.jpg"
"$CLI" augment "$tmp/bad.jpg" --out "$tmp/aug6" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "augment of a bad file exited $rc (want 1)"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "bad.jpg" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ ! -e "$tmp/aug6/original.png" ] || fail "wrote output for a bad input"

# --- the closet data set (needs ../shared) -------------------------------
closet="$SHARED/datasets/closet/train"
if [ -z "$SHARED" ] || [ ! -d "$closet" ]; then
    echo "SKIP: $closet not found (set DF_SHARED_DIR); the closet checks need it"
    exit 77
fi
"$CLI" scan "$closet" >"$tmp/out" 2>"$tmp/err" || fail "scan closet: $(cat "$tmp/err")"
for want in "bottoms 42" "shoes 22" "tops 42" "total 106"; do
    set -- $want
    grep -Eq "^ +$1 +$2\$" "$tmp/out" || fail "closet listing lacks '$want': $(cat "$tmp/out")"
done
"$CLI" scan "$closet" --json >"$tmp/out" 2>"$tmp/err" || fail "scan --json closet: $(cat "$tmp/err")"
python3 -c 'import json,sys; json.load(sys.stdin)' <"$tmp/out" || fail "closet --json is not JSON"
python3 - "$tmp/out" <<'EOF' || fail "closet JSON counts: $(cat "$tmp/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["classes"] == [{"name": "bottoms", "count": 42}, {"name": "shoes", "count": 22},
                        {"name": "tops", "count": 42}], o["classes"]
assert o["total"] == 106 and o["skipped"] == [], o
EOF
echo "PASS"
