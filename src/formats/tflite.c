/*
 * TFLite flatbuffer reader (see tflite.h for what is and is not read).
 *
 * Flatbuffer layout, as the reader relies on it (little-endian throughout):
 *   - byte 0: uoffset (uint32) to the root table; bytes 4-7: "TFL3".
 *   - a table starts with an soffset (int32): vtable = table - soffset.
 *   - a vtable is uint16 [vtable bytes, table bytes, field 0 offset, ...];
 *     a field offset of 0, or a field id past the vtable, means "absent:
 *     use the schema default". Field offsets are relative to the table.
 *   - a table/vector/string field holds a uoffset relative to the field.
 *   - a vector is a uint32 count followed by the elements; a vector of
 *     tables holds one uoffset per element, relative to that element.
 *   - a union is two fields: <name>_type (uint8, id n) and the table (id n+1).
 * Field ids are positions in schema.fbs (tensorflow/tflite-micro
 * tensorflow/compiler/mlir/lite/schema/schema.fbs), counting a union as two.
 *
 * Every read goes through a bounds check against the file size; sizes are
 * computed in uint64_t so 32-bit offsets cannot wrap. Variable-length data
 * copied out of the file is charged to a budget proportional to the file
 * size, so a file whose tables all share one huge vector cannot make the
 * reader allocate quadratically.
 */
#include "formats/tflite.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

/* ---- schema field ids ---- */
enum { MODEL_VERSION = 0, MODEL_OPERATOR_CODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4,
       MODEL_METADATA = 6 };
enum { METADATA_NAME = 0, METADATA_BUFFER = 1 };
enum { OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2, SUBGRAPH_OPERATORS = 3 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANT = 4,
       TENSOR_SPARSITY = 6 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DETAILS_TYPE = 4, QUANT_DIMENSION = 6 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4 };
/* Conv2DOptions */
enum { CONV_PADDING = 0, CONV_STRIDE_W = 1, CONV_STRIDE_H = 2, CONV_ACT = 3, CONV_DIL_W = 4,
       CONV_DIL_H = 5 };
/* DepthwiseConv2DOptions */
enum { DW_PADDING = 0, DW_STRIDE_W = 1, DW_STRIDE_H = 2, DW_MULT = 3, DW_ACT = 4, DW_DIL_W = 5,
       DW_DIL_H = 6 };
/* Pool2DOptions */
enum { POOL_PADDING = 0, POOL_STRIDE_W = 1, POOL_STRIDE_H = 2, POOL_FILTER_W = 3,
       POOL_FILTER_H = 4, POOL_ACT = 5 };
/* FullyConnectedOptions (1 = weights_format, 3 = asymmetric_quantize_inputs) */
enum { FC_ACT = 0, FC_WEIGHTS_FORMAT = 1, FC_KEEP_NUM_DIMS = 2 };
enum { SOFTMAX_BETA = 0 };
enum { CONCAT_AXIS = 0, CONCAT_ACT = 1 };
enum { ADD_ACT = 0 };
enum { RESHAPE_NEW_SHAPE = 0 };
enum { REDUCER_KEEP_DIMS = 0 };

typedef struct reader {
    const uint8_t *p;
    size_t n;
    const char *name;
    df_error *err;
    size_t budget;   /* bytes of variable-length data still allowed to be copied */
} reader;

typedef struct table {
    size_t pos;       /* table start */
    size_t vt;        /* vtable start */
    unsigned vt_size; /* bytes */
    unsigned size;    /* table bytes (inline fields) */
} table;

static uint16_t rd_u16(const reader *r, size_t at) {
    return (uint16_t)(r->p[at] | (r->p[at + 1] << 8));
}
static uint32_t rd_u32(const reader *r, size_t at) {
    return (uint32_t)r->p[at] | ((uint32_t)r->p[at + 1] << 8) | ((uint32_t)r->p[at + 2] << 16) |
           ((uint32_t)r->p[at + 3] << 24);
}
static uint64_t rd_u64(const reader *r, size_t at) {
    return (uint64_t)rd_u32(r, at) | ((uint64_t)rd_u32(r, at + 4) << 32);
}
static float rd_f32(const reader *r, size_t at) {
    uint32_t u = rd_u32(r, at);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* 1 when [at, at + len) lies inside the file. */
static int in_file(const reader *r, uint64_t at, uint64_t len) {
    return at <= r->n && len <= r->n - at;
}

static df_status bad(reader *r, const char *what) {
    return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s", r->name, what);
}

static df_status charge(reader *r, uint64_t bytes, const char *what) {
    if (bytes > r->budget)
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: %s: more data than the file could hold (shared or overlapping "
                            "vectors)", r->name, what);
    r->budget -= (size_t)bytes;
    return DF_OK;
}

static df_status table_at(reader *r, uint64_t pos, const char *what, table *t) {
    if (!in_file(r, pos, 4)) return bad(r, what);
    int32_t soff = (int32_t)rd_u32(r, (size_t)pos);
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || !in_file(r, (uint64_t)vt, 4))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: vtable offset %d outside the file",
                            r->name, what, (int)soff);
    t->pos = (size_t)pos;
    t->vt = (size_t)vt;
    t->vt_size = rd_u16(r, t->vt);
    t->size = rd_u16(r, t->vt + 2);
    if (t->vt_size < 4 || (t->vt_size & 1) || !in_file(r, t->vt, t->vt_size))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: bad vtable size %u", r->name, what,
                            t->vt_size);
    if (t->size < 4 || !in_file(r, t->pos, t->size))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: table of %u bytes outside the file",
                            r->name, what, t->size);
    return DF_OK;
}

