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
echo "cli_augment: 1 passed, 0 failed"
