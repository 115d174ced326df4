/*
 * deepfashion classify --weights MODEL.tflite IMAGE...: the top-K ImageNet
 * classes of each photo by a TFLite classifier with its top (MobileNetV2),
 * to check that a pretrained backbone really works before training on it.
 * Photos are resized to the model input with TF's bilinear (half-pixel)
 * resize, after EXIF orientation. A photo that cannot be read prints one
 * error line and the others still run; the exit status is then 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/tflite_backbone.h"
#include "cli/cli.h"
#include "data/text.h"
#include "core/fileio.h"
#include "image/image.h"

#define MAX_BATCH 8
#define MAX_LABELS_BYTES ((size_t)16 << 20)

static void usage(FILE *out) {
    fprintf(out,
            "usage: deepfashion classify --weights MODEL.tflite [--labels FILE] [--top K]\n"
            "                            [--json] [--precision auto|fp32|bf16|int8] IMAGE...\n\n"
            "Prints the K most likely classes of each image under a TFLite classifier\n"
            "(e.g. mobilenet_v2_1.0_224_quant.tflite, 1001 ImageNet classes).\n\n"
            "options:\n"
            "  --weights FILE   the .tflite model (its output must be a softmax)\n"
            "  --labels FILE    class names, line N = class N (e.g. imagenet_labels.txt)\n"
            "  --top K          classes per image (default 5)\n"
            "  --json           one JSON object per image and line:\n"
            "                   {\"path\":...,\"top\":[{\"class\":N,\"label\":...,\"score\":P},...]}\n"
            "                   (label is null without --labels)\n"
            "  --precision P    auto (default), fp32, bf16 or int8\n"
            "  --help           this text\n\n"
            "Exit status: 0 all images classified, 1 a model, label or image error\n"
            "(one line each on stderr), 2 usage error.\n");
}

typedef struct labels {
    char *text;   /* owned, lines NUL-terminated in place */
    char **line;  /* owned, pointers into text */
    size_t n;
} labels;

static void labels_free(labels *l) {
    free(l->text);
    free(l->line);
    memset(l, 0, sizeof *l);
}

