/* Backbone dispatch: one interface over the VGG16 and TFLite implementations. */
#include "backbone/backbone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/auto_cache.h"

df_backbone_options df_backbone_options_default(void) {
    df_backbone_options o;
    memset(&o, 0, sizeof o);
    o.precision = DF_PRECISION_AUTO;
    o.preprocess = DF_PREPROCESS_DEFAULT;
    o.autotune = 1;
    o.conv_algo = DF_CONV_ALGO_AUTO;
    o.max_batch = 16;
    return o;
}

df_status df_preprocess_parse(const char *s, df_preprocess *out, df_error *err) {
    if (!strcmp(s, "default")) *out = DF_PREPROCESS_DEFAULT;
    else if (!strcmp(s, "caffe")) *out = DF_PREPROCESS_CAFFE;
    else if (!strcmp(s, "seed")) *out = DF_PREPROCESS_SEED;
    else if (!strcmp(s, "tflite")) *out = DF_PREPROCESS_TFLITE;
    else
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "preprocessing '%s' is not one of caffe, seed, tflite", s);
    return DF_OK;
}

const char *df_preprocess_name(df_preprocess p) {
    switch (p) {
    case DF_PREPROCESS_DEFAULT: return "default";
    case DF_PREPROCESS_CAFFE: return "caffe";
    case DF_PREPROCESS_SEED: return "seed";
    case DF_PREPROCESS_TFLITE: return "tflite";
    }
    return "?";
}

/* A weights file on disk (bytes NULL) or in memory (path then names it). */
typedef struct weights_src {
    const char *path;
    const uint8_t *bytes;
    size_t size;
} weights_src;

static df_status open_kind(const char *kind, const weights_src *w, const df_backbone_options *opt,
                           df_backbone **out, df_error *err) {
    if (!strcmp(kind, "vgg16"))
        return w->bytes ? df_error_set(err, DF_ERR_UNSUPPORTED,
                                       "%s: VGG16 weights are read from a file, not from memory", w->path)
                        : df_vgg16_open(w->path, opt, out, err);
    if (!strcmp(kind, "tflite"))
        return w->bytes ? df_tflite_backbone_open_bytes(w->path, w->bytes, w->size, opt, out, err)
                        : df_tflite_backbone_open(w->path, opt, out, err);
    return df_error_set(err, DF_ERR_INVALID_ARG, "backbone '%s' is not one of vgg16, tflite", kind);
}

/* Passes notices on and keeps the race's ("precision auto: ...") for the
 * cache entry. */
typedef struct race_notes {
    const df_backbone_options *opt;
    char text[600];
} race_notes;

static void keep_race_note(void *ctx, const char *message) {
    race_notes *r = ctx;
    const char *tag = "precision auto: ";
    if (!strncmp(message, tag, strlen(tag))) {
        size_t n = strlen(r->text);
        snprintf(r->text + n, sizeof r->text - n, "%s%s", n ? "; " : "", message + strlen(tag));
    }
    if (r->opt->notice) r->opt->notice(r->opt->notice_ctx, message);
}

static void notify(const df_backbone_options *opt, const char *message) {
    if (opt->notice) opt->notice(opt->notice_ctx, message);
}

/* --precision auto through the cache: a remembered choice opens that
 * precision directly (no engines raced); else the race runs and its answer
 * is remembered. The cache never fails the open. */
