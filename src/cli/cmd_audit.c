/*
 * deepfashion audit DATA --backbone ... --weights ...: the photos of a data
 * set that may hurt a classifier (audit/audit.h), worst first, as a table,
 * one JSON object (--json), a fix list (--csv) and an HTML page with
 * thumbnails (--report). The data folder is only read.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_write.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "data/text.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion audit DATA --backbone vgg16|tflite --weights FILE\n"
            "                         [--json] [--report DIR] [--csv FILE] [options]\n\n"
            "Finds the photos that hurt, worst first, and changes nothing in DATA:\n"
            "  mislabeled      the folder is probably wrong (out-of-fold predictions,\n"
            "                  confident learning); with the suggested class\n"
            "  leak            a validation photo that copies a training photo\n"
            "  duplicate       a copy or near-copy inside one split\n"
            "  outlier         unlike every training photo (off-topic)\n"
            "  dark, bright, blurry, low_resolution (short side < 224)\n"
            "and the class balance. DATA as for train: class folders, or train/ and\n"
            "validation/.\n\n"
            "options:\n"
            "  --backbone NAME     vgg16 or tflite\n"
            "  --weights FILE      the backbone's weights / model file\n"
            "  --json              print one JSON object {\"issues\":[...],\"summary\":{...}}\n"
            "  --csv FILE          write the fix list: path,problem,suggestion,score,other_path\n"
            "  --report DIR        write DIR/audit.html with thumbnails of every finding\n"
            "  --folds K           folds of the out-of-fold predictions (default 5)\n"
            "  --seed N            folds and head initialisation (default 1)\n"
            "  --precision P       auto (default), fp32, bf16\n"
            "  --cut TENSOR        TFLite: the tensor whose values are the features\n"
            "                      (default: the globally pooled one, found automatically)\n"
            "  --threads N         decoding threads (default: all cores)\n"
            "  --help              this text\n\n"
            "Exit status: 0 audited (findings or not), 1 failure, 2 usage error.\n");
}

static void on_notice(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "deepfashion: note: %s\n", msg);
}

static void print_text(const df_audit_result *r) {
    printf("%d photos (%d training, %d validation), %d classes: %d findings\n", r->n_photos, r->n_train,
           r->n_photos - r->n_train, r->n_classes, r->n_issues);
    for (int i = 0; i < r->n_issues; i++) {
        const df_audit_issue *is = &r->issues[i];
        char *p = df_text_printable(r->photos[is->photo].path);
        char *s = df_audit_suggestion(r, is);
        char *q = s ? df_text_printable(s) : NULL;
        printf("  %-14s %.2f  %s: %s\n", df_audit_kind_name(is->kind), is->score, p ? p : "?", q ? q : "?");
        free(p);
        free(s);
        free(q);
    }
    printf("counts:");
    for (int k = 0; k < DF_AUDIT_KINDS; k++) printf(" %s %d", df_audit_kind_name(k), r->counts[k]);
    printf("\n");
    if (r->n_train < r->n_photos)
        printf("validation accuracy %.3f; without the %d leaked photos %.3f\n", r->val_accuracy,
               r->val_leaked, r->val_accuracy_without_leaks);
    if (r->advise_class_weights)
        printf("classes are imbalanced (%.1fx): train with --class-weight balanced or add photos\n",
               r->imbalance_ratio);
    printf("took %.1f s (decode %.1f s, backbone %.1f s, folds %.1f s)\n", r->seconds_total,
           r->seconds_decode, r->seconds_features, r->seconds_folds);
}

typedef struct args {
    const char *data, *kind, *weights, *csv, *report;
    int json;
    df_audit_options opt;
    df_backbone_options bo;
} args;

/* Returns -1 when parsed, else the exit code. */
static int parse(int argc, char **argv, args *a) {
    static const struct option longopts[] = {
        {"backbone", required_argument, NULL, 'b'}, {"weights", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'j'},           {"csv", required_argument, NULL, 'c'},
        {"report", required_argument, NULL, 'r'},   {"folds", required_argument, NULL, 'k'},
        {"seed", required_argument, NULL, 's'},     {"precision", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 't'},  {"cut", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 1;
    opterr = 0;
    int ch;
    long v;
    df_error err;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b': a->kind = optarg; break;
        case 'w': a->weights = optarg; break;
        case 'j': a->json = 1; break;
        case 'c': a->csv = optarg; break;
        case 'r': a->report = optarg; break;
        case 'k':
            if (!df_cli_parse_int(optarg, 2, 20, &v))
                return df_cli_usage_error("audit", "--folds wants an integer 2..20, got '%s'", optarg);
            a->opt.folds = (int)v;
            break;
        case 's':
            if (!df_cli_parse_int(optarg, 0, 2147483647L, &v))
                return df_cli_usage_error("audit", "--seed wants a non-negative integer, got '%s'", optarg);
            a->opt.seed = (uint64_t)v;
            break;
        case 'p':
            if (df_precision_parse(optarg, &a->bo.precision, &err))
                return df_cli_usage_error("audit", "%s", err.message);
            break;
        case 't':
            if (!df_cli_parse_int(optarg, 1, 256, &v))
                return df_cli_usage_error("audit", "--threads wants an integer 1..256, got '%s'", optarg);
            a->opt.threads = (int)v;
            break;
        case 'u': a->bo.cut_tensor = optarg; break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':': return df_cli_usage_error("audit", "%s needs a value", argv[optind - 1]);
        default: return df_cli_usage_error("audit", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return df_cli_usage_error("audit", "needs a data folder");
    if (optind != argc - 1) return df_cli_usage_error("audit", "takes one data folder, got %d", argc - optind);
    a->data = argv[optind];
    if (!a->kind) return df_cli_usage_error("audit", "--backbone is required (vgg16 or tflite)");
    if (strcmp(a->kind, "vgg16") && strcmp(a->kind, "tflite"))
        return df_cli_usage_error("audit", "--backbone '%s' is not one of vgg16, tflite", a->kind);
    if (!a->weights) return df_cli_usage_error("audit", "--weights is required");
    return -1;
}

int df_cmd_audit(int argc, char **argv) {
    args a;
    memset(&a, 0, sizeof a);
    a.opt = df_audit_options_default();
    a.bo = df_backbone_options_default();
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    df_error err;
    df_error_clear(&err);
    char *train_dir = NULL, *val_dir = NULL, *json = NULL;
    df_dataset *train = NULL, *val = NULL;
    df_backbone *bb = NULL;
    df_audit_result res;
    memset(&res, 0, sizeof res);
    rc = DF_EXIT_FAIL;
    if (df_cli_resolve_data_dirs(a.data, NULL, &train_dir, &val_dir, &err)) goto out;
    /* Fail early on outputs that cannot be written, before the long part. */
    if (a.csv && df_cli_check_writable(a.csv, &err)) goto out;
    df_scan_options so = df_scan_options_default();
    so.threads = a.opt.threads;
    if (df_dataset_scan(train_dir, &so, &train, &err)) goto out;
    df_cli_print_skipped(train, 0);
    if (val_dir) {
        so.require_usable = 0;
        if (df_dataset_scan(val_dir, &so, &val, &err)) goto out;
        df_cli_print_skipped(val, 0);
        if (df_dataset_same_classes(train, val, &err)) goto out;
    }
    df_cli_progress bar = df_cli_progress_bar(0);
    df_progress progress = {df_cli_progress_report, &bar};
    a.opt.progress = &progress;
    a.bo.max_batch = 16;
    a.bo.notice = on_notice;
    char cache_dir[1024];
    a.bo.auto_cache_dir = df_cli_cache_dir(cache_dir, sizeof cache_dir);
    if (df_backbone_open(a.kind, a.weights, &a.bo, &bb, &err)) goto out;
    if (df_audit_run(bb, train, val, &a.opt, &res, &err)) goto out;
    if (a.csv && df_audit_write_csv(&res, a.csv, &err)) goto out;
    if (a.report && df_audit_write_html(&res, a.report, &err)) goto out;
    if (a.json) {
        json = df_audit_json(&res);
        if (!json) {
            df_error_set(&err, DF_ERR_NOMEM, "audit: out of memory for the JSON");
            goto out;
        }
        fputs(json, stdout);
    } else {
        print_text(&res);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        df_error_set(&err, DF_ERR_IO, "audit: cannot write to standard output");
        goto out;
    }
    rc = DF_EXIT_OK;
out:
    if (rc == DF_EXIT_FAIL) df_cli_fail(&err);
    free(json);
    df_audit_result_free(&res);
    df_backbone_destroy(bb);
    df_dataset_free(train);
    df_dataset_free(val);
    free(train_dir);
    free(val_dir);
    return rc;
}
