/*
 * TFLite graph executor on the engine, and the two things built from it: the
 * feature-extractor backbone (backbone.h) and the ImageNet classifier.
 *
 * What it matches: TFLite's float semantics of each op (padding SAME/VALID as
 * tensorflow/lite/kernels/padding.h: out = ceil(in / stride), total pad =
 * max(0, (out - 1) * stride + k - in), the odd pixel bottom/right; average
 * pooling without the padded cells; softmax with beta), applied to
 * dequantized weights. What it does not: integer arithmetic and
 * requantization between layers (a float simulation: the uint8 models'
 * fused ReLU6 carry their [0, 6] clamps; every output whose quantized range
 * is [0, 6] in the shipped models has that fused activation), dilation,
 * broadcasting ADD, ops not listed in tflite_backbone.h.
 *
 * Building walks the operators in file order, restricted to those the target
 * tensor depends on. Each tensor gets a value: an engine tensor, an engine
 * tensor with a pending zero PAD (folded into the next convolution), or a
 * host vector (per image) once the graph has crossed its single hand-over
 * point from the engine to plain C.
 */
#include "backbone/tflite_backbone.h"
#include "backbone/tflite_int8.h"
#include "core/clock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanity caps on shapes from the file, far above any image model. */
#define MAX_SPATIAL 8192
#define MAX_CHANNELS 65536
#define MAX_KERNEL 64
#define MAX_STRIDE 64
#define MAX_PAD 64

enum { V_NONE = 0, V_ENGINE, V_PAD, V_HOST };

typedef struct value {
    int kind;
    df_tensor_id id;   /* V_ENGINE, V_PAD */
    int pad[4];        /* V_PAD: top, bottom, left, right */
    int slot;          /* V_HOST */
} value;

typedef enum host_kind { HOST_DENSE, HOST_SOFTMAX, HOST_L2NORM, HOST_AVGPOOL } host_kind;

typedef struct host_op {
    host_kind kind;
    int op_index;          /* in the file */
    int in, out;           /* slots */
    size_t n_in, n_out;
    float *w;              /* HOST_DENSE: [n_out][n_in], owned */
    float *b;              /* HOST_DENSE: [n_out] or NULL, owned */
    df_activation act;
    float beta;            /* HOST_SOFTMAX */
    int ih, iw, c;         /* HOST_AVGPOOL: the ih x iw x c map */
    df_pooling pool;       /* HOST_AVGPOOL: its windows, as predict pools (mean = one over the map) */
} host_op;

struct df_tflite_graph {
    df_net *net;           /* the float engine, or NULL when qnet runs the graph */
    df_qnet *qnet;         /* --precision int8 on a quantized model: the integer engine */
    df_precision precision;
    int raced;             /* --precision auto timed engines (the float race, the int8 race or both) */
    int64_t num_params;    /* of the engine part */
    df_tflite_input input;
    size_t in_size;        /* h * w * c */
    int batch;             /* reshaped size; 0 = built only */
    size_t out_size;       /* per image, of the target */
    size_t net_out_size;   /* per image, of the engine output */
    int n_host;
    host_op *host;
    int n_slots;
    size_t *slot_len;
    float **slot_buf;      /* [batch * slot_len] each, owned */
    int out_slot;          /* -1: the engine output is the target */
};

typedef struct builder {
    const df_tflite_model *m;
    df_tflite_graph *g;
    df_error *err;
    value *v;              /* per tensor */
    df_tensor_id boundary; /* engine tensor handed to the host part, or -1 */
    int boundary_tensor;   /* the TFLite tensor of that hand-over */
    int cap_host, cap_slots;
    int resized;           /* input size other than the file's: its spatial shapes do not apply */
} builder;

/* ---- errors ---- */

static df_status op_fail(builder *b, int i, df_status st, const char *fmt, ...) DF_PRINTF(4, 5);
static df_status op_fail(builder *b, int i, df_status st, const char *fmt, ...) {
    char msg[DF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int builtin = b->m->operators[i].builtin;
    const char *name = df_tflite_op_name(builtin);
    if (!strcmp(name, "?"))
        return df_error_set(b->err, st, "%s: operator %d (builtin op %d): %s", b->m->path, i,
                            builtin, msg);
    return df_error_set(b->err, st, "%s: operator %d (%s): %s", b->m->path, i, name, msg);
}

/* Adds the model path and operator to an engine error message. */
static df_status op_prefix(builder *b, int i, df_status st) {
    if (!st) return st;
    return df_error_prefix(b->err, "%s: operator %d (%s)", b->m->path, i,
                           df_tflite_op_name(b->m->operators[i].builtin));
}

/* ---- constants ---- */

static const df_tflite_tensor *tensor(builder *b, int t) { return &b->m->tensors[t]; }

static df_status need_const(builder *b, int i, int t, const char *what) {
    if (t < 0) return op_fail(b, i, DF_ERR_FORMAT, "%s is missing", what);
    if (!df_tflite_tensor_data(b->m, t))
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "%s (tensor %d, %s) is not a constant", what, t,
                       tensor(b, t)->name);
    return DF_OK;
}

static double raw_value(const uint8_t *p, int type, size_t k) {
    switch (type) {
    case DF_TFLITE_UINT8: return p[k];
    case DF_TFLITE_INT8: return (int8_t)p[k];
    case DF_TFLITE_INT32: {
        int32_t v;
        memcpy(&v, p + 4 * k, 4);
        return v;
    }
    default: {
        float v;
        memcpy(&v, p + 4 * k, 4);
        return v;
    }
    }
}

/* Constant tensor t as floats (malloc'ed, elements long). */
static df_status dequantize(builder *b, int i, int t, float **out) {
    const df_tflite_tensor *x = tensor(b, t);
    const uint8_t *p = df_tflite_tensor_data(b->m, t);
    size_t n = df_tflite_tensor_elements(x);
    *out = NULL;
    int quantized = x->type == DF_TFLITE_UINT8 || x->type == DF_TFLITE_INT8 ||
                    x->type == DF_TFLITE_INT32;
    if (x->type != DF_TFLITE_FLOAT32 && !quantized)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "constant %s has type %s", x->name,
                       df_tflite_type_name(x->type));
    if (quantized && x->quant.n == 0)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "constant %s of type %s has no quantization",
                       x->name, df_tflite_type_name(x->type));
    float *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return op_fail(b, i, DF_ERR_NOMEM, "out of memory for %zu weights", n);
    size_t inner = 1, dim = 1;
    if (quantized && x->quant.n > 1) { /* per channel: shape[d] == quant.n (parser checked) */
        int d = x->quant.quantized_dimension;
        for (int k = d + 1; k < x->rank; k++) inner *= (size_t)x->shape[k];
        dim = (size_t)x->shape[d];
    }
    if (!quantized) {
        for (size_t k = 0; k < n; k++) o[k] = (float)raw_value(p, x->type, k);
        *out = o;
        return DF_OK;
    }
    /* A run of one channel's values at a time, its scale and zero point
     * hoisted and the type's loop plain: MobileNetV2's 3.5 M weights were
     * about a fifth of building its engines. */
    const size_t run = x->quant.n > 1 ? inner : n;
    for (size_t k0 = 0; k0 < n; k0 += run) {
        const size_t c = x->quant.n > 1 ? (k0 / inner) % dim : 0, k1 = n - k0 < run ? n : k0 + run;
        const double scale = (double)x->quant.scale[c], zp = (double)x->quant.zero_point[c];
        if (x->type == DF_TFLITE_UINT8)
            for (size_t k = k0; k < k1; k++) o[k] = (float)(scale * ((double)p[k] - zp));
        else if (x->type == DF_TFLITE_INT8)
            for (size_t k = k0; k < k1; k++) o[k] = (float)(scale * ((double)(int8_t)p[k] - zp));
        else
            for (size_t k = k0; k < k1; k++) o[k] = (float)(scale * (raw_value(p, x->type, k) - zp));
    }
    *out = o;
    return DF_OK;
}

/* Bias of a convolution or fully-connected op as out_c floats (NULL when the
 * op has none). An int32 bias is scaled by input_scale * filter_scale[c], the
 * accumulator scale TFLite's integer kernels use. */
static df_status bias_floats(builder *b, int i, int bt, int xt, int wt, int out_c, float **out) {
    *out = NULL;
    if (bt < 0) return DF_OK;
    df_status st = need_const(b, i, bt, "bias");
    if (st) return st;
    const df_tflite_tensor *bias = tensor(b, bt), *x = tensor(b, xt), *w = tensor(b, wt);
    if (df_tflite_tensor_elements(bias) != (size_t)out_c)
        return op_fail(b, i, DF_ERR_SHAPE, "bias %s has %zu values for %d output channels",
                       bias->name, df_tflite_tensor_elements(bias), out_c);
    if (bias->type == DF_TFLITE_INT32 && x->quant.n >= 1 && w->quant.n >= 1) {
        if (w->quant.n != 1 && w->quant.n != (size_t)out_c)
            return op_fail(b, i, DF_ERR_FORMAT, "filter %s has %zu scales for %d channels",
                           w->name, w->quant.n, out_c);
        float *o = malloc((size_t)out_c * sizeof *o);
        if (!o) return op_fail(b, i, DF_ERR_NOMEM, "out of memory");
        const uint8_t *p = df_tflite_tensor_data(b->m, bt);
        for (int c = 0; c < out_c; c++) {
            double s = (double)x->quant.scale[0] * w->quant.scale[w->quant.n > 1 ? c : 0];
            o[c] = (float)(s * raw_value(p, DF_TFLITE_INT32, (size_t)c));
        }
        *out = o;
        return DF_OK;
    }
    return dequantize(b, i, bt, out);
}

