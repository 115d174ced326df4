/*
 * NumPy .npy files of float32 matrices: what `deepfashion features` writes
 * and what tests (and the fuzzer) read back.
 *
 * Writer: format version 1.0, descr '<f4', fortran_order False, shape
 * (rows, cols); the header is padded with spaces and a final '\n' so the
 * data starts at a multiple of 64 bytes, exactly as numpy.save does. The
 * file is written atomically (temp file + rename), whole or not at all; a
 * streaming form lets large outputs be written row block by row block.
 *
 * Reader: versions 1.0, 2.0 and 3.0, little-endian float32 only, C order,
 * 1-D (n,) or 2-D (rows, cols) shapes; the data size must match the header
 * exactly. Every length is bounds-checked (df_npy_parse works on memory).
 */
#ifndef DF_FORMATS_NPY_H
#define DF_FORMATS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/fileio.h"

/* Whole matrix at once. */
df_status df_npy_write_f32(const char *path, size_t rows, size_t cols, const float *data,
                           df_error *err) DF_MUST_CHECK;

/* Streaming: begin writes the header for rows x cols, append adds whole rows,
 * finish checks that exactly rows rows came and commits; abort (safe after
 * finish or a failure) removes the temp file. */
typedef struct df_npy_writer {
    df_atomic_file af;
    size_t rows, cols, written;
    int open;
} df_npy_writer;

df_status df_npy_begin(df_npy_writer *w, const char *path, size_t rows, size_t cols,
                       df_error *err) DF_MUST_CHECK;
df_status df_npy_append(df_npy_writer *w, const float *data, size_t rows, df_error *err) DF_MUST_CHECK;
df_status df_npy_finish(df_npy_writer *w, df_error *err) DF_MUST_CHECK;
void df_npy_abort(df_npy_writer *w);

/* Header bytes (magic through '\n') for rows x cols; returns its length
 * (a multiple of 64), or 0 if buf is too small (128 bytes always suffice). */
size_t df_npy_header(size_t rows, size_t cols, char *buf, size_t size);

typedef struct df_npy {
    size_t rows, cols; /* a 1-D array reads as rows = n, cols = 1 */
    int ndim;
    float *data;       /* rows * cols floats, malloc'ed, owned */
} df_npy;

/* name is used in messages only. */
df_status df_npy_parse(const uint8_t *buf, size_t size, const char *name, df_npy *out,
                       df_error *err) DF_MUST_CHECK;
df_status df_npy_read(const char *path, df_npy *out, df_error *err) DF_MUST_CHECK;
void df_npy_free(df_npy *a);

#endif
