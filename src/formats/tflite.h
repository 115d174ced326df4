/*
 * TFLite flatbuffer reader: the model file as plain C structs.
 *
 * Implements the subset of tensorflow/tflite-micro
 * tensorflow/compiler/mlir/lite/schema/schema.fbs (schema version 3) that an
 * image-classification graph needs: operator codes, subgraph 0 (tensors with
 * shape, type, buffer, name and affine quantization; inputs, outputs;
 * operators with the builtin options of the ops listed below) and buffers.
 * Model.metadata entries (name + buffer index) are read; their contents are
 * left to their own readers (tflite_metadata.h).
 * Not read: other subgraphs, signature defs, sparsity, custom
 * options, external (> 2 GB) buffers, blockwise quantization.
 *
 * No flatbuffers library: every offset, vtable, vector length and index is
 * bounds-checked before use, so a truncated or hostile file is a
 * DF_ERR_FORMAT naming the file and the field, never an out-of-bounds read.
 * After parsing, the model is also checked for consistency (tensor and
 * buffer indices in range, buffer sizes equal to shape x element size,
 * quantization vectors of matching length), so users of these structs can
 * trust every index they find in them.
 */
#ifndef DF_FORMATS_TFLITE_H
#define DF_FORMATS_TFLITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Largest .tflite file df_tflite_load reads (flatbuffers cap at 2 GiB). */
#define DF_TFLITE_MAX_FILE_BYTES ((size_t)1 << 31)
/* Tensors of higher rank are rejected (image models use at most 4). */
#define DF_TFLITE_MAX_RANK 8

/* TensorType (schema values). */
enum {
    DF_TFLITE_FLOAT32 = 0,
    DF_TFLITE_FLOAT16 = 1,
    DF_TFLITE_INT32 = 2,
    DF_TFLITE_UINT8 = 3,
    DF_TFLITE_INT64 = 4,
    DF_TFLITE_STRING = 5,
    DF_TFLITE_BOOL = 6,
    DF_TFLITE_INT16 = 7,
    DF_TFLITE_INT8 = 9
};

/* BuiltinOperator (schema values) of the ops this project meets. */
enum {
    DF_TFLITE_OP_ADD = 0,
    DF_TFLITE_OP_AVERAGE_POOL_2D = 1,
    DF_TFLITE_OP_CONCATENATION = 2,
    DF_TFLITE_OP_CONV_2D = 3,
    DF_TFLITE_OP_DEPTHWISE_CONV_2D = 4,
    DF_TFLITE_OP_DEQUANTIZE = 6,
    DF_TFLITE_OP_FULLY_CONNECTED = 9,
    DF_TFLITE_OP_L2_NORMALIZATION = 11,
    DF_TFLITE_OP_MAX_POOL_2D = 17,
    DF_TFLITE_OP_RELU = 19,
    DF_TFLITE_OP_RELU6 = 21,
    DF_TFLITE_OP_RESHAPE = 22,
    DF_TFLITE_OP_SOFTMAX = 25,
    DF_TFLITE_OP_CUSTOM = 32,
    DF_TFLITE_OP_PAD = 34,
    DF_TFLITE_OP_MEAN = 40,
    DF_TFLITE_OP_SQUEEZE = 43,
    DF_TFLITE_OP_QUANTIZE = 114
};

/* Padding and ActivationFunctionType (schema values). */
enum { DF_TFLITE_PAD_SAME = 0, DF_TFLITE_PAD_VALID = 1 };
enum {
    DF_TFLITE_ACT_NONE = 0,
    DF_TFLITE_ACT_RELU = 1,
    DF_TFLITE_ACT_RELU_N1_TO_1 = 2,
    DF_TFLITE_ACT_RELU6 = 3,
    DF_TFLITE_ACT_TANH = 4,
    DF_TFLITE_ACT_SIGN_BIT = 5
};

/* BuiltinOptions union members that are decoded (schema union index). */
enum {
    DF_TFLITE_OPTIONS_NONE = 0,
    DF_TFLITE_OPTIONS_CONV2D = 1,
    DF_TFLITE_OPTIONS_DEPTHWISE_CONV2D = 2,
    DF_TFLITE_OPTIONS_POOL2D = 5,
    DF_TFLITE_OPTIONS_FULLY_CONNECTED = 8,
    DF_TFLITE_OPTIONS_SOFTMAX = 9,
    DF_TFLITE_OPTIONS_CONCATENATION = 10,
    DF_TFLITE_OPTIONS_ADD = 11,
    DF_TFLITE_OPTIONS_RESHAPE = 17,
    DF_TFLITE_OPTIONS_REDUCER = 27,
    DF_TFLITE_OPTIONS_SQUEEZE = 30
};

/* Affine quantization: real = scale[i] * (q - zero_point[i]). n == 0: none.
 * n == 1: per tensor; n > 1: per channel along quantized_dimension, and
 * n == shape[quantized_dimension] (checked). */
