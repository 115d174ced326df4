/*
 * Seed corpus for fuzz_npy: `npy_seeds OUTDIR` writes .npy files: matrices
 * written by the product's own writer (df_npy_write_f32), and hand-made
 * headers for what numpy also writes: a 1-D shape, format versions 2.0 and
 * 3.0, dict keys in another order, and two that must be refused (Fortran
 * order, big-endian floats), so mutations start on both sides of the checks.
 */
#include <stdio.h>
#include <string.h>

#include "formats/npy.h"

/* magic, version, header (padded with spaces to a multiple of 64 and '\n'), data. */
static int write_raw(const char *dir, const char *name, int major, const char *dict,
                     size_t n_floats) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t pre = major == 1 ? 10 : 12;
    size_t len = strlen(dict) + 1;
    size_t total = (pre + len + 63) / 64 * 64;
    size_t hlen = total - pre;
    unsigned char head[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    if (major == 1) {
        head[8] = (unsigned char)(hlen & 0xff);
        head[9] = (unsigned char)(hlen >> 8);
    } else {
        head[8] = (unsigned char)(hlen & 0xff);
        head[9] = (unsigned char)(hlen >> 8);
        head[10] = head[11] = 0;
    }
    fwrite(head, 1, pre, f);
    fputs(dict, f);
    for (size_t i = strlen(dict); i + 1 < hlen; i++) fputc(' ', f);
    fputc('\n', f);
    for (size_t i = 0; i < n_floats; i++) {
        float v = (float)i * 0.5f - 1.0f;
        fwrite(&v, sizeof v, 1, f);
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: npy_seeds OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    float m[5 * 7];
    for (int i = 0; i < 5 * 7; i++) m[i] = (float)i / 7.0f - 2.0f;
    const size_t shapes[][2] = {{5, 7}, {1, 1}, {7, 5}, {0, 3}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/m%zux%zu.npy", dir, shapes[k][0], shapes[k][1]);
        df_error err;
        if (df_npy_write_f32(path, shapes[k][0], shapes[k][1], m, &err) != DF_OK) {
            fprintf(stderr, "npy_seeds: %s\n", err.message);
            rc = 1;
        }
    }
    rc |= write_raw(dir, "vec.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 6);
    rc |= write_raw(dir, "v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 6);
    rc |= write_raw(dir, "v3.npy", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 6);
    rc |= write_raw(dir, "order.npy", 1, "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}", 4);
    rc |= write_raw(dir, "fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 6);
    rc |= write_raw(dir, "bigendian.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 6);
    return rc ? 1 : 0;
}
