/*
 * The integer engine (engine/qnet.h) on both backends against a naive
 * reference of TFLite's integer kernels (support/tflite_qref.c): each op on
 * random data, uint8 per tensor and int8 per channel on both (uint8 weights
 * with a zero point, two of them outside what oneDNN's int8 weights hold,
 * as in the quantization-aware models), at most one step apart (both requantize in fp32 with
 * round-to-nearest-even, TFLite in 31-bit fixed point with round-half-away:
 * qnet.h) where the backend's sums are exact; oneDNN without VNNI (run
 * under ONEDNN_MAX_CPU_ISA=AVX2 as test_qnet_avx2) saturates and is only
 * measured. Then the shipped quantized MobileNets end to end on the photos:
 * features against the integer reference and against the float graph, the
 * classifier's top-1 against fp32, and the two backends against each other
 * on the closet validation photos, for both models. ctest runs it natively,
 * capped to AVX2 + AVX-VNNI (test_qnet_avx2_vnni: oneDNN exact there too)
 * and capped to AVX2 (test_qnet_avx2: oneDNN saturates, only measured).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backbone/backbone.h"
#include "backbone/tflite_backbone.h"
#include "backbone/tflite_int8.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/photo.h"
#include "engine/net.h"
#include "engine/qnet.h"
#include "engine/qnet_dnnl.h"
#include "image/image.h"
#include "support/shared_photos.h"
#include "support/test_support.h"
#include "support/tflite_qref.h"

#define V2_QUANT "mobilenet_v2_1.0_224_quant.tflite"
#define V2_PTQ "tf2_mobilenet_v2_1.0_224_ptq.tflite"

static int32_t rand_int(df_rng *r, int lo, int hi) {
    return lo + (int32_t)(df_rng_uniform(r) * (float)(hi - lo + 1)) % (hi - lo + 1);
}

/* Stores int32 values as the net's bytes and back. */
static void to_bytes(const int32_t *v, uint8_t *b, size_t n) {
    for (size_t k = 0; k < n; k++) b[k] = (uint8_t)v[k];
}
static int32_t from_byte(df_qtype t, uint8_t b) { return t == DF_QTYPE_U8 ? b : (int8_t)b; }

/* Max |engine - reference| over n values; counts the differing ones. */
static int compare(df_qtype t, const uint8_t *got, const int32_t *want, size_t n, size_t *ndiff) {
    int worst = 0;
    *ndiff = 0;
    for (size_t k = 0; k < n; k++) {
        int d = abs(from_byte(t, got[k]) - want[k]);
        if (d) ++*ndiff;
        if (d > worst) worst = d;
    }
    return worst;
}

typedef struct conv_case {
    int h, w, in_c, out_c, k, stride, pad, depthwise, relu6;
} conv_case;

/* Differences from the reference over a test's ops. */
typedef struct op_stats {
    size_t values, off;
    int worst;
} op_stats;

/* A convolution as the tests draw it: random weights (uint8: a zero point
 * near 128 and, as in the quantization-aware models, one weight of two
 * channels outside what oneDNN's int8 holds), bias, scales and an input
 * of parameters `in` drawn here too. */
typedef struct test_conv {
    int32_t *w, *bias;
    uint8_t *wb;
    float *ws;
    df_qparams in;
    df_qconv_desc d;
} test_conv;

static void test_conv_make(df_qtype type, const conv_case *cc, df_rng *r, test_conv *tc) {
    memset(tc, 0, sizeof *tc);
    int lo = type == DF_QTYPE_U8 ? 0 : -128, hi = lo + 255;
    int out_c = cc->depthwise ? cc->in_c : cc->out_c;
    size_t nw = (size_t)out_c * cc->k * cc->k * (cc->depthwise ? 1 : cc->in_c);
    int32_t *w = tc->w = malloc(nw * sizeof *w), *bias = tc->bias = malloc((size_t)out_c * sizeof *bias);
    uint8_t *wb = tc->wb = malloc(nw);
    float *ws = tc->ws = malloc((size_t)out_c * sizeof *ws);
    assert_true(w && bias && wb && ws);
    int32_t wzp = type == DF_QTYPE_U8 ? rand_int(r, 100, 150) : 0;
    if (wzp == 128) wzp = 127; /* so that w - wzp can leave int8 below */
    for (size_t k = 0; k < nw; k++) w[k] = wzp + rand_int(r, -100, 100);
    if (type == DF_QTYPE_U8) {
        /* A quantization-aware layer's range is set by one or two extreme
         * weights: w - wzp outside int8 for one weight of two channels (the
         * first tap of channel out_c / 2 reads padding at the edges). */
        int32_t extreme = wzp < 128 ? 255 : 0;
        size_t per = nw / (size_t)out_c;
        int o1 = out_c / 2;
        w[cc->depthwise ? nw - 1 : per - 1] = extreme;                   /* channel 0 or last */
        w[cc->depthwise ? (size_t)o1 : (size_t)o1 * per] = extreme;      /* channel o1, tap 0 */
    }
    df_qparams in = {0.0235f + 0.01f * df_rng_uniform(r), rand_int(r, lo + 100, lo + 150)};
    /* Scales of the size training picks: inputs and weights about 58 steps
     * from their zero points make an accumulator spread of sqrt(K) * 3364;
     * the weight scale makes that about 2.0 in real terms, which the output
     * scale turns into about 60 steps, or [0, 6] over 255 steps with ReLU6. */
    double k_terms = (double)cc->k * cc->k * (cc->depthwise ? 1 : cc->in_c);
    double ws_base = 2.0 / (sqrt(k_terms) * 3364.0 * in.scale);
    for (int c = 0; c < out_c; c++) {
        bias[c] = rand_int(r, -3000, 3000);
        ws[c] = (float)(type == DF_QTYPE_U8 ? ws_base : ws_base * (0.5 + df_rng_uniform(r)));
    }
    to_bytes(w, wb, nw);
    df_qparams out = cc->relu6 ? (df_qparams){6.0f / 255.0f, lo}
                               : (df_qparams){2.0f / 60.0f, rand_int(r, lo + 60, lo + 200)};
    df_qconv_desc *d = &tc->d;
    d->out_c = out_c;
    d->kh = d->kw = cc->k;
    d->stride_h = d->stride_w = cc->stride;
    d->pad_top = d->pad_left = d->pad_bottom = d->pad_right = cc->pad;
    d->depthwise = cc->depthwise;
    d->weights = wb;
    d->bias = bias;
    d->weight_scale = ws;
    d->weight_zero_point = wzp;
    d->out = out;
    d->out_min = lo;
    d->out_max = hi;
    if (cc->relu6) {
        d->out_min = out.zero_point;
        long top = out.zero_point + lroundf(6.0f / out.scale);
        d->out_max = top < hi ? (int32_t)top : hi;
    }
    tc->in = in;
}

static void test_conv_free(test_conv *tc) {
    free(tc->w);
    free(tc->bias);
    free(tc->wb);
    free(tc->ws);
}

/* The largest sum a channel of tc could reach: what the fp32 backend
 * needs within 2^24. */
static double conv_sum_bound(df_qtype type, const conv_case *cc, const test_conv *tc) {
    int out_c = cc->depthwise ? cc->in_c : cc->out_c;
    size_t per = (size_t)cc->k * cc->k * (cc->depthwise ? 1 : cc->in_c);
    int qlo = type == DF_QTYPE_U8 ? 0 : -128, zp = tc->in.zero_point;
    double xmax = zp - qlo > qlo + 255 - zp ? zp - qlo : qlo + 255 - zp, worst = 0;
    for (int o = 0; o < out_c; o++) {
        double l1 = 0;
        for (size_t k = 0; k < per; k++)
            l1 += abs(tc->w[cc->depthwise ? k * (size_t)out_c + (size_t)o : (size_t)o * per + k] -
                      tc->d.weight_zero_point);
        /* a bias past 2^24 goes in two parts, the top one after the sums */
        double lo = tc->bias[o] - (double)(float)tc->bias[o];
        double b = xmax * l1 + fabs(xmax * l1 + abs(tc->bias[o]) > 16777216.0 ? lo : (double)tc->bias[o]);
        if (b > worst) worst = b;
    }
    return worst;
}

/* A net of the one convolution tc on backend be, reshaped for batch
 * images, *y its output (may be NULL): the convolution's status (the net
 * destroyed unless DF_OK). */
static df_status conv_net(df_qtype type, df_qbackend be, const conv_case *cc, const test_conv *tc, int batch,
                          df_qnet **out, df_qtensor_id *y_out) {
    df_qnet *q;
    df_error err;
    df_qtensor_id x, y;
    assert_int_equal(df_qnet_create(type, be, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, cc->h, cc->w, cc->in_c, tc->in, &x, &err), DF_OK);
    df_status st = df_qnet_conv2d(q, x, &tc->d, &y, &err);
    if (st) {
        print_message("%s\n", err.message);
        df_qnet_destroy(q);
        return st;
    }
    assert_int_equal(df_qnet_set_output(q, y, &err), DF_OK);
    assert_int_equal(df_qnet_reshape(q, batch, &err), DF_OK);
    *out = q;
    if (y_out) *y_out = y;
    return DF_OK;
}

