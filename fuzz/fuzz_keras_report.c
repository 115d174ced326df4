/*
 * libFuzzer target for the caller's side of the Keras weights reader
 * (formats/keras_h5.c): the reports its libhdf5 children stream back are
 * parsed as untrusted input, since a damaged file may have corrupted the
 * child that wrote them. Input: [u32 length L][L bytes of names-and-shapes
 * report][the values report]. Every accessor is called, every weight read
 * with its own shape (must work when the values parsed) and with a wrong
 * one (must fail). No fork and no libhdf5 here, so it runs fast and with
 * coverage feedback on all of the parsing code.
 * Built and run by scripts/fuzz.sh (seeds: fuzz/keras_report_seeds.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/keras_h5.h"
#include "keras_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t ml;
    if (size < 4) return 0;
    memcpy(&ml, data, 4);
    if (ml > size - 4) return 0;
    df_error err;
    df_keras_h5 *f;
    if (df_keras_h5_from_report("fuzz.h5", data + 4, ml, &f, &err) != DF_OK) return 0;
    size_t rest = size - 4 - ml;
    unsigned char *values = malloc(rest ? rest : 1);
    if (!values) {
        df_keras_h5_close(f);
        return 0;
    }
    memcpy(values, data + 4 + ml, rest);
    df_status loaded = df_keras_h5_attach_data(f, values, rest, &err);
    (void)df_keras_h5_path(f);
    (void)df_keras_h5_layer_count(f);
    for (int i = 0; i < df_keras_h5_weighted_count(f); i++) {
        (void)strlen(df_keras_h5_weighted_name(f, i));
        for (int j = 0; j < df_keras_h5_weight_count(f, i); j++) {
            (void)strlen(df_keras_h5_weight_name(f, i, j));
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            if (df_keras_h5_weight_shape(f, i, j, &rank, dims, &err) != DF_OK) continue;
            /* A failed load must stick. */
            if (fuzz_read_weight(f, i, j, rank, dims, &err) == DF_OK && loaded != DF_OK) __builtin_trap();
        }
    }
    df_keras_h5_close(f);
    return 0;
}
