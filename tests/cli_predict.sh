#!/usr/bin/env bash
# predict for real use (issue 12) through the command line: usage errors;
# then, with ../shared, a short training run on the closet photos and
#  - a folder (recursive; hidden and non-photo files skipped with a reason)
#    holding photo names with spaces and non-UTF-8 bytes: text, --json and
#    --csv (header path,class,confidence,unknown,<classes>, probabilities
#    summing to 1, names byte for byte);
#  - --sort-into: links (or --copy: copies) in DIR/<class>/ and
#    DIR/unknown/, the originals byte-identical and untouched, an existing
#    file never overwritten (a second run adds -1 names);
#  - unknown end to end: the ImageNet check photos are off-topic, most of
#    the closet validation photos are accepted, evaluate --unknown-dir;
#  - --explain: one overlay PNG per photo whose size follows the photo's
#    EXIF orientation (the same JPEG with Orientation 6 gives a transposed
#    overlay);
#  - the embedded backbone read in memory: predict with an unwritable
#    $TMPDIR predicts the same.
set -euo pipefail
CLI=${DF_CLI:?}
SHARED=${DF_SHARED_DIR:-../shared}
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

set +e
"$CLI" predict --json a.jpg 2>"$T/e"; rc=$?
[ $rc -eq 2 ] || fail "no --model: exit $rc"
"$CLI" predict --model m.dfm --copy a.jpg 2>"$T/e"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--copy needs --sort-into" "$T/e" || fail "--copy without --sort-into: $(cat "$T/e")"
"$CLI" predict --model m.dfm 2>"$T/e"; rc=$?
[ $rc -eq 2 ] || fail "no photo: exit $rc"
set -e
help=$("$CLI" predict --help)
grep -q -- "--sort-into" <<<"$help" || fail "--help does not describe --sort-into"
help=$("$CLI" train --help)
grep -q -- "--unknown-rate" <<<"$help" || fail "train --help does not describe --unknown-rate"

if [ ! -d "$SHARED/datasets/closet" ] || [ ! -d "$SHARED/images/imagenet" ]; then
  echo "SKIP: $SHARED/datasets/closet or images/imagenet not found (set DF_SHARED_DIR)"; exit 77
fi
DATA=$SHARED/datasets/closet
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 \
  --out "$T/m.dfm" --quiet >/dev/null

# A camera roll: photos in sub-folders, odd names, things to skip.
roll="$T/roll"
mkdir -p "$roll/2024/june" "$roll/.thumbs"
cp "$DATA/validation/shoes/24535295-abe3-4613-91f6-a7fe87954662.jpg" "$roll/IMG 0001.jpg"
cp "$DATA/validation/tops/0354015d-9ed3-4175-9f85-dd5725dce0e1.jpg" "$roll/2024/june/t"$'\xe9'"l"$'\xff'"e shirt.jpg"
cp "$DATA/validation/bottoms/511cbfa4-cc0c-416f-9e8b-c4e3fb16b9df.jpg" "$roll/2024/b,\"q\".jpg"
cp "$SHARED/images/imagenet/parrot.jpg" "$roll/2024/june/parrot.jpg"
cp "$roll/IMG 0001.jpg" "$roll/.thumbs/x.jpg"
echo "shopping list" >"$roll/notes.txt"
(cd "$roll" && find . -type f -exec sha256sum {} + | sort) >"$T/before.sha"

"$CLI" predict --model "$T/m.dfm" "$roll" >"$T/p.txt" 2>"$T/p.err"
[ "$(wc -l <"$T/p.txt")" -eq 4 ] || fail "4 photos expected: $(cat "$T/p.txt")"
grep -q "notes.txt: unsupported type .txt" "$T/p.err" || fail "notes.txt not listed as skipped: $(cat "$T/p.err")"
grep -q "\.thumbs: hidden folder" "$T/p.err" || fail ".thumbs not listed as skipped"
grep -q 't\\xe9l\\xffe shirt.jpg: tops' "$T/p.txt" || fail "non-UTF-8 name not printed escaped: $(cat "$T/p.txt")"
grep -q "parrot.jpg: unknown (closest: " "$T/p.txt" || fail "the parrot is not unknown: $(cat "$T/p.txt")"
# The model's embedded TFLite backbone is read where it lies in memory: no
# private copy on disk, so a full or unwritable $TMPDIR does not stop predict.
TMPDIR="$T/no such folder" "$CLI" predict --model "$T/m.dfm" "$roll" >"$T/p_notmp.txt" 2>"$T/p_notmp.err" ||
  fail "predict with an unwritable TMPDIR: $(cat "$T/p_notmp.err")"
