/* Flatbuffer / TFLite model writer for tests (see tflite_builder.h). */
#include "support/tflite_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 64

struct df_tfb {
    uint8_t *buf;   /* the object occupies buf[cap - len, cap) */
    size_t cap, len;
    size_t minalign;
    int in_table;
    size_t table_start;   /* len when the table was started */
    int n_fields;
    int field_id[MAX_FIELDS];
    df_tfb_ref field_ref[MAX_FIELDS];
};

static void die(const char *what) {
    fprintf(stderr, "tflite_builder: %s\n", what);
    abort();
}

static void grow(df_tfb *b, size_t need) {
    if (b->cap - b->len >= need) return;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->len < need) cap *= 2;
    uint8_t *nb = malloc(cap);
    if (!nb) die("out of memory");
    if (b->len) memcpy(nb + cap - b->len, b->buf + b->cap - b->len, b->len);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
}

static void push(df_tfb *b, const void *data, size_t n) {
    grow(b, n);
    b->len += n;
    memcpy(b->buf + b->cap - b->len, data, n);
}

static void pad(df_tfb *b, size_t n) {
    static const uint8_t zeros[16];
    while (n) {
        size_t k = n < 16 ? n : 16;
        push(b, zeros, k);
        n -= k;
    }
}

/* Pads so that after writing `extra` more bytes the end is aligned to align. */
static void prep(df_tfb *b, size_t align, size_t extra) {
    if (align > b->minalign) b->minalign = align;
    size_t p = (align - ((b->len + extra) % align)) % align;
    pad(b, p);
}

df_tfb *df_tfb_create(void) {
    df_tfb *b = calloc(1, sizeof *b);
    if (!b) die("out of memory");
    b->minalign = 1;
    return b;
}

void df_tfb_destroy(df_tfb *b) {
    if (!b) return;
    free(b->buf);
    free(b);
}

static void push_u32(df_tfb *b, uint32_t v) { push(b, &v, 4); }

df_tfb_ref df_tfb_vector(df_tfb *b, const void *elems, size_t n, size_t elem_size) {
    if (b->in_table) die("vector inside a table");
    size_t align = elem_size > 4 ? elem_size : 4;
    prep(b, 4, n * elem_size);
    prep(b, align, n * elem_size);
    if (n) push(b, elems, n * elem_size);
    push_u32(b, (uint32_t)n);
    return (df_tfb_ref)b->len;
}

df_tfb_ref df_tfb_string(df_tfb *b, const char *s) {
    if (b->in_table) die("string inside a table");
    size_t n = strlen(s);
    prep(b, 4, n + 1);
    push(b, "", 1);
    if (n) push(b, s, n);
    push_u32(b, (uint32_t)n);
    return (df_tfb_ref)b->len;
}

df_tfb_ref df_tfb_vector_refs(df_tfb *b, const df_tfb_ref *refs, size_t n) {
    if (b->in_table) die("vector inside a table");
    prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;) {
        /* the offset is written at ref len + 4, pointing at refs[i] */
        uint32_t at = (uint32_t)b->len + 4;
        push_u32(b, at - refs[i]);
    }
    push_u32(b, (uint32_t)n);
    return (df_tfb_ref)b->len;
}

void df_tfb_table_start(df_tfb *b) {
    if (b->in_table) die("nested table");
    b->in_table = 1;
    b->n_fields = 0;
    b->table_start = b->len;
}

static void add_field(df_tfb *b, int id, const void *v, size_t size) {
    if (!b->in_table || b->n_fields == MAX_FIELDS) die("field outside a table or too many");
    prep(b, size, size);
    push(b, v, size);
    b->field_id[b->n_fields] = id;
    b->field_ref[b->n_fields] = (df_tfb_ref)b->len;
    b->n_fields++;
}

void df_tfb_add_u8(df_tfb *b, int id, uint8_t v) { add_field(b, id, &v, 1); }
void df_tfb_add_i32(df_tfb *b, int id, int32_t v) { add_field(b, id, &v, 4); }
void df_tfb_add_f32(df_tfb *b, int id, float v) { add_field(b, id, &v, 4); }
void df_tfb_add_u64(df_tfb *b, int id, uint64_t v) { add_field(b, id, &v, 8); }

void df_tfb_add_ref(df_tfb *b, int id, df_tfb_ref ref) {
    prep(b, 4, 4);
    uint32_t v = (uint32_t)b->len + 4 - ref;
    add_field(b, id, &v, 4);
}

