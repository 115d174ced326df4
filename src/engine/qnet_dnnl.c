/*
 * The integer engine's oneDNN backend (see qnet_dnnl.h for the contract).
 * A convolution is created in two steps, as the float engine's are: at
 * build time the attributes (scales, zero point, clamp) and a copy of the
 * weights, with a first primitive descriptor at batch 1 so that a refusal
 * shows there; at each reshape the primitive for the batch, over the
 * engine's buffers, and the weights reordered into its format.
 */
#include "engine/qnet_dnnl.h"

#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/cpu.h"
#include "core/memory.h"

struct df_qdnnl {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    void *work; /* df_qdnnl_reserve_work's */
    size_t work_bytes;
};

/* The side convolution takes up to 2 * FIX_MAX_SIDE fixed channels. */
enum { FIX_MAX_SIDE = 64 };

/* The output channels oneDNN cannot compute exactly (a uint8 weight whose
 * w - w_zp falls outside int8), recomputed by our own loop after it: */
typedef struct qfix {
    int n;                       /* how many */
    int *oc;                     /* [n] which */
    int16_t *w;                  /* [n][kh * kw * (dense: c, depthwise: 1)] w - w_zp */
    int32_t *wsum;               /* [n][kh * kw] (dense) sum over c of w - w_zp per tap */
    int32_t *bias;               /* [n] */
    float *scale;                /* [n] input_scale * weight_scale / output_scale */
    /* 1x1 stride-1 unpadded convolutions: output pixel p is input pixel p,
     * a dot product per pixel and fixed channel (fix_pixels) */
    int pixels;
} qfix;

/* Dense fixed channels of a kh x kw > 1 convolution with K = kh * kw * c <=
 * SIDE_MAX_K weights each (the first 3x3 of MobileNetV2), as a
 * second oneDNN convolution over the same input: two output channels per
 * fixed channel, one with its weights clamped to int8 and one with what the
 * clamping took off (both int8: w - w_zp is within -255..255), s32 output,
 * no scale; our pass adds the two, the bias, and requantizes. oneDNN's
 * output stage goes through fp32, exact for |sum| < 2^24: with
 * |x - x_zp| <= 255 and |w| <= 128, K <= 514. */
enum { SIDE_MAX_K = 514 };

typedef struct qside {
    int on;
    int8_t *w;                   /* [2 n][kh][kw][c] */
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t user_w;
    dnnl_primitive_t prim;       /* set up: */
    dnnl_memory_t src, wei, dst, scratch;
    int32_t *out;                /* [batch][oh][ow][2 n] */
} qside;

struct df_qdnnl_conv {
    int h, w, c, oc, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow, depthwise;
    /* A depthwise layer's fixed channels read from its input at every
     * pixel cost a pass over the whole input (one cache line per pixel for
     * a byte or two). When the layer before it makes a pass over every
     * pixel of that same map anyway (its own fixed channels), it copies
     * them out on the way: gather_to is that next layer; gathered, set up
     * for the batch, holds [image][pixel][fix.n] of the input. */
    df_qdnnl_conv *gather_to;
    int fed;                     /* a layer before gathers for this one */
    int plain_fix;               /* DF_QFIX_ROWS=1 when built: the plain loops (A/B runs, tests) */
    uint8_t *gathered;
    int8_t *weights;             /* TFLite's layout, minus the weight zero point (copied) */
    int32_t *bias;               /* [oc]; the source zero point folded in when unpadded */
    int32_t in_zp, out_zp, out_min, out_max; /* uint8 domain (the fixed channels' loop) */
    qfix fix;
    qside side;
    dnnl_primitive_attr_t attr;
    dnnl_memory_desc_t user_w;   /* the weights as TFLite lays them out */
    /* set up for one batch size: */
    dnnl_primitive_desc_t pending; /* set up, its primitive not yet created (df_qdnnl_conv_finish) */
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, bia, dst, scratch; /* scratch: NULL when none needed */
    const uint8_t *in;           /* the buffers set up, for the fixed channels */
    uint8_t *out;
    int batch;
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

dnnl_engine_t df_qdnnl_engine(const df_qdnnl *e) { return e->eng; }
dnnl_stream_t df_qdnnl_stream(const df_qdnnl *e) { return e->strm; }

df_status df_qdnnl_reserve_work(df_qdnnl *e, size_t bytes, df_error *err) {
    if (bytes <= e->work_bytes) return DF_OK;
    void *w = df_alloc_aligned(bytes); /* an engine buffer as the others: huge pages from 2 MB (DF_HUGE_PAGES) */
    if (!w) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %zu MB of the integer engine's work area",
                                bytes >> 20);
    free(e->work);
    e->work = w;
    e->work_bytes = bytes;
    return DF_OK;
}

void *df_qdnnl_work(const df_qdnnl *e, size_t *bytes) {
    *bytes = e->work_bytes;
    return e->work;
}

void df_qdnnl_destroy(df_qdnnl *e) {
    if (!e) return;
    if (e->strm) dnnl_stream_destroy(e->strm);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e->work);
    free(e);
}

static void release_setup(df_qdnnl_conv *cv) {
    if (cv->pending) dnnl_primitive_desc_destroy(cv->pending);
    cv->pending = NULL;
    if (cv->prim) dnnl_primitive_destroy(cv->prim);
    if (cv->src) dnnl_memory_destroy(cv->src);
    if (cv->wei) dnnl_memory_destroy(cv->wei);
    if (cv->bia) dnnl_memory_destroy(cv->bia);
    if (cv->dst) dnnl_memory_destroy(cv->dst);
    if (cv->scratch) dnnl_memory_destroy(cv->scratch);
    cv->prim = NULL;
    cv->src = cv->wei = cv->bia = cv->dst = cv->scratch = NULL;
    free(cv->gathered);
    cv->gathered = NULL;
    qside *sd = &cv->side;
    if (sd->prim) dnnl_primitive_destroy(sd->prim);
    if (sd->src) dnnl_memory_destroy(sd->src);
    if (sd->wei) dnnl_memory_destroy(sd->wei);
    if (sd->dst) dnnl_memory_destroy(sd->dst);
    if (sd->scratch) dnnl_memory_destroy(sd->scratch);
    sd->prim = NULL;
    sd->src = sd->wei = sd->dst = sd->scratch = NULL;
    free(sd->out);
    sd->out = NULL;
}

void df_qdnnl_conv_destroy(df_qdnnl_conv *cv) {
    if (!cv) return;
    release_setup(cv);
    if (cv->attr) dnnl_primitive_attr_destroy(cv->attr);
    free(cv->weights);
    free(cv->bias);
    free(cv->fix.oc);
    free(cv->fix.w);
    free(cv->fix.wsum);
    free(cv->fix.bias);
    free(cv->fix.scale);
    if (cv->side.attr) dnnl_primitive_attr_destroy(cv->side.attr);
    free(cv->side.w);
    free(cv);
}

/* The convolution's primitive descriptor for `batch` images. */
/* The convolution's primitive descriptor for `batch` images; side: the
 * fixed channels' second convolution (2 n outputs, s32, no bias). */
