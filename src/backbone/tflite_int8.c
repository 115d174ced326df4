/*
 * Quantized TFLite graph -> integer engine (see tflite_int8.h). Walks the
 * operators the target depends on in file order, as tflite_backbone.c does
 * for the float engine, and passes the file's integers through unchanged:
 * weights, int32 biases, scales and zero points. Fused activations become
 * TFLite's quantized clamps (CalculateActivationRangeQuantized: RELU ->
 * [zp, max], RELU6 -> [zp, zp + round(6 / scale)], within the type).
 */
#include "backbone/tflite_int8.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qbuilder {
    const df_tflite_model *m;
    df_qnet *q;
    df_qtype type;
    int tfl_type;          /* DF_TFLITE_UINT8 / INT8: the activations' type */
    int *id;               /* per tensor: qnet tensor or -1 */
    int target;            /* the tensor the net computes */
    df_error *err;
} qbuilder;

static df_status qfail(qbuilder *b, int i, const char *fmt, ...) DF_PRINTF(3, 4);
static df_status qfail(qbuilder *b, int i, const char *fmt, ...) {
    char msg[DF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return df_error_set(b->err, DF_ERR_UNSUPPORTED, "%s: operator %d (%s), int8: %s",
                        b->m->path, i, df_tflite_op_name(b->m->operators[i].builtin), msg);
}

static df_status qprefix(qbuilder *b, int i, df_status st) {
    if (!st) return st;
    return df_error_prefix(b->err, "%s: operator %d (%s)", b->m->path, i,
                           df_tflite_op_name(b->m->operators[i].builtin));
}

/* Per-tensor parameters of an activation tensor of the net's type. */
static df_status act_params(qbuilder *b, int i, int t, df_qparams *p) {
    if (t < 0) return qfail(b, i, "tensor missing");
    const df_tflite_tensor *x = &b->m->tensors[t];
    if (x->type != b->tfl_type || x->quant.n != 1)
        return qfail(b, i, "tensor %s is %s with %zu scales (expected %s, one scale)", x->name,
                     df_tflite_type_name(x->type), x->quant.n, df_tflite_type_name(b->tfl_type));
    p->scale = x->quant.scale[0];
    p->zero_point = (int32_t)x->quant.zero_point[0];
    int lo = b->type == DF_QTYPE_U8 ? 0 : -128, hi = lo + 255;
    if (!(p->scale > 0.0f) || x->quant.zero_point[0] < lo || x->quant.zero_point[0] > hi)
        return qfail(b, i, "tensor %s has scale %g, zero point %lld", x->name, (double)p->scale,
                     (long long)x->quant.zero_point[0]);
    return DF_OK;
}

static df_status qinput(qbuilder *b, int i, int t, int *id) {
    if (t < 0 || b->id[t] < 0)
        return qfail(b, i, "input %s is not an integer feature map of the graph",
                     t < 0 ? "(missing)" : b->m->tensors[t].name);
    *id = b->id[t];
    return DF_OK;
}

static df_status clamp_range(qbuilder *b, int i, int act, df_qparams p, int32_t *lo, int32_t *hi) {
    int qmin = b->type == DF_QTYPE_U8 ? 0 : -128, qmax = qmin + 255;
    *lo = qmin;
    *hi = qmax;
    if (act == DF_TFLITE_ACT_NONE) return DF_OK;
    if (act != DF_TFLITE_ACT_RELU && act != DF_TFLITE_ACT_RELU6)
        return qfail(b, i, "fused activation %d", act);
    if (p.zero_point > *lo) *lo = p.zero_point;
    if (act == DF_TFLITE_ACT_RELU6) {
        long top = p.zero_point + lroundf(6.0f / p.scale);
        if (top < *hi) *hi = (int32_t)top;
    }
    return DF_OK;
}

/* TFLite padding.h along one axis. */
static int same_pad(int padding, int in, int k, int stride, int *before, int *after) {
    if (padding != DF_TFLITE_PAD_SAME) {
        *before = *after = 0;
        return in >= k ? (in - k) / stride + 1 : 0;
    }
    int out = (in + stride - 1) / stride;
    int total = (out - 1) * stride + k - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
    return out;
}

static df_status q_conv(qbuilder *b, int i, int depthwise) {
    const df_tflite_operator *op = &b->m->operators[i];
    const df_tflite_options *o = &op->options;
    if (op->n_inputs < 2 || op->n_outputs < 1) return qfail(b, i, "inputs missing");
    if (o->dilation_w != 1 || o->dilation_h != 1)
        return qfail(b, i, "dilation %dx%d", o->dilation_h, o->dilation_w);
    int x = -1, wt = op->inputs[1], bt = op->n_inputs > 2 ? op->inputs[2] : -1;
    df_status st = qinput(b, i, op->inputs[0], &x);
    if (st) return st;
    if (wt < 0 || !df_tflite_tensor_data(b->m, wt)) return qfail(b, i, "filter is not a constant");
    const df_tflite_tensor *w = &b->m->tensors[wt];
    int ih, iw, ic;
    if ((st = qprefix(b, i, df_qnet_tensor_shape(b->q, x, &ih, &iw, &ic, b->err)))) return st;
    if (w->rank != 4) return qfail(b, i, "filter %s has rank %d", w->name, w->rank);
    int kh = w->shape[1], kw = w->shape[2], out_c = depthwise ? w->shape[3] : w->shape[0];
    if (depthwise ? (w->shape[0] != 1 || out_c != ic) : w->shape[3] != ic)
        return qfail(b, i, "filter %s [%d,%d,%d,%d] does not fit %d input channels%s", w->name,
                     w->shape[0], kh, kw, w->shape[3], ic,
                     depthwise ? " (depth multiplier 1 only)" : "");
    int want = b->type == DF_QTYPE_U8 ? DF_TFLITE_UINT8 : DF_TFLITE_INT8;
    size_t nq = w->quant.n;
    if (w->type != want || !(nq == 1 || (b->type == DF_QTYPE_S8 && nq == (size_t)out_c)))
        return qfail(b, i, "filter %s is %s with %zu scales", w->name,
                     df_tflite_type_name(w->type), nq);
    df_qconv_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = out_c;
    d.kh = kh;
    d.kw = kw;
    d.stride_h = o->stride_h;
    d.stride_w = o->stride_w;
    d.depthwise = depthwise;
    if (o->stride_h < 1 || o->stride_w < 1) return qfail(b, i, "stride %dx%d", o->stride_h, o->stride_w);
    int oh = same_pad(o->padding, ih, kh, o->stride_h, &d.pad_top, &d.pad_bottom);
    int ow = same_pad(o->padding, iw, kw, o->stride_w, &d.pad_left, &d.pad_right);
    if (oh < 1 || ow < 1) return qfail(b, i, "window larger than the input");
    if ((st = act_params(b, i, op->outputs[0], &d.out))) return st;
    const df_tflite_tensor *y = &b->m->tensors[op->outputs[0]];
    if (y->rank != 4 || y->shape[1] != oh || y->shape[2] != ow || y->shape[3] != out_c)
        return qfail(b, i, "output %s does not have the computed shape %dx%dx%d", y->name, oh, ow,
                     out_c);
    if ((st = clamp_range(b, i, o->activation, d.out, &d.out_min, &d.out_max))) return st;
    float *scales = malloc((size_t)out_c * sizeof *scales);
    int32_t *bias = NULL;
    if (!scales) return df_error_set(b->err, DF_ERR_NOMEM, "out of memory");
    for (int c = 0; c < out_c; c++) scales[c] = w->quant.scale[nq > 1 ? c : 0];
    for (size_t c = 0; c < nq; c++)
        if (b->type == DF_QTYPE_S8 && w->quant.zero_point[c] != 0) {
            free(scales);
            return qfail(b, i, "int8 filter %s has zero point %lld (symmetric only)", w->name,
                         (long long)w->quant.zero_point[c]);
        }
    d.weight_scale = scales;
    d.weight_zero_point = (int32_t)w->quant.zero_point[0];
    d.weights = df_tflite_tensor_data(b->m, wt);
    if (bt >= 0) {
        const df_tflite_tensor *bb = &b->m->tensors[bt];
        if (bb->type != DF_TFLITE_INT32 || !df_tflite_tensor_data(b->m, bt) ||
            df_tflite_tensor_elements(bb) != (size_t)out_c) {
            free(scales);
            return qfail(b, i, "bias %s is not %d constant int32 values", bb->name, out_c);
        }
        if (!(bias = malloc((size_t)out_c * sizeof *bias))) {
            free(scales);
            return df_error_set(b->err, DF_ERR_NOMEM, "out of memory");
        }
        memcpy(bias, df_tflite_tensor_data(b->m, bt), (size_t)out_c * sizeof *bias);
    }
    d.bias = bias;
    int out;
    st = qprefix(b, i, df_qnet_conv2d(b->q, x, &d, &out, b->err));
    free(scales);
    free(bias);
    if (!st) b->id[op->outputs[0]] = out;
    return st;
}

static df_status q_add(qbuilder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs != 2 || op->n_outputs < 1) return qfail(b, i, "needs two inputs");
    int x = -1, y = -1, out;
    df_qparams p;
    int32_t lo, hi;
    int act = op->options.type == DF_TFLITE_OPTIONS_ADD ? op->options.activation : 0;
    df_status st;
    if ((st = qinput(b, i, op->inputs[0], &x)) || (st = qinput(b, i, op->inputs[1], &y)) ||
        (st = act_params(b, i, op->outputs[0], &p)) || (st = clamp_range(b, i, act, p, &lo, &hi)))
        return st;
    if ((st = qprefix(b, i, df_qnet_add(b->q, x, y, p, lo, hi, &out, b->err)))) return st;
    b->id[op->outputs[0]] = out;
    return DF_OK;
}

