/*
 * The training loop (see train.h): photos -> augmentation -> frozen
 * backbone -> head + Adam, with validation, early stopping, a feature cache
 * and crash-safe checkpoints.
 *
 * What it does not do: fine-tune the backbone (it is frozen, as in the
 * original recipe), or shuffle across processes.
 */
#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "eval/metrics.h"
#include "train/prefetch.h"

/* Stream kinds local to training, beside core/rng.h's. */
enum { STREAM_CACHE_VARIANT = 101 };

df_train_options df_train_options_default(void) {
    df_train_options o;
    memset(&o, 0, sizeof o);
    /* Chosen by stratified 5-fold cross-validation on the closet training
     * photos, 3 fold seeds (bench/select_defaults.sh, README): the
     * original's head (Dense 1024 + BatchNorm + Dropout 0.25) at Adam 1e-3
     * with mild augmentation and left-right mirroring scored 0.937, against
     * 0.902 for a linear head and 0.88 with the original's strong
     * augmentation (upside-down clothes are not what a phone sees). */
    o.head = df_head_config_default();
    o.adam = df_adam_config_default();
    o.adam.lr = 1e-3f;
    o.epochs = 30;
    o.batch_size = 32;
    o.augment = 1;
    o.augment_config = df_augment_config_original();
    o.augment_config.width_shift = o.augment_config.height_shift = 0.1;
    o.augment_config.zoom = 0.1;
    o.augment_config.shear_deg = 0.0;
    o.augment_config.vertical_flip = 0;
    o.feature_cache = 4;
    o.resize = -1;
    o.seed = 1;
    o.image_cache_bytes = (size_t)256 << 20;
    return o;
}

df_train_options df_train_options_original(int num_train) {
    df_train_options o = df_train_options_default();
    o.head = df_head_config_default(); /* MLP 1024, BN, dropout 0.25 */
    o.adam = df_adam_config_default();
    o.adam.lr = 1e-5f;
    o.epochs = 45;
    o.batch_size = 30;
    o.steps_per_epoch = num_train / 30 > 0 ? num_train / 30 : 1;
    o.augment = 1;
    o.augment_config = df_augment_config_original();
    o.feature_cache = 0;
    o.resize = DF_RESIZE_NEAREST; /* what Keras' load_img did */
    return o;
}

void df_train_result_free(df_train_result *r) {
    if (!r) return;
    df_model_destroy(r->model);
    df_history_free(&r->history);
    free(r->val_features);
    memset(r, 0, sizeof *r);
}

df_status df_train_load_photo(const df_backbone *bb, const char *path, df_resize_method resize,
                              df_image *out, df_error *err) {
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    df_image_load_options lo = df_image_load_options_default();
    /* DCT scaling is a low-pass prefilter: right for area and bilinear
     * resizing, but NEAREST must see the full-resolution pixels to give
     * Keras' (PIL's) result exactly. */
    if (resize != DF_RESIZE_NEAREST) {
        lo.min_width = w;
        lo.min_height = h;
    }
    df_image full = {0};
    df_status st = df_image_load(path, &lo, &full, err);
    if (st != DF_OK) return st;
    if (full.width == w && full.height == h) {
        *out = full;
        return DF_OK;
    }
    st = df_image_resize(&full, w, h, resize, out, err);
    df_image_free(&full);
    if (st != DF_OK) df_error_prefix(err, "%s", path);
    return st;
}

/* ---- photos in memory (up to a budget) ---- */

typedef struct photo_source {
    const df_dataset *ds;
    const df_backbone *bb;
    df_resize_method resize;
    df_image *cache;     /* [ds->count], pixels NULL = not cached */
    size_t budget, used;
} photo_source;

static df_status photo_source_init(photo_source *ps, const df_dataset *ds, const df_backbone *bb,
                                   df_resize_method resize, size_t budget, df_error *err) {
    memset(ps, 0, sizeof *ps);
    ps->ds = ds;
    ps->bb = bb;
    ps->resize = resize;
    ps->budget = budget;
    ps->cache = calloc((size_t)(ds->count ? ds->count : 1), sizeof *ps->cache);
    if (!ps->cache) return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", ds->count);
    return DF_OK;
}

