/*
 * Duplicate detection (audit/dupes.h): the DCT hash and the pair search.
 * The DCT is separable (8 x 32 row sums, then 8 x 8 column sums); tests
 * check it against the direct quadruple sum. Feature cosines for all pairs
 * come from one SGEMM per block of rows, so memory stays at block x n.
 */
#include "audit/dupes.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_ROWS 256

df_dupes_options df_dupes_options_default(void) {
    df_dupes_options o;
    o.hamming_near = 3;
    o.cosine_floor = 0.80f;
    o.cosine_candidate = 0.85f;
    o.hamming_candidate = 12;
    o.aligned_min = 0.75;
    o.cosine_alone = 0.97f;
    return o;
}

const char *df_dup_kind_name(df_dup_kind k) {
    switch (k) {
    case DF_DUP_BYTES: return "same bytes";
    case DF_DUP_PIXELS: return "same pixels";
    default: return "near-duplicate";
    }
}

void df_dupes_dct8(const float *in, float out[64]) {
    double c[8][32];
    for (int u = 0; u < 8; u++)
        for (int x = 0; x < 32; x++) c[u][x] = cos(M_PI * (2 * x + 1) * u / 64.0);
    double rows[32][8]; /* rows[y][u] = sum_x in[y][x] c[u][x] */
    for (int y = 0; y < 32; y++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int x = 0; x < 32; x++) s += in[y * 32 + x] * c[u][x];
            rows[y][u] = s;
        }
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 8; u++) {
            double s = 0;
            for (int y = 0; y < 32; y++) s += rows[y][u] * c[v][y];
            out[v * 8 + u] = (float)s;
        }
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

df_status df_dupes_phash(const df_image *img, uint64_t *hash, df_error *err) {
    *hash = 0;
    df_image small = {0, 0, NULL};
    df_status st = df_image_resize(img, 32, 32, DF_RESIZE_AREA, &small, err);
    if (st) return st;
    float grey[32 * 32], coef[64], sorted[64];
    for (int i = 0; i < 32 * 32; i++) {
        const uint8_t *p = small.pixels + 3 * i;
        grey[i] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    }
    df_image_free(&small);
    df_dupes_dct8(grey, coef);
    memcpy(sorted, coef, sizeof sorted);
    qsort(sorted, 64, sizeof *sorted, cmp_float);
    float median = 0.5f * (sorted[31] + sorted[32]);
    uint64_t h = 0;
    for (int k = 0; k < 64; k++)
        if (coef[k] > median) h |= (uint64_t)1 << k;
    *hash = h;
    return DF_OK;
}

df_status df_dupes_thumbnail(const df_image *img, uint8_t *thumb, df_error *err) {
    df_image small = {0, 0, NULL};
    df_status st = df_image_resize(img, DF_DUPES_THUMB, DF_DUPES_THUMB, DF_RESIZE_AREA, &small, err);
    if (st) return st;
    for (int i = 0; i < DF_DUPES_THUMB * DF_DUPES_THUMB; i++) {
        const uint8_t *p = small.pixels + 3 * i;
        thumb[i] = (uint8_t)lroundf(0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]);
    }
    df_image_free(&small);
    return DF_OK;
}

#define AS 32 /* side of the compared windows */

/* Each pixel minus its 3x3 mean (edges: the mean of what is there). */
static void detail(const float *in, float *out) {
    for (int y = 0; y < AS; y++)
        for (int x = 0; x < AS; x++) {
            float s = 0;
            int n = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || xx < 0 || yy >= AS || xx >= AS) continue;
                    s += in[yy * AS + xx];
                    n++;
                }
            out[y * AS + x] = in[y * AS + x] - s / n;
        }
}

