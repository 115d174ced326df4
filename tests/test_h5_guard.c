/* The libhdf5 guard: a probe that crashes, hangs, fails or passes in the
 * forked child is reported as such, and the caller survives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "formats/h5_guard.h"

static df_status probe_ok(const char *path, df_error *err) {
    (void)path;
    (void)err;
    return DF_OK;
}

static df_status probe_fails(const char *path, df_error *err) {
    return df_error_set(err, DF_ERR_SHAPE, "%s: layer 3 kernel is (3, 3, 64), expected (3, 3, 64, 64)", path);
}

static df_status probe_crashes(const char *path, df_error *err) {
    (void)path;
    (void)err;
    raise(SIGSEGV);
    return DF_OK;
}

static df_status probe_hangs(const char *path, df_error *err) {
    (void)path;
    (void)err;
    for (;;) pause();
    return DF_OK;
}

static void test_guard_outcomes(void **state) {
    (void)state;
    df_error err;
    assert_int_equal(df_h5_guarded_probe("w.h5", "weights file", probe_ok, 5, &err), DF_OK);

    assert_int_equal(df_h5_guarded_probe("w.h5", "weights file", probe_fails, 5, &err), DF_ERR_SHAPE);
    assert_string_equal(err.message, "w.h5: layer 3 kernel is (3, 3, 64), expected (3, 3, 64, 64)");

    assert_int_equal(df_h5_guarded_probe("w.h5", "weights file", probe_crashes, 5, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "w.h5: corrupt weights file: the HDF5 library crashed"));

    assert_int_equal(df_h5_guarded_probe("w.h5", "model file", probe_hangs, 1, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "w.h5: corrupt model file: the HDF5 library made no progress reading it for 1 s"));
}

/* Writes arg's count bytes, value i % 251 at i, in uneven pieces. */
static df_status child_writes(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    (void)path;
    size_t n = *(const size_t *)arg, done = 0, piece = 1;
    unsigned char buf[100000];
    while (done < n) {
        size_t k = piece < n - done ? piece : n - done;
        for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)((done + i) % 251);
        df_status st = df_h5_sink_write(sink, buf, k, err);
        if (st) return st;
        done += k;
        piece = piece * 7 % sizeof buf + 1;
    }
    return DF_OK;
}

/* Writes half its payload, then fails cleanly. */
static df_status child_writes_then_fails(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    df_status st = child_writes(path, arg, sink, err);
    return st ? st : df_error_set(err, DF_ERR_TOO_LARGE, "%s: weight 7 is too large", path);
}

/* Ends the way a sanitizer does after a memory error: an exit status, no
 * signal, part of a payload written and no report. */
static df_status child_exits_midway(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    df_status st = child_writes(path, arg, sink, err);
    (void)st;
    _exit(1);
}

/* A library that calls exit(0) half-way: a clean exit status, no report. */
static df_status child_exits_zero_midway(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    df_status st = child_writes(path, arg, sink, err);
    (void)st;
    _exit(0);
}

/* Slower than the idle limit in total, never silent for long: 6 pieces of
 * 70,000 bytes (each bigger than the sink's buffer, so each is sent at
 * once), 0.4 s apart. */
static df_status child_slow_but_steady(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    (void)path;
    (void)arg;
    static unsigned char piece[70000];
    for (int k = 0; k < 6; k++) {
        memset(piece, k, sizeof piece);
        df_status st = df_h5_sink_write(sink, piece, sizeof piece, err);
        if (st) return st;
        usleep(400000);
    }
    return DF_OK;
}

/* Writes a little, then goes silent. */
static df_status child_stalls(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    df_status st = child_writes(path, arg, sink, err);
    (void)st;
    for (;;) pause();
    return DF_OK;
}

static void test_guard_payload(void **state) {
    (void)state;
    df_error err;
    unsigned char *out;
    size_t size;
    const size_t sizes[] = {0, 1, 65535, 65536, 65537, 3 << 20};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t n = sizes[t];
        /* A cap of exactly n is enough; one byte less is not. */
        assert_int_equal(df_h5_guarded_run("w.h5", "weights file", child_writes, &n, 5, n, &out, &size, &err), DF_OK);
        assert_int_equal(size, n);
        assert_true(n ? out != NULL : out == NULL);
        for (size_t i = 0; i < n; i++)
            if (out[i] != (unsigned char)(i % 251)) fail_msg("byte %zu of %zu differs", i, n);
        free(out);
        if (n) {
            assert_int_equal(df_h5_guarded_run("w.h5", "weights file", child_writes, &n, 5, n - 1, &out, &size, &err),
                             DF_ERR_FORMAT);
            assert_null(out);
            assert_non_null(strstr(err.message, "w.h5: corrupt weights file: it decodes to more than"));
        }
    }
    size_t n = 200000;
    assert_int_equal(
        df_h5_guarded_run("w.h5", "weights file", child_writes_then_fails, &n, 5, n, &out, &size, &err),
        DF_ERR_TOO_LARGE);
    assert_null(out);
    assert_string_equal(err.message, "w.h5: weight 7 is too large");

    assert_int_equal(df_h5_guarded_run("w.h5", "weights file", child_exits_midway, &n, 5, n, &out, &size, &err),
                     DF_ERR_FORMAT);
    assert_null(out);
    assert_string_equal(err.message, "w.h5: corrupt weights file: reading it failed abnormally (exit status 1)");

    assert_int_equal(
        df_h5_guarded_run("w.h5", "weights file", child_exits_zero_midway, &n, 5, n, &out, &size, &err),
        DF_ERR_FORMAT);
    assert_null(out);
    assert_string_equal(err.message, "w.h5: corrupt weights file: reading it failed abnormally (exit status 0)");

    /* Progress resets the clock; silence ends it, one idle limit after the
     * last byte (checked with a bound far above that: 10 s for 1 s). */
    assert_int_equal(df_h5_guarded_run("w.h5", "weights file", child_slow_but_steady, NULL, 1, 6 * 70000, &out,
                                       &size, &err),
                     DF_OK);
    assert_int_equal(size, 6 * 70000);
    free(out);
    double t0 = df_clock_seconds();
    assert_int_equal(df_h5_guarded_run("w.h5", "weights file", child_stalls, &n, 1, n, &out, &size, &err),
                     DF_ERR_FORMAT);
    assert_true(df_clock_seconds() - t0 < 10.0);
    assert_non_null(strstr(err.message, "made no progress reading it for 1 s"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_guard_outcomes), cmocka_unit_test(test_guard_payload)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
