/*
 * The one fitting loop: an epoch of head updates over a feature source.
 * df_train and the k-fold head search (model_select.c) both run it, so the
 * epoch order, the variant draws, the BatchNorm batch-of-one rule and the
 * dropout stream are written once.
 *
 * An epoch (Keras' fit, SPEC 1-4):
 *   order   = df_epoch_order(count, seed, epoch): a seeded permutation
 *   batches = contiguous slices of it, the last one partial; plan->batches
 *             of them (steps_per_epoch may make that fewer than cover it)
 *   batch b = the source's features for its photos, then one head step
 *             (forward, backward, Adam) with dropout stream (seed, b, epoch)
 *
 * Feature sources:
 *   cached - each photo's K augmented variants were computed once; each
 *            epoch draws one per photo from stream (seed, id, epoch)
 *   live   - photos are augmented (stream key = epoch) on the prefetch
 *            thread and run through the backbone batch by batch
 */
#ifndef DF_TRAIN_FIT_H
#define DF_TRAIN_FIT_H

#include <signal.h>
#include <stdint.h>

#include "backbone/backbone.h"
#include "core/error.h"
#include "data/photo.h"
#include "nn/head.h"
#include "optim/adam.h"

typedef struct df_feature_source df_feature_source;

struct df_feature_source {
    int count;           /* photos served: source indices 0..count-1 */
    size_t feature_dim;
    /* The epoch's positions order[0..positions) (source indices), batches
     * of batch_size from batch b0 on. */
    df_status (*begin_epoch)(df_feature_source *s, int epoch, const int *order, int positions, int batch_size,
                             int b0, df_error *err);
    /* The next batch: pointers to its n feature rows into rows (the
     * source's own rows, or rows it writes into buf, n x feature_dim
     * floats), their labels into labels. */
    df_status (*next_batch)(df_feature_source *s, int n, const float **rows, float *buf, int *labels,
                            df_error *err);
    void (*end_epoch)(df_feature_source *s);
    int standardised;    /* rows already standardised for the head (df_head_standardise) */
};

/* Cached variants: K x n_photos x F floats (variant-major), borrowed.
 * items maps source index -> photo (NULL = identity, count = n_photos);
 * labels are per photo. The variant of each position is drawn from
 * df_rng_seed_for(seed, kind, id, epoch), or (seed, kind, epoch, id) with
 * epoch_first. */
typedef struct df_cached_source {
    df_feature_source base;
    const float *variants;
    float *standardised; /* owned: the variants standardised, or NULL */
    int K, n_photos;
    const int *items, *labels;
    uint64_t seed, kind, id;
    int epoch_first;
    /* per epoch */
    const int *order;
    int pos;
    df_rng pick;
} df_cached_source;

void df_cached_source_init(df_cached_source *s, const float *variants, int K, int n_photos, size_t F,
                           const int *items, int count, const int *labels, uint64_t seed, uint64_t kind,
                           uint64_t id, int epoch_first);
/* Serves the variants standardised with head's statistics (a copy the
 * source owns, made once), so that the fitting loop skips that step in
 * each of its hundreds of passes; a head without standardisation is left
 * as it is. Call after the head's statistics are set; release with
 * df_cached_source_release. */
df_status df_cached_source_standardise(df_cached_source *s, const df_head *head, df_error *err) DF_MUST_CHECK;
void df_cached_source_release(df_cached_source *s);

/* Live augmentation: photos from ps (borrowed), augmented with aug (NULL =
 * plain) and run through bb batch by batch; labels are ps's data set's.
 * batch_size must not exceed df_backbone_max_batch(bb). */
typedef struct df_live_source {
    df_feature_source base;
    df_backbone *bb;
    df_photo_source *photos;
    const df_augment_config *aug;
    uint64_t seed;
    /* per epoch */
    const int *order;
    int pos;
    df_photo_stream *stream;
    /* accounting, accumulated */
    double backbone_seconds;
    long backbone_images;
} df_live_source;

void df_live_source_init(df_live_source *s, df_backbone *bb, df_photo_source *ps, const df_augment_config *aug,
                         uint64_t seed);