static void photo_source_free(photo_source *ps) {
    if (ps->cache)
        for (int i = 0; i < ps->ds->count; i++) df_image_free(&ps->cache[i]);
    free(ps->cache);
    ps->cache = NULL;
}

/* *img is either the cached photo (borrowed; *temp = 0) or a fresh one the
 * caller frees (*temp = 1). Only the prefetch worker calls this. */
static df_status photo_source_get(photo_source *ps, int i, df_image *img, int *temp,
                                  df_error *err) {
    if (ps->cache[i].pixels) {
        *img = ps->cache[i];
        *temp = 0;
        return DF_OK;
    }
    df_status st = df_train_load_photo(ps->bb, ps->ds->items[i].path, ps->resize, img, err);
    if (st != DF_OK) return st;
    size_t bytes = (size_t)img->width * (size_t)img->height * 3;
    if (ps->used + bytes <= ps->budget) {
        ps->cache[i] = *img;
        ps->used += bytes;
        *temp = 0;
    } else {
        *temp = 1;
    }
    return DF_OK;
}

/* ---- batch preparation on the prefetch worker ---- */

typedef struct batch_plan {
    photo_source *photos;
    const df_backbone *bb;
    size_t input_floats;     /* H * W * 3 */
    const int *order;        /* photo index per position */
    int count;               /* positions */
    int batch;               /* photos per job */
    int augment;
    const df_augment_config *aug;
    uint64_t seed;
    int aug_key;             /* epoch (live) or variant (cache) */
    df_image scratch;        /* augmentation output, reused */
} batch_plan;

static df_status prepare_batch(void *ctx, int job, float *buf, int *n_items, df_error *err) {
    batch_plan *p = ctx;
    int start = job * p->batch;
    int n = p->count - start < p->batch ? p->count - start : p->batch;
    for (int k = 0; k < n; k++) {
        int i = p->order[start + k];
        df_image img;
        int temp = 0;
        df_status st = photo_source_get(p->photos, i, &img, &temp, err);
        if (st != DF_OK) return st;
        const df_image *use = &img;
        if (p->augment) {
            df_rng rng;
            df_augment_params ap;
            df_rng_seed_for(&rng, p->seed, DF_STREAM_AUGMENT, (uint64_t)i, (uint64_t)p->aug_key);
            df_augment_sample(p->aug, img.height, img.width, &rng, &ap);
            st = df_augment_apply(&img, &ap, &p->scratch, err);
            if (st != DF_OK) {
                if (temp) df_image_free(&img);
                return st;
            }
            use = &p->scratch;
        }
        st = df_backbone_preprocess(p->bb, use, buf + (size_t)k * p->input_floats, err);
        if (temp) df_image_free(&img);
        if (st != DF_OK) return df_error_prefix(err, "%s", p->photos->ds->items[i].path);
    }
    *n_items = n;
    return DF_OK;
}

/* Runs every position of plan through the backbone; features[pos] rows. */
static df_status run_plan(df_backbone *bb, batch_plan *plan, float *features,
                          df_train_result *res, df_error *err) {
    size_t F = df_backbone_feature_dim(bb);
    int jobs = df_batch_count(plan->count, plan->batch);
    df_prefetch *pf = NULL;
    df_status st = df_prefetch_start(prepare_batch, plan, jobs,
                                     (size_t)plan->batch * plan->input_floats, &pf, err);
    if (st != DF_OK) return st;
    for (int j = 0; j < jobs && st == DF_OK; j++) {
        const float *in;
        int n;
        st = df_prefetch_next(pf, &in, &n, err);
        if (st != DF_OK) break;
        double t0 = df_clock_seconds();
        st = df_backbone_run(bb, in, n, features + (size_t)j * plan->batch * F, err);
        if (res) {
            res->backbone_seconds += df_clock_seconds() - t0;
            res->backbone_images += n;
        }
    }
    df_prefetch_stop(pf);
    return st;
}

