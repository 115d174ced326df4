/*
 * Grad-CAM (Selvaraju et al. 2017) on the frozen backbone's last feature
 * map: which parts of the photo made the head choose a class.
 *
 * The map A is H x W x K (NHWC, e.g. 7 x 7 x 1280 for MobileNetV2 before
 * its global average pool, 7 x 7 x 512 for VGG16). The head sees either
 * f = GAP(A) (pooled backbones: f_k = mean_ij A_ijk), the means of
 * windows of A (regions, backbone/pooling.h) or f = flatten(A)
 * (VGG16 without pooling, Keras' Flatten order). With y the class's logit
 * (before the softmax, and before any temperature):
 *   dy/dA_ijk = dy/df_k / (H W)       (pooled)
 *   dy/dA_ijk = dy/df_(ijk)           (flattened)
 *   alpha_k   = mean_ij dy/dA_ijk
 *   cam_ij    = ReLU(sum_k alpha_k A_ijk), then divided by its maximum
 *               (all zero when nothing speaks for the class).
 * The overlay upsamples the H x W map bilinearly (half-pixel centres) to
 * the photo's own size and aspect ratio and blends a blue-to-red colour
 * ramp over it at 50%.
 */
#ifndef DF_REPORT_GRADCAM_H
#define DF_REPORT_GRADCAM_H

#include "backbone/pooling.h"
#include "core/error.h"
#include "image/image.h"
#include "nn/head.h"

/* dy/dA into grad (H*W*K floats, overwritten) for class cls. pool: the
 * head's input is the map pooled so (backbone/pooling.h: the mean, in_dim
 * == K, or regions, each window's gradient spread over its positions);
 * NULL: flatten(map) (in_dim == H*W*K). Allocates a small scratch. */
df_status df_gradcam_map_gradient(const df_head *head, const float *map, int H, int W, int K,
                                  const df_pooling *pool, int cls, float *grad, df_error *err) DF_MUST_CHECK;

/* cam (H*W floats, overwritten) from map and grad as above, scaled to
 * [0, 1]. */
void df_gradcam_cam(const float *map, const float *grad, int H, int W, int K, float *cam);

/* out (allocated, img's size) = img blended with the colour-mapped cam. */
df_status df_gradcam_overlay(const df_image *img, const float *cam, int H, int W, df_image *out,
                             df_error *err) DF_MUST_CHECK;

#endif
