/*
 * Layers of the trainable head as forward/backward pairs over explicit
 * buffers (llm.c style). No allocation, no hidden state: every cache a
 * backward pass needs is a buffer the caller passes to the forward pass.
 *
 * Conventions, the same for every function here:
 *  - Shapes are (N, F) row-major: N samples, F features per sample. NHWC
 *    tensors are (N, H*W*C) here, which is exactly Keras' Flatten order.
 *  - Gradients are true-sign: d_x means dLoss/dx.
 *  - Activation outputs and activation gradients (out, d_in) are
 *    OVERWRITTEN. Parameter gradients (dW, db, dgamma, dbeta) are
 *    ACCUMULATED (+=), so a whole step zeroes the flat gradient block once
 *    and every layer adds into its slice.
 *  - Pointers named in comments as "may alias" may be the same buffer;
 *    all others must not overlap.
 *
 * Reference semantics: tf.keras 2.2-2.4 layers (SPEC section 4). Not here:
 * convolutions (the backbone is frozen; see src/engine), the head as a
 * whole (src/nn/head.h), optimisers (src/optim).
 */
#ifndef DF_NN_LAYERS_H
#define DF_NN_LAYERS_H

#include <stddef.h>

#include "core/rng.h"

/* ---- Dense: out = in W + b; W is (in_dim, out_dim) row-major like Keras ---- */

/* out (N, out_dim) overwritten. b may be NULL (no bias). OpenBLAS sgemm. */
void df_dense_forward(float *out, const float *in, const float *W, const float *b, int N,
                      int in_dim, int out_dim);
/* d_in (N, in_dim) overwritten; pass NULL to skip it (the first layer on
 * frozen features needs no input gradient, and it is the largest GEMM).
 * dW (in_dim, out_dim) and db (out_dim) accumulated; db may be NULL. */
void df_dense_backward(float *d_in, float *dW, float *db, const float *d_out, const float *in,
                       const float *W, int N, int in_dim, int out_dim);

/* ---- Dense with few outputs (the linear head: a few classes over 1,280
 * features), on rows given by pointers ----
 * A BLAS spends a 32 x 1280 x 3 GEMM on overhead (OpenBLAS's small-matrix
 * kernels: 13-16 us per GEMM on an AVX-512 core, about half of a linear
 * head's training step), and the rows had to be copied into one block for
 * it; here each row is read where it lies (a feature cache's row), once
 * per class. The sums run in one fixed order whatever the vector width
 * (DF_DENSE_LANES partial sums per dot product, reduced pairwise, then the
 * remainder one by one; gradients summed over rows in row order; no fused
 * multiply-add), so the AVX2, AVX-512 and plain C versions give the same
 * bits (a BLAS's order depends on the kernel set it picks per CPU). */
enum { DF_DENSE_LANES = 32, DF_DENSE_GROUP = 3 };

/* out (N, out_dim) overwritten: out[i][o] = dot(rows[i], W[., o]) + b[o]
 * (b may be NULL). wt: scratch of in_dim * out_dim floats (W transposed). */
void df_dense_rows_forward(float *out, const float *const *rows, const float *W, const float *b, int N,
                           int in_dim, int out_dim, float *wt);
/* dW (in_dim, out_dim) and db (out_dim, may be NULL) accumulated with
 * rows^T d_out and the column sums of d_out (db in double, as
 * df_dense_backward). No input gradient (the layer reads frozen features).
 * coef: scratch of N * DF_DENSE_GROUP floats. */
void df_dense_rows_backward(float *dW, float *db, const float *d_out, const float *const *rows, int N, int in_dim,
                            int out_dim, float *coef);

/* ---- ReLU: out = max(in, 0) over n elements ---- */

/* out overwritten; out may alias in. */
void df_relu_forward(float *out, const float *in, size_t n);
/* d_in = d_out where out > 0, else 0 (out is the forward OUTPUT; out > 0
 * exactly when in > 0). d_in overwritten; d_in may alias d_out. */
void df_relu_backward(float *d_in, const float *d_out, const float *out, size_t n);

/* ---- BatchNormalization over (N, F), per feature ----
 * Training: y = gamma * (x - mu) / sqrt(var + eps) + beta with mu and var
 * the batch mean and the BIASED batch variance (divide by N). The moving
 * statistics are updated with that same biased variance, in Keras' form
 * moving -= (moving - batch) * (1 - momentum), i.e. moving = momentum *
 * moving + (1 - momentum) * batch. This is what tf.keras does for 2-D
 * inputs: they take the non-fused path (tf.nn.moments, biased), and only
 * the fused 4-D kernel would use a Bessel-corrected variance. Statistics
 * are summed in double. Keras defaults: eps 1e-3, momentum 0.99.
 * Inference: the moving statistics instead of the batch ones. */

