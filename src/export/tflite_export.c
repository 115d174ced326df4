/*
 * Classifier -> one TFLite flatbuffer (see tflite_export.h).
 *
 * The new model is assembled in a df_tflite_model (the reader's structs,
 * written by tflite_write.h): arrays are sized once per route, names,
 * quantization vectors and operator index lists are owned (freed by
 * df_tflite_destroy), constant data either borrows the backbone file's bytes
 * (copied backbone tensors) or lives in blobs owned here (the folded head).
 */
#include "export/tflite_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/pooling.h"
#include "backbone/tflite_backbone.h"
#include "backbone/vgg16.h"
#include "eval/unknown.h"
#include "formats/tflite.h"
#include "formats/tflite_metadata.h"
#include "formats/tflite_write.h"
#include "formats/zip.h"

#define LABELS_FILE "labels.txt"
#define UNKNOWN_FILE "unknown.json"
#define UNKNOWN_OUTPUT "training_similarity"

/* What the metadata says about the input: size and normalisation
 * (x - mean) / std per channel (one value = every channel). */
typedef struct input_desc {
    int h, w;
    int n_norm;
    float mean[3], std[3];
    const char *note;   /* appended to the input's description */
} input_desc;

df_export_options df_export_options_default(void) {
    df_export_options o;
    memset(&o, 0, sizeof o);
    o.name = "deepfashion";
    o.metadata = 1;
    o.unknown = 1;
    return o;
}

int df_export_float_backbone_for(const df_model *model) {
    return strcmp(model->meta.precision, "int8") != 0;
}

/* ---- the graph under construction ---- */

typedef struct graph {
    df_tflite_model *m;
    size_t cap_t, cap_op, cap_buf, cap_code;
    void **blobs;        /* cap_buf entries: data owned by the graph */
    df_error *err;
} graph;

static df_status nomem(graph *g) {
    return df_error_set(g->err, DF_ERR_NOMEM, "%s: out of memory", g->m->path);
}

static void graph_free(graph *g) {
    if (g->blobs)
        for (size_t i = 0; i < g->cap_buf; i++) free(g->blobs[i]);
    free(g->blobs);
    df_tflite_destroy(g->m);
    memset(g, 0, sizeof *g);
}

static df_status graph_init(graph *g, const char *path, size_t cap_t, size_t cap_op,
                            size_t cap_buf, size_t cap_code, df_error *err) {
    memset(g, 0, sizeof *g);
    g->err = err;
    g->cap_t = cap_t;
    g->cap_op = cap_op;
    g->cap_buf = cap_buf;
    g->cap_code = cap_code;
    df_tflite_model *m = calloc(1, sizeof *m);
    if (m) g->m = m;
    if (!m || !(m->path = strdup(path)) || !(m->tensors = calloc(cap_t, sizeof *m->tensors)) ||
        !(m->operators = calloc(cap_op, sizeof *m->operators)) ||
        !(m->buffers = calloc(cap_buf, sizeof *m->buffers)) ||
        !(m->opcodes = calloc(cap_code, sizeof *m->opcodes)) ||
        !(g->blobs = calloc(cap_buf, sizeof *g->blobs)) ||
        !(m->inputs = calloc(1, sizeof *m->inputs)) ||
        !(m->outputs = calloc(2, sizeof *m->outputs))) {
        graph_free(g);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    }
    m->version = 3;
    m->n_buffers = 1; /* buffer 0: the empty sentinel */
    return DF_OK;
}

static df_status overflow(graph *g, const char *what) {
    return df_error_set(g->err, DF_ERR_INTERNAL, "%s: more %s than planned", g->m->path, what);
}

/* A constant buffer; owned data is freed with the graph (even on failure). */
static df_status add_buffer(graph *g, const void *data, size_t size, int owned, uint32_t *out) {
    if (g->m->n_buffers == g->cap_buf) {
        if (owned) free((void *)data);
        return overflow(g, "buffers");
    }
    size_t i = g->m->n_buffers++;
    g->m->buffers[i].data = data;
    g->m->buffers[i].size = size;
    if (owned) g->blobs[i] = (void *)data;
    *out = (uint32_t)i;
    return DF_OK;
}

static df_status add_tensor(graph *g, const char *name, int type, int rank, const int32_t *shape,
                            uint32_t buffer, const df_tflite_quant *q, int *out) {
    if (g->m->n_tensors == g->cap_t) return overflow(g, "tensors");
    df_tflite_tensor *t = &g->m->tensors[g->m->n_tensors];
    memset(t, 0, sizeof *t);
    t->rank = rank;
    memcpy(t->shape, shape, (size_t)rank * sizeof *shape);
    t->type = type;
    t->buffer = buffer;
    if (!(t->name = strdup(name))) return nomem(g);
    if (q && q->n) {
        t->quant.n = q->n;
        t->quant.quantized_dimension = q->quantized_dimension;
        t->quant.scale = malloc(q->n * sizeof *q->scale);
        t->quant.zero_point = malloc(q->n * sizeof *q->zero_point);
        if (!t->quant.scale || !t->quant.zero_point) {
            free(t->quant.scale);
            free(t->quant.zero_point);
            t->quant.n = 0;
            t->quant.scale = NULL;
            t->quant.zero_point = NULL;
            free(t->name);
            t->name = NULL;
            return nomem(g);
        }
        memcpy(t->quant.scale, q->scale, q->n * sizeof *q->scale);
        memcpy(t->quant.zero_point, q->zero_point, q->n * sizeof *q->zero_point);
    }
    *out = (int)g->m->n_tensors++;
    return DF_OK;
}

static df_status add_opcode(graph *g, int builtin, int version, uint32_t *out) {
    df_tflite_model *m = g->m;
    for (size_t i = 0; i < m->n_opcodes; i++)
        if (m->opcodes[i].builtin == builtin) {
            if (m->opcodes[i].version < version) m->opcodes[i].version = version;
            *out = (uint32_t)i;
            return DF_OK;
        }
    if (m->n_opcodes == g->cap_code) return overflow(g, "operator codes");
    m->opcodes[m->n_opcodes].builtin = builtin;
    m->opcodes[m->n_opcodes].version = version;
    *out = (uint32_t)m->n_opcodes++;
    return DF_OK;
}

