#!/usr/bin/env bash
# Fetches TFLite's WebAssembly runtime for `deepfashion export --format web`
# from the npm registry, once, into a build-local folder (never committed):
#   @tensorflow/tfjs-tflite 0.0.1-alpha.10 with its peers
#   @tensorflow/tfjs-core and @tensorflow/tfjs-backend-cpu 4.9.0 (its pins;
#   4.22 is refused by its peer range).
# DEST (default build/web-runtime) receives tf-core.min.js,
# tf-backend-cpu.min.js, tf-tflite.min.js, the package's WASM builds beside
# them (tf-tflite.min.js first looks for them next to itself, before
# setWasmPath applies, so they live in the same folder),
# the packages' package.json files, LICENSE-Apache-2.0 and NOTICE (the three
# packages are Apache-2.0 and ship no licence file of their own), and
# MANIFEST listing every file, which the exporter copies.
#
# usage: scripts/fetch-web-runtime.sh [DEST] [--if-possible]
#   --if-possible: without npm or the registry, print why and exit 0 (builds
#   stay offline-capable; the web tests then skip with that reason).
set -euo pipefail
DEST=${1:-build/web-runtime}
OPTIONAL=0
[ "${2:-}" = "--if-possible" ] && OPTIONAL=1
PKGS=(@tensorflow/tfjs-tflite@0.0.1-alpha.10 @tensorflow/tfjs-core@4.9.0
      @tensorflow/tfjs-backend-cpu@4.9.0)
STAMP="layout 2: ${PKGS[*]}"

if [ -f "$DEST/MANIFEST" ] && [ "$(cat "$DEST/VERSIONS" 2>/dev/null)" = "$STAMP" ]; then
  exit 0
fi
give_up() {
  echo "fetch-web-runtime: $*" >&2
  [ $OPTIONAL -eq 1 ] && exit 0
  exit 1
}
command -v npm >/dev/null || give_up "npm not found: the web export's runtime was not fetched"
LICENSE_TEXT=/usr/share/common-licenses/Apache-2.0
[ -f "$LICENSE_TEXT" ] || give_up "$LICENSE_TEXT not found (Debian's base-files ships it)"

mkdir -p "$(dirname "$DEST")"
WORK=$(cd "$(mktemp -d "$DEST.tmp-XXXXXX")" && pwd)
trap 'rm -rf "$WORK"' EXIT
if ! (cd "$WORK" && timeout 300 npm install --no-audit --no-fund --ignore-scripts \
        --no-package-lock --loglevel=error --prefix "$WORK" "${PKGS[@]}") >"$WORK/npm.log" 2>&1; then
  tail -n 5 "$WORK/npm.log" >&2
  give_up "npm install failed (offline?): the web export's runtime was not fetched"
fi
NM=$WORK/node_modules/@tensorflow
OUT=$WORK/runtime
mkdir -p "$OUT/packages"
cp "$NM/tfjs-core/dist/tf-core.min.js" "$NM/tfjs-backend-cpu/dist/tf-backend-cpu.min.js" \
   "$NM/tfjs-tflite/dist/tf-tflite.min.js" "$OUT/"
cp "$NM"/tfjs-tflite/wasm/tflite_web_api_cc*.js "$NM"/tfjs-tflite/wasm/tflite_web_api_cc*.wasm \
   "$OUT/"
for p in tfjs-core tfjs-backend-cpu tfjs-tflite; do
  cp "$NM/$p/package.json" "$OUT/packages/$p.package.json"
done
cp "$LICENSE_TEXT" "$OUT/LICENSE-Apache-2.0"
{
  echo "Third-party software in this folder, fetched from the npm registry by"
  echo "DeepFashion's scripts/fetch-web-runtime.sh and copied unmodified:"
  echo
  for p in tfjs-tflite tfjs-core tfjs-backend-cpu; do
    node -e 'const p=require(process.argv[1]); console.log(`  ${p.name} ${p.version}, licence ${p.license} (see LICENSE-Apache-2.0), ${(p.repository&&p.repository.url)||""}`)' \
      "$NM/$p/package.json"
  done
  echo
  echo "tf-tflite.min.js and tflite_web_api_cc*.{js,wasm} are the TensorFlow Lite runtime compiled to"
  echo "WebAssembly by the TensorFlow authors; packages/ holds each package's"
  echo "package.json as published."
} >"$OUT/NOTICE"
echo "$STAMP" >"$OUT/VERSIONS"
(cd "$OUT" && find . -type f ! -name MANIFEST | sed 's|^\./||' | LC_ALL=C sort >MANIFEST)
rm -rf "$DEST"
mv "$OUT" "$DEST"
echo "fetch-web-runtime: $DEST ($(wc -l <"$DEST/MANIFEST") files)"
