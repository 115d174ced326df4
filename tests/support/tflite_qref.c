/* TFLite's integer reference kernels, written out plainly (see tflite_qref.h). */
#include "support/tflite_qref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void df_qref_quantize_multiplier(double real, int32_t *multiplier, int *shift) {
    if (real == 0.0) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    double q = frexp(real, shift);
    int64_t q_fixed = (int64_t)round(q * (double)(1LL << 31));
    if (q_fixed == (1LL << 31)) {
        q_fixed /= 2;
        ++*shift;
    }
    if (*shift < -31) {
        *shift = 0;
        q_fixed = 0;
    }
    *multiplier = (int32_t)q_fixed;
}

static int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
}

static int32_t rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1LL << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t df_qref_multiply(int32_t x, int32_t multiplier, int shift) {
    int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return rdbpot(srdhm((int32_t)((int64_t)x * (1LL << left)), multiplier), right);
}

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void df_qref_conv2d(const df_qref_conv *c, const int32_t *x, int32_t *y) {
    /* uint8 per tensor: one multiplier from (double)in_scale * w_scale /
     * out_scale (GetQuantizedConvolutionMultipler); int8 per channel: the
     * same per channel (PopulateConvolutionQuantizationParams). */
    for (int oc = 0; oc < c->out_c; oc++) {
        int32_t mult;
        int shift;
        double real = (double)c->in_scale * (double)c->w_scale[oc] / (double)c->out_scale;
        df_qref_quantize_multiplier(real, &mult, &shift);
        for (int oy = 0; oy < c->oh; oy++)
            for (int ox = 0; ox < c->ow; ox++) {
                int32_t acc = 0;
                for (int ky = 0; ky < c->kh; ky++)
                    for (int kx = 0; kx < c->kw; kx++) {
                        int iy = oy * c->stride_h - c->pad_top + ky;
                        int ix = ox * c->stride_w - c->pad_left + kx;
                        if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                        const int32_t *px = x + ((size_t)iy * c->w + ix) * c->in_c;
                        if (c->depthwise) {
                            int32_t wv = c->weights[((size_t)ky * c->kw + kx) * c->out_c + oc];
                            acc += (px[oc] - c->in_zp) * (wv - c->w_zp);
                        } else {
                            const int32_t *pw =
                                c->weights + (((size_t)oc * c->kh + ky) * c->kw + kx) * c->in_c;
                            for (int ic = 0; ic < c->in_c; ic++)
                                acc += (px[ic] - c->in_zp) * (pw[ic] - c->w_zp);
                        }
                    }
                if (c->bias) acc += c->bias[oc];
                acc = df_qref_multiply(acc, mult, shift) + c->out_zp;
                y[((size_t)oy * c->ow + ox) * c->out_c + oc] = clamp(acc, c->act_min, c->act_max);
            }
    }
}

void df_qref_add(const int32_t *a, const int32_t *b, int32_t *y, int n, float sa, int32_t za,
                 float sb, int32_t zb, float sy, int32_t zy, int32_t act_min, int32_t act_max) {
    const int left_shift = 20;
    double twice_max = (double)(2.0f * (sa > sb ? sa : sb));
    int32_t ma, mb, my;
    int sha, shb, shy;
    df_qref_quantize_multiplier((double)sa / twice_max, &ma, &sha);
    df_qref_quantize_multiplier((double)sb / twice_max, &mb, &shb);
    df_qref_quantize_multiplier(twice_max / (double)((float)(1 << left_shift) * sy), &my, &shy);
    for (int k = 0; k < n; k++) {
        int32_t va = (a[k] - za) * (1 << left_shift), vb = (b[k] - zb) * (1 << left_shift);
        int32_t s = rdbpot(srdhm(va, ma), -sha) + rdbpot(srdhm(vb, mb), -shb);
        int32_t o = rdbpot(srdhm(s, my), -shy) + zy;
        y[k] = clamp(o, act_min, act_max);
    }
}

void df_qref_avgpool_global(const int32_t *x, int32_t *y, int hw, int c, int is_signed,
                            int32_t act_min, int32_t act_max) {
    for (int ch = 0; ch < c; ch++) {
        int32_t acc = 0;
        for (int p = 0; p < hw; p++) acc += x[(size_t)p * c + ch];
        if (!is_signed || acc > 0) acc = (acc + hw / 2) / hw;
        else acc = (acc - hw / 2) / hw;
        y[ch] = clamp(acc, act_min, act_max);
    }
}

