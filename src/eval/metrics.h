/*
 * Evaluation metrics for single-label classification (SPEC section 5):
 * accuracy, top-k accuracy, mean cross-entropy, confusion matrix,
 * per-class precision / recall / F1 / support with macro and weighted
 * averages, and scikit-learn's classification_report text.
 *
 * Conventions: probs is (n, C) row-major; labels and predictions are class
 * indices in [0, C) (functions returning df_status check this); the
 * confusion matrix cm is (C, C) row-major, rows = true class, columns =
 * predicted class. A zero denominator counts as 0 (sklearn zero_division=0,
 * without the warning).
 */
#ifndef DF_EVAL_METRICS_H
#define DF_EVAL_METRICS_H

#include <stddef.h>

#include "core/error.h"

/* Index of the largest of x[0..n): the first one on ties; NaN entries never
 * win (all NaN -> 0). */
int df_argmax_f32(const float *x, int n);

/* pred[i] = argmax of row i of probs. */
void df_eval_argmax_rows(const float *probs, int n, int C, int *pred);

/* Fraction of rows whose argmax equals the label (SPEC: accuracy =
 * argmax(prediction) == label). n = 0 gives 0. */
double df_eval_accuracy(const float *probs, const int *labels, int n, int C);

/* Top-k accuracy: a row counts when fewer than k classes have a score
 * strictly greater than the true class's score (so ties favour the true
 * class). k >= C gives 1. */
double df_eval_topk_accuracy(const float *probs, const int *labels, int n, int C, int k);

/* Mean categorical cross-entropy of probabilities, as Keras computes it for
 * a softmax output: -log(clip(p[label], 1e-7, 1 - 1e-7)), averaged over n
 * in double. (Training loss from logits is in nn/layers.h df_softmax_ce and
 * needs no clipping.) */
double df_eval_cross_entropy(const float *probs, const int *labels, int n, int C);

/* cm (C*C ints) overwritten. Fails with DF_ERR_INVALID_ARG naming the first
 * out-of-range label or prediction. */
df_status df_eval_confusion(const int *labels, const int *pred, int n, int C, int *cm,
                            df_error *err) DF_MUST_CHECK;

typedef struct df_class_metrics {
    double precision; /* TP / (TP + FP), 0 when nothing was predicted as it */
    double recall;    /* TP / (TP + FN), 0 when it has no true samples */
    double f1;        /* 2PR / (P + R), 0 when P + R = 0 */
    long support;     /* true samples of the class (row sum) */
} df_class_metrics;

typedef struct df_metrics_summary {
    double accuracy;           /* trace / total */
    df_class_metrics macro;    /* unweighted mean over classes; support = total */
    df_class_metrics weighted; /* support-weighted mean; support = total */
    long total;
    /* sklearn prints "micro avg" (P, R, F1 = accuracy) instead of the
     * "accuracy" row when a class neither occurs nor is predicted; see
     * df_eval_format_report. */
    int has_absent_class;
} df_metrics_summary;

/* per_class (C entries) overwritten; summary may be NULL. */
void df_eval_metrics_from_confusion(const int *cm, int C, df_class_metrics *per_class,
                                    df_metrics_summary *summary);

/* sklearn.metrics.classification_report(y_true, y_pred, labels=range(C),
 * target_names=names, digits=digits, zero_division=0) text, byte for byte:
 *
 *   name column width w = max(longest name, len("weighted avg"), digits)
 *   header:  "%*s " w "", then " %9s" for precision recall f1-score support, "\n\n"
 *   a class: "%*s " name, " %9.*f" x3, " %9ld", "\n"
 *   "\n", then "accuracy" ("%*s " + two blank " %9s" + " %9.*f" + " %9ld"),
 *   "macro avg" and "weighted avg" rows in the class-row format.
 *
 * Each row ends with "\n" (so does the whole text). *out is malloc'ed; the
 * caller frees it. names: C strings (index order). digits in [0, 10]. */
df_status df_eval_format_report(const int *cm, int C, const char *const *names, int digits,
                                 char **out, df_error *err) DF_MUST_CHECK;

#endif
