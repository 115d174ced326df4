/* deepfashion predict: classify photos (straight from a phone, or whole
 * folders of them) with a trained model; "none of these" when a photo is
 * unlike every training photo; CSV, sorting into class folders and Grad-CAM
 * explanations. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/classifier.h"
#include "cli/cli.h"
#include "api/explain.h"
#include "core/clock.h"
#include "core/fileio.h"
#include "data/dataset.h"
#include "data/photo.h"
#include "data/place.h"
#include "data/text.h"
#include "eval/unknown.h"

static const char *USAGE =
    "usage: deepfashion predict --model MODEL [options] PHOTO_OR_FOLDER...\n"
    "\n"
    "Prints the predicted class and the probabilities of every class for each\n"
    "photo. Photos of any size are fine (JPEG, PNG, BMP); the EXIF rotation of\n"
    "phone photos is applied. A folder is searched recursively with the same\n"
    "rules as training (hidden files, other types and unreadable entries are\n"
    "listed as skipped on stderr). A photo unlike every training photo is\n"
    "\"unknown (closest: CLASS P)\" when the model has an unknown detector\n"
    "(models trained since this option exists).\n"
    "\n"
    "options:\n"
    "  --json              one JSON object per photo per line: path, class (the most\n"
    "                      probable trained class), probabilities, unknown,\n"
    "                      unknown_score (null without a detector)\n"
    "  --csv FILE          also write path,class,confidence,unknown,<one column per\n"
    "                      class> (replaced atomically at the end; unknown is true or\n"
    "                      false, empty without a detector or with --no-unknown)\n"
    "  --sort-into DIR     put a link to every photo into DIR/<class>/ or\n"
    "                      DIR/unknown/; the originals are never touched and no\n"
    "                      file is overwritten (a taken name gets -1, -2, ...)\n"
    "  --copy              with --sort-into: copies instead of links\n"
    "  --explain DIR       write a Grad-CAM overlay PNG per photo into DIR\n"
    "  --no-unknown        never answer unknown (always the most probable class)\n"
    "  --weights FILE      backbone weights (default: as recorded in the model)\n"
    "  --precision P       auto, fp32 or bf16 (default: as the model was trained)\n"
    "  --quiet             no progress bar, no skipped-file lines\n"
    "\n"
    "A progress bar is shown when stderr is a terminal and the run takes longer\n"
    "than a second.\n"
    "Exit status 1 if any photo could not be read (the others are still done),\n"
    "2 for a usage error.\n";

typedef struct predict_opts {
    const char *model, *weights, *csv, *sort_into, *explain;
    int json, copy, no_unknown, quiet;
    df_precision precision;
} predict_opts;

/* The photos named on the command line: files as given, folders scanned. */
static int collect(char **args, int n, const predict_opts *o, char ***paths_out, int *count) {
    char **paths = NULL;
    int np = 0, cap = 0, rc = DF_EXIT_OK;
    for (int i = 0; i < n; i++) {
        struct stat sst;
        df_dataset *ds = NULL;
        df_error err;
        if (stat(args[i], &sst) == 0 && S_ISDIR(sst.st_mode)) {
            df_scan_options so = df_scan_options_default();
            so.verify = 0; /* a photo that does not decode is reported when reached */
            if (df_dataset_scan_tree(args[i], &so, &ds, &err) != DF_OK) {
                df_cli_fail(&err);
                rc = DF_EXIT_FAIL;
                continue;
            }
            for (int s = 0; s < ds->num_skipped && !o->quiet; s++) {
                char *pp = df_text_printable(ds->skipped[s].path);
                fprintf(stderr, "deepfashion: skipped %s: %s\n", pp ? pp : "?", ds->skipped[s].reason);
                free(pp);
            }
        }
        int add = ds ? ds->count : 1;
        if (np + add > cap) {
            cap = (np + add) * 2;
            char **p = realloc(paths, sizeof *paths * (size_t)cap);
            if (!p) {
                df_dataset_free(ds);
                rc = DF_EXIT_FAIL;
                fprintf(stderr, "deepfashion: out of memory\n");
                break;
            }
            paths = p;
        }
        int oom = 0;
        for (int k = 0; k < add && !oom; k++)
            if ((paths[np] = strdup(ds ? ds->items[k].path : args[i]))) np++;
            else oom = 1;
        df_dataset_free(ds);
        if (oom) {
            fprintf(stderr, "deepfashion: out of memory\n");
            rc = DF_EXIT_FAIL;
            break;
        }
    }
    *paths_out = paths;
    *count = np;
    return rc;
}

