/*
 * The out-of-domain check of the default recipe (issue 10): does a head
 * chosen on the 106 closet training photos hold on other people's photos?
 *
 * For each backbone (MobileNetV2 QAT and the TF2 post-training-quantised
 * MobileNetV2, fp32 so that reruns are bit-identical) the features are
 * computed once:
 *   - the closet training photos' 4 augmented variants, as the default
 *     recipe's feature cache drew them until 2026-12-04 (8 since; --aug k8)
 *     (df_train_feature_variants, seed 1),
 *     their plain features and their mirrored (left-right) features;
 *   - the closet validation photos, plain and mirrored;
 *   - the out-of-domain set: ../shared/datasets/clothing (train and
 *     validation folders) mapped to the closet's classes (t-shirt, shirt,
 *     longsleeve -> tops; pants, shorts, skirt -> bottoms; shoes -> shoes;
 *     dress, hat, outwear left out), plain and mirrored.
 * They are kept as .npy files in a cache folder, so a rerun trains only.
 *
 * Then for every head/recipe candidate and seeds 1..S (fold assignment,
 * initialisation, batch order and variant draws; the variants themselves
 * are seed 1's):
 *   cv   stratified 5-fold cross-validation on the closet training photos
 *        (df_cross_val_predict: the same machinery as --head auto)
 *   val  a head trained on all 106 photos (df_fit_head_cached: what
 *        df_train trains from its feature cache; checked below) scored on
 *        the 21 closet validation photos
 *   ood  the same head on the mapped clothing photos
 * each also with left-right test-time augmentation (mean of the plain and
 * mirrored photo's probabilities, "+tta") and, for val and ood, the mean of
 * the 5 fold heads ("ens"). Mean and standard error: cv over folds x seeds,
 * val and ood over seeds. Each row also shows the head's training objective
 * (did the fit reach the optimum of its penalty?) and the out-of-domain
 * recall of each class. The one-standard-error choice is printed over the
 * rule's candidates (cand_def.rule) and over every row, per backbone and
 * for both together.
 *
 *   build/bench_defaults [--shared DIR] [--cache DIR] [--seeds S] [--only NAME[,NAME...]]
 *                        [--views qat,tf2,both] [--aug default|k8|strong|zoom]
 *                        [--fit squash|crop|pad] [--explore 1]
 *                        [--pool mean|max|gem2|gem3|gem4|meanmax|r4s3|r3s2|r4s1[+b16[POOL]]]
 *                        [--dump-maps 1]
 *
 * --aug picks the cached training variants (default: the default recipe's
 * 4; k8, k16: more of them; colour*, frame*, crop*, all*: with the
 * photometric and framing augmentation of df_augment_config, see AUGS).
 * The "exact" candidates are the linear head fitted to the optimum of its
 * penalised objective by L-BFGS (exact_head) instead of Adam; seeds change
 * only their folds. Each row is followed by its out-of-domain accuracy per
 * source folder of the clothing set (summed over the seeds).
 *
 * --fit crop / pad: the photos' centre square, or the photo padded to a
 * square with its border's mean colour, instead of the product's stretch;
 * those views train on the clean and mirrored photos (no shift or zoom
 * variants).
 *
 * --pool: the features pooled another way from the backbone's last
 * spatial map (7x7x1280 for MobileNetV2) instead of the graph's own MEAN:
 * the mean again (the control), the max, GeM with p = 2, 3, 4, the mean
 * and the max side by side (2 x 1280), or regions: the means of k x k
 * windows at stride s side by side, r4s3 (2x2 windows of 4x4), r3s2 (3x3
 * of 3x3), r4s1 (4x4 of 4x4). The first run computes all of them
 * from one backbone pass (compute_pooled) and caches them as
 * <backbone>_<pool>_<set>.npy; the map's mean is checked against the
 * graph's MEAN first. "+b16" appends to each row the mean of the map one
 * block earlier (block 16's 7x7x320 output; one more backbone pass, cached
 * as <backbone>_b16<pool>_<set>.npy for every pooling), "+b16gem2" etc.
 * its other poolings.
 *
 * --dump-maps 1: writes block 16's raw maps, the last 1x1 convolution's
 * weights and the labels to the cache and stops (dump_maps), for
 * bench/finetune_ood.py's fine-tuning study.
 *
 * Not a test: prints a table (bench/defaults_ood.sh runs it;
 * bench/pooling_ood.sh runs --pool).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "core/clock.h"
#include "data/dataset.h"
#include "data/photo.h"
#include "eval/metrics.h"
#include "formats/npy.h"
#include "train/model_select.h"
#include "train/train.h"
#include "backbone/tflite_backbone.h"
#include "support/bench_data.h"
#include "optim/softmax_exact.h"
#include "support/bench_pool.h"

enum { FOLDS = 5, MAX_SEEDS = 10, MAX_VIEWS = 3 };

/* One backbone's features (or two backbones' concatenated). */
typedef struct feats {
    char name[32];
    size_t F;
    int K, N, NV, NO;
    float *var;            /* K x N x F */
    float *clean, *flip;   /* N x F */
    float *cf;             /* 2 x N x F: clean then flip (flip-only augmentation) */
    float *val, *val_flip; /* NV x F */
    float *ood, *ood_flip; /* NO x F */
} feats;

enum { MAX_SUB = 16 };

typedef struct data {
    df_dataset *train, *val, *ood;
    int *y, *yv, *yo;
    int C;
    int *sub;                 /* out-of-domain photo's source folder (t-shirt, pants, ...) */
    int n_sub;
    char sub_name[MAX_SUB][32];
} data;

static void feats_free(feats *f) {
    free(f->var);
    free(f->cf);
    free(f->clean);
    free(f->flip);
    free(f->val);
    free(f->val_flip);
    free(f->ood);
    free(f->ood_flip);
}

static void data_free(data *d) {
    df_dataset_free(d->train);
    df_dataset_free(d->val);
    df_dataset_free(d->ood);
    free(d->y);
    free(d->yv);
    free(d->yo);
    free(d->sub);
}

/* Each out-of-domain photo's source folder (the clothing class it was
 * mapped from), for the per-folder breakdown. */
static int source_folders(data *d) {
    d->sub = malloc(sizeof(int) * (size_t)d->ood->count);
    if (!d->sub) return 0;
    for (int i = 0; i < d->ood->count; i++) {
        const char *pth = d->ood->items[i].path, *e = strrchr(pth, '/'), *b0 = e ? e : pth;
        while (b0 > pth && b0[-1] != '/') b0--;
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(e ? e - b0 : 0), b0);
        int k = 0;
        while (k < d->n_sub && strcmp(d->sub_name[k], name)) k++;
        if (k == d->n_sub && d->n_sub < MAX_SUB) snprintf(d->sub_name[d->n_sub++], 32, "%s", name);
        d->sub[i] = k < MAX_SUB ? k : MAX_SUB - 1;
    }
    return 1;
}

static df_status load_data(const char *shared, data *d, df_error *err) {
    char dir[1024];
    df_scan_options so = df_scan_options_default();
    so.threads = 1;
    snprintf(dir, sizeof dir, "%s/datasets/closet/train", shared);
    df_status st = df_dataset_scan(dir, &so, &d->train, err);
    snprintf(dir, sizeof dir, "%s/datasets/closet/validation", shared);
    if (st == DF_OK) st = df_dataset_scan(dir, &so, &d->val, err);
    if (st == DF_OK) st = df_dataset_same_classes(d->train, d->val, err);
    if (st == DF_OK) st = df_bench_mapped_clothing(shared, d->train, 1, &d->ood, err);
    if (st != DF_OK) return st;
    d->C = d->train->num_classes;
    d->y = df_bench_labels(d->train);
    d->yv = df_bench_labels(d->val);
    d->yo = df_bench_labels(d->ood);
    return d->y && d->yv && d->yo && source_folders(d) ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "out of memory");
}

/* How a photo is fitted to the square input: stretched (the product's
 * way), its centre square cropped, or padded to a square with the mean
 * colour of its border (aspect ratio kept). */
typedef enum fit_mode { FIT_SQUASH = 0, FIT_CROP = 1, FIT_PAD = 2 } fit_mode;
static const char *const FIT_NAMES[] = {"squash", "crop", "pad"};

static df_status load_fitted(const df_backbone *bb, const char *path, fit_mode mode, df_image *out, df_error *err) {
    if (mode == FIT_SQUASH) return df_photo_load(bb, path, df_photo_resize(bb, -1), out, err);
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = w;
    lo.min_height = h;
    df_image full = {0}, sq = {0};
    df_status st = df_image_load(path, &lo, &full, err);
    if (st != DF_OK) return st;
    const int W = full.width, H = full.height;
    const int S = mode == FIT_CROP ? (W < H ? W : H) : (W > H ? W : H);
    st = df_image_alloc(&sq, S, S, err);
    if (st == DF_OK && mode == FIT_CROP) {
        const int x0 = (W - S) / 2, y0 = (H - S) / 2;
        for (int r = 0; r < S; r++)
            memcpy(sq.pixels + (size_t)r * S * 3, full.pixels + ((size_t)(y0 + r) * W + x0) * 3, (size_t)S * 3);
    } else if (st == DF_OK) {
        double sum[3] = {0, 0, 0};
        long cnt = 0;
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++) {
                if (r != 0 && r != H - 1 && c != 0 && c != W - 1) continue;
                for (int k = 0; k < 3; k++) sum[k] += full.pixels[((size_t)r * W + c) * 3 + k];
                cnt++;
            }
        for (size_t i = 0; i < (size_t)S * S; i++)
            for (int k = 0; k < 3; k++) sq.pixels[i * 3 + k] = (uint8_t)(sum[k] / cnt + 0.5);
        const int x0 = (S - W) / 2, y0 = (S - H) / 2;
        for (int r = 0; r < H; r++)
            memcpy(sq.pixels + ((size_t)(y0 + r) * S + x0) * 3, full.pixels + (size_t)r * W * 3, (size_t)W * 3);
    }
    df_image_free(&full);
    if (st == DF_OK) st = df_image_resize(&sq, w, h, df_photo_resize(bb, -1), out, err);
    df_image_free(&sq);
    return st;
}

/* Where photo_features puts a batch's backbone outputs: straight into out
 * (sink NULL), or, with the backbone cut at its HW x C map, each of the P
 * poolings of the batch's maps into outs[p] (rows of
 * df_bench_pool_dim); the maps themselves are not kept. */
typedef struct pool_sink {
    const df_bench_pool *pools;
    int P;
    size_t HW, C;
    float *const *outs;
} pool_sink;

/* Features of ds's photos mirrored left-right (mirror = 0: plain, to check
 * this loop against df_photo_features), batch by batch. */
static df_status photo_features(df_backbone *bb, const df_dataset *ds, fit_mode mode, int mirror, float *out,
                                const pool_sink *sink, df_error *err) {
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    const int B = df_backbone_max_batch(bb);
    const size_t per = (size_t)h * (size_t)w * 3, F = df_backbone_feature_dim(bb);
    float *in = malloc(sizeof(float) * per * (size_t)B);
    float *maps = sink ? malloc(sizeof(float) * F * (size_t)B) : NULL;
    if (!in || (sink && !maps)) {
        free(in);
        free(maps);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for a batch");
    }
    df_status st = DF_OK;
    for (int i0 = 0; st == DF_OK && i0 < ds->count; i0 += B) {
        int n = ds->count - i0 < B ? ds->count - i0 : B;
        for (int j = 0; st == DF_OK && j < n; j++) {
            df_image img = {0};
            st = load_fitted(bb, ds->items[i0 + j].path, mode, &img, err);
            for (int r = 0; st == DF_OK && mirror && r < img.height; r++) {
                uint8_t *row = img.pixels + (size_t)r * (size_t)img.width * 3;
                for (int a = 0, b = img.width - 1; a < b; a++, b--)
                    for (int k = 0; k < 3; k++) {
                        uint8_t t = row[3 * a + k];
                        row[3 * a + k] = row[3 * b + k];
                        row[3 * b + k] = t;
                    }
            }
            if (st == DF_OK) st = df_backbone_preprocess(bb, &img, in + (size_t)j * per, err);
            df_image_free(&img);
        }
        if (st == DF_OK) st = df_backbone_run(bb, in, n, sink ? maps : out + (size_t)i0 * F, err);
        for (int p = 0; st == DF_OK && sink && p < sink->P; p++)
            df_bench_pool_maps(&sink->pools[p], maps, (size_t)n, sink->HW, sink->C,
                               sink->outs[p] + (size_t)i0 * df_bench_pool_dim(&sink->pools[p], sink->HW, sink->C));
    }
    free(in);
    free(maps);
    return st;
}

