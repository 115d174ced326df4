/*
 * Which int8 engine: one MobileNetV2 block at 56x56 (1x1 24->144, depthwise
 * 3x3 of 144, 1x1 144->24) in oneDNN 2.6's int8 convolutions (u8 input with
 * a runtime zero point, s8 weights, per-channel output scales, u8 output)
 * and in XNNPACK's QC8 operators through the integer engine (engine/qnet.h).
 * Batch 8, best of 20 in process CPU time per image (all threads; run with
 * OMP_NUM_THREADS=1 on a shared machine). DF_CPU_ISA=avx2 caps both.
 * Weights are zeros (timing only); prints oneDNN's kernel names.
 *
 *     OMP_NUM_THREADS=1 [DF_CPU_ISA=avx2] build/bench_int8_engines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/cpu.h"
#include "engine/qnet.h"

enum { N = 8, H = 56, ITERS = 20 };

static const int CFG[3][4] = {{24, 144, 1, 0}, {144, 144, 3, 1}, {144, 24, 1, 0}}; /* in, out, k, dw */

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void check(dnnl_status_t st, const char *what) {
    if (st != dnnl_success) {
        fprintf(stderr, "bench_int8_engines: oneDNN %s: status %d\n", what, (int)st);
        exit(1);
    }
}

typedef struct dlayer {
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst, zp;
} dlayer;

static void onednn_layer(dnnl_engine_t eng, int ic, int oc, int k, int dw, dlayer *L) {
    dnnl_memory_desc_t s, w, d, z;
    dnnl_dims_t sd = {N, ic, H, H}, dd = {N, oc, H, H}, zd = {1};
    check(dnnl_memory_desc_init_by_tag(&s, 4, sd, dnnl_u8, dnnl_nhwc), "src md");
    check(dnnl_memory_desc_init_by_tag(&d, 4, dd, dnnl_u8, dnnl_nhwc), "dst md");
    if (dw) {
        dnnl_dims_t wd = {oc, 1, 1, k, k};
        check(dnnl_memory_desc_init_by_tag(&w, 5, wd, dnnl_s8, dnnl_format_tag_any), "weights md");
    } else {
        dnnl_dims_t wd = {oc, ic, k, k};
        check(dnnl_memory_desc_init_by_tag(&w, 4, wd, dnnl_s8, dnnl_format_tag_any), "weights md");
    }
    dnnl_dims_t strides = {1, 1}, pad = {k / 2, k / 2};
    dnnl_convolution_desc_t cd;
    check(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                             &s, &w, NULL, &d, strides, pad, pad),
          "convolution desc");
    dnnl_primitive_attr_t attr;
    check(dnnl_primitive_attr_create(&attr), "attr");
    float *scales = malloc((size_t)oc * sizeof *scales);
    if (!scales) exit(1);
    for (int i = 0; i < oc; i++) scales[i] = 0.001f * (float)(1 + i % 7);
    check(dnnl_primitive_attr_set_output_scales(attr, oc, 2, scales), "output scales");
    const int32_t runtime_zp = DNNL_RUNTIME_S32_VAL;
    check(dnnl_primitive_attr_set_zero_points(attr, DNNL_ARG_SRC, 1, 0, &runtime_zp), "zero points");
    dnnl_primitive_desc_t pd;
    check(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL), "primitive desc");
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    printf("  oneDNN %dx%d %s %d->%d: %s\n", k, k, dw ? "depthwise" : "conv", ic, oc, impl);
    check(dnnl_memory_create(&L->src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), eng,
                             DNNL_MEMORY_ALLOCATE), "src");
    check(dnnl_memory_create(&L->wei, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                             eng, DNNL_MEMORY_ALLOCATE), "weights");
    check(dnnl_memory_create(&L->dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), eng,
                             DNNL_MEMORY_ALLOCATE), "dst");
    check(dnnl_memory_desc_init_by_tag(&z, 1, zd, dnnl_s32, dnnl_x), "zero point md");
    check(dnnl_memory_create(&L->zp, &z, eng, DNNL_MEMORY_ALLOCATE), "zero point");
    void *h;
    check(dnnl_memory_get_data_handle(L->zp, &h), "zero point");
    *(int32_t *)h = 128;
    check(dnnl_primitive_create(&L->prim, pd), "primitive");
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    free(scales);
}

