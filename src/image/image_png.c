/*
 * PNG decoding and encoding with libpng 1.6, from/to memory.
 *
 * Decoding matches PIL's Image.convert('RGB'): grey and palette are
 * expanded, alpha (an alpha channel or a tRNS chunk) is dropped without
 * compositing, 16-bit samples keep their high byte (PIL's "RGB;16B"
 * unpacker). Differs from PIL on purpose for 16-bit greyscale: PIL opens it
 * as mode "I" and clips values above 255 when converting, which turns most
 * such images white; we keep the high byte like every other 16-bit type.
 * Gamma, ICC and other colour chunks are ignored (PIL ignores them too).
 * The IHDR size is checked against max_pixels before any row is allocated;
 * a file that ends early (before IEND) is an error. An eXIf chunk supplies
 * the EXIF orientation. Before libpng sees the file, the chunk lengths are
 * checked against the bytes that remain: libpng 1.6.39 mallocs an eXIf
 * chunk's claimed length unchecked, so a 100-byte file could ask for 2 GiB
 * (found by fuzzing).
 *
 * Encoding writes 8-bit RGB, non-interlaced, default zlib level.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/fileio.h"
#include "image/image_internal.h"

typedef struct png_ctx {
    const char *name;
    df_error *err;
    df_status status;
    const uint8_t *data;
    size_t size;
    size_t pos;
    int truncated;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    uint8_t *exif; /* "Exif\0\0" + eXIf payload */
    df_image img;
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    if (c->status == DF_OK) {
        if (c->truncated)
            c->status = df_error_set(c->err, DF_ERR_FORMAT,
                                     "%s: truncated PNG (data ends after %zu bytes)", c->name,
                                     c->size);
        else
            c->status = df_error_set(c->err, DF_ERR_FORMAT, "%s: corrupt PNG (libpng: %s)",
                                     c->name, msg ? msg : "unknown error");
    }
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* the library never prints; libpng warnings do not damage pixels */
}

static void on_png_read(png_structp png, png_bytep out, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos) {
        c->truncated = 1;
        png_error(png, "truncated");
    }
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

