/*
 * Reference NHWC ops for the engine tests (see reference.h). Plain loops,
 * double accumulators, no cleverness: each output element is computed from
 * its definition.
 */
#include "engine/reference.h"

#include <float.h>

int df_ref_out_dim(int in, int k, int stride, int pad_lo, int pad_hi) {
    long span = (long)in + pad_lo + pad_hi - k;
    if (span < 0 || stride < 1) return 0;
    return (int)(span / stride + 1);
}

float df_ref_activate(double x, df_activation act) {
    if (act == DF_ACT_RELU || act == DF_ACT_RELU6) x = x > 0 ? x : 0;
    if (act == DF_ACT_RELU6) x = x < 6 ? x : 6;
    return (float)x;
}

void df_ref_conv2d(const float *in, int n, int h, int w, int c, const df_conv2d_desc *d, float *out) {
    int oh = df_ref_out_dim(h, d->kh, d->stride_h, d->pad_top, d->pad_bottom);
    int ow = df_ref_out_dim(w, d->kw, d->stride_w, d->pad_left, d->pad_right);
    int icg = c / d->groups, ocg = d->out_c / d->groups;
    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int o = 0; o < d->out_c; o++) {
                    int g = o / ocg;
                    double acc = d->bias ? d->bias[o] : 0.0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = y * d->stride_h - d->pad_top + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = x * d->stride_w - d->pad_left + kx;
                            if (ix < 0 || ix >= w) continue;
                            const float *src = in + (((size_t)b * h + iy) * w + ix) * c + (size_t)g * icg;
                            const float *wt = d->weights + (((size_t)o * d->kh + ky) * d->kw + kx) * icg;
                            for (int i = 0; i < icg; i++) acc += (double)src[i] * wt[i];
                        }
                    }
                    out[(((size_t)b * oh + y) * ow + x) * d->out_c + o] = df_ref_activate(acc, d->activation);
                }
}

void df_ref_pool2d(const float *in, int n, int h, int w, int c, const df_pool2d_desc *d, float *out) {
    int oh = df_ref_out_dim(h, d->kh, d->stride_h, d->pad_top, d->pad_bottom);
    int ow = df_ref_out_dim(w, d->kw, d->stride_w, d->pad_left, d->pad_right);
    for (int b = 0; b < n; b++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                for (int ch = 0; ch < c; ch++) {
                    double acc = d->kind == DF_POOL_MAX ? -DBL_MAX : 0.0;
                    int count = 0;
                    for (int ky = 0; ky < d->kh; ky++) {
                        int iy = y * d->stride_h - d->pad_top + ky;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < d->kw; kx++) {
                            int ix = x * d->stride_w - d->pad_left + kx;
                            if (ix < 0 || ix >= w) continue;
                            double v = in[(((size_t)b * h + iy) * w + ix) * c + ch];
                            if (d->kind == DF_POOL_MAX) acc = v > acc ? v : acc;
                            else acc += v;
                            count++;
                        }
                    }
                    if (d->kind == DF_POOL_AVG) acc = count ? acc / count : 0.0;
                    out[(((size_t)b * oh + y) * ow + x) * c + ch] = (float)acc;
                }
}

void df_ref_global_avgpool(const float *in, int n, int h, int w, int c, float *out) {
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++) {
            double acc = 0;
            for (int i = 0; i < h * w; i++) acc += in[((size_t)b * h * w + i) * c + ch];
            out[(size_t)b * c + ch] = (float)(acc / ((double)h * w));
        }
}

void df_ref_add(const float *a, const float *b, size_t count, df_activation act, float *out) {
    for (size_t i = 0; i < count; i++) out[i] = df_ref_activate((double)a[i] + b[i], act);
}
