/*
 * deepfashion audit (src/audit): the kernels against direct references,
 * the duplicate detector against the edits a copy goes through
 * (re-encoding, resizing, cropping, EXIF rotation, another format), the
 * set-relative quality flags, the confident-learning label check, and the
 * whole command on a generated fixture set with planted problems: the
 * findings, the JSON shape, the CSV and HTML outputs and a data folder that
 * is byte-identical afterwards. The last test runs on a copy of the closet
 * photos with a planted leak and a dark photo (skipped without ../shared).
 */
#define _XOPEN_SOURCE 700 /* nftw's FTW_PHYS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_internal.h"
#include "backbone/backbone.h"
#include "data/photo.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/sha256.h"
#include "support/jpeg_writer.h"
#include "support/test_support.h"
#include "support/tiny_backbone.h"
#include "support/tflite_builder.h"
#include "formats/tflite.h"

/* ---- generated photos ---- */

/* A photo of a few soft coloured blobs on a gradient, different per seed,
 * with a dominant colour channel dom (or -1). */
static df_image make_photo(int w, int h, uint64_t seed, int dom) {
    df_image img;
    df_error err;
    assert_int_equal(df_image_alloc(&img, w, h, &err), DF_OK);
    df_rng rng;
    df_rng_seed(&rng, seed, 5);
    float cx[6], cy[6], rad[6], col[6][3], g[3];
    for (int b = 0; b < 6; b++) {
        cx[b] = df_rng_uniform(&rng) * w;
        cy[b] = df_rng_uniform(&rng) * h;
        rad[b] = (0.08f + 0.2f * df_rng_uniform(&rng)) * (w < h ? w : h);
        for (int c = 0; c < 3; c++) col[b][c] = 255 * df_rng_uniform(&rng) * (dom < 0 || c == dom ? 1.0f : 0.4f);
    }
    for (int c = 0; c < 3; c++) g[c] = 60 + 120 * df_rng_uniform(&rng);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float v[3];
            for (int c = 0; c < 3; c++) v[c] = g[c] * (0.6f + 0.4f * x / w) * (dom < 0 || c == dom ? 1.0f : 0.5f);
            for (int b = 0; b < 6; b++) {
                float dx = x - cx[b], dy = y - cy[b];
                float a = expf(-(dx * dx + dy * dy) / (2 * rad[b] * rad[b]));
                for (int c = 0; c < 3; c++) v[c] = v[c] * (1 - a) + col[b][c] * a;
            }
            /* fine texture (a weave), so a blurred copy loses detail as a photo would */
            float weave = 18.0f * sinf(1.9f * x + 0.7f * (float)(seed % 5)) * sinf(1.7f * y);
            for (int c = 0; c < 3; c++) {
                float t = v[c] + weave + 12 * (df_rng_uniform(&rng) - 0.5f);
                img.pixels[((size_t)y * w + x) * 3 + c] = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
        }
    return img;
}

static df_image crop(const df_image *src, int mx, int my) {
    df_image out;
    df_error err;
    assert_int_equal(df_image_alloc(&out, src->width - 2 * mx, src->height - 2 * my, &err), DF_OK);
    for (int y = 0; y < out.height; y++)
        memcpy(out.pixels + (size_t)y * out.width * 3, src->pixels + ((size_t)(y + my) * src->width + mx) * 3,
               (size_t)out.width * 3);
    return out;
}

static void box_blur(df_image *img, int r) {
    int W = img->width, H = img->height;
    uint8_t *t = malloc((size_t)W * H * 3);
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    int s = 0, n = 0;
                    for (int d = -r; d <= r; d++) {
                        int xx = pass ? x : x + d, yy = pass ? y + d : y;
                        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
                        s += img->pixels[((size_t)yy * W + xx) * 3 + c];
                        n++;
                    }
                    t[((size_t)y * W + x) * 3 + c] = (uint8_t)(s / n);
                }
        memcpy(img->pixels, t, (size_t)W * H * 3);
    }
    free(t);
}

static void darken(df_image *img, int div) {
    for (size_t i = 0; i < (size_t)img->width * img->height * 3; i++) img->pixels[i] /= div;
}

/* ---- kernels against references ---- */

