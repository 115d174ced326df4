/* The fitting loop and its feature sources (see fit.h). */
#include "train/fit.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "optim/softmax_exact.h"

int df_fit_batches(int n, int batch_size, int steps_per_epoch) {
    int batches = df_batch_count(n, batch_size);
    return steps_per_epoch > 0 && steps_per_epoch < batches ? steps_per_epoch : batches;
}

/* ---- cached variants ---- */

static df_status cached_begin(df_feature_source *base, int epoch, const int *order, int positions, int batch_size,
                              int b0, df_error *err) {
    df_cached_source *s = (df_cached_source *)base;
    s->order = order;
    s->pos = b0 * batch_size;
    /* Training's stream is keyed (epoch, id), the folds' (id, epoch): each
     * as it was before the two loops were merged, so seeds give the same
     * runs as before. */
    if (s->epoch_first) df_rng_seed_for(&s->pick, s->seed, s->kind, (uint64_t)epoch, s->id);
    else df_rng_seed_for(&s->pick, s->seed, s->kind, s->id, (uint64_t)epoch);
    /* A resumed epoch replays the draws of the batches already done. */
    for (int k = 0; k < s->pos && k < positions; k++) (void)df_rng_below(&s->pick, (uint32_t)s->K);
    (void)err;
    return DF_OK;
}

static df_status cached_next(df_feature_source *base, int n, const float **rows, float *buf, int *labels,
                             df_error *err) {
    df_cached_source *s = (df_cached_source *)base;
    const size_t F = base->feature_dim;
    const float *cache = s->standardised ? s->standardised : s->variants;
    for (int k = 0; k < n; k++) {
        int j = s->order[s->pos++];
        int i = s->items ? s->items[j] : j;
        int v = (int)df_rng_below(&s->pick, (uint32_t)s->K);
        rows[k] = cache + ((size_t)v * (size_t)s->n_photos + (size_t)i) * F;
        labels[k] = s->labels[i];
    }
    (void)buf;
    (void)err;
    return DF_OK;
}

static void cached_end(df_feature_source *base) { (void)base; }

void df_cached_source_init(df_cached_source *s, const float *variants, int K, int n_photos, size_t F,
                           const int *items, int count, const int *labels, uint64_t seed, uint64_t kind,
                           uint64_t id, int epoch_first) {
    memset(s, 0, sizeof *s);
    s->base = (df_feature_source){.count = count, .feature_dim = F, .begin_epoch = cached_begin,
                                  .next_batch = cached_next, .end_epoch = cached_end};
    s->variants = variants;
    s->K = K;
    s->n_photos = n_photos;
    s->items = items;
    s->labels = labels;
    s->seed = seed;
    s->kind = kind;
    s->id = id;
    s->epoch_first = epoch_first;
}

df_status df_cached_source_standardise(df_cached_source *s, const df_head *head, df_error *err) {
    if (!df_head_has_standardisation(head)) return DF_OK;
    const size_t rows = (size_t)s->K * (size_t)s->n_photos, F = s->base.feature_dim;
    size_t bytes;
    if (!df_size_mul3(rows, F, sizeof(float), &bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "standardised feature cache of %zu rows overflows", rows);
    free(s->standardised);
    s->standardised = malloc(bytes ? bytes : 1);
    if (!s->standardised)
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for the standardised feature cache (%zu MB)",
                            bytes >> 20);
    df_head_standardise(head, s->variants, rows, s->standardised);
    s->base.standardised = 1;
    return DF_OK;
}

void df_cached_source_release(df_cached_source *s) {
    free(s->standardised);
    s->standardised = NULL;
    s->base.standardised = 0;
}

/* ---- live augmentation ---- */

static df_status live_begin(df_feature_source *base, int epoch, const int *order, int positions, int batch_size,
                            int b0, df_error *err) {
    df_live_source *s = (df_live_source *)base;
    s->order = order;
    s->pos = b0 * batch_size;
    if (batch_size > df_backbone_max_batch(s->bb))
        return df_error_set(err, DF_ERR_INTERNAL, "batch of %d photos for a backbone shaped for %d", batch_size,
                            df_backbone_max_batch(s->bb));
    df_photo_pass pass = {.order = order + s->pos, .count = positions - s->pos, .batch = batch_size,
                          .augment = s->aug, .seed = s->seed, .aug_key = (uint64_t)epoch};
    return df_photo_stream_start(s->photos, &pass, &s->stream, err);
}

