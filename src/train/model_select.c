/* Head selection by stratified k-fold cross-validation (see model_select.h). */
#include "train/model_select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "eval/metrics.h"

static void add_candidate(df_head_candidate *out, int *n, const df_train_options *base, df_head_kind kind,
                          float l2, float lr) {
    df_head_candidate *c = &out[(*n)++];
    memset(c, 0, sizeof *c);
    c->head = df_head_config_default(); /* MLP 1024, BN, dropout 0.25 */
    c->head.kind = kind;
    c->head.l2 = l2;
    c->head.max_batch = base->batch_size > c->head.max_batch ? base->batch_size : c->head.max_batch;
    c->adam = base->adam;
    c->adam.lr = lr;
    if (kind == DF_HEAD_LINEAR)
        snprintf(c->name, sizeof c->name, "linear l2=%g lr=%g", (double)l2, (double)lr);
    else
        snprintf(c->name, sizeof c->name, "mlp%d bn dropout=%g lr=%g", c->head.units, (double)c->head.dropout,
                 (double)lr);
}

int df_head_candidates_default(const df_train_options *base, df_head_candidate out[DF_HEAD_SEARCH_MAX]) {
    int n = 0;
    add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-3f, 1e-3f);
    add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-4f, 1e-3f);
    add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-2f, 1e-3f);
    add_candidate(out, &n, base, DF_HEAD_LINEAR, 1e-3f, 1e-2f);
    add_candidate(out, &n, base, DF_HEAD_MLP, 0.0f, 1e-3f);
    add_candidate(out, &n, base, DF_HEAD_MLP, 0.0f, 1e-4f);
    return n;
}

df_status df_stratified_folds(const int *labels, int n, int C, int folds, uint64_t seed, int *fold_of,
                              df_error *err) {
    if (folds < 2 || folds > n)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%d folds for %d photos: need 2 <= folds <= photos", folds,
                            n);
    int *members = malloc(sizeof(int) * (size_t)n);
    if (!members) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", n);
    int next = 0;
    for (int c = 0; c < C; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (labels[i] == c) members[m++] = i;
        df_rng rng;
        df_rng_seed_for(&rng, seed, DF_STREAM_FOLDS, (uint64_t)c, 0);
        df_rng_shuffle(&rng, members, m);
        for (int j = 0; j < m; j++) fold_of[members[j]] = (next + j) % folds;
        next = (next + m) % folds;
    }
    free(members);
    return DF_OK;
}

/* What one candidate-fold run needs; the buffers are sized for all photos. */
typedef struct fold_job {
    const df_head_candidate *cand;
    const df_train_options *base;
    const float *variants, *clean; /* K x N x F, N x F */
    const int *labels;
    int N, C, K;
    size_t F;
    const int *train_idx, *test_idx;
    int n_train, n_test;
    float *rows;    /* K * N * F scratch */
    float *probs;   /* N * C */
    int *order, *batch_labels, *test_labels;
    float *class_w; /* C */
} fold_job;

