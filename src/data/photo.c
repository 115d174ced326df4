/* Photos to network inputs, and backbone passes over them (see photo.h). */
#include "data/photo.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

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
 * caller frees (*temp = 1). Threads of one batch may call this at once; a
 * cached photo is never replaced or freed while the source lives. */
static df_status photo_get(df_photo_source *ps, int i, df_image *img, int *temp, df_error *err) {
    int cached;
#ifdef _OPENMP
#pragma omp critical(df_photo_cache)
#endif
    {
        cached = ps->cache[i].pixels != NULL;
        if (cached) *img = ps->cache[i];
    }
    *temp = 0;
    if (cached) return DF_OK;
    df_status st = df_photo_load(ps->bb, ps->ds->items[i].path, ps->resize, img, err);
    if (st != DF_OK) return st;
    size_t bytes = (size_t)img->width * (size_t)img->height * 3;
    int keep = 0;
#ifdef _OPENMP
#pragma omp critical(df_photo_cache)
#endif
    {
        if (!ps->cache[i].pixels && ps->used + bytes <= ps->budget) {
            ps->cache[i] = *img;
            ps->used += bytes;
            keep = 1;
        }
    }
    *temp = !keep;
    return DF_OK;
}

/* Photo i as a network input, warped by aug (NULL = plain) from stream
 * (seed, i, key): out receives H * W * 3 floats, or bytes (pixels). */
static df_status photo_input(df_photo_source *ps, int i, const df_augment_config *aug, uint64_t seed, uint64_t key,
                             int pixels, df_image *scratch, void *out, df_error *err) {
    df_image img;
    int temp = 0;
    df_status st = photo_get(ps, i, &img, &temp, err);
    if (st != DF_OK) return st;
    const df_image *use = &img;
    if (aug) {
        df_rng rng;
        df_augment_params ap;
        df_rng_seed_for(&rng, seed, DF_STREAM_AUGMENT, (uint64_t)i, key);
        df_augment_sample(aug, img.height, img.width, &rng, &ap);
        st = df_augment_apply(&img, &ap, scratch, err);
        use = scratch;
    }
    if (st == DF_OK)
        st = pixels ? df_backbone_copy_pixels(ps->bb, use, out, err) : df_backbone_preprocess(ps->bb, use, out, err);
    if (temp) df_image_free(&img);
    if (st != DF_OK) df_error_prefix(err, "%s", ps->ds->items[i].path);
    return st;
}

/* ---- a pass as a stream of batches ---- */

/* Two ways to prepare batches. When the backbone's threads (OpenMP's team;
 * the integer engine's pool has as many) leave a core free, a prefetch
 * thread prepares batch k+1 while the backbone runs batch k. When they
 * take every core, a prefetch thread would share a core with one of them:
 * every parallel region then waits for the thread that lost its core, and
 * the backbone ran at about half its speed inside training on 2 cores. So
 * there the team prepares each batch itself, in parallel, between backbone
 * calls. Either way a photo's input depends only on (photo, seed, key). */
struct df_photo_stream {
    df_photo_source *ps;
    df_photo_pass pass; /* batch resolved */
    int pixels;         /* df_backbone_takes_pixels: inputs are bytes */
    size_t input_bytes; /* per photo */
    int threads;        /* preparing one batch; > 1 = inline, no prefetch thread */
    df_image *scratch;  /* [threads] augmentation outputs */
    df_prefetch *pf;    /* NULL when inline */
    float *buf;         /* inline: the batch being handed out (floats or bytes) */
    int variants;       /* >= 1 */
    int positions;      /* count x variants + extra */
    int jobs;           /* batches in the pass */
    int next_job;       /* inline: the next batch to prepare */
};

/* A pass's variants: 0 and 1 both mean one. */
static int pass_variants(const df_photo_pass *pass) { return pass->variants > 1 ? pass->variants : 1; }