cmp -s "$T/p.txt" "$T/p_notmp.txt" || fail "predict with an unwritable TMPDIR predicts otherwise"

"$CLI" predict --model "$T/m.dfm" --json --csv "$T/p.csv" --sort-into "$T/sorted" "$roll" >"$T/p.json" 2>/dev/null
$PY - "$T/p.json" "$T/p.csv" "$roll" <<'PYEOF'
import csv, json, os, sys
js = [json.loads(l) for l in open(sys.argv[1])]
assert len(js) == 4, js
for d in js:
    assert set(d) == {"path", "class", "probabilities", "unknown", "unknown_score"}, d
    assert isinstance(d["unknown"], bool) and isinstance(d["unknown_score"], float)
    assert abs(sum(d["probabilities"].values()) - 1) < 1e-3
    assert d["class"] == max(d["probabilities"], key=d["probabilities"].get)
rows = list(csv.reader(open(sys.argv[2], newline="", encoding="latin-1")))
assert rows[0] == ["path", "class", "confidence", "unknown", "bottoms", "shoes", "tops"], rows[0]
assert len(rows) == 5
paths = set()
for r in rows[1:]:
    assert len(r) == 7, r
    p = [float(x) for x in r[4:]]
    assert abs(sum(p) - 1) < 1e-4, r
    assert r[1] == ["bottoms", "shoes", "tops"][p.index(max(p))]
    assert abs(float(r[2]) - max(p)) < 1e-6
    assert r[3] in ("true", "false")
    paths.add(r[0].encode("latin-1"))
want = set()
for root, dirs, files in os.walk(sys.argv[3].encode()):
    dirs[:] = [d for d in dirs if not d.startswith(b".")]
    want |= {os.path.join(root, f) for f in files if f.endswith(b".jpg")}
assert paths == want, (paths, want)
unk = [r for r in rows[1:] if r[3] == "true"]
assert any(r[0].endswith("parrot.jpg") for r in unk), rows
PYEOF

# Sorted: links to the originals; nothing changed in the roll.
[ -L "$T/sorted/unknown/parrot.jpg" ] || fail "parrot not linked into unknown/: $(find "$T/sorted")"
[ -L "$T/sorted/shoes/IMG 0001.jpg" ] || fail "IMG 0001.jpg not linked into shoes/"
[ -L "$T/sorted/tops/t"$'\xe9'"l"$'\xff'"e shirt.jpg" ] || fail "non-UTF-8 name not sorted"
[ "$(find "$T/sorted" -type l | wc -l)" -eq 4 ] || fail "4 links expected"
cmp -s "$T/sorted/shoes/IMG 0001.jpg" "$roll/IMG 0001.jpg" || fail "link does not lead to the photo"
# A file already there is never overwritten: the next run adds -1 names.
echo "mine" >"$T/sorted/shoes/keep.txt"
cp "$T/sorted/shoes/keep.txt" "$T/sorted/shoes/IMG 0001-1.jpg"
"$CLI" predict --model "$T/m.dfm" --sort-into "$T/sorted" --copy --quiet "$roll" >/dev/null
[ "$(cat "$T/sorted/shoes/IMG 0001-1.jpg")" = "mine" ] || fail "an existing file was overwritten"
[ -f "$T/sorted/shoes/IMG 0001-2.jpg" ] && [ ! -L "$T/sorted/shoes/IMG 0001-2.jpg" ] || fail "--copy: no copy under -2"
cmp -s "$T/sorted/shoes/IMG 0001-2.jpg" "$roll/IMG 0001.jpg" || fail "the copy differs from the photo"
[ -f "$T/sorted/unknown/parrot-1.jpg" ] || fail "second parrot not copied under -1"
[ -z "$(find "$T/sorted" -name '.place-*')" ] || fail "temporary files left behind"
(cd "$roll" && find . -type f -exec sha256sum {} + | sort) >"$T/after.sha"
cmp -s "$T/before.sha" "$T/after.sha" || fail "the originals changed"
[ "$(find "$roll" -newer "$T/before.sha" | wc -l)" -eq 0 ] || fail "something in the roll was modified"

