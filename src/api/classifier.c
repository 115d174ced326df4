/* The public classifier API: model file + backbone (see include/deepfashion.h). */
#include "api/classifier.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"

#include "core/sha256.h"
#include "data/photo.h"
#include "eval/calibration.h"
#include "eval/unknown.h"

df_status df_classifier_open(const char *model_path, const df_classifier_options *opt,
                             df_classifier **out, df_error *err) {
    *out = NULL;
    df_model *model;
    df_status st = df_model_load(model_path, &model, err);
    if (st != DF_OK) return st;
    return df_classifier_from_model(model_path, model, opt, out, err);
}

/* The backbone's settings as training recorded them (the model loader
 * fills these fields for files older than them). */
static df_status recorded_backbone(const df_model_meta *m, df_backbone_options *bo, df_error *err) {
    df_status st = df_preprocess_parse(m->preprocess, &bo->preprocess, err);
    if (st != DF_OK) return st;
    bo->pool = m->backbone_pool;
    bo->cut_tensor = m->cut_tensor[0] ? m->cut_tensor : NULL;
    st = df_pooling_parse(m->pooling[0] ? m->pooling : "mean", &bo->pooling, err);
    if (st != DF_OK) return st;
    df_error ignored;
    if (df_precision_parse(m->precision, &bo->precision, &ignored) != DF_OK) bo->precision = DF_PRECISION_AUTO;
    return DF_OK;
}

/* An embedded TFLite file is parsed where it lies in memory; VGG16's goes
 * through a private copy on disk (the Keras reader runs libhdf5 in forked
 * children on a path). The copy had been the TFLite way too: 3.4 MB
 * written and read back, about 12% of a one-photo predict's CPU time. */
static df_status open_embedded(const char *model_path, const df_model_meta *m, const df_backbone_options *bo,
                               df_backbone **out, df_error *err) {
    const char *name = m->backbone_source[0] ? m->backbone_source : "backbone";
    df_status st;
    if (!strcmp(m->backbone_kind, "tflite")) {
        st = df_backbone_open_bytes(m->backbone_kind, name, m->backbone_file, m->backbone_file_size, bo, out, err);
    } else {
        char *file;
        st = df_private_copy_write(model_path, name, m->backbone_file, m->backbone_file_size, &file, err);
        if (st != DF_OK) return st;
        st = df_backbone_open(m->backbone_kind, file, bo, out, err);
        df_private_copy_remove(file);
    }
    if (st == DF_OK) snprintf((*out)->source, sizeof (*out)->source, "%s", m->backbone_source);
    if (st != DF_OK) df_error_prefix(err, "%s (embedded backbone)", model_path);
    return st;
}

/* A backbone by reference: the recorded path or the caller's, with the
 * recorded SHA-256. */
static df_status open_referenced(const char *model_path, const df_model_meta *m, const char *weights,
                                 const df_backbone_options *bo, df_backbone **out, df_error *err) {
    if (!weights)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "%s: the model does not record its backbone weights file; pass --weights", model_path);
    if (m->backbone_sha256[0]) {
        char hex[65];
        df_status st = df_sha256_file(weights, hex, err);
        if (st != DF_OK) return st;
        if (strcmp(hex, m->backbone_sha256) != 0)
            return df_error_set(err, DF_ERR_DATA,
                                "%s: backbone weights %s are not the ones the model was trained on "
                                "(sha256 %.12s..., expected %.12s...)",
                                model_path, weights, hex, m->backbone_sha256);
    }
    return df_backbone_open(m->backbone_kind, weights, bo, out, err);
}

df_status df_classifier_backbone_open(const char *model_path, const df_model *model,
                                      const df_classifier_options *opt,
                                      void (*adjust)(df_backbone_options *bo, void *ctx), void *ctx,
                                      df_backbone **out, df_error *err) {
    *out = NULL;
    const df_model_meta *m = &model->meta;
    df_backbone_options bo = df_backbone_options_default();
    df_status st = recorded_backbone(m, &bo, err);
    if (st != DF_OK) return st;
    if (opt) {
        if (opt->precision != DF_PRECISION_AUTO) bo.precision = opt->precision;
        if (opt->max_batch > 0) bo.max_batch = opt->max_batch;
        /* Measuring algorithms costs seconds; for a photo at a time (predict)
         * that is more than it saves. Direct and Winograd agree to ~1e-6. */
        bo.autotune = bo.max_batch > 1 && !opt->no_autotune;
        bo.notice = opt->notice;
        bo.notice_ctx = opt->notice_ctx;
    }
    if (adjust) adjust(&bo, ctx);
    const char *weights = opt ? opt->backbone_weights : NULL;
    if (m->backbone_file && !weights) {
        st = open_embedded(model_path, m, &bo, out, err);
    } else {
        if (!weights && m->backbone_source[0]) weights = m->backbone_source;
        st = open_referenced(model_path, m, weights, &bo, out, err);
    }
    return st;
}