/* The cache's files are <backbone>_<what>.npy. */
static int cache_read(const char *cache, const char *name, const char *what, size_t rows, size_t F, float **x) {
    char stem[600];
    snprintf(stem, sizeof stem, "%s_%s", name, what);
    return df_bench_cache_read(cache, stem, rows, F, x);
}

static df_status cache_write(const char *cache, const char *name, const char *what, size_t rows, size_t F,
                             const float *x, df_error *err) {
    char stem[600];
    snprintf(stem, sizeof stem, "%s_%s", name, what);
    return df_bench_cache_write(cache, stem, rows, F, x, err);
}

/* Training-photo augmentation for the cached variants: the default
 * recipe's (file "var"), or another to compare (file "var_<tag>"). */
typedef struct aug_spec {
    const char *tag;
    int K;
    double shift, zoom;
    /* photometric and framing (issue 10's third pass; df_augment_config) */
    double zoom_in, zoom_out;
    int fill; /* -1: the edge (Keras' nearest); else the constant grey level */
    double brightness, contrast, saturation, grayscale;
} aug_spec;

static const aug_spec AUGS[] = {
    {"default", 4, 0.1, 0.1, 0, 0, -1, 0, 0, 0, 0}, /* the recipe's until 2026-12-04: shift and zoom 0.1, left-right flips */
    {"k8", 8, 0.1, 0.1, 0, 0, -1, 0, 0, 0, 0},      /* the same, twice the variants */
    {"k16", 16, 0.1, 0.1, 0, 0, -1, 0, 0, 0, 0},
    {"strong", 8, 0.2, 0.2, 0, 0, -1, 0, 0, 0, 0},  /* the original's shift and zoom (no shear, no upside-down) */
    {"zoom", 8, 0.1, 0.3, 0, 0, -1, 0, 0, 0, 0},
    /* colour: contrast, brightness, saturation 0.3, grey 1 in 10 */
    {"colour8", 8, 0.1, 0.1, 0, 0, -1, 0.3, 0.3, 0.3, 0.1},
    {"colour16", 16, 0.1, 0.1, 0, 0, -1, 0.3, 0.3, 0.3, 0.1},
    /* framing: the garment up to 1.6x smaller in a white frame */
    {"frame8", 8, 0.1, 0.1, 0, 0.6, 255, 0, 0, 0, 0},
    /* random crops: up to 0.7x the field of view */
    {"crop8", 8, 0.1, 0.1, 0.3, 0, -1, 0, 0, 0, 0},
    /* all of them */
    {"all8", 8, 0.1, 0.1, 0.2, 0.6, 255, 0.3, 0.3, 0.3, 0.1},
    {"all16", 16, 0.1, 0.1, 0.2, 0.6, 255, 0.3, 0.3, 0.3, 0.1},
    /* stronger colour: gain and contrast 0.5, saturation 0.8, grey 1 in 4 */
    {"colourx8", 8, 0.1, 0.1, 0, 0, -1, 0.5, 0.5, 0.8, 0.25},
    {"allx16", 16, 0.1, 0.1, 0.3, 0.8, 255, 0.5, 0.5, 0.8, 0.25},
    /* a grey frame instead of white */
    {"framegrey8", 8, 0.1, 0.1, 0, 0.6, 128, 0, 0, 0, 0},
};

/* The training options that draw spec's variants. */
static df_train_options spec_options(const aug_spec *spec) {
    df_train_options o = df_train_options_default();
    o.augment_config.width_shift = o.augment_config.height_shift = spec->shift;
    o.augment_config.zoom = spec->zoom;
    o.augment_config.zoom_in = spec->zoom_in;
    o.augment_config.zoom_out = spec->zoom_out;
    o.augment_config.fill_constant = spec->fill >= 0;
    o.augment_config.fill_value = spec->fill >= 0 ? spec->fill : 0;
    o.augment_config.brightness = spec->brightness;
    o.augment_config.contrast = spec->contrast;
    o.augment_config.saturation = spec->saturation;
    o.augment_config.grayscale = spec->grayscale;
    return o;
}

/* The cache's name of spec's variants: "var", or "var_<tag>". */
static void variant_what(const aug_spec *spec, char *what, size_t size) {
    snprintf(what, size, strcmp(spec->tag, "default") ? "var_%s" : "var", spec->tag);
}

/* The photos' variants under spec, from the cache or computed (and cached). */
static df_status variant_feats(df_backbone *bb, const char *cache, const data *d, const aug_spec *spec, feats *f,
                               df_error *err) {
    char what[32];
    variant_what(spec, what, sizeof what);
    f->K = spec->K;
    const size_t KN = (size_t)f->K * (size_t)f->N;
    if (cache_read(cache, f->name, what, KN, f->F, &f->var)) return DF_OK;
    const df_train_options o = spec_options(spec);
    double t0 = df_clock_seconds();
    df_status st = df_train_feature_variants(bb, d->train, &o, f->K, &f->var, NULL, err);
    if (st != DF_OK) return st;
    printf("# %s: %d x %d variants (%s) in %.0f s\n", f->name, f->K, f->N, spec->tag, df_clock_seconds() - t0);
    return cache_write(cache, f->name, what, KN, f->F, f->var, err);
}

/* The clean then mirrored training features as 2 variants (flip-only
 * augmentation). */
static int make_cf(feats *f) {
    const size_t NF = (size_t)f->N * f->F;
    f->cf = malloc(sizeof(float) * 2 * NF);
    if (!f->cf) return 0;
    memcpy(f->cf, f->clean, sizeof(float) * NF);
    memcpy(f->cf + NF, f->flip, sizeof(float) * NF);
    return 1;
}

/* The plain and mirrored features of one backbone with photos fitted by
 * mode, from the cache or computed (and then cached), and (squash only)
 * the variants under spec; other modes train their "augmented" candidates
 * on the clean and mirrored photos (K = 2). The squash photo loop of
 * photo_features is checked against the product's df_photo_features on
 * the validation photos. */
static df_status backbone_feats(const char *shared, const char *cache, const char *name, const char *file,
                                const data *d, const aug_spec *spec, fit_mode mode, feats *f, df_error *err) {
    memset(f, 0, sizeof *f);
    if (mode == FIT_SQUASH) snprintf(f->name, sizeof f->name, "%s", name);
    else snprintf(f->name, sizeof f->name, "%s_%s", name, FIT_NAMES[mode]);
    name = f->name;
    f->N = d->train->count;
    f->NV = d->val->count;
    f->NO = d->ood->count;
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", shared, file);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    bo.max_batch = 32;
    df_backbone *bb = NULL;
    df_status st = df_backbone_open("tflite", path, &bo, &bb, err);
    if (st != DF_OK) return st;
    const size_t F = f->F = df_backbone_feature_dim(bb);
    int cached = cache_read(cache, name, "clean", f->N, F, &f->clean) &&
                 cache_read(cache, name, "flip", f->N, F, &f->flip) &&
                 cache_read(cache, name, "val", f->NV, F, &f->val) &&
                 cache_read(cache, name, "valflip", f->NV, F, &f->val_flip) &&
                 cache_read(cache, name, "ood", f->NO, F, &f->ood) &&
                 cache_read(cache, name, "oodflip", f->NO, F, &f->ood_flip);
    if (cached) {
        printf("# %s: plain and mirrored features from %s\n", name, cache);
    } else {
        feats_free(f);
        f->var = f->cf = f->clean = f->flip = f->val = f->val_flip = f->ood = f->ood_flip = NULL;
        double t0 = df_clock_seconds();
        float **dst[6] = {&f->clean, &f->val, &f->ood, &f->flip, &f->val_flip, &f->ood_flip};
        const df_dataset *src[3] = {d->train, d->val, d->ood};
        const int rows[3] = {f->N, f->NV, f->NO};
        for (int k = 0; k < 6; k++) *dst[k] = malloc(sizeof(float) * (size_t)rows[k % 3] * F);
        float *check = malloc(sizeof(float) * (size_t)f->NV * F);
        for (int k = 0; k < 6; k++)
            if (!*dst[k] || !check) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        for (int k = 0; st == DF_OK && k < 6; k++) st = photo_features(bb, src[k % 3], mode, k >= 3, *dst[k], NULL, err);
        if (st == DF_OK && mode == FIT_SQUASH) {
            float *ref = NULL;
            st = df_photo_features(bb, d->val, df_photo_resize(bb, -1), NULL, &ref, err);
            double diff = 0.0;
            for (size_t i = 0; st == DF_OK && i < (size_t)f->NV * F; i++) diff = fmax(diff, fabs(ref[i] - f->val[i]));
            if (st == DF_OK && diff > 1e-4)
                st = df_error_set(err, DF_ERR_DATA, "%s: the bench's photo loop differs from df_photo_features by %g",
                                  name, diff);
            free(ref);
        }
        free(check);
        if (st == DF_OK)
            printf("# %s: plain and mirrored features of %d + %d + %d photos (%s) in %.0f s\n", name, f->N, f->NV,
                   f->NO, FIT_NAMES[mode], df_clock_seconds() - t0);
        static const char *const what[6] = {"clean", "val", "ood", "flip", "valflip", "oodflip"};
        for (int k = 0; st == DF_OK && k < 6; k++)
            st = cache_write(cache, name, what[k], (size_t)rows[k % 3], F, *dst[k], err);
    }
    if (st == DF_OK && !make_cf(f)) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (st == DF_OK && mode == FIT_SQUASH) st = variant_feats(bb, cache, d, spec, f, err);
    if (st == DF_OK && mode != FIT_SQUASH) {
        f->K = 2;
        f->var = malloc(sizeof(float) * 2 * (size_t)f->N * F);
        if (!f->var) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        else memcpy(f->var, f->cf, sizeof(float) * 2 * (size_t)f->N * F);
    }
    df_backbone_destroy(bb);
    fflush(stdout);
    return st;
}

/* rows x (Fa + Fb): a's row then b's. */
static float *concat_rows(const float *a, size_t Fa, const float *b, size_t Fb, size_t rows) {
    float *o = malloc(sizeof(float) * rows * (Fa + Fb));
    for (size_t i = 0; o && i < rows; i++) {
        memcpy(o + i * (Fa + Fb), a + i * Fa, Fa * sizeof(float));
        if (b) memcpy(o + i * (Fa + Fb) + Fa, b + i * Fb, Fb * sizeof(float));
    }
    return o;
}

static int concat_feats(const feats *a, const feats *b, feats *o) {
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "both");
    o->F = a->F + b->F;
    o->K = a->K;
    o->N = a->N;
    o->NV = a->NV;
    o->NO = a->NO;
    o->var = concat_rows(a->var, a->F, b->var, b->F, (size_t)a->K * a->N);
    o->clean = concat_rows(a->clean, a->F, b->clean, b->F, a->N);
    o->flip = concat_rows(a->flip, a->F, b->flip, b->F, a->N);
    o->val = concat_rows(a->val, a->F, b->val, b->F, a->NV);
    o->val_flip = concat_rows(a->val_flip, a->F, b->val_flip, b->F, a->NV);
    o->ood = concat_rows(a->ood, a->F, b->ood, b->F, a->NO);
    o->ood_flip = concat_rows(a->ood_flip, a->F, b->ood_flip, b->F, a->NO);
    return o->var && o->clean && o->flip && o->val && o->val_flip && o->ood && o->ood_flip && make_cf(o);
}

static void l2_normalise(float *x, size_t rows, size_t F) {
    for (size_t i = 0; i < rows; i++) {
        double s = 0.0;
        for (size_t j = 0; j < F; j++) s += (double)x[i * F + j] * x[i * F + j];
        float inv = s > 0.0 ? (float)(1.0 / sqrt(s)) : 1.0f;
        for (size_t j = 0; j < F; j++) x[i * F + j] *= inv;
    }
}

