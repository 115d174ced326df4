/*
 * Seed corpus for fuzz_tflite: `tflite_seeds OUTDIR` writes small TFLite
 * models built with the tests' flatbuffer writer (tests/support/
 * tflite_builder.c): every operator the executor supports, in a float and a
 * quantized version (uint8 per-tensor, int8 per-channel, int32 biases), with
 * new and deprecated operator codes, plus a backbone without its top. The
 * graph mirrors tests/test_tflite.c's small model, so seeds parse, build and
 * run; the fuzzer then mutates from there. Also wide_notop.tflite, a backbone
 * with 4096 features (1x1 convolution, then MEAN), for tests that need a
 * big head (tests/cli_crash_safety.sh builds this generator too). Weights
 * are deterministic patterns; nothing third-party is copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/tflite.h"
#include "support/tflite_builder.h"

enum {
    T_IN, T_W0, T_B0, T_A0, T_W1, T_B1, T_A1, T_W2, T_B2, T_A2, T_SUM, T_PADS, T_PADDED, T_W3,
    T_A3, T_AVG, T_MAX, T_AXES, T_MEAN, T_W4, T_B4, T_LOGITS, T_SHAPE, T_FLAT, T_PROB, T_COUNT
};

typedef struct model {
    df_tfb_tensor t[T_COUNT];
    df_tfb_op op[12];
    int n_ops;
    uint8_t data[T_COUNT][512];
    float scale[T_COUNT][8];
    int64_t zp[T_COUNT][8];
} model;

static void tensor(model *m, int i, const char *name, int type, int rank, int d0, int d1, int d2,
                   int d3) {
    df_tfb_tensor *t = &m->t[i];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->type = type;
    t->rank = rank;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->shape[3] = d3;
}

static void quant(model *m, int i, int n, int dim, float scale, int64_t zp) {
    m->t[i].n_quant = n;
    m->t[i].scale = m->scale[i];
    m->t[i].zero_point = m->zp[i];
    m->t[i].quantized_dimension = dim;
    for (int c = 0; c < n; c++) {
        m->scale[i][c] = scale * (float)(c + 1);
        m->zp[i][c] = zp;
    }
}

/* n constant elements for tensor i: float32, or 8-bit q with channels
 * scales along dim (quantized models), or int32 biases. */
static void constant(model *m, int i, int n, int qtype, int channels, int dim) {
    df_tfb_tensor *t = &m->t[i];
    t->data = m->data[i];
    if (qtype == DF_TFLITE_FLOAT32) {
        float *f = (float *)(void *)m->data[i];
        for (int k = 0; k < n; k++) f[k] = (float)((k * 37) % 19 - 9) / 10.0f;
        t->data_size = (size_t)n * 4;
        return;
    }
    t->type = qtype;
    if (qtype == DF_TFLITE_INT32) {
        int32_t *q = (int32_t *)(void *)m->data[i];
        for (int k = 0; k < n; k++) q[k] = (k * 131) % 401 - 200;
        t->data_size = (size_t)n * 4;
        quant(m, i, n, 0, 0.0001f, 0);
        return;
    }
    for (int k = 0; k < n; k++) m->data[i][k] = (uint8_t)(k * 53 + 7);
    t->data_size = (size_t)n;
    quant(m, i, channels, dim, 0.004f, qtype == DF_TFLITE_UINT8 ? 120 : 1);
}

static df_tfb_op *new_op(model *m, int builtin, int opt_type, int n_in, int a, int b, int c,
                         int out) {
    df_tfb_op *o = &m->op[m->n_ops++];
    memset(o, 0, sizeof *o);
    o->builtin = builtin;
    o->options_type = opt_type;
    o->n_outputs = 1;
    o->new_shape_n = -1;
    o->n_inputs = n_in;
    o->inputs[0] = a;
    o->inputs[1] = b;
    o->inputs[2] = c;
    o->outputs[0] = out;
    return o;
}

