/* Grad-CAM: map gradient, class activation map, overlay (see gradcam.h). */
#include "report/gradcam.h"

#include <math.h>
#include <stdlib.h>

df_status df_gradcam_map_gradient(const df_head *head, const float *map, int H, int W, int K,
                                  const df_pooling *pool, int cls, float *grad, df_error *err) {
    const size_t n = (size_t)H * W * (size_t)K;
    const size_t D = pool ? df_pooling_dim(pool, H, W, K) : n;
    if ((size_t)df_head_in_dim(head) != D || D == 0)
        return df_error_set(err, DF_ERR_SHAPE, "Grad-CAM: the head takes %d features, the %dx%dx%d map gives %zu",
                            df_head_in_dim(head), H, W, K, D);
    if (!pool) return df_head_class_gradient(head, map, cls, grad, err);
    float *f = malloc(sizeof(float) * 2 * D);
    if (!f) return df_error_set(err, DF_ERR_NOMEM, "Grad-CAM: out of memory");
    df_pooling_apply(pool, map, 1, H, W, K, f);
    df_status st = df_head_class_gradient(head, f, cls, f + D, err);
    if (st == DF_OK) df_pooling_backward(pool, f + D, H, W, K, grad);
    free(f);
    return st;
}

void df_gradcam_cam(const float *map, const float *grad, int H, int W, int K, float *cam) {
    const size_t HW = (size_t)H * W;
    double *alpha = calloc((size_t)K, sizeof *alpha);
    if (!alpha) {
        for (size_t p = 0; p < HW; p++) cam[p] = 0.0f;
        return;
    }
    for (size_t p = 0; p < HW; p++)
        for (int k = 0; k < K; k++) alpha[k] += grad[p * K + (size_t)k];
    float mx = 0.0f;
    for (size_t p = 0; p < HW; p++) {
        double s = 0.0;
        for (int k = 0; k < K; k++) s += alpha[k] / (double)HW * map[p * K + (size_t)k];
        cam[p] = s > 0.0 ? (float)s : 0.0f;
        if (cam[p] > mx) mx = cam[p];
    }
    for (size_t p = 0; p < HW && mx > 0.0f; p++) cam[p] /= mx;
    free(alpha);
}

/* Blue (0) -> cyan -> yellow -> red (1). */
static void ramp(float v, float rgb[3]) {
    float r = fminf(fmaxf(1.5f - fabsf(4.0f * v - 3.0f), 0.0f), 1.0f);
    float g = fminf(fmaxf(1.5f - fabsf(4.0f * v - 2.0f), 0.0f), 1.0f);
    float b = fminf(fmaxf(1.5f - fabsf(4.0f * v - 1.0f), 0.0f), 1.0f);
    rgb[0] = r;
    rgb[1] = g;
    rgb[2] = b;
}

/* Bilinear sample of cam at continuous (y, x) in map cells, half-pixel centres, clamped. */
static float sample(const float *cam, int H, int W, float y, float x) {
    y = fminf(fmaxf(y, 0.0f), (float)(H - 1));
    x = fminf(fmaxf(x, 0.0f), (float)(W - 1));
    int y0 = (int)y, x0 = (int)x;
    int y1 = y0 + 1 < H ? y0 + 1 : y0, x1 = x0 + 1 < W ? x0 + 1 : x0;
    float fy = y - (float)y0, fx = x - (float)x0;
    float a = cam[y0 * W + x0] * (1 - fx) + cam[y0 * W + x1] * fx;
    float b = cam[y1 * W + x0] * (1 - fx) + cam[y1 * W + x1] * fx;
    return a * (1 - fy) + b * fy;
}

df_status df_gradcam_overlay(const df_image *img, const float *cam, int H, int W, df_image *out, df_error *err) {
    df_status st = df_image_alloc(out, img->width, img->height, err);
    if (st != DF_OK) return st;
    for (int y = 0; y < img->height; y++) {
        float my = ((float)y + 0.5f) * (float)H / (float)img->height - 0.5f;
        for (int x = 0; x < img->width; x++) {
            float mx = ((float)x + 0.5f) * (float)W / (float)img->width - 0.5f;
            float rgb[3];
            ramp(sample(cam, H, W, my, mx), rgb);
            size_t o = ((size_t)y * img->width + x) * 3;
            for (int c = 0; c < 3; c++)
                out->pixels[o + c] = (uint8_t)lrintf(0.5f * img->pixels[o + c] + 0.5f * 255.0f * rgb[c]);
        }
    }
    return DF_OK;
}