static void check_conv(df_qtype type, df_qbackend be, const conv_case *cc, uint64_t seed,
                       op_stats *stats) {
    df_rng r;
    df_rng_seed(&r, seed, 1);
    int out_c = cc->depthwise ? cc->in_c : cc->out_c;
    test_conv tc;
    test_conv_make(type, cc, &r, &tc);
    const df_qconv_desc d = tc.d;
    const df_qparams in = tc.in, out = d.out;
    const int32_t wzp = d.weight_zero_point, *w = tc.w, *bias = tc.bias;
    const float *ws = tc.ws;
    df_qnet *q;
    df_error err;
    df_qtensor_id y;
    enum { N = 2 };
    df_status st = conv_net(type, be, cc, &tc, N, &q, &y);
    /* the fp32 backend refuses exactly the layers whose sums could pass 2^24 */
    if (be == DF_QBACKEND_ONEDNN_F32) {
        assert_int_equal(st, conv_sum_bound(type, cc, &tc) > 16777216.0 ? DF_ERR_UNSUPPORTED : DF_OK);
        if (st) {
            test_conv_free(&tc);
            return;
        }
    }
    assert_int_equal(st, DF_OK);
    int oh, ow, oc;
    assert_int_equal(df_qnet_tensor_shape(q, y, &oh, &ow, &oc, &err), DF_OK);
    size_t nin = (size_t)cc->h * cc->w * cc->in_c, nout = (size_t)oh * ow * oc;
    int32_t *xi = malloc(N * nin * sizeof *xi), *want = malloc(N * nout * sizeof *want);
    uint8_t *xb = malloc(N * nin), *got = malloc(N * nout);
    assert_true(xi && want && xb && got);
    for (size_t k = 0; k < N * nin; k++) xi[k] = in.zero_point + rand_int(&r, -100, 100);
    to_bytes(xi, xb, N * nin);
    assert_int_equal(df_qnet_run_quantized(q, xb, N, got, &err), DF_OK);
    df_qref_conv c = {cc->h, cc->w, cc->in_c, out_c, cc->k, cc->k, cc->stride, cc->stride,
                      cc->pad, cc->pad, oh, ow, cc->depthwise, in.zero_point, wzp,
                      out.zero_point, in.scale, out.scale, ws, w, bias, d.out_min, d.out_max,
                      type == DF_QTYPE_S8};
    for (int b = 0; b < N; b++) df_qref_conv2d(&c, xi + b * nin, want + b * nout);
    size_t ndiff;
    int worst = compare(type, got, want, N * nout, &ndiff);
    size_t clamped = 0;
    for (size_t k = 0; k < N * nout; k++) clamped += want[k] == d.out_min || want[k] == d.out_max;
    print_message("%s %s %s %dx%dx%d k%d s%d p%d -> %dx%dx%d: %zu of %zu values off "
                  "(max %d steps), %zu clamped\n", df_qnet_backend_name(be),
                  type == DF_QTYPE_U8 ? "u8" : "s8", cc->depthwise ? "depthwise" : "conv", cc->h,
                  cc->w, cc->in_c, cc->k, cc->stride, cc->pad, oh, ow, oc, ndiff, N * nout, worst,
                  clamped);
    stats->values += N * nout;
    stats->off += ndiff;
    if (worst > stats->worst) stats->worst = worst;
    if (df_qnet_backend_exact(be)) {
        assert_true(worst <= 1);
        assert_true(ndiff * 100 <= N * nout); /* rare: ties and fp32 rounding only */
    }
    /* the test exercises the requantization, not only the clamp (ReLU6
     * clamps the negative half and the top) */
    assert_true(cc->relu6 ? clamped * 10 < 8 * N * nout : clamped * 4 < N * nout);
    df_qnet_destroy(q);
    test_conv_free(&tc);
    free(xi);
    free(want);
    free(xb);
    free(got);
}

static void test_conv_ops(void **state) {
    (void)state;
    static const conv_case cases[] = {
        {9, 11, 8, 16, 3, 1, 1, 0, 1},  {10, 10, 3, 32, 3, 2, 1, 0, 1},
        {7, 6, 24, 40, 1, 1, 0, 0, 0},  {12, 9, 16, 0, 3, 1, 1, 1, 1},
        {12, 12, 32, 0, 3, 2, 1, 1, 0}, {5, 5, 64, 96, 1, 1, 0, 0, 1},
        /* oneDNN u8, the fixed channels' paths: the dense 3x3 above a second
         * oneDNN convolution, 1x1 the GEMM (600: past the K the second
         * convolution is exact for), depthwise (also over taller images,
         * strides 1 and 2, below) and 3x3x64 the row buffer, 3x3x480 the
         * plain loop */
        {5, 6, 64, 16, 3, 1, 1, 0, 0},  {3, 4, 600, 24, 1, 1, 0, 0, 0},
        {4, 5, 480, 16, 3, 1, 1, 0, 0}, {36, 7, 16, 0, 3, 1, 1, 1, 1},
        {35, 9, 24, 0, 3, 2, 1, 1, 0}};
    op_stats st[6];
    memset(st, 0, sizeof st);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check_conv(DF_QTYPE_U8, DF_QBACKEND_XNNPACK, &cases[i], 10 + i, &st[0]);
        check_conv(DF_QTYPE_S8, DF_QBACKEND_XNNPACK, &cases[i], 20 + i, &st[1]);
        check_conv(DF_QTYPE_S8, DF_QBACKEND_ONEDNN, &cases[i], 20 + i, &st[2]);
        check_conv(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, &cases[i], 10 + i, &st[3]);
        check_conv(DF_QTYPE_S8, DF_QBACKEND_ONEDNN_F32, &cases[i], 20 + i, &st[4]);
        check_conv(DF_QTYPE_U8, DF_QBACKEND_ONEDNN_F32, &cases[i], 10 + i, &st[5]);
    }
    static const char *const names[6] = {"xnnpack u8", "xnnpack s8", "onednn s8", "onednn u8", "onednn-f32 s8",
                                         "onednn-f32 u8"};
    static const df_qbackend backends[6] = {DF_QBACKEND_XNNPACK, DF_QBACKEND_XNNPACK, DF_QBACKEND_ONEDNN,
                                            DF_QBACKEND_ONEDNN,  DF_QBACKEND_ONEDNN_F32, DF_QBACKEND_ONEDNN_F32};
    for (int k = 0; k < 6; k++)
        print_message("%s (oneDNN ISA %s, %s): %zu of %zu values off (%.3f%%), max %d steps\n",
                      names[k], df_qdnnl_isa_name(),
                      df_qnet_backend_exact(backends[k]) ? "exact sums" : "saturating sums",
                      st[k].off, st[k].values, 100.0 * (double)st[k].off / (double)st[k].values,
                      st[k].worst);
}

/* A small block with every layout the fp32 backend uses: a 3-channel
 * input (stored planar) through a strided 3x3, a depthwise 3x3 and a 1x1
 * (8-channel blocks), an ADD of the first and the third, a 1x1 to 32
 * channels with ReLU6 and the global pool (reading blocks); or, cut at the
 * ADD (out_at_add), an output the caller reads as NHWC, which takes the
 * ADD's inputs out of blocks too. */
static void layouts_net(df_qtype type, df_qbackend be, const test_conv tc[4], int out_at_add, df_qnet **out) {
    df_error err;
    df_qnet *q;
    df_qtensor_id x, c1, c2, c3, a, c4, g;
    const int lo = type == DF_QTYPE_U8 ? 0 : -128;
    assert_int_equal(df_qnet_create(type, be, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, 20, 18, 3, tc[0].in, &x, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, x, &tc[0].d, &c1, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, c1, &tc[1].d, &c2, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, c2, &tc[2].d, &c3, &err), DF_OK);
    assert_int_equal(df_qnet_add(q, c1, c3, (df_qparams){0.05f, lo + 120}, lo, lo + 255, &a, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, a, &tc[3].d, &c4, &err), DF_OK);
    assert_int_equal(df_qnet_global_avgpool(q, c4, (df_qparams){0.03f, lo + 10}, &g, &err), DF_OK);
    assert_int_equal(df_qnet_set_output(q, out_at_add ? a : g, &err), DF_OK);
    assert_int_equal(df_qnet_reshape(q, 4, &err), DF_OK);
    *out = q;
}

/* The fp32 backend against XNNPACK on that block, both types, 3 images in
 * a batch of 4: the same bytes. */
static void test_fp32_backend_layouts(void **state) {
    (void)state;
    static const conv_case cases[4] = {{20, 18, 3, 16, 3, 2, 1, 0, 1},
                                       {10, 9, 16, 0, 3, 1, 1, 1, 1},
                                       {10, 9, 16, 16, 1, 1, 0, 0, 0},
                                       {10, 9, 16, 32, 1, 1, 0, 0, 1}};
    enum { N = 3, NIN = 20 * 18 * 3, NADD = 10 * 9 * 16 };
    for (int t = 0; t < 2; t++) {
        const df_qtype type = t ? DF_QTYPE_S8 : DF_QTYPE_U8;
        df_rng r;
        df_rng_seed(&r, 77 + (uint64_t)t, 3);
        test_conv tc[4];
        for (int k = 0; k < 4; k++) test_conv_make(type, &cases[k], &r, &tc[k]);
        uint8_t xb[N * NIN], got[2][N * NADD];
        for (int k = 0; k < N * NIN; k++) xb[k] = (uint8_t)rand_int(&r, 0, 255);
        for (int cut = 0; cut < 2; cut++) {
            const size_t nout = (size_t)N * (cut ? NADD : 32);
            for (int b = 0; b < 2; b++) {
                df_qnet *q;
                df_error err;
                layouts_net(type, b ? DF_QBACKEND_ONEDNN_F32 : DF_QBACKEND_XNNPACK, tc, cut, &q);
                assert_int_equal(df_qnet_run_quantized(q, xb, N, got[b], &err), DF_OK);
                df_qnet_destroy(q);
            }
            size_t spread = 0; /* the outputs are not all clamped */
            for (size_t k = 1; k < nout; k++) spread += got[0][k] != got[0][0];
            assert_true(spread > nout / 2);
            assert_memory_equal(got[0], got[1], nout);
            print_message("%s, %s: %zu values, onednn-f32 = XNNPACK\n", type == DF_QTYPE_U8 ? "u8" : "s8",
                          cut ? "cut at the ADD" : "to the pool", nout);
        }
        for (int k = 0; k < 4; k++) test_conv_free(&tc[k]);
    }
}

/* Biases past 2^24 (the int8 TF2 model's first layer has 1.5e8): the fp32
 * backend adds their top part after the sums, one rounding of the whole
 * int32 as XNNPACK's conversion does; outputs about 100 steps from the
 * zero point, both signs, equal to XNNPACK's. */