static df_status add_op(graph *g, int builtin, int version, const int32_t *in, int n_in,
                        const int32_t *outs, int n_out, const df_tflite_options *opt) {
    if (g->m->n_operators == g->cap_op) return overflow(g, "operators");
    uint32_t code = 0;
    df_status st = add_opcode(g, builtin, version, &code);
    if (st) return st;
    df_tflite_operator *op = &g->m->operators[g->m->n_operators];
    memset(op, 0, sizeof *op);
    op->opcode_index = code;
    op->builtin = builtin;
    op->inputs = malloc((size_t)(n_in ? n_in : 1) * sizeof *in);
    op->outputs = malloc((size_t)(n_out ? n_out : 1) * sizeof *outs);
    if (!op->inputs || !op->outputs) {
        free(op->inputs);
        free(op->outputs);
        op->inputs = op->outputs = NULL;
        return nomem(g);
    }
    memcpy(op->inputs, in, (size_t)n_in * sizeof *in);
    memcpy(op->outputs, outs, (size_t)n_out * sizeof *outs);
    op->n_inputs = n_in;
    op->n_outputs = n_out;
    if (opt) op->options = *opt;
    g->m->n_operators++;
    return DF_OK;
}

static df_tflite_options no_options(int type) {
    df_tflite_options o;
    memset(&o, 0, sizeof o);
    o.type = type;
    o.dilation_w = o.dilation_h = 1;
    o.new_shape_n = -1;
    o.beta = 1.0f;
    return o;
}

/* A float32 constant owning data (n floats). */
static df_status const_f32(graph *g, const char *name, int rank, const int32_t *shape,
                           float *data, size_t n, int *out) {
    uint32_t b = 0;
    df_status st = add_buffer(g, data, n * sizeof *data, 1, &b);
    if (st) return st;
    return add_tensor(g, name, DF_TFLITE_FLOAT32, rank, shape, b, NULL, out);
}

/* ---- the head ---- */

/* FULLY_CONNECTED y = act(x W^T + b) with W given [out][in] (owned). */
static df_status dense(graph *g, const char *name, int x, float *w, float *b, int n_in,
                       int n_out, int act, int *y) {
    char nm[96];
    int32_t wshape[2] = {n_out, n_in}, bshape[1] = {n_out}, yshape[2] = {1, n_out};
    int wt, bt;
    snprintf(nm, sizeof nm, "%s/kernel", name);
    df_status st = const_f32(g, nm, 2, wshape, w, (size_t)n_in * (size_t)n_out, &wt);
    if (st) {
        free(b);
        return st;
    }
    snprintf(nm, sizeof nm, "%s/bias", name);
    if ((st = const_f32(g, nm, 1, bshape, b, (size_t)n_out, &bt))) return st;
    snprintf(nm, sizeof nm, "%s/output", name);
    if ((st = add_tensor(g, nm, DF_TFLITE_FLOAT32, 2, yshape, 0, NULL, y))) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_FULLY_CONNECTED);
    o.activation = act;
    int32_t in[3] = {x, wt, bt}, out[1] = {*y};
    return add_op(g, DF_TFLITE_OP_FULLY_CONNECTED, 1, in, 3, out, 1, &o);
}

static int all_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* First dense with the standardisation folded in: kernel (in, out) Keras
 * layout -> W' [out][in] = kernel[i][o] / std[i], b'[o] = b[o] -
 * sum_i mean[i] / std[i] kernel[i][o]. */
static df_status fold_first(graph *g, const df_head *h, const float *kernel, const float *bias,
                            int n_in, int n_out, float **w_out, float **b_out) {
    const float *mean = df_head_std_mean(h), *sd = df_head_std_std(h);
    float *w = malloc((size_t)n_in * (size_t)n_out * sizeof *w);
    float *b = malloc((size_t)n_out * sizeof *b);
    double *acc = calloc((size_t)n_out, sizeof *acc);
    if (!w || !b || !acc) {
        free(w);
        free(b);
        free(acc);
        return nomem(g);
    }
    for (int i = 0; i < n_in; i++) {
        double inv = sd ? 1.0 / (double)sd[i] : 1.0, mu = mean ? (double)mean[i] : 0.0;
        for (int o = 0; o < n_out; o++) {
            double k = (double)kernel[(size_t)i * (size_t)n_out + (size_t)o] * inv;
            w[(size_t)o * (size_t)n_in + (size_t)i] = (float)k;
            acc[o] += mu * k;
        }
    }
    for (int o = 0; o < n_out; o++) b[o] = (float)((double)bias[o] - acc[o]);
    free(acc);
    *w_out = w;
    *b_out = b;
    return DF_OK;
}

/* Second dense with BatchNorm folded in (see the header). */
static df_status fold_second(graph *g, const df_head_tensor *t, int n_t, int units, int classes,
                             float eps, float **w_out, float **b_out) {
    const float *gamma = NULL, *beta = NULL, *mm = NULL, *mv = NULL, *k2 = NULL, *b2 = NULL;
    for (int i = 0; i < n_t; i++) {
        const char *wn = t[i].weight;
        if (!strcmp(wn, "batch_normalization/gamma:0")) gamma = t[i].data;
        else if (!strcmp(wn, "batch_normalization/beta:0")) beta = t[i].data;
        else if (!strcmp(wn, "batch_normalization/moving_mean:0")) mm = t[i].data;
        else if (!strcmp(wn, "batch_normalization/moving_variance:0")) mv = t[i].data;
        else if (!strcmp(wn, "dense_1/kernel:0")) k2 = t[i].data;
        else if (!strcmp(wn, "dense_1/bias:0")) b2 = t[i].data;
    }
    if (!k2 || !b2)
        return df_error_set(g->err, DF_ERR_INTERNAL, "%s: the head has no dense_1", g->m->path);
    float *w = malloc((size_t)units * (size_t)classes * sizeof *w);
    float *b = malloc((size_t)classes * sizeof *b);
    if (!w || !b) {
        free(w);
        free(b);
        return nomem(g);
    }
    for (int c = 0; c < classes; c++) {
        double acc = b2[c];
        for (int u = 0; u < units; u++) {
            double k = k2[(size_t)u * (size_t)classes + (size_t)c], s = 1.0, sh = 0.0;
            if (gamma) {
                s = (double)gamma[u] / sqrt((double)mv[u] + (double)eps);
                sh = (double)beta[u] - (double)mm[u] * s;
            }
            w[(size_t)c * (size_t)units + (size_t)u] = (float)(s * k);
            acc += sh * k;
        }
        b[c] = (float)acc;
    }
    *w_out = w;
    *b_out = b;
    return DF_OK;
}

/* Appends the head and SOFTMAX after float32 feature tensor x; sets the
 * graph output. */