static df_status live_next(df_feature_source *base, int n, const float **rows, float *feats, int *labels,
                           df_error *err) {
    df_live_source *s = (df_live_source *)base;
    const void *in;
    int got;
    df_status st = df_photo_stream_next(s->stream, &in, &got, err);
    if (st != DF_OK) return st;
    if (got != n) return df_error_set(err, DF_ERR_INTERNAL, "prefetched %d photos, the batch has %d", got, n);
    double t0 = df_clock_seconds();
    st = df_photo_stream_run(s->stream, s->bb, in, n, feats, err);
    s->backbone_seconds += df_clock_seconds() - t0;
    s->backbone_images += n;
    const df_dataset *ds = df_photo_source_dataset(s->photos);
    for (int k = 0; k < n; k++) {
        rows[k] = feats + (size_t)k * base->feature_dim;
        labels[k] = ds->items[s->order[s->pos + k]].label;
    }
    s->pos += n;
    return st;
}

static void live_end(df_feature_source *base) {
    df_live_source *s = (df_live_source *)base;
    df_photo_stream_stop(s->stream);
    s->stream = NULL;
}

void df_live_source_init(df_live_source *s, df_backbone *bb, df_photo_source *ps, const df_augment_config *aug,
                         uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->base = (df_feature_source){.count = df_photo_source_dataset(ps)->count,
                                  .feature_dim = df_backbone_feature_dim(bb), .begin_epoch = live_begin,
                                  .next_batch = live_next, .end_epoch = live_end};
    s->bb = bb;
    s->photos = ps;
    s->aug = aug;
    s->seed = seed;
}

/* ---- the epoch ---- */

df_status df_fit_epoch(df_head *head, df_adam *adam, df_feature_source *src, const df_fit_plan *plan, int epoch,
                       df_epoch_sums *sums, int *interrupted, df_error *err) {
    *interrupted = 0;
    const int N = src->count, B = plan->batch_size;
    const size_t F = src->feature_dim;
    const df_head_config *hc = df_head_get_config(head);
    /* BatchNorm cannot normalise a batch of one (zero variance): such a
     * trailing batch is left out of the epoch's updates. */
    const int skip_single = hc->kind == DF_HEAD_MLP && hc->batchnorm;
    int positions = plan->batches * B < N ? plan->batches * B : N;
    int *order = malloc(sizeof(int) * (size_t)(N ? N : 1));
    int *labels = malloc(sizeof(int) * (size_t)B);
    float *feats = malloc(sizeof(float) * (size_t)B * F);
    const float **rows = malloc(sizeof *rows * (size_t)B);
    if (!order || !labels || !feats || !rows) {
        free(order);
        free(labels);
        free(feats);
        free(rows);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for a batch of %d features", B);
    }
    df_epoch_order(N, plan->seed, epoch, order);
    df_status st = src->begin_epoch(src, epoch, order, positions, B, sums->next_batch, err);
    for (int b = sums->next_batch; st == DF_OK && b < plan->batches; b++) {
        int n = positions - b * B < B ? positions - b * B : B;
        st = src->next_batch(src, n, rows, feats, labels, err);
        if (st != DF_OK) break;
        sums->next_batch = b + 1;
        if (n < 2 && skip_single) continue;
        df_rng drop;
        df_rng_seed_for(&drop, plan->seed, DF_STREAM_DROPOUT, (uint64_t)epoch, (uint64_t)b);
        double loss = 0.0;
        int correct = 0;
        double t0 = df_clock_seconds();
        st = df_head_train_step_rows(head, rows, src->standardised, labels, n, plan->class_weights, adam, &drop,
                                     &loss, &correct, err);
        if (plan->head_seconds) *plan->head_seconds += df_clock_seconds() - t0;
        if (st != DF_OK) break;
        sums->loss_sum += loss * n;
        sums->correct += correct;
        sums->seen += n;
        if (plan->on_batch) plan->on_batch(plan->ctx, epoch + 1, b + 1, plan->batches);
        if (plan->stop_flag && *plan->stop_flag && b + 1 < plan->batches) {
            *interrupted = 1;
            break;
        }
    }
    src->end_epoch(src);
    free(order);
    free(labels);
    free(feats);
    free(rows);
    return st;
}

