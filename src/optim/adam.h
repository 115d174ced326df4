/*
 * Adam over one flat parameter block, exactly as tf.keras 2.2-2.4
 * (SPEC section 4):
 *
 *   t += 1                                  (t counts from 1)
 *   m  = b1 m + (1 - b1) g
 *   v  = b2 v + (1 - b2) g^2
 *   w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
 *
 * with b1 0.9, b2 0.999, eps 1e-7 (Keras' epsilon is added to sqrt(v),
 * outside the bias correction, unlike the paper's eps-hat).
 *
 * Optional decoupled weight decay (AdamW, Loshchilov & Hutter), in the
 * PyTorch / Keras 3 convention: before the Adam update, w -= lr * wd * w
 * for every parameter whose decay_mask entry is non-zero (kernels; a head
 * exposes its mask, biases and BatchNorm parameters are not decayed).
 * weight_decay 0 (the default) is plain Keras Adam. This is not L2
 * regularisation: L2 adds to the gradient (see nn/layers.h df_l2_*),
 * decoupled decay does not pass through m and v.
 *
 * The moments m and v are one flat array each, the same length and order as
 * the parameter block, so a step is one loop and a checkpoint is two
 * datasets plus t.
 */
#ifndef DF_OPTIM_ADAM_H
#define DF_OPTIM_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct df_adam_config {
    float lr;           /* learning rate; the original recipe used 1e-5 */
    float beta1;        /* 0.9 */
    float beta2;        /* 0.999 */
    float eps;          /* 1e-7 */
    float weight_decay; /* decoupled (AdamW); 0 = off */
} df_adam_config;

/* tf.keras defaults: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7, no decay. */
df_adam_config df_adam_config_default(void);

typedef struct df_adam {
    df_adam_config cfg; /* may be changed between steps (lr schedules) */
    size_t n;           /* number of parameters */
    int64_t t;          /* steps taken; the next step uses t + 1 */
    float *m;           /* (n) first moments, owned */
    float *v;           /* (n) second moments, owned */
} df_adam;

/* m and v start at zero, t at 0. */
df_status df_adam_create(const df_adam_config *cfg, size_t n, df_adam **out,
                         df_error *err) DF_MUST_CHECK;
void df_adam_destroy(df_adam *adam);

/* One update of params[0..n) with grads[0..n) (dLoss/dparam, true sign).
 * decay_mask (n bytes) selects what weight decay applies to; NULL = all.
 * The bias-correction factor is computed in double. */
void df_adam_step(df_adam *adam, float *params, const float *grads, const uint8_t *decay_mask);

#endif
