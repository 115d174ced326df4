/*
 * VGG16 without its classifier top (Keras applications), as a backbone.
 * df_vgg16_open (backbone.h) loads the Keras "notop" HDF5 file; these extra
 * entry points serve benchmarks (random weights) and tests (smaller inputs).
 */
#ifndef DF_BACKBONE_VGG16_H
#define DF_BACKBONE_VGG16_H

#include <stdint.h>

#include "backbone/backbone.h"

#define DF_VGG16_CONVS 13

typedef struct df_vgg16_source {
    /* Keras weights file; NULL = deterministic He-uniform random weights from
     * seed (legitimate for timing only: the features mean nothing). */
    const char *weights_path;
    uint64_t seed;
    /* 0 = 224 x 224. Tests use smaller inputs to keep references cheap. */
    int input_h, input_w;
} df_vgg16_source;

df_status df_vgg16_open_source(const df_vgg16_source *src, const df_backbone_options *opt, df_backbone **out,
                               df_error *err) DF_MUST_CHECK;
df_status df_vgg16_open_random(uint64_t seed, const df_backbone_options *opt, df_backbone **out,
                               df_error *err) DF_MUST_CHECK;

/* Channels of conv i (0..12) and whether a 2x2/2 max-pool follows it. */
void df_vgg16_conv_channels(int i, int *in_c, int *out_c);
int df_vgg16_pool_after(int i);
/* Keras' name for conv i: "block<b>_conv<k>". */
void df_vgg16_conv_name(int i, char *buf, size_t size);

/* The 13 convolutions' weights as the Keras file holds them (the exporter
 * writes them into a TFLite graph): kernel[i] HWIO (3, 3, in_c, out_c),
 * bias[i] (out_c), all owned. load checks the file as df_vgg16_open does. */
typedef struct df_vgg16_weights {
    float *kernel[DF_VGG16_CONVS];
    float *bias[DF_VGG16_CONVS];
} df_vgg16_weights;

df_status df_vgg16_weights_load(const char *path, df_vgg16_weights *out,
                                df_error *err) DF_MUST_CHECK;
void df_vgg16_weights_free(df_vgg16_weights *w);

/* The backbone's engine net (for describe / flops in benchmarks). */
const df_net *df_vgg16_net(const df_backbone *bb);

#endif
