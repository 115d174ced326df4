/*
 * Resizing RGB8 images (stretching; the aspect ratio is not kept, as Keras).
 *
 * NEAREST: what Keras gets from PIL (Pillow's ImagingScaleAffine): the
 *   source position starts at 0.5 * in / out and is ACCUMULATED in doubles,
 *   x += in / out, truncated per pixel. That is floor((x + 0.5) * in / out)
 *   except where rounding of the running sum lands just below an integer
 *   (in=14, out=5, x=2 gives 6, not 7); we reproduce the accumulation so the
 *   pixels are Pillow's exactly (checked against Pillow 9.4).
 * AREA: box filter. Output pixel i covers source interval
 *   [i * in / out, (i + 1) * in / out]; each source pixel weighs by the exact
 *   length of its overlap (computed in integers, in units of 1/out), so an
 *   exact 2:1 downscale is the 2x2 mean. An axis that is enlarged uses
 *   BILINEAR instead (a box filter cannot enlarge), as OpenCV's INTER_AREA.
 * BILINEAR: TensorFlow's resize_bilinear with half_pixel_centers=True (what
 *   TFLite models are trained with): src = (x + 0.5) * in / out - 0.5,
 *   lower = max(floor(src), 0), upper = min(ceil(src), in - 1),
 *   weight(upper) = src - floor(src). No antialiasing.
 *
 * AREA and BILINEAR are separable: a horizontal pass into float rows (a
 * ring of the few source rows an output row reads), then a vertical pass,
 * rounding to nearest (halves up) once at the end. Reference
 * implementations (slow, direct 2-D formulas in double) live in
 * tests/test_image.c.
 *
 * Bilinear axes are padded to exactly two taps (a single tap gets a
 * zero-weight neighbour) so their loops have no inner tap loop and the
 * vertical one vectorizes; w * p + 0 * q == w * p, so the pixels are the
 * generic loop's bit for bit (test_image compares the two paths). With
 * AVX2 the two-tap horizontal pass runs eight values at a time, the same
 * products and sums, so the same bits again.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "core/cpu.h"
#include "image/image_internal.h"

typedef struct axis_taps {
    int taps;    /* stride of idx/w */
    int *first;  /* [out] first source index */
    int *count;  /* [out] number of taps used */
    float *w;    /* [out * taps] weights */
} axis_taps;

static void axis_free(axis_taps *a) {
    free(a->first);
    free(a->count);
    free(a->w);
}

static void set_bilinear(int in, int out, int i, int *first, int *count, float *w) {
    const double scale = (double)in / (double)out;
    const double src = ((double)i + 0.5) * scale - 0.5;
    const double fl = floor(src);
    int lo = (int)fl, hi = (int)ceil(src);
    const double lerp = src - fl;
    if (lo < 0) lo = 0;
    if (hi > in - 1) hi = in - 1;
    if (lo > in - 1) lo = in - 1;
    if (hi < 0) hi = 0;
    if (lo == hi || lerp == 0.0) {
        *first = lo;
        *count = 1;
        w[0] = 1.0f;
    } else {
        *first = lo;
        *count = 2;
        w[0] = (float)(1.0 - lerp);
        w[1] = (float)lerp;
    }
}

static df_status axis_build(int in, int out, df_resize_method m, axis_taps *a, df_error *err) {
    memset(a, 0, sizeof *a);
    const int area = m == DF_RESIZE_AREA && out < in;
    /* A box of in/out source pixels touches at most ceil(in/out) + 1. */
    a->taps = area ? (in + out - 1) / out + 1 : 2;
    size_t nw;
    if (!df_size_mul((size_t)out, (size_t)a->taps, &nw)) goto nomem;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->count = malloc((size_t)out * sizeof *a->count);
    a->w = malloc(nw * sizeof *a->w);
    if (!a->first || !a->count || !a->w) goto nomem;
    for (int i = 0; i < out; i++) {
        float *w = a->w + (size_t)i * (size_t)a->taps;
        if (in == out) {
            a->first[i] = i;
            a->count[i] = 1;
            w[0] = 1.0f;
        } else if (area) {
            /* Units of 1/out source pixels: output i spans [i*in, (i+1)*in),
             * source j spans [j*out, (j+1)*out). */
            const int64_t lo = (int64_t)i * in, hi = (int64_t)(i + 1) * in;
            const int64_t j0 = lo / out, j1 = (hi + out - 1) / out; /* [j0, j1) */
            int n = 0;
            for (int64_t j = j0; j < j1 && j < in; j++) {
                int64_t s = j * out > lo ? j * out : lo;
                int64_t e = (j + 1) * out < hi ? (j + 1) * out : hi;
                if (e <= s) continue;
                if (n == 0) a->first[i] = (int)j;
                w[n++] = (float)((double)(e - s) / (double)in);
            }
            a->count[i] = n;
        } else {
            set_bilinear(in, out, i, &a->first[i], &a->count[i], w);
        }
    }
    return DF_OK;
nomem:
    axis_free(a);
    return df_error_set(err, DF_ERR_NOMEM, "resize: out of memory");
}

