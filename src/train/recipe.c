/* Recipes and the table of training settings (see recipe.h). */
#include "train/recipe.h"

#include <stdio.h>
#include <string.h>

#include "core/parse.h"

static df_status bad_int(const char *name, const char *v, long lo, long hi, df_error *err) {
    return df_error_set(err, DF_ERR_INVALID_ARG, "--%s '%s' is not an integer in [%ld, %ld]", name, v ? v : "",
                        lo, hi);
}

static df_status bad_float(const char *name, const char *v, double lo, double hi, df_error *err) {
    return df_error_set(err, DF_ERR_INVALID_ARG, "--%s '%s' is not a number in [%g, %g]", name, v ? v : "", lo,
                        hi);
}

/* Setters: one small function per setting, made by these macros where the
 * setting is a bounded number stored in one field. */
#define INT_SETTING(fn, flag, lo, hi, field)                                     \
    static df_status fn(df_recipe *r, const char *v, df_error *err) {            \
        long x;                                                                  \
        if (!df_parse_int(v, lo, hi, &x)) return bad_int(flag, v, lo, hi, err);  \
        r->field = (int)x;                                                       \
        return DF_OK;                                                            \
    }
#define FLOAT_SETTING(fn, flag, lo, hi, field)                                          \
    static df_status fn(df_recipe *r, const char *v, df_error *err) {                   \
        double x;                                                                       \
        if (!df_parse_float(v, lo, hi, &x)) return bad_float(flag, v, lo, hi, err);    \
        r->field = (float)x;                                                            \
        return DF_OK;                                                                   \
    }

INT_SETTING(set_folds, "folds", 2, 20, folds)
INT_SETTING(set_units, "units", 1, 65536, train.head.units)
FLOAT_SETTING(set_dropout, "dropout", 0.0, 0.95, train.head.dropout)
FLOAT_SETTING(set_l2, "l2", 0.0, 10.0, train.head.l2)
FLOAT_SETTING(set_lr, "lr", 1e-9, 10.0, train.adam.lr)
FLOAT_SETTING(set_wd, "weight-decay", 0.0, 1.0, train.adam.weight_decay)
INT_SETTING(set_epochs, "epochs", 1, 100000, train.epochs)
INT_SETTING(set_batch, "batch", 1, 4096, train.batch_size)
INT_SETTING(set_steps, "steps-per-epoch", 0, 1000000, train.steps_per_epoch)
INT_SETTING(set_early, "early-stop", 0, 100000, train.early_stop_patience)
INT_SETTING(set_cache, "feature-cache", 0, 1000, train.feature_cache)

static df_status set_aug_range(double *dst, const char *flag, const char *v, double hi, df_error *err) {
    double x;
    if (!df_parse_float(v, 0.0, hi, &x)) return bad_float(flag, v, 0.0, hi, err);
    *dst = x;
    return DF_OK;
}

static df_status set_shift(df_recipe *r, const char *v, df_error *err) {
    df_status st = set_aug_range(&r->train.augment_config.width_shift, "shift", v, 0.99, err);
    r->train.augment_config.height_shift = r->train.augment_config.width_shift;
    return st;
}
static df_status set_shear(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.shear_deg, "shear", v, 89.0, err);
}
static df_status set_zoom(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.zoom, "zoom", v, 0.99, err);
}
static df_status set_rotation(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.rotation_deg, "rotation", v, 180.0, err);
}

static df_status set_zoom_in(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.zoom_in, "zoom-in", v, 0.99, err);
}
static df_status set_zoom_out(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.zoom_out, "zoom-out", v, 4.0, err);
}
static df_status set_brightness(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.brightness, "brightness", v, 0.99, err);
}
static df_status set_contrast(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.contrast, "contrast", v, 0.99, err);
}
static df_status set_saturation(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.saturation, "saturation", v, 1.0, err);
}
static df_status set_grayscale(df_recipe *r, const char *v, df_error *err) {
    return set_aug_range(&r->train.augment_config.grayscale, "grayscale", v, 1.0, err);
}

static df_status set_fill(df_recipe *r, const char *v, df_error *err) {
    df_augment_config *a = &r->train.augment_config;
    long g;
    if (!strcmp(v, "edge")) {
        a->fill_constant = 0;
        a->fill_value = 0;
        return DF_OK;
    }
    if (!df_parse_int(v, 0, 255, &g))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--fill '%s' is not edge or a grey level 0..255", v);
    a->fill_constant = 1;
    a->fill_value = (int)g;
    return DF_OK;
}

