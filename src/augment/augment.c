/*
 * Keras-compatible augmentation (see augment.h): parameter sampling, the one
 * affine pull matrix, and the inverse warp. The warp matches
 * scipy.ndimage.affine_transform(order=1, mode="nearest") as Keras calls it,
 * with the geometric centre; tests/test_augment.c holds the slow reference.
 */
#include "augment/augment.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static const double DEG = 3.14159265358979323846 / 180.0;

df_augment_config df_augment_config_original(void) {
    df_augment_config c = {.width_shift = 0.2,
                           .height_shift = 0.2,
                           .shear_deg = 0.2,
                           .zoom = 0.2,
                           .rotation_deg = 0.0,
                           .horizontal_flip = 1,
                           .vertical_flip = 1};
    return c;
}

df_augment_config df_augment_config_none(void) {
    df_augment_config c = {0};
    return c;
}

static df_status check_range(double v, double lo, double hi, int hi_open, const char *name,
                             df_error *err) {
    if (!isfinite(v) || v < lo || v > hi || (hi_open && v == hi))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "augmentation %s is %g (expected %g <= value %s %g)", name, v, lo,
                            hi_open ? "<" : "<=", hi);
    return DF_OK;
}

/* The additions beyond Keras (see augment.h). */
static df_status check_extras(const df_augment_config *cfg, df_error *err) {
    df_status st;
    if ((st = check_range(cfg->zoom_in, 0.0, 1.0, 1, "zoom-in", err))) return st;
    if ((st = check_range(cfg->zoom_out, 0.0, 4.0, 0, "zoom-out", err))) return st;
    if ((st = check_range(cfg->brightness, 0.0, 1.0, 1, "brightness", err))) return st;
    if ((st = check_range(cfg->contrast, 0.0, 1.0, 1, "contrast", err))) return st;
    if ((st = check_range(cfg->saturation, 0.0, 1.0, 0, "saturation", err))) return st;
    if ((st = check_range(cfg->grayscale, 0.0, 1.0, 0, "grayscale probability", err))) return st;
    if (cfg->fill_value < 0 || cfg->fill_value > 255)
        return df_error_set(err, DF_ERR_INVALID_ARG, "augmentation fill value is %d (expected 0..255)",
                            cfg->fill_value);
    return DF_OK;
}

int df_augment_config_beyond_keras(const df_augment_config *cfg) {
    return cfg->zoom_in != 0.0 || cfg->zoom_out != 0.0 || cfg->fill_constant || cfg->brightness != 0.0 ||
           cfg->contrast != 0.0 || cfg->saturation != 0.0 || cfg->grayscale != 0.0;
}

df_status df_augment_config_check(const df_augment_config *cfg, df_error *err) {
    df_status st;
    if ((st = check_range(cfg->width_shift, 0.0, 1.0, 1, "width shift", err))) return st;
    if ((st = check_range(cfg->height_shift, 0.0, 1.0, 1, "height shift", err))) return st;
    if ((st = check_range(cfg->shear_deg, 0.0, 90.0, 1, "shear (degrees)", err))) return st;
    if ((st = check_range(cfg->zoom, 0.0, 1.0, 1, "zoom", err))) return st;
    if ((st = check_range(cfg->rotation_deg, 0.0, 180.0, 0, "rotation (degrees)", err))) return st;
    return check_extras(cfg, err);
}

df_augment_params df_augment_params_identity(void) {
    df_augment_params p = {.tx = 0, .ty = 0, .shear = 0, .zx = 1, .zy = 1, .theta = 0,
                           .flip_h = 0, .flip_v = 0};
    return p; /* the fields after flip_v are zero: no scale, edge fill, no jitter */
}

/* U(lo, hi) from one 24-bit draw, widened to double before scaling. */
static double uniform(df_rng *rng, double lo, double hi) {
    return lo + (hi - lo) * (double)df_rng_uniform(rng);
}

void df_augment_sample(const df_augment_config *cfg, int h, int w, df_rng *rng,
                       df_augment_params *out) {
    memset(out, 0, sizeof *out); /* padding too: params compare with memcmp */
    /* Always eight draws in Keras' order, whatever the ranges. */
    out->theta = uniform(rng, -cfg->rotation_deg, cfg->rotation_deg);
    out->tx = uniform(rng, -cfg->height_shift, cfg->height_shift) * h;
    out->ty = uniform(rng, -cfg->width_shift, cfg->width_shift) * w;
    out->shear = uniform(rng, -cfg->shear_deg, cfg->shear_deg);
    out->zx = uniform(rng, 1.0 - cfg->zoom, 1.0 + cfg->zoom);
    out->zy = uniform(rng, 1.0 - cfg->zoom, 1.0 + cfg->zoom);
    float u = df_rng_uniform(rng);
    out->flip_h = cfg->horizontal_flip && u < 0.5f;
    u = df_rng_uniform(rng);
    out->flip_v = cfg->vertical_flip && u < 0.5f;
    /* Then always five more, so the eight above never change. */
    out->scale = uniform(rng, -cfg->zoom_in, cfg->zoom_out);
    out->contrast = uniform(rng, -cfg->contrast, cfg->contrast);
    out->brightness = uniform(rng, -cfg->brightness, cfg->brightness);
    out->saturation = uniform(rng, -cfg->saturation, cfg->saturation);
    out->grayscale = (double)df_rng_uniform(rng) < cfg->grayscale;
    out->fill_constant = cfg->fill_constant;
    out->fill_value = cfg->fill_value;
}