static dnnl_status_t make_pd(const df_qdnnl *e, const df_qdnnl_conv *cv, int batch, int side,
                             dnnl_primitive_desc_t *pd) {
    dnnl_memory_desc_t s, w, b, d;
    int oc = side ? 2 * cv->fix.n : cv->oc;
    dnnl_dims_t sd = {batch, cv->c, cv->h, cv->w}, dd = {batch, oc, cv->oh, cv->ow};
    dnnl_dims_t bd = {oc}, st = {cv->sh, cv->sw}, pl = {cv->pt, cv->pl}, pr = {cv->pb, cv->pr};
    dnnl_status_t r = dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_u8, dnnl_nhwc);
    if (!r) r = dnnl_memory_desc_init_by_tag(&d, 4, dd, side ? dnnl_s32 : dnnl_u8, dnnl_nhwc);
    if (!r) r = dnnl_memory_desc_init_by_tag(&b, 1, bd, dnnl_s32, dnnl_x);
    if (!r && cv->depthwise) {
        dnnl_dims_t wd = {oc, 1, 1, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 5, wd, dnnl_s8, dnnl_format_tag_any);
    } else if (!r) {
        dnnl_dims_t wd = {oc, cv->c, cv->kh, cv->kw};
        r = dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_s8, dnnl_format_tag_any);
    }
    dnnl_convolution_desc_t cd;
    if (!r)
        r = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                               dnnl_convolution_direct, &s, &w, side ? NULL : &b,
                                               &d, st, pl, pr);
    if (!r) r = dnnl_primitive_desc_create(pd, &cd, side ? cv->side.attr : cv->attr, e->eng, NULL);
    return r;
}

static void record_impl(df_qdnnl_conv *cv, const_dnnl_primitive_desc_t pd) {
    const char *impl = "?";
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        impl = "?";
    snprintf(cv->impl, sizeof cv->impl, "%s", impl);
}

/* Output scales (one per channel for int8 weights, one for uint8), the
 * source zero point (or the bias it is folded into) and the clamp and
 * output zero point as post-ops. */
static dnnl_status_t make_attr(df_qdnnl_conv *cv, df_qparams in, const df_qconv_desc *d,
                               int per_channel, int32_t src_zp) {
    dnnl_status_t r = dnnl_primitive_attr_create(&cv->attr);
    if (r) return r;
    /* its scratchpad allocated at setup, so that running never allocates */
    r = dnnl_primitive_attr_set_scratchpad_mode(cv->attr, dnnl_scratchpad_mode_user);
    if (r) return r;
    float *scales = malloc((size_t)cv->oc * sizeof *scales);
    if (!scales) return dnnl_out_of_memory;
    for (int k = 0; k < cv->oc; k++)
        scales[k] = in.scale * d->weight_scale[per_channel ? k : 0] / d->out.scale;
    r = dnnl_primitive_attr_set_output_scales(cv->attr, cv->oc, 1 << 1, scales);
    free(scales);
    if (!r && src_zp) r = dnnl_primitive_attr_set_zero_points(cv->attr, DNNL_ARG_SRC, 1, 0, &src_zp);
    dnnl_post_ops_t po = NULL;
    if (!r) r = dnnl_post_ops_create(&po);
    float zp = (float)d->out.zero_point;
    if (!r && (d->out_min > 0 || d->out_max < 255))
        r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, (float)d->out_min - zp,
                                         (float)d->out_max - zp);
    /* rounded before the zero point is added, as XNNPACK does: adding it
     * first rounds the fraction to fp32's grid near the zero point (v =
     * -35.4999999 + 122 reads 86.5, to even 86, where XNNPACK gives
     * round(v) + 122 = 87: one value of MobileNetV2's third layer) */
    if (!r && d->out.zero_point) r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_round, 0.0f, 0.0f);
    if (!r && d->out.zero_point)
        r = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, 1.0f, zp);
    if (!r) r = dnnl_primitive_attr_set_post_ops(cv->attr, po);
    if (po) dnnl_post_ops_destroy(po);
    return r;
}

/* Weights per output channel, and where weight k of channel o lies in
 * TFLite's layout (dense [oc][kh][kw][c], depthwise [kh][kw][oc]). */
static size_t per_channel_weights(const df_qdnnl_conv *cv) {
    return (size_t)cv->kh * cv->kw * (cv->depthwise ? 1 : (size_t)cv->c);
}
static size_t weight_index(const df_qdnnl_conv *cv, int o, size_t k) {
    return cv->depthwise ? k * (size_t)cv->oc + (size_t)o
                         : (size_t)o * per_channel_weights(cv) + k;
}

/* The channels flagged in bad[] as cv->fix, with their exact weights v. */
static df_status record_fixes(df_qdnnl_conv *cv, const int16_t *v, const int *bad, int n,
                              const df_qconv_desc *d, float in_scale, df_error *err) {
    qfix *f = &cv->fix;
    size_t per = per_channel_weights(cv), taps = (size_t)cv->kh * cv->kw;
    f->oc = malloc((size_t)n * sizeof *f->oc);
    f->w = malloc((size_t)n * per * sizeof *f->w);
    f->wsum = calloc((size_t)n * taps, sizeof *f->wsum);
    f->bias = malloc((size_t)n * sizeof *f->bias);
    f->scale = malloc((size_t)n * sizeof *f->scale);
    if (!f->oc || !f->w || !f->wsum || !f->bias || !f->scale)
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int o = 0, j = 0; o < cv->oc; o++) {
        if (!bad[o]) continue;
        f->oc[j] = o;
        for (size_t k = 0; k < per; k++) {
            f->w[(size_t)j * per + k] = v[weight_index(cv, o, k)];
            if (!cv->depthwise) f->wsum[(size_t)j * taps + k / (size_t)cv->c] += v[weight_index(cv, o, k)];
        }
        f->bias[j] = d->bias ? d->bias[o] : 0;
        f->scale[j] = in_scale * d->weight_scale[0] / d->out.scale;
        j++;
    }
    f->n = n;
    f->pixels = cv->kh == 1 && cv->kw == 1 && cv->sh == 1 && cv->sw == 1 && !cv->depthwise &&
                !(cv->pt || cv->pl || cv->pb || cv->pr);
    cv->side.on = !cv->depthwise && per <= SIDE_MAX_K && !(cv->kh == 1 && cv->kw == 1) && n <= 2 * FIX_MAX_SIDE;
    cv->plain_fix = getenv("DF_QFIX_ROWS") != NULL;
    return DF_OK;
}

/* Copies the weights minus their zero point, as int8, and the bias. A
 * uint8 weight w with zero point z is w - z in -255..255: the channels with
 * one outside int8 (in a quantization-aware model, the one or two weights
 * that set a layer's range) are recomputed after oneDNN (cv->fix, at most
 * an eighth of the channels, or 2). */
static df_status copy_weights(df_qdnnl_conv *cv, const df_qconv_desc *d, df_qtype type,
                              float in_scale, df_error *err) {
    size_t per = per_channel_weights(cv), nw = per * (size_t)cv->oc;
    int16_t *v = malloc(nw * sizeof *v);
    int *bad = calloc((size_t)cv->oc, sizeof *bad);
    if (!v || !bad) {
        free(v);
        free(bad);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    /* Plain loops in memory order (a branch per weight, or a strided one
     * per channel of a depthwise layer, made these a third of building
     * MobileNetV2's engine). */
    if (type == DF_QTYPE_U8) {
        const uint8_t *src = d->weights;
        const int zp = (int)d->weight_zero_point;
        for (size_t k = 0; k < nw; k++) v[k] = (int16_t)(src[k] - zp);
    } else {
        const int8_t *src = d->weights;
        for (size_t k = 0; k < nw; k++) v[k] = src[k];
    }
    const int oc = cv->oc;
    if (cv->depthwise) { /* [k][oc] */
        for (size_t k = 0; k < per; k++) {
            const int16_t *row = v + k * (size_t)oc;
            for (int o = 0; o < oc; o++) bad[o] |= row[o] < -128 || row[o] > 127;
        }
    } else { /* [oc][k] */
        for (int o = 0; o < oc; o++) {
            const int16_t *row = v + (size_t)o * per;
            int b = 0;
            for (size_t k = 0; k < per; k++) b |= row[k] < -128 || row[k] > 127;
            bad[o] = b;
        }
    }
    int n = 0;
    for (int o = 0; o < oc; o++) n += bad[o];
    int8_t *dst = cv->weights;
    for (size_t k = 0; k < nw; k++) dst[k] = (int8_t)(v[k] < -128 ? -128 : v[k] > 127 ? 127 : v[k]);
    for (int o = 0; o < cv->oc; o++) cv->bias[o] = d->bias ? d->bias[o] : 0;
    int limit = cv->oc / 8 > 2 ? cv->oc / 8 : 2;
    df_status st = DF_OK;
    if (n > limit)
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "oneDNN int8: uint8 weights with zero point "
                          "%d: %d of %d output channels have w - %d outside int8 (at most %d "
                          "are recomputed)", (int)d->weight_zero_point, n, cv->oc,
                          (int)d->weight_zero_point, limit);
    else if (n)
        st = record_fixes(cv, v, bad, n, d, in_scale, err);
    free(v);
    free(bad);
    return st;
}