static df_status open_auto_cached(const char *kind, const char *weights_path, const df_backbone_options *opt,
                                  df_backbone **out, df_error *err) {
    const weights_src w = {weights_path, NULL, 0};
    char key[2048], measured[600], msg[1200];
    df_error kerr;
    if (df_auto_cache_key(kind, weights_path, opt, key, sizeof key, &kerr) != DF_OK)
        return open_kind(kind, &w, opt, out, err); /* the open names what is wrong with the file */
    df_precision p;
    if (df_auto_cache_lookup(opt->auto_cache_dir, key, &p, measured, sizeof measured)) {
        df_backbone_options o = *opt;
        o.precision = p;
        df_error ce;
        if (open_kind(kind, &w, &o, out, &ce) == DF_OK) {
            char *path = df_auto_cache_path(opt->auto_cache_dir, key);
            snprintf(msg, sizeof msg,
                     "precision auto: %s, as raced earlier on this CPU (%s); remembered in %s (delete it to race "
                     "again)",
                     df_precision_name(p), measured, path ? path : opt->auto_cache_dir);
            free(path);
            notify(opt, msg);
            return DF_OK;
        }
    }
    race_notes notes = {.opt = opt};
    df_backbone_options o = *opt;
    o.race_best_of_3 = 1; /* remembered from now on: not one sample's luck */
    o.notice = keep_race_note;
    o.notice_ctx = &notes;
    df_status st = open_kind(kind, &w, &o, out, err);
    /* notes outlives no notice: the engines only notice while they are
     * built and raced, inside this open */
    /* Only a race that timed engines is worth remembering; a choice by rule
     * (bf16 where the CPU has AMX) costs nothing to make again. */
    if (st != DF_OK || !(*out)->raced) return st;
    df_error serr;
    if (df_auto_cache_store(opt->auto_cache_dir, key, df_backbone_precision(*out), notes.text, &serr) != DF_OK) {
        snprintf(msg, sizeof msg, "precision auto: the choice is not remembered (%s)", serr.message);
        notify(opt, msg);
    }
    return DF_OK;
}

static df_status open_any(const char *kind, const weights_src *w, const df_backbone_options *opt,
                          df_backbone **out, df_error *err) {
    *out = NULL;
    const char *weights_path = w->path;
    df_backbone_options def = df_backbone_options_default();
    if (!opt) opt = &def;
    if (opt->max_batch < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "max batch %d must be >= 1", opt->max_batch);
    /* Left unchecked, a cut the backbone cannot make would be recorded in
     * the model file as if it had been made. */
    if (opt->cut_tensor && *opt->cut_tensor && strcmp(kind, "tflite"))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "a feature tensor to cut at ('%s') applies to TFLite models only, not %s", opt->cut_tensor,
                            kind);
    if (opt->pooling.kind != DF_POOLING_MEAN && strcmp(kind, "tflite"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "pooling by regions applies to TFLite models only, not %s", kind);
    if (opt->pooling.kind != DF_POOLING_MEAN && opt->cut_tensor && *opt->cut_tensor)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "pooling by regions pools the map before the graph's own pooling: not with a cut ('%s')",
                            opt->cut_tensor);
    if (opt->input_size && strcmp(kind, "tflite"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "an input size other than the file's applies to TFLite models only, not %s",
                            kind);
    df_status st = opt->precision == DF_PRECISION_AUTO && opt->auto_cache_dir && *opt->auto_cache_dir && !w->bytes
                       ? open_auto_cached(kind, weights_path, opt, out, err)
                       : open_kind(kind, w, opt, out, err);
    if (st != DF_OK) return st;
    df_backbone *bb = *out;
    bb->max_batch = opt->max_batch;
    snprintf(bb->source, sizeof bb->source, "%s", weights_path ? weights_path : "");
    bb->pool = !strcmp(kind, "vgg16") && opt->pool;
    snprintf(bb->cut_tensor, sizeof bb->cut_tensor, "%s", opt->cut_tensor ? opt->cut_tensor : "");
    if (bb->pooling.kind == DF_POOLING_MEAN) return DF_OK;
    size_t bytes;
    if (!df_size_mul3((size_t)bb->max_batch * (size_t)bb->map_h, (size_t)bb->map_w * (size_t)bb->map_c,
                      sizeof(float), &bytes) ||
        !(bb->map_buf = malloc(bytes))) {
        df_backbone_destroy(bb);
        *out = NULL;
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory for %d feature maps", weights_path,
                            opt->max_batch);
    }
    return DF_OK;
}

df_status df_backbone_open(const char *kind, const char *weights_path, const df_backbone_options *opt,
                           df_backbone **out, df_error *err) {
    const weights_src w = {weights_path, NULL, 0};
    return open_any(kind, &w, opt, out, err);
}

df_status df_backbone_open_bytes(const char *kind, const char *name, const uint8_t *bytes, size_t size,
                                 const df_backbone_options *opt, df_backbone **out, df_error *err) {
    *out = NULL;
    if (!bytes) return df_error_set(err, DF_ERR_INVALID_ARG, "%s: no weights in memory", name ? name : "");
    const weights_src w = {name ? name : "", bytes, size};
    return open_any(kind, &w, opt, out, err);
}