void df_augment_matrix(const df_augment_params *p, int h, int w, double m[6]) {
    double ct = cos(p->theta * DEG), st = sin(p->theta * DEG);
    double s = p->shear * DEG;
    /* scale 0 multiplies by exactly 1: a pure Keras warp is unchanged. */
    double zx = p->zx * (1.0 + p->scale), zy = p->zy * (1.0 + p->scale);
    /* R * T * S * Z, linear part and translation (row, col order). */
    double a = zx * ct, b = -zy * sin(s + p->theta * DEG);
    double c = zx * st, d = zy * cos(s + p->theta * DEG);
    double t0 = ct * p->tx - st * p->ty;
    double t1 = st * p->tx + ct * p->ty;
    double cr = (h - 1) * 0.5, cc = (w - 1) * 0.5;
    m[0] = a;
    m[1] = b;
    m[2] = cr + t0 - (a * cr + b * cc);
    m[3] = c;
    m[4] = d;
    m[5] = cc + t1 - (c * cr + d * cc);
}

/* Copies src to dst with optional mirroring; the warp's identity case. */
static void copy_flipped(const df_image *src, int flip_h, int flip_v, uint8_t *dst) {
    int h = src->height, w = src->width;
    size_t row = (size_t)w * 3;
    for (int r = 0; r < h; r++) {
        const uint8_t *s = src->pixels + (size_t)r * row;
        uint8_t *d = dst + (size_t)(flip_v ? h - 1 - r : r) * row;
        if (!flip_h) {
            memcpy(d, s, row);
        } else {
            for (int c = 0; c < w; c++) memcpy(d + (size_t)(w - 1 - c) * 3, s + (size_t)c * 3, 3);
        }
    }
}

/* The warp runs in fixed point: coordinates carry FRAC_BITS fraction bits
 * in int64 (so c * increment has no drift worth a grey level: at most
 * W * 2^-25 pixel), bilinear weights keep the top WBITS of the fraction
 * (weight error <= 2^-11, so <= 0.25 grey level before rounding). */
enum { FRAC_BITS = 24, WBITS = 11, WONE = 1 << WBITS };

/* |x| <= lim keeps base + increment * c inside int64 (see the caller). */
static int64_t to_fixed(double x, double lim) {
    if (x > lim) x = lim;
    if (x < -lim) x = -lim;
    return (int64_t)llround(x * (double)(1 << FRAC_BITS));
}

static inline int clamp_index(int64_t k, int n) {
    return k < 0 ? 0 : (k > n - 1 ? n - 1 : (int)k);
}

typedef struct warp_src {
    const uint8_t *in;
    size_t stride;
    int h, w, fill, flip_h;
    uint8_t fv[3];
} warp_src;

/* One output pixel from the fixed-point source position (rf, cf). */
static inline void warp_pixel(const warp_src *s, int64_t rf, int64_t cf, uint8_t *o) {
    const int h = s->h, w = s->w;
    const size_t stride = s->stride;
    int64_t rk = rf >> FRAC_BITS, ck = cf >> FRAC_BITS; /* floor */
    int32_t fr = (int32_t)((rf >> (FRAC_BITS - WBITS)) & (WONE - 1));
    int32_t fc = (int32_t)((cf >> (FRAC_BITS - WBITS)) & (WONE - 1));
    const uint8_t *p00, *p01, *p10, *p11;
    if ((uint64_t)rk < (uint64_t)(h - 1) && (uint64_t)ck < (uint64_t)(w - 1)) {
        /* all four neighbours inside: nothing to clamp or fill (most pixels) */
        p00 = s->in + (size_t)rk * stride + (size_t)ck * 3;
        p01 = p00 + 3;
        p10 = p00 + stride;
        p11 = p10 + 3;
    } else {
        size_t r0 = (size_t)clamp_index(rk, h) * stride;
        size_t r1 = (size_t)clamp_index(rk + 1, h) * stride;
        size_t c0 = (size_t)clamp_index(ck, w) * 3, c1 = (size_t)clamp_index(ck + 1, w) * 3;
        p00 = s->in + r0 + c0;
        p01 = s->in + r0 + c1;
        p10 = s->in + r1 + c0;
        p11 = s->in + r1 + c1;
        if (s->fill) {
            int r0_in = rk >= 0 && rk < h, r1_in = rk + 1 >= 0 && rk + 1 < h;
            int c0_in = ck >= 0 && ck < w, c1_in = ck + 1 >= 0 && ck + 1 < w;
            if (!(r0_in && c0_in)) p00 = s->fv;
            if (!(r0_in && c1_in)) p01 = s->fv;
            if (!(r1_in && c0_in)) p10 = s->fv;
            if (!(r1_in && c1_in)) p11 = s->fv;
        }
    }
    for (int k = 0; k < 3; k++) {
        int32_t top = p00[k] * (WONE - fc) + p01[k] * fc;
        int32_t bot = p10[k] * (WONE - fc) + p11[k] * fc;
        int32_t v = top * (WONE - fr) + bot * fr + (1 << (2 * WBITS - 1));
        o[k] = (uint8_t)(v >> (2 * WBITS));
    }
}

