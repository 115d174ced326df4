/*
 * Winograd F(4x4, 3x3) convolution (see winograd.h).
 *
 * Layouts: filters U[xi][c][k] (36 GEMM right-hand sides, C x K, row-major);
 * per block of TB tiles V[xi][t][c] and M[xi][t][k], a block sized so that
 * V and M together stay near 8 MB (measured on Sapphire Rapids under
 * DF_CPU_ISA=avx2: 2 MB was as fast for 64 channels but 1.8x slower at 28x28x512,
 * where the transformed filters, 36 MB, are read once per block). With enough blocks each thread runs whole
 * blocks in its own V and M (no barrier: a thread the scheduler delays holds
 * up nobody until the end); with few (deep layers, small batches) all
 * threads work on one block at a time: input transform split over tiles,
 * the 36 GEMMs split over xi (each a single-threaded sgemm inside the
 * parallel region), the output transform split over tiles. The caller
 * provides the work space (df_wino_workspace_bytes), shared by every layer
 * of a net.
 */
#include "engine/winograd.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/cpu.h"
#include "core/memory.h"

/* 8 floats (GCC vector extension), loaded and stored unaligned. */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define LD8(p) ((v8)*(const v8u *)(p))
#define ST8(p, v) (*(v8u *)(p) = (v))
#define BLOCK_BYTES (8u << 20)

/* The transforms, once per instruction set (a target attribute on each
 * copy: GCC and clang both take it). */
#define KERNEL static
#define SUFFIX(name) name##_scalar
#include "engine/winograd_kernels.inc"
#undef SUFFIX
#undef KERNEL

#define KERNEL __attribute__((target("avx2,fma"))) static
#define SUFFIX(name) name##_avx2
#include "engine/winograd_kernels.inc"
#undef SUFFIX
#undef KERNEL

#define KERNEL __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))) static
#define SUFFIX(name) name##_avx512
#include "engine/winograd_kernels.inc"
#undef SUFFIX
#undef KERNEL

typedef void (*input_fn)(const float *, int, int, int, int, int, float *, size_t);
typedef void (*output_fn)(const float *, size_t, int, const float *, df_activation, float *, int,
                          int, int, int);

struct df_wino {
    int C, K;
    int pad_top, pad_left, pad_bottom, pad_right;
    df_activation act;
    float *U;        /* 36 x C x K */
    float *bias;     /* K */
    int tb;          /* tiles per block */
    int threads;
    df_cpu_isa isa;
    input_fn input;
    output_fn output;
};

void df_wino_destroy(df_wino *w) {
    if (!w) return;
    free(w->U);
    free(w->bias);
    free(w);
}

/* U = G g G^T for one 3x3 filter g, in double. */
static void filter_transform(const double g[3][3], double u[6][6]) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    double t[6][3];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[0][j] + G[i][1] * g[1][j] + G[i][2] * g[2][j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) u[i][j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
}

df_status df_wino_create(const df_conv2d_desc *d, int in_c, df_wino **out, df_error *err) {
    *out = NULL;
    if (d->kh != 3 || d->kw != 3 || d->stride_h != 1 || d->stride_w != 1 || d->groups != 1 ||
        in_c < 8 || in_c % 8 || d->out_c < 8 || d->out_c % 8 || d->pad_top < 0 || d->pad_left < 0 || d->pad_bottom < 0 ||
        d->pad_right < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "Winograd F(4x4, 3x3) takes 3x3 stride-1 dense convolutions with "
                            "channels in multiples of 8 only");
    df_wino *w = calloc(1, sizeof *w);
    if (!w) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    int C = in_c, K = d->out_c;
    w->C = C;
    w->K = K;
    w->pad_top = d->pad_top;
    w->pad_left = d->pad_left;
    w->pad_bottom = d->pad_bottom;
    w->pad_right = d->pad_right;
    w->act = d->activation;
    size_t per_tile = 36 * ((size_t)C + (size_t)K) * sizeof(float);
    size_t tb = BLOCK_BYTES / per_tile;
    w->tb = tb < 16 ? 16 : tb > 512 ? 512 : (int)tb;
    w->threads = omp_get_max_threads();
    w->U = df_alloc_aligned(36 * (size_t)C * K * sizeof *w->U);
    w->bias = calloc((size_t)K, sizeof *w->bias);
    if (!w->U || !w->bias) {
        df_wino_destroy(w);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for a %dx%d Winograd convolution",
                            C, K);
    }
    for (int k = 0; k < K; k++) {
        if (d->bias) w->bias[k] = d->bias[k];
        for (int c = 0; c < C; c++) {
            double g[3][3], u[6][6];
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) g[i][j] = d->weights[(((size_t)k * 3 + i) * 3 + j) * C + c];
            filter_transform(g, u);
            for (int xi = 0; xi < 36; xi++)
                w->U[((size_t)xi * C + c) * K + k] = (float)u[xi / 6][xi % 6];
        }
    }
    w->isa = df_cpu_isa_best();
    switch (w->isa) {
    case DF_CPU_ISA_AVX512:
        w->input = wino_input_tile_avx512;
        w->output = wino_output_tile_avx512;
        break;
    case DF_CPU_ISA_AVX2:
        w->input = wino_input_tile_avx2;
        w->output = wino_output_tile_avx2;
        break;
    default:
        w->input = wino_input_tile_scalar;
        w->output = wino_output_tile_scalar;
    }
    *out = w;
    return DF_OK;
}

const char *df_wino_isa(const df_wino *w) { return df_cpu_isa_name(w->isa); }

/* One V and one M per thread (blocks per thread; the first pair is the
 * shared one otherwise). */
