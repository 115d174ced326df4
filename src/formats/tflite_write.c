/*
 * TFLite writer (see tflite_write.h). Field ids are positions in
 * tensorflow/lite/schema/schema.fbs (a union counts as two fields), the same
 * ones the reader (tflite.c) uses.
 */
#include "formats/tflite_write.h"

#include <stdlib.h>
#include <string.h>

#include "formats/flatbuf.h"

enum { MODEL_VERSION = 0, MODEL_OPERATOR_CODES = 1, MODEL_SUBGRAPHS = 2, MODEL_DESCRIPTION = 3,
       MODEL_BUFFERS = 4, MODEL_METADATA = 6 };
enum { OPCODE_DEPRECATED_BUILTIN = 0, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SUBGRAPH_TENSORS = 0, SUBGRAPH_INPUTS = 1, SUBGRAPH_OUTPUTS = 2, SUBGRAPH_OPERATORS = 3,
       SUBGRAPH_NAME = 4 };
enum { BUFFER_DATA = 0 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_QUANT = 4 };
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DIMENSION = 6 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS_TYPE = 3, OP_OPTIONS = 4 };
enum { METADATA_NAME = 0, METADATA_BUFFER = 1 };

/* The converter aligns constant data to 16 bytes; so do we. */
enum { BUFFER_ALIGN = 16 };

static df_status bad(df_error *err, const df_tflite_model *m, const char *what, size_t i) {
    return df_error_set(err, DF_ERR_INTERNAL, "%s: cannot write the model: %s %zu", m->path,
                        what, i);
}

/* The reader's consistency checks, so that what is written reads back. */
static df_status check(const df_tflite_model *m, const df_tflite_write_extras *x,
                       df_error *err) {
    for (size_t i = 0; i < m->n_tensors; i++) {
        const df_tflite_tensor *t = &m->tensors[i];
        if (t->rank < 0 || t->rank > DF_TFLITE_MAX_RANK || t->buffer >= m->n_buffers)
            return bad(err, m, "bad rank or buffer of tensor", i);
        size_t e = df_tflite_tensor_elements(t), es = df_tflite_type_size(t->type), bytes;
        for (int k = 0; k < t->rank; k++)
            if (t->shape[k] < 0) return bad(err, m, "negative dimension in tensor", i);
        const df_tflite_buffer *b = &m->buffers[t->buffer];
        if (b->size && (!es || !df_size_mul(e, es, &bytes) || bytes != b->size))
            return bad(err, m, "constant data of the wrong size in tensor", i);
        const df_tflite_quant *q = &t->quant;
        if (q->n > 1 && (q->quantized_dimension < 0 || q->quantized_dimension >= t->rank ||
                         (size_t)t->shape[q->quantized_dimension] != q->n))
            return bad(err, m, "per-channel scales not matching the shape of tensor", i);
    }
    for (size_t i = 0; i < m->n_inputs + m->n_outputs; i++) {
        int32_t v = i < m->n_inputs ? m->inputs[i] : m->outputs[i - m->n_inputs];
        if (v < 0 || (size_t)v >= m->n_tensors) return bad(err, m, "graph input/output", i);
    }
    for (size_t i = 0; i < m->n_operators; i++) {
        const df_tflite_operator *op = &m->operators[i];
        if (op->opcode_index >= m->n_opcodes) return bad(err, m, "opcode index of operator", i);
        for (int k = 0; k < op->n_inputs + op->n_outputs; k++) {
            int32_t v = k < op->n_inputs ? op->inputs[k] : op->outputs[k - op->n_inputs];
            if (v < (k < op->n_inputs ? -1 : 0) || (v >= 0 && (size_t)v >= m->n_tensors))
                return bad(err, m, "tensor index of operator", i);
        }
    }
    for (size_t i = 0; x && i < x->n_metadata; i++)
        if (x->metadata[i].buffer >= m->n_buffers || !x->metadata[i].name)
            return bad(err, m, "metadata entry", i);
    return DF_OK;
}

