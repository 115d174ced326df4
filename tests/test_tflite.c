/*
 * TFLite: the flatbuffer reader (formats/tflite.c) and the graph executor
 * (backbone/tflite_backbone.c).
 *
 * - The three ../shared/models files: op counts, input/output shapes, the
 *   automatically found feature tensor, quantization parameters.
 * - Small models built by the test (tests/support/tflite_builder.c), float
 *   and quantized (uint8 per-tensor, int8 per-channel, int32 biases), run
 *   through the executor and compared with a plain-loop reference written
 *   here from TFLite's semantics (TFLite layouts, SAME/VALID padding per
 *   tensorflow/lite/kernels/padding.h, PAD as its own op, average pooling
 *   without padded cells), at every intermediate tensor.
 *   Tolerance: |got - ref| <= 1e-5 * |ref| + 1e-5 * max|ref|, fp32 with
 *   direct convolution (autotune off): only the summation order differs from
 *   the double-accumulated reference.
 * - Robustness: truncations and seeded byte mutations of a real model and of
 *   a built one are rejected or load cleanly, and what loads also builds (or
 *   is refused) cleanly; run this under the sanitizer build to catch reads
 *   out of bounds.
 * - Photos: top-1 classes of the shipped classifiers, bf16 against fp32.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backbone/auto_cache.h"
#include "backbone/tflite_backbone.h"
#include "engine/net.h"

#include <oneapi/dnnl/dnnl.h>
#include "core/fileio.h"
#include "core/rng.h"
#include "formats/tflite.h"
#include "image/image.h"
#include "support/shared_photos.h"
#include "support/test_support.h"
#include "support/tflite_builder.h"

#define V2_QUANT "mobilenet_v2_1.0_224_quant.tflite"
#define V2_PTQ "tf2_mobilenet_v2_1.0_224_ptq.tflite"
#define V1_EMB "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"


static df_tflite_model *load_shared_model(const char *shared, const char *name) {
    char *path = df_test_shared_path(shared, "models", name);
    df_tflite_model *m = NULL;
    df_error err;
    df_status st = df_tflite_load(path, &m, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    free(path);
    return m;
}

static int count_ops(const df_tflite_model *m, int builtin) {
    int n = 0;
    for (size_t i = 0; i < m->n_operators; i++) n += m->operators[i].builtin == builtin;
    return n;
}

static void assert_shape(const df_tflite_tensor *t, int rank, int d0, int d1, int d2, int d3) {
    const int want[4] = {d0, d1, d2, d3};
    assert_int_equal(t->rank, rank);
    for (int k = 0; k < rank; k++) assert_int_equal(t->shape[k], want[k]);
}

static void assert_close_f(double got, double want, double rtol) {
    if (fabs(got - want) > rtol * fabs(want)) {
        print_message("got %.9g, want %.9g\n", got, want);
        fail();
    }
}

/* ---- the shipped models ---- */

static void test_parse_v2_quant(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    df_tflite_model *m = load_shared_model(shared, V2_QUANT);
    assert_int_equal(m->version, 3);
    assert_int_equal(m->n_operators, 66);
    assert_int_equal(m->n_tensors, 174);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_CONV_2D), 36);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_DEPTHWISE_CONV_2D), 17);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_ADD), 10);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_AVERAGE_POOL_2D), 1);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_RESHAPE), 1);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_SOFTMAX), 1);
    assert_int_equal(m->n_inputs, 1);
    assert_int_equal(m->n_outputs, 1);
    const df_tflite_tensor *in = &m->tensors[m->inputs[0]];
    assert_shape(in, 4, 1, 224, 224, 3);
    assert_int_equal(in->type, DF_TFLITE_UINT8);
    assert_int_equal(in->quant.n, 1);
    assert_true(in->quant.scale[0] == 0.0078125f);
    assert_int_equal(in->quant.zero_point[0], 128);
    const df_tflite_tensor *out = &m->tensors[m->outputs[0]];
    assert_shape(out, 2, 1, 1001, 0, 0);
    assert_true(out->quant.scale[0] == 0.00390625f);
    assert_string_equal(out->name, "MobilenetV2/Predictions/Softmax");

    int f = df_tflite_feature_tensor(m);
    assert_true(f >= 0);
    assert_string_equal(m->tensors[f].name, "MobilenetV2/Logits/AvgPool");
    assert_int_equal(df_tflite_tensor_elements(&m->tensors[f]), 1280);

    /* The first conv: SAME, stride 2, fused ReLU6, uint8 weights OHWI. */
    const df_tflite_operator *op = &m->operators[0];
    assert_int_equal(op->builtin, DF_TFLITE_OP_CONV_2D);
    assert_int_equal(op->options.type, DF_TFLITE_OPTIONS_CONV2D);
    assert_int_equal(op->options.padding, DF_TFLITE_PAD_SAME);
    assert_int_equal(op->options.stride_h, 2);
    assert_int_equal(op->options.stride_w, 2);
    assert_int_equal(op->options.activation, DF_TFLITE_ACT_RELU6);
    assert_int_equal(op->options.dilation_h, 1);
    assert_shape(&m->tensors[op->inputs[1]], 4, 32, 3, 3, 3);
    assert_int_equal(m->tensors[op->inputs[1]].type, DF_TFLITE_UINT8);
    assert_int_equal(m->tensors[op->inputs[2]].type, DF_TFLITE_INT32);
    assert_int_equal(m->operators[1].options.depth_multiplier, 1);

    /* The logits conv: bias scale = input scale x filter scale. */
    int p = df_tflite_producer(m, m->outputs[0]);
    assert_int_equal(m->operators[p].builtin, DF_TFLITE_OP_SOFTMAX);
    assert_true(m->operators[p].options.beta == 1.0f);
    const df_tflite_operator *logits = &m->operators[63];
    assert_int_equal(logits->builtin, DF_TFLITE_OP_CONV_2D);
    assert_int_equal(logits->inputs[0], f);
    const df_tflite_tensor *w = &m->tensors[logits->inputs[1]];
    const df_tflite_tensor *b = &m->tensors[logits->inputs[2]];
    assert_shape(w, 4, 1001, 1, 1, 1280);
    assert_true(w->quant.scale[0] == 0.00169108f || fabs(w->quant.scale[0] - 0.00169108) < 1e-8);
    assert_int_equal(w->quant.zero_point[0], 113);
    assert_close_f(b->quant.scale[0], (double)m->tensors[f].quant.scale[0] * w->quant.scale[0],
                   1e-6);
    /* the pool: VALID 7x7 */
    const df_tflite_operator *pool = &m->operators[62];
    assert_int_equal(pool->builtin, DF_TFLITE_OP_AVERAGE_POOL_2D);
    assert_int_equal(pool->options.padding, DF_TFLITE_PAD_VALID);
    assert_int_equal(pool->options.filter_w, 7);
    assert_int_equal(pool->options.filter_h, 7);
    /* tensor lookup by name and by "#index" */
    assert_int_equal(df_tflite_find_tensor(m, "MobilenetV2/Logits/AvgPool"), f);
    char idx[16];
    snprintf(idx, sizeof idx, "#%d", f);
    assert_int_equal(df_tflite_find_tensor(m, idx), f);
    assert_int_equal(df_tflite_find_tensor(m, "#174"), -1);
    assert_int_equal(df_tflite_find_tensor(m, "no such tensor"), -1);
    df_tflite_destroy(m);
}

static void test_parse_tf2_ptq(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    df_tflite_model *m = load_shared_model(shared, V2_PTQ);
    assert_int_equal(m->n_operators, 68);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_QUANTIZE), 2);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_CONV_2D), 36);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_DEPTHWISE_CONV_2D), 17);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_ADD), 10);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_MEAN), 1);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_RESHAPE), 1);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_SOFTMAX), 1);
    /* CONV_2D is version 3 in this file */
    assert_int_equal(m->opcodes[m->operators[1].opcode_index].version, 3);
    const df_tflite_tensor *in = &m->tensors[m->inputs[0]];
    assert_shape(in, 4, 1, 224, 224, 3);
    assert_int_equal(in->type, DF_TFLITE_UINT8);
    assert_int_equal(in->quant.zero_point[0], 127);
    assert_shape(&m->tensors[m->outputs[0]], 2, 1, 1001, 0, 0);

    /* first conv: int8 per-channel along axis 0, int32 bias at in x filter scale */
    const df_tflite_operator *op = &m->operators[1];
    assert_int_equal(op->builtin, DF_TFLITE_OP_CONV_2D);
    const df_tflite_tensor *x = &m->tensors[op->inputs[0]];
    const df_tflite_tensor *w = &m->tensors[op->inputs[1]];
    const df_tflite_tensor *b = &m->tensors[op->inputs[2]];
    assert_int_equal(x->type, DF_TFLITE_INT8);
    assert_int_equal(w->type, DF_TFLITE_INT8);
    assert_int_equal(w->quant.n, 32);
    assert_int_equal(w->quant.quantized_dimension, 0);
    for (int c = 0; c < 32; c++) {
        assert_int_equal(w->quant.zero_point[c], 0);
        assert_close_f(b->quant.scale[c], (double)x->quant.scale[0] * w->quant.scale[c], 1e-5);
    }
    /* depthwise: per-channel along axis 3 */
    const df_tflite_tensor *dw = &m->tensors[m->operators[2].inputs[1]];
    assert_shape(dw, 4, 1, 3, 3, 32);
    assert_int_equal(dw->quant.n, 32);
    assert_int_equal(dw->quant.quantized_dimension, 3);

    int f = df_tflite_feature_tensor(m);
    assert_int_equal(m->operators[df_tflite_producer(m, f)].builtin, DF_TFLITE_OP_MEAN);
    assert_int_equal(m->operators[df_tflite_producer(m, f)].options.keep_dims, 1);
    assert_int_equal(df_tflite_tensor_elements(&m->tensors[f]), 1280);
    df_tflite_destroy(m);
}

static void test_parse_v1_embedding(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    df_tflite_model *m = load_shared_model(shared, V1_EMB);
    assert_int_equal(m->n_operators, 28);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_CONV_2D), 14);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_DEPTHWISE_CONV_2D), 13);
    assert_int_equal(count_ops(m, DF_TFLITE_OP_AVERAGE_POOL_2D), 1);
    assert_shape(&m->tensors[m->inputs[0]], 4, 1, 224, 224, 3);
    assert_shape(&m->tensors[m->outputs[0]], 4, 1, 1, 1, 1024);
    /* the feature is the model output itself */
    assert_int_equal(df_tflite_feature_tensor(m), m->outputs[0]);
    df_tflite_destroy(m);
}

/* ---- a small model built here ---- */

enum {
    T_IN, T_W0, T_B0, T_A0, T_W1, T_B1, T_A1, T_W2, T_B2, T_A2, T_SUM, T_PADS, T_PADDED, T_W3,
    T_A3, T_AVG, T_MAX, T_AXES, T_MEAN, T_W4, T_B4, T_LOGITS, T_SHAPE, T_FLAT, T_PROB, T_COUNT
};
enum { IN_H = 10, IN_W = 7, IN_C = 3 };

typedef struct small_model {
    df_tfb_tensor t[T_COUNT];
    df_tfb_op op[12];
    int n_ops;
    /* real-valued weights, as the reference uses them (TFLite layouts) */
    float w0[4 * 3 * 3 * 3], b0[4], w1[1 * 3 * 3 * 8], b1[8], w2[4 * 1 * 1 * 8], b2[4];
    float w3[6 * 2 * 2 * 4], w4[5 * 6], b4[5];
    /* stored data */
    uint8_t q[T_COUNT][1024];
    float scale[T_COUNT][8];
    int64_t zp[T_COUNT][8];
    int32_t pads[8], axes[2], shape[2];
} small_model;

static void tensor4(small_model *s, int i, const char *name, int type, int d0, int d1, int d2,
                    int d3) {
    df_tfb_tensor *t = &s->t[i];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->type = type;
    t->rank = 4;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->shape[3] = d3;
}