/* A CSV field: quoted when it holds a comma, quote or line break; bytes as they are. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

typedef struct progress {
    int on;         /* stderr is a terminal and no --quiet */
    double start;
    int shown;
} progress;

/* "\rpredict: 120/500 photos, 35.2 photos/s, 11 s left", once the run has
 * taken a second; the line is ended when the last photo is done. */
static void progress_update(progress *p, int done, int total) {
    if (!p->on || total < 2) return;
    double el = df_clock_seconds() - p->start;
    if (el < 1.0 && !(p->shown && done == total)) return;
    p->shown = 1;
    double rate = done / (el > 1e-9 ? el : 1e-9);
    fprintf(stderr, "\rpredict: %d/%d photos, %.1f photos/s, %.0f s left\033[K%s", done, total, rate,
            (total - done) / rate, done == total ? "\n" : "");
    fflush(stderr);
}

static void print_text(const df_classifier *clf, const char *path, const float *probs, const df_prediction *pr) {
    int C = df_classifier_num_classes(clf);
    char *pp = df_text_printable(path);
    if (pr->unknown)
        printf("%s: unknown (closest: %s %.2f)  (", pp ? pp : "?", df_classifier_class_name(clf, pr->best),
               (double)probs[pr->best]);
    else
        printf("%s: %s %.1f%%  (", pp ? pp : "?", df_classifier_class_name(clf, pr->best),
               100.0 * probs[pr->best]);
    for (int k = 0; k < C; k++)
        printf("%s%s %.3f", k ? ", " : "", df_classifier_class_name(clf, k), (double)probs[k]);
    printf(")\n");
    free(pp);
}

static void print_json(const df_classifier *clf, const char *path, const float *probs, const df_prediction *pr) {
    int C = df_classifier_num_classes(clf);
    char *qp = df_text_json_quote(path);
    char *qc = df_text_json_quote(df_classifier_class_name(clf, pr->best));
    printf("{\"path\":%s,\"class\":%s,\"probabilities\":{", qp ? qp : "\"\"", qc ? qc : "\"\"");
    for (int k = 0; k < C; k++) {
        char *qn = df_text_json_quote(df_classifier_class_name(clf, k));
        printf("%s%s:%.4g", k ? "," : "", qn ? qn : "\"\"", (double)probs[k]);
        free(qn);
    }
    printf("},\"unknown\":%s,\"unknown_score\":", pr->unknown ? "true" : "false");
    if (isnan(pr->unknown_score)) printf("null}\n");
    else printf("%.4g}\n", (double)pr->unknown_score);
    free(qp);
    free(qc);
}

static void write_csv_row(FILE *f, const df_classifier *clf, const char *path, const float *probs,
                          const df_prediction *pr, int has_detector) {
    int C = df_classifier_num_classes(clf);
    csv_field(f, path);
    fputc(',', f);
    csv_field(f, df_classifier_class_name(clf, pr->best));
    fprintf(f, ",%.6f,%s", (double)probs[pr->best], has_detector ? (pr->unknown ? "true" : "false") : "");
    for (int k = 0; k < C; k++) fprintf(f, ",%.6f", (double)probs[k]);
    fputc('\n', f);
}

/* DIR/<class>/ for each class and DIR/<unknown>/, created up front. */
static df_status make_sort_dirs(const char *dir, const df_classifier *clf, const char *unknown_name,
                                df_error *err) {
    df_status st = df_mkdir_p(dir, err);
    for (int k = 0; st == DF_OK && k <= df_classifier_num_classes(clf); k++) {
        const char *name = k < df_classifier_num_classes(clf) ? df_classifier_class_name(clf, k) : unknown_name;
        char *p = df_path_join(dir, name);
        st = p ? df_mkdir_p(p, err) : df_error_set(err, DF_ERR_NOMEM, "out of memory");
        free(p);
    }
    return st;
}