static df_status append_head(graph *g, const df_model *model, int x) {
    /* df_head_tensors takes a mutable head to hand out writable views; the
     * exporter only reads through them. */
    df_head *h = (df_head *)model->head;
    const df_head_config *cfg = df_head_get_config(h);
    int in = df_head_in_dim(h), classes = df_head_classes(h);
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    int n_t = df_head_tensors(h, t);
    int linear = cfg->kind == DF_HEAD_LINEAR, n1 = linear ? classes : cfg->units;
    float *w = NULL, *b = NULL;
    df_status st = fold_first(g, h, t[0].data, t[1].data, in, n1, &w, &b);
    if (st) return st;
    if (!all_finite(w, (size_t)in * (size_t)n1) || !all_finite(b, (size_t)n1)) {
        free(w);
        free(b);
        return df_error_set(g->err, DF_ERR_DATA, "%s: the head's weights are not finite",
                            g->m->path);
    }
    int y;
    if ((st = dense(g, "dense", x, w, b, in, n1, linear ? DF_TFLITE_ACT_NONE : DF_TFLITE_ACT_RELU,
                    &y)))
        return st;
    if (!linear) {
        if ((st = fold_second(g, t, n_t, n1, classes, cfg->bn_eps, &w, &b))) return st;
        if (!all_finite(w, (size_t)n1 * (size_t)classes) || !all_finite(b, (size_t)classes)) {
            free(w);
            free(b);
            return df_error_set(g->err, DF_ERR_DATA,
                                "%s: the head's weights are not finite after folding BatchNorm",
                                g->m->path);
        }
        if ((st = dense(g, "dense_1", y, w, b, n1, classes, DF_TFLITE_ACT_NONE, &y))) return st;
    }
    int32_t pshape[2] = {1, classes};
    int p;
    if ((st = add_tensor(g, "probabilities", DF_TFLITE_FLOAT32, 2, pshape, 0, NULL, &p)))
        return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_SOFTMAX);
    /* The model's temperature (calibrated probabilities, as predict gives
     * them): softmax(z / T) is TFLite's softmax with beta = 1 / T. */
    if (model->temperature > 0.0f) o.beta = 1.0f / model->temperature;
    int32_t sin[1] = {y}, sout[1] = {p};
    if ((st = add_op(g, DF_TFLITE_OP_SOFTMAX, 1, sin, 1, sout, 1, &o))) return st;
    g->m->outputs[0] = p;
    g->m->n_outputs = 1;
    return DF_OK;
}

/* 1 when the model's unknown detector goes into the export. */
static int exports_unknown(const df_model *model, const df_export_options *opt) {
    return opt->unknown && model->unknown != NULL;
}

/* AVERAGE_POOL_2D (fh x fw filter, stride s, VALID) of float tensor x into
 * a new float tensor `name` of shape ys; *y is it. */
static df_status append_avgpool(graph *g, const char *name, int x, int fh, int fw, int s, const int32_t ys[4],
                                int *y) {
    df_status st = add_tensor(g, name, DF_TFLITE_FLOAT32, 4, ys, 0, NULL, y);
    if (st) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_POOL2D);
    o.padding = DF_TFLITE_PAD_VALID;
    o.filter_h = fh;
    o.filter_w = fw;
    o.stride_h = o.stride_w = s;
    int32_t in[1] = {x}, out[1] = {*y};
    return add_op(g, DF_TFLITE_OP_AVERAGE_POOL_2D, 1, in, 1, out, 1, &o);
}

/* The unknown detector's part (eval/unknown.h), after float32 feature
 * tensor x: [RESHAPE to 1 x dim] -> L2_NORMALIZATION -> FULLY_CONNECTED
 * against the normalised training rows = the cosine similarity to each
 * training photo, graph output 1 ("training_similarity", 1 x n). The
 * score, 1 - the mean of the k largest, and the threshold are the reader's
 * (unknown.json). Only the raw cosine (no centring mean) is expressed. */
static df_status append_unknown(graph *g, const df_model *model, int x) {
    const df_unknown_detector *u = model->unknown;
    const df_tflite_tensor *rt = &g->m->tensors[x];
    /* Regions: the detector takes the mean over the windows (eval/unknown.h
     * df_unknown_window_mean), the regions tensor averaged whole. */
    const int windows = u->dim != model->meta.feature_dim && rt->rank == 4 && rt->shape[3] == u->dim &&
                        (size_t)rt->shape[1] * (size_t)rt->shape[2] * (size_t)u->dim == (size_t)model->meta.feature_dim;
    if (u->method != DF_UNKNOWN_KNN_COSINE || (u->dim != model->meta.feature_dim && !windows))
        return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: unknown detector method %d over %d "
                            "features (export --no-unknown leaves it out)", g->m->path, u->method,
                            u->dim);
    for (int j = 0; j < u->dim; j++)
        if (u->mean[j] != 0.0f)
            return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: the unknown detector centres "
                                "the features, which the export does not express (export "
                                "--no-unknown leaves it out)", g->m->path);
    if (!all_finite(u->ref, (size_t)u->n * (size_t)u->dim))
        return df_error_set(g->err, DF_ERR_DATA, "%s: the unknown detector's rows are not finite",
                            g->m->path);
    df_status st;
    const int32_t ms[4] = {1, 1, 1, u->dim};
    if (windows && (st = append_avgpool(g, "unknown/window_mean", x, rt->shape[1], rt->shape[2], 1, ms, &x)))
        return st;
    const df_tflite_tensor *xt = &g->m->tensors[x];
    int32_t flat[2] = {1, u->dim};
    if (xt->rank < 1 || xt->shape[xt->rank - 1] != u->dim) {
        int32_t *shape = malloc(sizeof flat), sshape[1] = {2};
        if (!shape) return nomem(g);
        memcpy(shape, flat, sizeof flat);
        uint32_t b;
        int s_t, r;
        if ((st = add_buffer(g, shape, sizeof flat, 1, &b)) ||
            (st = add_tensor(g, "unknown/shape", DF_TFLITE_INT32, 1, sshape, b, NULL, &s_t)) ||
            (st = add_tensor(g, "unknown/flat", DF_TFLITE_FLOAT32, 2, flat, 0, NULL, &r)))
            return st;
        df_tflite_options o = no_options(DF_TFLITE_OPTIONS_RESHAPE);
        o.new_shape_n = 2;
        o.new_shape[0] = 1;
        o.new_shape[1] = u->dim;
        int32_t in[2] = {x, s_t}, out[1] = {r};
        if ((st = add_op(g, DF_TFLITE_OP_RESHAPE, 1, in, 2, out, 1, &o))) return st;
        x = r;
        xt = &g->m->tensors[x];
    }
    int nx;
    if ((st = add_tensor(g, "unknown/normalised", DF_TFLITE_FLOAT32, xt->rank, xt->shape, 0, NULL,
                         &nx)))
        return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_NONE);
    int32_t lin[1] = {x}, lout[1] = {nx};
    if ((st = add_op(g, DF_TFLITE_OP_L2_NORMALIZATION, 1, lin, 1, lout, 1, &o))) return st;
    size_t nw = (size_t)u->n * (size_t)u->dim;
    float *w = malloc(nw * sizeof *w), *b = calloc((size_t)u->n, sizeof *b);
    if (!w || !b) {
        free(w);
        free(b);
        return nomem(g);
    }
    memcpy(w, u->ref, nw * sizeof *w);
    int wt, bt, y;
    int32_t wshape[2] = {u->n, u->dim}, bshape[1] = {u->n}, yshape[2] = {1, u->n};
    st = const_f32(g, "unknown/training_rows", 2, wshape, w, nw, &wt);
    if (st) {
        free(b);
        return st;
    }
    if ((st = const_f32(g, "unknown/zero_bias", 1, bshape, b, (size_t)u->n, &bt)) ||
        (st = add_tensor(g, UNKNOWN_OUTPUT, DF_TFLITE_FLOAT32, 2, yshape, 0, NULL, &y)))
        return st;
    df_tflite_options fo = no_options(DF_TFLITE_OPTIONS_FULLY_CONNECTED);
    int32_t fin[3] = {nx, wt, bt}, fout[1] = {y};
    if ((st = add_op(g, DF_TFLITE_OP_FULLY_CONNECTED, 1, fin, 3, fout, 1, &fo))) return st;
    g->m->outputs[g->m->n_outputs++] = y;
    return DF_OK;
}

