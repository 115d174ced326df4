/* Exact integer convolutions on oneDNN's fp32 kernels (see qnet_f32.h). */
#include "engine/qnet_f32.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "core/cpu.h"
#include "engine/qconv1x1.h"

/* Integers up to 2^24 are exact in fp32, and so is every sum of them that
 * stays there. */
#define EXACT_LIMIT 16777216.0

struct df_qf32_conv {
    int h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow, depthwise;
    float *weights;            /* TFLite's layout, w - w_zp */
    float *bias;               /* [oc] (the part within reach of 2^24: see bias_hi) */
    /* [oc] The rest of a bias too large to add to the sums exactly (the int8
     * TF2 model's first layer: 1.5e8), a float holding it exactly, added by
     * a binary post-op once the sum is complete: one rounding of the whole
     * int32, which is what XNNPACK's conversion to float does. NULL: none. */
    float *bias_hi;
    float *scales;             /* [oc] per-channel requantization (binary post-op); NULL: one */
    float scale, clip_lo, clip_hi; /* the requantization's eltwise post-ops (scale when scales is NULL) */
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t user_w, vec_md; /* vec_md: [1][oc][1][1], the binary post-ops' */
    /* set up for one batch size: */
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bia, dst, scratch, hi, sc;
    /* the depthwise layer fused into this one's primitive (borrowed), its
     * weights in the primitive's format and its bias; NULL: none */
    const df_qf32_conv *dw;
    dnnl_memory_t dw_wei, dw_bia;
    /* A 1x1 layer on our 16-bit pair kernels instead (qconv1x1.h; NULL:
     * oneDNN's), set up for own_batch images (0: not), its panel in the
     * engine's shared work area: its input and output. */
    df_qconv1x1 *own;
    const float *own_in;
    float *own_out;
    int own_in_layout, own_out_layout, own_batch;
    int own_always; /* DF_QF32_1X1=own: at every batch size */
    char impl[96];
};

static void release_setup(df_qf32_conv *cv) {
    dnnl_memory_t *mems[] = {&cv->src, &cv->wei, &cv->bia, &cv->dst, &cv->scratch, &cv->hi, &cv->sc,
                             &cv->dw_wei, &cv->dw_bia};
    if (cv->prim) dnnl_primitive_destroy(cv->prim);
    cv->prim = NULL;
    cv->own_batch = 0;
    cv->dw = NULL;
    for (size_t k = 0; k < sizeof mems / sizeof mems[0]; k++) {
        if (*mems[k]) dnnl_memory_destroy(*mems[k]);
        *mems[k] = NULL;
    }
}

void df_qf32_conv_destroy(df_qf32_conv *cv) {
    if (!cv) return;
    release_setup(cv);
    if (cv->attr) dnnl_primitive_attr_destroy(cv->attr);
    df_qconv1x1_destroy(cv->own);
    free(cv->weights);
    free(cv->bias);
    free(cv->bias_hi);
    free(cv->scales);
    free(cv);
}

static size_t per_channel_weights(const df_qf32_conv *cv) {
    return (size_t)cv->kh * cv->kw * (cv->depthwise ? 1 : (size_t)cv->c);
}

static dnnl_format_tag_t layout_tag(df_qf32_layout l) {
    return l == DF_QF32_BLOCKED8 ? dnnl_aBcd8b : l == DF_QF32_NCHW ? dnnl_nchw : dnnl_nhwc;
}

static dnnl_status_t make_pd(const df_qdnnl *e, const df_qf32_conv *cv, int batch, df_qf32_layout src_layout,
                             df_qf32_layout dst_layout, const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t s, w, b, d;
    dnnl_dims_t sd = {batch, cv->c, cv->h, cv->w}, dd = {batch, cv->oc, cv->oh, cv->ow};
    dnnl_dims_t bd = {cv->oc}, st = {cv->sh, cv->sw}, pl = {cv->pt, cv->pl}, pr = {cv->pb, cv->pr};
    dnnl_status_t r = dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_f32, layout_tag(src_layout));
    if (!r) r = dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_f32, layout_tag(dst_layout));
    if (!r) r = dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_f32, dnnl_x);
    if (!r && cv->depthwise) {
        dnnl_dims_t wd = {cv->oc, 1, 1, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 5, wd, dnnl_f32, dnnl_format_tag_any);
    } else if (!r) {
        dnnl_dims_t wd = {cv->oc, cv->c, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_convolution_desc_t cd;
    /* direct: Winograd's transforms would round */
    if (!r)
        r = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &s, &w, &b,
                                               &d, st, pl, pr);
    if (!r) r = dnnl_primitive_desc_create(pd, &cd, attr, df_qdnnl_engine(e), NULL);
    return r;
}