/* Columns [c0, c1) of one output row: source positions start + inc * c. */
static void warp_span(const warp_src *s, int64_t r_start, int64_t c_start, int64_t r_inc, int64_t c_inc, int c0,
                      int c1, uint8_t *out) {
    for (int c = c0; c < c1; c++)
        warp_pixel(s, r_start + r_inc * c, c_start + c_inc * c, out + (size_t)(s->flip_h ? s->w - 1 - c : c) * 3);
}

/* Increments for which the vector rows hold (axis8): 8 source pixels per output pixel. */
static int vector_increments(int64_t r_inc, int64_t c_inc) {
    const int64_t lim = (int64_t)8 << FRAC_BITS;
    return r_inc > -lim && r_inc < lim && c_inc > -lim && c_inc < lim;
}

#if defined(__x86_64__) || defined(__i386__)
/* One channel of eight pixels, bit for bit warp_pixel's arithmetic: with
 * g = 2^11 - f, a * g + b * f is (a << 11) + (b - a) * f, the same integer
 * with one product instead of two (|b - a| * f < 255 * 2^11 and |bot - top|
 * * fr < 2^30, so nothing leaves int32). */
__attribute__((target("avx2"))) static inline __m256i blend8(__m256i a, __m256i b, __m256i c, __m256i d, __m256i fr,
                                                             __m256i fc) {
    const __m256i top = _mm256_add_epi32(_mm256_slli_epi32(a, WBITS), _mm256_mullo_epi32(_mm256_sub_epi32(b, a), fc));
    const __m256i bot = _mm256_add_epi32(_mm256_slli_epi32(c, WBITS), _mm256_mullo_epi32(_mm256_sub_epi32(d, c), fc));
    const __m256i v = _mm256_add_epi32(_mm256_slli_epi32(top, WBITS), _mm256_mullo_epi32(_mm256_sub_epi32(bot, top), fr));
    return _mm256_srli_epi32(_mm256_add_epi32(v, _mm256_set1_epi32(1 << (2 * WBITS - 1))), 2 * WBITS);
}

/* The RGB of eight pixels at byte offsets off in the photo, as R | G << 8 |
 * B << 16: a 4-byte gather at the pixel, or one byte earlier for the last
 * column (col == w - 1) so that no read passes the photo's end. */
__attribute__((target("avx2"))) static inline __m256i rgb8(const warp_src *s, __m256i off, __m256i col) {
    const __m256i last = _mm256_cmpeq_epi32(col, _mm256_set1_epi32(s->w - 1));
    const __m256i v = _mm256_i32gather_epi32((const int *)(const void *)s->in,
                                             _mm256_add_epi32(off, last) /* last = -1 */, 1);
    return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_and_si256(last, _mm256_set1_epi32(8))),
                            _mm256_set1_epi32(0xffffff));
}

/* Positions of the eight pixels of a block along one axis, warp_pixel's
 * floor (*k) and weight (*f), from the block's first position p in 32-bit
 * lanes: with p = A * 2^24 + t0 (0 <= t0 < 2^24), lane j is A * 2^24 + t0 +
 * j * inc, so its floor is A + ((t0 + j * inc) >> 24) and its weight
 * ((t0 + j * inc) >> 13) & 2047, the int64 arithmetic's values exactly
 * while |A| < 2^20 and |7 * inc| < 2^31 - 2^24 (the caller checks both). */
__attribute__((target("avx2"))) static inline void axis8(int64_t p, __m256i steps, __m256i *k, __m256i *f) {
    const __m256i t = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(p & ((1 << FRAC_BITS) - 1))), steps);
    *k = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(p >> FRAC_BITS)), _mm256_srai_epi32(t, FRAC_BITS));
    *f = _mm256_and_si256(_mm256_srai_epi32(t, FRAC_BITS - WBITS), _mm256_set1_epi32(WONE - 1));
}

