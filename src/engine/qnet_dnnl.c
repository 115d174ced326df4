/*
 * The integer engine's oneDNN backend (see qnet_dnnl.h for the contract).
 * A convolution is created in two steps, as the float engine's are: at
 * build time the attributes (scales, zero point, clamp) and a copy of the
 * weights, with a first primitive descriptor at batch 1 so that a refusal
 * shows there; at each reshape the primitive for the batch, over the
 * engine's buffers, and the weights reordered into its format.
 */
#include "engine/qnet_dnnl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "core/cpu.h"

struct df_qdnnl {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
};

struct df_qdnnl_conv {
    int h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow, depthwise;
    int8_t *weights;             /* TFLite's layout (copied) */
    int32_t *bias;               /* [oc]; the source zero point folded in when unpadded */
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t user_w;   /* the weights as TFLite lays them out */
    /* set up for one batch size: */
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bia, dst, scratch; /* scratch: NULL when none needed */
    char impl[96];
};

static df_status dnnl_fail(df_error *err, dnnl_status_t s, const char *what) {
    return df_error_set(err, s == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                        "oneDNN int8 %s: %s", what, dnnl_status2str(s));
}

int df_qdnnl_exact(void) {
    df_cpu_cap_libraries();
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return isa == dnnl_cpu_isa_avx512_core_vnni || isa == dnnl_cpu_isa_avx512_core_bf16 ||
           isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx2_vnni;
}

const char *df_qdnnl_isa_name(void) {
    df_cpu_cap_libraries();
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

df_status df_qdnnl_create(df_qdnnl **out, df_error *err) {
    *out = NULL;
    df_cpu_cap_libraries();
    df_qdnnl *e = calloc(1, sizeof *e);
    if (!e) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    dnnl_status_t s = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&e->strm, e->eng, dnnl_stream_default_flags);
    if (s != dnnl_success) {
        df_qdnnl_destroy(e);
        return dnnl_fail(err, s, "engine");
    }
    *out = e;
    return DF_OK;
}

void df_qdnnl_destroy(df_qdnnl *e) {
    if (!e) return;
    if (e->strm) dnnl_stream_destroy(e->strm);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e);
}

static void release_setup(df_qdnnl_conv *cv) {
    if (cv->prim) dnnl_primitive_destroy(cv->prim);
    if (cv->src) dnnl_memory_destroy(cv->src);
    if (cv->wei) dnnl_memory_destroy(cv->wei);
    if (cv->bia) dnnl_memory_destroy(cv->bia);
    if (cv->dst) dnnl_memory_destroy(cv->dst);
    if (cv->scratch) dnnl_memory_destroy(cv->scratch);
    cv->prim = NULL;
    cv->src = cv->wei = cv->bia = cv->dst = cv->scratch = NULL;
}

void df_qdnnl_conv_destroy(df_qdnnl_conv *cv) {
    if (!cv) return;
    release_setup(cv);
    if (cv->attr) dnnl_primitive_attr_destroy(cv->attr);
    free(cv->weights);
    free(cv->bias);
    free(cv);
}

/* The convolution's primitive descriptor for `batch` images. */
static dnnl_status_t make_pd(const df_qdnnl *e, const df_qdnnl_conv *cv, int batch,
                             dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t s, w, b, d;
    dnnl_dims_t sd = {batch, cv->c, cv->h, cv->w}, dd = {batch, cv->oc, cv->oh, cv->ow};
    dnnl_dims_t bd = {cv->oc}, st = {cv->sh, cv->sw}, pl = {cv->pt, cv->pl}, pr = {cv->pb, cv->pr};
    dnnl_status_t r = dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_u8, dnnl_nhwc);
    if (!r) r = dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_u8, dnnl_nhwc);
    if (!r) r = dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_s32, dnnl_x);
    if (!r && cv->depthwise) {
        dnnl_dims_t wd = {cv->oc, 1, 1, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 5, wd, dnnl_s8, dnnl_format_tag_any);
    } else if (!r) {
        dnnl_dims_t wd = {cv->oc, cv->c, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_s8, dnnl_format_tag_any);
    }
    dnnl_convolution_desc_t cd;
    if (!r)
        r = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                               dnnl_convolution_direct, &s, &w, &b, &d, st, pl,
                                               pr);
    if (!r) r = dnnl_primitive_desc_create(pd, &cd, cv->attr, e->eng, NULL);
    return r;
}