/* AVERAGE_POOL_2D over the whole map, or MEAN over axes {1, 2}. */
static df_status q_global_pool(qbuilder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 1 || op->n_outputs < 1) return qfail(b, i, "input missing");
    int x = -1, h, w, c, out;
    df_status st = qinput(b, i, op->inputs[0], &x);
    if (!st) st = qprefix(b, i, df_qnet_tensor_shape(b->q, x, &h, &w, &c, b->err));
    if (st) return st;
    if (op->builtin == DF_TFLITE_OP_AVERAGE_POOL_2D) {
        const df_tflite_options *o = &op->options;
        if (o->filter_h != h || o->filter_w != w || o->padding != DF_TFLITE_PAD_VALID ||
            o->activation != DF_TFLITE_ACT_NONE)
            return qfail(b, i, "only a VALID %dx%d pool over the whole map is supported", h, w);
    } else {
        int at = op->n_inputs > 1 ? op->inputs[1] : -1;
        const uint8_t *ax = at >= 0 ? df_tflite_tensor_data(b->m, at) : NULL;
        int seen[4] = {0, 0, 0, 0};
        if (!ax || b->m->tensors[at].type != DF_TFLITE_INT32)
            return qfail(b, i, "axes are not constant int32");
        for (size_t k = 0; k < df_tflite_tensor_elements(&b->m->tensors[at]); k++) {
            int32_t a;
            memcpy(&a, ax + 4 * k, 4);
            if (a < 0) a += 4;
            if (a >= 0 && a < 4) seen[a] = 1;
        }
        if (seen[0] || !seen[1] || !seen[2] || seen[3])
            return qfail(b, i, "mean over axes other than {1, 2}");
    }
    if (df_tflite_tensor_elements(&b->m->tensors[op->outputs[0]]) != (size_t)c)
        return qfail(b, i, "output is not 1x1x%d", c);
    df_qparams p;
    if ((st = act_params(b, i, op->outputs[0], &p))) return st;
    if ((st = qprefix(b, i, df_qnet_global_avgpool(b->q, x, p, &out, b->err)))) return st;
    b->id[op->outputs[0]] = out;
    return DF_OK;
}

