#!/usr/bin/env bash
# How close are DeepFashion's MobileNetV2 features to TFLite's own integer
# execution of the same uint8 graph? Measured in TFLite's real runtime
# (@tensorflow/tfjs-tflite WASM in headless Chromium) through the export:
#   1. a model trained on the closet photos with --precision int8;
#   2. our features of the 21 closet validation photos (224x224 PNGs, so no
#      resize differs) with `deepfashion features --precision int8` (the
#      int8 engine the rule picks: oneDNN with VNNI, else exact fp32; XNNPACK
#      with DF_INT8_ENGINE=xnnpack)
#      and --precision fp32 (the float simulation of the quantized graph);
#   3. bench_probe_model replaces the model's unknown detector by one fitted
#      on those rows with k = 1, so the exported page's unknown_score is
#      1 - max_j cos(runtime features of the photo, our row j);
#   4. each probe exported as in its file (TFLite's integer kernels), plus
#      the fp32 probe with --backbone-form float, and asked in Chromium.
# Prints per variant min / median / max over the photos of the cosine, and
# the margin that shows the nearest row is the photo's own (the cosine must
# exceed that row's largest cosine to any other photo's row).
# Usage: bench/export_feature_cosine.sh [BUILD_DIR] (default build); needs
# ../shared, chromium and the fetched web runtime. Not a test: asserts only
# that the measurement is valid.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
CLI=$BUILD/deepfashion
SHARED=${DF_SHARED_DIR:-$SRC/../shared}
DATA=$SHARED/datasets/closet
WEIGHTS=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
CHROMIUM=$(command -v chromium || command -v chromium-browser)
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# --pooling mean: the graph's own 1,280 features, which `features` writes
# and the probe's detector scores (the default recipe's r3s2 regions give
# 11,520, and the detector would score their windows' mean instead)
"$CLI" train --data "$DATA" --backbone tflite --weights "$WEIGHTS" --precision int8 --pooling mean \
  --epochs 5 --feature-cache 1 --out "$T/m.dfm" --quiet >/dev/null
SITE=$T/site
mkdir -p "$SITE/photos" "$T/aug"
i=0
while IFS= read -r photo; do
  "$CLI" augment "$photo" --out "$T/aug" --count 1 --resize bilinear >/dev/null
  cp "$T/aug/original.png" "$SITE/photos/$(printf %02d $i).png"
  i=$((i + 1))
done < <(find "$DATA/validation" -type f | LC_ALL=C sort)
for p in int8 fp32; do
  "$CLI" features --backbone tflite --weights "$WEIGHTS" --precision $p --no-resize \
    --out "$T/$p.npy" "$SITE"/photos/*.png
  "$BUILD/bench_probe_model" "$T/m.dfm" "$T/$p.npy" "$T/probe-$p.dfm"
done
"$CLI" export --model "$T/probe-int8.dfm" --out "$SITE/int8" --format web --runtime "$BUILD/web-runtime" >/dev/null
"$CLI" export --model "$T/probe-fp32.dfm" --out "$SITE/fp32" --format web --runtime "$BUILD/web-runtime" \
  --backbone-form file 2>/dev/null >/dev/null
"$CLI" export --model "$T/probe-fp32.dfm" --out "$SITE/fp32-float" --format web --runtime "$BUILD/web-runtime" \
  --backbone-form float >/dev/null

timeout 1800 python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$SITE" >"$T/server.log" 2>&1 &
SERVER=$!
PORT=
for _ in $(seq 50); do
  PORT=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$T/server.log" | head -n 1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
ask() {
  local url=$1 budget=10000
  for _ in 1 2 3 4 5; do
    rm -rf "$T/profile"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$T/profile" --virtual-time-budget=$budget --dump-dom "$url" 2>/dev/null |
      sed -n 's|.*<pre id="result">\([^<]*\)</pre>.*|\1|p' | sed 's/&quot;/"/g' >"$T/one.json" || true
    [ -s "$T/one.json" ] && { cat "$T/one.json"; return 0; }
    budget=$((budget * 2))
  done
  echo "no answer from $url" >&2
  return 1
}
for v in int8 fp32 fp32-float; do
  for ((k = 0; k < i; k++)); do
    echo "$k $(ask "http://127.0.0.1:$PORT/$v/index.html#test=../photos/$(printf %02d $k).png")"
  done >"$T/web-$v.txt"
done
"$CHROMIUM" --version 2>/dev/null
python3 - "$T" <<'PYEOF'
import array, ast, json, math, statistics, sys
t = sys.argv[1]
def npy(path):  # float32 little-endian, C order, 2-D
    raw = open(path, "rb").read()
    hlen = int.from_bytes(raw[8:10], "little")
    header = ast.literal_eval(raw[10:10 + hlen].decode("latin1"))
    rows, cols = header["shape"]
    a = array.array("f")
    a.frombytes(raw[10 + hlen:10 + hlen + 4 * rows * cols])
    return [a[r * cols:(r + 1) * cols] for r in range(rows)]
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
feats = {p: npy(f"{t}/{p}.npy") for p in ("int8", "fp32")}
n = len(feats["int8"])
ours = [cos(feats["int8"][i], feats["fp32"][i]) for i in range(n)]
print(f"ours int8 vs ours fp32 (same photos): cosine min {min(ours):.5f} median "
      f"{statistics.median(ours):.5f} max {max(ours):.5f}")
for v, rows, what in (("int8", "int8", "TFLite integers vs our int8"),
                      ("fp32", "fp32", "TFLite integers vs our fp32 float simulation"),
                      ("fp32-float", "fp32", "TFLite on the dequantized export vs our fp32")):
    c, margin = [], []
    for line in open(f"{t}/web-{v}.txt"):
        k, js = line.split(" ", 1)
        k = int(k)
        r = json.loads(js)
        c.append(1.0 - r["unknown_score"])
        other = max(cos(feats[rows][k], feats[rows][j]) for j in range(n) if j != k)
        margin.append(c[-1] - other)
    assert min(margin) > 0, f"{v}: a photo's nearest row is not its own: margins {margin}"
    print(f"{what}: {len(c)} photos, cosine min {min(c):.6f} median {statistics.median(c):.6f} "
          f"max {max(c):.6f}, 1 - cosine at most {max(1 - x for x in c):.1e} (a float32 dot "
          f"product of 1280: ~1e-6 is rounding) (own row nearest by >= {min(margin):.3f})")
PYEOF