static void test_laplacian_matches_reference(void **state) {
    (void)state;
    const int w = 37, h = 23;
    float l[37 * 23];
    df_rng rng;
    df_rng_seed(&rng, 3, 1);
    for (int i = 0; i < w * h; i++) l[i] = 255 * df_rng_uniform(&rng);
    /* Reference: the Laplacian image first, then a two-pass variance. */
    double lap[35 * 21], mean = 0, var = 0;
    int n = 0;
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            lap[n] = (double)l[y * w + x - 1] + l[y * w + x + 1] + l[(y - 1) * w + x] + l[(y + 1) * w + x] -
                     4.0 * l[y * w + x];
            mean += lap[n++];
        }
    mean /= n;
    for (int i = 0; i < n; i++) var += (lap[i] - mean) * (lap[i] - mean);
    var /= n;
    double got = df_quality_laplacian_variance(l, w, h);
    assert_true(fabs(got - var) <= 1e-9 * var);
    assert_true(df_quality_laplacian_variance(l, 2, 10) == 0.0);
}

static void test_dct_matches_reference(void **state) {
    (void)state;
    float in[32 * 32], out[64];
    df_rng rng;
    df_rng_seed(&rng, 4, 1);
    for (int i = 0; i < 32 * 32; i++) in[i] = 255 * df_rng_uniform(&rng);
    df_dupes_dct8(in, out);
    for (int v = 0; v < 8; v++)
        for (int u = 0; u < 8; u++) {
            double s = 0, mag = 0;
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    double t = in[y * 32 + x] * cos(M_PI * (2 * x + 1) * u / 64.0) * cos(M_PI * (2 * y + 1) * v / 64.0);
                    s += t;
                    mag += fabs(t);
                }
            /* float output: relative to the sum's magnitude */
            assert_true(fabs(out[v * 8 + u] - s) <= 1e-5 * mag);
        }
}

static void test_knn_matches_reference(void **state) {
    (void)state;
    const int n = 50, F = 16, k = 4;
    float feat[50 * 16];
    int is_ref[50], group[50];
    df_rng rng;
    df_rng_seed(&rng, 6, 1);
    for (int i = 0; i < n * F; i++) feat[i] = df_rng_uniform(&rng) - 0.3f;
    df_dupes_normalize_rows(feat, n, F);
    for (int i = 0; i < n; i++) {
        is_ref[i] = i % 3 != 0;
        group[i] = i % 7 == 0 ? 0 : i; /* photos 0, 7, 14, ... form one group */
    }
    double dist[50];
    int nbr[50 * 4];
    df_error err;
    assert_int_equal(df_audit_knn_distance(feat, n, F, is_ref, group, k, dist, nbr, &err), DF_OK);
    for (int i = 0; i < n; i++) {
        double best[4] = {-2, -2, -2, -2};
        for (int j = 0; j < n; j++) {
            if (j == i || !is_ref[j] || group[j] == group[i]) continue;
            double s = 0;
            for (int f = 0; f < F; f++) s += (double)feat[i * F + f] * feat[j * F + f];
            for (int q = 0; q < k; q++)
                if (s > best[q]) {
                    for (int r = k - 1; r > q; r--) best[r] = best[r - 1];
                    best[q] = s;
                    break;
                }
        }
        double ref = 0;
        for (int q = 0; q < k; q++) ref += 1 - best[q];
        ref /= k;
        assert_true(fabs(dist[i] - ref) <= 1e-5);
        for (int q = 0; q < k; q++) {
            int j = nbr[i * k + q];
            assert_true(j >= 0 && j != i && is_ref[j] && group[j] != group[i]);
        }
    }
}

/* ---- quality ---- */

static void test_quality_flags_stand_outs_only(void **state) {
    (void)state;
    enum { N = 43 };
    df_quality q[N];
    df_rng rng;
    df_rng_seed(&rng, 8, 1);
    for (int i = 0; i < N; i++) {
        q[i].width = 400;
        q[i].height = 533;
        q[i].brightness = 100 + 60 * df_rng_uniform(&rng);
        q[i].sharpness = 0.1 * exp(df_rng_uniform(&rng) - 0.5);
    }
    q[40].brightness = 20;      /* dark */
    q[41].sharpness = 0.003;    /* blurry */
    q[42].width = 100;          /* low resolution */
    q[42].height = 80;
    int flags[N];
    double sc[N * 4];
    df_quality_flag(q, N, NULL, flags, sc);
    for (int i = 0; i < 40; i++) assert_int_equal(flags[i], 0);
    assert_int_equal(flags[40], DF_QUALITY_DARK);
    assert_int_equal(flags[41], DF_QUALITY_BLURRY);
    assert_int_equal(flags[42], DF_QUALITY_LOW_RES);
    assert_true(sc[40 * 4 + 0] > 0.7 && sc[41 * 4 + 2] > 0.9);
    assert_true(fabs(sc[42 * 4 + 3] - (1.0 - 80.0 / 224.0)) < 1e-12);
    /* A set that is all dark flags none of it. */
    for (int i = 0; i < N; i++) q[i].brightness = 20 + i * 0.1;
    df_quality_flag(q, N, NULL, flags, sc);
    for (int i = 0; i < 40; i++) assert_int_equal(flags[i] & DF_QUALITY_DARK, 0);
}

