/* deepfashion train: scan, train a head on a frozen backbone, save, evaluate, report. */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/classifier.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "data/text.h"
#include "eval/evaluation.h"
#include "train/train.h"
#include "train/trust.h"

static const char *USAGE =
    "usage: deepfashion train --data DIR --backbone vgg16|tflite --weights FILE --out MODEL [options]\n"
    "\n"
    "Trains a classifier head on a frozen pretrained backbone. DIR holds one\n"
    "folder per class; if DIR has train/ and validation/ folders they are used.\n"
    "\n"
    "data:\n"
    "  --data DIR            training photos (class folders)\n"
    "  --val DIR             validation photos (default: DIR/validation or\n"
    "                        DIR/../validation when there is one, else a stratified\n"
    "                        --val-split of DIR)\n"
    "  --val-split F         hold out this fraction of the training photos (default 0.2\n"
    "                        when there is no validation folder; given, it is used even\n"
    "                        when there is one)\n"
    "backbone:\n"
    "  --backbone NAME       vgg16 (Keras HDF5) or tflite (MobileNet .tflite)\n"
    "  --weights FILE        the backbone weights file\n"
    "  --precision P         auto (fastest), fp32 or bf16 (default auto)\n"
    "  --preprocess P        vgg16: caffe (default, Keras' own) or seed (RGB/255, the original)\n"
    "  --pool                vgg16: global-average-pool 7x7x512 to 512 features\n"
    "  --resize M            area (default for photos), nearest (Keras) or bilinear\n"
    "recipe and head:\n"
    "  --recipe R            default, or original (the Keras notebook exactly)\n"
    "  --head KIND           mlp (default: Dense 1024, BatchNorm, Dropout 0.25), linear\n"
    "                        (softmax regression on standardised features),\n"
    "                        or auto: choose head, L2 and learning rate by k-fold\n"
    "                        cross-validation on the training photos\n"
    "  --folds K             folds for --head auto (default 5)\n"
    "  --unknown-rate R      fraction of held-out training photos the unknown detector\n"
    "                        rejects (default 0.05; the threshold predict uses)\n"
    "  --units N             mlp hidden units (1024)\n"
    "  --no-batchnorm        mlp without BatchNormalization\n"
    "  --dropout P           mlp dropout (0.25)\n"
    "  --l2 X                L2 on kernels (default 0)\n"
    "optimiser:\n"
    "  --lr X                Adam learning rate (default 1e-3; original 1e-5)\n"
    "  --weight-decay X      decoupled weight decay (AdamW), default 0\n"
    "  --epochs N            (default 30; original 45)\n"
    "  --batch N             (default 32; original 30)\n"
    "  --steps-per-epoch N   batches per epoch (default all; original n // 30)\n"
    "  --class-weight W      none (default) or balanced\n"
    "  --early-stop P        stop after P epochs without better val_loss, keep the best\n"
    "augmentation:\n"
    "  --no-augment          train on the photos as they are\n"
    "  --shift F --shear DEG --zoom F --rotation DEG   ranges (default 0.1 0 0.1 0;\n"
    "                        original 0.2 0.2 0.2 0)\n"
    "  --flip WHICH          none, h (mirror left-right), v, or hv (default h; original hv)\n"
    "  --no-flips            same as --flip none\n"
    "  --feature-cache K     K augmented variants per photo computed once (default 4; 0 = live)\n"
    "  --image-cache-mb M    keep up to M MB of decoded photos in memory (default 256);\n"
    "                        the rest are decoded again when needed\n"
    "run:\n"
    "  --seed N              same seed, same history (default 1)\n"
    "  --history FILE        per-epoch history, .csv or .json\n"
    "  --report DIR          write the HTML report and figures at the end\n"
    "  --checkpoint FILE     where Ctrl-C saves the state (default MODEL.ckpt)\n"
    "  --resume FILE         continue an interrupted run from its checkpoint\n"
    "  --quiet               no progress output\n";

static volatile sig_atomic_t g_stop; /* the only global: a signal handler must reach it */

static void on_sigint(int sig) {
    (void)sig;
    if (g_stop) _exit(130); /* a second Ctrl-C stops at once */
    g_stop = 1;
}

typedef struct progress {
    int quiet;
    int tty;
} progress;

