/*
 * deepfashion augment IMAGE --out DIR: shows what training feeds the
 * network for one photo. Writes DIR/original.png (decoded, EXIF-oriented,
 * resized to size x size) and DIR/augmented_01.png .. _K.png: the
 * augmentation of a training recipe (train/recipe.h: the default unless
 * --recipe says otherwise, with the same flags as train on top) of that
 * image as image index 0 sees it in epochs 0 .. K-1 for the given seed.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment/augment.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "image/image.h"
#include "train/recipe.h"

/* The recipe settings augment takes, as train does (same names, same table). */
static const char *const AUG_SETTINGS[] = {"shift",      "shear",    "zoom",       "rotation",
                                           "flip",       "no-flips", "zoom-in",    "zoom-out",
                                           "fill",       "brightness", "contrast", "saturation",
                                           "grayscale"};
enum { N_AUG = sizeof AUG_SETTINGS / sizeof AUG_SETTINGS[0] };

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion augment IMAGE --out DIR [--recipe R] [--count K] [--seed N] [--size S]\n"
            "                           [--resize area|nearest|bilinear] [augmentation flags]\n\n"
            "Writes DIR/original.png (IMAGE decoded, EXIF orientation applied, resized to\n"
            "S x S) and DIR/augmented_01.png .. augmented_K.png: the augmentation training\n"
            "applies to it (Keras ImageDataGenerator semantics) with the recipe's settings\n"
            "and the flags below over them, epochs 1..K of image 0 for seed N. The same seed\n"
            "gives the same files.\n\n"
            "options:\n"
            "  --out DIR             output folder, created if needed (required)\n"
            "  --recipe R            default (what train does by default) or original\n"
            "  --count K             number of augmented images, 1..999 (default 8)\n"
            "  --seed N              random seed (default 1)\n"
            "  --size S              side of the square input (default 224)\n"
            "  --resize M            area (default), nearest (what Keras does) or bilinear\n"
            "  --help                this text\n"
            "augmentation (as train):\n");
    int n;
    const df_setting *settings = df_settings(&n);
    for (int k = 0; k < N_AUG; k++) {
        const df_setting *st = &settings[df_setting_find(AUG_SETTINGS[k])];
        df_cli_flag f = {st->name, st->arg, st->group, st->help};
        df_cli_flag_help(out, &f);
    }
}

/* The recipe's augmentation with the given flags over it, in table order. */
static int augment_config(const char *recipe, const char *const given[N_AUG], df_augment_config *cfg) {
    df_recipe rc;
    df_error err;
    if (df_recipe_start(recipe, 1, NULL, &rc, &err) != DF_OK) return df_cli_usage_error("augment", "%s", err.message);
    for (int k = 0; k < N_AUG; k++)
        if (given[k] && df_recipe_set(&rc, AUG_SETTINGS[k], given[k], &err) != DF_OK)
            return df_cli_usage_error("augment", "%s", err.message);
    *cfg = rc.train.augment_config;
    if (df_augment_config_check(cfg, &err) != DF_OK) return df_cli_usage_error("augment", "%s", err.message);
    return -1;
}

