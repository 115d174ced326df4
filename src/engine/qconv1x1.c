/* Exact integer 1x1 convolutions in 16-bit pairs (see qconv1x1.h). */
#include "engine/qconv1x1.h"

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/memory.h"

/* A tile is 6 pixels x 16 channels: 12 accumulators, the two weight
 * vectors and the broadcast pair fill AVX2's sixteen registers. A work
 * item is one block of 16 channels over up to CHUNK tiles: its weights
 * (c x 16 int16, 30 KB at 960 channels) stay in L1/L2 across the tiles.
 * The panel is packed PACK_ROWS pixels a task: with 64, a 7x7 map at batch
 * 1 was one task and one thread waited through it (the 7x7 layers
 * 1.20-1.60x oneDNN's speed -> 1.46-1.72x, two runs back to back). */
enum { MR = 6, NR = 16, CHUNK = 16, PACK_ROWS = 16 };

struct df_qconv1x1 {
    int c, oc;
    int kp;          /* c rounded up to a pair */
    int nb;          /* blocks of 16 output channels */
    int16_t *w;      /* [nb][kp / 2][16][2] */
    int32_t *bias;   /* [nb * 16] */
    float *scales;   /* [nb * 16] */
    float clip_lo, clip_hi;
};

int df_qconv1x1_available(void) { return df_cpu_isa_best() >= DF_CPU_ISA_AVX2; }

void df_qconv1x1_destroy(df_qconv1x1 *cv) {
    if (!cv) return;
    free(cv->w);
    free(cv->bias);
    free(cv->scales);
    free(cv);
}

df_status df_qconv1x1_create(const df_qconv1x1_desc *d, df_qconv1x1 **out, df_error *err) {
    *out = NULL;
    if (!df_qconv1x1_available())
        return df_error_set(err, DF_ERR_UNSUPPORTED, "16-bit integer 1x1 convolution: needs AVX2");
    if (d->c < 1 || d->oc < 1 || d->c > (1 << 20) || d->oc > (1 << 20))
        return df_error_set(err, DF_ERR_INVALID_ARG, "16-bit integer 1x1 convolution: %d -> %d channels", d->c,
                            d->oc);
    df_qconv1x1 *cv = calloc(1, sizeof *cv);
    if (!cv) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    cv->c = d->c;
    cv->oc = d->oc;
    cv->kp = (d->c + 1) & ~1;
    cv->nb = (d->oc + NR - 1) / NR;
    cv->clip_lo = d->clip_lo;
    cv->clip_hi = d->clip_hi;
    const size_t pairs = (size_t)cv->kp / 2, nw = (size_t)cv->nb * pairs * NR * 2, nv = (size_t)cv->nb * NR;
    cv->w = df_alloc_aligned(nw * sizeof *cv->w);
    cv->bias = calloc(nv, sizeof *cv->bias);
    cv->scales = calloc(nv, sizeof *cv->scales);
    if (!cv->w || !cv->bias || !cv->scales) {
        df_qconv1x1_destroy(cv);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    for (int b = 0; b < cv->nb; b++)
        for (size_t j = 0; j < pairs; j++)
            for (int col = 0; col < NR; col++)
                for (int t = 0; t < 2; t++) {
                    const int o = b * NR + col, k = (int)(2 * j) + t;
                    const float v = o < d->oc && k < d->c ? d->weights[(size_t)o * d->c + k] : 0.0f;
                    /* -32768 left out: vpmaddwd's one overflowing pair */
                    if (!(v == rintf(v) && fabsf(v) <= 32767.0f)) {
                        df_qconv1x1_destroy(cv);
                        return df_error_set(err, DF_ERR_UNSUPPORTED,
                                            "16-bit integer 1x1 convolution: weight %g (channel %d, input %d) "
                                            "is not an integer within int16", (double)v, o, k);
                    }
                    cv->w[(((size_t)b * pairs + j) * NR + col) * 2 + t] = (int16_t)v;
                }
    for (int o = 0; o < d->oc; o++) {
        const float b = d->bias ? d->bias[o] : 0.0f;
        if (!(b == rintf(b) && fabsf(b) <= 16777216.0f)) {
            df_qconv1x1_destroy(cv);
            return df_error_set(err, DF_ERR_UNSUPPORTED,
                                "16-bit integer 1x1 convolution: bias %g (channel %d) is not an integer within 2^24",
                                (double)b, o);
        }
        cv->bias[o] = (int32_t)b;
        cv->scales[o] = d->scales ? d->scales[o] : d->scale;
    }
    *out = cv;
    return DF_OK;
}

static size_t padded_pixels(size_t pixels) { return (pixels + MR - 1) / MR * MR; }

/* The first of the 8 channels of block `block` (of `blocks`) at pixel p of
 * image n, in the blocked layout of hw pixels an image. */
static inline size_t blocked_at(size_t n, size_t blocks, size_t block, size_t hw, size_t p) {
    return ((n * blocks + block) * hw + p) * 8;
}

/* ---- the input panel: int16 rows of kp channels per pixel ------------ */

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline void store8_s16(int16_t *dst, const float *src) {
    const __m256i i = _mm256_cvtps_epi32(_mm256_loadu_ps(src)); /* integers: exact */
    const __m128i s16 = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storeu_si128((__m128i *)(void *)dst, s16);
}

/* Rows m0 .. m1 (below the padded count) of the panel, row m at
 * a + (m - m0) kp. */
AVX2 static void pack_rows(const df_qconv1x1 *cv, const float *in, int layout, size_t hw, size_t pixels, size_t m0,
                           size_t m1, int16_t *a) {
    const int c = cv->c, kp = cv->kp;
    const size_t valid = m1 < pixels ? m1 : pixels;
    if (layout == DF_QCONV1X1_BLOCKED8) {
        const int cb = c / 8;
        for (int b = 0; b < cb; b++) {
            size_t n = m0 / hw, p = m0 % hw;
            for (size_t m = m0; m < valid; m++) {
                store8_s16(a + (m - m0) * (size_t)kp + (size_t)b * 8, in + blocked_at(n, (size_t)cb, (size_t)b, hw, p));
                if (++p == hw) p = 0, n++;
            }
        }
    } else {
        for (size_t m = m0; m < valid; m++) {
            const float *x = in + m * (size_t)c;
            int16_t *row = a + (m - m0) * (size_t)kp;
            int k = 0;
            for (; k + 8 <= c; k += 8) store8_s16(row + k, x + k);
            for (; k < c; k++) row[k] = (int16_t)lrintf(x[k]);
            for (; k < kp; k++) row[k] = 0;
        }
    }
    for (size_t m = valid > m0 ? valid : m0; m < m1; m++) memset(a + (m - m0) * (size_t)kp, 0, (size_t)kp * sizeof *a);
}

/* ---- the tiles -------------------------------------------------------- */

static inline int32_t pair_at(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* One half (8 channels) of a tile row, its sum (bias included) to float
 * (exact), times the scale (one rounding), clamped, rounded to nearest
 * even; stored where dst points, `valid` channels of the 8 (8: all). */
AVX2 static inline void finish8(__m256i acc, __m256 scale, __m256 lo, __m256 hi, float *dst, int valid) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    if (valid == 8) {
        _mm256_storeu_ps(dst, v);
    } else {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(dst, t, (size_t)valid * sizeof *t);
    }
}

/* Where a tile's rows go. Most tiles are whole, all 16 channels valid and
 * their rows evenly spaced (NHWC always; blocked within one image): then
 * row r's halves are at base + r rs and base + r rs + hs. Otherwise (the
 * last tile, a partial channel block, rows across two images) each row's
 * halves have their own pointers, NULL where not stored. */
typedef struct tile_dst {
    int regular;
    float *base;
    size_t rs, hs;
    float *row[MR][2];
    int valid[2];
} tile_dst;

#define ROW(r)                                                                                                     \
    do {                                                                                                           \
        const __m256i x = _mm256_set1_epi32(pair_at(a + (r) * (size_t)kp + 2 * j));                                \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(x, w0));                                            \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(x, w1));                                            \
    } while (0)