/* unknown.json: what turns output 1 into predict's unknown answer. */
static char *unknown_json(const df_model *model, size_t *size) {
    const df_unknown_detector *u = model->unknown;
    char *t = malloc(512);
    if (!t) return NULL;
    int n = snprintf(t, 512, "{\"output\":\"%s\",\"method\":\"knn_cosine\",\"k\":%d,"
                     "\"rows\":%d,\"threshold\":%.9g,\"rate\":%.9g,\"score\":\"1 - mean of "
                     "the k largest similarities; unknown when score > threshold\"}\n",
                     UNKNOWN_OUTPUT, u->k, u->n, (double)u->threshold, (double)u->rate);
    *size = n > 0 && n < 512 ? (size_t)n : 0;
    return t;
}

/* ---- writing: the flatbuffer, metadata, labels ---- */

static char *describe(const df_model *model, const df_export_options *opt) {
    const df_model_meta *m = &model->meta;
    const df_head_config *cfg = df_head_get_config(model->head);
    size_t cap = 256;
    for (int i = 0; i < m->num_classes; i++) cap += strlen(m->class_names[i]) + 2;
    if (opt->description) cap += strlen(opt->description);
    char *d = malloc(cap);
    if (!d) return NULL;
    if (opt->description) {
        snprintf(d, cap, "%s", opt->description);
        return d;
    }
    int k = snprintf(d, cap, "Photo classifier trained with DeepFashion: %.100s features, %s head, "
                     "%d classes (", m->backbone_name, df_head_kind_name(cfg->kind),
                     m->num_classes);
    for (int i = 0; i < m->num_classes && k > 0 && (size_t)k < cap; i++)
        k += snprintf(d + k, cap - (size_t)k, "%s%s", i ? ", " : "", m->class_names[i]);
    if (k > 0 && (size_t)k < cap) snprintf(d + k, cap - (size_t)k, ")");
    return d;
}

/* labels.txt: one class name per line, in class (output) order. */
static char *labels_text(const df_model *model, size_t *size) {
    size_t n = 0;
    for (int i = 0; i < model->meta.num_classes; i++) n += strlen(model->meta.class_names[i]) + 1;
    char *t = malloc(n + 1), *p = t;
    if (!t) return NULL;
    for (int i = 0; i < model->meta.num_classes; i++) {
        size_t len = strlen(model->meta.class_names[i]);
        memcpy(p, model->meta.class_names[i], len);
        p[len] = '\n';
        p += len + 1;
    }
    *p = '\0';
    *size = n;
    return t;
}

static df_status metadata(graph *g, const df_model *model, const df_export_options *opt,
                          const char *desc, const input_desc *in, uint8_t **out, size_t *size) {
    char in_desc[256], out_desc[128];
    snprintf(in_desc, sizeof in_desc, "Input image to be classified: %dx%d RGB%s%s", in->w, in->h,
             in->note ? ". " : "", in->note ? in->note : "");
    snprintf(out_desc, sizeof out_desc, "Probabilities of the %d labels respectively.",
             model->meta.num_classes);
    df_tflite_md md;
    memset(&md, 0, sizeof md);
    md.name = (char *)(opt->name ? opt->name : "deepfashion");
    md.description = (char *)desc;
    md.version = (char *)"v1";
    md.author = (char *)"DeepFashion";
    md.min_parser_version = (char *)DF_TFLITE_METADATA_PARSER_VERSION;
    md.input_name = (char *)"image";
    md.input_description = in_desc;
    md.color_space = DF_MD_COLOR_RGB;
    md.width = (uint32_t)in->w;
    md.height = (uint32_t)in->h;
    md.n_norm = in->n_norm;
    memcpy(md.mean, in->mean, sizeof in->mean);
    memcpy(md.std, in->std, sizeof in->std);
    md.output_name = (char *)"probability";
    md.output_description = out_desc;
    md.has_stats = 1;
    md.stats_min = 0.0f;
    md.stats_max = 1.0f;
    md.labels_file = (char *)LABELS_FILE;
    md.labels_description = (char *)"Labels for objects that the model can recognize.";
    md.labels_type = DF_MD_FILE_TENSOR_AXIS_LABELS;
    char sim_desc[320];
    if (exports_unknown(model, opt)) {
        const df_unknown_detector *u = model->unknown;
        snprintf(sim_desc, sizeof sim_desc, "Cosine similarity of the photo's backbone features "
                 "to each of the %d training photos'. Unknown detector: score = 1 - the mean of "
                 "the %d largest; the photo is none of the labels when score > %.6g (%s).", u->n,
                 u->k, (double)u->threshold, UNKNOWN_FILE);
        md.output2.name = (char *)UNKNOWN_OUTPUT;
        md.output2.description = sim_desc;
        md.output2.has_stats = 1;
        md.output2.stats_min = -1.0f;
        md.output2.stats_max = 1.0f;
        md.output2.file = (char *)UNKNOWN_FILE;
        md.output2.file_description = (char *)"The unknown detector's k and threshold (JSON).";
        md.output2.file_type = DF_MD_FILE_DESCRIPTIONS;
    }
    return df_tflite_md_build(&md, g->m->path, out, size, g->err);
}

