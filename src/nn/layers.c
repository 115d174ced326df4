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
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "core/cpu.h"

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

/* ---- Dense with few outputs, over row pointers ----
 * Forward, one dot product: lane j of DF_DENSE_LANES sums x[k L + j] *
 * w[k L + j] over the whole blocks k in order (from 0, multiply then add),
 * the lanes are reduced pairwise (j += j + 16, 8, 4, 2, 1), then the
 * remainder elements are added one by one. Backward, one weight's
 * gradient: the rows' products summed from 0 in row order, then added to
 * dW. The plain versions are the definition; AVX-512 holds the 32 lanes in
 * two registers, AVX2 in four, and both work on DF_DENSE_GROUP classes at
 * once (independent sums that keep the adders busy), which changes no
 * order. */
static float dot_plain(const float *x, const float *w, int D) {
    float acc[DF_DENSE_LANES] = {0};
    int d = 0;
    for (; d + DF_DENSE_LANES <= D; d += DF_DENSE_LANES)
        for (int j = 0; j < DF_DENSE_LANES; j++) acc[j] += x[d + j] * w[d + j];
    for (int s = DF_DENSE_LANES / 2; s >= 1; s /= 2)
        for (int j = 0; j < s; j++) acc[j] += acc[j + s];
    float sum = acc[0];
    for (; d < D; d++) sum += x[d] * w[d];
    return sum;
}

static void dots_plain(const float *x, const float *const *w, int D, float *z) {
    for (int g = 0; g < DF_DENSE_GROUP; g++) z[g] = dot_plain(x, w[g], D);
}

/* Lanes 0-7 of a 256-bit register reduced as the plain version does. */
__attribute__((target("avx2"))) static inline float reduce8_avx2(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* j + 4 */
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));                                        /* j + 2 */
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));                                    /* j + 1 */
    return _mm_cvtss_f32(x);
}

__attribute__((target("avx2"))) static void dots_avx2(const float *x, const float *const *w, int D, float *z) {
    __m256 a[DF_DENSE_GROUP][4];
    for (int g = 0; g < DF_DENSE_GROUP; g++)
        for (int k = 0; k < 4; k++) a[g][k] = _mm256_setzero_ps();
    int d = 0;
    for (; d + 32 <= D; d += 32)
        for (int g = 0; g < DF_DENSE_GROUP; g++)
            for (int k = 0; k < 4; k++)
                a[g][k] = _mm256_add_ps(a[g][k], _mm256_mul_ps(_mm256_loadu_ps(x + d + 8 * k),
                                                               _mm256_loadu_ps(w[g] + d + 8 * k)));
    for (int g = 0; g < DF_DENSE_GROUP; g++) {
        /* lanes 0-7, 8-15, 16-23, 24-31: j + 16, then j + 8 */
        __m256 v = _mm256_add_ps(_mm256_add_ps(a[g][0], a[g][2]), _mm256_add_ps(a[g][1], a[g][3]));
        float sum = reduce8_avx2(v);
        for (int e = d; e < D; e++) sum += x[e] * w[g][e];
        z[g] = sum;
    }
}

__attribute__((target("avx512f,avx2"))) static void dots_avx512(const float *x, const float *const *w, int D,
                                                                float *z) {
    __m512 a[DF_DENSE_GROUP][2];
    for (int g = 0; g < DF_DENSE_GROUP; g++) a[g][0] = a[g][1] = _mm512_setzero_ps();
    int d = 0;
    for (; d + 32 <= D; d += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + d), x1 = _mm512_loadu_ps(x + d + 16);
        for (int g = 0; g < DF_DENSE_GROUP; g++) {
            a[g][0] = _mm512_add_ps(a[g][0], _mm512_mul_ps(x0, _mm512_loadu_ps(w[g] + d)));
            a[g][1] = _mm512_add_ps(a[g][1], _mm512_mul_ps(x1, _mm512_loadu_ps(w[g] + d + 16)));
        }
    }
    for (int g = 0; g < DF_DENSE_GROUP; g++) {
        const __m512 s = _mm512_add_ps(a[g][0], a[g][1]); /* j + 16 */
        const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(s),
                                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1))); /* j + 8 */
        float sum = reduce8_avx2(v);
        for (int e = d; e < D; e++) sum += x[e] * w[g][e];
        z[g] = sum;
    }
}

/* The gradient of DF_DENSE_GROUP weight columns over inputs [d0, d1):
 * s = sum over rows i in order of coef[i][g] * rows[i][d], from 0;
 * written to out[g][d - d0]. coef: N x DF_DENSE_GROUP. */
static void grads_plain(const float *const *rows, const float *coef, int N, int d0, int d1, float *out, int stride) {
    for (int g = 0; g < DF_DENSE_GROUP; g++)
        for (int d = d0; d < d1; d++) {
            float s = 0.0f;
            for (int i = 0; i < N; i++) s += coef[(size_t)i * DF_DENSE_GROUP + g] * rows[i][d];
            out[(size_t)g * stride + (d - d0)] = s;
        }
}