#define FINISH(r)                                                                                                  \
    do {                                                                                                           \
        if (d->regular) {                                                                                          \
            finish8(c##r##0, s0, lo, hi, d->base + (r) * d->rs, 8);                                                \
            finish8(c##r##1, s1, lo, hi, d->base + (r) * d->rs + d->hs, 8);                                        \
        } else {                                                                                                   \
            if (d->row[r][0]) finish8(c##r##0, s0, lo, hi, d->row[r][0], d->valid[0]);                             \
            if (d->row[r][1]) finish8(c##r##1, s1, lo, hi, d->row[r][1], d->valid[1]);                             \
        }                                                                                                          \
    } while (0)

/* Six panel rows from a times a block's weights w (pairs x 16 x 2), to
 * the rows' outputs. The sums start from the bias (integers: the order of
 * the additions changes nothing). */
AVX2 static void tile(const int16_t *a, int kp, const int16_t *w, const int32_t *bias, const float *scales, __m256 lo,
                      __m256 hi, const tile_dst *d) {
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)bias),
                  b1 = _mm256_loadu_si256((const __m256i *)(const void *)(bias + 8));
    __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1, c40 = b0, c41 = b1,
            c50 = b0, c51 = b1;
    const int pairs = kp / 2;
    for (int j = 0; j < pairs; j++) {
        const __m256i w0 = _mm256_load_si256((const __m256i *)(const void *)(w + (size_t)j * 32));
        const __m256i w1 = _mm256_load_si256((const __m256i *)(const void *)(w + (size_t)j * 32 + 16));
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
        ROW(4);
        ROW(5);
    }
    const __m256 s0 = _mm256_loadu_ps(scales), s1 = _mm256_loadu_ps(scales + 8);
    FINISH(0);
    FINISH(1);
    FINISH(2);
    FINISH(3);
    FINISH(4);
    FINISH(5);
}

/* Where output pixel m (pixel p of image n) gets channels o0 .. o0 + 7. */
static inline float *out_at(float *out, int blocked, int oc, int o0, size_t hw, size_t n, size_t p, size_t m) {
    return out + (blocked ? blocked_at(n, (size_t)(oc / 8), (size_t)(o0 / 8), hw, p) : m * (size_t)oc + (size_t)o0);
}

/* Channel block b over tiles t0 .. t1, the panel's rows from tile t0's
 * first at a. */
AVX2 static void run_item(const df_qconv1x1 *cv, const int16_t *a, float *out, int layout, size_t hw, size_t pixels,
                          int b, size_t t0, size_t t1) {
    const __m256 lo = _mm256_set1_ps(cv->clip_lo), hi = _mm256_set1_ps(cv->clip_hi);
    const int oc = cv->oc, o0 = b * NR;
    const int blocked = layout == DF_QCONV1X1_BLOCKED8;
    tile_dst d;
    for (int h = 0; h < 2; h++) {
        const int left = oc - (o0 + 8 * h);
        d.valid[h] = left >= 8 ? 8 : left > 0 ? left : 0;
    }
    const int whole = d.valid[0] == 8 && d.valid[1] == 8;
    d.rs = blocked ? 8 : (size_t)oc;
    d.hs = blocked ? hw * 8 : 8;
    const int16_t *w = cv->w + (size_t)b * (size_t)(cv->kp / 2) * NR * 2;
    /* the image and pixel of the tile's first row, carried along instead
     * of two divisions per row */
    size_t n = t0 * MR / hw, p = t0 * MR % hw;
    for (size_t t = t0; t < t1; t++) {
        const size_t m0 = t * MR;
        d.regular = whole && m0 + MR <= pixels && (!blocked || p + MR <= hw);
        if (d.regular) {
            d.base = out_at(out, blocked, oc, o0, hw, n, p, m0);
            for (p += MR; p >= hw; p -= hw) n++;
        } else {
            for (int r = 0; r < MR; r++) {
                const size_t m = m0 + (size_t)r;
                float *first = m < pixels ? out_at(out, blocked, oc, o0, hw, n, p, m) : NULL;
                for (int h = 0; h < 2; h++) d.row[r][h] = first && d.valid[h] ? first + (size_t)h * d.hs : NULL;
                if (++p == hw) p = 0, n++;
            }
        }
        tile(a + (t - t0) * MR * (size_t)cv->kp, cv->kp, w, cv->bias + o0, cv->scales + o0, lo, hi, &d);
    }
}

size_t df_qconv1x1_work_bytes(const df_qconv1x1 *cv, size_t pixels) {
    return padded_pixels(pixels) * (size_t)cv->kp * sizeof(int16_t);
}

/* The panel is packed whole, then each thread takes a contiguous range of
 * (channel block, chunk of tiles) items, channel blocks outermost: a
 * block's weights stay in L1/L2 across its tiles, and the panel (94 KB for
 * 7x7x960 at batch 1) in L2. (Each thread packing a chunk of pixels and
 * running every block over it was no faster on the large maps it was for,
 * 56x56x144 -> 24 at batch 16 0.44x -> 0.47x oneDNN's speed, and slower on
 * the small ones, 7x7x960 -> 320 1.67x -> 1.27x: their weights then came
 * from L3 once per chunk.) */
df_status df_qconv1x1_run(const df_qconv1x1 *cv, const float *in, int in_layout, float *out, int out_layout,
                          int batch, int hw, void *work, size_t work_bytes, df_error *err) {
    const size_t pixels = (size_t)batch * (size_t)hw, padded = padded_pixels(pixels), tiles = padded / MR;
    const size_t chunks = (tiles + CHUNK - 1) / CHUNK, items = (size_t)cv->nb * chunks;
    const size_t pack_blocks = (padded + PACK_ROWS - 1) / PACK_ROWS;
    if (batch < 1 || hw < 1 || work_bytes < df_qconv1x1_work_bytes(cv, pixels) ||
        ((in_layout == DF_QCONV1X1_BLOCKED8 && cv->c % 8) || (out_layout == DF_QCONV1X1_BLOCKED8 && cv->oc % 8)))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "16-bit integer 1x1 convolution %d -> %d: batch %d of %d pixels, %zu bytes of work "
                            "(needs %zu), layouts %d / %d", cv->c, cv->oc, batch, hw, work_bytes,
                            df_qconv1x1_work_bytes(cv, pixels), in_layout, out_layout);
    int16_t *a = work;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (size_t k = 0; k < pack_blocks; k++) {
            const size_t m0 = k * PACK_ROWS, m1 = m0 + PACK_ROWS < padded ? m0 + PACK_ROWS : padded;
            pack_rows(cv, in, in_layout, (size_t)hw, pixels, m0, m1, a + m0 * (size_t)cv->kp);
        }
#pragma omp for schedule(static)
        for (size_t it = 0; it < items; it++) {
            const size_t t0 = (it % chunks) * CHUNK, t1 = t0 + CHUNK < tiles ? t0 + CHUNK : tiles;
            run_item(cv, a + t0 * MR * (size_t)cv->kp, out, out_layout, (size_t)hw, pixels, (int)(it / chunks), t0,
                     t1);
        }
    }
    return DF_OK;
}