df_status df_classifier_from_model(const char *model_path, df_model *model, const df_classifier_options *opt,
                                   df_classifier **out, df_error *err) {
    *out = NULL;
    df_classifier *c = calloc(1, sizeof *c);
    if (!c) {
        df_model_destroy(model);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    c->model = model;
    df_model_meta *m = &c->model->meta;
    df_status st = df_classifier_backbone_open(model_path, model, opt, NULL, NULL, &c->backbone, err);
    if (st != DF_OK) goto fail;
    if (df_backbone_feature_dim(c->backbone) != (size_t)m->feature_dim) {
        st = df_error_set(err, DF_ERR_SHAPE, "%s: model expects %d features, backbone %s gives %zu", model_path,
                          m->feature_dim, df_backbone_source(c->backbone), df_backbone_feature_dim(c->backbone));
        goto fail;
    }
    st = df_resize_method_parse(m->resize_method, &c->resize, err);
    if (st != DF_OK) goto fail;
    c->input = malloc(sizeof(float) * (size_t)m->input_h * (size_t)m->input_w * 3);
    c->features = malloc(sizeof(float) * (size_t)m->feature_dim);
    if (!c->input || !c->features) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    *out = c;
    return DF_OK;
fail:
    df_classifier_destroy(c);
    return st;
}

df_status df_classifier_load(const char *model_path, const char *backbone_weights,
                             df_classifier **out, df_error *err) {
    df_classifier_options o = {.backbone_weights = backbone_weights, .max_batch = 1,
                               .precision = DF_PRECISION_AUTO};
    return df_classifier_open(model_path, &o, out, err);
}

void df_classifier_destroy(df_classifier *c) {
    if (!c) return;
    df_backbone_destroy(c->backbone);
    df_model_destroy(c->model);
    free(c->input);
    free(c->features);
    free(c);
}

int df_classifier_num_classes(const df_classifier *c) { return c->model->meta.num_classes; }

const char *df_classifier_class_name(const df_classifier *c, int index) {
    if (index < 0 || index >= c->model->meta.num_classes) return NULL;
    return c->model->meta.class_names[index];
}

/* Probabilities of one feature row: softmax(logits / T), T the model's
 * temperature (1 when it has none). */
df_status df_classifier_probabilities(const df_classifier *c, const float *features, float *probs,
                                      df_error *err) {
    df_status st = df_head_logits(c->model->head, features, 1, probs, err);
    if (st != DF_OK) return st;
    float T = c->model->temperature > 0.0f ? c->model->temperature : 1.0f;
    df_calib_softmax_t(probs, 1, c->model->meta.num_classes, T, probs);
    return DF_OK;
}

static df_status predict_image(df_classifier *c, const df_image *img, float *probs, df_error *err) {
    df_status st = df_backbone_preprocess(c->backbone, img, c->input, err);
    if (st == DF_OK) st = df_backbone_run(c->backbone, c->input, 1, c->features, err);
    if (st == DF_OK) st = df_classifier_probabilities(c, c->features, probs, err);
    return st;
}

df_status df_classifier_judge(const df_classifier *c, const float *features, int use_unknown, float *probs,
                              df_prediction *out, df_error *err) {
    df_status st = df_classifier_probabilities(c, features, probs, err);
    if (st != DF_OK) return st;
    int C = c->model->meta.num_classes;
    out->best = 0;
    for (int k = 1; k < C; k++)
        if (probs[k] > probs[out->best]) out->best = k;
    out->unknown = 0;
    out->unknown_score = NAN;
    if (c->model->unknown) {
        out->unknown_score =
            df_unknown_score_features(c->model->unknown, features, (size_t)c->model->meta.feature_dim);
        out->unknown = use_unknown && !(out->unknown_score <= c->model->unknown->threshold);
    }
    return DF_OK;
}

df_status df_classifier_predict_photo(df_classifier *c, const char *path, int use_unknown, float *probs,
                                      df_prediction *out, df_error *err) {
    df_image img = {0};
    df_status st = df_photo_load(c->backbone, path, c->resize, &img, err);
    if (st == DF_OK) st = df_backbone_preprocess(c->backbone, &img, c->input, err);
    if (st == DF_OK) st = df_backbone_run(c->backbone, c->input, 1, c->features, err);
    df_image_free(&img);
    if (st == DF_OK) st = df_classifier_judge(c, c->features, use_unknown, probs, out, err);
    return st;
}

df_status df_classifier_predict_file(df_classifier *c, const char *path, float *probs,
                                     df_error *err) {
    df_image img = {0};
    df_status st = df_photo_load(c->backbone, path, c->resize, &img, err);
    if (st != DF_OK) return st;
    st = predict_image(c, &img, probs, err);
    df_image_free(&img);
    return st;
}

df_status df_classifier_predict_rgb(df_classifier *c, const uint8_t *rgb, int width, int height,
                                    float *probs, df_error *err) {
    if (!rgb || width < 1 || height < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "image of %dx%d pixels", width, height);
    df_image src = {.width = width, .height = height, .pixels = (uint8_t *)rgb};
    df_image sized = {0};
    int h, w;
    df_backbone_input_size(c->backbone, &h, &w);
    df_status st = df_image_resize(&src, w, h, c->resize, &sized, err);
    if (st != DF_OK) return st;
    st = predict_image(c, &sized, probs, err);
    df_image_free(&sized);
    return st;
}