/* Folds -zp * sum(w) into the bias when the convolution reads no padding
 * and that fits int32. Returns the zero point oneDNN must still apply (0
 * when folded). */
static int32_t fold_zero_point(df_qdnnl_conv *cv, int32_t zp) {
    size_t per = per_channel_weights(cv);
    if (cv->pt || cv->pl || cv->pb || cv->pr || !zp) return zp;
    int64_t *folded = calloc((size_t)cv->oc, sizeof *folded);
    if (!folded) return zp;
    int fits = 1;
    for (int o = 0; o < cv->oc && fits; o++) {
        int64_t sum = 0;
        for (size_t k = 0; k < per; k++) sum += cv->weights[weight_index(cv, o, k)];
        folded[o] = (int64_t)cv->bias[o] - (int64_t)zp * sum;
        fits = folded[o] >= INT32_MIN && folded[o] <= INT32_MAX;
    }
    if (fits)
        for (int o = 0; o < cv->oc; o++) cv->bias[o] = (int32_t)folded[o];
    free(folded);
    return fits ? 0 : zp;
}

dnnl_status_t df_qdnnl_user_weights_md(dnnl_memory_desc_t *md, int oc, int c, int kh, int kw, int depthwise,
                                       dnnl_data_type_t dt) {
    if (!depthwise) {
        dnnl_dims_t wd = {oc, c, kh, kw};
        return dnnl_memory_desc_init_by_tag(md, 4, wd, dt, dnnl_ohwi);
    }
    dnnl_dim_t all = (dnnl_dim_t)oc * kh * kw;
    dnnl_dims_t wd = {oc, 1, 1, kh, kw};
    dnnl_dims_t ws = {1, all, all, (dnnl_dim_t)kw * oc, oc};
    return dnnl_memory_desc_init_by_strides(md, 5, wd, dt, ws);
}

/* The side convolution's zero point: the input's where it reads padding
 * (which must read as x_zp); else none (a zero-point attribute costs the
 * AMX 1x1 kernels) and our pass subtracts x_zp * sum(w). */
static int32_t src_zp_side(const df_qdnnl_conv *cv, int32_t zp) {
    return cv->pt || cv->pl || cv->pb || cv->pr ? zp : 0;
}

/* The side convolution's weights ([2 n][kh][kw][c]: clamped, then the rest)
 * and attributes (the source zero point; s32 out, no scale). */
static dnnl_status_t make_side(df_qdnnl_conv *cv, int32_t src_zp) {
    qside *sd = &cv->side;
    const qfix *f = &cv->fix;
    size_t per = per_channel_weights(cv);
    sd->w = malloc(2 * (size_t)f->n * per);
    if (!sd->w) return dnnl_out_of_memory;
    for (int j = 0; j < f->n; j++)
        for (size_t k = 0; k < per; k++) {
            int8_t cl = cv->weights[weight_index(cv, f->oc[j], k)];
            sd->w[(2 * (size_t)j) * per + k] = cl;
            sd->w[(2 * (size_t)j + 1) * per + k] = (int8_t)(f->w[(size_t)j * per + k] - cl);
        }
    dnnl_dims_t wd = {2 * f->n, cv->c, cv->kh, cv->kw};
    dnnl_status_t r = dnnl_memory_desc_init_by_tag(&sd->user_w, 4, wd, dnnl_s8, dnnl_ohwi);
    if (!r) r = dnnl_primitive_attr_create(&sd->attr);
    if (!r) r = dnnl_primitive_attr_set_scratchpad_mode(sd->attr, dnnl_scratchpad_mode_user);
    if (!r && src_zp) r = dnnl_primitive_attr_set_zero_points(sd->attr, DNNL_ARG_SRC, 1, 0, &src_zp);
    return r;
}

df_status df_qdnnl_conv_create(df_qdnnl *e, df_qtype type, int h, int w, int c, df_qparams in,
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
    cv->in_zp = in.zero_point;
    cv->out_zp = d->out.zero_point;
    cv->out_min = d->out_min;
    cv->out_max = d->out_max;
    cv->weights = malloc(per_channel_weights(cv) * (size_t)cv->oc);
    cv->bias = malloc((size_t)cv->oc * sizeof *cv->bias);
    if (!cv->weights || !cv->bias) {
        df_qdnnl_conv_destroy(cv);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    df_status st = copy_weights(cv, d, type, in.scale, err);
    if (st) {
        df_qdnnl_conv_destroy(cv);
        return st;
    }
    int32_t src_zp = fold_zero_point(cv, in.zero_point);
    dnnl_status_t r = make_attr(cv, in, d, type == DF_QTYPE_S8, src_zp);
    if (!r) r = df_qdnnl_user_weights_md(&cv->user_w, cv->oc, cv->c, cv->kh, cv->kw, cv->depthwise, dnnl_s8);
    if (!r && cv->side.on) r = make_side(cv, src_zp_side(cv, in.zero_point));
    dnnl_primitive_desc_t pd = NULL;
    if (!r) r = make_pd(e, cv, 1, 0, &pd);
    if (!r && cv->side.on) {
        dnnl_primitive_desc_t spd = NULL;
        r = make_pd(e, cv, 1, 1, &spd);
        if (spd) dnnl_primitive_desc_destroy(spd);
    }
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
dnnl_status_t df_qdnnl_reorder(df_qdnnl *e, const dnnl_memory_desc_t *user_md, const void *data,
                               const dnnl_memory_desc_t *md, dnnl_memory_t *wei) {
    dnnl_status_t r = dnnl_memory_create(wei, md, e->eng, DNNL_MEMORY_ALLOCATE);
    if (r) return r;
    dnnl_memory_t user = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    r = dnnl_memory_create(&user, user_md, e->eng, (void *)data);
    if (!r) r = dnnl_reorder_primitive_desc_create(&rpd, user_md, e->eng, md, e->eng, NULL);
    if (!r) r = dnnl_primitive_create(&reorder, rpd);
    if (!r) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, *wei}};
        r = dnnl_primitive_execute(reorder, e->strm, 2, args);
    }
    if (!r) r = dnnl_stream_wait(e->strm);
    if (reorder) dnnl_primitive_destroy(reorder);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (user) dnnl_memory_destroy(user);
    return r;
}