static void record_impl(df_qf32_conv *cv, const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success) impl = "?";
    snprintf(cv->impl, sizeof cv->impl, "%s", impl);
}

/* The requantization as post-ops: times the scale (one per tensor as an
 * eltwise, one per channel as a binary multiply), clamp, round. Clamping
 * to integer bounds before or after rounding gives the same result. */
static dnnl_status_t make_attr(df_qf32_conv *cv, df_qparams in, const df_qconv_desc *d, int per_channel) {
    dnnl_status_t r = dnnl_primitive_attr_create(&cv->attr);
    if (!r) r = dnnl_primitive_attr_set_scratchpad_mode(cv->attr, dnnl_scratchpad_mode_user);
    if (r) return r;
    const float one = in.scale * d->weight_scale[0] / d->out.scale;
    int same = 1;
    for (int k = 1; per_channel && k < cv->oc; k++)
        same &= in.scale * d->weight_scale[k] / d->out.scale == one;
    dnnl_post_ops_t po = NULL;
    dnnl_dims_t vd = {1, cv->oc, 1, 1};
    r = dnnl_memory_desc_init_by_tag(&cv->vec_md, 4, vd, dnnl_f32, dnnl_nchw);
    if (!r) r = dnnl_post_ops_create(&po);
    if (!r && cv->bias_hi) r = dnnl_post_ops_append_binary(po, dnnl_binary_add, &cv->vec_md);
    cv->scale = one;
    cv->clip_lo = (float)d->out_min - (float)d->out.zero_point;
    cv->clip_hi = (float)d->out_max - (float)d->out.zero_point;
    if (!r && same) {
        r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, one, 0.0f);
    } else if (!r) {
        cv->scales = malloc((size_t)cv->oc * sizeof *cv->scales);
        if (!cv->scales) r = dnnl_out_of_memory;
        for (int k = 0; !r && k < cv->oc; k++) cv->scales[k] = in.scale * d->weight_scale[k] / d->out.scale;
        if (!r) r = dnnl_post_ops_append_binary(po, dnnl_binary_mul, &cv->vec_md);
    }
    if (!r) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, cv->clip_lo, cv->clip_hi);
    if (!r) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_round, 0.0f, 0.0f);
    if (!r) r = dnnl_primitive_attr_set_post_ops(cv->attr, po);
    if (po) dnnl_post_ops_destroy(po);
    return r;
}

/* The weights minus their zero point and the bias as floats, and the
 * bound that makes every partial sum exact. */