/* 32 inputs at a time (12 sums of 8 in registers). */
__attribute__((target("avx2"))) static void grads_avx2(const float *const *rows, const float *coef, int N, int d0,
                                                       int d1, float *out, int stride) {
    int d = d0;
    for (; d + 32 <= d1; d += 32) {
        __m256 a[DF_DENSE_GROUP][4];
        for (int g = 0; g < DF_DENSE_GROUP; g++)
            for (int k = 0; k < 4; k++) a[g][k] = _mm256_setzero_ps();
        for (int i = 0; i < N; i++)
            for (int g = 0; g < DF_DENSE_GROUP; g++) {
                const __m256 c = _mm256_set1_ps(coef[(size_t)i * DF_DENSE_GROUP + g]);
                for (int k = 0; k < 4; k++)
                    a[g][k] = _mm256_add_ps(a[g][k], _mm256_mul_ps(c, _mm256_loadu_ps(rows[i] + d + 8 * k)));
            }
        for (int g = 0; g < DF_DENSE_GROUP; g++)
            for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + (size_t)g * stride + (d - d0) + 8 * k, a[g][k]);
    }
    grads_plain(rows, coef, N, d, d1, out + (d - d0), stride); /* the remainder */
}

/* 64 inputs at a time (12 sums of 16 in registers). */
__attribute__((target("avx512f"))) static void grads_avx512(const float *const *rows, const float *coef, int N,
                                                            int d0, int d1, float *out, int stride) {
    int d = d0;
    for (; d + 64 <= d1; d += 64) {
        __m512 a[DF_DENSE_GROUP][4];
        for (int g = 0; g < DF_DENSE_GROUP; g++)
            for (int k = 0; k < 4; k++) a[g][k] = _mm512_setzero_ps();
        for (int i = 0; i < N; i++) {
            __m512 x[4];
            for (int k = 0; k < 4; k++) x[k] = _mm512_loadu_ps(rows[i] + d + 16 * k);
            for (int g = 0; g < DF_DENSE_GROUP; g++) {
                const __m512 c = _mm512_set1_ps(coef[(size_t)i * DF_DENSE_GROUP + g]);
                for (int k = 0; k < 4; k++) a[g][k] = _mm512_add_ps(a[g][k], _mm512_mul_ps(c, x[k]));
            }
        }
        for (int g = 0; g < DF_DENSE_GROUP; g++)
            for (int k = 0; k < 4; k++) _mm512_storeu_ps(out + (size_t)g * stride + (d - d0) + 16 * k, a[g][k]);
    }
    grads_plain(rows, coef, N, d, d1, out + (d - d0), stride); /* the remainder */
}

/* src (rows, cols) -> dst (cols, rows); written in order (cols is small). */
static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

void df_dense_rows_forward(float *out, const float *const *rows, const float *W, const float *b, int N,
                           int in_dim, int out_dim, float *wt) {
    const df_cpu_isa isa = df_cpu_isa_best();
    void (*dots)(const float *, const float *const *, int, float *) =
        isa == DF_CPU_ISA_AVX512 ? dots_avx512 : isa == DF_CPU_ISA_AVX2 ? dots_avx2 : dots_plain;
    transpose(wt, W, in_dim, out_dim);
    for (int i = 0; i < N; i++) {
        /* The rows are scattered over a feature cache larger than L2: the
         * next one is fetched while this one is summed. */
        if (i + 1 < N)
            for (int d = 0; d < in_dim; d += 16) __builtin_prefetch(rows[i + 1] + d);
        for (int o0 = 0; o0 < out_dim; o0 += DF_DENSE_GROUP) {
            const int n = out_dim - o0 < DF_DENSE_GROUP ? out_dim - o0 : DF_DENSE_GROUP;
            const float *w[DF_DENSE_GROUP];
            float z[DF_DENSE_GROUP];
            for (int g = 0; g < DF_DENSE_GROUP; g++) w[g] = wt + (size_t)(o0 + (g < n ? g : 0)) * in_dim;
            dots(rows[i], w, in_dim, z);
            for (int g = 0; g < n; g++) out[(size_t)i * out_dim + o0 + g] = b ? z[g] + b[o0 + g] : z[g];
        }
    }
}

/* Inputs per pass of the gradient: its sums fit a small stack block. */
enum { GRAD_SPAN = 256 };

void df_dense_rows_backward(float *dW, float *db, const float *d_out, const float *const *rows, int N, int in_dim,
                            int out_dim, float *coef) {
    const df_cpu_isa isa = df_cpu_isa_best();
    void (*grads)(const float *const *, const float *, int, int, int, float *, int) =
        isa == DF_CPU_ISA_AVX512 ? grads_avx512 : isa == DF_CPU_ISA_AVX2 ? grads_avx2 : grads_plain;
    for (int o0 = 0; o0 < out_dim; o0 += DF_DENSE_GROUP) {
        const int n = out_dim - o0 < DF_DENSE_GROUP ? out_dim - o0 : DF_DENSE_GROUP;
        /* this group's columns of d_out, zero for the classes past the last */
        for (int i = 0; i < N; i++)
            for (int g = 0; g < DF_DENSE_GROUP; g++)
                coef[(size_t)i * DF_DENSE_GROUP + g] = g < n ? d_out[(size_t)i * out_dim + o0 + g] : 0.0f;
        for (int d0 = 0; d0 < in_dim; d0 += GRAD_SPAN) {
            const int d1 = in_dim - d0 < GRAD_SPAN ? in_dim : d0 + GRAD_SPAN;
            float s[DF_DENSE_GROUP * GRAD_SPAN];
            grads(rows, coef, N, d0, d1, s, GRAD_SPAN);
            for (int d = d0; d < d1; d++)
                for (int g = 0; g < n; g++) dW[(size_t)d * out_dim + o0 + g] += s[g * GRAD_SPAN + (d - d0)];
        }
    }
    if (db)
        for (int o = 0; o < out_dim; o++) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += d_out[(size_t)i * out_dim + o];
            db[o] += (float)s;
        }
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