/* Position of field id holding `bytes` bytes, or 0 when absent. The field
 * must lie inside its table (which lies inside the file). */
static df_status field(reader *r, const table *t, int id, unsigned bytes, const char *what,
                       size_t *at) {
    *at = 0;
    unsigned slot = 4u + 2u * (unsigned)id;
    if (slot + 2 > t->vt_size) return DF_OK;
    unsigned off = rd_u16(r, t->vt + slot);
    if (off == 0) return DF_OK;
    if (off < 4 || off + bytes > t->size)
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: %s: field offset %u outside its %u-byte table", r->name, what,
                            off, t->size);
    *at = t->pos + off;
    return DF_OK;
}

static df_status get_i32(reader *r, const table *t, int id, int32_t def, const char *what,
                         int32_t *out) {
    size_t at;
    df_status st = field(r, t, id, 4, what, &at);
    if (st) return st;
    *out = at ? (int32_t)rd_u32(r, at) : def;
    return DF_OK;
}

static df_status get_u32(reader *r, const table *t, int id, uint32_t def, const char *what,
                         uint32_t *out) {
    size_t at;
    df_status st = field(r, t, id, 4, what, &at);
    if (st) return st;
    *out = at ? rd_u32(r, at) : def;
    return DF_OK;
}

static df_status get_u64(reader *r, const table *t, int id, uint64_t def, const char *what,
                         uint64_t *out) {
    size_t at;
    df_status st = field(r, t, id, 8, what, &at);
    if (st) return st;
    *out = at ? rd_u64(r, at) : def;
    return DF_OK;
}

static df_status get_i8(reader *r, const table *t, int id, int def, const char *what, int *out) {
    size_t at;
    df_status st = field(r, t, id, 1, what, &at);
    if (st) return st;
    *out = at ? (int)(int8_t)r->p[at] : def;
    return DF_OK;
}

static df_status get_u8(reader *r, const table *t, int id, int def, const char *what, int *out) {
    size_t at;
    df_status st = field(r, t, id, 1, what, &at);
    if (st) return st;
    *out = at ? (int)r->p[at] : def;
    return DF_OK;
}

static df_status get_f32(reader *r, const table *t, int id, float def, const char *what,
                         float *out) {
    size_t at;
    df_status st = field(r, t, id, 4, what, &at);
    if (st) return st;
    *out = at ? rd_f32(r, at) : def;
    return DF_OK;
}

/* Follows the uoffset in field id; *target = 0 when the field is absent. */
static df_status get_ref(reader *r, const table *t, int id, const char *what, size_t *target) {
    size_t at;
    *target = 0;
    df_status st = field(r, t, id, 4, what, &at);
    if (st || !at) return st;
    uint64_t to = (uint64_t)at + rd_u32(r, at);
    if (!in_file(r, to, 4))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: offset %llu outside the %zu-byte file",
                            r->name, what, (unsigned long long)to, r->n);
    *target = (size_t)to;
    return DF_OK;
}

/* A vector in field id: *count elements of elem bytes starting at *data.
 * Absent: count 0. */
static df_status get_vector(reader *r, const table *t, int id, unsigned elem, const char *what,
                            size_t *data, size_t *count) {
    size_t at;
    *data = 0;
    *count = 0;
    df_status st = get_ref(r, t, id, what, &at);
    if (st || !at) return st;
    uint32_t n = rd_u32(r, at);
    if (!in_file(r, (uint64_t)at + 4, (uint64_t)n * elem))
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: %s: vector of %u elements runs past the end of the file",
                            r->name, what, n);
    *data = at + 4;
    *count = n;
    return DF_OK;
}

