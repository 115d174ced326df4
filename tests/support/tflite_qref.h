/*
 * A slow, obvious reference of TFLite's integer kernels, for tests of the
 * integer engine (engine/qnet.h): the fixed-point requantization of
 * tensorflow/lite/kernels/internal/common.h (QuantizeMultiplier,
 * SaturatingRoundingDoublingHighMul, RoundingDivideByPOT) and the reference
 * kernels of CONV_2D and DEPTHWISE_CONV_2D (uint8 per tensor,
 * reference_ops; int8 per channel, reference_integer_ops), ADD (left shift
 * 20), AVERAGE_POOL_2D, MEAN over height and width
 * (reference_integer_ops::Mean) and QUANTIZE between integer types
 * (Requantize). Values travel as int32 whatever the type.
 */
#ifndef DF_TEST_TFLITE_QREF_H
#define DF_TEST_TFLITE_QREF_H

#include <stdint.h>

#include "formats/tflite.h"

void df_qref_quantize_multiplier(double real, int32_t *multiplier, int *shift);
int32_t df_qref_multiply(int32_t x, int32_t multiplier, int shift);

typedef struct df_qref_conv {
    int h, w, in_c, out_c, kh, kw, stride_h, stride_w, pad_top, pad_left, oh, ow;
    int depthwise;          /* multiplier 1 */
    int32_t in_zp, w_zp, out_zp;
    float in_scale, out_scale;
    const float *w_scale;   /* [out_c] (per tensor: all equal) */
    const int32_t *weights; /* dense [out_c][kh][kw][in_c], depthwise [kh][kw][out_c] */
    const int32_t *bias;    /* [out_c] or NULL */
    int32_t act_min, act_max;
    int per_channel;        /* 1: int8 reference_integer_ops (per-channel multipliers) */
} df_qref_conv;

/* x: h*w*in_c, y: oh*ow*out_c (one image). */
void df_qref_conv2d(const df_qref_conv *c, const int32_t *x, int32_t *y);
void df_qref_add(const int32_t *a, const int32_t *b, int32_t *y, int n, float sa, int32_t za,
                 float sb, int32_t zb, float sy, int32_t zy, int32_t act_min, int32_t act_max);
/* Average over the whole h x w map (AVERAGE_POOL_2D, same params in and
 * out); signed selects the int8 rounding. */
void df_qref_avgpool_global(const int32_t *x, int32_t *y, int hw, int c, int is_signed,
                            int32_t act_min, int32_t act_max);
/* MEAN over axes {1, 2} with requantization. */
void df_qref_mean_hw(const int32_t *x, int32_t *y, int hw, int c, float sx, int32_t zx,
                     float sy, int32_t zy, int32_t qmin, int32_t qmax);

/* Runs the model's graph from its (quantized) input tensor to tensor
 * `target`, one image. input: the input tensor's integer values. out: the
 * target's integer values (elements of the target). Returns 0, or -1 with a
 * reason in why on an op it does not know. */
int df_qref_run(const df_tflite_model *m, int target, const int32_t *input, int32_t *out,
                char *why, int why_size);

#endif
