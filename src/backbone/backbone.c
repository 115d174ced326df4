/* Backbone dispatch: one interface over the VGG16 and TFLite implementations. */
#include "backbone/backbone.h"

#include <stdio.h>
#include <string.h>

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

df_status df_backbone_open(const char *kind, const char *weights_path,
                           const df_backbone_options *opt, df_backbone **out, df_error *err) {
    *out = NULL;
    df_backbone_options def = df_backbone_options_default();
    if (!opt) opt = &def;
    if (opt->max_batch < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "max batch %d must be >= 1", opt->max_batch);
    df_status st;
    if (!strcmp(kind, "vgg16")) st = df_vgg16_open(weights_path, opt, out, err);
    else if (!strcmp(kind, "tflite")) st = df_tflite_backbone_open(weights_path, opt, out, err);
    else return df_error_set(err, DF_ERR_INVALID_ARG, "backbone '%s' is not one of vgg16, tflite", kind);
    if (st != DF_OK) return st;
    df_backbone *bb = *out;
    bb->max_batch = opt->max_batch;
    snprintf(bb->source, sizeof bb->source, "%s", weights_path ? weights_path : "");
    bb->pool = !strcmp(kind, "vgg16") && opt->pool;
    snprintf(bb->cut_tensor, sizeof bb->cut_tensor, "%s", opt->cut_tensor ? opt->cut_tensor : "");
    return DF_OK;
}

void df_backbone_destroy(df_backbone *bb) {
    if (bb && bb->vt && bb->vt->destroy) bb->vt->destroy(bb);
}

const char *df_backbone_kind(const df_backbone *bb) { return bb->vt->kind; }
const char *df_backbone_name(const df_backbone *bb) { return bb->name; }
void df_backbone_input_size(const df_backbone *bb, int *h, int *w) {
    *h = bb->input_h;
    *w = bb->input_w;
}
size_t df_backbone_feature_dim(const df_backbone *bb) { return bb->feature_dim; }
df_preprocess df_backbone_preprocess_mode(const df_backbone *bb) { return bb->preprocess; }
df_resize_method df_backbone_resize_method(const df_backbone *bb) { return bb->resize; }
df_precision df_backbone_precision(const df_backbone *bb) { return bb->precision; }
int df_backbone_max_batch(const df_backbone *bb) { return bb->max_batch > 0 ? bb->max_batch : 1; }
const char *df_backbone_source(const df_backbone *bb) { return bb->source; }

df_status df_backbone_preprocess(const df_backbone *bb, const df_image *img, float *out,
                                 df_error *err) {
    if (img->width != bb->input_w || img->height != bb->input_h)
        return df_error_set(err, DF_ERR_SHAPE, "%s expects %dx%d input, got %dx%d", bb->name,
                            bb->input_w, bb->input_h, img->width, img->height);
    return bb->vt->preprocess(bb, img, out, err);
}

df_status df_backbone_run(df_backbone *bb, const float *inputs, int n, float *features,
                          df_error *err) {
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "batch of %d images", n);
    return bb->vt->run(bb, inputs, n, features, err);
}