/* Shuffles taking byte k (R, G, B) of each 32-bit lane to its low byte,
 * the rest zero. */
__attribute__((target("avx2"))) static inline void channel_picks(__m256i pick[3]) {
    for (int k = 0; k < 3; k++) {
        const char z = -1;
        pick[k] = _mm256_setr_epi8((char)k, z, z, z, (char)(4 + k), z, z, z, (char)(8 + k), z, z, z, (char)(12 + k), z,
                                   z, z, (char)k, z, z, z, (char)(4 + k), z, z, z, (char)(8 + k), z, z, z,
                                   (char)(12 + k), z, z, z);
    }
}

/* Eight pixels R | G << 8 | B << 16 (lanes in column order from column c)
 * to their 24 bytes of the output row, mirrored with flip_h: exactly 24
 * bytes, nothing outside the eight pixels written. */
__attribute__((target("avx2"))) static inline void store8(__m256i px, uint8_t *out, int c, int w, int flip_h) {
    const __m128i pack = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
    uint8_t *o = out + (size_t)c * 3;
    if (flip_h) {
        px = _mm256_permutevar8x32_epi32(px, _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0));
        o = out + (size_t)(w - 8 - c) * 3;
    }
    const __m128i lo = _mm_shuffle_epi8(_mm256_castsi256_si128(px), pack);
    const __m128i hi = _mm_shuffle_epi8(_mm256_extracti128_si256(px, 1), pack);
    _mm_storel_epi64((__m128i *)(void *)o, lo);
    uint32_t tail = (uint32_t)_mm_extract_epi32(lo, 2);
    memcpy(o + 8, &tail, 4);
    _mm_storel_epi64((__m128i *)(void *)(o + 12), hi);
    tail = (uint32_t)_mm_extract_epi32(hi, 2);
    memcpy(o + 20, &tail, 4);
}

/* A row eight pixels at a time, warp_pixel's arithmetic in every lane
 * (edge clamping and the fill included); warp_pixel for the last w % 8 and
 * for blocks that start 2^20 pixels or more outside the photo. */
__attribute__((target("avx2"))) static void warp_row_avx2(const warp_src *s, int64_t r_start, int64_t c_start,
                                                          int64_t r_inc, int64_t c_inc, uint8_t *out) {
    const int w = s->w, h = s->h;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i rsteps = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int32_t)r_inc));
    const __m256i csteps = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int32_t)c_inc));
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1);
    const __m256i hmax = _mm256_set1_epi32(h - 1), wmax = _mm256_set1_epi32(w - 1);
    const __m256i stride = _mm256_set1_epi32((int)s->stride);
    const __m256i fillw = _mm256_set1_epi32(s->fv[0] * 0x010101);
    __m256i pick[3];
    channel_picks(pick);
    const int64_t far = (int64_t)1 << (20 + FRAC_BITS);
    int c = 0;
    for (; c + 8 <= w; c += 8) {
        const int64_t ra = r_start + r_inc * c, ca = c_start + c_inc * c;
        if (ra <= -far || ra >= far || ca <= -far || ca >= far) {
            warp_span(s, r_start, c_start, r_inc, c_inc, c, c + 8, out);
            continue;
        }
        __m256i rk, fr, ck, fc;
        axis8(ra, rsteps, &rk, &fr);
        axis8(ca, csteps, &ck, &fc);
        const __m256i rk1 = _mm256_add_epi32(rk, one), ck1 = _mm256_add_epi32(ck, one);
        const __m256i r0 = _mm256_min_epi32(_mm256_max_epi32(rk, zero), hmax);
        const __m256i r1 = _mm256_min_epi32(_mm256_max_epi32(rk1, zero), hmax);
        const __m256i c0 = _mm256_min_epi32(_mm256_max_epi32(ck, zero), wmax);
        const __m256i c1 = _mm256_min_epi32(_mm256_max_epi32(ck1, zero), wmax);
        const __m256i o0 = _mm256_mullo_epi32(r0, stride), o1 = _mm256_mullo_epi32(r1, stride);
        const __m256i x0 = _mm256_add_epi32(_mm256_add_epi32(c0, c0), c0);
        const __m256i x1 = _mm256_add_epi32(_mm256_add_epi32(c1, c1), c1);
        __m256i p00 = rgb8(s, _mm256_add_epi32(o0, x0), c0), p01 = rgb8(s, _mm256_add_epi32(o0, x1), c1);
        __m256i p10 = rgb8(s, _mm256_add_epi32(o1, x0), c0), p11 = rgb8(s, _mm256_add_epi32(o1, x1), c1);
        if (s->fill) { /* a neighbour outside the photo reads as the grey level */
            const __m256i r0in = _mm256_cmpeq_epi32(r0, rk), r1in = _mm256_cmpeq_epi32(r1, rk1);
            const __m256i c0in = _mm256_cmpeq_epi32(c0, ck), c1in = _mm256_cmpeq_epi32(c1, ck1);
            p00 = _mm256_blendv_epi8(fillw, p00, _mm256_and_si256(r0in, c0in));
            p01 = _mm256_blendv_epi8(fillw, p01, _mm256_and_si256(r0in, c1in));
            p10 = _mm256_blendv_epi8(fillw, p10, _mm256_and_si256(r1in, c0in));
            p11 = _mm256_blendv_epi8(fillw, p11, _mm256_and_si256(r1in, c1in));
        }
        __m256i px = zero;
        for (int k = 0; k < 3; k++) {
            __m256i v = blend8(_mm256_shuffle_epi8(p00, pick[k]), _mm256_shuffle_epi8(p01, pick[k]),
                               _mm256_shuffle_epi8(p10, pick[k]), _mm256_shuffle_epi8(p11, pick[k]), fr, fc);
            px = _mm256_or_si256(px, _mm256_slli_epi32(v, 8 * k));
        }
        store8(px, out, c, w, s->flip_h);
    }
    warp_span(s, r_start, c_start, r_inc, c_inc, c, w, out);
}