/* The options table of op, or 0 with *type = 0 when it has none. */
static df_status options(df_fbb *b, const df_tflite_model *m, size_t i, df_fbb_ref *ref,
                         df_error *err) {
    const df_tflite_options *o = &m->operators[i].options;
    *ref = 0;
    df_fbb_ref shape = 0;
    switch (o->type) {
    case DF_TFLITE_OPTIONS_NONE: return DF_OK;
    case DF_TFLITE_OPTIONS_RESHAPE:
    case DF_TFLITE_OPTIONS_SQUEEZE:
        if (o->new_shape_n >= 0)
            shape = df_fbb_vector(b, o->new_shape, (size_t)o->new_shape_n, 4, 0);
        break;
    default: break;
    }
    df_fbb_table_start(b);
    switch (o->type) {
    case DF_TFLITE_OPTIONS_CONV2D:
        df_fbb_add_u8(b, 0, (uint8_t)o->padding);
        df_fbb_add_i32(b, 1, o->stride_w);
        df_fbb_add_i32(b, 2, o->stride_h);
        df_fbb_add_u8(b, 3, (uint8_t)o->activation);
        df_fbb_add_i32(b, 4, o->dilation_w);
        df_fbb_add_i32(b, 5, o->dilation_h);
        break;
    case DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D:
        df_fbb_add_u8(b, 0, (uint8_t)o->padding);
        df_fbb_add_i32(b, 1, o->stride_w);
        df_fbb_add_i32(b, 2, o->stride_h);
        df_fbb_add_i32(b, 3, o->depth_multiplier);
        df_fbb_add_u8(b, 4, (uint8_t)o->activation);
        df_fbb_add_i32(b, 5, o->dilation_w);
        df_fbb_add_i32(b, 6, o->dilation_h);
        break;
    case DF_TFLITE_OPTIONS_POOL2D:
        df_fbb_add_u8(b, 0, (uint8_t)o->padding);
        df_fbb_add_i32(b, 1, o->stride_w);
        df_fbb_add_i32(b, 2, o->stride_h);
        df_fbb_add_i32(b, 3, o->filter_w);
        df_fbb_add_i32(b, 4, o->filter_h);
        df_fbb_add_u8(b, 5, (uint8_t)o->activation);
        break;
    case DF_TFLITE_OPTIONS_FULLY_CONNECTED:
        df_fbb_add_u8(b, 0, (uint8_t)o->activation);
        df_fbb_add_u8(b, 2, (uint8_t)(o->keep_num_dims != 0));
        break;
    case DF_TFLITE_OPTIONS_SOFTMAX: df_fbb_add_f32(b, 0, o->beta); break;
    case DF_TFLITE_OPTIONS_CONCATENATION:
        df_fbb_add_i32(b, 0, o->axis);
        df_fbb_add_u8(b, 1, (uint8_t)o->activation);
        break;
    case DF_TFLITE_OPTIONS_ADD: df_fbb_add_u8(b, 0, (uint8_t)o->activation); break;
    case DF_TFLITE_OPTIONS_RESHAPE:
    case DF_TFLITE_OPTIONS_SQUEEZE: df_fbb_add_ref(b, 0, shape); break;
    case DF_TFLITE_OPTIONS_REDUCER: df_fbb_add_u8(b, 0, (uint8_t)(o->keep_dims != 0)); break;
    case DF_TFLITE_OPTIONS_PAD:
    case DF_TFLITE_OPTIONS_PADV2:
    case DF_TFLITE_OPTIONS_DEQUANTIZE:
    case DF_TFLITE_OPTIONS_QUANTIZE: break;
    default:
        return df_error_set(err, DF_ERR_UNSUPPORTED,
                            "%s: operator %zu (%s) has builtin options of union type %d, which "
                            "this writer cannot reproduce", m->path, i,
                            df_tflite_op_name(m->operators[i].builtin), o->type);
    }
    *ref = df_fbb_table_end(b);
    return DF_OK;
}