static df_status copy_weights(df_qf32_conv *cv, df_qtype type, df_qparams in, const df_qconv_desc *d,
                              df_error *err) {
    const size_t per = per_channel_weights(cv), nw = per * (size_t)cv->oc;
    cv->weights = malloc(nw * sizeof *cv->weights);
    cv->bias = malloc((size_t)cv->oc * sizeof *cv->bias);
    double *l1 = calloc((size_t)cv->oc, sizeof *l1);
    if (!cv->weights || !cv->bias || !l1) {
        free(l1);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    if (type == DF_QTYPE_U8) {
        const uint8_t *src = d->weights;
        const int zp = (int)d->weight_zero_point;
        for (size_t k = 0; k < nw; k++) cv->weights[k] = (float)(src[k] - zp);
    } else {
        const int8_t *src = d->weights;
        for (size_t k = 0; k < nw; k++) cv->weights[k] = (float)src[k];
    }
    for (size_t k = 0; k < nw; k++) /* dense [oc][k], depthwise [k][oc] */
        l1[cv->depthwise ? k % (size_t)cv->oc : k / per] += fabs((double)cv->weights[k]);
    const int qlo = type == DF_QTYPE_U8 ? 0 : -128, qhi = type == DF_QTYPE_U8 ? 255 : 127;
    const double xmax = in.zero_point - qlo > qhi - in.zero_point ? in.zero_point - qlo : qhi - in.zero_point;
    df_status st = DF_OK;
    for (int o = 0; o < cv->oc && st == DF_OK; o++) {
        const int32_t b = d->bias ? d->bias[o] : 0;
        int64_t lo = b;
        if (xmax * l1[o] + fabs((double)b) > EXACT_LIMIT) { /* the bias's top part after the sum */
            if (!cv->bias_hi && !(cv->bias_hi = calloc((size_t)cv->oc, sizeof *cv->bias_hi))) {
                st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
                break;
            }
            cv->bias_hi[o] = (float)b; /* exactly (int64_t)(float)b */
            lo = (int64_t)b - (int64_t)cv->bias_hi[o];
        }
        cv->bias[o] = (float)lo;
        const double bound = xmax * l1[o] + fabs((double)lo);
        if (bound > EXACT_LIMIT)
            st = df_error_set(err, DF_ERR_UNSUPPORTED,
                              "fp32 integer convolution: channel %d of %d could sum to %.0f, past 2^24 "
                              "(fp32 would round it)", o, cv->oc, bound);
    }
    free(l1);
    return st;
}

/* A dense, unpadded, stride-1 1x1 layer runs on the 16-bit pair kernels
 * where the CPU has AVX2 (qconv1x1.h: the same bits) when its batch has at
 * most OWN_MAX_PIXELS pixels: at batch 1 every MobileNetV2 1x1 layer but
 * the 112x112 ones, at 8 those up to 28x28, at 16 up to 14x14. vpmaddwd
 * does 16 products where an FMA does 8, and this AMD EPYC (Zen 5) issues
 * two of either a cycle (8.1 G a second each on one core, a throwaway
 * loop of independent instructions); the kernels' own loop reached 1.75 a
 * cycle with its data in L1. Where the pixels are many, the input's
 * conversion, the output's requantization and the panel leaving L2 take
 * that back. The whole engine, alternating in one process against
 * oneDNN's 1x1 kernels everywhere (build/bench_qconv1x1 B ROUNDS MODEL,
 * capped to AVX2, 2-4 runs each): with maps up to 14x14 at every batch
 * 1.24-1.26x / 1.11-1.16x / 1.06-1.11x at batch 1 / 8 / 16, with this
 * limit 1.28-1.29x / 1.14-1.17x / 1.11x; 3136 pixels gave 1.28-1.29x /
 * 1.14-1.16x / 1.07-1.10x, 12544 1.29-1.31x / 1.17x / 1.05-1.07x, no
 * limit 1.30-1.32x / 1.10-1.14x / 0.99-1.00x. DF_QF32_1X1=onednn keeps
 * oneDNN's everywhere, =own takes ours for every layer it can run at any
 * batch (A/B runs). A bias split in two (bias_hi) stays with oneDNN's
 * post-op. */
#define OWN_MAX_PIXELS 6272

static df_status own_create(df_qf32_conv *cv, df_error *err) {
    const char *e = getenv("DF_QF32_1X1");
    const int all = e && !strcmp(e, "own");
    if ((e && !strcmp(e, "onednn")) ||
        cv->depthwise || cv->kh != 1 || cv->kw != 1 || cv->sh != 1 || cv->sw != 1 || cv->pt || cv->pl || cv->pb ||
        cv->pr || cv->bias_hi || !df_qconv1x1_available())
        return DF_OK;
    const df_qconv1x1_desc d = {.c = cv->c, .oc = cv->oc, .weights = cv->weights, .bias = cv->bias,
                                .scale = cv->scale, .scales = cv->scales, .clip_lo = cv->clip_lo,
                                .clip_hi = cv->clip_hi};
    cv->own_always = all;
    df_status st = df_qconv1x1_create(&d, &cv->own, err);
    if (st == DF_ERR_UNSUPPORTED) { /* oneDNN's kernels then */
        df_error_clear(err);
        st = DF_OK;
    }
    return st;
}

/* cv's own kernels from in to out (neither planar) for batch images, their
 * panel in e's work area (one for the net, the largest layer's: 3.6 MB for
 * MobileNetV2 at batch 16; a panel per layer had taken its peak RSS from
 * 175.7 MB with oneDNN's kernels to 196.8, the shared one to 177.5). */
static df_status own_setup(df_qdnnl *e, df_qf32_conv *cv, int batch, const float *in, df_qf32_layout in_layout,
                           float *out, df_qf32_layout out_layout, df_error *err) {
    df_status st = df_qdnnl_reserve_work(
        e, df_qconv1x1_work_bytes(cv->own, (size_t)batch * (size_t)cv->h * (size_t)cv->w), err);
    if (st) return st;
    cv->own_in = in;
    cv->own_out = out;
    cv->own_in_layout = in_layout == DF_QF32_BLOCKED8 ? DF_QCONV1X1_BLOCKED8 : DF_QCONV1X1_NHWC;
    cv->own_out_layout = out_layout == DF_QF32_BLOCKED8 ? DF_QCONV1X1_BLOCKED8 : DF_QCONV1X1_NHWC;
    cv->own_batch = batch;
    snprintf(cv->impl, sizeof cv->impl, "qconv1x1:avx2 (int16 pairs)");
    return DF_OK;
}

df_status df_qf32_conv_create(df_qdnnl *e, df_qtype type, int h, int w, int c, df_qparams in,
                              const df_qconv_desc *d, df_qf32_conv **out, df_error *err) {
    *out = NULL;
    df_qf32_conv *cv = calloc(1, sizeof *cv);
    if (!cv) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    *cv = (df_qf32_conv){.h = h, .w = w, .c = c, .oc = d->out_c, .kh = d->kh, .kw = d->kw, .sh = d->stride_h,
                         .sw = d->stride_w, .pt = d->pad_top, .pl = d->pad_left, .pb = d->pad_bottom,
                         .pr = d->pad_right, .depthwise = d->depthwise};
    cv->oh = (h + cv->pt + cv->pb - cv->kh) / cv->sh + 1;
    cv->ow = (w + cv->pl + cv->pr - cv->kw) / cv->sw + 1;
    df_status st = copy_weights(cv, type, in, d, err);
    if (st) {
        df_qf32_conv_destroy(cv);
        return st;
    }
    dnnl_status_t r = make_attr(cv, in, d, type == DF_QTYPE_S8);
    if (!r) r = df_qdnnl_user_weights_md(&cv->user_w, cv->oc, cv->c, cv->kh, cv->kw, cv->depthwise, dnnl_f32);
    dnnl_primitive_desc_t pd = NULL;
    if (!r) r = make_pd(e, cv, 1, DF_QF32_NHWC, DF_QF32_NHWC, cv->attr, &pd);
    if (r) {
        df_qf32_conv_destroy(cv);
        return df_error_set(err, r == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                            "oneDNN fp32 refuses the integer %s %dx%d convolution %dx%dx%d -> %d, stride %d: %s",
                            d->depthwise ? "depthwise" : "dense", d->kh, d->kw, h, w, c, d->out_c, d->stride_h,
                            dnnl_status2str(r));
    }
    record_impl(cv, pd);
    dnnl_primitive_desc_destroy(pd);
    st = own_create(cv, err);
    if (st) {
        df_qf32_conv_destroy(cv);
        return st;
    }
    *out = cv;
    return DF_OK;
}

/* The memories, the weights reordered into pd's format and the primitive
 * (the fused depthwise layer's too, when cv->dw is set). */
static dnnl_status_t setup_from_pd(df_qdnnl *e, df_qf32_conv *cv, const_dnnl_primitive_desc_t pd, float *in,
                                   float *out) {
    dnnl_engine_t eng = df_qdnnl_engine(e);
    dnnl_status_t r = dnnl_memory_create(&cv->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), eng, in);
    if (!r) r = dnnl_memory_create(&cv->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), eng, out);
    if (!r)
        r = dnnl_memory_create(&cv->bia, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), eng,
                               cv->bias);
    if (!r && cv->bias_hi) r = dnnl_memory_create(&cv->hi, &cv->vec_md, eng, cv->bias_hi);
    if (!r && cv->scales) r = dnnl_memory_create(&cv->sc, &cv->vec_md, eng, cv->scales);
    if (!r)
        r = df_qdnnl_reorder(e, &cv->user_w, cv->weights, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                             &cv->wei);
    if (!r && cv->dw) {
        const int dw_w = DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, dw_b = DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS;
        const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, dw_w);
        const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, dw_b);
        r = wmd && bmd ? df_qdnnl_reorder(e, &cv->dw->user_w, cv->dw->weights, wmd, &cv->dw_wei) : dnnl_unimplemented;
        if (!r) r = dnnl_memory_create(&cv->dw_bia, bmd, eng, cv->dw->bias);
    }
    const dnnl_memory_desc_t *smd = r ? NULL : dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        r = dnnl_memory_create(&cv->scratch, smd, eng, DNNL_MEMORY_ALLOCATE);
    if (!r) r = dnnl_primitive_create(&cv->prim, pd);
    return r;
}

