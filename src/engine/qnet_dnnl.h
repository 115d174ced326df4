/*
 * The integer engine's oneDNN backend (engine/qnet.h, DF_QBACKEND_ONEDNN):
 * oneDNN 2.6's int8 convolutions for both quantized model types. Used by
 * qnet.c only.
 *
 * Activations are uint8 here: an int8 value v is stored as v + 128 with its
 * zero point moved by 128 as well, which is exact (real = scale * (q - zp)
 * is unchanged) and is what oneDNN's fast u8 x s8 kernels take; uint8
 * activations are stored as they are. So every df_qparams and clamp passed
 * in below is already in that uint8 domain.
 *
 * Weights: oneDNN takes s8 weights and no weight zero point. int8 weights
 * (DF_QTYPE_S8, symmetric) are given as they are. A uint8 weight w with
 * zero point z (DF_QTYPE_U8, one z per tensor) is given as w - z, exact
 * wherever that fits int8; it spans -255..255 in general, but in the
 * quantization-aware MobileNets only the one or two weights per layer that
 * set its range fall outside (mobilenet_v2_1.0_224_quant.tflite: 0 to 2
 * output channels of 16 to 1280 per layer). oneDNN computes those channels
 * with the weights clamped, then they are recomputed exactly and
 * overwritten (the "fixed" channels: at most an eighth of a layer's
 * channels, or 2, else DF_ERR_UNSUPPORTED): 1x1 convolutions by our own
 * exact dot products, a group of pixels at a time, a dense k x k one by a
 * second oneDNN convolution with s32 outputs (the clamped weights and the
 * residual ones), a depthwise one by our own loop over blocks of rows, the
 * rest by our own row loop (DF_QFIX_ROWS=1: the plain loops, for A/B runs
 * and tests). oneDNN's matmul takes a weight zero point, but its
 * compensation cost as much as these loops (measured). The other ways to add the missing
 * (128 - z) * sum(x - x_zp) term cost more in oneDNN 2.6: a binary post-op
 * broadcast over channels ([N,1,H,W]) sends every int8 convolution to
 * ref_int8:any, and a full-tensor one or an s32 output multiplies the
 * memory traffic.
 *
 * A convolution is oneDNN's convolution with u8 source and destination
 * (NHWC, the layout its int8 kernels use), s8 weights in the format the
 * primitive picks (reordered once per reshape), an s32 bias, the output
 * scale (input_scale * weight_scale[c] / output_scale, per channel for
 * int8 weights), the
 * fused clamp as an eltwise clip and the output zero point as an eltwise
 * linear post-op (a destination zero point attribute would cost the AMX
 * kernels), all in fp32 then rounded to nearest even: within one step of
 * TFLite's fixed-point requantization, as XNNPACK. The source zero point is
 * folded into the bias (bias - zp * sum(w)) where nothing is padded, else
 * given to oneDNN (padding must read as the zero point).
 *
 * ADD and the global average pool are our own loops (oneDNN 2.6's binary
 * and pooling primitives take no zero points): the pool requantized the
 * same way, the ADD in XNNPACK's fixed point (df_qadd_centred).
 *
 * Exactness: oneDNN's u8 x s8 kernels are exact with VNNI (AVX-512 VNNI,
 * AMX, AVX-VNNI); below that they multiply with vpmaddubsw, whose int16
 * pair sums saturate (weights of 7 bits would avoid it; TFLite's int8
 * weights use 8). df_qdnnl_exact says which case the process is in.
 */
#ifndef DF_ENGINE_QNET_DNNL_H
#define DF_ENGINE_QNET_DNNL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <oneapi/dnnl/dnnl_types.h>

#include "core/error.h"
#include "engine/qnet.h"

typedef struct df_qdnnl df_qdnnl;           /* oneDNN engine and stream */
typedef struct df_qdnnl_conv df_qdnnl_conv; /* one convolution */

/* 1 when oneDNN's int8 convolutions use VNNI (or AMX) in this process,
 * after the DF_CPU_ISA / ONEDNN_MAX_CPU_ISA caps: exact int32 sums. */
