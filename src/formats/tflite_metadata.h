/*
 * TFLite Model Metadata (tensorflow/tflite-support
 * tensorflow_lite_support/metadata/metadata_schema.fbs, file identifier
 * "M001"): the subset an image classifier carries, written as Model Maker
 * writes it and read back for tests and tools.
 *
 * Written: ModelMetadata { name, description, version, author, license,
 * subgraph_metadata[1] { input_tensor_metadata[1] { name, description,
 * content { ImageProperties { color_space, default_size } }, process_units
 * [NormalizationOptions { mean, std }] }, output_tensor_metadata[1] { name,
 * description, content { FeatureProperties }, stats { max, min },
 * associated_files [labels file, TENSOR_AXIS_LABELS] }, [a second output
 * tensor's metadata: name, description, FeatureProperties, stats, one
 * associated file of any type] }, min_parser_version }. The Task Library's
 * ImageClassifier refuses a model whose output tensor metadata does not
 * list every output (it reads each output as a classification head). The TFLite model refers to it from a Model.metadata
 * entry named "TFLITE_METADATA"; the associated files themselves are packed
 * in a zip appended to the model (zip.h).
 */
#ifndef DF_FORMATS_TFLITE_METADATA_H
#define DF_FORMATS_TFLITE_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define DF_TFLITE_METADATA_NAME "TFLITE_METADATA"
/* The metadata parser version whose fields this writer uses (1.0.0: no
 * field added by a later schema version is written). */
#define DF_TFLITE_METADATA_PARSER_VERSION "1.0.0"

enum { DF_MD_COLOR_RGB = 1 };                 /* ColorSpaceType */
enum { DF_MD_FILE_DESCRIPTIONS = 1, DF_MD_FILE_TENSOR_AXIS_LABELS = 2 }; /* AssociatedFileType */
enum { DF_MD_MAX_CHANNELS = 4 };

/* A second output's metadata (name NULL = the model has one output). */
typedef struct df_tflite_md_output {
    char *name, *description;
    int has_stats;
    float stats_min, stats_max;
    char *file, *file_description;    /* one associated file; NULL = none */
    int file_type;                    /* AssociatedFileType */
} df_tflite_md_output;

/* Strings are borrowed when writing and owned (malloc'ed) after parsing;
 * NULL = absent. */
typedef struct df_tflite_md {
    char *name, *description, *version, *author, *license, *min_parser_version;
    char *input_name, *input_description;
    int color_space;                  /* DF_MD_COLOR_RGB, 0 = unknown */
    uint32_t width, height;           /* default_size; 0 = absent */
    int n_norm;                       /* 0 = no NormalizationOptions */
    float mean[DF_MD_MAX_CHANNELS], std[DF_MD_MAX_CHANNELS];
    char *output_name, *output_description;
    int has_stats;
    float stats_min, stats_max;
    char *labels_file, *labels_description;
    int labels_type;                  /* AssociatedFileType */
    df_tflite_md_output output2;      /* written when output2.name is set */
    int n_outputs;                    /* parsed: output tensor metadata entries */
} df_tflite_md;

/* The M001 flatbuffer; *out malloc'ed. name is used in messages. */
df_status df_tflite_md_build(const df_tflite_md *md, const char *name, uint8_t **out,
                             size_t *size, df_error *err) DF_MUST_CHECK;
/* Parses an M001 flatbuffer (bounds-checked) into *md (zeroed first; free
 * with df_tflite_md_free). */
df_status df_tflite_md_parse(const uint8_t *buf, size_t size, const char *name, df_tflite_md *md,
                             df_error *err) DF_MUST_CHECK;
void df_tflite_md_free(df_tflite_md *md);

#endif
