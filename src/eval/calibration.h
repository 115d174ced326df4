/*
 * Calibrated probabilities: temperature scaling (Guo et al. 2017) and the
 * expected calibration error with its reliability diagram.
 *
 * Temperature: one scalar T > 0 that divides the logits before the softmax,
 * p = softmax(z / T); fitted by minimising the mean negative log-likelihood
 * of held-out predictions (out-of-fold predictions of the training photos:
 * the head never saw the photo it predicts). The argmax never changes, so
 * accuracy is untouched. The fit is a golden-section search on log T in
 * [log 0.05, log 20] (the NLL is convex in 1/T), to 1e-4 in log T.
 * Inputs are logits; probabilities can be passed as their logarithms
 * (softmax(log p / T) is the same thing).
 *
 * ECE: photos binned by their top probability into DF_CALIB_BINS equal-width
 * bins over [0, 1] (a probability of exactly 1 goes to the last bin);
 * ECE = sum over bins of (count / n) * |accuracy - mean confidence|.
 */
#ifndef DF_EVAL_CALIBRATION_H
#define DF_EVAL_CALIBRATION_H

#include "core/error.h"

enum { DF_CALIB_BINS = 15 };

/* probs (N x C) overwritten with softmax(logits / T); may alias logits. */
void df_calib_softmax_t(const float *logits, int N, int C, float T, float *probs);

/* Mean negative log-likelihood of labels under softmax(logits / T) (double). */
double df_calib_nll(const float *logits, const int *labels, int N, int C, float T);

/* The temperature minimising df_calib_nll; N >= 1, labels in [0, C). */
df_status df_calib_fit_temperature(const float *logits, const int *labels, int N, int C, float *T,
                                   df_error *err) DF_MUST_CHECK;

typedef struct df_reliability {
    int count[DF_CALIB_BINS];
    double confidence[DF_CALIB_BINS]; /* mean top probability in the bin (0 when empty) */
    double accuracy[DF_CALIB_BINS];   /* fraction correct in the bin (0 when empty) */
    double ece;
    int n;
} df_reliability;

/* From probabilities (N x C) and labels. */
void df_calib_reliability(const float *probs, const int *labels, int N, int C, df_reliability *out);

#endif