/* A DEQUANTIZE that gives the target (an exported classifier's features):
 * the net's output is already dequantized, so it is the identity there. */
static df_status q_dequantize(qbuilder *b, int i) {
    const df_tflite_operator *op = &b->m->operators[i];
    if (op->n_inputs < 1 || op->n_outputs < 1 || op->inputs[0] < 0 || op->outputs[0] != b->target)
        return qfail(b, i, "a DEQUANTIZE that does not give the output");
    if (b->id[op->inputs[0]] < 0) return qfail(b, i, "input is not computed in integers");
    if (df_tflite_tensor_elements(&b->m->tensors[op->inputs[0]]) !=
        df_tflite_tensor_elements(&b->m->tensors[op->outputs[0]]))
        return qfail(b, i, "input and output sizes differ");
    b->id[op->outputs[0]] = b->id[op->inputs[0]];
    return DF_OK;
}

static df_status q_op(qbuilder *b, int i) {
    switch (b->m->operators[i].builtin) {
    case DF_TFLITE_OP_DEQUANTIZE: return q_dequantize(b, i);
    case DF_TFLITE_OP_CONV_2D: return q_conv(b, i, 0);
    case DF_TFLITE_OP_DEPTHWISE_CONV_2D: return q_conv(b, i, 1);
    case DF_TFLITE_OP_ADD: return q_add(b, i);
    case DF_TFLITE_OP_AVERAGE_POOL_2D:
    case DF_TFLITE_OP_MEAN: return q_global_pool(b, i);
    default: return qfail(b, i, "operator not supported by the integer engine");
    }
}