static df_status activation(builder *b, int i, int tfl_act, df_activation *out) {
    switch (tfl_act) {
    case DF_TFLITE_ACT_NONE: *out = DF_ACT_NONE; return DF_OK;
    case DF_TFLITE_ACT_RELU: *out = DF_ACT_RELU; return DF_OK;
    case DF_TFLITE_ACT_RELU6: *out = DF_ACT_RELU6; return DF_OK;
    default: return op_fail(b, i, DF_ERR_UNSUPPORTED, "fused activation %d", tfl_act);
    }
}

/* Output size and padding along one axis (TFLite padding.h). */
static df_status window(builder *b, int i, int padding, int in, int k, int stride, int *out,
                        int *before, int *after) {
    if (k < 1 || k > MAX_KERNEL || stride < 1 || stride > MAX_STRIDE)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "window %d stride %d (expected 1..%d, 1..%d)",
                       k, stride, MAX_KERNEL, MAX_STRIDE);
    if (padding == DF_TFLITE_PAD_SAME) {
        *out = (in + stride - 1) / stride;
        int total = (*out - 1) * stride + k - in;
        if (total < 0) total = 0;
        *before = total / 2;
        *after = total - *before;
    } else {
        if (in < k)
            return op_fail(b, i, DF_ERR_SHAPE, "VALID window %d larger than the input (%d)", k,
                           in);
        *out = (in - k) / stride + 1;
        *before = *after = 0;
    }
    return DF_OK;
}

/* The output tensor of op i, when of rank 4, must be [1, h, w, c]. */
static df_status check_output(builder *b, int i, int h, int w, int c) {
    int t = b->m->operators[i].outputs[0];
    const df_tflite_tensor *x = tensor(b, t);
    size_t want = (size_t)h * (size_t)w * (size_t)c;
    int ok = x->rank == 4 ? (x->shape[0] == 1 && x->shape[1] == h && x->shape[2] == w &&
                             x->shape[3] == c)
                          : df_tflite_tensor_elements(x) == want;
    if (b->resized && x->rank == 4) {
        if (x->shape[1] == 1 && x->shape[2] == 1 && (h != 1 || w != 1))
            return op_fail(b, i, DF_ERR_UNSUPPORTED,
                           "output %s, a global pool in the file, is %dx%d at this input size; cut "
                           "before it (" DF_TFLITE_CUT_FEATURE_MAP ")", x->name, h, w);
        ok = x->shape[0] == 1 && x->shape[3] == c;
    }
    if (!ok)
        return op_fail(b, i, DF_ERR_SHAPE, "output %s does not have the computed shape %dx%dx%d",
                       x->name, h, w, c);
    return DF_OK;
}

/* Operator inputs may be -1 ("optional, absent") in the file, and the reader
 * accepts that for every input slot: an op's required inputs are checked
 * here, before b->v is indexed. */
static df_status engine_input(builder *b, int i, int t, int allow_pad, int *h, int *w, int *c) {
    if (t < 0) return op_fail(b, i, DF_ERR_FORMAT, "input is missing");
    const value *v = &b->v[t];
    if (v->kind == V_PAD && !allow_pad)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "input %s comes from a PAD that no convolution "
                       "absorbs", tensor(b, t)->name);
    if (v->kind != V_ENGINE && v->kind != V_PAD)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "input %s is not a feature map of the graph",
                       tensor(b, t)->name);
    return op_prefix(b, i, df_net_tensor_shape(b->g->net, v->id, h, w, c, b->err));
}

static void set_engine(builder *b, int i, df_tensor_id id) {
    value *v = &b->v[b->m->operators[i].outputs[0]];
    memset(v, 0, sizeof *v);
    v->kind = V_ENGINE;
    v->id = id;
}

/* ---- the host part ---- */

static df_status new_slot(builder *b, int i, size_t len, int *slot) {
    df_tflite_graph *g = b->g;
    if (g->n_slots == b->cap_slots) {
        int cap = b->cap_slots ? 2 * b->cap_slots : 8;
        size_t *nl = realloc(g->slot_len, (size_t)cap * sizeof *nl);
        if (!nl) return op_fail(b, i, DF_ERR_NOMEM, "out of memory");
        g->slot_len = nl;
        float **nb = realloc(g->slot_buf, (size_t)cap * sizeof *nb);
        if (!nb) return op_fail(b, i, DF_ERR_NOMEM, "out of memory");
        g->slot_buf = nb;
        for (int k = g->n_slots; k < cap; k++) g->slot_buf[k] = NULL;
        b->cap_slots = cap;
    }
    g->slot_len[g->n_slots] = len;
    *slot = g->n_slots++;
    return DF_OK;
}

/* The host slot holding tensor t, handing an engine tensor over if needed. */
static df_status host_input(builder *b, int i, int t, int *slot, size_t *len) {
    if (t < 0) return op_fail(b, i, DF_ERR_FORMAT, "input is missing");
    value *v = &b->v[t];
    if (v->kind == V_HOST) {
        *slot = v->slot;
        *len = b->g->slot_len[v->slot];
        return DF_OK;
    }
    if (v->kind != V_ENGINE)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "input %s is not computed from the image",
                       tensor(b, t)->name);
    if (b->boundary >= 0 && b->boundary != v->id)
        return op_fail(b, i, DF_ERR_UNSUPPORTED,
                       "the graph leaves the engine at two places (only one is supported)");
    int h, w, c;
    df_status st = op_prefix(b, i, df_net_tensor_shape(b->g->net, v->id, &h, &w, &c, b->err));
    if (st) return st;
    if (b->boundary < 0) {
        b->boundary = v->id;
        b->boundary_tensor = t;
        b->g->net_out_size = (size_t)h * (size_t)w * (size_t)c;
        int first;
        if ((st = new_slot(b, i, b->g->net_out_size, &first))) return st;
        if (first != 0) return op_fail(b, i, DF_ERR_INTERNAL, "hand-over slot is %d", first);
    }
    *slot = 0;
    *len = b->g->slot_len[0];
    return DF_OK;
}

static df_status push_host(builder *b, int i, const host_op *h) {
    if (b->g->n_host == b->cap_host) {
        int cap = b->cap_host ? 2 * b->cap_host : 4;
        host_op *n = realloc(b->g->host, (size_t)cap * sizeof *n);
        if (!n) return op_fail(b, i, DF_ERR_NOMEM, "out of memory");
        b->g->host = n;
        b->cap_host = cap;
    }
    b->g->host[b->g->n_host++] = *h;
    return DF_OK;
}

static void set_host(builder *b, int i, int slot) {
    value *v = &b->v[b->m->operators[i].outputs[0]];
    memset(v, 0, sizeof *v);
    v->kind = V_HOST;
    v->slot = slot;
}

/* y = act(W x + b) on the host; weights [n_out][n_in] from tensor wt. */
static df_status add_host_dense(builder *b, int i, int xt, int wt, int bt, size_t n_out,
                                size_t n_in, int tfl_act) {
    int in_slot;
    size_t len;
    df_status st = host_input(b, i, xt, &in_slot, &len);
    if (st) return st;
    if (len != n_in)
        return op_fail(b, i, DF_ERR_SHAPE, "input has %zu values, weights expect %zu", len, n_in);
    host_op h;
    memset(&h, 0, sizeof h);
    h.kind = HOST_DENSE;
    h.op_index = i;
    h.in = in_slot;
    h.n_in = n_in;
    h.n_out = n_out;
    if ((st = activation(b, i, tfl_act, &h.act))) return st;
    if ((st = dequantize(b, i, wt, &h.w))) return st;
    if ((st = bias_floats(b, i, bt, xt, wt, (int)n_out, &h.b)) ||
        (st = new_slot(b, i, n_out, &h.out)) || (st = push_host(b, i, &h))) {
        free(h.w);
        free(h.b);
        return st;
    }
    set_host(b, i, h.out);
    return DF_OK;
}

/* ---- operators ---- */

