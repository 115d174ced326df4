/*
 * The integer engine (see qnet.h for the contract): the graph, its buffers
 * and the fp32 <-> integer conversions here, the layers on one of two
 * backends.
 *
 * XNNPACK: each layer is one XNNPACK operator created at build time (it
 * packs the weights then), set up at reshape over buffers assigned by
 * liveness, and run in order on one pthreadpool of as many threads as
 * OpenMP would use (OMP_NUM_THREADS), so both engines honour one setting.
 * It runs both types: it has exactly TFLite's operators (it is TFLite's own
 * CPU delegate), weight zero points included.
 *
 * oneDNN (qnet_dnnl.c): convolutions are oneDNN primitives created at each
 * reshape over the same buffers, ADD and the pool our own loops; both
 * types (uint8 weights as w - w_zp, the channels where that leaves int8
 * recomputed by its own loop: qnet_dnnl.h). Its activations are stored as
 * uint8 (int8 + 128, `flip` below), the form its fast kernels take.
 *
 * oneDNN's fp32 (qnet_f32.c): the same graph over floats holding the
 * integers q - zero_point, for CPUs whose int8 kernels are not exact.
 */
#include "engine/qnet.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "core/cpu.h"
#include "core/memory.h"
#include "engine/qnet_dnnl.h"
#include "engine/qnet_f32.h"

enum { Q_CONV, Q_ADD, Q_GAP };

typedef struct qtensor {
    int h, w, c;
    df_qparams p;
    int last_use;    /* layer index of the last reader (-1: none) */
    int buf;         /* buffer index at the current reshape */
    df_qf32_layout layout; /* fp32 backend, at the current reshape; else NHWC */
} qtensor;

typedef struct qlayer {
    int kind;
    int in[2], n_in, out;
    xnn_operator_t op;       /* XNNPACK backend */
    df_qdnnl_conv *dconv;    /* oneDNN backend, convolutions */
    df_qf32_conv *fconv;     /* oneDNN fp32 backend, convolutions */
    int32_t out_min, out_max; /* ADD's clamp (the oneDNN backend's own loop) */
    int fused;               /* fp32 backend, at the current reshape: run inside the layer before */
} qlayer;

struct df_qnet {
    df_qtype type;
    df_qbackend backend;
    uint8_t flip;         /* XORed into stored bytes: 0x80 for oneDNN's int8 as uint8 */
    df_qdnnl *dnnl;       /* oneDNN backends: engine and stream */
    size_t esize;         /* bytes per stored value: 1, or 4 (fp32 backend: q - zero_point) */
    qtensor *t;
    int n_t, cap_t;
    qlayer *l;
    int n_l, cap_l;
    int input, output;
    int64_t params;
    pthreadpool_t pool;   /* NULL: one thread */
    int batch;
    int n_buf;
    uint8_t **buf;        /* [n_buf], each batch * its size + XNN_EXTRA_BYTES */
    size_t *buf_size;
};

static const char *xnn_name(enum xnn_status s) {
    switch (s) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "XNNPACK not initialized";
    case xnn_status_invalid_parameter: return "invalid parameter";
    case xnn_status_invalid_state: return "invalid state";
    case xnn_status_unsupported_parameter: return "unsupported parameter";
    case xnn_status_unsupported_hardware: return "unsupported hardware";
    case xnn_status_out_of_memory: return "out of memory";
    default: return "unknown XNNPACK status";
    }
}

static df_status xnn_fail(df_error *err, enum xnn_status s, const char *what) {
    return df_error_set(err, s == xnn_status_out_of_memory ? DF_ERR_NOMEM : DF_ERR_UNSUPPORTED,
                        "XNNPACK %s: %s", what, xnn_name(s));
}

const char *df_qnet_backend_name(df_qbackend b) {
    return b == DF_QBACKEND_ONEDNN ? "onednn" : b == DF_QBACKEND_ONEDNN_F32 ? "onednn-f32" : "xnnpack";
}

df_qbackend df_qnet_backend(const df_qnet *q) { return q->backend; }

int df_qnet_backend_exact(df_qbackend b) { return b != DF_QBACKEND_ONEDNN || df_qdnnl_exact(); }

df_status df_qnet_create(df_qtype type, df_qbackend backend, df_qnet **out, df_error *err) {
    *out = NULL;
    df_cpu_cap_libraries();
    if (backend == DF_QBACKEND_XNNPACK) {
        enum xnn_status s = xnn_initialize(NULL);
        if (s != xnn_status_success) return xnn_fail(err, s, "initialization");
    }
    df_qnet *q = calloc(1, sizeof *q);
    if (!q) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    q->type = type;
    q->backend = backend;
    q->input = q->output = -1;
    q->esize = backend == DF_QBACKEND_ONEDNN_F32 ? sizeof(float) : 1;
    if (backend != DF_QBACKEND_XNNPACK) {
        q->flip = backend == DF_QBACKEND_ONEDNN && type == DF_QTYPE_S8 ? 0x80 : 0;
        df_status st = df_qdnnl_create(&q->dnnl, err);
        if (st) {
            free(q);
            return st;
        }
        *out = q;
        return DF_OK;
    }
    int threads = omp_get_max_threads();
    if (threads > 1) {
        q->pool = pthreadpool_create((size_t)threads);
        if (!q->pool) {
            free(q);
            return df_error_set(err, DF_ERR_NOMEM, "cannot create a pool of %d threads", threads);
        }
    }
    *out = q;
    return DF_OK;
}

static void free_buffers(df_qnet *q) {
    for (int k = 0; k < q->n_buf; k++) free(q->buf[k]);
    free(q->buf);
    free(q->buf_size);
    q->buf = NULL;
    q->buf_size = NULL;
    q->n_buf = 0;
}

void df_qnet_destroy(df_qnet *q) {
    if (!q) return;
    for (int k = 0; k < q->n_l; k++) {
        if (q->l[k].op) xnn_delete_operator(q->l[k].op);
        df_qdnnl_conv_destroy(q->l[k].dconv);
        df_qf32_conv_destroy(q->l[k].fconv);
    }
    free_buffers(q);
    if (q->pool) pthreadpool_destroy(q->pool);
    df_qdnnl_destroy(q->dnnl);
    free(q->t);
    free(q->l);
    free(q);
}

