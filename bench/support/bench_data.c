/* See bench_data.h. */
#include "support/bench_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "formats/npy.h"

df_status df_bench_mapped_clothing(const char *shared, const df_dataset *closet, int with_train,
                                   df_dataset **out, df_error *err) {
    static const char *const map[][2] = {{"t-shirt", "tops"}, {"shirt", "tops"},     {"longsleeve", "tops"},
                                          {"pants", "bottoms"}, {"shorts", "bottoms"}, {"skirt", "bottoms"},
                                          {"shoes", "shoes"}};
    static const char *const parts[] = {"train", "validation"};
    df_scan_options so = df_scan_options_default();
    so.threads = 1;
    df_dataset *part[2] = {NULL, NULL};
    df_status st = DF_OK;
    int total = 0;
    for (int p = !with_train; st == DF_OK && p < 2; p++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/datasets/clothing/%s", shared, parts[p]);
        st = df_dataset_scan(dir, &so, &part[p], err);
        if (st == DF_OK) total += part[p]->count;
    }
    const char **paths = malloc(sizeof *paths * (size_t)(total + 1));
    int *labels = malloc(sizeof *labels * (size_t)(total + 1)), n = 0;
    if (st == DF_OK && (!paths || !labels)) st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int p = !with_train; st == DF_OK && p < 2; p++)
        for (int i = 0; i < part[p]->count; i++) {
            const char *cls = part[p]->class_names[part[p]->items[i].label];
            for (size_t m = 0; m < sizeof map / sizeof map[0]; m++)
                if (!strcmp(cls, map[m][0])) {
                    paths[n] = part[p]->items[i].path;
                    labels[n++] = df_dataset_class_index(closet, map[m][1]);
                }
        }
    if (st == DF_OK)
        st = df_dataset_from_paths(closet->num_classes, (const char *const *)closet->class_names, n, paths, labels,
                                   out, err);
    free(paths);
    free(labels);
    df_dataset_free(part[0]);
    df_dataset_free(part[1]);
    return st;
}

int *df_bench_labels(const df_dataset *ds) {
    int *y = malloc(sizeof(int) * (size_t)(ds->count ? ds->count : 1));
    for (int i = 0; y && i < ds->count; i++) y[i] = ds->items[i].label;
    return y;
}

int df_bench_cache_read(const char *cache, const char *stem, size_t rows, size_t F, float **x) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npy", cache, stem);
    df_npy a = {0};
    df_error err;
    if (df_npy_read(path, &a, &err) != DF_OK) return 0;
    if (a.rows != rows || a.cols != F) {
        df_npy_free(&a);
        return 0;
    }
    *x = a.data;
    return 1;
}

df_status df_bench_cache_write(const char *cache, const char *stem, size_t rows, size_t F, const float *x,
                               df_error *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.npy", cache, stem);
    df_status st = df_mkdir_p(cache, err);
    return st == DF_OK ? df_npy_write_f32(path, rows, F, x, err) : st;
}
