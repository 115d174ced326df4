/*
 * libFuzzer target for the Keras HDF5 weight reader (formats/keras_h5.c) and
 * the VGG16 loader's own checks on top of it (layer count, weight count,
 * every shape, then reading the data) through df_vgg16_open_source with a
 * 32x32 input. libhdf5 needs a path, so each input is written to a
 * per-process file first. Every weight whose shape reads is also read with
 * its own shape (must work when small) and with a wrong one (must fail).
 *
 * Only our code is instrumented: libhdf5 is the system build and gives no
 * coverage feedback. It runs in the reader's forked child (formats/
 * h5_guard.h), where faults of its own on damaged files (Keras files have no
 * metadata checksums) end the child, not this process: the fuzzer files
 * only faults of the process it runs in. Each input that the guard caught
 * faulting in the child is appended to $DF_FUZZ_CONTAINED_LOG when set, so
 * scripts/fuzz.sh can count them.
 * Built and run by scripts/fuzz.sh (seeds: fuzz/keras_h5_seeds.c).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone/vgg16.h"
#include "formats/keras_h5.h"
#include "keras_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether err is the guard's report of a fault inside the child. */
static int contained_fault(const df_error *err) {
    return strstr(err->message, "the HDF5 library crashed") || strstr(err->message, "made no progress") ||
           strstr(err->message, "failed abnormally");
}

static void note_contained(const df_error *err) {
    const char *log = getenv("DF_FUZZ_CONTAINED_LOG");
    if (!log) return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return;
    char line[DF_ERROR_MESSAGE_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", err->message);
    ssize_t w = write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    (void)w;
    close(fd);
}

/* Returns 1 when the guard caught a fault in the child. */
static int walk(const char *path) {
    df_error err;
    df_keras_h5 *f = NULL;
    if (df_keras_h5_open(path, &f, &err) != DF_OK) {
        if (contained_fault(&err)) note_contained(&err);
        return contained_fault(&err);
    }
    int contained = 0;
    (void)df_keras_h5_layer_count(f);
    int n = df_keras_h5_weighted_count(f);
    for (int i = 0; i < n; i++) {
        (void)df_keras_h5_weighted_name(f, i);
        int m = df_keras_h5_weight_count(f, i);
        for (int j = 0; j < m; j++) {
            (void)df_keras_h5_weight_name(f, i, j);
            int rank = 0;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            if (df_keras_h5_weight_shape(f, i, j, &rank, dims, &err) != DF_OK) continue;
            if (contained) continue; /* the data child faulted: every read fails the same way */
            if (fuzz_read_weight(f, i, j, rank, dims, &err) != DF_OK && contained_fault(&err)) {
                note_contained(&err);
                contained = 1;
            }
        }
    }
    df_keras_h5_close(f);
    return contained;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/df-fuzz-keras-%d.h5", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    if (size) fwrite(data, 1, size, fp);
    fclose(fp);
    if (walk(path)) { /* the same fault again through the loader only costs time */
        unlink(path);
        return 0;
    }
    df_vgg16_source src = {path, 0, 32, 32};
    df_backbone_options o = df_backbone_options_default();
    o.precision = DF_PRECISION_FP32;
    o.autotune = 0;
    o.max_batch = 1;
    df_error err;
    df_backbone *bb = NULL;
    if (df_vgg16_open_source(&src, &o, &bb, &err) == DF_OK) df_backbone_destroy(bb);
    else if (contained_fault(&err)) note_contained(&err);
    unlink(path);
    return 0;
}
