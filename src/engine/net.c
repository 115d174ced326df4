/*
 * The inference engine over the oneDNN 2.6 C API (see net.h for the contract).
 *
 * What it does:
 * - A graph of NHWC tensors built from conv2d (dense and grouped/depthwise,
 *   bias and ReLU/ReLU6 fused as eltwise post-ops), max/avg pool, global
 *   average pool and add (+ activation).
 * - df_net_reshape builds a "plan" for one batch size and precision: one
 *   primitive per layer with memory formats left to oneDNN (format_tag any);
 *   a tensor keeps the format its producer chose, and a consumer that wants
 *   another one gets a reorder in front of it. The user's NHWC fp32 input and
 *   output are reordered once at each end. Weights are reordered once into
 *   the format each primitive prefers and carried over to the next plan when
 *   that format does not change.
 * - Activations share a few buffers ("slots") assigned by liveness, so
 *   VGG16 needs two activation-sized buffers rather than eighteen; all
 *   primitives run in user-scratchpad mode over one shared scratchpad.
 * - fp32 3x3 stride-1 dense convolutions time direct vs Winograd at the
 *   first reshape and keep the faster; DF_PRECISION_AUTO is bf16 on a CPU
 *   with AMX, else times the whole net in fp32 and bf16 and keeps bf16 only
 *   when it is 15% faster.
 * - A residual add after a convolution is fused into it (sum post-op).
 * - A 1x1 convolution read only by the depthwise 3x3 after it runs with it
 *   as one primitive (depthwise post-op) where that changes no number
 *   (oneDNN's AVX2 jit kernels; see plan_dw_candidates, dw_fused_pd).
 * What it does not: training, dilation, int8, anything but CPU.
 * Reference semantics: engine/reference.c (plain loops), which the tests
 * compare against.
 */
#include "engine/net.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "core/memory.h"
#include "engine/winograd.h"

enum op_kind { OP_CONV, OP_POOL, OP_GAP, OP_ADD };
/* ALG_OWN_WINOGRAD: engine/winograd.c (F(4x4, 3x3)), for CPUs where oneDNN has
 * no Winograd (below AVX-512); NHWC in and out. */
enum { ALG_UNDECIDED = 0, ALG_DIRECT, ALG_WINOGRAD, ALG_OWN_WINOGRAD };

typedef struct tensor {
    int h, w, c;
    int producer; /* layer index, -1 for the net input */
    int last_use; /* index of the last layer reading it (set at reshape) */
    /* Tensor whose buffer this one shares (-1: its own): a residual add
     * fused into a convolution writes its result over the residual, so the
     * conv's output and the add's output live in the residual's buffer. */
    int alias;
} tensor;

typedef struct layer {
    enum op_kind kind;
    int in[2], n_in, out;
    df_conv2d_desc conv;  /* weights/bias point at the owned copies below */
    float *weights;       /* OHWI fp32, owned */
    float *bias;          /* [out_c] fp32, owned (zeros when none was given) */
    df_pool2d_desc pool;
    df_activation act;
    int alg;              /* fp32 algorithm, decided once at the first reshape */
    double ms_direct, ms_winograd; /* measurements behind alg (0 = not measured) */
    df_wino *wino;        /* ALG_OWN_WINOGRAD: transformed filters, owned */
    /* Whether this conv writes its output in its single consumer's format
     * (instead of oneDNN's own pick followed by a reorder): decided once by
     * measurement, see refit_producer. */
    int refit;
    double ms_refit, ms_refit_not;
    int alg_by_rule;      /* alg chosen without measuring (see WINO_SURE_C) */
    /* Residual add fused into a convolution as a oneDNN sum post-op (decided
     * at the first reshape, see plan_fusions): the conv gets fused_add (the
     * add's layer index) and sum_src (the residual tensor, whose buffer it
     * accumulates into); the add gets fused_into (the conv) and is skipped. */
    int fused_add, sum_src, fused_into;
    /* A 1x1 convolution whose output only the next layer, a depthwise 3x3
     * oneDNN can fuse, reads (plan_dw_candidates): 1. Whether the pair is
     * fused is decided per plan (dw_fused_pd). */
    int dw_next;
} layer;

enum { REFIT_UNDECIDED = 0, REFIT_YES, REFIT_NO };
enum { FUSION_UNDECIDED = 0, FUSION_ON, FUSION_OFF };

/* A reorder run in front of a layer because the producer's format is not the
 * one the layer wants. */
typedef struct pre_reorder {
    dnnl_primitive_t prim;
    dnnl_memory_t dst;
    int slot;
    int input; /* which input of the layer (0 or 1) */
    dnnl_exec_arg_t args[3];
} pre_reorder;

typedef struct layer_rt {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t w_mem;  /* reordered weights (owns its buffer) */
    dnnl_memory_t b_mem;  /* view of layer->bias */
    pre_reorder pre[2];
    int n_pre;
    dnnl_memory_t src_use[2];
    dnnl_exec_arg_t args[8];
    int nargs;
    int alg;
    /* dw_fused: this 1x1 convolution's primitive also computes the next
     * layer (the depthwise one), writing that layer's output; dw_hosted:
     * this depthwise layer is computed so by the layer before it, and its
     * w_mem / b_mem are the depthwise weights and bias that primitive reads. */
    int dw_fused, dw_hosted;
} layer_rt;

typedef struct slot {
    void *buf;
    size_t size;
    int busy;
} slot;

/* Everything that depends on the batch size and precision. */
typedef struct plan {
    int batch;
    df_precision precision;
    int n_layers, n_tensors;
    layer_rt *rt;
    dnnl_memory_desc_t *tmd;
    dnnl_memory_t *tmem; /* per tensor; the input's is in_user */
    int *tslot;
    slot *slots;
    int n_slots, cap_slots;
    void *scratch;
    size_t scratch_size;
    void *wino_ws;       /* work space of our Winograd layers (shared) */
    size_t wino_ws_size;
    dnnl_memory_t scratch_mem;
    dnnl_memory_t in_user, out_user;
    dnnl_primitive_t out_reorder;
    dnnl_exec_arg_t out_args[3];
    float *in_stage, *out_stage;
    size_t in_count, out_count; /* floats per full batch */
} plan;

struct df_net {
    df_net_options opts;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    tensor *tensors;
    int n_tensors, cap_tensors;
    layer *layers;
    int n_layers, cap_layers;
    int input, output;
    int bf16_ok;
    df_precision chosen; /* AUTO until the first reshape resolves it */
    double raced_ms;     /* the race's time per batch for chosen, at raced_batch */
    int raced_batch;     /* 0: not raced */
    int fusion;          /* FUSION_*: residual adds fused into convolutions */
    plan *plan;
    int64_t num_params;  /* conv weights + biases added so far */
};

/* ---------------------------------------------------------------- helpers */

static df_status dnnl_fail(df_error *err, dnnl_status_t st, const char *what) {
    return df_error_set(err, DF_ERR_BACKEND, "oneDNN: %s failed (%s)", what, dnnl_status2str(st));
}

#define DN(call, what)                                          \
    do {                                                        \
        dnnl_status_t st_ = (call);                             \
        if (st_ != dnnl_success) {                              \
            status = dnnl_fail(err, st_, what);                 \
            goto fail;                                          \
        }                                                       \
    } while (0)

static void notice(const df_net *net, const char *msg) {
    if (net->opts.notice) net->opts.notice(net->opts.notice_ctx, msg);
}

static int out_dim(int in, int k, int stride, int lo, int hi) {
    long span = (long)in + lo + hi - k;
    if (span < 0 || stride < 1) return 0;
    return (int)(span / stride + 1);
}

/* A compact, oneDNN-style name of a memory format: outer dimensions by
 * decreasing stride, then the inner blocks ("aBcd16b", "acdb", "wino"). */
static void md_format_name(const dnnl_memory_desc_t *md, char *buf, size_t size) {
    if (md->format_kind == dnnl_format_kind_wino) {
        snprintf(buf, size, "wino");
        return;
    }
    if (md->format_kind != dnnl_blocked) {
        snprintf(buf, size, "?");
        return;
    }
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS], blocked[DNNL_MAX_NDIMS] = {0};
    for (int i = 0; i < md->ndims; i++) order[i] = i;
    for (int i = 0; i < md->ndims; i++)
        for (int j = i + 1; j < md->ndims; j++)
            if (b->strides[order[j]] > b->strides[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    for (int k = 0; k < b->inner_nblks; k++) blocked[b->inner_idxs[k]] = 1;
    size_t n = 0;
    for (int i = 0; i < md->ndims && n + 1 < size; i++) {
        int d = order[i];
        buf[n++] = (char)((blocked[d] ? 'A' : 'a') + d);
    }
    buf[n < size ? n : size - 1] = '\0';
    for (int k = 0; k < b->inner_nblks; k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%d%c", (int)b->inner_blks[k], 'a' + (int)b->inner_idxs[k]);
    }
    if (md->data_type == dnnl_bf16) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, ":bf16");
    }
}

/* ------------------------------------------------------------- life cycle */

df_status df_precision_parse(const char *s, df_precision *out, df_error *err) {
    if (!strcmp(s, "auto")) *out = DF_PRECISION_AUTO;
    else if (!strcmp(s, "fp32")) *out = DF_PRECISION_FP32;
    else if (!strcmp(s, "bf16")) *out = DF_PRECISION_BF16;
    else if (!strcmp(s, "int8")) *out = DF_PRECISION_INT8;
    else
        return df_error_set(err, DF_ERR_INVALID_ARG, "precision '%s' is not one of auto, fp32, bf16, int8", s);
    return DF_OK;
}

const char *df_precision_name(df_precision p) {
    switch (p) {
    case DF_PRECISION_AUTO: return "auto";
    case DF_PRECISION_FP32: return "fp32";
    case DF_PRECISION_BF16: return "bf16";
    case DF_PRECISION_INT8: return "int8";
    }
    return "?";
}

df_net_options df_net_options_default(void) {
    df_net_options o;
    memset(&o, 0, sizeof o);
    o.precision = DF_PRECISION_AUTO;
    o.autotune = 1;
    o.conv_algo = DF_CONV_ALGO_AUTO;
    const char *no_dw = getenv("DF_NO_DW_FUSION");
    o.dw_fusion = !(no_dw && no_dw[0] && strcmp(no_dw, "0"));
    return o;
}

static int cpu_has_isa(dnnl_cpu_isa_t want) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), need = (unsigned)want;
    return (isa & need) == need;
}

static int cpu_has_bf16(void) { return cpu_has_isa(dnnl_cpu_isa_avx512_core_bf16); }

int df_net_auto_is_bf16_by_rule(void) { return cpu_has_isa(dnnl_cpu_isa_avx512_core_amx); }

df_status df_net_create(const df_net_options *opts, df_net **out, df_error *err) {
    df_status status = DF_OK;
    *out = NULL;
    df_net *net = calloc(1, sizeof *net);
    if (!net) return df_error_set(err, DF_ERR_NOMEM, "out of memory creating a net");
    net->opts = opts ? *opts : df_net_options_default();
    net->input = -1;
    net->output = -1;
    if (net->opts.precision < DF_PRECISION_AUTO || net->opts.precision > DF_PRECISION_INT8) {
        status = df_error_set(err, DF_ERR_INVALID_ARG, "precision %d is not valid", (int)net->opts.precision);
        goto fail;
    }
    df_cpu_cap_libraries();
    DN(dnnl_engine_create(&net->engine, dnnl_cpu, 0), "creating the CPU engine");
    DN(dnnl_stream_create(&net->stream, net->engine, dnnl_stream_default_flags), "creating a stream");
    net->bf16_ok = cpu_has_bf16();
    net->chosen = net->opts.precision;
    if (net->chosen == DF_PRECISION_INT8) {
        notice(net, "int8 runs the quantized TFLite models only; using fp32");
        net->chosen = DF_PRECISION_FP32;
    }
    if (net->chosen == DF_PRECISION_BF16 && !net->bf16_ok) {
        notice(net, "bf16 is not supported on this CPU; using fp32");
        net->chosen = DF_PRECISION_FP32;
    }
    if (net->chosen == DF_PRECISION_AUTO && !net->bf16_ok) net->chosen = DF_PRECISION_FP32;
    *out = net;
    return DF_OK;
fail:
    df_net_destroy(net);
    return status;
}