/* The side convolution for `batch` images over `in` (cv->side.on). */
static dnnl_status_t setup_side(df_qdnnl *e, df_qdnnl_conv *cv, int batch, void *in) {
    qside *sd = &cv->side;
    sd->out = malloc((size_t)batch * cv->oh * cv->ow * 2 * cv->fix.n * sizeof *sd->out);
    if (!sd->out) return dnnl_out_of_memory;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t r = make_pd(e, cv, batch, 1, &pd);
    if (!r) r = dnnl_memory_create(&sd->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                   e->eng, in);
    if (!r) r = dnnl_memory_create(&sd->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                   e->eng, sd->out);
    if (!r)
        r = df_qdnnl_reorder(e, &sd->user_w, sd->w,
                            dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &sd->wei);
    const dnnl_memory_desc_t *smd =
        r ? NULL : dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        r = dnnl_memory_create(&sd->scratch, smd, e->eng, DNNL_MEMORY_ALLOCATE);
    if (!r) r = dnnl_primitive_create(&sd->prim, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return r;
}

df_status df_qdnnl_conv_setup(df_qdnnl *e, df_qdnnl_conv *cv, int batch, void *in, void *out,
                              df_error *err) {
    release_setup(cv);
    cv->in = in;
    cv->out = out;
    cv->batch = batch;
    if (cv->fed && !(cv->gathered = malloc((size_t)batch * cv->h * cv->w * (size_t)cv->fix.n)))
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t r = make_pd(e, cv, batch, 0, &pd);
    if (!r) r = dnnl_memory_create(&cv->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                   e->eng, in);
    if (!r) r = dnnl_memory_create(&cv->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                   e->eng, out);
    if (!r)
        r = dnnl_memory_create(&cv->bia, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1),
                               e->eng, cv->bias);
    if (!r)
        r = df_qdnnl_reorder(e, &cv->user_w, cv->weights,
                            dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &cv->wei);
    const dnnl_memory_desc_t *smd =
        r ? NULL : dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (smd && dnnl_memory_desc_get_size(smd) > 0)
        r = dnnl_memory_create(&cv->scratch, smd, e->eng, DNNL_MEMORY_ALLOCATE);
    if (pd) record_impl(cv, pd);
    cv->pending = pd; /* the primitive: df_qdnnl_conv_finish */
    if (!r && cv->side.on) r = setup_side(e, cv, batch, in);
    if (r) {
        release_setup(cv);
        return dnnl_fail(err, r, "convolution setup");
    }
    return DF_OK;
}

df_status df_qdnnl_conv_finish(df_qdnnl_conv *cv, df_error *err) {
    if (!cv->pending) return cv->prim ? DF_OK : df_error_set(err, DF_ERR_INVALID_ARG, "oneDNN int8 convolution not set up");
    dnnl_status_t r = dnnl_primitive_create(&cv->prim, cv->pending);
    dnnl_primitive_desc_destroy(cv->pending);
    cv->pending = NULL;
    if (r) {
        release_setup(cv);
        return dnnl_fail(err, r, "convolution setup");
    }
    return DF_OK;
}

/* A scaled sum v (relative to the output zero point zy) to the output
 * type: clamped to [lo, hi], rounded to nearest even, zy added. */
static inline uint8_t requant(float v, float lo, float hi, int32_t zy) {
    return (uint8_t)((int32_t)df_qclamp_rne(v, lo, hi) + zy);
}

/* sum over k < n of x[k] * w[k]: plain, AVX2 and AVX-512 (u8 widened to
 * s16, multiply-adds of s16 pairs into s32: exact, |sum| < 2^31 for any n
 * a layer has). */
typedef int32_t (*dot_fn)(const uint8_t *x, const int16_t *w, int n);

static inline int32_t dot_base(const uint8_t *x, const int16_t *w, int n) {
    int32_t s = 0;
    for (int k = 0; k < n; k++) s += (int32_t)x[k] * w[k];
    return s;
}

__attribute__((target("avx2"))) static inline int32_t dot_avx2(const uint8_t *x,
                                                                const int16_t *w, int n) {
    __m256i acc = _mm256_setzero_si256();
    int k = 0;
    for (; k + 16 <= n; k += 16) {
        __m256i xv = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x + k)));
        __m256i wv = _mm256_loadu_si256((const __m256i *)(w + k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(xv, wv));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h) + dot_base(x + k, w + k, n - k);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static inline int32_t
dot_avx512(const uint8_t *x, const int16_t *w, int n) {
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < n; k += 32) {
        __mmask32 m = n - k >= 32 ? 0xffffffffu : (1u << (n - k)) - 1u;
        __m512i xv = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, x + k));
        __m512i wv = _mm512_maskz_loadu_epi16(m, w + k);
        acc = _mm512_add_epi32(acc, _mm512_madd_epi16(xv, wv));
    }
    return _mm512_reduce_add_epi32(acc);
}

/* The fixed channels of output row y of image n, as TFLite computes them:
 * bias + sum over the window of (x - x_zp)(w - w_zp), the padding reading
 * as x_zp (adding nothing); requantized as oneDNN does it (scaled in fp32,
 * clamped, rounded to nearest even, plus the output zero point), a chunk
 * of the row at a time so that the requantization vectorizes. Dense: one
 * dot product per kernel row (its valid taps are contiguous in NHWC), the
 * x_zp term from the taps' weight sums. Everything read from cv is in
 * locals: the byte stores below may alias anything. */
enum { FIX_CHUNK = 64 };

static inline __attribute__((always_inline)) void fix_row_body(const df_qdnnl_conv *cv, int n,
                                                                int y, dot_fn dot) {
    const qfix *f = &cv->fix;
    const int c = cv->c, h = cv->h, w = cv->w, kh = cv->kh, kw = cv->kw, oc = cv->oc;
    const int ow = cv->ow, sw = cv->sw, pl = cv->pl, dw = cv->depthwise, nfix = f->n;
    const int32_t zx = cv->in_zp, zy = cv->out_zp;
    const float lo = (float)(cv->out_min - zy), hi = (float)(cv->out_max - zy);
    const size_t per = per_channel_weights(cv);
    const int iy0 = y * cv->sh - cv->pt;
    const int i0 = iy0 < 0 ? -iy0 : 0, i1 = h - iy0 < kh ? h - iy0 : kh;
    const uint8_t *img = cv->in + (size_t)n * h * w * c;
    uint8_t *orow = cv->out + ((size_t)n * cv->oh + y) * ow * oc;
    int32_t acc[FIX_CHUNK];
    uint8_t q[FIX_CHUNK];
    for (int x0 = 0; x0 < ow; x0 += FIX_CHUNK) {
        const int xn = ow - x0 < FIX_CHUNK ? ow - x0 : FIX_CHUNK;
        for (int j = 0; j < nfix; j++) {
            const int16_t *wj = f->w + (size_t)j * per;
            const int32_t *sj = f->wsum + (size_t)j * kh * kw;
            const int o = f->oc[j];
            for (int t = 0; t < xn; t++) {
                const int ix0 = (x0 + t) * sw - pl;
                const int k0 = ix0 < 0 ? -ix0 : 0, k1 = w - ix0 < kw ? w - ix0 : kw;
                int32_t a = f->bias[j];
                for (int i = i0; i < i1; i++) {
                    const uint8_t *xr = img + ((size_t)(iy0 + i) * w + (size_t)(ix0 + k0)) * c;
                    if (dw) {
                        for (int k = k0; k < k1; k++)
                            a += ((int32_t)xr[(size_t)(k - k0) * c + o] - zx) * wj[i * kw + k];
                        continue;
                    }
                    int32_t zsum = 0;
                    for (int k = k0; k < k1; k++) zsum += sj[i * kw + k];
                    a += dot(xr, wj + (size_t)(i * kw + k0) * c, (k1 - k0) * c) - zx * zsum;
                }
                acc[t] = a;
            }
            const float scale = f->scale[j];
#pragma omp simd
            for (int t = 0; t < xn; t++) {
                q[t] = requant((float)acc[t] * scale, lo, hi, zy);
            }
            for (int t = 0; t < xn; t++) orow[(size_t)(x0 + t) * oc + o] = q[t];
        }
    }
}

/* The same for a convolution whose kernel rows fit FIX_BUF (all but dense
 * ones with hundreds of channels): per chunk of the row, the kh input rows
 * the chunk reads, minus x_zp, zero in the padding, as int16 (one channel
 * for a depthwise fixed channel, all for a dense one), then each weight
 * times a strided run of them into the chunk's sums: vectorized across
 * the row. */