/* Table number i of a vector of tables at data. */
static df_status vector_table(reader *r, size_t data, size_t i, const char *what, table *t) {
    size_t e = data + 4 * i;
    return table_at(r, (uint64_t)e + rd_u32(r, e), what, t);
}

/* Copies a string field into a malloc'ed, NUL-terminated string ("" when absent). */
static df_status get_string(reader *r, const table *t, int id, const char *what, char **out) {
    size_t data, n;
    *out = NULL;
    df_status st = get_vector(r, t, id, 1, what, &data, &n);
    if (st) return st;
    if ((st = charge(r, n, what))) return st;
    char *s = malloc(n + 1);
    if (!s) return df_error_set(r->err, DF_ERR_NOMEM, "%s: %s: out of memory", r->name, what);
    if (n) memcpy(s, r->p + data, n);
    s[n] = '\0';
    *out = s;
    return DF_OK;
}

/* Copies an int32 vector (absent: *n = 0, *out = NULL). */
static df_status get_i32_vector(reader *r, const table *t, int id, const char *what,
                                int32_t **out, size_t *n) {
    size_t data, count;
    *out = NULL;
    *n = 0;
    df_status st = get_vector(r, t, id, 4, what, &data, &count);
    if (st || count == 0) return st;
    if (count > INT_MAX)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: %zu entries", r->name, what, count);
    if ((st = charge(r, (uint64_t)count * 4, what))) return st;
    int32_t *v = malloc(count * sizeof *v);
    if (!v) return df_error_set(r->err, DF_ERR_NOMEM, "%s: %s: out of memory", r->name, what);
    for (size_t i = 0; i < count; i++) v[i] = (int32_t)rd_u32(r, data + 4 * i);
    *out = v;
    *n = count;
    return DF_OK;
}

/* ---- the schema tables ---- */

