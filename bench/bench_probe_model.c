/*
 * A probe model for measuring an exported backbone's features in another
 * runtime (not a test: writes a file, asserts nothing).
 *
 *   ./build/bench_probe_model MODEL FEATS.npy OUT.dfm
 *
 * OUT is MODEL with its unknown detector replaced by one fitted on the rows
 * of FEATS.npy (`deepfashion features` on some photos) with k = 1. Exported,
 * its second output gives the cosine similarity of the runtime's features of
 * a photo to each of those rows, and the page's unknown_score is 1 - the
 * largest: on the same photos, 1 - unknown_score = cos(runtime's features,
 * FEATS' row of that photo) whenever the photo's own row is its nearest
 * (bench/export_feature_cosine.sh checks this by the margin it prints).
 */
#include <stdio.h>

#include "eval/unknown.h"
#include "formats/model_file.h"
#include "formats/npy.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_probe_model MODEL FEATS.npy OUT.dfm\n");
        return 2;
    }
    df_error err;
    df_model *model = NULL;
    df_npy a = {0};
    df_unknown_detector *u = NULL;
    df_status st = df_model_load(argv[1], &model, &err);
    if (!st) st = df_npy_read(argv[2], &a, &err);
    if (!st && (int)a.cols != model->meta.feature_dim) {
        fprintf(stderr, "%s: %zu features per row, the model's are %d\n", argv[2], a.cols,
                model->meta.feature_dim);
        st = DF_ERR_SHAPE;
        err.message[0] = '\0';
    }
    if (!st) st = df_unknown_fit(a.data, (int)a.rows, (int)a.cols, 1, 0, 0.0f, NULL, &u, &err);
    if (!st) {
        df_unknown_destroy(model->unknown);
        model->unknown = u;
        st = df_model_save(model, argv[3], &err);
    }
    if (st && err.message[0]) fprintf(stderr, "%s\n", err.message);
    df_npy_free(&a);
    df_model_destroy(model);
    return st ? 1 : 0;
}