static void tensor1(small_model *s, int i, const char *name, int type, int rank, int d0, int d1) {
    tensor4(s, i, name, type, d0, d1, 0, 0);
    s->t[i].rank = rank;
}

static void quant(small_model *s, int i, int n, int dim) {
    s->t[i].n_quant = n;
    s->t[i].scale = s->scale[i];
    s->t[i].zero_point = s->zp[i];
    s->t[i].quantized_dimension = dim;
}

/* Fills weights for tensor i. Float models store the values; quantized ones
 * store random q with a per-tensor or per-channel (dim, channels) scale and
 * the reference gets scale * (q - zp). */
static void weights(small_model *s, df_rng *r, int i, float *real, int n, int qtype, int channels,
                    int dim, const int32_t *shape) {
    df_tfb_tensor *t = &s->t[i];
    if (qtype == DF_TFLITE_FLOAT32) {
        for (int k = 0; k < n; k++) real[k] = df_rng_uniform_range(r, -1.0f, 1.0f);
        memcpy(s->q[i], real, (size_t)n * 4);
        t->data = s->q[i];
        t->data_size = (size_t)n * 4;
        return;
    }
    t->type = qtype;
    quant(s, i, channels, dim);
    for (int c = 0; c < channels; c++) {
        s->scale[i][c] = df_rng_uniform_range(r, 0.002f, 0.01f);
        s->zp[i][c] = qtype == DF_TFLITE_UINT8 ? 100 + (int)df_rng_below(r, 50)
                                                : (int)df_rng_below(r, 7) - 3;
    }
    size_t inner = 1;
    for (int k = dim + 1; k < 4; k++) inner *= (size_t)shape[k];
    for (int k = 0; k < n; k++) {
        int c = channels > 1 ? (int)(((size_t)k / inner) % (size_t)channels) : 0;
        int q = (int)df_rng_below(r, 256);
        s->q[i][k] = (uint8_t)q;
        int qv = qtype == DF_TFLITE_INT8 ? (int)(int8_t)q : q;
        real[k] = s->scale[i][c] * (float)(qv - s->zp[i][c]);
    }
    t->data = s->q[i];
    t->data_size = (size_t)n;
}

/* Bias i of n channels for a conv whose input is tensor x and filter w. */
static void bias(small_model *s, df_rng *r, int i, float *real, int n, int quantized, int x, int w) {
    df_tfb_tensor *t = &s->t[i];
    if (!quantized) {
        weights(s, r, i, real, n, DF_TFLITE_FLOAT32, 1, 0, NULL);
        return;
    }
    t->type = DF_TFLITE_INT32;
    quant(s, i, n, 0);
    int32_t *q = (int32_t *)(void *)s->q[i];
    for (int c = 0; c < n; c++) {
        double sx = s->scale[x][0], sw = s->scale[w][s->t[w].n_quant > 1 ? c : 0];
        s->scale[i][c] = (float)(sx * sw);
        s->zp[i][c] = 0;
        q[c] = (int32_t)df_rng_below(r, 4001) - 2000;
        real[c] = (float)(sx * sw * q[c]);
    }
    t->data = s->q[i];
    t->data_size = (size_t)n * 4;
}

static df_tfb_op *new_op(small_model *s, int builtin, int opt_type) {
    df_tfb_op *o = &s->op[s->n_ops++];
    memset(o, 0, sizeof *o);
    o->builtin = builtin;
    o->options_type = opt_type;
    o->n_outputs = 1;
    o->new_shape_n = -1;
    return o;
}

static void io(df_tfb_op *o, int n_in, int a, int b, int c, int out) {
    o->n_inputs = n_in;
    o->inputs[0] = a;
    o->inputs[1] = b;
    o->inputs[2] = c;
    o->outputs[0] = out;
}

/* quantized: 0 = float32 weights; 1 = uint8 per-tensor / int8 per-channel /
 * int32 biases, quantized activations. */
static void small_model_init(small_model *s, int quantized, uint64_t seed) {
    memset(s, 0, sizeof *s);
    df_rng r;
    df_rng_seed(&r, seed, 11);
    int act_type = quantized ? DF_TFLITE_UINT8 : DF_TFLITE_FLOAT32;
    tensor4(s, T_IN, "input", act_type, 1, IN_H, IN_W, IN_C);
    tensor4(s, T_A0, "a0", act_type, 1, 5, 4, 4);
    tensor4(s, T_A1, "a1", act_type, 1, 5, 4, 8);
    tensor4(s, T_A2, "a2", act_type, 1, 5, 4, 4);
    tensor4(s, T_SUM, "sum", act_type, 1, 5, 4, 4);
    tensor4(s, T_PADDED, "padded", act_type, 1, 6, 5, 4);
    tensor4(s, T_A3, "a3", act_type, 1, 5, 4, 6);
    tensor4(s, T_AVG, "avg", act_type, 1, 3, 2, 6);
    tensor4(s, T_MAX, "max", act_type, 1, 2, 1, 6);
    tensor4(s, T_MEAN, "features", act_type, 1, 1, 1, 6);
    tensor1(s, T_LOGITS, "logits", act_type, 2, 1, 5);
    tensor1(s, T_FLAT, "flat", act_type, 2, 1, 5);
    tensor1(s, T_PROB, "prob", act_type, 2, 1, 5);
    if (quantized) {
        const int acts[] = {T_IN, T_A0, T_A1, T_A2, T_SUM, T_PADDED, T_A3, T_AVG, T_MAX, T_MEAN,
                            T_LOGITS, T_FLAT, T_PROB};
        for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
            quant(s, acts[k], 1, 0);
            s->scale[acts[k]][0] = 0.02f + 0.001f * (float)k;
            s->zp[acts[k]][0] = 128;
        }
        s->scale[T_IN][0] = 1.0f / 128.0f;
    }
    const int32_t sh_w0[4] = {4, 3, 3, 3}, sh_w1[4] = {1, 3, 3, 8}, sh_w2[4] = {4, 1, 1, 8};
    const int32_t sh_w3[4] = {6, 2, 2, 4}, sh_w4[4] = {5, 6, 1, 1};
    tensor4(s, T_W0, "w0", DF_TFLITE_FLOAT32, 4, 3, 3, 3);
    tensor1(s, T_B0, "b0", DF_TFLITE_FLOAT32, 1, 4, 0);
    tensor4(s, T_W1, "w1", DF_TFLITE_FLOAT32, 1, 3, 3, 8);
    tensor1(s, T_B1, "b1", DF_TFLITE_FLOAT32, 1, 8, 0);
    tensor4(s, T_W2, "w2", DF_TFLITE_FLOAT32, 4, 1, 1, 8);
    tensor1(s, T_B2, "b2", DF_TFLITE_FLOAT32, 1, 4, 0);
    tensor4(s, T_W3, "w3", DF_TFLITE_FLOAT32, 6, 2, 2, 4);
    tensor1(s, T_W4, "w4", DF_TFLITE_FLOAT32, 2, 5, 6);
    tensor1(s, T_B4, "b4", DF_TFLITE_FLOAT32, 1, 5, 0);
    weights(s, &r, T_W0, s->w0, 108, quantized ? DF_TFLITE_UINT8 : 0, 1, 0, sh_w0);
    weights(s, &r, T_W1, s->w1, 72, quantized ? DF_TFLITE_INT8 : 0, quantized ? 8 : 1, 3, sh_w1);
    weights(s, &r, T_W2, s->w2, 32, quantized ? DF_TFLITE_INT8 : 0, quantized ? 4 : 1, 0, sh_w2);
    weights(s, &r, T_W3, s->w3, 96, quantized ? DF_TFLITE_UINT8 : 0, 1, 0, sh_w3);
    weights(s, &r, T_W4, s->w4, 30, quantized ? DF_TFLITE_INT8 : 0, 1, 0, sh_w4);
    bias(s, &r, T_B0, s->b0, 4, quantized, T_IN, T_W0);
    bias(s, &r, T_B1, s->b1, 8, quantized, T_A0, T_W1);
    bias(s, &r, T_B2, s->b2, 4, quantized, T_A1, T_W2);
    bias(s, &r, T_B4, s->b4, 5, quantized, T_MEAN, T_W4);

    const int32_t pads[8] = {0, 0, 1, 0, 0, 1, 0, 0};
    memcpy(s->pads, pads, sizeof pads);
    tensor1(s, T_PADS, "paddings", DF_TFLITE_INT32, 2, 4, 2);
    s->t[T_PADS].data = s->pads;
    s->t[T_PADS].data_size = sizeof s->pads;
    s->axes[0] = 1;
    s->axes[1] = -2; /* = 2 */
    tensor1(s, T_AXES, "axes", DF_TFLITE_INT32, 1, 2, 0);
    s->t[T_AXES].data = s->axes;
    s->t[T_AXES].data_size = sizeof s->axes;
    s->shape[0] = 1;
    s->shape[1] = 5;
    tensor1(s, T_SHAPE, "shape", DF_TFLITE_INT32, 1, 2, 0);
    s->t[T_SHAPE].data = s->shape;
    s->t[T_SHAPE].data_size = sizeof s->shape;

    df_tfb_op *o = new_op(s, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D);
    io(o, 3, T_IN, T_W0, T_B0, T_A0);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 2;
    o->activation = DF_TFLITE_ACT_RELU6;
    o = new_op(s, DF_TFLITE_OP_DEPTHWISE_CONV_2D, DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D);
    io(o, 3, T_A0, T_W1, T_B1, T_A1);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 1;
    o->depth_multiplier = 2;
    o->activation = DF_TFLITE_ACT_RELU;
    o = new_op(s, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D);
    io(o, 3, T_A1, T_W2, T_B2, T_A2);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    o = new_op(s, DF_TFLITE_OP_ADD, DF_TFLITE_OPTIONS_ADD);
    io(o, 2, T_A2, T_A0, 0, T_SUM);
    o = new_op(s, DF_TFLITE_OP_PAD, 0);
    io(o, 2, T_SUM, T_PADS, 0, T_PADDED);
    o = new_op(s, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D);
    io(o, 3, T_PADDED, T_W3, -1, T_A3);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    o = new_op(s, DF_TFLITE_OP_AVERAGE_POOL_2D, DF_TFLITE_OPTIONS_POOL2D);
    io(o, 1, T_A3, 0, 0, T_AVG);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 2;
    o->filter_h = o->filter_w = 3;
    o = new_op(s, DF_TFLITE_OP_MAX_POOL_2D, DF_TFLITE_OPTIONS_POOL2D);
    io(o, 1, T_AVG, 0, 0, T_MAX);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    o->filter_h = o->filter_w = 2;
    o = new_op(s, DF_TFLITE_OP_MEAN, DF_TFLITE_OPTIONS_REDUCER);
    io(o, 2, T_MAX, T_AXES, 0, T_MEAN);
    o->keep_dims = 1;
    o = new_op(s, DF_TFLITE_OP_FULLY_CONNECTED, DF_TFLITE_OPTIONS_FULLY_CONNECTED);
    io(o, 3, T_MEAN, T_W4, T_B4, T_LOGITS);
    o = new_op(s, DF_TFLITE_OP_RESHAPE, DF_TFLITE_OPTIONS_RESHAPE);
    io(o, 2, T_LOGITS, T_SHAPE, 0, T_FLAT);
    o->new_shape_n = 2;
    o->new_shape[0] = 1;
    o->new_shape[1] = 5;
    o = new_op(s, DF_TFLITE_OP_SOFTMAX, DF_TFLITE_OPTIONS_SOFTMAX);
    io(o, 1, T_FLAT, 0, 0, T_PROB);
    o->beta = 0.5f;
}

static uint8_t *small_model_bytes(const small_model *s, int deprecated_codes, size_t *size) {
    const int32_t in[1] = {T_IN}, out[1] = {T_PROB};
    return df_tfb_model(s->t, T_COUNT, s->op, s->n_ops, in, 1, out, 1, deprecated_codes, size);
}