/* A copy of f with every feature row scaled to unit length. */
static int normalised_feats(const feats *f, feats *o) {
    feats z = *f;
    z.var = concat_rows(f->var, f->F, NULL, 0, (size_t)f->K * f->N);
    z.clean = concat_rows(f->clean, f->F, NULL, 0, f->N);
    z.flip = concat_rows(f->flip, f->F, NULL, 0, f->N);
    z.val = concat_rows(f->val, f->F, NULL, 0, f->NV);
    z.val_flip = concat_rows(f->val_flip, f->F, NULL, 0, f->NV);
    z.ood = concat_rows(f->ood, f->F, NULL, 0, f->NO);
    z.ood_flip = concat_rows(f->ood_flip, f->F, NULL, 0, f->NO);
    z.cf = NULL;
    *o = z;
    if (!(z.var && z.clean && z.flip && z.val && z.val_flip && z.ood && z.ood_flip)) return 0;
    l2_normalise(o->var, (size_t)f->K * f->N, f->F);
    l2_normalise(o->clean, f->N, f->F);
    l2_normalise(o->flip, f->N, f->F);
    l2_normalise(o->val, f->NV, f->F);
    l2_normalise(o->val_flip, f->NV, f->F);
    l2_normalise(o->ood, f->NO, f->F);
    l2_normalise(o->ood_flip, f->NO, f->F);
    return make_cf(o);
}

/* ---- other poolings of the last feature map (--pool) ---- */

enum { MAX_POOLS = 12, NSETS = 7 };

/* The sets a backbone's features are cached for, in this order; the 7th is
 * the training variants (variant_what). */
static const char *const SETS[NSETS - 1] = {"clean", "val", "ood", "flip", "valflip", "oodflip"};

/* Every pooling's features of one backbone, set by set. */
typedef struct pooled {
    const df_bench_pool *pools;
    int P;
    size_t HW, C;
    size_t rows[NSETS];
    float *x[MAX_POOLS][NSETS]; /* rows[k] x df_bench_pool_dim(pools[p], C) */
} pooled;

static void pooled_free(pooled *pl) {
    for (int p = 0; p < MAX_POOLS; p++)
        for (int k = 0; k < NSETS; k++) free(pl->x[p][k]);
}

static int pooled_alloc(pooled *pl) {
    for (int p = 0; p < pl->P; p++)
        for (int k = 0; k < NSETS; k++) {
            pl->x[p][k] = malloc(sizeof(float) * pl->rows[k] * df_bench_pool_dim(&pl->pools[p], pl->HW, pl->C));
            if (!pl->x[p][k]) return 0;
        }
    return 1;
}

/* The reference checks of the pooled validation photos: the map's mean
 * against the graph's own MEAN (ref, NV x C, from the backbone uncut;
 * the two differ only in the order of fp32 sums), the power means'
 * order mean <= GeM 2 <= GeM 3 <= GeM 4 <= max, channel by channel, in
 * the order df_bench_pools lists them, and a regions pooling with one
 * window over the whole map against the mean (the regions' indexing). */
static df_status check_pooled(const pooled *pl, const float *ref, const char *name, df_error *err) {
    const size_t NV = pl->rows[1], C = pl->C;
    double worst = 0.0;
    for (size_t i = 0; i < NV * C; i++)
        worst = fmax(worst, fabs(pl->x[0][1][i] - ref[i]) / (1e-5 + 1e-5 * fabs(ref[i])));
    if (strcmp(pl->pools[0].tag, "mean") || worst > 1.0)
        return df_error_set(err, DF_ERR_DATA, "%s: the 7x7 map's mean differs from the graph's MEAN (%g of the "
                            "tolerance 1e-5 + 1e-5 |x|)", name, worst);
    int order = 0, whole = 0;
    for (int p = 1; p < pl->P; p++) {
        const df_bench_pool *q = &pl->pools[p];
        if (q->kind == DF_BENCH_POOL_REGIONS && df_bench_pool_dim(q, pl->HW, C) == C) {
            /* one window over the whole map: the mean, summed in another order */
            for (size_t i = 0; i < NV * C; i++)
                if (fabsf(pl->x[p][1][i] - pl->x[0][1][i]) > 1e-5f * (1.0f + fabsf(pl->x[0][1][i])))
                    return df_error_set(err, DF_ERR_DATA, "%s: pooling %s differs from the mean (%g against %g)",
                                        name, q->tag, (double)pl->x[p][1][i], (double)pl->x[0][1][i]);
            whole++;
        }
        if (q->kind == DF_BENCH_POOL_MEANMAX || q->kind == DF_BENCH_POOL_REGIONS) continue; /* after the powers */
        order++;
        for (size_t i = 0; i < NV * C; i++) {
            const float lo = pl->x[p - 1][1][i], hi = pl->x[p][1][i];
            if (lo > hi + 1e-5f * (1.0f + fabsf(hi)))
                return df_error_set(err, DF_ERR_DATA, "%s: pooling %s above %s (%g > %g)", name,
                                    pl->pools[p - 1].tag, pl->pools[p].tag, (double)lo, (double)hi);
        }
    }
    printf("# check: %s's map mean = the graph's MEAN within %.2g of 1e-5 + 1e-5 |x|; %d power-mean orders hold; "
           "%d whole-map regions = the mean\n",
           name, worst, order, whole);
    return DF_OK;
}

/* The tensor one block before the last feature map: the input of the 1x1
 * CONV_2D that produces it (MobileNetV2: block 16's 7x7x320 output), as a
 * cut name "#<index>", and its positions HW and channels C. */
static df_status block16_cut(const char *path, char *cut, size_t size, size_t *HW, size_t *C, df_error *err) {
    df_tflite_model *m = NULL;
    df_status st = df_tflite_load(path, &m, err);
    if (st != DF_OK) return st;
    const int map = df_tflite_feature_map_tensor(m), p = map < 0 ? -1 : df_tflite_producer(m, map);
    const int t = p < 0 || m->operators[p].builtin != DF_TFLITE_OP_CONV_2D ? -1 : m->operators[p].inputs[0];
    if (t < 0 || m->tensors[t].rank != 4 || m->tensors[t].shape[1] * m->tensors[t].shape[2] < 2)
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: the last feature map is not a 1x1 CONV_2D of a spatial map",
                          path);
    else {
        snprintf(cut, size, "#%d", t);
        *HW = (size_t)m->tensors[t].shape[1] * (size_t)m->tensors[t].shape[2];
        *C = (size_t)m->tensors[t].shape[3];
    }
    df_tflite_destroy(m);
    return st;
}

/* Every pooling of one backbone's features from one pass over the photos
 * with the backbone cut at the map its MEAN averages (MobileNetV2: 7x7x1280
 * per photo, NHWC): plain and mirrored training, validation and
 * out-of-domain photos, and spec's training variants. The maps are pooled
 * batch by batch (the variants' all at once, as df_train_feature_variants
 * returns them) and never written. Cached as <name>_<pool>_<set>.npy.
 * With block16: the map one block earlier (block16_cut) instead, cached
 * as <name>_b16<pool>_<set>.npy (no graph MEAN to check it against
 * there). */
static df_status compute_pooled(const char *shared, const char *cache, const char *name, const char *file,
                                const data *d, const aug_spec *spec, int block16, df_error *err) {
    pooled pl;
    memset(&pl, 0, sizeof pl);
    pl.pools = df_bench_pools(&pl.P);
    char path[1024], what[32], stem[64], cut[32];
    snprintf(path, sizeof path, "%s/models/%s", shared, file);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    bo.max_batch = 32;
    df_backbone *bb = NULL;
    float *ref = NULL, *maps = NULL;
    double t0 = df_clock_seconds();
    /* The reference: the graph's own MEAN of the validation photos. */
    df_status st = pl.P <= MAX_POOLS ? DF_OK : df_error_set(err, DF_ERR_INVALID_ARG, "more poolings than MAX_POOLS");
    if (st == DF_OK && !block16) st = df_backbone_open("tflite", path, &bo, &bb, err);
    if (st == DF_OK && !block16) pl.C = df_backbone_feature_dim(bb);
    if (st == DF_OK && !block16) st = df_photo_features(bb, d->val, df_photo_resize(bb, -1), NULL, &ref, err);
    df_backbone_destroy(bb);
    bb = NULL;
    bo.cut_tensor = DF_TFLITE_CUT_FEATURE_MAP;
    if (st == DF_OK && block16) st = block16_cut(path, cut, sizeof cut, &pl.HW, &pl.C, err);
    if (st == DF_OK && block16) bo.cut_tensor = cut;
    if (st == DF_OK) st = df_backbone_open("tflite", path, &bo, &bb, err);
    if (st == DF_OK) {
        if (!block16) pl.HW = df_backbone_feature_dim(bb) / pl.C;
        if (pl.HW * pl.C != df_backbone_feature_dim(bb) || pl.HW < 2)
            st = df_error_set(err, DF_ERR_DATA, "%s: the map (%zu values) is not HW x %zu", path,
                              df_backbone_feature_dim(bb), pl.C);
    }
    const df_dataset *src[3] = {d->train, d->val, d->ood};
    for (int k = 0; k < NSETS; k++)
        pl.rows[k] = k < NSETS - 1 ? (size_t)src[k % 3]->count : (size_t)spec->K * d->train->count;
    if (st == DF_OK && !pooled_alloc(&pl)) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int k = 0; st == DF_OK && k < NSETS - 1; k++) {
        float *outs[MAX_POOLS];
        for (int p = 0; p < pl.P; p++) outs[p] = pl.x[p][k];
        const pool_sink sink = {pl.pools, pl.P, pl.HW, pl.C, outs};
        st = photo_features(bb, src[k % 3], FIT_SQUASH, k >= 3, NULL, &sink, err);
    }
    const df_train_options o = spec_options(spec);
    if (st == DF_OK) st = df_train_feature_variants(bb, d->train, &o, spec->K, &maps, NULL, err);
    for (int p = 0; st == DF_OK && p < pl.P; p++)
        df_bench_pool_maps(&pl.pools[p], maps, pl.rows[NSETS - 1], pl.HW, pl.C, pl.x[p][NSETS - 1]);
    if (st == DF_OK && !block16) st = check_pooled(&pl, ref, name, err);
    if (st == DF_OK)
        printf("# %s: %d poolings of the %zu x %zu map, %d + %d + %d photos plain and mirrored and %zu variants, "
               "in %.0f s\n", name, pl.P, pl.HW, pl.C, d->train->count, d->val->count, d->ood->count,
               pl.rows[NSETS - 1], df_clock_seconds() - t0);
    variant_what(spec, what, sizeof what);
    for (int p = 0; st == DF_OK && p < pl.P; p++)
        for (int k = 0; st == DF_OK && k < NSETS; k++) {
            snprintf(stem, sizeof stem, block16 ? "%s_b16%s" : "%s_%s", name, pl.pools[p].tag);
            st = cache_write(cache, stem, k < NSETS - 1 ? SETS[k] : what, pl.rows[k],
                             df_bench_pool_dim(&pl.pools[p], pl.HW, pl.C), pl.x[p][k], err);
        }
    df_backbone_destroy(bb);
    free(ref);
    free(maps);
    pooled_free(&pl);
    return st;
}

/* --dump-maps: what a fine-tuning study of the last 1x1 convolution needs,
 * written to the cache for bench/finetune_ood.py: block 16's raw 7x7x320
 * maps (one row of HW x C floats, NHWC, per photo) of the plain training,
 * mirrored training, validation and out-of-domain photos and of the
 * default recipe's training variants (<name>_b16map_<set>.npy), and that
 * convolution's dequantized weights (<name>_conv1_w.npy, C_out x C_in) and
 * bias (<name>_conv1_b.npy, 1 x C_out). Its activation is ReLU6 in both
 * MobileNetV2s (checked). */