static int qmin(const df_qnet *q) { return q->type == DF_QTYPE_U8 ? 0 : -128; }
/* What a stored byte means: the type's value, or int8 + 128 for oneDNN. */
static int32_t stored_shift(const df_qnet *q) { return q->flip ? 128 : 0; }
static df_qparams stored_params(const df_qnet *q, df_qparams p) {
    p.zero_point += stored_shift(q);
    return p;
}
static int qmax(const df_qnet *q) { return q->type == DF_QTYPE_U8 ? 255 : 127; }

static df_status check_params(const df_qnet *q, df_qparams p, const char *what, df_error *err) {
    if (!(p.scale > 0.0f) || !isfinite(p.scale))
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s scale %g (must be positive)", what,
                            (double)p.scale);
    if (p.zero_point < qmin(q) || p.zero_point > qmax(q))
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s zero point %d outside %d..%d", what,
                            (int)p.zero_point, qmin(q), qmax(q));
    return DF_OK;
}

static df_status check_frozen(const df_qnet *q, df_error *err) {
    if (q->batch > 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "integer net already reshaped (frozen)");
    return DF_OK;
}

static df_status check_id(const df_qnet *q, df_qtensor_id t, df_error *err) {
    if (t < 0 || t >= q->n_t)
        return df_error_set(err, DF_ERR_INVALID_ARG, "integer net: no tensor %d", t);
    return DF_OK;
}

static df_status new_tensor(df_qnet *q, int h, int w, int c, df_qparams p, df_qtensor_id *out,
                            df_error *err) {
    if (q->n_t == q->cap_t) {
        int cap = q->cap_t ? 2 * q->cap_t : 32;
        qtensor *n = realloc(q->t, (size_t)cap * sizeof *n);
        if (!n) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
        q->t = n;
        q->cap_t = cap;
    }
    qtensor *t = &q->t[q->n_t];
    memset(t, 0, sizeof *t);
    t->h = h;
    t->w = w;
    t->c = c;
    t->p = p;
    t->last_use = -1;
    *out = q->n_t++;
    return DF_OK;
}

/* Appends a layer owning op, dconv or fconv (deleted here on failure). */
static df_status push_layer(df_qnet *q, int kind, int a, int b, int out, xnn_operator_t op,
                            df_qdnnl_conv *dconv, df_qf32_conv *fconv, df_error *err) {
    if (q->n_l == q->cap_l) {
        int cap = q->cap_l ? 2 * q->cap_l : 32;
        qlayer *n = realloc(q->l, (size_t)cap * sizeof *n);
        if (!n) {
            if (op) xnn_delete_operator(op);
            df_qdnnl_conv_destroy(dconv);
            df_qf32_conv_destroy(fconv);
            return df_error_set(err, DF_ERR_NOMEM, "out of memory");
        }
        q->l = n;
        q->cap_l = cap;
    }
    qlayer *l = &q->l[q->n_l++];
    l->kind = kind;
    l->in[0] = a;
    l->in[1] = b;
    l->n_in = b >= 0 ? 2 : 1;
    l->out = out;
    l->op = op;
    l->dconv = dconv;
    l->fconv = fconv;
    return DF_OK;
}

df_status df_qnet_input(df_qnet *q, int h, int w, int c, df_qparams p, df_qtensor_id *out,
                        df_error *err) {
    df_status st = check_frozen(q, err);
    if (st) return st;
    if (q->input >= 0) return df_error_set(err, DF_ERR_INVALID_ARG, "integer net has an input");
    if (h < 1 || w < 1 || c < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "input shape %dx%dx%d", h, w, c);
    if ((st = check_params(q, p, "input", err))) return st;
    if ((st = new_tensor(q, h, w, c, p, out, err))) return st;
    q->input = *out;
    return DF_OK;
}

static enum xnn_status create_conv(df_qnet *q, const qtensor *x, const df_qconv_desc *d,
                                     xnn_operator_t *op) {
    uint32_t groups = d->depthwise ? (uint32_t)x->c : 1;
    size_t gic = d->depthwise ? 1 : (size_t)x->c, goc = d->depthwise ? 1 : (size_t)d->out_c;
    uint32_t flags = d->depthwise ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0;
    if (q->type == DF_QTYPE_U8)
        return xnn_create_convolution2d_nhwc_qu8(
            (uint32_t)d->pad_top, (uint32_t)d->pad_right, (uint32_t)d->pad_bottom,
            (uint32_t)d->pad_left, (uint32_t)d->kh, (uint32_t)d->kw, (uint32_t)d->stride_h,
            (uint32_t)d->stride_w, 1, 1, groups, gic, goc, (size_t)x->c, (size_t)d->out_c,
            (uint8_t)x->p.zero_point, x->p.scale, (uint8_t)d->weight_zero_point,
            d->weight_scale[0], d->weights, d->bias, (uint8_t)d->out.zero_point, d->out.scale,
            (uint8_t)d->out_min, (uint8_t)d->out_max, flags, op);
    return xnn_create_convolution2d_nhwc_qc8(
        (uint32_t)d->pad_top, (uint32_t)d->pad_right, (uint32_t)d->pad_bottom,
        (uint32_t)d->pad_left, (uint32_t)d->kh, (uint32_t)d->kw, (uint32_t)d->stride_h,
        (uint32_t)d->stride_w, 1, 1, groups, gic, goc, (size_t)x->c, (size_t)d->out_c,
        (int8_t)x->p.zero_point, x->p.scale, d->weight_scale, d->weights, d->bias,
        (int8_t)d->out.zero_point, d->out.scale, (int8_t)d->out_min, (int8_t)d->out_max, flags,
        op);
}