/* floor(v + 0.5) clamped to 0..255; written with compares and a truncation
 * (equal to floor on the clamped, non-negative value) so loops over it
 * vectorize. */
static inline uint8_t round_u8(float v) {
    float r = v + 0.5f;
    r = r > 0.0f ? r : 0.0f;
    r = r < 255.0f ? r : 255.0f;
    return (uint8_t)(int)r;
}

/* Makes every output of a bilinear axis read two taps: a single tap at j
 * becomes (j, j + 1) with weights (1, 0), or (j - 1, j) with (0, 1) at the
 * last source pixel. Not possible (returns 0) for a 1-pixel source. */
static int pad_two_taps(axis_taps *a, int in, int out) {
    if (a->taps != 2 || in < 2) return 0;
    for (int i = 0; i < out; i++) {
        if (a->count[i] == 2) continue;
        float *w = a->w + (size_t)i * 2;
        if (a->first[i] + 1 < in) {
            w[1] = 0.0f;
        } else {
            a->first[i]--;
            w[1] = w[0];
            w[0] = 0.0f;
        }
        a->count[i] = 2;
    }
    return 1;
}

static df_status resize_nearest(const df_image *src, df_image *dst, df_error *err) {
    const int64_t iw = src->width, ih = src->height, ow = dst->width, oh = dst->height;
    int *xs = malloc((size_t)ow * sizeof *xs);
    if (!xs) return df_error_set(err, DF_ERR_NOMEM, "resize: out of memory");
    const double sxs = (double)iw / (double)ow, sys = (double)ih / (double)oh;
    double xo = sxs * 0.5;
    for (int64_t x = 0; x < ow; x++, xo += sxs) {
        int64_t sx = (int64_t)xo;
        xs[x] = (int)(sx < iw ? sx : iw - 1);
    }
    double yo = sys * 0.5;
    for (int64_t y = 0; y < oh; y++, yo += sys) {
        int64_t sy = (int64_t)yo;
        if (sy > ih - 1) sy = ih - 1;
        const uint8_t *row = src->pixels + (size_t)sy * (size_t)iw * 3;
        uint8_t *o = dst->pixels + (size_t)y * (size_t)ow * 3;
        for (int64_t x = 0; x < ow; x++, o += 3) {
            const uint8_t *p = row + (size_t)xs[x] * 3;
            o[0] = p[0];
            o[1] = p[1];
            o[2] = p[2];
        }
    }
    free(xs);
    return DF_OK;
}

/* Source row y across: t[ow][3]. two: every output reads exactly two taps
 * (pad_two_taps). */
