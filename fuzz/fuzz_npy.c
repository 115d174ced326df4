/*
 * libFuzzer target for the .npy reader (formats/npy.c) through the entry
 * point the file reader uses, df_npy_parse; what parses is written back
 * with df_npy_header and parsed again, which must give the same shape.
 *
 * Not built by CMake. Build from the repository root and run on a seed
 * corpus of small .npy files (e.g. written by `deepfashion features`):
 *   SRCS="fuzz/fuzz_npy.c src/formats/npy.c $(ls src/core/[a-z]*.c)"
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc $SRCS -lm -o fuzz_npy
 *   ./fuzz_npy -max_total_time=60 -max_len=4096 corpus/
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
