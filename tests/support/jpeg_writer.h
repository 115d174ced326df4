/*
 * Writing JPEGs in tests: a photo stored in any EXIF orientation, so the
 * decoder's (and anything built on it) handling of phone photos is tested on
 * files whose upright pixels the test chose.
 */
#ifndef DF_TEST_JPEG_WRITER_H
#define DF_TEST_JPEG_WRITER_H

#include "image/image.h"

/* Writes upright as a baseline JPEG at quality 1..100. orientation 1, 3, 6
 * or 8: the pixels are stored turned so that the EXIF Orientation tag
 * written with them (none for 1) turns them back to upright. Returns 0 on
 * success. */
int df_test_write_jpeg(const char *path, const df_image *upright, int quality, int orientation);

#endif
