/*
 * Winograd F(4x4, 3x3) for fp32 3x3 stride-1 dense convolutions on CPUs where
 * oneDNN 2.6 has none (everything below AVX-512: AVX2 laptops, AMD Zen 2/3).
 *
 *     df_wino *w; df_wino_create(&desc, in_c, &w, err);   // filters transformed once
 *     df_wino_run(w, x, n, h, width, y);                  // NHWC in, NHWC out
 *
 * How (Lavin & Gray 2015; NNPACK and ncnn on x86 work the same way): the
 * output is cut into 4x4 tiles, each read as a 6x6 input patch. Per block of
 * tiles: input transform V = B^T d B (36 values per tile and channel), then
 * for each of the 36 positions one GEMM [tiles x C] x [C x K] (oneDNN's
 * sgemm, JIT for the CPU), then the output transform Y = A^T M A, bias and
 * activation, written to NHWC. 36 multiplies per 16 outputs instead of 144:
 * 4x fewer in the GEMM. The transforms are plain loops over channels
 * compiled three times (AVX-512, AVX2+FMA, baseline) and picked at run time
 * (core/cpu.h; DF_CPU_ISA=avx2 forces the AVX2 ones).
 *
 * Accuracy: the transforms' constants (1/4, 1/6, 1/24, up to 8 in A) cost a
 * few bits: relative error against the direct reference about 1e-6 to 1e-5
 * of the output's magnitude (tests/test_engine.c bounds it per layer).
 */
#ifndef DF_ENGINE_WINOGRAD_H
#define DF_ENGINE_WINOGRAD_H

#include <stddef.h>

#include "core/error.h"
#include "engine/net.h"

typedef struct df_wino df_wino;

/* d: a 3x3, stride 1, groups 1 convolution (any padding), input and output
 * channels multiples of 8; weights OHWI are transformed into the object. */
df_status df_wino_create(const df_conv2d_desc *d, int in_c, df_wino **out,
                         df_error *err) DF_MUST_CHECK;
void df_wino_destroy(df_wino *w);   /* accepts NULL */

/* x: n x h x w x in_c; y: n x oh x ow x out_c with oh = h + pad_top +
 * pad_bottom - 2 (likewise ow). Uses OpenMP's threads (as many as at
 * create). workspace: df_wino_workspace_bytes, 64-byte aligned, any
 * contents; never allocates. */
df_status df_wino_run(const df_wino *w, const float *x, int n, int h, int width, float *y,
                      void *workspace, df_error *err) DF_MUST_CHECK;
size_t df_wino_workspace_bytes(const df_wino *w);

/* The kernels in use: "avx512", "avx2" or "scalar". */
const char *df_wino_isa(const df_wino *w);

#endif
