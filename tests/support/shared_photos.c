/* See shared_photos.h. */
#include "support/shared_photos.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "core/fileio.h"

char *df_test_shared_path(const char *shared, const char *dir, const char *name) {
    char *d = df_path_join(shared, dir);
    assert_non_null(d);
    char *p = df_path_join(d, name);
    assert_non_null(p);
    free(d);
    return p;
}

void df_test_load_imagenet_224(const char *shared, const char *name, df_image *out) {
    char *path = df_test_shared_path(shared, "images/imagenet", name);
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = 224;
    df_image img;
    df_error err;
    df_status st = df_image_load(path, &lo, &img, &err);
    if (st) print_message("%s\n", err.message);
    assert_int_equal(st, DF_OK);
    assert_int_equal(df_image_resize(&img, 224, 224, DF_RESIZE_BILINEAR, out, &err), DF_OK);
    df_image_free(&img);
    free(path);
}

double df_test_cosine(const float *a, const float *b, size_t n) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < n; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return ab / sqrt(aa * bb);
}