/* Writes the flatbuffer (+ TFLITE_METADATA) and appends the labels zip. */
static df_status finish(graph *g, const df_model *model, const df_export_options *opt,
                        const input_desc *in, uint8_t **out, size_t *out_size) {
    *out = NULL;
    *out_size = 0;
    df_tflite_write_extras x;
    memset(&x, 0, sizeof x);
    df_tflite_metadata_entry entry = {DF_TFLITE_METADATA_NAME, 0};
    char *desc = describe(model, opt);
    if (!desc) return nomem(g);
    x.description = desc;
    df_status st = DF_OK;
    if (opt->metadata) {
        uint8_t *md;
        size_t md_size;
        st = metadata(g, model, opt, desc, in, &md, &md_size);
        if (!st) st = add_buffer(g, md, md_size, 1, &entry.buffer);
        x.n_metadata = 1;
        x.metadata = &entry;
    }
    uint8_t *fb = NULL, *zip = NULL;
    size_t fb_size = 0, zip_size = 0;
    if (!st) st = df_tflite_write(g->m, &x, &fb, &fb_size, g->err);
    free(desc);
    if (!st && opt->metadata) {
        size_t n = 0, nu = 0;
        char *labels = labels_text(model, &n);
        char *uj = exports_unknown(model, opt) ? unknown_json(model, &nu) : NULL;
        df_zip_entry e[2] = {{LABELS_FILE, (const uint8_t *)labels, n},
                             {UNKNOWN_FILE, (const uint8_t *)uj, nu}};
        st = labels && (uj || !exports_unknown(model, opt))
                 ? df_zip_write(e, uj ? 2 : 1, fb_size, &zip, &zip_size, g->err)
                 : nomem(g);
        free(labels);
        free(uj);
    }
    if (!st && zip) {
        uint8_t *all = realloc(fb, fb_size + zip_size);
        if (!all) {
            st = nomem(g);
        } else {
            memcpy(all + fb_size, zip, zip_size);
            fb = all;
            fb_size += zip_size;
        }
    }
    free(zip);
    if (st) {
        free(fb);
        return st;
    }
    *out = fb;
    *out_size = fb_size;
    return DF_OK;
}

/* ---- MobileNet-style TFLite backbones ---- */

static int copyable_op(int builtin) {
    switch (builtin) {
    case DF_TFLITE_OP_CONV_2D:
    case DF_TFLITE_OP_DEPTHWISE_CONV_2D:
    case DF_TFLITE_OP_AVERAGE_POOL_2D:
    case DF_TFLITE_OP_MAX_POOL_2D:
    case DF_TFLITE_OP_MEAN:
    case DF_TFLITE_OP_ADD:
    case DF_TFLITE_OP_PAD:
    case DF_TFLITE_OP_QUANTIZE:
    case DF_TFLITE_OP_DEQUANTIZE:
    case DF_TFLITE_OP_RESHAPE:
    case DF_TFLITE_OP_SQUEEZE: return 1;
    default: return 0;
    }
}

/* Copying the backbone: tmap/bmap map src tensors/buffers to the new
 * graph's (-1 / 0 = not yet copied). to_float: quantized constants become
 * float32 (real = scale * (q - zero_point), per channel where the file says
 * so), quantized activations float32 without quantization. */
typedef struct copier {
    graph *g;
    const df_tflite_model *src;
    int *tmap;
    uint32_t *bmap;
    int to_float;
} copier;

static int is_quantized_type(int type) {
    return type == DF_TFLITE_UINT8 || type == DF_TFLITE_INT8 || type == DF_TFLITE_INT32;
}

/* Constant t of src as float32 (owned blob of n floats). */
static df_status dequantized(copier *c, const df_tflite_tensor *t, const uint8_t *p, float **out) {
    size_t n = df_tflite_tensor_elements(t), inner = 1, dim = 1;
    const df_tflite_quant *q = &t->quant;
    float *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return nomem(c->g);
    if (q->n > 1) { /* per channel: shape[d] == q->n (reader checked) */
        for (int k = q->quantized_dimension + 1; k < t->rank; k++) inner *= (size_t)t->shape[k];
        dim = (size_t)t->shape[q->quantized_dimension];
    }
    for (size_t k = 0; k < n; k++) {
        double v;
        if (t->type == DF_TFLITE_UINT8) v = p[k];
        else if (t->type == DF_TFLITE_INT8) v = (int8_t)p[k];
        else {
            int32_t i32;
            memcpy(&i32, p + 4 * k, 4);
            v = i32;
        }
        size_t ch = q->n > 1 ? (k / inner) % dim : 0;
        o[k] = (float)((double)q->scale[ch] * (v - (double)q->zero_point[ch]));
    }
    *out = o;
    return DF_OK;
}

/* Tensor old of src in the new graph (copied on first use). */
static df_status map_tensor(copier *c, int old, int *out) {
    *out = -1;
    if (old < 0) return DF_OK;
    if (c->tmap[old] >= 0) {
        *out = c->tmap[old];
        return DF_OK;
    }
    graph *g = c->g;
    const df_tflite_tensor *t = &c->src->tensors[old];
    const df_tflite_buffer *sb = &c->src->buffers[t->buffer];
    int quantized = t->quant.n > 0 && is_quantized_type(t->type);
    df_status st;
    if (c->to_float && quantized && sb->size) {
        float *f = NULL;
        if ((st = dequantized(c, t, sb->data, &f)) ||
            (st = const_f32(g, t->name, t->rank, t->shape, f, df_tflite_tensor_elements(t),
                            &c->tmap[old])))
            return st;
        *out = c->tmap[old];
        return DF_OK;
    }
    if (c->to_float && quantized) {
        st = add_tensor(g, t->name, DF_TFLITE_FLOAT32, t->rank, t->shape, 0, NULL, &c->tmap[old]);
        if (!st) *out = c->tmap[old];
        return st;
    }
    uint32_t b = 0;
    if (sb->size) {
        if (!c->bmap[t->buffer] &&
            (st = add_buffer(g, sb->data, sb->size, 0, &c->bmap[t->buffer])))
            return st;
        b = c->bmap[t->buffer];
    }
    if ((st = add_tensor(g, t->name, t->type, t->rank, t->shape, b, &t->quant, &c->tmap[old])))
        return st;
    *out = c->tmap[old];
    return DF_OK;
}

/* The graph input. Float mode keeps the input as it is (uint8 photos in)
 * and DEQUANTIZEs it once; the float copy stands for it in the graph. */