static int png_orientation(png_ctx *c) {
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (!png_get_eXIf_1(c->png, c->info, &n, &exif) || !exif || n < 8) return 1;
    free(c->exif);
    c->exif = malloc((size_t)n + 6);
    if (!c->exif) return 1;
    memcpy(c->exif, "Exif\0\0", 6);
    memcpy(c->exif + 6, exif, n);
    return df_image_exif_orientation(c->exif, (size_t)n + 6);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Walks the chunk headers: every chunk must fit in the file. A short tail
 * (cut inside a chunk header) is left to libpng, which reports it. */
static df_status check_chunk_lengths(const uint8_t *d, size_t size, const char *name,
                                     df_error *err) {
    size_t pos = 8;
    while (size >= 12 && pos <= size - 12) {
        uint32_t len = be32(d + pos);
        if (len > 0x7fffffffu)
            return df_error_set(err, DF_ERR_FORMAT,
                                "%s: corrupt PNG (chunk at byte %zu has length %u, above 2^31-1)",
                                name, pos, len);
        if (len > size - pos - 12)
            return df_error_set(err, DF_ERR_FORMAT,
                                "%s: truncated PNG (chunk '%c%c%c%c' at byte %zu needs %u bytes, "
                                "%zu remain)",
                                name, d[pos + 4] & 0x7f, d[pos + 5] & 0x7f, d[pos + 6] & 0x7f,
                                d[pos + 7] & 0x7f, pos, len, size - pos - 12);
        if (memcmp(d + pos + 4, "IEND", 4) == 0) break;
        pos += 12 + (size_t)len;
    }
    return DF_OK;
}

/* Only c is used after a longjmp. */
static df_status png_run(png_ctx *c, const df_image_load_options *opt, df_image_header *hdr,
                         int decode) {
    if (setjmp(png_jmpbuf(c->png))) return c->status;
    png_set_read_fn(c->png, c, on_png_read);
    /* Our own max_pixels check replaces libpng's 1e6 x 1e6 default limits,
     * so an oversized header gets DF_ERR_TOO_LARGE rather than "corrupt". */
    png_set_user_limits(c->png, 0x7fffffffu, 0x7fffffffu);
    png_read_info(c->png, c->info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0;
    png_get_IHDR(c->png, c->info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    hdr->width = (int)w;
    hdr->height = (int)h;
    hdr->orientation = opt->apply_exif_orientation ? png_orientation(c) : 1;
    if ((int64_t)w * (int64_t)h > opt->max_pixels)
        return c->status = df_error_set(c->err, DF_ERR_TOO_LARGE,
                                        "%s: PNG is %ux%u = %lld pixels, limit is %lld", c->name,
                                        (unsigned)w, (unsigned)h, (long long)w * (long long)h,
                                        (long long)opt->max_pixels);
    if (!decode) return DF_OK;

    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
    if ((ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8)
        png_set_expand_gray_1_2_4_to_8(c->png);
    if (depth == 16) png_set_strip_16(c->png);
    /* Applied after expansion, so it also drops the alpha a tRNS chunk
     * adds to palette images. */
    png_set_strip_alpha(c->png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(c->png);
    png_set_interlace_handling(c->png);
    png_read_update_info(c->png, c->info);
    if (png_get_channels(c->png, c->info) != 3 || png_get_bit_depth(c->png, c->info) != 8 ||
        png_get_rowbytes(c->png, c->info) != (size_t)w * 3)
        return c->status = df_error_set(c->err, DF_ERR_INTERNAL,
                                        "%s: libpng transforms gave %d channels of %d bits",
                                        c->name, png_get_channels(c->png, c->info),
                                        png_get_bit_depth(c->png, c->info));

    df_status st = df_image_alloc(&c->img, (int)w, (int)h, c->err);
    if (st != DF_OK) return c->status = df_error_prefix(c->err, "%s", c->name);
    size_t nrows;
    if (!df_size_mul(h, sizeof(png_bytep), &nrows) || !(c->rows = malloc(nrows)))
        return c->status = df_error_set(c->err, DF_ERR_NOMEM, "%s: out of memory", c->name);
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = c->img.pixels + (size_t)y * w * 3;
    png_read_image(c->png, c->rows);
    png_read_end(c->png, c->info);
    /* An eXIf chunk after the image data only shows up now. */
    if (opt->apply_exif_orientation && hdr->orientation == 1) hdr->orientation = png_orientation(c);
    return DF_OK;
}

df_status df_image_png_read(const uint8_t *data, size_t size, const char *name,
                            const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                            df_error *err) {
    png_ctx *c = calloc(1, sizeof *c);
    if (!c) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
    c->name = name;
    c->err = err;
    c->data = data;
    c->size = size;
    df_status st = check_chunk_lengths(data, size, name, err);
    if (st != DF_OK) {
        free(c);
        return st;
    }
    c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_png_error, on_png_warning);
    if (c->png) c->info = png_create_info_struct(c->png);
    if (!c->png || !c->info)
        st = df_error_set(err, DF_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    else
        st = png_run(c, opt, hdr, out != NULL);
    png_destroy_read_struct(c->png ? &c->png : NULL, c->info ? &c->info : NULL, NULL);
    free(c->rows);
    free(c->exif);
    if (st == DF_OK && out)
        *out = c->img;
    else
        df_image_free(&c->img);
    free(c);
    return st;
}

/* ---- encoding -------------------------------------------------------------- */

typedef struct png_wctx {
    df_error *err;
    df_status status;
    uint8_t *buf;
    size_t size;
    size_t cap;
} png_wctx;

static void on_png_wr_error(png_structp png, png_const_charp msg) {
    png_wctx *c = png_get_error_ptr(png);
    if (c->status == DF_OK)
        c->status = df_error_set(c->err, DF_ERR_BACKEND, "PNG encoder: %s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_png_write(png_structp png, png_bytep in, size_t n) {
    png_wctx *c = png_get_io_ptr(png);
    if (n > c->cap - c->size) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->size < n) {
            if (cap > SIZE_MAX / 2) {
                c->status = df_error_set(c->err, DF_ERR_NOMEM, "PNG encoder: output too large");
                png_error(png, "output too large");
            }
            cap *= 2;
        }
        uint8_t *nb = realloc(c->buf, cap);
        if (!nb) {
            c->status = df_error_set(c->err, DF_ERR_NOMEM, "PNG encoder: out of memory");
            png_error(png, "out of memory");
        }
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->size, in, n);
    c->size += n;
}

static void on_png_flush(png_structp png) { (void)png; }

static df_status png_write_run(png_wctx *c, png_structp png, png_infop info, const df_image *img, int level) {
    if (setjmp(png_jmpbuf(png))) return c->status;
    png_set_write_fn(png, c, on_png_write, on_png_flush);
    if (level >= 0) png_set_compression_level(png, level);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->height; y++)
        png_write_row(png, img->pixels + (size_t)y * (size_t)img->width * 3);
    png_write_end(png, info);
    return DF_OK;
}

df_status df_image_encode_png(const df_image *img, uint8_t **data, size_t *size, df_error *err) {
    return df_image_encode_png_level(img, -1, data, size, err);
}

df_status df_image_encode_png_level(const df_image *img, int level, uint8_t **data, size_t *size, df_error *err) {
    if (!data || !size) return df_error_set(err, DF_ERR_INVALID_ARG, "PNG encoder: no output");
    *data = NULL;
    *size = 0;
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "PNG encoder: empty image");
    png_wctx c = {err, DF_OK, NULL, 0, 0};
    df_status st;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_png_wr_error,
                                              on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info)
        st = df_error_set(err, DF_ERR_NOMEM, "PNG encoder: cannot create a PNG writer");
    else
        st = png_write_run(&c, png, info, img, level < 0 ? -1 : level > 9 ? 9 : level);
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (st != DF_OK) {
        free(c.buf);
        return st;
    }
    *data = c.buf;
    *size = c.size;
    return DF_OK;
}

df_status df_image_write_png(const df_image *img, const char *path, df_error *err) {
    if (!path) return df_error_set(err, DF_ERR_INVALID_ARG, "PNG writer: path is NULL");
    uint8_t *buf = NULL;
    size_t n = 0;
    df_status st = df_image_encode_png(img, &buf, &n, err);
    if (st != DF_OK) return df_error_prefix(err, "%s", path);
    df_atomic_file af;
    st = df_atomic_open(&af, path, err);
    if (st != DF_OK) {
        free(buf);
        return st;
    }
    errno = 0;
    if (fwrite(buf, 1, n, af.fp) != n) {
        int e = errno; /* before abort's fclose/unlink overwrite it */
        df_atomic_abort(&af);
        free(buf);
        return df_error_set(err, DF_ERR_IO, "%s: write failed: %s", path,
                            e ? strerror(e) : "stream error");
    }
    free(buf);
    return df_atomic_commit(&af, err);
}
