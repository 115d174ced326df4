/*
 * Private interface between the image dispatcher (image.c) and the per-format
 * decoders (image_jpeg.c, image_png.c, image_bmp.c) and the EXIF reader
 * (image_exif.c). Not part of the module's public header.
 *
 * Every decoder has one entry point that serves both decoding and probing:
 * with out == NULL it reads the header only and reports the stored size and
 * EXIF orientation; with out != NULL it also decodes the pixels into *out
 * (RGB8, as stored: the dispatcher applies the orientation afterwards).
 * Decoders check the stored size against opt->max_pixels before allocating
 * anything proportional to it. Messages start with `name`.
 */
#ifndef DF_IMAGE_INTERNAL_H
#define DF_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "image/image.h"

typedef struct df_image_header {
    int width;       /* as stored in the file */
    int height;
    int orientation; /* EXIF 1..8; 1 when absent, broken or not asked for */
} df_image_header;

df_status df_image_jpeg_read(const uint8_t *data, size_t size, const char *name,
                             const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                             df_error *err) DF_MUST_CHECK;
df_status df_image_png_read(const uint8_t *data, size_t size, const char *name,
                            const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                            df_error *err) DF_MUST_CHECK;
df_status df_image_bmp_read(const uint8_t *data, size_t size, const char *name,
                            const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                            df_error *err) DF_MUST_CHECK;

/* The Orientation tag (1..8) of an Exif block that starts with the
 * "Exif\0\0" identifier followed by a TIFF header (the payload of a JPEG APP1
 * segment). Returns 1 when there is no tag, or it is broken or out of range:
 * a damaged EXIF block must not make a good photo unreadable. */
int df_image_exif_orientation(const uint8_t *data, size_t size);

/* df_image_resize with the two-tap fast path of bilinear axes on (1, what
 * df_image_resize does) or off (0: the generic tap loop), so tests can check
 * that both give the same pixels. */
df_status df_image_resize_taps(const df_image *src, int width, int height, df_resize_method method,
                               int two_taps, df_image *out, df_error *err);

/* 1 if orientation o (1..8) swaps width and height (5..8). */
static inline int df_image_orientation_swaps(int o) { return o >= 5 && o <= 8; }

/* "<memory>" when name is NULL. */
static inline const char *df_image_name(const char *name) { return name ? name : "<memory>"; }

#endif
