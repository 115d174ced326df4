#!/usr/bin/env bash
# make install PREFIX=<temp> / make uninstall, and the README's C API example
# built against the installed copy with pkg-config: linked to the shared
# library (soname checked) and, with pkg-config --static, to the static one.
# With ../shared present the example also runs on a freshly trained model.
set -euo pipefail
SRC=${DF_SOURCE_DIR:?}
BUILD=${DF_BUILD_DIR:?}
CLI=${DF_CLI:?}
SHARED=${DF_SHARED_DIR:-../shared}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config not installed"; exit 77; }
P=$T/prefix

make -s -C "$SRC" install PREFIX="$P" BUILD="$BUILD" >"$T/install.out"
for f in bin/deepfashion include/deepfashion.h lib/libdeepfashion.a lib/libdeepfashion.so \
         lib/pkgconfig/deepfashion.pc; do
  [ -e "$P/$f" ] || fail "make install did not write $f"
done
soname=$(readelf -d "$P/lib/libdeepfashion.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libdeepfashion.so.0" ] || fail "soname is '$soname', expected libdeepfashion.so.0"
[ -e "$P/lib/$soname" ] || fail "the soname link $soname is not installed"
"$P/bin/deepfashion" --version >/dev/null || fail "the installed binary does not run"

# The README's example, wrapped in main().
sed -n '/^## The C API/,/^## /p' "$SRC/README.md" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' \
  >"$T/snippet.c"
grep -q df_classifier_load "$T/snippet.c" || fail "no C example found in README.md"
{
  echo '#include <stdio.h>'
  grep '^#include' "$T/snippet.c"
  echo 'int main(void) {'
  grep -v '^#include' "$T/snippet.c"
  echo 'return 0;'
  echo '}'
} >"$T/example.c"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
# A library built with ASan + UBSan (make sanitize) needs its users built so.
SAN=
[ "${DF_SANITIZE:-OFF}" = ON ] && SAN="-fsanitize=address,undefined"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $SAN -o "$T/example" "$T/example.c" \
  $(pkg-config --cflags --libs deepfashion) -Wl,-rpath,"$P/lib"
# ldd into a variable, never piped into grep -q: with pipefail, grep -q closing the pipe
# early kills ldd with SIGPIPE and the check fails at random (seen under make sanitize).
linked=$(ldd "$T/example")
grep -qF "libdeepfashion.so.0 => $P/lib/" <<<"$linked" ||
  fail "example not linked to the installed shared library: $(grep deepfashion <<<"$linked")"
static_libs=$(pkg-config --static --libs deepfashion | sed "s|-ldeepfashion|$P/lib/libdeepfashion.a|")
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $SAN -o "$T/example_static" "$T/example.c" \
  $(pkg-config --cflags deepfashion) $static_libs
linked=$(ldd "$T/example_static")
grep -q libdeepfashion <<<"$linked" && fail "static example still needs libdeepfashion.so"

# Without closet.dfm: one error line naming it, exit 1.
mkdir "$T/run"
set +e
(cd "$T/run" && "$T/example") >"$T/run.out" 2>"$T/run.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "example without a model should exit 1, got $rc"
[ "$(wc -l <"$T/run.err")" -eq 1 ] && grep -q "closet.dfm" "$T/run.err" || fail "error should name closet.dfm: $(cat "$T/run.err")"

if [ -d "$SHARED/datasets/closet" ]; then
  "$CLI" train --data "$SHARED/datasets/closet" --backbone tflite \
    --weights "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" --precision fp32 --epochs 2 \
    --feature-cache 1 --out "$T/run/closet.dfm" --quiet >/dev/null
  photo=$(find "$SHARED/datasets/closet/validation" -type f -name '*.jpg' | sort | head -n 1)
  cp "$photo" "$T/run/IMG_2041.jpg"
  # The installed binary exports the web page with the runtime installed beside it.
  if [ -f "$BUILD/web-runtime/MANIFEST" ]; then
    [ -f "$P/share/deepfashion/web-runtime/MANIFEST" ] || fail "the web runtime was not installed"
    echo "installed copy" >>"$P/share/deepfashion/web-runtime/NOTICE" # tells the two copies apart
    env -u DF_WEB_RUNTIME "$P/bin/deepfashion" export --model "$T/run/closet.dfm" --format web \
      --out "$T/web" >/dev/null
    [ -s "$T/web/vendor/tf-tflite.min.js" ] || fail "installed binary: no runtime in the web export"
    grep -q "installed copy" "$T/web/vendor/NOTICE" || fail "installed binary used the build's runtime"
  fi
  for exe in example example_static; do
    (cd "$T/run" && "$T/$exe") >"$T/run.out"
    want=$("$CLI" predict --model "$T/run/closet.dfm" --json "$T/run/IMG_2041.jpg" |
           /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); c=sorted(d["probabilities"])[0]; print("%s %.2f" % (c, d["probabilities"][c]))')
    [ "$(cat "$T/run.out")" = "$want" ] || fail "$exe printed '$(cat "$T/run.out")', predict says '$want'"
  done
else
  echo "note: $SHARED/datasets/closet not found: the example was not run on a model"
fi

make -s -C "$SRC" uninstall BUILD="$BUILD" >/dev/null
left=$(find "$P" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install, pkg-config build (shared and static), uninstall: ok"
