#!/usr/bin/env bash
# Builds and runs the libFuzzer targets in fuzz/ (one per parser).
#
#   scripts/fuzz.sh SECONDS [TARGET...]     e.g.  scripts/fuzz.sh 60 image tflite
#
# TARGET is the part after fuzz_ in fuzz/fuzz_<target>.c (default: all). Each
# target is built with clang -fsanitize=fuzzer,address,undefined against the
# library's sources (src/*/*.c minus src/cli, compiled once with
# -fsanitize=fuzzer-no-link into build-fuzz/obj), seeded by
# fuzz/<target>_seeds.c into build-fuzz/corpus-<target> (generated files,
# never committed), and run for SECONDS in libFuzzer's fork mode so that it
# keeps going after a crash. One line per target: executions, crashes,
# timeouts, OOMs, corpus size, and inputs on which libhdf5 faulted inside
# the reader's forked child (contained: a one-line error, not a crash of
# ours; the messages are in build-fuzz/contained-<target>.txt); crash inputs land in
# build-fuzz/artifacts-<target>/, the log in build-fuzz/log-<target>.txt
# (fork mode keeps only the headline of each crash: rerun
# build-fuzz/fuzz_<target> on the artifact for the stack). Exit status 1 when
# any target crashed, hung or ran out of memory.
#
# Environment: CC (default clang), FUZZ_RSS_MB (default 2048), FUZZ_JOBS for
# the build (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
secs=$1; shift
case $secs in ''|*[!0-9]*) usage ;; esac

CC=${CC:-clang}
OUT=build-fuzz
RSS_MB=${FUZZ_RSS_MB:-2048}
JOBS=${FUZZ_JOBS:-$(nproc)}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (install clang and libclang-rt-dev)" >&2; exit 1; }

