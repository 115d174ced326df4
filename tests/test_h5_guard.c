/* The libhdf5 guard: a probe that crashes, hangs, fails or passes in the
 * forked child is reported as such, and the caller survives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

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
    assert_non_null(strstr(err.message, "did not finish reading it in 1 s"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_guard_outcomes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