static void plan_destroy(plan *p) {
    if (!p) return;
    for (int i = 0; p->rt && i < p->n_layers; i++) {
        layer_rt *r = &p->rt[i];
        for (int k = 0; k < 2; k++) {
            if (r->pre[k].prim) dnnl_primitive_destroy(r->pre[k].prim);
            if (r->pre[k].dst) dnnl_memory_destroy(r->pre[k].dst);
        }
        if (r->prim) dnnl_primitive_destroy(r->prim);
        if (r->pd) dnnl_primitive_desc_destroy(r->pd);
        if (r->w_mem) dnnl_memory_destroy(r->w_mem);
        if (r->b_mem) dnnl_memory_destroy(r->b_mem);
    }
    for (int t = 0; p->tmem && t < p->n_tensors; t++)
        if (p->tmem[t] && p->tmem[t] != p->in_user) dnnl_memory_destroy(p->tmem[t]);
    if (p->in_user) dnnl_memory_destroy(p->in_user);
    if (p->out_user) dnnl_memory_destroy(p->out_user);
    if (p->out_reorder) dnnl_primitive_destroy(p->out_reorder);
    if (p->scratch_mem) dnnl_memory_destroy(p->scratch_mem);
    free(p->scratch);
    free(p->wino_ws);
    for (int s = 0; s < p->n_slots; s++) free(p->slots[s].buf);
    free(p->slots);
    free(p->in_stage);
    free(p->out_stage);
    free(p->rt);
    free(p->tmd);
    free(p->tmem);
    free(p->tslot);
    free(p);
}

void df_net_destroy(df_net *net) {
    if (!net) return;
    plan_destroy(net->plan);
    for (int i = 0; i < net->n_layers; i++) {
        free(net->layers[i].weights);
        free(net->layers[i].bias);
        df_wino_destroy(net->layers[i].wino);
    }
    free(net->layers);
    free(net->tensors);
    if (net->stream) dnnl_stream_destroy(net->stream);
    if (net->engine) dnnl_engine_destroy(net->engine);
    free(net);
}

/* ---------------------------------------------------------------- building */

static df_status check_building(const df_net *net, df_error *err) {
    if (net->plan)
        return df_error_set(err, DF_ERR_INVALID_ARG, "net is frozen after df_net_reshape; build it first");
    return DF_OK;
}

static df_status check_tensor(const df_net *net, df_tensor_id t, df_error *err) {
    if (t < 0 || t >= net->n_tensors)
        return df_error_set(err, DF_ERR_INVALID_ARG, "tensor id %d does not exist (net has %d)", t,
                            net->n_tensors);
    return DF_OK;
}

static df_status add_tensor(df_net *net, int h, int w, int c, int producer, df_tensor_id *out,
                            df_error *err) {
    if (net->n_tensors == net->cap_tensors) {
        int cap = net->cap_tensors ? 2 * net->cap_tensors : 16;
        tensor *t = realloc(net->tensors, (size_t)cap * sizeof *t);
        if (!t) return df_error_set(err, DF_ERR_NOMEM, "out of memory adding a tensor");
        net->tensors = t;
        net->cap_tensors = cap;
    }
    tensor *t = &net->tensors[net->n_tensors];
    t->h = h;
    t->w = w;
    t->c = c;
    t->producer = producer;
    t->last_use = -1;
    t->alias = -1;
    *out = net->n_tensors++;
    return DF_OK;
}

static df_status add_layer(df_net *net, layer **out, df_error *err) {
    if (net->n_layers == net->cap_layers) {
        int cap = net->cap_layers ? 2 * net->cap_layers : 16;
        layer *l = realloc(net->layers, (size_t)cap * sizeof *l);
        if (!l) return df_error_set(err, DF_ERR_NOMEM, "out of memory adding a layer");
        net->layers = l;
        net->cap_layers = cap;
    }
    layer *L = &net->layers[net->n_layers];
    memset(L, 0, sizeof *L);
    L->fused_add = L->sum_src = L->fused_into = -1;
    *out = L;
    return DF_OK;
}

df_status df_net_input(df_net *net, int h, int w, int c, df_tensor_id *out, df_error *err) {
    df_status st = check_building(net, err);
    if (st) return st;
    if (net->input >= 0) return df_error_set(err, DF_ERR_INVALID_ARG, "net already has an input");
    if (h < 1 || w < 1 || c < 1 || h > 65536 || w > 65536 || c > 65536)
        return df_error_set(err, DF_ERR_SHAPE, "input shape %dx%dx%d is not valid", h, w, c);
    st = add_tensor(net, h, w, c, -1, out, err);
    if (st) return st;
    net->input = *out;
    return DF_OK;
}

df_status df_net_conv2d(df_net *net, df_tensor_id in, const df_conv2d_desc *d, df_tensor_id *out,
                        df_error *err) {
    df_status st = check_building(net, err);
    if (!st) st = check_tensor(net, in, err);
    if (st) return st;
    const tensor ti = net->tensors[in];
    int g = d->groups;
    if (g < 1 || ti.c % g || d->out_c < 1 || d->out_c % g)
        return df_error_set(err, DF_ERR_SHAPE,
                            "conv2d: groups %d must divide input channels %d and output channels %d", g,
                            ti.c, d->out_c);
    if (d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 || d->pad_top < 0 ||
        d->pad_left < 0 || d->pad_bottom < 0 || d->pad_right < 0 || d->kh > 64 || d->kw > 64)
        return df_error_set(err, DF_ERR_SHAPE, "conv2d: kernel %dx%d stride %dx%d pads %d,%d,%d,%d not valid",
                            d->kh, d->kw, d->stride_h, d->stride_w, d->pad_top, d->pad_left,
                            d->pad_bottom, d->pad_right);
    if (d->activation < DF_ACT_NONE || d->activation > DF_ACT_RELU6)
        return df_error_set(err, DF_ERR_INVALID_ARG, "conv2d: activation %d not valid", (int)d->activation);
    int oh = out_dim(ti.h, d->kh, d->stride_h, d->pad_top, d->pad_bottom);
    int ow = out_dim(ti.w, d->kw, d->stride_w, d->pad_left, d->pad_right);
    if (oh < 1 || ow < 1)
        return df_error_set(err, DF_ERR_SHAPE, "conv2d: kernel %dx%d does not fit input %dx%d with pads",
                            d->kh, d->kw, ti.h, ti.w);
    if (!d->weights) return df_error_set(err, DF_ERR_INVALID_ARG, "conv2d: weights are NULL");
    size_t nw;
    if (!df_size_mul3((size_t)d->out_c, (size_t)d->kh * (size_t)d->kw, (size_t)(ti.c / g), &nw))
        return df_error_set(err, DF_ERR_TOO_LARGE, "conv2d: weight count overflows");
    layer *L;
    st = add_layer(net, &L, err);
    if (st) return st;
    L->weights = malloc(nw * sizeof(float));
    L->bias = calloc((size_t)d->out_c, sizeof(float));
    if (!L->weights || !L->bias) {
        free(L->weights);
        free(L->bias);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory copying %zu conv2d weights", nw);
    }
    memcpy(L->weights, d->weights, nw * sizeof(float));
    if (d->bias) memcpy(L->bias, d->bias, (size_t)d->out_c * sizeof(float));
    net->num_params += (int64_t)nw + d->out_c;
    st = add_tensor(net, oh, ow, d->out_c, net->n_layers, out, err);
    if (st) {
        free(L->weights);
        free(L->bias);
        return st;
    }
    L->kind = OP_CONV;
    L->in[0] = in;
    L->n_in = 1;
    L->out = *out;
    L->conv = *d;
    L->conv.weights = L->weights;
    L->conv.bias = L->bias;
    L->act = d->activation;
    net->n_layers++;
    return DF_OK;
}

df_status df_net_pool2d(df_net *net, df_tensor_id in, const df_pool2d_desc *d, df_tensor_id *out,
                        df_error *err) {
    df_status st = check_building(net, err);
    if (!st) st = check_tensor(net, in, err);
    if (st) return st;
    const tensor ti = net->tensors[in];
    if (d->kind != DF_POOL_MAX && d->kind != DF_POOL_AVG)
        return df_error_set(err, DF_ERR_INVALID_ARG, "pool2d: kind %d not valid", (int)d->kind);
    /* A window entirely in the padding would have nothing to average. */
    if (d->kh < 1 || d->kw < 1 || d->stride_h < 1 || d->stride_w < 1 || d->pad_top < 0 ||
        d->pad_left < 0 || d->pad_bottom < 0 || d->pad_right < 0 || d->pad_top >= d->kh ||
        d->pad_bottom >= d->kh || d->pad_left >= d->kw || d->pad_right >= d->kw)
        return df_error_set(err, DF_ERR_SHAPE,
                            "pool2d: kernel %dx%d stride %dx%d pads %d,%d,%d,%d not valid (pads must be "
                            "smaller than the kernel)",
                            d->kh, d->kw, d->stride_h, d->stride_w, d->pad_top, d->pad_left,
                            d->pad_bottom, d->pad_right);
    int oh = out_dim(ti.h, d->kh, d->stride_h, d->pad_top, d->pad_bottom);
    int ow = out_dim(ti.w, d->kw, d->stride_w, d->pad_left, d->pad_right);
    if (oh < 1 || ow < 1)
        return df_error_set(err, DF_ERR_SHAPE, "pool2d: kernel %dx%d does not fit input %dx%d", d->kh,
                            d->kw, ti.h, ti.w);
    layer *L;
    st = add_layer(net, &L, err);
    if (!st) st = add_tensor(net, oh, ow, ti.c, net->n_layers, out, err);
    if (st) return st;
    L->kind = OP_POOL;
    L->in[0] = in;
    L->n_in = 1;
    L->out = *out;
    L->pool = *d;
    net->n_layers++;
    return DF_OK;
}

df_status df_net_global_avgpool(df_net *net, df_tensor_id in, df_tensor_id *out, df_error *err) {
    df_status st = check_building(net, err);
    if (!st) st = check_tensor(net, in, err);
    if (st) return st;
    const tensor ti = net->tensors[in];
    layer *L;
    st = add_layer(net, &L, err);
    if (!st) st = add_tensor(net, 1, 1, ti.c, net->n_layers, out, err);
    if (st) return st;
    L->kind = OP_GAP;
    L->in[0] = in;
    L->n_in = 1;
    L->out = *out;
    net->n_layers++;
    return DF_OK;
}

df_status df_net_add(df_net *net, df_tensor_id a, df_tensor_id b, df_activation act,
                     df_tensor_id *out, df_error *err) {
    df_status st = check_building(net, err);
    if (!st) st = check_tensor(net, a, err);
    if (!st) st = check_tensor(net, b, err);
    if (st) return st;
    const tensor ta = net->tensors[a], tb = net->tensors[b];
    if (ta.h != tb.h || ta.w != tb.w || ta.c != tb.c)
        return df_error_set(err, DF_ERR_SHAPE, "add: shapes differ (%dx%dx%d vs %dx%dx%d)", ta.h, ta.w,
                            ta.c, tb.h, tb.w, tb.c);
    if (act < DF_ACT_NONE || act > DF_ACT_RELU6)
        return df_error_set(err, DF_ERR_INVALID_ARG, "add: activation %d not valid", (int)act);
    layer *L;
    st = add_layer(net, &L, err);
    if (!st) st = add_tensor(net, ta.h, ta.w, ta.c, net->n_layers, out, err);
    if (st) return st;
    L->kind = OP_ADD;
    L->in[0] = a;
    L->in[1] = b;
    L->n_in = 2;
    L->out = *out;
    L->act = act;
    net->n_layers++;
    return DF_OK;
}

df_status df_net_set_output(df_net *net, df_tensor_id t, df_error *err) {
    df_status st = check_building(net, err);
    if (!st) st = check_tensor(net, t, err);
    if (st) return st;
    net->output = t;
    return DF_OK;
}