static df_status add_conv(builder *b, int i, int depthwise) {
    const df_tflite_operator *op = &b->m->operators[i];
    const df_tflite_options *o = &op->options;
    if (op->n_inputs < 2 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "%d inputs, %d outputs", op->n_inputs, op->n_outputs);
    int want = depthwise ? DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D : DF_TFLITE_OPTIONS_CONV2D;
    if (o->type != want)
        return op_fail(b, i, DF_ERR_FORMAT, "builtin options of type %d (expected %d)", o->type,
                       want);
    int xt = op->inputs[0], wt = op->inputs[1], bt = op->n_inputs > 2 ? op->inputs[2] : -1;
    if (xt < 0) return op_fail(b, i, DF_ERR_FORMAT, "input is missing");
    df_status st = need_const(b, i, wt, "filter");
    if (st) return st;
    const df_tflite_tensor *w = tensor(b, wt);
    if (w->rank != 4)
        return op_fail(b, i, DF_ERR_SHAPE, "filter %s has rank %d (expected 4)", w->name, w->rank);
    if (o->dilation_w != 1 || o->dilation_h != 1)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "dilation %dx%d", o->dilation_h, o->dilation_w);
    int kh = w->shape[1], kw = w->shape[2];
    int out_c = depthwise ? w->shape[3] : w->shape[0];
    if (out_c < 1 || out_c > MAX_CHANNELS)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "%d output channels", out_c);

    if (b->v[xt].kind == V_HOST) {
        /* A 1x1 convolution of a pooled vector is a fully-connected layer. */
        if (depthwise || kh != 1 || kw != 1)
            return op_fail(b, i, DF_ERR_UNSUPPORTED, "convolution after the graph left the "
                           "engine (only 1x1 dense ones are)");
        if (df_tflite_tensor_elements(tensor(b, op->outputs[0])) != (size_t)out_c)
            return op_fail(b, i, DF_ERR_SHAPE, "output size differs from the %d filters", out_c);
        return add_host_dense(b, i, xt, wt, bt, (size_t)out_c, (size_t)w->shape[3],
                              o->activation);
    }

    int ih, iw, ic;
    if ((st = engine_input(b, i, xt, 1, &ih, &iw, &ic))) return st;
    const value *vx = &b->v[xt];
    int pend[4] = {0, 0, 0, 0};
    if (vx->kind == V_PAD) memcpy(pend, vx->pad, sizeof pend);
    int groups = 1;
    if (depthwise) {
        if (w->shape[0] != 1 || out_c % ic != 0)
            return op_fail(b, i, DF_ERR_SHAPE, "depthwise filter %s [%d,%d,%d,%d] does not fit "
                           "%d input channels", w->name, w->shape[0], kh, kw, out_c, ic);
        groups = ic;
    } else if (w->shape[3] != ic) {
        return op_fail(b, i, DF_ERR_SHAPE, "filter %s expects %d input channels, input has %d",
                       w->name, w->shape[3], ic);
    }
    int oh, ow, pt, pb, pl, pr;
    if ((st = window(b, i, o->padding, ih + pend[0] + pend[1], kh, o->stride_h, &oh, &pt, &pb)) ||
        (st = window(b, i, o->padding, iw + pend[2] + pend[3], kw, o->stride_w, &ow, &pl, &pr)) ||
        (st = check_output(b, i, oh, ow, out_c)))
        return st;

    df_conv2d_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = out_c;
    d.kh = kh;
    d.kw = kw;
    d.stride_h = o->stride_h;
    d.stride_w = o->stride_w;
    d.pad_top = pt + pend[0];
    d.pad_bottom = pb + pend[1];
    d.pad_left = pl + pend[2];
    d.pad_right = pr + pend[3];
    d.groups = groups;
    if ((st = activation(b, i, o->activation, &d.activation))) return st;
    float *wf = NULL, *bf = NULL;
    if ((st = dequantize(b, i, wt, &wf))) return st;
    if (depthwise) {
        /* TFLite [1][kh][kw][out_c] -> OHWI [out_c][kh][kw][1] */
        size_t taps = (size_t)kh * (size_t)kw;
        float *t = malloc(taps * (size_t)out_c * sizeof *t);
        if (!t) {
            free(wf);
            return op_fail(b, i, DF_ERR_NOMEM, "out of memory");
        }
        for (size_t k = 0; k < taps; k++)
            for (int c = 0; c < out_c; c++) t[(size_t)c * taps + k] = wf[k * (size_t)out_c + c];
        free(wf);
        wf = t;
    }
    if ((st = bias_floats(b, i, bt, xt, wt, out_c, &bf))) {
        free(wf);
        return st;
    }
    d.weights = wf;
    d.bias = bf;
    df_tensor_id y;
    st = op_prefix(b, i, df_net_conv2d(b->g->net, vx->id, &d, &y, b->err));
    free(wf);
    free(bf);
    if (st) return st;
    set_engine(b, i, y);
    return DF_OK;
}

/* An average pool of VALID windows on the dequantized map, and on what
 * has left the engine, which an exported classifier pooled by regions has
 * (export/tflite_export.c: the regions, then the unknown detector's mean
 * over them): the graph leaves the engine at the DEQUANTIZE, so the integer
 * engine runs everything before it, and the windows are averaged here in
 * float, as predict pools them (backbone/pooling.h). */
static df_status add_host_avgpool(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    const df_tflite_options *o = &op->options;
    const int xt = op->inputs[0];
    host_op h;
    memset(&h, 0, sizeof h);
    h.kind = HOST_AVGPOOL;
    h.op_index = i;
    df_status st = DF_OK;
    if (b->v[xt].kind == V_ENGINE) {
        st = op_prefix(b, i, df_net_tensor_shape(b->g->net, b->v[xt].id, &h.ih, &h.iw, &h.c, b->err));
    } else if (tensor(b, xt)->rank == 4) {
        h.ih = tensor(b, xt)->shape[1];
        h.iw = tensor(b, xt)->shape[2];
        h.c = tensor(b, xt)->shape[3];
    } else {
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "input %s is not a map", tensor(b, xt)->name);
    }
    if (st) return st;
    if (o->stride_h != o->stride_w || o->filter_h < 1 || o->filter_w < 1 || o->stride_h < 1 || o->filter_h > h.ih ||
        o->filter_w > h.iw || (o->filter_h != o->filter_w && (o->filter_h != h.ih || o->filter_w != h.iw)))
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "a %dx%d window at stride %dx%d on a dequantized %dx%d map",
                       o->filter_h, o->filter_w, o->stride_h, o->stride_w, h.ih, h.iw);
    const int whole = o->filter_h == h.ih && o->filter_w == h.iw;
    h.pool = whole ? (df_pooling){DF_POOLING_MEAN, 0, 0, 0} : (df_pooling){DF_POOLING_REGIONS, o->filter_w, o->stride_h, 0};
    const int oh = df_pooling_windows(&h.pool, h.ih), ow = df_pooling_windows(&h.pool, h.iw);
    if ((st = check_output(b, i, oh, ow, h.c))) return st;
    if ((st = host_input(b, i, op->inputs[0], &h.in, &h.n_in))) return st;
    if (h.n_in != (size_t)h.ih * (size_t)h.iw * (size_t)h.c)
        return op_fail(b, i, DF_ERR_SHAPE, "input holds %zu values, not %dx%dx%d", h.n_in, h.ih, h.iw, h.c);
    h.n_out = df_pooling_dim(&h.pool, h.ih, h.iw, h.c);
    if ((st = new_slot(b, i, h.n_out, &h.out)) || (st = push_host(b, i, &h))) return st;
    set_host(b, i, h.out);
    return DF_OK;
}

static df_status add_pool(builder *b, int i, df_pool_kind kind) {
    const df_tflite_operator *op = &b->m->operators[i];
    const df_tflite_options *o = &op->options;
    if (op->n_inputs < 1 || op->n_outputs < 1 || o->type != DF_TFLITE_OPTIONS_POOL2D)
        return op_fail(b, i, DF_ERR_FORMAT, "needs one input, one output and Pool2DOptions");
    if (o->activation != DF_TFLITE_ACT_NONE)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "fused activation %d on a pool", o->activation);
    const int from = op->inputs[0] >= 0 ? df_tflite_producer(b->m, op->inputs[0]) : -1;
    if (kind == DF_POOL_AVG && o->padding == DF_TFLITE_PAD_VALID && !b->resized &&
        ((from >= 0 && b->m->operators[from].builtin == DF_TFLITE_OP_DEQUANTIZE && b->v[op->inputs[0]].kind == V_ENGINE) ||
         (op->inputs[0] >= 0 && b->v[op->inputs[0]].kind == V_HOST)))
        return add_host_avgpool(b, i);
    int ih, iw, ic;
    df_status st = engine_input(b, i, op->inputs[0], 0, &ih, &iw, &ic);
    if (st) return st;
    int oh, ow, pt, pb, pl, pr;
    if ((st = window(b, i, o->padding, ih, o->filter_h, o->stride_h, &oh, &pt, &pb)) ||
        (st = window(b, i, o->padding, iw, o->filter_w, o->stride_w, &ow, &pl, &pr)) ||
        (st = check_output(b, i, oh, ow, ic)))
        return st;
    const df_tflite_tensor *yt = tensor(b, op->outputs[0]);
    if (b->resized && yt->rank == 4 && yt->shape[1] == 1 && yt->shape[2] == 1 &&
        (o->filter_h != ih || o->filter_w != iw)) /* global in the file, a corner at this size */
        return op_fail(b, i, DF_ERR_UNSUPPORTED,
                       "output %s, a global pool in the file, has a %dx%d window over %dx%d at this input "
                       "size; cut before it (" DF_TFLITE_CUT_FEATURE_MAP ")",
                       yt->name, o->filter_h, o->filter_w, ih, iw);
    df_tensor_id x = b->v[op->inputs[0]].id, y;
    if (kind == DF_POOL_AVG && oh == 1 && ow == 1 && o->filter_h == ih && o->filter_w == iw) {
        st = df_net_global_avgpool(b->g->net, x, &y, b->err);
    } else {
        df_pool2d_desc d;
        memset(&d, 0, sizeof d);
        d.kind = kind;
        d.kh = o->filter_h;
        d.kw = o->filter_w;
        d.stride_h = o->stride_h;
        d.stride_w = o->stride_w;
        d.pad_top = pt;
        d.pad_bottom = pb;
        d.pad_left = pl;
        d.pad_right = pr;
        st = df_net_pool2d(b->g->net, x, &d, &y, b->err);
    }
    if ((st = op_prefix(b, i, st))) return st;
    set_engine(b, i, y);
    return DF_OK;
}