static void test_fp32_backend_large_bias(void **state) {
    (void)state;
    static const conv_case cc = {6, 5, 64, 24, 1, 1, 0, 0, 0};
    enum { N = 2, NIN = 6 * 5 * 64, NOUT = 6 * 5 * 24 };
    for (int t = 0; t < 2; t++) {
        const df_qtype type = t ? DF_QTYPE_S8 : DF_QTYPE_U8;
        df_rng r;
        df_rng_seed(&r, 91 + (uint64_t)t, 4);
        test_conv tc;
        test_conv_make(type, &cc, &r, &tc);
        for (int c = 0; c < 24; c++) {
            tc.bias[c] = (c % 2 ? 1 : -1) * (33554432 + rand_int(&r, 0, 100000)); /* 2^25 + ... */
            tc.ws[c] = tc.ws[0];
        }
        /* scale so that 2^25 is about 100 steps */
        tc.d.out.scale = tc.in.scale * tc.ws[0] / 3e-6f;
        uint8_t xb[N * NIN], got[2][N * NOUT];
        for (int k = 0; k < N * NIN; k++) xb[k] = (uint8_t)rand_int(&r, 0, 255);
        for (int b = 0; b < 2; b++) {
            df_qnet *q;
            df_error err;
            assert_int_equal(conv_net(type, b ? DF_QBACKEND_ONEDNN_F32 : DF_QBACKEND_XNNPACK, &cc, &tc, N, &q, NULL), DF_OK);
            assert_int_equal(df_qnet_run_quantized(q, xb, N, got[b], &err), DF_OK);
            df_qnet_destroy(q);
        }
        int lo = 255, hi = 0;
        for (int k = 0; k < N * NOUT; k++) {
            int v = from_byte(type, got[0][k]) - tc.d.out.zero_point;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        assert_true(lo < -50 && hi > 50 && lo > -200 && hi < 200); /* neither clamped nor lost */
        assert_memory_equal(got[0], got[1], N * NOUT);
        print_message("%s: biases 2^25 + ..., outputs %d..%d steps, onednn-f32 = XNNPACK\n",
                      type == DF_QTYPE_U8 ? "u8" : "s8", lo, hi);
        test_conv_free(&tc);
    }
}

/* The fp32 backend with a 1x1 layer and the depthwise 3x3 reading it fused
 * into one oneDNN primitive (df_qf32_conv_setup_fused) against the same net
 * with DF_NO_DW_FUSION: the same bytes, and XNNPACK's. Maps large enough
 * for oneDNN to fuse under AVX2 (it fuses where the expanded map exceeds
 * about twice the threads' L2: here 19 MB; natively on AVX-512 it offers only its
 * reference chaining, which the backend does not take), depthwise strides 1
 * and 2 (TFLite's SAME: 0 above, 1 below), the 1x1's input read by it
 * alone (its buffer must not become the depthwise output's), 3 images in a
 * batch of 4. Between a 3x3 layer and a 1x1 one, as in MobileNetV2: the
 * net's input and output are NHWC, and oneDNN's jit 1x1 kernels fuse only
 * between maps in its 8-channel blocks. */
static void fused_pair_net(df_qbackend be, const conv_case *c0, const test_conv *first, const test_conv *a,
                           const test_conv *b, const test_conv *last, df_qnet **out) {
    df_error err;
    df_qnet *q;
    df_qtensor_id x, x1, mid, y, z;
    assert_int_equal(df_qnet_create(DF_QTYPE_U8, be, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, c0->h, c0->w, c0->in_c, first->in, &x, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, x, &first->d, &x1, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, x1, &a->d, &mid, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, mid, &b->d, &y, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, y, &last->d, &z, &err), DF_OK);
    assert_int_equal(df_qnet_set_output(q, z, &err), DF_OK);
    assert_int_equal(df_qnet_reshape(q, 4, &err), DF_OK);
    *out = q;
}

static void test_fp32_backend_fuses_depthwise(void **state) {
    (void)state;
    static const conv_case pairs[][2] = {{{112, 112, 16, 96, 1, 1, 0, 0, 1}, {112, 112, 96, 0, 3, 2, 0, 1, 1}},
                                         {{112, 112, 8, 96, 1, 1, 0, 0, 1}, {112, 112, 96, 0, 3, 1, 1, 1, 1}}};
    const int avx2 = !strncmp(df_qdnnl_isa_name(), "avx2", 4);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const conv_case *ca = &pairs[i][0], *cb = &pairs[i][1];
        const conv_case c0 = {ca->h, ca->w, 3, ca->in_c, 3, 1, 1, 0, 1};
        df_rng r;
        df_rng_seed(&r, 60 + i, 2);
        test_conv first, a, b, last;
        test_conv_make(DF_QTYPE_U8, &c0, &r, &first);
        test_conv_make(DF_QTYPE_U8, ca, &r, &a);
        test_conv_make(DF_QTYPE_U8, cb, &r, &b);
        a.in = first.d.out;
        b.in = a.d.out;
        if (cb->stride == 2) { /* TFLite's SAME on an even size */
            b.d.pad_top = b.d.pad_left = 0;
            b.d.pad_bottom = b.d.pad_right = 1;
        }
        enum { N = 3 };
        const int oh = (cb->h + cb->stride - 1) / cb->stride, ow = (cb->w + cb->stride - 1) / cb->stride;
        const conv_case cl = {oh, ow, cb->in_c, 24, 1, 1, 0, 0, 0};
        test_conv_make(DF_QTYPE_U8, &cl, &r, &last);
        last.in = b.d.out;
        const size_t nin = (size_t)c0.h * c0.w * c0.in_c, nout = (size_t)oh * ow * cl.out_c;
        uint8_t *x = malloc(N * nin), *y[3] = {malloc(N * nout), malloc(N * nout), malloc(N * nout)};
        assert_true(x && y[0] && y[1] && y[2]);
        for (size_t k = 0; k < N * nin; k++) x[k] = (uint8_t)(first.in.zero_point + rand_int(&r, -100, 100));
        int fused[3];
        for (int v = 0; v < 3; v++) { /* fused (if oneDNN does), unfused, XNNPACK */
            df_error err;
            df_qnet *q;
            if (v == 1) setenv("DF_NO_DW_FUSION", "1", 1);
            fused_pair_net(v == 2 ? DF_QBACKEND_XNNPACK : DF_QBACKEND_ONEDNN_F32, &c0, &first, &a, &b, &last, &q);
            unsetenv("DF_NO_DW_FUSION");
            fused[v] = df_qnet_fused_layers(q);
            assert_int_equal(df_qnet_run_quantized(q, x, N, y[v], &err), DF_OK);
            df_qnet_destroy(q);
        }
        size_t spread = 0;
        for (size_t k = 1; k < N * nout; k++) spread += y[2][k] != y[2][0];
        print_message("1x1 %dx%dx%d -> %d, depthwise stride %d: fused %d (oneDNN ISA %s), %zu values, %zu not the "
                      "first\n", ca->h, ca->w, ca->in_c, ca->out_c, cb->stride, fused[0], df_qdnnl_isa_name(),
                      N * nout, spread);
        assert_true(spread > N * nout / 2);
        assert_int_equal(fused[1], 0);
        if (avx2) assert_int_equal(fused[0], 1);
        assert_memory_equal(y[0], y[1], N * nout);
        assert_memory_equal(y[0], y[2], N * nout);
        free(x);
        for (int v = 0; v < 3; v++) free(y[v]);
        test_conv_free(&first);
        test_conv_free(&last);
        test_conv_free(&a);
        test_conv_free(&b);
    }
}

/* Runs convolutions a then b (b reading a's output) on n random inputs,
 * as one net (linked: 1) or as two (the first one's output handed to the
 * second): the outputs, and how many layers of the net copy channels out
 * for the next. */
static int run_pair(const conv_case *ca, const test_conv *a, const test_conv *b, int linked, int n,
                    const uint8_t *x, uint8_t *y) {
    df_error err;
    df_qnet *q[2] = {NULL, NULL};
    df_qtensor_id in, mid, out;
    int oh, ow, oc, gathers = 0;
    assert_int_equal(df_qnet_create(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, &q[0], &err), DF_OK);
    assert_int_equal(df_qnet_input(q[0], ca->h, ca->w, ca->in_c, a->in, &in, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q[0], in, &a->d, &mid, &err), DF_OK);
    assert_int_equal(df_qnet_tensor_shape(q[0], mid, &oh, &ow, &oc, &err), DF_OK);
    if (linked) {
        assert_int_equal(df_qnet_conv2d(q[0], mid, &b->d, &out, &err), DF_OK);
        assert_int_equal(df_qnet_set_output(q[0], out, &err), DF_OK);
    } else {
        assert_int_equal(df_qnet_set_output(q[0], mid, &err), DF_OK);
        assert_int_equal(df_qnet_create(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, &q[1], &err), DF_OK);
        assert_int_equal(df_qnet_input(q[1], oh, ow, oc, a->d.out, &in, &err), DF_OK);
        assert_int_equal(df_qnet_conv2d(q[1], in, &b->d, &out, &err), DF_OK);
        assert_int_equal(df_qnet_set_output(q[1], out, &err), DF_OK);
    }
    uint8_t *m = malloc((size_t)n * oh * ow * oc);
    assert_non_null(m);
    for (int k = 0; k < 2 && q[k]; k++) {
        assert_int_equal(df_qnet_reshape(q[k], n, &err), DF_OK);
        gathers += df_qnet_gathering_layers(q[k]);
    }
    if (linked) {
        assert_int_equal(df_qnet_run_quantized(q[0], x, n, y, &err), DF_OK);
    } else {
        assert_int_equal(df_qnet_run_quantized(q[0], x, n, m, &err), DF_OK);
        assert_int_equal(df_qnet_run_quantized(q[1], m, n, y, &err), DF_OK);
    }
    free(m);
    df_qnet_destroy(q[0]);
    df_qnet_destroy(q[1]);
    return gathers;
}

/* A depthwise layer with fixed channels (uint8 weights outside int8) whose
 * input another layer with fixed channels wrote reads them from the copy
 * that layer made on its own pass (df_qdnnl_conv_feed): the same bytes as
 * the two layers run as separate nets. After a 1x1 (MobileNetV2's expand
 * layers) and after a strided 3x3 (its first layer, the side
 * convolution), depthwise strides 1 and 2, batches of 1 and 3. */