df_status df_net_tensor_shape(const df_net *net, df_tensor_id t, int *h, int *w, int *c, df_error *err) {
    df_status st = check_tensor(net, t, err);
    if (st) return st;
    *h = net->tensors[t].h;
    *w = net->tensors[t].w;
    *c = net->tensors[t].c;
    return DF_OK;
}

/* ----------------------------------------------------------- primitives */

static dnnl_status_t append_act(dnnl_post_ops_t po, df_activation act) {
    if (act == DF_ACT_RELU) return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
    if (act == DF_ACT_RELU6) return dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, 6.0f);
    return dnnl_success;
}

/* User scratchpad and the post-ops act, then a middle step and act2 after
 * it. The middle step is (sum) dst += the result: a convolution with a
 * fused residual add computes act2(act(conv(x)) + residual), the residual
 * being in dst already; or (dw, data type dt) the depthwise 3x3
 * convolution dw reading the result: act2(dw(act(conv(x)))). */
static dnnl_status_t make_attr_chain(df_activation act, int sum, const layer *dw, dnnl_data_type_t dt,
                                     df_activation act2, dnnl_primitive_attr_t *attr) {
    dnnl_status_t st = dnnl_primitive_attr_create(attr);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && (act != DF_ACT_NONE || sum || dw)) {
        dnnl_post_ops_t po;
        st = dnnl_post_ops_create(&po);
        if (st != dnnl_success) goto out;
        st = append_act(po, act);
        if (st == dnnl_success && sum) st = dnnl_post_ops_append_sum(po, 1.0f);
        if (st == dnnl_success && dw)
            st = dnnl_post_ops_append_dw(po, dt, dnnl_f32, dt, 3, dw->conv.stride_h, dw->conv.pad_top, 0, 0, NULL);
        if (st == dnnl_success && (sum || dw)) st = append_act(po, act2);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(*attr, po);
        dnnl_post_ops_destroy(po);
    }
out:
    if (st != dnnl_success) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

static dnnl_status_t make_attr(df_activation act, dnnl_primitive_attr_t *attr) {
    return make_attr_chain(act, 0, NULL, dnnl_f32, DF_ACT_NONE, attr);
}

static void user_weights_md(const layer *L, int in_c, dnnl_memory_desc_t *md) {
    const df_conv2d_desc *d = &L->conv;
    if (d->groups == 1) {
        dnnl_dims_t dims = {d->out_c, in_c, d->kh, d->kw};
        dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_ohwi);
    } else {
        dnnl_dims_t dims = {d->groups, d->out_c / d->groups, in_c / d->groups, d->kh, d->kw};
        dnnl_memory_desc_init_by_tag(md, 5, dims, dnnl_f32, dnnl_gohwi);
    }
}

/* The convolution descriptor of layer L; src_md / dst_md: a fixed format,
 * or NULL to let oneDNN choose. */
static dnnl_status_t conv_desc(const df_net *net, const layer *L, int batch, dnnl_data_type_t dt,
                               dnnl_alg_kind_t alg, const dnnl_memory_desc_t *src_md,
                               const dnnl_memory_desc_t *dst_md, dnnl_convolution_desc_t *cd) {
    const df_conv2d_desc *d = &L->conv;
    const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_dims_t sd = {batch, ti->c, ti->h, ti->w};
    dnnl_dims_t dd = {batch, to->c, to->h, to->w};
    dnnl_dims_t bd = {d->out_c};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&bia, 1, bd, dnnl_f32, dnnl_format_tag_any);
    if (src_md) src = *src_md;
    if (dst_md) dst = *dst_md;
    if (d->groups == 1) {
        dnnl_dims_t wd = {d->out_c, ti->c, d->kh, d->kw};
        dnnl_memory_desc_init_by_tag(&wei, 4, wd, dt, dnnl_format_tag_any);
    } else {
        dnnl_dims_t wd = {d->groups, d->out_c / d->groups, ti->c / d->groups, d->kh, d->kw};
        dnnl_memory_desc_init_by_tag(&wei, 5, wd, dt, dnnl_format_tag_any);
    }
    dnnl_dims_t strides = {d->stride_h, d->stride_w};
    dnnl_dims_t pl = {d->pad_top, d->pad_left}, pr = {d->pad_bottom, d->pad_right};
    return dnnl_convolution_forward_desc_init(cd, dnnl_forward_inference, alg, &src, &wei, &bia, &dst, strides,
                                              pl, pr);
}

/* src_md / dst_md: a fixed format, or NULL to let oneDNN choose. */
static dnnl_status_t conv_pd_fmt(const df_net *net, const layer *L, int batch, dnnl_data_type_t dt,
                                 dnnl_alg_kind_t alg, const dnnl_memory_desc_t *src_md,
                                 const dnnl_memory_desc_t *dst_md, dnnl_primitive_desc_t *pd) {
    dnnl_convolution_desc_t cd;
    dnnl_status_t st = conv_desc(net, L, batch, dt, alg, src_md, dst_md, &cd);
    if (st != dnnl_success) return st;
    dnnl_primitive_attr_t attr;
    int sum = L->fused_add >= 0;
    st = make_attr_chain(L->act, sum, NULL, dnnl_f32, sum ? net->layers[L->fused_add].act : DF_ACT_NONE, &attr);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_desc_create(pd, &cd, attr, net->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* dst_md: NULL, or the residual's format for a conv with a fused add. */
static dnnl_status_t conv_pd(const df_net *net, const layer *L, int batch, dnnl_data_type_t dt,
                             dnnl_alg_kind_t alg, const dnnl_memory_desc_t *dst_md, dnnl_primitive_desc_t *pd) {
    return conv_pd_fmt(net, L, batch, dt, alg, NULL, dst_md, pd);
}

/* Where measuring direct vs Winograd is skipped because one is known to
 * dominate (oneDNN 2.6 has Winograd only for avx512_core fp32; measured on
 * Sapphire Rapids, 1 and 2 threads, batch 1 and 8, every VGG16 layer):
 * >= 64 channels in and out: Winograd 1.3-2.9x faster than direct (224x224
 * to 14x14); 3 input channels: direct 3-5x faster. In between it is
 * measured, and Winograd must be WINO_MARGIN faster to be chosen. */
#define WINO_SURE_C 64
#define WINO_MIN_MEASURED_C 16
#define WINO_MARGIN 0.10

static int winograd_eligible(const layer *L) {
    const df_conv2d_desc *d = &L->conv;
    return L->kind == OP_CONV && d->groups == 1 && d->kh == 3 && d->kw == 3 && d->stride_h == 1 &&
           d->stride_w == 1;
}

/* One reorder src -> dst on the net's stream; returns the oneDNN status so a
 * missing implementation can be told from a real failure. */
static dnnl_status_t reorder_once(df_net *net, dnnl_memory_t src, dnnl_memory_t dst) {
    const dnnl_memory_desc_t *smd, *dmd;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_t rp = NULL;
    dnnl_status_t st = dnnl_memory_get_memory_desc(src, &smd);
    if (st == dnnl_success) st = dnnl_memory_get_memory_desc(dst, &dmd);
    if (st == dnnl_success) st = dnnl_reorder_primitive_desc_create(&rpd, smd, net->engine, dmd, net->engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&rp, rpd);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    if (st == dnnl_success) st = dnnl_primitive_execute(rp, net->stream, 2, args);
    if (st == dnnl_success) st = dnnl_stream_wait(net->stream);
    if (rp) dnnl_primitive_destroy(rp);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    return st;
}

/* Reorders the layer's OHWI weights into a new memory of format md. oneDNN
 * 2.6 reorders into the Winograd weight format only from oihw or hwio, so
 * when the direct reorder is unimplemented go through a plain layout. */
static df_status reorder_weights(df_net *net, const layer *L, const dnnl_memory_desc_t *md,
                                 dnnl_memory_t *out, df_error *err) {
    df_status status = DF_OK;
    dnnl_memory_desc_t umd, imd;
    dnnl_memory_t umem = NULL, wmem = NULL, imem = NULL;
    user_weights_md(L, net->tensors[L->in[0]].c, &umd);
    DN(dnnl_memory_create(&umem, &umd, net->engine, L->weights), "wrapping weights");
    DN(dnnl_memory_create(&wmem, md, net->engine, DNNL_MEMORY_ALLOCATE), "allocating weights");
    dnnl_status_t st = reorder_once(net, umem, wmem);
    const dnnl_format_tag_t plain4[2] = {dnnl_oihw, dnnl_hwio}, plain5[2] = {dnnl_goihw, dnnl_hwigo};
    for (int k = 0; k < 2 && st == dnnl_unimplemented; k++) {
        DN(dnnl_memory_desc_init_by_tag(&imd, umd.ndims, umd.dims, dnnl_f32, umd.ndims == 4 ? plain4[k] : plain5[k]),
           "describing weights");
        DN(dnnl_memory_create(&imem, &imd, net->engine, DNNL_MEMORY_ALLOCATE), "allocating weights");
        st = reorder_once(net, umem, imem);
        if (st == dnnl_success) st = reorder_once(net, imem, wmem);
        dnnl_memory_destroy(imem);
        imem = NULL;
    }
    DN(st, "reordering weights");
    *out = wmem;
    wmem = NULL;
fail:
    if (umem) dnnl_memory_destroy(umem);
    if (wmem) dnnl_memory_destroy(wmem);
    if (imem) dnnl_memory_destroy(imem);
    return status;
}

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int i) {
    return dnnl_primitive_desc_query_md(pd, q, i);
}

/* Whether pd's implementation is "jit_1x1:ISA" and oneDNN runs the
 * depthwise layer D alone (after pd's output) as "jit_dw:ISA": the kernels
 * a fused jit primitive is made of, so fused and unfused compute the same
 * sums in the same order. */
static int same_kernels_as_fused(const df_net *net, const layer *D, int batch, dnnl_data_type_t dt,
                                 const_dnnl_primitive_desc_t pd, const char *fused_impl) {
    const char *impl = NULL, *dimpl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
        strcmp(impl, fused_impl) || strncmp(impl, "jit_1x1:", 8))
        return 0;
    dnnl_primitive_desc_t dpd = NULL;
    int same = 0;
    if (conv_pd_fmt(net, D, batch, dt, dnnl_convolution_direct, pd_md(pd, dnnl_query_dst_md, 0), NULL, &dpd) ==
            dnnl_success &&
        dnnl_primitive_desc_query(dpd, dnnl_query_impl_info_str, 0, &dimpl) == dnnl_success && dimpl)
        same = !strncmp(dimpl, "jit_dw:", 7) && !strcmp(dimpl + 7, impl + 8);
    if (dpd) dnnl_primitive_desc_destroy(dpd);
    return same;
}

/* The primitive computing layer i (a 1x1 convolution) and layer i + 1 (the
 * depthwise 3x3 reading it) in one pass, or dnnl_unimplemented. Taken only
 * where it changes no number: fp32, and a fused jit kernel made of the
 * kernels oneDNN picks for the two layers alone (then fused and unfused
 * outputs are identical, checked by the tests), so that results never
 * depend on the batch size (oneDNN fuses only large pairs, i.e. at larger
 * batches) and predict gives the numbers training saw. That is oneDNN 2.6's
 * AVX2 path ("jit_1x1:avx2" + "jit_dw:avx2"); on Sapphire Rapids' AVX-512
 * it picks "brgconv_1x1" + "brdgmm_dw" alone but fuses "jit_1x1:avx512_core"
 * (faster still, 1.2-2.0x per fused pair in bench_dw_fusion, but outputs
 * ~2e-7 apart: not taken), and in bf16 fused and unfused outputs differ
 * (up to 5e-3 of the largest value where oneDNN fused bf16 pairs: AVX-512
 * bf16 without AMX). oneDNN also offers any pair as "ref_fused_convolution", the two
 * kernels one after the other over a full intermediate buffer: no gain
 * (timed with a throwaway probe on Sapphire Rapids capped to AVX2, 2
 * threads, MobileNetV2's pairs at batch 1: 0.89-1.02x of the unfused pair),
 * never taken. The jit 1x1 kernels fuse only when the intermediate tensor
 * exceeds about twice the L2 caches of the threads
 * (jit_avx2_1x1_convolution.hpp), i.e. the large early layers, more of them
 * at larger batches and fewer threads. Where they fuse on AVX2 they were
 * faster than the pair unfused in every case measured but one
 * (bench_dw_fusion: 1.15-1.37x per pair; 28x28 192 channels stride 1 at 1
 * thread, batch 8: 0.975x), so there is no timing at build time. */
