/* deepfashion: the command-line entry point and subcommand dispatch. */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "core/blas_threads.h"
#include "data/text.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

/* Add a subcommand here and in cli.h; its --help lives in its own file. */
static const command COMMANDS[] = {
    {"scan", df_cmd_scan, "list a data set folder: classes, counts, skipped files"},
    {"augment", df_cmd_augment, "write a photo and K augmented versions of it as PNGs"},
    {"train", df_cmd_train, "train a classifier on a folder of photos"},
    {"evaluate", df_cmd_evaluate, "accuracy, confusion matrix and classification report of a model"},
    {"predict", df_cmd_predict, "classify photos with a trained model"},
    {"report", df_cmd_report, "write the HTML report of a model on a data set"},
    {"audit", df_cmd_audit, "find mislabeled, duplicate, leaked, off-topic and unusable photos"},
    {"features", df_cmd_features, "run a backbone over images, write their features as .npy"},
    {"classify", df_cmd_classify, "top-K ImageNet classes of photos by a TFLite classifier"},
    {"bench", df_cmd_bench, "time a backbone (ms/image, images/s, GFLOP/s, peak memory)"},
    {"export", df_cmd_export, "write the classifier as one TFLite model (metadata, labels) or a web page"},
    {NULL, NULL, NULL}
};

static void print_help(FILE *out) {
    fprintf(out,
            "DeepFashion %s: turn a folder of photos into a classifier, on a CPU.\n\n"
            "usage: deepfashion <command> [options]\n"
            "       deepfashion <command> --help\n\n"
            "commands:\n",
            DF_VERSION_STRING);
    for (const command *c = COMMANDS; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\noptions:\n  --help     this text\n  --version  print the version\n");
}

int df_cli_fail(const df_error *err) {
    /* Messages quote names read from files (a damaged weights file's layer
     * names, a folder's file names). df_error_set already folds newlines;
     * the other control bytes (a terminal escape sequence) and invalid UTF-8
     * are escaped here, once for every command. */
    const char *msg = err && err->message[0] ? err->message : "failed";
    char *shown = df_text_printable(msg);
    fprintf(stderr, "deepfashion: %s\n", shown ? shown : msg);
    free(shown);
    return DF_EXIT_FAIL;
}

int df_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "deepfashion %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'deepfashion %s --help')\n", cmd);
    return DF_EXIT_USAGE;
}

/* OpenBLAS starts its threads when it loads, and each waits for work by
 * calling sched_yield for its first 2^28 cycles (about 0.1 s): on two
 * cores it took 1.6% of a default training run's samples, all in the
 * backbone's first batches, from a run that never calls OpenBLAS (the
 * linear head has its own kernels). Shut down at once; a command that does
 * call it gets them back at its first threaded call (OpenBLAS starts them
 * again when they are not there; core/blas_threads.h). */
int main(int argc, char **argv) {
    df_blas_threads_stop();
#ifdef __GLIBC__
    /* Training allocates and frees blocks of 1-45 MB over and over (each
     * fold's block of the Gram matrix, its factor and preconditioner, its
     * predictions; the feature cache's copies): glibc maps each one above
     * its threshold afresh and unmaps it when freed, so every one is new
     * zeroed pages: 47,000 page faults in a default closet run. Kept in
     * the heap instead and reused (a command's memory goes back at its
     * exit): 30,000. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
#endif
    /* audit fits folds and compares every photo with every other in
     * OpenBLAS; train decides once it has read its options. */
    if (argc >= 2 && !strcmp(argv[1], "audit")) df_cli_use_right_blas_kernels(argc - 1, argv + 1);
    if (argc < 2) {
        print_help(stderr);
        return DF_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_help(stdout);
        return DF_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("deepfashion %s\n", DF_VERSION_STRING);
        return DF_EXIT_OK;
    }
    for (const command *c = COMMANDS; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "deepfashion: unknown command '%s' (see 'deepfashion --help')\n", argv[1]);
    return DF_EXIT_USAGE;
}