typedef struct df_batchnorm_cache {
    float *xhat;  /* (N, F): (x - mu) * rstd, written by forward_train */
    float *rstd;  /* (F): 1 / sqrt(var + eps), written by forward_train */
} df_batchnorm_cache;

/* out (N, F) overwritten (may NOT alias in: xhat is computed from in).
 * cache->xhat and cache->rstd written. moving_mean / moving_var (F) updated
 * in place unless NULL (gradient checks pass NULL to leave them alone). */
void df_batchnorm_forward_train(float *out, df_batchnorm_cache *cache, const float *in,
                                const float *gamma, const float *beta, float *moving_mean,
                                float *moving_var, int N, int F, float eps, float momentum);
/* out (N, F) overwritten; out may alias in. */
void df_batchnorm_forward_infer(float *out, const float *in, const float *gamma,
                                const float *beta, const float *moving_mean,
                                const float *moving_var, int N, int F, float eps);
/* d_in (N, F) overwritten (may alias d_out); dgamma, dbeta (F) accumulated.
 * Uses the cache of the matching forward_train. */
void df_batchnorm_backward(float *d_in, float *dgamma, float *dbeta, const float *d_out,
                           const df_batchnorm_cache *cache, const float *gamma, int N, int F);

/* ---- Dropout (inverted): training keeps a unit with probability 1 - p and
 * scales it by 1 / (1 - p); inference is the identity (nothing to call). ---- */

/* Fills mask[0..n) with 0 (dropped) or 1/(1-p) (kept): a unit is kept when
 * df_rng_uniform(rng) >= p, one draw per unit in order. p in [0, 1);
 * p == 0 fills 1 without drawing. */
void df_dropout_mask(float *mask, size_t n, float p, df_rng *rng);
/* out = in * mask, overwritten; out may alias in. Backward is the same
 * call with (d_in, d_out, mask). */
void df_dropout_apply(float *out, const float *in, const float *mask, size_t n);

/* ---- Softmax and categorical cross-entropy ---- */

/* probs (N, C) overwritten; stable (subtracts the row max). probs may alias
 * logits. */
void df_softmax_forward(float *probs, const float *logits, int N, int C);

/* Fused softmax + cross-entropy on logits, numerically stable (log-sum-exp
 * in double, no clipping needed):
 *   loss = (1/N) sum_i w[label_i] * (logsumexp(z_i) - z_i[label_i])
 * w = class_weights, or all 1 when NULL. Like Keras with class_weight, the
 * weighted sum is divided by N (not by the sum of weights).
 * probs (N, C) overwritten (may be NULL). d_logits (N, C) overwritten with
 * dLoss/dz = w[label_i] * (softmax(z_i) - onehot(label_i)) / N (may be NULL,
 * may alias probs but not logits). Labels must be in [0, C): the caller
 * checks. Returns the loss (double); NaN/inf only if a logit is NaN/inf. */
double df_softmax_ce(float *probs, float *d_logits, const float *logits, const int *labels,
                     const float *class_weights, int N, int C);

/* The same with label smoothing eps in [0, 1): the target of row i is
 * t = (1 - eps) * onehot(label_i) + eps / C, so
 *   loss = (1/N) sum_i w[label_i] * (logsumexp(z_i) - sum_c t_c z_i[c])
 *   dLoss/dz = w[label_i] * (softmax(z_i) - t) / N.
 * eps = 0 is df_softmax_ce, bit for bit. */
double df_softmax_ce_smooth(float *probs, float *d_logits, const float *logits, const int *labels,
                            const float *class_weights, int N, int C, float eps);

/* ---- Global average pooling over H x W: (N, HW, C) -> (N, C) ---- */

/* out (N, C) overwritten; sum in double, divided by HW. */
void df_gap_forward(float *out, const float *in, int N, int HW, int C);
/* d_in (N, HW, C) overwritten with d_out / HW broadcast. */
void df_gap_backward(float *d_in, const float *d_out, int N, int HW, int C);

/* ---- L2 regularisation, Keras regularizers.l2(lambda) ---- */

/* Returns lambda * sum(w^2) (double). */
double df_l2_forward(const float *w, size_t n, float lambda);
/* dw += 2 * lambda * w (accumulated). */
void df_l2_backward(float *dw, const float *w, size_t n, float lambda);

#endif
