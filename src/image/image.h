/*
 * Images: decode JPEG / PNG / BMP into 8-bit RGB, apply EXIF orientation,
 * resize, encode PNG.
 *
 * One decoder core works from memory (df_image_decode); df_image_load reads
 * a file and calls it. Pixels are RGB8, row-major, HWC, no padding.
 * The caller owns the df_image and frees it with df_image_free.
 */
#ifndef DF_IMAGE_IMAGE_H
#define DF_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct df_image {
    int width;
    int height;
    uint8_t *pixels; /* width * height * 3 bytes, owned */
} df_image;

typedef struct df_image_load_options {
    /* Refuse images whose header claims more pixels than this, before any
     * pixel buffer is allocated. Default 100 megapixels. */
    int64_t max_pixels;
    /* Decode hint: when both are > 0, a JPEG may be decoded with libjpeg's
     * DCT scaling (1/2, 1/4, 1/8) as long as the decoded image stays at
     * least this large (after orientation, compared per axis), so a 12 MP
     * photo is not fully decoded to make a 224x224 input. 0 = full size. */
    int min_width;
    int min_height;
    /* Apply the EXIF Orientation tag (1..8). Default 1. */
    int apply_exif_orientation;
} df_image_load_options;

df_image_load_options df_image_load_options_default(void);

/* Largest file df_image_load will read (a sanity cap, 512 MiB). */
#define DF_IMAGE_MAX_FILE_BYTES ((size_t)512 << 20)

/* name is used in error messages only (a path; NULL prints "<memory>").
 * The format is found from the magic bytes, never the extension. Statuses:
 * DF_ERR_FORMAT for an empty, corrupt or truncated JPEG/PNG/BMP;
 * DF_ERR_UNSUPPORTED for anything that is not JPEG/PNG/BMP (GIF, WebP, HEIC,
 * TIFF, a text file...), the message naming what it looks like;
 * DF_ERR_TOO_LARGE when the header claims more than opt->max_pixels.
 * opt may be NULL (defaults). On failure *out is left empty. */
df_status df_image_decode(const uint8_t *data, size_t size, const char *name,
                          const df_image_load_options *opt, df_image *out,
                          df_error *err) DF_MUST_CHECK;
df_status df_image_load(const char *path, const df_image_load_options *opt, df_image *out,
                        df_error *err) DF_MUST_CHECK;

/* Reads the header only (no pixel data is decoded): the size the image has
 * after its EXIF orientation, i.e. what df_image_decode returns with default
 * options. Same statuses and messages as df_image_decode, except that no
 * max_pixels limit is applied (the caller sees the claimed size). */
df_status df_image_probe(const uint8_t *data, size_t size, const char *name, int *width,
                         int *height, df_error *err) DF_MUST_CHECK;

/* Allocates an uninitialised width x height RGB image. */
df_status df_image_alloc(df_image *img, int width, int height, df_error *err) DF_MUST_CHECK;
void df_image_free(df_image *img);

/* Rotates/flips img per EXIF orientation 1..8 (1 = no-op): 2 mirror
 * horizontally, 3 rotate 180, 4 mirror vertically, 5 transpose, 6 rotate 90
 * clockwise, 7 transverse, 8 rotate 90 counter-clockwise. For o != 1
 * img->pixels is replaced by a new buffer (the old one is freed) and, for
 * 5..8, width and height swap. On failure img is unchanged. */
df_status df_image_apply_orientation(df_image *img, int orientation, df_error *err) DF_MUST_CHECK;

typedef enum df_resize_method {
    DF_RESIZE_NEAREST,  /* PIL NEAREST: src = floor((x + 0.5) * in / out); what Keras does */
    DF_RESIZE_AREA,     /* box-filter area average: the default for downscaling photos */
    DF_RESIZE_BILINEAR  /* half-pixel centres, no antialiasing: TFLite/TF's resize_bilinear */
} df_resize_method;

/* Stretches src to width x height (aspect ratio not kept, as Keras). */
df_status df_image_resize(const df_image *src, int width, int height, df_resize_method method,
                          df_image *out, df_error *err) DF_MUST_CHECK;

/* Parses "nearest" / "area" / "bilinear". */
df_status df_resize_method_parse(const char *s, df_resize_method *out, df_error *err);
const char *df_resize_method_name(df_resize_method m);

/* Writes img as PNG atomically (temp file + rename). */
df_status df_image_write_png(const df_image *img, const char *path, df_error *err) DF_MUST_CHECK;
/* Encodes img as PNG into a malloc'ed buffer (for embedding in HTML). */
df_status df_image_encode_png(const df_image *img, uint8_t **data, size_t *size,
                              df_error *err) DF_MUST_CHECK;
/* The same at zlib level 0-9 (-1: zlib's default, 6). */
df_status df_image_encode_png_level(const df_image *img, int level, uint8_t **data, size_t *size,
                                    df_error *err) DF_MUST_CHECK;

#endif
