/*
 * libFuzzer target for the model file loader (df_model_load and
 * df_model_load_checkpoint). libhdf5 needs a path, so each input is written
 * to a per-process file under /tmp first. Only our code is instrumented;
 * libhdf5 is the system build, so the fuzzer gets no coverage feedback from
 * inside it, but crashes, hangs and ASan-visible heap errors there still
 * show.
 *
 * Built and run by scripts/fuzz.sh SECONDS model_file (seeds: valid model,
 * linear-head and checkpoint files from fuzz/model_file_seeds.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/df-fuzz-model-%d.h5", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    if (size) fwrite(data, 1, size, fp);
    fclose(fp);
    df_error err;
    df_model *m = NULL;
    if (df_model_load(path, &m, &err) == DF_OK) {
        /* A file that loads must also predict without tripping anything. */
        int d = df_head_in_dim(m->head), c = df_head_classes(m->head);
        float *x = calloc((size_t)d, sizeof(float));
        float *p = calloc((size_t)c, sizeof(float));
        if (x && p) (void)df_head_predict(m->head, x, 1, p, &err);
        free(x);
        free(p);
        df_model_destroy(m);
    }
    df_adam *adam = NULL;
    df_train_state ts;
    if (df_model_load_checkpoint(path, &m, &adam, &ts, &err) == DF_OK) {
        df_model_destroy(m);
        df_adam_destroy(adam);
        df_train_state_free(&ts);
    }
    return 0;
}
