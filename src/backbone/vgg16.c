/*
 * VGG16 without top (keras.applications.vgg16, include_top=False) on the
 * engine: 13 conv 3x3/1 "same" + ReLU, a 2x2/2 max-pool after each of the 5
 * blocks, 224x224x3 -> 7x7x512 flattened in (H, W, C) order (25,088), or
 * globally average-pooled to 512 with opt->pool.
 *
 * Weights come from the Keras HDF5 file loaded by ORDER as Keras does
 * (SPEC 3): the k-th layer with weights gets the k-th group with a non-empty
 * weight_names, kernel then bias. Every shape is checked before anything is
 * read. Kernels are HWIO and used as cross-correlation; they are transposed
 * to the engine's OHWI one layer at a time, so the file is never held whole.
 * Preprocessing: caffe (Keras' preprocess_input: RGB->BGR minus the
 * ImageNet means, no scaling; the default) or seed (RGB / 255, what the
 * original notebook fed).
 */
#include "backbone/vgg16.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "formats/keras_h5.h"

static const int VGG16_OUT[DF_VGG16_CONVS] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
static const int VGG16_BLOCK[DF_VGG16_CONVS] = {1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5};

void df_vgg16_conv_channels(int i, int *in_c, int *out_c) {
    *in_c = i == 0 ? 3 : VGG16_OUT[i - 1];
    *out_c = VGG16_OUT[i];
}

int df_vgg16_pool_after(int i) { return i == DF_VGG16_CONVS - 1 || VGG16_BLOCK[i + 1] != VGG16_BLOCK[i]; }

void df_vgg16_conv_name(int i, char *buf, size_t size) {
    int k = 1;
    for (int j = i - 1; j >= 0 && VGG16_BLOCK[j] == VGG16_BLOCK[i]; j--) k++;
    snprintf(buf, size, "block%d_conv%d", VGG16_BLOCK[i], k);
}

typedef struct vgg16 {
    df_net *net;
    int max_batch;
    size_t in_per, feat_per; /* floats per image */
} vgg16;

static df_status vgg16_preprocess(const df_backbone *bb, const df_image *img, float *out, df_error *err) {
    size_t n = (size_t)img->width * img->height;
    const uint8_t *px = img->pixels;
    if (bb->preprocess == DF_PREPROCESS_SEED) {
        for (size_t i = 0; i < 3 * n; i++) out[i] = px[i] / 255.0f;
    } else {
        for (size_t i = 0; i < n; i++) {
            out[3 * i + 0] = px[3 * i + 2] - 103.939f;
            out[3 * i + 1] = px[3 * i + 1] - 116.779f;
            out[3 * i + 2] = px[3 * i + 0] - 123.68f;
        }
    }
    (void)err;
    return DF_OK;
}

/* Runs in chunks of the reshaped batch; the net never allocates. */
static df_status vgg16_run(df_backbone *bb, const float *inputs, int n, float *features, df_error *err) {
    vgg16 *v = bb->impl;
    for (int done = 0; done < n;) {
        int k = n - done < v->max_batch ? n - done : v->max_batch;
        df_status st = df_net_run(v->net, inputs + (size_t)done * v->in_per, k, features + (size_t)done * v->feat_per,
                                  err);
        if (st) return df_error_prefix(err, "%s", bb->name);
        done += k;
    }
    return DF_OK;
}

static void vgg16_destroy(df_backbone *bb) {
    vgg16 *v = bb->impl;
    if (v) df_net_destroy(v->net);
    free(v);
    free(bb);
}

static const df_backbone_vtable VGG16_VT = {"vgg16", vgg16_preprocess, vgg16_run, NULL, NULL, vgg16_destroy};

const df_net *df_vgg16_net(const df_backbone *bb) { return ((const vgg16 *)bb->impl)->net; }

