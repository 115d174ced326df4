#!/usr/bin/env bash
# train / evaluate / predict / report through the command line on the closet
# photos with the real MobileNetV2 (skipped when ../shared is absent).
set -euo pipefail
CLI=${DF_CLI:?}
SHARED=${DF_SHARED_DIR:-../shared}
if [ ! -d "$SHARED/datasets/closet" ]; then
  echo "SKIP: $SHARED/datasets/closet not found (set DF_SHARED_DIR)"; exit 77
fi
PY=/usr/bin/python3
DATA=$SHARED/datasets/closet
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A short run (one variant per photo, a fifth of the default's epochs at its
# learning rate): model, history, report.
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --epochs 60 \
  --feature-cache 1 --out "$T/m.dfm" --history "$T/h.csv" --report "$T/report" --quiet >"$T/train.out"
[ -s "$T/m.dfm" ] || fail "no model written"
[ ! -e "$T/m.dfm.ckpt" ] || fail "checkpoint left behind after a finished run"
[ "$(wc -l <"$T/h.csv")" -eq 61 ] || fail "history should have a header and 60 rows"
head -1 "$T/h.csv" | grep -qx "epoch,loss,accuracy,val_loss,val_accuracy" || fail "history header"
[ -s "$T/report/report.html" ] || fail "no report.html"
grep -q "validation accuracy" "$T/train.out" || fail "train prints the final evaluation"
# The report's settings show the augmentation; the photometric and framing
# row only when one of those ops is on (both recipes leave them off).
html=$(cat "$T/report/report.html")
case $html in *"shift 0.1"*) ;; *) fail "the report should show the augmentation settings" ;; esac
case $html in *"photometric and framing"*) fail "photometric row with every op off" ;; esac
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --epochs 1 --feature-cache 1 \
  --brightness 0.2 --fill 255 --zoom-out 0.3 --out "$T/pm.dfm" --report "$T/pmreport" --quiet >/dev/null
html=$(cat "$T/pmreport/report.html")
case $html in *"zoom out 0.3, fill grey 255, brightness 0.2"*) ;; *) fail "the report should show the photometric and framing settings" ;; esac
# Adam's epochs draw learning curves; an exact fit (the default solver) has
# none, and its report says how the head was fitted instead, as does a
# report made later from the model alone (from its training record).
case $html in *"<h2>Learning curves</h2>"*) ;; *) fail "an Adam run's report should draw learning curves" ;; esac
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --feature-cache 1 \
  --out "$T/ex.dfm" --report "$T/exreport" --quiet >/dev/null
html=$(cat "$T/exreport/report.html")
case $html in *"<h2>Head fit</h2>"*"--solver exact"*) ;; *) fail "an exact fit's report should have its Head fit section" ;; esac
case $html in *"<h2>Learning curves</h2>"*) fail "an exact fit's report draws learning curves" ;; esac
"$CLI" report --model "$T/ex.dfm" --data "$DATA" --out "$T/exreport2" 2>/dev/null
html=$(cat "$T/exreport2/report.html")
case $html in *"<h2>Head fit</h2>"*) ;; *) fail "report from an exact-fit model should say how the head was fitted" ;; esac
case $html in *"<td>solver</td>"*) ;; *) fail "report from an exact-fit model should name the solver" ;; esac

# evaluate --json: the documented object, counts adding up to the 21 validation photos.
"$CLI" evaluate --model "$T/m.dfm" --data "$DATA" --json >"$T/ev.json"
$PY - "$T/ev.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["classes"] == ["bottoms", "shoes", "tops"], d["classes"]
assert sum(map(sum, d["confusion"])) == 21
assert [p["support"] for p in d["per_class"]] == [8, 5, 8]
assert 0.8 <= d["accuracy"] <= 1.0, d["accuracy"]
assert d["loss"] > 0
for p in d["per_class"]:
    assert set(p) == {"class", "precision", "recall", "f1", "support"}
PYEOF

# predict --json: one line per photo, probabilities summing to 1; a bad file
# among good ones: one error line, exit 1, the others still printed.
photos=$(find "$DATA/validation" -type f | sort | head -n 3)
# shellcheck disable=SC2086
"$CLI" predict --model "$T/m.dfm" --json $photos >"$T/pred.json"
[ "$(wc -l <"$T/pred.json")" -eq 3 ] || fail "predict --json prints one line per photo"
$PY - "$T/pred.json" <<'PYEOF'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert set(d) == {"path", "class", "probabilities", "unknown", "unknown_score"}
    assert abs(sum(d["probabilities"].values()) - 1) < 1e-3
    assert d["class"] == max(d["probabilities"], key=d["probabilities"].get)
PYEOF
echo "not a photo" >"$T/note.jpg"
set +e
"$CLI" predict --model "$T/m.dfm" "$T/note.jpg" $photos >"$T/p.out" 2>"$T/p.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "predict with a bad photo should exit 1, got $rc"
[ "$(wc -l <"$T/p.err")" -eq 1 ] && grep -q "note.jpg" "$T/p.err" || fail "one error line naming the file"
[ "$(wc -l <"$T/p.out")" -eq 3 ] || fail "the good photos are still predicted"

