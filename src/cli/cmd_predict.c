/* deepfashion predict: classify photos (straight from a phone) with a trained model. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/classifier.h"
#include "cli/cli.h"
#include "data/text.h"

static const char *USAGE =
    "usage: deepfashion predict --model MODEL [--weights FILE] [--json] IMAGE...\n"
    "\n"
    "Prints the predicted class and the probabilities of every class for each\n"
    "photo. Photos of any size are fine (JPEG, PNG, BMP); the EXIF rotation of\n"
    "phone photos is applied. --json prints one object per photo per line.\n"
    "Exit status 1 if any photo could not be read (the others are still printed).\n";

int df_cmd_predict(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"weights", required_argument, 0, 'w'},
        {"precision", required_argument, 0, 'p'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model = NULL, *weights = NULL;
    int json = 0;
    df_precision precision = DF_PRECISION_AUTO;
    df_error err;
    df_error_clear(&err);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'w': weights = optarg; break;
        case 'j': json = 1; break;
        case 'p':
            if (df_precision_parse(optarg, &precision, &err) != DF_OK)
                return df_cli_usage_error("predict", "%s", err.message);
            break;
        case 'h': fputs(USAGE, stdout); return DF_EXIT_OK;
        default: return df_cli_usage_error("predict", "unknown option");
        }
    }
    if (!model) return df_cli_usage_error("predict", "--model is required");
    if (optind >= argc) return df_cli_usage_error("predict", "no IMAGE given");
    df_classifier_options co = {.backbone_weights = weights, .precision = precision, .max_batch = 1};
    df_classifier *clf;
    if (df_classifier_open(model, &co, &clf, &err) != DF_OK) return df_cli_fail(&err);
    int C = df_classifier_num_classes(clf);
    float *probs = malloc(sizeof(float) * (size_t)C);
    if (!probs) {
        df_classifier_destroy(clf);
        df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        return df_cli_fail(&err);
    }
    int rc = DF_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        if (df_classifier_predict_file(clf, argv[i], probs, &err) != DF_OK) {
            df_cli_fail(&err);
            rc = DF_EXIT_FAIL;
            continue;
        }
        int best = 0;
        for (int k = 1; k < C; k++)
            if (probs[k] > probs[best]) best = k;
        if (json) {
            char *qp = df_text_json_quote(argv[i]);
            char *qc = df_text_json_quote(df_classifier_class_name(clf, best));
            printf("{\"path\":%s,\"class\":%s,\"probabilities\":{", qp ? qp : "\"\"", qc ? qc : "\"\"");
            for (int k = 0; k < C; k++) {
                char *qn = df_text_json_quote(df_classifier_class_name(clf, k));
                printf("%s%s:%.4g", k ? "," : "", qn ? qn : "\"\"", (double)probs[k]);
                free(qn);
            }
            printf("}}\n");
            free(qp);
            free(qc);
        } else {
            char *pp = df_text_printable(argv[i]);
            printf("%s: %s %.1f%%  (", pp ? pp : "?", df_classifier_class_name(clf, best),
                   100.0 * probs[best]);
            for (int k = 0; k < C; k++)
                printf("%s%s %.3f", k ? ", " : "", df_classifier_class_name(clf, k), (double)probs[k]);
            printf(")\n");
            free(pp);
        }
        fflush(stdout);
    }
    free(probs);
    df_classifier_destroy(clf);
    return rc;
}
