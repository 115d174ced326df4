/*
 * Evaluating a head on a set of feature rows: predictions, loss, accuracy,
 * confusion matrix, per-class metrics and scikit-learn's report text, in
 * one owned struct that evaluate, train and the report all print from.
 */
#ifndef DF_EVAL_EVALUATION_H
#define DF_EVAL_EVALUATION_H

#include "eval/calibration.h"
#include "eval/metrics.h"
#include "nn/head.h"

struct df_unknown_detector;

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
    /* Trust (df_evaluation_add_trust; zero until then): */
    int has_trust;
    float temperature;            /* the model's; 0 = none (probabilities as the head gives them) */
    df_reliability reliability_raw;        /* ECE and bins of the head's probabilities */
    df_reliability reliability_calibrated; /* after softmax(log p / T); = raw without T */
    double loss_calibrated;
    float *unknown_score;         /* n, owned; NULL = the model has no detector */
    float unknown_threshold;
    int unknown_count;            /* evaluated (genuine) photos called unknown */
    double accuracy_accepted;     /* accuracy on the photos not called unknown; NaN if none */
} df_evaluation;

df_status df_evaluate_features(const df_head *head, const float *features, const int *labels,
                               int n, const char *const *class_names, df_evaluation *out,
                               df_error *err) DF_MUST_CHECK;
void df_evaluation_free(df_evaluation *ev);

/* Adds the trust figures: calibration with temperature (0 = none) and,
 * with a detector, each photo's unknown score from its features (n x F). */
df_status df_evaluation_add_trust(df_evaluation *ev, const float *features, size_t F,
                                  const struct df_unknown_detector *unknown, float temperature,
                                  df_error *err) DF_MUST_CHECK;

/* The evaluate --json object; malloc'ed. With trust figures it has
 * "calibration": {temperature, ece_raw, ece, loss} and "unknown":
 * {threshold, genuine, genuine_lost, accuracy_accepted} (null without a
 * detector). */
char *df_evaluation_json(const df_evaluation *ev, const char *const *class_names);

#endif