int df_qdnnl_exact(void);
/* oneDNN's ISA in this process, e.g. "avx512_core_amx", "avx2". */
const char *df_qdnnl_isa_name(void);

df_status df_qdnnl_create(df_qdnnl **out, df_error *err) DF_MUST_CHECK;
void df_qdnnl_destroy(df_qdnnl *e); /* accepts NULL */
/* For the other oneDNN convolutions of the integer engine (qnet_f32.c). */
dnnl_engine_t df_qdnnl_engine(const df_qdnnl *e);
dnnl_stream_t df_qdnnl_stream(const df_qdnnl *e);
/* A work area the layers of one net share (they run one at a time): each
 * layer that needs one reserves its size when it is set up, which grows
 * the area (64-byte aligned; its contents are not kept); df_qdnnl_work
 * gives the area and its size when the layer runs. */
df_status df_qdnnl_reserve_work(df_qdnnl *e, size_t bytes, df_error *err) DF_MUST_CHECK;
void *df_qdnnl_work(const df_qdnnl *e, size_t *bytes);
/* *wei: a new memory of md holding data (laid out as user_md), reordered
 * on e's stream. */
dnnl_status_t df_qdnnl_reorder(df_qdnnl *e, const dnnl_memory_desc_t *user_md, const void *data,
                               const dnnl_memory_desc_t *md, dnnl_memory_t *wei);
/* TFLite's weight layout of a convolution as a oneDNN memory descriptor:
 * dense [oc][kh][kw][c] (ohwi), depthwise [kh][kw][oc] (g, 1, 1, kh, kw). */
dnnl_status_t df_qdnnl_user_weights_md(dnnl_memory_desc_t *md, int oc, int c, int kh, int kw, int depthwise,
                                       dnnl_data_type_t dt);

/* A convolution of an h x w x c uint8 map with parameters `in` (the uint8
 * domain); d as in qnet.h with the weights of `type`, its output parameters
 * and clamp in the uint8 domain. Copies what it needs from d. Checks that
 * oneDNN takes the descriptor (DF_ERR_UNSUPPORTED naming it when not, or
 * when more uint8 weights than it recomputes fall outside int8). */
df_status df_qdnnl_conv_create(df_qdnnl *e, df_qtype type, int h, int w, int c, df_qparams in,
                               const df_qconv_desc *d, df_qdnnl_conv **out,
                               df_error *err) DF_MUST_CHECK;
void df_qdnnl_conv_destroy(df_qdnnl_conv *cv); /* accepts NULL */
/* Sets the convolution up for `batch` images reading `in` and writing
 * `out` (NHWC uint8, owned by the caller, alive until the next setup) and
 * reorders the weights into its format; df_qdnnl_conv_finish then creates
 * its primitive (oneDNN's kernel compilation, 90% of shaping MobileNetV2):
 * thread-safe for distinct convolutions, so a net finishes its layers on
 * all threads at once. Running before finishing is an error. */
df_status df_qdnnl_conv_setup(df_qdnnl *e, df_qdnnl_conv *cv, int batch, void *in, void *out,
                              df_error *err) DF_MUST_CHECK;
df_status df_qdnnl_conv_finish(df_qdnnl_conv *cv, df_error *err) DF_MUST_CHECK;
df_status df_qdnnl_conv_run(df_qdnnl *e, df_qdnnl_conv *cv, df_error *err) DF_MUST_CHECK;
/* oneDNN's implementation name after setup (e.g. "brgconv_1x1:avx512_core_amx_int8"). */
const char *df_qdnnl_conv_impl(const df_qdnnl_conv *cv);
/* How many output channels our loop recomputes (0 for int8 weights). */
int df_qdnnl_conv_fixed_channels(const df_qdnnl_conv *cv);
/* next reads prev's output: when next is a depthwise layer with fixed
 * channels and prev passes over every pixel of that map for its own, prev
 * copies next's channels out on the way and next reads the copy instead
 * of the whole map (same values, one pass fewer). Before either is set up;
 * returns 1 when linked. */