typedef struct df_tflite_quant {
    size_t n;
    float *scale;           /* [n], owned */
    int64_t *zero_point;    /* [n], owned; zeros when the file has none */
    int quantized_dimension;
} df_tflite_quant;

typedef struct df_tflite_tensor {
    int rank;
    int32_t shape[DF_TFLITE_MAX_RANK]; /* every dim >= 0 (checked) */
    int type;                          /* DF_TFLITE_FLOAT32, ... */
    uint32_t buffer;                   /* index into model->buffers (checked) */
    char *name;                        /* owned, "" when absent */
    df_tflite_quant quant;
} df_tflite_tensor;

/* Decoded builtin options; fields not used by an op keep schema defaults. */
typedef struct df_tflite_options {
    int type;               /* DF_TFLITE_OPTIONS_*, or the raw union index */
    int padding;            /* DF_TFLITE_PAD_* */
    int stride_w, stride_h;
    int dilation_w, dilation_h;   /* default 1 */
    int depth_multiplier;
    int filter_w, filter_h;
    int activation;         /* DF_TFLITE_ACT_* */
    float beta;             /* softmax */
    int keep_num_dims;      /* fully connected */
    int keep_dims;          /* reducer (MEAN) */
    int axis;               /* concatenation */
    int new_shape_n;        /* reshape: -1 when absent */
    int32_t new_shape[DF_TFLITE_MAX_RANK];
} df_tflite_options;

typedef struct df_tflite_operator {
    uint32_t opcode_index;  /* into model->opcodes (checked) */
    int builtin;            /* resolved builtin op (copy of the opcode's) */
    int n_inputs, n_outputs;
    int32_t *inputs;        /* owned; each -1 (optional, absent) or a tensor index (checked) */
    int32_t *outputs;       /* owned; each a tensor index (checked) */
    df_tflite_options options;
} df_tflite_operator;

typedef struct df_tflite_opcode {
    int builtin;            /* max(builtin_code, deprecated_builtin_code) */
    int version;
} df_tflite_opcode;

typedef struct df_tflite_buffer {
    const uint8_t *data;    /* points into model->file; NULL when empty */
    size_t size;
} df_tflite_buffer;

typedef struct df_tflite_metadata_ref {
    char *name;             /* owned */
    uint32_t buffer;        /* index into model->buffers (checked) */
} df_tflite_metadata_ref;

typedef struct df_tflite_model {
    char *path;             /* owned: the name used in messages */
    uint8_t *file;          /* owned copy of the file */
    size_t file_size;
    uint32_t version;
    size_t n_opcodes;
    df_tflite_opcode *opcodes;
    size_t n_buffers;
    df_tflite_buffer *buffers;
    /* subgraph 0 */
    size_t n_tensors;
    df_tflite_tensor *tensors;
    size_t n_inputs, n_outputs;
    int32_t *inputs, *outputs;  /* tensor indices (checked) */
    size_t n_operators;
    df_tflite_operator *operators;
    /* Model.metadata */
    size_t n_metadata;
    df_tflite_metadata_ref *metadata;
} df_tflite_model;

/* Parses size bytes (copied; data may be freed after the call). name is used
 * in messages. On failure *out is NULL. */
df_status df_tflite_parse(const uint8_t *data, size_t size, const char *name,
                          df_tflite_model **out, df_error *err) DF_MUST_CHECK;
df_status df_tflite_load(const char *path, df_tflite_model **out, df_error *err) DF_MUST_CHECK;
/* Accepts NULL and half-built models. */
void df_tflite_destroy(df_tflite_model *model);

/* Bytes per element of a TensorType, 0 for types without a fixed size. */
size_t df_tflite_type_size(int type);
const char *df_tflite_type_name(int type);
/* "CONV_2D", ...; "op <n>" style names are not returned: unknown -> "?". */
const char *df_tflite_op_name(int builtin);
/* Product of the dims, 0 on overflow of size_t (checked at parse time, so
 * this never overflows for a parsed tensor). */
size_t df_tflite_tensor_elements(const df_tflite_tensor *t);
/* Index of the tensor named name, or "#<index>"; -1 when none. */
int df_tflite_find_tensor(const df_tflite_model *model, const char *name);
/* The buffer of the Model.metadata entry named name, or NULL when there is
 * none (or it is empty); *size its bytes. */
const uint8_t *df_tflite_metadata_buffer(const df_tflite_model *model, const char *name,
                                         size_t *size);
/* The operator that writes tensor t, or -1 (inputs and constants). */
int df_tflite_producer(const df_tflite_model *model, int t);
/* Constant data of tensor t (its buffer), or NULL when it has none. The
 * buffer size equals elements x type size (checked at parse time). */
const uint8_t *df_tflite_tensor_data(const df_tflite_model *model, int t);

#endif