/* The tensor the integer net starts from: the graph input, or the output of
 * a QUANTIZE that reads it. -1 when the graph input is not quantized. */
static int integer_input(const df_tflite_model *m, int *quantize_op) {
    *quantize_op = -1;
    if (m->n_inputs != 1) return -1;
    int t = m->inputs[0];
    for (size_t i = 0; i < m->n_operators; i++) {
        const df_tflite_operator *op = &m->operators[i];
        if (op->builtin == DF_TFLITE_OP_QUANTIZE && op->n_inputs >= 1 && op->inputs[0] == t &&
            op->n_outputs >= 1) {
            *quantize_op = (int)i;
            t = op->outputs[0];
            break;
        }
    }
    const df_tflite_tensor *x = &m->tensors[t];
    if ((x->type != DF_TFLITE_UINT8 && x->type != DF_TFLITE_INT8) || x->quant.n != 1 ||
        x->rank != 4)
        return -1;
    return t;
}

int df_tflite_is_quantized(const df_tflite_model *m) {
    int qop;
    return integer_input(m, &qop) >= 0;
}

int df_tflite_is_uint8(const df_tflite_model *m) {
    int qop, t = integer_input(m, &qop);
    return t >= 0 && m->tensors[t].type == DF_TFLITE_UINT8;
}

