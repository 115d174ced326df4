/* deepfashion evaluate: accuracy, loss, confusion matrix and classification report of a model on a folder. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/classifier.h"
#include "cli/cli.h"
#include "cli/common.h"
#include "data/photo.h"
#include "eval/evaluation.h"
#include "eval/unknown.h"

static const char *USAGE =
    "usage: deepfashion evaluate --model MODEL --data DIR [--unknown-dir DIR] [--weights FILE] [--json]\n"
    "\n"
    "Evaluates MODEL on the photos in DIR (class folders with the model's class\n"
    "names; if DIR has a validation/ folder, that is used). Prints accuracy,\n"
    "loss, the confusion matrix (rows true, columns predicted) and the\n"
    "classification report, the calibration (expected calibration error before\n"
    "and after the model's temperature, and the reliability table) and how many\n"
    "of the photos the unknown detector would lose; --json prints one JSON\n"
    "object instead.\n"
    "  --unknown-dir DIR  off-topic photos (any folder tree): how many are called unknown\n"
    "  --weights FILE   backbone weights, if not where training found them\n"
    "  --precision P    auto, fp32, bf16 or int8\n";

static void on_notice(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "deepfashion: %s\n", msg);
}

/* Loads the classifier and evaluates it on dir; used by evaluate and report. */
int df_cli_evaluate_dir(const char *model_path, const char *data, const char *weights,
                        df_precision precision, df_classifier **clf_out, df_dataset **ds_out,
                        df_evaluation *ev, df_error *err) {
    df_classifier_options co = {.backbone_weights = weights, .precision = precision,
                                .max_batch = 16, .notice = on_notice};
    df_classifier *clf = NULL;
    df_dataset *ds = NULL;
    float *feats = NULL;
    int *labels = NULL;
    char *tdir = NULL, *vdir = NULL;
    df_model *model = NULL;
    /* The photos and the model's classes are checked before the backbone is
     * built (seconds for VGG16): a wrong folder fails at once. */
    df_status st = df_cli_resolve_data_dirs(data, NULL, &tdir, &vdir, err);
    if (st != DF_OK) goto done;
    /* DIR/validation when DIR holds train/ and validation/; else DIR. */
    const char *dir = vdir && strcmp(data, tdir) != 0 ? vdir : data;
    df_scan_options so = df_scan_options_default();
    so.require_usable = 0;
    st = df_dataset_scan(dir, &so, &ds, err);
    if (st != DF_OK) goto done;
    df_cli_print_skipped(ds, 0);
    if (ds->count == 0) {
        st = df_error_set(err, DF_ERR_DATA, "%s: no usable photos", dir);
        goto done;
    }
    st = df_model_load(model_path, &model, err);
    if (st != DF_OK) goto done;
    /* Classes are matched by name: a folder may lack a class, never add
     * one; from here on the data set speaks in the model's classes. */
    st = df_dataset_use_classes(ds, (const char *const *)model->meta.class_names, model->meta.num_classes, err);
    if (st != DF_OK) {
        df_model_destroy(model);
        goto done;
    }
    st = df_classifier_from_model(model_path, model, &co, &clf, err);
    if (st != DF_OK) goto done;
    const df_model_meta *m = &clf->model->meta;
    labels = malloc(sizeof(int) * (size_t)(ds->count ? ds->count : 1));
    if (!labels) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < ds->count; i++) labels[i] = ds->items[i].label;
    st = df_photo_features(clf->backbone, ds, clf->resize, NULL, &feats, err);
    if (st != DF_OK) goto done;
    st = df_evaluate_features(clf->model->head, feats, labels, ds->count,
                              (const char *const *)m->class_names, ev, err);
    if (st == DF_OK)
        st = df_evaluation_add_trust(ev, feats, (size_t)m->feature_dim, clf->model->unknown, clf->model->temperature,
                                     err);
done:
    free(feats);
    free(labels);
    free(tdir);
    free(vdir);
    if (st == DF_OK && clf_out && ds_out) {
        *clf_out = clf;
        *ds_out = ds;
    } else {
        df_classifier_destroy(clf);
        df_dataset_free(ds);
    }
    return st;
}

