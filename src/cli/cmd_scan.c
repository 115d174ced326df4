/*
 * deepfashion scan DIR [--json]: lists the classes of a data set folder, the
 * image count per class, and every file it left out with the reason
 * (data/dataset.h). Exit 0 when the folder is a usable training set.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/dataset.h"
#include "data/text.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion scan DIR [--json] [--no-verify] [--threads N]\n\n"
            "Lists the classes (the subfolders of DIR, in byte order), how many usable\n"
            "images each has, and every file left out with the reason. Each image is\n"
            "decoded once to make sure it can be used.\n\n"
            "options:\n"
            "  --json         print one JSON object:\n"
            "                 {\"classes\":[{\"name\":...,\"count\":N},...],\"total\":N,\n"
            "                  \"skipped\":[{\"path\":...,\"reason\":...},...]}\n"
            "                 (bytes of names that are not UTF-8 print as \\u00XX)\n"
            "  --no-verify    check names and sizes only, do not decode\n"
            "  --threads N    decoding threads (default: all cores)\n"
            "  --help         this text\n\n"
            "Exit status: 0 usable (two or more classes, each with an image),\n"
            "1 not usable or not readable (one line on stderr), 2 usage error.\n");
}

/* Prints s quoted for JSON; returns 0 when out of memory. */
static int put_json(const char *s) {
    char *q = df_text_json_quote(s);
    if (!q) return 0;
    fputs(q, stdout);
    free(q);
    return 1;
}

static int put_text(const char *s) {
    char *q = df_text_printable(s);
    if (!q) return 0;
    fputs(q, stdout);
    free(q);
    return 1;
}

static int print_json(const df_dataset *ds) {
    int ok = 1;
    fputs("{\"classes\":[", stdout);
    for (int c = 0; c < ds->num_classes; c++) {
        fputs(c ? ",{\"name\":" : "{\"name\":", stdout);
        ok &= put_json(ds->class_names[c]);
        printf(",\"count\":%d}", ds->class_counts[c]);
    }
    printf("],\"total\":%d,\"skipped\":[", ds->count);
    for (int i = 0; i < ds->num_skipped; i++) {
        fputs(i ? ",{\"path\":" : "{\"path\":", stdout);
        ok &= put_json(ds->skipped[i].path);
        fputs(",\"reason\":", stdout);
        ok &= put_json(ds->skipped[i].reason);
        fputs("}", stdout);
    }
    fputs("]}\n", stdout);
    return ok;
}

static int print_text(const df_dataset *ds) {
    int ok = 1, width = 5;
    for (int c = 0; c < ds->num_classes; c++) {
        int n = (int)strlen(ds->class_names[c]);
        if (n > width) width = n < 40 ? n : 40;
    }
    ok &= put_text(ds->root);
    printf(": %d classes, %d images\n", ds->num_classes, ds->count);
    for (int c = 0; c < ds->num_classes; c++) {
        char *name = df_text_printable(ds->class_names[c]);
        if (!name) return 0;
        printf("  %-*s %6d\n", width, name, ds->class_counts[c]);
        free(name);
    }
    printf("  %-*s %6d\n", width, "total", ds->count);
    if (ds->num_skipped) {
        printf("skipped %d %s:\n", ds->num_skipped, ds->num_skipped == 1 ? "entry" : "entries");
        for (int i = 0; i < ds->num_skipped; i++) {
            fputs("  ", stdout);
            ok &= put_text(ds->skipped[i].path);
            fputs(": ", stdout);
            ok &= put_text(ds->skipped[i].reason);
            fputs("\n", stdout);
        }
    } else {
        printf("skipped nothing\n");
    }
    return ok;
}

int df_cmd_scan(int argc, char **argv) {
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"no-verify", no_argument, NULL, 'n'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int json = 0;
    df_scan_options opt = df_scan_options_default();
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        long v;
        switch (ch) {
        case 'j': json = 1; break;
        case 'n': opt.verify = 0; break;
        case 't':
            if (!df_cli_parse_int(optarg, 1, 256, &v))
                return df_cli_usage_error("scan", "--threads wants an integer 1..256, got '%s'", optarg);
            opt.threads = (int)v;
            break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':': return df_cli_usage_error("scan", "%s needs a value", argv[optind - 1]);
        default: return df_cli_usage_error("scan", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return df_cli_usage_error("scan", "needs a folder");
    if (optind != argc - 1)
        return df_cli_usage_error("scan", "takes one folder, got %d arguments", argc - optind);
    const char *root = argv[optind];

    /* Scan without the usability check so that the human listing can show
     * why a class came out empty; the check decides the exit status. */
    opt.require_usable = 0;
    df_dataset *ds = NULL;
    df_error err;
    df_error_clear(&err);
    if (df_dataset_scan(root, &opt, &ds, &err) != DF_OK) return df_cli_fail(&err);
    df_status usable = df_dataset_check(ds, &err);
    int printed = 1;
    if (json) {
        if (usable == DF_OK) printed = print_json(ds); /* nothing partial on failure */
    } else {
        printed = print_text(ds);
    }
    df_dataset_free(ds);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        df_error_set(&err, DF_ERR_IO, "scan: cannot write the listing to standard output");
        return df_cli_fail(&err);
    }
    if (!printed) {
        df_error_set(&err, DF_ERR_NOMEM, "scan: out of memory while printing");
        return df_cli_fail(&err);
    }
    if (usable != DF_OK) return df_cli_fail(&err);
    return DF_EXIT_OK;
}
