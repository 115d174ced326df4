/*
 * Export a trained classifier (backbone + head) as ONE TFLite flatbuffer that
 * any TFLite runtime runs: photo in, class probabilities out.
 *
 * MobileNet-style TFLite backbones (df_export_tflite): the backbone's own
 * graph from its input up to the feature tensor, copied as it is in its file
 * (quantized tensors, scales and zero points kept), then
 *   [DEQUANTIZE]            when the feature tensor is not float32
 *   FULLY_CONNECTED (+RELU) the head's first dense, feature standardisation
 *                           folded in: W' = W / std, b' = b - (mean / std) W
 *   FULLY_CONNECTED         MLP: the second dense with BatchNorm folded in
 *                           (s = gamma / sqrt(var + eps), t = beta - mean s:
 *                           W' = diag(s) W, b' = b + t W); dropout dropped
 *   SOFTMAX                 float32 probabilities, in class order
 * The input is the backbone's input tensor (uint8 224x224x3 for the quantized
 * MobileNets). TFLite's runtime executes a quantized backbone with integer
 * arithmetic (requantizing every layer), as `--precision int8` does (XNNPACK,
 * TFLite's own CPU engine); fp32 and bf16 run it as a float simulation. So
 * the form that gives predict's answers depends on how the model's features
 * were computed: as in its file for an int8 model, dequantized to float32
 * (opt->float_backbone) for a float one (measured on the closet photos: a
 * float model exported as in its file differs by up to 0.09 in TFLite's
 * runtime, same classes). df_export_float_backbone_for() says which.
 *
 * VGG16 (df_export_vgg16): a float32 graph of 13 CONV_2D (fused RELU) and 5
 * MAX_POOL_2D from the Keras weights, [MEAN over H, W when the model uses
 * pooled features], then the head as above. The input is float32 RGB
 * 224x224x3, normalised as the model's preprocessing says: `caffe` (Keras:
 * BGR minus the ImageNet means) is expressed by swapping the first
 * convolution's input channels (exact), so the input is RGB minus the means
 * in RGB order; `seed` is RGB / 255. The metadata states it.
 *
 * Both add, when the model has an unknown detector (eval/unknown.h) and
 * opt->unknown is set, a second output after the feature tensor: the cosine
 * similarity to each training photo (see df_export_options.unknown).
 *
 * Both append TFLite Model Metadata (tflite_metadata.h) with the labels
 * file (and unknown.json), unless opt->metadata is 0. Folds are computed in double. Models the
 * exporter cannot express (an operator outside the executor's set, options
 * it cannot reproduce, a feature size that does not match) are refused with
 * DF_ERR_UNSUPPORTED or DF_ERR_SHAPE and a one-line reason.
 */
#ifndef DF_EXPORT_TFLITE_EXPORT_H
#define DF_EXPORT_TFLITE_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/model_file.h"

typedef struct df_export_options {
    const char *name;          /* model name in the metadata (e.g. "closet") */
    const char *description;   /* NULL = a generated one */
    int metadata;              /* 1 = TFLITE_METADATA + labels.txt zip (default) */
    /* 0 (default): the backbone's tensors as they are in its file (uint8 /
     * int8 arithmetic in TFLite's runtime). 1: its quantized constants
     * dequantized to float32 and its activations float32 (input still as in
     * the file, DEQUANTIZEd once): TFLite then computes what DeepFashion's
     * executor computes (a float simulation of the quantized graph), at 4x
     * the weight bytes. */
    int float_backbone;
    /* 1 (default): when the model has an unknown detector, a second output
     * "training_similarity" (1 x n: L2_NORMALIZATION of the features, then
     * FULLY_CONNECTED against the detector's normalised training rows = the
     * cosine similarity to each training photo), listed in the metadata,
     * with unknown.json (k, threshold, rate) beside labels.txt in the zip:
     * score = 1 - mean of the k largest, unknown when score > threshold,
     * as predict decides. Output 0 stays the probabilities. */
    int unknown;
} df_export_options;

df_export_options df_export_options_default(void);

/* The backbone form whose TFLite execution computes the model's features as
 * training and predict did: 0 (as in its file, integer kernels) when the
 * model records precision "int8", 1 (float_backbone) when its features were
 * computed in float (fp32, bf16, or not recorded: models from before
 * precision was recorded ran fp32). */
int df_export_float_backbone_for(const df_model *model);

/* backbone_tflite: the backbone's .tflite file bytes (size bytes, read only);
 * backbone_name names it in messages. cut_tensor: the feature tensor ("name"
 * or "#index"), NULL = found as training finds it. The model is only read.
 * On success *out (malloc'ed) holds *out_size bytes. */
df_status df_export_tflite(const uint8_t *backbone_tflite, size_t size,
                           const char *backbone_name, const char *cut_tensor,
                           const df_model *model, const df_export_options *opt, uint8_t **out,
                           size_t *out_size, df_error *err) DF_MUST_CHECK;

/* VGG16: w holds the 13 convolutions' Keras weights (kernel HWIO, bias;
 * read only); input_h x input_w is the image size (the model's: 224 x 224;
 * tests use smaller). Features are flattened (H, W, C) as Keras' Flatten,
 * or averaged over H and W (MEAN) when pooled (as the model records it);
 * the model's preprocess must be caffe or seed. */
typedef struct df_export_vgg16_weights {
    const float *kernel[13];
    const float *bias[13];
    int input_h, input_w;
    int pooled;
} df_export_vgg16_weights;

df_status df_export_vgg16(const df_export_vgg16_weights *w, const df_model *model,
                          const df_export_options *opt, uint8_t **out, size_t *out_size,
                          df_error *err) DF_MUST_CHECK;

#endif