static df_status parse_options(reader *r, const table *op, int type, const char *what,
                               df_tflite_options *o) {
    memset(o, 0, sizeof *o);
    o->type = type;
    o->dilation_w = o->dilation_h = 1;
    o->new_shape_n = -1;
    o->beta = 1.0f;
    if (type == DF_TFLITE_OPTIONS_NONE) return DF_OK;
    size_t at;
    df_status st = get_ref(r, op, OP_OPTIONS, what, &at);
    if (st) return st;
    if (!at) return DF_OK; /* a union type without its table: every field at its default */
    table t;
    if ((st = table_at(r, at, what, &t))) return st;
    int32_t v;
    switch (type) {
    case DF_TFLITE_OPTIONS_CONV2D:
        if ((st = get_i8(r, &t, CONV_PADDING, 0, what, &o->padding)) ||
            (st = get_i32(r, &t, CONV_STRIDE_W, 0, what, &v)))
            return st;
        o->stride_w = v;
        if ((st = get_i32(r, &t, CONV_STRIDE_H, 0, what, &v))) return st;
        o->stride_h = v;
        if ((st = get_i8(r, &t, CONV_ACT, 0, what, &o->activation)) ||
            (st = get_i32(r, &t, CONV_DIL_W, 1, what, &v)))
            return st;
        o->dilation_w = v;
        if ((st = get_i32(r, &t, CONV_DIL_H, 1, what, &v))) return st;
        o->dilation_h = v;
        break;
    case DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D:
        if ((st = get_i8(r, &t, DW_PADDING, 0, what, &o->padding)) ||
            (st = get_i32(r, &t, DW_STRIDE_W, 0, what, &v)))
            return st;
        o->stride_w = v;
        if ((st = get_i32(r, &t, DW_STRIDE_H, 0, what, &v))) return st;
        o->stride_h = v;
        if ((st = get_i32(r, &t, DW_MULT, 0, what, &v))) return st;
        o->depth_multiplier = v;
        if ((st = get_i8(r, &t, DW_ACT, 0, what, &o->activation)) ||
            (st = get_i32(r, &t, DW_DIL_W, 1, what, &v)))
            return st;
        o->dilation_w = v;
        if ((st = get_i32(r, &t, DW_DIL_H, 1, what, &v))) return st;
        o->dilation_h = v;
        break;
    case DF_TFLITE_OPTIONS_POOL2D:
        if ((st = get_i8(r, &t, POOL_PADDING, 0, what, &o->padding)) ||
            (st = get_i32(r, &t, POOL_STRIDE_W, 0, what, &v)))
            return st;
        o->stride_w = v;
        if ((st = get_i32(r, &t, POOL_STRIDE_H, 0, what, &v))) return st;
        o->stride_h = v;
        if ((st = get_i32(r, &t, POOL_FILTER_W, 0, what, &v))) return st;
        o->filter_w = v;
        if ((st = get_i32(r, &t, POOL_FILTER_H, 0, what, &v))) return st;
        o->filter_h = v;
        if ((st = get_i8(r, &t, POOL_ACT, 0, what, &o->activation))) return st;
        break;
    case DF_TFLITE_OPTIONS_FULLY_CONNECTED: {
        int fmt = 0;
        if ((st = get_i8(r, &t, FC_ACT, 0, what, &o->activation)) ||
            (st = get_i8(r, &t, FC_WEIGHTS_FORMAT, 0, what, &fmt)) ||
            (st = get_u8(r, &t, FC_KEEP_NUM_DIMS, 0, what, &o->keep_num_dims)))
            return st;
        if (fmt != 0)
            return df_error_set(r->err, DF_ERR_UNSUPPORTED,
                                "%s: %s: shuffled fully-connected weights format %d", r->name,
                                what, fmt);
        break;
    }
    case DF_TFLITE_OPTIONS_SOFTMAX:
        if ((st = get_f32(r, &t, SOFTMAX_BETA, 0.0f, what, &o->beta))) return st;
        break;
    case DF_TFLITE_OPTIONS_CONCATENATION:
        if ((st = get_i32(r, &t, CONCAT_AXIS, 0, what, &v))) return st;
        o->axis = v;
        if ((st = get_i8(r, &t, CONCAT_ACT, 0, what, &o->activation))) return st;
        break;
    case DF_TFLITE_OPTIONS_ADD:
        if ((st = get_i8(r, &t, ADD_ACT, 0, what, &o->activation))) return st;
        break;
    case DF_TFLITE_OPTIONS_RESHAPE:
    case DF_TFLITE_OPTIONS_SQUEEZE: {
        /* ReshapeOptions.new_shape and SqueezeOptions.squeeze_dims are both field 0. */
        size_t data, n;
        if ((st = get_vector(r, &t, RESHAPE_NEW_SHAPE, 4, what, &data, &n))) return st;
        if (!data) break;
        if (n > DF_TFLITE_MAX_RANK)
            return df_error_set(r->err, DF_ERR_UNSUPPORTED, "%s: %s: %zu dims (at most %d)",
                                r->name, what, n, DF_TFLITE_MAX_RANK);
        o->new_shape_n = (int)n;
        for (size_t i = 0; i < n; i++) o->new_shape[i] = (int32_t)rd_u32(r, data + 4 * i);
        break;
    }
    case DF_TFLITE_OPTIONS_REDUCER:
        if ((st = get_u8(r, &t, REDUCER_KEEP_DIMS, 0, what, &o->keep_dims))) return st;
        break;
    default:
        break; /* options of ops we never run: kept as a type only */
    }
    if (o->activation < 0 || o->activation > DF_TFLITE_ACT_SIGN_BIT)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: activation %d is not in the schema",
                            r->name, what, o->activation);
    if (o->padding != DF_TFLITE_PAD_SAME && o->padding != DF_TFLITE_PAD_VALID)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: padding %d is not SAME or VALID",
                            r->name, what, o->padding);
    return DF_OK;
}

static df_status parse_quant(reader *r, size_t at, const char *what, df_tflite_quant *q) {
    table t;
    df_status st = table_at(r, at, what, &t);
    if (st) return st;
    int details = 0;
    if ((st = get_u8(r, &t, QUANT_DETAILS_TYPE, 0, what, &details))) return st;
    if (details != 0)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED,
                            "%s: %s: custom/blockwise quantization (details type %d)", r->name,
                            what, details);
    size_t sdata, sn, zdata, zn;
    if ((st = get_vector(r, &t, QUANT_SCALE, 4, what, &sdata, &sn)) ||
        (st = get_vector(r, &t, QUANT_ZERO_POINT, 8, what, &zdata, &zn)))
        return st;
    int32_t dim;
    if ((st = get_i32(r, &t, QUANT_DIMENSION, 0, what, &dim))) return st;
    q->quantized_dimension = dim;
    if (sn == 0) {
        if (zn != 0)
            return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: %zu zero points but no scale",
                                r->name, what, zn);
        return DF_OK; /* only min/max (or nothing): not quantized */
    }
    if (zn != 0 && zn != sn)
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: %s: %zu scales but %zu zero points (expected equal counts)",
                            r->name, what, sn, zn);
    if ((st = charge(r, (uint64_t)sn * 12, what))) return st;
    q->scale = malloc(sn * sizeof *q->scale);
    q->zero_point = calloc(sn, sizeof *q->zero_point);
    if (!q->scale || !q->zero_point)
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: %s: out of memory", r->name, what);
    q->n = sn;
    for (size_t i = 0; i < sn; i++) {
        q->scale[i] = rd_f32(r, sdata + 4 * i);
        if (!isfinite(q->scale[i]) || q->scale[i] < 0.0f)
            return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: scale[%zu] = %g is not a finite "
                                "value >= 0", r->name, what, i, (double)q->scale[i]);
    }
    for (size_t i = 0; i < zn; i++) q->zero_point[i] = (int64_t)rd_u64(r, zdata + 8 * i);
    return DF_OK;
}