static df_status add_mean(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 2 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input, axes and an output");
    int at = op->inputs[1];
    df_status st = need_const(b, i, at, "axes");
    if (st) return st;
    const df_tflite_tensor *axes = tensor(b, at);
    size_t n = df_tflite_tensor_elements(axes);
    if (axes->type != DF_TFLITE_INT32)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "axes of type %s",
                       df_tflite_type_name(axes->type));
    int seen[4] = {0, 0, 0, 0};
    const uint8_t *p = df_tflite_tensor_data(b->m, at);
    for (size_t k = 0; k < n; k++) {
        int32_t a;
        memcpy(&a, p + 4 * k, 4);
        if (a < 0) a += 4;
        if (a < 0 || a > 3)
            return op_fail(b, i, DF_ERR_FORMAT, "axis %d out of range for rank 4", (int)a);
        seen[a] = 1;
    }
    if (seen[0] || !seen[1] || !seen[2] || seen[3])
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "mean over axes other than {1, 2} (height, width)");
    int ih, iw, ic;
    if ((st = engine_input(b, i, op->inputs[0], 0, &ih, &iw, &ic)) ||
        (st = check_output(b, i, 1, 1, ic)))
        return st;
    df_tensor_id y;
    if ((st = op_prefix(b, i, df_net_global_avgpool(b->g->net, b->v[op->inputs[0]].id, &y,
                                                    b->err))))
        return st;
    set_engine(b, i, y);
    return DF_OK;
}

static df_status add_add(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs != 2 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs two inputs and an output");
    int ah, aw, ac, bh, bw, bc;
    df_status st = engine_input(b, i, op->inputs[0], 0, &ah, &aw, &ac);
    if (!st) st = engine_input(b, i, op->inputs[1], 0, &bh, &bw, &bc);
    if (st) return st;
    if (ah != bh || aw != bw || ac != bc)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "broadcasting %dx%dx%d + %dx%dx%d", ah, aw, ac,
                       bh, bw, bc);
    if ((st = check_output(b, i, ah, aw, ac))) return st;
    df_activation act = DF_ACT_NONE;
    if (op->options.type == DF_TFLITE_OPTIONS_ADD &&
        (st = activation(b, i, op->options.activation, &act)))
        return st;
    df_tensor_id y;
    if ((st = op_prefix(b, i, df_net_add(b->g->net, b->v[op->inputs[0]].id,
                                         b->v[op->inputs[1]].id, act, &y, b->err))))
        return st;
    set_engine(b, i, y);
    return DF_OK;
}

static df_status add_pad(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 2 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input, paddings and an output");
    int pt = op->inputs[1];
    df_status st = need_const(b, i, pt, "paddings");
    if (st) return st;
    const df_tflite_tensor *pads = tensor(b, pt);
    if (pads->type != DF_TFLITE_INT32 || df_tflite_tensor_elements(pads) != 8)
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "paddings must be int32 [4, 2]");
    int32_t p[8];
    memcpy(p, df_tflite_tensor_data(b->m, pt), sizeof p);
    if (p[0] || p[1] || p[6] || p[7])
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "padding of the batch or channel axis");
    for (int k = 2; k < 6; k++)
        if (p[k] < 0 || p[k] > MAX_PAD)
            return op_fail(b, i, DF_ERR_UNSUPPORTED, "padding %d (expected 0..%d)", (int)p[k],
                           MAX_PAD);
    int h, w, c;
    if ((st = engine_input(b, i, op->inputs[0], 1, &h, &w, &c))) return st;
    value v = b->v[op->inputs[0]];
    if (v.kind != V_PAD) memset(v.pad, 0, sizeof v.pad);
    v.kind = V_PAD;
    v.pad[0] += p[2];
    v.pad[1] += p[3];
    v.pad[2] += p[4];
    v.pad[3] += p[5];
    if ((st = check_output(b, i, h + v.pad[0] + v.pad[1], w + v.pad[2] + v.pad[3], c))) return st;
    b->v[op->outputs[0]] = v;
    return DF_OK;
}

/* QUANTIZE, DEQUANTIZE (identities in float), RESHAPE and SQUEEZE. */
static df_status add_identity(builder *b, int i, int to_host) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 1 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input and an output");
    int xt = op->inputs[0], yt = op->outputs[0];
    if (xt < 0) return op_fail(b, i, DF_ERR_FORMAT, "input is missing");
    size_t nx = df_tflite_tensor_elements(tensor(b, xt));
    size_t ny = df_tflite_tensor_elements(tensor(b, yt));
    if (nx != ny)
        return op_fail(b, i, DF_ERR_SHAPE, "input has %zu values, output %zu", nx, ny);
    if (!to_host) {
        if (b->v[xt].kind == V_NONE)
            return op_fail(b, i, DF_ERR_UNSUPPORTED, "input %s is not computed from the image",
                           tensor(b, xt)->name);
        b->v[yt] = b->v[xt];
        return DF_OK;
    }
    int slot;
    size_t len;
    df_status st = host_input(b, i, xt, &slot, &len);
    if (st) return st;
    if (len != ny)
        return op_fail(b, i, DF_ERR_SHAPE, "input holds %zu values, output %zu", len, ny);
    set_host(b, i, slot);
    return DF_OK;
}

static df_status add_softmax(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 1 || op->n_outputs < 1 || op->options.type != DF_TFLITE_OPTIONS_SOFTMAX)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input, an output and SoftmaxOptions");
    host_op h;
    memset(&h, 0, sizeof h);
    h.kind = HOST_SOFTMAX;
    h.op_index = i;
    h.beta = op->options.beta;
    if (!isfinite(h.beta))
        return op_fail(b, i, DF_ERR_FORMAT, "softmax beta is not finite");
    df_status st = host_input(b, i, op->inputs[0], &h.in, &h.n_in);
    if (st) return st;
    if (h.n_in != df_tflite_tensor_elements(tensor(b, op->outputs[0])))
        return op_fail(b, i, DF_ERR_SHAPE, "output size differs from the input's %zu", h.n_in);
    h.n_out = h.n_in;
    if ((st = new_slot(b, i, h.n_out, &h.out)) || (st = push_host(b, i, &h))) return st;
    set_host(b, i, h.out);
    return DF_OK;
}

/* L2_NORMALIZATION over the whole (flat) value: x / max(|x|, 1e-6), as
 * TFLite's float kernel computes it over a last axis holding every value. */
static df_status add_l2norm(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 1 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input and an output");
    const df_tflite_tensor *y = tensor(b, op->outputs[0]);
    if (y->rank < 1 || df_tflite_tensor_elements(y) != (size_t)y->shape[y->rank - 1])
        return op_fail(b, i, DF_ERR_UNSUPPORTED, "only a normalisation over every value");
    host_op h;
    memset(&h, 0, sizeof h);
    h.kind = HOST_L2NORM;
    h.op_index = i;
    df_status st = host_input(b, i, op->inputs[0], &h.in, &h.n_in);
    if (st) return st;
    if (h.n_in != df_tflite_tensor_elements(y))
        return op_fail(b, i, DF_ERR_SHAPE, "output size differs from the input's %zu", h.n_in);
    h.n_out = h.n_in;
    if ((st = new_slot(b, i, h.n_out, &h.out)) || (st = push_host(b, i, &h))) return st;
    set_host(b, i, h.out);
    return DF_OK;
}

static df_status add_fully_connected(builder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 2 || op->n_outputs < 1)
        return op_fail(b, i, DF_ERR_FORMAT, "needs an input, weights and an output");
    int wt = op->inputs[1];
    df_status st = need_const(b, i, wt, "weights");
    if (st) return st;
    const df_tflite_tensor *w = tensor(b, wt);
    if (w->rank != 2 || w->shape[0] < 1 || w->shape[1] < 1)
        return op_fail(b, i, DF_ERR_SHAPE, "weights %s must be [out, in]", w->name);
    int act = op->options.type == DF_TFLITE_OPTIONS_FULLY_CONNECTED ? op->options.activation
                                                                    : DF_TFLITE_ACT_NONE;
    if (df_tflite_tensor_elements(tensor(b, op->outputs[0])) != (size_t)w->shape[0])
        return op_fail(b, i, DF_ERR_SHAPE, "output size differs from the %d weight rows",
                       w->shape[0]);
    return add_host_dense(b, i, op->inputs[0], wt, op->n_inputs > 2 ? op->inputs[2] : -1,
                          (size_t)w->shape[0], (size_t)w->shape[1], act);
}