if [ $# -eq 0 ]; then
    set -- $(ls fuzz/fuzz_*.c | sed 's|fuzz/fuzz_||; s|\.c$||')
fi
for t in "$@"; do
    t=${t#fuzz_}
    [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no fuzz/fuzz_$t.c" >&2; exit 2; }
done

# Same flags and libraries as CMakeLists.txt, plus the sanitizers.
PKGS="libpng libexif cairo hdf5 openblas"
CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer -fopenmp -Wall -Wextra -Wno-unused-parameter"
CFLAGS="$CFLAGS -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DDF_VERSION=\"fuzz\""
CFLAGS="$CFLAGS -Iinclude -Isrc $(pkg-config --cflags $PKGS)"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
LIBS="$(pkg-config --libs $PKGS) -ljpeg -ldnnl -lXNNPACK -lpthreadpool -lcpuinfo -lm -lpthread"

mkdir -p "$OUT/obj"

# Library objects, rebuilt when the source or any header is newer.
newest_header=$(ls -t include/*.h src/*/*.h 2>/dev/null | head -1)
objs=()
pending=()
for src in src/*/*.c; do
    case $src in src/cli/*) continue ;; esac
    obj="$OUT/obj/$(echo "${src#src/}" | tr / _ | sed 's/\.c$/.o/')"
    objs+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
        pending+=("$src:$obj")
    fi
done
if [ ${#pending[@]} -gt 0 ]; then
    echo "building ${#pending[@]} library objects into $OUT/obj" >&2
    export CC CFLAGS SAN
    printf '%s\n' "${pending[@]}" | xargs -P "$JOBS" -I{} sh -c '
        src=${1%%:*}; obj=${1#*:}
        $CC $CFLAGS $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj" || exit 255' _ {}
fi
# A static archive, as CMake builds: objects nothing references are not
# linked (a target pulls in only what it uses, and its libraries). Only
# $objs go in, so a stale object from a deleted source is never linked.
lib="$OUT/libdeepfashion-fuzz.a"
rm -f "$lib"
ar rcs "$lib" "${objs[@]}"

# Seed generators: fuzz/<target>_seeds.c OUTDIR. They link the same
# (instrumented) library, so they can use the product's own writers, and the
# tests' fixture writers (TFLite flatbuffers, Keras HDF5); they get the
# sanitizer runtimes but not libFuzzer.
SEED_SUPPORT="tests/support/tflite_builder.c tests/support/h5_fixture.c"

# Largest input per target (bytes): big enough for the seeds plus growth.
max_len_for() {
    case $1 in
        image) echo 262144 ;;
        npy) echo 4096 ;;
        keras_report) echo 16384 ;;
        *) echo 1048576 ;;
    esac
}

# libFuzzer's per-input limit (s): above the HDF5 guard's 10 s of silence
# per child (formats/h5_guard.h), so that a hang it contains is not filed
# as a timeout of the fuzzer's own process (keras_h5 runs up to 4 children
# per input, model_file 2).
timeout_for() {
    case $1 in
        keras_h5) echo 60 ;;
        model_file) echo 30 ;;
        export) echo 30 ;;
        *) echo 10 ;;
    esac
}

any_crash=0
summary=()
for t in "$@"; do
    t=${t#fuzz_}
    bin="$OUT/fuzz_$t"
    "$CC" $CFLAGS $SAN -fsanitize=fuzzer "fuzz/fuzz_$t.c" "$lib" $LIBS -o "$bin"
    corpus="$OUT/corpus-$t"
    art="$OUT/artifacts-$t"
    log="$OUT/log-$t.txt"
    mkdir -p "$corpus" "$art"
    if [ -f "fuzz/${t}_seeds.c" ]; then
        "$CC" $CFLAGS $SAN -Itests "fuzz/${t}_seeds.c" $SEED_SUPPORT "$lib" $LIBS -o "$OUT/${t}_seeds"
        ASAN_OPTIONS=detect_leaks=0 "$OUT/${t}_seeds" "$corpus"
    else
        echo "fuzz.sh: no fuzz/${t}_seeds.c: starting $t from an empty corpus" >&2
    fi
    nseed=$(ls "$corpus" | wc -l)
    ls "$art" >"$OUT/artifacts-before-$t.txt"
    echo "fuzzing $t for ${secs}s ($nseed corpus files)" >&2
    # fork=1: one worker at a time (the machine is shared), restarted after
    # each crash so one bug does not end the run.
    set +e
    # allocator_may_return_null: libhdf5 mallocs whatever sizes a corrupt
    # header claims and copes with NULL; our code must too. Leaks inside
    # third-party libraries are suppressed as in make sanitize. Faults the
    # HDF5 guard contains in its child are counted through
    # DF_FUZZ_CONTAINED_LOG.
    asan=detect_leaks=1:allocator_may_return_null=1
    # keras_h5: all of libhdf5's work happens in the guard's child, which
    # inherits libFuzzer's malloc limit hook; a single allocation that
    # reaches it would be filed (from the child) as an out-of-memory of the
    # fuzzer's own process. So allocations at or over the limit return NULL
    # instead, as on a small machine; the RSS limit still watches this
    # process, and every allocation of ours is bounded before it is made.
    [ "$t" = keras_h5 ] && asan=$asan:max_allocation_size_mb=$((RSS_MB - 1))
    contained_log="$OUT/contained-$t.txt"
    : >"$contained_log"
    DF_FUZZ_CONTAINED_LOG=$PWD/$contained_log ASAN_OPTIONS=$asan \
    LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 OMP_NUM_THREADS=1 \
    "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -timeout="$(timeout_for "$t")" -rss_limit_mb="$RSS_MB" \
        -max_len="$(max_len_for "$t")" -artifact_prefix="$art/" -print_final_stats=1 \
        "$corpus" >"$log" 2>&1
    rc=$?
    set -e
    # Fork mode prints "#<execs>: cov: .. corp: .. exec/s: .. oom/timeout/crash: a/b/c ..".
    stats=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    execs=$(echo "$stats" | sed -nE 's/^#([0-9]+):.*/\1/p')
    otc=$(echo "$stats" | sed -nE 's|.*oom/timeout/crash: ([0-9]+/[0-9]+/[0-9]+).*|\1|p')
    corp=$(echo "$stats" | sed -nE 's|.* corp: ([0-9]+).*|\1|p')
    IFS=/ read -r ooms timeouts crashes <<<"${otc:-0/0/0}"
    # The last stats line can predate the last crash: count the new artifact
    # files too (crash-/leak-, timeout-, oom- as libFuzzer names them).
    # slow-unit- files are inputs that merely took over 10 s (libFuzzer's
    # -report_slow_units): for the HDF5 targets, the hangs the guard waited
    # out. They are listed, not counted as faults.
    new_files=$(ls "$art" | grep -vxF -f "$OUT/artifacts-before-$t.txt" || true)
    slow=$(printf '%s' "$new_files" | grep -c '^slow-unit-' || true)
    new_files=$(printf '%s' "$new_files" | grep -v '^slow-unit-' || true)
    new_art=$(printf '%s' "$new_files" | grep -c . || true)
    n=$(printf '%s' "$new_files" | grep -cE '^(crash|leak)-' || true)
    [ "$n" -gt "$crashes" ] && crashes=$n
    n=$(printf '%s' "$new_files" | grep -c '^timeout-' || true)
    [ "$n" -gt "$timeouts" ] && timeouts=$n
    n=$(printf '%s' "$new_files" | grep -c '^oom-' || true)
    [ "$n" -gt "$ooms" ] && ooms=$n
    if [ -z "$execs" ]; then
        execs="?"
        crashes="? (no stats: fuzzer exited $rc, see $log)"
        any_crash=1
    elif [ "$crashes" -gt 0 ] || [ "$new_art" -gt 0 ]; then
        any_crash=1
    fi
    contained=$(wc -l <"$contained_log")
    line=$(printf '%-12s executions %-10s crashes %s  timeouts %s  ooms %s  corpus %s  new artifacts %s  contained in the HDF5 child %s  slow inputs %s' \
        "$t" "$execs" "$crashes" "$timeouts" "$ooms" "${corp:-?}" "$new_art" "$contained" "$slow")
    summary+=("$line")
    echo "$line" >&2
done

echo
echo "fuzz summary (${secs}s per target; artifacts in $OUT/artifacts-<target>, logs in $OUT/log-<target>.txt)"
printf '%s\n' "${summary[@]}"
if [ $any_crash -ne 0 ]; then
    echo "reproduce one: $OUT/fuzz_<target> $OUT/artifacts-<target>/crash-<hash>"
    exit 1
fi