static df_status dump_maps(const char *shared, const char *cache, const char *name, const char *file, const data *d,
                           const aug_spec *spec, df_error *err) {
    char path[1024], cut[32], stem[64];
    size_t HW = 0, C = 0;
    snprintf(path, sizeof path, "%s/models/%s", shared, file);
    df_status st = block16_cut(path, cut, sizeof cut, &HW, &C, err);
    if (st != DF_OK) return st;
    df_tflite_model *m = NULL;
    if ((st = df_tflite_load(path, &m, err)) != DF_OK) return st;
    const int map = df_tflite_feature_map_tensor(m), p = df_tflite_producer(m, map);
    const df_tflite_operator *op = &m->operators[p];
    const df_tflite_tensor *wt = &m->tensors[op->inputs[1]], *bt = &m->tensors[op->inputs[2]];
    const size_t CO = (size_t)wt->shape[0], CI = (size_t)wt->shape[3];
    float *w = malloc(sizeof(float) * CO * CI), *b = malloc(sizeof(float) * CO);
    if (!w || !b) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    else if (op->options.activation != DF_TFLITE_ACT_RELU6 || CI != C || wt->quant.n == 0 || bt->quant.n == 0 ||
             (wt->type != DF_TFLITE_UINT8 && wt->type != DF_TFLITE_INT8) || bt->type != DF_TFLITE_INT32)
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: the last 1x1 convolution is not a quantized ReLU6 one", path);
    const uint8_t *wq = df_tflite_tensor_data(m, op->inputs[1]), *bq = df_tflite_tensor_data(m, op->inputs[2]);
    for (size_t o = 0; st == DF_OK && o < CO; o++) {
        const size_t qc = wt->quant.n > 1 ? o : 0, qb = bt->quant.n > 1 ? o : 0;
        for (size_t i = 0; i < CI; i++) {
            const double q = wt->type == DF_TFLITE_UINT8 ? (double)wq[o * CI + i] : (double)(int8_t)wq[o * CI + i];
            w[o * CI + i] = (float)(wt->quant.scale[qc] * (q - (double)wt->quant.zero_point[qc]));
        }
        int32_t bi;
        memcpy(&bi, bq + 4 * o, 4);
        b[o] = (float)(bt->quant.scale[qb] * ((double)bi - (double)bt->quant.zero_point[qb]));
    }
    df_tflite_destroy(m);
    snprintf(stem, sizeof stem, "%s_conv1", name);
    if (st == DF_OK) st = cache_write(cache, stem, "w", CO, CI, w, err);
    if (st == DF_OK) st = cache_write(cache, stem, "b", 1, CO, b, err);
    free(w);
    free(b);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    bo.max_batch = 32;
    bo.cut_tensor = cut;
    df_backbone *bb = NULL;
    if (st == DF_OK) st = df_backbone_open("tflite", path, &bo, &bb, err);
    const df_dataset *src[4] = {d->train, d->train, d->val, d->ood};
    static const char *const what[4] = {"clean", "flip", "val", "ood"};
    snprintf(stem, sizeof stem, "%s_b16map", name);
    double t0 = df_clock_seconds();
    for (int k = 0; st == DF_OK && k < 4; k++) {
        float *x = malloc(sizeof(float) * (size_t)src[k]->count * HW * C);
        st = x ? photo_features(bb, src[k], FIT_SQUASH, k == 1, x, NULL, err)
               : df_error_set(err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = cache_write(cache, stem, what[k], (size_t)src[k]->count, HW * C, x, err);
        free(x);
        int *lab = st == DF_OK ? df_bench_labels(src[k]) : NULL;
        float *labf = lab ? malloc(sizeof(float) * (size_t)src[k]->count) : NULL;
        for (int i = 0; labf && i < src[k]->count; i++) labf[i] = (float)lab[i];
        if (st == DF_OK && !labf) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = cache_write(cache, "labels", what[k], (size_t)src[k]->count, 1, labf, err);
        free(lab);
        free(labf);
    }
    float *var = NULL;
    const df_train_options o = spec_options(spec);
    if (st == DF_OK) st = df_train_feature_variants(bb, d->train, &o, spec->K, &var, NULL, err);
    if (st == DF_OK) st = cache_write(cache, stem, "var", (size_t)spec->K * d->train->count, HW * C, var, err);
    free(var);
    df_backbone_destroy(bb);
    if (st == DF_OK)
        printf("# %s: block 16's %zu x %zu maps and the last convolution (%zu x %zu) in %s/%s_*.npy, %.0f s\n", name,
               HW, C, CO, CI, cache, stem, df_clock_seconds() - t0);
    return st;
}

/* The control: the mean pooling's features (f) against the graph's own
 * MEAN features of the same backbone where they are cached (backbone_feats'
 * files): the largest difference over every set, relative as in
 * check_pooled. */
static void compare_with_graph(const char *cache, const char *name, const feats *f, const char *what) {
    const float *x[NSETS] = {f->clean, f->val, f->ood, f->flip, f->val_flip, f->ood_flip, f->var};
    const size_t rows[NSETS] = {f->N, f->NV, f->NO, f->N, f->NV, f->NO, (size_t)f->K * f->N};
    double worst = 0.0;
    size_t n = 0;
    for (int k = 0; k < NSETS; k++) {
        float *g = NULL;
        if (!cache_read(cache, name, k < NSETS - 1 ? SETS[k] : what, rows[k], f->F, &g)) continue;
        for (size_t i = 0; i < rows[k] * f->F; i++)
            worst = fmax(worst, fabs(x[k][i] - g[i]) / (1e-5 + 1e-5 * fabs(g[i])));
        n += rows[k];
        free(g);
    }
    if (n) printf("# check: %s against the graph's MEAN features cached as %s_*: %zu rows within %.2g of 1e-5 + "
                  "1e-5 |x|\n", f->name, name, n, worst);
}

/* f's seven sets from the cache files <f->name>_<set>.npy, F from the width
 * of the validation photos' file: 1, else 0 (and f's sets freed). */
static int read_pooled(const char *cache, const char *what, feats *f) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s_val.npy", cache, f->name);
    df_npy probe = {0};
    df_error ignored;
    f->F = df_npy_read(path, &probe, &ignored) == DF_OK ? probe.cols : 0;
    df_npy_free(&probe);
    float **dst[NSETS] = {&f->clean, &f->val, &f->ood, &f->flip, &f->val_flip, &f->ood_flip, &f->var};
    const size_t rows[NSETS] = {f->N, f->NV, f->NO, f->N, f->NV, f->NO, (size_t)f->K * f->N};
    int ok = f->F > 0;
    for (int k = 0; ok && k < NSETS; k++)
        ok = cache_read(cache, f->name, k < NSETS - 1 ? SETS[k] : what, rows[k], f->F, dst[k]);
    if (!ok) {
        feats_free(f);
        for (int k = 0; k < NSETS; k++) *dst[k] = NULL;
        f->F = 0;
    }
    return ok;
}

/* One backbone's features under pooling pool (named "<backbone>_<pool>"),
 * from the cache or computed with every other pooling (compute_pooled);
 * with b16 (not NULL), the block-16 map pooled by b16 appended to each row
 * (named "<backbone>_<pool>+b16", "+b16<b16>" for other than the mean).
 * The fit is the product's stretch. */
static df_status pooled_backbone_feats(const char *shared, const char *cache, const char *name, const char *file,
                                       const data *d, const aug_spec *spec, const df_bench_pool *pool,
                                       const df_bench_pool *b16, feats *f, df_error *err) {
    const int block16 = b16 != NULL;
    feats part[2];
    memset(part, 0, sizeof part);
    char what[32];
    variant_what(spec, what, sizeof what);
    df_status st = DF_OK;
    for (int j = 0; st == DF_OK && j <= block16; j++) {
        feats *g = &part[j];
        snprintf(g->name, sizeof g->name, j ? "%s_b16%s" : "%s_%s", name, j ? b16->tag : pool->tag);
        g->N = d->train->count;
        g->NV = d->val->count;
        g->NO = d->ood->count;
        g->K = spec->K;
        const int cached = read_pooled(cache, what, g);
        if (!cached) st = compute_pooled(shared, cache, name, file, d, spec, j, err);
        if (st == DF_OK && !cached && !read_pooled(cache, what, g))
            st = df_error_set(err, DF_ERR_IO, "%s: the pooled features were not cached in %s", g->name, cache);
        if (st == DF_OK) printf("# %s: %zu features per photo from %s\n", g->name, g->F, cache);
    }
    if (st == DF_OK && pool->kind == DF_BENCH_POOL_MEAN && !block16) compare_with_graph(cache, name, &part[0], what);
    if (st == DF_OK && block16 && !concat_feats(&part[0], &part[1], f))
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (st == DF_OK && block16)
        snprintf(f->name, sizeof f->name, "%s_%s+b16%s", name, pool->tag, strcmp(b16->tag, "mean") ? b16->tag : "");
    if (st == DF_OK && !block16) {
        *f = part[0];
        memset(&part[0], 0, sizeof part[0]);
        if (!make_cf(f)) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    feats_free(&part[0]);
    feats_free(&part[1]);
    fflush(stdout);
    return st;
}

/* ---- candidates ---- */

typedef struct cand_def {
    const char *name;
    df_head_kind kind;
    float l2, lr, wd;
    int epochs;
    int augment; /* 0: clean photos only, 1: the cached variants, 2: clean + mirrored (flip only) */
    int l2norm, balanced;
    float smooth; /* label smoothing */
    int rule;     /* 1: a candidate of the one-standard-error choice */
    int exact;    /* 1: linear head fitted to its optimum by L-BFGS (lr, epochs unused) */
} cand_def;

/* The rule's candidates (rule = 1) are the penalties, each fitted as
 * close to its optimum as measured: the linear head at L2 10 ... 0.01 with
 * Adam 1e-3 over 300 epochs (1,200 steps), which ends at a lower training
 * objective than Adam 1e-3 over 100 epochs or Adam 1e-2 over 30 epochs for
 * every L2 (the objective column). Listed simplest first, the order the
 * one-standard-error rule walks: the stronger L2 first. The other rows are
 * reported beside them and the rule is also printed over all of them in
 * this order: the same L2 grid fitted by Adam 1e-3 over 100 epochs, and by
 * Adam 1e-2 over 30 epochs (the default is L2 0.1 there: docs/defaults.md
 * says why the rule's choice was not adopted);
 * variations (flip-only or no augmentation, balanced class weights, label
 * smoothing, L2-normalised features); the MLP, regularised forms first. */
static const cand_def CANDS[] = {
    {"linear l2=10 lr=1e-3 300ep", DF_HEAD_LINEAR, 10.0f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=3 lr=1e-3 300ep", DF_HEAD_LINEAR, 3.0f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=1 lr=1e-3 300ep", DF_HEAD_LINEAR, 1.0f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=0.3 lr=1e-3 300ep", DF_HEAD_LINEAR, 0.3f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=0.1 lr=1e-3 300ep", DF_HEAD_LINEAR, 0.1f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=0.03 lr=1e-3 300ep", DF_HEAD_LINEAR, 0.03f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=0.01 lr=1e-3 300ep", DF_HEAD_LINEAR, 0.01f, 1e-3f, 0, 300, 1, 0, 0, 0, 1, 0},
    {"linear l2=10 exact", DF_HEAD_LINEAR, 10.0f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=3 exact", DF_HEAD_LINEAR, 3.0f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=1 exact", DF_HEAD_LINEAR, 1.0f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=0.3 exact", DF_HEAD_LINEAR, 0.3f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=0.1 exact", DF_HEAD_LINEAR, 0.1f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=0.03 exact", DF_HEAD_LINEAR, 0.03f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=0.01 exact", DF_HEAD_LINEAR, 0.01f, 0, 0, 0, 1, 0, 0, 0, 0, 1},
    {"linear l2=10 lr=1e-3 100ep", DF_HEAD_LINEAR, 10.0f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=3 lr=1e-3 100ep", DF_HEAD_LINEAR, 3.0f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=1 lr=1e-3 100ep", DF_HEAD_LINEAR, 1.0f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.3 lr=1e-3 100ep", DF_HEAD_LINEAR, 0.3f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.1 lr=1e-3 100ep", DF_HEAD_LINEAR, 0.1f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.03 lr=1e-3 100ep", DF_HEAD_LINEAR, 0.03f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.01 lr=1e-3 100ep", DF_HEAD_LINEAR, 0.01f, 1e-3f, 0, 100, 1, 0, 0, 0, 0, 0},
    {"linear l2=3", DF_HEAD_LINEAR, 3.0f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=1", DF_HEAD_LINEAR, 1.0f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.3", DF_HEAD_LINEAR, 0.3f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.1 (the default)", DF_HEAD_LINEAR, 0.1f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.03", DF_HEAD_LINEAR, 0.03f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.01", DF_HEAD_LINEAR, 0.01f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.003", DF_HEAD_LINEAR, 0.003f, 1e-2f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.001 lr=1e-3 30ep", DF_HEAD_LINEAR, 0.001f, 1e-3f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"linear l2=0.3 flip-only", DF_HEAD_LINEAR, 0.3f, 1e-2f, 0, 30, 2, 0, 0, 0, 0, 0},
    {"linear l2=0.1 flip-only", DF_HEAD_LINEAR, 0.1f, 1e-2f, 0, 30, 2, 0, 0, 0, 0, 0},
    {"linear l2=0.03 flip-only", DF_HEAD_LINEAR, 0.03f, 1e-2f, 0, 30, 2, 0, 0, 0, 0, 0},
    {"linear l2=0.1 no-augment", DF_HEAD_LINEAR, 0.1f, 1e-2f, 0, 30, 0, 0, 0, 0, 0, 0},
    {"linear l2=0.03 no-augment", DF_HEAD_LINEAR, 0.03f, 1e-2f, 0, 30, 0, 0, 0, 0, 0, 0},
    {"linear l2=0.1 balanced", DF_HEAD_LINEAR, 0.1f, 1e-2f, 0, 30, 1, 0, 1, 0, 0, 0},
    {"linear l2=0.1 smoothing=0.1", DF_HEAD_LINEAR, 0.1f, 1e-2f, 0, 30, 1, 0, 0, 0.1f, 0, 0},
    {"linear l2=0.03 smoothing=0.1", DF_HEAD_LINEAR, 0.03f, 1e-2f, 0, 30, 1, 0, 0, 0.1f, 0, 0},
    {"linear l2=0.03 l2-normalised", DF_HEAD_LINEAR, 0.03f, 1e-2f, 0, 30, 1, 1, 0, 0, 0, 0},
    {"mlp l2=0.01", DF_HEAD_MLP, 0.01f, 1e-3f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"mlp l2=0.001", DF_HEAD_MLP, 0.001f, 1e-3f, 0, 30, 1, 0, 0, 0, 0, 0},
    {"mlp weight-decay=0.5", DF_HEAD_MLP, 0.0f, 1e-3f, 0.5f, 30, 1, 0, 0, 0, 0, 0},
    {"mlp 10 epochs", DF_HEAD_MLP, 0.0f, 1e-3f, 0, 10, 1, 0, 0, 0, 0, 0},
    {"mlp (default before 2026-12-01)", DF_HEAD_MLP, 0.0f, 1e-3f, 0, 30, 1, 0, 0, 0, 0, 0},
};
enum { NCANDS = (int)(sizeof CANDS / sizeof CANDS[0]) };

static df_head_candidate make_candidate(const cand_def *c) {
    df_head_candidate h;
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "%s", c->name);
    h.head = df_head_config_default();
    h.head.kind = c->kind;
    h.head.l2 = c->l2;
    h.head.label_smoothing = c->smooth;
    h.adam = df_adam_config_default();
    h.adam.lr = c->lr;
    h.adam.weight_decay = c->wd;
    return h;
}

/* One candidate's scores, seeds 0..S-1. */
typedef struct scores {
    double cv[MAX_SEEDS * FOLDS], cv_tta[MAX_SEEDS * FOLDS];
    double val[MAX_SEEDS], val_tta[MAX_SEEDS], ood[MAX_SEEDS], ood_tta[MAX_SEEDS];
    double ens_val[MAX_SEEDS], ens_ood[MAX_SEEDS];
    double recall[3][MAX_SEEDS]; /* ood recall of classes 0..2 (plain head) */
    double objective[MAX_SEEDS];  /* the head's training objective at the end (linear heads) */
    double fit_seconds[MAX_SEEDS];
    int sub_n[MAX_SUB], sub_ok[MAX_SUB]; /* ood per source folder, summed over the seeds (plain head) */
} scores;

/* Accuracy of argmax(a + b) (b NULL: of a) against y. */
static double acc2(const float *a, const float *b, const int *y, int n, int C) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int best = 0;
        double bv = -1.0;
        for (int c = 0; c < C; c++) {
            double v = a[(size_t)i * C + c] + (b ? b[(size_t)i * C + c] : 0.0);
            if (v > bv) bv = v, best = c;
        }
        ok += best == y[i];
    }
    return n ? (double)ok / n : 0.0;
}

