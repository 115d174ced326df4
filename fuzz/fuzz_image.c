/*
 * libFuzzer target for the image decoders (JPEG, PNG, BMP, format detection,
 * EXIF via libexif), through the same entry point the product uses:
 * df_image_decode with a 4 MP cap and a 224x224 DCT-scaling hint. Also
 * probes, and resizes what decodes, so every decoded size reaches the
 * resampler.
 *
 * Not built by CMake. Build from the repository root, then run it on a seed
 * corpus of small JPEG/PNG/BMP files (not committed):
 *   SRCS="fuzz/fuzz_image.c $(ls src/image/[a-z]*.c src/core/[a-z]*.c)"
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc $SRCS
 *         -ljpeg -lpng -lexif -lm -o fuzz_image
 *   ./fuzz_image -max_total_time=60 -max_len=65536 -rss_limit_mb=1024 corpus/
 */
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    df_image_load_options opt = df_image_load_options_default();
    opt.max_pixels = 4 * 1000 * 1000;
    opt.min_width = 224;
    opt.min_height = 224;
    df_error err;
    int w, h;
    (void)df_image_probe(data, size, "<fuzz>", &w, &h, &err);
    df_image img;
    if (df_image_decode(data, size, "<fuzz>", &opt, &img, &err) == DF_OK) {
        df_image out;
        if (df_image_resize(&img, 31, 17, DF_RESIZE_AREA, &out, &err) == DF_OK) df_image_free(&out);
        df_image_free(&img);
    }
    return 0;
}