static void test_dnnl_depthwise_reads_the_copy_the_layer_before_made(void **state) {
    (void)state;
    static const conv_case pairs[][2] = {{{12, 10, 16, 48, 1, 1, 0, 0, 1}, {12, 10, 48, 0, 3, 1, 1, 1, 1}},
                                         {{13, 11, 3, 24, 3, 2, 1, 0, 1}, {7, 6, 24, 0, 3, 2, 1, 1, 0}},
                                         {{9, 16, 8, 32, 1, 1, 0, 0, 1}, {9, 16, 32, 0, 3, 2, 1, 1, 1}}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const conv_case *ca = &pairs[i][0], *cb = &pairs[i][1];
        df_rng r;
        df_rng_seed(&r, 40 + i, 1);
        test_conv a, b;
        test_conv_make(DF_QTYPE_U8, ca, &r, &a);
        test_conv_make(DF_QTYPE_U8, cb, &r, &b);
        for (int n = 1; n <= 3; n += 2) {
            const size_t nin = (size_t)ca->h * ca->w * ca->in_c;
            const int oh = (cb->h + 2 * cb->pad - cb->k) / cb->stride + 1;
            const int ow = (cb->w + 2 * cb->pad - cb->k) / cb->stride + 1;
            const size_t nout = (size_t)oh * ow * cb->in_c;
            uint8_t *x = malloc(n * nin), *y[2] = {malloc(n * nout), malloc(n * nout)};
            assert_true(x && y[0] && y[1]);
            for (size_t k = 0; k < n * nin; k++) x[k] = (uint8_t)(a.in.zero_point + rand_int(&r, -100, 100));
            assert_int_equal(run_pair(ca, &a, &b, 0, n, x, y[0]), 0);
            assert_int_equal(run_pair(ca, &a, &b, 1, n, x, y[1]), 1);
            assert_memory_equal(y[0], y[1], n * nout);
            free(x);
            free(y[0]);
            free(y[1]);
        }
        test_conv_free(&a);
        test_conv_free(&b);
    }
}

/* The fixed channels' fast paths give the plain loops' bytes exactly
 * (DF_QFIX_ROWS=1 when a layer is built selects those). A depthwise
 * layer's by blocks of rows (float planes per stride phase,
 * fix_dw_block): strides 1 and 2, kernels 3 and 5, padded and not,
 * heights and widths that leave partial blocks and chunks, alone (reading
 * the input) and after a 1x1 that copies its fixed channels out (reading
 * that copy). A 1x1's by groups of 16 (AVX-512) or 8 (AVX2) pixels, the
 * requantization on a vector (fix_pixels_avx512/avx2): channel counts
 * with and without a tail past the vector width, pixel counts that leave
 * a partial group. Batches of 1 and 3; test_qnet_avx2 runs the AVX2
 * versions. */
static void test_dnnl_fixed_channel_paths_are_the_plain_loops(void **state) {
    (void)state;
    static const conv_case alone[] = {{36, 7, 16, 0, 3, 1, 1, 1, 1}, {35, 9, 24, 0, 3, 2, 1, 1, 0},
                                      {17, 70, 8, 0, 5, 1, 2, 1, 0}, {20, 13, 32, 0, 3, 2, 0, 1, 1},
                                      {9, 131, 16, 0, 3, 2, 1, 1, 0}, {7, 5, 24, 40, 1, 1, 0, 0, 0},
                                      {9, 9, 600, 24, 1, 1, 0, 0, 1}, {4, 8, 16, 96, 1, 1, 0, 0, 1},
                                      {6, 6, 32, 16, 1, 1, 0, 0, 0},  {3, 11, 144, 24, 1, 1, 0, 0, 0}};
    static const conv_case expand = {12, 10, 16, 48, 1, 1, 0, 0, 1};
    static const conv_case after = {12, 10, 48, 0, 3, 1, 1, 1, 1};
    const size_t cases = sizeof alone / sizeof alone[0];
    for (size_t i = 0; i <= cases; i++) {
        const int pair = i == cases;
        const conv_case *cb = pair ? &after : &alone[i];
        df_rng r;
        df_rng_seed(&r, 60 + i, 1);
        test_conv a, b;
        if (pair) test_conv_make(DF_QTYPE_U8, &expand, &r, &a);
        test_conv_make(DF_QTYPE_U8, cb, &r, &b);
        for (int n = 1; n <= 3; n += 2) {
            const conv_case *first = pair ? &expand : cb;
            const size_t nin = (size_t)first->h * first->w * first->in_c;
            const int oh = (cb->h + 2 * cb->pad - cb->k) / cb->stride + 1;
            const int ow = (cb->w + 2 * cb->pad - cb->k) / cb->stride + 1;
            const size_t nout = (size_t)oh * ow * (cb->depthwise ? cb->in_c : cb->out_c);
            uint8_t *x = malloc(n * nin), *y[2] = {malloc(n * nout), malloc(n * nout)};
            assert_true(x && y[0] && y[1]);
            const df_qparams xp = pair ? a.in : b.in;
            for (size_t k = 0; k < n * nin; k++) x[k] = (uint8_t)(xp.zero_point + rand_int(&r, -100, 100));
            for (int rows = 0; rows < 2; rows++) {
                if (rows) setenv("DF_QFIX_ROWS", "1", 1);
                df_qnet *q;
                df_error err;
                df_qtensor_id in, mid, out;
                assert_int_equal(df_qnet_create(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, &q, &err), DF_OK);
                assert_int_equal(df_qnet_input(q, first->h, first->w, first->in_c, xp, &in, &err), DF_OK);
                if (pair) assert_int_equal(df_qnet_conv2d(q, in, &a.d, &in, &err), DF_OK);
                mid = in;
                assert_int_equal(df_qnet_conv2d(q, mid, &b.d, &out, &err), DF_OK);
                assert_int_equal(df_qnet_set_output(q, out, &err), DF_OK);
                assert_int_equal(df_qnet_reshape(q, n, &err), DF_OK);
                unsetenv("DF_QFIX_ROWS");
                assert_int_equal(df_qnet_dw_block_layers(q), cb->depthwise && !rows);
                if (pair) assert_int_equal(df_qnet_gathering_layers(q), 1);
                assert_int_equal(df_qnet_run_quantized(q, x, n, y[rows], &err), DF_OK);
                df_qnet_destroy(q);
            }
            assert_memory_equal(y[0], y[1], n * nout);
            free(x);
            free(y[0]);
            free(y[1]);
        }
        if (pair) test_conv_free(&a);
        test_conv_free(&b);
    }
}

/* The input's QUANTIZE (df_qnet_run from floats) is TFLite's: round(x /
 * scale) half away from zero, plus the zero point, clamped; NaN to the
 * bottom. With a power-of-two scale (MobileNetV2 QAT's 2^-7) the engine
 * multiplies by the exact inverse instead of dividing: the same values,
 * checked here on halves, their neighbours, the range's ends and
 * non-finite inputs, on every backend's input path, with scales 2^-7, 2^3
 * and a non-power (the division). The net's output is its input,
 * dequantized: q comes back exactly. */
static void test_input_quantize(void **state) {
    (void)state;
    static const float scales[] = {0.0078125f, 8.0f, 0.0235f};
    static const df_qbackend backends[] = {DF_QBACKEND_XNNPACK, DF_QBACKEND_ONEDNN, DF_QBACKEND_ONEDNN_F32};
    enum { H = 8, W = 16, C = 3, N = 2, K = N * H * W * C };
    int nets = 0;
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
        for (size_t bi = 0; bi < sizeof backends / sizeof backends[0]; bi++)
            for (int type = 0; type < 2; type++) {
                const df_qtype t = type ? DF_QTYPE_S8 : DF_QTYPE_U8;
                const int qlo = type ? -128 : 0, qhi = qlo + 255, zp = qlo + 131;
                const float sc = scales[si];
                const df_qparams p = {sc, zp};
                df_rng r;
                df_rng_seed(&r, 70 + si, bi);
                float x[K], y[K];
                for (int k = 0; k < K; k++) {
                    const float q = (float)rand_int(&r, -140, 140) + (k % 3 == 0 ? 0.5f : 0.0f);
                    x[k] = q * sc; /* exact: halves of the grid, and its points */
                    if (k % 5 == 1) x[k] = nextafterf(x[k], k % 2 ? INFINITY : -INFINITY);
                }
                x[7] = NAN;
                x[8] = INFINITY;
                x[9] = -INFINITY;
                x[10] = 1e30f;
                df_qnet *q;
                df_error err;
                df_qtensor_id in;
                assert_int_equal(df_qnet_create(t, backends[bi], &q, &err), DF_OK);
                assert_int_equal(df_qnet_input(q, H, W, C, p, &in, &err), DF_OK);
                df_status st = df_qnet_set_output(q, in, &err);
                if (st == DF_OK) st = df_qnet_reshape(q, N, &err);
                if (st != DF_OK) { /* a backend that takes no empty net */
                    df_qnet_destroy(q);
                    continue;
                }
                assert_int_equal(df_qnet_run(q, x, N, y, &err), DF_OK);
                for (int k = 0; k < K; k++) {
                    const float v = x[k] / sc;
                    long want = isnan(v) ? qlo : v <= (float)(qlo - zp) ? qlo : v >= (float)(qhi - zp) ? qhi
                                                                          : lroundf(v) + zp;
                    want = want < qlo ? qlo : want > qhi ? qhi : want;
                    const long got = lroundf(y[k] / sc) + zp;
                    if (got != want)
                        print_message("scale %g %s %s: x %.9g -> %ld, want %ld\n", sc, df_qnet_backend_name(backends[bi]),
                                      type ? "s8" : "u8", x[k], got, want);
                    assert_int_equal(got, want);
                }
                nets++;
                df_qnet_destroy(q);
            }
    print_message("input QUANTIZE checked on %d nets\n", nets);
    assert_true(nets >= 6);
}