static df_tflite_model *parse_ok(const uint8_t *data, size_t size) {
    df_tflite_model *m = NULL;
    df_error err;
    df_status st = df_tflite_parse(data, size, "built.tflite", &m, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    return m;
}

static void test_parse_built_model(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 1, 5);
    for (int dep = 0; dep < 2; dep++) {
        size_t size;
        uint8_t *bytes = small_model_bytes(&s, dep, &size);
        df_tflite_model *m = parse_ok(bytes, size);
        free(bytes);
        assert_int_equal(m->n_tensors, T_COUNT);
        assert_int_equal(m->n_operators, 12);
        assert_int_equal(m->n_opcodes, 10);
        assert_int_equal(m->n_buffers, 1 + 12); /* sentinel + 9 weights + pads, axes, shape */
        assert_null(m->buffers[0].data);
        for (int i = 0; i < T_COUNT; i++) {
            assert_string_equal(m->tensors[i].name, s.t[i].name);
            assert_int_equal(m->tensors[i].type, s.t[i].type);
            assert_int_equal(m->tensors[i].rank, s.t[i].rank);
            for (int k = 0; k < s.t[i].rank; k++)
                assert_int_equal(m->tensors[i].shape[k], s.t[i].shape[k]);
            assert_int_equal(m->tensors[i].quant.n, s.t[i].n_quant);
            for (int k = 0; k < s.t[i].n_quant; k++) {
                assert_true(m->tensors[i].quant.scale[k] == s.t[i].scale[k]);
                assert_int_equal(m->tensors[i].quant.zero_point[k], s.t[i].zero_point[k]);
            }
            if (s.t[i].n_quant)
                assert_int_equal(m->tensors[i].quant.quantized_dimension,
                                 s.t[i].quantized_dimension);
            const uint8_t *d = df_tflite_tensor_data(m, i);
            if (s.t[i].data) {
                assert_non_null(d);
                assert_memory_equal(d, s.t[i].data, s.t[i].data_size);
            } else {
                assert_null(d);
            }
        }
        for (int i = 0; i < 12; i++) {
            const df_tflite_operator *op = &m->operators[i];
            const df_tfb_op *o = &s.op[i];
            assert_int_equal(op->builtin, o->builtin);
            assert_int_equal(op->n_inputs, o->n_inputs);
            for (int k = 0; k < o->n_inputs; k++) assert_int_equal(op->inputs[k], o->inputs[k]);
            assert_int_equal(op->outputs[0], o->outputs[0]);
            assert_int_equal(op->options.type, o->options_type);
            if (o->options_type == DF_TFLITE_OPTIONS_CONV2D ||
                o->options_type == DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D ||
                o->options_type == DF_TFLITE_OPTIONS_POOL2D) {
                assert_int_equal(op->options.padding, o->padding);
                assert_int_equal(op->options.stride_h, o->stride_h);
                assert_int_equal(op->options.stride_w, o->stride_w);
                assert_int_equal(op->options.activation, o->activation);
                assert_int_equal(op->options.dilation_h, 1); /* absent: schema default */
            }
        }
        assert_int_equal(m->operators[1].options.depth_multiplier, 2);
        assert_int_equal(m->operators[6].options.filter_h, 3);
        assert_int_equal(m->operators[8].options.keep_dims, 1);
        assert_int_equal(m->operators[10].options.new_shape_n, 2);
        assert_int_equal(m->operators[10].options.new_shape[1], 5);
        assert_true(m->operators[11].options.beta == 0.5f);
        assert_int_equal(df_tflite_feature_tensor(m), T_MEAN);
        assert_int_equal(df_tflite_producer(m, T_PROB), 11);
        assert_int_equal(df_tflite_producer(m, T_W0), -1);
        df_tflite_destroy(m);
    }
}

/* builtin_code beyond the int8 range: op = max(builtin_code, deprecated). */
static void test_parse_extended_opcode(void **state) {
    (void)state;
    df_tfb_tensor t[2];
    memset(t, 0, sizeof t);
    t[0].name = "x";
    t[0].rank = 4;
    t[0].shape[0] = 1;
    t[0].shape[1] = t[0].shape[2] = t[0].shape[3] = 2;
    t[1] = t[0];
    t[1].name = "y";
    df_tfb_op op;
    memset(&op, 0, sizeof op);
    op.builtin = 150; /* GELU: written as deprecated 127 + builtin_code 150 */
    op.n_inputs = op.n_outputs = 1;
    op.outputs[0] = 1;
    const int32_t in[1] = {0}, out[1] = {1};
    size_t size;
    uint8_t *bytes = df_tfb_model(t, 2, &op, 1, in, 1, out, 1, 0, &size);
    df_tflite_model *m = parse_ok(bytes, size);
    assert_int_equal(m->opcodes[0].builtin, 150);
    assert_int_equal(m->operators[0].builtin, 150);
    /* the executor names the op it cannot run */
    df_backbone_options opt = df_backbone_options_default();
    opt.max_batch = 0;
    df_tflite_graph *g = NULL;
    df_error err;
    assert_int_equal(df_tflite_graph_create(m, 1, &opt, &g, &err), DF_ERR_UNSUPPORTED);
    assert_null(g);
    assert_non_null(strstr(err.message, "builtin op 150"));
    assert_non_null(strstr(err.message, "built.tflite"));
    df_tflite_destroy(m);
    free(bytes);
}

/* ---- reference, written from TFLite's semantics ---- */

typedef struct fmap {
    int h, w, c;
    float *v; /* h x w x c */
} fmap;

static fmap fm_new(int h, int w, int c) {
    fmap f = {h, w, c, calloc((size_t)h * w * c, sizeof(float))};
    assert_non_null(f.v);
    return f;
}

static void same_or_valid(int padding, int in, int k, int stride, int *out, int *before) {
    if (padding == DF_TFLITE_PAD_SAME) {
        *out = (in + stride - 1) / stride;
        int total = (*out - 1) * stride + k - in;
        *before = total > 0 ? total / 2 : 0;
    } else {
        *out = (in - k) / stride + 1;
        *before = 0;
    }
}

static float act_ref(double v, int act) {
    if (act == DF_TFLITE_ACT_RELU || act == DF_TFLITE_ACT_RELU6) v = v < 0 ? 0 : v;
    if (act == DF_TFLITE_ACT_RELU6) v = v > 6 ? 6 : v;
    return (float)v;
}

/* dense: w [O][kh][kw][C]; depthwise: w [1][kh][kw][C*mult] */
static fmap ref_conv(fmap x, const float *w, const float *b, int o_c, int kh, int kw, int stride,
                     int padding, int depthwise, int act) {
    int oh, ow, pt, pl;
    same_or_valid(padding, x.h, kh, stride, &oh, &pt);
    same_or_valid(padding, x.w, kw, stride, &ow, &pl);
    fmap y = fm_new(oh, ow, o_c);
    int mult = depthwise ? o_c / x.c : 0;
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
            for (int o = 0; o < o_c; o++) {
                double s = b ? b[o] : 0.0;
                for (int u = 0; u < kh; u++)
                    for (int v = 0; v < kw; v++) {
                        int yy = i * stride - pt + u, xx = j * stride - pl + v;
                        if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w) continue;
                        const float *px = x.v + ((size_t)yy * x.w + xx) * x.c;
                        if (depthwise) {
                            s += (double)px[o / mult] * w[((size_t)u * kw + v) * o_c + o];
                        } else {
                            for (int c = 0; c < x.c; c++)
                                s += (double)px[c] * w[(((size_t)o * kh + u) * kw + v) * x.c + c];
                        }
                    }
                y.v[((size_t)i * ow + j) * o_c + o] = act_ref(s, act);
            }
    return y;
}

static fmap ref_pool(fmap x, int k, int stride, int padding, int is_max) {
    int oh, ow, pt, pl;
    same_or_valid(padding, x.h, k, stride, &oh, &pt);
    same_or_valid(padding, x.w, k, stride, &ow, &pl);
    fmap y = fm_new(oh, ow, x.c);
    for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
            for (int c = 0; c < x.c; c++) {
                double s = 0.0, mx = -INFINITY;
                int n = 0;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        int yy = i * stride - pt + u, xx = j * stride - pl + v;
                        if (yy < 0 || yy >= x.h || xx < 0 || xx >= x.w) continue;
                        double e = x.v[((size_t)yy * x.w + xx) * x.c + c];
                        s += e;
                        mx = e > mx ? e : mx;
                        n++;
                    }
                y.v[((size_t)i * ow + j) * x.c + c] = (float)(is_max ? mx : s / n);
            }
    return y;
}

/* All intermediate tensors of the small model for one image. */
typedef struct small_ref {
    fmap t[T_COUNT];
} small_ref;

static void small_ref_run(const small_model *s, const float *image, small_ref *r) {
    memset(r, 0, sizeof *r);
    fmap x = fm_new(IN_H, IN_W, IN_C);
    memcpy(x.v, image, sizeof(float) * IN_H * IN_W * IN_C);
    r->t[T_IN] = x;
    r->t[T_A0] = ref_conv(x, s->w0, s->b0, 4, 3, 3, 2, DF_TFLITE_PAD_SAME, 0, DF_TFLITE_ACT_RELU6);
    r->t[T_A1] = ref_conv(r->t[T_A0], s->w1, s->b1, 8, 3, 3, 1, DF_TFLITE_PAD_SAME, 1,
                          DF_TFLITE_ACT_RELU);
    r->t[T_A2] = ref_conv(r->t[T_A1], s->w2, s->b2, 4, 1, 1, 1, DF_TFLITE_PAD_VALID, 0, 0);
    fmap sum = fm_new(5, 4, 4);
    for (int k = 0; k < 80; k++) sum.v[k] = r->t[T_A2].v[k] + r->t[T_A0].v[k];
    r->t[T_SUM] = sum;
    /* PAD: one row on top, one column on the right */
    fmap padded = fm_new(6, 5, 4);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            memcpy(padded.v + ((size_t)(i + 1) * 5 + j) * 4, sum.v + ((size_t)i * 4 + j) * 4,
                   4 * sizeof(float));
    r->t[T_PADDED] = padded;
    r->t[T_A3] = ref_conv(padded, s->w3, NULL, 6, 2, 2, 1, DF_TFLITE_PAD_VALID, 0, 0);
    r->t[T_AVG] = ref_pool(r->t[T_A3], 3, 2, DF_TFLITE_PAD_SAME, 0);
    r->t[T_MAX] = ref_pool(r->t[T_AVG], 2, 1, DF_TFLITE_PAD_VALID, 1);
    fmap mean = fm_new(1, 1, 6);
    for (int c = 0; c < 6; c++) mean.v[c] = (r->t[T_MAX].v[c] + r->t[T_MAX].v[6 + c]) / 2;
    r->t[T_MEAN] = mean;
    fmap logits = fm_new(1, 1, 5);
    for (int o = 0; o < 5; o++) {
        double a = s->b4[o];
        for (int k = 0; k < 6; k++) a += (double)s->w4[o * 6 + k] * mean.v[k];
        logits.v[o] = (float)a;
    }
    r->t[T_LOGITS] = logits;
    fmap flat = fm_new(1, 1, 5); /* RESHAPE */
    memcpy(flat.v, logits.v, 5 * sizeof(float));
    r->t[T_FLAT] = flat;
    fmap prob = fm_new(1, 1, 5);
    double z = 0;
    for (int o = 0; o < 5; o++) z += exp(0.5 * logits.v[o]);
    for (int o = 0; o < 5; o++) prob.v[o] = (float)(exp(0.5 * logits.v[o]) / z);
    r->t[T_PROB] = prob;
}

static void small_ref_free(small_ref *r) {
    for (int i = 0; i < T_COUNT; i++) free(r->t[i].v);
}

