/*
 * libFuzzer target for the TFLite reader and the graph executor's setup:
 * df_tflite_parse on the input; what parses is built toward its automatic
 * feature tensor and toward its output. Small models (every tensor at most
 * 4096 values) are also reshaped to batch 1 and run on a fixed input, so
 * the host part (dense, softmax) and the engine see what the builder let
 * through. Inputs over 256 KiB are only parsed: building a real MobileNet
 * dequantizes millions of weights and would slow the fuzzer to a crawl.
 *
 * Not built by CMake. Build from the repository root (all library sources,
 * so whatever backbone.c links against is there):
 *   SRCS="fuzz/fuzz_tflite.c $(find src -name '*.c' | grep -v /cli/)"
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fopenmp -Iinclude -Isrc \
 *         -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $SRCS \
 *         $(pkg-config --libs libpng libexif cairo hdf5 openblas) -ljpeg -ldnnl -lm \
 *         -o fuzz_tflite
 * Seeds (not committed): the small models test_tflite writes with
 *   build/test_tflite write-seeds corpus/
 * plus, for the parser, the files in ../shared/models. Then:
 *   OMP_NUM_THREADS=1 ./fuzz_tflite -max_total_time=60 -rss_limit_mb=2048 corpus/
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backbone/tflite_backbone.h"
#include "formats/tflite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void build(const df_tflite_model *m, int target, int run) {
    if (target < 0) return;
    df_backbone_options o;
    memset(&o, 0, sizeof o);
    o.precision = DF_PRECISION_FP32;
    o.max_batch = run ? 1 : 0;
    df_error err;
    df_tflite_graph *g = NULL;
    if (df_tflite_graph_create(m, target, &o, &g, &err) != DF_OK) return;
    if (run) {
        const df_tflite_input *in = df_tflite_graph_input(g);
        size_t n = (size_t)in->h * in->w * in->c;
        float *x = calloc(n, sizeof *x);
        float *y = calloc(df_tflite_graph_output_size(g) + 1, sizeof *y);
        if (x && y) {
            for (size_t i = 0; i < n; i++) x[i] = (float)(i % 5) * 0.25f - 0.5f;
            if (df_tflite_graph_run(g, x, 1, y, &err) != DF_OK) abort(); /* built => runs */
        }
        free(x);
        free(y);
    }
    df_tflite_graph_destroy(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_tflite_model *m = NULL;
    df_error err;
    if (df_tflite_parse(data, size, "<fuzz>", &m, &err) != DF_OK) return 0;
    if (size <= 256 * 1024) {
        int run = 1;
        for (size_t i = 0; i < m->n_tensors; i++)
            if (df_tflite_tensor_elements(&m->tensors[i]) > 4096) run = 0;
        build(m, df_tflite_feature_tensor(m), run);
        if (m->n_outputs) build(m, m->outputs[0], run);
    }
    df_tflite_destroy(m);
    return 0;
}