df_status df_qnet_conv2d(df_qnet *q, df_qtensor_id in, const df_qconv_desc *d,
                         df_qtensor_id *out, df_error *err) {
    df_status st = check_frozen(q, err);
    if (!st) st = check_id(q, in, err);
    if (st) return st;
    qtensor x = q->t[in];
    if (d->out_c < 1 || d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 ||
        d->pad_top < 0 || d->pad_left < 0 || d->pad_bottom < 0 || d->pad_right < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "convolution %d filters %dx%d stride %dx%d",
                            d->out_c, d->kh, d->kw, d->stride_h, d->stride_w);
    if (d->depthwise && d->out_c != x.c)
        return df_error_set(err, DF_ERR_UNSUPPORTED,
                            "depthwise convolution with %d outputs for %d channels "
                            "(multiplier 1 only)", d->out_c, x.c);
    int ph = x.h + d->pad_top + d->pad_bottom, pw = x.w + d->pad_left + d->pad_right;
    if (ph < d->kh || pw < d->kw)
        return df_error_set(err, DF_ERR_SHAPE, "%dx%d filter larger than the padded %dx%d input",
                            d->kh, d->kw, ph, pw);
    if ((st = check_params(q, d->out, "output", err))) return st;
    int nscale = q->type == DF_QTYPE_U8 ? 1 : d->out_c;
    for (int k = 0; k < nscale; k++)
        if (!(d->weight_scale[k] > 0.0f) || !isfinite(d->weight_scale[k]))
            return df_error_set(err, DF_ERR_INVALID_ARG, "weight scale %g of channel %d",
                                (double)d->weight_scale[k], k);
    if (q->type == DF_QTYPE_U8 ? (d->weight_zero_point < 0 || d->weight_zero_point > 255)
                               : d->weight_zero_point != 0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "weight zero point %d for %s weights",
                            (int)d->weight_zero_point, q->type == DF_QTYPE_U8 ? "uint8" : "int8");
    if (d->out_min < qmin(q) || d->out_max > qmax(q) || d->out_min > d->out_max)
        return df_error_set(err, DF_ERR_INVALID_ARG, "output clamp %d..%d", (int)d->out_min,
                            (int)d->out_max);
    xnn_operator_t op = NULL;
    df_qdnnl_conv *dconv = NULL;
    df_qf32_conv *fconv = NULL;
    if (q->backend == DF_QBACKEND_ONEDNN_F32) {
        st = df_qf32_conv_create(q->dnnl, q->type, x.h, x.w, x.c, x.p, d, &fconv, err);
        if (st) return st;
    } else if (q->backend == DF_QBACKEND_ONEDNN) {
        df_qconv_desc u = *d;
        u.out = stored_params(q, d->out);
        u.out_min += stored_shift(q);
        u.out_max += stored_shift(q);
        st = df_qdnnl_conv_create(q->dnnl, q->type, x.h, x.w, x.c, stored_params(q, x.p), &u, &dconv, err);
        if (st) return st;
    } else {
        enum xnn_status s = create_conv(q, &x, d, &op);
        if (s != xnn_status_success) return xnn_fail(err, s, "convolution");
    }
    int oh = (ph - d->kh) / d->stride_h + 1, ow = (pw - d->kw) / d->stride_w + 1;
    if ((st = new_tensor(q, oh, ow, d->out_c, d->out, out, err))) {
        if (op) xnn_delete_operator(op);
        df_qdnnl_conv_destroy(dconv);
        df_qf32_conv_destroy(fconv);
        return st;
    }
    q->params += (int64_t)d->out_c * d->kh * d->kw * (d->depthwise ? 1 : x.c) + d->out_c;
    /* the convolution that wrote this one's input, if one did */
    for (int k = q->n_l - 1; dconv && k >= 0; k--)
        if (q->l[k].out == in) {
            if (q->l[k].dconv) df_qdnnl_conv_feed(q->l[k].dconv, dconv);
            break;
        }
    return push_layer(q, Q_CONV, in, -1, *out, op, dconv, fconv, err);
}

df_status df_qnet_add(df_qnet *q, df_qtensor_id a, df_qtensor_id b, df_qparams p,
                      int32_t out_min, int32_t out_max, df_qtensor_id *out, df_error *err) {
    df_status st = check_frozen(q, err);
    if (!st) st = check_id(q, a, err);
    if (!st) st = check_id(q, b, err);
    if (!st) st = check_params(q, p, "output", err);
    if (st) return st;
    qtensor x = q->t[a], y = q->t[b];
    if (x.h != y.h || x.w != y.w || x.c != y.c)
        return df_error_set(err, DF_ERR_SHAPE, "add of %dx%dx%d and %dx%dx%d", x.h, x.w, x.c,
                            y.h, y.w, y.c);
    if (out_min < qmin(q) || out_max > qmax(q) || out_min > out_max)
        return df_error_set(err, DF_ERR_INVALID_ARG, "output clamp %d..%d", (int)out_min,
                            (int)out_max);
    /* our ADD's shift (df_qadd_params) is 13..30 for these ratios
     * (XNNPACK refuses ratios this small too: tests) */
    const float ra = x.p.scale / p.scale, rb = y.p.scale / p.scale, top = ra > rb ? ra : rb;
    if (q->backend != DF_QBACKEND_XNNPACK && !(top >= 0x1p-10f && top < 0x1p8f))
        return df_error_set(err, DF_ERR_UNSUPPORTED, "add: input to output scale ratio %g outside [2^-10, 2^8)",
                            (double)top);
    xnn_operator_t op = NULL;
    enum xnn_status s =
        q->backend != DF_QBACKEND_XNNPACK ? xnn_status_success /* our loop */
        : q->type == DF_QTYPE_U8
            ? xnn_create_add_nd_qu8((uint8_t)x.p.zero_point, x.p.scale, (uint8_t)y.p.zero_point,
                                    y.p.scale, (uint8_t)p.zero_point, p.scale, (uint8_t)out_min,
                                    (uint8_t)out_max, 0, &op)
            : xnn_create_add_nd_qs8((int8_t)x.p.zero_point, x.p.scale, (int8_t)y.p.zero_point,
                                    y.p.scale, (int8_t)p.zero_point, p.scale, (int8_t)out_min,
                                    (int8_t)out_max, 0, &op);
    if (s != xnn_status_success) return xnn_fail(err, s, "add");
    if ((st = new_tensor(q, x.h, x.w, x.c, p, out, err))) {
        if (op) xnn_delete_operator(op);
        return st;
    }
    if ((st = push_layer(q, Q_ADD, a, b, *out, op, NULL, NULL, err))) return st;
    q->l[q->n_l - 1].out_min = out_min;
    q->l[q->n_l - 1].out_max = out_max;
    return DF_OK;
}