size_t df_wino_workspace_bytes(const df_wino *w) {
    return (size_t)w->threads * w->tb * 36 * ((size_t)w->C + (size_t)w->K) * sizeof(float);
}

/* Tile g (over the whole batch, row-major over tiles per image): its image
 * and the top-left corner of its output. */
static void tile_at(const df_wino *w, int oh, int ow, long g, long *img, int *oy0, int *ox0) {
    (void)w;
    long tiles_x = (ow + 3) / 4, per_image = (long)((oh + 3) / 4) * tiles_x, r = g % per_image;
    *img = g / per_image;
    *oy0 = (int)(r / tiles_x) * 4;
    *ox0 = (int)(r % tiles_x) * 4;
}

static void input_one(const df_wino *w, const float *x, int h, int width, int ow, long g,
                      float *V, size_t vs) {
    long img;
    int oy0, ox0;
    int oh = h + w->pad_top + w->pad_bottom - 2;
    tile_at(w, oh, ow, g, &img, &oy0, &ox0);
    w->input(x + (size_t)img * h * width * w->C, h, width, w->C, oy0 - w->pad_top,
             ox0 - w->pad_left, V, vs);
}

static void output_one(const df_wino *w, const float *M, size_t ms, float *y, int oh, int ow,
                       long g) {
    long img;
    int oy0, ox0;
    tile_at(w, oh, ow, g, &img, &oy0, &ox0);
    w->output(M, ms, w->K, w->bias, w->act, y + (size_t)img * oh * ow * w->K, oh, ow, oy0, ox0);
}

/* M[xi] = V[xi] U[xi] for the nb tiles of a block (single-threaded here). */
static dnnl_status_t gemm_one(const df_wino *w, int xi, int nb, const float *V, float *M) {
    size_t vs = (size_t)w->tb * w->C, ms = (size_t)w->tb * w->K;
    return dnnl_sgemm('N', 'N', nb, w->K, w->C, 1.0f, V + (size_t)xi * vs, w->C,
                      w->U + (size_t)xi * w->C * w->K, w->K, 0.0f, M + (size_t)xi * ms, w->K);
}

/* One block of nb tiles from tile t0, start to end, in the caller's V, M. */
static dnnl_status_t block(const df_wino *w, const float *x, int n, int h, int width, float *y,
                           int oh, int ow, long t0, int nb, float *V, float *M) {
    (void)n;
    size_t vs = (size_t)w->tb * w->C, ms = (size_t)w->tb * w->K;
    for (int t = 0; t < nb; t++) input_one(w, x, h, width, ow, t0 + t, V + (size_t)t * w->C, vs);
    for (int xi = 0; xi < 36; xi++) {
        dnnl_status_t st = gemm_one(w, xi, nb, V, M);
        if (st != dnnl_success) return st;
    }
    for (int t = 0; t < nb; t++) output_one(w, M + (size_t)t * w->K, ms, y, oh, ow, t0 + t);
    return dnnl_success;
}

df_status df_wino_run(const df_wino *w, const float *x, int n, int h, int width, float *y,
                      void *workspace, df_error *err) {
    int oh = h + w->pad_top + w->pad_bottom - 2, ow = width + w->pad_left + w->pad_right - 2;
    if (n < 1 || oh < 1 || ow < 1)
        return df_error_set(err, DF_ERR_SHAPE, "Winograd convolution of a %dx%d input", h, width);
    long total = (long)((oh + 3) / 4) * ((ow + 3) / 4) * n;
    int C = w->C, K = w->K, tb = w->tb;
    size_t vs = (size_t)tb * C, ms = (size_t)tb * K;
    int threads = w->threads;
    long blocks = (total + tb - 1) / tb;
    dnnl_status_t gemm_st = dnnl_success;
    float *Vall = workspace, *Mall = Vall + (size_t)threads * 36 * vs;
    if (blocks >= 2 * threads) {
        /* Enough blocks: each thread runs whole blocks in its own V and M,
         * no barrier until the end (a descheduled thread delays nobody). */
#pragma omp parallel num_threads(threads)
        {
            int me = omp_get_thread_num();
            float *V = Vall + (size_t)me * 36 * vs, *M = Mall + (size_t)me * 36 * ms;
#pragma omp for schedule(dynamic, 1)
            for (long b = 0; b < blocks; b++) {
                long t0 = b * tb;
                int nb = total - t0 < tb ? (int)(total - t0) : tb;
                dnnl_status_t st = block(w, x, n, h, width, y, oh, ow, t0, nb, V, M);
                if (st != dnnl_success) {
#pragma omp critical
                    gemm_st = st;
                }
            }
        }
    } else {
        /* Few tiles (deep layers, small batches): all threads on one block
         * at a time, the 36 GEMMs split between them. */
#pragma omp parallel num_threads(threads)
        for (long t0 = 0; t0 < total; t0 += tb) {
            int nb = total - t0 < tb ? (int)(total - t0) : tb;
#pragma omp for schedule(static)
            for (int t = 0; t < nb; t++) input_one(w, x, h, width, ow, t0 + t, Vall + (size_t)t * C, vs);
#pragma omp for schedule(static)
            for (int xi = 0; xi < 36; xi++) {
                dnnl_status_t st = gemm_one(w, xi, nb, Vall, Mall);
                if (st != dnnl_success) {
#pragma omp critical
                    gemm_st = st;
                }
            }
#pragma omp for schedule(static)
            for (int t = 0; t < nb; t++) output_one(w, Mall + (size_t)t * K, ms, y, oh, ow, t0 + t);
        }
    }
    if (gemm_st != dnnl_success)
        return df_error_set(err, DF_ERR_BACKEND, "oneDNN sgemm failed in a Winograd convolution");
    return DF_OK;
}