static df_status add_op(builder *b, int i) {
    switch (b->m->operators[i].builtin) {
    case DF_TFLITE_OP_CONV_2D: return add_conv(b, i, 0);
    case DF_TFLITE_OP_DEPTHWISE_CONV_2D: return add_conv(b, i, 1);
    case DF_TFLITE_OP_AVERAGE_POOL_2D: return add_pool(b, i, DF_POOL_AVG);
    case DF_TFLITE_OP_MAX_POOL_2D: return add_pool(b, i, DF_POOL_MAX);
    case DF_TFLITE_OP_MEAN: return add_mean(b, i);
    case DF_TFLITE_OP_ADD: return add_add(b, i);
    case DF_TFLITE_OP_PAD: return add_pad(b, i);
    case DF_TFLITE_OP_QUANTIZE:
    case DF_TFLITE_OP_DEQUANTIZE: return add_identity(b, i, 0);
    case DF_TFLITE_OP_RESHAPE:
    case DF_TFLITE_OP_SQUEEZE: return add_identity(b, i, 1);
    case DF_TFLITE_OP_SOFTMAX: return add_softmax(b, i);
    case DF_TFLITE_OP_FULLY_CONNECTED: return add_fully_connected(b, i);
    case DF_TFLITE_OP_L2_NORMALIZATION: return add_l2norm(b, i);
    default: return op_fail(b, i, DF_ERR_UNSUPPORTED, "operator not supported by this executor");
    }
}

/* ---- the graph ---- */

void df_tflite_graph_destroy(df_tflite_graph *g) {
    if (!g) return;
    df_net_destroy(g->net);
    df_qnet_destroy(g->qnet);
    for (int k = 0; k < g->n_host; k++) {
        free(g->host[k].w);
        free(g->host[k].b);
    }
    free(g->host);
    if (g->slot_buf)
        for (int k = 0; k < g->n_slots; k++) free(g->slot_buf[k]);
    free(g->slot_buf);
    free(g->slot_len);
    free(g);
}

static df_status read_input(const df_tflite_model *m, df_tflite_input *in, df_error *err) {
    if (m->n_inputs != 1)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: %zu graph inputs (expected one image)",
                            m->path, m->n_inputs);
    const df_tflite_tensor *t = &m->tensors[m->inputs[0]];
    if (t->rank != 4 || t->shape[0] != 1 || t->shape[1] < 1 || t->shape[2] < 1 ||
        t->shape[3] < 1 || t->shape[1] > MAX_SPATIAL || t->shape[2] > MAX_SPATIAL ||
        t->shape[3] > MAX_CHANNELS)
        return df_error_set(err, DF_ERR_UNSUPPORTED,
                            "%s: input %s is not a 1 x H x W x C image tensor (H, W <= %d)",
                            m->path, t->name, MAX_SPATIAL);
    if (t->type != DF_TFLITE_UINT8 && t->type != DF_TFLITE_INT8 && t->type != DF_TFLITE_FLOAT32)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: input %s has type %s", m->path, t->name,
                            df_tflite_type_name(t->type));
    in->h = t->shape[1];
    in->w = t->shape[2];
    in->c = t->shape[3];
    in->type = t->type;
    in->scale = t->quant.n ? t->quant.scale[0] : 1.0f;
    in->zero_point = t->quant.n ? t->quant.zero_point[0] : 0;
    if (t->type != DF_TFLITE_FLOAT32 && !(in->scale > 0.0f))
        return df_error_set(err, DF_ERR_FORMAT, "%s: input %s has scale %g", m->path, t->name,
                            (double)in->scale);
    return DF_OK;
}

static df_status build(builder *b, int target) {
    const df_tflite_model *m = b->m;
    df_tflite_graph *g = b->g;
    df_status st;
    size_t nt = m->n_tensors, no = m->n_operators;
    char *needed_t = calloc(nt ? nt : 1, 1);
    char *needed_op = calloc(no ? no : 1, 1);
    if (!needed_t || !needed_op) {
        free(needed_t);
        free(needed_op);
        return df_error_set(b->err, DF_ERR_NOMEM, "%s: out of memory", m->path);
    }
    needed_t[target] = 1;
    for (size_t i = no; i-- > 0;) {
        const df_tflite_operator *op = &m->operators[i];
        for (int k = 0; k < op->n_outputs; k++) needed_op[i] |= needed_t[op->outputs[k]];
        if (!needed_op[i]) continue;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0) needed_t[op->inputs[k]] = 1;
    }
    free(needed_t);

    df_tensor_id x;
    st = df_net_input(g->net, g->input.h, g->input.w, g->input.c, &x, b->err);
    if (st) {
        free(needed_op);
        return df_error_prefix(b->err, "%s", m->path);
    }
    b->v[m->inputs[0]].kind = V_ENGINE;
    b->v[m->inputs[0]].id = x;
    for (size_t i = 0; i < no && !st; i++) {
        if (!needed_op[i]) continue;
        const df_tflite_operator *op = &m->operators[i];
        for (int k = 0; k < op->n_outputs && !st; k++)
            if (b->v[op->outputs[k]].kind != V_NONE || df_tflite_tensor_data(m, op->outputs[k]))
                st = op_fail(b, (int)i, DF_ERR_FORMAT, "output %s is written twice",
                             m->tensors[op->outputs[k]].name);
        if (!st) st = add_op(b, (int)i);
    }
    free(needed_op);
    if (st) return st;

    const value *v = &b->v[target];
    const char *tname = m->tensors[target].name;
    if (target == m->inputs[0])
        return df_error_set(b->err, DF_ERR_INVALID_ARG, "%s: tensor %s is the model input",
                            m->path, tname);
    if (v->kind == V_NONE)
        return df_error_set(b->err, DF_ERR_INVALID_ARG,
                            "%s: tensor %s is not computed from the input image", m->path, tname);
    if (v->kind == V_PAD)
        return df_error_set(b->err, DF_ERR_UNSUPPORTED, "%s: tensor %s is the output of a PAD",
                            m->path, tname);
    if (v->kind == V_ENGINE) {
        if (b->boundary >= 0 && b->boundary != v->id)
            return df_error_set(b->err, DF_ERR_UNSUPPORTED,
                                "%s: tensor %s needs two engine outputs", m->path, tname);
        int h, w, c;
        if ((st = df_net_set_output(g->net, v->id, b->err)) ||
            (st = df_net_tensor_shape(g->net, v->id, &h, &w, &c, b->err)))
            return df_error_prefix(b->err, "%s", m->path);
        g->net_out_size = g->out_size = (size_t)h * (size_t)w * (size_t)c;
        g->out_slot = -1;
    } else {
        if ((st = df_net_set_output(g->net, b->boundary, b->err)))
            return df_error_prefix(b->err, "%s", m->path);
        g->out_slot = v->slot;
        g->out_size = g->slot_len[v->slot];
    }
    return DF_OK;
}

/* Builds the integer engine computing tensor t; replace: drop the float
 * engine (--precision int8), else keep both for race_int8. A graph the
 * integer engine does not cover runs on the float one, with a notice saying
 * why when int8 was asked for. */
static df_status use_integer_engine(df_tflite_graph *g, const df_tflite_model *m, int t,
                                    const df_backbone_options *opt, int replace, df_error *err) {
    df_error qerr;
    df_status st = df_tflite_qnet_build(m, t, &g->qnet, &qerr);
    if (st == DF_ERR_UNSUPPORTED) {
        if (opt->notice && replace) {
            char msg[DF_ERROR_MESSAGE_MAX + 32];
            snprintf(msg, sizeof msg, "%s; using fp32", qerr.message);
            opt->notice(opt->notice_ctx, msg);
        }
        return DF_OK;
    }
    if (st) {
        *err = qerr;
        return st;
    }
    if (replace) {
        df_net_destroy(g->net);
        g->net = NULL;
    }
    g->num_params = df_qnet_num_params(g->qnet);
    return DF_OK;
}

/* Takes runs samples of the integer or the float engine (df_race_pick:
 * at least DF_RACE_IMAGES images each); *ms becomes the fastest of these
 * and what it held, per batch. The integer engine is timed as the passes
 * run it: from pixels where the graph takes them (training, predict and
 * the feature cache hand it bytes; from floats it would also pay the
 * input's quantization). */
static df_status time_engine(df_tflite_graph *g, int integer, int runs, float *x, float *y, double *ms,
                             df_error *err) {
    const int reps = g->batch >= DF_RACE_IMAGES ? 1 : (DF_RACE_IMAGES + g->batch - 1) / g->batch;
    const int pixels = integer && df_tflite_graph_takes_pixels(g);
    for (int it = 0; it < runs; it++) {
        double t0 = 1e3 * df_clock_seconds();
        for (int r = 0; r < reps; r++) {
            df_status st = pixels    ? df_qnet_run_bytes(g->qnet, (const uint8_t *)x, g->batch, y, err)
                           : integer ? df_qnet_run(g->qnet, x, g->batch, y, err)
                                     : df_net_run(g->net, x, g->batch, y, err);
            if (st) return st;
        }
        double t = (1e3 * df_clock_seconds() - t0) / reps;
        if (t < *ms) *ms = t;
    }
    return DF_OK;
}