static df_fbb_ref tensor(df_fbb *b, const df_tflite_tensor *t) {
    df_fbb_ref shape = df_fbb_vector(b, t->shape, (size_t)t->rank, 4, 0);
    df_fbb_ref name = df_fbb_string(b, t->name ? t->name : "");
    df_fbb_ref quant = 0;
    if (t->quant.n) {
        df_fbb_ref sc = df_fbb_vector(b, t->quant.scale, t->quant.n, 4, 0);
        df_fbb_ref zp = df_fbb_vector(b, t->quant.zero_point, t->quant.n, 8, 0);
        df_fbb_table_start(b);
        df_fbb_add_ref(b, QUANT_SCALE, sc);
        df_fbb_add_ref(b, QUANT_ZERO_POINT, zp);
        if (t->quant.quantized_dimension)
            df_fbb_add_i32(b, QUANT_DIMENSION, t->quant.quantized_dimension);
        quant = df_fbb_table_end(b);
    }
    df_fbb_table_start(b);
    df_fbb_add_ref(b, TENSOR_SHAPE, shape);
    df_fbb_add_u8(b, TENSOR_TYPE, (uint8_t)t->type);
    if (t->buffer) df_fbb_add_u32(b, TENSOR_BUFFER, t->buffer);
    df_fbb_add_ref(b, TENSOR_NAME, name);
    df_fbb_add_ref(b, TENSOR_QUANT, quant);
    return df_fbb_table_end(b);
}

static df_fbb_ref opcode(df_fbb *b, const df_tflite_opcode *c) {
    df_fbb_table_start(b);
    /* Readers take max(deprecated, builtin): codes above 127 live in the new field only. */
    df_fbb_add_u8(b, OPCODE_DEPRECATED_BUILTIN, (uint8_t)(c->builtin < 127 ? c->builtin : 127));
    df_fbb_add_i32(b, OPCODE_VERSION, c->version > 0 ? c->version : 1);
    df_fbb_add_i32(b, OPCODE_BUILTIN, c->builtin);
    return df_fbb_table_end(b);
}

/* The subgraph: tensors, operators, inputs, outputs. refs: scratch of
 * max(n_tensors, n_operators) entries. */
static df_status subgraph(df_fbb *b, const df_tflite_model *m, df_fbb_ref *refs,
                          df_fbb_ref *out, df_error *err) {
    for (size_t i = 0; i < m->n_tensors; i++) refs[i] = tensor(b, &m->tensors[i]);
    df_fbb_ref tensors = df_fbb_vector_refs(b, refs, m->n_tensors);
    for (size_t i = 0; i < m->n_operators; i++) {
        const df_tflite_operator *op = &m->operators[i];
        df_fbb_ref in = df_fbb_vector(b, op->inputs, (size_t)op->n_inputs, 4, 0);
        df_fbb_ref o = df_fbb_vector(b, op->outputs, (size_t)op->n_outputs, 4, 0);
        df_fbb_ref opt;
        df_status st = options(b, m, i, &opt, err);
        if (st) return st;
        df_fbb_table_start(b);
        if (op->opcode_index) df_fbb_add_u32(b, OP_OPCODE_INDEX, op->opcode_index);
        df_fbb_add_ref(b, OP_INPUTS, in);
        df_fbb_add_ref(b, OP_OUTPUTS, o);
        if (opt) {
            df_fbb_add_u8(b, OP_OPTIONS_TYPE, (uint8_t)op->options.type);
            df_fbb_add_ref(b, OP_OPTIONS, opt);
        }
        refs[i] = df_fbb_table_end(b);
    }
    df_fbb_ref ops = df_fbb_vector_refs(b, refs, m->n_operators);
    df_fbb_ref in = df_fbb_vector(b, m->inputs, m->n_inputs, 4, 0);
    df_fbb_ref o = df_fbb_vector(b, m->outputs, m->n_outputs, 4, 0);
    df_fbb_ref name = df_fbb_string(b, "main");
    df_fbb_table_start(b);
    df_fbb_add_ref(b, SUBGRAPH_TENSORS, tensors);
    df_fbb_add_ref(b, SUBGRAPH_INPUTS, in);
    df_fbb_add_ref(b, SUBGRAPH_OUTPUTS, o);
    df_fbb_add_ref(b, SUBGRAPH_OPERATORS, ops);
    df_fbb_add_ref(b, SUBGRAPH_NAME, name);
    *out = df_fbb_table_end(b);
    return DF_OK;
}