static void on_batch(void *ctx, int epoch, int batch, int batches) {
    progress *p = ctx;
    if (p->quiet || !p->tty) return;
    int width = 30, done = batch * width / batches;
    fprintf(stderr, "\repoch %3d [", epoch);
    for (int i = 0; i < width; i++) fputc(i < done ? '=' : (i == done ? '>' : ' '), stderr);
    fprintf(stderr, "] %d/%d", batch, batches);
    fflush(stderr);
}

static void on_epoch(void *ctx, const df_epoch_stats *s) {
    progress *p = ctx;
    if (p->quiet) return;
    if (p->tty) fputc('\r', stderr);
    fprintf(stderr,
            "epoch %3d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.1fs%s%s\n",
            s->epoch, s->epochs, s->loss, s->accuracy, s->val_loss, s->val_accuracy, s->seconds,
            s->improved ? "  *" : "", p->tty ? "\033[K" : "");
}

static void on_notice(void *ctx, const char *msg) {
    progress *p = ctx;
    if (!p->quiet) fprintf(stderr, "deepfashion: %s\n", msg);
}

/* The cross-validation table: always printed (it is why the model has the
 * head it has), to stderr like the rest of the progress. */
static void print_search(const df_head_search_result *s, int photos, const progress *p) {
    if (p->quiet) return;
    fprintf(stderr, "deepfashion: head search: %d-fold cross-validation on the %d training photos (%d variants each; "
                    "features %.1fs, search %.1fs)\n",
            s->folds, photos, s->variants, s->feature_seconds, s->search_seconds);
    fprintf(stderr, "  %-34s %9s %9s\n", "candidate", "accuracy", "loss");
    for (int c = 0; c < s->n_candidates; c++)
        fprintf(stderr, "  %-34s %9.4f %9.4f%s\n", s->candidates[c].name, s->accuracy[c], s->loss[c],
                c == s->best ? "  <- chosen" : "");
}

/* The unknown detector and the temperature (train/trust.h), stored in the model. */
static df_status fit_trust(df_backbone *bb, const df_dataset *train, const df_train_options *opt,
                           const df_trust_options *to, df_model *model, const progress *p, df_error *err) {
    df_trust_report r;
    df_status st = df_trust_fit(bb, train, opt, to, model, &r, err);
    if (st != DF_OK || p->quiet) return st;
    fprintf(stderr, "deepfashion: calibration: temperature %.3f (%d-fold out-of-fold predictions of the %d training "
                    "photos: accuracy %.4f, ECE %.4f -> %.4f); unknown threshold %.4f (rejects %.0f%% of the "
                    "training photos held out one at a time); %.1fs\n",
            (double)r.temperature, to->folds < train->count ? to->folds : train->count, train->count, r.oof_accuracy,
            r.oof_ece_before, r.oof_ece_after, (double)r.unknown_threshold, 100.0 * to->unknown_rate, r.seconds);
    return DF_OK;
}

enum {
    OPT_DATA = 256, OPT_VAL, OPT_VAL_SPLIT, OPT_BACKBONE, OPT_WEIGHTS, OPT_OUT, OPT_PRECISION,
    OPT_PREPROCESS, OPT_POOL, OPT_RESIZE, OPT_RECIPE, OPT_HEAD, OPT_UNITS, OPT_NO_BN, OPT_DROPOUT,
    OPT_L2, OPT_LR, OPT_WD, OPT_EPOCHS, OPT_BATCH, OPT_STEPS, OPT_CLASS_WEIGHT, OPT_EARLY,
    OPT_NO_AUG, OPT_SHIFT, OPT_SHEAR, OPT_ZOOM, OPT_ROTATION, OPT_NO_FLIPS, OPT_CACHE, OPT_SEED,
    OPT_HISTORY, OPT_REPORT, OPT_CHECKPOINT, OPT_RESUME, OPT_QUIET, OPT_HELP, OPT_CUT, OPT_FLIP, OPT_IMAGE_CACHE,
    OPT_FOLDS, OPT_UNKNOWN_RATE
};

static const char *flag_name(const struct option *opts, int val) {
    for (; opts->name; opts++)
        if (opts->val == val) return opts->name;
    return "?";
}

/* Flags are collected first and applied over the recipe's defaults, so
 * `--recipe original --lr 1e-3` means the original with one change. */