static df_status labels_load(const char *path, labels *l, df_error *err) {
    memset(l, 0, sizeof *l);
    uint8_t *data;
    size_t size;
    df_status st = df_file_read(path, MAX_LABELS_BYTES, &data, &size, err);
    if (st) return st;
    l->text = malloc(size + 1);
    size_t lines = 0;
    for (size_t k = 0; k < size; k++) lines += data[k] == '\n';
    l->line = malloc((lines + 1) * sizeof *l->line);
    if (!l->text || !l->line) {
        free(data);
        labels_free(l);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(l->text, data, size);
    l->text[size] = '\0';
    free(data);
    /* one label per line; a final newline does not start an empty label */
    char *p = l->text, *stop = l->text + size;
    while (p < stop) {
        char *nl = memchr(p, '\n', (size_t)(stop - p));
        char *end = nl ? nl : stop;
        *end = '\0';
        if (end > p && end[-1] == '\r') end[-1] = '\0';
        l->line[l->n++] = p;
        p = end + 1;
    }
    return DF_OK;
}

/* Through the data module's quoting, so a non-UTF-8 file name still makes
 * valid JSON (its bytes become \u00XX). */
static void put_json_string(const char *s) {
    char *q = df_text_json_quote(s);
    fputs(q ? q : "\"\"", stdout);
    free(q);
}

static void top_k(const float *p, size_t n, int k, int *idx) {
    for (int i = 0; i < k; i++) idx[i] = -1;
    for (size_t c = 0; c < n; c++) {
        int pos = k;
        while (pos > 0 && (idx[pos - 1] < 0 || p[c] > p[idx[pos - 1]])) pos--;
        if (pos == k) continue;
        memmove(idx + pos + 1, idx + pos, (size_t)(k - pos - 1) * sizeof *idx);
        idx[pos] = (int)c;
    }
}

static void print_result(const char *path, const float *p, size_t classes, int k,
                         const labels *lab, int json) {
    int idx[64];
    int *ix = k <= 64 ? idx : malloc((size_t)k * sizeof *ix);
    if (!ix) return;
    top_k(p, classes, k, ix);
    if (json) {
        fputs("{\"path\":", stdout);
        put_json_string(path);
        fputs(",\"top\":[", stdout);
        for (int i = 0; i < k; i++) {
            printf("%s{\"class\":%d,\"label\":", i ? "," : "", ix[i]);
            if (lab->n) put_json_string(lab->line[ix[i]]);
            else fputs("null", stdout);
            printf(",\"score\":%.6g}", (double)p[ix[i]]);
        }
        fputs("]}\n", stdout);
    } else {
        printf("%s\n", path);
        for (int i = 0; i < k; i++)
            printf("  %5d  %.4f  %s\n", ix[i], (double)p[ix[i]], lab->n ? lab->line[ix[i]] : "");
    }
    if (ix != idx) free(ix);
}

/* Loads, orients and resizes one photo into x (H*W*3). */
static df_status prepare(const df_tflite_classifier *c, const char *path, float *x,
                         df_error *err) {
    int h, w;
    df_tflite_classifier_input_size(c, &h, &w);
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = w;
    lo.min_height = h;
    df_image img, small;
    df_status st = df_image_load(path, &lo, &img, err);
    if (st) return st;
    st = df_image_resize(&img, w, h, DF_RESIZE_BILINEAR, &small, err);
    df_image_free(&img);
    if (st) return df_error_prefix(err, "%s", path);
    st = df_tflite_classifier_preprocess(c, &small, x, err);
    df_image_free(&small);
    if (st) return df_error_prefix(err, "%s", path);
    return DF_OK;
}

int df_cmd_classify(int argc, char **argv) {
    static const struct option longopts[] = {{"weights", required_argument, NULL, 'w'},
                                             {"labels", required_argument, NULL, 'l'},
                                             {"top", required_argument, NULL, 'k'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"precision", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *weights = NULL, *labels_path = NULL;
    long top = 5;
    int json = 0;
    df_precision precision = DF_PRECISION_AUTO;
    df_error err;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (ch) {
        case 'w': weights = optarg; break;
        case 'l': labels_path = optarg; break;
        case 'k':
            if (!df_cli_parse_int(optarg, 1, 100000, &top))
                return df_cli_usage_error("classify", "--top wants an integer >= 1, got '%s'",
                                          optarg);
            break;
        case 'j': json = 1; break;
        case 'p':
            if (df_precision_parse(optarg, &precision, &err))
                return df_cli_usage_error("classify", "%s", err.message);
            break;
        case 'h': usage(stdout); return DF_EXIT_OK;
        case ':':
            return df_cli_usage_error("classify", "%s needs a value", argv[optind - 1]);
        default:
            return df_cli_usage_error("classify", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!weights) return df_cli_usage_error("classify", "--weights MODEL.tflite is required");
    if (optind >= argc) return df_cli_usage_error("classify", "no images given");
    int n_images = argc - optind;
    char **images = argv + optind;

    labels lab;
    memset(&lab, 0, sizeof lab);
    df_tflite_classifier *c = NULL;
    float *x = NULL, *probs = NULL;
    int rc = DF_EXIT_FAIL;
    df_backbone_options opt = df_backbone_options_default();
    opt.precision = precision;
    opt.max_batch = n_images < MAX_BATCH ? n_images : MAX_BATCH;
    if (df_tflite_classifier_open(weights, &opt, &c, &err)) goto fail;
    size_t classes = df_tflite_classifier_classes(c);
    if ((size_t)top > classes) top = (long)classes;
    if (labels_path) {
        if (labels_load(labels_path, &lab, &err)) goto fail;
        if (lab.n != classes) {
            df_error_set(&err, DF_ERR_DATA, "%s: %zu labels for a model with %zu classes",
                         labels_path, lab.n, classes);
            goto fail;
        }
    }
    int h, w;
    df_tflite_classifier_input_size(c, &h, &w);
    size_t in_size = (size_t)h * (size_t)w * 3;
    x = malloc((size_t)opt.max_batch * in_size * sizeof *x);
    probs = malloc((size_t)opt.max_batch * classes * sizeof *probs);
    if (!x || !probs) {
        df_error_set(&err, DF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int failed = 0;
    for (int start = 0; start < n_images; start += opt.max_batch) {
        int end = start + opt.max_batch < n_images ? start + opt.max_batch : n_images;
        int ok[MAX_BATCH], n = 0;
        for (int i = start; i < end; i++) {
            ok[i - start] = prepare(c, images[i], x + (size_t)n * in_size, &err) == DF_OK;
            if (ok[i - start]) n++;
            else {
                df_cli_fail(&err);
                failed = 1;
            }
        }
        if (n == 0) continue;
        if (df_tflite_classifier_run(c, x, n, probs, &err)) goto fail;
        for (int i = start, k = 0; i < end; i++) {
            if (!ok[i - start]) continue;
            print_result(images[i], probs + (size_t)k * classes, classes, (int)top, &lab, json);
            k++;
        }
        fflush(stdout);
    }
    rc = failed ? DF_EXIT_FAIL : DF_EXIT_OK;
    goto done;
fail:
    df_cli_fail(&err);
done:
    free(x);
    free(probs);
    labels_free(&lab);
    df_tflite_classifier_destroy(c);
    return rc;
}