/* ---- axis-aligned warps (no rotation, no shear: the default recipe's) ----
 * Every output row then reads the same columns at the same weights from
 * two source rows, so each source row is blended along the row once, into
 * warp_pixel's top (p0 (2^11 - fc) + p1 fc per channel, int32), and each
 * output row is the blend of two such rows: warp_pixel's arithmetic, bit
 * for bit, with two gathers per pixel of a source row (each row serving
 * about two output rows) where the general rows gather four per pixel. */
typedef struct axis_warp {
    const warp_src *s;
    int32_t *off0, *off1, *fc; /* per output column: byte offsets of the two neighbours, weight */
    int32_t *c0in, *c1in;      /* fill: -1 where the neighbour's column is inside the photo */
    int32_t *rows[2];          /* blended source rows: 3 planes (R, G, B) of w */
    int64_t key[2];            /* their source row; INT64_MIN none; with fill, -1 for rows outside */
    int32_t *base;             /* per 8 columns: the 16 bytes each half's neighbours lie in (see group_picks) */
    uint8_t *pick;             /* per 8 columns: 32-byte shuffles for off0's, then off1's */
} axis_warp;

/* Byte shuffles instead of gathers (AMD's cost about 20 cycles each; they
 * were most of a warp's time): the four pixels of each half of columns c ..
 * c + 7 usually lie in the 16 bytes from the first one's (a zoom of up to
 * about 1.3), for off0 and for off1 alike. base[4 g ..] receives those
 * bytes' offsets in the row (off0 low half, high half, then off1's), and
 * pick[64 g ..] the shuffles taking each pixel's R, G, B to its lane's low
 * three bytes, the fourth zero: rgb8's layout. 0 when some pixel does not
 * fit or the 16 bytes pass the row's end (the group gathers). */
static int group_picks(const axis_warp *a, int c, int32_t *base, uint8_t *pick) {
    const int row_bytes = 3 * a->s->w;
    for (int t = 0; t < 2; t++) {
        const int32_t *off = t ? a->off1 : a->off0;
        for (int half = 0; half < 2; half++) {
            const int32_t b = off[c + 4 * half];
            uint8_t *pk = pick + 32 * t + 16 * half;
            if (b + 16 > row_bytes) return 0;
            for (int j = 0; j < 4; j++) {
                const int32_t d = off[c + 4 * half + j] - b;
                if (d < 0 || d + 2 > 15) return 0;
                pk[4 * j] = (uint8_t)d;
                pk[4 * j + 1] = (uint8_t)(d + 1);
                pk[4 * j + 2] = (uint8_t)(d + 2);
                pk[4 * j + 3] = 0x80;
            }
            base[2 * t + half] = b;
        }
    }
    return 1;
}

/* Eight pixels' R | G << 8 | B << 16 from a row by a group's shuffle. */
__attribute__((target("avx2"))) static inline __m256i rgb8_picked(const uint8_t *row, const int32_t *base,
                                                                  const uint8_t *pick) {
    const __m256i v = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(row + base[0]))),
        _mm_loadu_si128((const __m128i *)(const void *)(row + base[1])), 1);
    return _mm256_shuffle_epi8(v, _mm256_loadu_si256((const __m256i *)(const void *)pick));
}