static dnnl_status_t dw_fused_pd(const df_net *net, int i, int batch, dnnl_data_type_t dt,
                                 dnnl_primitive_desc_t *pd) {
    const layer *L = &net->layers[i], *D = &net->layers[i + 1];
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t plain = NULL;
    *pd = NULL;
    if (dt != dnnl_f32) return dnnl_unimplemented;
    dnnl_status_t st = conv_desc(net, L, batch, dt, dnnl_convolution_direct, NULL, NULL, &cd);
    if (st == dnnl_success) st = make_attr_chain(L->act, 0, D, dt, D->act, &attr);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, &cd, attr, net->engine, NULL);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return st;
    const char *impl = NULL;
    const tensor *to = &net->tensors[D->out];
    const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(*pd, dnnl_query_dst_md, 0);
    int ok = dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
             dmd && dmd->ndims == 4 && dmd->dims[0] == batch && dmd->dims[1] == to->c && dmd->dims[2] == to->h &&
             dmd->dims[3] == to->w &&
             dnnl_primitive_desc_query_md(*pd, dnnl_query_exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS);
    ok = ok && conv_pd(net, L, batch, dt, dnnl_convolution_direct, NULL, &plain) == dnnl_success &&
         same_kernels_as_fused(net, D, batch, dt, plain, impl);
    if (plain) dnnl_primitive_desc_destroy(plain);
    if (!ok) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        return dnnl_unimplemented;
    }
    return dnnl_success;
}

/* Runs one convolution primitive on scratch data (1 warm-up, best of 2) and
 * returns milliseconds; used to choose between algorithms. When the
 * primitive wants its input in another format than the producer's (have),
 * the reorder it would need is timed with it, so a layer is not chosen for
 * a speed it loses converting its input. */
static df_status time_conv(df_net *net, const layer *L, const_dnnl_primitive_desc_t pd,
                           const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *then, double *ms,
                           df_error *err) {
    df_status status = DF_OK;
    dnnl_memory_t src = NULL, dst = NULL, wei = NULL, bia = NULL, sp = NULL, hmem = NULL, tmem = NULL;
    dnnl_primitive_t prim = NULL, rprim = NULL, tprim = NULL;
    dnnl_primitive_desc_t rpd = NULL, tpd = NULL;
    DN(dnnl_memory_create(&src, pd_md(pd, dnnl_query_src_md, 0), net->engine, DNNL_MEMORY_ALLOCATE),
       "allocating timing input");
    DN(dnnl_memory_create(&dst, pd_md(pd, dnnl_query_dst_md, 0), net->engine, DNNL_MEMORY_ALLOCATE),
       "allocating timing output");
    DN(dnnl_memory_create(&bia, pd_md(pd, dnnl_query_weights_md, 1), net->engine, L->bias),
       "wrapping bias");
    DN(dnnl_memory_create(&sp, pd_md(pd, dnnl_query_scratchpad_md, 0), net->engine,
                          DNNL_MEMORY_ALLOCATE),
       "allocating scratchpad");
    status = reorder_weights(net, L, pd_md(pd, dnnl_query_weights_md, 0), &wei, err);
    if (status) goto fail;
    {
        /* Plain numbers (no NaN, no denormals) so the timing is the usual one. */
        void *p;
        DN(dnnl_memory_get_data_handle(src, &p), "mapping timing input");
        size_t n = dnnl_memory_desc_get_size(pd_md(pd, dnnl_query_src_md, 0)) / sizeof(float);
        float *f = p;
        for (size_t i = 0; i < n; i++) f[i] = (float)(i % 13) * 0.0625f;
        /* A fused residual add reads dst: zeros, not whatever was there. */
        DN(dnnl_memory_get_data_handle(dst, &p), "mapping timing output");
        memset(p, 0, dnnl_memory_desc_get_size(pd_md(pd, dnnl_query_dst_md, 0)));
    }
    DN(dnnl_primitive_create(&prim, pd), "creating a convolution");
    const dnnl_memory_desc_t *want = pd_md(pd, dnnl_query_src_md, 0);
    if (!dnnl_memory_desc_equal(have, want)) {
        DN(dnnl_memory_create(&hmem, have, net->engine, DNNL_MEMORY_ALLOCATE), "allocating timing input");
        void *p;
        DN(dnnl_memory_get_data_handle(hmem, &p), "mapping timing input");
        memset(p, 0, dnnl_memory_desc_get_size(have));
        DN(dnnl_reorder_primitive_desc_create(&rpd, have, net->engine, want, net->engine, NULL),
           "creating a timing reorder");
        DN(dnnl_primitive_create(&rprim, rpd), "creating a timing reorder");
    }
    const dnnl_memory_desc_t *dmd = pd_md(pd, dnnl_query_dst_md, 0);
    if (then && !dnnl_memory_desc_equal(then, dmd)) {
        DN(dnnl_memory_create(&tmem, then, net->engine, DNNL_MEMORY_ALLOCATE), "allocating timing output");
        DN(dnnl_reorder_primitive_desc_create(&tpd, dmd, net->engine, then, net->engine, NULL),
           "creating a timing reorder");
        DN(dnnl_primitive_create(&tprim, tpd), "creating a timing reorder");
    }
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, src},
                               {DNNL_ARG_WEIGHTS, wei},
                               {DNNL_ARG_BIAS, bia},
                               {DNNL_ARG_DST, dst},
                               {DNNL_ARG_SCRATCHPAD, sp}};
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, hmem}, {DNNL_ARG_TO, src}};
    dnnl_exec_arg_t targs[2] = {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, tmem}};
    double best = 1e300;
    for (int it = 0; it < 3; it++) {
        double t0 = 1e3 * df_clock_seconds();
        if (rprim) DN(dnnl_primitive_execute(rprim, net->stream, 2, rargs), "running a timing reorder");
        DN(dnnl_primitive_execute(prim, net->stream, 5, args), "running a convolution");
        if (tprim) DN(dnnl_primitive_execute(tprim, net->stream, 2, targs), "running a timing reorder");
        DN(dnnl_stream_wait(net->stream), "running a convolution");
        double t = 1e3 * df_clock_seconds() - t0;
        if (it > 0 && t < best) best = t;
    }
    *ms = best;
fail:
    if (prim) dnnl_primitive_destroy(prim);
    if (rprim) dnnl_primitive_destroy(rprim);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (hmem) dnnl_memory_destroy(hmem);
    if (tprim) dnnl_primitive_destroy(tprim);
    if (tpd) dnnl_primitive_desc_destroy(tpd);
    if (tmem) dnnl_memory_destroy(tmem);
    if (src) dnnl_memory_destroy(src);
    if (dst) dnnl_memory_destroy(dst);
    if (wei) dnnl_memory_destroy(wei);
    if (bia) dnnl_memory_destroy(bia);
    if (sp) dnnl_memory_destroy(sp);
    return status;
}

/* Our Winograd on batch-sized NHWC buffers: best of 3 after a warm-up. */
static df_status time_own(df_net *net, layer *L, int batch, double *ms, df_error *err) {
    const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
    size_t nin = (size_t)batch * ti->h * ti->w * ti->c, nout = (size_t)batch * to->h * to->w * to->c;
    float *x = df_alloc_aligned(nin * sizeof *x), *y = df_alloc_aligned(nout * sizeof *y);
    void *ws = df_alloc_aligned(df_wino_workspace_bytes(L->wino));
    df_status status = DF_OK;
    if (!x || !y || !ws) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory timing a convolution");
        goto done;
    }
    for (size_t i = 0; i < nin; i++) x[i] = (float)(i % 13) * 0.0625f;
    double best = 1e300;
    for (int it = 0; it < 4 && !status; it++) {
        double t0 = 1e3 * df_clock_seconds();
        status = df_wino_run(L->wino, x, batch, ti->h, ti->w, y, ws, err);
        double t = 1e3 * df_clock_seconds() - t0;
        if (it > 0 && t < best) best = t;
    }
    *ms = best;
done:
    free(x);
    free(y);
    free(ws);
    return status;
}

/* A 3x3 stride-1 fp32 convolution on a CPU where oneDNN has no Winograd:
 * ours (engine/winograd.c) or oneDNN's direct one, measured once when
 * autotune is on (ours must be WINO_MARGIN faster), ours when forced. The
 * primitive descriptor made for ours is a direct one with NHWC source and
 * destination: it only tells the plan which formats to give and expect. */
static df_status own_choose(df_net *net, layer *L, int batch, const dnnl_memory_desc_t *have,
                            dnnl_primitive_desc_t *pd, int *alg_out, df_error *err) {
    df_status status = DF_OK;
    dnnl_primitive_desc_t direct = NULL;
    const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
    if (!L->wino && (status = df_wino_create(&L->conv, ti->c, &L->wino, err))) return status;
    if (L->alg == ALG_UNDECIDED && net->opts.conv_algo == DF_CONV_ALGO_AUTO) {
        DN(conv_pd(net, L, batch, dnnl_f32, dnnl_convolution_direct, NULL, &direct),
           "creating a direct convolution");
        status = time_conv(net, L, direct, have, NULL, &L->ms_direct, err);
        if (!status) status = time_own(net, L, batch, &L->ms_winograd, err);
        if (status) goto fail;
        L->alg = L->ms_winograd < (1.0 - WINO_MARGIN) * L->ms_direct ? ALG_OWN_WINOGRAD : ALG_DIRECT;
    } else if (L->alg == ALG_UNDECIDED) {
        L->alg = ALG_OWN_WINOGRAD;
    }
    if (L->alg == ALG_OWN_WINOGRAD) {
        dnnl_memory_desc_t src, dst;
        dnnl_dims_t sd = {batch, ti->c, ti->h, ti->w}, dd = {batch, to->c, to->h, to->w};
        DN(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nhwc), "describing a tensor");
        DN(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc), "describing a tensor");
        DN(conv_pd_fmt(net, L, batch, dnnl_f32, dnnl_convolution_direct, &src, &dst, pd),
           "describing a Winograd convolution's formats");
    } else {
        df_wino_destroy(L->wino);
        L->wino = NULL;
        if (direct) {
            *pd = direct;
            direct = NULL;
        } else {
            DN(conv_pd(net, L, batch, dnnl_f32, dnnl_convolution_direct, NULL, pd),
               "creating a direct convolution");
        }
    }
    *alg_out = L->alg;
fail:
    if (direct) dnnl_primitive_desc_destroy(direct);
    return status;
}

/* Creates the convolution's primitive descriptor, deciding the fp32
 * algorithm the first time (by measurement when autotune is on). */