static void print_trust(const df_evaluation *ev, const char *unknown_dir, int n_off, int caught) {
    const df_reliability *a = &ev->reliability_raw, *b = &ev->reliability_calibrated;
    if (ev->temperature > 0.0f)
        printf("\ncalibration: temperature %.3f; expected calibration error %.4f (%.4f before scaling), "
               "loss %.4f\n", (double)ev->temperature, b->ece, a->ece, ev->loss_calibrated);
    else
        printf("\ncalibration: the model has no temperature; expected calibration error %.4f\n", a->ece);
    printf("reliability (%d bins; confidence, accuracy, photos):", DF_CALIB_BINS);
    for (int k = 0; k < DF_CALIB_BINS; k++)
        if (b->count[k]) printf("  [%.2f-%.2f) %.3f %.3f %d", (double)k / DF_CALIB_BINS, (double)(k + 1) / DF_CALIB_BINS,
                                b->confidence[k], b->accuracy[k], b->count[k]);
    printf("\n");
    if (!ev->unknown_score) {
        printf("unknown: the model has no unknown detector (trained before it existed)\n");
        return;
    }
    printf("unknown: threshold %.4f; %d of %d genuine photos called unknown (%.1f%% lost); accuracy on the "
           "accepted %.4f (on all %.4f)\n",
           (double)ev->unknown_threshold, ev->unknown_count, ev->n, 100.0 * ev->unknown_count / ev->n,
           ev->accuracy_accepted, ev->accuracy);
    if (unknown_dir)
        printf("unknown: %d of %d off-topic photos in %s called unknown (%.1f%% caught)\n", caught, n_off,
               unknown_dir, n_off ? 100.0 * caught / n_off : 0.0);
}

int df_cmd_evaluate(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"weights", required_argument, 0, 'w'}, {"precision", required_argument, 0, 'p'},
        {"json", no_argument, 0, 'j'}, {"unknown-dir", required_argument, 0, 'u'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *weights = NULL, *unknown_dir = NULL;
    int json = 0;
    df_precision precision = DF_PRECISION_AUTO;
    df_error err;
    df_error_clear(&err);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'w': weights = optarg; break;
        case 'j': json = 1; break;
        case 'u': unknown_dir = optarg; break;
        case 'p':
            if (df_precision_parse(optarg, &precision, &err) != DF_OK)
                return df_cli_usage_error("evaluate", "%s", err.message);
            break;
        case 'h': fputs(USAGE, stdout); return DF_EXIT_OK;
        default: return df_cli_usage_error("evaluate", "unknown option");
        }
    }
    if (optind < argc) return df_cli_usage_error("evaluate", "unexpected argument '%s'", argv[optind]);
    if (!model || !data) return df_cli_usage_error("evaluate", "--model and --data are required");
    df_evaluation ev;
    df_classifier *clf = NULL;
    df_dataset *ds = NULL;
    if (df_cli_evaluate_dir(model, data, weights, precision, &clf, &ds, &ev, &err) != DF_OK)
        return df_cli_fail(&err);
    int n_off = 0, caught = 0;
    if (unknown_dir && df_cli_score_off_topic(clf, unknown_dir, &n_off, &caught, &err) != DF_OK) {
        df_evaluation_free(&ev);
        df_classifier_destroy(clf);
        df_dataset_free(ds);
        return df_cli_fail(&err);
    }
    const char *const *names = (const char *const *)clf->model->meta.class_names;
    int C = ev.num_classes;
    if (json) {
        char *s = df_evaluation_json(&ev, names);
        if (s && unknown_dir) {
            s[strlen(s) - 1] = '\0';
            printf("%s,\"off_topic\":{\"photos\":%d,\"caught\":%d}}\n", s, n_off, caught);
        } else if (s) {
            puts(s);
        }
        free(s);
    } else {
        printf("accuracy %.4f  loss %.4f  (%d photos)\n\nconfusion matrix (rows true, columns predicted):\n",
               ev.accuracy, ev.loss, ev.n);
        int w = 8;
        for (int k = 0; k < C; k++)
            if ((int)strlen(names[k]) + 1 > w) w = (int)strlen(names[k]) + 1;
        printf("%*s", w, "");
        for (int k = 0; k < C; k++) printf(" %*s", w, names[k]);
        printf("\n");
        for (int r = 0; r < C; r++) {
            printf("%*s", w, names[r]);
            for (int k = 0; k < C; k++) printf(" %*d", w, ev.confusion[r * C + k]);
            printf("\n");
        }
        printf("\n%s", ev.report_text);
        print_trust(&ev, unknown_dir, n_off, caught);
    }
    df_evaluation_free(&ev);
    df_classifier_destroy(clf);
    df_dataset_free(ds);
    return DF_EXIT_OK;
}
