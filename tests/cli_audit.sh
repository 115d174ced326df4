#!/usr/bin/env bash
# deepfashion audit through the built CLI, the cases that need no backbone:
# usage errors exit 2 with a --help hint, a missing folder and an unwritable
# --csv exit 1 with one line on stderr before any work, and --help lists the
# problem types. (The findings themselves: tests/test_audit.c.)
set -u
CLI=${DF_CLI:-deepfashion}
tmp=$(mktemp -d /tmp/df-cli-audit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

expect() { # expect CODE LINES -- args...
    local code=$1 lines=$2
    shift 3
    "$CLI" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [ "$rc" -eq "$code" ] || fail "audit $*: exit $rc, want $code ($(cat "$tmp/err"))"
    [ "$(wc -l <"$tmp/err")" -eq "$lines" ] || fail "audit $*: stderr is not $lines line(s): $(cat "$tmp/err")"
}

"$CLI" audit --help >"$tmp/help" || fail "--help exit $?"
for word in mislabeled leak duplicate outlier blurry low_resolution --json --csv --report; do
    grep -q -- "$word" "$tmp/help" || fail "--help does not mention $word"
done
mkdir -p "$tmp/data/train/a" "$tmp/data/train/b"
expect 2 1 -- audit
expect 2 1 -- audit "$tmp/data"
expect 2 1 -- audit "$tmp/data" --backbone tflite
expect 2 1 -- audit "$tmp/data" --backbone resnet --weights w.tflite
expect 2 1 -- audit "$tmp/data" --backbone tflite --weights w.tflite --folds 1
expect 2 1 -- audit "$tmp/data" "$tmp/data" --backbone tflite --weights w.tflite
expect 1 1 -- audit "$tmp/missing" --backbone tflite --weights w.tflite
grep -q "no such folder" "$tmp/err" || fail "missing folder: $(cat "$tmp/err")"
expect 1 1 -- audit "$tmp/data" --backbone tflite --weights w.tflite --csv "$tmp/no/such/dir/fix.csv"
[ ! -e "$tmp/no" ] || fail "an unwritable --csv created something"
[ ! -s "$tmp/out" ] || fail "a failed audit printed to stdout"
echo "cli_audit: ok"