typedef struct flag_set {
    int set[64];
    const char *val[64];
} flag_set;

int df_cmd_train(int argc, char **argv) {
    static const struct option longopts[] = {
        {"data", required_argument, 0, OPT_DATA}, {"val", required_argument, 0, OPT_VAL},
        {"val-split", required_argument, 0, OPT_VAL_SPLIT},
        {"backbone", required_argument, 0, OPT_BACKBONE}, {"weights", required_argument, 0, OPT_WEIGHTS},
        {"out", required_argument, 0, OPT_OUT}, {"precision", required_argument, 0, OPT_PRECISION},
        {"preprocess", required_argument, 0, OPT_PREPROCESS}, {"pool", no_argument, 0, OPT_POOL},
        {"resize", required_argument, 0, OPT_RESIZE}, {"recipe", required_argument, 0, OPT_RECIPE},
        {"head", required_argument, 0, OPT_HEAD}, {"units", required_argument, 0, OPT_UNITS},
        {"no-batchnorm", no_argument, 0, OPT_NO_BN}, {"dropout", required_argument, 0, OPT_DROPOUT},
        {"l2", required_argument, 0, OPT_L2}, {"lr", required_argument, 0, OPT_LR},
        {"weight-decay", required_argument, 0, OPT_WD}, {"epochs", required_argument, 0, OPT_EPOCHS},
        {"batch", required_argument, 0, OPT_BATCH}, {"steps-per-epoch", required_argument, 0, OPT_STEPS},
        {"class-weight", required_argument, 0, OPT_CLASS_WEIGHT},
        {"early-stop", required_argument, 0, OPT_EARLY}, {"no-augment", no_argument, 0, OPT_NO_AUG},
        {"shift", required_argument, 0, OPT_SHIFT}, {"shear", required_argument, 0, OPT_SHEAR},
        {"zoom", required_argument, 0, OPT_ZOOM}, {"rotation", required_argument, 0, OPT_ROTATION},
        {"no-flips", no_argument, 0, OPT_NO_FLIPS}, {"flip", required_argument, 0, OPT_FLIP},
        {"image-cache-mb", required_argument, 0, OPT_IMAGE_CACHE}, {"feature-cache", required_argument, 0, OPT_CACHE},
        {"seed", required_argument, 0, OPT_SEED}, {"history", required_argument, 0, OPT_HISTORY},
        {"report", required_argument, 0, OPT_REPORT}, {"checkpoint", required_argument, 0, OPT_CHECKPOINT},
        {"resume", required_argument, 0, OPT_RESUME}, {"quiet", no_argument, 0, OPT_QUIET},
        {"cut", required_argument, 0, OPT_CUT}, {"folds", required_argument, 0, OPT_FOLDS},
        {"unknown-rate", required_argument, 0, OPT_UNKNOWN_RATE},
        {"help", no_argument, 0, OPT_HELP}, {0, 0, 0, 0}};
    flag_set f;
    memset(&f, 0, sizeof f);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == OPT_HELP) {
            fputs(USAGE, stdout);
            return DF_EXIT_OK;
        }
        if (c < 256 || c - 256 >= 64) return df_cli_usage_error("train", "unknown option");
        f.set[c - 256] = 1;
        f.val[c - 256] = optarg;
    }
    if (optind < argc) return df_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
