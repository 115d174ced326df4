/*
 * The integer engine's third backend: TFLite's integer arithmetic carried
 * out exactly by oneDNN's fp32 convolutions, for CPUs whose int8 kernels
 * are not exact or not fast (no VNNI: AVX2 laptops, Zen 2/3).
 *
 * Activations are stored as floats holding the integers q - zero_point
 * (so a padded tap reads 0, which is TFLite's zero point), weights as the
 * integers w - w_zp, the bias as its int32. Every product and partial sum
 * is then an integer, and fp32 holds each exactly while it stays within
 * 2^24: df_qf32_conv_create checks, per output channel, that
 * max|x - x_zp| * sum|w - w_zp| + |bias| <= 2^24 (so in whatever order
 * oneDNN's kernels add, the int32 sum of TFLite's kernels comes out, to
 * the bit; a larger bias goes in two parts, the top one, a float holding
 * it exactly, added after the sum) and refuses the layer otherwise
 * (DF_ERR_UNSUPPORTED: the caller takes another backend). The requantization is then the same fp32
 * operations as XNNPACK's and the int8 oneDNN backend's, as post-ops: the
 * sum times in_scale * w_scale / out_scale (one rounding), clamped, rounded
 * to nearest even. So the outputs equal the other backends' bit for bit
 * (tests/test_qnet.c), at fp32 FMA speed: on AVX2 without VNNI that is
 * faster than exact int8 (vpmaddwd over widened bytes) for per-tensor
 * scales; per-channel ones cost each convolution a binary post-op.
 *
 * ADD and the global pool are our loops, the same arithmetic as
 * df_qdnnl_add / df_qdnnl_global_avgpool on the centred values.
 */
#ifndef DF_ENGINE_QNET_F32_H
#define DF_ENGINE_QNET_F32_H

#include <stddef.h>

#include "core/error.h"
#include "engine/qnet.h"
#include "engine/qnet_dnnl.h"

typedef struct df_qf32_conv df_qf32_conv;

/* How a map is laid out in memory: NHWC, or in blocks of 8 channels
 * ([n][c / 8][h][w][8], oneDNN's nChw8c: the layout of its AVX2 fp32
 * kernels), or planar (NCHW: a first layer's input). */
typedef enum df_qf32_layout { DF_QF32_NHWC, DF_QF32_BLOCKED8, DF_QF32_NCHW } df_qf32_layout;

/* A convolution of an h x w x c map with input parameters `in`, in the
 * net's type; d as in qnet.h. Copies what it needs from d. */
df_status df_qf32_conv_create(df_qdnnl *e, df_qtype type, int h, int w, int c, df_qparams in,
                              const df_qconv_desc *d, df_qf32_conv **out,
                              df_error *err) DF_MUST_CHECK;
void df_qf32_conv_destroy(df_qf32_conv *cv); /* accepts NULL */
/* The primitive for `batch` images from `in` to `out` (floats in the
 * given layouts, the caller's, alive until the next setup); the weights
 * reordered. */
df_status df_qf32_conv_setup(df_qdnnl *e, df_qf32_conv *cv, int batch, float *in, df_qf32_layout in_layout,
                             float *out, df_qf32_layout out_layout, df_error *err) DF_MUST_CHECK;
/* cv (a 1x1 convolution) set up with dw, the depthwise 3x3 layer that alone
 * reads its output, fused into one oneDNN primitive (the expanded map is
 * never written whole), from in to dw's output out; dw itself is then not
 * run. Every step of both is exact, so fused and unfused outputs are the
 * same bits. *fused = 1 where oneDNN fuses the pair with its jit kernels
 * (on AVX2, the large early pairs: it fuses where the expanded map exceeds
 * about twice the threads' L2); else 0 and cv is not set up (the caller
 * sets both layers up one by one). dw's own setup is released when fused;
 * it must stay alive and unchanged while cv is set up. */
/* Whether dw has the shape df_qf32_conv_setup_fused can fuse after cv: cv a
 * 1x1 stride-1 unpadded dense layer, dw a depthwise 3x3 of stride 1 or 2
 * reading cv's output, padded as TFLite's SAME (its stride-2 0 / 1
 * included), neither with per-channel scales or a bias split in two. */
int df_qf32_conv_fusable(const df_qf32_conv *cv, const df_qf32_conv *dw);
df_status df_qf32_conv_setup_fused(df_qdnnl *e, df_qf32_conv *cv, df_qf32_conv *dw, int batch, float *in,
                                   df_qf32_layout in_layout, float *out, df_qf32_layout out_layout, int *fused,
                                   df_error *err) DF_MUST_CHECK;
df_status df_qf32_conv_run(df_qdnnl *e, df_qf32_conv *cv, df_error *err) DF_MUST_CHECK;
const char *df_qf32_conv_impl(const df_qf32_conv *cv);

/* XNNPACK's quantized ADD (df_qadd_centred) over n centred values in one
 * layout, clamped to [lo, hi] minus the output's zero point. */
void df_qf32_add(const float *a, df_qparams pa, const float *b, df_qparams pb, float *y,
                 df_qparams py, int32_t lo, int32_t hi, size_t n);
/* Mean over hw positions per channel and image, requantized from px to py
 * (centred values in and out), clamped to the type's range [qlo, qhi]:
 * x in `layout`, y batch x c. */
void df_qf32_global_avgpool(const float *x, df_qf32_layout layout, df_qparams px, float *y, df_qparams py,
                            int batch, int hw, int c, int32_t qlo, int32_t qhi);

#endif
