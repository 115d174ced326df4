/*
 * Slow, obvious NHWC references of every engine op, in plain loops with
 * double accumulators. They exist to check engine/net.c (tests) and are not
 * meant to be fast. Semantics match net.h: cross-correlation (no kernel
 * flip), OHWI weights, zero padding for convolution, padding never counted
 * by average pooling and never winning a max, activation after the bias or
 * the sum.
 */
#ifndef DF_ENGINE_REFERENCE_H
#define DF_ENGINE_REFERENCE_H

#include "engine/net.h"

/* floor((in + lo + hi - k) / stride) + 1, or 0 when the kernel does not fit. */
int df_ref_out_dim(int in, int k, int stride, int pad_lo, int pad_hi);

float df_ref_activate(double x, df_activation act);

/* in: n x h x w x c; out: n x oh x ow x d->out_c (sizes from df_ref_out_dim). */
void df_ref_conv2d(const float *in, int n, int h, int w, int c, const df_conv2d_desc *d, float *out);
/* in: n x h x w x c; out: n x oh x ow x c. */
void df_ref_pool2d(const float *in, int n, int h, int w, int c, const df_pool2d_desc *d, float *out);
/* in: n x h x w x c; out: n x c (mean over h and w). */
void df_ref_global_avgpool(const float *in, int n, int h, int w, int c, float *out);
/* out[i] = act(a[i] + b[i]) for count elements. */
void df_ref_add(const float *a, const float *b, size_t count, df_activation act, float *out);

#endif
