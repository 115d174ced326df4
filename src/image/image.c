/*
 * Image entry points: format detection by magic bytes, the decode/probe
 * dispatcher, file loading, allocation and EXIF orientation.
 *
 * Decoders live in image_jpeg.c, image_png.c and image_bmp.c; resizing in
 * image_resize.c. Orientation follows the EXIF 2.3 spec (Table 6, the same
 * transposes as PIL's ImageOps.exif_transpose): 2 mirror horizontally,
 * 3 rotate 180, 4 mirror vertically, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise.
 */
#include "image/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fileio.h"
#include "image/image_internal.h"

df_image_load_options df_image_load_options_default(void) {
    df_image_load_options o;
    o.max_pixels = 100000000;
    o.min_width = 0;
    o.min_height = 0;
    o.apply_exif_orientation = 1;
    return o;
}

df_status df_image_alloc(df_image *img, int width, int height, df_error *err) {
    if (!img) return df_error_set(err, DF_ERR_INVALID_ARG, "df_image_alloc: img is NULL");
    img->width = 0;
    img->height = 0;
    img->pixels = NULL;
    if (width <= 0 || height <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "image size %dx%d: both must be positive", width,
                            height);
    size_t n;
    if (!df_size_mul3((size_t)width, (size_t)height, 3, &n))
        return df_error_set(err, DF_ERR_TOO_LARGE, "image size %dx%d overflows memory sizes", width,
                            height);
    img->pixels = malloc(n);
    if (!img->pixels)
        return df_error_set(err, DF_ERR_NOMEM, "cannot allocate a %dx%d image (%zu bytes)", width,
                            height, n);
    img->width = width;
    img->height = height;
    return DF_OK;
}

void df_image_free(df_image *img) {
    if (!img) return;
    free(img->pixels);
    img->pixels = NULL;
    img->width = 0;
    img->height = 0;
}

/* ---- format detection ---------------------------------------------------- */

typedef enum { FMT_JPEG, FMT_PNG, FMT_BMP, FMT_OTHER } image_format;

static int starts_with(const uint8_t *d, size_t n, const void *magic, size_t m) {
    return n >= m && memcmp(d, magic, m) == 0;
}

/* True when the first bytes look like text (ASCII or UTF-8, no control
 * characters other than whitespace): e.g. an HTML error page saved as .jpg. */
static int looks_like_text(const uint8_t *d, size_t n) {
    size_t k = n < 512 ? n : 512;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = d[i];
        if (c >= 0x20 && c != 0x7f) continue;
        if (c == '\t' || c == '\n' || c == '\r' || c == '\f') continue;
        return 0;
    }
    return 1;
}

/* Names what a file we do not decode looks like, for the error message. */
static const char *describe_other(const uint8_t *d, size_t n, char *buf, size_t bufsize) {
    static const uint8_t jxl_box[] = {0, 0, 0, 0x0c, 'J', 'X', 'L', ' '};
    static const uint8_t jp2_box[] = {0, 0, 0, 0x0c, 'j', 'P', ' ', ' '};
    if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) return "GIF images";
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return "WebP images";
    if (n >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
        const uint8_t *b = d + 8;
        if (!memcmp(b, "avif", 4) || !memcmp(b, "avis", 4)) return "AVIF images";
        if (!memcmp(b, "heic", 4) || !memcmp(b, "heix", 4) || !memcmp(b, "hevc", 4) ||
            !memcmp(b, "hevx", 4) || !memcmp(b, "heim", 4) || !memcmp(b, "heis", 4) ||
            !memcmp(b, "mif1", 4) || !memcmp(b, "msf1", 4))
            return "HEIC/HEIF images";
        return "ISO media files (MP4/QuickTime/HEIF family)";
    }
    if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) return "TIFF images";
    if (starts_with(d, n, jxl_box, sizeof jxl_box) || starts_with(d, n, "\xff\x0a", 2))
        return "JPEG XL images";
    if (starts_with(d, n, jp2_box, sizeof jp2_box) || starts_with(d, n, "\xff\x4f\xff\x51", 4))
        return "JPEG 2000 images";
    if (starts_with(d, n, "8BPS", 4)) return "Photoshop (PSD) files";
    if (starts_with(d, n, "%PDF", 4)) return "PDF documents";
    if (starts_with(d, n, "PK\x03\x04", 4)) return "ZIP archives";
    if (starts_with(d, n, "\x1f\x8b", 2)) return "gzip files";
    if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' &&
        (d[2] == ' ' || d[2] == '\n' || d[2] == '\r' || d[2] == '\t'))
        return "PNM (PBM/PGM/PPM/PAM) images";
    if (starts_with(d, n, "RIFF", 4)) return "RIFF files (not WebP)";
    if (looks_like_text(d, n)) {
        size_t i = 0;
        while (i < n && i < 64 && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
            i++;
        if (i < n && d[i] == '<') return "HTML/XML text files";
        return "text files";
    }
    if (n >= 4)
        snprintf(buf, bufsize, "files starting with bytes %02x %02x %02x %02x (unknown format)",
                 d[0], d[1], d[2], d[3]);
    else
        snprintf(buf, bufsize, "files of %zu bytes (unknown format)", n);
    return buf;
}