/* --precision auto on a quantized model: the integer engine against the
 * float one as it resolved auto (bf16 with AMX, else the faster of fp32 and
 * bf16), one sample each after a warm-up, best of 3 when close
 * (df_race_pick); the faster wins. bf16 must beat fp32 by 15% because it
 * only approximates the float graph; int8 needs no head start, being the
 * model's own arithmetic (what its TFLite file computes on a phone). Until
 * 2026-12-03 it had to be 10% faster, which on AMX kept bf16 for the uint8
 * MobileNetV2 although int8 trained the default recipe 8% faster. The loser
 * is freed; the choice is what df_backbone_precision reports, which
 * training records in the model so that predicting builds the same engine. */
#define INT8_MARGIN 0.0
static df_status race_int8(df_tflite_graph *g, const df_backbone_options *opt, df_error *err) {
    size_t nin = g->in_size * (size_t)g->batch, nout = g->net_out_size * (size_t)g->batch;
    float *x = calloc(nin, sizeof *x), *y = malloc(nout * sizeof *y);
    /* the float engine's own fp32/bf16 race timed its pick at this batch
     * moments ago (where it raced): that sample stands for it here */
    double ms8 = 1e300, msf = df_net_raced_ms(g->net), warm = 1e300;
    const int float_timed = msf > 0.0;
    if (!float_timed) msf = 1e300;
    df_status st = DF_OK;
    if (!x || !y) st = df_error_set(err, DF_ERR_NOMEM, "out of memory timing the engines");
    /* best of 3 asked for: the three samples in a row (the float engine's
     * three come from its own race) */
    const int first = opt->race_best_of_3 ? 3 : 1;
    if (!st) st = time_engine(g, 1, 1, x, y, &warm, err);
    if (!st) st = time_engine(g, 1, first, x, y, &ms8, err);
    if (!st && !float_timed) st = time_engine(g, 0, 1, x, y, &warm, err);
    if (!st && !float_timed) st = time_engine(g, 0, first, x, y, &msf, err);
    int clear = 0;
    if (!st) df_race_pick(ms8, msf, INT8_MARGIN, &clear);
    const int best3 = first == 3 || !clear, more = first == 1 && !clear; /* two more samples each */
    if (!st && more) st = time_engine(g, 1, 2, x, y, &ms8, err);
    if (!st && more && float_timed) st = time_engine(g, 0, 1, x, y, &warm, err); /* its plan is fresh */
    if (!st && more) st = time_engine(g, 0, 2, x, y, &msf, err);
    free(x);
    free(y);
    if (st) return st;
    int settled; /* after best of 3 a close race is what it is */
    int pick8 = df_race_pick(ms8, msf, INT8_MARGIN, &settled);
    if (opt->notice) {
        char msg[200];
        snprintf(msg, sizeof msg, "precision auto: int8 %.1f ms, %s %.1f ms per batch of %d%s: %s",
                 ms8, df_precision_name(df_net_precision(g->net)), msf, g->batch, best3 ? " (best of 3)" : "",
                 pick8 ? "int8" : df_precision_name(df_net_precision(g->net)));
        opt->notice(opt->notice_ctx, msg);
    }
    if (pick8) {
        df_net_destroy(g->net);
        g->net = NULL;
    } else {
        df_qnet_destroy(g->qnet);
        g->qnet = NULL;
    }
    return DF_OK;
}

static df_status reshape_engines(df_tflite_graph *g, df_error *err) {
    df_status st = DF_OK;
    if (g->qnet) st = df_qnet_reshape(g->qnet, g->batch, err);
    if (!st && g->net) st = df_net_reshape(g->net, g->batch, err);
    return st;
}

df_status df_tflite_graph_create(const df_tflite_model *m, int target,
                                 const df_backbone_options *opt, df_tflite_graph **out,
                                 df_error *err) {
    *out = NULL;
    if (target < 0 || (size_t)target >= m->n_tensors)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: tensor index %d out of range",
                            m->path, target);
    if (opt->max_batch < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "max batch %d", opt->max_batch);
    df_tflite_graph *g = calloc(1, sizeof *g);
    builder b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.g = g;
    b.err = err;
    b.boundary = -1;
    b.v = calloc(m->n_tensors, sizeof *b.v);
    df_status st;
    if (!g || !b.v) {
        st = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
        goto fail;
    }
    g->out_slot = -1;
    if ((st = read_input(m, &g->input, err))) goto fail;
    if (opt->input_size && (opt->input_size != g->input.h || opt->input_size != g->input.w)) {
        if (opt->precision != DF_PRECISION_FP32 && opt->precision != DF_PRECISION_BF16) {
            st = df_error_set(err, DF_ERR_INVALID_ARG, "%s: an input size other than the file's (%dx%d) "
                              "needs precision fp32 or bf16", m->path, g->input.h, g->input.w);
            goto fail;
        }
        if (opt->input_size < 32 || opt->input_size > MAX_SPATIAL) {
            st = df_error_set(err, DF_ERR_INVALID_ARG, "%s: input size %d is not in 32..%d", m->path,
                              opt->input_size, MAX_SPATIAL);
            goto fail;
        }
        g->input.h = g->input.w = opt->input_size;
        b.resized = 1;
    }
    g->in_size = (size_t)g->input.h * (size_t)g->input.w * (size_t)g->input.c;
    df_net_options no = df_net_options_default();
    int quantized = df_tflite_is_quantized(m);
    int int8 = quantized && opt->precision == DF_PRECISION_INT8;
    /* auto on a quantized model: int8 against the float engine's own pick,
     * measured once both are reshaped (needs a batch size) */
    int race = quantized && opt->precision == DF_PRECISION_AUTO && opt->max_batch > 0;
    no.precision = int8 ? DF_PRECISION_FP32 : opt->precision;
    no.autotune = opt->autotune;
    no.race_best_of_3 = opt->race_best_of_3;
    no.conv_algo = opt->conv_algo;
    no.notice = opt->notice;
    no.notice_ctx = opt->notice_ctx;
    if ((st = df_net_create(&no, &g->net, err))) goto fail;
    const int on_xnnpack = df_tflite_qnet_backend(m) == DF_QBACKEND_XNNPACK;
    if (race && df_net_auto_is_bf16_by_rule() && on_xnnpack) {
        /* Where bf16 runs on AMX, an integer engine that is XNNPACK of 2022
         * (no VNNI or AMX kernels) is far behind (MobileNetV2 at batch 8, 2
         * threads, Sapphire Rapids: int8 5.43 ms, bf16 2.07 ms per image):
         * the race would only cost time. On oneDNN both models are raced:
         * the uint8 one, whose few out-of-int8 weight channels per layer our
         * own loops recompute, was behind too until those loops were
         * vectorized (batch 16, 2 threads, AMX: int8 1.55 against bf16 1.71
         * ms per image, 2026-12-03). */
        race = 0;
        if (opt->notice)
            opt->notice(opt->notice_ctx, "precision auto: int8 not measured (this CPU has AMX for bf16; the "
                                         "integer engine has no VNNI/AMX kernels)");
    }
    if ((st = build(&b, target))) goto fail;
    g->num_params = df_net_num_params(g->net);
    if ((int8 || race) &&
        (st = use_integer_engine(g, m, b.boundary >= 0 ? b.boundary_tensor : target, opt, !race,
                                 err)))
        goto fail;
    g->precision = g->net ? df_net_precision(g->net) : DF_PRECISION_INT8;
    if (opt->max_batch > 0) {
        /* With both engines alive they race at a batch of at most
         * DF_RACE_IMAGES (the float engine's own fp32/bf16 race too), and
         * the winner is then shaped for max_batch. */
        const int both = g->qnet && g->net;
        g->batch = both && opt->max_batch > DF_RACE_IMAGES ? DF_RACE_IMAGES : opt->max_batch;
        if ((st = reshape_engines(g, err)) || (both && (st = race_int8(g, opt, err)))) {
            df_error_prefix(err, "%s", m->path);
            goto fail;
        }
        g->raced = both || (g->net && df_net_raced(g->net));
        if (g->batch != opt->max_batch) {
            g->batch = opt->max_batch;
            if ((st = reshape_engines(g, err))) {
                df_error_prefix(err, "%s", m->path);
                goto fail;
            }
        }
        g->precision = g->net ? df_net_precision(g->net) : DF_PRECISION_INT8;
        for (int k = 0; k < g->n_slots; k++) {
            size_t bytes;
            if (!df_size_mul3(g->slot_len[k], (size_t)g->batch, sizeof(float), &bytes) ||
                !(g->slot_buf[k] = malloc(bytes))) {
                st = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
                goto fail;
            }
        }
    }
    free(b.v);
    *out = g;
    return DF_OK;
fail:
    free(b.v);
    df_tflite_graph_destroy(g);
    return st;
}