static df_status sort_one(const predict_opts *o, const df_classifier *clf, const char *unknown_name,
                          const char *path, const df_prediction *pr, df_error *err) {
    char *dir = df_path_join(o->sort_into, pr->unknown ? unknown_name : df_classifier_class_name(clf, pr->best));
    if (!dir) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    char *placed = NULL;
    df_status st = df_place_file(path, dir, o->copy, &placed, err);
    free(placed);
    free(dir);
    return st;
}

static int parse_args(int argc, char **argv, predict_opts *o) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"weights", required_argument, 0, 'w'},
        {"precision", required_argument, 0, 'p'}, {"json", no_argument, 0, 'j'},
        {"csv", required_argument, 0, 'c'}, {"sort-into", required_argument, 0, 's'},
        {"copy", no_argument, 0, 'C'}, {"explain", required_argument, 0, 'e'},
        {"no-unknown", no_argument, 0, 'n'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->precision = DF_PRECISION_AUTO;
    df_error err;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'w': o->weights = optarg; break;
        case 'j': o->json = 1; break;
        case 'c': o->csv = optarg; break;
        case 's': o->sort_into = optarg; break;
        case 'C': o->copy = 1; break;
        case 'e': o->explain = optarg; break;
        case 'n': o->no_unknown = 1; break;
        case 'q': o->quiet = 1; break;
        case 'p':
            if (df_precision_parse(optarg, &o->precision, &err) != DF_OK)
                return df_cli_usage_error("predict", "%s", err.message);
            break;
        case 'h': fputs(USAGE, stdout); return DF_EXIT_OK;
        default: return df_cli_usage_error("predict", "unknown option");
        }
    }
    if (!o->model) return df_cli_usage_error("predict", "--model is required");
    if (optind >= argc) return df_cli_usage_error("predict", "no PHOTO or FOLDER given");
    if (o->copy && !o->sort_into) return df_cli_usage_error("predict", "--copy needs --sort-into");
    return -1;
}

typedef struct run_state {
    const predict_opts *o;
    df_classifier *clf;
    const char *unknown_name;
    FILE *csv;
    df_explainer *explainer;
    float *probs;
} run_state;

/* One photo through everything asked for, from its features when a
 * batched pass computed them (else it is decoded and run here);
 * DF_EXIT_FAIL when it failed. */
static int predict_one(run_state *r, const char *path, const float *features) {
    df_error err;
    df_prediction pr;
    df_status st = features ? df_classifier_judge(r->clf, features, !r->o->no_unknown, r->probs, &pr, &err)
                            : df_classifier_predict_photo(r->clf, path, !r->o->no_unknown, r->probs, &pr, &err);
    if (st != DF_OK) return df_cli_fail(&err);
    if (r->o->json) print_json(r->clf, path, r->probs, &pr);
    else print_text(r->clf, path, r->probs, &pr);
    fflush(stdout);
    if (r->csv) write_csv_row(r->csv, r->clf, path, r->probs, &pr, r->clf->model->unknown && !r->o->no_unknown);
    if (r->o->sort_into && sort_one(r->o, r->clf, r->unknown_name, path, &pr, &err) != DF_OK)
        return df_cli_fail(&err);
    if (r->explainer && df_explain_photo(r->explainer, path, pr.best, r->o->explain, NULL, &err) != DF_OK)
        return df_cli_fail(&err);
    return DF_EXIT_OK;
}

/* Photos per batched pass, and per backbone call within it. */
enum { CHUNK = 64, STREAM_BATCH = 8 };

typedef struct chunk_progress {
    progress *pg;
    int base, total;
} chunk_progress;

static void on_chunk_progress(void *ctx, const char *what, long done, long total) {
    (void)what;
    (void)total;
    chunk_progress *cp = ctx;
    if (done > 0) progress_update(cp->pg, cp->base + (int)done, cp->total);
}

/* The features of m photos in one pass: decoding on a worker thread while
 * the backbone runs the previous batch (data/photo.h). Any photo that fails
 * fails the pass; the caller then goes photo by photo to report it. */
static df_status chunk_features(run_state *r, char **paths, int m, const df_progress *prog, float **feats) {
    static const char *const NAMES[1] = {"photos"};
    df_error err;
    int *labels = calloc((size_t)m, sizeof *labels);
    df_dataset *ds = NULL;
    df_status st = labels ? df_dataset_from_paths(1, NAMES, m, (const char *const *)paths, labels, &ds, &err)
                          : DF_ERR_NOMEM;
    if (st == DF_OK) st = df_photo_features(r->clf->backbone, ds, r->clf->resize, prog, feats, &err);
    df_dataset_free(ds);
    free(labels);
    return st;
}

