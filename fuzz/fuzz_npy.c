/*
 * libFuzzer target for the .npy reader (formats/npy.c) through the entry
 * point the file reader uses, df_npy_parse; what parses is written back
 * with df_npy_header and parsed again, which must give the same shape.
 *
 * Built and run by scripts/fuzz.sh SECONDS npy (seeds: fuzz/npy_seeds.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_error err;
    df_npy a;
    if (df_npy_parse(data, size, "<fuzz>", &a, &err) != DF_OK) return 0;
    char hdr[128];
    size_t n = df_npy_header(a.rows, a.cols, hdr, sizeof hdr);
    size_t bytes = a.rows * a.cols * sizeof(float); /* fits: the input held them */
    uint8_t *buf = n ? malloc(n + bytes) : NULL;
    if (buf) {
        memcpy(buf, hdr, n);
        memcpy(buf + n, a.data, bytes);
        df_npy b;
        if (df_npy_parse(buf, n + bytes, "<again>", &b, &err) != DF_OK || b.rows != a.rows || b.cols != a.cols)
            abort();
        df_npy_free(&b);
        free(buf);
    }
    df_npy_free(&a);
    return 0;
}
