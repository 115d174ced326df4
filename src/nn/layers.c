/*
 * Head layers: forward/backward pairs (see layers.h for the conventions).
 * Dense uses OpenBLAS sgemm; the slow obvious reference it is checked
 * against lives in tests/test_nn.c. Reductions (BN statistics, loss,
 * pooling, L2) accumulate in double so results do not drift with N.
 * Matches tf.keras 2.2-2.4 Dense, ReLU, BatchNormalization (2-D, non-fused),
 * Dropout, softmax + categorical cross-entropy, GlobalAveragePooling2D and
 * regularizers.l2.
 */
#include "nn/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void df_dense_forward(float *out, const float *in, const float *W, const float *b, int N,
                      int in_dim, int out_dim) {
    /* Seed every row with the bias, then out += in W (beta = 1). */
    if (b) {
        for (int i = 0; i < N; i++) memcpy(out + (size_t)i * out_dim, b, sizeof(float) * out_dim);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, out_dim, in_dim, 1.0f, in, in_dim, W,
                out_dim, b ? 1.0f : 0.0f, out, out_dim);
}

void df_dense_backward(float *d_in, float *dW, float *db, const float *d_out, const float *in,
                       const float *W, int N, int in_dim, int out_dim) {
    /* dW += in^T d_out */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in_dim, out_dim, N, 1.0f, in, in_dim,
                d_out, out_dim, 1.0f, dW, out_dim);
    if (db) {
        for (int j = 0; j < out_dim; j++) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += d_out[(size_t)i * out_dim + j];
            db[j] += (float)s;
        }
    }
    /* d_in = d_out W^T */
    if (d_in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, in_dim, out_dim, 1.0f, d_out,
                    out_dim, W, out_dim, 0.0f, d_in, in_dim);
}

void df_relu_forward(float *out, const float *in, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void df_relu_backward(float *d_in, const float *d_out, const float *out, size_t n) {
    for (size_t i = 0; i < n; i++) d_in[i] = out[i] > 0.0f ? d_out[i] : 0.0f;
}

void df_batchnorm_forward_train(float *out, df_batchnorm_cache *cache, const float *in,
                                const float *gamma, const float *beta, float *moving_mean,
                                float *moving_var, int N, int F, float eps, float momentum) {
    for (int j = 0; j < F; j++) {
        double s = 0.0;
        for (int i = 0; i < N; i++) s += in[(size_t)i * F + j];
        double mu = s / N;
        double ss = 0.0;
        for (int i = 0; i < N; i++) {
            double d = in[(size_t)i * F + j] - mu;
            ss += d * d;
        }
        double var = ss / N; /* biased, as tf.nn.moments */
        float rstd = (float)(1.0 / sqrt(var + (double)eps));
        float muf = (float)mu;
        cache->rstd[j] = rstd;
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)i * F + j;
            float xh = (in[k] - muf) * rstd;
            cache->xhat[k] = xh;
            out[k] = gamma[j] * xh + beta[j];
        }
        if (moving_mean && moving_var) {
            /* Keras' _assign_moving_average: var -= (var - value) * (1 - momentum). */
            float decay = 1.0f - momentum;
            moving_mean[j] -= (moving_mean[j] - muf) * decay;
            moving_var[j] -= (moving_var[j] - (float)var) * decay;
        }
    }
}

void df_batchnorm_forward_infer(float *out, const float *in, const float *gamma,
                                const float *beta, const float *moving_mean,
                                const float *moving_var, int N, int F, float eps) {
    for (int j = 0; j < F; j++) {
        /* Folded into one scale and shift per feature, like Keras'
         * batch_normalization op: x * (gamma * rsqrt(var + eps)) + (beta - mean * scale). */
        float scale = gamma[j] / sqrtf(moving_var[j] + eps);
        float shift = beta[j] - moving_mean[j] * scale;
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)i * F + j;
            out[k] = in[k] * scale + shift;
        }
    }
}