static void record_impl(df_qdnnl_conv *cv, const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        impl = "?";
    snprintf(cv->impl, sizeof cv->impl, "%s", impl);
}

/* Output scales, the source zero point (or the bias it is folded into) and
 * the clamp and output zero point as post-ops. */
static dnnl_status_t make_attr(df_qdnnl_conv *cv, df_qparams in, const df_qconv_desc *d,
                               int32_t src_zp) {
    dnnl_status_t r = dnnl_primitive_attr_create(&cv->attr);
    if (r) return r;
    /* its scratchpad allocated at setup, so that running never allocates */
    r = dnnl_primitive_attr_set_scratchpad_mode(cv->attr, dnnl_scratchpad_mode_user);
    if (r) return r;
    float *scales = malloc((size_t)cv->oc * sizeof *scales);
    if (!scales) return dnnl_out_of_memory;
    for (int k = 0; k < cv->oc; k++) scales[k] = in.scale * d->weight_scale[k] / d->out.scale;
    r = dnnl_primitive_attr_set_output_scales(cv->attr, cv->oc, 1 << 1, scales);
    free(scales);
    if (!r && src_zp) r = dnnl_primitive_attr_set_zero_points(cv->attr, DNNL_ARG_SRC, 1, 0, &src_zp);
    dnnl_post_ops_t po = NULL;
    if (!r) r = dnnl_post_ops_create(&po);
    float zp = (float)d->out.zero_point;
    if (!r && (d->out_min > 0 || d->out_max < 255))
        r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, (float)d->out_min - zp,
                                         (float)d->out_max - zp);
    if (!r && d->out.zero_point)
        r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, 1.0f, zp);
    if (!r) r = dnnl_primitive_attr_set_post_ops(cv->attr, po);
    if (po) dnnl_post_ops_destroy(po);
    return r;
}

/* Copies the weights and the bias; folds -zp * sum(w) into the bias when
 * the convolution reads no padding and that fits int32. Returns the zero
 * point oneDNN must still apply (0 when folded). */
static int32_t copy_weights(df_qdnnl_conv *cv, int32_t zp, const df_qconv_desc *d) {
    size_t per = (size_t)cv->kh * cv->kw * (cv->depthwise ? 1 : cv->c);
    memcpy(cv->weights, d->weights, per * (size_t)cv->oc);
    for (int o = 0; o < cv->oc; o++) cv->bias[o] = d->bias ? d->bias[o] : 0;
    if (cv->pt || cv->pl || cv->pb || cv->pr || !zp) return zp;
    int64_t *folded = calloc((size_t)cv->oc, sizeof *folded);
    if (!folded) return zp;
    int fits = 1;
    for (int o = 0; o < cv->oc && fits; o++) {
        int64_t sum = 0;
        for (size_t k = 0; k < per; k++)
            sum += cv->depthwise ? cv->weights[k * (size_t)cv->oc + (size_t)o]
                                 : cv->weights[(size_t)o * per + k];
        folded[o] = (int64_t)cv->bias[o] - (int64_t)zp * sum;
        fits = folded[o] >= INT32_MIN && folded[o] <= INT32_MAX;
    }
    if (fits)
        for (int o = 0; o < cv->oc; o++) cv->bias[o] = (int32_t)folded[o];
    free(folded);
    return fits ? 0 : zp;
}

/* The TFLite weight layout as a oneDNN memory descriptor: dense
 * [oc][kh][kw][ic] (ohwi), depthwise [kh][kw][oc] (g, 1, 1, kh, kw). */