static void build(model *m, int quantized) {
    memset(m, 0, sizeof *m);
    const int act = quantized ? DF_TFLITE_UINT8 : DF_TFLITE_FLOAT32;
    const int f32 = DF_TFLITE_FLOAT32;
    tensor(m, T_IN, "input", act, 4, 1, 10, 7, 3);
    tensor(m, T_A0, "a0", act, 4, 1, 5, 4, 4);
    tensor(m, T_A1, "a1", act, 4, 1, 5, 4, 8);
    tensor(m, T_A2, "a2", act, 4, 1, 5, 4, 4);
    tensor(m, T_SUM, "sum", act, 4, 1, 5, 4, 4);
    tensor(m, T_PADDED, "padded", act, 4, 1, 6, 5, 4);
    tensor(m, T_A3, "a3", act, 4, 1, 5, 4, 6);
    tensor(m, T_AVG, "avg", act, 4, 1, 3, 2, 6);
    tensor(m, T_MAX, "max", act, 4, 1, 2, 1, 6);
    tensor(m, T_MEAN, "features", act, 4, 1, 1, 1, 6);
    tensor(m, T_LOGITS, "logits", act, 2, 1, 5, 0, 0);
    tensor(m, T_FLAT, "flat", act, 2, 1, 5, 0, 0);
    tensor(m, T_PROB, "prob", act, 2, 1, 5, 0, 0);
    if (quantized) {
        const int acts[] = {T_IN, T_A0, T_A1, T_A2, T_SUM, T_PADDED, T_A3, T_AVG, T_MAX, T_MEAN,
                            T_LOGITS, T_FLAT, T_PROB};
        for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++)
            quant(m, acts[k], 1, 0, 0.02f + 0.001f * (float)k, 128);
    }
    tensor(m, T_W0, "w0", f32, 4, 4, 3, 3, 3);
    tensor(m, T_B0, "b0", f32, 1, 4, 0, 0, 0);
    tensor(m, T_W1, "w1", f32, 4, 1, 3, 3, 8);
    tensor(m, T_B1, "b1", f32, 1, 8, 0, 0, 0);
    tensor(m, T_W2, "w2", f32, 4, 4, 1, 1, 8);
    tensor(m, T_B2, "b2", f32, 1, 4, 0, 0, 0);
    tensor(m, T_W3, "w3", f32, 4, 6, 2, 2, 4);
    tensor(m, T_W4, "w4", f32, 2, 5, 6, 0, 0);
    tensor(m, T_B4, "b4", f32, 1, 5, 0, 0, 0);
    const int u8 = quantized ? DF_TFLITE_UINT8 : f32, i8 = quantized ? DF_TFLITE_INT8 : f32;
    const int i32 = quantized ? DF_TFLITE_INT32 : f32;
    constant(m, T_W0, 108, u8, 1, 0);
    constant(m, T_W1, 72, i8, quantized ? 8 : 1, 3);
    constant(m, T_W2, 32, i8, quantized ? 4 : 1, 0);
    constant(m, T_W3, 96, u8, 1, 0);
    constant(m, T_W4, 30, i8, 1, 0);
    constant(m, T_B0, 4, i32, 4, 0);
    constant(m, T_B1, 8, i32, 8, 0);
    constant(m, T_B2, 4, i32, 4, 0);
    constant(m, T_B4, 5, i32, 5, 0);
    const int32_t pads[8] = {0, 0, 1, 0, 0, 1, 0, 0}, axes[2] = {1, -2}, shape[2] = {1, 5};
    tensor(m, T_PADS, "paddings", DF_TFLITE_INT32, 2, 4, 2, 0, 0);
    memcpy(m->data[T_PADS], pads, sizeof pads);
    m->t[T_PADS].data = m->data[T_PADS];
    m->t[T_PADS].data_size = sizeof pads;
    tensor(m, T_AXES, "axes", DF_TFLITE_INT32, 1, 2, 0, 0, 0);
    memcpy(m->data[T_AXES], axes, sizeof axes);
    m->t[T_AXES].data = m->data[T_AXES];
    m->t[T_AXES].data_size = sizeof axes;
    tensor(m, T_SHAPE, "shape", DF_TFLITE_INT32, 1, 2, 0, 0, 0);
    memcpy(m->data[T_SHAPE], shape, sizeof shape);
    m->t[T_SHAPE].data = m->data[T_SHAPE];
    m->t[T_SHAPE].data_size = sizeof shape;

    df_tfb_op *o = new_op(m, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D, 3, T_IN, T_W0, T_B0, T_A0);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 2;
    o->activation = DF_TFLITE_ACT_RELU6;
    o = new_op(m, DF_TFLITE_OP_DEPTHWISE_CONV_2D, DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D, 3, T_A0, T_W1,
               T_B1, T_A1);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 1;
    o->depth_multiplier = 2;
    o->activation = DF_TFLITE_ACT_RELU;
    o = new_op(m, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D, 3, T_A1, T_W2, T_B2, T_A2);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    new_op(m, DF_TFLITE_OP_ADD, DF_TFLITE_OPTIONS_ADD, 2, T_A2, T_A0, 0, T_SUM);
    new_op(m, DF_TFLITE_OP_PAD, 0, 2, T_SUM, T_PADS, 0, T_PADDED);
    o = new_op(m, DF_TFLITE_OP_CONV_2D, DF_TFLITE_OPTIONS_CONV2D, 3, T_PADDED, T_W3, -1, T_A3);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    o = new_op(m, DF_TFLITE_OP_AVERAGE_POOL_2D, DF_TFLITE_OPTIONS_POOL2D, 1, T_A3, 0, 0, T_AVG);
    o->padding = DF_TFLITE_PAD_SAME;
    o->stride_h = o->stride_w = 2;
    o->filter_h = o->filter_w = 3;
    o = new_op(m, DF_TFLITE_OP_MAX_POOL_2D, DF_TFLITE_OPTIONS_POOL2D, 1, T_AVG, 0, 0, T_MAX);
    o->padding = DF_TFLITE_PAD_VALID;
    o->stride_h = o->stride_w = 1;
    o->filter_h = o->filter_w = 2;
    o = new_op(m, DF_TFLITE_OP_MEAN, DF_TFLITE_OPTIONS_REDUCER, 2, T_MAX, T_AXES, 0, T_MEAN);
    o->keep_dims = 1;
    new_op(m, DF_TFLITE_OP_FULLY_CONNECTED, DF_TFLITE_OPTIONS_FULLY_CONNECTED, 3, T_MEAN, T_W4,
           T_B4, T_LOGITS);
    o = new_op(m, DF_TFLITE_OP_RESHAPE, DF_TFLITE_OPTIONS_RESHAPE, 2, T_LOGITS, T_SHAPE, 0, T_FLAT);
    o->new_shape_n = 2;
    o->new_shape[0] = 1;
    o->new_shape[1] = 5;
    o = new_op(m, DF_TFLITE_OP_SOFTMAX, DF_TFLITE_OPTIONS_SOFTMAX, 1, T_FLAT, 0, 0, T_PROB);
    o->beta = 0.5f;
}