static df_status parse_tensor(reader *r, const table *t, size_t index, df_tflite_tensor *x) {
    char what[96];
    snprintf(what, sizeof what, "tensor %zu", index);
    df_status st;
    size_t data, n;
    if ((st = get_vector(r, t, TENSOR_SHAPE, 4, what, &data, &n))) return st;
    if (n > DF_TFLITE_MAX_RANK)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED, "%s: %s: rank %zu (at most %d)", r->name,
                            what, n, DF_TFLITE_MAX_RANK);
    x->rank = (int)n;
    for (size_t i = 0; i < n; i++) {
        x->shape[i] = (int32_t)rd_u32(r, data + 4 * i);
        if (x->shape[i] < 0)
            return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: shape[%zu] = %d is negative",
                                r->name, what, i, (int)x->shape[i]);
    }
    if ((st = get_i8(r, t, TENSOR_TYPE, 0, what, &x->type)) ||
        (st = get_u32(r, t, TENSOR_BUFFER, 0, what, &x->buffer)) ||
        (st = get_string(r, t, TENSOR_NAME, what, &x->name)))
        return st;
    snprintf(what, sizeof what, "tensor %zu (%.60s)", index, x->name);
    size_t sp;
    if ((st = get_ref(r, t, TENSOR_SPARSITY, what, &sp))) return st;
    if (sp)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED, "%s: %s: sparse tensors", r->name, what);
    size_t qat;
    if ((st = get_ref(r, t, TENSOR_QUANT, what, &qat))) return st;
    if (qat && (st = parse_quant(r, qat, what, &x->quant))) return st;
    return DF_OK;
}

static df_status parse_operator(reader *r, const table *t, size_t index, df_tflite_operator *op) {
    char what[64];
    snprintf(what, sizeof what, "operator %zu", index);
    df_status st;
    size_t n;
    if ((st = get_u32(r, t, OP_OPCODE_INDEX, 0, what, &op->opcode_index)) ||
        (st = get_i32_vector(r, t, OP_INPUTS, what, &op->inputs, &n)))
        return st;
    op->n_inputs = (int)n;
    if ((st = get_i32_vector(r, t, OP_OUTPUTS, what, &op->outputs, &n))) return st;
    op->n_outputs = (int)n;
    int type;
    if ((st = get_u8(r, t, OP_OPTIONS_TYPE, 0, what, &type))) return st;
    return parse_options(r, t, type, what, &op->options);
}

/* ---- consistency ---- */

size_t df_tflite_type_size(int type) {
    switch (type) {
    case DF_TFLITE_FLOAT32: return 4;
    case DF_TFLITE_FLOAT16: return 2;
    case DF_TFLITE_INT32: return 4;
    case DF_TFLITE_UINT8: return 1;
    case DF_TFLITE_INT64: return 8;
    case DF_TFLITE_BOOL: return 1;
    case DF_TFLITE_INT16: return 2;
    case DF_TFLITE_INT8: return 1;
    default: return 0;
    }
}

const char *df_tflite_type_name(int type) {
    switch (type) {
    case DF_TFLITE_FLOAT32: return "FLOAT32";
    case DF_TFLITE_FLOAT16: return "FLOAT16";
    case DF_TFLITE_INT32: return "INT32";
    case DF_TFLITE_UINT8: return "UINT8";
    case DF_TFLITE_INT64: return "INT64";
    case DF_TFLITE_STRING: return "STRING";
    case DF_TFLITE_BOOL: return "BOOL";
    case DF_TFLITE_INT16: return "INT16";
    case DF_TFLITE_INT8: return "INT8";
    default: return "?";
    }
}