static df_status copy_input(copier *c) {
    graph *g = c->g;
    int old = c->src->inputs[0], in;
    const df_tflite_tensor *t = &c->src->tensors[old];
    df_status st = add_tensor(g, t->name, t->type, t->rank, t->shape, 0, &t->quant, &in);
    if (st) return st;
    g->m->inputs[0] = in;
    g->m->n_inputs = 1;
    c->tmap[old] = in;
    if (!c->to_float || t->type == DF_TFLITE_FLOAT32) return DF_OK;
    if (t->type != DF_TFLITE_UINT8 && t->type != DF_TFLITE_INT8)
        return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: input of type %s", c->src->path,
                            df_tflite_type_name(t->type));
    char name[160];
    snprintf(name, sizeof name, "%.120s/dequantized", t->name);
    int f;
    if ((st = add_tensor(g, name, DF_TFLITE_FLOAT32, t->rank, t->shape, 0, NULL, &f))) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_DEQUANTIZE);
    int32_t din[1] = {in}, dout[1] = {f};
    if ((st = add_op(g, DF_TFLITE_OP_DEQUANTIZE, t->type == DF_TFLITE_INT8 ? 2 : 1, din, 1, dout,
                     1, &o)))
        return st;
    c->tmap[old] = f;
    return DF_OK;
}

/* One operator of the backbone; in float mode QUANTIZE and DEQUANTIZE
 * vanish (their output is their input). */
static df_status copy_op(copier *c, size_t i) {
    const df_tflite_operator *op = &c->src->operators[i];
    graph *g = c->g;
    if (!copyable_op(op->builtin))
        return df_error_set(g->err, DF_ERR_UNSUPPORTED,
                            "%s: operator %zu (%s) before the feature tensor is not one the "
                            "exporter copies", c->src->path, i, df_tflite_op_name(op->builtin));
    if (op->n_inputs < 1 || op->n_inputs > 16 || op->n_outputs < 1 || op->n_outputs > 4)
        return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: operator %zu has %d inputs and %d "
                            "outputs", c->src->path, i, op->n_inputs, op->n_outputs);
    df_status st;
    if (c->to_float &&
        (op->builtin == DF_TFLITE_OP_QUANTIZE || op->builtin == DF_TFLITE_OP_DEQUANTIZE)) {
        int x;
        if ((st = map_tensor(c, op->inputs[0], &x))) return st;
        if (x < 0 || c->tmap[op->outputs[0]] >= 0)
            return df_error_set(g->err, DF_ERR_FORMAT, "%s: operator %zu (%s): bad input or "
                                "output", c->src->path, i, df_tflite_op_name(op->builtin));
        c->tmap[op->outputs[0]] = x;
        return DF_OK;
    }
    int32_t ins[16], outs[4];
    for (int k = 0; k < op->n_inputs; k++) {
        int v;
        if ((st = map_tensor(c, op->inputs[k], &v))) return st;
        ins[k] = v;
    }
    for (int k = 0; k < op->n_outputs; k++) {
        int v;
        if ((st = map_tensor(c, op->outputs[k], &v))) return st;
        outs[k] = v;
    }
    /* Float kernels are version 1 of every op copied here. */
    int version = c->to_float ? 1 : c->src->opcodes[op->opcode_index].version;
    return add_op(g, op->builtin, version, ins, op->n_inputs, outs, op->n_outputs, &op->options);
}

/* Copies the operators that compute tensor cut from the graph input. */
static df_status copy_backbone(graph *g, const df_tflite_model *src, int cut, int to_float,
                               int *new_cut) {
    size_t nt = src->n_tensors, no = src->n_operators;
    char *need_t = calloc(nt ? nt : 1, 1), *need_op = calloc(no ? no : 1, 1);
    copier c = {g, src, malloc((nt ? nt : 1) * sizeof(int)),
                calloc(src->n_buffers ? src->n_buffers : 1, sizeof(uint32_t)), to_float};
    df_status st = DF_OK;
    if (!need_t || !need_op || !c.tmap || !c.bmap) {
        st = nomem(g);
        goto done;
    }
    for (size_t i = 0; i < nt; i++) c.tmap[i] = -1;
    need_t[cut] = 1;
    for (size_t i = no; i-- > 0;) {
        const df_tflite_operator *op = &src->operators[i];
        for (int k = 0; k < op->n_outputs; k++) need_op[i] |= need_t[op->outputs[k]];
        if (!need_op[i]) continue;
        for (int k = 0; k < op->n_inputs; k++)
            if (op->inputs[k] >= 0) need_t[op->inputs[k]] = 1;
    }
    st = copy_input(&c);
    for (size_t i = 0; i < no && !st; i++)
        if (need_op[i]) st = copy_op(&c, i);
    if (!st && (c.tmap[cut] < 0 || cut == src->inputs[0]))
        st = df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: tensor %s is not computed from the "
                          "graph input", src->path, src->tensors[cut].name);
    if (!st) *new_cut = c.tmap[cut];
done:
    free(need_t);
    free(need_op);
    free(c.tmap);
    free(c.bmap);
    return st;
}

/* The normalisation that turns a pixel into the input tensor's value, as
 * the executor (df_tflite_preprocess) and the Task Library apply it: uint8
 * q = pixel (mean = zero point, std = 1 / scale); int8 q = pixel - 128
 * (mean = 128 + zero point); float32 pixel / 127.5 - 1. */
static df_status describe_input(graph *g, input_desc *d) {
    const df_tflite_tensor *in = &g->m->tensors[g->m->inputs[0]];
    memset(d, 0, sizeof *d);
    if (in->rank != 4 || in->shape[0] != 1 || in->shape[3] != 3)
        return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: input %s is not 1xHxWx3",
                            g->m->path, in->name);
    d->h = in->shape[1];
    d->w = in->shape[2];
    d->n_norm = 1;
    if (in->type == DF_TFLITE_FLOAT32) {
        d->mean[0] = d->std[0] = 127.5f;
        return DF_OK;
    }
    if ((in->type != DF_TFLITE_UINT8 && in->type != DF_TFLITE_INT8) || in->quant.n != 1 ||
        !(in->quant.scale[0] > 0.0f))
        return df_error_set(g->err, DF_ERR_UNSUPPORTED, "%s: input %s of type %s without one "
                            "positive scale", g->m->path, in->name, df_tflite_type_name(in->type));
    double zp = (double)in->quant.zero_point[0] + (in->type == DF_TFLITE_INT8 ? 128.0 : 0.0);
    d->mean[0] = (float)zp;
    d->std[0] = (float)(1.0 / (double)in->quant.scale[0]);
    d->note = in->type == DF_TFLITE_UINT8 ? "uint8 pixels as they are" : "int8: pixel - 128";
    return DF_OK;
}

