/* Grad-CAM overlays for predict --explain (see explain.h). */
#include "api/explain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone/tflite_backbone.h"
#include "core/fileio.h"
#include "data/place.h"
#include "report/gradcam.h"
#include "data/photo.h"

struct df_explainer {
    const df_model *model;     /* borrowed */
    df_resize_method resize;
    df_backbone *bb;           /* owned: stops at the map */
    int h, w, k, pooled;
    df_pooling pool;           /* how the model's features pool the map, when pooled */
    float *input, *map, *grad, *cam;
};

void df_explainer_destroy(df_explainer *ex) {
    if (!ex) return;
    df_backbone_destroy(ex->bb);
    free(ex->input);
    free(ex->map);
    free(ex->grad);
    free(ex->cam);
    free(ex);
}

void df_explainer_map_size(const df_explainer *ex, int *h, int *w, int *k) {
    *h = ex->h;
    *w = ex->w;
    *k = ex->k;
}

/* The backbone stops at the map: TFLite at the pooled feature's input,
 * VGG16 without its pooling. */
static void cut_at_map(df_backbone_options *bo, void *ctx) {
    const char *kind = ctx;
    if (!strcmp(kind, "tflite")) bo->cut_tensor = DF_TFLITE_CUT_FEATURE_MAP;
    else bo->pool = 0;
    bo->pooling = (df_pooling){DF_POOLING_MEAN, 0, 0, 0}; /* the map itself; pooled here as the model does */
    bo->max_batch = 1;
    bo->autotune = 0;
}

df_status df_explainer_create(const char *model_path, const df_model *model, const df_classifier_options *opt,
                              df_explainer **out, df_error *err) {
    *out = NULL;
    const df_model_meta *m = &model->meta;
    if (!strcmp(m->backbone_kind, "tflite") && m->cut_tensor[0])
        return df_error_set(err, DF_ERR_UNSUPPORTED,
                            "--explain: %s is cut at tensor '%s'; Grad-CAM needs the default pooled feature",
                            model_path, m->cut_tensor);
    df_explainer *ex = calloc(1, sizeof *ex);
    if (!ex) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    ex->model = model;
    df_status st = df_resize_method_parse(m->resize_method, &ex->resize, err);
    if (st == DF_OK)
        st = df_classifier_backbone_open(model_path, model, opt, cut_at_map, (void *)m->backbone_kind, &ex->bb, err);
    if (st != DF_OK) goto fail;
    /* Square maps (7x7 for 224x224 inputs). TFLite: the head takes the map
     * pooled as the model says (its mean, K = the features, or regions);
     * VGG16: its 512 channels pooled, or the whole map. */
    size_t n = df_backbone_feature_dim(ex->bb);
    const int tflite = !strcmp(m->backbone_kind, "tflite");
    if (tflite) st = df_pooling_parse(m->pooling[0] ? m->pooling : "mean", &ex->pool, err);
    else ex->pool = (df_pooling){DF_POOLING_MEAN, 0, 0, 0};
    if (st != DF_OK) goto fail;
    ex->pooled = !tflite ? (size_t)m->feature_dim != n : 1;
    ex->k = tflite && ex->pool.kind == DF_POOLING_MEAN ? m->feature_dim : 512;
    for (int side = 1; tflite && ex->pool.kind == DF_POOLING_REGIONS && side <= 64; side++)
        if (n % ((size_t)side * side) == 0 &&
            df_pooling_dim(&ex->pool, side, side, (int)(n / ((size_t)side * side))) == (size_t)m->feature_dim)
            ex->k = (int)(n / ((size_t)side * side));
    size_t hw = n / (size_t)ex->k;
    ex->h = ex->w = (int)(sqrt((double)hw) + 0.5);
    if ((size_t)ex->h * ex->w * ex->k != n || (!ex->pooled && ex->k != 512) ||
        (ex->pooled && df_pooling_dim(&ex->pool, ex->h, ex->w, ex->k) != (size_t)m->feature_dim)) {
        st = df_error_set(err, DF_ERR_SHAPE, "%s: feature map of %zu values does not fit %d features per position",
                          model_path, n, ex->k);
        goto fail;
    }
    ex->input = malloc(sizeof(float) * (size_t)m->input_h * m->input_w * 3);
    ex->map = malloc(sizeof(float) * n);
    ex->grad = malloc(sizeof(float) * n);
    ex->cam = malloc(sizeof(float) * (size_t)ex->h * ex->w);
    if (!ex->input || !ex->map || !ex->grad || !ex->cam) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory for Grad-CAM");
        goto fail;
    }
    *out = ex;
    return DF_OK;