df_status df_qf32_conv_setup(df_qdnnl *e, df_qf32_conv *cv, int batch, float *in, df_qf32_layout in_layout,
                             float *out, df_qf32_layout out_layout, df_error *err) {
    release_setup(cv);
    if (cv->own && (cv->own_always || (size_t)batch * (size_t)cv->h * (size_t)cv->w <= OWN_MAX_PIXELS) &&
        in_layout != DF_QF32_NCHW && out_layout != DF_QF32_NCHW)
        return own_setup(e, cv, batch, in, in_layout, out, out_layout, err);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t r = make_pd(e, cv, batch, in_layout, out_layout, cv->attr, &pd);
    if (!r) r = setup_from_pd(e, cv, pd, in, out);
    if (pd) {
        record_impl(cv, pd);
        dnnl_primitive_desc_destroy(pd);
    }
    if (r) {
        release_setup(cv);
        return df_error_set(err, r == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                            "oneDNN fp32 integer convolution setup: %s", dnnl_status2str(r));
    }
    return DF_OK;
}

/* The shapes oneDNN's fused depthwise post-op computes: the output
 * ceil(in / s), padded pt = pl on top and left and the rest below and
 * right; the binary post-ops (per-channel scales, a split bias) not in the
 * chain. */
int df_qf32_conv_fusable(const df_qf32_conv *cv, const df_qf32_conv *dw) {
    const int s = dw->sh;
    return !cv->depthwise && cv->kh == 1 && cv->kw == 1 && cv->sh == 1 && cv->sw == 1 && !cv->pt && !cv->pl &&
           !cv->pb && !cv->pr && dw->depthwise && dw->kh == 3 && dw->kw == 3 && dw->sw == s && (s == 1 || s == 2) &&
           dw->pt == dw->pl && (dw->pt == 0 || dw->pt == 1) && dw->h == cv->oh && dw->w == cv->ow &&
           dw->c == cv->oc && dw->oc == cv->oc && dw->oh == (dw->h + s - 1) / s && dw->ow == (dw->w + s - 1) / s &&
           dw->pb == (dw->oh - 1) * s + 3 - dw->h - dw->pt && dw->pr == (dw->ow - 1) * s + 3 - dw->w - dw->pl &&
           !cv->scales && !cv->bias_hi && !dw->scales && !dw->bias_hi;
}