void df_qref_mean_hw(const int32_t *x, int32_t *y, int hw, int c, float sx, int32_t zx,
                     float sy, int32_t zy, int32_t qmin, int32_t qmax) {
    int32_t mult;
    int shift;
    df_qref_quantize_multiplier((double)sx / (double)sy, &mult, &shift);
    for (int ch = 0; ch < c; ch++) {
        int32_t acc = 0;
        for (int p = 0; p < hw; p++) acc += x[(size_t)p * c + ch] - zx;
        acc = df_qref_multiply(acc, mult, shift);
        acc = acc > 0 ? (acc + hw / 2) / hw : (acc - hw / 2) / hw;
        y[ch] = clamp(acc + zy, qmin, qmax);
    }
}

/* ---- the graph ---- */

typedef struct ref {
    const df_tflite_model *m;
    int32_t **val;          /* per tensor, malloc'ed when computed */
    char *why;
    int why_size;
} ref;

static int fail(ref *r, int i, const char *what) {
    snprintf(r->why, (size_t)r->why_size, "operator %d (%s): %s", i,
             df_tflite_op_name(r->m->operators[i].builtin), what);
    return -1;
}

static void type_range(int type, int32_t *lo, int32_t *hi) {
    *lo = type == DF_TFLITE_UINT8 ? 0 : -128;
    *hi = *lo + 255;
}

static void act_range(const df_tflite_tensor *t, int act, int32_t *lo, int32_t *hi) {
    type_range(t->type, lo, hi);
    int32_t zp = (int32_t)t->quant.zero_point[0];
    if (act == DF_TFLITE_ACT_RELU || act == DF_TFLITE_ACT_RELU6)
        if (zp > *lo) *lo = zp;
    if (act == DF_TFLITE_ACT_RELU6) {
        int32_t top = zp + (int32_t)round(6.0 / (double)t->quant.scale[0]);
        if (top < *hi) *hi = top;
    }
}

static int32_t *const_ints(const df_tflite_model *m, int t) {
    const df_tflite_tensor *x = &m->tensors[t];
    const uint8_t *p = df_tflite_tensor_data(m, t);
    size_t n = df_tflite_tensor_elements(x);
    int32_t *o = malloc((n ? n : 1) * sizeof *o);
    for (size_t k = 0; k < n && o; k++) {
        if (x->type == DF_TFLITE_UINT8) o[k] = p[k];
        else if (x->type == DF_TFLITE_INT8) o[k] = (int8_t)p[k];
        else memcpy(&o[k], p + 4 * k, 4);
    }
    return o;
}

static int run_conv(ref *r, int i, int depthwise) {
    const df_tflite_model *m = r->m;
    const df_tflite_operator *op = &m->operators[i];
    const df_tflite_tensor *x = &m->tensors[op->inputs[0]], *w = &m->tensors[op->inputs[1]];
    const df_tflite_tensor *y = &m->tensors[op->outputs[0]];
    df_qref_conv c;
    memset(&c, 0, sizeof c);
    c.h = x->shape[1];
    c.w = x->shape[2];
    c.in_c = x->shape[3];
    c.kh = w->shape[1];
    c.kw = w->shape[2];
    c.out_c = depthwise ? w->shape[3] : w->shape[0];
    c.oh = y->shape[1];
    c.ow = y->shape[2];
    c.stride_h = op->options.stride_h;
    c.stride_w = op->options.stride_w;
    c.depthwise = depthwise;
    if (op->options.padding == DF_TFLITE_PAD_SAME) {
        int th = (c.oh - 1) * c.stride_h + c.kh - c.h, tw = (c.ow - 1) * c.stride_w + c.kw - c.w;
        c.pad_top = th > 0 ? th / 2 : 0;
        c.pad_left = tw > 0 ? tw / 2 : 0;
    }
    c.in_zp = (int32_t)x->quant.zero_point[0];
    c.w_zp = (int32_t)w->quant.zero_point[0];
    c.out_zp = (int32_t)y->quant.zero_point[0];
    c.in_scale = x->quant.scale[0];
    c.out_scale = y->quant.scale[0];
    float *ws = malloc((size_t)c.out_c * sizeof *ws);
    for (int k = 0; k < c.out_c; k++) ws[k] = w->quant.scale[w->quant.n > 1 ? k : 0];
    c.w_scale = ws;
    c.per_channel = w->quant.n > 1;
    int32_t *wi = const_ints(m, op->inputs[1]);
    int32_t *bi = op->n_inputs > 2 && op->inputs[2] >= 0 ? const_ints(m, op->inputs[2]) : NULL;
    c.weights = wi;
    c.bias = bi;
    act_range(y, op->options.activation, &c.act_min, &c.act_max);
    r->val[op->outputs[0]] = malloc((size_t)c.oh * c.ow * c.out_c * sizeof(int32_t));
    df_qref_conv2d(&c, r->val[op->inputs[0]], r->val[op->outputs[0]]);
    free(ws);
    free(wi);
    free(bi);
    return 0;
}

