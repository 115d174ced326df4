#!/usr/bin/env bash
# The default recipe on other people's photos (issue 10): trained on the 106
# closet photos with the defaults (MobileNetV2 QAT), it must classify a
# seeded sample of 300 photos of ../shared/datasets/clothing, mapped to the
# closet's classes (t-shirt, shirt, longsleeve -> tops; pants, shorts,
# skirt -> bottoms; shoes -> shoes), with accuracy >= 0.95. The full check
# over all 2,791 photos, every candidate and 3 seeds is bench/defaults_ood.sh.
# Skipped when ../shared is absent.
set -euo pipefail
CLI=${DF_CLI:?}
SHARED=${DF_SHARED_DIR:-../shared}
for d in "$SHARED/datasets/closet" "$SHARED/datasets/clothing"; do
  if [ ! -d "$d" ]; then echo "SKIP: $d not found (set DF_SHARED_DIR)"; exit 77; fi
done
PY=/usr/bin/python3
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# The sample: 300 of the mapped photos (train and validation folders),
# random.Random(10) over the sorted list, linked into class folders.
$PY - "$SHARED/datasets/clothing" "$T/ood" <<'PYEOF'
import os, random, sys
src, dst = sys.argv[1], sys.argv[2]
to = {"t-shirt": "tops", "shirt": "tops", "longsleeve": "tops",
      "pants": "bottoms", "shorts": "bottoms", "skirt": "bottoms", "shoes": "shoes"}
photos = sorted((part, cls, name) for part in ("train", "validation") for cls in to
                for name in os.listdir(os.path.join(src, part, cls)))
assert len(photos) == 2791, len(photos)
for i, (part, cls, name) in enumerate(sorted(random.Random(10).sample(photos, 300))):
    os.makedirs(os.path.join(dst, to[cls]), exist_ok=True)
    os.symlink(os.path.join(os.path.abspath(src), part, cls, name), os.path.join(dst, to[cls], "%03d_%s" % (i, name)))
PYEOF
[ "$(find "$T/ood" -type l | wc -l)" -eq 300 ] || fail "the sample should hold 300 photos"

start=$(date +%s)
"$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --precision fp32 \
  --out "$T/m.dfm" --quiet >/dev/null
"$CLI" evaluate --model "$T/m.dfm" --data "$T/ood" --json >"$T/ev.json"
$PY - "$T/ev.json" "$(( $(date +%s) - start ))" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert sum(map(sum, d["confusion"])) == 300
print("defaults on 300 clothing photos: accuracy %.4f (%s s to train and evaluate)" % (d["accuracy"], sys.argv[2]))
assert d["accuracy"] >= 0.95, "out-of-domain accuracy %.4f < 0.95" % d["accuracy"]
PYEOF