static df_status set_flip(df_recipe *r, const char *v, df_error *err) {
    if (strcmp(v, "none") && strcmp(v, "h") && strcmp(v, "v") && strcmp(v, "hv"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--flip '%s' is not none, h, v or hv", v);
    r->train.augment_config.horizontal_flip = strchr(v, 'h') != NULL;
    r->train.augment_config.vertical_flip = strchr(v, 'v') != NULL;
    return DF_OK;
}

static df_status set_no_flips(df_recipe *r, const char *v, df_error *err) {
    (void)v;
    return set_flip(r, "none", err);
}

static df_status set_no_augment(df_recipe *r, const char *v, df_error *err) {
    (void)v, (void)err;
    r->train.augment = 0;
    return DF_OK;
}

static df_status set_no_bn(df_recipe *r, const char *v, df_error *err) {
    (void)v, (void)err;
    r->train.head.batchnorm = 0;
    return DF_OK;
}

static df_status set_head(df_recipe *r, const char *v, df_error *err) {
    r->head_auto = !strcmp(v, "auto");
    if (r->head_auto) return DF_OK;
    if (df_head_kind_parse(v, &r->train.head.kind, err) != DF_OK)
        return df_error_set(err, DF_ERR_INVALID_ARG, "--head '%s' is not linear, mlp or auto", v);
    return DF_OK;
}

static df_status set_class_weight(df_recipe *r, const char *v, df_error *err) {
    if (strcmp(v, "balanced") && strcmp(v, "none"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--class-weight '%s' is not none or balanced", v);
    r->train.class_weight_balanced = !strcmp(v, "balanced");
    return DF_OK;
}

static df_status set_image_cache(df_recipe *r, const char *v, df_error *err) {
    long mb;
    if (!df_parse_int(v, 0, 1L << 20, &mb)) return bad_int("image-cache-mb", v, 0, 1L << 20, err);
    r->train.image_cache_bytes = (size_t)mb << 20;
    return DF_OK;
}

static df_status set_seed(df_recipe *r, const char *v, df_error *err) {
    long s;
    if (!df_parse_int(v, 0, 2147483647L, &s)) return bad_int("seed", v, 0, 2147483647L, err);
    r->train.seed = (uint64_t)s;
    return DF_OK;
}

/* A parser's own message, as a usage error of this flag. */
static df_status flag_error(const char *flag, df_error *err) {
    char why[DF_ERROR_MESSAGE_MAX];
    snprintf(why, sizeof why, "%s", err->message);
    return df_error_set(err, DF_ERR_INVALID_ARG, "--%s: %s", flag, why);
}

static df_status set_resize(df_recipe *r, const char *v, df_error *err) {
    df_resize_method m;
    df_status st = df_resize_method_parse(v, &m, err);
    if (st == DF_OK) r->train.resize = (int)m;
    return st == DF_OK ? DF_OK : flag_error("resize", err);
}

static df_status set_precision(df_recipe *r, const char *v, df_error *err) {
    df_status st = df_precision_parse(v, &r->backbone.precision, err);
    return st == DF_OK ? DF_OK : flag_error("precision", err);
}

static df_status set_preprocess(df_recipe *r, const char *v, df_error *err) {
    df_status st = df_preprocess_parse(v, &r->backbone.preprocess, err);
    return st == DF_OK ? DF_OK : flag_error("preprocess", err);
}

static df_status set_pool(df_recipe *r, const char *v, df_error *err) {
    (void)v, (void)err;
    r->backbone.pool = 1;
    return DF_OK;
}

static df_status set_cut(df_recipe *r, const char *v, df_error *err) {
    if (strlen(v) >= sizeof r->cut_tensor)
        return df_error_set(err, DF_ERR_INVALID_ARG, "--cut '%.40s...' is too long", v);
    snprintf(r->cut_tensor, sizeof r->cut_tensor, "%s", v);
    r->backbone.cut_tensor = r->cut_tensor;
    return DF_OK;
}

static df_status set_pooling(df_recipe *r, const char *v, df_error *err) {
    df_status st = df_pooling_parse(v, &r->backbone.pooling, err);
    return st == DF_OK ? DF_OK : flag_error("pooling", err);
}

static df_status set_solver(df_recipe *r, const char *v, df_error *err) {
    if (strcmp(v, "exact") && strcmp(v, "adam"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--solver '%s' is not exact or adam", v);
    r->train.exact_fit = !strcmp(v, "exact");
    return DF_OK;
}

static df_status set_backbone_ref(df_recipe *r, const char *v, df_error *err) {
    (void)v, (void)err;
    r->train.backbone_by_reference = 1;
    return DF_OK;
}

static const df_setting SETTINGS[] = {
    {"precision", "P", "backbone", "auto (fastest measured), fp32, bf16 or int8 (quantized TFLite models; default auto)",
     set_precision},
    {"preprocess", "P", "backbone", "vgg16: caffe (default, Keras' own) or seed (RGB/255, the original)",
     set_preprocess},
    {"pool", NULL, "backbone", "vgg16: global-average-pool 7x7x512 to 512 features", set_pool},
    {"cut", "TENSOR", "backbone", "tflite: the feature tensor (name or #index; default: the pooled feature)",
     set_cut},
    {"pooling", "P", "backbone",
     "tflite: r3s2 (default: the means of 3x3 windows at stride 2 of the last 7x7 map, 9 x its channels), "
     "mean (the graph's own, the original's) or r<k>s<s>",
     set_pooling},
    {"resize", "M", "backbone", "area (default for VGG16), nearest (Keras) or bilinear (MobileNet's own)",
     set_resize},
    {"backbone-ref", NULL, "backbone",
     "record the backbone file's path and SHA-256 instead of embedding it (smaller model)", set_backbone_ref},
    {"head", "KIND", "recipe and head",
     "linear (softmax regression on standardised features; default), mlp (Dense 1024, BatchNorm, Dropout "
     "0.25; the original's) or auto (chosen by k-fold cross-validation, one-standard-error rule)",
     set_head},
    {"folds", "K", "recipe and head", "folds for --head auto (default 5)", set_folds},
    {"units", "N", "recipe and head", "mlp hidden units (1024)", set_units},
    {"no-batchnorm", NULL, "recipe and head", "mlp without BatchNormalization", set_no_bn},
    {"dropout", "P", "recipe and head", "mlp dropout (0.25)", set_dropout},
    {"l2", "X", "recipe and head", "L2 on kernels (default: linear 10 on r3s2 features, 1 on the mean's, x 106 / training photos; mlp 0; original 0)", set_l2},
    {"solver", "S", "optimiser",
     "exact (linear head: its penalised objective's optimum, in one pass; default) or adam (epochs of Adam; "
     "--lr, --epochs, --batch, --steps-per-epoch, --weight-decay, --early-stop or --class-weight imply it)",
     set_solver},
    {"lr", "X", "optimiser", "Adam learning rate (default 1e-3; original 1e-5)", set_lr},
    {"weight-decay", "X", "optimiser", "decoupled weight decay (AdamW), default 0", set_wd},
    {"epochs", "N", "optimiser", "epochs (default 300 for linear, 30 for mlp and auto; original 45)", set_epochs},
    {"batch", "N", "optimiser", "batch size (default 32; original 30)", set_batch},
    {"steps-per-epoch", "N", "optimiser", "batches per epoch (default all; original n // 30)", set_steps},
    {"class-weight", "W", "optimiser", "none (default) or balanced", set_class_weight},
    {"early-stop", "P", "optimiser", "stop after P epochs without a better val_loss, keep the best", set_early},
    {"no-augment", NULL, "augmentation", "train on the photos as they are", set_no_augment},
    {"shift", "F", "augmentation", "width and height shift range (default 0.1; original 0.2)", set_shift},
    {"shear", "DEG", "augmentation", "shear range in degrees (default 0; original 0.2)", set_shear},
    {"zoom", "F", "augmentation", "zoom range: factors in [1-F, 1+F] (default 0.1; original 0.2)", set_zoom},
    {"rotation", "DEG", "augmentation", "rotation range in degrees (default 0)", set_rotation},
    {"zoom-in", "F", "augmentation", "isotropic scale down to 1-F: random crops (default 0)", set_zoom_in},
    {"zoom-out", "F", "augmentation", "isotropic scale up to 1+F: the photo smaller in its frame (default 0)",
     set_zoom_out},
    {"fill", "G", "augmentation", "outside the photo: edge (repeat it; default) or grey level G 0..255", set_fill},
    {"brightness", "F", "augmentation", "gain in [1-F, 1+F] (default 0)", set_brightness},
    {"contrast", "F", "augmentation", "contrast about the mean grey in [1-F, 1+F] (default 0)", set_contrast},
    {"saturation", "F", "augmentation", "saturation in [1-F, 1+F] (default 0)", set_saturation},
    {"grayscale", "P", "augmentation", "probability of a grey photo (default 0)", set_grayscale},
    {"flip", "WHICH", "augmentation", "none, h (mirror left-right), v, or hv (default h; original hv)", set_flip},
    {"no-flips", NULL, "augmentation", "same as --flip none", set_no_flips},
    {"feature-cache", "K", "augmentation",
     "K augmented variants per photo computed once (default 8, fewer beyond 512 photos: 4096 / photos, at least 4; "
     "0 = live)",
     set_cache},
    {"image-cache-mb", "M", "augmentation", "keep up to M MB of decoded photos in memory (default 256)",
     set_image_cache},
    {"seed", "N", "run", "same seed, same history (default 1)", set_seed},
};

const df_setting *df_settings(int *n) {
    *n = (int)(sizeof SETTINGS / sizeof SETTINGS[0]);
    return SETTINGS;
}

int df_setting_find(const char *name) {
    int n;
    const df_setting *s = df_settings(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].name, name)) return i;
    return -1;
}

df_status df_recipe_start(const char *name, int num_train, const char *backbone_kind, df_recipe *out,
                          df_error *err) {
    memset(out, 0, sizeof *out);
    out->backbone = df_backbone_options_default();
    out->folds = 5;
    out->num_train = num_train;
    if (!strcmp(name, "default")) {
        out->train = df_train_options_default();
        /* Regions of the last map (backbone/pooling.h, docs/defaults.md
         * "Regions of the 7x7 map"): TFLite backbones only; VGG16 keeps its Flatten. */
        if (backbone_kind && !strcmp(backbone_kind, "tflite"))
            out->backbone.pooling = (df_pooling){DF_POOLING_REGIONS, 3, 2, 1};
    } else if (!strcmp(name, "original")) {
        out->train = df_train_options_original(num_train);
        /* The notebook fed VGG16 RGB / 255, not Keras' caffe mode (SPEC 3). */
        if (backbone_kind && !strcmp(backbone_kind, "vgg16")) out->backbone.preprocess = DF_PREPROCESS_SEED;
        out->backbone.pooling = (df_pooling){DF_POOLING_MEAN, 0, 0, 0}; /* its Flatten / the graph's own pool */
    } else {
        return df_error_set(err, DF_ERR_INVALID_ARG, "--recipe '%s' is not default or original", name);
    }
    snprintf(out->name, sizeof out->name, "%s", name);
    return DF_OK;
}

df_status df_recipe_set(df_recipe *r, const char *name, const char *value, df_error *err) {
    int i = df_setting_find(name);
    if (i < 0) return df_error_set(err, DF_ERR_INVALID_ARG, "no setting --%s", name);
    if (SETTINGS[i].arg && !value) return df_error_set(err, DF_ERR_INVALID_ARG, "--%s needs a value", name);
    df_status st = SETTINGS[i].apply(r, value, err);
    if (st == DF_OK) r->set |= (uint64_t)1 << i;
    return st;
}

static int was_set(const df_recipe *r, const char *name) {
    return (r->set & ((uint64_t)1 << df_setting_find(name))) != 0;
}

/* The default linear head's L2 goes with its features (train.h) and, as a
 * fixed prior on the weights does in an objective that averages the loss
 * over the photos, as 1 / photos: chosen at DF_TRAIN_DEFAULT_L2_PHOTOS (the
 * closet's 106), it held the 3,068 clothing photos' weights so far from
 * the data that the 10-class head scored 0.757 on their validation photos
 * at L2 10, 0.871 at 10 x 106 / 3,068 = 0.35 (README, Accuracy). */
static void default_l2(df_recipe *r) {
    if (strcmp(r->name, "default") || r->head_auto || r->train.head.kind != DF_HEAD_LINEAR || was_set(r, "l2")) return;
    const double base = r->backbone.pooling.kind == DF_POOLING_REGIONS ? DF_TRAIN_DEFAULT_REGIONS_L2
                                                                        : DF_TRAIN_DEFAULT_LINEAR_L2;
    const int n = r->num_train > 0 ? r->num_train : DF_TRAIN_DEFAULT_L2_PHOTOS;
    r->train.head.l2 = (float)(base * DF_TRAIN_DEFAULT_L2_PHOTOS / n);
}

/* The default recipe's variants per photo: DF_TRAIN_DEFAULT_FEATURE_CACHE
 * (8) on a few hundred photos, fewer as the photos grow, so that their
 * rows stay within DF_TRAIN_DEFAULT_FEATURE_ROWS (8 up to 512 photos, 4
 * from 1,024 on, never fewer), unless --feature-cache is given. The
 * variants sample the augmentation, which matters less the more photos
 * there are, while the exact fit's cost grows with the rows past linear:
 * on the 3,068 clothing photos 8 variants scored what 4 did (0.871 on
 * their validation photos) in 347 s and 3.6 GB against 151 s and 2.0 GB
 * (docs/defaults.md). */
static void default_feature_cache(df_recipe *r) {
    if (strcmp(r->name, "default") || was_set(r, "feature-cache") || r->num_train <= 0) return;
    int k = DF_TRAIN_DEFAULT_FEATURE_ROWS / r->num_train;
    if (k > DF_TRAIN_DEFAULT_FEATURE_CACHE) k = DF_TRAIN_DEFAULT_FEATURE_CACHE;
    if (k < DF_TRAIN_MIN_FEATURE_CACHE) k = DF_TRAIN_MIN_FEATURE_CACHE;
    r->train.feature_cache = k;
}

void df_recipe_backbone_opened(df_recipe *r, const df_backbone *bb) {
    r->backbone.pooling = df_backbone_pooling(bb);
    default_l2(r);
}

df_status df_recipe_finish(df_recipe *r, df_error *err) {
    /* The default recipe's L2, learning rate and epochs are the linear
     * head's; with --head mlp it trains the MLP with the MLP's own (no L2,
     * Adam 1e-3, 30 epochs) unless --l2 / --lr / --epochs say otherwise.
     * --head auto keeps the 30 epochs its candidates were measured at. */
    const int is_default = !strcmp(r->name, "default");
    default_feature_cache(r);
    if (is_default && !r->head_auto && r->train.head.kind == DF_HEAD_MLP) {
        if (!was_set(r, "l2")) r->train.head.l2 = 0.0f;
        if (!was_set(r, "lr")) r->train.adam.lr = DF_TRAIN_DEFAULT_MLP_LR;
    }
    if (is_default && (r->head_auto || r->train.head.kind == DF_HEAD_MLP) && !was_set(r, "epochs"))
        r->train.epochs = DF_TRAIN_DEFAULT_MLP_EPOCHS;
    /* The exact fit has no learning rate, epochs or batches: asking for
     * any of them (or for what its objective lacks) asks for Adam, unless
     * --solver exact was said too, which is then refused naming the flag. */
    static const char *const adam_only[] = {"lr", "epochs", "batch", "steps-per-epoch", "weight-decay",
                                            "early-stop", "class-weight"};
    for (size_t k = 0; k < sizeof adam_only / sizeof adam_only[0]; k++)
        if (was_set(r, adam_only[k]) && r->train.exact_fit) {
            if (was_set(r, "solver"))
                return df_error_set(err, DF_ERR_INVALID_ARG, "--solver exact has no --%s: drop it or use --solver adam",
                                    adam_only[k]);
            r->train.exact_fit = 0;
        }
    if (r->train.exact_fit && (r->train.head.kind != DF_HEAD_LINEAR || r->head_auto || r->train.feature_cache < 1)) {
        if (was_set(r, "solver"))
            return df_error_set(err, DF_ERR_INVALID_ARG, "--solver exact fits a linear head on cached variants: not with %s",
                                r->head_auto ? "--head auto (it chooses the solver too)"
                                : r->train.head.kind != DF_HEAD_LINEAR ? "--head mlp"
                                                                       : "--feature-cache 0");
        r->train.exact_fit = 0;
    }
    /* A cut names the features itself: the regions' cut is the map. */
    if (was_set(r, "cut") && !was_set(r, "pooling")) r->backbone.pooling = (df_pooling){DF_POOLING_MEAN, 0, 0, 0};
    default_l2(r);
    /* What --head auto chooses itself cannot also be given. */
    static const char *const chosen_by_auto[] = {"units", "no-batchnorm", "dropout", "l2", "lr"};
    for (size_t k = 0; r->head_auto && k < sizeof chosen_by_auto / sizeof chosen_by_auto[0]; k++)
        if (was_set(r, chosen_by_auto[k]))
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "--head auto chooses the head and learning rate itself: drop --%s", chosen_by_auto[k]);
    if (!r->head_auto && was_set(r, "folds"))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--folds goes with --head auto");
    return DF_OK;
}
