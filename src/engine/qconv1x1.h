/*
 * Exact integer 1x1 convolutions in 16-bit pairs (AVX2's vpmaddwd), for
 * the integer engine's fp32 backend (qnet_f32.c) on CPUs without VNNI.
 *
 * That backend keeps a quantized map as floats holding q - zero_point and
 * runs oneDNN's fp32 kernels, whose every sum is an exact integer below
 * 2^24. A 1x1 layer is most of MobileNetV2's arithmetic (2.6 of 3.1 ms at
 * batch 1 on two AVX2 cores), and an fp32 FMA does 8 multiply-adds where
 * vpmaddwd does 16 over int16 pairs, exactly: |x - x_zp| and |w - w_zp|
 * are at most 255, a pair's sum at most 2 * 255^2, a channel's int32 sum
 * within the 2^24 the backend already checks. So this computes the same
 * integers, then the same requantization as the backend's post-ops (the
 * sum as a float times the scale, one rounding; clamped; rounded to
 * nearest even): the outputs are oneDNN's fp32 backend's bit for bit.
 *
 * The input's floats are converted to int16 once per run (a panel of
 * pixels x channels), the weights once at creation ([16 output
 * channels][c / 2 pairs][16][2]); the product runs as 6 pixels x 16
 * channels tiles, spread over OpenMP's threads.
 */
#ifndef DF_ENGINE_QCONV1X1_H
#define DF_ENGINE_QCONV1X1_H

#include <stddef.h>

#include "core/error.h"

typedef struct df_qconv1x1 df_qconv1x1;

typedef struct df_qconv1x1_desc {
    int c, oc;             /* input and output channels */
    const float *weights;  /* [oc][c], integers w - w_zp within int16 */
    const float *bias;     /* [oc] integers, or NULL */
    float scale;           /* the requantization's multiplier, where scales is NULL */
    const float *scales;   /* [oc] one per channel, or NULL */
    float clip_lo, clip_hi; /* the output's range minus its zero point */
} df_qconv1x1_desc;

/* 1 where this CPU (as capped by DF_CPU_ISA) runs these kernels: AVX2. */
int df_qconv1x1_available(void);
/* Copies and packs what it needs from d. DF_ERR_UNSUPPORTED where a
 * weight is not an integer within +-32767, a bias not one within 2^24, or
 * the CPU lacks AVX2. */
df_status df_qconv1x1_create(const df_qconv1x1_desc *d, df_qconv1x1 **out, df_error *err) DF_MUST_CHECK;
void df_qconv1x1_destroy(df_qconv1x1 *cv); /* accepts NULL */
/* Bytes of work memory a run over `pixels` input pixels needs (aligned to
 * 64 bytes by the caller). */
size_t df_qconv1x1_work_bytes(const df_qconv1x1 *cv, size_t pixels);

/* The layouts of a map: NHWC, or channels in blocks of 8 per image
 * ([n][c / 8][h * w][8], oneDNN's nChw8c; c a multiple of 8). */
enum { DF_QCONV1X1_NHWC = 0, DF_QCONV1X1_BLOCKED8 = 1 };

/* out = requantized(in x weights + bias) for batch images of hw pixels:
 * in's floats integers within int16, in in_layout; out in out_layout; work
 * work_bytes = df_qconv1x1_work_bytes(cv, batch * hw) bytes, 64-byte
 * aligned. Runs on OpenMP's threads (a parallel region of its own).
 * DF_ERR_INVALID_ARG, nothing written, for less work, an empty batch or a
 * blocked layout of channels not a multiple of 8. */
df_status df_qconv1x1_run(const df_qconv1x1 *cv, const float *in, int in_layout, float *out, int out_layout,
                          int batch, int hw, void *work, size_t work_bytes, df_error *err) DF_MUST_CHECK;

#endif