static int save(const char *dir, const char *name, const uint8_t *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    size_t n = f ? fwrite(data, 1, size, f) : 0;
    if (!f || fclose(f) != 0 || n != size) {
        perror(path);
        return 1;
    }
    return 0;
}

/* input 1x4x4x3 -> CONV_2D 1x1, 4096 channels, ReLU -> MEAN over H, W. */
static int save_wide(const char *dir) {
    enum { C = 4096 };
    static float w[C * 3], b[C];
    for (int k = 0; k < C * 3; k++) w[k] = (float)((k * 37) % 23 - 11) / 8.0f;
    for (int k = 0; k < C; k++) b[k] = (float)(k % 5) / 10.0f;
    const int32_t axes[2] = {1, 2};
    df_tfb_tensor t[5];
    memset(t, 0, sizeof t);
    t[0] = (df_tfb_tensor){"input", DF_TFLITE_FLOAT32, 4, {1, 4, 4, 3}, NULL, 0, 0, NULL, NULL, 0};
    t[1] = (df_tfb_tensor){"w", DF_TFLITE_FLOAT32, 4, {C, 1, 1, 3}, w, sizeof w, 0, NULL, NULL, 0};
    t[2] = (df_tfb_tensor){"b", DF_TFLITE_FLOAT32, 1, {C}, b, sizeof b, 0, NULL, NULL, 0};
    t[3] = (df_tfb_tensor){"a", DF_TFLITE_FLOAT32, 4, {1, 4, 4, C}, NULL, 0, 0, NULL, NULL, 0};
    t[4] = (df_tfb_tensor){"features", DF_TFLITE_FLOAT32, 4, {1, 1, 1, C}, NULL, 0, 0, NULL, NULL, 0};
    df_tfb_tensor axes_t = {"axes", DF_TFLITE_INT32, 1, {2}, axes, sizeof axes, 0, NULL, NULL, 0};
    df_tfb_tensor all[6] = {t[0], t[1], t[2], t[3], t[4], axes_t};
    df_tfb_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D, .n_inputs = 3, .n_outputs = 1,
                         .inputs = {0, 1, 2}, .outputs = {3},
                         .options_type = DF_TFLITE_OPTIONS_CONV2D, .padding = DF_TFLITE_PAD_VALID,
                         .stride_w = 1, .stride_h = 1, .activation = DF_TFLITE_ACT_RELU,
                         .new_shape_n = -1};
    ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_MEAN, .n_inputs = 2, .n_outputs = 1,
                         .inputs = {3, 5}, .outputs = {4},
                         .options_type = DF_TFLITE_OPTIONS_REDUCER, .keep_dims = 1,
                         .new_shape_n = -1};
    const int32_t in[1] = {0}, out[1] = {4};
    size_t size = 0;
    uint8_t *data = df_tfb_model(all, 6, ops, 2, in, 1, out, 1, 0, &size);
    int rc = save(dir, "wide_notop.tflite", data, size);
    free(data);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: tflite_seeds OUTDIR\n");
        return 2;
    }
    static model m; /* large: keep it off the stack */
    int rc = 0;
    for (int q = 0; q < 2; q++) {
        build(&m, q);
        for (int dep = 0; dep < 2; dep++) {
            const int32_t in[1] = {T_IN}, out[1] = {T_PROB};
            size_t size = 0;
            uint8_t *b = df_tfb_model(m.t, T_COUNT, m.op, m.n_ops, in, 1, out, 1, dep, &size);
            char name[64];
            snprintf(name, sizeof name, "%s%s.tflite", q ? "quant" : "float", dep ? "_deprecated" : "");
            rc |= save(argv[1], name, b, size);
            free(b);
        }
        /* The backbone without its top: output = the pooled feature. */
        const int32_t in[1] = {T_IN}, out[1] = {T_MEAN};
        size_t size = 0;
        uint8_t *b = df_tfb_model(m.t, T_COUNT, m.op, m.n_ops - 3, in, 1, out, 1, 0, &size);
        rc |= save(argv[1], q ? "quant_notop.tflite" : "float_notop.tflite", b, size);
        free(b);
    }
    rc |= save_wide(argv[1]);
    return rc ? 1 : 0;
}
