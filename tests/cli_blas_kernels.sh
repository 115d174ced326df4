#!/usr/bin/env bash
# The CLI runs OpenBLAS's kernels for this CPU (cli/common.c): where OpenBLAS
# picked an older set (0.3.21 gives a CPU model newer than its table the SSE3
# "Prescott" kernels), the CLI restarts itself once with OPENBLAS_CORETYPE
# set, for the runs whose time OpenBLAS matters to: audit, and train with the
# exact fit (the default solver: its Gram matrix and factorisations), an MLP
# head (--head mlp or auto, the original recipe) or VGG16; not a linear head
# trained by Adam, which has its own kernels (a restart is a process start,
# about 18 ms). A train run on a missing folder is enough to see it:
# the options are read, then the run fails. OPENBLAS_VERBOSE=2 makes
# OpenBLAS print its core each time it loads, so the last line is the set the
# run used and the count of lines the number of starts.
set -u
CLI=${DF_CLI:-deepfashion}
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
TRAIN=(train --data "$T/none" --backbone tflite --weights "$T/none.tflite" --out "$T/m.dfm")
core() { env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$@" "$CLI" "${TRAIN[@]}" --head mlp 2>&1 | sed -n 's/^Core: //p' | tail -1; }
starts() { env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "${cap[@]}" "$CLI" "$@" 2>&1 | grep -c '^Core: '; }
cap=()
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
if ! has avx2 || ! has fma; then
  echo "cli_blas_kernels: skipped (this CPU has no AVX2 + FMA)"
  exit 77
fi
native=$(core)
case "$native" in
  Haswell | Zen | Excavator | SkylakeX | Cooperlake | SapphireRapids) ;;
  *) fail "OpenBLAS runs its '$native' kernels on a CPU with AVX2 + FMA" ;;
esac
# Capped to AVX2: no AVX-512 in OpenBLAS either.
c=$(core DF_CPU_ISA=avx2)
case "$c" in Haswell | Zen | Excavator) ;; *) fail "DF_CPU_ISA=avx2 runs OpenBLAS's '$c' kernels" ;; esac
# The user's own choice stands, with no restart (one load, one line).
out=$(OPENBLAS_CORETYPE=Prescott OPENBLAS_VERBOSE=2 "$CLI" "${TRAIN[@]}" --head mlp 2>&1)
[ "$(printf '%s\n' "$out" | grep -c '^Core: ')" -eq 1 ] && printf '%s\n' "$out" | grep -q '^Core: Prescott' ||
  fail "OPENBLAS_CORETYPE=Prescott was not kept: $out"
# After the restart the run goes on as it would have: the missing folder.
printf '%s\n' "$out" | grep -q "$T/none" || fail "train after the restart: $out"
# Where OpenBLAS's own pick is below this CPU, the runs that use it start
# twice; a linear head trained by Adam, --version and --help once. Where OpenBLAS
# picks this CPU's kernels itself (compared with the native pick, not the
# AVX2 one above), the same rule is checked under the AVX2 cap, which wants
# Haswell's kernels where OpenBLAS loaded AVX-512 ones.
picked=$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$CLI" --version 2>&1 | sed -n 's/^Core: //p')
cap=()
if [ "$picked" = "$native" ]; then
  cap=(DF_CPU_ISA=avx2)
  [ "$picked" = "$c" ] && cap=()
fi
if [ "$picked" != "$native" ] || [ ${#cap[@]} -gt 0 ]; then
  for args in "" "--head linear" "--head mlp" "--head auto" "--recipe original" "--backbone vgg16"; do
    # shellcheck disable=SC2086
    [ "$(starts "${TRAIN[@]}" $args)" -eq 2 ] || fail "train $args ${cap[*]} did not restart for OpenBLAS's kernels"
  done
  [ "$(starts audit --help)" -eq 2 ] || fail "audit ${cap[*]} did not restart"
  [ "$(starts "${TRAIN[@]}" --solver adam)" -eq 1 ] || fail "the linear head by Adam restarted for OpenBLAS"
  [ "$(starts "${TRAIN[@]}" --head linear --solver adam)" -eq 1 ] || fail "--head linear --solver adam restarted"
  [ "$(starts train --help)" -eq 1 ] || fail "train --help restarted"
else
  echo "cli_blas_kernels: OpenBLAS picks this CPU's kernels itself, also under the AVX2 cap: the restart rule not checked"
fi
[ "$(starts --version)" -eq 1 ] || fail "--version restarted"
# OpenBLAS's threads, started when it loads, are shut down before any
# command runs (they spin in sched_yield for about 0.1 s otherwise): with
# OpenMP on one thread and OpenBLAS asked for two, a scan that verifies the
# 3,409 photos of ../shared's clothing set runs on one thread throughout.
CLOTHING=${DF_SHARED_DIR:-../shared}/datasets/clothing/train
if [ -d "$CLOTHING" ]; then
  # Without LeakSanitizer's check at exit in the sanitizer build: it stops
  # the process with a tracer task of its own, which the count below saw
  # as a second thread about one run in five (the leaks are every other
  # test's to find).
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=1 "$CLI" scan "$CLOTHING" >/dev/null 2>&1 &
  pid=$!
  # Counted once the scan has read 2 MB of photos (its start reads about
  # 50 KB): before main shuts them down, OpenBLAS's threads exist from its
  # load (about 1 run in 15 of the sanitizer build had one sampled there,
  # 34 ms after the start).
  most=0 samples=0
  while kill -0 "$pid" 2>/dev/null; do
    read_bytes=$(sed -n 's/^rchar: //p' "/proc/$pid/io" 2>/dev/null)
    if [ "${read_bytes:-0}" -gt 2000000 ]; then
      n=$(ls "/proc/$pid/task" 2>/dev/null | wc -l)
      [ "$n" -gt "$most" ] && most=$n
      samples=$((samples + 1))
    fi
    sleep 0.02
  done
  wait "$pid" || fail "scan $CLOTHING failed"
  [ "$samples" -ge 3 ] || fail "the scan was sampled $samples times after its first 2 MB read (too short to check its threads)"
  [ "$most" -eq 1 ] || fail "a scan ran $most threads with OpenMP on one (OpenBLAS's not shut down?)"
else
  echo "cli_blas_kernels: $CLOTHING not found: OpenBLAS's threads at start not checked"
fi
echo "cli_blas_kernels: 1 passed, 0 failed"