df_status df_qnet_global_avgpool(df_qnet *q, df_qtensor_id in, df_qparams p,
                                 df_qtensor_id *out, df_error *err) {
    df_status st = check_frozen(q, err);
    if (!st) st = check_id(q, in, err);
    if (!st) st = check_params(q, p, "output", err);
    if (st) return st;
    qtensor x = q->t[in];
    /* the fp32 backend's sums of hw values of |q - zp| <= 255 stay exact */
    if (q->backend == DF_QBACKEND_ONEDNN_F32 && (double)x.h * x.w * 255.0 > 16777216.0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "fp32 integer pool over %dx%d positions could pass 2^24",
                            x.h, x.w);
    xnn_operator_t op = NULL;
    size_t c = (size_t)x.c;
    enum xnn_status s =
        q->backend != DF_QBACKEND_XNNPACK ? xnn_status_success /* our loop */
        : q->type == DF_QTYPE_U8
            ? xnn_create_global_average_pooling_nwc_qu8(c, c, c, (uint8_t)x.p.zero_point,
                                                        x.p.scale, (uint8_t)p.zero_point,
                                                        p.scale, 0, 255, 0, &op)
            : xnn_create_global_average_pooling_nwc_qs8(c, c, c, (int8_t)x.p.zero_point,
                                                        x.p.scale, (int8_t)p.zero_point,
                                                        p.scale, -128, 127, 0, &op);
    if (s != xnn_status_success) return xnn_fail(err, s, "global average pooling");
    if ((st = new_tensor(q, 1, 1, x.c, p, out, err))) {
        if (op) xnn_delete_operator(op);
        return st;
    }
    return push_layer(q, Q_GAP, in, -1, *out, op, NULL, NULL, err);
}

df_status df_qnet_set_output(df_qnet *q, df_qtensor_id t, df_error *err) {
    df_status st = check_frozen(q, err);
    if (!st) st = check_id(q, t, err);
    if (st) return st;
    q->output = t;
    return DF_OK;
}

df_status df_qnet_tensor_shape(const df_qnet *q, df_qtensor_id t, int *h, int *w, int *c,
                               df_error *err) {
    df_status st = check_id(q, t, err);
    if (st) return st;
    *h = q->t[t].h;
    *w = q->t[t].w;
    *c = q->t[t].c;
    return DF_OK;
}

df_qparams df_qnet_tensor_params(const df_qnet *q, df_qtensor_id t) { return q->t[t].p; }
df_qtype df_qnet_type(const df_qnet *q) { return q->type; }
df_qparams df_qnet_input_params(const df_qnet *q) { return q->t[q->input].p; }

static size_t tensor_elems(const qtensor *t) { return (size_t)t->h * (size_t)t->w * (size_t)t->c; }

/* Whether layer k + 1 is a depthwise layer the fp32 backend may fuse into
 * layer k (df_qf32_conv_setup_fused): it alone reads k's output, which is
 * not the net's, in a shape oneDNN's fused post-op computes. Needs the
 * tensors' last_use. */
static int fusion_pair(const df_qnet *q, int k) {
    if (k + 1 >= q->n_l) return 0;
    const qlayer *l = &q->l[k], *next = &q->l[k + 1];
    return l->fconv && next->fconv && next->in[0] == l->out && l->out != q->output &&
           q->t[l->out].last_use == k + 1 && df_qf32_conv_fusable(l->fconv, next->fconv);
}

/* Buffers by liveness: a tensor takes a free buffer (the smallest that
 * fits, else the largest grown) and gives it back after its last reader. */