int df_cmd_augment(int argc, char **argv) {
    enum { O_OUT = 1, O_COUNT, O_SEED, O_SIZE, O_RESIZE, O_RECIPE, O_AUG };
    static const struct option longopts[] = {{"out", required_argument, NULL, O_OUT},
                                             {"count", required_argument, NULL, O_COUNT},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"size", required_argument, NULL, O_SIZE},
                                             {"resize", required_argument, NULL, O_RESIZE},
                                             {"recipe", required_argument, NULL, O_RECIPE},
                                             {"shift", required_argument, NULL, O_AUG + 0},
                                             {"shear", required_argument, NULL, O_AUG + 1},
                                             {"zoom", required_argument, NULL, O_AUG + 2},
                                             {"rotation", required_argument, NULL, O_AUG + 3},
                                             {"flip", required_argument, NULL, O_AUG + 4},
                                             {"no-flips", no_argument, NULL, O_AUG + 5},
                                             {"zoom-in", required_argument, NULL, O_AUG + 6},
                                             {"zoom-out", required_argument, NULL, O_AUG + 7},
                                             {"fill", required_argument, NULL, O_AUG + 8},
                                             {"brightness", required_argument, NULL, O_AUG + 9},
                                             {"contrast", required_argument, NULL, O_AUG + 10},
                                             {"saturation", required_argument, NULL, O_AUG + 11},
                                             {"grayscale", required_argument, NULL, O_AUG + 12},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_dir = NULL, *recipe = "default", *given[N_AUG] = {0};
    long count = 8, seed = 1, size = 224;
    df_resize_method method = DF_RESIZE_AREA;
    df_augment_config cfg;
    df_error err;
    df_error_clear(&err);
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case O_OUT: out_dir = optarg; break;
        case O_COUNT:
            if (!df_cli_parse_int(optarg, 1, 999, &count))
                return df_cli_usage_error("augment", "--count wants an integer 1..999, got '%s'", optarg);
            break;
        case O_SEED:
            if (!df_cli_parse_int(optarg, 0, 0x7fffffffL, &seed))
                return df_cli_usage_error("augment", "--seed wants an integer 0..2147483647, got '%s'",
                                          optarg);
            break;
        case O_SIZE:
            if (!df_cli_parse_int(optarg, 8, 4096, &size))
                return df_cli_usage_error("augment", "--size wants an integer 8..4096, got '%s'", optarg);
            break;
        case O_RESIZE:
            if (df_resize_method_parse(optarg, &method, &err) != DF_OK)
                return df_cli_usage_error("augment", "--resize: %s", err.message);
            break;
        case O_RECIPE: recipe = optarg; break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':': return df_cli_usage_error("augment", "%s needs a value", argv[optind - 1]);
        default:
            if (ch >= O_AUG && ch < O_AUG + N_AUG) {
                given[ch - O_AUG] = optarg ? optarg : "";
                break;
            }
            return df_cli_usage_error("augment", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return df_cli_usage_error("augment", "needs an image");
    if (optind != argc - 1)
        return df_cli_usage_error("augment", "takes one image, got %d arguments", argc - optind);
    if (!out_dir) return df_cli_usage_error("augment", "needs --out DIR");
    const char *image_path = argv[optind];
    int rc = augment_config(recipe, given, &cfg);
    if (rc >= 0) return rc;

    df_image raw = {0}, input = {0}, aug = {0};
    char *path = NULL;
    df_status s;
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = (int)size; /* decode a big JPEG only as large as needed */
    lo.min_height = (int)size;
    if ((s = df_image_load(image_path, &lo, &raw, &err)) != DF_OK) goto fail;
    if ((s = df_image_resize(&raw, (int)size, (int)size, method, &input, &err)) != DF_OK) goto fail;
    if ((s = df_mkdir_p(out_dir, &err)) != DF_OK) goto fail;
    if (!(path = df_path_join(out_dir, "original.png"))) goto nomem;
    if ((s = df_image_write_png(&input, path, &err)) != DF_OK) goto fail;
    printf("%s: %dx%d -> %ldx%ld (%s)\n", path, raw.width, raw.height, size, size,
           df_resize_method_name(method));
    for (long k = 1; k <= count; k++) {
        df_rng rng;
        df_augment_params p;
        df_rng_seed_for(&rng, (uint64_t)seed, DF_STREAM_AUGMENT, 0, (uint64_t)(k - 1));
        df_augment_sample(&cfg, input.height, input.width, &rng, &p);
        if ((s = df_augment_apply(&input, &p, &aug, &err)) != DF_OK) goto fail;
        char name[48];
        snprintf(name, sizeof name, "augmented_%02ld.png", k);
        free(path);
        if (!(path = df_path_join(out_dir, name))) goto nomem;
        if ((s = df_image_write_png(&aug, path, &err)) != DF_OK) goto fail;
        printf("%s: tx %+.2f ty %+.2f px, shear %+.3f deg, zoom %.3f x %.3f, rotation %+.2f deg%s%s\n",
               path, p.tx, p.ty, p.shear, p.zx, p.zy, p.theta, p.flip_h ? ", flip h" : "",
               p.flip_v ? ", flip v" : "");
        if (p.scale != 0.0 || p.contrast != 0.0 || p.brightness != 0.0 || p.saturation != 0.0 || p.grayscale)
            printf("  scale %.3f, contrast %.3f, brightness %.3f, saturation %.3f%s\n", 1.0 + p.scale,
                   1.0 + p.contrast, 1.0 + p.brightness, 1.0 + p.saturation, p.grayscale ? ", grey" : "");
    }
    free(path);
    df_image_free(&raw);
    df_image_free(&input);
    df_image_free(&aug);
    return DF_EXIT_OK;
nomem:
    df_error_set(&err, DF_ERR_NOMEM, "augment: out of memory");
fail:
    free(path);
    df_image_free(&raw);
    df_image_free(&input);
    df_image_free(&aug);
    return df_cli_fail(&err);
}