static int run_op(ref *r, int i) {
    const df_tflite_model *m = r->m;
    const df_tflite_operator *op = &m->operators[i];
    for (int k = 0; k < op->n_inputs; k++) {
        int t = op->inputs[k];
        if (t >= 0 && !r->val[t] && !df_tflite_tensor_data(m, t))
            return fail(r, i, "input not computed");
    }
    const df_tflite_tensor *x = &m->tensors[op->inputs[0]], *y = &m->tensors[op->outputs[0]];
    size_t n = df_tflite_tensor_elements(y);
    int32_t lo, hi;
    switch (op->builtin) {
    case DF_TFLITE_OP_CONV_2D: return run_conv(r, i, 0);
    case DF_TFLITE_OP_DEPTHWISE_CONV_2D: return run_conv(r, i, 1);
    case DF_TFLITE_OP_ADD: {
        const df_tflite_tensor *b = &m->tensors[op->inputs[1]];
        act_range(y, op->options.activation, &lo, &hi);
        r->val[op->outputs[0]] = malloc(n * sizeof(int32_t));
        df_qref_add(r->val[op->inputs[0]], r->val[op->inputs[1]], r->val[op->outputs[0]], (int)n,
                    x->quant.scale[0], (int32_t)x->quant.zero_point[0], b->quant.scale[0],
                    (int32_t)b->quant.zero_point[0], y->quant.scale[0],
                    (int32_t)y->quant.zero_point[0], lo, hi);
        return 0;
    }
    case DF_TFLITE_OP_AVERAGE_POOL_2D:
        if (op->options.filter_h != x->shape[1] || op->options.filter_w != x->shape[2])
            return fail(r, i, "only global pools");
        act_range(y, op->options.activation, &lo, &hi);
        r->val[op->outputs[0]] = malloc(n * sizeof(int32_t));
        df_qref_avgpool_global(r->val[op->inputs[0]], r->val[op->outputs[0]],
                               x->shape[1] * x->shape[2], x->shape[3], x->type == DF_TFLITE_INT8,
                               lo, hi);
        return 0;
    case DF_TFLITE_OP_MEAN:
        type_range(y->type, &lo, &hi);
        r->val[op->outputs[0]] = malloc(n * sizeof(int32_t));
        df_qref_mean_hw(r->val[op->inputs[0]], r->val[op->outputs[0]], x->shape[1] * x->shape[2],
                        x->shape[3], x->quant.scale[0], (int32_t)x->quant.zero_point[0],
                        y->quant.scale[0], (int32_t)y->quant.zero_point[0], lo, hi);
        return 0;
    case DF_TFLITE_OP_QUANTIZE: {
        int32_t mult;
        int shift;
        df_qref_quantize_multiplier((double)x->quant.scale[0] / (double)y->quant.scale[0], &mult,
                                    &shift);
        type_range(y->type, &lo, &hi);
        int32_t *v = malloc(n * sizeof *v), zx = (int32_t)x->quant.zero_point[0];
        for (size_t k = 0; k < n; k++)
            v[k] = clamp(df_qref_multiply(r->val[op->inputs[0]][k] - zx, mult, shift) +
                             (int32_t)y->quant.zero_point[0], lo, hi);
        r->val[op->outputs[0]] = v;
        return 0;
    }
    default: return fail(r, i, "not in the reference");
    }
}

int df_qref_run(const df_tflite_model *m, int target, const int32_t *input, int32_t *out,
                char *why, int why_size) {
    ref r = {m, calloc(m->n_tensors, sizeof(int32_t *)), why, why_size};
    size_t nin = df_tflite_tensor_elements(&m->tensors[m->inputs[0]]);
    r.val[m->inputs[0]] = malloc(nin * sizeof(int32_t));
    memcpy(r.val[m->inputs[0]], input, nin * sizeof(int32_t));
    int rc = 0;
    for (size_t i = 0; i < m->n_operators && !r.val[target] && rc == 0; i++)
        rc = run_op(&r, (int)i);
    if (rc == 0 && !r.val[target]) rc = fail(&r, 0, "target never computed");
    if (rc == 0)
        memcpy(out, r.val[target], df_tflite_tensor_elements(&m->tensors[target]) * sizeof(int32_t));
    for (size_t t = 0; t < m->n_tensors; t++) free(r.val[t]);
    free(r.val);
    return rc;
}
