#!/usr/bin/env bash
# deepfashion export on the closet photos, checked against TFLite's real
# runtime: the exported MobileNetV2 classifier, run by @tensorflow/tfjs-tflite
# (TFLite compiled to WebAssembly) in headless Chromium, through the exported
# web page served on 127.0.0.1, on every closet validation photo (224x224
# PNGs, so no resize differs between the two). Two models, each exported in
# the form export picks by default (--backbone-form auto):
# - trained with --precision int8 (the backbone's integer features, XNNPACK):
#   exported as in its file (uint8 backbone, TFLite's integer kernels);
# - trained with --precision fp32 (a float simulation of the quantized
#   graph): exported with the backbone dequantized to float32;
# both: the same class as predict on every photo and predict's
# probabilities within 0.02. The fp32 model forced as in its file
# (--backbone-form file, a warning): the same class, the largest
# difference printed. The unknown detector (exported as a second output):
# on the 21 photos and 2 ImageNet check photos (parrot, cat) the page gives
# predict's unknown answer and its score within 1e-3 (predict prints 4
# digits), and calls at least one ImageNet photo unknown as predict does
# (both default variants). Also: the folder is complete and offline (runtime,
# licences, no remote URL in the page), a wrong --format or --backbone-form
# and a missing runtime are one-line errors.
# Skips (exit 77) without ../shared, Chromium, or the runtime (which it
# fetches with scripts/fetch-web-runtime.sh when npm can).
# DF_EXPORT_TRAIN_FLAGS replaces the short training (--feature-cache 1: one
# variant per photo, the default's 300 epochs over them) of both models, e.g. "--seed 1" for the default recipe;
# DF_KEEP_TMP=1 keeps the temporary folder (pages, photos, answers) for a look.
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

for p in fp32 int8; do
  # shellcheck disable=SC2086
  "$CLI" train --data "$DATA" --backbone tflite --weights "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" \
    --precision $p ${DF_EXPORT_TRAIN_FLAGS:---feature-cache 1} --out "$T/$p.dfm" --quiet >/dev/null
done

# Errors first: one line, non-zero, nothing written.
set +e
"$CLI" export --model "$T/fp32.dfm" --out "$T/x" --format onnx >/dev/null 2>"$T/e1"; rc1=$?
"$CLI" export --model "$T/fp32.dfm" --out "$T/x" --format web --runtime "$T/none" >/dev/null 2>"$T/e2"; rc2=$?
"$CLI" export --model "$T/fp32.dfm" --out "$T/x" --backbone-form int4 >/dev/null 2>"$T/e3"; rc3=$?
set -e
[ $rc1 -eq 2 ] && grep -q "tflite or web" "$T/e1" || fail "--format onnx: exit $rc1, $(cat "$T/e1")"
[ $rc3 -eq 2 ] && grep -q "auto, file or float" "$T/e3" || fail "--backbone-form int4: exit $rc3, $(cat "$T/e3")"
[ ! -e "$T/x" ] || fail "a failed export wrote $T/x"
[ $rc2 -eq 1 ] && [ "$(wc -l <"$T/e2")" -eq 1 ] && grep -q "fetch-web-runtime" "$T/e2" ||
  fail "missing runtime: exit $rc2, $(cat "$T/e2")"