size_t df_tflite_graph_output_size(const df_tflite_graph *g) { return g->out_size; }
const df_tflite_input *df_tflite_graph_input(const df_tflite_graph *g) { return &g->input; }
df_precision df_tflite_graph_precision(const df_tflite_graph *g) { return g->precision; }

static void apply_act(float *y, size_t n, df_activation act) {
    if (act == DF_ACT_NONE) return;
    for (size_t k = 0; k < n; k++) {
        if (y[k] < 0.0f) y[k] = 0.0f;
        if (act == DF_ACT_RELU6 && y[k] > 6.0f) y[k] = 6.0f;
    }
}

static void run_host_op(const host_op *h, const float *x, float *y) {
    if (h->kind == HOST_DENSE) {
        for (size_t o = 0; o < h->n_out; o++) {
            const float *w = h->w + o * h->n_in;
            double s = h->b ? h->b[o] : 0.0;
            for (size_t k = 0; k < h->n_in; k++) s += (double)w[k] * x[k];
            y[o] = (float)s;
        }
        apply_act(y, h->n_out, h->act);
        return;
    }
    if (h->kind == HOST_AVGPOOL) { /* predict's own pooling, so both give the same bits */
        df_pooling_apply(&h->pool, x, 1, h->ih, h->iw, h->c, y);
        return;
    }
    if (h->kind == HOST_L2NORM) {
        double ss = 0.0;
        for (size_t k = 0; k < h->n_in; k++) ss += (double)x[k] * x[k];
        double norm = sqrt(ss);
        if (norm < 1e-6) norm = 1e-6;
        for (size_t k = 0; k < h->n_in; k++) y[k] = (float)(x[k] / norm);
        return;
    }
    /* softmax(beta * x), shifted by the max for range */
    float mx = x[0];
    for (size_t k = 1; k < h->n_in; k++)
        if (x[k] > mx) mx = x[k];
    double sum = 0.0;
    for (size_t k = 0; k < h->n_in; k++) {
        y[k] = expf(h->beta * (x[k] - mx));
        sum += y[k];
    }
    for (size_t k = 0; k < h->n_in; k++) y[k] = (float)(y[k] / sum);
}

/* The integer engine's input values are the pixels' bytes when quantizing
 * what df_tflite_preprocess makes of pixel p, real = s (p - o_m - z) (o_m:
 * 128 for an int8 input tensor, else 0), with the engine input's (s', z')
 * gives q' = p - o_q (o_q: 128 for an int8 engine, whose bytes are q' +
 * 128), for every p: s' = s and z' = z + o_m - o_q. True of both shipped
 * MobileNetV2s: the uint8 one's input is the engine's; the TF2 one's
 * QUANTIZE from its uint8 input to int8 only moves the zero point by 128.
 * Within these 256 values the float round trip is exact (|q| <= 255, an
 * error of 2^-24 relative), so the engine's result is the same bit for
 * bit (tested). */
int df_tflite_graph_takes_pixels(const df_tflite_graph *g) {
    if (!g->qnet || g->input.c != 3 || (g->input.type != DF_TFLITE_UINT8 && g->input.type != DF_TFLITE_INT8))
        return 0;
    const df_qparams p = df_qnet_input_params(g->qnet);
    const int64_t o_m = g->input.type == DF_TFLITE_INT8 ? 128 : 0, o_q = df_qnet_type(g->qnet) == DF_QTYPE_S8 ? 128 : 0;
    return p.scale == g->input.scale && (int64_t)p.zero_point == g->input.zero_point + o_m - o_q;
}

/* The images as floats (inputs) or, where the graph takes them, as pixels. */
static df_status graph_run(df_tflite_graph *g, const float *inputs, const uint8_t *pixels, int n, float *outputs,
                           df_error *err) {
    if (g->batch < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "TFLite graph was built without a batch size");
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "batch of %d images", n);
    for (int done = 0; done < n;) {
        int chunk = n - done < g->batch ? n - done : g->batch;
        float *out = outputs + (size_t)done * g->out_size;
        float *engine_out = g->out_slot < 0 ? out : g->slot_buf[0];
        df_status st;
        if (pixels) st = df_qnet_run_bytes(g->qnet, pixels + (size_t)done * g->in_size, chunk, engine_out, err);
        else if (g->qnet) st = df_qnet_run(g->qnet, inputs + (size_t)done * g->in_size, chunk, engine_out, err);
        else st = df_net_run(g->net, inputs + (size_t)done * g->in_size, chunk, engine_out, err);
        if (st) return st;
        if (g->out_slot >= 0) {
            for (int k = 0; k < g->n_host; k++) {
                const host_op *h = &g->host[k];
                for (int i = 0; i < chunk; i++)
                    run_host_op(h, g->slot_buf[h->in] + (size_t)i * h->n_in,
                                g->slot_buf[h->out] + (size_t)i * h->n_out);
            }
            memcpy(out, g->slot_buf[g->out_slot], (size_t)chunk * g->out_size * sizeof *out);
        }
        done += chunk;
    }
    return DF_OK;
}

df_status df_tflite_graph_run(df_tflite_graph *g, const float *inputs, int n, float *outputs,
                              df_error *err) {
    return graph_run(g, inputs, NULL, n, outputs, err);
}

df_status df_tflite_graph_run_pixels(df_tflite_graph *g, const uint8_t *pixels, int n, float *outputs,
                                     df_error *err) {
    if (!df_tflite_graph_takes_pixels(g))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "this TFLite graph does not take pixels (a float input or engine)");
    return graph_run(g, NULL, pixels, n, outputs, err);
}

/* ---- preprocessing ---- */

df_status df_tflite_preprocess(const df_tflite_input *in, const df_image *img, float *out,
                               df_error *err) {
    if (img->width != in->w || img->height != in->h)
        return df_error_set(err, DF_ERR_SHAPE, "image is %dx%d, the model expects %dx%d",
                            img->width, img->height, in->w, in->h);
    if (in->c != 3)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "model input has %d channels (not RGB)",
                            in->c);
    size_t n = (size_t)in->w * (size_t)in->h * 3;
    if (in->type == DF_TFLITE_FLOAT32) {
        for (size_t k = 0; k < n; k++) out[k] = (float)img->pixels[k] / 127.5f - 1.0f;
        return DF_OK;
    }
    float lut[256];
    for (int p = 0; p < 256; p++) {
        int q = in->type == DF_TFLITE_INT8 ? p - 128 : p;
        lut[p] = (float)((double)in->scale * ((double)q - (double)in->zero_point));
    }
    for (size_t k = 0; k < n; k++) out[k] = lut[img->pixels[k]];
    return DF_OK;
}

/* ---- the feature tensor ---- */

int df_tflite_feature_tensor(const df_tflite_model *m) {
    for (size_t i = m->n_operators; i-- > 0;) {
        const df_tflite_operator *op = &m->operators[i];
        if (op->builtin != DF_TFLITE_OP_MEAN && op->builtin != DF_TFLITE_OP_AVERAGE_POOL_2D)
            continue;
        if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0) continue;
        const df_tflite_tensor *x = &m->tensors[op->inputs[0]];
        const df_tflite_tensor *y = &m->tensors[op->outputs[0]];
        if (x->rank != 4 || (size_t)x->shape[1] * (size_t)x->shape[2] < 2) continue;
        if (df_tflite_tensor_elements(y) == (size_t)x->shape[0] * (size_t)x->shape[3])
            return op->outputs[0];
    }
    return -1;
}

int df_tflite_feature_map_tensor(const df_tflite_model *m) {
    int f = df_tflite_feature_tensor(m);
    if (f < 0) return -1;
    int p = df_tflite_producer(m, f);
    return p < 0 ? -1 : m->operators[p].inputs[0];
}

/* ---- backbone ---- */

static df_status bb_preprocess(const df_backbone *bb, const df_image *img, float *out,
                               df_error *err) {
    const df_tflite_graph *g = bb->impl;
    df_status st = df_tflite_preprocess(&g->input, img, out, err);
    if (st) df_error_prefix(err, "%s", bb->name);
    return st;
}

static df_status bb_run(df_backbone *bb, const float *inputs, int n, float *features,
                        df_error *err) {
    return df_tflite_graph_run(bb->impl, inputs, n, features, err);
}

static int bb_takes_pixels(const df_backbone *bb) { return df_tflite_graph_takes_pixels(bb->impl); }

static df_status bb_run_pixels(df_backbone *bb, const uint8_t *pixels, int n, float *features, df_error *err) {
    return df_tflite_graph_run_pixels(bb->impl, pixels, n, features, err);
}

static void bb_destroy(df_backbone *bb) {
    df_tflite_graph_destroy(bb->impl);
    free(bb);
}

static const df_backbone_vtable TFLITE_VT = {"tflite", bb_preprocess, bb_run, bb_takes_pixels, bb_run_pixels,
                                             bb_destroy};

const df_net *df_tflite_backbone_net(const df_backbone *bb) {
    return ((const df_tflite_graph *)bb->impl)->net;
}

const df_qnet *df_tflite_backbone_qnet(const df_backbone *bb) {
    return ((const df_tflite_graph *)bb->impl)->qnet;
}

