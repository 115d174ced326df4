/*
 * Seed corpus for fuzz_keras_h5: `keras_h5_seeds OUTDIR` writes Keras-layout
 * HDF5 weight files with the tests' writer (tests/support/h5_fixture.c): the
 * VGG16 "notop" layout in the old (block1_conv1_W_1:0, fixed-length names)
 * and new (block1_conv1/kernel:0, variable-length UTF-8) styles with datasets
 * that are created but never written (no space used, so the files stay a few
 * KiB and read as zeros), the same with one wrong shape, a layer group
 * missing, no layer_names, and a small two-layer file with real data.
 * Nothing third-party is copied.
 */
#include <stdio.h>
#include <string.h>

#include "support/h5_fixture.h"

/* VGG16's 13 convolutions (Keras applications), written out here so this
 * generator needs only libhdf5 (tests/cli_bad_input.sh builds it too). */
#define DF_VGG16_CONVS 13
#define NLAYERS (DF_VGG16_CONVS + 5)
static const int VGG_IN[DF_VGG16_CONVS] = {3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512};
static const int VGG_OUT[DF_VGG16_CONVS] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
static const int VGG_BLOCK[DF_VGG16_CONVS] = {1, 1, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5};

typedef struct vgg_layout {
    char names[NLAYERS][32];
    char wnames[DF_VGG16_CONVS][2][64];
    h5fx_layer layers[NLAYERS];
} vgg_layout;

/* wrong_conv >= 0: that conv's kernel gets half its output channels
 * (conv 7 is block4_conv1: (3, 3, 256, 256) instead of (3, 3, 256, 512)). */
static void vgg_make(vgg_layout *v, int new_style, int wrong_conv) {
    memset(v, 0, sizeof *v);
    int li = 0, block = 0, k = 0;
    for (int i = 0; i < DF_VGG16_CONVS; i++) {
        int ic = VGG_IN[i], oc = VGG_OUT[i];
        k = i > 0 && VGG_BLOCK[i] == VGG_BLOCK[i - 1] ? k + 1 : 1;
        snprintf(v->names[li], sizeof v->names[li], "block%d_conv%d", VGG_BLOCK[i], k);
        const char *n = v->names[li];
        snprintf(v->wnames[i][0], 64, new_style ? "%s/kernel:0" : "%s_W_1:0", n);
        snprintf(v->wnames[i][1], 64, new_style ? "%s/bias:0" : "%s_b_1:0", n);
        h5fx_layer *L = &v->layers[li++];
        L->name = n;
        L->n = 2;
        size_t koc = (size_t)oc / (i == wrong_conv ? 2 : 1);
        L->w[0] = (h5fx_weight){v->wnames[i][0], 4, {3, 3, (size_t)ic, koc}, NULL};
        L->w[1] = (h5fx_weight){v->wnames[i][1], 1, {(size_t)oc}, NULL};
        if (i + 1 == DF_VGG16_CONVS || VGG_BLOCK[i + 1] != VGG_BLOCK[i]) {
            snprintf(v->names[li], 32, "block%d_pool", ++block);
            v->layers[li].name = v->names[li];
            li++;
        }
    }
}

static int write(const char *dir, const char *name, const h5fx_layer *layers, int n,
                 h5fx_options o) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (h5fx_write_keras(path, layers, n, &o) != 0) {
        fprintf(stderr, "keras_h5_seeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: keras_h5_seeds OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static vgg_layout v;
    int rc = 0;
    vgg_make(&v, 0, -1);
    rc |= write(dir, "vgg16_old.h5", v.layers, NLAYERS, (h5fx_options){0, 1, NULL, 0});
    rc |= write(dir, "vgg16_missing_group.h5", v.layers, NLAYERS,
                (h5fx_options){0, 1, "block4_conv2", 0});
    rc |= write(dir, "vgg16_no_layer_names.h5", v.layers, NLAYERS, (h5fx_options){0, 1, NULL, 1});
    /* A layer name with a newline and a terminal escape sequence, listed
     * without a group: the error quotes it, and must still be one line that
     * does not drive the terminal. */
    static const char control_name[] = "block2\nconv1\033[31m";
    const char *kept = v.layers[3].name;
    v.layers[3].name = control_name;
    rc |= write(dir, "vgg16_control_name.h5", v.layers, NLAYERS, (h5fx_options){0, 1, control_name, 0});
    v.layers[3].name = kept;
    vgg_make(&v, 1, -1);
    rc |= write(dir, "vgg16_new.h5", v.layers, NLAYERS, (h5fx_options){1, 0, NULL, 0});
    vgg_make(&v, 0, 7);
    rc |= write(dir, "vgg16_wrong_shape.h5", v.layers, NLAYERS, (h5fx_options){0, 1, NULL, 0});

    /* Two small layers with data, a pool between, names listed differently
     * from the datasets in the second one. */
    static const float k[2 * 2 * 3 * 4] = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12,
                                           1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                           0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                           -1, -1, -1, -1, 2, 2, 2, 2, 3, 3, 3, 3};
    static const float b[4] = {0.5f, -0.5f, 0.25f, -0.25f};
    h5fx_layer small[3];
    memset(small, 0, sizeof small);
    small[0].name = "conv_a";
    small[0].n = 2;
    small[0].w[0] = (h5fx_weight){"conv_a/kernel:0", 4, {2, 2, 3, 4}, k};
    small[0].w[1] = (h5fx_weight){"conv_a/bias:0", 1, {4}, b};
    small[1].name = "pool";
    small[2].name = "dense";
    small[2].n = 2;
    small[2].w[0] = (h5fx_weight){"dense_W:0", 2, {12, 4}, k};
    small[2].w[1] = (h5fx_weight){"dense_b:0", 1, {4}, b};
    small[2].listed[1] = "dense_bias_missing:0";
    rc |= write(dir, "small.h5", small, 3, (h5fx_options){0, 1, NULL, 0});
    rc |= write(dir, "small_vlen.h5", small, 2, (h5fx_options){1, 0, NULL, 0});
    return rc ? 1 : 0;
}
