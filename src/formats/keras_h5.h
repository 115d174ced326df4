/*
 * Keras HDF5 weight files (model.save_weights / keras.applications "notop"
 * files), read the way Keras' load_weights reads them: by ORDER.
 *
 * Layout (SPEC 3): the root (or /model_weights in a whole-model file) has
 * the attribute layer_names (fixed- or variable-length strings, pools
 * included); each layer's group has weight_names (empty for layers without
 * weights); weight datasets are found by those names relative to the group,
 * either directly ("block1_conv1_W_1:0") or as a path ("block1_conv1/kernel:0").
 *
 *     df_keras_h5 *f; df_keras_h5_open(path, &f, err);
 *     n = df_keras_h5_weighted_count(f);            // layers with weights, in file order
 *     df_keras_h5_read(f, i, j, rank, dims, buf, err); // checks the shape, reads as fp32
 *
 * libhdf5 reads the file only in forked children (open: names and shapes;
 * first read: every weight's values), so a damaged file that crashes or
 * hangs libhdf5 costs a one-line error, never the caller's process.
 *
 * Not supported: weight lists split over several attributes (layer_names0,
 * layer_names1...; only needed past 64 KiB of names), non-float datasets.
 * Every failure is a one-line df_error naming the file and the layer.
 */
#ifndef DF_FORMATS_KERAS_H5_H
#define DF_FORMATS_KERAS_H5_H

#include <stddef.h>

#include "core/error.h"

#define DF_KERAS_H5_MAX_RANK 8

typedef struct df_keras_h5 df_keras_h5;

df_status df_keras_h5_open(const char *path, df_keras_h5 **out, df_error *err) DF_MUST_CHECK;
void df_keras_h5_close(df_keras_h5 *f);

const char *df_keras_h5_path(const df_keras_h5 *f);
/* All entries of layer_names, pools included. */
int df_keras_h5_layer_count(const df_keras_h5 *f);
/* Layers with a non-empty weight_names, in file order; i indexes these. */
int df_keras_h5_weighted_count(const df_keras_h5 *f);
const char *df_keras_h5_weighted_name(const df_keras_h5 *f, int i);
int df_keras_h5_weight_count(const df_keras_h5 *f, int i);
const char *df_keras_h5_weight_name(const df_keras_h5 *f, int i, int j);

/* Shape of weight j of weighted layer i, or why it has none (a missing or
 * non-float dataset). */
df_status df_keras_h5_weight_shape(df_keras_h5 *f, int i, int j, int *rank, size_t dims[DF_KERAS_H5_MAX_RANK],
                                   df_error *err) DF_MUST_CHECK;
/* Reads weight j of weighted layer i into out (prod(dims) floats, row-major
 * as stored) after checking that its shape is exactly (rank, dims). */
df_status df_keras_h5_read(df_keras_h5 *f, int i, int j, int rank, const size_t *dims, float *out,
                           df_error *err) DF_MUST_CHECK;

/* The two halves of open and the first read without the children: a
 * names-and-shapes report, then the values report, as the children write
 * them (see keras_h5.c). They are parsed as untrusted input (they come from
 * a process a damaged file may have corrupted); exposed for the fuzzer.
 * attach_data takes data (malloc) in every case; its failure sticks to
 * every later read, as a failed load does. */
df_status df_keras_h5_from_report(const char *path, const unsigned char *report, size_t size, df_keras_h5 **out,
                                  df_error *err) DF_MUST_CHECK;
df_status df_keras_h5_attach_data(df_keras_h5 *f, unsigned char *data, size_t size, df_error *err) DF_MUST_CHECK;

/* "(3, 3, 64, 128)" into buf. */
void df_keras_h5_format_shape(int rank, const size_t *dims, char *buf, size_t size);

#endif
