/*
 * deepfashion features: runs a backbone over images and writes their feature
 * vectors as an N x F float32 .npy (rows in argument order), atomically: on
 * any error nothing is left under the output name.
 *
 * Images are decoded with EXIF orientation applied (and JPEG DCT scaling
 * down to no smaller than the model input), then stretched to the model
 * input with the backbone's resize method, unless --no-resize, where an
 * image of another size is an error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/backbone.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "formats/npy.h"
#include "image/image.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion features --backbone vgg16|tflite --weights FILE --out FEATS.npy\n"
            "                            [options] IMAGE...\n\n"
            "Writes one feature vector per image (rows in argument order) as an N x F\n"
            "float32 NumPy file.\n\n"
            "options:\n"
            "  --backbone NAME     vgg16 (Keras _notop.h5 weights) or tflite (a .tflite model)\n"
            "  --weights FILE      the weights / model file\n"
            "  --out FILE          the .npy to write (replaced atomically)\n"
            "  --precision P       auto (default: the fastest of fp32, bf16 and, for quantized\n"
            "                      TFLite models, int8), fp32, bf16, int8\n"
            "  --preprocess P      caffe (VGG16 default: BGR minus ImageNet means), seed\n"
            "                      (RGB / 255, as the original notebook), tflite\n"
            "  --pool              VGG16: average-pool 7x7x512 to 512 features\n"
            "  --cut TENSOR        tflite: the tensor to write (name or #index, as `train\n"
            "                      --cut`; default: the pooled feature)\n"
            "  --input-size S      tflite, fp32/bf16, for studies: run the model at S x S\n"
            "                      instead of its file's input size (cut before a global\n"
            "                      pool that is a fixed window, e.g. --cut @feature_map)\n"
            "  --no-resize         images must already be the model's input size\n"
            "  --batch N           images per engine run (default 8)\n"
            "  --help              this text\n\n"
            "Exit status: 0 written, 1 failure (one line on stderr, nothing written),\n"
            "2 usage error.\n");
}

static void on_notice(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "deepfashion: note: %s\n", msg);
}

/* Loads one image and turns it into the backbone's input. */
static df_status prepare(const df_backbone *bb, const char *path, int no_resize, float *x, df_error *err) {
    int ih, iw;
    df_backbone_input_size(bb, &ih, &iw);
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = no_resize ? 0 : iw;
    lo.min_height = no_resize ? 0 : ih;
    df_image img = {0, 0, NULL}, sized = {0, 0, NULL};
    df_status st = df_image_load(path, &lo, &img, err);
    if (st) return st;
    const df_image *use = &img;
    if (img.width != iw || img.height != ih) {
        if (no_resize) {
            st = df_error_set(err, DF_ERR_SHAPE, "%s: image is %dx%d, %s needs %dx%d (--no-resize given)", path,
                              img.width, img.height, df_backbone_name(bb), iw, ih);
            goto done;
        }
        st = df_image_resize(&img, iw, ih, df_backbone_resize_method(bb), &sized, err);
        if (st) {
            df_error_prefix(err, "%s", path);
            goto done;
        }
        use = &sized;
    }
    st = df_backbone_preprocess(bb, use, x, err);
    if (st) df_error_prefix(err, "%s", path);
done:
    df_image_free(&img);
    df_image_free(&sized);
    return st;
}

