/*
 * Where a photo becomes a network input, for everything that feeds a
 * backbone (training, the head search, evaluate, predict, the API, the
 * report, audit):
 *
 *   file -> decode (libjpeg-turbo DCT scaling) -> EXIF orientation
 *        -> resize to the backbone's input -> [augment] -> preprocess
 *
 * and the backbone passes over many photos built on it. Decoding and
 * augmentation run on a prefetch thread while the backbone runs the previous
 * batch when the backbone's threads leave a core free, else on the
 * backbone's own threads between its calls (photo.c says why). Batches are
 * df_backbone_max_batch photos (the size the network is shaped for), the
 * last one shorter, so no backbone time goes to padding.
 */
#ifndef DF_DATA_PHOTO_H
#define DF_DATA_PHOTO_H

#include <signal.h>
#include <stdint.h>

#include "augment/augment.h"
#include "backbone/backbone.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/dataset.h"

/* One photo, decoded with DCT scaling, EXIF-oriented, resized to bb's
 * input (NEAREST sees the full-resolution pixels, as Keras does). */
df_status df_photo_load(const df_backbone *bb, const char *path, df_resize_method resize, df_image *out,
                        df_error *err) DF_MUST_CHECK;

/* The resolved resize method: resize >= 0 as given, -1 = the backbone's own. */
df_resize_method df_photo_resize(const df_backbone *bb, int resize);

/* The photos of a data set, decoded and resized, kept in memory up to
 * budget bytes (beyond it they are decoded again each time: bounded
 * memory on big folders). Borrows ds and bb. */
typedef struct df_photo_source df_photo_source;

df_status df_photo_source_create(const df_dataset *ds, const df_backbone *bb, df_resize_method resize,
                                 size_t budget, df_photo_source **out, df_error *err) DF_MUST_CHECK;
void df_photo_source_destroy(df_photo_source *ps);
const df_dataset *df_photo_source_dataset(const df_photo_source *ps);

/* What one pass over photos feeds the backbone. */
typedef struct df_photo_pass {
    const int *order;   /* photo index per position; NULL = 0..count-1 */
    int count;          /* positions (of each variant) */
    int batch;          /* photos per backbone call; 0 = df_backbone_max_batch */
    /* Augmentation (NULL = plain photos): photo i at this pass is warped
     * with parameters from stream df_rng_seed_for(seed, DF_STREAM_AUGMENT,
     * i, aug_key), so the result does not depend on timing or position. */
    const df_augment_config *augment;
    uint64_t seed;
    uint64_t aug_key;
    /* Several variants of the same positions in one pass, so that only the
     * last batch is part-filled (a backbone shaped for B images computes B
     * whatever it is given): 0 or 1 = one; else count x variants positions,
     * variant v of position p at v * count + p, keyed aug_key + v, and the
     * last variant plain (no augmentation) when plain_last. */
    int variants;
    int plain_last;
    /* Plain photos after the variants, one position each: photos
     * extra_first .. extra_first + extra - 1 of the source at positions
     * count x variants onwards (e.g. the validation photos, which then
     * fill the variants' last batch instead of a pass of their own). */
    int extra, extra_first;
    /* Checked between batches: a set flag ends the pass with
     * DF_ERR_INTERRUPTED. NULL = never. */
    volatile sig_atomic_t *stop_flag;
    const df_progress *progress; /* may be NULL */
    const char *what;            /* progress label */
    /* Several passes shown as one bar: done counts start at progress_base
     * out of progress_total (0 = this pass's count). */
    long progress_base, progress_total;
} df_photo_pass;

/* Inputs of a pass, batch by batch. */
typedef struct df_photo_stream df_photo_stream;

df_status df_photo_stream_start(df_photo_source *ps, const df_photo_pass *pass, df_photo_stream **out,
                                df_error *err) DF_MUST_CHECK;
/* The next batch's inputs (valid until the next call; the backbone's
 * preprocessed floats, or its pixels where df_backbone_takes_pixels) and
 * how many photos it holds. */
df_status df_photo_stream_next(df_photo_stream *s, const void **inputs, int *n, df_error *err) DF_MUST_CHECK;
/* bb (the source's backbone) on a batch df_photo_stream_next gave:
 * features, n x feature_dim. */
df_status df_photo_stream_run(df_photo_stream *s, df_backbone *bb, const void *inputs, int n, float *features,
                              df_error *err) DF_MUST_CHECK;
void df_photo_stream_stop(df_photo_stream *s); /* accepts NULL */

/* Runs every position of pass through bb: features row pos (count x
 * variants + extra rows of F).
 * *backbone_seconds (if not NULL) accumulates the time inside the backbone. */
df_status df_photo_pass_run(df_backbone *bb, df_photo_source *ps, const df_photo_pass *pass, float *features,
                            double *backbone_seconds, df_error *err) DF_MUST_CHECK;

/* The plain (un-augmented) features of every photo of ds, in order:
 * *features = ds->count x F floats, the caller frees. */
df_status df_photo_features(df_backbone *bb, const df_dataset *ds, df_resize_method resize,
                            const df_progress *progress, float **features, df_error *err) DF_MUST_CHECK;

#endif