static int backbone_batch(const df_backbone *bb) {
    (void)bb;
    return 16;
}

df_status df_train_features(df_backbone *bb, const df_dataset *ds, df_resize_method resize,
                            float **features, df_error *err) {
    *features = NULL;
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    size_t F = df_backbone_feature_dim(bb), bytes;
    if (!df_size_mul3((size_t)ds->count, F, sizeof(float), &bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "features of %d photos overflow", ds->count);
    float *out = malloc(bytes ? bytes : 1);
    int *order = malloc(sizeof(int) * (size_t)(ds->count ? ds->count : 1));
    photo_source ps;
    df_status st = photo_source_init(&ps, ds, bb, resize, 0, err);
    if (st == DF_OK && (!out || !order))
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory for features of %d photos", ds->count);
    if (st == DF_OK) {
        for (int i = 0; i < ds->count; i++) order[i] = i;
        batch_plan plan = {.photos = &ps, .bb = bb, .input_floats = (size_t)h * w * 3,
                           .order = order, .count = ds->count, .batch = backbone_batch(bb)};
        st = run_plan(bb, &plan, out, NULL, err);
        df_image_free(&plan.scratch);
    }
    photo_source_free(&ps);
    free(order);
    if (st != DF_OK) {
        free(out);
        return st;
    }
    *features = out;
    return DF_OK;
}

/* df_train_feature_variants, with the backbone's time and photo count added
 * to acct when it is not NULL (df_train's own cache uses this). */
static df_status compute_variants(df_backbone *bb, const df_dataset *ds, const df_train_options *opt, int K,
                                  float **variants, float **clean, df_train_result *acct, df_error *err) {
    *variants = NULL;
    if (clean) *clean = NULL;
    const int N = ds->count;
    int h, w;
    df_backbone_input_size(bb, &h, &w);
    const size_t F = df_backbone_feature_dim(bb);
    df_resize_method resize = opt->resize >= 0 ? (df_resize_method)opt->resize : df_backbone_resize_method(bb);
    size_t bytes, clean_bytes;
    if (K < 1 || !df_size_mul3((size_t)K * (size_t)N, F, sizeof(float), &bytes) ||
        !df_size_mul3((size_t)N, F, sizeof(float), &clean_bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "feature cache of %d x %d photos overflows", K, N);
    float *v = malloc(bytes ? bytes : 1), *c = clean ? malloc(clean_bytes ? clean_bytes : 1) : NULL;
    int *order = malloc(sizeof(int) * (size_t)(N ? N : 1));
    photo_source ps;
    df_status st = photo_source_init(&ps, ds, bb, resize, opt->image_cache_bytes, err);
    if (st == DF_OK && (!v || !order || (clean && !c)))
        st = df_error_set(err, DF_ERR_NOMEM, "feature cache: cannot allocate %zu MB (try a smaller --feature-cache)",
                          (bytes + (clean ? clean_bytes : 0)) >> 20);
    batch_plan plan = {.photos = &ps, .bb = bb, .input_floats = (size_t)h * w * 3, .order = order, .count = N,
                       .batch = backbone_batch(bb), .aug = &opt->augment_config, .seed = opt->seed};
    for (int i = 0; i < N && order; i++) order[i] = i;
    /* Variant 0 without augmentation would bias towards clean photos: every
     * variant is augmented (when augmentation is on), keyed by the variant
     * number instead of the epoch. */
    for (int k = 0; st == DF_OK && k < K; k++) {
        plan.augment = opt->augment;
        plan.aug_key = DF_TRAIN_VARIANT_KEY(k);
        st = run_plan(bb, &plan, v + (size_t)k * N * F, acct, err);
        if (st == DF_OK && opt->stop_flag && *opt->stop_flag)
            st = df_error_set(err, DF_ERR_INTERRUPTED, "interrupted while building the feature cache");
    }
    if (st == DF_OK && clean) {
        plan.augment = 0;
        st = run_plan(bb, &plan, c, acct, err);
    }
    df_image_free(&plan.scratch);
    photo_source_free(&ps);
    free(order);
    if (st != DF_OK) {
        free(v);
        free(c);
        return st;
    }
    *variants = v;
    if (clean) *clean = c;
    return DF_OK;
}

df_status df_train_feature_variants(df_backbone *bb, const df_dataset *ds, const df_train_options *opt, int K,
                                    float **variants, float **clean, df_error *err) {
    return compute_variants(bb, ds, opt, K, variants, clean, NULL, err);
}

/* ---- the loop ---- */

/* The best epoch's weights, for early stopping's restore: parameters and
 * BatchNorm's moving statistics (Adam's state is not needed to predict). */
typedef struct snapshot {
    float *params, *bn_mean, *bn_var;
} snapshot;

static df_status snapshot_alloc(snapshot *s, size_t P, int units, df_error *err) {
    memset(s, 0, sizeof *s);
    s->params = malloc(P * sizeof(float));
    s->bn_mean = malloc((size_t)(units > 0 ? units : 1) * sizeof(float));
    s->bn_var = malloc((size_t)(units > 0 ? units : 1) * sizeof(float));
    if (!s->params || !s->bn_mean || !s->bn_var)
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for a copy of %zu parameters", P);
    return DF_OK;
}

static void snapshot_free(snapshot *s) {
    free(s->params);
    free(s->bn_mean);
    free(s->bn_var);
    memset(s, 0, sizeof *s);
}

/* save = 1: head -> snapshot; 0: snapshot -> head. */
static void snapshot_copy(snapshot *s, df_head *head, int save) {
    size_t P = df_head_num_params(head);
    float *mm = df_head_bn_moving_mean(head), *mv = df_head_bn_moving_var(head);
    size_t U = (size_t)df_head_get_config(head)->units;
    if (save) {
        memcpy(s->params, df_head_params(head), P * sizeof(float));
        if (mm) memcpy(s->bn_mean, mm, U * sizeof(float));
        if (mv) memcpy(s->bn_var, mv, U * sizeof(float));
    } else {
        memcpy(df_head_params(head), s->params, P * sizeof(float));
        if (mm) memcpy(mm, s->bn_mean, U * sizeof(float));
        if (mv) memcpy(mv, s->bn_var, U * sizeof(float));
    }
}

static void notice(const df_train_options *opt, const char *fmt, const char *arg) {
    if (!opt->notice) return;
    char line[512];
    snprintf(line, sizeof line, fmt, arg);
    opt->notice(opt->ctx, line);
}

static df_status validate_options(const df_train_options *o, df_error *err) {
    if (o->epochs < 1 || o->epochs > 100000)
        return df_error_set(err, DF_ERR_INVALID_ARG, "epochs %d: must be 1..100000", o->epochs);
    if (o->batch_size < 1 || o->batch_size > 4096)
        return df_error_set(err, DF_ERR_INVALID_ARG, "batch size %d: must be 1..4096", o->batch_size);
    if (o->steps_per_epoch < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "steps per epoch %d < 0", o->steps_per_epoch);
    if (o->feature_cache < 0 || o->feature_cache > 1000)
        return df_error_set(err, DF_ERR_INVALID_ARG, "feature cache %d: must be 0..1000", o->feature_cache);
    if (!(o->adam.lr > 0.0f) || !isfinite(o->adam.lr))
        return df_error_set(err, DF_ERR_INVALID_ARG, "learning rate %g must be > 0", (double)o->adam.lr);
    if (o->early_stop_patience < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "early-stop patience %d < 0", o->early_stop_patience);
    if (o->augment) return df_augment_config_check(&o->augment_config, err);
    return DF_OK;
}

/* Where an interrupted run stopped, inside its epoch, kept in the
 * checkpoint's state_json: the next batch to run and the epoch's running
 * sums, so a resumed run continues mid-epoch and reports the same epoch
 * loss and accuracy (%.17g round-trips a double exactly). */
typedef struct resume_point {
    int best_epoch, wait;
    double best_val_loss;
    int batch;           /* next batch of the interrupted epoch */
    double loss_sum;
    long correct, seen;
} resume_point;

static void resume_point_json(char *buf, size_t n, const resume_point *r) {
    snprintf(buf, n,
             "{\"best_epoch\":%d,\"best_val_loss\":%.17g,\"wait\":%d,\"batch\":%d,"
             "\"loss_sum\":%.17g,\"correct\":%ld,\"seen\":%ld}",
             r->best_epoch, r->best_val_loss, r->wait, r->batch, r->loss_sum, r->correct, r->seen);
}

static void resume_point_parse(const char *json, resume_point *r) {
    const char *p;
    if (!json) return;
    if ((p = strstr(json, "\"best_epoch\":"))) r->best_epoch = atoi(p + 13);
    if ((p = strstr(json, "\"best_val_loss\":"))) r->best_val_loss = strtod(p + 16, NULL);
    if ((p = strstr(json, "\"wait\":"))) r->wait = atoi(p + 7);
    if ((p = strstr(json, "\"batch\":"))) r->batch = atoi(p + 8);
    if ((p = strstr(json, "\"loss_sum\":"))) r->loss_sum = strtod(p + 11, NULL);
    if ((p = strstr(json, "\"correct\":"))) r->correct = atol(p + 10);
    if ((p = strstr(json, "\"seen\":"))) r->seen = atol(p + 7);
}

/* Ctrl-C: the checkpoint holds the weights and Adam state after the last
 * finished batch, the history so far and where in `epoch` (0-based) to go
 * on; returns DF_ERR_INTERRUPTED with the message the user sees. */
static df_status save_interrupted(const df_model *model, const df_adam *adam,
                                  const df_history *history, const df_train_options *opt,
                                  int epoch, const resume_point *here, int batches, df_error *err) {
    if (!opt->checkpoint_path)
        return df_error_set(err, DF_ERR_INTERRUPTED, "interrupted in epoch %d (no checkpoint path)",
                            epoch + 1);
    df_train_state state;
    memset(&state, 0, sizeof state);
    state.epoch = epoch;
    state.step = adam->t;
    state.history = *history; /* borrowed: not freed here */
    char js[512];
    resume_point_json(js, sizeof js, here);
    state.state_json = js;
    df_status st = df_model_save_checkpoint(model, adam, &state, opt->checkpoint_path, err);
    if (st != DF_OK) return st;
    if (here->batch > 0)
        return df_error_set(err, DF_ERR_INTERRUPTED,
                            "interrupted in epoch %d after batch %d of %d; checkpoint saved to %s "
                            "(continue with --resume)",
                            epoch + 1, here->batch, batches, opt->checkpoint_path);
    return df_error_set(err, DF_ERR_INTERRUPTED,
                        "interrupted after epoch %d; checkpoint saved to %s (continue with --resume)",
                        epoch, opt->checkpoint_path);
}

df_status df_train(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                   const df_train_options *opt, df_train_result *res, df_error *err) {
    memset(res, 0, sizeof *res);
    df_status st = validate_options(opt, err);
    if (st != DF_OK) return st;
    st = df_dataset_check(train, err);
    if (st != DF_OK) return st;
    if (val && val->count > 0) {
        st = df_dataset_same_classes(train, val, err);
        if (st != DF_OK) return st;
    }
    const double t_start = df_clock_seconds();
    const int N = train->count, C = train->num_classes;
    const size_t F = df_backbone_feature_dim(bb);
    int H, W;
    df_backbone_input_size(bb, &H, &W);
    const size_t input_floats = (size_t)H * W * 3;
    df_resize_method resize = opt->resize >= 0 ? (df_resize_method)opt->resize
                                               : df_backbone_resize_method(bb);

    df_head_config hc = opt->head;
    if (hc.max_batch < opt->batch_size) hc.max_batch = opt->batch_size;

    float *val_feats = NULL, *val_probs = NULL, *cache = NULL, *feats = NULL;
    float *class_w = NULL;
    int *labels = NULL, *order = NULL, *batch_labels = NULL, *val_labels = NULL;
    df_model *model = NULL;
    df_adam *adam = NULL;
    photo_source photos = {0};
    snapshot best = {0};
    resume_point rp = {.best_val_loss = INFINITY};
    df_train_state state = {0};
    batch_plan plan = {0};
    int start_epoch = 0;
    int best_epoch = 0, wait = 0;
    double best_val_loss = INFINITY;

    /* The model: either fresh or the checkpoint's. */
    if (opt->resume_path) {
        st = df_model_load_checkpoint(opt->resume_path, &model, &adam, &state, err);
        if (st != DF_OK) goto done;
        if (model->meta.num_classes != C || (size_t)model->meta.feature_dim != F) {
            st = df_error_set(err, DF_ERR_SHAPE,
                              "%s: checkpoint has %d classes and %d features, this run has %d and %zu",
                              opt->resume_path, model->meta.num_classes, model->meta.feature_dim, C, F);
            goto done;
        }
        for (int c = 0; c < C; c++)
            if (strcmp(model->meta.class_names[c], train->class_names[c]) != 0) {
                st = df_error_set(err, DF_ERR_DATA, "%s: checkpoint class %d is '%s', data has '%s'",
                                  opt->resume_path, c, model->meta.class_names[c],
                                  train->class_names[c]);
                goto done;
            }
        start_epoch = state.epoch;
        resume_point_parse(state.state_json, &rp);
        best_epoch = rp.best_epoch;
        best_val_loss = rp.best_val_loss;
        wait = rp.wait;
        res->history = state.history;
        memset(&state.history, 0, sizeof state.history);
    } else {
        st = df_model_create(&hc, (int)F, C, (const char *const *)train->class_names, opt->seed,
                             &model, err);
        if (st != DF_OK) goto done;
        st = df_adam_create(&opt->adam, df_head_num_params(model->head), &adam, err);
        if (st != DF_OK) goto done;
    }
    df_model_meta *meta = &model->meta;
    snprintf(meta->backbone_kind, sizeof meta->backbone_kind, "%s", df_backbone_kind(bb));
    snprintf(meta->backbone_name, sizeof meta->backbone_name, "%s", df_backbone_name(bb));
    snprintf(meta->preprocess, sizeof meta->preprocess, "%s",
             df_preprocess_name(df_backbone_preprocess_mode(bb)));
    snprintf(meta->resize_method, sizeof meta->resize_method, "%s", df_resize_method_name(resize));
    meta->input_h = H;
    meta->input_w = W;
    df_head *head = model->head;
    const size_t P = df_head_num_params(head);

    labels = malloc(sizeof(int) * (size_t)N);
    order = malloc(sizeof(int) * (size_t)N);
    batch_labels = malloc(sizeof(int) * (size_t)opt->batch_size);
    class_w = malloc(sizeof(float) * (size_t)C);
    if (!labels || !order || !batch_labels || !class_w) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", N);
        goto done;
    }
    for (int i = 0; i < N; i++) labels[i] = train->items[i].label;
    for (int c = 0; c < C; c++)
        class_w[c] = (float)N / ((float)C * (float)(train->class_counts[c] ? train->class_counts[c] : 1));

    /* Validation features: once, never augmented. */
    int NV = val ? val->count : 0;
    if (NV > 0) {
        st = df_train_features(bb, val, resize, &val_feats, err);
        if (st != DF_OK) goto done;
        res->backbone_images += NV;
        val_probs = malloc(sizeof(float) * (size_t)NV * (size_t)C);
        val_labels = malloc(sizeof(int) * (size_t)NV);
        if (!val_probs || !val_labels) {
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory for validation");
            goto done;
        }
        for (int i = 0; i < NV; i++) val_labels[i] = val->items[i].label;
    }

    /* Feature cache: K augmented variants of every photo, computed once
     * (or handed in); without one, photos are augmented live every epoch. */
    const int K = opt->feature_cache;
    const float *variants = opt->feature_variants; /* read-only view of the cache */
    if (K > 0 && !variants) {
        st = compute_variants(bb, train, opt, K, &cache, NULL, res, err);
        if (st != DF_OK) goto done;
        variants = cache;
    }
    if (K == 0) {
        st = photo_source_init(&photos, train, bb, resize, opt->image_cache_bytes, err);
        if (st != DF_OK) goto done;
        plan = (batch_plan){.photos = &photos, .bb = bb, .input_floats = input_floats,
                            .augment = opt->augment, .aug = &opt->augment_config, .seed = opt->seed};
    }

    /* Standardisation (LINEAR heads): statistics of the training features,
     * from the cache when there is one, else from un-augmented photos. */
    if (hc.kind == DF_HEAD_LINEAR && !opt->resume_path) {
        if (K > 0) {
            st = df_head_fit_standardisation(head, variants, K * N, err);
        } else {
            float *clean = NULL;
            st = df_train_features(bb, train, resize, &clean, err);
            if (st == DF_OK) {
                res->backbone_images += N;
                st = df_head_fit_standardisation(head, clean, N, err);
            }
            free(clean);
        }
        if (st != DF_OK) goto done;
    }

    feats = malloc(sizeof(float) * (size_t)opt->batch_size * F);
    if (!feats) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory for a batch of features");
        goto done;
    }
    if (opt->early_stop_patience > 0) {
        st = snapshot_alloc(&best, P, hc.units, err);
        if (st != DF_OK) goto done;
        snapshot_copy(&best, head, 1);
    }

    int batches = df_batch_count(N, opt->batch_size);
    if (opt->steps_per_epoch > 0 && opt->steps_per_epoch < batches) batches = opt->steps_per_epoch;
    const float *cw = opt->class_weight_balanced ? class_w : NULL;

    for (int epoch = start_epoch; epoch < opt->epochs; epoch++) {
        double t0 = df_clock_seconds();
        df_epoch_order(N, opt->seed, epoch, order);
        int positions = batches * opt->batch_size < N ? batches * opt->batch_size : N;
        /* A resumed run re-enters its interrupted epoch at the next batch. */
        int b0 = 0;
        double loss_sum = 0.0;
        long correct = 0, seen = 0;
        if (epoch == start_epoch && rp.batch > 0 && rp.batch < batches) {
            b0 = rp.batch;
            loss_sum = rp.loss_sum;
            correct = rp.correct;
            seen = rp.seen;
        }
        df_prefetch *pf = NULL;
        if (K == 0) {
            plan.order = order + (size_t)b0 * opt->batch_size;
            plan.count = positions - b0 * opt->batch_size;
            plan.batch = opt->batch_size;
            plan.aug_key = epoch;
            st = df_prefetch_start(prepare_batch, &plan, batches - b0,
                                   (size_t)opt->batch_size * input_floats, &pf, err);
            if (st != DF_OK) goto done;
        }
        df_rng variant_rng;
        df_rng_seed_for(&variant_rng, opt->seed, STREAM_CACHE_VARIANT, (uint64_t)epoch, 0);
        if (K > 0) /* replay the variant draws of the batches already done */
            for (int k = 0; k < b0 * opt->batch_size && k < positions; k++)
                (void)df_rng_below(&variant_rng, (uint32_t)K);
        int interrupted = 0, next_batch = b0;
        for (int b = b0; b < batches; b++) {
            int start = b * opt->batch_size;
            int n = positions - start < opt->batch_size ? positions - start : opt->batch_size;
            if (K == 0) {
                const float *in;
                int got;
                st = df_prefetch_next(pf, &in, &got, err);
                if (st != DF_OK) break;
                double tb = df_clock_seconds();
                st = df_backbone_run(bb, in, got, feats, err);
                res->backbone_seconds += df_clock_seconds() - tb;
                res->backbone_images += got;
                if (st != DF_OK) break;
            } else {
                for (int k = 0; k < n; k++) {
                    int i = order[start + k];
                    int v = (int)df_rng_below(&variant_rng, (uint32_t)K);
                    memcpy(feats + (size_t)k * F, variants + ((size_t)v * N + (size_t)i) * F,
                           F * sizeof(float));
                }
            }
            for (int k = 0; k < n; k++) batch_labels[k] = labels[order[start + k]];
            /* BatchNorm cannot normalise a batch of one (zero variance):
             * such a trailing batch is left out of this epoch's updates. */
            if (n < 2 && hc.kind == DF_HEAD_MLP && hc.batchnorm) continue;
            double th = df_clock_seconds();
            df_rng drop;
            df_rng_seed_for(&drop, opt->seed, DF_STREAM_DROPOUT, (uint64_t)epoch, (uint64_t)b);
            double loss = 0.0;
            int corr = 0;
            st = df_head_train_step(head, feats, batch_labels, n, cw, adam, &drop, &loss, &corr, err);
            res->head_seconds += df_clock_seconds() - th;
            if (st != DF_OK) break;
            loss_sum += loss * n;
            correct += corr;
            seen += n;
            if (opt->on_batch) opt->on_batch(opt->ctx, epoch + 1, b + 1, batches);
            next_batch = b + 1;
            if (opt->stop_flag && *opt->stop_flag && b + 1 < batches) {
                interrupted = 1;
                break;
            }
        }
        df_prefetch_stop(pf);
        if (st != DF_OK) goto done;

        if (interrupted) {
            resume_point here = {.best_epoch = best_epoch, .best_val_loss = best_val_loss,
                                 .wait = wait, .batch = next_batch, .loss_sum = loss_sum,
                                 .correct = correct, .seen = seen};
            st = save_interrupted(model, adam, &res->history, opt, epoch, &here, batches, err);
            goto done;
        }

        df_epoch_stats es = {.epoch = epoch + 1, .epochs = opt->epochs,
                             .loss = seen ? loss_sum / (double)seen : NAN,
                             .accuracy = seen ? (double)correct / (double)seen : NAN,
                             .val_loss = NAN, .val_accuracy = NAN};
        if (NV > 0) {
            st = df_head_predict(head, val_feats, NV, val_probs, err);
            if (st != DF_OK) goto done;
            es.val_loss = df_eval_cross_entropy(val_probs, val_labels, NV, C);
            es.val_accuracy = df_eval_accuracy(val_probs, val_labels, NV, C);
            if (es.val_loss < best_val_loss) {
                best_val_loss = es.val_loss;
                best_epoch = epoch + 1;
                wait = 0;
                es.improved = 1;
                if (best.params) snapshot_copy(&best, head, 1);
            } else {
                wait++;
            }
        }
        es.seconds = df_clock_seconds() - t0;
        st = df_history_append(&res->history, (float)es.loss, (float)es.accuracy, (float)es.val_loss,
                               (float)es.val_accuracy, adam->cfg.lr, err);
        if (st != DF_OK) goto done;
        res->epochs_run = epoch + 1;
        if (opt->on_epoch) opt->on_epoch(opt->ctx, &es);
        if (opt->early_stop_patience > 0 && NV > 0 && wait >= opt->early_stop_patience) {
            char msg[64];
            snprintf(msg, sizeof msg, "%d", best_epoch);
            notice(opt, "early stopping: restoring the weights of epoch %s", msg);
            snapshot_copy(&best, head, 0);
            break;
        }
        /* A stop during an epoch's last batch takes effect here, between epochs. */
        if (opt->stop_flag && *opt->stop_flag && epoch + 1 < opt->epochs) {
            resume_point here = {.best_epoch = best_epoch, .best_val_loss = best_val_loss,
                                 .wait = wait};
            st = save_interrupted(model, adam, &res->history, opt, epoch + 1, &here, batches, err);
            goto done;
        }
    }
    res->best_epoch = best_epoch;
    res->model = model;
    model = NULL;
    res->val_features = val_feats;
    val_feats = NULL;

done:
    df_image_free(&plan.scratch);
    photo_source_free(&photos);
    snapshot_free(&best);
    df_train_state_free(&state);
    df_model_destroy(model);
    df_adam_destroy(adam);
    free(val_feats);
    free(val_probs);
    free(val_labels);
    free(cache);
    free(feats);
    free(class_w);
    free(labels);
    free(order);
    free(batch_labels);
    res->total_seconds = df_clock_seconds() - t_start;
    if (st != DF_OK) df_history_free(&res->history);
    return st;
}