static void test_quality_measure_blur_not_darkness(void **state) {
    (void)state;
    df_image a = make_photo(400, 300, 11, -1), b = make_photo(400, 300, 11, -1), c = make_photo(400, 300, 11, -1);
    box_blur(&b, 3);
    darken(&c, 5);
    df_quality qa, qb, qc;
    df_error err;
    assert_int_equal(df_quality_measure(&a, &qa, &err), DF_OK);
    assert_int_equal(df_quality_measure(&b, &qb, &err), DF_OK);
    assert_int_equal(df_quality_measure(&c, &qc, &err), DF_OK);
    assert_int_equal(qa.width, 400);
    assert_true(qb.sharpness < 0.2 * qa.sharpness);
    /* Darker but as sharp: the measure is relative to the photo's contrast
     * (integer division by 5 adds rounding, hence the loose bound). */
    assert_true(qc.sharpness > 0.5 * qa.sharpness);
    assert_true(fabs(qc.brightness - qa.brightness / 5) < 1.0);
    df_image_free(&a);
    df_image_free(&b);
    df_image_free(&c);
}

/* ---- labels ---- */

static void test_label_issues_confident_learning(void **state) {
    (void)state;
    enum { N = 30, C = 3 };
    float p[N * C];
    int y[N];
    for (int i = 0; i < N; i++) {
        y[i] = i % 3;
        for (int c = 0; c < C; c++) p[i * C + c] = c == y[i] ? 0.9f : 0.05f;
    }
    /* photo 4 (labelled 1) is clearly class 2; photo 17 (labelled 2) leans to 0 */
    p[4 * C + 0] = 0.02f, p[4 * C + 1] = 0.03f, p[4 * C + 2] = 0.95f;
    p[17 * C + 0] = 0.6f, p[17 * C + 1] = 0.1f, p[17 * C + 2] = 0.3f;
    /* photo 9 (labelled 0) prefers 1 a little: 0.45 is below class 0's
     * threshold (0.855) and 0.5 below class 1's (0.813): no confident class,
     * an issue with the most probable class as the suggestion. */
    p[9 * C + 0] = 0.45f, p[9 * C + 1] = 0.5f, p[9 * C + 2] = 0.05f;
    df_label_issue out[N];
    int m = 0;
    df_audit_label_issues(p, y, N, C, out, &m);
    assert_int_equal(m, 3);
    assert_int_equal(out[0].photo, 4);   /* self-confidence 0.03 */
    assert_int_equal(out[0].suggested, 2);
    assert_int_equal(out[1].photo, 17);  /* 0.3 */
    assert_int_equal(out[1].suggested, 0);
    assert_int_equal(out[2].photo, 9);   /* 0.45 */
    assert_int_equal(out[2].suggested, 1);
    /* With class 0's threshold lowered to 0.406, photo 9's 0.46 reaches it:
     * confident in its label while another class is more probable (but not
     * confident), it is not an issue. */
    p[9 * C + 0] = 0.46f, p[9 * C + 1] = 0.5f;
    for (int i = 0; i < N; i++)
        if (y[i] == 0 && i != 9) p[i * C + 0] = 0.4f, p[i * C + 1] = 0.3f, p[i * C + 2] = 0.3f;
    df_audit_label_issues(p, y, N, C, out, &m);
    for (int k = 0; k < m; k++) assert_int_not_equal(out[k].photo, 9);
}

static void test_neighbour_votes_mix(void **state) {
    (void)state;
    enum { N = 3, C = 2, K = 2 };
    float p[N * C] = {0.9f, 0.1f, 0.2f, 0.8f, 0.5f, 0.5f};
    const int labels[N] = {0, 1, 1};
    const int nbr[N * K] = {1, 2, 0, -1, -1, -1}; /* photo 2 has no neighbours */
    df_audit_mix_neighbour_votes(p, nbr, N, K, labels, C, 0.5);
    /* photo 0: neighbours labelled 1 and 1 -> votes (0, 1) */
    assert_true(fabsf(p[0] - 0.45f) < 1e-6f && fabsf(p[1] - 0.55f) < 1e-6f);
    /* photo 1: one neighbour, labelled 0 -> votes (1, 0) */
    assert_true(fabsf(p[2] - 0.6f) < 1e-6f && fabsf(p[3] - 0.4f) < 1e-6f);
    assert_true(p[4] == 0.5f && p[5] == 0.5f);
}

/* ---- duplicates ---- */

/* The aligned similarity: 1 for the same picture up to brightness and
 * contrast, high for a crop of it, low for another picture; and symmetric. */