static image_format detect(const uint8_t *d, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (n >= 2 && d[0] == 0xff && d[1] == 0xd8) return FMT_JPEG;
    /* A prefix of the PNG signature is a truncated PNG, not "unknown". */
    if (n >= 4 && memcmp(d, png_sig, n < 8 ? n : 8) == 0) return FMT_PNG;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
        if (n < 18) return FMT_BMP; /* reported as truncated by the BMP reader */
        uint32_t hs = (uint32_t)d[14] | (uint32_t)d[15] << 8 | (uint32_t)d[16] << 16 |
                      (uint32_t)d[17] << 24;
        /* "BM" alone is weak (a text file may start "BMW"): also require a
         * known DIB header size. */
        if (hs == 12 || hs == 16 || hs == 40 || hs == 52 || hs == 56 || hs == 64 || hs == 108 ||
            hs == 124)
            return FMT_BMP;
    }
    return FMT_OTHER;
}

static df_status read_header(const uint8_t *data, size_t size, const char *name,
                             const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                             df_error *err) {
    name = df_image_name(name);
    if (!data || size == 0) return df_error_set(err, DF_ERR_FORMAT, "%s: empty file (0 bytes)", name);
    switch (detect(data, size)) {
    case FMT_JPEG: return df_image_jpeg_read(data, size, name, opt, hdr, out, err);
    case FMT_PNG: return df_image_png_read(data, size, name, opt, hdr, out, err);
    case FMT_BMP: return df_image_bmp_read(data, size, name, opt, hdr, out, err);
    case FMT_OTHER: break;
    }
    char buf[96];
    const char *what = describe_other(data, size, buf, sizeof buf);
    return df_error_set(err, DF_ERR_UNSUPPORTED,
                        "%s: %s are not supported (DeepFashion reads JPEG, PNG and BMP)", name, what);
}

static df_status check_options(const df_image_load_options *opt, const char *name, df_error *err) {
    if (opt->max_pixels <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: max_pixels must be positive, got %lld",
                            df_image_name(name), (long long)opt->max_pixels);
    if (opt->min_width < 0 || opt->min_height < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "%s: minimum decode size %dx%d must not be negative",
                            df_image_name(name), opt->min_width, opt->min_height);
    return DF_OK;
}

df_status df_image_decode(const uint8_t *data, size_t size, const char *name,
                          const df_image_load_options *opt, df_image *out, df_error *err) {
    if (!out) return df_error_set(err, DF_ERR_INVALID_ARG, "df_image_decode: out is NULL");
    out->width = out->height = 0;
    out->pixels = NULL;
    df_image_load_options defaults = df_image_load_options_default();
    if (!opt) opt = &defaults;
    df_status st = check_options(opt, name, err);
    if (st != DF_OK) return st;

    df_image_header hdr = {0, 0, 1};
    df_image img = {0, 0, NULL};
    st = read_header(data, size, name, opt, &hdr, &img, err);
    if (st != DF_OK) {
        df_image_free(&img);
        return st;
    }
    if (opt->apply_exif_orientation && hdr.orientation != 1) {
        st = df_image_apply_orientation(&img, hdr.orientation, err);
        if (st != DF_OK) {
            df_image_free(&img);
            return df_error_prefix(err, "%s", df_image_name(name));
        }
    }
    *out = img;
    return DF_OK;
}