/* Pooling by regions (backbone/pooling.h) on float map x (1 x H x W x C):
 * AVERAGE_POOL_2D with a k x k filter at stride s, VALID padding, into
 * 1 x nh x nw x C, whose row-major order is the features' (window-major);
 * FULLY_CONNECTED flattens it as it is. */
static df_status append_regions(graph *g, const df_pooling *pool, const df_tflite_tensor *map, int x, int *y) {
    const int32_t ys[4] = {1, df_pooling_windows(pool, map->shape[1]), df_pooling_windows(pool, map->shape[2]),
                           map->shape[3]};
    return append_avgpool(g, "regions", x, pool->k, pool->k, pool->s, ys, y);
}

static df_status check_model_for(const df_model *model, const char *kind, const char *name,
                                 df_error *err) {
    if (strcmp(model->meta.backbone_kind, kind) != 0)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "%s: the model's backbone is '%s', not '%s'", name,
                            model->meta.backbone_kind, kind);
    if (df_head_in_dim(model->head) != model->meta.feature_dim)
        return df_error_set(err, DF_ERR_SHAPE, "%s: head takes %d features, the model says %d",
                            name, df_head_in_dim(model->head), model->meta.feature_dim);
    return DF_OK;
}

df_status df_export_tflite(const uint8_t *bytes, size_t size, const char *backbone_name,
                           const char *cut_tensor, const df_model *model,
                           const df_export_options *opt, uint8_t **out, size_t *out_size,
                           df_error *err) {
    *out = NULL;
    *out_size = 0;
    df_status st = check_model_for(model, "tflite", backbone_name, err);
    if (st) return st;
    df_tflite_model *src;
    if ((st = df_tflite_parse(bytes, size, backbone_name, &src, err))) return st;
    graph g;
    memset(&g, 0, sizeof g);
    if (src->n_inputs != 1) {
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: %zu graph inputs (expected one image)",
                          backbone_name, src->n_inputs);
        goto done;
    }
    df_pooling pool;
    if ((st = df_pooling_parse(model->meta.pooling[0] ? model->meta.pooling : "mean", &pool, err))) goto done;
    const int regions = pool.kind == DF_POOLING_REGIONS;
    if (regions && cut_tensor) {
        st = df_error_set(err, DF_ERR_INVALID_ARG, "%s: a model pooled by regions has no cut tensor ('%s')",
                          backbone_name, cut_tensor);
        goto done;
    }
    int cut = cut_tensor ? df_tflite_find_tensor(src, cut_tensor)
                         : regions ? df_tflite_feature_map_tensor(src) : df_tflite_feature_tensor(src);
    if (cut < 0) {
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: feature tensor %s not found", backbone_name,
                          cut_tensor ? cut_tensor : "(globally pooled)");
        goto done;
    }
    const df_tflite_tensor *ct = &src->tensors[cut];
    const size_t pooled = !regions           ? df_tflite_tensor_elements(ct)
                          : ct->rank == 4 ? df_pooling_dim(&pool, ct->shape[1], ct->shape[2], ct->shape[3])
                                          : 0;
    if (pooled != (size_t)model->meta.feature_dim) {
        st = df_error_set(err, DF_ERR_SHAPE, "%s: feature tensor %s gives %zu values, the model's "
                          "head takes %d", backbone_name, ct->name, pooled, model->meta.feature_dim);
        goto done;
    }
    if (ct->type != DF_TFLITE_FLOAT32 && (ct->type != DF_TFLITE_UINT8 && ct->type != DF_TFLITE_INT8)) {
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: feature tensor %s has type %s",
                          backbone_name, ct->name, df_tflite_type_name(ct->type));
        goto done;
    }
    if ((st = graph_init(&g, backbone_name, src->n_tensors + 24, src->n_operators + 12,
                         src->n_tensors + src->n_buffers + 24, src->n_opcodes + 12, err)))
        goto done;
    int x = -1;
    input_desc input;
    if ((st = copy_backbone(&g, src, cut, opt->float_backbone, &x))) goto done;
    if ((st = describe_input(&g, &input))) goto done;
    if (g.m->tensors[x].type != DF_TFLITE_FLOAT32) {
        int f;
        if ((st = add_tensor(&g, "features", DF_TFLITE_FLOAT32, ct->rank, ct->shape, 0, NULL, &f)))
            goto done;
        df_tflite_options o = no_options(DF_TFLITE_OPTIONS_DEQUANTIZE);
        int32_t din[1] = {x}, dout[1] = {f};
        if ((st = add_op(&g, DF_TFLITE_OP_DEQUANTIZE, ct->type == DF_TFLITE_INT8 ? 2 : 1, din, 1,
                         dout, 1, &o)))
            goto done;
        x = f;
    }
    if (regions && (st = append_regions(&g, &pool, ct, x, &x))) goto done;
    if ((st = append_head(&g, model, x))) goto done;
    if (exports_unknown(model, opt) && (st = append_unknown(&g, model, x))) goto done;
    st = finish(&g, model, opt, &input, out, out_size);
done:
    if (g.m) graph_free(&g);
    df_tflite_destroy(src);
    return st;
}

/* ---- VGG16 ---- */

/* Keras' caffe preprocessing: BGR minus these means (B, G, R). */
static const float CAFFE_MEAN_BGR[3] = {103.939f, 116.779f, 123.68f};

/* CONV_2D 3x3 SAME stride 1 + RELU; the Keras HWIO kernel becomes TFLite's
 * OHWI. swap_rgb: the input channels reversed (the first conv reads RGB
 * where Keras fed BGR: the same sum, exactly). */
static df_status vgg_conv(graph *g, int i, const float *hwio, const float *bias, int swap_rgb,
                          int x, int h, int w, int *y) {
    int ic, oc;
    df_vgg16_conv_channels(i, &ic, &oc);
    size_t nk = (size_t)9 * (size_t)ic * (size_t)oc;
    float *ohwi = malloc(nk * sizeof *ohwi), *b = malloc((size_t)oc * sizeof *b);
    if (!ohwi || !b) {
        free(ohwi);
        free(b);
        return nomem(g);
    }
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
            for (int c = 0; c < ic; c++)
                for (int o = 0; o < oc; o++) {
                    int cs = swap_rgb ? ic - 1 - c : c;
                    ohwi[(((size_t)o * 3 + (size_t)ky) * 3 + (size_t)kx) * (size_t)ic + (size_t)c] =
                        hwio[(((size_t)ky * 3 + (size_t)kx) * (size_t)ic + (size_t)cs) * (size_t)oc +
                             (size_t)o];
                }
    memcpy(b, bias, (size_t)oc * sizeof *b);
    char name[64], nm[96];
    df_vgg16_conv_name(i, name, sizeof name);
    int32_t ks[4] = {oc, 3, 3, ic}, bs[1] = {oc}, ys[4] = {1, h, w, oc};
    int kt, bt;
    snprintf(nm, sizeof nm, "%s/kernel", name);
    df_status st = const_f32(g, nm, 4, ks, ohwi, nk, &kt);
    if (st) {
        free(b);
        return st;
    }
    snprintf(nm, sizeof nm, "%s/bias", name);
    if ((st = const_f32(g, nm, 1, bs, b, (size_t)oc, &bt))) return st;
    if ((st = add_tensor(g, name, DF_TFLITE_FLOAT32, 4, ys, 0, NULL, y))) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_CONV2D);
    o.padding = DF_TFLITE_PAD_SAME;
    o.stride_w = o.stride_h = 1;
    o.activation = DF_TFLITE_ACT_RELU;
    int32_t in[3] = {x, kt, bt}, out[1] = {*y};
    return add_op(g, DF_TFLITE_OP_CONV_2D, 1, in, 3, out, 1, &o);
}