static df_status conv_choose(df_net *net, layer *L, int batch, dnnl_data_type_t dt,
                             const dnnl_memory_desc_t *have, const dnnl_memory_desc_t *dst_md,
                             dnnl_primitive_desc_t *pd, int *alg_out, df_error *err) {
    df_status status = DF_OK;
    dnnl_primitive_desc_t direct = NULL, wino = NULL;
    int in_c = net->tensors[L->in[0]].c;
    if (dt == dnnl_f32 && winograd_eligible(L) && L->alg == ALG_UNDECIDED &&
        net->opts.conv_algo == DF_CONV_ALGO_AUTO && net->opts.autotune && in_c < WINO_MIN_MEASURED_C) {
        /* Too few input channels for Winograd's transforms to pay off. */
        L->alg = ALG_DIRECT;
        L->alg_by_rule = 1;
    }
    if (dt == dnnl_f32 && winograd_eligible(L) && L->alg != ALG_DIRECT &&
        net->opts.conv_algo != DF_CONV_ALGO_DIRECT &&
        (L->alg == ALG_WINOGRAD || net->opts.conv_algo == DF_CONV_ALGO_WINOGRAD || net->opts.autotune)) {
        if (conv_pd(net, L, batch, dt, dnnl_convolution_winograd, dst_md, &wino) != dnnl_success) wino = NULL;
    }
    if (!wino && dt == dnnl_f32 && winograd_eligible(L) && L->fused_add < 0 && in_c % 8 == 0 &&
        L->conv.out_c % 8 == 0 &&
        L->alg != ALG_DIRECT && net->opts.conv_algo != DF_CONV_ALGO_DIRECT &&
        (L->alg == ALG_OWN_WINOGRAD || net->opts.conv_algo == DF_CONV_ALGO_WINOGRAD ||
         net->opts.autotune))
        return own_choose(net, L, batch, have, pd, alg_out, err);
    if (!wino) {
        if (dt == dnnl_f32 && L->alg == ALG_UNDECIDED) L->alg = ALG_DIRECT;
        DN(conv_pd(net, L, batch, dt, dnnl_convolution_direct, dst_md, pd), "creating a direct convolution");
        *alg_out = ALG_DIRECT;
        return DF_OK;
    }
    if (L->alg == ALG_UNDECIDED && net->opts.conv_algo == DF_CONV_ALGO_AUTO && in_c >= WINO_SURE_C &&
        L->conv.out_c >= WINO_SURE_C) {
        L->alg = ALG_WINOGRAD;
        L->alg_by_rule = 1;
    } else if (L->alg == ALG_UNDECIDED && net->opts.conv_algo == DF_CONV_ALGO_AUTO) {
        DN(conv_pd(net, L, batch, dt, dnnl_convolution_direct, dst_md, &direct), "creating a direct convolution");
        status = time_conv(net, L, direct, have, NULL, &L->ms_direct, err);
        if (!status) status = time_conv(net, L, wino, have, NULL, &L->ms_winograd, err);
        if (status) goto fail;
        /* Winograd is slightly less accurate: it must win clearly, which
         * also keeps a close race from flipping between runs. */
        L->alg = L->ms_winograd < (1.0 - WINO_MARGIN) * L->ms_direct ? ALG_WINOGRAD : ALG_DIRECT;
    } else if (L->alg == ALG_UNDECIDED) {
        L->alg = ALG_WINOGRAD;
    }
    if (L->alg == ALG_WINOGRAD) {
        *pd = wino;
        wino = NULL;
    } else if (direct) {
        *pd = direct;
        direct = NULL;
    } else {
        DN(conv_pd(net, L, batch, dt, dnnl_convolution_direct, dst_md, pd), "creating a direct convolution");
    }
    *alg_out = L->alg;
fail:
    if (direct) dnnl_primitive_desc_destroy(direct);
    if (wino) dnnl_primitive_desc_destroy(wino);
    return status;
}

static dnnl_status_t pool_pd(const df_net *net, const layer *L, const dnnl_memory_desc_t *src,
                             int batch, dnnl_primitive_desc_t *pd) {
    const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
    dnnl_memory_desc_t dst;
    dnnl_dims_t dd = {batch, to->c, to->h, to->w};
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, src->data_type, dnnl_format_tag_any);
    dnnl_alg_kind_t alg;
    dnnl_dims_t strides, kernel, pl = {0, 0}, pr = {0, 0};
    if (L->kind == OP_GAP) {
        alg = dnnl_pooling_avg_exclude_padding;
        strides[0] = strides[1] = 1;
        kernel[0] = ti->h;
        kernel[1] = ti->w;
    } else {
        const df_pool2d_desc *d = &L->pool;
        alg = d->kind == DF_POOL_MAX ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
        strides[0] = d->stride_h;
        strides[1] = d->stride_w;
        kernel[0] = d->kh;
        kernel[1] = d->kw;
        pl[0] = d->pad_top;
        pl[1] = d->pad_left;
        pr[0] = d->pad_bottom;
        pr[1] = d->pad_right;
    }
    dnnl_pooling_desc_t desc;
    dnnl_status_t st =
        dnnl_pooling_forward_desc_init(&desc, dnnl_forward_inference, alg, src, &dst, strides, kernel, pl, pr);
    if (st != dnnl_success) return st;
    dnnl_primitive_attr_t attr;
    st = make_attr(DF_ACT_NONE, &attr);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_desc_create(pd, &desc, attr, net->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

static dnnl_status_t add_pd(const df_net *net, const layer *L, const dnnl_memory_desc_t *src,
                            dnnl_primitive_desc_t *pd) {
    dnnl_binary_desc_t desc;
    dnnl_status_t st = dnnl_binary_desc_init(&desc, dnnl_binary_add, src, src, src);
    if (st != dnnl_success) return st;
    dnnl_primitive_attr_t attr;
    st = make_attr(L->act, &attr);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_desc_create(pd, &desc, attr, net->engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    return st;
}

/* ---------------------------------------------------------------- planning */

/* Best fit among free slots; else grow the largest free one; else a new one.
 * Sizes are only recorded here; buffers are allocated once at the end. */
static int slot_acquire(plan *p, size_t size) {
    int best = -1, largest = -1;
    for (int s = 0; s < p->n_slots; s++) {
        if (p->slots[s].busy) continue;
        if (p->slots[s].size >= size && (best < 0 || p->slots[s].size < p->slots[best].size)) best = s;
        if (largest < 0 || p->slots[s].size > p->slots[largest].size) largest = s;
    }
    if (best < 0) best = largest;
    if (best < 0) {
        if (p->n_slots == p->cap_slots) {
            int cap = p->cap_slots ? 2 * p->cap_slots : 8;
            slot *s = realloc(p->slots, (size_t)cap * sizeof *s);
            if (!s) return -1;
            p->slots = s;
            p->cap_slots = cap;
        }
        best = p->n_slots++;
        p->slots[best].buf = NULL;
        p->slots[best].size = 0;
    }
    if (p->slots[best].size < size) p->slots[best].size = size;
    p->slots[best].busy = 1;
    return best;
}

/* A slot nobody else will share (it is never released). */
static int slot_new(plan *p) {
    if (p->n_slots == p->cap_slots) {
        int cap = p->cap_slots ? 2 * p->cap_slots : 8;
        slot *s = realloc(p->slots, (size_t)cap * sizeof *s);
        if (!s) return -1;
        p->slots = s;
        p->cap_slots = cap;
    }
    p->slots[p->n_slots] = (slot){NULL, 0, 1};
    return p->n_slots++;
}

static void note_scratch(plan *p, const_dnnl_primitive_desc_t pd) {
    size_t s = dnnl_memory_desc_get_size(pd_md(pd, dnnl_query_scratchpad_md, 0));
    if (s > p->scratch_size) p->scratch_size = s;
}

/* A reorder from tensor memory (src md) into a staging slot of md want. */
static df_status plan_pre_reorder(df_net *net, plan *p, layer_rt *r, int k, const dnnl_memory_desc_t *src,
                                  const dnnl_memory_desc_t *want, int use_slot, df_error *err) {
    df_status status = DF_OK;
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    pre_reorder *pr = &r->pre[r->n_pre];
    DN(dnnl_primitive_attr_create(&attr), "creating attributes");
    DN(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "setting scratchpad mode");
    DN(dnnl_reorder_primitive_desc_create(&rpd, src, net->engine, want, net->engine, attr),
       "creating a reorder between layers");
    note_scratch(p, rpd);
    DN(dnnl_primitive_create(&pr->prim, rpd), "creating a reorder between layers");
    DN(dnnl_memory_create(&pr->dst, want, net->engine, DNNL_MEMORY_NONE), "creating staging memory");
    size_t need = dnnl_memory_desc_get_size(want);
    pr->slot = use_slot >= 0 ? use_slot : slot_acquire(p, need);
    if (pr->slot >= 0 && p->slots[pr->slot].size < need) p->slots[pr->slot].size = need;
    if (pr->slot < 0) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory planning buffers");
        goto fail;
    }
    pr->input = k;
    r->src_use[k] = pr->dst;
    r->n_pre++;
fail:
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return status;
}

/* Layer i (a convolution) wants tensor t in format want, and t comes from a
 * convolution that picked another format. That convolution can often write
 * the wanted format itself, saving a reorder pass over the whole activation
 * (VGG16: the 3-channel first layer prefers NHWC, Winograd wants nChw16c).
 * Whether it is faster (producer as is + the reorder, vs the producer
 * writing want) is measured once and remembered; only a tensor with a
 * single consumer is refitted. */
static df_status refit_producer(df_net *net, plan *p, int i, int t, const dnnl_memory_desc_t *want,
                                df_error *err) {
    df_status status = DF_OK;
    int j = net->tensors[t].producer;
    if (j < 0 || t == net->output) return DF_OK;
    layer *Lj = &net->layers[j];
    /* A conv with a fused add writes into the residual's buffer and format. */
    if (Lj->kind != OP_CONV || Lj->refit == REFIT_NO || Lj->fused_add >= 0) return DF_OK;
    int forced = net->opts.conv_algo == DF_CONV_ALGO_WINOGRAD; /* no measurements: refit wherever possible */
    if (Lj->refit == REFIT_UNDECIDED && !net->opts.autotune && !forced) return DF_OK;
    for (int k = 0; k < net->n_layers; k++)
        for (int m = 0; k != i && m < net->layers[k].n_in; m++)
            if (net->layers[k].in[m] == t) return DF_OK;
    layer_rt *rj = &p->rt[j];
    if (rj->alg == ALG_OWN_WINOGRAD) return DF_OK; /* writes NHWC only */
    if (rj->dw_hosted || rj->dw_fused) return DF_OK; /* one primitive with its neighbour */
    dnnl_data_type_t dt = p->precision == DF_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_alg_kind_t alg = rj->alg == ALG_WINOGRAD ? dnnl_convolution_winograd : dnnl_convolution_direct;
    dnnl_primitive_desc_t alt = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t wmem = NULL;
    const dnnl_memory_desc_t *jin = &p->tmd[Lj->in[0]];
    if (conv_pd_fmt(net, Lj, p->batch, dt, alg, NULL, want, &alt) != dnnl_success) {
        if (Lj->refit == REFIT_UNDECIDED) Lj->refit = REFIT_NO;
        return DF_OK;
    }
    if (Lj->refit == REFIT_UNDECIDED && forced) Lj->refit = REFIT_YES;
    if (Lj->refit == REFIT_UNDECIDED) {
        status = time_conv(net, Lj, rj->pd, jin, want, &Lj->ms_refit_not, err);
        if (!status) status = time_conv(net, Lj, alt, jin, NULL, &Lj->ms_refit, err);
        if (status) goto fail;
        Lj->refit = Lj->ms_refit < Lj->ms_refit_not ? REFIT_YES : REFIT_NO;
    }
    if (Lj->refit == REFIT_YES) {
        /* The refitted producer may want its own input in another format:
         * redo its input reorder. Its old staging slot is free of other
         * users while it runs; a producer that had none gets a slot of its
         * own (acquiring a shared one now could overlap buffers live when
         * layer j runs). */
        const dnnl_memory_desc_t *nsrc = pd_md(alt, dnnl_query_src_md, 0);
        const dnnl_memory_desc_t *osrc = pd_md(rj->pd, dnnl_query_src_md, 0);
        if (!dnnl_memory_desc_equal(nsrc, osrc)) {
            int sl = -1;
            if (rj->n_pre) {
                sl = rj->pre[0].slot;
                dnnl_primitive_destroy(rj->pre[0].prim);
                dnnl_memory_destroy(rj->pre[0].dst);
                memset(&rj->pre[0], 0, sizeof rj->pre[0]);
                rj->n_pre = 0;
            }
            if (!dnnl_memory_desc_equal(jin, nsrc)) {
                if (sl < 0 && (sl = slot_new(p)) < 0) {
                    status = df_error_set(err, DF_ERR_NOMEM, "out of memory planning buffers");
                    goto fail;
                }
                status = plan_pre_reorder(net, p, rj, 0, jin, nsrc, sl, err);
                if (status) goto fail;
            } else {
                rj->src_use[0] = p->tmem[Lj->in[0]];
            }
        }
        const dnnl_memory_desc_t *wmd = pd_md(alt, dnnl_query_weights_md, 0), *cur;
        DN(dnnl_memory_get_memory_desc(rj->w_mem, &cur), "querying weights");
        if (!dnnl_memory_desc_equal(cur, wmd)) {
            status = reorder_weights(net, Lj, wmd, &wmem, err);
            if (status) goto fail;
        }
        DN(dnnl_primitive_create(&prim, alt), "creating a convolution");
        dnnl_memory_t tmem;
        DN(dnnl_memory_create(&tmem, want, net->engine, DNNL_MEMORY_NONE), "creating a tensor");
        dnnl_memory_destroy(p->tmem[t]);
        p->tmem[t] = tmem;
        p->tmd[t] = *want;
        size_t need = dnnl_memory_desc_get_size(want);
        if (p->slots[p->tslot[t]].size < need) p->slots[p->tslot[t]].size = need;
        if (wmem) {
            dnnl_memory_destroy(rj->w_mem);
            rj->w_mem = wmem;
            wmem = NULL;
        }
        dnnl_primitive_destroy(rj->prim);
        dnnl_primitive_desc_destroy(rj->pd);
        rj->prim = prim;
        rj->pd = alt;
        prim = NULL;
        alt = NULL;
        note_scratch(p, rj->pd);
    }
fail:
    if (prim) dnnl_primitive_destroy(prim);
    if (alt) dnnl_primitive_desc_destroy(alt);
    if (wmem) dnnl_memory_destroy(wmem);
    return status;
}

/* The weights and bias of depthwise layer j, computed by the fused
 * primitive of layer j - 1, in the formats that primitive wants (the
 * previous plan's weights when the format is the same). */
static df_status plan_dw_weights(df_net *net, plan *p, plan *old, int j, df_error *err) {
    df_status status = DF_OK;
    const layer *D = &net->layers[j];
    layer_rt *rd = &p->rt[j];
    const_dnnl_primitive_desc_t pd = p->rt[j - 1].pd;
    const dnnl_memory_desc_t *wmd = pd_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS);
    const dnnl_memory_desc_t *bmd = pd_md(pd, dnnl_query_exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS);
    if (old && old->rt[j].w_mem) {
        const dnnl_memory_desc_t *omd;
        DN(dnnl_memory_get_memory_desc(old->rt[j].w_mem, &omd), "querying weights");
        if (dnnl_memory_desc_equal(omd, wmd)) {
            rd->w_mem = old->rt[j].w_mem;
            old->rt[j].w_mem = NULL;
        }
    }
    if (!rd->w_mem) {
        status = reorder_weights(net, D, wmd, &rd->w_mem, err);
        if (status) return status;
    }
    DN(dnnl_memory_create(&rd->b_mem, bmd, net->engine, D->bias), "wrapping depthwise bias");
fail:
    return status;
}

