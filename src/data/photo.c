/* Photos to network inputs, and backbone passes over them (see photo.h). */
#include "data/photo.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/rng.h"
#include "data/prefetch.h"

df_resize_method df_photo_resize(const df_backbone *bb, int resize) {
    return resize >= 0 ? (df_resize_method)resize : df_backbone_resize_method(bb);
}

df_status df_photo_load(const df_backbone *bb, const char *path, df_resize_method resize, df_image *out,
                        df_error *err) {
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

/* ---- decoded photos in memory, up to a budget ---- */

struct df_photo_source {
    const df_dataset *ds;
    const df_backbone *bb;
    df_resize_method resize;
    df_image *cache; /* [ds->count], pixels NULL = not cached */
    size_t budget, used;
};

df_status df_photo_source_create(const df_dataset *ds, const df_backbone *bb, df_resize_method resize,
                                 size_t budget, df_photo_source **out, df_error *err) {
    *out = NULL;
    df_photo_source *ps = calloc(1, sizeof *ps);
    if (ps) ps->cache = calloc((size_t)(ds->count ? ds->count : 1), sizeof *ps->cache);
    if (!ps || !ps->cache) {
        free(ps);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for %d photos", ds->count);
    }
    ps->ds = ds;
    ps->bb = bb;
    ps->resize = resize;
    ps->budget = budget;
    *out = ps;
    return DF_OK;
}

void df_photo_source_destroy(df_photo_source *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->ds->count; i++) df_image_free(&ps->cache[i]);
    free(ps->cache);
    free(ps);
}

const df_dataset *df_photo_source_dataset(const df_photo_source *ps) { return ps->ds; }

/* *img is either the cached photo (borrowed; *temp = 0) or a fresh one the
 * caller frees (*temp = 1). Only one thread at a time calls this. */
static df_status photo_get(df_photo_source *ps, int i, df_image *img, int *temp, df_error *err) {
    if (ps->cache[i].pixels) {
        *img = ps->cache[i];
        *temp = 0;
        return DF_OK;
    }
    df_status st = df_photo_load(ps->bb, ps->ds->items[i].path, ps->resize, img, err);
    if (st != DF_OK) return st;
    size_t bytes = (size_t)img->width * (size_t)img->height * 3;
    *temp = ps->used + bytes > ps->budget;
    if (!*temp) {
        ps->cache[i] = *img;
        ps->used += bytes;
    }
    return DF_OK;
}

/* Photo i as a network input: out receives H * W * 3 floats. */
static df_status photo_input(df_photo_source *ps, int i, const df_photo_pass *pass, df_image *scratch, float *out,
                             df_error *err) {
    df_image img;
    int temp = 0;
    df_status st = photo_get(ps, i, &img, &temp, err);
    if (st != DF_OK) return st;
    const df_image *use = &img;
    if (pass->augment) {
        df_rng rng;
        df_augment_params ap;
        df_rng_seed_for(&rng, pass->seed, DF_STREAM_AUGMENT, (uint64_t)i, pass->aug_key);
        df_augment_sample(pass->augment, img.height, img.width, &rng, &ap);
        st = df_augment_apply(&img, &ap, scratch, err);
        use = scratch;
    }
    if (st == DF_OK) st = df_backbone_preprocess(ps->bb, use, out, err);
    if (temp) df_image_free(&img);
    if (st != DF_OK) df_error_prefix(err, "%s", ps->ds->items[i].path);
    return st;
}

/* ---- a pass as a stream of batches ---- */

struct df_photo_stream {
    df_photo_source *ps;
    df_photo_pass pass; /* batch resolved */
    size_t input_floats;
    df_image scratch;   /* augmentation output, reused on the worker */
    df_prefetch *pf;
};