SITE=$T/site
# variant model flags form-the-export-line-names
VARIANTS="int8:int8::as-in-its-file fp32:fp32::dequantized fp32-file:fp32:--backbone-form=file:as-in-its-file"
for spec in $VARIANTS; do
  IFS=: read -r v model flags form <<<"$spec"
  W=$SITE/$v
  # shellcheck disable=SC2086
  line=$("$CLI" export --model "$T/$model.dfm" --out "$W" --format web --runtime "$RUNTIME" \
    ${flags//=/ } 2>"$T/export-$v.err")
  [[ $line == *"backbone ${form//-/ }"* ]] || fail "$v: export said '$line', expected 'backbone ${form//-/ }'"
  if [ $v = fp32-file ]; then
    grep -q "^warning: .*--precision int8" "$T/export-$v.err" || fail "$v: no warning: $(cat "$T/export-$v.err")"
  else
    [ ! -s "$T/export-$v.err" ] || fail "$v: export wrote to stderr: $(cat "$T/export-$v.err")"
  fi
  for f in index.html model.tflite model.json vendor/tf-tflite.min.js vendor/tf-core.min.js \
           vendor/tf-backend-cpu.min.js vendor/LICENSE-Apache-2.0 vendor/NOTICE \
           vendor/tflite_web_api_cc.wasm vendor/tflite_web_api_cc_simd.wasm; do
    [ -s "$W/$f" ] || fail "export --format web did not write $v/$f"
  done
  grep -Eq 'src="https?:|href="https?:' "$W/index.html" && fail "index.html loads something from the network"
  grep -q "capture=" "$W/index.html" || fail "index.html has no camera input"
done

# The unknown detector travels in model.json (k, threshold) unless --no-unknown.
grep -q '"unknown":{"output":1,"k":5,' "$SITE/int8/model.json" || fail "int8/model.json: $(cat "$SITE/int8/model.json")"
"$CLI" export --model "$T/int8.dfm" --out "$T/nu" --format web --runtime "$RUNTIME" --no-unknown >/dev/null
grep -q '"outputs":\["probabilities"\]}' "$T/nu/model.json" || fail "--no-unknown: $(cat "$T/nu/model.json")"

# The validation photos at 224x224, as PNGs, and predict's answers on them.
mkdir -p "$SITE/photos" "$T/aug"
i=0
while IFS= read -r photo; do
  "$CLI" augment "$photo" --out "$T/aug" --count 1 --resize bilinear >/dev/null
  cp "$T/aug/original.png" "$SITE/photos/$i.png"
  i=$((i + 1))
done < <(find "$DATA/validation" -type f | LC_ALL=C sort)
[ $i -eq 21 ] || fail "expected 21 validation photos, found $i"
# Off-topic photos for the unknown detector: ImageNet check photos.
for name in parrot.jpg cat.bmp; do
  "$CLI" augment "$SHARED/images/imagenet/$name" --out "$T/aug" --count 1 --resize bilinear >/dev/null
  cp "$T/aug/original.png" "$SITE/photos/$i.png"
  i=$((i + 1))
done
for p in fp32 int8; do
  (cd "$SITE" && "$CLI" predict --model "$T/$p.dfm" --json photos/*.png) >"$T/predict-$p.json"
done

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
for spec in $VARIANTS; do
  v=${spec%%:*}
  : >"$T/web-$v.json"
  for ((k = 0; k < i; k++)); do
    ask "http://127.0.0.1:$PORT/$v/index.html#test=../photos/$k.png" "$T/one.json" ||
      fail "$v: photos/$k.png: no result from the page after 5 tries"
    echo "{\"path\":\"photos/$k.png\",\"web\":$(cat "$T/one.json")}" >>"$T/web-$v.json"
  done
done

$PY - "$T" <<'PYEOF'
import json, sys
t = sys.argv[1]
for variant, model, bound in (("trained int8, exported as in its file (default)", "int8", 0.02),
                              ("trained fp32, exported dequantized (default)", "fp32", 0.02),
                              ("trained fp32, exported as in its file (--backbone-form file)",
                               "fp32-file", None)):
    want = {d["path"]: d for d in map(json.loads, open(f"{t}/predict-{model.split('-')[0]}.json"))}
    worst, same, n = 0.0, 0, 0
    worst_u, same_u, n_u, off_topic_unknown = 0.0, 0, 0, 0
    for line in open(f"{t}/web-{model}.json"):
        d = json.loads(line)
        w, g = want[d["path"]], d["web"]
        assert "error" not in g, (variant, d["path"], g)
        assert list(g["probabilities"]) == list(w["probabilities"]), (g, w)
        # the unknown answer: every photo (the last 2 are ImageNet ones)
        assert w["unknown_score"] is not None and g["unknown_score"] is not None, (w, g)
        worst_u = max(worst_u, abs(w["unknown_score"] - g["unknown_score"]))
        same_u += g["unknown"] == w["unknown"]
        n_u += 1
        if int(d["path"].split("/")[1].split(".")[0]) >= 21:
            off_topic_unknown += g["unknown"] and w["unknown"]
            continue
        for k, p in w["probabilities"].items():
            worst = max(worst, abs(p - g["probabilities"][k]))
        same += g["class"] == w["class"]
        n += 1
        if g["class"] != w["class"]:
            print("different class on", d["path"], "predict", w, "web", g)
    print(f"tfjs-tflite in Chromium vs predict, {variant}: {n} photos, same class on "
          f"{same}, max |probability difference| = {worst:.2g} (predict prints 4 digits); "
          f"unknown: same answer on {same_u} of {n_u} photos ({off_topic_unknown} of the 2 "
          f"ImageNet photos unknown in both), max |score difference| = {worst_u:.2g}")
    assert n == 21 and same == n, "classes differ"
    assert bound is None or worst <= bound, f"probabilities differ by {worst}"
    if bound is not None:
        assert same_u == n_u, "unknown answers differ"
        assert worst_u <= 1e-3, f"unknown scores differ by {worst_u}"
        assert off_topic_unknown >= 1, "no ImageNet photo called unknown"
PYEOF
echo "export --format web: ok"