static void check_add_pool(df_qtype type, df_qbackend be, uint64_t seed) {
    df_rng r;
    df_rng_seed(&r, seed, 2);
    int lo = type == DF_QTYPE_U8 ? 0 : -128, hi = lo + 255;
    enum { H = 7, W = 5, C = 24, N = 2 };
    df_qparams pa = {0.40f, lo + 136}, pb = {0.275f, lo + 119}, py = {0.43f, lo + 133};
    df_qparams pg = type == DF_QTYPE_U8 ? py : (df_qparams){0.35f, lo + 100};
    df_qnet *q;
    df_error err;
    df_qtensor_id a, b, y, g;
    /* Two inputs from one: a is the input, b a 1x1 convolution of it. */
    uint8_t wb[C * C];
    int32_t wi[C * C];
    float ws[C];
    for (int k = 0; k < C * C; k++) wi[k] = k % C == k / C ? (type == DF_QTYPE_U8 ? 200 : 72) : (type == DF_QTYPE_U8 ? 128 : 0);
    to_bytes(wi, wb, C * C);
    for (int c = 0; c < C; c++) ws[c] = 0.01f;
    df_qconv_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = C;
    d.kh = d.kw = d.stride_h = d.stride_w = 1;
    d.weights = wb;
    d.weight_scale = ws;
    d.weight_zero_point = type == DF_QTYPE_U8 ? 128 : 0;
    d.out = pb;
    d.out_min = lo;
    d.out_max = hi;
    assert_int_equal(df_qnet_create(type, be, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, H, W, C, pa, &a, &err), DF_OK);
    assert_int_equal(df_qnet_conv2d(q, a, &d, &b, &err), DF_OK);
    assert_int_equal(df_qnet_add(q, a, b, py, lo, hi, &y, &err), DF_OK);
    assert_int_equal(df_qnet_global_avgpool(q, y, pg, &g, &err), DF_OK);
    assert_int_equal(df_qnet_set_output(q, g, &err), DF_OK);
    assert_int_equal(df_qnet_reshape(q, N, &err), DF_OK);
    int32_t xi[N * H * W * C], bi[H * W * C], yi[H * W * C], want[N * C];
    uint8_t xb[N * H * W * C], got[N * C];
    for (int k = 0; k < N * H * W * C; k++) xi[k] = rand_int(&r, lo, hi);
    to_bytes(xi, xb, N * H * W * C);
    assert_int_equal(df_qnet_run_quantized(q, xb, N, got, &err), DF_OK);
    df_qref_conv c = {H, W, C, C, 1, 1, 1, 1, 0, 0, H, W, 0, pa.zero_point, d.weight_zero_point,
                      pb.zero_point, pa.scale, pb.scale, ws, wi, NULL, lo, hi,
                      type == DF_QTYPE_S8};
    for (int n = 0; n < N; n++) {
        const int32_t *x = xi + n * H * W * C;
        df_qref_conv2d(&c, x, bi);
        df_qref_add(x, bi, yi, H * W * C, pa.scale, pa.zero_point, pb.scale, pb.zero_point,
                    py.scale, py.zero_point, lo, hi);
        if (type == DF_QTYPE_U8)
            df_qref_avgpool_global(yi, want + n * C, H * W, C, 0, lo, hi);
        else
            df_qref_mean_hw(yi, want + n * C, H * W, C, py.scale, py.zero_point, pg.scale,
                            pg.zero_point, lo, hi);
    }
    size_t ndiff;
    int worst = compare(type, got, want, N * C, &ndiff);
    print_message("%s %s conv + add + global pool: %zu of %d values 1 step off (max %d)\n",
                  df_qnet_backend_name(be), type == DF_QTYPE_U8 ? "u8" : "s8", ndiff, N * C,
                  worst);
    /* An add's one-step difference can move the pool by one more step at
     * most once (the pool divides a sum of 35). */
    assert_true(worst <= 1);
    df_qnet_destroy(q);
}

static void test_add_pool(void **state) {
    (void)state;
    check_add_pool(DF_QTYPE_U8, DF_QBACKEND_XNNPACK, 1);
    check_add_pool(DF_QTYPE_S8, DF_QBACKEND_XNNPACK, 2);
    check_add_pool(DF_QTYPE_S8, DF_QBACKEND_ONEDNN, 2);
    check_add_pool(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, 1);
    check_add_pool(DF_QTYPE_S8, DF_QBACKEND_ONEDNN_F32, 2);
    check_add_pool(DF_QTYPE_U8, DF_QBACKEND_ONEDNN_F32, 1);
}

/* The add alone over every pair of operand values: at most one step from
 * TFLite's fixed point. The net has one input, so the operands are its two
 * channels, each copied out exactly by a 1x1 convolution whose multiplier is
 * 1 (weight 1 at scale 1, output scale = input scale): c0 = x0 and c1 = x1
 * moved to another zero point. */
static void check_add_exhaustive(df_qtype type, df_qbackend be) {
    int lo = type == DF_QTYPE_U8 ? 0 : -128, hi = lo + 255;
    df_qparams pa = {0.401493f, lo + 136}, pb = {0.401493f, lo + 119}, py = {0.432169f, lo + 133};
    enum { N = 256 * 256 };
    df_qnet *q;
    df_error err;
    df_qtensor_id x, c0, c1, y;
    assert_int_equal(df_qnet_create(type, be, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, 256, 256, 2, pa, &x, &err), DF_OK);
    int32_t wzp = type == DF_QTYPE_U8 ? 127 : 0;
    uint8_t sel[2][2] = {{(uint8_t)(wzp + 1), (uint8_t)wzp}, {(uint8_t)wzp, (uint8_t)(wzp + 1)}};
    float wscale = 1.0f;
    df_qconv_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = 1;
    d.kh = d.kw = d.stride_h = d.stride_w = 1;
    d.weight_scale = &wscale;
    d.weight_zero_point = wzp;
    d.out_min = lo;
    d.out_max = hi;
    d.weights = sel[0];
    d.out = pa;
    assert_int_equal(df_qnet_conv2d(q, x, &d, &c0, &err), DF_OK);
    d.weights = sel[1];
    d.out = pb;
    assert_int_equal(df_qnet_conv2d(q, x, &d, &c1, &err), DF_OK);
    assert_int_equal(df_qnet_add(q, c0, c1, py, lo, hi, &y, &err), DF_OK);
    assert_int_equal(df_qnet_set_output(q, y, &err), DF_OK);
    assert_int_equal(df_qnet_reshape(q, 1, &err), DF_OK);
    uint8_t *xb = malloc(2 * N), *got = malloc(N);
    int32_t *va = malloc(N * sizeof *va), *vb = malloc(N * sizeof *vb);
    int32_t *want = malloc(N * sizeof *want);
    assert_true(xb && got && va && vb && want);
    for (int k = 0; k < N; k++) {
        xb[2 * k] = (uint8_t)(lo + k / 256);
        xb[2 * k + 1] = (uint8_t)(lo + k % 256);
        va[k] = lo + k / 256;
        int32_t v = lo + k % 256 - pa.zero_point + pb.zero_point;
        vb[k] = v < lo ? lo : v > hi ? hi : v;
    }
    assert_int_equal(df_qnet_run_quantized(q, xb, 1, got, &err), DF_OK);
    df_qref_add(va, vb, want, N, pa.scale, pa.zero_point, pb.scale, pb.zero_point, py.scale,
                py.zero_point, lo, hi);
    size_t ndiff;
    int worst = compare(type, got, want, N, &ndiff);
    print_message("%s %s add, all %d operand pairs: %zu 1 step off (max %d)\n",
                  df_qnet_backend_name(be), type == DF_QTYPE_U8 ? "u8" : "s8", N, ndiff, worst);
    assert_true(worst <= 1);
    free(xb);
    free(got);
    free(va);
    free(vb);
    free(want);
    df_qnet_destroy(q);
}

static void test_add_exhaustive(void **state) {
    (void)state;
    check_add_exhaustive(DF_QTYPE_U8, DF_QBACKEND_XNNPACK);
    check_add_exhaustive(DF_QTYPE_S8, DF_QBACKEND_XNNPACK);
    check_add_exhaustive(DF_QTYPE_S8, DF_QBACKEND_ONEDNN);
    check_add_exhaustive(DF_QTYPE_U8, DF_QBACKEND_ONEDNN);
    check_add_exhaustive(DF_QTYPE_S8, DF_QBACKEND_ONEDNN_F32);
    check_add_exhaustive(DF_QTYPE_U8, DF_QBACKEND_ONEDNN_F32);
}