# 16 photos or more stream in batches; a broken one among them is reported
# on its own (one error line, exit 1) and the others still come out, with
# the same numbers as one by one.
mkdir -p "$T/many"
i=0
for f in "$DATA"/validation/*/*.jpg; do cp "$f" "$T/many/p$i.jpg"; i=$((i + 1)); done
"$CLI" predict --model "$T/m.dfm" --csv "$T/many.csv" "$T/many" >/dev/null
"$CLI" predict --model "$T/m.dfm" --csv "$T/few.csv" "$T/many/p0.jpg" "$T/many/p7.jpg" >/dev/null
grep -F -f <(tail -n +2 "$T/few.csv") "$T/many.csv" | wc -l | grep -qx 2 || fail "batched and one-by-one differ"
echo "not a jpeg" >"$T/many/p10 broken.jpg"
set +e
"$CLI" predict --model "$T/m.dfm" "$T/many" >"$T/many.out" 2>"$T/many.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "a broken photo in a batch: exit $rc"
[ "$(wc -l <"$T/many.err")" -eq 1 ] && grep -q "p10 broken.jpg" "$T/many.err" || fail "broken photo: $(cat "$T/many.err")"
[ "$(wc -l <"$T/many.out")" -eq "$i" ] || fail "expected $i predictions: $(wc -l <"$T/many.out")"

# Unknown end to end: the ImageNet check photos are off-topic.
"$CLI" predict --model "$T/m.dfm" --json "$SHARED"/images/imagenet/*.jpg "$SHARED"/images/imagenet/*.bmp \
  >"$T/off.json" 2>/dev/null
"$CLI" predict --model "$T/m.dfm" --json "$DATA/validation" >"$T/val.json" 2>/dev/null
$PY - "$T/off.json" "$T/val.json" <<'PYEOF'
import json, sys
off = [json.loads(l) for l in open(sys.argv[1])]
val = [json.loads(l) for l in open(sys.argv[2])]
caught = sum(d["unknown"] for d in off)
kept = sum(not d["unknown"] for d in val)
print(f"off-topic caught {caught}/{len(off)}, validation accepted {kept}/{len(val)}")
assert len(off) == 7 and caught >= 6, caught
assert len(val) == 21 and kept >= 18, kept
PYEOF
out=$("$CLI" predict --model "$T/m.dfm" --json --no-unknown "$SHARED/images/imagenet/parrot.jpg")
grep -q '"unknown":false' <<<"$out" || fail "--no-unknown still answers unknown"
"$CLI" evaluate --model "$T/m.dfm" --data "$DATA" --unknown-dir "$SHARED/images/imagenet" --json >"$T/ev.json" 2>/dev/null
$PY - "$T/ev.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["off_topic"]["photos"] == 7 and d["off_topic"]["caught"] >= 6, d["off_topic"]
assert d["unknown"]["genuine"] == 21 and d["unknown"]["genuine_lost"] <= 3, d["unknown"]
assert d["calibration"]["temperature"] > 0 and 0 <= d["calibration"]["ece"] <= 1, d["calibration"]
PYEOF

# The report shows both: photos lost and off-topic photos caught.
"$CLI" report --model "$T/m.dfm" --data "$DATA" --unknown-dir "$SHARED/images/imagenet" --out "$T/rep" 2>/dev/null
grep -q 'id="trust"' "$T/rep/report.html" || fail "report has no Trust section"
grep -q '<td>log loss</td><td class="n">[0-9.]* ([0-9.]* before scaling)' "$T/rep/report.html" \
  || fail "report's Trust section has no log loss before/after the temperature"
grep -q "off-topic photos called unknown" "$T/rep/report.html" || fail "report does not show off-topic photos caught"
grep -q "validation photos called unknown" "$T/rep/report.html" || fail "report does not show genuine photos lost"
[ -s "$T/rep/reliability.png" ] || fail "no reliability.png"

# --explain: overlay sizes follow the EXIF orientation.
$PY - "$roll/IMG 0001.jpg" "$T/rot.jpg" <<'PYEOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:2] == b"\xff\xd8"
# APP1 Exif, little-endian TIFF, IFD0 = { Orientation (0x0112) SHORT 1 = 6 }.
tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + b"\x00" * 4
seg = b"Exif\x00\x00" + tiff
open(sys.argv[2], "wb").write(data[:2] + b"\xff\xe1" + struct.pack(">H", len(seg) + 2) + seg + data[2:])
PYEOF
"$CLI" predict --model "$T/m.dfm" --explain "$T/exp" --quiet "$roll/IMG 0001.jpg" "$T/rot.jpg" >/dev/null
$PY - "$T/exp/IMG 0001.png" "$T/exp/rot.png" <<'PYEOF'
import struct, sys
def size(p):
    h = open(p, "rb").read(24)
    assert h[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", h[16:24])
a, b = size(sys.argv[1]), size(sys.argv[2])
print("overlays", a, b)
assert a[0] != a[1] and b == (a[1], a[0]), (a, b)
PYEOF
echo "cli_predict: ok"
