/*
 * The integer inference engine: a small graph of quantized NHWC tensors,
 * for the quantized TFLite models, on one of two backends:
 *
 *   DF_QBACKEND_XNNPACK  XNNPACK's QU8 / QC8 operators (the engine TFLite
 *                        itself runs on CPUs); both types.
 *   DF_QBACKEND_ONEDNN   oneDNN 2.6's int8 convolutions (engine/qnet_dnnl.h);
 *                        both types (uint8 weights as w - w_zp, the few
 *                        channels where that leaves int8 recomputed
 *                        exactly). Exact int32 sums only with VNNI or AMX
 *                        (df_qnet_backend_exact): below that, its
 *                        vpmaddubsw kernels saturate int16 pair sums.
 *   DF_QBACKEND_ONEDNN_F32  the same integer arithmetic on oneDNN's fp32
 *                        convolutions, exact where each layer's sums stay
 *                        within 2^24 (checked per layer, else
 *                        DF_ERR_UNSUPPORTED): engine/qnet_f32.h. For CPUs
 *                        without VNNI; both types.
 *
 *     df_qnet *q; df_qnet_create(DF_QTYPE_U8, DF_QBACKEND_XNNPACK, &q, err);
 *     df_qnet_input(q, 224, 224, 3, in_q, &x, err);
 *     df_qnet_conv2d(q, x, &desc, &y, err); ... df_qnet_set_output(q, y, err);
 *     df_qnet_reshape(q, batch, err);
 *     df_qnet_run(q, input, batch, output, err);   // fp32 in, fp32 out
 *
 * Every tensor has one affine quantization, real = scale * (q - zero_point),
 * and one type for the whole net: DF_QTYPE_U8 (uint8 activations and uint8
 * weights with a weight zero point, per-tensor scales: TFLite's "quant"
 * models) or DF_QTYPE_S8 (int8 activations, int8 symmetric weights with one
 * scale per output channel: TFLite's post-training int8 models).
 *
 * Semantics are TFLite's integer kernels: an int32 accumulator of
 * (x - x_zp) * (w - w_zp) plus the int32 bias, requantized by
 * input_scale * weight_scale / output_scale, plus the output zero point,
 * clamped to the fused activation's range. All backends requantize in fp32
 * with round-to-nearest-even where TFLite's reference kernels use a 31-bit
 * fixed-point multiplier with round-half-away-from-zero; the two differ by
 * at most 1 in the last place, on ties and where the fp32 product rounds
 * across a half (tests/test_qnet.c checks each op against a naive TFLite
 * reference). The global average pool requantizes the same way; ADD is
 * XNNPACK's fixed point on every backend (df_qadd_centred), so that all
 * backends give XNNPACK's outputs (TFLite's runtime's), bit for bit, where
 * their sums are exact (tests/test_qnet.c).
 *
 * The fp32 input is quantized with the input tensor's parameters (TFLite's
 * QUANTIZE: round half away from zero, clamp); the fp32 output is
 * scale * (q - zero_point).
 */
#ifndef DF_ENGINE_QNET_H
#define DF_ENGINE_QNET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum df_qtype { DF_QTYPE_U8, DF_QTYPE_S8 } df_qtype;
typedef enum df_qbackend { DF_QBACKEND_XNNPACK, DF_QBACKEND_ONEDNN, DF_QBACKEND_ONEDNN_F32 } df_qbackend;

typedef struct df_qparams {
    float scale;          /* > 0 */
    int32_t zero_point;   /* in the type's range */
} df_qparams;

typedef struct df_qconv_desc {
    int out_c;
    int kh, kw;
    int stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int depthwise;        /* 1: groups = in_c, out_c = in_c (multiplier 1) */
    /* Weights in TFLite's layout: dense [out_c][kh][kw][in_c], depthwise
     * [kh][kw][out_c]; uint8 for DF_QTYPE_U8, int8 for DF_QTYPE_S8. */
    const void *weights;
    const int32_t *bias;  /* [out_c], scale input_scale * weight_scale; NULL = zeros */
    /* U8: weight_scale[0] and weight_zero_point; S8: weight_scale[out_c]
     * (weight_zero_point must be 0). */
    const float *weight_scale;
    int32_t weight_zero_point;
    df_qparams out;
    int32_t out_min, out_max; /* the fused activation as a quantized clamp */
} df_qconv_desc;

typedef struct df_qnet df_qnet;
typedef int df_qtensor_id;

df_status df_qnet_create(df_qtype type, df_qbackend backend, df_qnet **out,
                         df_error *err) DF_MUST_CHECK;