static df_status prepare_batch(void *ctx, int job, float *buf, int *n_items, df_error *err) {
    df_photo_stream *s = ctx;
    int start = job * s->pass.batch;
    int n = s->pass.count - start < s->pass.batch ? s->pass.count - start : s->pass.batch;
    for (int k = 0; k < n; k++) {
        int i = s->pass.order ? s->pass.order[start + k] : start + k;
        df_status st = photo_input(s->ps, i, &s->pass, &s->scratch, buf + (size_t)k * s->input_floats, err);
        if (st != DF_OK) return st;
    }
    *n_items = n;
    return DF_OK;
}

df_status df_photo_stream_start(df_photo_source *ps, const df_photo_pass *pass, df_photo_stream **out,
                                df_error *err) {
    *out = NULL;
    df_photo_stream *s = calloc(1, sizeof *s);
    if (!s) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    int h, w;
    df_backbone_input_size(ps->bb, &h, &w);
    s->ps = ps;
    s->pass = *pass;
    if (s->pass.batch < 1) s->pass.batch = df_backbone_max_batch(ps->bb);
    s->input_floats = (size_t)h * (size_t)w * 3;
    df_status st = df_prefetch_start(prepare_batch, s, df_batch_count(s->pass.count, s->pass.batch),
                                     (size_t)s->pass.batch * s->input_floats, &s->pf, err);
    if (st != DF_OK) {
        free(s);
        return st;
    }
    *out = s;
    return DF_OK;
}

df_status df_photo_stream_next(df_photo_stream *s, const float **inputs, int *n, df_error *err) {
    return df_prefetch_next(s->pf, inputs, n, err);
}

void df_photo_stream_stop(df_photo_stream *s) {
    if (!s) return;
    df_prefetch_stop(s->pf); /* joins the worker before its scratch goes */
    df_image_free(&s->scratch);
    free(s);
}

df_status df_photo_pass_run(df_backbone *bb, df_photo_source *ps, const df_photo_pass *pass, float *features,
                            double *backbone_seconds, df_error *err) {
    const size_t F = df_backbone_feature_dim(bb);
    df_photo_stream *s = NULL;
    df_status st = df_photo_stream_start(ps, pass, &s, err);
    if (st != DF_OK) return st;
    const long base = pass->progress_base, total = pass->progress_total ? pass->progress_total : pass->count;
    if (base == 0) df_progress_report(pass->progress, pass->what, 0, total);
    for (long done = 0; done < pass->count && st == DF_OK;) {
        const float *in;
        int n;
        st = df_photo_stream_next(s, &in, &n, err);
        if (st != DF_OK) break;
        double t0 = df_clock_seconds();
        st = df_backbone_run(bb, in, n, features + (size_t)done * F, err);
        if (backbone_seconds) *backbone_seconds += df_clock_seconds() - t0;
        done += n;
        if (st == DF_OK) df_progress_report(pass->progress, pass->what, base + done, total);
    }
    df_photo_stream_stop(s);
    return st;
}

df_status df_photo_features(df_backbone *bb, const df_dataset *ds, df_resize_method resize,
                            const df_progress *progress, float **features, df_error *err) {
    *features = NULL;
    size_t bytes;
    if (!df_size_mul3((size_t)ds->count, df_backbone_feature_dim(bb), sizeof(float), &bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "features of %d photos overflow", ds->count);
    float *out = malloc(bytes ? bytes : 1);
    if (!out) return df_error_set(err, DF_ERR_NOMEM, "out of memory for features of %d photos", ds->count);
    df_photo_source *ps = NULL;
    df_status st = df_photo_source_create(ds, bb, resize, 0, &ps, err);
    if (st == DF_OK) {
        df_photo_pass pass = {.count = ds->count, .progress = progress, .what = "photos"};
        st = df_photo_pass_run(bb, ps, &pass, out, NULL, err);
    }
    df_photo_source_destroy(ps);
    if (st != DF_OK) {
        free(out);
        return st;
    }
    *features = out;
    return DF_OK;
}