/* The rows every head also predicts: the training photos mirrored (for
 * cv+tta), validation plain and mirrored, out-of-domain plain and
 * mirrored. */
static float *extra_rows(const feats *f, int *n) {
    const size_t F = f->F;
    *n = f->N + 2 * f->NV + 2 * f->NO;
    float *x = malloc(sizeof(float) * (size_t)*n * F);
    if (!x) return NULL;
    float *p = x;
    const float *parts[5] = {f->flip, f->val, f->val_flip, f->ood, f->ood_flip};
    const int rows[5] = {f->N, f->NV, f->NV, f->NO, f->NO};
    for (int k = 0; k < 5; k++) {
        memcpy(p, parts[k], sizeof(float) * (size_t)rows[k] * F);
        p += (size_t)rows[k] * F;
    }
    return x;
}

static df_train_options seed_options(const cand_def *cd, int seed) {
    df_train_options o = df_train_options_default();
    o.seed = (uint64_t)seed;
    o.epochs = cd->epochs;
    o.class_weight_balanced = cd->balanced;
    o.exact_fit = 0; /* the candidates' own solvers: Adam, or exact_head */
    return o;
}

/* Scores of the ensemble of fold heads (ex: folds x n_extra x C) and of
 * the 5-fold cross-validation, plain and mirrored. */
static void fold_results(const feats *f, const data *d, const int *fold_of, const float *oof, const float *ex,
                         int n_extra, int s, scores *sc, float *sum) {
    const int C = d->C, N = f->N;
    for (int k = 0; k < FOLDS; k++) {
        int n = 0, ok = 0, ok_tta = 0;
        const float *fl = ex + (size_t)k * n_extra * C; /* rows 0..N: mirrored training photos */
        for (int i = 0; i < N; i++) {
            if (fold_of[i] != k) continue;
            n++;
            ok += acc2(oof + (size_t)i * C, NULL, d->y + i, 1, C) > 0.5;
            ok_tta += acc2(oof + (size_t)i * C, fl + (size_t)i * C, d->y + i, 1, C) > 0.5;
        }
        sc->cv[s * FOLDS + k] = n ? (double)ok / n : 0.0;
        sc->cv_tta[s * FOLDS + k] = n ? (double)ok_tta / n : 0.0;
    }
    /* Fold heads' mean: sum over folds of the plain rows (argmax is the same). */
    memset(sum, 0, sizeof(float) * (size_t)n_extra * C);
    for (int k = 0; k < FOLDS; k++)
        for (size_t j = 0; j < (size_t)n_extra * C; j++) sum[j] += ex[(size_t)k * n_extra * C + j];
    sc->ens_val[s] = acc2(sum + (size_t)N * C, NULL, d->yv, f->NV, C);
    sc->ens_ood[s] = acc2(sum + (size_t)(N + 2 * f->NV) * C, NULL, d->yo, f->NO, C);
}

/* A linear head's training objective on the rows it was trained on (all K
 * variants of the N photos): mean cross-entropy + l2 * sum(kernel^2), the
 * quantity the fit minimises; 0 for other heads. It says whether a fit has
 * reached its optimum: a lower value from another optimiser means it has
 * not. */
static df_status training_objective(df_head *head, const float *x, int rows, const int *y, int N, int C, float l2,
                                    double *out, df_error *err) {
    *out = 0.0;
    if (df_head_get_config(head)->kind != DF_HEAD_LINEAR) return DF_OK;
    float *p = malloc(sizeof(float) * (size_t)rows * C);
    if (!p) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    df_status st = df_head_predict(head, x, rows, p, err);
    double ce = 0.0, w2 = 0.0;
    for (int r = 0; st == DF_OK && r < rows; r++) ce -= log(fmax(p[(size_t)r * C + y[r % N]], 1e-30));
    const float *w = df_head_params_const(head);
    for (size_t j = 0; j < (size_t)df_head_in_dim(head) * C; j++) w2 += (double)w[j] * w[j];
    *out = ce / rows + l2 * w2;
    free(p);
    return st;
}

/* ---- the exact fit: softmax regression to its optimum (L-BFGS) ---- */

/* The linear head's objective on standardised rows z (n x F, double):
 * mean cross-entropy + l2 * |W|^2, W (F x C) then b (C) in theta; its
 * gradient into g. */
static double softmax_objective(const double *z, const int *y, int n, int F, int C, double l2, const double *theta,
                                double *g, double *pr) {
    const double *W = theta, *b = theta + (size_t)F * C;
    memset(g, 0, sizeof(double) * ((size_t)F * C + C));
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const double *zi = z + (size_t)i * F;
        double mx = -INFINITY;
        for (int c = 0; c < C; c++) {
            double v = b[c];
            for (int j = 0; j < F; j++) v += zi[j] * W[(size_t)j * C + c];
            pr[c] = v;
            if (v > mx) mx = v;
        }
        double se = 0.0;
        for (int c = 0; c < C; c++) se += exp(pr[c] - mx);
        loss += log(se) + mx - pr[y[i]];
        for (int c = 0; c < C; c++) pr[c] = exp(pr[c] - mx) / se - (c == y[i]) ;
        for (int j = 0; j < F; j++)
            for (int c = 0; c < C; c++) g[(size_t)j * C + c] += zi[j] * pr[c];
        for (int c = 0; c < C; c++) g[(size_t)F * C + c] += pr[c];
    }
    double w2 = 0.0;
    for (size_t k = 0; k < (size_t)F * C + C; k++) g[k] /= n;
    for (size_t k = 0; k < (size_t)F * C; k++) {
        w2 += W[k] * W[k];
        g[k] += 2.0 * l2 * W[k];
    }
    return loss / n + l2 * w2;
}

enum { LBFGS_M = 10, LBFGS_ITERS = 1000 };

/* Minimises softmax_objective from theta = 0 by L-BFGS (two-loop
 * recursion, Armijo backtracking) until the gradient's max norm is below
 * 1e-6 or LBFGS_ITERS. Returns the objective; *iters the iterations. */
static double lbfgs_fit(const double *z, const int *y, int n, int F, int C, double l2, double *theta, int *iters) {
    const size_t P = (size_t)F * C + C;
    double *g = calloc(P, sizeof(double)), *gn = calloc(P, sizeof(double)), *d = calloc(P, sizeof(double));
    double *xn = calloc(P, sizeof(double)), *S = calloc(P * LBFGS_M, sizeof(double));
    double *Y = calloc(P * LBFGS_M, sizeof(double)), rho[LBFGS_M], alpha[LBFGS_M], pr[64];
    if (!g || !gn || !d || !xn || !S || !Y || C > 64) {
        free(g), free(gn), free(d), free(xn), free(S), free(Y);
        return NAN;
    }
    memset(theta, 0, sizeof(double) * P);
    double fx = softmax_objective(z, y, n, F, C, l2, theta, g, pr);
    int m = 0, it = 0;
    for (; it < LBFGS_ITERS; it++) {
        double gmax = 0.0;
        for (size_t k = 0; k < P; k++) gmax = fmax(gmax, fabs(g[k]));
        if (gmax < 1e-6) break;
        /* d = -H g by the two-loop recursion over the last m pairs. */
        for (size_t k = 0; k < P; k++) d[k] = -g[k];
        for (int j = m - 1; j >= 0; j--) {
            double a = 0.0;
            for (size_t k = 0; k < P; k++) a += S[(size_t)j * P + k] * d[k];
            alpha[j] = a * rho[j];
            for (size_t k = 0; k < P; k++) d[k] -= alpha[j] * Y[(size_t)j * P + k];
        }
        double gamma = 1.0;
        if (m > 0) {
            double sy = 0.0, yy = 0.0;
            for (size_t k = 0; k < P; k++) sy += S[(size_t)(m - 1) * P + k] * Y[(size_t)(m - 1) * P + k],
                                           yy += Y[(size_t)(m - 1) * P + k] * Y[(size_t)(m - 1) * P + k];
            gamma = sy / yy;
        } else {
            double gg = 0.0;
            for (size_t k = 0; k < P; k++) gg += g[k] * g[k];
            gamma = 1.0 / sqrt(gg);
        }
        for (size_t k = 0; k < P; k++) d[k] *= gamma;
        for (int j = 0; j < m; j++) {
            double bta = 0.0;
            for (size_t k = 0; k < P; k++) bta += Y[(size_t)j * P + k] * d[k];
            bta *= rho[j];
            for (size_t k = 0; k < P; k++) d[k] += S[(size_t)j * P + k] * (alpha[j] - bta);
        }
        double gd = 0.0;
        for (size_t k = 0; k < P; k++) gd += g[k] * d[k];
        if (gd >= 0.0) { /* not a descent direction: restart from steepest descent */
            m = 0;
            for (size_t k = 0; k < P; k++) d[k] = -g[k];
            gd = 0.0;
            for (size_t k = 0; k < P; k++) gd -= g[k] * g[k];
        }
        double step = 1.0, fn = fx;
        for (int ls = 0; ls < 40; ls++, step *= 0.5) {
            for (size_t k = 0; k < P; k++) xn[k] = theta[k] + step * d[k];
            fn = softmax_objective(z, y, n, F, C, l2, xn, gn, pr);
            if (fn <= fx + 1e-4 * step * gd) break;
        }
        if (!(fn < fx)) break; /* no progress left in double precision */
        if (m == LBFGS_M) { /* drop the oldest pair */
            memmove(S, S + P, sizeof(double) * P * (LBFGS_M - 1));
            memmove(Y, Y + P, sizeof(double) * P * (LBFGS_M - 1));
            memmove(rho, rho + 1, sizeof(double) * (LBFGS_M - 1));
            m--;
        }
        double sy = 0.0;
        for (size_t k = 0; k < P; k++) {
            S[(size_t)m * P + k] = xn[k] - theta[k];
            Y[(size_t)m * P + k] = gn[k] - g[k];
            sy += S[(size_t)m * P + k] * Y[(size_t)m * P + k];
        }
        if (sy > 1e-12) rho[m++] = 1.0 / sy;
        memcpy(theta, xn, sizeof(double) * P);
        memcpy(g, gn, sizeof(double) * P);
        fx = fn;
    }
    *iters = it;
    free(g), free(gn), free(d), free(xn), free(S), free(Y);
    return fx;
}