void df_batchnorm_backward(float *d_in, float *dgamma, float *dbeta, const float *d_out,
                           const df_batchnorm_cache *cache, const float *gamma, int N, int F) {
    /* With xhat = (x - mu) rstd and g = d_out * gamma:
     * dx = rstd / N * (N g - sum(g) - xhat * sum(g * xhat)). */
    for (int j = 0; j < F; j++) {
        double sum_dy = 0.0, sum_dy_xh = 0.0;
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)i * F + j;
            sum_dy += d_out[k];
            sum_dy_xh += (double)d_out[k] * cache->xhat[k];
        }
        dgamma[j] += (float)sum_dy_xh;
        dbeta[j] += (float)sum_dy;
        float g = gamma[j];
        float c1 = (float)(sum_dy / N);
        float c2 = (float)(sum_dy_xh / N);
        float r = cache->rstd[j];
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)i * F + j;
            d_in[k] = g * r * (d_out[k] - c1 - cache->xhat[k] * c2);
        }
    }
}

void df_dropout_mask(float *mask, size_t n, float p, df_rng *rng) {
    if (p <= 0.0f) {
        for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
        return;
    }
    float scale = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) mask[i] = df_rng_uniform(rng) >= p ? scale : 0.0f;
}

void df_dropout_apply(float *out, const float *in, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = in[i] * mask[i];
}

void df_softmax_forward(float *probs, const float *logits, int N, int C) {
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * C;
        float *p = probs + (size_t)i * C;
        float mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c];
        double s = 0.0;
        for (int c = 0; c < C; c++) {
            float e = expf(z[c] - mx);
            p[c] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int c = 0; c < C; c++) p[c] *= inv;
    }
}

double df_softmax_ce(float *probs, float *d_logits, const float *logits, const int *labels,
                     const float *class_weights, int N, int C) {
    return df_softmax_ce_smooth(probs, d_logits, logits, labels, class_weights, N, C, 0.0f);
}

double df_softmax_ce_smooth(float *probs, float *d_logits, const float *logits, const int *labels,
                            const float *class_weights, int N, int C, float eps) {
    double total = 0.0;
    const float t_on = (float)(1.0 - (double)eps + (double)eps / C), t_off = (float)((double)eps / C);
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * C;
        double mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c];
        double s = 0.0;
        for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
        int y = labels[i];
        double w = class_weights ? class_weights[y] : 1.0;
        /* sum_c t_c z_c: z_y itself without smoothing */
        double zt = z[y];
        if (eps > 0.0f) {
            double sum = 0.0;
            for (int c = 0; c < C; c++) sum += z[c];
            zt = (1.0 - (double)eps) * z[y] + (double)eps / C * sum;
        }
        /* (max - z_t) + log(s) rather than logsumexp - z_t: with logits near
         * the float max the two large terms would swallow log(s). */
        total += w * ((mx - zt) + log(s));
        if (probs || d_logits) {
            float gscale = (float)(w / N);
            double inv = 1.0 / s;
            for (int c = 0; c < C; c++) {
                float p = (float)(exp((double)z[c] - mx) * inv);
                if (probs) probs[(size_t)i * C + c] = p;
                if (d_logits) d_logits[(size_t)i * C + c] = gscale * (p - (c == y ? t_on : t_off));
            }
        }
    }
    return total / N;
}

void df_gap_forward(float *out, const float *in, int N, int HW, int C) {
    for (int i = 0; i < N; i++) {
        const float *x = in + (size_t)i * HW * C;
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int k = 0; k < HW; k++) s += x[(size_t)k * C + c];
            out[(size_t)i * C + c] = (float)(s / HW);
        }
    }
}

void df_gap_backward(float *d_in, const float *d_out, int N, int HW, int C) {
    float inv = 1.0f / (float)HW;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < HW; k++)
            for (int c = 0; c < C; c++)
                d_in[((size_t)i * HW + k) * C + c] = d_out[(size_t)i * C + c] * inv;
}

double df_l2_forward(const float *w, size_t n, float lambda) {
    if (lambda == 0.0f) return 0.0;
    /* Eight running sums: one chain of dependent double additions waited
     * on its latency for each of the MLP's 1.3 M weights at every step. */
    double s8[8] = {0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s8[k] += (double)w[i + k] * w[i + k];
    double s = 0.0;
    for (; i < n; i++) s += (double)w[i] * w[i];
    for (int k = 0; k < 8; k++) s += s8[k];
    return lambda * s;
}

void df_l2_backward(float *dw, const float *w, size_t n, float lambda) {
    if (lambda == 0.0f) return;
    float k = 2.0f * lambda;
    for (size_t i = 0; i < n; i++) dw[i] += k * w[i];
}
