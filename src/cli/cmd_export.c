/*
 * deepfashion export --model M --out closet.tflite: the whole classifier as
 * one TFLite flatbuffer with its metadata and labels (export/tflite_export.h);
 * --format web --out DIR: that model plus an offline page running it with
 * TFLite's WebAssembly runtime (export/web_export.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/classifier.h"
#include "backbone/vgg16.h"
#include "cli/cli.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "export/tflite_export.h"
#include "export/web_export.h"
#include "formats/model_file.h"
#include "formats/tflite.h"

static const char *USAGE =
    "usage: deepfashion export --model MODEL --out PATH [--format tflite|web]\n"
    "                          [--weights FILE] [--name NAME] [--runtime DIR]\n"
    "                          [--backbone-form auto|file|float] [--float-backbone]\n"
    "                          [--no-unknown]\n"
    "\n"
    "Writes the trained classifier (backbone + head) as one TFLite model: the\n"
    "backbone's graph as in its file up to the feature tensor, the head as\n"
    "FULLY_CONNECTED layers (BatchNorm and standardisation folded) and SOFTMAX.\n"
    "TFLite Model Metadata and labels.txt are included, so Android's Task\n"
    "Library and MediaPipe read the classes without code.\n"
    "\n"
    "options:\n"
    "  --model MODEL    trained model file (required)\n"
    "  --out PATH       the .tflite file, or the folder for --format web (required)\n"
    "  --format F       tflite (default) or web: PATH/index.html + model.tflite +\n"
    "                   TFLite's WebAssembly runtime, works offline from any static server\n"
    "  --weights FILE   the backbone weights (default: the copy embedded in the model,\n"
    "                   else the file it records; a file's SHA-256 must match)\n"
    "  --name NAME      model name in the metadata (default: the output's base name)\n"
    "  --backbone-form F how a quantized backbone is written: file (as in its\n"
    "                   file: TFLite runs it in integers, as --precision int8 does),\n"
    "                   float (weights dequantized to float32: TFLite computes what\n"
    "                   fp32/bf16 compute, at 4x the backbone's bytes) or auto\n"
    "                   (default): the form matching the precision the model was\n"
    "                   trained with, so TFLite gives predict's probabilities. file\n"
    "                   for a float model differs by up to about 0.1 (a warning)\n"
    "  --float-backbone same as --backbone-form float\n"
    "  --no-unknown     leave the model's unknown detector out (by default a second\n"
    "                   output, training_similarity: the cosine similarity to each\n"
    "                   training photo, with unknown.json giving k and the threshold;\n"
    "                   the web page then answers unknown as predict does)\n"
    "  --runtime DIR    the fetched web runtime (default: $DF_WEB_RUNTIME, else the\n"
    "                   installed copy in PREFIX/share/deepfashion/web-runtime, else\n"
    "                   the build's copy made by scripts/fetch-web-runtime.sh)\n"
    "  --help           this text\n";

/* Where the backbone's weights file comes from: --weights, else the copy
 * embedded in the model, else the file it was trained from (its recorded
 * path); a file on disk must have the SHA-256
 * the model records. *bytes is malloc'ed, *name names it in messages. */
static df_status backbone_bytes(const char *model_path, const df_model *model,
                                const char *weights, size_t max_bytes, uint8_t **bytes,
                                size_t *size, char **name, df_error *err) {
    const df_model_meta *m = &model->meta;
    *bytes = NULL;
    *size = 0;
    *name = NULL;
    df_status st = DF_OK;
    if (m->backbone_file && !weights) {
        if (!(*bytes = malloc(m->backbone_file_size ? m->backbone_file_size : 1)) ||
            !(*name = strdup(m->backbone_source[0] ? m->backbone_source : model_path))) {
            free(*bytes);
            *bytes = NULL;
            return df_error_set(err, DF_ERR_NOMEM, "out of memory");
        }
        memcpy(*bytes, m->backbone_file, m->backbone_file_size);
        *size = m->backbone_file_size;
        return DF_OK;
    }
    const char *path = weights ? weights : m->backbone_source[0] ? m->backbone_source : NULL;
    if (!path)
        st = df_error_set(err, DF_ERR_INVALID_ARG,
                          "%s: the model neither embeds nor records its backbone weights file; "
                          "pass --weights", model_path);
    if (!st) st = df_file_read(path, max_bytes, bytes, size, err);
    if (!st && m->backbone_sha256[0]) {
        uint8_t digest[32];
        char hex[65];
        df_sha256(*bytes, *size, digest);
        df_sha256_hex(digest, hex);
        if (strcmp(hex, m->backbone_sha256) != 0)
            st = df_error_set(err, DF_ERR_DATA,
                              "%s: backbone weights %s are not the ones the model was trained on "
                              "(sha256 %.12s..., expected %.12s...)",
                              model_path, path, hex, m->backbone_sha256);
    }
    if (!st && !(*name = strdup(path))) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (st) {
        free(*bytes);
        *bytes = NULL;
    }
    return st;
}

