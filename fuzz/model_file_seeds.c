/* Writes valid seed files for fuzz_model_file into the folder argv[1]: an
 * MLP model, a LINEAR model with standardisation, a checkpoint, and an MLP
 * model with an unknown detector and a temperature (/deepfashion/trust). */
#include <stdio.h>
#include <string.h>

#include "eval/unknown.h"
#include "formats/model_file.h"

static int save(df_head_kind kind, int ckpt, int trust, const char *dir, const char *name) {
    const char *names[3] = {"bottoms", "shoes", "tops"};
    df_head_config c = df_head_config_default();
    c.kind = kind;
    c.units = 4;
    df_error err;
    df_model *m;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (df_model_create(&c, 6, 3, names, 1, &m, &err) != DF_OK) goto fail;
    strcpy(m->meta.backbone_kind, "tflite");
    m->meta.input_h = m->meta.input_w = 224;
    if (kind == DF_HEAD_LINEAR) {
        const float mean[6] = {0, 1, 2, 3, 4, 5}, sd[6] = {1, 1, 2, 2, 3, 3};
        if (df_head_set_standardisation(m->head, mean, sd, &err) != DF_OK) goto fail;
    }
    if (trust) {
        float x[5 * 6];
        for (int i = 0; i < 5 * 6; i++) x[i] = (float)((i * 7) % 11);
        if (df_unknown_fit(x, 5, 6, 2, 0, 0.2f, NULL, &m->unknown, &err) != DF_OK) goto fail;
        m->temperature = 1.5f;
    }
    df_status st;
    if (ckpt) {
        df_adam_config ac = df_adam_config_default();
        df_adam *adam;
        if (df_adam_create(&ac, df_head_num_params(m->head), &adam, &err) != DF_OK) goto fail;
        df_train_state ts = {0};
        ts.n_rngs = 1;
        df_rng_seed(&ts.rngs[0], 1, 2);
        (void)df_history_append(&ts.history, 1, 0.5f, 1, 0.5f, 1e-3f, &err);
        st = df_model_save_checkpoint(m, adam, &ts, path, &err);
        df_train_state_free(&ts);
        df_adam_destroy(adam);
    } else {
        st = df_model_save(m, path, &err);
    }
    df_model_destroy(m);
    if (st == DF_OK) return 0;
fail:
    fprintf(stderr, "%s\n", err.message);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    return save(DF_HEAD_MLP, 0, 0, argv[1], "mlp.h5") | save(DF_HEAD_LINEAR, 0, 0, argv[1], "linear.h5") |
           save(DF_HEAD_MLP, 1, 0, argv[1], "checkpoint.h5") | save(DF_HEAD_MLP, 0, 1, argv[1], "trust.h5");
}