static void horizontal_row(const df_image *src, const axis_taps *ax, int two, int ow, int y, float *t) {
    const uint8_t *row = src->pixels + (size_t)y * (size_t)src->width * 3;
    for (int x = 0; x < ow; x++, t += 3) {
        const float *w = ax->w + (size_t)x * (size_t)ax->taps;
        const uint8_t *p = row + (size_t)ax->first[x] * 3;
        if (two) {
            t[0] = w[0] * (float)p[0] + w[1] * (float)p[3];
            t[1] = w[0] * (float)p[1] + w[1] * (float)p[4];
            t[2] = w[0] * (float)p[2] + w[1] * (float)p[5];
            continue;
        }
        float r = 0.0f, g = 0.0f, b = 0.0f;
        for (int k = 0; k < ax->count[x]; k++, p += 3) {
            r += w[k] * (float)p[0];
            g += w[k] * (float)p[1];
            b += w[k] * (float)p[2];
        }
        t[0] = r;
        t[1] = g;
        t[2] = b;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* The two-tap horizontal pass eight output values at a time. Value i = 3 x
 * + k of a row reads source bytes idx[i] = 3 first[x] + k and idx[i] + 3,
 * weighed by wa[i], wb[i]: the scalar loop's float products and sum, no
 * FMA, so its bits (test_image compares the paths). Where each half of a
 * group (four values) finds its eight taps in the 16 bytes from its first
 * one (shrinking by up to about 3, as photos decoded near the input size
 * are: a phone's 4032 x 3024 at 1/8 is 504 x 378), byte shuffles pick
 * them; other groups take a 4-byte gather per value, which stays inside
 * the row (first[x] + 1 < iw). Why the shuffles: AMD's gathers cost about
 * 20 cycles each, and the gathers were 0.28 of 0.37 ms per closet photo
 * (400 x 533 to 224 x 224, bilinear) on a Zen 5. */
typedef struct two_tap_row { /* owns its arrays (two_tap_row_free) */
    int n;          /* 3 ow values */
    int *idx;       /* [n] */
    float *wa, *wb; /* [n] */
    int *base;      /* [n / 4] a half's first byte; -1 in a group's first: gather */
    uint8_t *pick;  /* [n / 4][16] a half's shuffle: first taps, second taps, zeros */
} two_tap_row;

__attribute__((target("avx2"))) static void horizontal_two_avx2(const df_image *src, const two_tap_row *tr, int y,
                                                                float *t) {
    const int n = tr->n;
    const __m256i m255 = _mm256_set1_epi32(255);
    const uint8_t *row = src->pixels + (size_t)y * (size_t)src->width * 3;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const int h = i / 4;
        __m256i q0, q1;
        if (tr->base[h] >= 0) {
            const __m128i x0 =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(row + tr->base[h])),
                                 _mm_loadu_si128((const __m128i *)(const void *)(tr->pick + (size_t)h * 16)));
            const __m128i x1 =
                _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(row + tr->base[h + 1])),
                                 _mm_loadu_si128((const __m128i *)(const void *)(tr->pick + (size_t)h * 16 + 16)));
            const __m128i ab = _mm_unpacklo_epi32(x0, x1); /* first taps 0-7, second taps 0-7 */
            q0 = _mm256_cvtepu8_epi32(ab);
            q1 = _mm256_cvtepu8_epi32(_mm_srli_si128(ab, 8));
        } else {
            const __m256i gv = _mm256_i32gather_epi32(
                (const int *)(const void *)row, _mm256_loadu_si256((const __m256i *)(const void *)(tr->idx + i)), 1);
            q0 = _mm256_and_si256(gv, m255);
            q1 = _mm256_srli_epi32(gv, 24);
        }
        _mm256_storeu_ps(t + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(tr->wa + i), _mm256_cvtepi32_ps(q0)),
                                              _mm256_mul_ps(_mm256_loadu_ps(tr->wb + i), _mm256_cvtepi32_ps(q1))));
    }
    for (; i < n; i++) t[i] = tr->wa[i] * (float)row[tr->idx[i]] + tr->wb[i] * (float)row[tr->idx[i] + 3];
}

/* The shuffle of the four values from i when their taps lie in the 16
 * bytes from idx[i], those inside the row: 1, else 0. */
static int half_picks(const int *idx, int i, int row_bytes, uint8_t *pick) {
    const int base = idx[i];
    if (base + 16 > row_bytes) return 0;
    memset(pick, 0x80, 16); /* bytes 8-15 are not converted: zeros */
    for (int j = 0; j < 4; j++) {
        const int a = idx[i + j] - base;
        if (a < 0 || a + 3 > 15) return 0;
        pick[j] = (uint8_t)a;
        pick[4 + j] = (uint8_t)(a + 3);
    }
    return 1;
}

static void two_tap_row_free(two_tap_row *tr) {
    free(tr->idx);
    free(tr->base);
    free(tr->wa);
    free(tr->wb);
    free(tr->pick);
}

/* The AVX2 pass's tables, when the CPU allows it: 1 made, 0 not (no
 * AVX2, or out of memory: the scalar pass then runs). */
static int two_tap_row_make(const df_image *src, const axis_taps *ax, int ow, two_tap_row *tr) {
    memset(tr, 0, sizeof *tr);
    if (df_cpu_isa_best() < DF_CPU_ISA_AVX2) return 0;
    const size_t n = (size_t)ow * 3, halves = n / 8 * 2;
    *tr = (two_tap_row){(int)n, malloc(n * sizeof *tr->idx), malloc(n * sizeof *tr->wa), malloc(n * sizeof *tr->wb),
                        malloc((halves ? halves : 1) * sizeof *tr->base), malloc((halves ? halves : 1) * 16)};
    if (!tr->idx || !tr->wa || !tr->wb || !tr->base || !tr->pick) {
        two_tap_row_free(tr);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t x = i / 3;
        tr->idx[i] = 3 * ax->first[x] + (int)(i % 3);
        tr->wa[i] = ax->w[2 * x];
        tr->wb[i] = ax->w[2 * x + 1];
    }
    const int row_bytes = 3 * src->width;
    for (size_t h = 0; h < halves; h += 2) {
        const int i = (int)(4 * h);
        const int both = half_picks(tr->idx, i, row_bytes, tr->pick + 16 * h) &&
                         half_picks(tr->idx, i + 4, row_bytes, tr->pick + 16 * (h + 1));
        tr->base[h] = both ? tr->idx[i] : -1;
        tr->base[h + 1] = tr->idx[i + 4];
    }
    return 1;
}
#endif

/* Output row o from the horizontal rows rows[k] at weights w (count of
 * them; two: exactly two). */
