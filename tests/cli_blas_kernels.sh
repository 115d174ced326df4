#!/usr/bin/env bash
# The CLI runs OpenBLAS's kernels for this CPU (cli/main.c): where OpenBLAS
# picked an older set (0.3.21 gives a CPU model newer than its table the SSE3
# "Prescott" kernels), the CLI restarts itself once with OPENBLAS_CORETYPE
# set, for the commands that fit heads (train, audit; `train --help` is
# enough to see it). OPENBLAS_VERBOSE=2 makes OpenBLAS print its core each
# time it loads, so the last line is the set the run used.
set -u
CLI=${DF_CLI:-deepfashion}
fail() { echo "FAIL: $*" >&2; exit 1; }
core() { env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$@" "$CLI" train --help 2>&1 | sed -n 's/^Core: //p' | tail -1; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { case " $flags " in *" $1 "*) return 0 ;; esac; return 1; }
if ! has avx2 || ! has fma; then
  echo "cli_blas_kernels: skipped (this CPU has no AVX2 + FMA)"
  exit 77
fi
c=$(core)
case "$c" in
  Haswell | Zen | Excavator | SkylakeX | Cooperlake | SapphireRapids) ;;
  *) fail "OpenBLAS runs its '$c' kernels on a CPU with AVX2 + FMA" ;;
esac
# Capped to AVX2: no AVX-512 in OpenBLAS either.
c=$(core DF_CPU_ISA=avx2)
case "$c" in Haswell | Zen | Excavator) ;; *) fail "DF_CPU_ISA=avx2 runs OpenBLAS's '$c' kernels" ;; esac
# The user's own choice stands, with no restart (one load, one line).
out=$(OPENBLAS_CORETYPE=Prescott OPENBLAS_VERBOSE=2 "$CLI" train --help 2>&1)
[ "$(printf '%s\n' "$out" | grep -c '^Core: ')" -eq 1 ] && printf '%s\n' "$out" | grep -q '^Core: Prescott' ||
  fail "OPENBLAS_CORETYPE=Prescott was not kept: $out"
printf '%s\n' "$out" | grep -q "^usage: deepfashion train" || fail "train --help after the restart: $out"
# Other commands never restart (one load, one line).
[ "$(env -u OPENBLAS_CORETYPE OPENBLAS_VERBOSE=2 "$CLI" --version 2>&1 | grep -c '^Core: ')" -eq 1 ] ||
  fail "--version restarted"
echo "cli_blas_kernels: 1 passed, 0 failed"