static void assert_close_vec(const float *got, const float *ref, size_t n, const char *what) {
    double mx = 0;
    for (size_t k = 0; k < n; k++) mx = fabs(ref[k]) > mx ? fabs(ref[k]) : mx;
    for (size_t k = 0; k < n; k++) {
        double tol = 1e-5 * fabs(ref[k]) + 1e-5 * mx;
        if (!(fabs(got[k] - ref[k]) <= tol)) {
            print_message("%s: [%zu] got %.8g, want %.8g (tol %.3g)\n", what, k, got[k], ref[k],
                          tol);
            fail();
        }
    }
}

static df_backbone_options test_options(int max_batch) {
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.max_batch = max_batch;
    return o;
}

static void check_small_model(int quantized, uint64_t seed) {
    small_model s;
    small_model_init(&s, quantized, seed);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    df_tflite_model *m = parse_ok(bytes, size);
    free(bytes);

    enum { N = 3 };
    df_rng r;
    df_rng_seed(&r, seed, 12);
    float *x = malloc(sizeof(float) * N * IN_H * IN_W * IN_C);
    assert_non_null(x);
    for (int k = 0; k < N * IN_H * IN_W * IN_C; k++) x[k] = df_rng_uniform_range(&r, -1.0f, 1.0f);
    small_ref ref[N];
    for (int n = 0; n < N; n++) small_ref_run(&s, x + (size_t)n * IN_H * IN_W * IN_C, &ref[n]);

    /* every intermediate tensor, cut by "#index", at batch 2 (so 3 images
     * take two chunks) */
    const int cuts[] = {T_A0, T_A1, T_A2, T_SUM, T_A3, T_AVG, T_MAX, T_MEAN, T_LOGITS, T_FLAT,
                        T_PROB};
    df_error err;
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        char name[16], what[64];
        snprintf(name, sizeof name, "#%d", cuts[k]);
        df_backbone_options o = test_options(2);
        o.cut_tensor = name;
        df_backbone *bb = NULL;
        df_status st = df_tflite_backbone_from_model(m, "small", &o, &bb, &err);
        if (st) print_message("cut %s: %s\n", name, err.message);
        assert_int_equal(st, DF_OK);
        size_t dim = df_backbone_feature_dim(bb);
        const fmap *want = &ref[0].t[cuts[k]];
        assert_int_equal(dim, (size_t)want->h * want->w * want->c);
        float *y = malloc(sizeof(float) * N * dim);
        assert_non_null(y);
        assert_int_equal(df_backbone_run(bb, x, N, y, &err), DF_OK);
        for (int n = 0; n < N; n++) {
            snprintf(what, sizeof what, "%s model, tensor %s, image %d",
                     quantized ? "quantized" : "float", s.t[cuts[k]].name, n);
            assert_close_vec(y + (size_t)n * dim, ref[n].t[cuts[k]].v, dim, what);
        }
        free(y);
        df_backbone_destroy(bb);
    }

    /* the backbone without a cut stops at the pooled feature */
    df_backbone_options o = test_options(4);
    df_backbone *bb = NULL;
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_OK);
    assert_int_equal(df_backbone_feature_dim(bb), 6);
    assert_string_equal(df_backbone_name(bb), "small");
    assert_string_equal(df_backbone_kind(bb), "tflite");
    assert_int_equal(df_backbone_resize_method(bb), DF_RESIZE_BILINEAR);
    assert_int_equal(df_backbone_preprocess_mode(bb), DF_PREPROCESS_TFLITE);
    assert_int_equal(df_backbone_precision(bb), DF_PRECISION_FP32);
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    assert_int_equal(h, IN_H);
    assert_int_equal(w, IN_W);
    df_backbone_destroy(bb);

    /* the classifier = the whole graph */
    df_tflite_classifier *c = NULL;
    o = test_options(N);
    assert_int_equal(df_tflite_classifier_from_model(m, &o, &c, &err), DF_OK);
    assert_int_equal(df_tflite_classifier_classes(c), 5);
    float probs[N * 5];
    assert_int_equal(df_tflite_classifier_run(c, x, N, probs, &err), DF_OK);
    for (int n = 0; n < N; n++) assert_close_vec(probs + 5 * n, ref[n].t[T_PROB].v, 5, "probs");
    df_tflite_classifier_destroy(c);

    for (int n = 0; n < N; n++) small_ref_free(&ref[n]);
    free(x);
    df_tflite_destroy(m);
}

static void test_executor_float_model(void **state) {
    (void)state;
    check_small_model(0, 21);
}

static void test_executor_quantized_model(void **state) {
    (void)state;
    check_small_model(1, 22);
}

static void test_preprocess(void **state) {
    (void)state;
    df_image img;
    df_error err;
    assert_int_equal(df_image_alloc(&img, 2, 1, &err), DF_OK);
    const uint8_t px[6] = {0, 1, 127, 128, 200, 255};
    memcpy(img.pixels, px, 6);
    float out[6];
    df_tflite_input in = {1, 2, 3, DF_TFLITE_UINT8, 0.0078125f, 128};
    assert_int_equal(df_tflite_preprocess(&in, &img, out, &err), DF_OK);
    for (int k = 0; k < 6; k++) assert_true(out[k] == (float)((px[k] - 128) * 0.0078125));
    /* int8 input: q = pixel - 128 */
    df_tflite_input in8 = {1, 2, 3, DF_TFLITE_INT8, 0.5f, -1};
    assert_int_equal(df_tflite_preprocess(&in8, &img, out, &err), DF_OK);
    for (int k = 0; k < 6; k++) assert_true(out[k] == 0.5f * (float)(px[k] - 128 + 1));
    df_tflite_input inf = {1, 2, 3, DF_TFLITE_FLOAT32, 1.0f, 0};
    assert_int_equal(df_tflite_preprocess(&inf, &img, out, &err), DF_OK);
    assert_true(out[0] == -1.0f);
    assert_true(out[5] == 1.0f);
    df_tflite_input wrong = {2, 2, 3, DF_TFLITE_UINT8, 1.0f, 0};
    assert_int_equal(df_tflite_preprocess(&wrong, &img, out, &err), DF_ERR_SHAPE);
    df_image_free(&img);
}

static void test_executor_errors(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 0, 7);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    df_tflite_model *m = parse_ok(bytes, size);
    free(bytes);
    df_error err;
    df_backbone *bb = NULL;
    df_backbone_options o = test_options(0);

    o.cut_tensor = "no such tensor";
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "no such tensor"));
    o.cut_tensor = "padded"; /* a PAD no convolution has absorbed yet */
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_UNSUPPORTED);
    o.cut_tensor = "w0"; /* a constant */
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_INVALID_ARG);
    o.cut_tensor = "input";
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_INVALID_ARG);
    o.cut_tensor = NULL;
    o.preprocess = DF_PREPROCESS_CAFFE;
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "'tflite' preprocessing"));
    assert_null(bb);

    /* a model whose output is not a softmax is not a classifier */
    m->outputs[0] = T_LOGITS;
    df_tflite_classifier *c = NULL;
    o = test_options(0);
    assert_int_equal(df_tflite_classifier_from_model(m, &o, &c, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "FULLY_CONNECTED"));
    m->outputs[0] = T_PROB;

    /* dilation is refused with the operator named */
    m->operators[0].options.dilation_h = 2;
    o.cut_tensor = "a0";
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "operator 0 (CONV_2D)"));
    assert_non_null(strstr(err.message, "dilation"));
    m->operators[0].options.dilation_h = 1;
    /* an output shape that contradicts the computed one */
    m->tensors[T_A0].shape[1] = 4;
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_ERR_SHAPE);
    m->tensors[T_A0].shape[1] = 5;
    /* ops off the path to the cut do not matter */
    m->operators[11].builtin = 150;
    o.cut_tensor = NULL;
    assert_int_equal(df_tflite_backbone_from_model(m, "small", &o, &bb, &err), DF_OK);
    df_backbone_destroy(bb);
    df_tflite_destroy(m);
}

/* A 1x1 CONV_2D after the hand-over to the host (behind a RESHAPE) runs as
 * a dense layer with its fused activation. */
static void test_host_conv(void **state) {
    (void)state;
    const float w[4 * 3] = {1, 0, 0, 0, 1, 0, 0.5f, 0.5f, 0.5f, -1, -1, -1};
    const float b[4] = {0.25f, -0.5f, 0, 0.125f};
    const int32_t axes[2] = {1, 2}, shape[4] = {1, 1, 1, 3};
    df_tfb_tensor t[7];
    memset(t, 0, sizeof t);
    const char *names[7] = {"x", "axes", "m", "shape", "r", "w", "b"};
    const int ranks[7] = {4, 1, 4, 1, 4, 4, 1};
    const int32_t shapes[7][4] = {{1, 3, 2, 3}, {2}, {1, 1, 1, 3}, {4}, {1, 1, 1, 3},
                                  {4, 1, 1, 3}, {4}};
    for (int i = 0; i < 7; i++) {
        t[i].name = names[i];
        t[i].rank = ranks[i];
        memcpy(t[i].shape, shapes[i], sizeof shapes[i]);
    }
    t[1].type = t[3].type = DF_TFLITE_INT32;
    t[1].data = axes;
    t[1].data_size = sizeof axes;
    t[3].data = shape;
    t[3].data_size = sizeof shape;
    t[5].data = w;
    t[5].data_size = sizeof w;
    t[6].data = b;
    t[6].data_size = sizeof b;
    df_tfb_tensor y = t[2];
    y.name = "y";
    y.shape[3] = 4;
    df_tfb_tensor all[8];
    memcpy(all, t, sizeof t);
    all[7] = y;
    df_tfb_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_MEAN, .n_inputs = 2, .inputs = {0, 1},
                         .n_outputs = 1, .outputs = {2}, .options_type = DF_TFLITE_OPTIONS_REDUCER,
                         .keep_dims = 1};
    ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_RESHAPE, .n_inputs = 2, .inputs = {2, 3},
                         .n_outputs = 1, .outputs = {4}, .new_shape_n = -1};
    ops[2] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D, .n_inputs = 3, .inputs = {4, 5, 6},
                         .n_outputs = 1, .outputs = {7}, .options_type = DF_TFLITE_OPTIONS_CONV2D,
                         .padding = DF_TFLITE_PAD_SAME, .stride_w = 1, .stride_h = 1,
                         .activation = DF_TFLITE_ACT_RELU};
    const int32_t in[1] = {0}, out[1] = {7};
    size_t size;
    uint8_t *bytes = df_tfb_model(all, 8, ops, 3, in, 1, out, 1, 0, &size);
    df_tflite_model *m = parse_ok(bytes, size);
    free(bytes);
    df_backbone_options o = test_options(1);
    df_tflite_graph *g = NULL;
    df_error err;
    df_status st = df_tflite_graph_create(m, 7, &o, &g, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_int_equal(df_tflite_graph_output_size(g), 4);
    float x[18], got[4], mean[3] = {0, 0, 0};
    for (int k = 0; k < 18; k++) {
        x[k] = (float)(k % 7) * 0.5f - 1.0f;
        mean[k % 3] += x[k] / 6;
    }
    assert_int_equal(df_tflite_graph_run(g, x, 1, got, &err), DF_OK);
    for (int o4 = 0; o4 < 4; o4++) {
        double v = b[o4];
        for (int c = 0; c < 3; c++) v += (double)w[o4 * 3 + c] * mean[c];
        v = v < 0 ? 0 : v;
        assert_true(fabs(got[o4] - v) <= 1e-5 * fabs(v) + 1e-6);
    }
    df_tflite_graph_destroy(g);
    df_tflite_destroy(m);
}

/* ---- robustness ---- */

typedef struct robust_stats {
    int rejected, loaded, built;
} robust_stats;

/* Parses data; what parses is also built toward its feature tensor and its
 * output (run: reshaped to batch 1 and run; build 0: not built at all).
 * Any status is fine; a crash or sanitizer report is not. A rejection must
 * carry a message naming the file. */
