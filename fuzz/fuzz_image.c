/*
 * libFuzzer target for the image decoders (format detection, JPEG, PNG, BMP,
 * EXIF orientation via libexif), through the entry points the product uses:
 * df_image_probe, then df_image_decode with a 4 MP cap (so hostile headers
 * cannot make the fuzzer run out of memory on legitimate allocations), and a
 * resize of whatever decodes, so every decoded size reaches the resampler.
 * The options vary with the input length so both the DCT-scaling hint and the
 * "ignore EXIF" path are covered without changing the bytes themselves.
 *
 * Built and run by scripts/fuzz.sh (seeds: fuzz/image_seeds.c). Adapted
 * from the images helper's target.
 */
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_image_load_options opt = df_image_load_options_default();
    opt.max_pixels = 4 * 1000 * 1000;
    switch (size % 3) {
    case 0: opt.min_width = 224; opt.min_height = 224; break;
    case 1: break; /* full size, EXIF applied: must match the probe */
    default: opt.apply_exif_orientation = 0; break;
    }
    df_error err;
    int w = 0, h = 0;
    (void)df_image_probe(data, size, "<fuzz>", &w, &h, &err);
    df_image img;
    if (df_image_decode(data, size, "<fuzz>", &opt, &img, &err) == DF_OK) {
        /* A decoded image must be what its header promised (when not scaled). */
        if (size % 3 == 1 && (img.width != w || img.height != h)) __builtin_trap();
        df_image out;
        if (df_image_resize(&img, 31, 17, DF_RESIZE_AREA, &out, &err) == DF_OK) df_image_free(&out);
        if (df_image_resize(&img, 5, 40, DF_RESIZE_BILINEAR, &out, &err) == DF_OK) df_image_free(&out);
        df_image_free(&img);
    }
    return 0;
}