/* Builds one layer's primitive, its input reorders and its output memory.
 * old: the previous plan, whose weights are taken when the format matches. */
static df_status plan_layer(df_net *net, plan *p, plan *old, int i, df_error *err) {
    df_status status = DF_OK;
    layer *L = &net->layers[i];
    layer_rt *r = &p->rt[i];
    dnnl_data_type_t dt = p->precision == DF_PRECISION_BF16 ? dnnl_bf16 : dnnl_f32;
    int batch = p->batch;

    if (L->fused_into >= 0) {
        /* Done by the convolution fused_into: the output is that conv's,
         * i.e. the residual's buffer, already in place. */
        int t = L->out, c = net->layers[L->fused_into].out;
        p->tmd[t] = p->tmd[c];
        DN(dnnl_memory_create(&p->tmem[t], &p->tmd[t], net->engine, DNNL_MEMORY_NONE), "creating a tensor");
        p->tslot[t] = p->tslot[c];
        goto release;
    }
    if (r->dw_hosted) goto release; /* computed by layer i - 1 (its output is in place) */

    /* The depthwise layer after a 1x1 one runs inside it when oneDNN has a
     * jit kernel for the pair (else the two run as given). */
    if (L->dw_next && net->opts.dw_fusion && dw_fused_pd(net, i, batch, dt, &r->pd) == dnnl_success) {
        r->dw_fused = 1;
        p->rt[i + 1].dw_hosted = 1;
    }

    /* The format each input is wanted in, given the producer's. */
    dnnl_memory_desc_t have0 = p->tmd[L->in[0]], want0 = have0;
    want0.data_type = dt; /* only the fp32 net input can differ, and it is plain NHWC */
    r->alg = ALG_DIRECT;
    if (L->kind == OP_CONV) {
        if (!r->dw_fused) {
            status = conv_choose(net, L, batch, dt, &have0, L->sum_src >= 0 ? &p->tmd[L->sum_src] : NULL,
                                 &r->pd, &r->alg, err);
            if (status) goto fail;
        }
        want0 = *pd_md(r->pd, dnnl_query_src_md, 0);
    } else if (L->kind == OP_POOL || L->kind == OP_GAP) {
        DN(pool_pd(net, L, &want0, batch, &r->pd), "creating a pooling");
    } else {
        DN(add_pd(net, L, &want0, &r->pd), "creating an add");
    }
    note_scratch(p, r->pd);
    DN(dnnl_primitive_create(&r->prim, r->pd), "creating a primitive");

    if (L->kind == OP_CONV && !dnnl_memory_desc_equal(&have0, &want0)) {
        status = refit_producer(net, p, i, L->in[0], &want0, err);
        if (status) goto fail;
        have0 = p->tmd[L->in[0]];
    }
    r->src_use[0] = p->tmem[L->in[0]];
    if (!dnnl_memory_desc_equal(&have0, &want0)) {
        status = plan_pre_reorder(net, p, r, 0, &have0, &want0, -1, err);
        if (status) goto fail;
    }
    if (L->kind == OP_ADD) {
        dnnl_memory_desc_t have1 = p->tmd[L->in[1]];
        r->src_use[1] = p->tmem[L->in[1]];
        if (!dnnl_memory_desc_equal(&have1, &want0)) {
            status = plan_pre_reorder(net, p, r, 1, &have1, &want0, -1, err);
            if (status) goto fail;
        }
    }

    /* Output tensor (a conv with a fused add: the residual's buffer; with a
     * fused depthwise layer: that layer's output, the 1x1's own output
     * having no memory). */
    const dnnl_memory_desc_t *dmd = pd_md(r->pd, dnnl_query_dst_md, 0);
    int out = r->dw_fused ? net->layers[i + 1].out : L->out;
    p->tmd[out] = *dmd;
    DN(dnnl_memory_create(&p->tmem[out], dmd, net->engine, DNNL_MEMORY_NONE), "creating a tensor");
    if (L->kind == OP_CONV && L->sum_src >= 0) {
        if (!dnnl_memory_desc_equal(dmd, &p->tmd[L->sum_src])) {
            status = df_error_set(err, DF_ERR_BACKEND, "oneDNN: a fused add changed the residual's format");
            goto fail;
        }
        p->tslot[L->out] = p->tslot[L->sum_src];
    } else {
        p->tslot[out] = slot_acquire(p, dnnl_memory_desc_get_size(dmd));
    }
    if (p->tslot[out] < 0) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory planning buffers");
        goto fail;
    }

    if (r->alg == ALG_OWN_WINOGRAD && df_wino_workspace_bytes(L->wino) > p->wino_ws_size)
        p->wino_ws_size = df_wino_workspace_bytes(L->wino);
    /* Weights: reuse the previous plan's when the format is the same (ours
     * keeps its own transformed filters). */
    if (L->kind == OP_CONV && r->alg != ALG_OWN_WINOGRAD) {
        const dnnl_memory_desc_t *wmd = pd_md(r->pd, dnnl_query_weights_md, 0);
        if (old && old->rt[i].w_mem) {
            const dnnl_memory_desc_t *omd;
            DN(dnnl_memory_get_memory_desc(old->rt[i].w_mem, &omd), "querying weights");
            if (dnnl_memory_desc_equal(omd, wmd)) {
                r->w_mem = old->rt[i].w_mem;
                old->rt[i].w_mem = NULL;
            }
        }
        if (!r->w_mem) {
            status = reorder_weights(net, L, wmd, &r->w_mem, err);
            if (status) goto fail;
        }
        DN(dnnl_memory_create(&r->b_mem, pd_md(r->pd, dnnl_query_weights_md, 1), net->engine, L->bias),
           "wrapping bias");
    }
    if (r->dw_fused) {
        status = plan_dw_weights(net, p, old, i + 1, err);
        if (status) goto fail;
    }

release:
    /* Staging slots live for this layer only; inputs until their last use
     * (a shared buffer: until the last use of any tensor in it, which
     * compute_liveness gave the tensor owning it). */
    for (int k = 0; k < r->n_pre; k++) p->slots[r->pre[k].slot].busy = 0;
    for (int k = 0; k < L->n_in; k++) {
        int t = L->in[k], owner = net->tensors[t].alias >= 0 ? net->tensors[t].alias : t;
        if (net->tensors[owner].last_use == i && p->tslot[t] >= 0) p->slots[p->tslot[t]].busy = 0;
    }
    return DF_OK;
fail:
    return df_error_prefix(err, "layer %d", i);
}

static void fill_args(const df_net *net, plan *p) {
    for (int i = 0; i < net->n_layers; i++) {
        const layer *L = &net->layers[i];
        layer_rt *r = &p->rt[i];
        if (!r->prim) continue; /* fused */
        for (int k = 0; k < r->n_pre; k++) {
            pre_reorder *pr = &r->pre[k];
            int t = L->in[pr->input];
            pr->args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, p->tmem[t]};
            pr->args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, pr->dst};
            pr->args[2] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch_mem};
        }
        int n = 0;
        if (L->kind == OP_ADD) {
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, r->src_use[0]};
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_1, r->src_use[1]};
        } else {
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, r->src_use[0]};
        }
        if (L->kind == OP_CONV) {
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, r->w_mem};
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, r->b_mem};
        }
        if (r->dw_fused) {
            const layer_rt *rd = &p->rt[i + 1];
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, rd->w_mem};
            r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS, rd->b_mem};
        }
        r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, p->tmem[r->dw_fused ? net->layers[i + 1].out : L->out]};
        r->args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch_mem};
        r->nargs = n;
    }
}