typedef struct df_fit_plan {
    int batch_size;
    int batches;                  /* per epoch */
    uint64_t seed;
    const float *class_weights;   /* NULL = unweighted */
    double *head_seconds;         /* accumulates time in head steps; may be NULL */
    volatile sig_atomic_t *stop_flag; /* NULL = never interrupted */
    void (*on_batch)(void *ctx, int epoch, int batch, int batches); /* 1-based, may be NULL */
    void *ctx;
} df_fit_plan;

/* Batches per epoch for n photos: all of them, or steps_per_epoch when
 * that is smaller (and > 0). */
int df_fit_batches(int n, int batch_size, int steps_per_epoch);

/* The running sums of an epoch; a resumed epoch starts from saved ones. */
typedef struct df_epoch_sums {
    int next_batch;      /* first batch to run / the one after the last run */
    double loss_sum;     /* sum over photos of the batch loss */
    long correct, seen;
} df_epoch_sums;

/* Runs batches sums->next_batch .. plan->batches - 1 of epoch (0-based).
 * When *plan->stop_flag is set after a batch that is not the epoch's last,
 * stops there with *interrupted = 1 (sums say where). */
df_status df_fit_epoch(df_head *head, df_adam *adam, df_feature_source *src, const df_fit_plan *plan, int epoch,
                       df_epoch_sums *sums, int *interrupted, df_error *err) DF_MUST_CHECK;

/* How an exact fit ended: L-BFGS's iterations, its largest gradient entry
 * and the tolerance it had to reach (1e-6 on the Gram matrix, 1e-4 on the
 * primal); converged = grad_max <= tol, else the head is the last iterate
 * after the iteration cap (5,000), which the caller should say. */
typedef struct df_exact_fit_report {
    int iterations;
    double grad_max, tol;
    int converged;
    int primal; /* fitted on the primal (more rows than features, or than 4,096) */
} df_exact_fit_report;

/* The other way to fit a linear head (--solver exact, the default recipe's):
 * its kernel and bias set to the optimum of the L2-penalised softmax
 * regression (optim/softmax_exact.h; the penalty is the head's Keras l2,
 * which must be > 0, on the kernel) over all n rows at once, rows already
 * standardised with the head's statistics, labels per row. Instead of
 * epochs of Adam, which stop wherever they stop: on 11,520 region features
 * 1,200 Adam steps end far from this optimum and five points lower on
 * other people's photos (issue 10). No class weights, label smoothing or
 * dropout: the objective has none. *stop non-zero (Ctrl-C) ends it with
 * DF_ERR_INTERRUPTED within an iteration (stop may be NULL). rep (may be
 * NULL) receives how the fit ended. */
df_status df_fit_linear_exact(df_head *head, const float *standardised, const int *labels, int n,
                              const volatile sig_atomic_t *stop, df_exact_fit_report *rep,
                              df_error *err) DF_MUST_CHECK;

/* The rows the cross-validation folds of an exact linear head share: the
 * statistics of all the photos' variants (K x N x F, variant-major; the
 * standardisation df_train gives the head it fits on all of them) and,
 * when the K N rows take the Gram way, the rows standardised and their
 * Gram matrix, of which each fold's is a block: six fits a training (the
 * head and 5 calibration folds) computed five Gram matrices more, n^2 F
 * each, 0.35 s of a core apiece on 400 photos. The held-out photos' features
 * are in the statistics (their labels in nothing): a fold's head is
 * standardised as the final one is. */
typedef struct df_exact_rows df_exact_rows;

df_status df_exact_rows_create(const float *variants, int K, int N, size_t F, df_exact_rows **out,
                               df_error *err) DF_MUST_CHECK;
void df_exact_rows_destroy(df_exact_rows *r);
/* 1 when r was made from these variants (the same array and shape). */
int df_exact_rows_of(const df_exact_rows *r, const float *variants, int K, int N, size_t F);

/* df_fit_linear_exact on the K variants of photos[0..n) of r (labels per
 * photo; photos NULL = all r's N, n = N), with r's standardisation set on
 * head: on a block of r's Gram matrix, or on r's variants standardised
 * into a copy when r has none (the primal way). */
df_status df_fit_linear_exact_photos(df_head *head, const df_exact_rows *r, const int *photos, int n,
                                     const int *photo_labels, const volatile sig_atomic_t *stop,
                                     df_exact_fit_report *rep, df_error *err) DF_MUST_CHECK;

#endif