df_status df_image_load(const char *path, const df_image_load_options *opt, df_image *out,
                        df_error *err) {
    if (!out) return df_error_set(err, DF_ERR_INVALID_ARG, "df_image_load: out is NULL");
    out->width = out->height = 0;
    out->pixels = NULL;
    if (!path) return df_error_set(err, DF_ERR_INVALID_ARG, "df_image_load: path is NULL");
    uint8_t *data = NULL;
    size_t size = 0;
    df_status st = df_file_read(path, DF_IMAGE_MAX_FILE_BYTES, &data, &size, err);
    if (st != DF_OK) return st;
    st = df_image_decode(data, size, path, opt, out, err);
    free(data);
    return st;
}

df_status df_image_probe(const uint8_t *data, size_t size, const char *name, int *width,
                         int *height, df_error *err) {
    if (width) *width = 0;
    if (height) *height = 0;
    df_image_load_options opt = df_image_load_options_default();
    opt.max_pixels = INT64_MAX;
    df_image_header hdr = {0, 0, 1};
    df_status st = read_header(data, size, name, &opt, &hdr, NULL, err);
    if (st != DF_OK) return st;
    int swap = df_image_orientation_swaps(hdr.orientation);
    if (width) *width = swap ? hdr.height : hdr.width;
    if (height) *height = swap ? hdr.width : hdr.height;
    return DF_OK;
}

/* ---- orientation ----------------------------------------------------------- */

df_status df_image_apply_orientation(df_image *img, int orientation, df_error *err) {
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "apply orientation: empty image");
    if (orientation < 1 || orientation > 8)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "EXIF orientation %d is out of range (expected 1..8)", orientation);
    if (orientation == 1) return DF_OK;

    const ptrdiff_t W = img->width, H = img->height;
    /* out(ox, oy) = in[base + ox * dx + oy * dy], in pixel units. */
    ptrdiff_t base = 0, dx = 1, dy = W;
    switch (orientation) {
    case 2: base = W - 1; dx = -1; dy = W; break;                 /* mirror horizontally */
    case 3: base = (H - 1) * W + W - 1; dx = -1; dy = -W; break;  /* rotate 180 */
    case 4: base = (H - 1) * W; dx = 1; dy = -W; break;           /* mirror vertically */
    case 5: base = 0; dx = W; dy = 1; break;                      /* transpose */
    case 6: base = (H - 1) * W; dx = -W; dy = 1; break;           /* rotate 90 CW */
    case 7: base = (H - 1) * W + W - 1; dx = -W; dy = -1; break;  /* transverse */
    case 8: base = W - 1; dx = W; dy = -1; break;                 /* rotate 90 CCW */
    default: break;
    }
    const int swap = df_image_orientation_swaps(orientation);
    const int ow = swap ? img->height : img->width;
    const int oh = swap ? img->width : img->height;
    df_image out;
    df_status st = df_image_alloc(&out, ow, oh, err);
    if (st != DF_OK) return st;
    const uint8_t *src = img->pixels;
    uint8_t *dst = out.pixels;
    for (int oy = 0; oy < oh; oy++) {
        ptrdiff_t s = base + (ptrdiff_t)oy * dy;
        for (int ox = 0; ox < ow; ox++, s += dx, dst += 3) {
            const uint8_t *p = src + s * 3;
            dst[0] = p[0];
            dst[1] = p[1];
            dst[2] = p[2];
        }
    }
    df_image_free(img);
    *img = out;
    return DF_OK;
}

/* ---- resize method names --------------------------------------------------- */

df_status df_resize_method_parse(const char *s, df_resize_method *out, df_error *err) {
    if (s && out) {
        if (strcasecmp(s, "nearest") == 0) { *out = DF_RESIZE_NEAREST; return DF_OK; }
        if (strcasecmp(s, "area") == 0) { *out = DF_RESIZE_AREA; return DF_OK; }
        if (strcasecmp(s, "bilinear") == 0) { *out = DF_RESIZE_BILINEAR; return DF_OK; }
    }
    return df_error_set(err, DF_ERR_INVALID_ARG,
                        "unknown resize method '%s' (expected nearest, area or bilinear)",
                        s ? s : "(null)");
}

const char *df_resize_method_name(df_resize_method m) {
    switch (m) {
    case DF_RESIZE_NEAREST: return "nearest";
    case DF_RESIZE_AREA: return "area";
    case DF_RESIZE_BILINEAR: return "bilinear";
    }
    return "unknown";
}