static void test_errors(void **state) {
    (void)state;
    df_qnet *q;
    df_error err;
    df_qtensor_id x, y;
    /* uint8 weights on oneDNN: w - w_zp outside int8 in more channels than
     * it recomputes (here all 16) */
    assert_int_equal(df_qnet_create(DF_QTYPE_U8, DF_QBACKEND_ONEDNN, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, 4, 4, 8, (df_qparams){0.1f, 128}, &x, &err), DF_OK);
    uint8_t wu[16 * 8];
    float wus = 0.01f;
    memset(wu, 255, sizeof wu);
    df_qconv_desc du;
    memset(&du, 0, sizeof du);
    du.out_c = 16;
    du.kh = du.kw = du.stride_h = du.stride_w = 1;
    du.weights = wu;
    du.weight_scale = &wus;
    du.weight_zero_point = 0;
    du.out = (df_qparams){0.1f, 128};
    du.out_max = 255;
    assert_int_equal(df_qnet_conv2d(q, x, &du, &y, &err), DF_ERR_UNSUPPORTED);
    print_message("%s\n", err.message);
    du.weight_zero_point = 128; /* w - 128 = 127: fits */
    assert_int_equal(df_qnet_conv2d(q, x, &du, &y, &err), DF_OK);
    df_qnet_destroy(q);
    assert_int_equal(df_qnet_create(DF_QTYPE_S8, DF_QBACKEND_XNNPACK, &q, &err), DF_OK);
    assert_int_equal(df_qnet_input(q, 4, 4, 2, (df_qparams){0.0f, 0}, &x, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_qnet_input(q, 4, 4, 2, (df_qparams){0.1f, 200}, &x, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_qnet_input(q, 4, 4, 2, (df_qparams){0.1f, 0}, &x, &err), DF_OK);
    int8_t w[2 * 9] = {0};
    float ws[2] = {0.1f, 0.1f};
    df_qconv_desc d;
    memset(&d, 0, sizeof d);
    d.out_c = 2;
    d.kh = d.kw = 3;
    d.stride_h = d.stride_w = 1;
    d.weights = w;
    d.weight_scale = ws;
    d.weight_zero_point = 3; /* int8 weights are symmetric */
    d.out = (df_qparams){0.1f, 0};
    d.out_min = -128;
    d.out_max = 127;
    assert_int_equal(df_qnet_conv2d(q, x, &d, &y, &err), DF_ERR_UNSUPPORTED);
    print_message("%s\n", err.message);
    d.weight_zero_point = 0;
    d.kh = d.kw = 5; /* larger than the 4x4 input */
    assert_int_equal(df_qnet_conv2d(q, x, &d, &y, &err), DF_ERR_SHAPE);
    assert_int_equal(df_qnet_run(q, NULL, 1, NULL, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_qnet_reshape(q, 1, &err), DF_ERR_INVALID_ARG); /* no output */
    df_qnet_destroy(q);
    df_qnet_destroy(NULL);
    /* our ADD (XNNPACK's arithmetic) needs the shift of its multipliers in
     * 13..30: an input 2^11 times finer than the output is refused (by
     * XNNPACK too); the fp32 backend refuses a pool whose sums could pass
     * 2^24 (257 x 257 positions of up to 255) */
    for (int be = DF_QBACKEND_XNNPACK; be <= DF_QBACKEND_ONEDNN_F32; be++) {
        df_qtensor_id b, g;
        assert_int_equal(df_qnet_create(DF_QTYPE_U8, (df_qbackend)be, &q, &err), DF_OK);
        assert_int_equal(df_qnet_input(q, 4, 4, 2, (df_qparams){0.1f, 128}, &x, &err), DF_OK);
        df_status st = df_qnet_add(q, x, x, (df_qparams){0.1f * 2048.0f, 128}, 0, 255, &y, &err);
        assert_int_equal(st, DF_ERR_UNSUPPORTED);
        print_message("%s: %s\n", df_qnet_backend_name((df_qbackend)be), err.message);
        assert_int_equal(df_qnet_add(q, x, x, (df_qparams){0.3f, 128}, 0, 255, &b, &err), DF_OK);
        df_qnet_destroy(q);
        assert_int_equal(df_qnet_create(DF_QTYPE_U8, (df_qbackend)be, &q, &err), DF_OK);
        assert_int_equal(df_qnet_input(q, 257, 257, 2, (df_qparams){0.1f, 128}, &x, &err), DF_OK);
        st = df_qnet_global_avgpool(q, x, (df_qparams){0.1f, 128}, &g, &err);
        assert_int_equal(st, be == DF_QBACKEND_ONEDNN_F32 ? DF_ERR_UNSUPPORTED : DF_OK);
        if (st) print_message("%s: %s\n", df_qnet_backend_name((df_qbackend)be), err.message);
        df_qnet_destroy(q);
    }
}

/* ---- the shipped models ---- */




static int argmax(const float *p, size_t n) {
    size_t b = 0;
    for (size_t k = 1; k < n; k++)
        if (p[k] > p[b]) b = k;
    return (int)b;
}

static const char *PHOTOS[] = {"bird.bmp", "cat.bmp", "grace_hopper.bmp", "hot_dog.jpg",
                               "owl.jpg", "parrot.jpg", "sunflower.bmp"};
enum { NP = sizeof PHOTOS / sizeof PHOTOS[0], F = 1280, K = 1001 };

static void check_model(const char *shared, const char *file) {
    char *path = df_test_shared_path(shared, "models", file);
    df_tflite_model *m;
    df_error err;
    assert_int_equal(df_tflite_load(path, &m, &err), DF_OK);
    int feat = df_tflite_feature_tensor(m);
    assert_true(feat >= 0);
    const df_tflite_tensor *ft = &m->tensors[feat];
    const df_tflite_tensor *in = &m->tensors[m->inputs[0]];
    assert_int_equal(in->type, DF_TFLITE_UINT8);
    df_backbone *bb[2];
    df_tflite_classifier *cl[2];
    for (int p = 0; p < 2; p++) {
        df_backbone_options o = df_backbone_options_default();
        o.precision = p ? DF_PRECISION_INT8 : DF_PRECISION_FP32;
        o.autotune = 0;
        o.max_batch = NP;
        assert_int_equal(df_tflite_backbone_from_model(m, "m", &o, &bb[p], &err), DF_OK);
        assert_int_equal(df_tflite_classifier_from_model(m, &o, &cl[p], &err), DF_OK);
    }
    assert_int_equal(df_backbone_precision(bb[1]), DF_PRECISION_INT8);
    assert_int_equal(df_tflite_classifier_precision(cl[1]), DF_PRECISION_INT8);
    assert_int_equal(bb[0]->num_params, bb[1]->num_params);
    float *x = malloc((size_t)NP * 224 * 224 * 3 * sizeof *x);
    uint8_t *px = malloc((size_t)NP * 224 * 224 * 3);
    int32_t *xi = malloc(224 * 224 * 3 * sizeof *xi), *ri = malloc(F * sizeof *ri);
    float *f[2], *pr[2], *ref = malloc((size_t)NP * F * sizeof *ref);
    assert_true(x && xi && ri && ref);
    for (int p = 0; p < 2; p++) {
        f[p] = malloc((size_t)NP * F * sizeof(float));
        pr[p] = malloc((size_t)NP * K * sizeof(float));
        assert_true(f[p] && pr[p]);
    }
    for (int i = 0; i < NP; i++) {
        df_image img;
        df_test_load_imagenet_224(shared, PHOTOS[i], &img);
        assert_int_equal(df_backbone_preprocess(bb[0], &img, x + (size_t)i * 224 * 224 * 3, &err),
                         DF_OK);
        for (int k = 0; k < 224 * 224 * 3; k++) xi[k] = img.pixels[k];
        memcpy(px + (size_t)i * 224 * 224 * 3, img.pixels, 224 * 224 * 3);
        df_image_free(&img);
        char why[256];
        int rc = df_qref_run(m, feat, xi, ri, why, sizeof why);
        if (rc) print_message("reference: %s\n", why);
        assert_int_equal(rc, 0);
        for (int k = 0; k < F; k++)
            ref[(size_t)i * F + k] = ft->quant.scale[0] * (float)(ri[k] - ft->quant.zero_point[0]);
    }
    for (int p = 0; p < 2; p++) {
        assert_int_equal(df_backbone_run(bb[p], x, NP, f[p], &err), DF_OK);
        assert_int_equal(df_tflite_classifier_run(cl[p], x, NP, pr[p], &err), DF_OK);
    }
    /* The integer engine takes the pixels themselves (the photo pipeline's
     * path) with the same result bit for bit, in one batch and in two
     * uneven ones; the float engine does not take them. */
    assert_false(df_backbone_takes_pixels(bb[0]));
    assert_int_equal(df_backbone_run_pixels(bb[0], px, NP, pr[0], &err), DF_ERR_INVALID_ARG);
    assert_true(df_backbone_takes_pixels(bb[1]));
    float *fp = malloc((size_t)NP * F * sizeof *fp);
    assert_non_null(fp);
    assert_int_equal(df_backbone_run_pixels(bb[1], px, NP, fp, &err), DF_OK);
    assert_memory_equal(fp, f[1], (size_t)NP * F * sizeof *fp);
    memset(fp, 0, (size_t)NP * F * sizeof *fp);
    assert_int_equal(df_backbone_run_pixels(bb[1], px, 3, fp, &err), DF_OK);
    assert_int_equal(df_backbone_run_pixels(bb[1], px + 3 * 224 * 224 * 3, NP - 3, fp + 3 * F, &err), DF_OK);
    assert_memory_equal(fp, f[1], (size_t)NP * F * sizeof *fp);
    free(fp);
    for (int i = 0; i < NP; i++) {
        const float *fi = f[1] + (size_t)i * F, *r = ref + (size_t)i * F;
        int worst = 0, ndiff = 0;
        for (int k = 0; k < F; k++) {
            int d = (int)lroundf(fabsf(fi[k] - r[k]) / ft->quant.scale[0]);
            ndiff += d != 0;
            if (d > worst) worst = d;
        }
        double c_ref = df_test_cosine(fi, r, F), c_f32 = df_test_cosine(fi, f[0] + (size_t)i * F, F);
        double c_rf = df_test_cosine(r, f[0] + (size_t)i * F, F);
        int t32 = argmax(pr[0] + (size_t)i * K, K), t8 = argmax(pr[1] + (size_t)i * K, K);
        print_message("%s %-17s int8 vs integer reference: cosine %.6f, %d of %d features "
                      "differ (max %d steps); vs fp32 graph %.5f (reference vs fp32 %.5f); top-1 fp32 %d "
                      "int8 %d\n", file, PHOTOS[i], c_ref, ndiff, F, worst, c_f32, c_rf, t32, t8);
        assert_true(c_ref >= 0.995);
        assert_true(c_f32 >= 0.99);
        assert_int_equal(t32, t8);
    }
    for (int p = 0; p < 2; p++) {
        free(f[p]);
        free(pr[p]);
        df_backbone_destroy(bb[p]);
        df_tflite_classifier_destroy(cl[p]);
    }
    free(x);
    free(px);
    free(xi);
    free(ri);
    free(ref);
    df_tflite_destroy(m);
    free(path);
}

static void test_shipped_models(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    check_model(shared, V2_QUANT);
    check_model(shared, V2_PTQ);
}

/* ---- the two backends on the int8 model, closet validation photos ---- */

enum { CB = 7 }; /* photos per batch */

typedef struct closet_run {
    const df_tflite_model *m;
    int feat;
    df_backbone *f32;       /* preprocessing and the float graph's features */
    df_qnet *q[2];          /* XNNPACK, oneDNN */
    float *x, *f[3];        /* CB images; features of XNNPACK, oneDNN, fp32 */
    double worst_cos, worst_f32, worst_ref;
    int worst_steps, photos, refs;
} closet_run;

static void load_photo_224(const char *path, df_image *out) {
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = 224;
    df_image img;
    df_error err;
    df_status st = df_image_load(path, &lo, &img, &err);
    if (st) fail_msg("%s", err.message);
    assert_int_equal(df_image_resize(&img, 224, 224, DF_RESIZE_BILINEAR, out, &err), DF_OK);
    df_image_free(&img);
}

/* The integer reference's features of one photo (slow: for a few). */
static double cosine_to_reference(const closet_run *c, const df_image *img, const float *f) {
    int32_t *xi = malloc(224 * 224 * 3 * sizeof *xi), *ri = malloc(F * sizeof *ri);
    float *ref = malloc(F * sizeof *ref);
    assert_true(xi && ri && ref);
    for (int k = 0; k < 224 * 224 * 3; k++) xi[k] = img->pixels[k];
    char why[256];
    assert_int_equal(df_qref_run(c->m, c->feat, xi, ri, why, sizeof why), 0);
    const df_tflite_tensor *ft = &c->m->tensors[c->feat];
    for (int k = 0; k < F; k++)
        ref[k] = ft->quant.scale[0] * (float)(ri[k] - ft->quant.zero_point[0]);
    double cos = df_test_cosine(f, ref, F);
    free(xi);
    free(ri);
    free(ref);
    return cos;
}

static void closet_batch(closet_run *c, const df_dataset *ds, int first, int n) {
    df_error err;
    df_image img[CB];
    for (int i = 0; i < n; i++) {
        load_photo_224(ds->items[first + i].path, &img[i]);
        assert_int_equal(df_backbone_preprocess(c->f32, &img[i], c->x + (size_t)i * 224 * 224 * 3,
                                                &err), DF_OK);
    }
    for (int b = 0; b < 2; b++) assert_int_equal(df_qnet_run(c->q[b], c->x, n, c->f[b], &err), DF_OK);
    assert_int_equal(df_backbone_run(c->f32, c->x, n, c->f[2], &err), DF_OK);
    float step = c->m->tensors[c->feat].quant.scale[0];
    for (int i = 0; i < n; i++) {
        const float *fx = c->f[0] + (size_t)i * F, *fd = c->f[1] + (size_t)i * F;
        int worst = 0, ndiff = 0;
        for (int k = 0; k < F; k++) {
            int d = (int)lroundf(fabsf(fx[k] - fd[k]) / step);
            ndiff += d != 0;
            if (d > worst) worst = d;
        }
        double cos = df_test_cosine(fd, fx, F), c32 = df_test_cosine(fd, c->f[2] + (size_t)i * F, F);
        /* the reference for the first photo of each batch (seconds each) */
        double cref = i == 0 ? cosine_to_reference(c, &img[i], fd) : 2.0;
        const char *name = strrchr(ds->items[first + i].path, '/');
        print_message("  %-42s oneDNN vs XNNPACK cosine %.6f, %4d of %d features differ (max %d "
                      "steps); oneDNN vs fp32 graph %.5f", name ? name + 1 : "", cos, ndiff, F,
                      worst, c32);
        if (cref <= 1.0) print_message("; oneDNN vs integer reference %.6f", cref);
        print_message("\n");
        if (cos < c->worst_cos) c->worst_cos = cos;
        if (c32 < c->worst_f32) c->worst_f32 = c32;
        if (cref < c->worst_ref) c->worst_ref = cref;
        if (worst > c->worst_steps) c->worst_steps = worst;
        c->refs += cref <= 1.0;
        c->photos++;
        df_image_free(&img[i]);
    }
}

/* oneDNN against XNNPACK (TFLite's own CPU engine) on a quantized model,
 * per photo; and the rule of df_tflite_qnet_build: oneDNN exactly where its
 * sums are exact. */
static void check_backends_closet(const char *shared, const char *file) {
    char *path = df_test_shared_path(shared, "models", file), val[1024];
    snprintf(val, sizeof val, "%s/datasets/closet/validation", shared);
    df_tflite_model *m;
    df_error err;
    assert_int_equal(df_tflite_load(path, &m, &err), DF_OK);
    closet_run c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.feat = df_tflite_feature_tensor(m);
    c.worst_cos = c.worst_f32 = c.worst_ref = 2.0;
    assert_true(c.feat >= 0);
    int exact = df_qnet_backend_exact(DF_QBACKEND_ONEDNN);
    if (!getenv("DF_INT8_ENGINE")) {
        df_qnet *picked;
        assert_int_equal(df_tflite_qnet_build(m, c.feat, &picked, &err), DF_OK);
        /* without VNNI: the fp32 backend for the uint8 model (per-tensor
         * scales), XNNPACK for the int8 one */
        assert_int_equal(df_qnet_backend(picked), exact                     ? DF_QBACKEND_ONEDNN
                                                  : !strcmp(file, V2_QUANT) ? DF_QBACKEND_ONEDNN_F32
                                                                            : DF_QBACKEND_XNNPACK);
        df_qnet_destroy(picked);
    }
    for (int b = 0; b < 2; b++) {
        df_qbackend be = b ? DF_QBACKEND_ONEDNN : DF_QBACKEND_XNNPACK;
        assert_int_equal(df_tflite_qnet_build_on(m, c.feat, be, &c.q[b], &err), DF_OK);
        assert_int_equal(df_qnet_reshape(c.q[b], CB, &err), DF_OK);
    }
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.max_batch = CB;
    assert_int_equal(df_tflite_backbone_from_model(m, "m", &o, &c.f32, &err), DF_OK);
    c.x = malloc((size_t)CB * 224 * 224 * 3 * sizeof *c.x);
    for (int k = 0; k < 3; k++) c.f[k] = malloc((size_t)CB * F * sizeof(float));
    assert_true(c.x && c.f[0] && c.f[1] && c.f[2]);
    df_dataset *ds;
    assert_int_equal(df_dataset_scan(val, NULL, &ds, &err), DF_OK);
    print_message("%s, closet validation, oneDNN ISA %s (%s sums):\n", file, df_qdnnl_isa_name(),
                  exact ? "exact" : "saturating");
    for (int first = 0; first < ds->count; first += CB)
        closet_batch(&c, ds, first, ds->count - first < CB ? ds->count - first : CB);
    print_message("%d photos: oneDNN vs XNNPACK cosine >= %.6f (max %d steps), vs fp32 graph "
                  ">= %.5f, vs the integer reference >= %.6f (%d photos)\n", c.photos,
                  c.worst_cos, c.worst_steps, c.worst_f32, c.worst_ref, c.refs);
    assert_int_equal(c.photos, 21);
    /* With exact sums oneDNN's features are XNNPACK's bit for bit, on both
     * models (the same fp32 requantization, the zero point added after the
     * rounding; the same ADD), and both are within one step of TFLite's
     * reference kernels per op, 0.997-0.999 from them end to end (the
     * 1-step differences of a rounding grow through the layers). Without
     * VNNI oneDNN saturates (measured cosine 0.89-0.99 to XNNPACK), which is
     * why the rule above never picks it there. */
    if (exact) {
        assert_int_equal(c.worst_steps, 0);
        assert_true(c.worst_cos >= 0.995);
        assert_true(c.worst_ref >= 0.995);
        assert_true(c.worst_f32 >= 0.99);
    }
    df_dataset_free(ds);
    for (int k = 0; k < 3; k++) free(c.f[k]);
    free(c.x);
    df_backbone_destroy(c.f32);
    for (int b = 0; b < 2; b++) df_qnet_destroy(c.q[b]);
    df_tflite_destroy(m);
    free(path);
}

static void test_backends_closet(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    check_backends_closet(shared, V2_PTQ);
    check_backends_closet(shared, V2_QUANT);
}

/* The fp32 backend runs TFLite's integer arithmetic exactly (every sum
 * within 2^24; the int8 model's first layer has biases of 1.5e8, added
 * after the sums) with XNNPACK's requantization and ADD: on both models
 * its features are XNNPACK's (TFLite's runtime's) bit for bit, over the 7
 * ImageNet photos and the 21 closet validation photos in batches of 4,
 * and one by one (at batch 1 the 16-bit pair kernels take the 1x1 layers
 * up to 56x56, at 4 up to 28x28: qnet_f32.c). */
static void check_fp32_backend_is_xnnpack(const char *shared, const char *file) {
    char *path = df_test_shared_path(shared, "models", file), val[1024];
    df_tflite_model *m;
    df_error err;
    df_qnet *q[3];
    assert_int_equal(df_tflite_load(path, &m, &err), DF_OK);
    const df_qbackend be[3] = {DF_QBACKEND_XNNPACK, DF_QBACKEND_ONEDNN_F32, DF_QBACKEND_ONEDNN_F32};
    const int batch[3] = {4, 4, 1};
    for (int b = 0; b < 3; b++) {
        assert_int_equal(df_tflite_qnet_build_on(m, df_tflite_feature_tensor(m), be[b], &q[b], &err), DF_OK);
        assert_int_equal(df_qnet_reshape(q[b], batch[b], &err), DF_OK);
    }
    snprintf(val, sizeof val, "%s/datasets/closet/validation", shared);
    df_dataset *ds;
    assert_int_equal(df_dataset_scan(val, NULL, &ds, &err), DF_OK);
    const int total = NP + ds->count;
    uint8_t *px = malloc((size_t)total * 224 * 224 * 3);
    float *f[3] = {malloc((size_t)total * F * sizeof(float)), malloc((size_t)total * F * sizeof(float)),
                   malloc((size_t)total * F * sizeof(float))};
    assert_true(px && f[0] && f[1] && f[2]);
    for (int i = 0; i < total; i++) {
        df_image img;
        if (i < NP) df_test_load_imagenet_224(shared, PHOTOS[i], &img);
        else load_photo_224(ds->items[i - NP].path, &img);
        memcpy(px + (size_t)i * 224 * 224 * 3, img.pixels, 224 * 224 * 3);
        df_image_free(&img);
    }
    for (int b = 0; b < 3; b++)
        for (int first = 0; first < total; first += batch[b]) {
            const int n = total - first < batch[b] ? total - first : batch[b];
            assert_int_equal(df_qnet_run_bytes(q[b], px + (size_t)first * 224 * 224 * 3, n, f[b] + (size_t)first * F,
                                               &err),
                             DF_OK);
        }
    assert_memory_equal(f[0], f[1], (size_t)total * F * sizeof(float));
    assert_memory_equal(f[0], f[2], (size_t)total * F * sizeof(float));
    print_message("%s: %d photos, onednn-f32 features = XNNPACK's, bit for bit (batches of 4 and 1)\n", file, total);
    free(px);
    for (int b = 0; b < 3; b++) {
        free(f[b]);
        df_qnet_destroy(q[b]);
    }
    df_dataset_free(ds);
    df_tflite_destroy(m);
    free(path);
}

static void test_fp32_backend_is_xnnpack_bit_for_bit(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    check_fp32_backend_is_xnnpack(shared, V2_QUANT);
    check_fp32_backend_is_xnnpack(shared, V2_PTQ);
}

/* The photo pipeline (df_photo_features: load, fit, batches) hands the
 * integer engine the photos' pixels instead of preprocessed floats
 * (df_backbone_takes_pixels); its features must be those of the float
 * route, photo by photo, bit for bit: the closet validation photos in
 * batches of 4 (the last one short). */
static void check_photo_pixels(const char *shared, const char *file) {
    char *path = df_test_shared_path(shared, "models", file), val[1024];
    snprintf(val, sizeof val, "%s/datasets/closet/validation", shared);
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_INT8;
    o.autotune = 0;
    o.max_batch = 4;
    df_backbone *bb;
    df_error err;
    assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
    assert_true(df_backbone_takes_pixels(bb));
    df_dataset *ds;
    df_scan_options so = df_scan_options_default();
    assert_int_equal(df_dataset_scan(val, &so, &ds, &err), DF_OK);
    const df_resize_method resize = df_photo_resize(bb, -1);
    enum { SIX = 6 }; /* more than the batch: df_backbone_run_pixels runs it in chunks */
    float *fast = NULL, *x = malloc(224 * 224 * 3 * sizeof *x), *one = malloc(F * sizeof *one);
    float *six = malloc(SIX * F * sizeof *six);
    uint8_t *px = malloc(SIX * 224 * 224 * 3);
    assert_true(x && one && six && px);
    assert_int_equal(df_photo_features(bb, ds, resize, NULL, &fast, &err), DF_OK);
    for (int i = 0; i < ds->count; i++) {
        df_image img;
        assert_int_equal(df_photo_load(bb, ds->items[i].path, resize, &img, &err), DF_OK);
        assert_int_equal(df_backbone_preprocess(bb, &img, x, &err), DF_OK);
        assert_int_equal(df_backbone_run(bb, x, 1, one, &err), DF_OK);
        assert_memory_equal(one, fast + (size_t)i * F, F * sizeof *one);
        if (i < SIX) memcpy(px + (size_t)i * 224 * 224 * 3, img.pixels, 224 * 224 * 3);
        df_image_free(&img);
    }
    assert_int_equal(df_backbone_run_pixels(bb, px, SIX, six, &err), DF_OK);
    assert_memory_equal(six, fast, SIX * F * sizeof *six);
    free(six);
    free(px);
    print_message("%s: %d photos through the pixel route = the float route, bit for bit\n", file, ds->count);
    free(fast);
    free(x);
    free(one);
    df_dataset_free(ds);
    df_backbone_destroy(bb);
    free(path);
}

static void test_photo_pixels(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    check_photo_pixels(shared, V2_QUANT);
    check_photo_pixels(shared, V2_PTQ);
}

static void on_notice(void *ctx, const char *msg) {
    char *seen = ctx;
    if (strstr(msg, "precision auto: int8")) snprintf(seen, 256, "%s", msg);
}

/* --precision auto on a quantized model races int8 against the float
 * engine and says so, except where bf16 has AMX (then bf16, int8 not
 * measured, and it says so); the resolved precision, named and parsed back
 * (as a model file records it), builds an engine giving the same features.
 * ctest runs this a second time capped to AVX2 (test_qnet_avx2), so an
 * AMX machine checks both branches. */
static void check_auto_race(const char *shared, const char *model) {
    char *path = df_test_shared_path(shared, "models", model);
    char seen[256] = "";
    df_backbone_options o = df_backbone_options_default();
    o.autotune = 0;
    o.max_batch = 2;
    o.notice = on_notice;
    o.notice_ctx = seen;
    df_backbone *bb, *again;
    df_error err;
    assert_int_equal(df_backbone_open("tflite", path, &o, &bb, &err), DF_OK);
    print_message("%s\n", seen);
    df_precision p = df_backbone_precision(bb), q;
    /* the rule skips the race where bf16 has AMX and the integer engine
     * would be XNNPACK (oneDNN without VNNI, or DF_INT8_ENGINE=xnnpack);
     * on oneDNN both models are raced */
    df_tflite_model *m;
    assert_int_equal(df_tflite_load(path, &m, &err), DF_OK);
    int skipped = df_tflite_qnet_backend(m) == DF_QBACKEND_XNNPACK;
    assert_int_equal(df_tflite_is_uint8(m), !strcmp(model, V2_QUANT));
    df_tflite_destroy(m);
    print_message("%s: %s\n", model, seen);
    if (df_net_auto_is_bf16_by_rule() && skipped) {
        assert_non_null(strstr(seen, "int8 not measured"));
        assert_int_equal(p, DF_PRECISION_BF16);
    } else {
        assert_non_null(strstr(seen, "per batch of 2"));
    }
    assert_true(p == DF_PRECISION_INT8 || p == DF_PRECISION_FP32 || p == DF_PRECISION_BF16);
    assert_int_equal(df_precision_parse(df_precision_name(p), &q, &err), DF_OK);
    assert_int_equal(q, p);
    o.precision = q;
    o.notice = NULL;
    assert_int_equal(df_backbone_open("tflite", path, &o, &again, &err), DF_OK);
    assert_int_equal(df_backbone_precision(again), p);
    df_image img;
    df_test_load_imagenet_224(shared, "parrot.jpg", &img);
    float *x = malloc(2 * 224 * 224 * 3 * sizeof *x), f[2][2 * F];
    assert_non_null(x);
    assert_int_equal(df_backbone_preprocess(bb, &img, x, &err), DF_OK);
    memcpy(x + 224 * 224 * 3, x, 224 * 224 * 3 * sizeof *x);
    assert_int_equal(df_backbone_run(bb, x, 2, f[0], &err), DF_OK);
    assert_int_equal(df_backbone_run(again, x, 2, f[1], &err), DF_OK);
    assert_memory_equal(f[0], f[1], sizeof f[0]);
    df_image_free(&img);
    free(x);
    free(path);
    df_backbone_destroy(bb);
    df_backbone_destroy(again);
}

/* Both shipped models: natively with AMX both are raced on oneDNN (not
 * where the integer engine would be XNNPACK). */
static void test_auto_race(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    check_auto_race(shared, V2_QUANT);
    check_auto_race(shared, V2_PTQ);
}

/* df_qsplit_chunk: tasks a multiple of the alignment, none above the cap,
 * covering n, one per thread where the items allow; the shares of MobileNetV2's
 * maps on 2 threads that motivated it (a 14x14 map at batch 1 had been one
 * task of 256 pixels, a 56x56 one 13 tasks). */
static void test_split_chunk(void **state) {
    (void)state;
#ifdef _OPENMP
    const int saved = omp_get_max_threads();
    static const size_t ns[] = {1, 15, 16, 49, 196, 784, 3136, 25088, 75264, 1000003};
    for (int t = 1; t <= 4; t++) {
        omp_set_num_threads(t);
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            const size_t caps[2][2] = {{256, 16}, {8192, 64}};
            for (int k = 0; k < 2; k++) {
                const size_t n = ns[i], cap = caps[k][0], align = caps[k][1];
                const size_t c = df_qsplit_chunk(n, cap, align), tasks = (n + c - 1) / c;
                assert_true(c >= align && c <= cap);
                assert_int_equal(c % align, 0);
                assert_true(tasks * c >= n && (tasks - 1) * c < n);
                /* up to t x cap items: one task per thread at most, and
                 * one for each where there is an aligned share for each;
                 * beyond, a static schedule's shares differ by a task */
                if (n <= (size_t)t * cap) assert_true(tasks <= (size_t)t);
                if (n >= (size_t)t * align * 2) assert_true(tasks >= (size_t)t);
            }
        }
    }
    omp_set_num_threads(2);
    assert_int_equal(df_qsplit_chunk(196, 256, 16), 112);    /* 14x14, batch 1: 112 + 84 */
    assert_int_equal(df_qsplit_chunk(49, 256, 16), 32);      /* 7x7: 32 + 17 */
    assert_int_equal(df_qsplit_chunk(3136, 256, 16), 224);   /* 56x56: 14 tasks */
    assert_int_equal(df_qsplit_chunk(75264, 8192, 64), 7552); /* 56x56x24 ADD: 10 tasks */
    omp_set_num_threads(saved);
#else
    assert_int_equal(df_qsplit_chunk(196, 256, 16), 208);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_ops),
        cmocka_unit_test(test_dnnl_depthwise_reads_the_copy_the_layer_before_made),
        cmocka_unit_test(test_dnnl_fixed_channel_paths_are_the_plain_loops),
        cmocka_unit_test(test_input_quantize),
        cmocka_unit_test(test_split_chunk),
        cmocka_unit_test(test_add_pool),
        cmocka_unit_test(test_add_exhaustive),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shipped_models),
        cmocka_unit_test(test_backends_closet),
        cmocka_unit_test(test_fp32_backend_layouts),
        cmocka_unit_test(test_fp32_backend_large_bias),
        cmocka_unit_test(test_fp32_backend_fuses_depthwise),
        cmocka_unit_test(test_fp32_backend_is_xnnpack_bit_for_bit),
        cmocka_unit_test(test_photo_pixels),
        cmocka_unit_test(test_auto_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
