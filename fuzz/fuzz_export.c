/*
 * libFuzzer target for the exporter (export/tflite_export.c) on its inputs:
 * a model file and the backbone's TFLite bytes. An input is
 *   [uint32 little-endian n][n bytes: the backbone .tflite][the model file]
 * The model file is written to a per-process file under /tmp and loaded
 * with df_model_load (libhdf5 needs a path); what loads is exported against
 * the backbone bytes, both as in the file and with --float-backbone, and
 * what is exported must read back with our TFLite reader and carry its
 * metadata and labels (and, for a model with an unknown detector, the second
 * output, listed in the metadata, with unknown.json).
 *
 * Built and run by scripts/fuzz.sh SECONDS export (seeds: fuzz/export_seeds.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/tflite_export.h"
#include "formats/model_file.h"
#include "formats/tflite.h"
#include "formats/tflite_metadata.h"
#include "formats/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_output(const uint8_t *out, size_t n, int unknown) {
    df_error err;
    df_tflite_model *m;
    if (df_tflite_parse(out, n, "exported", &m, &err) != DF_OK) __builtin_trap(); /* must read back */
    size_t md_size;
    const uint8_t *md = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    df_tflite_md info;
    if (!md || df_tflite_md_parse(md, md_size, "metadata", &info, &err) != DF_OK) __builtin_trap();
    const uint8_t *labels;
    size_t nl;
    if (df_zip_find(out, n, "exported", info.labels_file, &labels, &nl, &err) != DF_OK)
        __builtin_trap();
    /* with the unknown detector: two outputs, both in the metadata, unknown.json */
    if ((int)m->n_outputs != 1 + unknown || info.n_outputs != 1 + unknown) __builtin_trap();
    if (unknown && (!info.output2.file ||
                    df_zip_find(out, n, "exported", info.output2.file, &labels, &nl, &err) != DF_OK))
        __builtin_trap();
    df_tflite_md_free(&info);
    df_tflite_destroy(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t n = (uint32_t)data[0] | ((uint32_t)data[1] << 8) | ((uint32_t)data[2] << 16) |
                 ((uint32_t)data[3] << 24);
    if (n > size - 4) return 0;
    const uint8_t *tfl = data + 4, *model_bytes = data + 4 + n;
    size_t model_size = size - 4 - n;
    char path[64];
    snprintf(path, sizeof path, "/tmp/df-fuzz-export-%d.h5", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    if (model_size) fwrite(model_bytes, 1, model_size, fp);
    fclose(fp);
    df_error err;
    df_model *model = NULL;
    if (df_model_load(path, &model, &err) != DF_OK) return 0;
    for (int float_backbone = 0; float_backbone < 2; float_backbone++) {
        df_export_options eo = df_export_options_default();
        eo.float_backbone = float_backbone;
        uint8_t *out = NULL;
        size_t out_size = 0;
        if (df_export_tflite(tfl, n, "backbone", NULL, model, &eo, &out, &out_size, &err) == DF_OK) {
            check_output(out, out_size, model->unknown != NULL);
            free(out);
        } else if (out) {
            __builtin_trap(); /* a failed export hands nothing back */
        }
    }
    df_model_destroy(model);
    return 0;
}
