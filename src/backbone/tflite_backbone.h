/*
 * TFLite image graphs on the engine: the graph executor shared by the
 * feature-extractor backbone (backbone.h, df_tflite_backbone_open) and the
 * ImageNet classifier (df_tflite_classifier_*, the full model with its top).
 *
 * With --precision int8 (or auto, when int8 measures faster) a quantized
 * model's engine part runs in its own integers instead (tflite_int8.h,
 * engine/qnet.h); what follows the hand-over point stays float. Otherwise
 * execution is a float simulation of the quantized graph: weights are
 * dequantized (real = scale * (q - zero_point), per channel where the file
 * says so; int32 biases with input_scale * filter_scale), activations stay
 * float between layers and intermediate requantization is not simulated.
 * Fused ReLU / ReLU6 become engine activations. The spatial part of the graph
 * (CONV_2D, DEPTHWISE_CONV_2D, ADD, AVERAGE/MAX_POOL_2D, MEAN over H and W,
 * PAD folded into the next convolution, QUANTIZE/DEQUANTIZE as identities)
 * runs on the engine; what follows the graph's single hand-over point
 * (FULLY_CONNECTED, a 1x1 CONV_2D on a 1x1 map, RESHAPE, SQUEEZE, SOFTMAX,
 * L2_NORMALIZATION over the whole value)
 * runs in plain C per image. Anything else is DF_ERR_UNSUPPORTED naming the
 * operator.
 */
#ifndef DF_BACKBONE_TFLITE_BACKBONE_H
#define DF_BACKBONE_TFLITE_BACKBONE_H

#include "backbone/backbone.h"
#include "engine/qnet.h"
#include "formats/tflite.h"

/* The globally pooled feature: the output of the last MEAN or
 * AVERAGE_POOL_2D that reduces a spatial map to one value per channel.
 * -1 when the graph has none. */
int df_tflite_feature_tensor(const df_tflite_model *model);
/* The spatial map that pooled feature averages (the pooling op's input,
 * e.g. 7x7x1280 for MobileNetV2), for Grad-CAM; -1 when there is none. */
int df_tflite_feature_map_tensor(const df_tflite_model *model);
/* df_backbone_options.cut_tensor value that cuts at that map. */
#define DF_TFLITE_CUT_FEATURE_MAP "@feature_map"

/* Maps an RGB8 image of the input tensor's size to the input tensor's real
 * values: real = scale * (q - zero_point) with q = pixel (UINT8 inputs) or
 * pixel - 128 (INT8 inputs); FLOAT32 inputs get pixel / 127.5 - 1 (the
 * MobileNet convention). out: H*W*3 floats. */
typedef struct df_tflite_input {
    int h, w, c;
    int type;
    float scale;
    int64_t zero_point;
} df_tflite_input;

df_status df_tflite_preprocess(const df_tflite_input *in, const df_image *img, float *out,
                               df_error *err) DF_MUST_CHECK;

/* ---- the graph executor ---- */
typedef struct df_tflite_graph df_tflite_graph;

/* Builds the part of the graph that computes tensor `target` from the
 * subgraph input. The model is only read during the call (weights are
 * copied). Uses precision, autotune, max_batch and notice from opt. */
df_status df_tflite_graph_create(const df_tflite_model *model, int target,
                                 const df_backbone_options *opt, df_tflite_graph **out,
                                 df_error *err) DF_MUST_CHECK;
void df_tflite_graph_destroy(df_tflite_graph *g);
/* Values per image of the target tensor. */
size_t df_tflite_graph_output_size(const df_tflite_graph *g);
const df_tflite_input *df_tflite_graph_input(const df_tflite_graph *g);
df_precision df_tflite_graph_precision(const df_tflite_graph *g);
/* inputs: n preprocessed images (any n >= 1; run in chunks of max_batch);
 * outputs: n * output_size floats. */
df_status df_tflite_graph_run(df_tflite_graph *g, const float *inputs, int n, float *outputs,
                              df_error *err) DF_MUST_CHECK;
/* 1 when the graph runs in integers from a quantized input tensor: then
 * df_tflite_graph_run_pixels takes the images' RGB bytes as they are
 * (h * w * 3 per image) and gives exactly what df_tflite_graph_run gives
 * on their df_tflite_preprocess (qnet.h, df_qnet_run_bytes). */
int df_tflite_graph_takes_pixels(const df_tflite_graph *g);
df_status df_tflite_graph_run_pixels(df_tflite_graph *g, const uint8_t *pixels, int n, float *outputs,
                                     df_error *err) DF_MUST_CHECK;

/* The float engine of a TFLite backbone (reports: layer table, fusions), or
 * NULL when the integer engine runs it (int8). */
const df_net *df_tflite_backbone_net(const df_backbone *bb);
/* Its integer engine (--precision int8), or NULL when it has none. */
const df_qnet *df_tflite_backbone_qnet(const df_backbone *bb);

/* ---- backbone from a parsed model (tests); name is the backbone name ---- */
df_status df_tflite_backbone_from_model(const df_tflite_model *model, const char *name,
                                        const df_backbone_options *opt, df_backbone **out,
                                        df_error *err) DF_MUST_CHECK;

/* ---- the classifier ---- */
typedef struct df_tflite_classifier df_tflite_classifier;

/* The model's output 0 must come from SOFTMAX (possibly followed by
 * QUANTIZE / DEQUANTIZE / RESHAPE); otherwise DF_ERR_UNSUPPORTED (a model
 * without its top is a backbone, not a classifier). */
df_status df_tflite_classifier_open(const char *path, const df_backbone_options *opt,
                                    df_tflite_classifier **out, df_error *err) DF_MUST_CHECK;
df_status df_tflite_classifier_from_model(const df_tflite_model *model,
                                          const df_backbone_options *opt,
                                          df_tflite_classifier **out,
                                          df_error *err) DF_MUST_CHECK;
void df_tflite_classifier_destroy(df_tflite_classifier *c);
size_t df_tflite_classifier_classes(const df_tflite_classifier *c);
void df_tflite_classifier_input_size(const df_tflite_classifier *c, int *h, int *w);
df_precision df_tflite_classifier_precision(const df_tflite_classifier *c);
/* img must be input-sized (resize with DF_RESIZE_BILINEAR); out: H*W*3. */
df_status df_tflite_classifier_preprocess(const df_tflite_classifier *c, const df_image *img,
                                          float *out, df_error *err) DF_MUST_CHECK;
/* probs: n * classes softmax probabilities. */
df_status df_tflite_classifier_run(df_tflite_classifier *c, const float *inputs, int n,
                                   float *probs, df_error *err) DF_MUST_CHECK;

#endif
