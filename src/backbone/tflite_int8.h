/*
 * The quantized TFLite image graphs in integers: builds an integer engine
 * (engine/qnet.h, XNNPACK) for the part of the graph that computes one
 * tensor, with the file's own uint8 / int8 tensors, scales and zero points
 * (TFLite's integer semantics; qnet.h says where rounding can differ by one
 * step), on XNNPACK or oneDNN. Used by tflite_backbone.c for --precision
 * int8.
 *
 * Supported: CONV_2D, DEPTHWISE_CONV_2D (multiplier 1), ADD (same shapes),
 * AVERAGE_POOL_2D over the whole map, MEAN over height and width, fused
 * NONE / RELU / RELU6, and a QUANTIZE right after the graph input (folded
 * into the quantization of the real-valued input). Every activation is
 * uint8 with per-tensor scales (weights uint8 with a zero point) or int8
 * (weights int8, symmetric, per tensor or per output channel). Anything
 * else is DF_ERR_UNSUPPORTED naming the operator.
 */
#ifndef DF_BACKBONE_TFLITE_INT8_H
#define DF_BACKBONE_TFLITE_INT8_H

#include "engine/qnet.h"
#include "formats/tflite.h"

/* The integer net from the model input (fp32 real values, as
 * df_tflite_preprocess makes them) to tensor `target` (fp32, dequantized),
 * on the backend the rule picks: oneDNN's int8 (uint8 and int8 models)
 * where its sums are exact (VNNI / AMX, df_qnet_backend_exact), else
 * for uint8 models oneDNN's fp32 on the integers (exact where every layer's
 * sums stay within 2^24), else XNNPACK; XNNPACK also where the first
 * refuses a layer. DF_INT8_ENGINE=xnnpack, onednn or onednn-f32 in the
 * environment forces one (A/B measurements). The model is only read during
 * the call. */
df_status df_tflite_qnet_build(const df_tflite_model *m, int target, df_qnet **out,
                               df_error *err) DF_MUST_CHECK;
/* The backend df_tflite_qnet_build tries first for this model. */
df_qbackend df_tflite_qnet_backend(const df_tflite_model *m);
/* The same on a given backend (DF_ERR_UNSUPPORTED where it cannot). */
df_status df_tflite_qnet_build_on(const df_tflite_model *m, int target, df_qbackend backend,
                                  df_qnet **out, df_error *err) DF_MUST_CHECK;

/* 1 when the model's image path is quantized: its input, or the output of
 * a QUANTIZE right after it, is a uint8 / int8 tensor with quantization. */
int df_tflite_is_quantized(const df_tflite_model *m);
/* 1 for a uint8 model (uint8 activations, uint8 weights with a zero point:
 * on oneDNN a few channels per layer are recomputed by our own loops). */
int df_tflite_is_uint8(const df_tflite_model *m);

#endif
