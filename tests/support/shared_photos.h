/* Test helpers around ../shared: paths in it, the ImageNet check photos at
 * the MobileNets' input size, and the cosine the feature checks compare by. */
#ifndef DF_TEST_SHARED_PHOTOS_H
#define DF_TEST_SHARED_PHOTOS_H

#include <stddef.h>

#include "image/image.h"

/* shared/dir/name, malloc'ed (asserts on out of memory). */
char *df_test_shared_path(const char *shared, const char *dir, const char *name);
/* shared/images/imagenet/name decoded and resized (bilinear) to 224 x 224;
 * fails the current test when it cannot. */
void df_test_load_imagenet_224(const char *shared, const char *name, df_image *out);
/* Cosine similarity of two vectors, in double. */
double df_test_cosine(const float *a, const float *b, size_t n);

#endif