/* The exact fit's gradient against central differences of its objective
 * on small random data (the slow obvious reference), and L-BFGS's optimum
 * against the gradient's zero: run once before any exact candidate. */
static df_status check_exact_fit(df_error *err) {
    enum { n = 40, F = 7, C = 3, P = F * C + C };
    double z[n * F], theta[P], g[P], g2[P], pr[C], worst = 0.0;
    int y[n];
    df_rng rng;
    df_rng_seed(&rng, 7, 1);
    for (int i = 0; i < n * F; i++) z[i] = df_rng_normal(&rng);
    for (int i = 0; i < n; i++) y[i] = (int)df_rng_below(&rng, C);
    for (int k = 0; k < P; k++) theta[k] = 0.3 * df_rng_normal(&rng);
    softmax_objective(z, y, n, F, C, 0.3, theta, g, pr);
    for (int k = 0; k < P; k++) {
        const double h = 1e-6, t = theta[k];
        theta[k] = t + h;
        double fp = softmax_objective(z, y, n, F, C, 0.3, theta, g2, pr);
        theta[k] = t - h;
        double fm = softmax_objective(z, y, n, F, C, 0.3, theta, g2, pr);
        theta[k] = t;
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - g[k]));
    }
    int iters = 0;
    lbfgs_fit(z, y, n, F, C, 0.3, theta, &iters);
    softmax_objective(z, y, n, F, C, 0.3, theta, g, pr);
    double gmax = 0.0;
    for (int k = 0; k < P; k++) gmax = fmax(gmax, fabs(g[k]));
    if (worst > 1e-6 || gmax > 1e-6)
        return df_error_set(err, DF_ERR_DATA, "exact fit: gradient off by %g, or not at the optimum (|g| %g)", worst,
                            gmax);
    printf("# check: exact fit's gradient within %.1e of central differences; L-BFGS optimum |g| %.1e in %d "
           "iterations\n", worst, gmax, iters);
    return DF_OK;
}

/* A linear head (standardised on rows, as df_train standardises on its
 * variants) whose kernel and bias are the exact optimum of its penalised
 * objective on rows (n x F) with labels y. */
static df_status exact_head(const float *rows, const int *y, int n, int F, int C, float l2, df_head **out,
                            double *objective, df_error *err) {
    df_head_config hc = df_head_config_default();
    hc.kind = DF_HEAD_LINEAR;
    hc.l2 = l2;
    df_head *head = NULL;
    df_status st = df_head_create(&hc, F, C, 1, &head, err);
    if (st == DF_OK) st = df_head_fit_standardisation(head, rows, n, err);
    double *z = st == DF_OK ? malloc(sizeof(double) * (size_t)n * F) : NULL;
    double *theta = st == DF_OK ? malloc(sizeof(double) * ((size_t)F * C + C)) : NULL;
    if (st == DF_OK && (!z || !theta)) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    float *zf = NULL, *Wf = NULL;
    const int primal = getenv("DF_BENCH_PRIMAL") != NULL;
    if (st == DF_OK) {
        const float *mu = df_head_std_mean(head), *sd = df_head_std_std(head);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < F; j++) z[(size_t)i * F + j] = ((double)rows[(size_t)i * F + j] - mu[j]) / sd[j];
        int iters = 0;
        if (primal) {
            *objective = lbfgs_fit(z, y, n, F, C, l2, theta, &iters);
            if (!isfinite(*objective)) st = df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory");
        } else { /* the product's solver, on the Gram matrix (optim/softmax_exact.h) */
            zf = malloc(sizeof(float) * (size_t)n * F);
            Wf = malloc(sizeof(float) * ((size_t)F * C + C));
            df_softmax_exact_report rep;
            if (!zf || !Wf) st = df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory");
            for (size_t k = 0; st == DF_OK && k < (size_t)n * F; k++) zf[k] = (float)z[k];
            if (st == DF_OK)
                st = df_softmax_fit_exact(zf, y, n, F, C, l2, 1e-6, 5000, Wf, Wf + (size_t)F * C, &rep, err);
            for (size_t k = 0; st == DF_OK && k < (size_t)F * C + C; k++) theta[k] = Wf[k];
            *objective = st == DF_OK ? rep.objective : NAN;
        }
        df_head_tensor t[DF_HEAD_MAX_TENSORS];
        int nt = df_head_tensors(head, t);
        for (int k = 0; st == DF_OK && k < nt; k++) {
            if (!strcmp(t[k].weight, "dense/kernel:0"))
                for (size_t j = 0; j < (size_t)F * C; j++) t[k].data[j] = (float)theta[j];
            if (!strcmp(t[k].weight, "dense/bias:0"))
                for (int c = 0; c < C; c++) t[k].data[c] = (float)theta[(size_t)F * C + c];
        }
    }
    free(z);
    free(theta);
    free(zf);
    free(Wf);
    if (st != DF_OK) {
        df_head_destroy(head);
        head = NULL;
    }
    *out = head;
    return st;
}

/* The rows of the K variants of the photos with keep[i] (all when keep is
 * NULL), variant-major as f->var, and their labels. */
static int gather_variants(const feats *f, const data *d, const float *variants, int K, const int *fold_of,
                           int held_out, float **rows, int **labels, int *n) {
    const size_t F = f->F;
    *rows = malloc(sizeof(float) * (size_t)K * f->N * F);
    *labels = malloc(sizeof(int) * (size_t)K * f->N);
    if (!*rows || !*labels) return 0;
    *n = 0;
    for (int v = 0; v < K; v++)
        for (int i = 0; i < f->N; i++) {
            if (fold_of && fold_of[i] == held_out) continue;
            memcpy(*rows + (size_t)*n * F, variants + ((size_t)v * f->N + i) * F, sizeof(float) * F);
            (*labels)[(*n)++] = d->y[i];
        }
    return 1;
}

/* Cross-validation of an exact-fit candidate: as df_cross_val_predict_extra
 * (held-out photos' clean features into oof, every fold head's predictions
 * of the extra rows into ex), with heads fitted by exact_head. */
static df_status exact_cross_val(const feats *f, const data *d, const float *variants, int K, const int *fold_of,
                                 float l2, const float *extra, int n_extra, float *oof, float *ex, df_error *err) {
    const int C = d->C, F = (int)f->F;
    df_status st = DF_OK;
    for (int k = 0; st == DF_OK && k < FOLDS; k++) {
        float *rows = NULL;
        int *labels = NULL, n = 0;
        df_head *head = NULL;
        double obj;
        if (!gather_variants(f, d, variants, K, fold_of, k, &rows, &labels, &n))
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = exact_head(rows, labels, n, F, C, l2, &head, &obj, err);
        for (int i = 0; st == DF_OK && i < f->N; i++)
            if (fold_of[i] == k) st = df_head_predict(head, f->clean + (size_t)i * F, 1, oof + (size_t)i * C, err);
        if (st == DF_OK) st = df_head_predict(head, extra, n_extra, ex + (size_t)k * n_extra * C, err);
        df_head_destroy(head);
        free(rows);
        free(labels);
    }
    return st;
}

/* Seed s (1-based) of one candidate on one view. */
static df_status run_seed(const feats *f, const data *d, const cand_def *cd, int s, const float *extra, int n_extra,
                          scores *sc, df_error *err) {
    const int N = f->N, C = d->C, NV = f->NV, NO = f->NO;
    const df_train_options o = seed_options(cd, s);
    df_head_candidate hc = make_candidate(cd);
    const int K = cd->augment == 1 ? f->K : cd->augment == 2 ? 2 : 1;
    const float *variants = cd->augment == 1 ? f->var : cd->augment == 2 ? f->cf : f->clean;
    int *fold_of = malloc(sizeof(int) * (size_t)N);
    float *oof = malloc(sizeof(float) * (size_t)N * C);
    float *ex = malloc(sizeof(float) * (size_t)FOLDS * n_extra * C);
    float *sum = malloc(sizeof(float) * (size_t)n_extra * C);
    df_head *head = NULL;
    df_status st = fold_of && oof && ex && sum ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (st == DF_OK) st = df_stratified_folds(d->y, N, C, FOLDS, (uint64_t)s, fold_of, err);
    if (st == DF_OK && cd->exact)
        st = exact_cross_val(f, d, variants, K, fold_of, cd->l2, extra, n_extra, oof, ex, err);
    else if (st == DF_OK)
        st = df_cross_val_predict_extra(variants, K, f->clean, d->y, N, C, f->F, fold_of, FOLDS, &hc, &o, oof, extra,
                                        n_extra, ex, err);
    if (st == DF_OK) fold_results(f, d, fold_of, oof, ex, n_extra, s - 1, sc, sum);
    /* The head trained on all 106 photos, as df_train trains it. */
    const df_cached_stream train_stream = {.kind = DF_TRAIN_STREAM_VARIANT, .id = 0, .epoch_first = 1};
    double t0 = df_clock_seconds();
    if (st == DF_OK && cd->exact) {
        float *rows = NULL;
        int *labels = NULL, n = 0;
        double obj;
        if (!gather_variants(f, d, variants, K, NULL, -1, &rows, &labels, &n))
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = exact_head(rows, labels, n, (int)f->F, C, cd->l2, &head, &obj, err);
        free(rows);
        free(labels);
    } else if (st == DF_OK) {
        st = df_fit_head_cached(variants, K, d->y, N, f->F, NULL, 0, C, &hc, &o, &train_stream, &head, err);
    }
    sc->fit_seconds[s - 1] = df_clock_seconds() - t0;
    if (st == DF_OK) st = training_objective(head, variants, K * N, d->y, N, C, cd->l2, &sc->objective[s - 1], err);
    const float *rest = extra + (size_t)N * f->F; /* val, val mirrored, ood, ood mirrored */
    if (st == DF_OK) st = df_head_predict(head, rest, 2 * NV + 2 * NO, sum, err);
    if (st == DF_OK) {
        const float *pv = sum, *pvf = sum + (size_t)NV * C, *po = sum + (size_t)2 * NV * C,
                    *pof = sum + (size_t)(2 * NV + NO) * C;
        sc->val[s - 1] = acc2(pv, NULL, d->yv, NV, C);
        sc->val_tta[s - 1] = acc2(pv, pvf, d->yv, NV, C);
        sc->ood[s - 1] = acc2(po, NULL, d->yo, NO, C);
        sc->ood_tta[s - 1] = acc2(po, pof, d->yo, NO, C);
        for (int c = 0; c < C && c < 3; c++) {
            int n = 0, ok = 0;
            for (int i = 0; i < NO; i++)
                if (d->yo[i] == c) n++, ok += acc2(po + (size_t)i * C, NULL, d->yo + i, 1, C) > 0.5;
            sc->recall[c][s - 1] = n ? (double)ok / n : 0.0;
        }
        for (int i = 0; i < NO; i++) {
            sc->sub_n[d->sub[i]]++;
            sc->sub_ok[d->sub[i]] += acc2(po + (size_t)i * C, NULL, d->yo + i, 1, C) > 0.5;
        }
    }
    df_head_destroy(head);
    free(fold_of);
    free(oof);
    free(ex);
    free(sum);
    return st;
}