static void test_aligned_similarity(void **state) {
    (void)state;
    df_error err;
    df_image a = make_photo(400, 400, 31, -1), b = make_photo(400, 400, 32, -1);
    df_image cut = crop(&a, 20, 10); /* the middle 90% x 95%: on the search's grid */
    uint8_t ta[64 * 64], tb[64 * 64], tc[64 * 64], td[64 * 64], te[64 * 64];
    assert_int_equal(df_dupes_thumbnail(&a, ta, &err), DF_OK);
    assert_int_equal(df_dupes_thumbnail(&b, tb, &err), DF_OK);
    assert_int_equal(df_dupes_thumbnail(&cut, tc, &err), DF_OK);
    for (int i = 0; i < 64 * 64; i++) { /* te even, so td is exactly te / 2 + 40: flatter, another level */
        te[i] = (uint8_t)(ta[i] & ~1u);
        td[i] = (uint8_t)(te[i] / 2 + 40);
    }
    assert_true(df_dupes_aligned_similarity(ta, ta) > 0.999999);
    assert_true(df_dupes_aligned_similarity(te, td) > 0.999999);
    double c = df_dupes_aligned_similarity(ta, tc);
    assert_true(c > 0.8);
    assert_true(fabs(c - df_dupes_aligned_similarity(tc, ta)) < 1e-12);
    assert_true(df_dupes_aligned_similarity(ta, tb) < 0.5);
    df_image_free(&a);
    df_image_free(&b);
    df_image_free(&cut);
}

typedef struct photo_set {
    char *dir;
    char *paths[32];
    int n;
} photo_set;

static void add_png(photo_set *s, const char *name, const df_image *img) {
    df_error err;
    char *p = df_path_join(s->dir, name);
    assert_int_equal(df_image_write_png(img, p, &err), DF_OK);
    s->paths[s->n++] = p;
}

static void add_jpeg(photo_set *s, const char *name, const df_image *img, int quality, int orientation) {
    char *p = df_path_join(s->dir, name);
    assert_int_equal(df_test_write_jpeg(p, img, quality, orientation), 0);
    s->paths[s->n++] = p;
}