static df_status assign_buffers(df_qnet *q, df_error *err) {
    for (int k = 0; k < q->n_t; k++) q->t[k].last_use = -1;
    for (int k = 0; k < q->n_l; k++)
        for (int j = 0; j < q->l[k].n_in; j++) q->t[q->l[k].in[j]].last_use = k;
    q->t[q->output].last_use = q->n_l;
    /* A 1x1 layer the fp32 backend may fuse with the depthwise one after it
     * reads its input while it writes the depthwise layer's output: that
     * input is kept from being given to it. */
    for (int k = 0; k + 1 < q->n_l; k++) {
        qtensor *x = &q->t[q->l[k].in[0]];
        if (x->last_use == k && fusion_pair(q, k)) x->last_use = k + 1;
    }
    int *busy = calloc((size_t)q->n_t + 1, sizeof *busy);
    size_t *size = calloc((size_t)q->n_t + 1, sizeof *size);
    if (!busy || !size) {
        free(busy);
        free(size);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    int n = 0;
    for (int k = -1; k < q->n_l; k++) {
        int t = k < 0 ? q->input : q->l[k].out;
        size_t need = tensor_elems(&q->t[t]) * (size_t)q->batch * q->esize;
        int fit = -1, big = -1;
        for (int b = 0; b < n; b++) {
            if (busy[b]) continue;
            if (size[b] >= need && (fit < 0 || size[b] < size[fit])) fit = b;
            if (big < 0 || size[b] > size[big]) big = b;
        }
        int best = fit >= 0 ? fit : big >= 0 ? big : n++;
        if (size[best] < need) size[best] = need;
        busy[best] = 1;
        q->t[t].buf = best;
        if (k >= 0)
            for (int j = 0; j < q->l[k].n_in; j++) {
                const qtensor *x = &q->t[q->l[k].in[j]];
                if (x->last_use == k) busy[x->buf] = 0;
            }
        if (q->t[t].last_use < 0) busy[best] = 0; /* read by nothing */
    }
    free(busy);
    q->buf = calloc((size_t)n, sizeof *q->buf);
    q->buf_size = size;
    q->n_buf = n;
    if (!q->buf) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    /* 64-byte aligned (oneDNN's kernels load whole cache lines), large ones in huge pages */
    for (int b = 0; b < n; b++) {
        void *p = df_alloc_aligned(size[b] + XNN_EXTRA_BYTES);
        if (!p) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %zu bytes", size[b]);
        q->buf[b] = p;
    }
    return DF_OK;
}

static enum xnn_status setup_layer(df_qnet *q, const qlayer *l) {
    const qtensor *x = &q->t[l->in[0]], *y = &q->t[l->out];
    void *in = q->buf[x->buf], *out = q->buf[y->buf];
    size_t n = (size_t)q->batch;
    int u8 = q->type == DF_QTYPE_U8;
    switch (l->kind) {
    case Q_CONV:
        return u8 ? xnn_setup_convolution2d_nhwc_qu8(l->op, n, (size_t)x->h, (size_t)x->w, in,
                                                     out, q->pool)
                  : xnn_setup_convolution2d_nhwc_qc8(l->op, n, (size_t)x->h, (size_t)x->w, in,
                                                     out, q->pool);
    case Q_ADD: {
        size_t shape[4] = {n, (size_t)x->h, (size_t)x->w, (size_t)x->c};
        void *in2 = q->buf[q->t[l->in[1]].buf];
        return u8 ? xnn_setup_add_nd_qu8(l->op, 4, shape, 4, shape, in, in2, out, q->pool)
                  : xnn_setup_add_nd_qs8(l->op, 4, shape, 4, shape, in, in2, out, q->pool);
    }
    default:
        return u8 ? xnn_setup_global_average_pooling_nwc_qu8(l->op, n, (size_t)x->h * x->w, in,
                                                             out, q->pool)
                  : xnn_setup_global_average_pooling_nwc_qs8(l->op, n, (size_t)x->h * x->w, in,
                                                             out, q->pool);
    }
}

/* The fp32 backend keeps maps whose channels fill blocks of 8 in oneDNN's
 * blocked layout, except the input and the output (the caller's, NHWC);
 * an ADD's three maps share one layout (its loop is element by element). */
static void choose_layouts(df_qnet *q) {
    for (int k = 0; k < q->n_t; k++)
        q->t[k].layout = q->backend == DF_QBACKEND_ONEDNN_F32 && k != q->input && k != q->output &&
                                 q->t[k].c % 8 == 0
                             ? DF_QF32_BLOCKED8
                             : DF_QF32_NHWC;
    /* The input, stored by our conversion, goes planar where only
     * convolutions read it: oneDNN's jit kernels take a 3-channel first
     * layer from NCHW into blocks, but from NHWC only by its reference
     * code (600 ms for 8 images). */
    int planar = q->backend == DF_QBACKEND_ONEDNN_F32 && q->input != q->output;
    for (int k = 0; k < q->n_l; k++)
        for (int j = 0; j < q->l[k].n_in; j++)
            if (q->l[k].in[j] == q->input && q->l[k].kind != Q_CONV) planar = 0;
    if (planar) q->t[q->input].layout = DF_QF32_NCHW;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int k = 0; k < q->n_l; k++) {
            const qlayer *l = &q->l[k];
            if (l->kind != Q_ADD) continue;
            qtensor *t[3] = {&q->t[l->in[0]], &q->t[l->in[1]], &q->t[l->out]};
            if (t[0]->layout == t[1]->layout && t[1]->layout == t[2]->layout) continue;
            for (int j = 0; j < 3; j++) t[j]->layout = DF_QF32_NHWC;
            changed = 1;
        }
    }
}

df_status df_qnet_reshape(df_qnet *q, int batch, df_error *err) {
    if (batch < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "batch size %d", batch);
    if (q->input < 0 || q->output < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "integer net has no %s",
                            q->input < 0 ? "input" : "output");
    free_buffers(q);
    q->batch = batch;
    choose_layouts(q);
    df_status st = assign_buffers(q, err);
    /* The fp32 backend fuses a depthwise layer into the 1x1 before it where
     * that one alone feeds it (df_qf32_conv_setup_fused); DF_NO_DW_FUSION
     * (as for the float engine) turns it off. */
    const char *no_dw = getenv("DF_NO_DW_FUSION");
    const int dw_fusion = !no_dw || !*no_dw;
    for (int k = 0; k < q->n_l; k++) q->l[k].fused = 0;
    for (int k = 0; k < q->n_l && !st; k++) {
        qlayer *l = &q->l[k];
        if (l->fused) continue;
        if (dw_fusion && fusion_pair(q, k)) {
            qlayer *next = &q->l[k + 1];
            const qtensor *x = &q->t[l->in[0]], *y = &q->t[next->out];
            st = df_qf32_conv_setup_fused(q->dnnl, l->fconv, next->fconv, batch, (float *)(void *)q->buf[x->buf],
                                          x->layout, (float *)(void *)q->buf[y->buf], y->layout, &next->fused, err);
            if (st || next->fused) continue;
        }
        if (l->dconv) {
            st = df_qdnnl_conv_setup(q->dnnl, l->dconv, batch, q->buf[q->t[l->in[0]].buf],
                                     q->buf[q->t[l->out].buf], err);
        } else if (l->fconv) {
            const qtensor *x = &q->t[l->in[0]], *y = &q->t[l->out];
            st = df_qf32_conv_setup(q->dnnl, l->fconv, batch, (float *)(void *)q->buf[x->buf], x->layout,
                                    (float *)(void *)q->buf[y->buf], y->layout, err);
        } else if (l->op) {
            enum xnn_status s = setup_layer(q, l);
            if (s != xnn_status_success) st = xnn_fail(err, s, "setup");
        }
    }
    /* oneDNN compiles each convolution's kernels when its primitive is
     * created: on all threads, a layer each (MobileNetV2 at batch 16 on
     * 2 threads: 64-68 ms sequentially, 90% of it here). Only that
     * backend: an OpenMP region for nothing would leave its threads
     * spinning beside XNNPACK's pool. */
    if (!st && q->backend == DF_QBACKEND_ONEDNN) {
        df_first_error fe;
        df_first_error_init(&fe);
#pragma omp parallel for schedule(dynamic, 1)
        for (int k = 0; k < q->n_l; k++) {
            df_error e;
            if (q->l[k].dconv && df_qdnnl_conv_finish(q->l[k].dconv, &e) != DF_OK) df_first_error_note(&fe, k, &e);
        }
        st = df_first_error_take(&fe, err);
    }
    if (st) {
        free_buffers(q);
        q->batch = 0;
    }
    return st;
}

