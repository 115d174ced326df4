/*
 * Writes Keras-layout HDF5 weight files for tests (what h5py does when
 * Keras saves weights): root attribute layer_names, one group per layer
 * with attribute weight_names, float32 datasets at those names relative to
 * the group (a name with '/' creates the subgroup, as newer Keras does).
 */
#ifndef DF_TEST_H5_FIXTURE_H
#define DF_TEST_H5_FIXTURE_H

#include <stddef.h>

typedef struct h5fx_weight {
    const char *name;
    int rank;
    size_t dims[4];
    const float *data; /* NULL: the dataset is created but never written (no space used) */
} h5fx_weight;

typedef struct h5fx_layer {
    const char *name;
    int n; /* 0 for pools */
    h5fx_weight w[2];
    const char *listed[2]; /* when set, written to weight_names instead of w[j].name */
} h5fx_layer;

typedef struct h5fx_options {
    int vlen_strings;   /* variable-length UTF-8 names (h5py str) instead of fixed 'S' */
    int empty_as_float; /* empty weight_names as a float64 (0,) array, as Keras' [] becomes */
    const char *no_group_for; /* listed in layer_names but its group is not written */
    int no_layer_names; /* omit the root attribute (a "foreign" HDF5 file) */
} h5fx_options;

/* Returns 0 on success. */
int h5fx_write_keras(const char *path, const h5fx_layer *layers, int n, const h5fx_options *o);

#endif