df_tfb_ref df_tfb_table_end(df_tfb *b) {
    if (!b->in_table) die("table_end without start");
    prep(b, 4, 4);
    push_u32(b, 0); /* soffset to the vtable, patched below */
    df_tfb_ref table = (df_tfb_ref)b->len;
    int max_id = -1;
    for (int i = 0; i < b->n_fields; i++)
        if (b->field_id[i] > max_id) max_id = b->field_id[i];
    uint16_t vt[4 + MAX_FIELDS];
    size_t nvt = 2 + (size_t)(max_id + 1);
    memset(vt, 0, sizeof vt);
    vt[0] = (uint16_t)(2 * nvt);
    vt[1] = (uint16_t)(table - b->table_start);
    for (int i = 0; i < b->n_fields; i++) vt[2 + b->field_id[i]] = (uint16_t)(table - b->field_ref[i]);
    for (size_t i = nvt; i-- > 0;) push(b, &vt[i], 2);
    df_tfb_ref vtable = (df_tfb_ref)b->len;
    int32_t soff = (int32_t)(vtable - table); /* table - vtable in address terms */
    memcpy(b->buf + b->cap - table, &soff, 4);
    b->in_table = 0;
    return table;
}

uint8_t *df_tfb_finish(df_tfb *b, df_tfb_ref root, const char *ident, size_t *size) {
    prep(b, b->minalign > 8 ? b->minalign : 8, 8);
    push(b, ident, 4);
    push_u32(b, (uint32_t)b->len + 4 - root);
    uint8_t *out = malloc(b->len);
    if (!out) die("out of memory");
    memcpy(out, b->buf + b->cap - b->len, b->len);
    *size = b->len;
    return out;
}

/* ---- TFLite models ---- */

static df_tfb_ref options_table(df_tfb *b, const df_tfb_op *op) {
    df_tfb_ref shape = 0;
    if ((op->options_type == 17 || op->options_type == 30) && op->new_shape_n >= 0)
        shape = df_tfb_vector(b, op->new_shape, (size_t)op->new_shape_n, 4);
    df_tfb_table_start(b);
    switch (op->options_type) {
    case 1: /* Conv2DOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->padding);
        df_tfb_add_i32(b, 1, op->stride_w);
        df_tfb_add_i32(b, 2, op->stride_h);
        df_tfb_add_u8(b, 3, (uint8_t)op->activation);
        if (op->dilation_w) df_tfb_add_i32(b, 4, op->dilation_w);
        if (op->dilation_h) df_tfb_add_i32(b, 5, op->dilation_h);
        break;
    case 2: /* DepthwiseConv2DOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->padding);
        df_tfb_add_i32(b, 1, op->stride_w);
        df_tfb_add_i32(b, 2, op->stride_h);
        df_tfb_add_i32(b, 3, op->depth_multiplier);
        df_tfb_add_u8(b, 4, (uint8_t)op->activation);
        if (op->dilation_w) df_tfb_add_i32(b, 5, op->dilation_w);
        if (op->dilation_h) df_tfb_add_i32(b, 6, op->dilation_h);
        break;
    case 5: /* Pool2DOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->padding);
        df_tfb_add_i32(b, 1, op->stride_w);
        df_tfb_add_i32(b, 2, op->stride_h);
        df_tfb_add_i32(b, 3, op->filter_w);
        df_tfb_add_i32(b, 4, op->filter_h);
        df_tfb_add_u8(b, 5, (uint8_t)op->activation);
        break;
    case 8: /* FullyConnectedOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->activation);
        break;
    case 9: /* SoftmaxOptions */
        df_tfb_add_f32(b, 0, op->beta);
        break;
    case 11: /* AddOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->activation);
        break;
    case 17: /* ReshapeOptions */
    case 30: /* SqueezeOptions */
        if (shape) df_tfb_add_ref(b, 0, shape);
        break;
    case 27: /* ReducerOptions */
        df_tfb_add_u8(b, 0, (uint8_t)op->keep_dims);
        break;
    default:
        break;
    }
    return df_tfb_table_end(b);
}

