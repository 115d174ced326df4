#!/usr/bin/env bash
# Throughput of predict on a folder of 12 MP EXIF-rotated phone photos,
# side by side with the same job in PIL + PyTorch (bench/torch_predict.py),
# in the same session. Usage: bench/predict_throughput.sh [PHOTOS] [RUNS]
# (default 48 photos, 3 runs; medians reported). Needs the bench packages
# (scripts/setup-bench-deps.sh) and ../shared (the closet photos are
# upscaled to 4000x3000, stored sideways with EXIF Orientation 6, quality 90).
set -euo pipefail
N=${1:-48}
RUNS=${2:-3}
CLI=${DF_CLI:-build/deepfashion}
SHARED=${DF_SHARED_DIR:-../shared}
PY=/usr/bin/python3
W=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
T=$(mktemp -d /tmp/df-throughput-XXXXXX); trap 'rm -rf "$T"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
     "flags: $(grep -m1 flags /proc/cpuinfo | grep -o -E 'avx512f|avx512_bf16|amx_tile' | sort -u | tr '\n' ' ')"
$PY - "$SHARED/datasets/closet/train" "$T/photos" "$N" <<'PYEOF'
import os, sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out)
files = sorted(os.path.join(r, f) for r, _, fs in os.walk(src) for f in fs if f.endswith(".jpg"))[:n]
for i, f in enumerate(files):
    img = Image.open(f).convert("RGB").resize((4000, 3000), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: the upright photo is 3000 x 4000
    img.transpose(Image.Transpose.ROTATE_90).save(os.path.join(out, "IMG_%04d.jpg" % i), quality=90, exif=exif)
PYEOF
echo "$(ls "$T/photos" | wc -l) photos of $(du -sh "$T/photos" | cut -f1)"
"$CLI" train --data "$SHARED/datasets/closet" --backbone tflite --weights "$W" --epochs 2 --quiet \
  --out "$T/m.dfm" >/dev/null
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
ls "$T"/photos/*.jpg >"$T/list"
for r in $(seq 1 "$RUNS"); do
  one=$(secs "$CLI" predict --model "$T/m.dfm" --quiet "$(head -n 1 "$T/list")")
  all=$(secs "$CLI" predict --model "$T/m.dfm" --quiet "$T/photos")
  # 15 photos: below predict's batching threshold (16), so one by one.
  few=$(secs xargs -d '\n' -a <(head -n 15 "$T/list") "$CLI" predict --model "$T/m.dfm" --quiet)
  echo "$N / $all" | bc -l >>"$T/whole"
  echo "($N - 1) / ($all - $one)" | bc -l >>"$T/marginal"
  echo "14 / ($few - $one)" | bc -l >>"$T/onebyone"
  echo "$one" >>"$T/startup"
  $PY bench/torch_predict.py "$T/photos" | sed 's/.*: \([0-9.]*\) photos\/s/\1/' >>"$T/torch"
done
w=$(median <"$T/whole"); m=$(median <"$T/marginal"); o=$(median <"$T/onebyone"); t=$(median <"$T/torch")
printf "deepfashion predict FOLDER, whole command (startup included): %.2f photos/s\n" "$w"
printf "deepfashion predict FOLDER, after startup (streamed in batches of 8): %.2f photos/s\n" "$m"
printf "deepfashion predict 15 photos one by one, after startup: %.2f photos/s\n" "$o"
printf "deepfashion startup + 1 photo: %.2f s\n" "$(median <"$T/startup")"
printf "PIL + PyTorch (jit-frozen fp32, batch 8, model setup excluded): %.2f photos/s\n" "$t"
printf "ratios to PyTorch: folder whole command %.1fx, folder after startup %.1fx, one by one after startup %.1fx\n" \
  "$(echo "$w / $t" | bc -l)" "$(echo "$m / $t" | bc -l)" "$(echo "$o / $t" | bc -l)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