/* "dir/closet.tflite" -> "closet"; a folder "out/closet-web/" -> "closet-web". */
static void base_name(const char *path, char *out, size_t size) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t s = n;
    while (s > 0 && path[s - 1] != '/') s--;
    size_t len = n - s;
    if (len > 7 && !strncmp(path + n - 7, ".tflite", 7)) len -= 7;
    if (len == 0) {
        snprintf(out, size, "deepfashion");
        return;
    }
    if (len >= size) len = size - 1;
    memcpy(out, path + s, len);
    out[len] = '\0';
}

/* VGG16: the Keras file goes through the path-based reader (libhdf5 runs
 * in forked children on a path). */
static df_status load_vgg16(const char *model_path, const uint8_t *bytes, size_t size,
                            df_vgg16_weights *vw, df_error *err) {
    char *file;
    df_status st = df_private_copy_write(model_path, "vgg16_notop.h5", bytes, size, &file, err);
    if (st != DF_OK) return st;
    st = df_vgg16_weights_load(file, vw, err);
    df_private_copy_remove(file);
    return st;
}

static df_status export_model(const char *model_path, const df_model *model, const char *weights,
                              const df_export_options *eo, uint8_t **out, size_t *size,
                              df_error *err) {
    const df_model_meta *m = &model->meta;
    int vgg = !strcmp(m->backbone_kind, "vgg16");
    if (!vgg && strcmp(m->backbone_kind, "tflite") != 0)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: cannot export a '%s' backbone",
                            model_path, m->backbone_kind);
    uint8_t *bytes;
    size_t n;
    char *name;
    df_status st = backbone_bytes(model_path, model, weights,
                                  vgg ? (size_t)1 << 31 : DF_TFLITE_MAX_FILE_BYTES, &bytes, &n,
                                  &name, err);
    if (st) return st;
    const char *cut = m->cut_tensor[0] ? m->cut_tensor : NULL;
    if (!vgg) {
        st = df_export_tflite(bytes, n, name, cut, model, eo, out, size, err);
    } else {
        df_vgg16_weights vw;
        st = load_vgg16(model_path, bytes, n, &vw, err);
        if (!st) {
            df_export_vgg16_weights w;
            for (int i = 0; i < DF_VGG16_CONVS; i++) {
                w.kernel[i] = vw.kernel[i];
                w.bias[i] = vw.bias[i];
            }
            w.input_h = m->input_h;
            w.input_w = m->input_w;
            w.pooled = m->backbone_pool;
            st = df_export_vgg16(&w, model, eo, out, size, err);
            df_vgg16_weights_free(&vw);
        }
    }
    free(name);
    free(bytes);
    return st;
}

/* An installed deepfashion finds the runtime `make install` copied beside
 * it: <prefix>/bin/deepfashion -> <prefix>/share/deepfashion/web-runtime.
 * 1 when that folder (with its MANIFEST) exists. */
static int installed_runtime(char *out, size_t size) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    int k = snprintf(out, size, "%s/../share/deepfashion/web-runtime", exe);
    if (k < 0 || (size_t)k >= size) return 0;
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/MANIFEST", out);
    return df_file_is_regular(manifest);
}

