/* What the accuracy benches share: the out-of-domain photos (the clothing
 * set mapped to the closet's classes), label arrays, and a feature cache of
 * .npy files so that candidates are compared on the same features. */
#ifndef DF_BENCH_DATA_H
#define DF_BENCH_DATA_H

#include <stddef.h>

#include "core/error.h"
#include "data/dataset.h"

/* shared/datasets/clothing's photos of t-shirt, shirt, longsleeve (-> tops),
 * pants, shorts, skirt (-> bottoms) and shoes, labelled with closet's class
 * indices; from validation/ only, or train/ then validation/ (with_train).
 * The other classes are left out. */
df_status df_bench_mapped_clothing(const char *shared, const df_dataset *closet, int with_train,
                                   df_dataset **out, df_error *err);

/* ds's labels as a malloc'ed array (NULL when out of memory). */
int *df_bench_labels(const df_dataset *ds);

/* cache/<stem>.npy into *x (malloc'ed) when it is there with rows x F
 * floats: 1, else 0. */
int df_bench_cache_read(const char *cache, const char *stem, size_t rows, size_t F, float **x);
/* Writes cache/<stem>.npy, making the cache folder when needed. */
df_status df_bench_cache_write(const char *cache, const char *stem, size_t rows, size_t F, const float *x,
                               df_error *err);

#endif