/* Source row r (clamped; inside, with fill) blended along the row into h. */
__attribute__((target("avx2"))) static void axis_row_blend(const axis_warp *a, int r, int inside, int32_t *h) {
    const warp_src *s = a->s;
    const int w = s->w;
    const __m256i fillw = _mm256_set1_epi32(s->fv[0] * 0x010101);
    __m256i pick[3];
    channel_picks(pick);
    const __m256i orow = _mm256_set1_epi32((int32_t)((size_t)r * s->stride));
    const __m256i wlast = _mm256_set1_epi32(3 * (w - 1));
    /* rgb8 reads the last column from a byte earlier: its column is w - 1
     * there (and 0 elsewhere, which it does not look at) */
    const __m256i wcol = _mm256_set1_epi32(w - 1);
    const uint8_t *row = s->in + (size_t)r * s->stride;
    int c = 0;
    for (; c + 8 <= w; c += 8) {
        __m256i p0, p1;
        const int32_t *gb = a->base + 4 * (c / 8);
        if (s->fill && !inside) {
            p0 = p1 = fillw;
        } else {
            if (gb[0] >= 0) {
                const uint8_t *pk = a->pick + (size_t)64 * (size_t)(c / 8);
                p0 = rgb8_picked(row, gb, pk);
                p1 = rgb8_picked(row, gb + 2, pk + 32);
            } else {
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(a->off0 + c));
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(a->off1 + c));
                p0 = rgb8(s, _mm256_add_epi32(orow, x0), _mm256_and_si256(_mm256_cmpeq_epi32(x0, wlast), wcol));
                p1 = rgb8(s, _mm256_add_epi32(orow, x1), _mm256_and_si256(_mm256_cmpeq_epi32(x1, wlast), wcol));
            }
            if (s->fill) {
                p0 = _mm256_blendv_epi8(fillw, p0, _mm256_loadu_si256((const __m256i *)(const void *)(a->c0in + c)));
                p1 = _mm256_blendv_epi8(fillw, p1, _mm256_loadu_si256((const __m256i *)(const void *)(a->c1in + c)));
            }
        }
        const __m256i fc = _mm256_loadu_si256((const __m256i *)(const void *)(a->fc + c));
        for (int k = 0; k < 3; k++) {
            const __m256i u = _mm256_shuffle_epi8(p0, pick[k]), v = _mm256_shuffle_epi8(p1, pick[k]);
            _mm256_storeu_si256((__m256i *)(void *)(h + (size_t)k * w + c),
                                _mm256_add_epi32(_mm256_slli_epi32(u, WBITS), _mm256_mullo_epi32(_mm256_sub_epi32(v, u), fc)));
        }
    }
    for (; c < w; c++)
        for (int k = 0; k < 3; k++) {
            const int u = s->fill && (!inside || !a->c0in[c]) ? s->fv[k] : s->in[(size_t)r * s->stride + a->off0[c] + k];
            const int v = s->fill && (!inside || !a->c1in[c]) ? s->fv[k] : s->in[(size_t)r * s->stride + a->off1[c] + k];
            h[(size_t)k * w + c] = u * (WONE - a->fc[c]) + v * a->fc[c];
        }
}

/* The row source row rk (unclamped) reads: the clamped one, or with a
 * fill -1 for any row outside (all the fill value). */
static int64_t axis_row_key(const warp_src *s, int64_t rk) {
    return s->fill && !(rk >= 0 && rk < s->h) ? -1 : clamp_index(rk, s->h);
}

/* The blended row for source row rk (unclamped), from the two kept or
 * made into the one the other row of this output row does not need. */
static const int32_t *axis_row(axis_warp *a, int64_t rk, int64_t keep) {
    const warp_src *s = a->s;
    const int inside = rk >= 0 && rk < s->h;
    const int64_t key = axis_row_key(s, rk);
    for (int t = 0; t < 2; t++)
        if (a->key[t] == key) return a->rows[t];
    const int t = a->key[0] == keep ? 1 : 0;
    axis_row_blend(a, clamp_index(rk, s->h), inside, a->rows[t]);
    a->key[t] = key;
    return a->rows[t];
}

/* One output row from blended rows top (rk) and bot (rk + 1) at weight fr. */
__attribute__((target("avx2"))) static void axis_out_row(const warp_src *s, const int32_t *top, const int32_t *bot,
                                                         int32_t fr, uint8_t *out) {
    const int w = s->w;
    const __m256i f = _mm256_set1_epi32(fr), half = _mm256_set1_epi32(1 << (2 * WBITS - 1));
    int c = 0;
    for (; c + 8 <= w; c += 8) {
        __m256i px = _mm256_setzero_si256();
        for (int k = 0; k < 3; k++) {
            const __m256i t = _mm256_loadu_si256((const __m256i *)(const void *)(top + (size_t)k * w + c));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(bot + (size_t)k * w + c));
            const __m256i v = _mm256_add_epi32(_mm256_slli_epi32(t, WBITS), _mm256_mullo_epi32(_mm256_sub_epi32(b, t), f));
            px = _mm256_or_si256(px, _mm256_slli_epi32(_mm256_srli_epi32(_mm256_add_epi32(v, half), 2 * WBITS), 8 * k));
        }
        store8(px, out, c, w, s->flip_h);
    }
    for (; c < w; c++) {
        uint8_t *o = out + (size_t)(s->flip_h ? w - 1 - c : c) * 3;
        for (int k = 0; k < 3; k++) {
            const int32_t t = top[(size_t)k * w + c], b = bot[(size_t)k * w + c];
            o[k] = (uint8_t)((t * (WONE - fr) + b * fr + (1 << (2 * WBITS - 1))) >> (2 * WBITS));
        }
    }
}

