/*
 * Backbones: a frozen, pretrained network that turns a model-sized RGB image
 * into a feature vector. One interface, several implementations (vgg16.c on
 * a Keras HDF5 file, tflite_backbone.c on a TFLite flatbuffer).
 *
 *     df_backbone *bb; df_backbone_open("tflite", "mobilenet_v2.tflite", &opt, &bb, err);
 *     df_backbone_preprocess(bb, &img224, x, err);   // x: H*W*3 floats
 *     df_backbone_run(bb, xs, n, feats, err);        // feats: n * feature_dim
 *
 * Images given to preprocess must already be input_h x input_w (the data
 * pipeline resizes; df_backbone_resize_method says how this backbone wants it).
 */
#ifndef DF_BACKBONE_BACKBONE_H
#define DF_BACKBONE_BACKBONE_H

#include <stddef.h>
#include <stdint.h>

#include "backbone/pooling.h"
#include "core/error.h"
#include "engine/net.h"
#include "image/image.h"

typedef enum df_preprocess {
    DF_PREPROCESS_DEFAULT = 0, /* the backbone's own correct one */
    DF_PREPROCESS_CAFFE,       /* VGG16: RGB->BGR, minus ImageNet means, no scaling (Keras) */
    DF_PREPROCESS_SEED,        /* VGG16 as the original fed it: RGB / 255 */
    DF_PREPROCESS_TFLITE       /* as the TFLite input tensor's quantization says */
} df_preprocess;

df_status df_preprocess_parse(const char *s, df_preprocess *out, df_error *err);
const char *df_preprocess_name(df_preprocess p);

typedef struct df_backbone_options {
    df_precision precision;
    df_preprocess preprocess;
    /* VGG16: globally average-pool 7x7x512 to 512. */
    int pool;
    /* TFLite: tensor to cut at ("name" or "#index"); NULL = the globally
     * pooled feature just before the classifier, found automatically. */
    const char *cut_tensor;
    /* TFLite: how the map before the graph's global pool becomes the
     * features (pooling.h): mean = the graph's own pooled feature (the
     * default), regions = the backbone cut at the map (its last convolution
     * runs as before) and pooled into windows after the engine. Not with
     * cut_tensor. */
    df_pooling pooling;
    /* TFLite, float engine (fp32/bf16), for studies (`features
     * --input-size`, bench/features_ood.sh): run the graph at an S x S
     * input instead of the file's. The layers up to the cut must be
     * convolutional or global pools; the file's spatial shapes are then not
     * checked, only its channels, and a tensor the file has as 1x1 (a
     * global pool) must stay 1x1. 0 = the file's size. */
    int input_size;
    /* Measure convolution algorithms when building (see net.h). */
    int autotune;
    /* Convolution algorithm policy (net.h; default DF_CONV_ALGO_AUTO). */
    df_conv_algo conv_algo;
    /* Largest batch df_backbone_run will be given. */
    int max_batch;
    /* --precision auto: a folder where the race's choice is remembered per
     * CPU, model and shape (auto_cache.h); NULL = race every time. */
    const char *auto_cache_dir;
    /* --precision auto: race every engine best of 3 (net.h); set for a
     * race whose answer the cache will keep. */
    int race_best_of_3;
    void (*notice)(void *ctx, const char *message);
    void *notice_ctx;
} df_backbone_options;

df_backbone_options df_backbone_options_default(void);

typedef struct df_backbone df_backbone;

/* kind: "vgg16" or "tflite". */
df_status df_backbone_open(const char *kind, const char *weights_path,
                           const df_backbone_options *opt, df_backbone **out,
                           df_error *err) DF_MUST_CHECK;
/* The same from a weights file already in memory (a model's embedded
 * backbone), name standing for its path in messages and
 * df_backbone_source; the bytes are copied and may go after the call.
 * "tflite" only (VGG16's reader runs libhdf5 on a path): another kind is
 * DF_ERR_UNSUPPORTED. --precision auto races without the cache (its key is
 * a file's path and mtime). */
df_status df_backbone_open_bytes(const char *kind, const char *name, const uint8_t *bytes, size_t size,
                                 const df_backbone_options *opt, df_backbone **out, df_error *err) DF_MUST_CHECK;
void df_backbone_destroy(df_backbone *bb);

