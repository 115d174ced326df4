/*
 * libFuzzer target for the TFLite reader and the executor's graph setup:
 * df_tflite_parse (every offset, vtable, vector and index of the flatbuffer
 * is bounds-checked), then, for what parses, the executor built toward the
 * pooled feature tensor and toward output 0 (df_tflite_graph_create), and the
 * classifier (df_tflite_classifier_from_model); the feature graph also
 * with --precision int8 (backbone/tflite_int8.c, XNNPACK). Graphs whose tensors are all
 * small also run once on a fixed input, so shapes that pass setup reach the
 * kernels; larger ones are only built with max_batch 0 (no activations), as
 * a mutated shape may legally ask for gigabytes. A graph that builds must
 * run (a failure there means setup let something through). Inputs over
 * 256 KiB are only parsed: building a real MobileNet dequantizes millions of
 * weights and would slow the fuzzer to a crawl. Merged with the tflite
 * helper's target.
 *
 * Built and run by scripts/fuzz.sh (seeds: fuzz/tflite_seeds.c).
 */
#include <stdint.h>
#include <stdlib.h>

#include "backbone/tflite_backbone.h"
#include "formats/tflite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void build_and_run(const df_tflite_model *m, int target, int run, df_precision prec) {
    df_backbone_options o = df_backbone_options_default();
    o.precision = prec;
    o.autotune = 0;
    o.max_batch = run ? 1 : 0;
    df_error err;
    df_tflite_graph *g = NULL;
    if (df_tflite_graph_create(m, target, &o, &g, &err) != DF_OK) return;
    if (run) {
        const df_tflite_input *in = df_tflite_graph_input(g);
        size_t n = (size_t)in->h * (size_t)in->w * (size_t)in->c;
        float *x = calloc(n ? n : 1, sizeof *x);
        float *y = calloc(df_tflite_graph_output_size(g) + 1, sizeof *y);
        if (x && y) {
            for (size_t i = 0; i < n; i++) x[i] = (float)(i % 7) * 0.1f - 0.3f;
            if (df_tflite_graph_run(g, x, 1, y, &err) != DF_OK) __builtin_trap(); /* built => runs */
        }
        free(x);
        free(y);
    }
    df_tflite_graph_destroy(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_tflite_model *m = NULL;
    df_error err;
    if (df_tflite_parse(data, size, "<fuzz>", &m, &err) != DF_OK) {
        if (m) __builtin_trap(); /* a failed parse must leave *out NULL */
        return 0;
    }
    if (size > 256 * 1024) {
        df_tflite_destroy(m);
        return 0;
    }
    int run = 1;
    for (size_t i = 0; i < m->n_tensors && run; i++)
        if (df_tflite_tensor_elements(&m->tensors[i]) > 4096) run = 0;
    int feature = df_tflite_feature_tensor(m);
    if (feature >= 0) build_and_run(m, feature, run, DF_PRECISION_FP32);
    if (m->n_outputs) build_and_run(m, m->outputs[0], run, DF_PRECISION_FP32);
    /* the integer engine's builder (quantized graphs; others fall back) */
    if (feature >= 0) build_and_run(m, feature, run, DF_PRECISION_INT8);
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.max_batch = 1;
    df_tflite_classifier *c = NULL;
    if (run && df_tflite_classifier_from_model(m, &o, &c, &err) == DF_OK) df_tflite_classifier_destroy(c);
    df_tflite_destroy(m);
    return 0;
}