fail:
    df_explainer_destroy(ex);
    return st;
}

/* The photo upright at its own aspect ratio, longer side <= max_side. */
static df_status load_display(const char *path, int max_side, df_image *out, df_error *err) {
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = max_side / 2;
    df_image full = {0};
    df_status st = df_image_load(path, &lo, &full, err);
    if (st != DF_OK) return st;
    int side = full.width > full.height ? full.width : full.height;
    if (side <= max_side) {
        *out = full;
        return DF_OK;
    }
    double s = (double)max_side / side;
    int w = (int)(full.width * s + 0.5), h = (int)(full.height * s + 0.5);
    st = df_image_resize(&full, w < 1 ? 1 : w, h < 1 ? 1 : h, DF_RESIZE_AREA, out, err);
    df_image_free(&full);
    return st;
}

static df_status write_overlay(const df_image *ov, const char *path, const char *dir, char **written,
                               df_error *err) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base) + 5;
    char *name = malloc(len), *tmp = df_path_join(dir, ".gradcam-XXXXXX");
    char *placed = NULL;
    df_status st = DF_OK;
    int fd = -1;
    if (!name || !tmp) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    else if ((fd = mkstemp(tmp)) < 0) st = df_error_set(err, DF_ERR_IO, "%s: cannot create a file", dir);
    if (st == DF_OK) {
        close(fd);
        snprintf(name, len, "%s", base);
        char *dot = strrchr(name, '.');
        if (dot && dot != name) *dot = '\0';
        strcat(name, ".png");
        st = df_image_write_png(ov, tmp, err);
        if (st == DF_OK) st = df_place_rename(tmp, dir, name, &placed, err);
        else unlink(tmp);
    }
    if (written) *written = placed;
    else free(placed);
    free(name);
    free(tmp);
    return st;
}

df_status df_explain_overlay(df_explainer *ex, const char *path, int cls, int max_side, df_image *out,
                             df_error *err) {
    df_image in = {0}, shown = {0};
    df_status st = df_photo_load(ex->bb, path, ex->resize, &in, err);
    if (st == DF_OK) st = df_backbone_preprocess(ex->bb, &in, ex->input, err);
    if (st == DF_OK) st = df_backbone_run(ex->bb, ex->input, 1, ex->map, err);
    if (st == DF_OK)
        st = df_gradcam_map_gradient(ex->model->head, ex->map, ex->h, ex->w, ex->k,
                                     ex->pooled ? &ex->pool : NULL, cls, ex->grad, err);
    if (st == DF_OK) {
        df_gradcam_cam(ex->map, ex->grad, ex->h, ex->w, ex->k, ex->cam);
        st = load_display(path, max_side, &shown, err);
    }
    if (st == DF_OK) st = df_gradcam_overlay(&shown, ex->cam, ex->h, ex->w, out, err);
    df_image_free(&in);
    df_image_free(&shown);
    return st;
}

df_status df_explain_photo(df_explainer *ex, const char *path, int cls, const char *dir, char **written,
                           df_error *err) {
    if (written) *written = NULL;
    df_image ov = {0};
    df_status st = df_explain_overlay(ex, path, cls, DF_EXPLAIN_MAX_SIDE, &ov, err);
    if (st == DF_OK) st = write_overlay(&ov, path, dir, written, err);
    df_image_free(&ov);
    return st;
}