/* ---- the exact fit ---- */

/* head's kernel and bias, once its configuration allows an exact fit. */
static df_status exact_target(df_head *head, float **W, float **b, df_error *err) {
    const df_head_config *hc = df_head_get_config(head);
    if (hc->kind != DF_HEAD_LINEAR)
        return df_error_set(err, DF_ERR_INVALID_ARG, "the exact fit is for the linear head, not the %s",
                            df_head_kind_name(hc->kind));
    if (!(hc->l2 > 0.0f))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "the exact fit needs an L2 penalty > 0 (without one the optimum of separable "
                            "photos is at infinity); got %g",
                            (double)hc->l2);
    if (hc->label_smoothing > 0.0f)
        return df_error_set(err, DF_ERR_INVALID_ARG, "the exact fit has no label smoothing (use --solver adam)");
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    const int nt = df_head_tensors(head, t);
    *W = *b = NULL;
    for (int k = 0; k < nt; k++) {
        if (!strcmp(t[k].weight, "dense/kernel:0")) *W = t[k].data;
        if (!strcmp(t[k].weight, "dense/bias:0")) *b = t[k].data;
    }
    if (!*W || !*b) return df_error_set(err, DF_ERR_INTERNAL, "linear head without dense/kernel:0 and dense/bias:0");
    return DF_OK;
}

/* The largest gradient entry at most 1e-6 where iterations are nearly free
 * (the Gram matrix's reduced scores; double precision stalls near 1e-8),
 * 1e-4 on the primal, where each is a pass over all the rows: on the
 * 3,068 clothing photos (12,272 rows of 11,520 features) 1e-6 took 243-370
 * iterations a fit at 0.3 s each, 1e-4 about 100-150, with the objective
 * within 1e-5 of the optimum's (measured: 0.3967851 against 0.3967817).
 * Predictions stop moving long before either. */
static double exact_tol(int primal) { return primal ? 1e-4 : 1e-6; }

static df_status exact_ended(df_status st, const df_softmax_exact_report *rep, int primal, df_exact_fit_report *out,
                             df_error *err) {
    if (st == DF_ERR_INTERRUPTED)
        return df_error_set(err, st, "interrupted while fitting the head exactly (no checkpoint: it is one pass)");
    if (st != DF_OK) return df_error_prefix(err, "exact fit of the linear head");
    if (out)
        *out = (df_exact_fit_report){.iterations = rep->iterations, .grad_max = rep->grad_max,
                                     .tol = exact_tol(primal), .converged = rep->converged, .primal = primal};
    return DF_OK;
}

df_status df_fit_linear_exact(df_head *head, const float *standardised, const int *labels, int n,
                              const volatile sig_atomic_t *stop, df_exact_fit_report *out, df_error *err) {
    float *W, *b;
    df_status st = exact_target(head, &W, &b, err);
    if (st != DF_OK) return st;
    const int F = df_head_in_dim(head), primal = df_softmax_exact_uses_primal(n, F);
    df_softmax_exact_report rep;
    st = df_softmax_fit_exact_until(standardised, labels, n, F, df_head_classes(head),
                                    (double)df_head_get_config(head)->l2, exact_tol(primal), 5000, stop, W, b, &rep,
                                    err);
    return exact_ended(st, &rep, primal, out, err);
}

struct df_exact_rows {
    const float *variants; /* what it was made from (borrowed: the Gram way reads it, the primal way copies it) */
    int K, N;
    size_t F;
    df_head *stats; /* a linear head holding the standardisation */
    double *gram;   /* (K N)^2 of the rows standardised, lower triangle, on the Gram way */
};

