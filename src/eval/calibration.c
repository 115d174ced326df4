/* Temperature scaling and expected calibration error (see calibration.h). */
#include "eval/calibration.h"

#include <math.h>
#include <string.h>

void df_calib_softmax_t(const float *logits, int N, int C, float T, float *probs) {
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * C;
        float *p = probs + (size_t)i * C;
        double m = -INFINITY;
        for (int c = 0; c < C; c++)
            if (z[c] / T > m) m = z[c] / T;
        double s = 0.0;
        for (int c = 0; c < C; c++) {
            double e = exp(z[c] / T - m);
            p[c] = (float)e;
            s += e;
        }
        for (int c = 0; c < C; c++) p[c] = (float)(p[c] / s);
    }
}

double df_calib_nll(const float *logits, const int *labels, int N, int C, float T) {
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *z = logits + (size_t)i * C;
        double m = -INFINITY;
        for (int c = 0; c < C; c++)
            if (z[c] / T > m) m = z[c] / T;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += exp(z[c] / T - m);
        total += m + log(s) - z[labels[i]] / T;
    }
    return total / N;
}

df_status df_calib_fit_temperature(const float *logits, const int *labels, int N, int C, float *T,
                                   df_error *err) {
    *T = 1.0f;
    if (N < 1 || C < 2) return df_error_set(err, DF_ERR_INVALID_ARG, "temperature: %d photos, %d classes", N, C);
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return df_error_set(err, DF_ERR_INVALID_ARG, "temperature: label %d of photo %d", labels[i], i);
    /* A -inf logit (log of a zero probability) is fine; NaN or +inf is not. */
    for (size_t j = 0; j < (size_t)N * C; j++)
        if (isnan(logits[j]) || logits[j] == INFINITY)
            return df_error_set(err, DF_ERR_DATA, "temperature: logit %zu is %g", j, (double)logits[j]);
    const double g = (sqrt(5.0) - 1.0) / 2.0;
    double a = log(0.05), b = log(20.0);
    double c = b - g * (b - a), d = a + g * (b - a);
    double fc = df_calib_nll(logits, labels, N, C, (float)exp(c));
    double fd = df_calib_nll(logits, labels, N, C, (float)exp(d));
    while (b - a > 1e-4) {
        if (fc <= fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = df_calib_nll(logits, labels, N, C, (float)exp(c));
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = df_calib_nll(logits, labels, N, C, (float)exp(d));
        }
    }
    double t = exp((a + b) / 2.0);
    if (!isfinite(df_calib_nll(logits, labels, N, C, (float)t)))
        return df_error_set(err, DF_ERR_DATA, "temperature: the likelihood is not finite at T = %g", t);
    *T = (float)t;
    return DF_OK;
}

void df_calib_reliability(const float *probs, const int *labels, int N, int C, df_reliability *out) {
    memset(out, 0, sizeof *out);
    double conf_sum[DF_CALIB_BINS] = {0}, correct[DF_CALIB_BINS] = {0};
    for (int i = 0; i < N; i++) {
        const float *p = probs + (size_t)i * C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (p[c] > p[best]) best = c;
        int b = (int)(p[best] * DF_CALIB_BINS);
        if (b >= DF_CALIB_BINS) b = DF_CALIB_BINS - 1;
        if (b < 0) b = 0;
        out->count[b]++;
        conf_sum[b] += p[best];
        correct[b] += best == labels[i];
    }
    out->n = N;
    for (int b = 0; b < DF_CALIB_BINS; b++) {
        if (!out->count[b]) continue;
        out->confidence[b] = conf_sum[b] / out->count[b];
        out->accuracy[b] = correct[b] / out->count[b];
        out->ece += (double)out->count[b] / N * fabs(out->accuracy[b] - out->confidence[b]);
    }
}
