#!/usr/bin/env bash
# Medians over several runs of bench/backbone.sh: reads the logs' table rows
# ("| ISA | backbone | batch | auto | fp32 | bf16 | int8 | XNNPACK fp32 / qu8 |
# PyTorch | autocast | ratios |") and prints, per ISA, backbone and batch, the
# median of each time column and two ratios against PyTorch's best fp32 for
# auto, fp32 and int8: the ratio of the medians and the median of the runs'
# own ratios (on a noisy machine they differ; quote both), with the runs'
# range of the latter.
#
#   bench/backbone_medians.sh LOG...
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bench/backbone_medians.sh LOG..." >&2; exit 2; }
grep -h '^| \(avx2\|avx2_vnni\|native\) |' "$@" | awk -F'|' '
function med(s,   a, n, i, j, t) {
  n = split(s, a, " ");
  if (n == 0) return "";
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2;
}
function lo(s,   a, n, i, m) { n = split(s, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
function hi(s,   a, n, i, m) { n = split(s, a, " "); m = a[1]; for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
{
  for (i = 2; i <= NF; i++) { gsub(/^ +| +$/, "", $i) }
  if ($9 == "" || $5 == "") next;          # a row without PyTorch or DeepFashion
  k = $2 " | " $3 " | " $4;
  if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
  runs[k]++;
  split($9, x, " / ");
  t[k, "auto"] = t[k, "auto"] " " $5; t[k, "fp32"] = t[k, "fp32"] " " $6; t[k, "int8"] = t[k, "int8"] " " $8;
  t[k, "xf"] = t[k, "xf"] " " x[1]; t[k, "xq"] = t[k, "xq"] " " x[2]; t[k, "pt"] = t[k, "pt"] " " $10;
  if ($5 != "") r[k, "auto"] = r[k, "auto"] " " $10 / $5;
  if ($6 != "") r[k, "fp32"] = r[k, "fp32"] " " $10 / $6;
  if ($8 != "") r[k, "int8"] = r[k, "int8"] " " $10 / $8;
}
END {
  print "| ISA | backbone | batch | runs | auto | fp32 | int8 | XNNPACK fp32 / qu8 | PyTorch best fp32 | ratio of medians auto / fp32 / int8 | median of the runs ratios auto / fp32 / int8 (range) |";
  print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |";
  for (n = 1; n <= nk; n++) {
    k = order[n]; pt = med(t[k, "pt"]);
    line = "| " k " | " runs[k];
    split("auto fp32 int8", cols, " ");
    for (c = 1; c <= 3; c++) { m = med(t[k, cols[c]]); line = line " | " (m == "" ? "" : sprintf("%.2f", m)) }
    xf = med(t[k, "xf"]); xq = med(t[k, "xq"]);
    line = line " | " (xf == "" ? "" : sprintf("%.2f / %.2f", xf, xq)) " | " sprintf("%.2f", pt) " |";
    for (c = 1; c <= 3; c++) { m = med(t[k, cols[c]]); line = line (c > 1 ? " /" : "") (m == "" ? " -" : sprintf(" %.2fx", pt / m)) }
    line = line " |";
    for (c = 1; c <= 3; c++) {
      s = r[k, cols[c]];
      line = line (c > 1 ? " /" : "") (s == "" ? " -" : sprintf(" %.2fx (%.2f-%.2f)", med(s), lo(s), hi(s)))
    }
    print line " |";
  }
}'