/* Trains cand on the fold's training photos; its held-out accuracy and loss. */
static df_status run_fold(const fold_job *j, int fold, double *acc, double *loss, df_error *err) {
    const df_train_options *o = j->base;
    const size_t F = j->F;
    df_head *head = NULL;
    df_adam *adam = NULL;
    df_status st = df_head_create(&j->cand->head, (int)F, j->C, o->seed, &head, err);
    if (st == DF_OK && j->cand->head.kind == DF_HEAD_LINEAR) {
        /* Standardise with statistics of this fold's training variants only. */
        size_t r = 0;
        for (int k = 0; k < j->K; k++)
            for (int t = 0; t < j->n_train; t++, r++)
                memcpy(j->rows + r * F, j->variants + ((size_t)k * j->N + (size_t)j->train_idx[t]) * F,
                       F * sizeof(float));
        st = df_head_fit_standardisation(head, j->rows, (int)r, err);
    }
    if (st == DF_OK) st = df_adam_create(&j->cand->adam, df_head_num_params(head), &adam, err);
    const float *cw = NULL;
    if (st == DF_OK && o->class_weight_balanced) {
        /* sklearn's balanced weights, n / (C * n_c), over this fold's photos. */
        for (int c = 0; c < j->C; c++) j->class_w[c] = 0.0f;
        for (int t = 0; t < j->n_train; t++) j->class_w[j->labels[j->train_idx[t]]] += 1.0f;
        for (int c = 0; c < j->C; c++)
            j->class_w[c] = (float)j->n_train / ((float)j->C * (j->class_w[c] > 0 ? j->class_w[c] : 1.0f));
        cw = j->class_w;
    }
    const int B = o->batch_size;
    int batches = df_batch_count(j->n_train, B);
    if (o->steps_per_epoch > 0 && o->steps_per_epoch < batches) batches = o->steps_per_epoch;
    for (int e = 0; st == DF_OK && e < o->epochs; e++) {
        df_epoch_order(j->n_train, o->seed, e, j->order);
        df_rng pick;
        df_rng_seed_for(&pick, o->seed, DF_STREAM_FOLDS, ((uint64_t)1 << 32) + (uint64_t)fold, (uint64_t)e);
        for (int b = 0; st == DF_OK && b < batches; b++) {
            int start = b * B, n = j->n_train - start < B ? j->n_train - start : B;
            for (int k = 0; k < n; k++) {
                int i = j->train_idx[j->order[start + k]];
                int v = (int)df_rng_below(&pick, (uint32_t)j->K);
                memcpy(j->rows + (size_t)k * F, j->variants + ((size_t)v * j->N + (size_t)i) * F, F * sizeof(float));
                j->batch_labels[k] = j->labels[i];
            }
            /* As in training: BatchNorm cannot normalise a batch of one. */
            if (n < 2 && j->cand->head.kind == DF_HEAD_MLP && j->cand->head.batchnorm) continue;
            df_rng drop;
            df_rng_seed_for(&drop, o->seed, DF_STREAM_DROPOUT, (uint64_t)e, (uint64_t)b);
            double l;
            int corr;
            st = df_head_train_step(head, j->rows, j->batch_labels, n, cw, adam, &drop, &l, &corr, err);
        }
        if (st == DF_OK && o->stop_flag && *o->stop_flag)
            st = df_error_set(err, DF_ERR_INTERRUPTED, "interrupted during the head search");
    }
    if (st == DF_OK) {
        for (int t = 0; t < j->n_test; t++) {
            memcpy(j->rows + (size_t)t * F, j->clean + (size_t)j->test_idx[t] * F, F * sizeof(float));
            j->test_labels[t] = j->labels[j->test_idx[t]];
        }
        st = df_head_predict(head, j->rows, j->n_test, j->probs, err);
    }
    if (st == DF_OK) {
        *acc = df_eval_accuracy(j->probs, j->test_labels, j->n_test, j->C);
        *loss = df_eval_cross_entropy(j->probs, j->test_labels, j->n_test, j->C);
    }
    df_adam_destroy(adam);
    df_head_destroy(head);
    return st;
}

void df_head_search_result_free(df_head_search_result *r) {
    free(r->train_variants);
    r->train_variants = NULL;
}