/* Measures every photo of s; returns the hashes (caller frees). */
static df_dupes_photo *measure(photo_set *s) {
    df_audit_photo ph[32];
    memset(ph, 0, sizeof ph);
    for (int i = 0; i < s->n; i++) ph[i].path = s->paths[i];
    df_dupes_photo *h = calloc((size_t)s->n, sizeof *h);
    df_error err;
    df_status st = df_audit_measure_photos(ph, s->n, 1, h, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    return h;
}

static const df_dupes_pair *find_pair(const df_dupes_pair *p, int np, int a, int b) {
    for (int k = 0; k < np; k++)
        if (p[k].a == a && p[k].b == b) return &p[k];
    return NULL;
}

/* Photo 0's edited copies are each found as its duplicate, with how; ten
 * other photos pair with nothing. */
static void test_duplicates_survive_edits(void **state) {
    (void)state;
    photo_set s = {df_test_tempdir(), {0}, 0};
    df_error err;
    df_image orig = make_photo(480, 360, 100, -1);
    add_jpeg(&s, "orig.jpg", &orig, 90, 1);                                  /* 0 */
    char *copy = df_path_join(s.dir, "copy.jpg");                            /* 1: same bytes */
    uint8_t *bytes;
    size_t size;
    assert_int_equal(df_file_read(s.paths[0], 1 << 26, &bytes, &size, &err), DF_OK);
    assert_int_equal(df_test_write_file(copy, bytes, size), 0);
    free(bytes);
    s.paths[s.n++] = copy;
    df_image dec;                                                            /* 2: same pixels as PNG */
    assert_int_equal(df_image_load(s.paths[0], NULL, &dec, &err), DF_OK);
    add_png(&s, "same_pixels.png", &dec);
    df_image_free(&dec);
    add_jpeg(&s, "reencoded.jpg", &orig, 55, 1);                             /* 3 */
    df_image small;                                                          /* 4: resized to 60% */
    assert_int_equal(df_image_resize(&orig, 288, 216, DF_RESIZE_AREA, &small, &err), DF_OK);
    add_jpeg(&s, "resized.jpg", &small, 85, 1);
    df_image_free(&small);
    df_image cut = crop(&orig, 14, 11);                                      /* 5: 3% off each side */
    add_jpeg(&s, "cropped.jpg", &cut, 90, 1);
    df_image_free(&cut);
    add_jpeg(&s, "rotated6.jpg", &orig, 90, 6);                              /* 6: EXIF orientation 6 */
    add_jpeg(&s, "rotated3.jpg", &orig, 90, 3);                              /* 7: EXIF orientation 3 */
    for (int k = 0; k < 10; k++) {                                           /* 8..17: other photos */
        char name[32];
        snprintf(name, sizeof name, "other%d.jpg", k);
        df_image o = make_photo(480, 360, 200 + k, -1);
        add_jpeg(&s, name, &o, 90, 1);
        df_image_free(&o);
    }
    df_image_free(&orig);
    df_dupes_photo *h = measure(&s);
    /* The features: the tiny spatial backbone's, as the audit computes them. */
    char *bbp = df_test_write_tiny_spatial_backbone(s.dir);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    bo.cut_tensor = "pooled";
    df_backbone *bb = NULL;
    assert_int_equal(df_backbone_open("tflite", bbp, &bo, &bb, &err), DF_OK);
    static const char *cls[1] = {"x"};
    int labels[32] = {0};
    df_dataset *ds = NULL;
    assert_int_equal(df_dataset_from_paths(1, cls, s.n, (const char *const *)s.paths, labels, &ds, &err), DF_OK);
    float *feat = NULL;
    assert_int_equal(df_photo_features(bb, ds, df_photo_resize(bb, -1), NULL, &feat, &err), DF_OK);
    size_t F = df_backbone_feature_dim(bb);
    df_dupes_normalize_rows(feat, s.n, F);
    df_dupes_pair *pairs = NULL;
    int np = 0;
    assert_int_equal(df_dupes_find(h, s.n, feat, F, NULL, &pairs, &np, &err), DF_OK);
    for (int k = 0; k < np; k++)
        print_message("pair %d-%d %s hamming %d cosine %.4f\n", pairs[k].a, pairs[k].b,
                      df_dup_kind_name(pairs[k].kind), pairs[k].hamming, pairs[k].cosine);
    static const df_dup_kind want[8] = {0, DF_DUP_BYTES, DF_DUP_PIXELS, DF_DUP_NEAR, DF_DUP_NEAR,
                                        DF_DUP_NEAR, DF_DUP_NEAR, DF_DUP_NEAR};
    for (int v = 1; v < 8; v++) {
        const df_dupes_pair *p = find_pair(pairs, np, 0, v);
        assert_non_null(p);
        assert_int_equal(p->kind, want[v]);
    }
    for (int k = 0; k < np; k++) assert_true(pairs[k].b < 8); /* nothing pairs with the other photos */
    free(pairs);
    free(h);
    free(feat);
    free(bbp);
    df_dataset_free(ds);
    df_backbone_destroy(bb);
    for (int i = 0; i < s.n; i++) free(s.paths[i]);
    df_test_rmtree(s.dir);
    free(s.dir);
}

/* ---- the command on a fixture set ---- */

/* "path size sha256\n" for every file under root, sorted by nftw's walk
 * (depth-first, directory order is fixed for an unchanged folder). */
static char *snapshot_buf;
static size_t snapshot_len;

static int snap_one(const char *path, const struct stat *sb, int type, struct FTW *f) {
    (void)f;
    char line[2048];
    if (type == FTW_F) {
        char hex[65];
        df_error err;
        if (df_sha256_file(path, hex, &err) != DF_OK) return 1;
        snprintf(line, sizeof line, "%s %lld %s %lld\n", path, (long long)sb->st_size, hex,
                 (long long)sb->st_mtime);
    } else {
        snprintf(line, sizeof line, "%s dir\n", path);
    }
    size_t n = strlen(line);
    snapshot_buf = realloc(snapshot_buf, snapshot_len + n + 1);
    memcpy(snapshot_buf + snapshot_len, line, n + 1);
    snapshot_len += n;
    return 0;
}

/* Sorted lines, so the order of readdir does not matter. */
static int cmp_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *snapshot(const char *root) {
    snapshot_buf = NULL;
    snapshot_len = 0;
    assert_int_equal(nftw(root, snap_one, 16, FTW_PHYS), 0);
    char *lines[256];
    int n = 0;
    for (char *s = strtok(snapshot_buf, "\n"); s && n < 256; s = strtok(NULL, "\n")) lines[n++] = s;
    qsort(lines, (size_t)n, sizeof *lines, cmp_line);
    size_t total = 1;
    for (int i = 0; i < n; i++) total += strlen(lines[i]) + 1;
    char *out = malloc(total);
    out[0] = '\0';
    for (int i = 0; i < n; i++) strcat(strcat(out, lines[i]), "\n");
    free(snapshot_buf);
    return out;
}

static void photo_jpeg(const char *root, const char *rel, uint64_t seed, int dom, int size) {
    char *p = df_path_join(root, rel);
    df_image img = make_photo(size, size, seed, dom);
    assert_int_equal(df_test_write_jpeg(p, &img, 90, 1), 0);
    df_image_free(&img);
    free(p);
}

/* The issue object (in the JSON text) holding all of the given substrings, or NULL. */
static const char *find_issue(const char *json, const char *a, const char *b, const char *c) {
    for (const char *s = strstr(json, "{\"type\":"); s; s = strstr(s + 1, "{\"type\":")) {
        const char *end = strchr(s, '}');
        size_t n = (size_t)(end - s);
        char obj[4096];
        if (n >= sizeof obj) continue;
        memcpy(obj, s, n);
        obj[n] = '\0';
        if (strstr(obj, a) && (!b || strstr(obj, b)) && (!c || strstr(obj, c))) return s;
    }
    return NULL;
}

static void build_fixture(const char *data) {
    static const char *cls[3] = {"blue", "green", "red"};
    static const int dom[3] = {2, 1, 0};
    char rel[256];
    df_error err;
    for (int split = 0; split < 2; split++)
        for (int c = 0; c < 3; c++) {
            snprintf(rel, sizeof rel, "%s/%s/%s", data, split ? "validation" : "train", cls[c]);
            assert_int_equal(df_mkdir_p(rel, &err), DF_OK);
            for (int k = 0; k < (split ? 3 : 10); k++) {
                snprintf(rel, sizeof rel, "%s/%s/%c%02d.jpg", split ? "validation" : "train", cls[c],
                         split ? 'v' : 'p', k);
                photo_jpeg(data, rel, (uint64_t)(1000 * c + 100 * split + k), dom[c], 256);
            }
        }
    /* a leak: validation/red/leak.jpg re-encodes train/red/p01.jpg */
    df_image img = make_photo(256, 256, 1000 * 2 + 1, 0), t;
    char *p = df_path_join(data, "validation/red/leak.jpg");
    assert_int_equal(df_test_write_jpeg(p, &img, 60, 1), 0);
    free(p);
    df_image_free(&img);
    /* a duplicate: train/green/dup.png has the pixels of train/green/p02.jpg */
    p = df_path_join(data, "train/green/p02.jpg");
    assert_int_equal(df_image_load(p, NULL, &t, &err), DF_OK);
    free(p);
    p = df_path_join(data, "train/green/dup.png");
    assert_int_equal(df_image_write_png(&t, p, &err), DF_OK);
    free(p);
    df_image_free(&t);
    /* dark, blurry, small, and a red photo filed under green */
    img = make_photo(256, 256, 2 * 1000 + 3, 2);
    darken(&img, 6);
    p = df_path_join(data, "train/blue/p03.jpg");
    assert_int_equal(df_test_write_jpeg(p, &img, 90, 1), 0);
    free(p);
    df_image_free(&img);
    img = make_photo(256, 256, 2 * 1000 + 5, 2);
    for (int k = 0; k < 3; k++) box_blur(&img, 6);
    p = df_path_join(data, "train/blue/p05.jpg");
    assert_int_equal(df_test_write_jpeg(p, &img, 90, 1), 0);
    free(p);
    df_image_free(&img);
    photo_jpeg(data, "train/red/small.jpg", 777, 0, 120);
    photo_jpeg(data, "train/green/mis.jpg", 778, 0, 256);
}

static void test_audit_command_on_fixture(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *data = df_path_join(dir, "data");
    build_fixture(data);
    char *bb = df_test_write_tiny_spatial_backbone(dir);
    char *before = snapshot(data);
    char cmd[4096];
    static char out[1 << 16];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' audit data --backbone tflite --weights '%s' --cut pooled --json --csv fix.csv "
             "--report rep > audit.json 2> audit.err; rc=$?; cat audit.err; exit $rc",
             dir, df_test_cli(), bb);
    int rc = df_test_run(cmd, out, sizeof out);
    if (rc) print_message("%s\n", out);
    assert_int_equal(rc, 0);
    char *after = snapshot(data);
    assert_string_equal(before, after); /* names, sizes, bytes and mtimes unchanged */

    char *jp = df_path_join(dir, "audit.json");
    uint8_t *json;
    size_t len;
    df_error err;
    assert_int_equal(df_file_read(jp, 1 << 24, &json, &len, &err), DF_OK);
    json = realloc(json, len + 1);
    json[len] = '\0';
    const char *j = (const char *)json;
    assert_true(!strncmp(j, "{\"issues\":[{\"type\":\"", 20));
    assert_non_null(strstr(j, "],\"summary\":{\"photos\":"));
    assert_true(len > 3 && !strcmp(j + len - 3, "}}\n"));
    /* Paths as given on the command line: relative, starting with data/. */
    assert_non_null(find_issue(j, "\"type\":\"leak\"", "\"path\":\"data/validation/red/leak.jpg\"",
                               "\"other_path\":\"data/train/red/p01.jpg\""));
    assert_true(find_issue(j, "\"type\":\"duplicate\"", "\"path\":\"data/train/green/p02.jpg\"",
                           "\"other_path\":\"data/train/green/dup.png\"") ||
                find_issue(j, "\"type\":\"duplicate\"", "\"path\":\"data/train/green/dup.png\"",
                           "\"other_path\":\"data/train/green/p02.jpg\""));
    assert_non_null(find_issue(j, "\"type\":\"duplicate\"", "\"match\":\"same pixels\"", NULL));
    assert_non_null(find_issue(j, "\"type\":\"dark\"", "\"path\":\"data/train/blue/p03.jpg\"", NULL));
    assert_non_null(find_issue(j, "\"type\":\"blurry\"", "\"path\":\"data/train/blue/p05.jpg\"", NULL));
    assert_non_null(find_issue(j, "\"type\":\"low_resolution\"", "\"path\":\"data/train/red/small.jpg\"", NULL));
    assert_non_null(find_issue(j, "\"type\":\"mislabeled\"", "\"path\":\"data/train/green/mis.jpg\"",
                               "\"suggested_class\":\"red\""));
    assert_non_null(strstr(j, "\"leaked_validation_photos\":1,"));
    /* Nothing else is flagged for anything but its label. */
    int n = 0;
    for (const char *s = strstr(j, "{\"type\":"); s; s = strstr(s + 1, "{\"type\":"))
        n += strncmp(s, "{\"type\":\"mislabeled\"", 20) != 0;
    assert_int_equal(n, 5);

    char *csv = df_path_join(dir, "fix.csv"), *html = df_path_join(dir, "rep/audit.html");
    uint8_t *buf;
    assert_int_equal(df_file_read(csv, 1 << 24, &buf, &len, &err), DF_OK);
    assert_true(len > 40 && !memcmp(buf, "path,problem,suggestion,score,other_path\r\n", 42));
    free(buf);
    assert_int_equal(df_file_read(html, 1 << 26, &buf, &len, &err), DF_OK);
    buf = realloc(buf, len + 1);
    buf[len] = '\0';
    assert_non_null(strstr((char *)buf, "data:image/png;base64,"));
    assert_non_null(strstr((char *)buf, "data/validation/red/leak.jpg"));
    free(buf);
    free(csv);
    free(html);
    free(json);
    free(jp);
    free(before);
    free(after);
    free(bb);
    free(data);
    df_test_rmtree(dir);
    free(dir);
}