/* A layer of the oneDNN backend: its convolution, or our ADD / pool loop
 * over the stored uint8 values. */
static df_status run_dnnl_layer(df_qnet *q, const qlayer *l, df_error *err) {
    if (l->dconv) return df_qdnnl_conv_run(q->dnnl, l->dconv, err);
    if (l->fconv) return df_qf32_conv_run(q->dnnl, l->fconv, err);
    const qtensor *x = &q->t[l->in[0]], *y = &q->t[l->out];
    if (q->backend == DF_QBACKEND_ONEDNN_F32) {
        const float *fin = (const float *)(void *)q->buf[x->buf];
        float *fout = (float *)(void *)q->buf[y->buf];
        if (l->kind == Q_ADD) {
            const qtensor *b = &q->t[l->in[1]];
            df_qf32_add(fin, x->p, (const float *)(void *)q->buf[b->buf], b->p, fout, y->p, l->out_min, l->out_max,
                        tensor_elems(x) * (size_t)q->batch);
        } else {
            df_qf32_global_avgpool(fin, x->layout, x->p, fout, y->p, q->batch, x->h * x->w, x->c, qmin(q), qmax(q));
        }
        return DF_OK;
    }
    const uint8_t *in = q->buf[x->buf];
    uint8_t *out = q->buf[y->buf];
    if (l->kind == Q_ADD) {
        const qtensor *b = &q->t[l->in[1]];
        df_qdnnl_add(in, stored_params(q, x->p), q->buf[b->buf], stored_params(q, b->p), out,
                       stored_params(q, y->p), l->out_min + stored_shift(q),
                       l->out_max + stored_shift(q), tensor_elems(x) * (size_t)q->batch);
    } else {
        df_qdnnl_global_avgpool(in, stored_params(q, x->p), out, stored_params(q, y->p), q->batch,
                                  x->h * x->w, x->c);
    }
    return DF_OK;
}

static df_status run_layers(df_qnet *q, df_error *err) {
    for (int k = 0; k < q->n_l; k++) {
        if (q->l[k].fused) continue;
        if (q->backend != DF_QBACKEND_XNNPACK) {
            df_status st = run_dnnl_layer(q, &q->l[k], err);
            if (st) return st;
            continue;
        }
        enum xnn_status s = xnn_run_operator(q->l[k].op, q->pool);
        if (s != xnn_status_success) return xnn_fail(err, s, "run");
    }
    return DF_OK;
}

static df_status check_run(const df_qnet *q, int batch, df_error *err) {
    if (q->batch < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "integer net not reshaped");
    if (batch < 1 || batch > q->batch)
        return df_error_set(err, DF_ERR_INVALID_ARG, "batch %d (reshaped for %d)", batch,
                            q->batch);
    return DF_OK;
}

/* The fp32 backend's input from bytes: each value b (read as int8 when
 * sbytes) minus off, as a float, to n images of hw positions and c
 * channels, in place (NHWC) or planar (df_qnet.input's layout; one plane,
 * image and channel, per task, written in order so that the loop
 * vectorizes). */
static void centre_bytes(const uint8_t *in, int sbytes, int32_t off, float *out, size_t n, size_t hw, size_t c,
                         int planar) {
    const size_t total = n * hw * c;
    if (!planar) {
#pragma omp simd
        for (size_t k = 0; k < total; k++) out[k] = (float)((sbytes ? (int32_t)(int8_t)in[k] : (int32_t)in[k]) - off);
        return;
    }
#pragma omp parallel for schedule(static) if (total >= 65536)
    for (size_t plane = 0; plane < n * c; plane++) {
        const uint8_t *src = in + plane / c * hw * c + plane % c;
        float *dst = out + plane * hw;
#pragma omp simd
        for (size_t p = 0; p < hw; p++)
            dst[p] = (float)((sbytes ? (int32_t)(int8_t)src[p * c] : (int32_t)src[p * c]) - off);
    }
}

/* TFLite's QUANTIZE of the input: round(x / scale) + zero_point, half away
 * from zero, clamped. Written without roundf so that it vectorizes: v is
 * first clamped to one step beyond the range (NaN -> the bottom), t =
 * trunc(v) is exact there and v - t is exact (Sterbenz). */
typedef struct quantize_job {
    const float *input;
    uint8_t *out;
    float scale, lo, hi;
    float inv;    /* 1 / scale where that is exact (scale a power of two), else 0 */
    int zp, qlo, qhi;
    uint8_t flip; /* XORed into each stored byte (df_qnet.flip) */
    float *fout;  /* the fp32 backend: q - zp stored here instead of out, */
    int planar;   /* in NCHW order (quantize_planes) */
    size_t hw, c;
    size_t chunk, total;
} quantize_job;

/* 1 / scale when it is exact (a power of two: MobileNetV2 QAT's input
 * scale is 2^-7), so that x * inv is x / scale bit for bit; else 0. The
 * division was over half of this pass's time (divps). */
static float exact_inverse(float scale) {
    int e;
    const float m = frexpf(scale, &e);
    if (m != 0.5f || !isfinite(scale)) return 0.0f;
    const float inv = ldexpf(1.0f, 1 - e);
    return isfinite(inv) && inv * scale == 1.0f ? inv : 0.0f;
}

/* TFLite's QUANTIZE of one value v = x / scale, relative to the zero
 * point: clamped to [qlo - zp, qhi - zp]. */
static inline int quantize_centred(float v, float lo, float hi, int zp, int qlo, int qhi) {
    v = v >= lo ? v : lo; /* NaN -> lo */
    v = v <= hi ? v : hi;
    int t = (int)v;
    float f = v - (float)t;
    t += (f >= 0.5f) - (f <= -0.5f);
    return t < qlo - zp ? qlo - zp : t > qhi - zp ? qhi - zp : t;
}

