/* deepfashion report: the HTML report and figures of a trained model on a data set. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/classifier.h"
#include "cli/cli.h"
#include "cli/common.h"

static const char *USAGE =
    "usage: deepfashion report --model MODEL --data DIR --out DIR [--history FILE] [--weights FILE]\n"
    "                          [--unknown-dir DIR]\n"
    "\n"
    "Writes OUT/report.html (one self-contained page: data set, settings,\n"
    "learning curves, confusion matrices, classification report, a gallery of\n"
    "predictions, augmented samples, the model summary) plus each figure as PNG\n"
    "and classification_report.txt. DIR is evaluated (DIR/validation when DIR\n"
    "holds train/ and validation/); --history is the file train --history wrote;\n"
    "--unknown-dir: off-topic photos, how many the unknown detector catches.\n";

int df_cmd_report(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'}, {"history", required_argument, 0, 'H'},
        {"weights", required_argument, 0, 'w'}, {"unknown-dir", required_argument, 0, 'u'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *out = NULL, *history = NULL, *weights = NULL, *unknown_dir = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case 'H': history = optarg; break;
        case 'w': weights = optarg; break;
        case 'u': unknown_dir = optarg; break;
        case 'h': fputs(USAGE, stdout); return DF_EXIT_OK;
        default: return df_cli_usage_error("report", "unknown option");
        }
    }
    if (optind < argc) return df_cli_usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (!model || !data || !out) return df_cli_usage_error("report", "--model, --data and --out are required");
    df_error err;
    df_error_clear(&err);
    df_history h = {0};
    if (history && df_cli_read_history(history, &h, &err) != DF_OK) return df_cli_fail(&err);
    df_evaluation ev;
    df_classifier *clf = NULL;
    df_dataset *val = NULL, *train = NULL;
    int rc = DF_EXIT_FAIL;
    if (df_cli_evaluate_dir(model, data, weights, DF_PRECISION_AUTO, &clf, &val, &ev, &err) != DF_OK) {
        df_history_free(&h);
        return df_cli_fail(&err);
    }
    /* The training photos, for counts and augmented samples, when DIR has them. */
    char *tdir = NULL, *vdir = NULL;
    if (df_cli_resolve_data_dirs(data, NULL, &tdir, &vdir, &err) == DF_OK && vdir &&
        strcmp(tdir, data) != 0) {
        df_scan_options so = df_scan_options_default();
        so.require_usable = 0;
        if (df_dataset_scan(tdir, &so, &train, &err) != DF_OK) train = NULL;
    }
    df_cli_progress bar = df_cli_progress_bar(0);
    df_progress progress = {df_cli_progress_report, &bar};
    int best = 0;
    for (int e = 0; e < h.epochs; e++)
        if (best == 0 || h.val_loss[e] < h.val_loss[best - 1]) best = e + 1;
    df_run_report r = {.model_path = model, .model = clf->model, .backbone = clf->backbone,
                       .train = train, .val = val, .history = &h, .best_epoch = best,
                       .exact_fit = df_cli_training_was_exact(clf->model->meta.training_json),
                       .evaluation = &ev, .progress = &progress};
    if (unknown_dir && df_cli_score_off_topic(clf, unknown_dir, &r.offtopic_photos, &r.offtopic_caught, &err) != DF_OK) {
        df_cli_fail(&err);
    } else if (df_run_report_write(&r, out, &err) != DF_OK) {
        df_cli_fail(&err);
    } else {
        fprintf(stderr, "deepfashion: report in %s/report.html (accuracy %.4f on %d photos)\n", out,
                ev.accuracy, ev.n);
        rc = DF_EXIT_OK;
    }
    free(tdir);
    free(vdir);
    df_evaluation_free(&ev);
    df_classifier_destroy(clf);
    df_dataset_free(val);
    df_dataset_free(train);
    df_history_free(&h);
    return rc;
}