static int predict_all(run_state *r, char **paths, int n, int batched, progress *pg) {
    int rc = DF_EXIT_OK;
    size_t F = (size_t)r->clf->model->meta.feature_dim;
    for (int i0 = 0; i0 < n; i0 += CHUNK) {
        int m = n - i0 < CHUNK ? n - i0 : CHUNK;
        float *feats = NULL;
        chunk_progress cp = {pg, i0, n};
        df_progress prog = {on_chunk_progress, &cp};
        if (batched && m > 1 && chunk_features(r, paths + i0, m, &prog, &feats) != DF_OK) {
            free(feats);
            feats = NULL;
        }
        for (int i = 0; i < m; i++) {
            if (predict_one(r, paths[i0 + i], feats ? feats + (size_t)i * F : NULL) != DF_EXIT_OK) rc = DF_EXIT_FAIL;
            if (!feats) progress_update(pg, i0 + i + 1, n);
        }
        free(feats);
    }
    return rc;
}

static int run(const predict_opts *o, char **paths, int n) {
    df_error err;
    run_state r = {.o = o, .unknown_name = "unknown"};
    df_atomic_file af = {0};
    int rc = DF_EXIT_FAIL;
    /* A few photos go one by one; more stream in batches. */
    int batched = n >= 2 * STREAM_BATCH;
    df_classifier_options co = {.backbone_weights = o->weights, .precision = o->precision,
                                .max_batch = batched ? STREAM_BATCH : 1, .no_autotune = 1};
    if (df_classifier_open(o->model, &co, &r.clf, &err) != DF_OK) return df_cli_fail(&err);
    int C = df_classifier_num_classes(r.clf);
    for (int k = 0; k < C; k++)
        if (!strcmp(df_classifier_class_name(r.clf, k), "unknown")) r.unknown_name = "none-of-these";
    if (!r.clf->model->unknown && !o->no_unknown && !o->quiet)
        fprintf(stderr, "deepfashion: %s has no unknown detector (trained before it existed): "
                        "every photo gets one of its classes\n", o->model);
    if (!(r.probs = malloc(sizeof(float) * (size_t)C))) {
        df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o->sort_into && make_sort_dirs(o->sort_into, r.clf, r.unknown_name, &err) != DF_OK) goto fail;
    if (o->explain && (df_mkdir_p(o->explain, &err) != DF_OK ||
                       df_explainer_create(o->model, r.clf->model, &co, &r.explainer, &err) != DF_OK))
        goto fail;
    if (o->csv) {
        if (df_atomic_open(&af, o->csv, &err) != DF_OK) goto fail;
        r.csv = af.fp;
        fputs("path,class,confidence,unknown", r.csv);
        for (int k = 0; k < C; k++) {
            fputc(',', r.csv);
            csv_field(r.csv, df_classifier_class_name(r.clf, k));
        }
        fputc('\n', r.csv);
    }
    rc = DF_EXIT_OK;
    /* A bar for people watching: only on a terminal (a log or a pipe gets
     * the results and the errors, nothing else). */
    progress pg = {.on = !o->quiet && isatty(2), .start = df_clock_seconds()};
    rc = predict_all(&r, paths, n, batched, &pg);
    if (r.csv && df_atomic_commit(&af, &err) != DF_OK) {
        rc = df_cli_fail(&err);
    }
    goto out;
fail:
    df_cli_fail(&err);
out:
    df_atomic_abort(&af);
    df_explainer_destroy(r.explainer);
    free(r.probs);
    df_classifier_destroy(r.clf);
    return rc;
}

int df_cmd_predict(int argc, char **argv) {
    predict_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) return rc;
    char **paths = NULL;
    int n = 0;
    rc = collect(argv + optind, argc - optind, &o, &paths, &n);
    if (n > 0 || rc == DF_EXIT_OK) {
        int rr = run(&o, paths, n);
        if (rr != DF_EXIT_OK) rc = rr;
    }
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    return rc;
}
