/* The tiny spatial test backbone (see tiny_backbone.h). */
#include "support/tiny_backbone.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/tflite.h"
#include "support/test_support.h"
#include "support/tflite_builder.h"

/* pool: the average pool's window and stride (4: a 4x4 map; 16: global). */
static char *write_tiny(const char *dir, int pool, const char *file) {
    static float w[8 * 3 * 3 * 3], b[8];
    for (int o = 0; o < 8; o++) {
        b[o] = 0.02f * (float)(o - 4);
        for (int k = 0; k < 9; k++)
            for (int i = 0; i < 3; i++)
                /* channel o: colour o % 3, with an edge-like sign pattern for o >= 3 */
                w[((o * 3 + k / 3) * 3 + k % 3) * 3 + i] =
                    (i == o % 3 ? 0.2f : -0.05f) * (o < 3 ? 1.0f : (k % 2 ? 0.5f : -0.5f));
    }
    df_tfb_tensor t[5];
    memset(t, 0, sizeof t);
    t[0] = (df_tfb_tensor){.name = "input", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {1, 32, 32, 3}};
    t[1] = (df_tfb_tensor){.name = "w", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {8, 3, 3, 3},
                           .data = w, .data_size = sizeof w};
    t[2] = (df_tfb_tensor){.name = "b", .type = DF_TFLITE_FLOAT32, .rank = 1, .shape = {8},
                           .data = b, .data_size = sizeof b};
    t[3] = (df_tfb_tensor){.name = "conv", .type = DF_TFLITE_FLOAT32, .rank = 4, .shape = {1, 16, 16, 8}};
    t[4] = (df_tfb_tensor){.name = "pooled", .type = DF_TFLITE_FLOAT32, .rank = 4,
                           .shape = {1, 16 / pool, 16 / pool, 8}};
    df_tfb_op ops[2];
    memset(ops, 0, sizeof ops);
    ops[0] = (df_tfb_op){.builtin = DF_TFLITE_OP_CONV_2D, .n_inputs = 3, .n_outputs = 1,
                         .inputs = {0, 1, 2}, .outputs = {3}, .options_type = DF_TFLITE_OPTIONS_CONV2D,
                         .padding = DF_TFLITE_PAD_SAME, .stride_w = 2, .stride_h = 2, .dilation_w = 1,
                         .dilation_h = 1, .activation = DF_TFLITE_ACT_RELU};
    ops[1] = (df_tfb_op){.builtin = DF_TFLITE_OP_AVERAGE_POOL_2D, .n_inputs = 1, .n_outputs = 1,
                         .inputs = {3}, .outputs = {4}, .options_type = DF_TFLITE_OPTIONS_POOL2D,
                         .padding = DF_TFLITE_PAD_VALID, .stride_w = pool, .stride_h = pool, .filter_w = pool,
                         .filter_h = pool};
    const int32_t in[1] = {0}, out[1] = {4};
    size_t size;
    uint8_t *bytes = df_tfb_model(t, 5, ops, 2, in, 1, out, 1, 0, &size);
    char *path = df_path_join(dir, file);
    assert_non_null(path);
    assert_int_equal(df_test_write_file(path, bytes, size), 0);
    free(bytes);
    return path;
}

char *df_test_write_tiny_spatial_backbone(const char *dir) { return write_tiny(dir, 4, "tiny_spatial.tflite"); }

char *df_test_write_tiny_pooled_backbone(const char *dir) { return write_tiny(dir, 16, "tiny_pooled.tflite"); }