/* df_fit_head_cached with df_train's stream trains the head df_train
 * trains from the same cache: same validation probabilities, bit for bit. */
static df_status check_against_df_train(const char *shared, const feats *f, const data *d, df_error *err) {
    const cand_def *cd = &CANDS[0];
    for (int c = 0; c < NCANDS; c++)
        if (strstr(CANDS[c].name, "(the default)")) cd = &CANDS[c];
    char path[1024];
    snprintf(path, sizeof path, "%s/models/mobilenet_v2_1.0_224_quant.tflite", shared);
    df_backbone_options bo = df_backbone_options_default();
    bo.precision = DF_PRECISION_FP32;
    df_backbone *bb = NULL;
    df_status st = df_backbone_open("tflite", path, &bo, &bb, err);
    df_train_options o = seed_options(cd, 1);
    o.head = make_candidate(cd).head;
    o.adam = make_candidate(cd).adam;
    o.feature_variants = f->var;
    o.backbone_by_reference = 1;
    df_train_result res = {0};
    df_head *head = NULL;
    float *a = malloc(sizeof(float) * (size_t)f->NV * d->C), *b = malloc(sizeof(float) * (size_t)f->NV * d->C);
    df_head_candidate hc = make_candidate(cd);
    const df_cached_stream train_stream = {.kind = DF_TRAIN_STREAM_VARIANT, .id = 0, .epoch_first = 1};
    if (st == DF_OK) st = df_train(bb, d->train, NULL, &o, &res, err);
    if (st == DF_OK)
        st = df_fit_head_cached(f->var, f->K, d->y, f->N, f->F, NULL, 0, d->C, &hc, &o, &train_stream, &head, err);
    if (st == DF_OK) st = df_head_predict(res.model->head, f->val, f->NV, a, err);
    if (st == DF_OK) st = df_head_predict(head, f->val, f->NV, b, err);
    if (st == DF_OK && memcmp(a, b, sizeof(float) * (size_t)f->NV * d->C))
        st = df_error_set(err, DF_ERR_DATA, "df_fit_head_cached and df_train trained different heads");
    if (st == DF_OK) printf("# check: df_train and df_fit_head_cached give identical heads (%s)\n", cd->name);
    df_head_destroy(head);
    df_train_result_free(&res);
    df_backbone_destroy(bb);
    free(a);
    free(b);
    return st;
}

static void print_ms(const double *x, int n) {
    double m, se;
    df_mean_se(x, n, &m, &se);
    printf(" %.3f±%.3f", m, se);
}

static void print_row(const char *view, const cand_def *cd, const scores *sc, int S) {
    double fit;
    double se;
    df_mean_se(sc->fit_seconds, S, &fit, &se);
    printf("%-5s %-32s", view, cd->name);
    print_ms(sc->cv, S * FOLDS);
    print_ms(sc->cv_tta, S * FOLDS);
    print_ms(sc->val, S);
    print_ms(sc->val_tta, S);
    print_ms(sc->ood, S);
    print_ms(sc->ood_tta, S);
    print_ms(sc->ens_val, S);
    print_ms(sc->ens_ood, S);
    printf(" %6.2f", fit);
    double obj, obj_se;
    df_mean_se(sc->objective, S, &obj, &obj_se);
    printf(" %7.4f", obj);
    for (int c = 0; c < 3; c++) {
        double m, e;
        df_mean_se(sc->recall[c], S, &m, &e);
        printf(" %.3f", m);
    }
    printf("\n");
    fflush(stdout);
}

/* Which rows a one-standard-error choice runs over. */
enum { OVER_ALL = 0, OVER_RULE = 1, OVER_EXACT = 2 };
static const char *const OVER_NAMES[] = {"every row", "the rule's candidates", "the exact fits"};

/* The val and ood means of one view's row, after "name:". */
static void print_chosen(const char *name, const scores *sc, int S) {
    double v, o, se;
    df_mean_se(sc->val, S, &v, &se);
    df_mean_se(sc->ood, S, &o, &se);
    printf(" %s val %.4f ood %.4f;", name, v, o);
}

/* The one-standard-error choice among the candidates run[0..n) (those of
 * over, in list order) on a's fold scores, or a's and b's together: one
 * line, ending with the chosen row's cv, val and ood (of a, and of b), and
 * with list = 1 each candidate's mean fold score first. */
static void print_choice(const char *view, const scores *a, const scores *b, const int *run, int n, int S, int over,
                         int list) {
    const int m = S * FOLDS, per = b ? 2 * m : m;
    double *cv = malloc(sizeof(double) * (size_t)(n ? n : 1) * per);
    int pick[NCANDS], k = 0;
    for (int r = 0; cv && r < n; r++) {
        if ((over == OVER_RULE && !CANDS[run[r]].rule) || (over == OVER_EXACT && !CANDS[run[r]].exact)) continue;
        memcpy(cv + (size_t)k * per, a[run[r]].cv, sizeof(double) * m);
        if (b) memcpy(cv + (size_t)k * per + m, b[run[r]].cv, sizeof(double) * m);
        pick[k++] = run[r];
    }
    if (cv && k > 0) {
        df_one_se_choice ch = df_choose_one_se(cv, NULL, k, per);
        for (int r = 0; list && r < k; r++) {
            double mean, se;
            df_mean_se(cv + (size_t)r * per, per, &mean, &se);
            printf("# %s cv %-32s %.4f ± %.4f%s\n", view, CANDS[pick[r]].name, mean, se,
                   mean >= ch.threshold - 1e-9 ? "  (within one SE of the best)" : "");
        }
        double mean, se;
        df_mean_se(cv + (size_t)ch.chosen * per, per, &mean, &se);
        printf("# %s one-SE rule over %s: best cv %s (%.4f, SE %.4f), threshold %.4f -> chosen: %s (cv %.4f;",
               view, OVER_NAMES[over], CANDS[pick[ch.best]].name, ch.best_mean, ch.best_se, ch.threshold,
               CANDS[pick[ch.chosen]].name, mean);
        print_chosen(b ? "qat" : view, &a[pick[ch.chosen]], S);
        if (b) print_chosen("tf2", &b[pick[ch.chosen]], S);
        printf(")\n");
    }
    free(cv);
}

/* Whether name contains one of the comma-separated parts of list. */
static int name_in_list(const char *name, const char *list) {
    char part[128];
    while (*list) {
        size_t n = strcspn(list, ",");
        snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part - 1 ? n : sizeof part - 1), list);
        if (n && strstr(name, part)) return 1;
        list += n + (list[n] == ',');
    }
    return 0;
}

/* One view's table and its one-standard-error choice. */
static df_status run_view(const feats *f, const feats *fn, const data *d, int S, const char *only, int linear_only,
                         scores *sc, int *ran, df_error *err) {
    int n_extra, n_extra_n = 0;
    float *extra = extra_rows(f, &n_extra), *extra_n = fn ? extra_rows(fn, &n_extra_n) : NULL;
    int run[NCANDS], n_run = 0;
    df_status st = extra && sc && (!fn || extra_n) ? DF_OK : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int c = 0; st == DF_OK && c < NCANDS; c++) {
        const cand_def *cd = &CANDS[c];
        if ((only && !name_in_list(cd->name, only)) || (linear_only && (cd->kind != DF_HEAD_LINEAR || cd->l2norm)))
            continue;
        if (cd->l2norm && !fn) continue;
        for (int s = 1; st == DF_OK && s <= S; s++)
            st = run_seed(cd->l2norm ? fn : f, d, cd, s, cd->l2norm ? extra_n : extra, cd->l2norm ? n_extra_n : n_extra,
                          &sc[c], err);
        if (st == DF_OK) print_row(f->name, cd, &sc[c], S);
        if (st == DF_OK) {
            int n_all = 0, ok_all = 0;
            for (int k = 0; k < d->n_sub; k++) n_all += sc[c].sub_n[k], ok_all += sc[c].sub_ok[k];
            printf("#   ood %d / %d over the seeds (%.4f); by source folder:", ok_all, n_all,
                   n_all ? (double)ok_all / n_all : 0.0);
            for (int k = 0; k < d->n_sub; k++)
                printf(" %s %.3f", d->sub_name[k], sc[c].sub_n[k] ? (double)sc[c].sub_ok[k] / sc[c].sub_n[k] : 0.0);
            printf("\n");
        }
        ran[c] = 1;
        run[n_run++] = c;
    }
    if (st == DF_OK) {
        for (int over = OVER_ALL; over <= OVER_EXACT; over++) print_choice(f->name, sc, NULL, run, n_run, S, over, 0);
    }
    free(extra);
    free(extra_n);
    return st;
}

/* The rule on both backbones' fold scores together (2 x S x 5 per
 * candidate): one default for either backbone. */
static void pooled_choice(const scores *a, const scores *b, const int *ran_a, const int *ran_b, int S) {
    int run[NCANDS], n = 0;
    for (int c = 0; c < NCANDS; c++)
        if (ran_a[c] && ran_b[c]) run[n++] = c;
    print_choice("qat+tf2", a, b, run, n, S, OVER_RULE, 1);
    print_choice("qat+tf2", a, b, run, n, S, OVER_EXACT, 1);
    print_choice("qat+tf2", a, b, run, n, S, OVER_ALL, 0);
}

/* Over all training variants: the features' mean mu and std sd (zeroed
 * arrays of F), and each class's mean of the standardised features (cm,
 * zeroed C x F) with its count of variants (cnt, zeroed). */
static void standardised_class_means(const feats *f, const data *d, double *mu, double *sd, double *cm, int *cnt) {
    const size_t F = f->F;
    const int C = d->C, KN = f->K * f->N;
    for (int r = 0; r < KN; r++)
        for (size_t j = 0; j < F; j++) mu[j] += f->var[(size_t)r * F + j] / KN;
    for (int r = 0; r < KN; r++)
        for (size_t j = 0; j < F; j++) {
            double v = f->var[(size_t)r * F + j] - mu[j];
            sd[j] += v * v / KN;
        }
    for (size_t j = 0; j < F; j++) sd[j] = sd[j] > 1e-12 ? sqrt(sd[j]) : 1.0;
    for (int r = 0; r < KN; r++) {
        int y = d->y[r % f->N];
        cnt[y]++;
        for (size_t j = 0; j < F; j++) cm[(size_t)y * F + j] += (f->var[(size_t)r * F + j] - mu[j]) / sd[j];
    }
    for (int c = 0; c < C; c++)
        for (size_t j = 0; j < F; j++) cm[(size_t)c * F + j] /= cnt[c];
}

/* Exploration: nearest class mean on standardised (std = 1) or
 * L2-normalised features, trained on all variants, scored on ood. */
static void explore_ncm(const feats *f, const data *d, int mode) {
    const size_t F = f->F;
    const int C = d->C;
    double *mu = calloc(F, sizeof(double)), *sd = calloc(F, sizeof(double));
    double *cm = calloc((size_t)C * F, sizeof(double));
    int cnt[16] = {0};
    standardised_class_means(f, d, mu, sd, cm, cnt);
    int ok = 0, okv = 0, nk = 0, kt[16] = {0}, kc[16] = {0}, kw[16][3] = {{0}};
    char kn[16][32];
    for (int pass = 0; pass < 2; pass++) {
        const float *X = pass ? f->val : f->ood;
        const int n = pass ? f->NV : f->NO;
        const int *y = pass ? d->yv : d->yo;
        for (int i = 0; i < n; i++) {
            int best = 0;
            double bv = -INFINITY;
            for (int c = 0; c < C; c++) {
                double dot = 0, nn = 0, mm = 0;
                for (size_t j = 0; j < F; j++) {
                    double x = (X[(size_t)i * F + j] - mu[j]) / sd[j], m = cm[(size_t)c * F + j];
                    dot += x * m;
                    nn += x * x;
                    mm += m * m;
                }
                double v = mode == 0 ? 2 * dot - mm : dot / sqrt(mm);
                if (v > bv) bv = v, best = c;
            }
            if (best == y[i]) *(pass ? &okv : &ok) += 1;
            if (!pass) {
                const char *pth = d->ood->items[i].path, *e = strrchr(pth, '/'), *b0 = e;
                while (b0 > pth && b0[-1] != '/') b0--;
                int k;
                for (k = 0; k < nk && strncmp(kn[k], b0, (size_t)(e - b0)); k++) {}
                if (k == nk) snprintf(kn[nk++], 32, "%.*s", (int)(e - b0), b0);
                kt[k]++;
                kc[k] += best == y[i];
                kw[k][best]++;
            }
        }
    }
    printf("# %s ncm mode %d: ood %.4f val %.4f\n", f->name, mode, (double)ok / f->NO, (double)okv / f->NV);
    for (int k = 0; k < nk; k++) printf("#   %-12s %4d/%4d  as %s %d, %s %d, %s %d\n", kn[k], kc[k], kt[k], d->train->class_names[0], kw[k][0], d->train->class_names[1], kw[k][1], d->train->class_names[2], kw[k][2]);
    free(mu);
    free(sd);
    free(cm);
}

