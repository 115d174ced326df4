/*
 * The inference engine: a small graph of NHWC tensors executed with oneDNN.
 *
 * Build once, reshape per batch size, run many times without allocating:
 *
 *     df_net *net; df_net_create(&opts, &net, err);
 *     df_tensor_id x, y; df_net_input(net, 224, 224, 3, &x, err);
 *     df_net_conv2d(net, x, &conv_desc, &y, err); ... df_net_set_output(net, y, err);
 *     df_net_reshape(net, batch, err);           // creates primitives, picks algorithms
 *     df_net_run(net, input, batch, output, err); // input N*H*W*C, output N*oh*ow*oc, fp32
 *
 * Weights passed to the builders are copied; the caller may free them after
 * the call. Activations stay in oneDNN's preferred (blocked) layouts between
 * layers: one reorder in, one reorder out.
 *
 * Weight layout for df_net_conv2d (one canonical layout for every caller):
 * OHWI, i.e. weights[out_c][kh][kw][in_c / groups]. Depthwise convolution is
 * groups == in_c, out_c == in_c * multiplier. Bias may be NULL (zeros).
 *
 * A slow, obvious reference of every op lives in engine/reference.h and is
 * what the tests compare against.
 */
#ifndef DF_ENGINE_NET_H
#define DF_ENGINE_NET_H

#include <stdint.h>

#include "core/error.h"

typedef enum df_precision {
    DF_PRECISION_AUTO = 0, /* the faster on this CPU: bf16 with AMX (it dominates, nothing
                            * measured); else measured at the first reshape, bf16 only
                            * when >= 15% faster; fp32 without bf16. A quantized TFLite
                            * model then races that against int8 (tflite_backbone.c,
                            * int8 when faster). Callers record the resolved
                            * precision (df_backbone_precision) to rebuild the same. */
    DF_PRECISION_FP32,
    DF_PRECISION_BF16,     /* falls back to fp32 with a notice when the CPU lacks bf16 */
    DF_PRECISION_INT8      /* quantized TFLite models in integers (engine/qnet.h); this
                            * engine (floats only) runs it as fp32 with a notice */
} df_precision;

df_status df_precision_parse(const char *s, df_precision *out, df_error *err);
const char *df_precision_name(df_precision p);

typedef enum df_activation {
    DF_ACT_NONE = 0,
    DF_ACT_RELU,
    DF_ACT_RELU6
} df_activation;

typedef enum df_pool_kind { DF_POOL_MAX, DF_POOL_AVG } df_pool_kind;

typedef int df_tensor_id;

typedef struct df_conv2d_desc {
    int out_c;
    int kh, kw;
    int stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int groups;             /* 1 = dense conv; in_c = depthwise */
    df_activation activation;
    const float *weights;   /* OHWI: [out_c][kh][kw][in_c/groups] */
    const float *bias;      /* [out_c] or NULL */
} df_conv2d_desc;

typedef struct df_pool2d_desc {
    df_pool_kind kind;
    int kh, kw;
    int stride_h, stride_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    /* Average pooling never counts padded cells (TFLite and Keras). */
} df_pool2d_desc;

/* Convolution algorithm policy for fp32 3x3 stride-1 dense convolutions
 * (the only ones oneDNN 2.6 has Winograd for; bf16 always runs direct). */
typedef enum df_conv_algo {
    DF_CONV_ALGO_AUTO = 0,  /* measure when autotune is on, else direct */
    DF_CONV_ALGO_DIRECT,    /* direct everywhere */
    DF_CONV_ALGO_WINOGRAD   /* Winograd wherever oneDNN accepts it, and a convolution feeding
                             * one that wants another format writes that format wherever
                             * it can; nothing measured (tests, benchmarks) */
} df_conv_algo;

typedef struct df_net_options {
    df_precision precision;
    /* Measure candidate convolution algorithms (direct, Winograd) at the
     * first reshape and keep the fastest per layer. Default 1. */
    int autotune;
    df_conv_algo conv_algo;   /* default DF_CONV_ALGO_AUTO */
    /* Fuse a 1x1 convolution with the depthwise 3x3 (stride 1 or 2, pad 0
     * or 1) that alone reads it into one oneDNN primitive (depthwise
     * post-op), so the expanded activations are never stored in full
     * (MobileNetV2's expand + depthwise pairs). Taken per layer and batch
     * size only where it changes no number (fp32, oneDNN's fused jit
     * kernel made of the kernels it runs the two layers with alone: its
     * AVX2 path); else the two layers run as given. Default 1, or 0 when
     * the environment variable DF_NO_DW_FUSION is set to anything but ""
     * or "0" (A/B measurements without rebuilding). */
    int dw_fusion;
    /* --precision auto's race: 0 = one sample per engine when that settles
     * it (df_race_pick's clear), 1 = always the best of 3 (a choice that
     * will be remembered, auto_cache.h, should not rest on one sample of a
     * busy machine). Default 0. */
    int race_best_of_3;
    /* Receives one-line notices (e.g. "bf16 not supported on this CPU,
     * using fp32"); may be NULL. */
    void (*notice)(void *ctx, const char *message);
    void *notice_ctx;
} df_net_options;

