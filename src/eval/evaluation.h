/*
 * Evaluating a head on a set of feature rows: predictions, loss, accuracy,
 * confusion matrix, per-class metrics and scikit-learn's report text, in
 * one owned struct that evaluate, train and the report all print from.
 */
#ifndef DF_EVAL_EVALUATION_H
#define DF_EVAL_EVALUATION_H

#include "eval/metrics.h"
#include "nn/head.h"

typedef struct df_evaluation {
    int n, num_classes;
    float *probs;                 /* n x C */
    int *labels;                  /* n, copy */
    int *predicted;               /* n */
    int *confusion;               /* C x C, rows true */
    double accuracy, loss;
    df_class_metrics *per_class;  /* C */
    df_metrics_summary summary;
    char *report_text;            /* sklearn classification_report */
} df_evaluation;

df_status df_evaluate_features(const df_head *head, const float *features, const int *labels,
                               int n, const char *const *class_names, df_evaluation *out,
                               df_error *err) DF_MUST_CHECK;
void df_evaluation_free(df_evaluation *ev);

/* The evaluate --json object; malloc'ed. */
char *df_evaluation_json(const df_evaluation *ev, const char *const *class_names);

#endif
