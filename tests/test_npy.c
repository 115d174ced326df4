/*
 * .npy writer and reader: the header byte for byte as numpy.save writes it
 * (format.py: dict repr, spaces, '\n', data at a multiple of 64), round
 * trips, streaming and atomicity, and rejection of damaged or unsupported
 * files with a message naming the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"
#include "formats/npy.h"
#include "support/test_support.h"

static void test_header_matches_numpy(void **state) {
    (void)state;
    char buf[128];
    size_t n = df_npy_header(3, 25088, buf, sizeof buf);
    /* numpy.save(np.zeros((3, 25088), np.float32)) writes exactly this. */
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 25088), }";
    assert_int_equal(n, 128);
    assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
    assert_int_equal((unsigned char)buf[8] | (unsigned char)buf[9] << 8, 118);
    assert_memory_equal(buf + 10, dict, sizeof dict - 1);
    for (size_t i = 10 + sizeof dict - 1; i < 127; i++) assert_int_equal(buf[i], ' ');
    assert_int_equal(buf[127], '\n');
    /* Long shapes still align to 64. */
    n = df_npy_header((size_t)1 << 40, (size_t)1 << 40, buf, sizeof buf);
    assert_int_equal(n % 64, 0);
    assert_int_equal(buf[n - 1], '\n');
    assert_int_equal(df_npy_header(1, 1, buf, 32), 0);
}

static void test_round_trip_and_stream(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *path = df_path_join(dir, "f.npy");
    float m[6] = {1.5f, -2, 3, 4, 5e-30f, -0.0f};
    df_error err;
    assert_int_equal(df_npy_write_f32(path, 2, 3, m, &err), DF_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 128 + 24);
    df_npy a;
    assert_int_equal(df_npy_read(path, &a, &err), DF_OK);
    assert_int_equal(a.rows, 2);
    assert_int_equal(a.cols, 3);
    assert_int_equal(a.ndim, 2);
    assert_memory_equal(a.data, m, sizeof m);
    df_npy_free(&a);

    /* Streaming: rows arrive in two appends; an abort leaves the old file. */
    df_npy_writer w;
    assert_int_equal(df_npy_begin(&w, path, 3, 2, &err), DF_OK);
    assert_int_equal(df_npy_append(&w, m, 2, &err), DF_OK);
    df_npy_abort(&w);
    assert_int_equal(df_npy_read(path, &a, &err), DF_OK);
    assert_int_equal(a.rows, 2); /* still the first file */
    df_npy_free(&a);
    assert_int_equal(df_npy_begin(&w, path, 3, 2, &err), DF_OK);
    assert_int_equal(df_npy_append(&w, m, 2, &err), DF_OK);
    assert_int_not_equal(df_npy_finish(&w, &err), DF_OK); /* one row missing */
    assert_int_equal(df_npy_begin(&w, path, 3, 2, &err), DF_OK);
    assert_int_equal(df_npy_append(&w, m, 2, &err), DF_OK);
    assert_int_not_equal(df_npy_append(&w, m, 2, &err), DF_OK); /* one too many */
    df_npy_abort(&w);
    assert_int_equal(df_npy_begin(&w, path, 3, 2, &err), DF_OK);
    assert_int_equal(df_npy_append(&w, m, 2, &err), DF_OK);
    assert_int_equal(df_npy_append(&w, m + 4, 1, &err), DF_OK);
    assert_int_equal(df_npy_finish(&w, &err), DF_OK);
    assert_int_equal(df_npy_read(path, &a, &err), DF_OK);
    assert_int_equal(a.rows, 3);
    assert_int_equal(a.cols, 2);
    assert_memory_equal(a.data, m, 4 * sizeof(float));
    assert_memory_equal(a.data + 4, m + 4, 2 * sizeof(float));
    df_npy_free(&a);

    /* No temp files left behind. */
    char cmd[600], out[256];
    snprintf(cmd, sizeof cmd, "ls '%s' | wc -l", dir);
    assert_int_equal(df_test_run(cmd, out, sizeof out), 0);
    assert_int_equal(atoi(out), 1);

    char *bad = df_path_join(dir, "no/such/dir/f.npy");
    assert_int_not_equal(df_npy_write_f32(bad, 2, 3, m, &err), DF_OK);
    free(bad);
    df_test_rmtree(dir);
    free(path);
    free(dir);
}

static df_status parse_str(const char *hdr_dict, int version, size_t data_bytes, df_error *err) {
    uint8_t buf[512] = {0};
    size_t dl = strlen(hdr_dict), start = version == 1 ? 10 : 12;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)version;
    buf[8] = (uint8_t)dl;
    memcpy(buf + start, hdr_dict, dl);
    df_npy a;
    df_status st = df_npy_parse(buf, start + dl + data_bytes, "x.npy", &a, err);
    if (!st) df_npy_free(&a);
    return st;
}

static void test_rejects(void **state) {
    (void)state;
    df_error err;
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", 1, 24, &err), DF_OK);
    assert_int_equal(parse_str("{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(6,)}", 1, 24, &err), DF_OK);
    assert_int_equal(parse_str("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 2, 24, &err), DF_OK);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 20, &err),
                     DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "x.npy"));
    assert_non_null(strstr(err.message, "needs 24 data bytes"));
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 28, &err),
                     DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, 48, &err),
                     DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "'<f8'"));
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, 24, &err),
                     DF_ERR_UNSUPPORTED);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1), }", 1, 24, &err),
                     DF_ERR_UNSUPPORTED);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1, 4, &err),
                     DF_ERR_UNSUPPORTED);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", 1,
                               4, &err),
                     DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 1,
                               4, &err),
                     DF_ERR_TOO_LARGE);
    assert_int_equal(parse_str("{'descr': '<f4', 'shape': (2, 3), }", 1, 24, &err), DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 1, 24, &err),
                     DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 1, 24, &err),
                     DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f4 ", 1, 0, &err), DF_ERR_FORMAT);
    assert_int_equal(parse_str("{'descr': '<f4'}", 4, 0, &err), DF_ERR_UNSUPPORTED);

    uint8_t junk[16] = "not numpy at al";
    df_npy a;
    assert_int_equal(df_npy_parse(junk, sizeof junk, "j.npy", &a, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "j.npy"));
    uint8_t longhdr[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff, '{', '}'};
    assert_int_equal(df_npy_parse(longhdr, sizeof longhdr, "h.npy", &a, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "claims 65535 bytes"));
    assert_int_equal(df_npy_parse(longhdr, 5, "h.npy", &a, &err), DF_ERR_FORMAT);
    assert_int_equal(df_npy_read("/nonexistent/f.npy", &a, &err), DF_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_matches_numpy),
        cmocka_unit_test(test_round_trip_and_stream),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
