/* Writes valid seed inputs for fuzz_export into the folder argv[1]:
 * [uint32 n][a small uint8 backbone .tflite][a model file for its 4
 * features], with an MLP head and with a linear head. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "eval/unknown.h"
#include "formats/model_file.h"
#include "formats/tflite.h"
#include "support/tflite_builder.h"

/* input uint8 [1,8,8,3] -> CONV_2D 3x3 (RELU6) -> AVERAGE_POOL_2D -> [1,1,1,4] */
static uint8_t *backbone(size_t *size) {
    static uint8_t w[4 * 27];
    static int32_t b[4] = {10, -20, 30, 0};
    for (int k = 0; k < 4 * 27; k++) w[k] = (uint8_t)(100 + k % 50);
    static float s_in = 0.0078125f, s_w = 0.02f, s_b = 0.00015625f, s_a = 0.05f;
    static int64_t zp_in = 128, zp_w = 120, zp0 = 0;
    df_tfb_tensor t[5] = {
        {"input", DF_TFLITE_UINT8, 4, {1, 8, 8, 3}, NULL, 0, 1, &s_in, &zp_in, 0},
        {"w", DF_TFLITE_UINT8, 4, {4, 3, 3, 3}, w, sizeof w, 1, &s_w, &zp_w, 0},
        {"b", DF_TFLITE_INT32, 1, {4}, b, sizeof b, 1, &s_b, &zp0, 0},
        {"conv", DF_TFLITE_UINT8, 4, {1, 8, 8, 4}, NULL, 0, 1, &s_a, &zp0, 0},
        {"pool", DF_TFLITE_UINT8, 4, {1, 1, 1, 4}, NULL, 0, 1, &s_a, &zp0, 0}};
    df_tfb_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D, .n_inputs = 3, .inputs = {0, 1, 2},
                         .n_outputs = 1, .outputs = {3}, .options_type = DF_TFLITE_OPTIONS_CONV2D,
                         .padding = DF_TFLITE_PAD_SAME, .stride_w = 1, .stride_h = 1,
                         .activation = DF_TFLITE_ACT_RELU6};
    ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_AVERAGE_POOL_2D, .n_inputs = 1, .inputs = {3},
                         .n_outputs = 1, .outputs = {4}, .options_type = DF_TFLITE_OPTIONS_POOL2D,
                         .padding = DF_TFLITE_PAD_VALID, .stride_w = 1, .stride_h = 1,
                         .filter_w = 8, .filter_h = 8};
    const int32_t in[1] = {0}, out[1] = {4};
    return df_tfb_model(t, 5, ops, 2, in, 1, out, 1, 0, size);
}

static int seed(const char *dir, const char *name, df_head_kind kind) {
    const char *names[3] = {"bottoms", "shoes", "tops"};
    df_head_config c = df_head_config_default();
    c.kind = kind;
    c.units = 4;
    df_error err;
    df_model *m;
    char mpath[1024], path[1024];
    snprintf(mpath, sizeof mpath, "%s/%s.model.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (df_model_create(&c, 4, 3, names, 1, &m, &err) != DF_OK) goto fail;
    strcpy(m->meta.backbone_kind, "tflite");
    m->meta.input_h = m->meta.input_w = 8;
    if (kind == DF_HEAD_MLP) { /* an unknown detector: the export's second output */
        float rows[5 * 4];
        for (int i = 0; i < 5 * 4; i++) rows[i] = (float)((i * 7) % 11) / 10.0f;
        if (df_unknown_fit(rows, 5, 4, 2, 0, 0.2f, NULL, &m->unknown, &err) != DF_OK) {
            df_model_destroy(m);
            goto fail;
        }
    }
    df_status st = df_model_save(m, mpath, &err);
    df_model_destroy(m);
    if (st) goto fail;
    uint8_t *model_bytes;
    size_t model_size, tfl_size;
    if (df_file_read(mpath, (size_t)1 << 24, &model_bytes, &model_size, &err)) goto fail;
    remove(mpath);
    uint8_t *tfl = backbone(&tfl_size);
    FILE *fp = fopen(path, "wb");
    uint8_t n[4] = {(uint8_t)tfl_size, (uint8_t)(tfl_size >> 8), (uint8_t)(tfl_size >> 16),
                    (uint8_t)(tfl_size >> 24)};
    int ok = fp && fwrite(n, 1, 4, fp) == 4 && fwrite(tfl, 1, tfl_size, fp) == tfl_size &&
             fwrite(model_bytes, 1, model_size, fp) == model_size;
    if (fp) fclose(fp);
    free(tfl);
    free(model_bytes);
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "%s\n", err.message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return seed(argv[1], "mlp.bin", DF_HEAD_MLP) | seed(argv[1], "linear.bin", DF_HEAD_LINEAR);
}