static void try_load(const uint8_t *data, size_t size, int build, int run, robust_stats *rs) {
    df_tflite_model *m = NULL;
    df_error err;
    df_error_clear(&err);
    df_status st = df_tflite_parse(data, size, "mutant.tflite", &m, &err);
    if (st) {
        assert_null(m);
        assert_non_null(strstr(err.message, "mutant.tflite"));
        rs->rejected++;
        return;
    }
    rs->loaded++;
    if (!build) {
        df_tflite_destroy(m);
        return;
    }
    /* Only run models whose tensors stay small: a mutated shape may ask
     * for gigabytes, which is legal and would only make the test slow. */
    for (size_t i = 0; i < m->n_tensors && run; i++)
        if (df_tflite_tensor_elements(&m->tensors[i]) > 4096) run = 0;
    df_backbone_options o = test_options(run ? 1 : 0);
    int targets[2] = {df_tflite_feature_tensor(m), m->n_outputs ? m->outputs[0] : -1};
    for (int k = 0; k < 2; k++) {
        if (targets[k] < 0) continue;
        df_tflite_graph *g = NULL;
        if (df_tflite_graph_create(m, targets[k], &o, &g, &err) == DF_OK) {
            rs->built++;
            if (run) {
                const df_tflite_input *in = df_tflite_graph_input(g);
                size_t n = (size_t)in->h * in->w * in->c;
                float *x = calloc(n, sizeof *x);
                float *y = calloc(df_tflite_graph_output_size(g) + 1, sizeof *y);
                assert_non_null(x);
                assert_non_null(y);
                for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7) * 0.1f;
                assert_int_equal(df_tflite_graph_run(g, x, 1, y, &err), DF_OK);
                free(x);
                free(y);
            }
            df_tflite_graph_destroy(g);
        }
    }
    df_tflite_destroy(m);
}

static void test_truncated_files(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 1, 3);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    robust_stats rs = {0, 0, 0};
    for (size_t n = 0; n < size; n++) try_load(bytes, n, 1, 0, &rs);
    /* every proper prefix of the built model is rejected */
    assert_int_equal(rs.loaded, 0);
    try_load(bytes, size, 1, 0, &rs);
    assert_int_equal(rs.loaded, 1);
    free(bytes);

    const char *shared = df_test_shared_dir();
    if (!shared) {
        print_message("SKIP (real model part): ../shared not found\n");
        return;
    }
    char *path = df_test_shared_path(shared, "models", V2_QUANT);
    uint8_t *data;
    df_error err;
    assert_int_equal(df_file_read(path, (size_t)1 << 30, &data, &size, &err), DF_OK);
    free(path);
    memset(&rs, 0, sizeof rs);
    for (size_t n = 0; n <= 400; n++) try_load(data, n, 1, 0, &rs);
    for (int k = 1; k <= 40; k++) try_load(data, size * (size_t)k / 41, 1, 0, &rs);
    print_message("truncated real model: %d rejected, %d loaded\n", rs.rejected, rs.loaded);
    assert_int_equal(rs.loaded, 0);
    /* The file ends in a zip of the labels (TFLite metadata) that the
     * flatbuffer does not reference: cutting into it may load; what matters
     * is that nothing reads past the end. */
    memset(&rs, 0, sizeof rs);
    for (size_t n = size - 64; n < size; n++) try_load(data, n, n + 8 > size, 0, &rs);
    print_message("cut in the trailing zip: %d rejected, %d loaded\n", rs.rejected, rs.loaded);
    free(data);
}

/* Byte ranges that hold buffer data: mutating them only changes weights. */
static int in_buffer_data(const df_tflite_model *m, size_t at) {
    for (size_t i = 0; i < m->n_buffers; i++) {
        const df_tflite_buffer *b = &m->buffers[i];
        if (!b->data) continue;
        size_t start = (size_t)(b->data - m->file);
        if (at >= start && at < start + b->size) return 1;
    }
    return 0;
}

/* count mutants of orig; the first `builds` that load are also built (and
 * run when run is set): building a real model dequantizes millions of
 * weights, so the big file gets fewer builds than parses. */
static void mutate_many(const uint8_t *orig, size_t size, int count, int builds, uint64_t seed,
                        int run, robust_stats *rs) {
    df_tflite_model *m = parse_ok(orig, size);
    /* positions in the flatbuffer structure (tables, vtables, vectors) */
    size_t *structure = malloc(size * sizeof *structure);
    assert_non_null(structure);
    size_t ns = 0;
    for (size_t at = 0; at < size; at++)
        if (!in_buffer_data(m, at)) structure[ns++] = at;
    df_tflite_destroy(m);
    assert_true(ns > 0);

    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    df_rng r;
    df_rng_seed(&r, seed, 13);
    for (int k = 0; k < count; k++) {
        memcpy(buf, orig, size);
        int flips = 1 + (int)df_rng_below(&r, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = df_rng_below(&r, 4) ? structure[df_rng_below(&r, (uint32_t)ns)]
                                             : df_rng_below(&r, (uint32_t)size);
            switch (df_rng_below(&r, 4)) {
            case 0: buf[at] ^= (uint8_t)(1u << df_rng_below(&r, 8)); break;
            case 1: buf[at] = (uint8_t)df_rng_below(&r, 256); break;
            case 2: buf[at] = 0xff; break;
            default: buf[at] = 0; break;
            }
        }
        try_load(buf, size, rs->loaded < builds, run, rs);
    }
    free(buf);
    free(structure);
}

static void test_mutated_files(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 1, 4);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    robust_stats rs = {0, 0, 0};
    mutate_many(bytes, size, 600, 600, 1, 1, &rs);
    print_message("mutated built model: %d rejected, %d loaded, %d graphs built and run\n",
                  rs.rejected, rs.loaded, rs.built);
    assert_true(rs.rejected > 0 && rs.loaded > 0);
    free(bytes);

    const char *shared = df_test_shared_dir();
    if (!shared) {
        print_message("SKIP (real model part): ../shared not found\n");
        return;
    }
    char *path = df_test_shared_path(shared, "models", V2_PTQ);
    uint8_t *data;
    df_error err;
    assert_int_equal(df_file_read(path, (size_t)1 << 30, &data, &size, &err), DF_OK);
    free(path);
    memset(&rs, 0, sizeof rs);
    mutate_many(data, size, 300, 40, 2, 0, &rs);
    print_message("mutated real model: %d rejected, %d loaded, %d graphs built\n", rs.rejected,
                  rs.loaded, rs.built);
    assert_true(rs.rejected > 0);
    free(data);
}

/* Hostile structures that truncation and random flips rarely produce. */
static void test_hostile_structures(void **state) {
    (void)state;
    df_tflite_model *m = NULL;
    df_error err;
    /* wrong identifier */
    uint8_t buf[64] = {8, 0, 0, 0, 'T', 'F', 'L', '2'};
    assert_int_equal(df_tflite_parse(buf, sizeof buf, "x.tflite", &m, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "TFL3"));
    /* root offset past the end */
    memcpy(buf + 4, "TFL3", 4);
    buf[0] = 0xf0;
    buf[3] = 0x7f;
    assert_int_equal(df_tflite_parse(buf, sizeof buf, "x.tflite", &m, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "root table"));
    /* a table whose vtable offset points before the file */
    memset(buf, 0, sizeof buf);
    memcpy(buf + 4, "TFL3", 4);
    buf[0] = 8;
    buf[8] = 0x00;
    buf[11] = 0x10; /* soffset = 0x10000000 -> vtable at a negative position */
    assert_int_equal(df_tflite_parse(buf, sizeof buf, "x.tflite", &m, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "vtable"));

    /* tensors sharing one huge scale vector: the copy budget stops it */
    df_tfb *b = df_tfb_create();
    enum { NQ = 2000, NT = 600 };
    float *scales = calloc(NQ, sizeof *scales);
    int64_t *zps = calloc(NQ, sizeof *zps);
    assert_non_null(scales);
    assert_non_null(zps);
    for (int k = 0; k < NQ; k++) scales[k] = 1.0f;
    df_tfb_ref sc = df_tfb_vector(b, scales, NQ, 4);
    df_tfb_ref zp = df_tfb_vector(b, zps, NQ, 8);
    df_tfb_table_start(b);
    df_tfb_add_ref(b, 2, sc);
    df_tfb_add_ref(b, 3, zp);
    df_tfb_ref q = df_tfb_table_end(b);
    int32_t shape[1] = {NQ};
    df_tfb_ref sh = df_tfb_vector(b, shape, 1, 4);
    df_tfb_table_start(b);
    df_tfb_add_ref(b, 0, sh);
    df_tfb_add_ref(b, 4, q);
    df_tfb_ref t = df_tfb_table_end(b);
    df_tfb_ref *ts = malloc(NT * sizeof *ts);
    assert_non_null(ts);
    for (int k = 0; k < NT; k++) ts[k] = t;
    df_tfb_ref tv = df_tfb_vector_refs(b, ts, NT);
    df_tfb_table_start(b);
    df_tfb_add_ref(b, 0, tv);
    df_tfb_ref sg = df_tfb_table_end(b);
    df_tfb_ref sgv = df_tfb_vector_refs(b, &sg, 1);
    df_tfb_table_start(b);
    df_tfb_ref buf0 = df_tfb_table_end(b);
    df_tfb_ref bufs = df_tfb_vector_refs(b, &buf0, 1);
    df_tfb_table_start(b);
    df_tfb_add_i32(b, 0, 3);
    df_tfb_add_ref(b, 2, sgv);
    df_tfb_add_ref(b, 4, bufs);
    df_tfb_ref root = df_tfb_table_end(b);
    size_t size;
    uint8_t *bytes = df_tfb_finish(b, root, "TFL3", &size);
    assert_int_equal(df_tflite_parse(bytes, size, "x.tflite", &m, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, "more data than the file"));
    free(bytes);
    free(ts);
    free(scales);
    free(zps);
    df_tfb_destroy(b);
    assert_null(m);
}

/* An operator input of -1 means "absent" in the file, which the reader
 * accepts for any input slot: a required input that is absent must be a
 * DF_ERR_FORMAT from the builder, not an index -1 (found by fuzz_tflite:
 * SOFTMAX with input -1 read before the builder's value array). */
static void test_missing_operator_input(void **state) {
    (void)state;
    static const struct {
        int op, input;
        const char *what;
    } cases[] = {{11, 0, "SOFTMAX"}, {9, 0, "FULLY_CONNECTED"}, {0, 0, "CONV_2D"},
                 {3, 1, "ADD"}, {6, 0, "AVERAGE_POOL_2D"}, {8, 0, "MEAN"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        small_model s;
        small_model_init(&s, 0, 5);
        s.op[cases[k].op].inputs[cases[k].input] = -1;
        size_t size;
        uint8_t *bytes = small_model_bytes(&s, 0, &size);
        df_tflite_model *m = parse_ok(bytes, size);
        df_backbone_options o = test_options(1);
        df_tflite_graph *g = NULL;
        df_error err;
        df_status st = df_tflite_graph_create(m, m->outputs[0], &o, &g, &err);
        if (st != DF_ERR_FORMAT || !strstr(err.message, "input is missing") ||
            !strstr(err.message, cases[k].what))
            fail_msg("%s input %d = -1: status %d, message '%s'", cases[k].what, cases[k].input,
                     (int)st, err.message);
        assert_null(g);
        df_tflite_destroy(m);
        free(bytes);
    }
}

/* ---- photos ---- */


static int label_index(const char *shared, const char *label) {
    char *path = df_test_shared_path(shared, "models", "imagenet_labels.txt");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int i = 0, found = -1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strcmp(line, label)) found = i;
        i++;
    }
    fclose(f);
    free(path);
    assert_int_equal(i, 1001);
    return found;
}