enum { FIX_BUF = 4096 };

static int fits_rowbuf(const df_qdnnl_conv *cv) {
    return (size_t)cv->kh * cv->kw * (cv->depthwise ? 1 : (size_t)cv->c) <= FIX_BUF;
}

/* kh rows of span pixels from (iy0, ix0) of a map whose pixels are stride
 * bytes apart (channels ch0 .. ch0 + ce - 1 of each), minus x_zp, zero in
 * the padding, as int16 rows of span x ce. */
static inline __attribute__((always_inline)) void
fill_rows(const df_qdnnl_conv *cv, const uint8_t *img, size_t stride, int iy0, int ix0, int span, int ch0,
          int ce, int16_t *buf) {
    const int h = cv->h, w = cv->w;
    const int16_t zx = (int16_t)cv->in_zp;
    for (int i = 0; i < cv->kh; i++) {
        int iy = iy0 + i;
        int16_t *b = buf + (size_t)i * span * ce;
        for (int s = 0; s < span; s++) {
            int ix = ix0 + s;
            const uint8_t *px = img + ((size_t)iy * w + (size_t)ix) * stride + ch0;
            int in = iy >= 0 && iy < h && ix >= 0 && ix < w;
            for (int m = 0; m < ce; m++) b[s * ce + m] = in ? (int16_t)(px[m] - zx) : 0;
        }
    }
}

static inline __attribute__((always_inline)) void fix_rowbuf_body(const df_qdnnl_conv *cv,
                                                                   int n, int y) {
    const qfix *f = &cv->fix;
    const int kh = cv->kh, kw = cv->kw, oc = cv->oc, ow = cv->ow, sw = cv->sw, nfix = f->n;
    const int dw = cv->depthwise, ce = dw ? 1 : cv->c;
    const int32_t zy = cv->out_zp;
    const float lo = (float)(cv->out_min - zy), hi = (float)(cv->out_max - zy);
    const size_t per = per_channel_weights(cv);
    const int iy0 = y * cv->sh - cv->pt;
    int xn_max = (FIX_BUF / (kh * ce) - kw) / sw + 1;
    xn_max = xn_max < 1 ? 1 : xn_max > FIX_CHUNK ? FIX_CHUNK : xn_max;
    const uint8_t *img = cv->in + (size_t)n * cv->h * cv->w * cv->c;
    /* a depthwise layer's fixed channels from the copy the layer before made, if it did */
    const size_t pixels = (size_t)cv->h * cv->w;
    const uint8_t *gat = cv->gathered ? cv->gathered + (size_t)n * pixels * (size_t)nfix : NULL;
    uint8_t *orow = cv->out + ((size_t)n * cv->oh + y) * ow * oc;
    int16_t buf[FIX_BUF];
    int32_t acc[FIX_CHUNK];
    uint8_t q[FIX_CHUNK];
    for (int x0 = 0; x0 < ow; x0 += xn_max) {
        const int xn = ow - x0 < xn_max ? ow - x0 : xn_max, span = (xn - 1) * sw + kw;
        if (!dw) fill_rows(cv, img, (size_t)cv->c, iy0, x0 * sw - cv->pl, span, 0, ce, buf);
        for (int j = 0; j < nfix; j++) {
            const int o = f->oc[j];
            const int16_t *wj = f->w + (size_t)j * per;
            if (dw && gat) fill_rows(cv, gat, (size_t)nfix, iy0, x0 * sw - cv->pl, span, j, 1, buf);
            else if (dw) fill_rows(cv, img, (size_t)cv->c, iy0, x0 * sw - cv->pl, span, o, 1, buf);
            for (int t = 0; t < xn; t++) acc[t] = f->bias[j];
            for (int i = 0; i < kh; i++) {
                const int16_t *wi = wj + (size_t)i * kw * ce, *bi = buf + (size_t)i * span * ce;
                if (dw) { /* across the chunk */
                    for (int k = 0; k < kw; k++) {
                        const int32_t wv = wi[k];
#pragma omp simd
                        for (int t = 0; t < xn; t++) acc[t] += wv * bi[t * sw + k];
                    }
                    continue;
                }
                for (int t = 0; t < xn; t++) { /* a dot product over the kernel row */
                    const int16_t *bt = bi + (size_t)t * sw * ce;
                    int32_t a = 0;
                    for (int mk = 0; mk < kw * ce; mk++) a += (int32_t)wi[mk] * bt[mk];
                    acc[t] += a;
                }
            }
            const float scale = f->scale[j];
#pragma omp simd
            for (int t = 0; t < xn; t++) {
                q[t] = requant((float)acc[t] * scale, lo, hi, zy);
            }
            for (int t = 0; t < xn; t++) orow[(size_t)(x0 + t) * oc + o] = q[t];
        }
    }
}

/* Output pixels [p0, p1) of the batch (their fixed channels written):
 * the next layer's fixed channels copied out of them (its `gathered`),
 * while their lines are in cache. */
static void gather_for_next(const df_qdnnl_conv *cv, size_t p0, size_t p1) {
    const df_qdnnl_conv *next = cv->gather_to;
    const int gn = next->fix.n, oc = cv->oc;
    const int *ch = next->fix.oc;
    const uint8_t *out = cv->out;
    uint8_t *g = next->gathered;
    for (size_t p = p0; p < p1; p++)
        for (int j = 0; j < gn; j++) g[p * gn + j] = out[p * oc + ch[j]];
}

/* The 1x1 path over output pixels [p0, p1) of the batch: per pixel and
 * fixed channel one exact dot product of the input pixel with w - w_zp
 * (x_zp's term is in the weight sum), requantized over oneDNN's value.
 * Against oneDNN's u8 x s8 GEMM over the clamped weights plus the
 * residuals (the path before): 1.10 -> 0.49 ms per image at batch 1 for
 * MobileNetV2's 1x1 layers, 2 threads, AVX-512 VNNI; at batch 16 both are
 * bound by the stores into the layer's output (every pixel's line). */
static inline __attribute__((always_inline)) void fix_pixels_body(const df_qdnnl_conv *cv, size_t p0,
                                                                   size_t p1, dot_fn dot) {
    const qfix *f = &cv->fix;
    const int c = cv->c, oc = cv->oc, nf = f->n;
    const int32_t zx = cv->in_zp, zy = cv->out_zp;
    const float lo = (float)(cv->out_min - zy), hi = (float)(cv->out_max - zy);
    const uint8_t *in = cv->in;
    uint8_t *out = cv->out;
    for (size_t p = p0; p < p1; p++) {
        const uint8_t *x = in + p * (size_t)c;
        for (int j = 0; j < nf; j++) {
            const int32_t s = f->bias[j] - zx * f->wsum[j] + dot(x, f->w + (size_t)j * c, c);
            out[p * oc + f->oc[j]] = requant((float)s * f->scale[j], lo, hi, zy);
        }
    }
    if (cv->gather_to) gather_for_next(cv, p0, p1);
}

static void fix_pixels_base(const df_qdnnl_conv *cv, size_t p0, size_t p1) {
    fix_pixels_body(cv, p0, p1, dot_base);
}

/* The same, a group of pixels at a time (16 with AVX-512, 8 with AVX2):
 * per pixel a vector of partial sums as dot_* makes it, then the group's
 * vectors summed lane-wise into one vector of its pixels' sums (a
 * transpose-and-add tree instead of a horizontal sum per pixel), and the
 * requantization on that vector: fix_pixels_body's arithmetic, exact in
 * int32 and one fp32 rounding, 2-3x fewer instructions per pixel. The
 * pixels left over go through fix_pixels_body. */