uint8_t *df_tfb_model(const df_tfb_tensor *tensors, int n_tensors, const df_tfb_op *ops,
                      int n_ops, const int32_t *inputs, int n_inputs, const int32_t *outputs,
                      int n_outputs, int deprecated_codes, size_t *size) {
    df_tfb *b = df_tfb_create();
    df_tfb_ref *refs = calloc((size_t)(n_tensors + n_ops + 2) * 2, sizeof *refs);
    int *codes = calloc((size_t)n_ops + 1, sizeof *codes);
    if (!refs || !codes) die("out of memory");

    /* buffers: 0 is the empty sentinel, then one per constant tensor */
    int n_buffers = 1;
    int *buffer_of = calloc((size_t)n_tensors + 1, sizeof *buffer_of);
    df_tfb_ref *buf_refs = calloc((size_t)n_tensors + 1, sizeof *buf_refs);
    if (!buffer_of || !buf_refs) die("out of memory");
    df_tfb_table_start(b);
    buf_refs[0] = df_tfb_table_end(b);
    for (int i = 0; i < n_tensors; i++) {
        if (!tensors[i].data) continue;
        df_tfb_ref data = df_tfb_vector(b, tensors[i].data, tensors[i].data_size, 1);
        df_tfb_table_start(b);
        df_tfb_add_ref(b, 0, data);
        buffer_of[i] = n_buffers;
        buf_refs[n_buffers++] = df_tfb_table_end(b);
    }
    df_tfb_ref buffers = df_tfb_vector_refs(b, buf_refs, (size_t)n_buffers);

    /* tensors */
    for (int i = 0; i < n_tensors; i++) {
        const df_tfb_tensor *t = &tensors[i];
        df_tfb_ref shape = df_tfb_vector(b, t->shape, (size_t)t->rank, 4);
        df_tfb_ref name = df_tfb_string(b, t->name ? t->name : "");
        df_tfb_ref quant = 0;
        if (t->n_quant) {
            df_tfb_ref sc = df_tfb_vector(b, t->scale, (size_t)t->n_quant, 4);
            df_tfb_ref zp = df_tfb_vector(b, t->zero_point, (size_t)t->n_quant, 8);
            df_tfb_table_start(b);
            df_tfb_add_ref(b, 2, sc);
            df_tfb_add_ref(b, 3, zp);
            df_tfb_add_i32(b, 6, t->quantized_dimension);
            quant = df_tfb_table_end(b);
        }
        df_tfb_table_start(b);
        df_tfb_add_ref(b, 0, shape);
        df_tfb_add_u8(b, 1, (uint8_t)t->type);
        if (buffer_of[i]) df_tfb_add_i32(b, 2, buffer_of[i]);
        df_tfb_add_ref(b, 3, name);
        if (quant) df_tfb_add_ref(b, 4, quant);
        refs[i] = df_tfb_table_end(b);
    }
    df_tfb_ref tensor_vec = df_tfb_vector_refs(b, refs, (size_t)n_tensors);

    /* operator codes (deduplicated) and operators */
    int n_codes = 0;
    for (int i = 0; i < n_ops; i++) {
        int found = 0;
        for (int k = 0; k < n_codes; k++) found |= codes[k] == ops[i].builtin;
        if (!found) codes[n_codes++] = ops[i].builtin;
    }
    df_tfb_ref *code_refs = calloc((size_t)n_codes + 1, sizeof *code_refs);
    if (!code_refs) die("out of memory");
    for (int k = 0; k < n_codes; k++) {
        df_tfb_table_start(b);
        if (deprecated_codes) {
            df_tfb_add_u8(b, 0, (uint8_t)codes[k]);
        } else {
            df_tfb_add_u8(b, 0, (uint8_t)(codes[k] < 127 ? codes[k] : 127));
            df_tfb_add_i32(b, 3, codes[k]);
        }
        df_tfb_add_i32(b, 2, 1);
        code_refs[k] = df_tfb_table_end(b);
    }
    df_tfb_ref code_vec = df_tfb_vector_refs(b, code_refs, (size_t)n_codes);
    for (int i = 0; i < n_ops; i++) {
        const df_tfb_op *op = &ops[i];
        int code = 0;
        for (int k = 0; k < n_codes; k++)
            if (codes[k] == op->builtin) code = k;
        df_tfb_ref in = df_tfb_vector(b, op->inputs, (size_t)op->n_inputs, 4);
        df_tfb_ref out = df_tfb_vector(b, op->outputs, (size_t)op->n_outputs, 4);
        df_tfb_ref opt = op->options_type ? options_table(b, op) : 0;
        df_tfb_table_start(b);
        if (code) df_tfb_add_i32(b, 0, code);
        df_tfb_add_ref(b, 1, in);
        df_tfb_add_ref(b, 2, out);
        if (opt) {
            df_tfb_add_u8(b, 3, (uint8_t)op->options_type);
            df_tfb_add_ref(b, 4, opt);
        }
        refs[n_tensors + i] = df_tfb_table_end(b);
    }
    df_tfb_ref op_vec = df_tfb_vector_refs(b, refs + n_tensors, (size_t)n_ops);
    df_tfb_ref in_vec = df_tfb_vector(b, inputs, (size_t)n_inputs, 4);
    df_tfb_ref out_vec = df_tfb_vector(b, outputs, (size_t)n_outputs, 4);
    df_tfb_ref sg_name = df_tfb_string(b, "main");
    df_tfb_table_start(b);
    df_tfb_add_ref(b, 0, tensor_vec);
    df_tfb_add_ref(b, 1, in_vec);
    df_tfb_add_ref(b, 2, out_vec);
    df_tfb_add_ref(b, 3, op_vec);
    df_tfb_add_ref(b, 4, sg_name);
    df_tfb_ref sg = df_tfb_table_end(b);
    df_tfb_ref sg_vec = df_tfb_vector_refs(b, &sg, 1);
    df_tfb_ref desc = df_tfb_string(b, "built by tests/support/tflite_builder.c");

    df_tfb_table_start(b);
    df_tfb_add_i32(b, 0, 3);
    df_tfb_add_ref(b, 1, code_vec);
    df_tfb_add_ref(b, 2, sg_vec);
    df_tfb_add_ref(b, 3, desc);
    df_tfb_add_ref(b, 4, buffers);
    df_tfb_ref model = df_tfb_table_end(b);
    uint8_t *out = df_tfb_finish(b, model, "TFL3", size);

    free(code_refs);
    free(buffer_of);
    free(buf_refs);
    free(codes);
    free(refs);
    df_tfb_destroy(b);
    return out;
}