/* The training report's audit hands in the run's own plain features
 * (df_audit_options.train_features / val_features) instead of running the
 * backbone again: the same issues, bit for bit, as computing them; and
 * they are what the audit uses (other features, other issues). */
static int same_issues(const df_audit_result *a, const df_audit_result *b) {
    if (a->n_issues != b->n_issues) return 0;
    for (int k = 0; k < a->n_issues; k++) {
        const df_audit_issue *x = &a->issues[k], *y = &b->issues[k];
        if (x->kind != y->kind || x->photo != y->photo || x->other != y->other || x->score != y->score ||
            x->suggested_class != y->suggested_class || x->dup_kind != y->dup_kind)
            return 0;
    }
    return 1;
}

static void test_audit_takes_given_features(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    char *data = df_path_join(dir, "data");
    build_fixture(data);
    char *bbp = df_test_write_tiny_spatial_backbone(dir);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    bo.cut_tensor = "pooled";
    df_backbone *bb = NULL;
    df_error err;
    assert_int_equal(df_backbone_open("tflite", bbp, &bo, &bb, &err), DF_OK);
    df_scan_options so = df_scan_options_default();
    so.require_usable = 0;
    df_dataset *train = NULL, *val = NULL;
    char *tp = df_path_join(data, "train"), *vp = df_path_join(data, "validation");
    assert_int_equal(df_dataset_scan(tp, &so, &train, &err), DF_OK);
    assert_int_equal(df_dataset_scan(vp, &so, &val, &err), DF_OK);
    float *ft = NULL, *fv = NULL;
    assert_int_equal(df_photo_features(bb, train, df_photo_resize(bb, -1), NULL, &ft, &err), DF_OK);
    assert_int_equal(df_photo_features(bb, val, df_photo_resize(bb, -1), NULL, &fv, &err), DF_OK);
    df_audit_options o = df_audit_options_default();
    df_audit_result own, given, other;
    assert_int_equal(df_audit_run(bb, train, val, &o, &own, &err), DF_OK);
    o.train_features = ft;
    o.val_features = fv;
    assert_int_equal(df_audit_run(bb, train, val, &o, &given, &err), DF_OK);
    assert_true(own.n_issues > 0);
    assert_true(same_issues(&own, &given));
    /* The first two training photos' features traded: other issues. */
    const size_t F = df_backbone_feature_dim(bb);
    float *swapped = malloc((size_t)train->count * F * sizeof *swapped);
    memcpy(swapped, ft, (size_t)train->count * F * sizeof *swapped);
    memcpy(swapped, ft + F, F * sizeof *swapped);
    memcpy(swapped + F, ft, F * sizeof *swapped);
    o.train_features = swapped;
    assert_int_equal(df_audit_run(bb, train, val, &o, &other, &err), DF_OK);
    assert_false(same_issues(&own, &other));
    df_audit_result_free(&own);
    df_audit_result_free(&given);
    df_audit_result_free(&other);
    free(swapped);
    free(ft);
    free(fv);
    free(tp);
    free(vp);
    df_dataset_free(train);
    df_dataset_free(val);
    df_backbone_destroy(bb);
    free(bbp);
    free(data);
    df_test_rmtree(dir);
    free(dir);
}