__attribute__((target("avx2"))) static inline __m256i reduce8_avx2(const __m256i a[8]) {
    __m256i r[4], s[2];
    for (int i = 0; i < 4; i++)
        r[i] = _mm256_add_epi32(_mm256_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                                _mm256_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 2; i++)
        s[i] = _mm256_add_epi32(_mm256_unpacklo_epi64(r[2 * i], r[2 * i + 1]),
                                _mm256_unpackhi_epi64(r[2 * i], r[2 * i + 1]));
    /* s[i]: pixels 4i..4i+3 in each 128-bit half, one partial sum per half */
    return _mm256_add_epi32(_mm256_permute2x128_si256(s[0], s[1], 0x20),
                            _mm256_permute2x128_si256(s[0], s[1], 0x31));
}

__attribute__((target("avx2"))) static void fix_pixels_avx2(const df_qdnnl_conv *cv, size_t p0, size_t p1) {
    const qfix *f = &cv->fix;
    const int c = cv->c, oc = cv->oc, nf = f->n, full = c / 16 * 16;
    const int32_t zx = cv->in_zp, zy = cv->out_zp;
    const __m256 lo = _mm256_set1_ps((float)(cv->out_min - zy)), hi = _mm256_set1_ps((float)(cv->out_max - zy));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    const __m256i vzy = _mm256_set1_epi32(zy);
    const uint8_t *in = cv->in;
    uint8_t *out = cv->out;
    size_t p = p0;
    for (; p + 8 <= p1; p += 8) {
        for (int j = 0; j < nf; j++) {
            const int16_t *wj = f->w + (size_t)j * c;
            __m256i acc[8];
            int32_t rest[8];
            for (int t = 0; t < 8; t++) {
                const uint8_t *x = in + (p + t) * (size_t)c;
                __m256i a = _mm256_setzero_si256();
                for (int k = 0; k < full; k += 16)
                    a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x + k))),
                                                              _mm256_loadu_si256((const __m256i *)(wj + k))));
                acc[t] = a;
                rest[t] = dot_base(x + full, wj + full, c - full);
            }
            const __m256i s = _mm256_add_epi32(
                _mm256_add_epi32(reduce8_avx2(acc), _mm256_loadu_si256((const __m256i *)rest)),
                _mm256_set1_epi32(f->bias[j] - zx * f->wsum[j]));
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(f->scale[j]));
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            v = _mm256_sub_ps(_mm256_add_ps(v, magic), magic);
            int32_t q[8];
            _mm256_storeu_si256((__m256i *)q, _mm256_add_epi32(_mm256_cvttps_epi32(v), vzy));
            const int o = f->oc[j];
            for (int t = 0; t < 8; t++) out[(p + t) * oc + o] = (uint8_t)q[t];
        }
    }
    /* the rest, and the copy for the next layer over the whole range */
    fix_pixels_body(cv, p, p1, dot_avx2);
    if (cv->gather_to && p > p0) gather_for_next(cv, p0, p);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static inline __m512i reduce16_avx512(const __m512i a[16]) {
    __m512i r[8], s[4], t[2];
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]),
                                _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++)
        s[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(r[2 * i], r[2 * i + 1]),
                                _mm512_unpackhi_epi64(r[2 * i], r[2 * i + 1]));
    /* s[i]: pixels 4i..4i+3 in each 128-bit lane, one partial sum per lane */
    for (int i = 0; i < 2; i++)
        t[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                _mm512_shuffle_i32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static void
fix_pixels_avx512(const df_qdnnl_conv *cv, size_t p0, size_t p1) {
    const qfix *f = &cv->fix;
    const int c = cv->c, oc = cv->oc, nf = f->n, full = c / 32 * 32;
    const __mmask32 tail = c - full ? (__mmask32)((1u << (c - full)) - 1u) : 0;
    const int32_t zx = cv->in_zp, zy = cv->out_zp;
    const __m512 lo = _mm512_set1_ps((float)(cv->out_min - zy)), hi = _mm512_set1_ps((float)(cv->out_max - zy));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512i vzy = _mm512_set1_epi32(zy);
    const uint8_t *in = cv->in;
    uint8_t *out = cv->out;
    size_t p = p0;
    for (; p + 16 <= p1; p += 16) {
        for (int j = 0; j < nf; j++) {
            const int16_t *wj = f->w + (size_t)j * c;
            __m512i acc[16];
            for (int t = 0; t < 16; t++) {
                const uint8_t *x = in + (p + t) * (size_t)c;
                __m512i a = _mm512_setzero_si512();
                for (int k = 0; k < full; k += 32)
                    a = _mm512_add_epi32(a, _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(x + k))),
                                                              _mm512_loadu_si512(wj + k)));
                if (tail)
                    a = _mm512_add_epi32(a, _mm512_madd_epi16(_mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(tail, x + full)),
                                                              _mm512_maskz_loadu_epi16(tail, wj + full)));
                acc[t] = a;
            }
            const __m512i s = _mm512_add_epi32(reduce16_avx512(acc), _mm512_set1_epi32(f->bias[j] - zx * f->wsum[j]));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(f->scale[j]));
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            v = _mm512_sub_ps(_mm512_add_ps(v, magic), magic);
            uint8_t q[16];
            _mm_storeu_si128((__m128i *)q, _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvttps_epi32(v), vzy)));
            const int o = f->oc[j];
            for (int t = 0; t < 16; t++) out[(p + t) * oc + o] = q[t];
        }
    }
    fix_pixels_body(cv, p, p1, dot_avx512);
    if (cv->gather_to && p > p0) gather_for_next(cv, p0, p);
}

size_t df_qsplit_chunk(size_t n, size_t cap, size_t align) {
#ifdef _OPENMP
    const size_t t = (size_t)omp_get_max_threads();
#else
    const size_t t = 1;
#endif
    const size_t tasks = t * ((n + cap * t - 1) / (cap * t)); /* 0 only when n is */
    return tasks ? ((n + tasks - 1) / tasks + align - 1) / align * align : align;
}

