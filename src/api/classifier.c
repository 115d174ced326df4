/* The public classifier API: model file + backbone (see include/deepfashion.h). */
#include "api/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "eval/calibration.h"
#include "eval/unknown.h"
#include "train/train.h"

char *df_json_get_string(const char *json, const char *key) {
    if (!json) return NULL;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    size_t cap = strlen(p) + 1;
    char *out = malloc(cap);
    if (!out) return NULL;
    size_t k = 0;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            if (*p == 'n') out[k++] = '\n';
            else if (*p == 't') out[k++] = '\t';
            else if (*p == 'u' && strlen(p) >= 5) {
                /* Only \u00XX is produced by our writer (bytes of non-UTF-8 names). */
                char hex[3] = {p[3], p[4], 0};
                out[k++] = (char)strtol(hex, NULL, 16);
                p += 4;
            } else out[k++] = *p;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return out;
}

df_status df_classifier_open(const char *model_path, const df_classifier_options *opt,
                             df_classifier **out, df_error *err) {
    *out = NULL;
    df_model *model;
    df_status st = df_model_load(model_path, &model, err);
    if (st != DF_OK) return st;
    return df_classifier_from_model(model_path, model, opt, out, err);
}

df_status df_classifier_from_model(const char *model_path, df_model *model, const df_classifier_options *opt,
                                   df_classifier **out, df_error *err) {
    *out = NULL;
    df_classifier *c = calloc(1, sizeof *c);
    char *recorded = NULL;
    if (!c) {
        df_model_destroy(model);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    c->model = model;
    df_status st;
    df_model_meta *m = &c->model->meta;
    recorded = df_json_get_string(m->training_json, "backbone_weights");
    const char *weights = opt && opt->backbone_weights ? opt->backbone_weights : recorded;
    if (!weights) {
        st = df_error_set(err, DF_ERR_INVALID_ARG,
                          "%s: the model does not record its backbone weights file; pass --weights",
                          model_path);
        goto fail;
    }
    if (m->backbone_sha256[0]) {
        char hex[65];
        st = df_sha256_file(weights, hex, err);
        if (st != DF_OK) goto fail;
        if (strcmp(hex, m->backbone_sha256) != 0) {
            st = df_error_set(err, DF_ERR_DATA,
                              "%s: backbone weights %s are not the ones the model was trained on "
                              "(sha256 %.12s..., expected %.12s...)",
                              model_path, weights, hex, m->backbone_sha256);
            goto fail;
        }
    }
    df_backbone_options bo = df_backbone_options_default();
    st = df_preprocess_parse(m->preprocess, &bo.preprocess, err);
    if (st != DF_OK) goto fail;
    bo.pool = m->feature_dim == 512 && !strcmp(m->backbone_kind, "vgg16");
    /* Features as training computed them: the precision it resolved to,
     * unless the caller asks for another. */
    char *prec = df_json_get_string(m->training_json, "precision");
    if (prec) {
        df_error ignored;
        if (df_precision_parse(prec, &bo.precision, &ignored) != DF_OK) bo.precision = DF_PRECISION_AUTO;
        free(prec);
    }
    if (opt) {
        if (opt->precision != DF_PRECISION_AUTO) bo.precision = opt->precision;
        if (opt->max_batch > 0) bo.max_batch = opt->max_batch;
        /* Measuring algorithms costs seconds; for a photo at a time (predict)
         * that is more than it saves. Direct and Winograd agree to ~1e-6. */
        bo.autotune = bo.max_batch > 1;
        bo.notice = opt->notice;
        bo.notice_ctx = opt->notice_ctx;
    }
    char *cut = df_json_get_string(m->training_json, "cut_tensor");
    bo.cut_tensor = cut;
    st = df_backbone_open(m->backbone_kind, weights, &bo, &c->backbone, err);
    free(cut);
    if (st != DF_OK) goto fail;
    if (df_backbone_feature_dim(c->backbone) != (size_t)m->feature_dim) {
        st = df_error_set(err, DF_ERR_SHAPE, "%s: model expects %d features, backbone %s gives %zu",
                          model_path, m->feature_dim, weights, df_backbone_feature_dim(c->backbone));
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
    free(recorded);
    *out = c;
    return DF_OK;
fail:
    free(recorded);
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

df_status df_classifier_predict_photo(df_classifier *c, const char *path, int use_unknown, float *probs,
                                      df_prediction *out, df_error *err) {
    df_status st = df_classifier_predict_file(c, path, probs, err);
    if (st != DF_OK) return st;
    int C = c->model->meta.num_classes;
    out->best = 0;
    for (int k = 1; k < C; k++)
        if (probs[k] > probs[out->best]) out->best = k;
    out->unknown = 0;
    out->unknown_score = NAN;
    if (c->model->unknown) {
        out->unknown_score = df_unknown_score(c->model->unknown, c->features);
        out->unknown = use_unknown && !(out->unknown_score <= c->model->unknown->threshold);
    }
    return DF_OK;
}

df_status df_classifier_predict_file(df_classifier *c, const char *path, float *probs,
                                     df_error *err) {
    df_image img = {0};
    df_status st = df_train_load_photo(c->backbone, path, c->resize, &img, err);
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