/* Exploration: shrinkage LDA on standardised features. Returns ood acc. */
static void explore_lda(const feats *f, const data *d, double alpha, int tta) {
    const size_t F = f->F;
    const int C = d->C, KN = f->K * f->N;
    double *mu = calloc(F, sizeof(double)), *sd = calloc(F, sizeof(double));
    double *cm = calloc((size_t)C * F, sizeof(double)), *S = calloc(F * F, sizeof(double));
    double *z = malloc(sizeof(double) * F);
    int cnt[16] = {0};
    standardised_class_means(f, d, mu, sd, cm, cnt);
    /* within-class scatter */
    for (int r = 0; r < KN; r++) {
        int y = d->y[r % f->N];
        for (size_t j = 0; j < F; j++) z[j] = (f->var[(size_t)r * F + j] - mu[j]) / sd[j] - cm[(size_t)y * F + j];
        for (size_t a = 0; a < F; a++) {
            double za = z[a];
            double *Sa = S + a * F;
            for (size_t b = 0; b <= a; b++) Sa[b] += za * z[b];
        }
    }
    double tr = 0;
    for (size_t a = 0; a < F; a++) {
        for (size_t b = 0; b <= a; b++) S[a * F + b] /= (KN - C);
        tr += S[a * F + a];
    }
    for (size_t a = 0; a < F; a++) {
        for (size_t b = 0; b < a; b++) S[a * F + b] *= (1 - alpha);
        S[a * F + a] = (1 - alpha) * S[a * F + a] + alpha * tr / F;
    }
    /* Cholesky in place (lower) */
    for (size_t j = 0; j < F; j++) {
        double v = S[j * F + j];
        for (size_t k = 0; k < j; k++) v -= S[j * F + k] * S[j * F + k];
        v = sqrt(v);
        S[j * F + j] = v;
        for (size_t i = j + 1; i < F; i++) {
            double w = S[i * F + j];
            for (size_t k = 0; k < j; k++) w -= S[i * F + k] * S[j * F + k];
            S[i * F + j] = w / v;
        }
    }
    /* W_c = S^-1 mu_c */
    double *W = malloc(sizeof(double) * C * F), bias[16];
    for (int c = 0; c < C; c++) {
        double *w = W + (size_t)c * F;
        for (size_t i = 0; i < F; i++) {
            double v = cm[(size_t)c * F + i];
            for (size_t k = 0; k < i; k++) v -= S[i * F + k] * w[k];
            w[i] = v / S[i * F + i];
        }
        for (size_t ii = F; ii-- > 0;) {
            double v = w[ii];
            for (size_t k = ii + 1; k < F; k++) v -= S[k * F + ii] * w[k];
            w[ii] = v / S[ii * F + ii];
        }
        bias[c] = 0;
        for (size_t i = 0; i < F; i++) bias[c] -= 0.5 * w[i] * cm[(size_t)c * F + i];
    }
    int ok = 0, okv = 0;
    for (int pass = 0; pass < 2; pass++) {
        const float *X = pass ? f->val : f->ood, *Xf = pass ? f->val_flip : f->ood_flip;
        const int n = pass ? f->NV : f->NO;
        const int *y = pass ? d->yv : d->yo;
        for (int i = 0; i < n; i++) {
            int best = 0;
            double bv = -INFINITY;
            for (int c = 0; c < C; c++) {
                double v = bias[c];
                for (size_t j = 0; j < F; j++) {
                    double x = (X[(size_t)i * F + j] - mu[j]) / sd[j];
                    if (tta) x = 0.5 * (x + (Xf[(size_t)i * F + j] - mu[j]) / sd[j]);
                    v += x * W[(size_t)c * F + j];
                }
                if (v > bv) bv = v, best = c;
            }
            if (best == y[i]) *(pass ? &okv : &ok) += 1;
        }
    }
    printf("# %s lda alpha %.2f tta %d: ood %.4f val %.4f\n", f->name, alpha, tta, (double)ok / f->NO, (double)okv / f->NV);
    fflush(stdout);
    free(mu); free(sd); free(cm); free(S); free(z); free(W);
}

int main(int argc, char **argv) {
    const char *shared = "../shared", *cache = "build/bench_defaults_cache", *only = NULL, *views = "qat,tf2,both", *aug = "default";
    const char *fit = "squash", *pool_tag = NULL;
    int S = 3, explore = 0, dump = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shared")) shared = argv[i + 1];
        else if (!strcmp(argv[i], "--cache")) cache = argv[i + 1];
        else if (!strcmp(argv[i], "--seeds")) S = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
        else if (!strcmp(argv[i], "--views")) views = argv[i + 1];
        else if (!strcmp(argv[i], "--aug")) aug = argv[i + 1];
        else if (!strcmp(argv[i], "--explore")) explore = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--fit")) fit = argv[i + 1];
        else if (!strcmp(argv[i], "--pool")) pool_tag = argv[i + 1];
        else if (!strcmp(argv[i], "--dump-maps")) dump = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_defaults: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (S < 1 || S > MAX_SEEDS) {
        fprintf(stderr, "bench_defaults: --seeds must be 1..%d\n", MAX_SEEDS);
        return 2;
    }
    df_error err;
    df_error_clear(&err);
    data d = {0};
    feats f[2], both, norm;
    memset(f, 0, sizeof f);
    memset(&both, 0, sizeof both);
    memset(&norm, 0, sizeof norm);
    static const char *const names[2] = {"qat", "tf2"};
    static const char *const files[2] = {"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite"};
    df_status st = load_data(shared, &d, &err);
    if (st == DF_OK)
        printf("# closet: %d training, %d validation photos; out-of-domain: %d clothing photos (tops %d, bottoms %d, "
               "shoes %d)\n",
               d.train->count, d.val->count, d.ood->count, d.ood->class_counts[df_dataset_class_index(d.ood, "tops")],
               d.ood->class_counts[df_dataset_class_index(d.ood, "bottoms")],
               d.ood->class_counts[df_dataset_class_index(d.ood, "shoes")]);
    const aug_spec *spec = NULL;
    for (size_t k = 0; k < sizeof AUGS / sizeof AUGS[0]; k++)
        if (!strcmp(AUGS[k].tag, aug)) spec = &AUGS[k];
    if (!spec) {
        fprintf(stderr, "bench_defaults: --aug %s: not one of", aug);
        for (size_t k = 0; k < sizeof AUGS / sizeof AUGS[0]; k++) fprintf(stderr, " %s", AUGS[k].tag);
        fprintf(stderr, "\n");
        return 2;
    }
    fit_mode mode = FIT_SQUASH;
    while (mode <= FIT_PAD && strcmp(FIT_NAMES[mode], fit)) mode++;
    if (mode > FIT_PAD) {
        fprintf(stderr, "bench_defaults: --fit %s: not squash, crop or pad\n", fit);
        return 2;
    }
    /* --pool P or P+b16 (block 16's mean appended) or P+b16Q (its Q pooling) */
    char pool_name[32] = "";
    const char *plus = pool_tag ? strstr(pool_tag, "+b16") : NULL;
    if (pool_tag) snprintf(pool_name, sizeof pool_name, "%.*s", (int)(plus ? plus - pool_tag : 31), pool_tag);
    const df_bench_pool *pool = pool_tag ? df_bench_pool_find(pool_name) : NULL;
    const df_bench_pool *b16 = plus ? df_bench_pool_find(plus[4] ? plus + 4 : "mean") : NULL;
    if (pool_tag && (!pool || (plus && !b16) || mode != FIT_SQUASH)) {
        fprintf(stderr, "bench_defaults: --pool %s: not P, P+b16 or P+b16Q with P, Q mean, gem2, gem3, gem4, max or "
                "meanmax, or with --fit\n", pool_tag);
        return 2;
    }
    for (int b = 0; st == DF_OK && dump && b < 2; b++)
        if (strstr(views, names[b])) st = dump_maps(shared, cache, names[b], files[b], &d, spec, &err);
    if (dump) {
        data_free(&d);
        if (st != DF_OK) fprintf(stderr, "bench_defaults: %s\n", err.message);
        return st == DF_OK ? 0 : 1;
    }
    for (int b = 0; st == DF_OK && b < 2; b++)
        st = pool ? pooled_backbone_feats(shared, cache, names[b], files[b], &d, spec, pool, b16, &f[b], &err)
                  : backbone_feats(shared, cache, names[b], files[b], &d, spec, mode, &f[b], &err);
    if (st == DF_OK) printf("# training variants: %s (%d per photo, shift %g, zoom %g, left-right flips; zoom-in %g, zoom-out %g, "
                              "fill %d, brightness %g, contrast %g, saturation %g, grey %g)\n",
                              spec->tag, spec->K, spec->shift, spec->zoom, spec->zoom_in, spec->zoom_out, spec->fill,
                              spec->brightness, spec->contrast, spec->saturation, spec->grayscale);
    /* --explore: closed-form heads on all 106 photos (no seeds, no folds). */
    for (int b = 0; st == DF_OK && explore && b < 2; b++) {
        static const double alphas[] = {0.2, 0.5, 0.8, 0.95};
        explore_ncm(&f[b], &d, 0);
        for (int a = 0; a < 4; a++) explore_lda(&f[b], &d, alphas[a], 0);
        explore_lda(&f[b], &d, 0.95, 1);
    }
    if (st == DF_OK && !explore && spec == &AUGS[0] && mode == FIT_SQUASH && !pool)
        st = check_against_df_train(shared, &f[0], &d, &err);
    if (st == DF_OK && !explore) st = check_exact_fit(&err);
    if (explore) views = "";
    if (st == DF_OK)
        printf("%-5s %-32s %12s %12s %12s %12s %12s %12s %12s %12s %6s\n", "view", "candidate", "cv", "cv+tta", "val",
               "val+tta", "ood", "ood+tta", "ens val", "ens ood", "fit s");
    if (st == DF_OK) printf("# after fit s: the linear head's training objective (mean cross-entropy + L2 term) on its"
                            " training rows; then");
    if (st == DF_OK) printf("# the last three columns: out-of-domain recall of %s, %s, %s (plain head)\n",
                            d.train->class_names[0], d.train->class_names[1], d.train->class_names[2]);
    scores *sc = calloc(3 * NCANDS, sizeof *sc);
    int ran[3][NCANDS];
    memset(ran, 0, sizeof ran);
    if (!sc) st = df_error_set(&err, DF_ERR_NOMEM, "out of memory");
    for (int b = 0; st == DF_OK && b < 2; b++) {
        if (!strstr(views, names[b])) continue;
        if (!normalised_feats(&f[b], &norm)) st = df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = run_view(&f[b], &norm, &d, S, only, 0, sc + b * NCANDS, ran[b], &err);
        feats_free(&norm);
    }
    if (st == DF_OK) pooled_choice(sc, sc + NCANDS, ran[0], ran[1], S);
    if (st == DF_OK && strstr(views, "both")) {
        if (!concat_feats(&f[0], &f[1], &both)) st = df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        if (st == DF_OK) st = run_view(&both, NULL, &d, S, only, 1, sc + 2 * NCANDS, ran[2], &err);
    }
    free(sc);
    feats_free(&f[0]);
    feats_free(&f[1]);
    feats_free(&both);
    data_free(&d);
    if (st != DF_OK) {
        fprintf(stderr, "bench_defaults: %s\n", err.message);
        return 1;
    }
    return 0;
}