static int argmax(const float *p, size_t n) {
    size_t b = 0;
    for (size_t k = 1; k < n; k++)
        if (p[k] > p[b]) b = k;
    return (int)b;
}

static void classify(const char *shared, const char *model, const char *image,
                     df_precision precision, int *top, float *prob) {
    char *path = df_test_shared_path(shared, "models", model);
    df_backbone_options o = df_backbone_options_default();
    o.precision = precision;
    o.autotune = 0;
    o.max_batch = 1;
    df_tflite_classifier *c = NULL;
    df_error err;
    df_status st = df_tflite_classifier_open(path, &o, &c, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    free(path);
    df_image img;
    df_test_load_imagenet_224(shared, image, &img);
    float *x = malloc(224 * 224 * 3 * sizeof *x), probs[1001];
    assert_non_null(x);
    assert_int_equal(df_tflite_classifier_classes(c), 1001);
    assert_int_equal(df_tflite_classifier_preprocess(c, &img, x, &err), DF_OK);
    assert_int_equal(df_tflite_classifier_run(c, x, 1, probs, &err), DF_OK);
    double sum = 0;
    for (int k = 0; k < 1001; k++) sum += probs[k];
    assert_true(fabs(sum - 1.0) < 1e-4);
    *top = argmax(probs, 1001);
    *prob = probs[*top];
    print_message("%s %s: class %d p=%.4f\n", model, image, *top, (double)*prob);
    free(x);
    df_image_free(&img);
    df_tflite_classifier_destroy(c);
}

static void test_classify_photos(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    int macaw = label_index(shared, "macaw");
    int uniform = label_index(shared, "military uniform");
    assert_int_equal(label_index(shared, "Egyptian cat"), 286);
    int top;
    float p;
    classify(shared, V2_QUANT, "parrot.jpg", DF_PRECISION_FP32, &top, &p);
    assert_int_equal(top, macaw);
    classify(shared, V2_QUANT, "grace_hopper.bmp", DF_PRECISION_FP32, &top, &p);
    assert_int_equal(top, uniform);
    classify(shared, V2_QUANT, "cat.bmp", DF_PRECISION_FP32, &top, &p);
    assert_int_equal(top, 286);
    assert_true(p >= 0.7f);
    classify(shared, V2_PTQ, "cat.bmp", DF_PRECISION_FP32, &top, &p);
    assert_int_equal(top, 286);
    assert_true(p >= 0.6f);
}


/* Each shipped model as a backbone: name, feature size, features of a photo
 * in the range a ReLU6 map's average can take; a cut by name equals the
 * automatic one; an earlier cut gives the whole feature map, and on both
 * MobileNetV2s the cut at DF_TFLITE_CUT_FEATURE_MAP gives the 7x7x1280 map
 * whose mean is the graph's own pooled feature (bench_defaults --pool). */
static void test_backbones_open(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    static const struct {
        const char *file, *name;
        size_t dim;
    } models[] = {{V2_QUANT, "mobilenet_v2_1.0_224_quant", 1280},
                  {V2_PTQ, "tf2_mobilenet_v2_1.0_224_ptq", 1280},
                  {V1_EMB, "mobilenet_v1_1.0_224_quant_embedding_extractor", 1024}};
    df_image img;
    df_test_load_imagenet_224(shared, "cat.bmp", &img);
    float *x = malloc(224 * 224 * 3 * sizeof *x);
    float *f = malloc(7 * 7 * 1280 * sizeof *f), *g = malloc(1280 * sizeof *g), *pooled = malloc(1280 * sizeof *pooled);
    assert_non_null(x);
    assert_non_null(f);
    assert_non_null(g);
    assert_non_null(pooled);
    df_error err;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char *path = df_test_shared_path(shared, "models", models[i].file);
        df_backbone_options o = test_options(1);
        df_backbone *bb = NULL;
        df_status st = df_backbone_open("tflite", path, &o, &bb, &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
        assert_string_equal(df_backbone_name(bb), models[i].name);
        assert_int_equal(df_backbone_feature_dim(bb), models[i].dim);
        /* Keras' MobileNetV2(include_top=False) has 2,223,872 trainable
         * parameters, 17,056 of them BatchNorm gammas and betas; folded into
         * the TFLite convolutions' biases that leaves 2,206,816. */
        if (i < 2) assert_int_equal(bb->num_params, 2206816);
        assert_int_equal(df_backbone_preprocess(bb, &img, x, &err), DF_OK);
        assert_int_equal(df_backbone_run(bb, x, 1, f, &err), DF_OK);
        double sum = 0;
        for (size_t k = 0; k < models[i].dim; k++) {
            assert_true(f[k] >= 0.0f && f[k] <= 6.0f);
            sum += f[k];
        }
        assert_true(sum > 1.0);
        memcpy(pooled, f, models[i].dim * sizeof *f);
        df_backbone_destroy(bb);
        if (i == 0) {
            o.cut_tensor = "MobilenetV2/Logits/AvgPool";
            assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
            assert_int_equal(df_backbone_run(bb, x, 1, g, &err), DF_OK);
            assert_memory_equal(f, g, 1280 * sizeof *f);
            df_backbone_destroy(bb);
            o.cut_tensor = "#168"; /* the 7x7x1280 map the pool averages */
            assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
            assert_int_equal(df_backbone_feature_dim(bb), 7 * 7 * 1280);
            assert_int_equal(df_backbone_run(bb, x, 1, f, &err), DF_OK);
            for (int c = 0; c < 1280; c++) {
                double m = 0;
                for (int p = 0; p < 49; p++) m += f[p * 1280 + c];
                assert_true(fabs(m / 49 - g[c]) <= 1e-5 * fabs(g[c]) + 1e-5);
            }
            df_backbone_destroy(bb);
        }
        if (i < 2) { /* both MobileNetV2s: the automatic cut at the map the MEAN averages */
            o.cut_tensor = DF_TFLITE_CUT_FEATURE_MAP;
            assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
            assert_int_equal(df_backbone_feature_dim(bb), 7 * 7 * 1280);
            assert_int_equal(df_backbone_run(bb, x, 1, f, &err), DF_OK);
            double worst = 0;
            for (int c = 0; c < 1280; c++) {
                double m = 0;
                for (int p = 0; p < 49; p++) m += f[p * 1280 + c];
                worst = fmax(worst, fabs(m / 49 - pooled[c]) / (1e-5 * fabs(pooled[c]) + 1e-5));
            }
            print_message("%s: the 7x7 map's mean against the graph's MEAN: %.3g of the tolerance\n",
                          models[i].file, worst);
            assert_true(worst <= 1.0);
            df_backbone_destroy(bb);
        }
        free(path);
    }
    free(x);
    free(f);
    free(g);
    free(pooled);
    df_image_free(&img);
}

/* The input-size study option (bench/resolution_ood.sh): both MobileNetV2s
 * at 256 x 256 give an 8x8x1280 map; the TF2 model's MEAN stays global, so
 * its pooled feature is that map's mean, while the QAT model's and
 * MobileNetV1's fixed 7x7 AVERAGE_POOL_2D would not be global and are
 * refused; the integer engine,
 * which checks the file's shapes, refuses any other size. */
static void test_input_size_option(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    df_image img, sized;
    df_test_load_imagenet_224(shared, "cat.bmp", &img);
    df_error err;
    assert_int_equal(df_image_resize(&img, 256, 256, DF_RESIZE_BILINEAR, &sized, &err), DF_OK);
    float *x = malloc(256 * 256 * 3 * sizeof *x), *map = malloc(8 * 8 * 1280 * sizeof *map);
    float *pooled = malloc(1280 * sizeof *pooled);
    assert_non_null(x);
    assert_non_null(map);
    assert_non_null(pooled);
    const char *files[] = {V2_QUANT, V2_PTQ};
    for (int i = 0; i < 2; i++) {
        char *path = df_test_shared_path(shared, "models", files[i]);
        df_backbone_options o = test_options(1);
        o.input_size = 256;
        df_backbone *bb = NULL;
        df_status st = df_backbone_open("tflite", path, &o, &bb, &err);
        if (i == 0) { /* the file's 7x7 window is 2x2 at 256 */
            assert_int_equal(st, DF_ERR_UNSUPPORTED);
            assert_non_null(strstr(err.message, "global pool"));
        } else {
            assert_int_equal(st, DF_OK);
            int h, w;
            df_backbone_input_size(bb, &h, &w);
            assert_int_equal(h, 256);
            assert_int_equal(w, 256);
            assert_int_equal(df_backbone_feature_dim(bb), 1280);
            assert_int_equal(df_backbone_preprocess(bb, &sized, x, &err), DF_OK);
            assert_int_equal(df_backbone_run(bb, x, 1, pooled, &err), DF_OK);
            df_backbone_destroy(bb);
        }
        o.cut_tensor = DF_TFLITE_CUT_FEATURE_MAP;
        st = df_backbone_open("tflite", path, &o, &bb, &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
        assert_int_equal(df_backbone_feature_dim(bb), 8 * 8 * 1280);
        assert_int_equal(df_backbone_preprocess(bb, &sized, x, &err), DF_OK);
        assert_int_equal(df_backbone_run(bb, x, 1, map, &err), DF_OK);
        double sum = 0;
        for (int k = 0; k < 8 * 8 * 1280; k++) {
            assert_true(map[k] >= 0.0f && map[k] <= 6.0f);
            sum += map[k];
        }
        assert_true(sum > 64.0);
        if (i == 1)
            for (int c = 0; c < 1280; c++) {
                double m = 0;
                for (int p = 0; p < 64; p++) m += map[p * 1280 + c];
                assert_true(fabs(m / 64 - pooled[c]) <= 1e-5 * fabs(pooled[c]) + 1e-5);
            }
        df_backbone_destroy(bb);
        o.precision = DF_PRECISION_INT8;
        assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, "fp32 or bf16"));
        o.precision = DF_PRECISION_FP32;
        o.input_size = 224; /* the file's own size: the plain graph, any precision */
        o.cut_tensor = NULL;
        assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
        assert_int_equal(df_backbone_feature_dim(bb), 1280);
        df_backbone_destroy(bb);
        free(path);
    }
    df_backbone_options o = test_options(1);
    o.input_size = 256;
    df_backbone *bb = NULL;
    assert_int_equal(df_backbone_open("vgg16", "none.h5", &o, &bb, &err), DF_ERR_INVALID_ARG);
    /* MobileNetV1's 7x7 pool (stride 2) still gives 1x1 over an 8x8 map:
     * its top-left corner, not the mean. Refused all the same. */
    char *v1 = df_test_shared_path(shared, "models", V1_EMB);
    assert_int_equal(df_backbone_open("tflite", v1, &o, &bb, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "7x7 window over 8x8"));
    free(v1);
    free(x);
    free(map);
    free(pooled);
    df_image_free(&img);
    df_image_free(&sized);
}

/* ---- --precision auto's remembered choice (backbone/auto_cache.h) ---- */

typedef struct notes {
    char text[4096];
} notes;

static void keep_notice(void *ctx, const char *msg) {
    notes *n = ctx;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%s\n", msg);
}

