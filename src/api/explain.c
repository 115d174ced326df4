/* Grad-CAM overlays for predict --explain (see explain.h). */
#include "api/explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone/tflite_backbone.h"
#include "core/fileio.h"
#include "data/place.h"
#include "report/gradcam.h"
#include "train/train.h"

struct df_explainer {
    const df_classifier *clf;  /* borrowed */
    df_backbone *bb;           /* owned: stops at the map */
    int h, w, k, pooled;
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

/* The TFLite backbone cut at the pooled feature's input. */
static df_status open_tflite_map(df_explainer *ex, const char *weights, df_backbone_options *bo, df_error *err) {
    df_tflite_model *m;
    df_status st = df_tflite_load(weights, &m, err);
    if (st != DF_OK) return st;
    int t = df_tflite_feature_map_tensor(m);
    if (t < 0 || m->tensors[t].rank != 4) {
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "%s: no spatial feature map before the global pool", weights);
    } else {
        char cut[32];
        snprintf(cut, sizeof cut, "#%d", t);
        bo->cut_tensor = cut;
        ex->h = m->tensors[t].shape[1];
        ex->w = m->tensors[t].shape[2];
        ex->k = m->tensors[t].shape[3];
        ex->pooled = 1;
        st = df_tflite_backbone_from_model(m, df_backbone_name(ex->clf->backbone), bo, &ex->bb, err);
        bo->cut_tensor = NULL;
    }
    df_tflite_destroy(m);
    return st;
}

df_status df_explainer_create(const df_classifier *clf, const char *weights, df_explainer **out, df_error *err) {
    *out = NULL;
    const df_model_meta *m = &clf->model->meta;
    char *cut = df_json_get_string(m->training_json, "cut_tensor");
    char *recorded = df_json_get_string(m->training_json, "backbone_weights");
    const char *wpath = weights ? weights : recorded;
    df_status st = DF_OK;
    df_explainer *ex = calloc(1, sizeof *ex);
    if (!ex) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    else if (cut && *cut)
        st = df_error_set(err, DF_ERR_UNSUPPORTED, "--explain: the model is cut at tensor '%s'; Grad-CAM needs "
                                                   "the default pooled feature", cut);
    else if (!wpath)
        st = df_error_set(err, DF_ERR_INVALID_ARG, "the model does not record its backbone weights file; pass --weights");
    if (st != DF_OK) goto fail;
    ex->clf = clf;
    df_backbone_options bo = df_backbone_options_default();
    bo.preprocess = df_backbone_preprocess_mode(clf->backbone);
    bo.precision = df_backbone_precision(clf->backbone);
    bo.max_batch = 1;
    if (!strcmp(m->backbone_kind, "tflite")) {
        st = open_tflite_map(ex, wpath, &bo, err);
    } else {
        bo.pool = 0;
        st = df_backbone_open(m->backbone_kind, wpath, &bo, &ex->bb, err);
        ex->h = ex->w = 7;
        ex->k = 512;
        ex->pooled = m->feature_dim == 512;
    }
    if (st != DF_OK) goto fail;
    size_t n = (size_t)ex->h * ex->w * ex->k;
    if (df_backbone_feature_dim(ex->bb) != n) {
        st = df_error_set(err, DF_ERR_SHAPE, "%s: feature map of %zu values, expected %dx%dx%d", wpath,
                          df_backbone_feature_dim(ex->bb), ex->h, ex->w, ex->k);
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
    free(cut);
    free(recorded);
    *out = ex;
    return DF_OK;
fail:
    free(cut);
    free(recorded);
    df_explainer_destroy(ex);
    return st;
}

/* The photo upright at its own aspect ratio, longer side <= DF_EXPLAIN_MAX_SIDE. */
static df_status load_display(const char *path, df_image *out, df_error *err) {
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = DF_EXPLAIN_MAX_SIDE / 2;
    df_image full = {0};
    df_status st = df_image_load(path, &lo, &full, err);
    if (st != DF_OK) return st;
    int side = full.width > full.height ? full.width : full.height;
    if (side <= DF_EXPLAIN_MAX_SIDE) {
        *out = full;
        return DF_OK;
    }
    double s = (double)DF_EXPLAIN_MAX_SIDE / side;
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

df_status df_explain_photo(df_explainer *ex, const char *path, int cls, const char *dir, char **written,
                           df_error *err) {
    if (written) *written = NULL;
    df_image in = {0}, shown = {0}, ov = {0};
    df_status st = df_train_load_photo(ex->bb, path, ex->clf->resize, &in, err);
    if (st == DF_OK) st = df_backbone_preprocess(ex->bb, &in, ex->input, err);
    if (st == DF_OK) st = df_backbone_run(ex->bb, ex->input, 1, ex->map, err);
    if (st == DF_OK)
        st = df_gradcam_map_gradient(ex->clf->model->head, ex->map, ex->h, ex->w, ex->k, ex->pooled, cls,
                                     ex->grad, err);
    if (st == DF_OK) {
        df_gradcam_cam(ex->map, ex->grad, ex->h, ex->w, ex->k, ex->cam);
        st = load_display(path, &shown, err);
    }
    if (st == DF_OK) st = df_gradcam_overlay(&shown, ex->cam, ex->h, ex->w, &ov, err);
    if (st == DF_OK) st = write_overlay(&ov, path, dir, written, err);
    df_image_free(&in);
    df_image_free(&shown);
    df_image_free(&ov);
    return st;
}