/* cv's requantization, the depthwise layer, then its requantization. */
static dnnl_status_t fused_attr(const df_qf32_conv *cv, const df_qf32_conv *dw, dnnl_primitive_attr_t *attr) {
    dnnl_post_ops_t po = NULL;
    dnnl_status_t r = dnnl_primitive_attr_create(attr);
    if (!r) r = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (!r) r = dnnl_post_ops_create(&po);
    const df_qf32_conv *steps[2] = {cv, dw};
    for (int k = 0; k < 2 && !r; k++) {
        if (k == 1) r = dnnl_post_ops_append_dw(po, dnnl_f32, dnnl_f32, dnnl_f32, 3, dw->sh, dw->pt, 0, 0, NULL);
        if (!r) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, steps[k]->scale, 0.0f);
        if (!r) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, steps[k]->clip_lo, steps[k]->clip_hi);
        if (!r) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_round, 0.0f, 0.0f);
    }
    if (!r) r = dnnl_primitive_attr_set_post_ops(*attr, po);
    if (po) dnnl_post_ops_destroy(po);
    return r;
}

df_status df_qf32_conv_setup_fused(df_qdnnl *e, df_qf32_conv *cv, df_qf32_conv *dw, int batch, float *in,
                                   df_qf32_layout in_layout, float *out, df_qf32_layout out_layout, int *fused,
                                   df_error *err) {
    *fused = 0;
    release_setup(cv);
    if (!df_qf32_conv_fusable(cv, dw)) return DF_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t r = fused_attr(cv, dw, &attr);
    if (!r) r = make_pd(e, cv, batch, in_layout, out_layout, attr, &pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    /* A jit kernel computing both (not oneDNN's reference chaining of the
     * two over a full buffer), writing dw's output in its layout. */
    const char *impl = NULL;
    dnnl_memory_desc_t want;
    dnnl_dims_t od = {batch, dw->oc, dw->oh, dw->ow};
    int ok = !r && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
             !strncmp(impl, "jit", 3) &&
             dnnl_memory_desc_init_by_tag(&want, 4, od, dnnl_f32, layout_tag(out_layout)) == dnnl_success &&
             dnnl_memory_desc_equal(&want, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0));
    if (ok) {
        release_setup(dw); /* not run while fused */
        cv->dw = dw;
        r = setup_from_pd(e, cv, pd, in, out);
        record_impl(cv, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ok && r) {
        release_setup(cv);
        return df_error_set(err, r == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                            "oneDNN fp32 integer convolution with its depthwise layer fused: %s",
                            dnnl_status2str(r));
    }
    *fused = ok;
    return DF_OK;
}

df_status df_qf32_conv_run(df_qdnnl *e, df_qf32_conv *cv, df_error *err) {
    if (cv->own_batch) {
        size_t bytes;
        void *work = df_qdnnl_work(e, &bytes);
        return df_qconv1x1_run(cv->own, cv->own_in, cv->own_in_layout, cv->own_out, cv->own_out_layout,
                               cv->own_batch, cv->h * cv->w, work, bytes, err);
    }
    if (!cv->prim) return df_error_set(err, DF_ERR_INVALID_ARG, "fp32 integer convolution not set up");
    dnnl_exec_arg_t args[9] = {{DNNL_ARG_SRC, cv->src}, {DNNL_ARG_WEIGHTS, cv->wei}, {DNNL_ARG_BIAS, cv->bia},
                               {DNNL_ARG_DST, cv->dst}};
    int n = 4;
    if (cv->scratch) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, cv->scratch};
    if (cv->hi) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, cv->hi};
    if (cv->sc)
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(cv->hi ? 1 : 0) | DNNL_ARG_SRC_1, cv->sc};
    if (cv->dw) {
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, cv->dw_wei};
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, cv->dw_bia};
    }
    dnnl_status_t r = dnnl_primitive_execute(cv->prim, df_qdnnl_stream(e), n, args);
    if (!r) r = dnnl_stream_wait(df_qdnnl_stream(e));
    return r ? df_error_set(err, r == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                            "oneDNN fp32 integer convolution: %s", dnnl_status2str(r))
             : DF_OK;
}

