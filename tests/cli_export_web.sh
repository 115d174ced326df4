#!/usr/bin/env bash
# deepfashion export on the closet photos, checked against TFLite's real
# runtime: the exported MobileNetV2 classifier, run by @tensorflow/tfjs-tflite
# (TFLite compiled to WebAssembly) in headless Chromium, through the exported
# web page served on 127.0.0.1, on every closet validation photo (224x224
# PNGs, so no resize differs between the two):
# - exported as in its file (uint8 backbone: TFLite's integer kernels, while
#   predict runs a float simulation of that graph): the same class as
#   predict on every photo; the largest probability difference is printed;
# - exported with --float-backbone: the same class and predict's
#   probabilities within 0.02. Also: the folder is complete and offline
# (runtime, licences, no remote URL in the page), a wrong --format and a
# missing runtime are one-line errors.
# Skips (exit 77) without ../shared, Chromium, or the runtime (which it
# fetches with scripts/fetch-web-runtime.sh when npm can).
# DF_EXPORT_TRAIN_FLAGS replaces the short training (--epochs 5
# --feature-cache 1), e.g. "--seed 1" for the default recipe; DF_KEEP_TMP=1
# keeps the temporary folder (pages, photos, answers) for a look.
set -euo pipefail
CLI=${DF_CLI:?}
SRC=${DF_SOURCE_DIR:?}
BUILD=${DF_BUILD_DIR:?}
SHARED=${DF_SHARED_DIR:-../shared}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ -d "$SHARED/datasets/closet" ] || skip "$SHARED/datasets/closet not found (set DF_SHARED_DIR)"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium is not installed (scripts/setup-deps.sh installs it)"
[ -x "$PY" ] || skip "$PY not found (serves the page)"
RUNTIME=$BUILD/web-runtime
if [ ! -f "$RUNTIME/MANIFEST" ]; then
  "$SRC/scripts/fetch-web-runtime.sh" "$RUNTIME" >/dev/null 2>&1 ||
    skip "the web runtime is not in $RUNTIME and scripts/fetch-web-runtime.sh could not fetch it (npm missing or offline)"
fi
T=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; [ -n "${DF_KEEP_TMP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
DATA=$SHARED/datasets/closet

"$CLI" train --data "$DATA" --backbone tflite --weights "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" \
  --precision fp32 ${DF_EXPORT_TRAIN_FLAGS:---epochs 5 --feature-cache 1} --out "$T/m.dfm" --quiet >/dev/null

# Errors first: one line, non-zero, nothing written.
set +e
"$CLI" export --model "$T/m.dfm" --out "$T/x" --format onnx >/dev/null 2>"$T/e1"; rc1=$?
"$CLI" export --model "$T/m.dfm" --out "$T/x" --format web --runtime "$T/none" >/dev/null 2>"$T/e2"; rc2=$?
set -e
[ $rc1 -eq 2 ] && grep -q "tflite or web" "$T/e1" || fail "--format onnx: exit $rc1, $(cat "$T/e1")"
[ $rc2 -eq 1 ] && [ "$(wc -l <"$T/e2")" -eq 1 ] && grep -q "fetch-web-runtime" "$T/e2" ||
  fail "missing runtime: exit $rc2, $(cat "$T/e2")"

SITE=$T/site
for v in quant float; do
  flags=
  [ $v = float ] && flags=--float-backbone
  W=$SITE/$v
  # shellcheck disable=SC2086
  "$CLI" export --model "$T/m.dfm" --out "$W" --format web --runtime "$RUNTIME" $flags >/dev/null
  for f in index.html model.tflite model.json vendor/tf-tflite.min.js vendor/tf-core.min.js \
           vendor/tf-backend-cpu.min.js vendor/LICENSE-Apache-2.0 vendor/NOTICE \
           vendor/tflite_web_api_cc.wasm vendor/tflite_web_api_cc_simd.wasm; do
    [ -s "$W/$f" ] || fail "export --format web did not write $v/$f"
  done
  grep -Eq 'src="https?:|href="https?:' "$W/index.html" && fail "index.html loads something from the network"
  grep -q "capture=" "$W/index.html" || fail "index.html has no camera input"
done

# The validation photos at 224x224, as PNGs, and predict's answers on them.
mkdir -p "$SITE/photos" "$T/aug"
i=0
while IFS= read -r photo; do
  "$CLI" augment "$photo" --out "$T/aug" --count 1 --resize bilinear >/dev/null
  cp "$T/aug/original.png" "$SITE/photos/$i.png"
  i=$((i + 1))
done < <(find "$DATA/validation" -type f | LC_ALL=C sort)
[ $i -eq 21 ] || fail "expected 21 validation photos, found $i"
(cd "$SITE" && "$CLI" predict --model "$T/m.dfm" --json photos/*.png) >"$T/predict.json"

# Serve the folder on 127.0.0.1 (bounded in time) and ask Chromium.
timeout 900 "$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$SITE" >"$T/server.log" 2>&1 &
SERVER=$!
PORT=
for _ in $(seq 50); do
  PORT=$(sed -n 's/.* port \([0-9][0-9]*\) .*/\1/p' "$T/server.log" | head -n 1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || fail "the HTTP server did not start: $(cat "$T/server.log")"

# --dump-dom with --virtual-time-budget sometimes dumps before the page has
# answered: retry with a longer budget until #result holds the JSON.
ask() {
  local url=$1 out=$2 budget=10000
  for attempt in 1 2 3 4 5; do
    rm -rf "$T/profile"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
      --disable-background-networking --disable-component-update --disable-sync \
      --user-data-dir="$T/profile" --virtual-time-budget=$budget --dump-dom "$url" \
      >"$T/dom.html" 2>/dev/null || true
    sed -n 's|.*<pre id="result">\([^<]*\)</pre>.*|\1|p' "$T/dom.html" | sed 's/&quot;/"/g' >"$out"
    [ -s "$out" ] && return 0
    budget=$((budget * 2))
  done
  return 1
}
for v in quant float; do
  : >"$T/web-$v.json"
  for ((k = 0; k < i; k++)); do
    ask "http://127.0.0.1:$PORT/$v/index.html#test=../photos/$k.png" "$T/one.json" ||
      fail "$v: photos/$k.png: no result from the page after 5 tries"
    echo "{\"path\":\"photos/$k.png\",\"web\":$(cat "$T/one.json")}" >>"$T/web-$v.json"
  done
done

$PY - "$T/predict.json" "$T/web-quant.json" "$T/web-float.json" <<'PYEOF'
import json, sys
want = {d["path"]: d for d in map(json.loads, open(sys.argv[1]))}
for variant, path, bound in (("as in its file", sys.argv[2], None),
                             ("--float-backbone", sys.argv[3], 0.02)):
    worst, same, n = 0.0, 0, 0
    for line in open(path):
        d = json.loads(line)
        w, g = want[d["path"]], d["web"]
        assert "error" not in g, (variant, d["path"], g)
        assert list(g["probabilities"]) == list(w["probabilities"]), (g, w)
        for k, p in w["probabilities"].items():
            worst = max(worst, abs(p - g["probabilities"][k]))
        same += g["class"] == w["class"]
        n += 1
        if g["class"] != w["class"]:
            print("different class on", d["path"], "predict", w, "web", g)
    print(f"tfjs-tflite in Chromium vs predict, backbone {variant}: {n} photos, same class on "
          f"{same}, max |probability difference| = {worst:.4f}")
    assert n == 21 and same == n, "classes differ"
    assert bound is None or worst <= bound, f"probabilities differ by {worst}"
PYEOF
echo "export --format web: ok"