static void vertical_row(const float *const *rows, const float *w, int count, int two, size_t rowf, uint8_t *o) {
    if (two) {
        const float w0 = w[0], w1 = w[1], *t0 = rows[0], *t1 = rows[1];
        for (size_t i = 0; i < rowf; i++) o[i] = round_u8(w0 * t0[i] + w1 * t1[i]);
        return;
    }
    for (size_t i = 0; i < rowf; i++) {
        float v = 0.0f;
        for (int k = 0; k < count; k++) v += w[k] * rows[k][i];
        o[i] = round_u8(v);
    }
}

/* The horizontal pass a source row at a time into a ring of as many rows
 * as an output row reads (2 for bilinear, the box's taps for area): the
 * output rows' first source row never decreases, so a row's slot (its
 * index modulo the ring) is free again once an output row starts past it.
 * The vertical pass then reads rows just written (a few KB) instead of a
 * buffer of every source row (1.4 MB for 400 x 533 -> 224 x 224). */
static df_status resize_separable(const df_image *src, df_image *dst, df_resize_method m, int two_taps,
                                  df_error *err) {
    const int iw = src->width, ih = src->height, ow = dst->width, oh = dst->height;
    axis_taps ax, ay;
    df_status st = axis_build(iw, ow, m, &ax, err);
    if (st != DF_OK) return st;
    st = axis_build(ih, oh, m, &ay, err);
    if (st != DF_OK) {
        axis_free(&ax);
        return st;
    }
    const int two_x = two_taps && pad_two_taps(&ax, iw, ow), two_y = two_taps && pad_two_taps(&ay, ih, oh);
    const int ring = ay.taps;
    const size_t rowf = (size_t)ow * 3;
    size_t nring;
    float *rows = NULL;
    int *held = malloc((size_t)ring * sizeof *held);
    const float **use = malloc((size_t)ring * sizeof *use);
    if (!held || !use || !df_size_mul3((size_t)ring, rowf, sizeof(float), &nring) || !(rows = malloc(nring))) {
        st = df_error_set(err, DF_ERR_NOMEM, "resize %dx%d -> %dx%d: out of memory", iw, ih, ow, oh);
        goto done;
    }
    for (int k = 0; k < ring; k++) held[k] = -1;
#if defined(__x86_64__) || defined(__i386__)
    two_tap_row tr;
    const int fast = two_x && two_tap_row_make(src, &ax, ow, &tr);
#endif
    for (int y = 0; y < oh; y++) {
        const int count = ay.count[y]; /* 2 wherever two_y (pad_two_taps) */
        for (int k = 0; k < count; k++) {
            const int j = ay.first[y] + k, slot = j % ring;
            float *t = rows + (size_t)slot * rowf;
            if (held[slot] != j) {
#if defined(__x86_64__) || defined(__i386__)
                if (fast) horizontal_two_avx2(src, &tr, j, t);
                else
#endif
                    horizontal_row(src, &ax, two_x, ow, j, t);
                held[slot] = j;
            }
            use[k] = t;
        }
        vertical_row(use, ay.w + (size_t)y * (size_t)ay.taps, count, two_y, rowf, dst->pixels + (size_t)y * rowf);
    }
#if defined(__x86_64__) || defined(__i386__)
    if (fast) two_tap_row_free(&tr);
#endif
done:
    free(rows);
    free(held);
    free(use);
    axis_free(&ax);
    axis_free(&ay);
    return st;
}

df_status df_image_resize_taps(const df_image *src, int width, int height, df_resize_method method,
                               int two_taps, df_image *out, df_error *err) {
    if (!out) return df_error_set(err, DF_ERR_INVALID_ARG, "resize: out is NULL");
    out->width = out->height = 0;
    out->pixels = NULL;
    if (!src || !src->pixels || src->width <= 0 || src->height <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "resize: empty source image");
    if (width <= 0 || height <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "resize: target size %dx%d must be positive",
                            width, height);
    if (method != DF_RESIZE_NEAREST && method != DF_RESIZE_AREA && method != DF_RESIZE_BILINEAR)
        return df_error_set(err, DF_ERR_INVALID_ARG, "resize: unknown method %d", (int)method);
    df_image dst;
    df_status st = df_image_alloc(&dst, width, height, err);
    if (st != DF_OK) return st;
    if (width == src->width && height == src->height) {
        memcpy(dst.pixels, src->pixels, (size_t)width * (size_t)height * 3);
    } else {
        st = method == DF_RESIZE_NEAREST ? resize_nearest(src, &dst, err)
                                         : resize_separable(src, &dst, method, two_taps, err);
        if (st != DF_OK) {
            df_image_free(&dst);
            return st;
        }
    }
    *out = dst;
    return DF_OK;
}

df_status df_image_resize(const df_image *src, int width, int height, df_resize_method method,
                          df_image *out, df_error *err) {
    return df_image_resize_taps(src, width, height, method, 1, out, err);
}
