/*
 * A minimal flatbuffer writer for tests: builds small TFLite models (and
 * deliberately odd flatbuffers) in memory, so the reader and the executor
 * are tested on files whose every value the test chose.
 *
 * Built back to front like the flatbuffers library: children (vectors,
 * strings, sub-tables) are written first and referred to by the refs those
 * calls return; a table is written between df_tfb_table_start and
 * df_tfb_table_end, with no other object created in between. Assumes a
 * little-endian host. Allocation failure aborts (test code only).
 */
#ifndef DF_TEST_TFLITE_BUILDER_H
#define DF_TEST_TFLITE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct df_tfb df_tfb;
typedef uint32_t df_tfb_ref; /* distance of an object from the end of the buffer */

df_tfb *df_tfb_create(void);
void df_tfb_destroy(df_tfb *b);

/* n elements of elem_size bytes each (little-endian host layout). */
df_tfb_ref df_tfb_vector(df_tfb *b, const void *elems, size_t n, size_t elem_size);
df_tfb_ref df_tfb_string(df_tfb *b, const char *s);
/* A vector of offsets to tables (or strings). */
df_tfb_ref df_tfb_vector_refs(df_tfb *b, const df_tfb_ref *refs, size_t n);

void df_tfb_table_start(df_tfb *b);
void df_tfb_add_u8(df_tfb *b, int id, uint8_t v);
void df_tfb_add_i32(df_tfb *b, int id, int32_t v);
void df_tfb_add_f32(df_tfb *b, int id, float v);
void df_tfb_add_u64(df_tfb *b, int id, uint64_t v);
void df_tfb_add_ref(df_tfb *b, int id, df_tfb_ref ref);
df_tfb_ref df_tfb_table_end(df_tfb *b);

/* Writes the root offset and the 4-byte identifier; returns a malloc'ed copy
 * of the finished buffer (caller frees) and its size. */
uint8_t *df_tfb_finish(df_tfb *b, df_tfb_ref root, const char *ident, size_t *size);

/* ---- TFLite models from plain descriptions ---- */

typedef struct df_tfb_tensor {
    const char *name;
    int type;              /* DF_TFLITE_FLOAT32, ... */
    int rank;
    int32_t shape[4];
    const void *data;      /* constant data (data_size bytes) or NULL */
    size_t data_size;
    int n_quant;           /* 0 = not quantized */
    const float *scale;
    const int64_t *zero_point;
    int quantized_dimension;
} df_tfb_tensor;

typedef struct df_tfb_op {
    int builtin;           /* DF_TFLITE_OP_* */
    int n_inputs, n_outputs;
    int32_t inputs[4], outputs[2];
    int options_type;      /* DF_TFLITE_OPTIONS_* (0 = none) */
    int padding, stride_w, stride_h, dilation_w, dilation_h, depth_multiplier;
    int filter_w, filter_h, activation, keep_dims;
    float beta;
    int new_shape_n;
    int32_t new_shape[4];
} df_tfb_op;

/* Emits a schema-3 model with one subgraph; constant tensors get their own
 * buffer (buffer 0 stays empty). Operator codes are deduplicated and, when
 * deprecated_codes is set, written in the old int8 field only. Returns a
 * malloc'ed buffer. */
uint8_t *df_tfb_model(const df_tfb_tensor *tensors, int n_tensors, const df_tfb_op *ops,
                      int n_ops, const int32_t *inputs, int n_inputs, const int32_t *outputs,
                      int n_outputs, int deprecated_codes, size_t *size);

#endif