const char *df_backbone_kind(const df_backbone *bb);       /* "vgg16" / "tflite" */
const char *df_backbone_name(const df_backbone *bb);       /* e.g. "mobilenet_v2_1.0_224_quant" */
void df_backbone_input_size(const df_backbone *bb, int *h, int *w);
size_t df_backbone_feature_dim(const df_backbone *bb);
/* How the features are pooled from the last map (pooling.h). */
df_pooling df_backbone_pooling(const df_backbone *bb);
/* Features per window: the map's channels when pooled by regions, else
 * feature_dim (one window). */
size_t df_backbone_window_dim(const df_backbone *bb);
df_preprocess df_backbone_preprocess_mode(const df_backbone *bb);
df_resize_method df_backbone_resize_method(const df_backbone *bb);
df_precision df_backbone_precision(const df_backbone *bb);
/* The batch the network is shaped for: df_backbone_run takes any n, but a
 * call with fewer images still costs a full batch (the engine pads), so
 * callers feed it batches of exactly this size but the last. */
int df_backbone_max_batch(const df_backbone *bb);
const char *df_backbone_source(const df_backbone *bb); /* the weights file's path */

/* img must be input_w x input_h; out receives H*W*3 floats (NHWC). */
df_status df_backbone_preprocess(const df_backbone *bb, const df_image *img, float *out,
                                 df_error *err) DF_MUST_CHECK;
/* inputs: n preprocessed images; features: n * feature_dim floats. */
df_status df_backbone_run(df_backbone *bb, const float *inputs, int n, float *features,
                          df_error *err) DF_MUST_CHECK;
/* 1 when the backbone can take images as their RGB bytes (an integer
 * engine on a quantized input: the bytes are its input values, so the
 * preprocessing's floats and their quantization are skipped); then
 * df_backbone_run_pixels on n images of input_h x input_w x 3 bytes gives
 * exactly what df_backbone_run gives on their df_backbone_preprocess. */
int df_backbone_takes_pixels(const df_backbone *bb);
/* img (input_w x input_h, checked as df_backbone_preprocess checks it) as
 * df_backbone_run_pixels takes it: its H*W*3 bytes. */
df_status df_backbone_copy_pixels(const df_backbone *bb, const df_image *img, uint8_t *out,
                                  df_error *err) DF_MUST_CHECK;
df_status df_backbone_run_pixels(df_backbone *bb, const uint8_t *pixels, int n, float *features,
                                 df_error *err) DF_MUST_CHECK;

/* ---- for implementations only ---- */
typedef struct df_backbone_vtable {
    const char *kind;
    df_status (*preprocess)(const df_backbone *bb, const df_image *img, float *out, df_error *err);
    df_status (*run)(df_backbone *bb, const float *inputs, int n, float *features, df_error *err);
    int (*takes_pixels)(const df_backbone *bb);  /* NULL: never */
    df_status (*run_pixels)(df_backbone *bb, const uint8_t *pixels, int n, float *features, df_error *err);
    void (*destroy)(df_backbone *bb);
} df_backbone_vtable;

struct df_backbone {
    const df_backbone_vtable *vt;
    char name[128];
    int input_h, input_w;
    size_t feature_dim;
    df_preprocess preprocess;
    df_resize_method resize;
    df_precision precision;  /* what it actually runs in */
    int max_batch;           /* the batch the network is reshaped to */
    char source[1024];       /* the weights file it was opened from */
    int pool;                /* VGG16: globally average-pooled features */
    char cut_tensor[128];    /* TFLite: the cut asked for, "" = automatic */
    df_pooling pooling;      /* regions: the engine returns the map, pooled by df_backbone_run */
    int map_h, map_w, map_c; /* regions: the map's shape */
    float *map_buf;          /* regions: max_batch maps, owned by backbone.c */
    int64_t num_params;      /* weights in the network as run (0 = unknown) */
    int raced;               /* --precision auto timed engines to choose the precision */
    void *impl;              /* owned by the implementation */
};

/* Implemented in vgg16.c and tflite_backbone.c; fill *out on success. */
df_status df_vgg16_open(const char *weights_path, const df_backbone_options *opt,
                        df_backbone **out, df_error *err) DF_MUST_CHECK;
df_status df_tflite_backbone_open(const char *weights_path, const df_backbone_options *opt,
                                  df_backbone **out, df_error *err) DF_MUST_CHECK;
df_status df_tflite_backbone_open_bytes(const char *name, const uint8_t *bytes, size_t size,
                                        const df_backbone_options *opt, df_backbone **out,
                                        df_error *err) DF_MUST_CHECK;

#endif
