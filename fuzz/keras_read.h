/*
 * Shared by the Keras fuzz targets: reads weight (i, j), whose shape is
 * (rank, dims), with that shape and then with a wrong first dimension,
 * which must fail. Weights of more than 1M values are skipped to keep
 * each input fast (DF_ERR_TOO_LARGE, "skipped"). Returns the status of the
 * read with the right shape; err holds its message.
 */
#ifndef DF_FUZZ_KERAS_READ_H
#define DF_FUZZ_KERAS_READ_H

#include <stdlib.h>
#include <string.h>

#include "formats/keras_h5.h"

static df_status fuzz_read_weight(df_keras_h5 *f, int i, int j, int rank, const size_t *dims, df_error *err) {
    if (rank < 0 || rank > DF_KERAS_H5_MAX_RANK) __builtin_trap();
    char text[256];
    df_keras_h5_format_shape(rank, dims, text, sizeof text);
    size_t elems = 1;
    for (int k = 0; k < rank; k++) {
        if (dims[k] && elems > ((size_t)1 << 20) / dims[k]) return df_error_set(err, DF_ERR_TOO_LARGE, "skipped");
        elems *= dims[k];
    }
    float *out = malloc((elems + 1) * sizeof *out);
    if (!out) return df_error_set(err, DF_ERR_TOO_LARGE, "skipped");
    df_status st = df_keras_h5_read(f, i, j, rank, dims, out, err);
    if (rank > 0) {
        size_t wrong[DF_KERAS_H5_MAX_RANK];
        memcpy(wrong, dims, (size_t)rank * sizeof *dims);
        wrong[0] = dims[0] ? dims[0] - 1 : 1;
        df_error ignored;
        if (df_keras_h5_read(f, i, j, rank, wrong, out, &ignored) == DF_OK) __builtin_trap();
    }
    free(out);
    return st;
}

#endif