/* Normalised cross-correlation of two AS x AS planes. */
static double ncc(const float *a, const float *b) {
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < AS * AS; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= AS * AS;
    mb /= AS * AS;
    for (int i = 0; i < AS * AS; i++) {
        double x = a[i] - ma, y = b[i] - mb;
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* The window [x0, x0 + w) x [y0, y0 + h) of a 64x64 thumbnail (in its
 * pixel units), bilinearly sampled at AS x AS. */
static void window(const uint8_t *t, double x0, double y0, double w, double h, float *out) {
    const int T = DF_DUPES_THUMB;
    for (int i = 0; i < AS; i++)
        for (int j = 0; j < AS; j++) {
            double y = y0 + (i + 0.5) * h / AS - 0.5, x = x0 + (j + 0.5) * w / AS - 0.5;
            if (y < 0) y = 0;
            if (x < 0) x = 0;
            if (y > T - 1) y = T - 1;
            if (x > T - 1) x = T - 1;
            int yi = (int)y, xi = (int)x;
            int y1 = yi + 1 < T ? yi + 1 : yi, x1 = xi + 1 < T ? xi + 1 : xi;
            double fy = y - yi, fx = x - xi;
            out[i * AS + j] = (float)((1 - fy) * ((1 - fx) * t[yi * T + xi] + fx * t[yi * T + x1]) +
                                      fy * ((1 - fx) * t[y1 * T + xi] + fx * t[y1 * T + x1]));
        }
}

/* Best match of b (whole) against windows of a. */
static double best_window(const uint8_t *a, const uint8_t *b) {
    static const double scales[5] = {1.0, 0.95, 0.9, 0.85, 0.8};
    const double T = DF_DUPES_THUMB;
    float whole[AS * AS], wb[AS * AS], win[AS * AS], wd[AS * AS];
    window(b, 0, 0, T, T, whole);
    detail(whole, wb);
    double best = -1;
    for (int si = 0; si < 5; si++)
        for (int sj = 0; sj < 5; sj++) {
            double w = scales[sj] * T, h = scales[si] * T;
            int nx = sj ? 5 : 1, ny = si ? 5 : 1;
            for (int oy = 0; oy < ny; oy++)
                for (int ox = 0; ox < nx; ox++) {
                    double x0 = nx > 1 ? (T - w) * ox / (nx - 1) : 0;
                    double y0 = ny > 1 ? (T - h) * oy / (ny - 1) : 0;
                    window(a, x0, y0, w, h, win);
                    detail(win, wd);
                    double c = ncc(wd, wb);
                    if (c > best) best = c;
                }
        }
    return best;
}

double df_dupes_aligned_similarity(const uint8_t *a, const uint8_t *b) {
    double x = best_window(a, b), y = best_window(b, a);
    return x > y ? x : y;
}

void df_dupes_normalize_rows(float *x, int n, size_t F) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * F;
        double s = 0;
        for (size_t k = 0; k < F; k++) s += (double)r[k] * r[k];
        if (s > 0) {
            float inv = (float)(1.0 / sqrt(s));
            for (size_t k = 0; k < F; k++) r[k] *= inv;
        }
    }
}

typedef struct pair_list {
    df_dupes_pair *v;
    int n, cap;
} pair_list;

static int push(pair_list *l, df_dupes_pair p) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        df_dupes_pair *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return 0;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    return 1;
}

/* The pair (a, b) if it is one, given their cosine (NAN = no features). */
static int judge(const df_dupes_photo *p, int a, int b, float cos_ab, const df_dupes_options *o,
                 df_dupes_pair *out) {
    int ham = df_dupes_hamming(p[a].phash, p[b].phash);
    df_dupes_pair q = {a, b, DF_DUP_NEAR, ham, cos_ab, NAN, 0};
    if (!memcmp(p[a].bytes, p[b].bytes, 32)) {
        q.kind = DF_DUP_BYTES;
        q.score = 1.0;
        *out = q;
        return 1;
    }
    if (!memcmp(p[a].pixels, p[b].pixels, 32)) {
        q.kind = DF_DUP_PIXELS;
        q.score = 1.0;
        *out = q;
        return 1;
    }
    int has_f = !isnan(cos_ab);
    int near = (ham <= o->hamming_near && (!has_f || cos_ab >= o->cosine_floor)) ||
               (has_f && cos_ab >= o->cosine_alone);
    if (!near && (has_f ? cos_ab >= o->cosine_candidate : ham <= o->hamming_candidate)) {
        q.aligned = df_dupes_aligned_similarity(p[a].thumb, p[b].thumb);
        near = q.aligned >= o->aligned_min;
    }
    if (!near) return 0;
    double s = 1.0 - ham / 64.0;
    if (has_f && cos_ab > s) s = cos_ab;
    if (!isnan(q.aligned) && q.aligned > s) s = q.aligned;
    q.score = s;
    *out = q;
    return 1;
}

df_status df_dupes_find(const df_dupes_photo *p, int n, const float *feat, size_t F,
                        const df_dupes_options *opt, df_dupes_pair **pairs, int *n_pairs,
                        df_error *err) {
    df_dupes_options o = opt ? *opt : df_dupes_options_default();
    *pairs = NULL;
    *n_pairs = 0;
    pair_list l = {NULL, 0, 0};
    float *sim = NULL;
    if (feat && n > 0) {
        sim = malloc((size_t)BLOCK_ROWS * n * sizeof *sim);
        if (!sim)
            return df_error_set(err, DF_ERR_NOMEM, "duplicates: out of memory for %d x %d cosines",
                                BLOCK_ROWS, n);
    }
    for (int a0 = 0; a0 < n; a0 += BLOCK_ROWS) {
        int rows = n - a0 < BLOCK_ROWS ? n - a0 : BLOCK_ROWS;
        if (sim)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, (int)F, 1.0f,
                        feat + (size_t)a0 * F, (int)F, feat, (int)F, 0.0f, sim, n);
        for (int r = 0; r < rows; r++) {
            int a = a0 + r;
            for (int b = a + 1; b < n; b++) {
                float c = sim ? sim[(size_t)r * n + b] : NAN;
                df_dupes_pair q;
                if (judge(p, a, b, c, &o, &q) && !push(&l, q)) {
                    free(l.v);
                    free(sim);
                    return df_error_set(err, DF_ERR_NOMEM, "duplicates: out of memory for %d pairs",
                                        l.n);
                }
            }
        }
    }
    free(sim);
    *pairs = l.v;
    *n_pairs = l.n;
    return DF_OK;
}
