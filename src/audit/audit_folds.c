/*
 * The audit's out-of-fold predictions (audit_internal.h): the audit's own
 * head (the linear head at L2 0.1, Adam 1e-2 over opt->epochs: the default
 * recipe's until 2026-12-02, which the audit's targets were measured with,
 * and a tenth of today's default's 300 epochs on thousands of photos)
 * trained by df_cross_val_predict, once on stratified folds of
 * every photo (for the label check) and once with the training photos as
 * the only training fold (for the validation accuracy with and without
 * leaked photos). No augmentation: the features are the plain ones.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "train/model_select.h"

static df_train_options base_options(const df_audit_options *opt) {
    df_train_options o = df_train_options_default();
    o.epochs = opt->epochs;
    o.augment = 0;
    o.feature_cache = 1;
    o.early_stop_patience = 0;
    o.head.kind = DF_HEAD_LINEAR;
    o.head.l2 = 0.1f;
    o.exact_fit = 0; /* Adam's head, which its targets were measured with */
    o.adam.lr = 1e-2f;
    o.seed = opt->seed;
    return o;
}

df_status df_audit_out_of_fold(const float *feat, const df_audit_photo *photos, int n, int n_train,
                               int C, size_t F, const df_audit_options *opt, float *probs,
                               float *val_probs, int *folds_used, df_error *err) {
    *folds_used = 0;
    df_train_options base = base_options(opt);
    df_head_candidate cand = df_head_candidate_from_options(&base);
    int *labels = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int *fold_of = malloc(sizeof(int) * (size_t)(n ? n : 1));
    df_status st = DF_OK;
    if (!labels || !fold_of) {
        st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for %d photos", n);
        goto done;
    }
    for (int i = 0; i < n; i++) labels[i] = photos[i].label;
    /* Each class needs a photo outside every fold: k at most the smallest class. */
    int folds = opt->folds;
    for (int c = 0; c < C; c++) {
        int m = 0;
        for (int i = 0; i < n; i++) m += labels[i] == c;
        if (m < folds) folds = m;
    }
    if (folds >= 2) {
        /* Average over opt->repeats fold draws: one draw's probabilities
         * depend on which photos happened to share a fold. */
        int R = opt->repeats > 0 ? opt->repeats : 1;
        float *one = malloc(sizeof(float) * (size_t)n * C);
        if (!one) {
            st = df_error_set(err, DF_ERR_NOMEM, "audit: out of memory for %d x %d probabilities", n, C);
            goto done;
        }
        memset(probs, 0, sizeof(float) * (size_t)n * C);
        for (int r = 0; r < R && st == DF_OK; r++) {
            st = df_stratified_folds(labels, n, C, folds, opt->seed + (uint64_t)r, fold_of, err);
            if (st == DF_OK)
                st = df_cross_val_predict(feat, 1, feat, labels, n, C, F, fold_of, folds, &cand,
                                          &base, one, err);
            for (size_t k = 0; st == DF_OK && k < (size_t)n * C; k++) probs[k] += one[k] / (float)R;
        }
        free(one);
        if (st) goto done;
        *folds_used = folds;
    }
    if (n_train < n && val_probs) {
        for (int i = 0; i < n; i++) fold_of[i] = i < n_train ? 0 : 1;
        st = df_cross_val_predict(feat, 1, feat, labels, n, C, F, fold_of, 2, &cand, &base,
                                  val_probs, err);
    }
done:
    free(labels);
    free(fold_of);
    return st;
}