static void test_auto_cache_entries(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *model = df_path_join(dir, "m.tflite"), *sub = df_path_join(dir, "cache");
    assert_int_equal(df_test_write_file(model, "0123456789", 10), 0);
    df_backbone_options o = df_backbone_options_default();
    o.max_batch = 32;
    char k1[2048], k2[2048], k3[2048];
    df_error err;
    assert_int_equal(df_auto_cache_key("tflite", model, &o, k1, sizeof k1, &err), DF_OK);
    assert_int_equal(df_auto_cache_key("tflite", model, &o, k2, sizeof k2, &err), DF_OK);
    assert_string_equal(k1, k2);
    o.max_batch = 20; /* the race runs at DF_RACE_IMAGES either way: the same answer */
    assert_int_equal(df_auto_cache_key("tflite", model, &o, k2, sizeof k2, &err), DF_OK);
    assert_string_equal(k1, k2);
    o.max_batch = 4; /* raced at 4: another question */
    assert_int_equal(df_auto_cache_key("tflite", model, &o, k2, sizeof k2, &err), DF_OK);
    assert_string_not_equal(k1, k2);
    o.max_batch = 32;
    assert_int_equal(df_test_write_file(model, "01234567890", 11), 0); /* another model file */
    assert_int_equal(df_auto_cache_key("tflite", model, &o, k3, sizeof k3, &err), DF_OK);
    assert_string_not_equal(k1, k3);
    assert_int_not_equal(df_auto_cache_key("tflite", "/nonexistent/m.tflite", &o, k2, sizeof k2, &err), DF_OK);
    assert_int_not_equal(df_auto_cache_key("tflite", model, &o, k2, 40, &err), DF_OK); /* too long */

    df_precision p = DF_PRECISION_AUTO;
    char measured[256];
    assert_false(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured)); /* no folder yet */
    assert_int_equal(df_auto_cache_store(sub, k3, DF_PRECISION_INT8, "int8 4.0 ms,\nfp32 6.0 ms", &err), DF_OK);
    assert_true(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured));
    assert_int_equal(p, DF_PRECISION_INT8);
    assert_string_equal(measured, "int8 4.0 ms, fp32 6.0 ms"); /* one line */
    assert_false(df_auto_cache_lookup(sub, k1, &p, NULL, 0));  /* the old model's key */
    assert_int_not_equal(df_auto_cache_store(sub, k3, DF_PRECISION_AUTO, "", &err), DF_OK);

    /* what is in k3's file must be k3's entry, whole: another key under its
     * name (a hash collision), a cut file or an unknown precision is a miss */
    char *path = df_auto_cache_path(sub, k3);
    char buf[4096];
    snprintf(buf, sizeof buf, "deepfashion auto precision 1\nkey %s\nprecision int8\nmeasured x\n", k1);
    assert_int_equal(df_test_write_file(path, buf, strlen(buf)), 0);
    assert_false(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured));
    snprintf(buf, sizeof buf, "deepfashion auto precision 1\nkey %s\nprecision int", k3);
    assert_int_equal(df_test_write_file(path, buf, strlen(buf)), 0);
    assert_false(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured));
    snprintf(buf, sizeof buf, "deepfashion auto precision 1\nkey %s\nprecision auto\n", k3);
    assert_int_equal(df_test_write_file(path, buf, strlen(buf)), 0);
    assert_false(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured));
    snprintf(buf, sizeof buf, "deepfashion auto precision 1\nkey %s\nprecision bf16\n", k3);
    assert_int_equal(df_test_write_file(path, buf, strlen(buf)), 0);
    assert_true(df_auto_cache_lookup(sub, k3, &p, measured, sizeof measured));
    assert_int_equal(p, DF_PRECISION_BF16);
    assert_string_equal(measured, "");
    /* a folder that cannot be made: an error, nothing written */
    char *under_file = df_path_join(model, "cache");
    assert_int_not_equal(df_auto_cache_store(under_file, k3, DF_PRECISION_FP32, "x", &err), DF_OK);
    free(under_file);
    free(path);
    free(model);
    free(sub);
    df_test_rmtree(dir);
    free(dir);
}

/* A backbone opened with auto and a cache folder races once; the second
 * open takes the remembered precision without racing and computes the same
 * features (to the rounding of the convolution algorithms every build
 * measures). Where nothing is raced (no bf16, no integer engine for the
 * graph), nothing is remembered. */
static void test_auto_cache_open(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 1, 23);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    char *dir = df_test_tempdir();
    char *model = df_path_join(dir, "small.tflite"), *cache = df_path_join(dir, "cache");
    assert_int_equal(df_test_write_file(model, bytes, size), 0);
    free(bytes);
    enum { N = 3 };
    float x[N * IN_H * IN_W * IN_C], y1[N * 6], y2[N * 6];
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = (float)(k % 13) * 0.15f - 0.9f;
    df_precision first = DF_PRECISION_AUTO;
    int raced = 0;
    for (int run = 0; run < 2; run++) {
        notes n = {{0}};
        df_backbone_options o = df_backbone_options_default();
        o.max_batch = N;
        o.auto_cache_dir = cache;
        o.notice = keep_notice;
        o.notice_ctx = &n;
        df_backbone *bb = NULL;
        df_error err;
        df_status st = df_backbone_open("tflite", model, &o, &bb, &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
        assert_int_equal(df_backbone_run(bb, x, N, run ? y2 : y1, &err), DF_OK);
        print_message("open %d: %s", run + 1, n.text);
        char key[2048];
        assert_int_equal(df_auto_cache_key("tflite", model, &o, key, sizeof key, &err), DF_OK);
        df_precision p;
        int remembered = df_auto_cache_lookup(cache, key, &p, NULL, 0);
        if (run == 0) {
            first = df_backbone_precision(bb);
            raced = bb->raced; /* else a rule chose (AMX) or there was nothing to choose */
            assert_int_equal(raced, strstr(n.text, " per batch of ") != NULL); /* the race says its times */
            assert_int_equal(remembered, raced);
            /* a race whose answer is kept takes the best of 3 samples */
            if (raced) assert_non_null(strstr(n.text, "(best of 3)"));
            if (remembered) assert_int_equal(p, first);
            assert_null(strstr(n.text, "raced earlier"));
        } else {
            assert_int_equal(df_backbone_precision(bb), first);
            if (raced) {
                assert_non_null(strstr(n.text, "as raced earlier on this CPU"));
                /* no race this time: the remembered choice is the one notice */
                const char *one = strstr(n.text, "precision auto: ");
                assert_non_null(one);
                assert_null(strstr(one + 1, "precision auto: "));
                /* the same precision; the convolution algorithms are measured
                 * at every build (net.h) and may differ in rounding */
                assert_close_vec(y2, y1, sizeof y1 / sizeof y1[0], "features after the remembered choice");
            }
        }
        df_backbone_destroy(bb);
    }
    free(model);
    free(cache);
    df_test_rmtree(dir);
    free(dir);
}

/* A weights file in memory (a model's embedded backbone) opens as the same
 * file on disk does: the same name, features bit for bit at each
 * precision; a truncated copy fails naming the name it was given, and
 * VGG16, whose reader needs a path, says so. */
static void test_open_from_memory(void **state) {
    (void)state;
    small_model s;
    small_model_init(&s, 1, 29);
    size_t size;
    uint8_t *bytes = small_model_bytes(&s, 0, &size);
    char *dir = df_test_tempdir();
    char *model = df_path_join(dir, "small.tflite");
    assert_int_equal(df_test_write_file(model, bytes, size), 0);
    enum { N = 2 };
    float x[N * IN_H * IN_W * IN_C], y_file[N * 6], y_mem[N * 6];
    for (size_t k = 0; k < sizeof x / sizeof x[0]; k++) x[k] = (float)(k % 11) * 0.17f - 0.8f;
    const df_precision precisions[] = {DF_PRECISION_FP32, DF_PRECISION_INT8};
    df_error err;
    for (size_t p = 0; p < sizeof precisions / sizeof precisions[0]; p++) {
        df_backbone_options o = df_backbone_options_default();
        o.precision = precisions[p];
        o.autotune = 0;
        o.max_batch = N;
        df_backbone *from_file = NULL, *from_mem = NULL;
        assert_int_equal(df_backbone_open("tflite", model, &o, &from_file, &err), DF_OK);
        df_status st = df_backbone_open_bytes("tflite", "models/small.tflite", bytes, size, &o, &from_mem, &err);
        if (st) print_message("%s\n", err.message);
        assert_int_equal(st, DF_OK);
        assert_string_equal(df_backbone_name(from_mem), df_backbone_name(from_file));
        assert_string_equal(df_backbone_source(from_mem), "models/small.tflite");
        assert_int_equal(df_backbone_precision(from_mem), df_backbone_precision(from_file));
        assert_int_equal(df_backbone_run(from_file, x, N, y_file, &err), DF_OK);
        assert_int_equal(df_backbone_run(from_mem, x, N, y_mem, &err), DF_OK);
        assert_memory_equal(y_mem, y_file, sizeof y_file);
        df_backbone_destroy(from_file);
        df_backbone_destroy(from_mem);
    }
    df_backbone_options o = df_backbone_options_default();
    df_backbone *bb = NULL;
    assert_int_equal(df_backbone_open_bytes("tflite", "cut.tflite", bytes, size / 2, &o, &bb, &err), DF_ERR_FORMAT);
    assert_null(bb);
    assert_non_null(strstr(err.message, "cut.tflite"));
    assert_int_equal(df_backbone_open_bytes("vgg16", "vgg16.h5", bytes, size, &o, &bb, &err), DF_ERR_UNSUPPORTED);
    assert_null(bb);
    assert_non_null(strstr(err.message, "vgg16.h5"));
    assert_int_equal(df_backbone_open_bytes("tflite", "none", NULL, 0, &o, &bb, &err), DF_ERR_INVALID_ARG);
    free(bytes);
    free(model);
    df_test_rmtree(dir);
    free(dir);
}

/* bf16 features against fp32 on every photo, and the same top-1 class. */
static void test_bf16_matches_fp32(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    static const char *photos[] = {"bird.bmp", "cat.bmp", "grace_hopper.bmp", "hot_dog.jpg",
                                   "owl.jpg", "parrot.jpg", "sunflower.bmp"};
    enum { NP = sizeof photos / sizeof photos[0] };
    float *x = malloc((size_t)NP * 224 * 224 * 3 * sizeof *x);
    assert_non_null(x);
    char *path = df_test_shared_path(shared, "models", V2_QUANT);
    df_backbone *bb[2] = {NULL, NULL};
    df_tflite_classifier *cl[2] = {NULL, NULL};
    df_error err;
    for (int p = 0; p < 2; p++) {
        df_backbone_options o = df_backbone_options_default();
        o.precision = p ? DF_PRECISION_BF16 : DF_PRECISION_FP32;
        o.autotune = 0;
        o.max_batch = NP;
        assert_int_equal(df_backbone_open("tflite", path, &o, &bb[p], &err), DF_OK);
        assert_int_equal(df_tflite_classifier_open(path, &o, &cl[p], &err), DF_OK);
    }
    free(path);
    assert_string_equal(df_backbone_name(bb[0]), "mobilenet_v2_1.0_224_quant");
    assert_int_equal(df_backbone_feature_dim(bb[0]), 1280);
    if (df_backbone_precision(bb[1]) != DF_PRECISION_BF16)
        print_message("NOTE: no bf16 on this CPU; comparing fp32 with its fallback\n");
    for (int i = 0; i < NP; i++) {
        df_image img;
        df_test_load_imagenet_224(shared, photos[i], &img);
        assert_int_equal(df_backbone_preprocess(bb[0], &img, x + (size_t)i * 224 * 224 * 3, &err),
                         DF_OK);
        df_image_free(&img);
    }
    float *f[2], *pr[2];
    for (int p = 0; p < 2; p++) {
        f[p] = malloc((size_t)NP * 1280 * sizeof(float));
        pr[p] = malloc((size_t)NP * 1001 * sizeof(float));
        assert_non_null(f[p]);
        assert_non_null(pr[p]);
        assert_int_equal(df_backbone_run(bb[p], x, NP, f[p], &err), DF_OK);
        assert_int_equal(df_tflite_classifier_run(cl[p], x, NP, pr[p], &err), DF_OK);
    }
    for (int i = 0; i < NP; i++) {
        double cs = df_test_cosine(f[0] + (size_t)i * 1280, f[1] + (size_t)i * 1280, 1280);
        int t0 = argmax(pr[0] + (size_t)i * 1001, 1001), t1 = argmax(pr[1] + (size_t)i * 1001, 1001);
        print_message("%-17s df_test_cosine(bf16, fp32) = %.5f, top-1 fp32 %d (p=%.3f), bf16 %d (p=%.3f)\n",
                      photos[i], cs, t0, (double)pr[0][(size_t)i * 1001 + t0], t1,
                      (double)pr[1][(size_t)i * 1001 + t1]);
        assert_true(cs >= 0.995);
        assert_int_equal(t0, t1);
    }
    for (int p = 0; p < 2; p++) {
        free(f[p]);
        free(pr[p]);
        df_backbone_destroy(bb[p]);
        df_tflite_classifier_destroy(cl[p]);
    }
    free(x);
}