/* The warp when m[1] = m[3] = 0 (rows and columns map independently);
 * 0 when out of memory (the caller warps the general way). */
static int warp_axis_aligned(const warp_src *s, const double m[6], double base_lim, int64_t c_inc, int flip_v,
                             uint8_t *dst) {
    const int h = s->h, w = s->w;
    axis_warp a = {.s = s, .key = {INT64_MIN, INT64_MIN}};
    const size_t groups = (size_t)w / 8;
    int32_t *buf = malloc(sizeof(int32_t) * ((size_t)w * 11 + 4 * groups));
    uint8_t *pick = malloc(64 * groups + 1);
    if (!buf || !pick) {
        free(buf);
        free(pick);
        return 0;
    }
    a.off0 = buf, a.off1 = buf + w, a.fc = buf + 2 * (size_t)w, a.c0in = buf + 3 * (size_t)w;
    a.c1in = buf + 4 * (size_t)w, a.rows[0] = buf + 5 * (size_t)w, a.rows[1] = buf + 8 * (size_t)w;
    a.base = buf + 11 * (size_t)w, a.pick = pick;
    const int64_t c_start = to_fixed(m[5], base_lim);
    for (int c = 0; c < w; c++) {
        const int64_t cf = c_start + c_inc * c, ck = cf >> FRAC_BITS;
        a.off0[c] = 3 * clamp_index(ck, w);
        a.off1[c] = 3 * clamp_index(ck + 1, w);
        a.fc[c] = (int32_t)((cf >> (FRAC_BITS - WBITS)) & (WONE - 1));
        a.c0in[c] = ck >= 0 && ck < w ? -1 : 0;
        a.c1in[c] = ck + 1 >= 0 && ck + 1 < w ? -1 : 0;
    }
    for (size_t g = 0; g < groups; g++)
        if (!group_picks(&a, (int)(8 * g), a.base + 4 * g, a.pick + 64 * g)) a.base[4 * g] = -1;
    for (int r = 0; r < h; r++) {
        const int64_t rf = to_fixed(m[0] * r + m[2], base_lim), rk = rf >> FRAC_BITS;
        const int32_t fr = (int32_t)((rf >> (FRAC_BITS - WBITS)) & (WONE - 1));
        const int32_t *top = axis_row(&a, rk, INT64_MIN);
        const int32_t *bot = axis_row(&a, rk + 1, axis_row_key(s, rk));
        axis_out_row(s, top, bot, fr, dst + (size_t)(flip_v ? h - 1 - r : r) * s->stride);
    }
    free(buf);
    free(pick);
    return 1;
}
#endif

/* The bilinear inverse warp of src into dst (already allocated, src's
 * size) by the pull matrix m, neighbours outside the photo clamped to its
 * edge (fill 0) or taken as the grey level fill_value. isa picks the row
 * kernel; every kernel gives the same bytes. */
static void warp(const df_image *src, const double m[6], const df_augment_params *p, uint8_t *dst, df_cpu_isa isa) {
    int h = src->height, w = src->width;
    const warp_src s = {.in = src->pixels, .stride = (size_t)w * 3, .h = h, .w = w, .fill = p->fill_constant,
                        .flip_h = p->flip_h,
                        .fv = {(uint8_t)p->fill_value, (uint8_t)p->fill_value, (uint8_t)p->fill_value}};
    /* Coordinates this far out clamp to the edge anyway; bounding them
     * keeps |start + increment * c| below 2^55. */
    const double base_lim = (double)(1 << 30), inc_lim = base_lim / (w + 1.0);
    int64_t r_inc = to_fixed(m[1], inc_lim), c_inc = to_fixed(m[4], inc_lim);
    /* the vector rows address the photo with int32 byte offsets, and read
     * the last column from one byte before it (w >= 2) */
    const int vector = isa >= DF_CPU_ISA_AVX2 && w >= 2 && (size_t)h * s.stride + 4 < (size_t)INT32_MAX &&
                       vector_increments(r_inc, c_inc);
    (void)vector;
#if defined(__x86_64__) || defined(__i386__)
    if (vector && r_inc == 0 && m[3] == 0.0 && warp_axis_aligned(&s, m, base_lim, c_inc, p->flip_v, dst)) return;
#endif
    for (int r = 0; r < h; r++) {
        /* Coordinates are affine in c: start of the row plus c times the
         * per-column increment (m[1], m[4]). */
        int64_t r_start = to_fixed(m[0] * r + m[2], base_lim);
        int64_t c_start = to_fixed(m[3] * r + m[5], base_lim);
        uint8_t *out = dst + (size_t)(p->flip_v ? h - 1 - r : r) * s.stride;
#if defined(__x86_64__) || defined(__i386__)
        if (vector) {
            warp_row_avx2(&s, r_start, c_start, r_inc, c_inc, out);
            continue;
        }
#endif
        warp_span(&s, r_start, c_start, r_inc, c_inc, 0, w, out);
    }
}