static int cores_online(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static df_status prepare_batch(void *ctx, int job, float *buf, int *n_items, df_error *err) {
    df_photo_stream *s = ctx;
    int start = job * s->pass.batch;
    int n = s->positions - start < s->pass.batch ? s->positions - start : s->pass.batch;
    df_first_error fe;
    df_first_error_init(&fe);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(s->threads) if (s->threads > 1)
#endif
    for (int k = 0; k < n; k++) {
#ifdef _OPENMP
        int t = omp_get_thread_num();
#else
        int t = 0;
#endif
        const int pos = start + k, in_variants = pos < s->positions - s->pass.extra;
        const int v = in_variants ? pos / s->pass.count : 0, p = in_variants ? pos % s->pass.count : 0;
        const int i = !in_variants ? s->pass.extra_first + (pos - (s->positions - s->pass.extra))
                      : s->pass.order ? s->pass.order[p] : p;
        const df_augment_config *aug =
            !in_variants || (s->pass.plain_last && v == s->variants - 1) ? NULL : s->pass.augment;
        df_error e;
        df_error_clear(&e);
        unsigned char *in = (unsigned char *)buf + (size_t)k * s->input_bytes;
        if (photo_input(s->ps, i, aug, s->pass.seed, s->pass.aug_key + (uint64_t)v, s->pixels, &s->scratch[t], in,
                        &e) != DF_OK)
            df_first_error_note(&fe, k, &e);
    }
    df_status st = df_first_error_take(&fe, err);
    if (st != DF_OK) return st;
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
    s->pixels = df_backbone_takes_pixels(ps->bb);
    s->input_bytes = (size_t)h * (size_t)w * 3 * (s->pixels ? 1 : sizeof(float));
    s->variants = pass_variants(pass);
    const df_dataset *ds = ps->ds;
    if (s->pass.count < 0 || (s->pass.count > 0 && s->variants > (INT_MAX - ds->count) / s->pass.count)) {
        free(s);
        return df_error_set(err, DF_ERR_TOO_LARGE, "a pass of %d photos x %d variants", pass->count, pass->variants);
    }
    if (s->pass.extra < 0 || s->pass.extra_first < 0 || s->pass.extra > ds->count - s->pass.extra_first) {
        free(s);
        return df_error_set(err, DF_ERR_INVALID_ARG, "photo pass: %d extra photos from %d of %d", pass->extra,
                            pass->extra_first, ds->count);
    }
    s->positions = s->pass.count * s->variants + s->pass.extra;
    s->jobs = df_batch_count(s->positions, s->pass.batch);
#ifdef _OPENMP
    int team = omp_get_max_threads();
    s->threads = team >= cores_online() ? team : 1;
#else
    s->threads = 1;
#endif
    const size_t capacity = ((size_t)s->pass.batch * s->input_bytes + sizeof(float) - 1) / sizeof(float);
    s->scratch = calloc((size_t)s->threads, sizeof *s->scratch);
    if (s->threads > 1 && s->scratch) s->buf = malloc((capacity ? capacity : 1) * sizeof(float));
    if (!s->scratch || (s->threads > 1 && !s->buf)) {
        int batch = s->pass.batch;
        free(s->scratch);
        free(s);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory for a batch of %d photos", batch);
    }
    if (s->threads == 1) {
        df_status st = df_prefetch_start(prepare_batch, s, s->jobs, capacity, &s->pf, err);
        if (st != DF_OK) {
            free(s->scratch);
            free(s);
            return st;
        }
    }
    *out = s;
    return DF_OK;
}

df_status df_photo_stream_next(df_photo_stream *s, const void **inputs, int *n, df_error *err) {
    if (s->pf) {
        const float *buf = NULL;
        df_status st = df_prefetch_next(s->pf, &buf, n, err);
        *inputs = buf;
        return st;
    }
    if (s->next_job >= s->jobs)
        return df_error_set(err, DF_ERR_INTERNAL, "photo stream: no batch %d of %d", s->next_job, s->jobs);
    *inputs = s->buf;
    return prepare_batch(s, s->next_job++, s->buf, n, err);
}

df_status df_photo_stream_run(df_photo_stream *s, df_backbone *bb, const void *inputs, int n, float *features,
                              df_error *err) {
    if (bb != s->ps->bb)
        return df_error_set(err, DF_ERR_INTERNAL, "photo stream: run on another backbone than its source's");
    return s->pixels ? df_backbone_run_pixels(bb, inputs, n, features, err)
                     : df_backbone_run(bb, inputs, n, features, err);
}

void df_photo_stream_stop(df_photo_stream *s) {
    if (!s) return;
    df_prefetch_stop(s->pf); /* joins the worker before its scratch goes */
    for (int t = 0; t < s->threads; t++) df_image_free(&s->scratch[t]);
    free(s->scratch);
    free(s->buf);
    free(s);
}

df_status df_photo_pass_run(df_backbone *bb, df_photo_source *ps, const df_photo_pass *pass, float *features,
                            double *backbone_seconds, df_error *err) {
    const size_t F = df_backbone_feature_dim(bb);
    df_photo_stream *s = NULL;
    df_status st = df_photo_stream_start(ps, pass, &s, err);
    if (st != DF_OK) return st;
    const long positions = (long)pass->count * pass_variants(pass) + (pass->extra > 0 ? pass->extra : 0);
    const long base = pass->progress_base, total = pass->progress_total ? pass->progress_total : positions;
    if (base == 0) df_progress_report(pass->progress, pass->what, 0, total);
    for (long done = 0; done < positions && st == DF_OK;) {
        if (pass->stop_flag && *pass->stop_flag) {
            st = df_error_set(err, DF_ERR_INTERRUPTED, "interrupted after %ld of %ld %s", done, positions,
                              pass->what ? pass->what : "photos");
            break;
        }
        const void *in;
        int n;
        st = df_photo_stream_next(s, &in, &n, err);
        if (st != DF_OK) break;
        double t0 = df_clock_seconds();
        st = df_photo_stream_run(s, bb, in, n, features + (size_t)done * F, err);
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