const char *df_qf32_conv_impl(const df_qf32_conv *cv) { return cv->impl; }

/* A stretch of the ADD, in each ISA's vectors: XNNPACK's arithmetic needs
 * 32-bit multiplies, which the baseline's SSE2 does not have (as in
 * qnet_dnnl.c's byte version). */
static inline __attribute__((always_inline)) void add_body(const df_qadd_params *p, const float *a, const float *b,
                                                           float *y, int32_t vlo, int32_t vhi, size_t n) {
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        int32_t v = df_qadd_centred(p, (int32_t)a[k], (int32_t)b[k]);
        v = v < vlo ? vlo : v; /* a min and a max (a nested ?: with the */
        v = v > vhi ? vhi : v; /* conversion around it stayed scalar) */
        y[k] = (float)v;
    }
}
#define ADD_ARGS const df_qadd_params *p, const float *a, const float *b, float *y, int32_t vlo, int32_t vhi, size_t n
static void add_base(ADD_ARGS) { add_body(p, a, b, y, vlo, vhi, n); }
__attribute__((target("avx2"))) static void add_avx2(ADD_ARGS) { add_body(p, a, b, y, vlo, vhi, n); }
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void add_avx512(ADD_ARGS) {
    add_body(p, a, b, y, vlo, vhi, n);
}
#undef ADD_ARGS