static inline float clamp255(float v) { return v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v); }

/* The photometric jitter in place (see augment.h). Contrast and brightness
 * act on each channel value alone, so they are one table of 256 entries
 * per image; saturation and grey mix the channels per pixel. */
static void jitter(const df_augment_params *p, uint8_t *px, size_t n) {
    double grey_sum = 0.0;
    if (p->contrast != 0.0) {
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++) s += 299u * px[3 * i] + 587u * px[3 * i + 1] + 114u * px[3 * i + 2];
        grey_sum = (double)s / 1000.0;
    }
    const float mean = n ? (float)(grey_sum / (double)n) : 0.0f;
    const float c = (float)(1.0 + p->contrast), b = (float)(1.0 + p->brightness), a = (float)(1.0 + p->saturation);
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = clamp255(b * clamp255(mean + c * ((float)v - mean)));
    const int mix = p->saturation != 0.0 || p->grayscale;
    for (size_t i = 0; i < n; i++) {
        uint8_t *q = px + 3 * i;
        float v[3] = {lut[q[0]], lut[q[1]], lut[q[2]]};
        if (mix) {
            float g = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
            for (int k = 0; k < 3; k++) v[k] = clamp255(g + a * (v[k] - g));
            if (p->grayscale) {
                g = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
                v[0] = v[1] = v[2] = g;
            }
        }
        for (int k = 0; k < 3; k++) q[k] = (uint8_t)(v[k] + 0.5f);
    }
}

df_status df_augment_apply(const df_image *src, const df_augment_params *p, df_image *dst,
                           df_error *err) {
    return df_augment_apply_isa(src, p, dst, df_cpu_isa_best(), err);
}

df_status df_augment_apply_isa(const df_image *src, const df_augment_params *p, df_image *dst, df_cpu_isa isa,
                               df_error *err) {
    int h = src->height, w = src->width;
    if (h <= 0 || w <= 0 || !src->pixels)
        return df_error_set(err, DF_ERR_INVALID_ARG, "augment: empty source image (%dx%d)", w, h);
    double m[6];
    df_augment_matrix(p, h, w, m);
    for (int i = 0; i < 6; i++)
        if (!isfinite(m[i]))
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "augment: parameters give a non-finite transform");
    const double jit[3] = {p->contrast, p->brightness, p->saturation};
    for (int i = 0; i < 3; i++)
        if (!isfinite(jit[i]) || jit[i] < -1.0 || jit[i] > 4.0)
            return df_error_set(err, DF_ERR_INVALID_ARG, "augment: photometric factor %g out of range",
                                1.0 + jit[i]);
    if (p->fill_constant && (p->fill_value < 0 || p->fill_value > 255))
        return df_error_set(err, DF_ERR_INVALID_ARG, "augment: fill value %d is not 0..255", p->fill_value);
    if (dst->pixels) {
        if (dst->width != w || dst->height != h)
            return df_error_set(err, DF_ERR_SHAPE,
                                "augment: destination is %dx%d, source is %dx%d", dst->width,
                                dst->height, w, h);
        if (dst->pixels == src->pixels)
            return df_error_set(err, DF_ERR_INVALID_ARG, "augment: source and destination alias");
    } else {
        df_status st = df_image_alloc(dst, w, h, err);
        if (st != DF_OK) return st;
    }
    if (m[0] == 1.0 && m[1] == 0.0 && m[2] == 0.0 && m[3] == 0.0 && m[4] == 1.0 && m[5] == 0.0)
        copy_flipped(src, p->flip_h, p->flip_v, dst->pixels);
    else
        warp(src, m, p, dst->pixels, isa);
    if (p->contrast != 0.0 || p->brightness != 0.0 || p->saturation != 0.0 || p->grayscale)
        jitter(p, dst->pixels, (size_t)w * (size_t)h);
    return DF_OK;
}