/* Checks layer count, weight count and every shape before reading data. */
static df_status check_file(df_keras_h5 *f, df_error *err) {
    const char *path = df_keras_h5_path(f);
    int n = df_keras_h5_weighted_count(f);
    if (n != DF_VGG16_CONVS)
        return df_error_set(err, DF_ERR_SHAPE, "%s: %d layers with weights, VGG16 without top has %d%s", path, n,
                            DF_VGG16_CONVS,
                            n == DF_VGG16_CONVS + 3 ? " (this looks like the file with the classifier top; use the "
                                                      "_notop.h5 one)"
                                                    : "");
    for (int i = 0; i < n; i++) {
        char want_name[32];
        df_vgg16_conv_name(i, want_name, sizeof want_name);
        const char *lname = df_keras_h5_weighted_name(f, i);
        if (df_keras_h5_weight_count(f, i) != 2)
            return df_error_set(err, DF_ERR_SHAPE, "%s: layer '%s' (VGG16 %s) has %d weights, expected 2 (kernel, bias)",
                                path, lname, want_name, df_keras_h5_weight_count(f, i));
        int in_c, out_c;
        df_vgg16_conv_channels(i, &in_c, &out_c);
        const size_t want[2][4] = {{3, 3, (size_t)in_c, (size_t)out_c}, {(size_t)out_c, 0, 0, 0}};
        const int want_rank[2] = {4, 1};
        for (int j = 0; j < 2; j++) {
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            df_status st = df_keras_h5_weight_shape(f, i, j, &rank, dims, err);
            if (st) return st;
            int same = rank == want_rank[j];
            for (int k = 0; same && k < rank; k++) same = dims[k] == want[j][k];
            if (!same) {
                char ws[128], fs[128];
                df_keras_h5_format_shape(want_rank[j], want[j], ws, sizeof ws);
                df_keras_h5_format_shape(rank, dims, fs, sizeof fs);
                return df_error_set(err, DF_ERR_SHAPE, "%s: layer '%s' (VGG16 %s) %s '%s' has shape %s, expected %s",
                                    path, lname, want_name, j ? "bias" : "kernel", df_keras_h5_weight_name(f, i, j), fs,
                                    ws);
            }
        }
    }
    return DF_OK;
}

/* Fills conv i's OHWI kernel and bias, from the file or from the seed. */
static df_status layer_weights(df_keras_h5 *f, uint64_t seed, int i, float *hwio, float *ohwi, float *bias,
                               df_error *err) {
    int ic, oc;
    df_vgg16_conv_channels(i, &ic, &oc);
    if (!f) {
        /* He-uniform, so activations keep their size through 13 ReLU layers. */
        df_rng rng;
        df_rng_seed_for(&rng, seed, DF_STREAM_INIT, (uint64_t)i, 0);
        float lim = sqrtf(6.0f / (9.0f * ic));
        for (size_t k = 0; k < (size_t)oc * 9 * ic; k++) ohwi[k] = df_rng_uniform_range(&rng, -lim, lim);
        for (int o = 0; o < oc; o++) bias[o] = df_rng_uniform_range(&rng, -0.05f, 0.05f);
        return DF_OK;
    }
    const size_t kd[4] = {3, 3, (size_t)ic, (size_t)oc}, bd[1] = {(size_t)oc};
    df_status st = df_keras_h5_read(f, i, 0, 4, kd, hwio, err);
    if (!st) st = df_keras_h5_read(f, i, 1, 1, bd, bias, err);
    if (st) return st;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++)
            for (int c = 0; c < ic; c++)
                for (int o = 0; o < oc; o++)
                    ohwi[(((size_t)o * 3 + y) * 3 + x) * ic + c] = hwio[(((size_t)y * 3 + x) * ic + c) * oc + o];
    return DF_OK;
}