enum { ADD_CHUNK = 8192 };

void df_qf32_add(const float *a, df_qparams pa, const float *b, df_qparams pb, float *y, df_qparams py,
                 int32_t lo, int32_t hi, size_t n) {
    df_qadd_params p;
    df_qadd_params_init(&p, pa, pb, py);
    const int32_t vlo = lo - py.zero_point, vhi = hi - py.zero_point;
    const df_cpu_isa isa = df_cpu_isa_best();
    void (*run)(const df_qadd_params *, const float *, const float *, float *, int32_t, int32_t, size_t) =
        isa == DF_CPU_ISA_AVX512 ? add_avx512 : isa == DF_CPU_ISA_AVX2 ? add_avx2 : add_base;
    const size_t chunk = df_qsplit_chunk(n, ADD_CHUNK, 64), chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n >= DF_QPARALLEL_MIN)
    for (size_t c = 0; c < chunks; c++) {
        const size_t k0 = c * chunk, m = n - k0 < chunk ? n - k0 : chunk;
        run(&p, a + k0, b + k0, y + k0, vlo, vhi, m);
    }
}

enum { GAP_BLOCK = 256 };

void df_qf32_global_avgpool(const float *x, df_qf32_layout layout, df_qparams px, float *y, df_qparams py,
                            int batch, int hw, int c, int32_t qlo, int32_t qhi) {
    const float k = px.scale / (py.scale * (float)hw);
    const float vlo = (float)(qlo - py.zero_point), vhi = (float)(qhi - py.zero_point);
    if (layout == DF_QF32_BLOCKED8) { /* [n][c / 8][hw][8] (c a multiple of 8) to [n][c] */
        const int cb = c / 8;
#pragma omp parallel for schedule(static) if ((size_t)batch * hw * c >= DF_QPARALLEL_MIN)
        for (int job = 0; job < batch * cb; job++) {
            float acc[8] = {0};
            const float *xb = x + (size_t)job * hw * 8;
            for (int p = 0; p < hw; p++)
#pragma omp simd
                for (int j = 0; j < 8; j++) acc[j] += xb[(size_t)p * 8 + j];
            for (int j = 0; j < 8; j++) y[(size_t)job * 8 + j] = df_qclamp_rne(acc[j] * k, vlo, vhi);
        }
        return;
    }
    const int blocks = (c + GAP_BLOCK - 1) / GAP_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)batch * hw * c >= DF_QPARALLEL_MIN)
    for (int job = 0; job < batch * blocks; job++) {
        const int n = job / blocks, c0 = job % blocks * GAP_BLOCK;
        const int cn = c - c0 < GAP_BLOCK ? c - c0 : GAP_BLOCK;
        float acc[GAP_BLOCK]; /* integer sums of at most hw * 255: exact */
        memset(acc, 0, sizeof acc);
        const float *xn = x + (size_t)n * hw * c + c0;
        for (int p = 0; p < hw; p++) {
            const float *row = xn + (size_t)p * c;
#pragma omp simd
            for (int j = 0; j < cn; j++) acc[j] += row[j];
        }
#pragma omp simd
        for (int j = 0; j < cn; j++) y[(size_t)n * c + c0 + j] = df_qclamp_rne(acc[j] * k, vlo, vhi);
    }
}
