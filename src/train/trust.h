/*
 * What training adds so a prediction can be trusted (issue 12): the unknown
 * detector (eval/unknown.h) on the training photos' plain features, and the
 * temperature (eval/calibration.h) fitted on out-of-fold predictions of the
 * training photos: stratified k folds (df_stratified_folds), each predicted
 * by a head with the run's own settings trained on the variants of the
 * other folds (df_cross_val_predict), so the temperature corrects the
 * confidence the head has on photos it never saw. The validation photos are
 * never used, so their ECE stays an honest check.
 */
#ifndef DF_TRAIN_TRUST_H
#define DF_TRAIN_TRUST_H

#include "train/train.h"

typedef struct df_trust_options {
    float unknown_rate; /* fraction of held-out genuine photos called unknown; < 0 = no detector */
    int folds;          /* for the out-of-fold predictions; clamped to the photo count */
} df_trust_options;

/* unknown_rate 0.05, folds 5. */
df_trust_options df_trust_options_default(void);

typedef struct df_trust_report {
    float temperature;
    double oof_accuracy;              /* of the out-of-fold predictions */
    double oof_ece_before, oof_ece_after;
    float unknown_threshold;          /* NaN without a detector */
    double seconds;
} df_trust_report;

/* From features already computed: variants K x N x F (variant-major; clean
 * with K = 1 when there are none), clean N x F, labels N. The unknown
 * detector sees blocks of `block` features averaged (eval/unknown.h
 * df_unknown_window_mean): F itself, or the map's channels for features
 * pooled by regions (df_backbone_window_dim). On success *unknown (NULL
 * when to->unknown_rate < 0) and *temperature are the caller's; rep may be
 * NULL. */
df_status df_trust_fit_features(const float *variants, int K, const float *clean, const int *labels, int N, int C,
                                size_t F, int block, const df_train_options *opt, const df_trust_options *to,
                                struct df_unknown_detector **unknown, float *temperature, df_trust_report *rep,
                                df_error *err) DF_MUST_CHECK;

/* The same from the photos: variants as df_train used them (opt's feature
 * cache, or opt->feature_variants when given; 4 per photo for live
 * augmentation, as the head search does) and the plain features; stores
 * the detector and temperature in model. */
df_status df_trust_fit(df_backbone *bb, const df_dataset *train, const df_train_options *opt,
                       const df_trust_options *to, df_model *model, df_trust_report *rep,
                       df_error *err) DF_MUST_CHECK;

/* df_train, then df_trust_fit on the model it trained (rep's seconds are
 * the calibration's own), side by side on the threads where the features
 * are cached (opt->feature_variants, feature_clean and, with validation
 * photos, val_features) and the head is linear: the same model either way. *overlapped says which. On failure
 * res is df_train's (freed by the caller). */
df_status df_train_and_trust(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                             const df_train_options *opt, const df_trust_options *to, df_train_result *res,
                             df_trust_report *rep, int *overlapped, df_error *err) DF_MUST_CHECK;

#endif