static double time_onednn(void) {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    check(dnnl_engine_create(&eng, dnnl_cpu, 0), "engine");
    check(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags), "stream");
    dlayer L[3];
    for (int i = 0; i < 3; i++) onednn_layer(eng, CFG[i][0], CFG[i][1], CFG[i][2], CFG[i][3], &L[i]);
    double best = 1e300;
    for (int it = 0; it < ITERS; it++) {
        double t = cpu_ms();
        for (int i = 0; i < 3; i++) {
            dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, L[i].src},
                                       {DNNL_ARG_WEIGHTS, L[i].wei},
                                       {DNNL_ARG_DST, L[i].dst},
                                       {DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, L[i].zp}};
            check(dnnl_primitive_execute(L[i].prim, strm, 4, args), "execute");
        }
        check(dnnl_stream_wait(strm), "wait");
        t = cpu_ms() - t;
        if (t < best) best = t;
    }
    for (int i = 0; i < 3; i++) {
        dnnl_primitive_destroy(L[i].prim);
        dnnl_memory_destroy(L[i].src);
        dnnl_memory_destroy(L[i].wei);
        dnnl_memory_destroy(L[i].dst);
        dnnl_memory_destroy(L[i].zp);
    }
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return best / N;
}

static double time_xnnpack(void) {
    df_qnet *q;
    df_error err;
    df_qtensor_id x, y = -1;
    if (df_qnet_create(DF_QTYPE_S8, DF_QBACKEND_XNNPACK, &q, &err) ||
        df_qnet_input(q, H, H, CFG[0][0], (df_qparams){0.3f, 0}, &x, &err))
        goto fail;
    for (int i = 0; i < 3; i++) {
        int ic = CFG[i][0], oc = CFG[i][1], k = CFG[i][2];
        size_t nw = (size_t)oc * k * k * (CFG[i][3] ? 1 : ic);
        int8_t *w = calloc(nw, 1);
        float *ws = malloc((size_t)oc * sizeof *ws);
        if (!w || !ws) exit(1);
        for (int c = 0; c < oc; c++) ws[c] = 0.01f;
        df_qconv_desc d;
        memset(&d, 0, sizeof d);
        d.out_c = oc;
        d.kh = d.kw = k;
        d.stride_h = d.stride_w = 1;
        d.pad_top = d.pad_left = d.pad_bottom = d.pad_right = k / 2;
        d.depthwise = CFG[i][3];
        d.weights = w;
        d.weight_scale = ws;
        d.out = (df_qparams){0.1f, 0};
        d.out_min = -128;
        d.out_max = 127;
        df_status st = df_qnet_conv2d(q, x, &d, &y, &err);
        free(w);
        free(ws);
        if (st) goto fail;
        x = y;
    }
    if (df_qnet_set_output(q, y, &err) || df_qnet_reshape(q, N, &err)) goto fail;
    int8_t *in = calloc((size_t)N * H * H * CFG[0][0], 1), *out = calloc((size_t)N * H * H * CFG[2][1], 1);
    if (!in || !out) exit(1);
    double best = 1e300;
    for (int it = 0; it < ITERS; it++) {
        double t = cpu_ms();
        if (df_qnet_run_quantized(q, in, N, out, &err)) goto fail;
        t = cpu_ms() - t;
        if (t < best) best = t;
    }
    free(in);
    free(out);
    df_qnet_destroy(q);
    return best / N;
fail:
    fprintf(stderr, "bench_int8_engines: %s\n", err.message);
    exit(1);
}

int main(void) {
    df_cpu_cap_libraries();
    printf("one MobileNetV2 block at 56x56, int8, batch %d, best of %d, CPU ms per image (%s)\n", N,
           ITERS, df_cpu_isa_capped() ? "capped to AVX2" : "native");
    double d = time_onednn();
    double x = time_xnnpack();
    printf("oneDNN int8   %.3f\nXNNPACK qc8   %.3f\n", d, x);
    return 0;
}