df_status df_vgg16_open_source(const df_vgg16_source *src, const df_backbone_options *opt, df_backbone **out,
                               df_error *err) {
    df_status status = DF_OK;
    df_keras_h5 *f = NULL;
    df_backbone *bb = NULL;
    vgg16 *v = NULL;
    float *hwio = NULL, *ohwi = NULL, *bias = NULL;
    df_backbone_options def = df_backbone_options_default();
    if (!opt) opt = &def;
    *out = NULL;
    int in_h = src->input_h ? src->input_h : 224, in_w = src->input_w ? src->input_w : 224;
    if (in_h < 32 || in_w < 32 || in_h > 4096 || in_w > 4096)
        return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16: input %dx%d must be 32..4096 per side", in_w, in_h);
    if (opt->max_batch < 1 || opt->max_batch > 4096)
        return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16: max batch %d must be 1..4096", opt->max_batch);
    df_preprocess pre = opt->preprocess == DF_PREPROCESS_DEFAULT ? DF_PREPROCESS_CAFFE : opt->preprocess;
    if (pre != DF_PREPROCESS_CAFFE && pre != DF_PREPROCESS_SEED)
        return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16 takes caffe or seed preprocessing, not %s",
                            df_preprocess_name(pre));

    if (src->weights_path) {
        status = df_keras_h5_open(src->weights_path, &f, err);
        if (!status) status = check_file(f, err);
        if (status) goto fail;
    }
    bb = calloc(1, sizeof *bb);
    v = calloc(1, sizeof *v);
    hwio = malloc((size_t)512 * 512 * 9 * sizeof *hwio);
    ohwi = malloc((size_t)512 * 512 * 9 * sizeof *ohwi);
    bias = malloc(512 * sizeof *bias);
    if (!bb || !v || !hwio || !ohwi || !bias) {
        free(v);
        v = NULL;
        status = df_error_set(err, DF_ERR_NOMEM, "vgg16: out of memory");
        goto fail;
    }
    bb->vt = &VGG16_VT;
    bb->impl = v;

    df_net_options no = df_net_options_default();
    no.precision = opt->precision;
    no.autotune = opt->autotune;
    no.race_best_of_3 = opt->race_best_of_3;
    no.conv_algo = opt->conv_algo;
    no.notice = opt->notice;
    no.notice_ctx = opt->notice_ctx;
    status = df_net_create(&no, &v->net, err);
    if (status) goto fail;
    df_tensor_id t;
    status = df_net_input(v->net, in_h, in_w, 3, &t, err);
    for (int i = 0; !status && i < DF_VGG16_CONVS; i++) {
        int ic, oc;
        df_vgg16_conv_channels(i, &ic, &oc);
        status = layer_weights(f, src->seed, i, hwio, ohwi, bias, err);
        if (status) break;
        df_conv2d_desc d = {oc, 3, 3, 1, 1, 1, 1, 1, 1, 1, DF_ACT_RELU, ohwi, bias};
        status = df_net_conv2d(v->net, t, &d, &t, err);
        if (!status && df_vgg16_pool_after(i)) {
            df_pool2d_desc p = {DF_POOL_MAX, 2, 2, 2, 2, 0, 0, 0, 0};
            status = df_net_pool2d(v->net, t, &p, &t, err);
        }
    }
    if (!status && opt->pool) status = df_net_global_avgpool(v->net, t, &t, err);
    if (!status) status = df_net_set_output(v->net, t, err);
    free(hwio);
    free(ohwi);
    free(bias);
    hwio = ohwi = bias = NULL;
    df_keras_h5_close(f); /* the net holds its own copies now */
    f = NULL;
    if (!status) status = df_net_reshape(v->net, opt->max_batch, err);
    if (status) goto fail;

    int oh, ow, oc;
    status = df_net_tensor_shape(v->net, t, &oh, &ow, &oc, err);
    if (status) goto fail;
    v->max_batch = opt->max_batch;
    v->in_per = (size_t)in_h * in_w * 3;
    v->feat_per = (size_t)oh * ow * oc;
    if (src->weights_path)
        snprintf(bb->name, sizeof bb->name, "vgg16");
    else
        snprintf(bb->name, sizeof bb->name, "vgg16-random-seed%llu", (unsigned long long)src->seed);
    bb->input_h = in_h;
    bb->input_w = in_w;
    bb->feature_dim = v->feat_per;
    bb->preprocess = pre;
    bb->resize = DF_RESIZE_AREA;
    bb->precision = df_net_precision(v->net);
    bb->raced = df_net_raced(v->net);
    bb->num_params = df_net_num_params(v->net);
    *out = bb;
    return DF_OK;
fail:
    free(hwio);
    free(ohwi);
    free(bias);
    df_keras_h5_close(f);
    if (bb) vgg16_destroy(bb);
    else free(v);
    return status;
}

void df_vgg16_weights_free(df_vgg16_weights *w) {
    if (!w) return;
    for (int i = 0; i < DF_VGG16_CONVS; i++) {
        free(w->kernel[i]);
        free(w->bias[i]);
    }
    memset(w, 0, sizeof *w);
}

df_status df_vgg16_weights_load(const char *path, df_vgg16_weights *out, df_error *err) {
    memset(out, 0, sizeof *out);
    df_keras_h5 *f = NULL;
    df_status st = df_keras_h5_open(path, &f, err);
    if (!st) st = check_file(f, err);
    for (int i = 0; !st && i < DF_VGG16_CONVS; i++) {
        int ic, oc;
        df_vgg16_conv_channels(i, &ic, &oc);
        const size_t kd[4] = {3, 3, (size_t)ic, (size_t)oc}, bd[1] = {(size_t)oc};
        out->kernel[i] = malloc((size_t)9 * ic * oc * sizeof(float));
        out->bias[i] = malloc((size_t)oc * sizeof(float));
        if (!out->kernel[i] || !out->bias[i]) st = df_error_set(err, DF_ERR_NOMEM, "vgg16: out of memory");
        if (!st) st = df_keras_h5_read(f, i, 0, 4, kd, out->kernel[i], err);
        if (!st) st = df_keras_h5_read(f, i, 1, 1, bd, out->bias[i], err);
    }
    df_keras_h5_close(f);
    if (st) df_vgg16_weights_free(out);
    return st;
}

df_status df_vgg16_open(const char *weights_path, const df_backbone_options *opt, df_backbone **out, df_error *err) {
    if (!weights_path)
        return df_error_set(err, DF_ERR_INVALID_ARG, "vgg16 needs a weights file (Keras _notop.h5)");
    df_vgg16_source src = {weights_path, 0, 0, 0};
    return df_vgg16_open_source(&src, opt, out, err);
}

df_status df_vgg16_open_random(uint64_t seed, const df_backbone_options *opt, df_backbone **out, df_error *err) {
    df_vgg16_source src = {NULL, seed, 0, 0};
    return df_vgg16_open_source(&src, opt, out, err);
}
