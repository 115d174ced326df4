/* JPEG files for tests (see jpeg_writer.h). */
#include "support/jpeg_writer.h"

#include <stdio.h>
/* jpeglib.h needs FILE declared first. */
#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>

/* stored(y, x) for each orientation o: the inverse of what the tag asks the
 * reader to do. 3: rotate 180; 6: the reader rotates 90 CW, so store 90 CCW;
 * 8: the reader rotates 90 CCW, so store 90 CW. */
static const uint8_t *source(const df_image *up, int o, int x, int y) {
    int W = up->width, H = up->height, ux = x, uy = y;
    switch (o) {
    case 3: ux = W - 1 - x; uy = H - 1 - y; break;
    case 6: ux = W - 1 - y; uy = x; break;
    case 8: ux = y; uy = H - 1 - x; break;
    default: break;
    }
    return up->pixels + ((size_t)uy * W + ux) * 3;
}

int df_test_write_jpeg(const char *path, const df_image *up, int quality, int o) {
    int turned = o == 6 || o == 8;
    int W = turned ? up->height : up->width, H = turned ? up->width : up->height;
    uint8_t *stored = malloc((size_t)W * H * 3);
    if (!stored) return -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) memcpy(stored + ((size_t)y * W + x) * 3, source(up, o, x, y), 3);
    uint8_t exif[] = {'E',  'x',  'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                      0x12, 0x01, 3,   0,   1, 0, 0,   0,   (uint8_t)o, 0, 0, 0, 0, 0, 0, 0};
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(stored);
        return -1;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, fp);
    c.image_width = (JDIMENSION)W;
    c.image_height = (JDIMENSION)H;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (o != 1) jpeg_write_marker(&c, JPEG_APP0 + 1, exif, sizeof exif);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = stored + (size_t)c.next_scanline * W * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(stored);
    return fclose(fp) == 0 ? 0 : -1;
}