/* Pooling by regions: the cut map's H x W x C (the file's shape, or a
 * square of the same channels when the graph runs at another input size)
 * and the features it pools to. */
static df_status regions_shape(const df_tflite_model *m, int target, const df_backbone_options *opt, size_t out_size,
                               df_backbone *bb, df_error *err) {
    const df_tflite_tensor *t = &m->tensors[target];
    const int C = t->rank >= 1 ? t->shape[t->rank - 1] : 0;
    int H = 0, W = 0;
    if (C > 0 && t->rank == 4 && !opt->input_size) {
        H = t->shape[1];
        W = t->shape[2];
    } else if (C > 0) {
        const size_t hw = out_size / (size_t)C;
        while ((size_t)(H + 1) * (size_t)(H + 1) <= hw) H++;
        W = H;
    }
    char name[16];
    const size_t D = df_pooling_dim(&opt->pooling, H, W, C);
    if (C < 1 || (size_t)H * (size_t)W * (size_t)C != out_size || D == 0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: the feature map %s (%dx%dx%d) cannot be pooled by %s",
                            m->path, t->name, H, W, C, df_pooling_name(&opt->pooling, name, sizeof name));
    bb->pooling = opt->pooling;
    bb->map_h = H;
    bb->map_w = W;
    bb->map_c = C;
    bb->feature_dim = D;
    return DF_OK;
}

df_status df_tflite_backbone_from_model(const df_tflite_model *m, const char *name,
                                        const df_backbone_options *opt, df_backbone **out,
                                        df_error *err) {
    *out = NULL;
    if (opt->preprocess != DF_PREPROCESS_DEFAULT && opt->preprocess != DF_PREPROCESS_TFLITE)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "%s: TFLite models take only the 'tflite' preprocessing (the input "
                            "tensor's quantization defines it)", m->path);
    int target;
    int regions = opt->pooling.kind == DF_POOLING_REGIONS;
    if (regions && opt->pooling.or_mean && !opt->input_size) {
        const int t = df_tflite_feature_map_tensor(m);
        const df_tflite_tensor *mt = t >= 0 ? &m->tensors[t] : NULL;
        if (!mt || mt->rank != 4 || !df_pooling_tiles(&opt->pooling, mt->shape[1], mt->shape[2])) {
            regions = 0;
            if (opt->notice) {
                char msg[256], pname[16];
                snprintf(msg, sizeof msg, "pooling: %s's last map (%dx%d) is not tiled by %s windows; its own mean",
                         m->path, mt && mt->rank == 4 ? mt->shape[1] : 0, mt && mt->rank == 4 ? mt->shape[2] : 0,
                         df_pooling_name(&opt->pooling, pname, sizeof pname));
                opt->notice(opt->notice_ctx, msg);
            }
        }
    }
    if (regions || (opt->cut_tensor && !strcmp(opt->cut_tensor, DF_TFLITE_CUT_FEATURE_MAP))) {
        target = df_tflite_feature_map_tensor(m);
        if (target < 0)
            return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: no spatial feature map before a global pool", m->path);
    } else if (opt->cut_tensor) {
        target = df_tflite_find_tensor(m, opt->cut_tensor);
        if (target < 0)
            return df_error_set(err, DF_ERR_INVALID_ARG, "%s: no tensor named '%s'", m->path,
                                opt->cut_tensor);
    } else {
        target = df_tflite_feature_tensor(m);
        if (target < 0)
            return df_error_set(err, DF_ERR_UNSUPPORTED,
                                "%s: no globally pooled feature (MEAN or AVERAGE_POOL_2D to 1x1) "
                                "found; name the tensor to cut at", m->path);
    }
    df_backbone *bb = calloc(1, sizeof *bb);
    if (!bb) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
    df_tflite_graph *g;
    df_status st = df_tflite_graph_create(m, target, opt, &g, err);
    if (st) {
        free(bb);
        return st;
    }
    bb->vt = &TFLITE_VT;
    snprintf(bb->name, sizeof bb->name, "%s", name);
    bb->input_h = g->input.h;
    bb->input_w = g->input.w;
    bb->feature_dim = g->out_size;
    if (regions && (st = regions_shape(m, target, opt, g->out_size, bb, err)) != DF_OK) {
        df_tflite_graph_destroy(g);
        free(bb);
        return st;
    }
    bb->preprocess = DF_PREPROCESS_TFLITE;
    bb->resize = DF_RESIZE_BILINEAR;
    bb->precision = g->precision;
    bb->raced = g->raced;
    /* The part after the cut that runs in plain C (a classifier's FC) is
     * not in the feature extractor, so the engine's count is the right one. */
    bb->num_params = g->num_params;
    bb->impl = g;
    *out = bb;
    return DF_OK;
}

/* "dir/mobilenet_v2.tflite" -> "mobilenet_v2" */
static void base_name(const char *path, char *out, size_t size) {
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    size_t n = strlen(s);
    if (n > 7 && !strcmp(s + n - 7, ".tflite")) n -= 7;
    if (n >= size) n = size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* The backbone of a parsed model, named after path's base; m is freed. */
static df_status backbone_of(df_tflite_model *m, const char *path, const df_backbone_options *opt,
                             df_backbone **out, df_error *err) {
    char name[128];
    base_name(path, name, sizeof name);
    df_status st = df_tflite_backbone_from_model(m, name, opt, out, err);
    df_tflite_destroy(m);
    return st;
}

df_status df_tflite_backbone_open(const char *path, const df_backbone_options *opt,
                                  df_backbone **out, df_error *err) {
    *out = NULL;
    df_tflite_model *m;
    df_status st = df_tflite_load(path, &m, err);
    return st ? st : backbone_of(m, path, opt, out, err);
}

df_status df_tflite_backbone_open_bytes(const char *name, const uint8_t *bytes, size_t size,
                                        const df_backbone_options *opt, df_backbone **out, df_error *err) {
    *out = NULL;
    df_tflite_model *m;
    df_status st = df_tflite_parse(bytes, size, name, &m, err);
    return st ? st : backbone_of(m, name, opt, out, err);
}

/* ---- classifier ---- */

struct df_tflite_classifier {
    df_tflite_graph *g;
};

df_status df_tflite_classifier_from_model(const df_tflite_model *m,
                                          const df_backbone_options *opt,
                                          df_tflite_classifier **out, df_error *err) {
    *out = NULL;
    if (m->n_outputs < 1)
        return df_error_set(err, DF_ERR_FORMAT, "%s: the graph has no output", m->path);
    int t = m->outputs[0];
    for (;;) {
        int p = df_tflite_producer(m, t);
        if (p < 0)
            return df_error_set(err, DF_ERR_UNSUPPORTED,
                                "%s: output %s does not come from a SOFTMAX (not a classifier; "
                                "use the model as a backbone)", m->path,
                                m->tensors[m->outputs[0]].name);
        int op = m->operators[p].builtin;
        if (op == DF_TFLITE_OP_SOFTMAX) break;
        if ((op != DF_TFLITE_OP_QUANTIZE && op != DF_TFLITE_OP_DEQUANTIZE &&
             op != DF_TFLITE_OP_RESHAPE) ||
            m->operators[p].n_inputs < 1 || m->operators[p].inputs[0] < 0)
            return df_error_set(err, DF_ERR_UNSUPPORTED,
                                "%s: output %s comes from %s, not a SOFTMAX (not a classifier; "
                                "use the model as a backbone)", m->path,
                                m->tensors[m->outputs[0]].name, df_tflite_op_name(op));
        t = m->operators[p].inputs[0];
    }
    df_tflite_classifier *c = calloc(1, sizeof *c);
    if (!c) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
    df_status st = df_tflite_graph_create(m, m->outputs[0], opt, &c->g, err);
    if (st) {
        free(c);
        return st;
    }
    *out = c;
    return DF_OK;
}

df_status df_tflite_classifier_open(const char *path, const df_backbone_options *opt,
                                    df_tflite_classifier **out, df_error *err) {
    *out = NULL;
    df_tflite_model *m;
    df_status st = df_tflite_load(path, &m, err);
    if (st) return st;
    st = df_tflite_classifier_from_model(m, opt, out, err);
    df_tflite_destroy(m);
    return st;
}

void df_tflite_classifier_destroy(df_tflite_classifier *c) {
    if (!c) return;
    df_tflite_graph_destroy(c->g);
    free(c);
}

size_t df_tflite_classifier_classes(const df_tflite_classifier *c) { return c->g->out_size; }

void df_tflite_classifier_input_size(const df_tflite_classifier *c, int *h, int *w) {
    *h = c->g->input.h;
    *w = c->g->input.w;
}

df_precision df_tflite_classifier_precision(const df_tflite_classifier *c) {
    return c->g->precision;
}

df_status df_tflite_classifier_preprocess(const df_tflite_classifier *c, const df_image *img,
                                          float *out, df_error *err) {
    return df_tflite_preprocess(&c->g->input, img, out, err);
}

df_status df_tflite_classifier_run(df_tflite_classifier *c, const float *inputs, int n,
                                   float *probs, df_error *err) {
    return df_tflite_graph_run(c->g, inputs, n, probs, err);
}
