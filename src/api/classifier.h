/*
 * The classifier behind the public df_classifier_* API: a loaded model file
 * plus the backbone it was trained on, opened with the same preprocessing.
 * Internal users (evaluate, predict, report) reach the parts directly.
 */
#ifndef DF_API_CLASSIFIER_H
#define DF_API_CLASSIFIER_H

#include "backbone/backbone.h"
#include "deepfashion.h"
#include "formats/model_file.h"

struct df_classifier {
    df_model *model;        /* owned */
    df_backbone *backbone;  /* owned */
    df_resize_method resize;
    float *input;           /* one preprocessed image, owned */
    float *features;        /* one feature row, owned */
};

typedef struct df_classifier_options {
    const char *backbone_weights; /* NULL = as recorded in the model */
    df_precision precision;
    int max_batch;
    void (*notice)(void *ctx, const char *message);
    void *notice_ctx;
    int no_autotune;              /* 1: never measure algorithms (predict: startup matters) */
} df_classifier_options;

df_status df_classifier_open(const char *model_path, const df_classifier_options *opt,
                             df_classifier **out, df_error *err) DF_MUST_CHECK;
/* The same from a model already loaded from model_path (for callers that
 * check it before building the backbone); takes model in every case. */
df_status df_classifier_from_model(const char *model_path, df_model *model, const df_classifier_options *opt,
                                   df_classifier **out, df_error *err) DF_MUST_CHECK;

/* The model's backbone as df_classifier_open builds it (embedded or by
 * reference, checked), its options passed through adjust (may be NULL)
 * first: predict --explain cuts it at the feature map. */
df_status df_classifier_backbone_open(const char *model_path, const df_model *model,
                                      const df_classifier_options *opt,
                                      void (*adjust)(df_backbone_options *bo, void *ctx), void *ctx,
                                      df_backbone **out, df_error *err) DF_MUST_CHECK;

/* Probabilities of one feature row of this model's backbone (features:
 * feature_dim floats): softmax(logits / T) with the model's temperature
 * (T = 1 when the model has none). probs: num_classes floats. */
df_status df_classifier_probabilities(const df_classifier *c, const float *features, float *probs,
                                      df_error *err) DF_MUST_CHECK;

typedef struct df_prediction {
    int best;             /* the most probable trained class */
    int unknown;          /* 1 = "none of these": the unknown score is above the
                             model's threshold (never without a detector or
                             with use_unknown 0) */
    float unknown_score;  /* NaN when the model has no detector (older files) */
} df_prediction;

/* The same from a feature row already computed (feature_dim floats, e.g.
 * from a batched pass over a folder). */
df_status df_classifier_judge(const df_classifier *c, const float *features, int use_unknown, float *probs,
                              df_prediction *out, df_error *err) DF_MUST_CHECK;

/* One photo: probabilities (num_classes floats, calibrated as above) and the
 * unknown verdict. The photo's features stay in c->features until the next
 * call. */
df_status df_classifier_predict_photo(df_classifier *c, const char *path, int use_unknown, float *probs,
                                      df_prediction *out, df_error *err) DF_MUST_CHECK;


#endif