df_status df_head_search(df_backbone *bb, const df_dataset *train, const df_train_options *base,
                         const df_head_candidate *candidates, int n_candidates, int folds,
                         df_head_search_result *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (n_candidates < 1 || n_candidates > DF_HEAD_SEARCH_MAX)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: %d candidates (1 to %d)", n_candidates,
                            DF_HEAD_SEARCH_MAX);
    if (folds < 2 || folds > 20)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: %d folds is not in [2, 20]", folds);
    if (base->epochs < 1 || base->batch_size < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head search: epochs and batch size must be positive");
    df_status st = df_dataset_check(train, err);
    if (st != DF_OK) return st;
    const int N = train->count, C = train->num_classes;
    const int K = !base->augment ? 1 : base->feature_cache > 0 ? base->feature_cache : 4;
    const size_t F = df_backbone_feature_dim(bb);
    out->folds = folds;
    out->n_candidates = n_candidates;
    out->variants = K;
    memcpy(out->candidates, candidates, sizeof *candidates * (size_t)n_candidates);
    for (int c = 0; c < n_candidates; c++)
        if (candidates[c].head.max_batch < base->batch_size)
            out->candidates[c].head.max_batch = base->batch_size;

    double t0 = df_clock_seconds();
    float *variants = NULL, *clean = NULL;
    st = df_train_feature_variants(bb, train, base, K, &variants, &clean, err);
    if (st != DF_OK) return st;
    out->feature_seconds = df_clock_seconds() - t0;
    t0 = df_clock_seconds();

    fold_job j = {.base = base, .variants = variants, .clean = clean, .N = N, .C = C, .K = K, .F = F};
    int *labels = malloc(sizeof(int) * (size_t)N), *fold_of = malloc(sizeof(int) * (size_t)N);
    int *train_idx = malloc(sizeof(int) * (size_t)N), *test_idx = malloc(sizeof(int) * (size_t)N);
    j.order = malloc(sizeof(int) * (size_t)N);
    j.test_labels = malloc(sizeof(int) * (size_t)N);
    j.batch_labels = malloc(sizeof(int) * (size_t)base->batch_size);
    j.class_w = malloc(sizeof(float) * (size_t)C);
    j.probs = malloc(sizeof(float) * (size_t)N * (size_t)C);
    size_t rows = (size_t)K * (size_t)N > (size_t)base->batch_size ? (size_t)K * N : (size_t)base->batch_size;
    j.rows = malloc(rows * F * sizeof(float));
    if (!labels || !fold_of || !train_idx || !test_idx || !j.order || !j.test_labels || !j.batch_labels ||
        !j.class_w || !j.probs || !j.rows) {
        st = df_error_set(err, DF_ERR_NOMEM, "head search: out of memory for %d photos", N);
        goto done;
    }
    for (int i = 0; i < N; i++) labels[i] = train->items[i].label;
    j.labels = labels;
    st = df_stratified_folds(labels, N, C, folds, base->seed, fold_of, err);
    for (int f = 0; st == DF_OK && f < folds; f++) {
        j.n_train = j.n_test = 0;
        for (int i = 0; i < N; i++) {
            if (fold_of[i] == f) test_idx[j.n_test++] = i;
            else train_idx[j.n_train++] = i;
        }
        j.train_idx = train_idx;
        j.test_idx = test_idx;
        for (int c = 0; st == DF_OK && c < n_candidates; c++) {
            j.cand = &out->candidates[c];
            double acc = 0, loss = 0;
            st = run_fold(&j, f, &acc, &loss, err);
            out->accuracy[c] += acc / folds;
            out->loss[c] += loss / folds;
        }
    }
    if (st == DF_OK) {
        int best = 0;
        for (int c = 1; c < n_candidates; c++) {
            /* Equal up to rounding: fold accuracies are multiples of 1/n_test. */
            double d = out->accuracy[c] - out->accuracy[best];
            if (d > 1e-9 || (fabs(d) <= 1e-9 && out->loss[c] < out->loss[best])) best = c;
        }
        out->best = best;
    }
    out->search_seconds = df_clock_seconds() - t0;
done:
    if (st == DF_OK) {
        out->train_variants = variants;
        variants = NULL;
    }
    free(variants);
    free(clean);
    free(labels);
    free(fold_of);
    free(train_idx);
    free(test_idx);
    free(j.order);
    free(j.test_labels);
    free(j.batch_labels);
    free(j.class_w);
    free(j.probs);
    free(j.rows);
    return st;
}