# A model refuses a backbone file it was not trained on.
set +e
"$CLI" predict --model "$T/m.dfm" --weights "$SHARED/models/tf2_mobilenet_v2_1.0_224_ptq.tflite" $photos \
  >/dev/null 2>"$T/w.err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "not the ones the model was trained on" "$T/w.err" || fail "wrong weights accepted"

# report from the model and its history.
"$CLI" report --model "$T/m.dfm" --data "$DATA" --history "$T/h.csv" --out "$T/r2" 2>/dev/null
for f in report.html accuracy.png loss.png confusion_matrix.png gallery.png samples.png model_summary.png reliability.png \
         classification_report.txt; do
  [ -s "$T/r2/$f" ] || fail "report is missing $f"
done

# A folder lacking one of the model's classes (evaluate allows it): counts in
# the model's class order, and the report draws it (an ASan build caught a
# read past the class arrays here).
mkdir -p "$T/noshoes/bottoms" "$T/noshoes/tops"
cp "$DATA"/validation/bottoms/* "$T/noshoes/bottoms/"
cp "$DATA"/validation/tops/* "$T/noshoes/tops/"
"$CLI" evaluate --model "$T/m.dfm" --data "$T/noshoes" --json >"$T/ev2.json"
$PY - "$T/ev2.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["classes"] == ["bottoms", "shoes", "tops"], d["classes"]
assert [p["support"] for p in d["per_class"]] == [8, 0, 8], d["per_class"]
assert sum(d["confusion"][1]) == 0
PYEOF
"$CLI" report --model "$T/m.dfm" --data "$T/noshoes" --out "$T/r3" 2>/dev/null
grep -q "bottoms" "$T/r3/report.html" || fail "report on a folder lacking a class"

# The model embeds its backbone: it predicts after the weights file is gone;
# --backbone-ref models record the file instead and need it.
cp "$W" "$T/mb.tflite"
"$CLI" train --data "$DATA" --backbone tflite --weights "$T/mb.tflite" --precision fp32 --epochs 2 \
  --feature-cache 1 --head linear --out "$T/e.dfm" --quiet >/dev/null
"$CLI" train --data "$DATA" --backbone tflite --weights "$T/mb.tflite" --precision fp32 --epochs 2 \
  --feature-cache 1 --head linear --backbone-ref --out "$T/r.dfm" --quiet >/dev/null
[ "$(stat -c %s "$T/e.dfm")" -gt "$(stat -c %s "$T/mb.tflite")" ] || fail "the model should embed the backbone"
[ "$(stat -c %s "$T/r.dfm")" -lt "$(stat -c %s "$T/mb.tflite")" ] || fail "--backbone-ref should not embed it"
one=$(find "$DATA/validation" -type f | sort | head -n 1)
"$CLI" predict --model "$T/e.dfm" --json "$one" >"$T/pe1.json"
rm "$T/mb.tflite"
"$CLI" predict --model "$T/e.dfm" --json "$one" >"$T/pe2.json"
cmp -s "$T/pe1.json" "$T/pe2.json" || fail "the embedded model predicts differently without its backbone file"
set +e
"$CLI" predict --model "$T/r.dfm" "$one" >/dev/null 2>"$T/ref.err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "mb.tflite" "$T/ref.err" || fail "--backbone-ref model without its file: $(cat "$T/ref.err")"

# Usage and data errors: one line, non-zero, no model file.
set +e
"$CLI" train --data "$T/nowhere" --backbone tflite --weights "$W" --out "$T/x.dfm" 2>"$T/e1"; rc1=$?
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --out "$T/x.dfm" --epochs zero 2>"$T/e2"; rc2=$?
set -e
[ $rc1 -eq 1 ] && [ "$(wc -l <"$T/e1")" -eq 1 ] && grep -q nowhere "$T/e1" || fail "missing folder: $(cat "$T/e1")"
[ $rc2 -eq 2 ] && grep -q -- "--epochs" "$T/e2" || fail "bad --epochs: $(cat "$T/e2")"
[ ! -e "$T/x.dfm" ] || fail "a failed run left a model"

# An explicit --val-split holds out training photos even next to a
# validation folder (the 106 closet photos: 86 + 20), and says so.
"$CLI" train --data "$DATA/train" --val-split 0.2 --backbone tflite --weights "$W" --precision fp32 \
  --epochs 2 --feature-cache 1 --out "$T/s.dfm" >"$T/split.out" 2>"$T/split.err"
grep -q "86 training / 20 validation photos, 3 classes, 1 augmented variant per photo$" "$T/split.err" ||
  fail "--val-split (and the variants per photo): $(cat "$T/split.err")"
grep -q "validation is not used" "$T/split.err" || fail "--val-split should say the folder is not used"
grep -q "(20 photos)" "$T/split.out" || fail "--val-split evaluation: $(head -1 "$T/split.out")"
# The run's last line says where its time went (the phases around the
# backbone: issue 11's training ratio), the feature pass split in two
# (86 photos x (1 variant + the clean view) + 20 validation photos).
grep -qE "^deepfashion: time [0-9.]+ s: photos scanned [0-9.]+, backbone built [0-9.]+, feature pass [0-9.]+ \(backbone [0-9.]+ for 192 images, photos decoded and augmented [0-9.]+\), head [0-9.]+, calibration [0-9.]+" \
  "$T/split.err" || fail "the time line: $(tail -1 "$T/split.err")"
set +e
"$CLI" train --data "$DATA" --val "$DATA/validation" --val-split 0.2 --backbone tflite --weights "$W" \
  --out "$T/x.dfm" 2>"$T/e3"; rc3=$?
set -e
[ $rc3 -eq 2 ] && grep -q -- "--val-split and --val" "$T/e3" || fail "--val with --val-split: $(cat "$T/e3")"

# --head auto: the 5-fold table on stderr, the choice recorded in the model.
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --epochs 3 \
  --feature-cache 1 --head auto --out "$T/a.dfm" --report "$T/areport" >"$T/auto.out" 2>"$T/auto.err"
grep -q "chose mlp\|chose linear" "$T/areport/report.html" || fail "the report should show the head search"
grep -q "head search: 5-fold cross-validation on the 106 training photos" "$T/auto.err" || fail "no search table"
[ "$(grep -c '^  \(linear\|mlp\)' "$T/auto.err")" -eq 9 ] || fail "9 candidates expected: $(cat "$T/auto.err")"
grep -q "one-standard-error rule: the best mean is" "$T/auto.err" || fail "the rule's line: $(cat "$T/auto.err")"
[ "$(grep -c '<- chosen' "$T/auto.err")" -eq 1 ] || fail "exactly one candidate is chosen"
set +e
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --head auto --lr 1e-3 --out "$T/x.dfm" 2>"$T/e4"; rc4=$?
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --folds 3 --out "$T/x.dfm" 2>"$T/e5"; rc5=$?
set -e
[ $rc4 -eq 2 ] && grep -q -- "drop --lr" "$T/e4" || fail "--head auto with --lr: $(cat "$T/e4")"
[ $rc5 -eq 2 ] && grep -q -- "--folds goes with --head auto" "$T/e5" || fail "--folds alone: $(cat "$T/e5")"

# --precision auto races once per CPU and model: the second run takes the
# remembered choice (DF_CACHE_DIR), says so, and records the same precision.
for run in 1 2; do
  DF_CACHE_DIR="$T/cache" "$CLI" train --data "$DATA" --backbone tflite --weights "$W" --epochs 2 \
    --feature-cache 1 --out "$T/c$run.dfm" >/dev/null 2>"$T/c$run.err"
done
if grep -q "precision auto: .* per batch of " "$T/c1.err"; then
  ls "$T/cache"/precision-auto-*.txt >/dev/null || fail "the race's choice was not remembered"
  grep -q "as raced earlier on this CPU" "$T/c2.err" || fail "the second run raced again: $(cat "$T/c2.err")"
  p1=$(grep -o "features, [a-z0-9]*)" "$T/c1.err") p2=$(grep -o "features, [a-z0-9]*)" "$T/c2.err")
  [ -n "$p1" ] && [ "$p1" = "$p2" ] || fail "the remembered precision differs: '$p1' / '$p2'"
else
  # chosen by rule (AMX) or nothing to choose: nothing measured, nothing kept
  [ ! -d "$T/cache" ] || [ -z "$(ls "$T/cache")" ] || fail "nothing was raced, yet something was remembered"
fi

# Ctrl-C: a checkpoint, a non-zero exit, the old model untouched; --resume finishes.
cp "$T/m.dfm" "$T/keep.dfm"
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --epochs 400 \
  --feature-cache 0 --out "$T/m.dfm" >/dev/null 2>"$T/int.err" &
pid=$!
# Live augmentation runs the backbone every epoch, so the run is still going
# when the signal comes once the first epoch has been reported.
for _ in $(seq 1 600); do
  sleep 0.1
  grep -q "^epoch" "$T/int.err" && break
done
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc -ne 0 ] || fail "an interrupted run must not exit 0"
[ -s "$T/m.dfm.ckpt" ] || fail "no checkpoint after Ctrl-C: $(tail -1 "$T/int.err")"
grep -q "continue with --resume" "$T/int.err" || fail "the message should say how to continue"
cmp -s "$T/m.dfm" "$T/keep.dfm" || fail "the previous model changed"
n=$(sed -n 's/.*interrupted in epoch \([0-9]*\).*/\1/p' "$T/int.err")
[ -n "$n" ] || fail "no epoch in: $(tail -1 "$T/int.err")"
"$CLI" train --data "$DATA" --backbone tflite --weights "$W" --precision fp32 --epochs $((n + 1)) \
  --feature-cache 0 --out "$T/m.dfm" --resume "$T/m.dfm.ckpt" --history "$T/hr.csv" --quiet >/dev/null
[ "$(wc -l <"$T/hr.csv")" -eq $((n + 2)) ] || fail "the resumed history should cover all $((n + 1)) epochs"
[ ! -e "$T/m.dfm.ckpt" ] || fail "the checkpoint should be removed once the resumed run finished"
echo "cli_train: 1 passed, 0 failed"