#define SET(o) (f.set[(o) - 256])
#define VAL(o) (f.val[(o) - 256])
    if (!SET(OPT_DATA)) return df_cli_usage_error("train", "--data DIR is required");
    if (!SET(OPT_BACKBONE)) return df_cli_usage_error("train", "--backbone is required");
    if (!SET(OPT_WEIGHTS)) return df_cli_usage_error("train", "--weights FILE is required");
    if (!SET(OPT_OUT)) return df_cli_usage_error("train", "--out MODEL is required");

    progress prog = {.quiet = SET(OPT_QUIET), .tty = isatty(2)};
    df_error err;
    df_error_clear(&err);
    int rc = DF_EXIT_FAIL;
    df_dataset *train = NULL, *val = NULL, *all = NULL;
    df_backbone *bb = NULL;
    df_train_result res = {0};
    char *json = NULL;
    df_evaluation ev = {0};
    int *val_labels = NULL;
    int head_auto = 0, folds = 5;
    df_trust_options trust = df_trust_options_default();
    float *trust_variants = NULL;
    df_head_search_result search = {0};

    /* Data: DIR (with train/ and validation/ inside, or class folders). */
    char *train_dir = NULL, *val_dir = NULL;
    if (df_cli_resolve_data_dirs(VAL(OPT_DATA), SET(OPT_VAL) ? VAL(OPT_VAL) : NULL, &train_dir,
                                 &val_dir, &err) != DF_OK)
        goto out;
    if (SET(OPT_VAL_SPLIT) && SET(OPT_VAL)) {
        rc = df_cli_usage_error("train", "--val-split and --val: give one");
        goto out;
    }
    /* An explicit --val-split asks for a hold-out of the training photos:
     * a validation folder found next to them is then left out, not used
     * silently in its place. */
    if (SET(OPT_VAL_SPLIT) && val_dir) {
        if (!prog.quiet)
            fprintf(stderr, "deepfashion: --val-split: holding out photos of %s; %s is not used\n", train_dir,
                    val_dir);
        free(val_dir);
        val_dir = NULL;
    }
    df_scan_options so = df_scan_options_default();
    if (df_dataset_scan(train_dir, &so, &all, &err) != DF_OK) goto out;
    df_cli_print_skipped(all, prog.quiet);
    uint64_t seed = 1;
    if (SET(OPT_SEED)) {
        long v;
        if (!df_cli_parse_int(VAL(OPT_SEED), 0, 2147483647L, &v))
            return df_cli_usage_error("train", "--seed '%s' is not an integer >= 0", VAL(OPT_SEED));
        seed = (uint64_t)v;
    }
    if (val_dir) {
        if (df_dataset_scan(val_dir, &so, &val, &err) != DF_OK) goto out;
        df_cli_print_skipped(val, prog.quiet);
        if (df_dataset_same_classes(all, val, &err) != DF_OK) goto out;
        train = all;
        all = NULL;
    } else {
        double frac = 0.2;
        if (SET(OPT_VAL_SPLIT) && !df_cli_parse_float(VAL(OPT_VAL_SPLIT), 0.0, 0.9, &frac)) {
            rc = df_cli_usage_error("train", "--val-split '%s' is not in [0, 0.9]", VAL(OPT_VAL_SPLIT));
            goto out;
        }
        if (frac > 0) {
            if (df_dataset_split(all, frac, seed, &train, &val, &err) != DF_OK) goto out;
        } else {
            train = all;
            all = NULL;
        }
    }

    /* Options: the recipe, then each flag over it. */
    df_train_options opt = df_train_options_default();
    int original = 0;
    if (SET(OPT_RECIPE)) {
        if (!strcmp(VAL(OPT_RECIPE), "original")) original = 1;
        else if (strcmp(VAL(OPT_RECIPE), "default") != 0) {
            rc = df_cli_usage_error("train", "--recipe '%s' is not default or original", VAL(OPT_RECIPE));
            goto out;
        }
    }
    if (original) opt = df_train_options_original(train->count);
    opt.seed = seed;
    df_backbone_options bo = df_backbone_options_default();
    if (original && !strcmp(VAL(OPT_BACKBONE), "vgg16")) bo.preprocess = DF_PREPROCESS_SEED;
    {
        long v;
        double d;
#define INT_FLAG(o, lo, hi, dst)                                                              \
    if (SET(o)) {                                                                             \
        if (!df_cli_parse_int(VAL(o), lo, hi, &v)) {                                          \
            rc = df_cli_usage_error("train", "--%s '%s' is not an integer in [%ld, %ld]",      \
                                    flag_name(longopts, o), VAL(o), (long)(lo), (long)(hi));  \
            goto out;                                                                         \
        }                                                                                     \
        dst = (int)v;                                                                         \
    }
#define FLOAT_FLAG(o, lo, hi, dst)                                                            \
    if (SET(o)) {                                                                             \
        if (!df_cli_parse_float(VAL(o), lo, hi, &d)) {                                        \
            rc = df_cli_usage_error("train", "--%s '%s' is not a number in [%g, %g]",          \
                                    flag_name(longopts, o), VAL(o), (double)(lo), (double)(hi)); \
            goto out;                                                                         \
        }                                                                                     \
        dst = (float)d;                                                                       \
    }
        head_auto = SET(OPT_HEAD) && !strcmp(VAL(OPT_HEAD), "auto");
        if (SET(OPT_HEAD) && !head_auto && df_head_kind_parse(VAL(OPT_HEAD), &opt.head.kind, &err) != DF_OK) {
            rc = df_cli_usage_error("train", "%s is not linear, mlp or auto", VAL(OPT_HEAD));
            goto out;
        }
        static const int chosen_by_auto[] = {OPT_UNITS, OPT_NO_BN, OPT_DROPOUT, OPT_L2, OPT_LR};
        for (size_t k = 0; head_auto && k < sizeof chosen_by_auto / sizeof chosen_by_auto[0]; k++)
            if (SET(chosen_by_auto[k])) {
                rc = df_cli_usage_error("train", "--head auto chooses the head and learning rate itself: drop --%s",
                                        flag_name(longopts, chosen_by_auto[k]));
                goto out;
            }
        if (SET(OPT_FOLDS) && !head_auto) {
            rc = df_cli_usage_error("train", "--folds goes with --head auto");
            goto out;
        }
        INT_FLAG(OPT_FOLDS, 2, 20, folds);
        double rate = trust.unknown_rate;
        FLOAT_FLAG(OPT_UNKNOWN_RATE, 0.0, 0.5, rate);
        trust.unknown_rate = (float)rate;
        INT_FLAG(OPT_UNITS, 1, 65536, opt.head.units);
        if (SET(OPT_NO_BN)) opt.head.batchnorm = 0;
        FLOAT_FLAG(OPT_DROPOUT, 0.0, 0.95, opt.head.dropout);
        FLOAT_FLAG(OPT_L2, 0.0, 10.0, opt.head.l2);
        FLOAT_FLAG(OPT_LR, 1e-9, 10.0, opt.adam.lr);
        FLOAT_FLAG(OPT_WD, 0.0, 1.0, opt.adam.weight_decay);
        INT_FLAG(OPT_EPOCHS, 1, 100000, opt.epochs);
        INT_FLAG(OPT_BATCH, 1, 4096, opt.batch_size);
        INT_FLAG(OPT_STEPS, 0, 1000000, opt.steps_per_epoch);
        INT_FLAG(OPT_EARLY, 0, 100000, opt.early_stop_patience);
        INT_FLAG(OPT_CACHE, 0, 1000, opt.feature_cache);
        int cache_mb = (int)(opt.image_cache_bytes >> 20);
        INT_FLAG(OPT_IMAGE_CACHE, 0, 1 << 20, cache_mb);
        opt.image_cache_bytes = (size_t)cache_mb << 20;
        if (SET(OPT_CLASS_WEIGHT)) {
            if (!strcmp(VAL(OPT_CLASS_WEIGHT), "balanced")) opt.class_weight_balanced = 1;
            else if (!strcmp(VAL(OPT_CLASS_WEIGHT), "none")) opt.class_weight_balanced = 0;
            else {
                rc = df_cli_usage_error("train", "--class-weight '%s' is not none or balanced",
                                        VAL(OPT_CLASS_WEIGHT));
                goto out;
            }
        }
        if (SET(OPT_NO_AUG)) opt.augment = 0;
        double dd;
        if (SET(OPT_SHIFT)) {
            if (!df_cli_parse_float(VAL(OPT_SHIFT), 0, 0.99, &dd)) {
                rc = df_cli_usage_error("train", "--shift '%s' is not in [0, 0.99]", VAL(OPT_SHIFT));
                goto out;
            }
            opt.augment_config.width_shift = opt.augment_config.height_shift = dd;
        }
        if (SET(OPT_SHEAR)) {
            if (!df_cli_parse_float(VAL(OPT_SHEAR), 0, 89, &dd)) {
                rc = df_cli_usage_error("train", "--shear '%s' is not in [0, 89] degrees", VAL(OPT_SHEAR));
                goto out;
            }
            opt.augment_config.shear_deg = dd;
        }
        if (SET(OPT_ZOOM)) {
            if (!df_cli_parse_float(VAL(OPT_ZOOM), 0, 0.99, &dd)) {
                rc = df_cli_usage_error("train", "--zoom '%s' is not in [0, 0.99]", VAL(OPT_ZOOM));
                goto out;
            }
            opt.augment_config.zoom = dd;
        }
        if (SET(OPT_ROTATION)) {
            if (!df_cli_parse_float(VAL(OPT_ROTATION), 0, 180, &dd)) {
                rc = df_cli_usage_error("train", "--rotation '%s' is not in [0, 180]", VAL(OPT_ROTATION));
                goto out;
            }
            opt.augment_config.rotation_deg = dd;
        }
        if (SET(OPT_NO_FLIPS)) opt.augment_config.horizontal_flip = opt.augment_config.vertical_flip = 0;
        if (SET(OPT_FLIP)) {
            const char *fl = VAL(OPT_FLIP);
            if (strcmp(fl, "none") && strcmp(fl, "h") && strcmp(fl, "v") && strcmp(fl, "hv")) {
                rc = df_cli_usage_error("train", "--flip '%s' is not none, h, v or hv", fl);
                goto out;
            }
            opt.augment_config.horizontal_flip = strchr(fl, 'h') != NULL;
            opt.augment_config.vertical_flip = strchr(fl, 'v') != NULL;
        }
        if (SET(OPT_RESIZE)) {
            df_resize_method m;
            if (df_resize_method_parse(VAL(OPT_RESIZE), &m, &err) != DF_OK) {
                rc = df_cli_usage_error("train", "%s", err.message);
                goto out;
            }
            opt.resize = (int)m;
        }
        if (SET(OPT_PRECISION) && df_precision_parse(VAL(OPT_PRECISION), &bo.precision, &err) != DF_OK) {
            rc = df_cli_usage_error("train", "%s", err.message);
            goto out;
        }
        if (SET(OPT_PREPROCESS) && df_preprocess_parse(VAL(OPT_PREPROCESS), &bo.preprocess, &err) != DF_OK) {
            rc = df_cli_usage_error("train", "%s", err.message);
            goto out;
        }
        (void)v;
    }
    bo.pool = SET(OPT_POOL);
    bo.cut_tensor = SET(OPT_CUT) ? VAL(OPT_CUT) : NULL;
    /* The network is shaped for the batches it will run: the training
     * batch when photos are augmented live, else passes of at least 16. */
    bo.max_batch = opt.feature_cache > 0 && opt.batch_size < 16 ? 16 : opt.batch_size;
    bo.notice = on_notice;
    bo.notice_ctx = &prog;

    /* Fail on an unwritable output before spending minutes on training. */
    if (df_cli_check_writable(VAL(OPT_OUT), &err) != DF_OK) goto out;

    if (df_backbone_open(VAL(OPT_BACKBONE), VAL(OPT_WEIGHTS), &bo, &bb, &err) != DF_OK) goto out;
    if (!prog.quiet)
        fprintf(stderr, "deepfashion: %s (%s, %zu features, %s) on %d training / %d validation photos, %d classes\n",
                df_backbone_name(bb), df_backbone_kind(bb), df_backbone_feature_dim(bb),
                df_precision_name(df_backbone_precision(bb)), train->count, val ? val->count : 0,
                train->num_classes);

    char *ckpt = NULL;
    if (SET(OPT_CHECKPOINT)) ckpt = strdup(VAL(OPT_CHECKPOINT));
    else {
        size_t n = strlen(VAL(OPT_OUT)) + 6;
        ckpt = malloc(n);
        if (ckpt) snprintf(ckpt, n, "%s.ckpt", VAL(OPT_OUT));
    }
    opt.checkpoint_path = ckpt;
    opt.resume_path = SET(OPT_RESUME) ? VAL(OPT_RESUME) : NULL;
    opt.stop_flag = &g_stop;
    opt.on_epoch = on_epoch;
    opt.on_batch = on_batch;
    opt.notice = on_notice;
    opt.ctx = &prog;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    df_status st = DF_OK;
    if (head_auto) {
        /* Deterministic for the seed, so a --resume run chooses the same head
         * as the run it continues. */
        df_head_candidate cands[DF_HEAD_SEARCH_MAX];
        int n_cands = df_head_candidates_default(&opt, cands);
        if (folds > train->count) folds = train->count;
        st = df_head_search(bb, train, &opt, cands, n_cands, folds, &search, &err);
        if (st == DF_OK) {
            print_search(&search, train->count, &prog);
            opt.head = search.candidates[search.best].head;
            opt.adam = search.candidates[search.best].adam;
            if (search.variants == opt.feature_cache) opt.feature_variants = search.train_variants;
        }
    }
    /* The feature cache's variants computed here, so that the unknown
     * detector and the calibration reuse them (df_train would compute the
     * same ones itself). */
    if (st == DF_OK && !opt.feature_variants && opt.feature_cache > 0 && opt.augment) {
        st = df_train_feature_variants(bb, train, &opt, opt.feature_cache, &trust_variants, NULL, &err);
        opt.feature_variants = trust_variants;
    }
    if (st == DF_OK) st = df_train(bb, train, val, &opt, &res, &err);
    if (st == DF_OK) st = fit_trust(bb, train, &opt, &trust, res.model, &prog, &err);
    sigaction(SIGINT, &old_sa, NULL);
    if (st != DF_OK) {
        free(ckpt);
        goto out;
    }

    json = df_cli_training_json(VAL(OPT_WEIGHTS), bo.cut_tensor, original ? "original" : "default",
                                df_precision_name(df_backbone_precision(bb)), &opt, train_dir,
                                val_dir, head_auto ? &search : NULL);
    if (!json || df_model_set_training_json(res.model, json, &err) != DF_OK) {
        if (!json) df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        free(ckpt);
        goto out;
    }
    if (df_model_save(res.model, VAL(OPT_OUT), &err) != DF_OK) {
        free(ckpt);
        goto out;
    }
    unlink(ckpt); /* the run finished: its checkpoint is stale */
    free(ckpt);
    if (!prog.quiet)
        fprintf(stderr, "deepfashion: saved %s (%d epochs, best %d, %.1fs: backbone %.1fs for %ld photos, head %.1fs)\n",
                VAL(OPT_OUT), res.epochs_run, res.best_epoch, res.total_seconds, res.backbone_seconds,
                res.backbone_images, res.head_seconds);
    if (SET(OPT_HISTORY) && df_cli_write_history(VAL(OPT_HISTORY), &res.history, &err) != DF_OK) goto out;

    /* Final evaluation on the validation photos. */
    if (val && val->count > 0 && res.val_features) {
        val_labels = malloc(sizeof(int) * (size_t)val->count);
        if (!val_labels) {
            df_error_set(&err, DF_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (int i = 0; i < val->count; i++) val_labels[i] = val->items[i].label;
        if (df_evaluate_features(res.model->head, res.val_features, val_labels, val->count,
                                 (const char *const *)train->class_names, &ev, &err) != DF_OK ||
            df_evaluation_add_trust(&ev, res.val_features, df_backbone_feature_dim(bb), res.model->unknown,
                                    res.model->temperature, &err) != DF_OK)
            goto out;
        /* The result, on stdout even with --quiet (which silences progress). */
        printf("validation accuracy %.4f  loss %.4f  (%d photos)\n\n%s", ev.accuracy, ev.loss,
               val->count, ev.report_text);
    }
    if (SET(OPT_REPORT)) {
        df_cli_report_input ri = {.model_path = VAL(OPT_OUT), .model = res.model, .backbone = bb,
                                  .train = train, .val = val, .history = &res.history,
                                  .best_epoch = res.best_epoch, .evaluation = val ? &ev : NULL,
                                  .train_options = &opt, .recipe = original ? "original" : "default",
                                  .head_search = head_auto ? &search : NULL};
        if (df_cli_write_report(&ri, VAL(OPT_REPORT), &err) != DF_OK) goto out;
        if (!prog.quiet) fprintf(stderr, "deepfashion: report in %s/report.html\n", VAL(OPT_REPORT));
    }
    rc = DF_EXIT_OK;
out:
    if (rc == DF_EXIT_FAIL) df_cli_fail(&err);
    df_head_search_result_free(&search);
    free(trust_variants);
    df_evaluation_free(&ev);
    free(val_labels);
    free(json);
    df_train_result_free(&res);
    df_backbone_destroy(bb);
    df_dataset_free(train);
    df_dataset_free(val);
    df_dataset_free(all);
    free(train_dir);
    free(val_dir);
    return rc;
}