/* ---- the depthwise fusion on MobileNetV2 (engine/net.h, dw_fusion) ---- */

/* Real values of a constant tensor: scale * (q - zero point) per tensor or
 * per channel for uint8 / int8 / int32, the floats of a float tensor. */
static float *dequant_tensor(const df_tflite_model *m, int t) {
    const df_tflite_tensor *T = &m->tensors[t];
    const uint8_t *d = df_tflite_tensor_data(m, t);
    assert_non_null(d);
    size_t n = df_tflite_tensor_elements(T), inner = 1;
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    int dim = T->quant.n > 1 ? T->quant.quantized_dimension : T->rank - 1;
    for (int k = dim + 1; k < T->rank; k++) inner *= (size_t)T->shape[k];
    for (size_t k = 0; k < n; k++) {
        size_t c = T->quant.n > 1 ? (k / inner) % (size_t)T->shape[dim] : 0;
        double q;
        if (T->type == DF_TFLITE_FLOAT32) {
            float f;
            memcpy(&f, d + 4 * k, 4);
            v[k] = f;
            continue;
        } else if (T->type == DF_TFLITE_UINT8) {
            q = d[k];
        } else if (T->type == DF_TFLITE_INT8) {
            q = (int8_t)d[k];
        } else {
            assert_int_equal(T->type, DF_TFLITE_INT32);
            int32_t i32;
            memcpy(&i32, d + 4 * k, 4);
            q = i32;
        }
        assert_true(T->quant.n > 0);
        v[k] = (float)(T->quant.scale[c] * (q - (double)T->quant.zero_point[c]));
    }
    return v;
}

/* The float graph of a quantized model from its input to tensor target, in
 * the plain loops above (CONV_2D, DEPTHWISE_CONV_2D, ADD only), one image. */
static fmap ref_graph(const df_tflite_model *m, const float *image, int target) {
    fmap *val = calloc(m->n_tensors, sizeof *val);
    assert_non_null(val);
    const df_tflite_tensor *in = &m->tensors[m->inputs[0]];
    val[m->inputs[0]] = fm_new(in->shape[1], in->shape[2], in->shape[3]);
    memcpy(val[m->inputs[0]].v, image, sizeof(float) * in->shape[1] * in->shape[2] * in->shape[3]);
    int done = 0;
    for (size_t i = 0; i < m->n_operators && !done; i++) {
        const df_tflite_operator *op = &m->operators[i];
        const df_tflite_options *o = &op->options;
        int out = op->outputs[0];
        if (op->builtin == DF_TFLITE_OP_ADD) {
            fmap a = val[op->inputs[0]], b = val[op->inputs[1]];
            assert_non_null(a.v);
            assert_non_null(b.v);
            val[out] = fm_new(a.h, a.w, a.c);
            for (size_t k = 0; k < (size_t)a.h * a.w * a.c; k++)
                val[out].v[k] = act_ref((double)a.v[k] + b.v[k], o->activation);
        } else {
            assert_true(op->builtin == DF_TFLITE_OP_CONV_2D || op->builtin == DF_TFLITE_OP_DEPTHWISE_CONV_2D);
            assert_int_equal(o->stride_h, o->stride_w);
            const df_tflite_tensor *W = &m->tensors[op->inputs[1]];
            int dw = op->builtin == DF_TFLITE_OP_DEPTHWISE_CONV_2D;
            float *w = dequant_tensor(m, op->inputs[1]);
            float *b = op->n_inputs > 2 && op->inputs[2] >= 0 ? dequant_tensor(m, op->inputs[2]) : NULL;
            assert_non_null(val[op->inputs[0]].v);
            val[out] = ref_conv(val[op->inputs[0]], w, b, dw ? W->shape[3] : W->shape[0], W->shape[1], W->shape[2],
                                o->stride_h, o->padding, dw, o->activation);
            free(w);
            free(b);
        }
        done = out == target;
    }
    assert_true(done);
    fmap y = val[target];
    for (size_t t = 0; t < m->n_tensors; t++)
        if ((int)t != target) free(val[t].v);
    free(val);
    return y;
}

/* MobileNetV2 (the quantized model's float graph) up to block 3's output,
 * 28x28x32, which holds its three largest expand / depthwise pairs, at
 * batch 8 (oneDNN's jit kernels fuse only large pairs; on AVX2, see ctest
 * test_tflite_dw_avx2): fp32 fused against the plain-loop reference (1e-5
 * relative + 1e-5 of max|ref|: summation order only) and identical to the
 * same backbone unfused (DF_NO_DW_FUSION=1); bf16, never fused, against the
 * reference within 4e-2 of max|ref| (12 layers of bf16 rounding on inputs
 * uniform in [-1, 1]; measured 1.5e-2 to 1.9e-2 on Sapphire Rapids). */
static void test_mobilenet_dw_fusion(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    df_tflite_model *m = load_shared_model(shared, V2_QUANT);
    int target = -1;
    for (size_t i = 0, convs = 0; i < m->n_operators && target < 0; i++) {
        convs += m->operators[i].builtin == DF_TFLITE_OP_CONV_2D ||
                 m->operators[i].builtin == DF_TFLITE_OP_DEPTHWISE_CONV_2D;
        if (convs == 12) target = m->operators[i].outputs[0]; /* stem + 3 + 4 x 2 blocks' convs */
    }
    assert_true(target >= 0);
    assert_shape(&m->tensors[target], 4, 1, 28, 28, 32);
    enum { N = 8 };
    const size_t isz = 224 * 224 * 3, osz = 28 * 28 * 32;
    float *x = malloc(N * isz * sizeof *x), *ref = malloc(N * osz * sizeof *ref);
    assert_non_null(x);
    assert_non_null(ref);
    df_rng r;
    df_rng_seed(&r, 81, 3);
    for (size_t k = 0; k < N * isz; k++) x[k] = df_rng_uniform_range(&r, -1.0f, 1.0f);
    for (int n = 0; n < N; n++) {
        fmap y = ref_graph(m, x + n * isz, target);
        memcpy(ref + n * osz, y.v, osz * sizeof *ref);
        free(y.v);
    }
    char cut[16];
    snprintf(cut, sizeof cut, "#%d", target);
    float *got[2][2] = {{NULL, NULL}, {NULL, NULL}}; /* [bf16][unfused] */
    for (int p = 0; p < 2; p++)
        for (int unfused = 0; unfused < 2; unfused++) {
            df_backbone_options o = test_options(N);
            o.precision = p ? DF_PRECISION_BF16 : DF_PRECISION_FP32;
            o.cut_tensor = cut;
            if (unfused) setenv("DF_NO_DW_FUSION", "1", 1);
            df_backbone *bb = NULL;
            df_error err;
            df_status st = df_tflite_backbone_from_model(m, "mobilenet_v2", &o, &bb, &err);
            unsetenv("DF_NO_DW_FUSION");
            if (st) print_message("%s\n", err.message);
            assert_int_equal(st, DF_OK);
            if (df_backbone_precision(bb) != o.precision) {
                print_message("NOTE: no bf16 on this CPU; bf16 not checked\n");
                df_backbone_destroy(bb);
                continue;
            }
            assert_int_equal(df_backbone_feature_dim(bb), osz);
            got[p][unfused] = malloc(N * osz * sizeof(float));
            assert_non_null(got[p][unfused]);
            assert_int_equal(df_backbone_run(bb, x, N, got[p][unfused], &err), DF_OK);
            int fused = df_net_dw_fused_layers(df_tflite_backbone_net(bb));
            print_message("%s %s: %d of 3 depthwise layers fused\n", p ? "bf16" : "fp32",
                          unfused ? "DF_NO_DW_FUSION=1" : "default", fused);
            if (unfused || p) assert_int_equal(fused, 0); /* bf16 is never fused */
            if (!unfused && !p && dnnl_get_effective_cpu_isa() == dnnl_cpu_isa_avx2) assert_true(fused >= 1);
            df_backbone_destroy(bb);
        }
    for (int n = 0; n < N; n++) {
        char what[96];
        snprintf(what, sizeof what, "fp32 fused vs reference, image %d", n);
        assert_close_vec(got[0][0] + n * osz, ref + n * osz, osz, what);
        /* Fusion is taken only where it changes no number (net.c, dw_fused_pd). */
        assert_memory_equal(got[0][0] + n * osz, got[0][1] + n * osz, osz * sizeof(float));
        if (!got[1][0]) continue;
        double mx = 0, worst[2] = {0, 0};
        for (size_t k = 0; k < osz; k++) mx = fmax(mx, fabs(ref[n * osz + k]));
        for (size_t k = 0; k < osz; k++) {
            worst[0] = fmax(worst[0], fabs(got[1][0][n * osz + k] - ref[n * osz + k]) / mx);
            worst[1] = fmax(worst[1], fabs(got[1][0][n * osz + k] - got[1][1][n * osz + k]) / mx);
        }
        print_message("bf16 image %d: max|fused - ref| / max|ref| %.2e, max|fused - unfused| / max|ref| %.2e\n", n,
                      worst[0], worst[1]);
        assert_true(worst[0] <= 4e-2);
        assert_true(worst[1] <= 4e-2);
    }
    for (int p = 0; p < 2; p++)
        for (int u = 0; u < 2; u++) free(got[p][u]);
    free(x);
    free(ref);
    df_tflite_destroy(m);
}

/* test_tflite write-seeds DIR: the built models as files, a seed corpus for
 * fuzz/fuzz_tflite.c. */
static int write_seeds(const char *dir) {
    for (int v = 0; v < 3; v++) {
        small_model s;
        small_model_init(&s, v > 0, 30 + (uint64_t)v);
        size_t size;
        uint8_t *bytes = small_model_bytes(&s, v == 2, &size);
        char name[64];
        snprintf(name, sizeof name, "small_%s.tflite", v == 0 ? "float" : v == 1 ? "quant" : "deprecated_codes");
        char *path = df_path_join(dir, name);
        int bad = !path || df_test_write_file(path, bytes, size) != 0;
        if (bad) fprintf(stderr, "cannot write %s\n", path ? path : name);
        free(path);
        free(bytes);
        if (bad) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "write-seeds")) return write_seeds(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "dw-fusion")) { /* ctest test_tflite_dw_avx2 */
        const struct CMUnitTest only[] = {cmocka_unit_test(test_mobilenet_dw_fusion)};
        return cmocka_run_group_tests(only, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v2_quant),
        cmocka_unit_test(test_parse_tf2_ptq),
        cmocka_unit_test(test_parse_v1_embedding),
        cmocka_unit_test(test_parse_built_model),
        cmocka_unit_test(test_parse_extended_opcode),
        cmocka_unit_test(test_executor_float_model),
        cmocka_unit_test(test_executor_quantized_model),
        cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_executor_errors),
        cmocka_unit_test(test_host_conv),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_mutated_files),
        cmocka_unit_test(test_hostile_structures),
        cmocka_unit_test(test_missing_operator_input),
        cmocka_unit_test(test_classify_photos),
        cmocka_unit_test(test_backbones_open),
        cmocka_unit_test(test_input_size_option),
        cmocka_unit_test(test_auto_cache_entries),
        cmocka_unit_test(test_auto_cache_open),
        cmocka_unit_test(test_open_from_memory),
        cmocka_unit_test(test_bf16_matches_fp32),
        cmocka_unit_test(test_mobilenet_dw_fusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