/* ---- the closet photos (needs ../shared) ---- */

static void test_audit_closet_planted(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    char *dir = df_test_tempdir();
    char cmd[4096];
    static char out[1 << 20];
    snprintf(cmd, sizeof cmd, "cp -r '%s/datasets/closet' '%s/closet'", shared, dir);
    assert_int_equal(df_test_run(cmd, NULL, 0), 0);
    /* a cropped, re-encoded copy of a training photo in validation; a darkened photo */
    char src[2048], dst[2048];
    snprintf(src, sizeof src, "%s/closet/train/tops", dir);
    DIR *d = opendir(src);
    assert_non_null(d);
    struct dirent *e;
    char first[2][256] = {"", ""};
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        /* the two smallest names, so the choice does not depend on readdir order */
        if (!first[0][0] || strcmp(e->d_name, first[0]) < 0) {
            strcpy(first[1], first[0]);
            strcpy(first[0], e->d_name);
        } else if (!first[1][0] || strcmp(e->d_name, first[1]) < 0) {
            strcpy(first[1], e->d_name);
        }
    }
    closedir(d);
    df_image img, cut;
    df_error err;
    snprintf(src, sizeof src, "%s/closet/train/tops/%s", dir, first[0]);
    assert_int_equal(df_image_load(src, NULL, &img, &err), DF_OK);
    cut = crop(&img, img.width / 20, img.height / 20);
    snprintf(dst, sizeof dst, "%s/closet/validation/tops/copy.jpg", dir);
    assert_int_equal(df_test_write_jpeg(dst, &cut, 80, 1), 0);
    df_image_free(&img);
    df_image_free(&cut);
    snprintf(src, sizeof src, "%s/closet/train/tops/%s", dir, first[1]);
    assert_int_equal(df_image_load(src, NULL, &img, &err), DF_OK);
    darken(&img, 5);
    assert_int_equal(df_test_write_jpeg(src, &img, 90, 1), 0);
    df_image_free(&img);
    snprintf(cmd, sizeof cmd,
             "'%s' audit '%s/closet' --backbone tflite --weights '%s/models/mobilenet_v2_1.0_224_quant.tflite' "
             "--json 2>/dev/null",
             df_test_cli(), dir, shared);
    assert_int_equal(df_test_run(cmd, out, sizeof out), 0);
    char want_path[2048], want_other[2048];
    snprintf(want_path, sizeof want_path, "\"path\":\"%s/closet/validation/tops/copy.jpg\"", dir);
    snprintf(want_other, sizeof want_other, "\"other_path\":\"%s/closet/train/tops/%s\"", dir, first[0]);
    assert_non_null(find_issue(out, "\"type\":\"leak\"", want_path, want_other));
    snprintf(want_path, sizeof want_path, "\"path\":\"%s/closet/train/tops/%s\"", dir, first[1]);
    assert_non_null(find_issue(out, "\"type\":\"dark\"", want_path, NULL));
    df_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_laplacian_matches_reference),
        cmocka_unit_test(test_dct_matches_reference),
        cmocka_unit_test(test_knn_matches_reference),
        cmocka_unit_test(test_quality_flags_stand_outs_only),
        cmocka_unit_test(test_quality_measure_blur_not_darkness),
        cmocka_unit_test(test_label_issues_confident_learning),
        cmocka_unit_test(test_neighbour_votes_mix),
        cmocka_unit_test(test_aligned_similarity),
        cmocka_unit_test(test_duplicates_survive_edits),
        cmocka_unit_test(test_audit_command_on_fixture),
        cmocka_unit_test(test_audit_takes_given_features),
        cmocka_unit_test(test_audit_closet_planted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