static dnnl_status_t user_weights_md(df_qdnnl_conv *cv) {
    if (!cv->depthwise) {
        dnnl_dims_t wd = {cv->oc, cv->c, cv->kh, cv->kw};
        return dnnl_memory_desc_init_by_tag(&cv->user_w, 4, wd, dnnl_s8, dnnl_ohwi);
    }
    dnnl_dim_t all = (dnnl_dim_t)cv->oc * cv->kh * cv->kw;
    dnnl_dims_t wd = {cv->oc, 1, 1, cv->kh, cv->kw};
    dnnl_dims_t ws = {1, all, all, (dnnl_dim_t)cv->kw * cv->oc, cv->oc};
    return dnnl_memory_desc_init_by_strides(&cv->user_w, 5, wd, dnnl_s8, ws);
}

df_status df_qdnnl_conv_create(df_qdnnl *e, int h, int w, int c, df_qparams in,
                               const df_qconv_desc *d, df_qdnnl_conv **out, df_error *err) {
    *out = NULL;
    df_qdnnl_conv *cv = calloc(1, sizeof *cv);
    if (!cv) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    cv->h = h;
    cv->w = w;
    cv->c = c;
    cv->oc = d->out_c;
    cv->kh = d->kh;
    cv->kw = d->kw;
    cv->sh = d->stride_h;
    cv->sw = d->stride_w;
    cv->pt = d->pad_top;
    cv->pl = d->pad_left;
    cv->pb = d->pad_bottom;
    cv->pr = d->pad_right;
    cv->oh = (h + cv->pt + cv->pb - cv->kh) / cv->sh + 1;
    cv->ow = (w + cv->pl + cv->pr - cv->kw) / cv->sw + 1;
    cv->depthwise = d->depthwise;
    size_t nw = (size_t)cv->oc * cv->kh * cv->kw * (cv->depthwise ? 1 : (size_t)c);
    cv->weights = malloc(nw);
    cv->bias = malloc((size_t)cv->oc * sizeof *cv->bias);
    if (!cv->weights || !cv->bias) {
        df_qdnnl_conv_destroy(cv);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    int32_t src_zp = copy_weights(cv, in.zero_point, d);
    dnnl_status_t r = make_attr(cv, in, d, src_zp);
    if (!r) r = user_weights_md(cv);
    dnnl_primitive_desc_t pd = NULL;
    if (!r) r = make_pd(e, cv, 1, &pd);
    if (r) {
        df_qdnnl_conv_destroy(cv);
        return df_error_set(err, r == dnnl_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                            "oneDNN int8 refuses the %s %dx%d convolution %dx%dx%d -> %d, "
                            "stride %d: %s", d->depthwise ? "depthwise" : "dense", d->kh, d->kw,
                            h, w, c, d->out_c, d->stride_h, dnnl_status2str(r));
    }
    record_impl(cv, pd);
    dnnl_primitive_desc_destroy(pd);
    *out = cv;
    return DF_OK;
}

/* The weights in the primitive's format: one reorder from TFLite's. */
static dnnl_status_t reorder_weights(df_qdnnl *e, df_qdnnl_conv *cv, const dnnl_memory_desc_t *md) {
    dnnl_status_t r = dnnl_memory_create(&cv->wei, md, e->eng, DNNL_MEMORY_ALLOCATE);
    if (r) return r;
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    r = dnnl_memory_create(&user, &cv->user_w, e->eng, cv->weights);
    if (!r) r = dnnl_reorder_primitive_desc_create(&rpd, &cv->user_w, e->eng, md, e->eng, NULL);
    if (!r) r = dnnl_primitive_create(&reorder, rpd);
    if (!r) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, cv->wei}};
        r = dnnl_primitive_execute(reorder, e->strm, 2, args);
    }
    if (!r) r = dnnl_stream_wait(e->strm);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    return r;
}

df_status df_qdnnl_conv_setup(df_qdnnl *e, df_qdnnl_conv *cv, int batch, void *in, void *out,
                              df_error *err) {
    release_setup(cv);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t r = make_pd(e, cv, batch, &pd);
    if (!r) r = dnnl_memory_create(&cv->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                   e->eng, in);
    if (!r) r = dnnl_memory_create(&cv->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                   e->eng, out);
    if (!r)
        r = dnnl_memory_create(&cv->bia, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1),
                               e->eng, cv->bias);
    if (!r) r = reorder_weights(e, cv, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0));
    const dnnl_memory_desc_t *smd =
        r ? NULL : dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        r = dnnl_memory_create(&cv->scratch, smd, e->eng, DNNL_MEMORY_ALLOCATE);
    if (!r) r = dnnl_primitive_create(&cv->prim, pd);
    if (pd) {
        record_impl(cv, pd);
        dnnl_primitive_desc_destroy(pd);
    }
    if (r) {
        release_setup(cv);
        return dnnl_fail(err, r, "convolution setup");
    }
    return DF_OK;
}