void df_qnet_destroy(df_qnet *q);   /* accepts NULL */
df_qbackend df_qnet_backend(const df_qnet *q);
const char *df_qnet_backend_name(df_qbackend b);   /* "xnnpack", "onednn", "onednn-f32" */
/* 1 when the backend's integer sums are exact in this process (XNNPACK
 * always; oneDNN with VNNI / AMX after the DF_CPU_ISA and
 * ONEDNN_MAX_CPU_ISA caps; oneDNN's fp32 always, each layer being
 * checked when built). */
int df_qnet_backend_exact(df_qbackend b);

df_status df_qnet_input(df_qnet *q, int h, int w, int c, df_qparams p, df_qtensor_id *out,
                        df_error *err) DF_MUST_CHECK;
/* Weights and bias are packed (XNNPACK) or copied (oneDNN) during the call
 * (the caller keeps ownership of its arrays). The oneDNN backend returns
 * DF_ERR_UNSUPPORTED when oneDNN refuses the descriptor. */
df_status df_qnet_conv2d(df_qnet *q, df_qtensor_id in, const df_qconv_desc *d,
                         df_qtensor_id *out, df_error *err) DF_MUST_CHECK;
/* a + b (same shape), requantized to `p`, clamped to [out_min, out_max]. */
df_status df_qnet_add(df_qnet *q, df_qtensor_id a, df_qtensor_id b, df_qparams p,
                      int32_t out_min, int32_t out_max, df_qtensor_id *out,
                      df_error *err) DF_MUST_CHECK;
/* Mean over H and W -> 1 x 1 x C, requantized to `p`. */
df_status df_qnet_global_avgpool(df_qnet *q, df_qtensor_id in, df_qparams p,
                                 df_qtensor_id *out, df_error *err) DF_MUST_CHECK;
df_status df_qnet_set_output(df_qnet *q, df_qtensor_id t, df_error *err) DF_MUST_CHECK;
df_status df_qnet_tensor_shape(const df_qnet *q, df_qtensor_id t, int *h, int *w, int *c,
                               df_error *err) DF_MUST_CHECK;
df_qparams df_qnet_tensor_params(const df_qnet *q, df_qtensor_id t);
df_qtype df_qnet_type(const df_qnet *q);
df_qparams df_qnet_input_params(const df_qnet *q); /* of the df_qnet_input tensor */

/* Sets up every operator for `batch` images (buffers shared by liveness). */
df_status df_qnet_reshape(df_qnet *q, int batch, df_error *err) DF_MUST_CHECK;
/* input: batch x H x W x C fp32 (real values); output: batch x oh x ow x oc
 * fp32 (dequantized). batch <= the reshaped size; missing images run as
 * zeros. Never allocates. */
df_status df_qnet_run(df_qnet *q, const float *input, int batch, float *output,
                      df_error *err) DF_MUST_CHECK;
/* The same with the input as bytes: each value's quantized q for a uint8
 * net, q + 128 for an int8 one (copied as they are where int8 is stored
 * that way, oneDNN; else with the top bit flipped). For a model whose input tensor is quantized, an RGB
 * pixel p is q = p (uint8) or q = p - 128 (int8), so the bytes are the
 * pixels: the same result as df_qnet_run on the real values
 * df_tflite_preprocess makes of them, without the round trip through
 * floats. */
df_status df_qnet_run_bytes(df_qnet *q, const uint8_t *input, int batch, float *output,
                            df_error *err) DF_MUST_CHECK;
/* The same with quantized input and output (tests): input and output in the
 * net's type (uint8_t or int8_t). */
df_status df_qnet_run_quantized(df_qnet *q, const void *input, int batch, void *output,
                                df_error *err) DF_MUST_CHECK;

int64_t df_qnet_num_params(const df_qnet *q);
int df_qnet_layers(const df_qnet *q);
/* oneDNN backend: how many convolutions copy the next depthwise layer's
 * fixed channels out on their own pass (qnet_dnnl.h, df_qdnnl_conv_feed). */
int df_qnet_gathering_layers(const df_qnet *q);
/* oneDNN backend: how many depthwise layers compute their fixed channels
 * a block of rows at a time (qnet_dnnl.c, fix_dw_block; DF_QFIX_ROWS=1 when
 * a layer is built: the row loop, for A/B runs and tests). */
int df_qnet_dw_block_layers(const df_qnet *q);
/* fp32 backend, at the current reshape: how many depthwise layers run
 * fused into the 1x1 convolution before them (df_qf32_conv_setup_fused). */
int df_qnet_fused_layers(const df_qnet *q);

#endif