df_status df_tflite_qnet_build_on(const df_tflite_model *m, int target, df_qbackend backend,
                                  df_qnet **out, df_error *err) {
    *out = NULL;
    int qop, in = integer_input(m, &qop);
    if (in < 0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: the model is not quantized (int8 needs "
                            "a uint8 or int8 input tensor)", m->path);
    if (target < 0 || (size_t)target >= m->n_tensors)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: tensor %d out of range", m->path, target);
    qbuilder b;
    memset(&b, 0, sizeof b);
    b.m = m;
    b.target = target;
    b.err = err;
    b.tfl_type = m->tensors[in].type;
    b.type = b.tfl_type == DF_TFLITE_UINT8 ? DF_QTYPE_U8 : DF_QTYPE_S8;
    size_t nt = m->n_tensors, no = m->n_operators;
    b.id = malloc(nt * sizeof *b.id);
    char *need_t = calloc(nt, 1), *need_op = calloc(no ? no : 1, 1);
    df_status st = DF_OK;
    if (!b.id || !need_t || !need_op) {
        st = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
        goto done;
    }
    for (size_t k = 0; k < nt; k++) b.id[k] = -1;
    need_t[target] = 1;
    for (size_t i = no; i-- > 0;) {
        const df_tflite_operator *op = &m->operators[i];
        for (int k = 0; k < op->n_outputs; k++) need_op[i] |= need_t[op->outputs[k]];
        if (!need_op[i] || (int)i == qop) continue;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0) need_t[op->inputs[k]] = 1;
    }
    if ((st = df_qnet_create(b.type, backend, &b.q, err))) goto done;
    const df_tflite_tensor *x = &m->tensors[in];
    df_qparams p = {x->quant.scale[0], (int32_t)x->quant.zero_point[0]};
    if ((st = df_qnet_input(b.q, x->shape[1], x->shape[2], x->shape[3], p, &b.id[in], err))) {
        df_error_prefix(err, "%s", m->path);
        goto done;
    }
    for (size_t i = 0; i < no && !st; i++)
        if (need_op[i] && (int)i != qop) st = q_op(&b, (int)i);
    if (st) goto done;
    if (b.id[target] < 0) {
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: tensor %s is not computed in integers",
                          m->path, m->tensors[target].name);
        goto done;
    }
    if ((st = df_qnet_set_output(b.q, b.id[target], err))) goto done;
    *out = b.q;
    b.q = NULL;
done:
    df_qnet_destroy(b.q);
    free(b.id);
    free(need_t);
    free(need_op);
    return st;
}

/* DF_INT8_ENGINE=xnnpack|onednn|onednn-f32 (benchmarks, A/B runs);
 * anything else: auto. */
static int forced_backend(df_qbackend *b) {
    const char *e = getenv("DF_INT8_ENGINE");
    if (e && !strcmp(e, "xnnpack")) *b = DF_QBACKEND_XNNPACK;
    else if (e && !strcmp(e, "onednn")) *b = DF_QBACKEND_ONEDNN;
    else if (e && !strcmp(e, "onednn-f32")) *b = DF_QBACKEND_ONEDNN_F32;
    else return 0;
    return 1;
}

df_qbackend df_tflite_qnet_backend(const df_tflite_model *m) {
    df_qbackend b;
    if (forced_backend(&b)) return b;
    /* both model types: uint8 weights as w - w_zp (engine/qnet_dnnl.h) */
    if (df_qnet_backend_exact(DF_QBACKEND_ONEDNN)) return DF_QBACKEND_ONEDNN;
    /* Without VNNI, for a model with one scale per tensor (uint8), oneDNN's
     * fp32 kernels on the integers (engine/qnet_f32.h): XNNPACK's results
     * bit for bit, faster than its integer kernels there (MobileNetV2 uint8
     * capped to AVX2, 2 threads, alternating: batch 8 5.89-6.36 against
     * 7.41-7.56 ms per image). Per-channel scales (the int8 model) cost the
     * fp32 kernels a binary post-op each: slower than XNNPACK (batch 8
     * 9.0-12.8 against 7.8 ms), so XNNPACK there. */
    return df_tflite_is_uint8(m) ? DF_QBACKEND_ONEDNN_F32 : DF_QBACKEND_XNNPACK;
}

df_status df_tflite_qnet_build(const df_tflite_model *m, int target, df_qnet **out,
                               df_error *err) {
    df_qbackend b;
    if (forced_backend(&b)) return df_tflite_qnet_build_on(m, target, b, out, err);
    *out = NULL;
    const df_qbackend first = df_tflite_qnet_backend(m);
    if (first != DF_QBACKEND_XNNPACK) { /* where oneDNN refuses a layer, XNNPACK */
        df_error derr;
        df_status st = df_tflite_qnet_build_on(m, target, first, out, &derr);
        if (st != DF_ERR_UNSUPPORTED) {
            if (st) *err = derr;
            return st;
        }
    }
    return df_tflite_qnet_build_on(m, target, DF_QBACKEND_XNNPACK, out, err);
}