/* The variants standardised where the Gram way reads them. */
static df_softmax_rows rows_of(const df_exact_rows *r) {
    return (df_softmax_rows){r->variants, df_head_std_mean(r->stats), df_head_std_std(r->stats)};
}

void df_exact_rows_destroy(df_exact_rows *r) {
    if (!r) return;
    df_head_destroy(r->stats);
    free(r->gram);
    free(r);
}

int df_exact_rows_of(const df_exact_rows *r, const float *variants, int K, int N, size_t F) {
    return r && r->variants == variants && r->K == K && r->N == N && r->F == F;
}

df_status df_exact_rows_create(const float *variants, int K, int N, size_t F, df_exact_rows **out, df_error *err) {
    *out = NULL;
    if (K < 1 || N < 1 || F < 1 || F > (size_t)INT32_MAX || (size_t)K * (size_t)N > (size_t)INT32_MAX)
        return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: %d x %d rows of %zu features", K, N, F);
    df_exact_rows *r = calloc(1, sizeof *r);
    if (!r) return df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory");
    r->variants = variants;
    r->K = K;
    r->N = N;
    r->F = F;
    df_head_config cfg = df_head_config_default();
    cfg.kind = DF_HEAD_LINEAR;
    const int rows = K * N;
    df_status st = df_head_create(&cfg, (int)F, 2, 0, &r->stats, err);
    if (st == DF_OK) st = df_head_fit_standardisation(r->stats, variants, rows, err);
    if (st == DF_OK && !df_softmax_exact_uses_primal(rows, (int)F)) {
        const df_softmax_rows z = rows_of(r);
        st = df_softmax_gram(&z, rows, (int)F, &r->gram, err);
    }
    if (st != DF_OK) {
        df_exact_rows_destroy(r);
        return st;
    }
    *out = r;
    return DF_OK;
}

df_status df_fit_linear_exact_photos(df_head *head, const df_exact_rows *r, const int *photos, int n,
                                     const int *photo_labels, const volatile sig_atomic_t *stop,
                                     df_exact_fit_report *out, df_error *err) {
    float *W, *b;
    df_status st = exact_target(head, &W, &b, err);
    if (st != DF_OK) return st;
    if (df_head_in_dim(head) != (int)r->F)
        return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: a head of %d features on rows of %zu",
                            df_head_in_dim(head), r->F);
    st = df_head_set_standardisation(head, df_head_std_mean(r->stats), df_head_std_std(r->stats), err);
    if (st != DF_OK) return st;
    const int m = r->K * n;
    int *idx = malloc(sizeof(int) * (size_t)(m ? m : 1)), *y = malloc(sizeof(int) * (size_t)(m ? m : 1));
    if (!idx || !y) {
        free(idx);
        free(y);
        return df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for %d rows", m);
    }
    /* variant-major, as the cache: row (k, t) is variant k of photo t */
    for (int k = 0; k < r->K; k++)
        for (int t = 0; t < n; t++) {
            idx[k * n + t] = k * r->N + (photos ? photos[t] : t);
            y[k * n + t] = photo_labels[t];
        }
    if (r->gram) {
        df_softmax_exact_report rep;
        const df_softmax_rows z = rows_of(r);
        st = df_softmax_fit_exact_rows(&z, r->K * r->N, (int)r->F, r->gram, idx, m, y, df_head_classes(head),
                                       (double)df_head_get_config(head)->l2, exact_tol(0), 5000, stop, W, b, &rep,
                                       err);
        st = exact_ended(st, &rep, 0, out, err);
    } else {
        float *rows = malloc(sizeof(float) * (size_t)m * r->F);
        st = rows ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for %d x %zu rows", m, r->F);
        for (int i = 0; st == DF_OK && i < m; i++)
            memcpy(rows + (size_t)i * r->F, r->variants + (size_t)idx[i] * r->F, sizeof(float) * r->F);
        if (st == DF_OK) {
            df_head_standardise(r->stats, rows, (size_t)m, rows);
            st = df_fit_linear_exact(head, rows, y, m, stop, out, err);
        }
        free(rows);
    }
    free(idx);
    free(y);
    return st;
}