/* Images [first, first + count). */
static void fix_pixels(const df_qdnnl_conv *cv, int first, int count, df_cpu_isa isa) {
    void (*run)(const df_qdnnl_conv *, size_t, size_t) = cv->plain_fix               ? fix_pixels_base
                                                         : isa == DF_CPU_ISA_AVX512 ? fix_pixels_avx512
                                                         : isa == DF_CPU_ISA_AVX2   ? fix_pixels_avx2
                                                                                    : fix_pixels_base;
    const size_t per = (size_t)cv->oh * cv->ow, start = (size_t)first * per, m = (size_t)count * per;
    const size_t chunk = df_qsplit_chunk(m, 256, 16); /* pixels; 16: the AVX-512 group */
    const long chunks = (long)((m + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (m * (size_t)cv->c * (size_t)cv->fix.n >= DF_QPARALLEL_MIN)
    for (long k = 0; k < chunks; k++) {
        const size_t p0 = (size_t)k * chunk;
        run(cv, start + p0, start + (p0 + chunk < m ? p0 + chunk : m));
    }
}

static void fix_row_base(const df_qdnnl_conv *cv, int n, int y) {
    fix_row_body(cv, n, y, dot_base);
}
__attribute__((target("avx2"))) static void fix_row_avx2(const df_qdnnl_conv *cv, int n, int y) {
    fix_row_body(cv, n, y, dot_avx2);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static void
fix_row_avx512(const df_qdnnl_conv *cv, int n, int y) {
    fix_row_body(cv, n, y, dot_avx512);
}

/* A depthwise layer's fixed channels, DW_ROWS output rows of one image at
 * a time (the row path above refills each input row kh times and reads it
 * with the layer's stride; this was 90% of its time). Per fixed channel,
 * the input rows the block reads become float planes, one per column
 * phase of the stride (plane r holds columns sw * m + r - pl), minus x_zp
 * and zero in the padding, so that every tap of the kernel reads a
 * contiguous run of a plane and the sums vectorize across the row. The
 * sums are exact in fp32: each of at most DW_MAX_TAPS products is within
 * 255 * 255, far below 2^24 together, in any order; the bias is added in
 * int32 and the requantization is the row path's. */
enum { DW_ROWS = 8, DW_PLANE = 12288, DW_MAX_TAPS = 25 };

static int dw_plane_width(const df_qdnnl_conv *cv) { return cv->ow + (cv->kw - 1) / cv->sw + 1; }

/* Whether a depthwise layer's fixed channels go by blocks (else by rows:
 * kernels or rows too large for the stack's planes, or DF_QFIX_ROWS). */
static int dw_by_blocks(const df_qdnnl_conv *cv) {
    const size_t rows = (size_t)(DW_ROWS - 1) * cv->sh + cv->kh;
    return cv->depthwise && !cv->plain_fix && cv->kh * cv->kw <= DW_MAX_TAPS &&
           rows * (size_t)cv->sw * (size_t)dw_plane_width(cv) <= DW_PLANE;
}

static inline __attribute__((always_inline)) void fix_dw_block_body(const df_qdnnl_conv *cv, int n, int y0) {
    const qfix *f = &cv->fix;
    const int h = cv->h, w = cv->w, kh = cv->kh, kw = cv->kw, sh = cv->sh, sw = cv->sw, pl = cv->pl;
    const int oc = cv->oc, ow = cv->ow, nfix = f->n, mw = dw_plane_width(cv);
    const int y1 = y0 + DW_ROWS < cv->oh ? y0 + DW_ROWS : cv->oh;
    const int rows = (y1 - y0 - 1) * sh + kh, iy0 = y0 * sh - cv->pt;
    const int32_t zx = cv->in_zp, zy = cv->out_zp;
    const float lo = (float)(cv->out_min - zy), hi = (float)(cv->out_max - zy);
    const size_t pixels = (size_t)h * w;
    /* where the channel's bytes are: the copy the layer before made, or the input itself */
    const uint8_t *base = cv->gathered ? cv->gathered + (size_t)n * pixels * (size_t)nfix
                                       : cv->in + (size_t)n * pixels * (size_t)cv->c;
    const size_t stride = cv->gathered ? (size_t)nfix : (size_t)cv->c;
    float plane[DW_PLANE];
    float wf[DW_MAX_TAPS];
    float sum[FIX_CHUNK];
    uint8_t q[FIX_CHUNK];
    for (int j = 0; j < nfix; j++) {
        const int o = f->oc[j];
        const uint8_t *src = base + (cv->gathered ? (size_t)j : (size_t)o);
        for (int k = 0; k < kh * kw; k++) wf[k] = (float)f->w[(size_t)j * kh * kw + k];
        /* plane (i, r): input row iy0 + i, columns sw * m + r - pl for m < mw */
        for (int i = 0; i < rows; i++) {
            const int iy = iy0 + i;
            for (int r = 0; r < sw; r++) {
                float *pr = plane + ((size_t)i * sw + r) * mw;
                if (iy < 0 || iy >= h) {
                    for (int m = 0; m < mw; m++) pr[m] = 0.0f;
                    continue;
                }
                /* m whose column sw * m + r - pl lies in [0, w) */
                int m0 = pl - r > 0 ? (pl - r + sw - 1) / sw : 0;
                int m1 = w - 1 + pl - r >= 0 ? (w - 1 + pl - r) / sw + 1 : 0;
                m0 = m0 > mw ? mw : m0;
                m1 = m1 > mw ? mw : m1 < m0 ? m0 : m1;
                for (int m = 0; m < m0; m++) pr[m] = 0.0f;
                /* (m0 < m1 here or the loops below run empty; the address is
                 * formed only for a column inside the row) */
                const uint8_t *row = m0 < m1 ? src + ((size_t)iy * w + (size_t)(sw * m0 + r - pl)) * stride : src;
                const size_t step = (size_t)sw * stride;
                if (step == 1) {
#pragma omp simd
                    for (int m = m0; m < m1; m++) pr[m] = (float)((int32_t)row[m - m0] - zx);
                } else {
                    for (int m = m0; m < m1; m++) pr[m] = (float)((int32_t)row[(size_t)(m - m0) * step] - zx);
                }
                for (int m = m1; m < mw; m++) pr[m] = 0.0f;
            }
        }
        const float scale = f->scale[j];
        const int32_t bias = f->bias[j];
        for (int y = y0; y < y1; y++) {
            uint8_t *orow = cv->out + ((size_t)n * cv->oh + y) * ow * oc + o;
            for (int x0 = 0; x0 < ow; x0 += FIX_CHUNK) {
                const int xn = ow - x0 < FIX_CHUNK ? ow - x0 : FIX_CHUNK;
#pragma omp simd
                for (int t = 0; t < xn; t++) sum[t] = 0.0f;
                for (int i = 0; i < kh; i++)
                    for (int k = 0; k < kw; k++) {
                        const float wv = wf[i * kw + k];
                        const float *pr = plane + ((size_t)((y - y0) * sh + i) * sw + k % sw) * mw + x0 + k / sw;
#pragma omp simd
                        for (int t = 0; t < xn; t++) sum[t] += wv * pr[t];
                    }
#pragma omp simd
                for (int t = 0; t < xn; t++) q[t] = requant((float)((int32_t)sum[t] + bias) * scale, lo, hi, zy);
                for (int t = 0; t < xn; t++) orow[(size_t)(x0 + t) * oc] = q[t];
            }
        }
    }
}

static void fix_dw_block_base(const df_qdnnl_conv *cv, int n, int y0) { fix_dw_block_body(cv, n, y0); }
__attribute__((target("avx2,fma"))) static void fix_dw_block_avx2(const df_qdnnl_conv *cv, int n, int y0) {
    fix_dw_block_body(cv, n, y0);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma"))) static void
fix_dw_block_avx512(const df_qdnnl_conv *cv, int n, int y0) {
    fix_dw_block_body(cv, n, y0);
}

static void fix_dw_blocks(const df_qdnnl_conv *cv, int first, int count, df_cpu_isa isa) {
    void (*run)(const df_qdnnl_conv *, int, int) = isa == DF_CPU_ISA_AVX512 ? fix_dw_block_avx512
                                                   : isa == DF_CPU_ISA_AVX2 ? fix_dw_block_avx2
                                                                            : fix_dw_block_base;
    const int per = (cv->oh + DW_ROWS - 1) / DW_ROWS, blocks = count * per;
    const size_t work = (size_t)count * cv->oh * cv->ow * (size_t)cv->kh * cv->kw * (size_t)cv->fix.n;
#pragma omp parallel for schedule(static) if (work >= DF_QPARALLEL_MIN)
    for (int b = 0; b < blocks; b++) run(cv, first + b / per, b % per * DW_ROWS);
}

static void fix_rowbuf_base(const df_qdnnl_conv *cv, int n, int y) { fix_rowbuf_body(cv, n, y); }
__attribute__((target("avx2"))) static void fix_rowbuf_avx2(const df_qdnnl_conv *cv, int n,
                                                            int y) {
    fix_rowbuf_body(cv, n, y);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static void
fix_rowbuf_avx512(const df_qdnnl_conv *cv, int n, int y) {
    fix_rowbuf_body(cv, n, y);
}

/* Overwrites the fixed channels of the whole output, rows split among the
 * threads. */
/* The side convolution's two sums per fixed channel, plus the bias (and
 * the zero point's term where oneDNN did not apply it), requantized. */
static dnnl_status_t fix_side(df_qdnnl *e, const df_qdnnl_conv *cv) {
    const qside *sd = &cv->side;
    const qfix *f = &cv->fix;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, sd->src},
                               {DNNL_ARG_WEIGHTS, sd->wei},
                               {DNNL_ARG_DST, sd->dst},
                               {DNNL_ARG_SCRATCHPAD, sd->scratch}};
    dnnl_status_t r = dnnl_primitive_execute(sd->prim, e->strm, sd->scratch ? 4 : 3, args);
    if (!r) r = dnnl_stream_wait(e->strm);
    if (r) return r;
    const int nf = f->n, oc = cv->oc, taps = cv->kh * cv->kw;
    const int32_t zy = cv->out_zp, zx = src_zp_side(cv, cv->in_zp) ? 0 : cv->in_zp;
    const float lo = (float)(cv->out_min - zy), hi = (float)(cv->out_max - zy);
    int32_t base[2 * FIX_MAX_SIDE]; /* side.on: nf <= 2 * FIX_MAX_SIDE */
    for (int j = 0; j < nf; j++) {
        int32_t ws = 0;
        for (int t = 0; t < taps; t++) ws += f->wsum[(size_t)j * taps + t];
        base[j] = f->bias[j] - zx * ws;
    }
    const size_t m = (size_t)cv->batch * cv->oh * cv->ow;
    const int32_t *so = sd->out;
    uint8_t *out = cv->out;
#pragma omp parallel for schedule(static) if (m * nf >= DF_QPARALLEL_MIN)
    for (size_t p = 0; p < m; p++) {
        for (int j = 0; j < nf; j++) {
            int32_t a = so[p * 2 * nf + 2 * j] + so[p * 2 * nf + 2 * j + 1] + base[j];
            out[p * oc + f->oc[j]] = requant((float)a * f->scale[j], lo, hi, zy);
        }
        if (cv->gather_to) gather_for_next(cv, p, p + 1);
    }
    return dnnl_success;
}

static dnnl_status_t run_fixes(const df_qdnnl_conv *cv, int first, int count) {
    df_cpu_isa isa = df_cpu_isa_best();
    if (cv->fix.pixels) {
        fix_pixels(cv, first, count, isa);
        return dnnl_success;
    }
    if (dw_by_blocks(cv)) {
        fix_dw_blocks(cv, first, count, isa);
        return dnnl_success;
    }
    int rb = fits_rowbuf(cv);
    void (*row)(const df_qdnnl_conv *, int, int) =
        isa == DF_CPU_ISA_AVX512 ? (rb ? fix_rowbuf_avx512 : fix_row_avx512)
        : isa == DF_CPU_ISA_AVX2 ? (rb ? fix_rowbuf_avx2 : fix_row_avx2)
                                 : (rb ? fix_rowbuf_base : fix_row_base);
    int rows = count * cv->oh;
    size_t work = (size_t)rows * cv->ow * per_channel_weights(cv) * (size_t)cv->fix.n;
#pragma omp parallel for schedule(static) if (work >= DF_QPARALLEL_MIN)
    for (int r = 0; r < rows; r++) row(cv, first + r / cv->oh, r % cv->oh);
    return dnnl_success;
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
    if (!r && cv->fix.n) r = cv->side.on ? fix_side(e, cv) : run_fixes(cv, 0, cv->batch);
    return r ? dnnl_fail(err, r, "convolution") : DF_OK;
}

int df_qdnnl_conv_fixed_channels(const df_qdnnl_conv *cv) { return cv->fix.n; }

int df_qdnnl_conv_feed(df_qdnnl_conv *prev, df_qdnnl_conv *next) {
    if (!prev || !next || prev->gather_to || next->fed) return 0;
    /* next: a depthwise layer with fixed channels (always the row buffer's
     * path); prev: a pass over every pixel of next's input */
    if (!next->depthwise || !next->fix.n) return 0;
    if (!prev->fix.n || !(prev->fix.pixels || prev->side.on)) return 0;
    if (prev->oh != next->h || prev->ow != next->w || prev->oc != next->c) return 0;
    prev->gather_to = next;
    next->fed = 1;
    return 1;
}

int df_qdnnl_conv_gathers(const df_qdnnl_conv *cv) { return cv->gather_to != NULL; }

int df_qdnnl_conv_dw_blocks(const df_qdnnl_conv *cv) { return cv->fix.n && dw_by_blocks(cv); }

const char *df_qdnnl_conv_impl(const df_qdnnl_conv *cv) { return cv->impl; }

/* A stretch of the ADD: XNNPACK's arithmetic needs 32-bit multiplies,
 * which SSE2 does not have (the baseline build's loop took 5.7% of a batch
 * of 16 against 3.0% for the fp32 formula before it); AVX2 and AVX-512
 * do. */
static inline __attribute__((always_inline)) void add_body(const df_qadd_params *p, const uint8_t *a, int32_t za,
                                                           const uint8_t *b, int32_t zb, uint8_t *y, int32_t zy,
                                                           int32_t vlo, int32_t vhi, size_t n) {
#pragma omp simd
    for (size_t k = 0; k < n; k++) {
        int32_t v = df_qadd_centred(p, (int32_t)a[k] - za, (int32_t)b[k] - zb);
        y[k] = (uint8_t)((v < vlo ? vlo : v > vhi ? vhi : v) + zy);
    }
}
#define ADD_ARGS                                                                                                 \
    const df_qadd_params *p, const uint8_t *a, int32_t za, const uint8_t *b, int32_t zb, uint8_t *y, int32_t zy, \
        int32_t vlo, int32_t vhi, size_t n
static void add_base(ADD_ARGS) { add_body(p, a, za, b, zb, y, zy, vlo, vhi, n); }
__attribute__((target("avx2"))) static void add_avx2(ADD_ARGS) { add_body(p, a, za, b, zb, y, zy, vlo, vhi, n); }
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void add_avx512(ADD_ARGS) {
    add_body(p, a, za, b, zb, y, zy, vlo, vhi, n);
}
#undef ADD_ARGS

enum { ADD_CHUNK = 8192 };

void df_qdnnl_add(const uint8_t *a, df_qparams pa, const uint8_t *b, df_qparams pb, uint8_t *y,
                  df_qparams py, int32_t lo, int32_t hi, size_t n) {
    df_qadd_params p;
    df_qadd_params_init(&p, pa, pb, py);
    const int32_t za = pa.zero_point, zb = pb.zero_point, zy = py.zero_point;
    const df_cpu_isa isa = df_cpu_isa_best();
    void (*run)(const df_qadd_params *, const uint8_t *, int32_t, const uint8_t *, int32_t, uint8_t *, int32_t,
                int32_t, int32_t, size_t) = isa == DF_CPU_ISA_AVX512 ? add_avx512
                                            : isa == DF_CPU_ISA_AVX2 ? add_avx2
                                                                     : add_base;
    const size_t chunk = df_qsplit_chunk(n, ADD_CHUNK, 64), chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n >= DF_QPARALLEL_MIN)
    for (size_t c = 0; c < chunks; c++) {
        const size_t k0 = c * chunk, m = n - k0 < chunk ? n - k0 : chunk;
        run(&p, a + k0, za, b + k0, zb, y + k0, zy, lo - zy, hi - zy, m);
    }
}

enum { GAP_BLOCK = 256 };

void df_qdnnl_global_avgpool(const uint8_t *x, df_qparams px, uint8_t *y, df_qparams py,
                             int batch, int hw, int c) {
    const float k = px.scale / (py.scale * (float)hw);
    const int32_t zsum = hw * px.zero_point, zy = py.zero_point;
    const float vlo = (float)-zy, vhi = (float)(255 - zy);
    int blocks = (c + GAP_BLOCK - 1) / GAP_BLOCK;
#pragma omp parallel for schedule(static) if ((size_t)batch * hw * c >= DF_QPARALLEL_MIN)
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
            y[(size_t)n * c + c0 + j] = requant((float)(acc[j] - zsum) * k, vlo, vhi, zy);
        }
    }
}
