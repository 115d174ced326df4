#!/usr/bin/env bash
# deepfashion augment shows what train trains with: the default recipe's
# augmentation unless --recipe says otherwise, the same flags over it.
set -euo pipefail
CLI=${DF_CLI:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# A 64x48 24-bit BMP, made here.
/usr/bin/python3 - "$T/p.bmp" <<'PYEOF'
import struct, sys
w, h = 64, 48
row = (w * 3 + 3) & ~3
pix = b"".join(bytes(v for x in range(w) for v in ((x + y) % 256, y * 5 % 256, x * 4 % 256)) + b"\0" * (row - w * 3)
               for y in range(h - 1, -1, -1))
hdr = b"BM" + struct.pack("<IHHI", 54 + len(pix), 0, 0, 54)
info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pix), 2835, 2835, 0, 0)
open(sys.argv[1], "wb").write(hdr + info + pix)
PYEOF

"$CLI" augment "$T/p.bmp" --out "$T/d" --count 40 --size 32 >"$T/default.out"
grep -q "shear +0.000 deg" "$T/default.out" || fail "the default recipe has no shear: $(head -2 "$T/default.out")"
! grep -q "flip v" "$T/default.out" || fail "the default recipe never flips upside down"
grep -q "flip h" "$T/default.out" || fail "the default recipe mirrors left-right"

"$CLI" augment "$T/p.bmp" --out "$T/o" --count 40 --size 32 --recipe original >"$T/original.out"
grep -q "flip v" "$T/original.out" || fail "the original recipe flips upside down"
! grep -q "shear +0.000 deg" "$T/original.out" || fail "the original recipe shears"

"$CLI" augment "$T/p.bmp" --out "$T/n" --count 10 --size 32 --flip none >"$T/none.out"
! grep -q "flip" "$T/none.out" || fail "--flip none"
set +e
"$CLI" augment "$T/p.bmp" --out "$T/x" --recipe fancy 2>"$T/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "fancy" "$T/e" || fail "unknown recipe: $(cat "$T/e")"

# The photometric and framing settings (issue 10): off in both recipes,
# seeded, and on only when asked for.
! grep -q "contrast" "$T/default.out" "$T/original.out" || fail "a recipe jitters colour by default"
"$CLI" augment "$T/p.bmp" --out "$T/c1" --count 6 --size 32 --zoom-out 0.5 --fill 255 --contrast 0.3 \
    --brightness 0.3 --saturation 0.5 --grayscale 0.5 --seed 4 >"$T/c1.out"
"$CLI" augment "$T/p.bmp" --out "$T/c2" --count 6 --size 32 --zoom-out 0.5 --fill 255 --contrast 0.3 \
    --brightness 0.3 --saturation 0.5 --grayscale 0.5 --seed 4 >/dev/null
grep -q "contrast" "$T/c1.out" || fail "--contrast: $(head -3 "$T/c1.out")"
for k in 01 02 03 04 05 06; do
    cmp -s "$T/c1/augmented_$k.png" "$T/c2/augmented_$k.png" || fail "same seed, other pixels ($k)"
done
# The first eight numbers are the same with the jitter on or off.
"$CLI" augment "$T/p.bmp" --out "$T/c3" --count 6 --size 32 --seed 4 >"$T/c3.out"
[ "$(grep '^/' "$T/c1.out" | sed 's/^[^:]*://')" = "$(grep '^/' "$T/c3.out" | sed 's/^[^:]*://')" ] ||
    fail "the photometric draws changed the geometric ones"
set +e
"$CLI" augment "$T/p.bmp" --out "$T/x" --fill 300 2>"$T/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "fill" "$T/e" || fail "--fill 300: $(cat "$T/e")"
set +e
"$CLI" augment "$T/p.bmp" --out "$T/x" --saturation 1.5 2>"$T/e"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "saturation" "$T/e" || fail "--saturation 1.5: $(cat "$T/e")"
echo "cli_augment: 1 passed, 0 failed"