static df_status plan_build(df_net *net, int batch, df_precision prec, plan *old, plan **out,
                            df_error *err) {
    df_status status = DF_OK;
    *out = NULL;
    plan *p = calloc(1, sizeof *p);
    if (!p) return df_error_set(err, DF_ERR_NOMEM, "out of memory planning a net");
    p->batch = batch;
    p->precision = prec;
    p->n_layers = net->n_layers;
    p->n_tensors = net->n_tensors;
    p->rt = calloc((size_t)net->n_layers + 1, sizeof *p->rt);
    p->tmd = calloc((size_t)net->n_tensors, sizeof *p->tmd);
    p->tmem = calloc((size_t)net->n_tensors, sizeof *p->tmem);
    p->tslot = malloc((size_t)net->n_tensors * sizeof *p->tslot);
    const tensor *tin = &net->tensors[net->input], *tout = &net->tensors[net->output];
    if (!df_size_mul3((size_t)batch, (size_t)tin->h * (size_t)tin->w, (size_t)tin->c, &p->in_count) ||
        !df_size_mul3((size_t)batch, (size_t)tout->h * (size_t)tout->w, (size_t)tout->c, &p->out_count)) {
        status = df_error_set(err, DF_ERR_TOO_LARGE, "batch %d is too large for this net", batch);
        goto fail;
    }
    p->in_stage = df_alloc_aligned(p->in_count * sizeof(float));
    p->out_stage = df_alloc_aligned(p->out_count * sizeof(float));
    if (!p->rt || !p->tmd || !p->tmem || !p->tslot || !p->in_stage || !p->out_stage) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory planning a net for batch %d", batch);
        goto fail;
    }
    for (int t = 0; t < net->n_tensors; t++) p->tslot[t] = -1;

    /* The user's NHWC fp32 input and output. */
    dnnl_dims_t id = {batch, tin->c, tin->h, tin->w}, od = {batch, tout->c, tout->h, tout->w};
    dnnl_memory_desc_t imd, omd;
    DN(dnnl_memory_desc_init_by_tag(&imd, 4, id, dnnl_f32, dnnl_nhwc), "describing the input");
    DN(dnnl_memory_desc_init_by_tag(&omd, 4, od, dnnl_f32, dnnl_nhwc), "describing the output");
    DN(dnnl_memory_create(&p->in_user, &imd, net->engine, DNNL_MEMORY_NONE), "creating the input");
    DN(dnnl_memory_create(&p->out_user, &omd, net->engine, DNNL_MEMORY_NONE), "creating the output");
    p->tmd[net->input] = imd;
    p->tmem[net->input] = p->in_user;

    for (int i = 0; i < net->n_layers; i++) {
        status = plan_layer(net, p, old, i, err);
        if (status) goto fail;
    }

    {
        dnnl_primitive_desc_t rpd = NULL;
        dnnl_primitive_attr_t attr = NULL;
        dnnl_status_t st = dnnl_primitive_attr_create(&attr);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
        if (st == dnnl_success)
            st = dnnl_reorder_primitive_desc_create(&rpd, &p->tmd[net->output], net->engine, &omd,
                                                    net->engine, attr);
        if (st == dnnl_success) {
            note_scratch(p, rpd);
            st = dnnl_primitive_create(&p->out_reorder, rpd);
        }
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        if (attr) dnnl_primitive_attr_destroy(attr);
        DN(st, "creating the output reorder");
    }

    /* Allocate slots and the scratchpad, then point the memories at them. */
    for (int s = 0; s < p->n_slots; s++) {
        p->slots[s].buf = df_alloc_aligned(p->slots[s].size);
        if (!p->slots[s].buf) {
            status = df_error_set(err, DF_ERR_NOMEM, "out of memory allocating %zu bytes of activations",
                                  p->slots[s].size);
            goto fail;
        }
    }
    p->scratch = df_alloc_aligned(p->scratch_size);
    if (p->wino_ws_size && !(p->wino_ws = df_alloc_aligned(p->wino_ws_size))) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory allocating %zu bytes of Winograd "
                              "work space", p->wino_ws_size);
        goto fail;
    }
    if (!p->scratch) {
        status = df_error_set(err, DF_ERR_NOMEM, "out of memory allocating a %zu-byte scratchpad",
                              p->scratch_size);
        goto fail;
    }
    {
        dnnl_memory_desc_t smd;
        dnnl_dims_t sd = {(dnnl_dim_t)(p->scratch_size ? p->scratch_size : 1)};
        DN(dnnl_memory_desc_init_by_tag(&smd, 1, sd, dnnl_u8, dnnl_a), "describing the scratchpad");
        DN(dnnl_memory_create(&p->scratch_mem, &smd, net->engine, p->scratch), "creating the scratchpad");
    }
    for (int t = 0; t < net->n_tensors; t++)
        if (p->tslot[t] >= 0)
            DN(dnnl_memory_set_data_handle_v2(p->tmem[t], p->slots[p->tslot[t]].buf, net->stream),
               "attaching a buffer");
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < p->rt[i].n_pre; k++)
            DN(dnnl_memory_set_data_handle_v2(p->rt[i].pre[k].dst, p->slots[p->rt[i].pre[k].slot].buf,
                                              net->stream),
               "attaching a buffer");
    DN(dnnl_stream_wait(net->stream), "attaching buffers");
    fill_args(net, p);
    p->out_args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, p->tmem[net->output]};
    p->out_args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, p->out_user};
    p->out_args[2] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, p->scratch_mem};
    *out = p;
    return DF_OK;
fail:
    plan_destroy(p);
    return status;
}

/* Layer i on our Winograd: NHWC buffers of the plan, after oneDNN's queue. */
static df_status own_execute(df_net *net, plan *p, int i, df_error *err) {
    df_status status = DF_OK;
    const layer *L = &net->layers[i];
    const tensor *ti = &net->tensors[L->in[0]];
    void *x, *y;
    DN(dnnl_stream_wait(net->stream), "waiting for the net");
    DN(dnnl_memory_get_data_handle(p->rt[i].src_use[0], &x), "mapping a tensor");
    DN(dnnl_memory_get_data_handle(p->tmem[L->out], &y), "mapping a tensor");
    status = df_wino_run(L->wino, x, p->batch, ti->h, ti->w, y, p->wino_ws, err);
fail:
    return status;
}

static df_status plan_execute(df_net *net, plan *p, const float *input, float *output, df_error *err) {
    df_status status = DF_OK;
    DN(dnnl_memory_set_data_handle_v2(p->in_user, (void *)input, net->stream), "attaching the input");
    DN(dnnl_memory_set_data_handle_v2(p->out_user, output, net->stream), "attaching the output");
    for (int i = 0; i < net->n_layers; i++) {
        layer_rt *r = &p->rt[i];
        if (!r->prim) continue; /* fused into a convolution */
        for (int k = 0; k < r->n_pre; k++)
            DN(dnnl_primitive_execute(r->pre[k].prim, net->stream, 3, r->pre[k].args), "reordering");
        if (r->alg == ALG_OWN_WINOGRAD) {
            status = own_execute(net, p, i, err);
            if (status) goto fail;
            continue;
        }
        DN(dnnl_primitive_execute(r->prim, net->stream, r->nargs, r->args), "running a layer");
    }
    DN(dnnl_primitive_execute(p->out_reorder, net->stream, 3, p->out_args), "reordering the output");
    DN(dnnl_stream_wait(net->stream), "waiting for the net");
fail:
    return status;
}

/* One race sample (df_race_pick): a warm-up (the first run of a fresh plan
 * pays its page faults), then `runs` timed runs of at least DF_RACE_IMAGES
 * images each; *ms becomes the fastest of these and what it held, per
 * batch. The minimum is what a busy machine disturbs least. */
static df_status plan_time(df_net *net, plan *p, int runs, double *ms, df_error *err) {
    for (size_t i = 0; i < p->in_count; i++) p->in_stage[i] = (float)(i % 29) * 0.07f - 1.0f;
    const int reps = p->batch >= DF_RACE_IMAGES ? 1 : (DF_RACE_IMAGES + p->batch - 1) / p->batch;
    for (int it = 0; it <= runs; it++) {
        double t0 = 1e3 * df_clock_seconds();
        for (int r = 0; r < (it ? reps : 1); r++) {
            df_status st = plan_execute(net, p, p->in_stage, p->out_stage, err);
            if (st) return st;
        }
        double t = (1e3 * df_clock_seconds() - t0) / reps;
        if (it > 0 && t < *ms) *ms = t;
    }
    return DF_OK;
}

/* Builds a plan in precision prec at batch, times it (plan_time) and frees
 * it: one plan alive at a time (peak memory). */
static df_status race_sample(df_net *net, int batch, df_precision prec, plan *old, int runs, double *ms,
                             df_error *err) {
    plan *p = NULL;
    df_status st = plan_build(net, batch, prec, old, &p, err);
    if (!st) st = plan_time(net, p, runs, ms, err);
    plan_destroy(p);
    return st;
}

int df_race_pick(double ms_candidate, double ms_incumbent, double margin, int *clear) {
    /* A ratio further than CLEAR_FACTOR from the bar, either way, is beyond
     * a busy machine's error on one sample: trusted as it is (on MobileNetV2
     * capped to AVX2 the int8 race, fp32 about 1.4x faster, had cost 8 batch
     * runs, about 1.2 s of a 4.4 s training run, for a result the first pair
     * already settled). */
    const double CLEAR_FACTOR = 1.25;
    double bar = (1.0 - margin) * ms_incumbent;
    *clear = ms_candidate * CLEAR_FACTOR < bar || ms_candidate > bar * CLEAR_FACTOR;
    return ms_candidate < bar;
}

/* Readers of tensor t: how many, and the largest reader index other than skip. */
static int readers(const df_net *net, int t, int skip, int *last_other) {
    int n = 0;
    *last_other = -1;
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_in; k++)
            if (net->layers[i].in[k] == t) {
                n++;
                if (i != skip && i > *last_other) *last_other = i;
            }
    return n;
}

/* Fuses each add whose one input is a convolution output read by nothing
 * else (not the net output) into that convolution as a sum post-op: the
 * convolution accumulates into the other input's (the residual's) buffer,
 * so the add's separate pass over both tensors and its output buffer go
 * away (MobileNetV2: 10 adds). Allowed only when every other reader of the
 * residual runs before the convolution (its value is overwritten then) and
 * the residual is not the user's input or the net output. */
static void plan_fusions(df_net *net) {
    for (int a = 0; a < net->n_layers; a++) {
        layer *A = &net->layers[a];
        if (A->kind != OP_ADD || A->in[0] == A->in[1]) continue;
        /* Try the later-produced input as the convolution first. */
        int first = net->tensors[A->in[0]].producer > net->tensors[A->in[1]].producer ? 0 : 1;
        for (int m = 0; m < 2; m++) {
            int k = m == 0 ? first : 1 - first;
            int x = A->in[k], res = A->in[1 - k], j = net->tensors[x].producer, last;
            if (j < 0 || net->layers[j].kind != OP_CONV || net->layers[j].fused_add >= 0) continue;
            if (x == net->output || readers(net, x, a, &last) != 1) continue;
            if (res == net->input || res == net->output || net->tensors[res].producer >= j) continue;
            readers(net, res, a, &last);
            if (last >= j) continue;
            int root = net->tensors[res].alias >= 0 ? net->tensors[res].alias : res;
            net->layers[j].fused_add = a;
            net->layers[j].sum_src = res;
            A->fused_into = j;
            net->tensors[x].alias = root;
            net->tensors[A->out].alias = root;
            break;
        }
    }
}

/* Marks each 1x1 stride-1 unpadded convolution whose output only the next
 * layer reads, that layer being a depthwise 3x3 (multiplier 1) the oneDNN
 * depthwise post-op can express: stride s of 1 or 2, top/left pad 0 or 1,
 * and the output size and bottom/right pads oneDNN derives for the fused
 * layer (ceil(in / s); pad (out - 1) * s + 3 - in - top). Neither layer may
 * carry a fused add. MobileNetV2: its 16 expand / depthwise pairs, TFLite's
 * stride-2 ones padded 0 on top and 1 below. */
static void plan_dw_candidates(df_net *net) {
    for (int i = 0; i + 1 < net->n_layers; i++) {
        layer *L = &net->layers[i];
        const layer *D = &net->layers[i + 1];
        L->dw_next = 0;
        if (L->kind != OP_CONV || D->kind != OP_CONV || L->fused_add >= 0 || D->fused_add >= 0) continue;
        const df_conv2d_desc *c = &L->conv, *d = &D->conv;
        if (c->groups != 1 || c->kh != 1 || c->kw != 1 || c->stride_h != 1 || c->stride_w != 1 ||
            c->pad_top || c->pad_left || c->pad_bottom || c->pad_right)
            continue;
        int last, mid = L->out;
        if (D->in[0] != mid || mid == net->output || readers(net, mid, -1, &last) != 1) continue;
        const tensor *tm = &net->tensors[mid], *to = &net->tensors[D->out];
        int s = d->stride_h;
        if (d->groups != tm->c || d->out_c != tm->c || d->kh != 3 || d->kw != 3 || d->stride_w != s ||
            (s != 1 && s != 2) || d->pad_left != d->pad_top || (d->pad_top != 0 && d->pad_top != 1))
            continue;
        if (to->h != (tm->h + s - 1) / s || to->w != (tm->w + s - 1) / s ||
            d->pad_bottom != (to->h - 1) * s + 3 - tm->h - d->pad_top ||
            d->pad_right != (to->w - 1) * s + 3 - tm->w - d->pad_left)
            continue;
        L->dw_next = 1;
    }
}