/* One loop per case, so that each vectorizes (the division or the
 * multiplication by the exact inverse; floats or bytes out). */
static inline __attribute__((always_inline)) void quantize_range_body(const quantize_job *j, size_t k0, size_t k1) {
    const float *input = j->input;
    uint8_t *out = j->out;
    float *fout = j->fout;
    const float scale = j->scale, inv = j->inv, lo = j->lo, hi = j->hi;
    const int zp = j->zp, qlo = j->qlo, qhi = j->qhi;
    const uint8_t flip = j->flip;
    if (fout && inv != 0.0f) {
#pragma omp simd
        for (size_t k = k0; k < k1; k++) fout[k] = (float)quantize_centred(input[k] * inv, lo, hi, zp, qlo, qhi);
    } else if (fout) {
#pragma omp simd
        for (size_t k = k0; k < k1; k++) fout[k] = (float)quantize_centred(input[k] / scale, lo, hi, zp, qlo, qhi);
    } else if (inv != 0.0f) {
#pragma omp simd
        for (size_t k = k0; k < k1; k++)
            out[k] = (uint8_t)(quantize_centred(input[k] * inv, lo, hi, zp, qlo, qhi) + zp) ^ flip;
    } else {
#pragma omp simd
        for (size_t k = k0; k < k1; k++)
            out[k] = (uint8_t)(quantize_centred(input[k] / scale, lo, hi, zp, qlo, qhi) + zp) ^ flip;
    }
}

static void quantize_range_base(const quantize_job *j, size_t k0, size_t k1) { quantize_range_body(j, k0, k1); }
__attribute__((target("avx2"))) static void quantize_range_avx2(const quantize_job *j, size_t k0, size_t k1) {
    quantize_range_body(j, k0, k1);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static void quantize_range_avx512(const quantize_job *j,
                                                                                          size_t k0, size_t k1) {
    quantize_range_body(j, k0, k1);
}

static void quantize_range(const quantize_job *j, size_t k0, size_t k1) {
    const df_cpu_isa isa = df_cpu_isa_best();
    if (isa == DF_CPU_ISA_AVX512) quantize_range_avx512(j, k0, k1);
    else if (isa == DF_CPU_ISA_AVX2) quantize_range_avx2(j, k0, k1);
    else quantize_range_base(j, k0, k1);
}

static void quantize_task(void *ctx, size_t i) {
    const quantize_job *j = ctx;
    const size_t k0 = i * j->chunk, k1 = k0 + j->chunk < j->total ? k0 + j->chunk : j->total;
    quantize_range(j, k0, k1);
}

/* The planar input of the fp32 backend: one plane (image, channel) per
 * task, written in order, so the loop vectorizes. */
static inline __attribute__((always_inline)) void quantize_plane_body(const quantize_job *j, size_t plane) {
    const size_t hw = j->hw, c = j->c;
    const float scale = j->scale, inv = j->inv, lo = j->lo, hi = j->hi;
    const int zp = j->zp, qlo = j->qlo, qhi = j->qhi;
    const float *in = j->input + plane / c * hw * c + plane % c;
    float *out = j->fout + plane * hw;
    if (inv != 0.0f) {
#pragma omp simd
        for (size_t p = 0; p < hw; p++) out[p] = (float)quantize_centred(in[p * c] * inv, lo, hi, zp, qlo, qhi);
    } else {
#pragma omp simd
        for (size_t p = 0; p < hw; p++) out[p] = (float)quantize_centred(in[p * c] / scale, lo, hi, zp, qlo, qhi);
    }
}
static void quantize_plane_base(const quantize_job *j, size_t plane) { quantize_plane_body(j, plane); }
__attribute__((target("avx2"))) static void quantize_plane_avx2(const quantize_job *j, size_t plane) {
    quantize_plane_body(j, plane);
}
__attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) static void quantize_plane_avx512(const quantize_job *j,
                                                                                          size_t plane) {
    quantize_plane_body(j, plane);
}

static void quantize_planes(const quantize_job *j) {
    const size_t planes = j->total / j->hw;
    const df_cpu_isa isa = df_cpu_isa_best();
    void (*run)(const quantize_job *, size_t) = isa == DF_CPU_ISA_AVX512 ? quantize_plane_avx512
                                                : isa == DF_CPU_ISA_AVX2 ? quantize_plane_avx2
                                                                         : quantize_plane_base;
#pragma omp parallel for schedule(static) if (j->total >= 65536)
    for (size_t plane = 0; plane < planes; plane++) run(j, plane);
}

/* Split over the threads of the engine that runs next: one thread alone
 * (a division per value) leaves the others waiting, 3% of a default
 * training run on oneDNN. On XNNPACK its own pthreadpool, not OpenMP's
 * threads: those, spinning after the loop, took cores from XNNPACK's pool
 * (MobileNetV2 at batch 1 under AVX2: 7.5-9.7 -> 14-18 ms per image). */
static void quantize_input(df_qnet *q, const quantize_job *j) {
    const size_t parts = j->total / j->chunk + (j->total % j->chunk != 0);
    if (j->fout && j->planar) {
        quantize_planes(j);
    } else if (j->total < 65536) {
        quantize_range(j, 0, j->total);
    } else if (q->backend != DF_QBACKEND_XNNPACK) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < parts; i++) quantize_task((void *)j, i);
    } else {
        pthreadpool_parallelize_1d(q->pool, quantize_task, (void *)j, parts, 0);
    }
}

/* After the first batch images of the input buffer are filled: pads the
 * rest of the batch with the input's zero point and runs the layers. */
static df_status pad_and_run(df_qnet *q, int batch, df_error *err) {
    const qtensor *x = &q->t[q->input];
    const size_t nin = tensor_elems(x);
    /* the fp32 backend stores q - zp: all-zero bytes are 0.0f */
    memset(q->buf[x->buf] + (size_t)batch * nin * q->esize, q->esize > 1 ? 0 : (uint8_t)x->p.zero_point ^ q->flip,
           (size_t)(q->batch - batch) * nin * q->esize);
    return run_layers(q, err);
}