df_status df_qdnnl_conv_run(df_qdnnl *e, df_qdnnl_conv *cv, df_error *err) {
    if (!cv->prim) return df_error_set(err, DF_ERR_INVALID_ARG, "oneDNN int8 convolution not set up");
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, cv->src},
                               {DNNL_ARG_WEIGHTS, cv->wei},
                               {DNNL_ARG_BIAS, cv->bia},
                               {DNNL_ARG_DST, cv->dst},
                               {DNNL_ARG_SCRATCHPAD, cv->scratch}};
    dnnl_status_t r = dnnl_primitive_execute(cv->prim, e->strm, cv->scratch ? 5 : 4, args);
    if (!r) r = dnnl_stream_wait(e->strm);
    return r ? dnnl_fail(err, r, "convolution") : DF_OK;
}

const char *df_qdnnl_conv_impl(const df_qdnnl_conv *cv) { return cv->impl; }

/* Round to nearest even for |v| < 2^22 (the values here are clamped to
 * -255..255 first): adding 1.5 * 2^23 leaves no fraction bits. */
#define RNE_MAGIC 12582912.0f

void df_qdnnl_add(const uint8_t *a, df_qparams pa, const uint8_t *b, df_qparams pb, uint8_t *y,
                  df_qparams py, int32_t lo, int32_t hi, size_t n) {
    const float ka = pa.scale / py.scale, kb = pb.scale / py.scale;
    const float za = (float)pa.zero_point, zb = (float)pb.zero_point;
    const float vlo = (float)(lo - py.zero_point), vhi = (float)(hi - py.zero_point);
    const int32_t zy = py.zero_point;
#pragma omp parallel for simd schedule(static) if (n >= 32768)
    for (size_t k = 0; k < n; k++) {
        float v = ((float)a[k] - za) * ka + ((float)b[k] - zb) * kb;
        v = v < vlo ? vlo : v;
        v = v > vhi ? vhi : v;
        v = (v + RNE_MAGIC) - RNE_MAGIC;
        y[k] = (uint8_t)((int32_t)v + zy);
    }
}

enum { GAP_BLOCK = 256 };

void df_qdnnl_global_avgpool(const uint8_t *x, df_qparams px, uint8_t *y, df_qparams py,
                             int batch, int hw, int c) {
    const float k = px.scale / (py.scale * (float)hw);
    const int32_t zsum = hw * px.zero_point, zy = py.zero_point;
    const float vlo = (float)-zy, vhi = (float)(255 - zy);
    int blocks = (c + GAP_BLOCK - 1) / GAP_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)batch * hw * c >= 32768)
    for (int job = 0; job < batch * blocks; job++) {
        int n = job / blocks, c0 = job % blocks * GAP_BLOCK;
        int cn = c - c0 < GAP_BLOCK ? c - c0 : GAP_BLOCK;
        int32_t acc[GAP_BLOCK];
        memset(acc, 0, sizeof acc);
        const uint8_t *xn = x + (size_t)n * hw * c + c0;
        for (int p = 0; p < hw; p++) {
            const uint8_t *row = xn + (size_t)p * c;
#pragma omp simd
            for (int j = 0; j < cn; j++) acc[j] += row[j];
        }
#pragma omp simd
        for (int j = 0; j < cn; j++) {
            float v = (float)(acc[j] - zsum) * k;
            v = v < vlo ? vlo : v;
            v = v > vhi ? vhi : v;
            v = (v + RNE_MAGIC) - RNE_MAGIC;
            y[(size_t)n * c + c0 + j] = (uint8_t)((int32_t)v + zy);
        }
    }
}