void df_backbone_destroy(df_backbone *bb) {
    if (!bb) return;
    free(bb->map_buf);
    bb->map_buf = NULL;
    if (bb->vt && bb->vt->destroy) bb->vt->destroy(bb);
}

const char *df_backbone_kind(const df_backbone *bb) { return bb->vt->kind; }
const char *df_backbone_name(const df_backbone *bb) { return bb->name; }
void df_backbone_input_size(const df_backbone *bb, int *h, int *w) {
    *h = bb->input_h;
    *w = bb->input_w;
}
size_t df_backbone_feature_dim(const df_backbone *bb) { return bb->feature_dim; }
df_pooling df_backbone_pooling(const df_backbone *bb) { return bb->pooling; }
size_t df_backbone_window_dim(const df_backbone *bb) {
    return bb->pooling.kind == DF_POOLING_REGIONS ? (size_t)bb->map_c : bb->feature_dim;
}
df_preprocess df_backbone_preprocess_mode(const df_backbone *bb) { return bb->preprocess; }
df_resize_method df_backbone_resize_method(const df_backbone *bb) { return bb->resize; }
df_precision df_backbone_precision(const df_backbone *bb) { return bb->precision; }
int df_backbone_max_batch(const df_backbone *bb) { return bb->max_batch > 0 ? bb->max_batch : 1; }
const char *df_backbone_source(const df_backbone *bb) { return bb->source; }

static df_status check_input_size(const df_backbone *bb, const df_image *img, df_error *err) {
    if (img->width != bb->input_w || img->height != bb->input_h)
        return df_error_set(err, DF_ERR_SHAPE, "%s expects %dx%d input, got %dx%d", bb->name,
                            bb->input_w, bb->input_h, img->width, img->height);
    return DF_OK;
}

df_status df_backbone_preprocess(const df_backbone *bb, const df_image *img, float *out,
                                 df_error *err) {
    df_status st = check_input_size(bb, img, err);
    return st != DF_OK ? st : bb->vt->preprocess(bb, img, out, err);
}

df_status df_backbone_copy_pixels(const df_backbone *bb, const df_image *img, uint8_t *out, df_error *err) {
    df_status st = check_input_size(bb, img, err);
    if (st == DF_OK) memcpy(out, img->pixels, (size_t)bb->input_h * (size_t)bb->input_w * 3);
    return st;
}

/* Regions: the engine's maps, max_batch at a time, pooled into features. */
static df_status run_pooled(df_backbone *bb, const float *inputs, const uint8_t *pixels, int n, float *features,
                            df_error *err) {
    const int B = df_backbone_max_batch(bb);
    const size_t in = (size_t)bb->input_h * (size_t)bb->input_w * 3;
    for (int done = 0; done < n;) {
        const int chunk = n - done < B ? n - done : B;
        df_status st = pixels ? bb->vt->run_pixels(bb, pixels + (size_t)done * in, chunk, bb->map_buf, err)
                              : bb->vt->run(bb, inputs + (size_t)done * in, chunk, bb->map_buf, err);
        if (st != DF_OK) return st;
        df_pooling_apply(&bb->pooling, bb->map_buf, chunk, bb->map_h, bb->map_w, bb->map_c,
                         features + (size_t)done * bb->feature_dim);
        done += chunk;
    }
    return DF_OK;
}

df_status df_backbone_run(df_backbone *bb, const float *inputs, int n, float *features,
                          df_error *err) {
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "batch of %d images", n);
    if (bb->map_buf) return run_pooled(bb, inputs, NULL, n, features, err);
    return bb->vt->run(bb, inputs, n, features, err);
}

int df_backbone_takes_pixels(const df_backbone *bb) { return bb->vt->takes_pixels && bb->vt->takes_pixels(bb); }

df_status df_backbone_run_pixels(df_backbone *bb, const uint8_t *pixels, int n, float *features, df_error *err) {
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "batch of %d images", n);
    if (!df_backbone_takes_pixels(bb))
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s does not take pixels (df_backbone_takes_pixels)", bb->name);
    if (bb->map_buf) return run_pooled(bb, NULL, pixels, n, features, err);
    return bb->vt->run_pixels(bb, pixels, n, features, err);
}
