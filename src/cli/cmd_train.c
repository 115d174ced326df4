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
#include "core/clock.h"
#include "core/fileio.h"
#include "data/text.h"
#include "eval/evaluation.h"
#include "train/recipe.h"
#include "train/train.h"
#include "train/trust.h"

static volatile sig_atomic_t g_stop; /* the only global: a signal handler must reach it */

static void on_sigint(int sig) {
    (void)sig;
    if (g_stop) _exit(130); /* a second Ctrl-C stops at once */
    g_stop = 1;
}

typedef struct progress {
    int quiet;
    int tty;
    df_cli_progress bar; /* backbone passes over the photos */
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

/* One line per epoch up to EPOCH_LINES epochs; beyond (the default's 300
 * epochs over cached features take a second) about EPOCH_LINES lines, the
 * first and last epoch included, and on a terminal the others overwrite a
 * status line. Every epoch is in the history (--history, the report). */
#define EPOCH_LINES 30
static void on_epoch(void *ctx, const df_epoch_stats *s) {
    progress *p = ctx;
    if (p->quiet) return;
    int every = (s->epochs + EPOCH_LINES - 1) / EPOCH_LINES;
    int line = every <= 1 || s->epoch == 1 || s->epoch == s->epochs || s->epoch % every == 0;
    if (!line && !p->tty) return;
    if (p->tty) fputc('\r', stderr);
    fprintf(stderr,
            "epoch %3d/%d  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f  %.1fs%s%s%s",
            s->epoch, s->epochs, s->loss, s->accuracy, s->val_loss, s->val_accuracy, s->seconds,
            s->improved ? "  *" : "", p->tty ? "\033[K" : "", line ? "\n" : "");
    if (!line) fflush(stderr);
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
    fprintf(stderr, "  (one-standard-error rule: the best mean is %s, %.4f with SE %.4f over the folds; chosen: the "
                    "first, simplest, candidate at or above %.4f)\n",
            s->candidates[s->top].name, s->accuracy[s->top], s->accuracy_se[s->top], s->threshold);
}

/* The flags that are about this run rather than the recipe; the recipe's
 * settings (train/recipe.h) are flags of the same names. */
enum { F_DATA, F_VAL, F_VAL_SPLIT, F_BACKBONE, F_WEIGHTS, F_OUT, F_RECIPE, F_HISTORY, F_REPORT, F_CHECKPOINT,
       F_RESUME, F_QUIET, F_UNKNOWN_RATE, F_HELP, F_COUNT };

static const df_cli_flag RUN_FLAGS[F_COUNT] = {
    [F_DATA] = {"data", "DIR", "data", "training photos: class folders, or DIR/train and DIR/validation"},
    [F_VAL] = {"val", "DIR", "data",
               "validation photos (default: DIR/validation or DIR/../validation when there is one, else a "
               "stratified --val-split of DIR)"},
    [F_VAL_SPLIT] = {"val-split", "F", "data",
                     "hold out this fraction of the training photos (default 0.2 without a validation folder; "
                     "given, it is used even when there is one)"},
    [F_BACKBONE] = {"backbone", "NAME", "backbone", "vgg16 (Keras HDF5) or tflite (MobileNet .tflite)"},
    [F_WEIGHTS] = {"weights", "FILE", "backbone", "the backbone weights file"},
    [F_OUT] = {"out", "MODEL", "run", "the model file to write"},
    [F_RECIPE] = {"recipe", "R", "recipe and head", "default, or original (the Keras notebook exactly)"},
    [F_HISTORY] = {"history", "FILE", "run", "per-epoch history, .csv or .json"},
    [F_REPORT] = {"report", "DIR", "run", "write the HTML report and figures at the end"},
    [F_CHECKPOINT] = {"checkpoint", "FILE", "run", "where Ctrl-C saves the state (default MODEL.ckpt)"},
    [F_RESUME] = {"resume", "FILE", "run", "continue an interrupted run from its checkpoint"},
    [F_QUIET] = {"quiet", NULL, "run", "no progress output"},
    [F_UNKNOWN_RATE] = {"unknown-rate", "R", "run",
                        "fraction of held-out training photos the unknown detector rejects (default 0.05; the "
                        "threshold predict uses)"},
    [F_HELP] = {"help", NULL, "run", "this text"},
};

static const char *const GROUPS[] = {"data", "backbone", "recipe and head", "optimiser", "augmentation", "run"};

static void usage(FILE *out) {
    fputs("usage: deepfashion train --data DIR --backbone vgg16|tflite --weights FILE --out MODEL [options]\n\n"
          "Trains a classifier head on a frozen pretrained backbone. Settings apply over\n"
          "the recipe's values (see README: Recipes). The model file embeds the backbone\n"
          "weights file unless --backbone-ref is given.\n",
          out);
    int n;
    const df_setting *settings = df_settings(&n);
    for (size_t g = 0; g < sizeof GROUPS / sizeof GROUPS[0]; g++) {
        fprintf(out, "\n%s:\n", GROUPS[g]);
        for (int i = 0; i < F_COUNT; i++)
            if (!strcmp(RUN_FLAGS[i].group, GROUPS[g])) df_cli_flag_help(out, &RUN_FLAGS[i]);
        for (int i = 0; i < n; i++)
            if (!strcmp(settings[i].group, GROUPS[g])) {
                df_cli_flag f = {settings[i].name, settings[i].arg, settings[i].group, settings[i].help};
                df_cli_flag_help(out, &f);
            }
    }
}

/* Every flag's value (NULL = not given; "" for a given switch). */
typedef struct train_args {
    const char *run[F_COUNT];
    const char *setting[DF_RECIPE_MAX_SETTINGS];
} train_args;

/* getopt over both tables: long option k < F_COUNT is a run flag, the
 * rest settings in table order. Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, train_args *a) {
    int n;
    const df_setting *settings = df_settings(&n);
    struct option longopts[F_COUNT + DF_RECIPE_MAX_SETTINGS + 1];
    memset(a, 0, sizeof *a);
    memset(longopts, 0, sizeof longopts);
    for (int i = 0; i < F_COUNT; i++)
        longopts[i] = (struct option){RUN_FLAGS[i].name, RUN_FLAGS[i].arg ? required_argument : no_argument, 0, 256 + i};
    for (int i = 0; i < n; i++)
        longopts[F_COUNT + i] =
            (struct option){settings[i].name, settings[i].arg ? required_argument : no_argument, 0, 256 + F_COUNT + i};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int k = c - 256;
        if (k < 0 || k >= F_COUNT + n) return df_cli_usage_error("train", "unknown option");
        const char *v = optarg ? optarg : "";
        if (k < F_COUNT) a->run[k] = v;
        else a->setting[k - F_COUNT] = v;
    }
    if (a->run[F_HELP]) {
        usage(stdout);
        return DF_EXIT_OK;
    }
    if (optind < argc) return df_cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    static const int required[] = {F_DATA, F_BACKBONE, F_WEIGHTS, F_OUT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!a->run[required[i]])
            return df_cli_usage_error("train", "--%s %s is required", RUN_FLAGS[required[i]].name,
                                      RUN_FLAGS[required[i]].arg);
    if (a->run[F_VAL_SPLIT] && a->run[F_VAL]) return df_cli_usage_error("train", "--val-split and --val: give one");
    return -1;
}

/* The recipe with every given setting over it. Returns -1 or an exit code. */
static int make_recipe(const train_args *a, int num_train, df_recipe *rc) {
    df_error err;
    int n;
    const df_setting *settings = df_settings(&n);
    df_status st = df_recipe_start(a->run[F_RECIPE] ? a->run[F_RECIPE] : "default", num_train, a->run[F_BACKBONE],
                                   rc, &err);
    for (int i = 0; st == DF_OK && i < n; i++)
        if (a->setting[i]) st = df_recipe_set(rc, settings[i].name, a->setting[i], &err);
    if (st == DF_OK) st = df_recipe_finish(rc, &err);
    if (st == DF_ERR_INVALID_ARG) return df_cli_usage_error("train", "%s", err.message);
    if (st != DF_OK) return df_cli_fail(&err);
    return -1;
}

/* The photos: DIR (with train/ and validation/ inside, or class folders),
 * a validation folder or a seeded split. */
static df_status load_data(const train_args *a, uint64_t seed, int quiet, df_dataset **train, df_dataset **val,
                           char **train_dir, char **val_dir, df_error *err) {
    df_dataset *all = NULL;
    df_status st = df_cli_resolve_data_dirs(a->run[F_DATA], a->run[F_VAL], train_dir, val_dir, err);
    if (st != DF_OK) return st;
    /* An explicit --val-split asks for a hold-out of the training photos:
     * a validation folder found next to them is then left out, not used
     * silently in its place. */
    if (a->run[F_VAL_SPLIT] && *val_dir) {
        if (!quiet)
            fprintf(stderr, "deepfashion: --val-split: holding out photos of %s; %s is not used\n", *train_dir,
                    *val_dir);
        free(*val_dir);
        *val_dir = NULL;
    }
    double frac = 0.2;
    if (a->run[F_VAL_SPLIT] && !df_parse_float(a->run[F_VAL_SPLIT], 0.0, 0.9, &frac))
        return df_error_set(err, DF_ERR_INVALID_ARG, "--val-split '%s' is not in [0, 0.9]", a->run[F_VAL_SPLIT]);
    df_scan_options so = df_scan_options_default();
    st = df_dataset_scan(*train_dir, &so, &all, err);
    if (st != DF_OK) return st;
    df_cli_print_skipped(all, quiet);
    if (*val_dir) {
        st = df_dataset_scan(*val_dir, &so, val, err);
        if (st == DF_OK) df_cli_print_skipped(*val, quiet);
        if (st == DF_OK) st = df_dataset_same_classes(all, *val, err);
    } else if (frac > 0) {
        st = df_dataset_split(all, frac, seed, train, val, err);
        df_dataset_free(all);
        return st;
    }
    if (st == DF_OK) *train = all;
    else df_dataset_free(all);
    return st;
}

/* The calibration's line. */
static void print_trust(const df_trust_report *r, const df_trust_options *to, int n_train, const progress *p) {
    if (p->quiet) return;
    fprintf(stderr, "deepfashion: calibration: temperature %.3f (%d-fold out-of-fold predictions of the %d training "
                    "photos: accuracy %.4f, ECE %.4f -> %.4f); unknown threshold %.4f (rejects %.0f%% of the "
                    "training photos held out one at a time); %.1fs\n",
            (double)r->temperature, to->folds < n_train ? to->folds : n_train, n_train, r->oof_accuracy,
            r->oof_ece_before, r->oof_ece_after, (double)r->unknown_threshold, 100.0 * to->unknown_rate, r->seconds);
}

/* Where a run's time went, for the line `train` ends with (the phases
 * around the backbone are what issue 11's training ratio counts). */
typedef struct run_times {
    double search;                 /* --head auto's cross-validation */
    double pass, pass_backbone;    /* the feature pass: wall, inside the backbone */
    long pass_images;
    double fit;                    /* df_train: the head (and passes it makes itself) */
    double calibration;            /* the unknown detector and the temperature */
    double fit_and_calibration;    /* both: their sum, or less when side by side */
    int side_by_side;
} run_times;

/* The head search (--head auto) and training, with Ctrl-C checkpointing;
 * then the unknown detector and the temperature. *clean_out: the training
 * photos' plain features when this pass computed them (the caller's, for
 * the report's audit), else NULL. */
static df_status run_training(df_backbone *bb, const df_dataset *train, const df_dataset *val, df_recipe *rc,
                              const df_trust_options *trust, progress *prog, df_head_search_result *search,
                              df_train_result *res, run_times *rt, float **clean_out, df_error *err) {
    *clean_out = NULL;
    df_train_options *opt = &rc->train;
    opt->stop_flag = &g_stop;
    opt->on_epoch = on_epoch;
    opt->on_batch = on_batch;
    opt->notice = on_notice;
    opt->ctx = prog;
    opt->progress = (df_progress){df_cli_progress_report, &prog->bar};
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    df_status st = DF_OK;
    double t = df_clock_seconds();
    if (rc->head_auto) {
        /* Deterministic for the seed, so a --resume run chooses the same head
         * as the run it continues. */
        df_head_candidate cands[DF_HEAD_SEARCH_MAX];
        int n_cands = df_head_candidates_default(opt, cands);
        st = df_head_search(bb, train, opt, cands, n_cands, rc->folds > train->count ? train->count : rc->folds,
                            search, err);
        if (st == DF_OK) {
            print_search(search, train->count, prog);
            opt->head = search->candidates[search->best].head;
            opt->adam = search->candidates[search->best].adam;
            opt->exact_fit = search->candidates[search->best].exact;
            if (search->candidates[search->best].epochs > 0) opt->epochs = search->candidates[search->best].epochs;
            if (search->variants == opt->feature_cache) {
                opt->feature_variants = search->train_variants;
                opt->feature_clean = search->train_clean;
            }
        }
    }
    /* The feature cache's variants, the clean features and the validation
     * photos' computed here in one pass (each photo decoded once, one
     * part-filled batch), so that the unknown detector and the calibration
     * reuse them (df_train would compute the same variants itself). */
    float *variants = NULL, *clean = NULL, *val_features = NULL;
    df_train_result pass = {0}; /* its time, counted in the run's */
    if (st == DF_OK && !opt->feature_variants && opt->feature_cache > 0 && opt->augment) {
        const int with_val = val && val->count > 0;
        const double t0 = df_clock_seconds();
        st = df_train_feature_passes(bb, train, with_val ? val : NULL, opt, opt->feature_cache, &variants, &clean,
                                     with_val ? &val_features : NULL, &pass, err);
        pass.total_seconds = df_clock_seconds() - t0;
        rt->pass = pass.total_seconds;
        rt->pass_backbone = pass.backbone_seconds;
        rt->pass_images = pass.backbone_images;
        opt->feature_variants = variants;
        opt->feature_clean = clean;
        opt->val_features = val_features;
    }
    rt->search = rc->head_auto ? df_clock_seconds() - t - rt->pass : 0.0;
    t = df_clock_seconds();
    df_trust_report tr = {0};
    if (st == DF_OK) st = df_train_and_trust(bb, train, val, opt, trust, res, &tr, &rt->side_by_side, err);
    rt->fit_and_calibration = df_clock_seconds() - t;
    rt->fit = res->total_seconds;
    rt->calibration = tr.seconds;
    if (st == DF_OK) {
        res->total_seconds += pass.total_seconds;
        res->backbone_seconds += pass.backbone_seconds;
        res->backbone_images += pass.backbone_images;
        print_trust(&tr, trust, train->count, prog);
    }
    if (variants) {
        opt->feature_variants = NULL;
        opt->feature_clean = NULL;
        opt->val_features = NULL;
    }
    free(variants);
    if (st == DF_OK) *clean_out = clean;
    else free(clean);
    free(val_features);
    sigaction(SIGINT, &old_sa, NULL);
    return st;
}

/* After training: the model (with its settings), the history, the final
 * evaluation on the validation photos and the report. */
static df_status finish(const train_args *a, const df_recipe *rc, df_backbone *bb, const df_dataset *train,
                        const df_dataset *val, const char *train_dir, const char *val_dir,
                        const df_head_search_result *search, df_train_result *res, const float *train_clean,
                        const progress *prog, df_error *err) {
    const df_train_options *opt = &rc->train;
    char *json = df_cli_training_json(a->run[F_WEIGHTS], rc->backbone.cut_tensor, rc->name,
                                      df_precision_name(df_backbone_precision(bb)), opt, train_dir, val_dir,
                                      rc->head_auto ? search : NULL);
    df_status st = json ? df_model_set_training_json(res->model, json, err) : df_error_set(err, DF_ERR_NOMEM, "out of memory");
    free(json);
    if (st == DF_OK) st = df_model_save(res->model, a->run[F_OUT], err);
    if (st != DF_OK) return st;
    /* Not converged is not an error (the head is the last iterate, close
     * to the optimum), but the user should know, --quiet or not. */
    if (opt->exact_fit && !res->exact.converged)
        fprintf(stderr,
                "deepfashion: warning: the exact fit stopped after %d L-BFGS iterations with its largest gradient "
                "entry at %.2g, above the tolerance %.0e: the head is the last iterate\n",
                res->exact.iterations, res->exact.grad_max, res->exact.tol);
    if (!prog->quiet && opt->exact_fit)
        fprintf(stderr,
                "deepfashion: saved %s (head fitted exactly: %d L-BFGS iterations, largest gradient entry %.1e; %.1fs: "
                "backbone %.1fs for %ld photos, head %.1fs)\n",
                a->run[F_OUT], res->exact.iterations, res->exact.grad_max, res->total_seconds, res->backbone_seconds,
                res->backbone_images, res->head_seconds);
    else if (!prog->quiet)
        fprintf(stderr, "deepfashion: saved %s (%d epochs, best %d, %.1fs: backbone %.1fs for %ld photos, head %.1fs)\n",
                a->run[F_OUT], res->epochs_run, res->best_epoch, res->total_seconds, res->backbone_seconds,
                res->backbone_images, res->head_seconds);
    if (a->run[F_HISTORY] && (st = df_cli_write_history(a->run[F_HISTORY], &res->history, err)) != DF_OK) return st;
    df_evaluation ev = {0};
    if (val && val->count > 0 && res->val_features) {
        int *labels = malloc(sizeof(int) * (size_t)val->count);
        if (!labels) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
        for (int i = 0; i < val->count; i++) labels[i] = val->items[i].label;
        st = df_evaluate_features(res->model->head, res->val_features, labels, val->count,
                                  (const char *const *)train->class_names, &ev, err);
        if (st == DF_OK)
            st = df_evaluation_add_trust(&ev, res->val_features, df_backbone_feature_dim(bb), res->model->unknown,
                                         res->model->temperature, err);
        free(labels);
        if (st != DF_OK) return st;
        /* The result, on stdout even with --quiet (which silences progress). */
        printf("validation accuracy %.4f  loss %.4f  (%d photos)\n\n%s", ev.accuracy, ev.loss, val->count,
               ev.report_text);
    }
    if (a->run[F_REPORT]) {
        df_cli_report_input ri = {.model_path = a->run[F_OUT], .model = res->model, .backbone = bb, .train = train,
                                  .val = val, .history = &res->history, .best_epoch = res->best_epoch,
                                  .exact = opt->exact_fit ? &res->exact : NULL,
                                  .kept_epoch = res->kept_epoch,
                                  .evaluation = val ? &ev : NULL, .train_options = opt, .recipe = rc->name,
                                  .head_search = rc->head_auto ? search : NULL, .progress = &opt->progress};
        /* The audit's features are the training photos' plain ones and the
         * validation photos', computed at the backbone's own resize. */
        if (df_photo_resize(bb, opt->resize) == df_photo_resize(bb, -1)) {
            ri.train_features = train_clean ? train_clean : rc->head_auto ? search->train_clean : NULL;
            ri.val_features = res->val_features;
        }
        st = df_cli_write_report(&ri, a->run[F_REPORT], err);
        if (st == DF_OK && !prog->quiet) fprintf(stderr, "deepfashion: report in %s/report.html\n", a->run[F_REPORT]);
    }
    df_evaluation_free(&ev);
    return st;
}

/* The feature cache's passes run 8 images a batch. Per image that was as
 * fast as 16 or faster (`bench backbone --batch 8|16 --pooling r3s2`, 2
 * threads, AMD EPYC Zen 5, two runs each, 2026-12-05: MobileNetV2 QAT int8
 * 0.92-0.95 against 0.94 ms, fp32 1.94-1.98 against 2.07-2.14, bf16
 * 1.03-1.06 against 1.12-1.14, the TF2 int8 model 0.68 against 0.73;
 * capped to AVX2 int8 3.05-3.28 against 3.22-3.39, fp32 3.32-3.35 against
 * 3.23-3.40; batch 16 had been as fast as 32, in half the memory), and the
 * engine's maps take half the memory again (MobileNetV2's largest at batch
 * 16: 19 MB), new pages every run: default closet training 29,300 ->
 * 19,900 page faults, 12 alternating pairs paired median -0.055 s. */
enum { FEATURE_PASS_BATCH = 8 };

/* Whether the run's time depends on OpenBLAS: the exact fit (the default
 * solver: its Gram matrix, factorisations and triangular solves), an MLP
 * head (--head mlp or auto, or a recipe other than the default's linear
 * head) or VGG16 (its Winograd transforms' GEMMs). Only a linear head
 * trained by Adam on a TFLite backbone runs on its own kernels. */
static int uses_blas(const train_args *a) {
    const char *recipe = a->run[F_RECIPE], *head = a->setting[df_setting_find("head")];
    const char *solver = a->setting[df_setting_find("solver")];
    return (recipe && strcmp(recipe, "default")) || (head && strcmp(head, "linear")) || !solver ||
           strcmp(solver, "adam") || !strcmp(a->run[F_BACKBONE], "vgg16");
}

int df_cmd_train(int argc, char **argv) {
    train_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    if (uses_blas(&a)) df_cli_use_right_blas_kernels(argc, argv);
    progress prog = {.quiet = a.run[F_QUIET] != NULL, .tty = isatty(2)};
    prog.bar = df_cli_progress_bar(prog.quiet);
    df_error err;
    df_error_clear(&err);
    df_dataset *train = NULL, *val = NULL;
    df_backbone *bb = NULL;
    df_train_result res = {0};
    df_head_search_result search = {0};
    char *train_dir = NULL, *val_dir = NULL, *ckpt = NULL;
    float *train_clean = NULL; /* the training photos' plain features, for the report's audit */
    df_recipe recipe;
    /* The seed is needed before the recipe (it seeds the split). */
    long seed = 1;
    const char *seed_flag = a.setting[df_setting_find("seed")];
    if (seed_flag && !df_parse_int(seed_flag, 0, 2147483647L, &seed))
        return df_cli_usage_error("train", "--seed '%s' is not an integer >= 0", seed_flag);
    const double t_start = df_clock_seconds();
    df_status st = load_data(&a, (uint64_t)seed, prog.quiet, &train, &val, &train_dir, &val_dir, &err);
    const double t_scanned = df_clock_seconds();
    if (st == DF_ERR_INVALID_ARG) {
        rc = df_cli_usage_error("train", "%s", err.message);
        goto out;
    }
    rc = DF_EXIT_FAIL;
    if (st != DF_OK) goto out;
    if ((rc = make_recipe(&a, train->count, &recipe)) >= 0) goto out;
    df_trust_options trust = df_trust_options_default();
    double rate = trust.unknown_rate;
    if (a.run[F_UNKNOWN_RATE] && !df_parse_float(a.run[F_UNKNOWN_RATE], 0.0, 0.5, &rate)) {
        rc = df_cli_usage_error("train", "--unknown-rate '%s' is not a number in [0, 0.5]", a.run[F_UNKNOWN_RATE]);
        goto out;
    }
    trust.unknown_rate = (float)rate;
    rc = DF_EXIT_FAIL;
    /* The network is shaped for the batches it will run: the training
     * batch when photos are augmented live; else the passes that fill the
     * feature cache, whose batch is free: FEATURE_PASS_BATCH, which
     * --precision auto then races at too (so the race times what the
     * passes run, with no reshape after it). */
    df_backbone_options bo = recipe.backbone;
    bo.max_batch = recipe.train.feature_cache > 0 ? FEATURE_PASS_BATCH : recipe.train.batch_size;
    bo.notice = on_notice;
    bo.notice_ctx = &prog;
    char cache_dir[1024];
    bo.auto_cache_dir = df_cli_cache_dir(cache_dir, sizeof cache_dir);
    /* Fail on an unwritable output before spending minutes on training. */
    if (df_cli_check_writable(a.run[F_OUT], &err) != DF_OK) goto out;
    if (df_backbone_open(a.run[F_BACKBONE], a.run[F_WEIGHTS], &bo, &bb, &err) != DF_OK) goto out;
    df_recipe_backbone_opened(&recipe, bb);
    if (!prog.quiet) {
        fprintf(stderr, "deepfashion: %s (%s, %zu features, %s) on %d training / %d validation photos, %d classes",
                df_backbone_name(bb), df_backbone_kind(bb), df_backbone_feature_dim(bb),
                df_precision_name(df_backbone_precision(bb)), train->count, val ? val->count : 0, train->num_classes);
        /* the default's number scales with the photos (train/recipe.c): say it */
        if (recipe.train.feature_cache > 0 && recipe.train.augment)
            fprintf(stderr, ", %d augmented variant%s per photo", recipe.train.feature_cache,
                    recipe.train.feature_cache == 1 ? "" : "s");
        fputc('\n', stderr);
    }
    ckpt = a.run[F_CHECKPOINT] ? strdup(a.run[F_CHECKPOINT]) : df_cli_path_with_suffix(a.run[F_OUT], ".ckpt");
    if (!ckpt) {
        df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        goto out;
    }
    recipe.train.checkpoint_path = ckpt;
    recipe.train.resume_path = a.run[F_RESUME];
    run_times rt = {0};
    const double t_train = df_clock_seconds();
    if (run_training(bb, train, val, &recipe, &trust, &prog, &search, &res, &rt, &train_clean, &err) != DF_OK)
        goto out;
    const double t_finish = df_clock_seconds();
    if (finish(&a, &recipe, bb, train, val, train_dir, val_dir, &search, &res, train_clean, &prog, &err) != DF_OK)
        goto out;
    unlink(ckpt); /* the run finished: its checkpoint is stale */
    if (!prog.quiet) {
        const double t_end = df_clock_seconds();
        fprintf(stderr, "deepfashion: time %.2f s: photos scanned %.2f, backbone built %.2f", t_end - t_start,
                t_scanned - t_start, t_train - t_scanned);
        if (recipe.head_auto) fprintf(stderr, ", head search %.2f", rt.search);
        if (rt.pass > 0)
            fprintf(stderr, ", feature pass %.2f (backbone %.2f for %ld images, photos decoded and augmented %.2f)",
                    rt.pass, rt.pass_backbone, rt.pass_images, rt.pass - rt.pass_backbone);
        fprintf(stderr, ", head %.2f, calibration %.2f", rt.fit, rt.calibration);
        if (rt.side_by_side) fprintf(stderr, " (side by side: %.2f for both)", rt.fit_and_calibration);
        fprintf(stderr, ", model, evaluation and report %.2f\n", t_end - t_finish);
    }
    rc = DF_EXIT_OK;
out:
    if (rc == DF_EXIT_FAIL) df_cli_fail(&err);
    df_head_search_result_free(&search);
    df_train_result_free(&res);
    df_backbone_destroy(bb);
    df_dataset_free(train);
    df_dataset_free(val);
    free(train_dir);
    free(val_dir);
    free(ckpt);
    free(train_clean);
    return rc;
}