int df_cmd_features(int argc, char **argv) {
    static const struct option longopts[] = {
        {"backbone", required_argument, NULL, 'b'}, {"weights", required_argument, NULL, 'w'},
        {"out", required_argument, NULL, 'o'},      {"precision", required_argument, NULL, 'p'},
        {"preprocess", required_argument, NULL, 'P'}, {"pool", no_argument, NULL, 'g'},
        {"no-resize", no_argument, NULL, 'n'},      {"batch", required_argument, NULL, 'B'},
        {"cut", required_argument, NULL, 'u'},      {"help", no_argument, NULL, 'h'},
        {"input-size", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0}};
    const char *kind = NULL, *weights = NULL, *out_path = NULL;
    df_backbone_options opt = df_backbone_options_default();
    int no_resize = 0;
    long batch = 8;
    df_error err;
    optind = 1;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1) break;
        switch (c) {
        case 'b': kind = optarg; break;
        case 'w': weights = optarg; break;
        case 'o': out_path = optarg; break;
        case 'p':
            if (df_precision_parse(optarg, &opt.precision, &err))
                return df_cli_usage_error("features", "%s", err.message);
            break;
        case 'P':
            if (df_preprocess_parse(optarg, &opt.preprocess, &err))
                return df_cli_usage_error("features", "%s", err.message);
            break;
        case 'g': opt.pool = 1; break;
        case 'u': opt.cut_tensor = optarg; break;
        case 'n': no_resize = 1; break;
        case 'S': {
            long size;
            if (!df_cli_parse_int(optarg, 32, 4096, &size))
                return df_cli_usage_error("features", "--input-size '%s' must be an integer in 32..4096", optarg);
            opt.input_size = (int)size;
            break;
        }
        case 'B':
            if (!df_cli_parse_int(optarg, 1, 1024, &batch))
                return df_cli_usage_error("features", "--batch '%s' must be an integer in 1..1024", optarg);
            break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':': return df_cli_usage_error("features", "%s needs a value", argv[optind - 1]);
        default: return df_cli_usage_error("features", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!kind) return df_cli_usage_error("features", "--backbone is required (vgg16 or tflite)");
    if (strcmp(kind, "vgg16") && strcmp(kind, "tflite"))
        return df_cli_usage_error("features", "--backbone '%s' is not one of vgg16, tflite", kind);
    if (!weights) return df_cli_usage_error("features", "--weights is required");
    if (!out_path) return df_cli_usage_error("features", "--out is required");
    int n = argc - optind;
    if (n < 1) return df_cli_usage_error("features", "no images given");
    char **images = argv + optind;

    opt.max_batch = (int)(batch < n ? batch : n);
    opt.notice = on_notice;
    char cache_dir[1024];
    opt.auto_cache_dir = df_cli_cache_dir(cache_dir, sizeof cache_dir);
    df_backbone *bb = NULL;
    float *x = NULL, *feats = NULL;
    df_npy_writer w = {0};
    int rc = DF_EXIT_FAIL;
    if (df_backbone_open(kind, weights, &opt, &bb, &err)) goto fail;
    int ih, iw;
    df_backbone_input_size(bb, &ih, &iw);
    size_t per_in = (size_t)ih * iw * 3, dim = df_backbone_feature_dim(bb);
    x = malloc((size_t)opt.max_batch * per_in * sizeof *x);
    feats = malloc((size_t)opt.max_batch * dim * sizeof *feats);
    if (!x || !feats) {
        df_error_set(&err, DF_ERR_NOMEM, "out of memory for a batch of %d images", opt.max_batch);
        goto fail;
    }
    if (df_npy_begin(&w, out_path, (size_t)n, dim, &err)) goto fail;
    for (int done = 0; done < n;) {
        int k = n - done < opt.max_batch ? n - done : opt.max_batch;
        for (int i = 0; i < k; i++)
            if (prepare(bb, images[done + i], no_resize, x + (size_t)i * per_in, &err)) goto fail;
        if (df_backbone_run(bb, x, k, feats, &err)) goto fail;
        if (df_npy_append(&w, feats, (size_t)k, &err)) goto fail;
        done += k;
    }
    if (df_npy_finish(&w, &err)) goto fail;
    fprintf(stderr, "deepfashion: wrote %d x %zu features (%s, %s, %s) to %s\n", n, dim, df_backbone_name(bb),
            df_precision_name(df_backbone_precision(bb)), df_preprocess_name(df_backbone_preprocess_mode(bb)),
            out_path);
    rc = DF_EXIT_OK;
fail:
    if (rc != DF_EXIT_OK) {
        df_npy_abort(&w);
        rc = df_cli_fail(&err);
    }
    free(x);
    free(feats);
    df_backbone_destroy(bb);
    return rc;
}