df_status df_tflite_write(const df_tflite_model *m, const df_tflite_write_extras *x,
                          uint8_t **out, size_t *size, df_error *err) {
    *out = NULL;
    *size = 0;
    df_status st = check(m, x, err);
    if (st) return st;
    df_fbb *b = df_fbb_create(m->path);
    size_t n_refs = m->n_tensors;
    if (m->n_operators > n_refs) n_refs = m->n_operators;
    if (m->n_buffers > n_refs) n_refs = m->n_buffers;
    if (m->n_opcodes > n_refs) n_refs = m->n_opcodes;
    if (x && x->n_metadata > n_refs) n_refs = x->n_metadata;
    df_fbb_ref *refs = calloc(n_refs + 1, sizeof *refs);
    if (!b || !refs) {
        df_fbb_destroy(b);
        free(refs);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", m->path);
    }
    /* Buffers first: the big constant data ends up at the end of the file. */
    for (size_t i = 0; i < m->n_buffers; i++) {
        df_fbb_ref data = 0;
        if (m->buffers[i].size)
            data = df_fbb_vector(b, m->buffers[i].data, m->buffers[i].size, 1, BUFFER_ALIGN);
        df_fbb_table_start(b);
        df_fbb_add_ref(b, BUFFER_DATA, data);
        refs[i] = df_fbb_table_end(b);
    }
    df_fbb_ref buffers = df_fbb_vector_refs(b, refs, m->n_buffers);
    df_fbb_ref sg;
    if ((st = subgraph(b, m, refs, &sg, err))) goto done;
    df_fbb_ref subgraphs = df_fbb_vector_refs(b, &sg, 1);
    for (size_t i = 0; i < m->n_opcodes; i++) refs[i] = opcode(b, &m->opcodes[i]);
    df_fbb_ref codes = df_fbb_vector_refs(b, refs, m->n_opcodes);
    df_fbb_ref desc = x && x->description ? df_fbb_string(b, x->description) : 0;
    df_fbb_ref meta = 0;
    if (x && x->n_metadata) {
        for (size_t i = 0; i < x->n_metadata; i++) {
            df_fbb_ref name = df_fbb_string(b, x->metadata[i].name);
            df_fbb_table_start(b);
            df_fbb_add_ref(b, METADATA_NAME, name);
            df_fbb_add_u32(b, METADATA_BUFFER, x->metadata[i].buffer);
            refs[i] = df_fbb_table_end(b);
        }
        meta = df_fbb_vector_refs(b, refs, x->n_metadata);
    }
    df_fbb_table_start(b);
    df_fbb_add_u32(b, MODEL_VERSION, 3);
    df_fbb_add_ref(b, MODEL_OPERATOR_CODES, codes);
    df_fbb_add_ref(b, MODEL_SUBGRAPHS, subgraphs);
    df_fbb_add_ref(b, MODEL_DESCRIPTION, desc);
    df_fbb_add_ref(b, MODEL_BUFFERS, buffers);
    df_fbb_add_ref(b, MODEL_METADATA, meta);
    df_fbb_ref root = df_fbb_table_end(b);
    st = df_fbb_finish(b, root, "TFL3", out, size, err);
done:
    free(refs);
    df_fbb_destroy(b);
    return st;
}