df_net_options df_net_options_default(void);

typedef struct df_net df_net;

df_status df_net_create(const df_net_options *opts, df_net **out, df_error *err) DF_MUST_CHECK;
void df_net_destroy(df_net *net);

/* Exactly one input per net, NHWC fp32 with batch chosen at reshape. */
df_status df_net_input(df_net *net, int h, int w, int c, df_tensor_id *out, df_error *err) DF_MUST_CHECK;
df_status df_net_conv2d(df_net *net, df_tensor_id in, const df_conv2d_desc *desc,
                        df_tensor_id *out, df_error *err) DF_MUST_CHECK;
df_status df_net_pool2d(df_net *net, df_tensor_id in, const df_pool2d_desc *desc,
                        df_tensor_id *out, df_error *err) DF_MUST_CHECK;
/* Mean over H and W -> 1 x 1 x C. */
df_status df_net_global_avgpool(df_net *net, df_tensor_id in, df_tensor_id *out,
                                df_error *err) DF_MUST_CHECK;
/* Element-wise a + b (same shape), then activation. When one operand is a
 * convolution output read by nothing else and the other is not read after
 * that convolution, the add runs inside it (oneDNN sum post-op into the
 * other operand's buffer): same result, no separate pass. */
df_status df_net_add(df_net *net, df_tensor_id a, df_tensor_id b, df_activation act,
                     df_tensor_id *out, df_error *err) DF_MUST_CHECK;
df_status df_net_set_output(df_net *net, df_tensor_id t, df_error *err) DF_MUST_CHECK;

df_status df_net_tensor_shape(const df_net *net, df_tensor_id t, int *h, int *w, int *c,
                              df_error *err) DF_MUST_CHECK;

/* Creates (or re-creates) primitives and buffers for batch size n. The graph
 * is frozen by the first reshape: builders fail afterwards. Algorithm and
 * (for DF_PRECISION_AUTO) precision choices are measured at the first
 * reshape and reused by later ones. */
df_status df_net_reshape(df_net *net, int batch, df_error *err) DF_MUST_CHECK;
/* input: batch x H x W x C fp32 NHWC; output: batch x oh x ow x oc fp32 NHWC.
 * batch must be <= the size given to df_net_reshape. A smaller batch runs at
 * the reshaped size: the input is copied into a staging buffer allocated at
 * reshape, the missing images are zeros, and the time is that of the full
 * batch (reshape to the smaller size when that matters). Never allocates. */
df_status df_net_run(df_net *net, const float *input, int batch, float *output,
                     df_error *err) DF_MUST_CHECK;

/* --precision auto's races (fp32 against bf16 here, int8 against float
 * for the quantized TFLite models) time samples of at least DF_RACE_IMAGES
 * images, at a batch of at most that many: a single image takes a few
 * milliseconds, and one such sample each made the int8 race pick the
 * slower engine at batch 1 (capped to AVX2: int8 5.9 ms against fp32 4.4
 * ms per image). */
enum { DF_RACE_IMAGES = 16 };
/* The race rule: 1 when the candidate (ms per batch) is `margin` faster than
 * the incumbent (a close race should not flip between runs). *clear: 1 when
 * the ratio is further than 1.25x from that bar either way, so that one
 * sample each settles it; else the caller takes best of 3. */
int df_race_pick(double ms_candidate, double ms_incumbent, double margin, int *clear);

/* The time per batch the fp32/bf16 race measured for the precision it
 * chose, when it raced at the batch the net is shaped for; else 0. */
double df_net_raced_ms(const df_net *net);
/* 1 when --precision auto timed fp32 against bf16 to choose (not a rule's
 * choice, not an explicit precision). */
int df_net_raced(const df_net *net);

/* What the net actually runs in (auto resolved, bf16 fallen back). */
df_precision df_net_precision(const df_net *net);
/* 1 when DF_PRECISION_AUTO resolves to bf16 by rule on this CPU, without
 * measuring: it has AMX (see reshape in net.c for the figures). */
int df_net_auto_is_bf16_by_rule(void);
/* One line per layer: op, shape, chosen algorithm, into buf. */
void df_net_describe(const df_net *net, char *buf, size_t size);
/* Weights and biases of every convolution in the net. */
int64_t df_net_num_params(const df_net *net);
/* Floating-point operations per image (multiply-add = 2). Counts the
 * convolutions only; pools and adds are a fraction of a percent. */
double df_net_flops_per_image(const df_net *net);

/* Number of convolutions currently running Winograd (0 before reshape). */
int df_net_winograd_layers(const df_net *net);
/* Number of depthwise convolutions running fused into the 1x1 convolution
 * before them (net.h, dw_fusion; 0 before reshape). */
int df_net_dw_fused_layers(const df_net *net);
/* Batch size of the last successful reshape (0 if none). */
int df_net_batch(const df_net *net);
/* Bytes held for activations, staging and scratchpad by the current reshape
 * (weights excluded), for reports. */
size_t df_net_workspace_bytes(const df_net *net);

#endif