static df_status write_file(const char *path, const uint8_t *data, size_t size, df_error *err) {
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st) return st;
    if (fwrite(data, 1, size, af.fp) != size) {
        df_atomic_abort(&af);
        return df_error_set(err, DF_ERR_IO, "%s: write failed", path);
    }
    return df_atomic_commit(&af, err);
}

int df_cmd_export(int argc, char **argv) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"out", required_argument, 0, 'o'},
        {"format", required_argument, 0, 'f'}, {"weights", required_argument, 0, 'w'},
        {"name", required_argument, 0, 'n'}, {"runtime", required_argument, 0, 'r'},
        {"float-backbone", no_argument, 0, 'F'}, {"backbone-form", required_argument, 0, 'B'},
        {"no-unknown", no_argument, 0, 'U'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *model_path = NULL, *out = NULL, *weights = NULL, *name = NULL, *runtime = NULL;
    int web = 0, no_unknown = 0, form = -1; /* -1 auto, 0 as in its file, 1 float */
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 'w': weights = optarg; break;
        case 'n': name = optarg; break;
        case 'r': runtime = optarg; break;
        case 'F': form = 1; break;
        case 'U': no_unknown = 1; break;
        case 'B':
            if (!strcmp(optarg, "auto")) form = -1;
            else if (!strcmp(optarg, "file")) form = 0;
            else if (!strcmp(optarg, "float")) form = 1;
            else
                return df_cli_usage_error("export", "--backbone-form must be auto, file or float, "
                                          "not '%s'", optarg);
            break;
        case 'f':
            if (!strcmp(optarg, "web")) web = 1;
            else if (strcmp(optarg, "tflite") != 0)
                return df_cli_usage_error("export", "--format must be tflite or web, not '%s'",
                                          optarg);
            break;
        case 'h': fputs(USAGE, stdout); return DF_EXIT_OK;
        default: return df_cli_usage_error("export", "unknown option");
        }
    }
    if (!model_path) return df_cli_usage_error("export", "--model is required");
    if (!out) return df_cli_usage_error("export", "--out is required");
    if (optind < argc) return df_cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
    char installed[4096];
    if (!runtime) runtime = getenv("DF_WEB_RUNTIME");
    if (!runtime && installed_runtime(installed, sizeof installed)) runtime = installed;
    if (!runtime) runtime = DF_WEB_RUNTIME_DEFAULT;

    df_error err;
    df_error_clear(&err);
    char base[128];
    base_name(out, base, sizeof base);
    df_export_options eo = df_export_options_default();
    eo.name = name ? name : base;
    df_model *model;
    if (df_model_load(model_path, &model, &err) != DF_OK) return df_cli_fail(&err);
    eo.unknown = !no_unknown;
    eo.float_backbone = form >= 0 ? form : df_export_float_backbone_for(model);
    uint8_t *bytes = NULL;
    size_t size = 0;
    df_status st = export_model(model_path, model, weights, &eo, &bytes, &size, &err);
    if (!st)
        st = web ? df_web_export(out, bytes, size, runtime, &err) : write_file(out, bytes, size, &err);
    int classes = model->meta.num_classes, tflite = !strcmp(model->meta.backbone_kind, "tflite");
    int unknown = eo.unknown && model->unknown;
    if (!st && tflite && form == 0 && df_export_float_backbone_for(model))
        fprintf(stderr, "warning: %s: its features were computed in %s, TFLite runs the backbone "
                "as in its file in integers: probabilities differ from predict's (up to 0.09 "
                "measured); --backbone-form auto, or train with --precision int8\n", model_path,
                model->meta.precision[0] ? model->meta.precision : "fp32");
    free(bytes);
    df_model_destroy(model);
    if (st) return df_cli_fail(&err);
    printf("%s: %s (model %zu bytes, %d classes%s%s)\n", web ? "web page" : "tflite", out, size,
           classes, !tflite ? "" : eo.float_backbone ? ", backbone dequantized to float32"
                                                       : ", backbone as in its file",
           unknown ? ", unknown detector" : "");
    return DF_EXIT_OK;
}