const char *df_tflite_op_name(int builtin) {
    switch (builtin) {
    case DF_TFLITE_OP_ADD: return "ADD";
    case DF_TFLITE_OP_AVERAGE_POOL_2D: return "AVERAGE_POOL_2D";
    case DF_TFLITE_OP_CONCATENATION: return "CONCATENATION";
    case DF_TFLITE_OP_CONV_2D: return "CONV_2D";
    case DF_TFLITE_OP_DEPTHWISE_CONV_2D: return "DEPTHWISE_CONV_2D";
    case DF_TFLITE_OP_DEQUANTIZE: return "DEQUANTIZE";
    case DF_TFLITE_OP_FULLY_CONNECTED: return "FULLY_CONNECTED";
    case DF_TFLITE_OP_L2_NORMALIZATION: return "L2_NORMALIZATION";
    case DF_TFLITE_OP_MAX_POOL_2D: return "MAX_POOL_2D";
    case DF_TFLITE_OP_RELU: return "RELU";
    case DF_TFLITE_OP_RELU6: return "RELU6";
    case DF_TFLITE_OP_RESHAPE: return "RESHAPE";
    case DF_TFLITE_OP_SOFTMAX: return "SOFTMAX";
    case DF_TFLITE_OP_CUSTOM: return "CUSTOM";
    case DF_TFLITE_OP_PAD: return "PAD";
    case DF_TFLITE_OP_MEAN: return "MEAN";
    case DF_TFLITE_OP_SQUEEZE: return "SQUEEZE";
    case DF_TFLITE_OP_QUANTIZE: return "QUANTIZE";
    default: return "?";
    }
}

static int elements(const df_tflite_tensor *t, size_t *out) {
    size_t e = 1;
    for (int i = 0; i < t->rank; i++)
        if (!df_size_mul(e, (size_t)t->shape[i], &e)) return 0;
    *out = e;
    return 1;
}

size_t df_tflite_tensor_elements(const df_tflite_tensor *t) {
    size_t e;
    return elements(t, &e) ? e : 0;
}

static df_status check_tensor(reader *r, const df_tflite_model *m, size_t i) {
    const df_tflite_tensor *t = &m->tensors[i];
    size_t e, bytes;
    if (!elements(t, &e))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: tensor %zu (%s): shape overflows size_t",
                            r->name, i, t->name);
    if (t->buffer >= m->n_buffers)
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: tensor %zu (%s): buffer %u out of range (%zu buffers)", r->name,
                            i, t->name, t->buffer, m->n_buffers);
    const df_tflite_buffer *b = &m->buffers[t->buffer];
    if (b->size) {
        size_t es = df_tflite_type_size(t->type);
        if (!es)
            return df_error_set(r->err, DF_ERR_UNSUPPORTED,
                                "%s: tensor %zu (%s): constant of type %s (%d)", r->name, i,
                                t->name, df_tflite_type_name(t->type), t->type);
        if (!df_size_mul(e, es, &bytes) || bytes != b->size)
            return df_error_set(r->err, DF_ERR_FORMAT,
                                "%s: tensor %zu (%s): buffer %u holds %zu bytes (expected %zu "
                                "elements x %zu bytes)", r->name, i, t->name, t->buffer, b->size,
                                e, es);
    }
    const df_tflite_quant *q = &t->quant;
    if (q->n > 1) {
        int d = q->quantized_dimension;
        if (d < 0 || d >= t->rank || (size_t)t->shape[d] != q->n)
            return df_error_set(r->err, DF_ERR_FORMAT,
                                "%s: tensor %zu (%s): %zu per-channel scales along dimension %d "
                                "do not match its shape", r->name, i, t->name, q->n, d);
    }
    return DF_OK;
}

static df_status check_index(reader *r, const df_tflite_model *m, int32_t v, int optional,
                             const char *what, size_t at) {
    if ((optional && v == -1) || (v >= 0 && (size_t)v < m->n_tensors)) return DF_OK;
    return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s %zu: tensor index %d out of range (%zu "
                        "tensors)", r->name, what, at, (int)v, m->n_tensors);
}

static df_status check_model(reader *r, df_tflite_model *m) {
    df_status st;
    for (size_t i = 0; i < m->n_metadata; i++)
        if (m->metadata[i].buffer >= m->n_buffers)
            return df_error_set(r->err, DF_ERR_FORMAT,
                                "%s: metadata %zu (%.60s): buffer %u out of range (%zu buffers)",
                                r->name, i, m->metadata[i].name, m->metadata[i].buffer,
                                m->n_buffers);
    for (size_t i = 0; i < m->n_tensors; i++)
        if ((st = check_tensor(r, m, i))) return st;
    for (size_t i = 0; i < m->n_inputs; i++)
        if ((st = check_index(r, m, m->inputs[i], 0, "subgraph input", i))) return st;
    for (size_t i = 0; i < m->n_outputs; i++)
        if ((st = check_index(r, m, m->outputs[i], 0, "subgraph output", i))) return st;
    for (size_t i = 0; i < m->n_operators; i++) {
        df_tflite_operator *op = &m->operators[i];
        if (op->opcode_index >= m->n_opcodes)
            return df_error_set(r->err, DF_ERR_FORMAT,
                                "%s: operator %zu: opcode index %u out of range (%zu codes)",
                                r->name, i, op->opcode_index, m->n_opcodes);
        op->builtin = m->opcodes[op->opcode_index].builtin;
        for (int k = 0; k < op->n_inputs; k++)
            if ((st = check_index(r, m, op->inputs[k], 1, "operator", i))) return st;
        for (int k = 0; k < op->n_outputs; k++)
            if ((st = check_index(r, m, op->outputs[k], 0, "operator", i))) return st;
    }
    return DF_OK;
}