/* pad_and_run, then the output dequantized. */
static df_status run_to_floats(df_qnet *q, int batch, float *output, df_error *err) {
    const qtensor *y = &q->t[q->output];
    const size_t nout = tensor_elems(y);
    const uint8_t flip = q->flip;
    df_status st = pad_and_run(q, batch, err);
    if (st) return st;
    if (q->esize > 1) {
        const float *fout = (const float *)(void *)q->buf[y->buf];
        /* + 0: a -0 (a small negative sum rounded) reads as XNNPACK's 0 */
        for (size_t k = 0; k < (size_t)batch * nout; k++) output[k] = y->p.scale * (fout[k] + 0.0f);
        return DF_OK;
    }
    /* one loop per type, so that each vectorizes (the map the regions
     * pool is 62,720 values an image) */
    const uint8_t *out = q->buf[y->buf];
    const float scale = y->p.scale;
    const int zp = y->p.zero_point;
    const size_t total = (size_t)batch * nout;
    if (q->type == DF_QTYPE_U8) {
#pragma omp simd
        for (size_t k = 0; k < total; k++) output[k] = scale * (float)((int)(uint8_t)(out[k] ^ flip) - zp);
    } else {
#pragma omp simd
        for (size_t k = 0; k < total; k++) output[k] = scale * (float)((int)(int8_t)(out[k] ^ flip) - zp);
    }
    return DF_OK;
}

df_status df_qnet_run(df_qnet *q, const float *input, int batch, float *output, df_error *err) {
    df_status st = check_run(q, batch, err);
    if (st) return st;
    const qtensor *x = &q->t[q->input];
    const quantize_job job = {.input = input, .out = q->buf[x->buf], .scale = x->p.scale,
                              .inv = exact_inverse(x->p.scale),
                              .lo = (float)(qmin(q) - x->p.zero_point - 1),
                              .hi = (float)(qmax(q) - x->p.zero_point + 1), .zp = x->p.zero_point,
                              .qlo = qmin(q), .qhi = qmax(q), .flip = q->flip,
                              .fout = q->esize > 1 ? (float *)(void *)q->buf[x->buf] : NULL,
                              .planar = x->layout == DF_QF32_NCHW, .hw = (size_t)x->h * x->w, .c = (size_t)x->c,
                              .chunk = 16384,
                              .total = (size_t)batch * tensor_elems(x)};
    quantize_input(q, &job);
    return run_to_floats(q, batch, output, err);
}

df_status df_qnet_run_bytes(df_qnet *q, const uint8_t *input, int batch, float *output, df_error *err) {
    df_status st = check_run(q, batch, err);
    if (st) return st;
    const qtensor *x = &q->t[q->input];
    const size_t n = (size_t)batch * tensor_elems(x);
    /* int8's q + 128 is the stored byte where int8 is kept as uint8
     * (flip); XNNPACK keeps the two's complement: q + 128 with the top bit
     * flipped */
    const uint8_t to_stored = q->type == DF_QTYPE_S8 ? (uint8_t)(0x80 ^ q->flip) : 0;
    uint8_t *in = q->buf[x->buf];
    if (q->esize > 1) { /* q - zp, where int8's q is the byte - 128 */
        centre_bytes(input, 0, x->p.zero_point + (q->type == DF_QTYPE_S8 ? 128 : 0), (float *)(void *)in,
                     (size_t)batch, (size_t)x->h * x->w, (size_t)x->c, x->layout == DF_QF32_NCHW);
        return run_to_floats(q, batch, output, err);
    }
    if (!to_stored) memcpy(in, input, n);
    else
        for (size_t k = 0; k < n; k++) in[k] = input[k] ^ to_stored;
    return run_to_floats(q, batch, output, err);
}

df_status df_qnet_run_quantized(df_qnet *q, const void *input, int batch, void *output,
                                df_error *err) {
    df_status st = check_run(q, batch, err);
    if (st) return st;
    const qtensor *x = &q->t[q->input], *y = &q->t[q->output];
    size_t nin = tensor_elems(x), nout = tensor_elems(y);
    uint8_t *in = q->buf[x->buf];
    const uint8_t *src = input, *res = q->buf[y->buf];
    uint8_t *dst = output;
    if (q->esize > 1) { /* q - zp as floats, q in the net's type */
        const float *fres = (const float *)(void *)res;
        centre_bytes(src, q->type == DF_QTYPE_S8, x->p.zero_point, (float *)(void *)in, (size_t)batch,
                     (size_t)x->h * x->w, (size_t)x->c, x->layout == DF_QF32_NCHW);
        if ((st = pad_and_run(q, batch, err))) return st;
        for (size_t k = 0; k < (size_t)batch * nout; k++) dst[k] = (uint8_t)((int)fres[k] + y->p.zero_point);
        return DF_OK;
    }
    for (size_t k = 0; k < (size_t)batch * nin; k++) in[k] = src[k] ^ q->flip;
    if ((st = pad_and_run(q, batch, err))) return st;
    for (size_t k = 0; k < (size_t)batch * nout; k++) dst[k] = res[k] ^ q->flip;
    return DF_OK;
}

int64_t df_qnet_num_params(const df_qnet *q) { return q->params; }
int df_qnet_layers(const df_qnet *q) { return q->n_l; }

int df_qnet_fused_layers(const df_qnet *q) {
    int n = 0;
    for (int k = 0; k < q->n_l; k++) n += q->l[k].fused;
    return n;
}

int df_qnet_dw_block_layers(const df_qnet *q) {
    int n = 0;
    for (int k = 0; k < q->n_l; k++) n += q->l[k].dconv && df_qdnnl_conv_dw_blocks(q->l[k].dconv);
    return n;
}

int df_qnet_gathering_layers(const df_qnet *q) {
    int n = 0;
    for (int k = 0; k < q->n_l; k++) n += q->l[k].dconv && df_qdnnl_conv_gathers(q->l[k].dconv);
    return n;
}