static void unfuse_all(df_net *net) {
    for (int i = 0; i < net->n_layers; i++)
        net->layers[i].fused_add = net->layers[i].sum_src = net->layers[i].fused_into = -1;
    for (int t = 0; t < net->n_tensors; t++) net->tensors[t].alias = -1;
}

/* Last reader of every tensor; a buffer shared by aliases lives until the
 * last reader of any of them (recorded on the tensor owning it, which has a
 * smaller id than its aliases). */
static void compute_liveness(df_net *net) {
    for (int t = 0; t < net->n_tensors; t++) net->tensors[t].last_use = -1;
    for (int i = 0; i < net->n_layers; i++)
        for (int k = 0; k < net->layers[i].n_in; k++) net->tensors[net->layers[i].in[k]].last_use = i;
    net->tensors[net->output].last_use = INT_MAX;
    for (int t = 0; t < net->n_tensors; t++) {
        tensor *T = &net->tensors[t];
        if (T->alias >= 0 && T->last_use > net->tensors[T->alias].last_use)
            net->tensors[T->alias].last_use = T->last_use;
    }
}

static df_status reshape_plans(df_net *net, int batch, df_error *err);

df_status df_net_reshape(df_net *net, int batch, df_error *err) {
    if (net->input < 0) return df_error_set(err, DF_ERR_INVALID_ARG, "net has no input");
    if (net->output < 0) return df_error_set(err, DF_ERR_INVALID_ARG, "net has no output");
    if (batch < 1 || batch > 65536)
        return df_error_set(err, DF_ERR_INVALID_ARG, "batch %d must be in 1..65536", batch);
    if (net->fusion == FUSION_UNDECIDED) {
        plan_fusions(net);
        plan_dw_candidates(net);
        net->fusion = FUSION_ON;
    }
    compute_liveness(net);
    df_status st = reshape_plans(net, batch, err);
    if (st && net->fusion == FUSION_ON && !net->plan) {
        /* oneDNN may lack a kernel for a fused form (sum post-op in the
         * residual's format): build the net as it was given. */
        unfuse_all(net);
        net->opts.dw_fusion = 0;
        net->fusion = FUSION_OFF;
        compute_liveness(net);
        df_error e2;
        if (!reshape_plans(net, batch, &e2)) return DF_OK;
    }
    return st;
}

static df_status reshape_plans(df_net *net, int batch, df_error *err) {
    plan *old = net->plan, *p = NULL;
    df_status st;
    if (net->chosen == DF_PRECISION_AUTO && df_net_auto_is_bf16_by_rule()) {
        /* With AMX, bf16 convolutions run on the tile units (brgconv
         * kernels) and dominate fp32 by far: measured on Sapphire Rapids,
         * 1 and 2 threads, MobileNetV2 2.0-2.4x, VGG16 3.3x (fp32 with
         * Winograd). Nothing to measure, so the choice is the same every run
         * and the fp32 plan (Winograd measurements, weights) is never built. */
        net->chosen = DF_PRECISION_BF16;
        notice(net, "precision auto: bf16 (this CPU has AMX; fp32 not measured)");
    }
    if (net->chosen == DF_PRECISION_AUTO) {
        /* Time the whole net in fp32 then bf16 at a batch of at most
         * DF_RACE_IMAGES (a training run's batch of 32 doubled the race's
         * cost for the same per-image figure), one sample each, best of 3
         * only when close (df_race_pick); then build the winner at batch
         * (a plan build is milliseconds; its measured choices are kept). bf16
         * must be BF16_MARGIN faster: it costs accuracy, and a close race
         * would otherwise go either way from run to run. */
        const double BF16_MARGIN = 0.15;
        const int rb = batch < DF_RACE_IMAGES ? batch : DF_RACE_IMAGES;
        double ms32 = 1e300, ms16 = 1e300;
        int clear = 1;
        /* best of 3 asked for: three samples of each plan as it is built
         * (a plan build per precision, not two) */
        const int first = net->opts.race_best_of_3 ? 3 : 1;
        st = race_sample(net, rb, DF_PRECISION_FP32, old, first, &ms32, err);
        if (!st) st = race_sample(net, rb, DF_PRECISION_BF16, old, first, &ms16, err);
        if (!st) df_race_pick(ms16, ms32, BF16_MARGIN, &clear);
        const int best3 = first == 3 || !clear, more = first == 1 && !clear; /* two more samples each */
        if (!st && more) st = race_sample(net, rb, DF_PRECISION_FP32, old, 2, &ms32, err);
        if (!st && more) st = race_sample(net, rb, DF_PRECISION_BF16, old, 2, &ms16, err);
        if (st) return st;
        int settled;
        net->chosen = df_race_pick(ms16, ms32, BF16_MARGIN, &settled) ? DF_PRECISION_BF16 : DF_PRECISION_FP32;
        net->raced_ms = net->chosen == DF_PRECISION_BF16 ? ms16 : ms32;
        net->raced_batch = rb;
        char msg[200];
        snprintf(msg, sizeof msg,
                 "precision auto: fp32 %.3g ms, bf16 %.3g ms per batch of %d%s; using %s (bf16 only when %.0f%% "
                 "faster)",
                 ms32, ms16, rb, best3 ? " (best of 3)" : "", df_precision_name(net->chosen), BF16_MARGIN * 100);
        notice(net, msg);
    }
    st = plan_build(net, batch, net->chosen, old, &p, err);
    if (st) return st;
    plan_destroy(old);
    net->plan = p;
    return DF_OK;
}

df_status df_net_run(df_net *net, const float *input, int batch, float *output, df_error *err) {
    plan *p = net->plan;
    if (!p) return df_error_set(err, DF_ERR_INVALID_ARG, "df_net_run before df_net_reshape");
    if (batch < 1 || batch > p->batch)
        return df_error_set(err, DF_ERR_INVALID_ARG, "batch %d must be in 1..%d (the reshaped size)", batch,
                            p->batch);
    if (batch == p->batch) return plan_execute(net, p, input, output, err);
    size_t per_in = p->in_count / (size_t)p->batch, per_out = p->out_count / (size_t)p->batch;
    memcpy(p->in_stage, input, (size_t)batch * per_in * sizeof(float));
    memset(p->in_stage + (size_t)batch * per_in, 0, (size_t)(p->batch - batch) * per_in * sizeof(float));
    df_status st = plan_execute(net, p, p->in_stage, p->out_stage, err);
    if (st) return st;
    memcpy(output, p->out_stage, (size_t)batch * per_out * sizeof(float));
    return DF_OK;
}

/* ----------------------------------------------------------------- queries */

double df_net_raced_ms(const df_net *net) {
    return net->plan && net->raced_batch == net->plan->batch ? net->raced_ms : 0.0;
}

int df_net_raced(const df_net *net) { return net->raced_batch > 0; }

df_precision df_net_precision(const df_net *net) {
    if (net->plan) return net->plan->precision;
    return net->chosen;
}

int df_net_dw_fused_layers(const df_net *net) {
    int n = 0;
    for (int i = 0; net->plan && i < net->n_layers; i++) n += net->plan->rt[i].dw_hosted;
    return n;
}

int df_net_batch(const df_net *net) { return net->plan ? net->plan->batch : 0; }

int df_net_winograd_layers(const df_net *net) {
    int n = 0;
    for (int i = 0; net->plan && i < net->n_layers; i++)
        n += net->plan->rt[i].alg == ALG_WINOGRAD || net->plan->rt[i].alg == ALG_OWN_WINOGRAD;
    return n;
}

size_t df_net_workspace_bytes(const df_net *net) {
    const plan *p = net->plan;
    if (!p) return 0;
    size_t s = p->scratch_size + p->wino_ws_size + (p->in_count + p->out_count) * sizeof(float);
    for (int k = 0; k < p->n_slots; k++) s += p->slots[k].size;
    return s;
}

double df_net_flops_per_image(const df_net *net) {
    double f = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const layer *L = &net->layers[i];
        if (L->kind != OP_CONV) continue;
        const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
        f += 2.0 * to->h * to->w * to->c * L->conv.kh * L->conv.kw * (ti->c / L->conv.groups);
    }
    return f;
}

static const char *act_name(df_activation a) {
    return a == DF_ACT_RELU ? " relu" : a == DF_ACT_RELU6 ? " relu6" : "";
}

void df_net_describe(const df_net *net, char *buf, size_t size) {
    if (!size) return;
    size_t n = 0;
    buf[0] = '\0';
#define APPEND(...)                                                     \
    do {                                                                \
        if (n < size) {                                                 \
            int k_ = snprintf(buf + n, size - n, __VA_ARGS__);          \
            if (k_ > 0) n += (size_t)k_;                                \
        }                                                               \
    } while (0)
    const plan *p = net->plan;
    if (p)
        APPEND("net: %d layers, batch %d, %s, %.2f GFLOP/image\n", net->n_layers, p->batch,
               df_precision_name(p->precision), df_net_flops_per_image(net) * 1e-9);
    else
        APPEND("net: %d layers, not reshaped, %.2f GFLOP/image\n", net->n_layers,
               df_net_flops_per_image(net) * 1e-9);
    for (int i = 0; i < net->n_layers; i++) {
        const layer *L = &net->layers[i];
        const tensor *ti = &net->tensors[L->in[0]], *to = &net->tensors[L->out];
        APPEND("%3d ", i);
        switch (L->kind) {
        case OP_CONV:
            APPEND("conv2d %dx%d/%d%s%s g%d", L->conv.kh, L->conv.kw, L->conv.stride_h,
                   L->conv.groups > 1 && L->conv.groups == ti->c ? " depthwise" : "", act_name(L->act),
                   L->conv.groups);
            break;
        case OP_POOL:
            APPEND("%s %dx%d/%d", L->pool.kind == DF_POOL_MAX ? "maxpool" : "avgpool", L->pool.kh, L->pool.kw,
                   L->pool.stride_h);
            break;
        case OP_GAP: APPEND("global_avgpool"); break;
        case OP_ADD:
            APPEND("add%s", act_name(L->act));
            if (L->fused_into >= 0) APPEND(" (fused into layer %d)", L->fused_into);
            break;
        }
        APPEND("  %dx%dx%d -> %dx%dx%d", ti->h, ti->w, ti->c, to->h, to->w, to->c);
        if (p && p->rt[i].dw_fused) {
            APPEND("  (not stored)  direct, with layer %d fused (depthwise post-op)\n", i + 1);
            continue;
        }
        if (p && p->rt[i].dw_hosted) {
            char fmt[48];
            md_format_name(&p->tmd[L->out], fmt, sizeof fmt);
            APPEND("  %s  fused into layer %d\n", fmt, i - 1);
            continue;
        }
        if (p) {
            char fmt[48];
            md_format_name(&p->tmd[L->out], fmt, sizeof fmt);
            APPEND("  %s", fmt);
            if (L->kind == OP_CONV) {
                if (p->rt[i].alg == ALG_OWN_WINOGRAD)
                    APPEND("  winograd F(4x4,3x3) %s (ours)", df_wino_isa(L->wino));
                else
                    APPEND("  %s", p->rt[i].alg == ALG_WINOGRAD ? "winograd" : "direct");
                if (L->alg_by_rule && p->precision == DF_PRECISION_FP32)
                    APPEND(" (by rule: %s)", L->alg == ALG_WINOGRAD ? ">= 64 channels in and out"
                                                                       : "< 16 input channels");
                if (L->ms_direct > 0)
                    APPEND(" (measured direct %.2f ms, winograd %.2f ms)", L->ms_direct, L->ms_winograd);
                if (L->refit == REFIT_YES) APPEND(" writes the next layer's format");
                if (L->refit == REFIT_YES && L->ms_refit > 0)
                    APPEND(" (%.2f ms vs %.2f ms with a reorder)", L->ms_refit, L->ms_refit_not);
            }
            if (p->rt[i].n_pre) APPEND("  +%d reorder", p->rt[i].n_pre);
        }
        APPEND("\n");
    }
#undef APPEND
    if (n >= size && size > 4) memcpy(buf + size - 4, "...", 4);
}

int64_t df_net_num_params(const df_net *net) { return net->num_params; }