/* ---- the model ---- */

void df_tflite_destroy(df_tflite_model *m) {
    if (!m) return;
    if (m->tensors)
        for (size_t i = 0; i < m->n_tensors; i++) {
            free(m->tensors[i].name);
            free(m->tensors[i].quant.scale);
            free(m->tensors[i].quant.zero_point);
        }
    if (m->operators)
        for (size_t i = 0; i < m->n_operators; i++) {
            free(m->operators[i].inputs);
            free(m->operators[i].outputs);
        }
    if (m->metadata)
        for (size_t i = 0; i < m->n_metadata; i++) free(m->metadata[i].name);
    free(m->metadata);
    free(m->tensors);
    free(m->operators);
    free(m->opcodes);
    free(m->buffers);
    free(m->inputs);
    free(m->outputs);
    free(m->file);
    free(m->path);
    free(m);
}

static df_status parse_model(reader *r, df_tflite_model *m) {
    df_status st;
    if (r->n < 8) return bad(r, "too short for a TFLite flatbuffer (needs at least 8 bytes)");
    if (memcmp(r->p + 4, "TFL3", 4) != 0)
        return bad(r, "not a TFLite model (file identifier at bytes 4-7 is not \"TFL3\")");
    table root;
    if ((st = table_at(r, rd_u32(r, 0), "root table Model", &root))) return st;
    if ((st = get_u32(r, &root, MODEL_VERSION, 0, "Model.version", &m->version))) return st;
    if (m->version != 3)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED,
                            "%s: schema version %u (this reader handles version 3)", r->name,
                            m->version);

    /* operator codes */
    size_t data, n;
    if ((st = get_vector(r, &root, MODEL_OPERATOR_CODES, 4, "Model.operator_codes", &data, &n)))
        return st;
    if (n && !(m->opcodes = calloc(n, sizeof *m->opcodes)))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    m->n_opcodes = n;
    for (size_t i = 0; i < n; i++) {
        table t;
        int dep;
        int32_t code, version;
        if ((st = vector_table(r, data, i, "operator code", &t)) ||
            (st = get_i8(r, &t, OPCODE_DEPRECATED_BUILTIN, 0, "operator code", &dep)) ||
            (st = get_i32(r, &t, OPCODE_BUILTIN, 0, "operator code", &code)) ||
            (st = get_i32(r, &t, OPCODE_VERSION, 1, "operator code", &version)))
            return st;
        m->opcodes[i].builtin = code > dep ? code : dep;
        m->opcodes[i].version = version;
        if (m->opcodes[i].builtin < 0)
            return df_error_set(r->err, DF_ERR_FORMAT, "%s: operator code %zu: builtin %d < 0",
                                r->name, i, m->opcodes[i].builtin);
    }

    /* buffers */
    if ((st = get_vector(r, &root, MODEL_BUFFERS, 4, "Model.buffers", &data, &n))) return st;
    if (n && !(m->buffers = calloc(n, sizeof *m->buffers)))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    m->n_buffers = n;
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "buffer %zu", i);
        table t;
        size_t bd, bn;
        uint64_t off;
        if ((st = vector_table(r, data, i, what, &t)) ||
            (st = get_vector(r, &t, BUFFER_DATA, 1, what, &bd, &bn)) ||
            (st = get_u64(r, &t, BUFFER_OFFSET, 0, what, &off)))
            return st;
        if (off > 1)
            return df_error_set(r->err, DF_ERR_UNSUPPORTED,
                                "%s: %s: data outside the flatbuffer (models > 2 GB)", r->name,
                                what);
        m->buffers[i].data = bn ? r->p + bd : NULL;
        m->buffers[i].size = bn;
    }

    /* metadata entries */
    if ((st = get_vector(r, &root, MODEL_METADATA, 4, "Model.metadata", &data, &n))) return st;
    if (n && !(m->metadata = calloc(n, sizeof *m->metadata)))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    m->n_metadata = n;
    for (size_t i = 0; i < n; i++) {
        table t;
        if ((st = vector_table(r, data, i, "Model.metadata", &t)) ||
            (st = get_string(r, &t, METADATA_NAME, "Model.metadata name", &m->metadata[i].name)) ||
            (st = get_u32(r, &t, METADATA_BUFFER, 0, "Model.metadata buffer",
                          &m->metadata[i].buffer)))
            return st;
    }

    /* subgraph 0 */
    if ((st = get_vector(r, &root, MODEL_SUBGRAPHS, 4, "Model.subgraphs", &data, &n))) return st;
    if (n == 0) return bad(r, "Model.subgraphs is empty (no graph to run)");
    table sg;
    if ((st = vector_table(r, data, 0, "subgraph 0", &sg))) return st;

    if ((st = get_vector(r, &sg, SUBGRAPH_TENSORS, 4, "SubGraph.tensors", &data, &n))) return st;
    if (n && !(m->tensors = calloc(n, sizeof *m->tensors)))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    m->n_tensors = n;
    for (size_t i = 0; i < n; i++) {
        table t;
        if ((st = vector_table(r, data, i, "tensor", &t)) ||
            (st = parse_tensor(r, &t, i, &m->tensors[i])))
            return st;
    }

    if ((st = get_i32_vector(r, &sg, SUBGRAPH_INPUTS, "SubGraph.inputs", &m->inputs,
                             &m->n_inputs)) ||
        (st = get_i32_vector(r, &sg, SUBGRAPH_OUTPUTS, "SubGraph.outputs", &m->outputs,
                             &m->n_outputs)))
        return st;

    if ((st = get_vector(r, &sg, SUBGRAPH_OPERATORS, 4, "SubGraph.operators", &data, &n)))
        return st;
    if (n && !(m->operators = calloc(n, sizeof *m->operators)))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    m->n_operators = n;
    for (size_t i = 0; i < n; i++) {
        table t;
        if ((st = vector_table(r, data, i, "operator", &t)) ||
            (st = parse_operator(r, &t, i, &m->operators[i])))
            return st;
    }
    return check_model(r, m);
}