int df_qdnnl_conv_feed(df_qdnnl_conv *prev, df_qdnnl_conv *next);
/* 1 when cv copies channels out for the layer after it. */
int df_qdnnl_conv_gathers(const df_qdnnl_conv *cv);
/* 1 when cv is depthwise and computes its fixed channels by blocks of rows. */
int df_qdnnl_conv_dw_blocks(const df_qdnnl_conv *cv);

/* Our own passes over a layer's output (fixed channels, ADD, pool) run on
 * the OpenMP team from this much work on (multiply-adds, or values for
 * the element-wise loops). The team's threads spin between regions, so
 * waking them costs little beside these passes: from 65,536 (32,768 for
 * ADD) to 4,096, MobileNetV2 QAT int8 on the AMX guest went 1.78-1.85 ->
 * 1.63-1.72 ms per image at batch 1 and 1.43-1.45 -> 1.40-1.42 at batch
 * 16, 2 threads (most passes of
 * the 28x28 and smaller layers had run on one thread while the other
 * waited; 8,192, 2,048 and 1 measured within the noise of 4,096). */
#define DF_QPARALLEL_MIN 4096

/* Items per task when n items are split among the OpenMP threads: at most
 * cap, a multiple of align, and as many tasks as a multiple of the thread
 * count, so that a static schedule gives each thread the same share (with
 * fixed chunks of 256 pixels a 14x14 map at batch 1 was one task, and a
 * 56x56 one 13 tasks, 7 for one thread and 6 for the other). */
size_t df_qsplit_chunk(size_t n, size_t cap, size_t align);

/* A scaled sum relative to the output's zero point, clamped to [lo, hi]
 * (within -255..255) and rounded to nearest even, as XNNPACK's fp32
 * requantization: adding 1.5 * 2^23 leaves no fraction bits below 2^22. */
static inline float df_qclamp_rne(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (v + 12582912.0f) - 12582912.0f;
}

/* XNNPACK's quantized ADD (and so TFLite's runtime's): each operand's
 * scale relative to the output's as a 21-bit multiplier with a common
 * shift, a + b summed in int32, rounded half up by the shift. */
typedef struct df_qadd_params {
    int32_t am, bm, rounding;
    int shift;
} df_qadd_params;

static inline void df_qadd_params_init(df_qadd_params *p, df_qparams pa, df_qparams pb, df_qparams py) {
    const float as = pa.scale / py.scale, bs = pb.scale / py.scale, top = as > bs ? as : bs;
    int e;
    (void)frexpf(top, &e); /* top = m 2^e, m in [0.5, 1): exponent e - 1 */
    p->shift = 20 - (e - 1);
    p->am = (int32_t)lrintf(ldexpf(as, p->shift));
    p->bm = (int32_t)lrintf(ldexpf(bs, p->shift));
    p->rounding = (int32_t)1 << (p->shift - 1);
}

/* The sum of two centred operands (q - zp) relative to the output's zero
 * point, before the clamp. */
static inline int32_t df_qadd_centred(const df_qadd_params *p, int32_t a, int32_t b) {
    return (p->rounding + a * p->am + b * p->bm) >> p->shift;
}

/* y = a + b over n uint8 values: XNNPACK's ADD (df_qadd_centred) from pa
 * and pb to py, clamped to [lo, hi]. */
void df_qdnnl_add(const uint8_t *a, df_qparams pa, const uint8_t *b, df_qparams pb, uint8_t *y,
                  df_qparams py, int32_t lo, int32_t hi, size_t n);
/* Mean over hw positions of each of c channels, per image: NHWC uint8
 * batch x hw x c -> batch x c, requantized from px to py, clamped to 0..255. */
void df_qdnnl_global_avgpool(const uint8_t *x, df_qparams px, uint8_t *y, df_qparams py,
                             int batch, int hw, int c);

#endif
