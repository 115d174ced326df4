/*
 * TFLite flatbuffer writer: the structs of tflite.h back into a schema-3
 * model file (one subgraph), built with the flatbuffer builder (flatbuf.h).
 *
 * Writes what the reader reads: operator codes (builtin_code and the
 * deprecated int8 code), buffers (data aligned to 16 bytes, buffer 0 left
 * empty as the converter does), tensors (shape, type, buffer, name, affine
 * quantization), subgraph inputs/outputs, operators with the builtin options
 * that tflite.h decodes, the model description and Model.metadata entries
 * (name + buffer index). Options are written from the decoded fields, so
 * fields the reader does not decode get their schema defaults; an operator
 * whose options type the writer cannot reproduce exactly is refused with
 * DF_ERR_UNSUPPORTED naming it (the options tables the writer knows:
 * Conv2D, DepthwiseConv2D, Pool2D, FullyConnected, Softmax, Concatenation,
 * Add, Reshape, Reducer, Squeeze, and the field-less Pad, PadV2, Dequantize,
 * Quantize).
 *
 * The model is checked first as the reader checks a file (indices in range,
 * constant buffers of shape x element size bytes, quantization vectors of
 * matching length), so what is written reads back.
 */
#ifndef DF_FORMATS_TFLITE_WRITE_H
#define DF_FORMATS_TFLITE_WRITE_H

#include "formats/tflite.h"

/* BuiltinOptions union indices of the field-less tables. */
enum {
    DF_TFLITE_OPTIONS_PAD = 22,
    DF_TFLITE_OPTIONS_DEQUANTIZE = 38,
    DF_TFLITE_OPTIONS_PADV2 = 43,
    DF_TFLITE_OPTIONS_QUANTIZE = 89
};

typedef struct df_tflite_metadata_entry {
    const char *name;       /* e.g. "TFLITE_METADATA" */
    uint32_t buffer;        /* index into model->buffers */
} df_tflite_metadata_entry;

typedef struct df_tflite_write_extras {
    const char *description;                     /* Model.description, NULL = none */
    size_t n_metadata;
    const df_tflite_metadata_entry *metadata;
} df_tflite_write_extras;

/* model->path names the output in messages; model->file is not used.
 * On success *out (malloc'ed, caller frees) holds *size bytes. */
df_status df_tflite_write(const df_tflite_model *model, const df_tflite_write_extras *extras,
                          uint8_t **out, size_t *size, df_error *err) DF_MUST_CHECK;

#endif