/* Takes ownership of file (freed on failure too). */
static df_status parse_owned(uint8_t *file, size_t size, const char *name, df_tflite_model **out,
                             df_error *err) {
    *out = NULL;
    df_tflite_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(file);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
    }
    m->file = file;
    m->file_size = size;
    m->path = strdup(name);
    if (!m->path) {
        df_tflite_destroy(m);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
    }
    reader r = {file, size, m->path, err, 0};
    /* Legit files copy out less than their own size (names, scales, index
     * lists are each stored once); 64 KiB slack covers tiny test models. */
    r.budget = size > SIZE_MAX / 2 - 65536 ? SIZE_MAX : 2 * size + 65536;
    df_status st = parse_model(&r, m);
    if (st) {
        df_tflite_destroy(m);
        return st;
    }
    *out = m;
    return DF_OK;
}

df_status df_tflite_parse(const uint8_t *data, size_t size, const char *name,
                          df_tflite_model **out, df_error *err) {
    *out = NULL;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory (%zu bytes)", name, size);
    if (size) memcpy(copy, data, size);
    return parse_owned(copy, size, name, out, err);
}

df_status df_tflite_load(const char *path, df_tflite_model **out, df_error *err) {
    *out = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    df_status st = df_file_read(path, DF_TFLITE_MAX_FILE_BYTES, &data, &size, err);
    if (st) return st;
    return parse_owned(data, size, path, out, err);
}

/* ---- queries ---- */

int df_tflite_find_tensor(const df_tflite_model *m, const char *name) {
    if (name[0] == '#' && name[1]) {
        char *end;
        long v = strtol(name + 1, &end, 10);
        if (*end == '\0' && v >= 0 && (size_t)v < m->n_tensors) return (int)v;
        return -1;
    }
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return (int)i;
    return -1;
}

const uint8_t *df_tflite_metadata_buffer(const df_tflite_model *m, const char *name,
                                         size_t *size) {
    *size = 0;
    for (size_t i = 0; i < m->n_metadata; i++)
        if (!strcmp(m->metadata[i].name, name)) {
            const df_tflite_buffer *b = &m->buffers[m->metadata[i].buffer];
            *size = b->size;
            return b->data;
        }
    return NULL;
}

int df_tflite_producer(const df_tflite_model *m, int t) {
    for (size_t i = 0; i < m->n_operators; i++)
        for (int k = 0; k < m->operators[i].n_outputs; k++)
            if (m->operators[i].outputs[k] == t) return (int)i;
    return -1;
}

const uint8_t *df_tflite_tensor_data(const df_tflite_model *m, int t) {
    if (t < 0 || (size_t)t >= m->n_tensors) return NULL;
    return m->buffers[m->tensors[t].buffer].data;
}
