/*
 * Data sets from a folder tree (SPEC 1): root/<class>/.../<image>.
 *
 * Matches keras-preprocessing 1.1.2's flow_from_directory listing: classes
 * are the immediate subfolders sorted by byte order ("Z" before "a"), class
 * index = position; files are found recursively, in os.walk order sorted
 * the way Keras sorts it (by folder path, then by file name, bytewise), and
 * the items of class 0 come first, then class 1, ...
 *
 * Differences from Keras, on purpose: nothing is skipped silently. Every file
 * (or folder) left out is recorded with a reason: "hidden file", "hidden
 * folder", "not in a class folder", "unsupported type .heic", "unsupported
 * format .tif" (Keras accepts ppm/tif/tiff; we cannot decode them),
 * "not a regular file (FIFO)", "empty file", "too large: ...",
 * "unreadable: <strerror>", "corrupt: <decoder message>", "broken symlink",
 * "symlink loop", "folder already scanned as <path>". Symlinks are followed
 * (a loop is detected by device/inode, never followed twice); hidden
 * entries (name starting with '.') are skipped, where Keras would even make
 * ".ipynb_checkpoints" a class. With verify on (the default) each candidate
 * is decoded once (at JPEG's smallest DCT scale, so cheap) and a file
 * that does not decode is skipped, not found later in training.
 *
 * File names are bytes: nothing here assumes UTF-8 (see data/text.h for
 * printing them).
 *
 * Batching (SPEC 1), for the training loop: an epoch visits
 * df_epoch_order(n, seed, epoch); batch b is the contiguous slice
 * order[b * B .. min((b + 1) * B, n)), so there are df_batch_count(n, B)
 * batches and the last one is partial when B does not divide n.
 */
#ifndef DF_DATA_DATASET_H
#define DF_DATA_DATASET_H

#include <stdint.h>

#include "core/error.h"

typedef struct df_dataset_item {
    char *path;  /* root/<class>/...; owned */
    int label;   /* class index */
} df_dataset_item;

typedef struct df_skipped_file {
    char *path;    /* owned */
    char *reason;  /* owned, one line, no path in it */
    int label;     /* class folder it was found in, or -1 (root level) */
} df_skipped_file;

typedef struct df_dataset {
    char *root;            /* scanned folder; NULL when built from paths */
    int num_classes;
    char **class_names;    /* [num_classes], owned */
    int *class_counts;     /* [num_classes] items per class */
    int count;
    df_dataset_item *items;  /* [count], grouped by class in index order */
    int num_skipped;
    df_skipped_file *skipped;  /* [num_skipped], sorted by path (bytewise) */
} df_dataset;

typedef struct df_scan_options {
    int verify;          /* decode every candidate; default 1 */
    int probe_size;      /* decode hint for verify: JPEG DCT scaling stays >= this; default 1 (1/8) */
    int64_t max_pixels;  /* decoder's cap on header dimensions; default: the image module's */
    int require_usable;  /* default 1: fail with DF_ERR_DATA unless df_dataset_check passes */
    int threads;         /* decoding threads for verify; 0 = all cores */
} df_scan_options;

df_scan_options df_scan_options_default(void);

/* Scans root. On DF_OK *out is owned by the caller (df_dataset_free).
 * Errors (DF_ERR_DATA, message names the folder): missing root, root not a
 * folder, and (with require_usable) what df_dataset_check refuses. opt may
 * be NULL for the defaults. */
df_status df_dataset_scan(const char *root, const df_scan_options *opt, df_dataset **out,
                          df_error *err) DF_MUST_CHECK;

/* Every photo under root, recursively, for prediction: the same walk,
 * type checks and skip reasons as df_dataset_scan, but root's own files
 * count too and there are no classes (num_classes 0, every label -1).
 * Items are sorted by folder path, then file name (bytewise). A root that
 * is a file is an error (callers pass files directly). With opt->verify
 * each photo is decoded once and one that does not decode is skipped;
 * prediction passes verify 0 and reports such a file when it reaches it. */
df_status df_dataset_scan_tree(const char *root, const df_scan_options *opt, df_dataset **out,
                               df_error *err) DF_MUST_CHECK;

/* A usable training set: at least two classes, each with an image.
 * "<root>: needs at least two class folders, found 1: shoes",
 * "<root>/shoes: class 'shoes' has no usable image (3 skipped)". */
df_status df_dataset_check(const df_dataset *ds, df_error *err) DF_MUST_CHECK;

/* A data set from explicit paths (no file access), e.g. for tests. Items keep
 * the given order; labels must be in [0, num_classes). */
df_status df_dataset_from_paths(int num_classes, const char *const *class_names, int n,
                                const char *const *paths, const int *labels, df_dataset **out,
                                df_error *err) DF_MUST_CHECK;

/* Accepts NULL and half-built data sets. */
void df_dataset_free(df_dataset *ds);

/* A separate validation folder must list the same classes in the same order
 * as the training folder, or labels would silently mean different things
 * (Keras does not check). DF_ERR_DATA naming the first difference. */
df_status df_dataset_same_classes(const df_dataset *train, const df_dataset *val,
                                  df_error *err) DF_MUST_CHECK;

/* Re-labels ds in terms of another class list (a model's): every class of
 * ds must be among names (DF_ERR_DATA naming the first that is not); ds
 * then has exactly those classes in that order, with zero counts for the
 * ones it lacks, and its items' and skipped files' labels follow. */
df_status df_dataset_use_classes(df_dataset *ds, const char *const *names, int n, df_error *err) DF_MUST_CHECK;

/* Class index of name, or -1. */
int df_dataset_class_index(const df_dataset *ds, const char *name);

/* Seeded stratified split for when there is no validation folder: in each
 * class of n images, round(fraction * n) go to validation, but at least one
 * when n >= 2 and never all of them (a class of one stays in training).
 * Which ones: a shuffle from df_rng_seed_for(seed, DF_STREAM_SPLIT, class,
 * 0). Both outputs keep ds's item order and class list; skipped entries are
 * not copied. fraction must be in (0, 1); 0.2 is the usual choice. */
df_status df_dataset_split(const df_dataset *ds, double fraction, uint64_t seed,
                           df_dataset **train, df_dataset **val, df_error *err) DF_MUST_CHECK;

/* idx[0..n) = the permutation for an epoch, from
 * df_rng_seed_for(seed, DF_STREAM_SHUFFLE, epoch, 0). */
void df_epoch_order(int n, uint64_t seed, int epoch, int *idx);

/* Number of batches of size batch (> 0) in an epoch of n: the last is partial. */
static inline int df_batch_count(int n, int batch) { return (n + batch - 1) / batch; }

#endif