static df_status vgg_pool(graph *g, int block, int x, int h, int w, int c, int *y) {
    char name[32];
    snprintf(name, sizeof name, "block%d_pool", block);
    int32_t ys[4] = {1, h, w, c};
    df_status st = add_tensor(g, name, DF_TFLITE_FLOAT32, 4, ys, 0, NULL, y);
    if (st) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_POOL2D);
    o.padding = DF_TFLITE_PAD_VALID;
    o.stride_w = o.stride_h = o.filter_w = o.filter_h = 2;
    int32_t in[1] = {x}, out[1] = {*y};
    return add_op(g, DF_TFLITE_OP_MAX_POOL_2D, 1, in, 1, out, 1, &o);
}

/* MEAN over H and W, keep_dims: [1, h, w, c] -> [1, 1, 1, c]. */
static df_status vgg_mean(graph *g, int x, int c, int *y) {
    int32_t *axes = malloc(2 * sizeof *axes);
    if (!axes) return nomem(g);
    axes[0] = 1;
    axes[1] = 2;
    uint32_t b;
    int at;
    int32_t as[1] = {2}, ys[4] = {1, 1, 1, c};
    df_status st = add_buffer(g, axes, 2 * sizeof *axes, 1, &b);
    if (!st) st = add_tensor(g, "global_average/axes", DF_TFLITE_INT32, 1, as, b, NULL, &at);
    if (!st) st = add_tensor(g, "global_average", DF_TFLITE_FLOAT32, 4, ys, 0, NULL, y);
    if (st) return st;
    df_tflite_options o = no_options(DF_TFLITE_OPTIONS_REDUCER);
    o.keep_dims = 1;
    int32_t in[2] = {x, at}, out[1] = {*y};
    return add_op(g, DF_TFLITE_OP_MEAN, 1, in, 2, out, 1, &o);
}

static df_status vgg_input(graph *g, const df_model *model, int h, int w, input_desc *d, int *caffe) {
    memset(d, 0, sizeof *d);
    d->h = h;
    d->w = w;
    if (!strcmp(model->meta.preprocess, "caffe")) {
        *caffe = 1;
        d->n_norm = 3;
        for (int c = 0; c < 3; c++) {
            d->mean[c] = CAFFE_MEAN_BGR[2 - c];
            d->std[c] = 1.0f;
        }
        d->note = "float32: RGB minus the ImageNet means (Keras' caffe preprocessing; its BGR "
                  "order is folded into the first convolution)";
    } else if (!strcmp(model->meta.preprocess, "seed")) {
        *caffe = 0;
        d->n_norm = 1;
        d->mean[0] = 0.0f;
        d->std[0] = 255.0f;
        d->note = "float32: RGB / 255";
    } else {
        return df_error_set(g->err, DF_ERR_UNSUPPORTED,
                            "%s: VGG16 preprocessing '%s' (the exporter writes caffe or seed)",
                            g->m->path, model->meta.preprocess);
    }
    int32_t s[4] = {1, h, w, 3};
    int in;
    df_status st = add_tensor(g, "image", DF_TFLITE_FLOAT32, 4, s, 0, NULL, &in);
    if (st) return st;
    g->m->inputs[0] = in;
    g->m->n_inputs = 1;
    return DF_OK;
}

df_status df_export_vgg16(const df_export_vgg16_weights *w, const df_model *model,
                          const df_export_options *opt, uint8_t **out, size_t *out_size,
                          df_error *err) {
    *out = NULL;
    *out_size = 0;
    df_status st = check_model_for(model, "vgg16", "vgg16", err);
    if (st) return st;
    int h = w->input_h, wd = w->input_w;
    if (h < 32 || wd < 32 || h > 4096 || wd > 4096)
        return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16: input %dx%d must be 32..4096 per side",
                            wd, h);
    int fh = h, fw = wd;
    for (int k = 0; k < 5; k++) {
        fh /= 2;
        fw /= 2;
    }
    int pooled = w->pooled;
    if ((pooled && model->meta.feature_dim != 512) ||
        (!pooled && (size_t)model->meta.feature_dim != (size_t)fh * (size_t)fw * 512))
        return df_error_set(err, DF_ERR_SHAPE, "vgg16: the head takes %d features; a %dx%d input "
                            "gives %d (flattened) or 512 (pooled)", model->meta.feature_dim, wd, h,
                            fh * fw * 512);
    for (int i = 0; i < 13; i++)
        if (!w->kernel[i] || !w->bias[i])
            return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16: conv %d has no weights", i);
    graph g;
    if ((st = graph_init(&g, "vgg16", 80, 40, 56, 12, err))) return st;
    input_desc input;
    int caffe = 0, x = -1;
    st = vgg_input(&g, model, h, wd, &input, &caffe);
    x = g.m->inputs[0];
    int ch = h, cw = wd, block = 0;
    for (int i = 0; !st && i < 13; i++) {
        int ic, oc;
        df_vgg16_conv_channels(i, &ic, &oc);
        st = vgg_conv(&g, i, w->kernel[i], w->bias[i], i == 0 && caffe, x, ch, cw, &x);
        if (!st && df_vgg16_pool_after(i)) {
            ch /= 2;
            cw /= 2;
            st = vgg_pool(&g, ++block, x, ch, cw, oc, &x);
        }
    }
    if (!st && pooled) st = vgg_mean(&g, x, 512, &x);
    if (!st) st = append_head(&g, model, x);
    if (!st && exports_unknown(model, opt)) st = append_unknown(&g, model, x);
    if (!st) st = finish(&g, model, opt, &input, out, out_size);
    graph_free(&g);
    return st;
}
