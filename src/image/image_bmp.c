/*
 * BMP decoding, by hand, from memory, to RGB8.
 *
 * Supported: uncompressed (BI_RGB) 1/4/8-bit palette, 16-bit (5-5-5),
 * 24-bit and 32-bit (BGRX, the 4th byte ignored as PIL does), and
 * BI_BITFIELDS / BI_ALPHABITFIELDS 16- and 32-bit with any channel masks
 * (each channel scaled to 0..255 with rounding); bottom-up (height > 0) and
 * top-down (height < 0) rows, rows padded to 4 bytes. Headers: OS/2 core
 * (12), OS/2 2.x (16, 64), BITMAPINFOHEADER (40) and V2..V5 (52, 56, 108,
 * 124). Not supported: RLE4/RLE8, embedded JPEG/PNG (DF_ERR_UNSUPPORTED).
 * Palette indices past the palette read as black.
 *
 * Every field is bounds-checked; the pixel data must lie inside the file
 * (the last row may omit its padding) before the image is allocated.
 * Reference: Microsoft's BITMAPINFOHEADER / BITMAPV5HEADER documentation.
 */
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_JPEG = 4, BI_PNG = 5,
       BI_ALPHABITFIELDS = 6 };

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct channel {
    uint32_t mask;
    int shift;
    uint32_t max; /* mask >> shift */
} channel;

static channel make_channel(uint32_t mask) {
    channel ch = {mask, 0, 0};
    if (mask) {
        while (!((mask >> ch.shift) & 1u)) ch.shift++;
        ch.max = mask >> ch.shift;
    }
    return ch;
}

static inline uint8_t channel_value(const channel *ch, uint32_t v) {
    if (!ch->max) return 0;
    uint64_t x = (v & ch->mask) >> ch->shift;
    return (uint8_t)((x * 255u + ch->max / 2) / ch->max);
}

/* What the headers say, checked. */
typedef struct bmp_info {
    uint32_t off_bits, hsize, bits, compression, clr_used;
    int64_t width, height;
    int top_down, pal_entry, bitfields;
    channel r, g, b;
    uint8_t pal[256][3];
    uint64_t row_bytes, stride;
} bmp_info;

/* The info header: size, dimensions, bits, compression. */
static df_status read_info_header(const uint8_t *d, size_t size, const char *name, bmp_info *bi, df_error *err) {
    if (size < 18)
        return df_error_set(err, DF_ERR_FORMAT, "%s: truncated BMP (%zu bytes, header needs 18)", name, size);
    bi->off_bits = rd32(d + 10);
    const uint32_t hsize = bi->hsize = rd32(d + 14);
    if (hsize > size - 14)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: truncated BMP (info header of %u bytes, %zu bytes follow the file header)", name,
                            hsize, size - 14);
    const uint8_t *ih = d + 14;
    uint32_t planes;
    bi->compression = BI_RGB;
    bi->pal_entry = 4;
    if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        bi->width = rd16(ih + 4);
        bi->height = rd16(ih + 6); /* unsigned here: core BMPs are always bottom-up */
        planes = rd16(ih + 8);
        bi->bits = rd16(ih + 10);
        bi->pal_entry = 3;
    } else if (hsize == 16 || hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 || hsize == 108 ||
               hsize == 124) {
        bi->width = (int32_t)rd32(ih + 4);
        bi->height = (int32_t)rd32(ih + 8);
        planes = rd16(ih + 12);
        bi->bits = rd16(ih + 14);
        if (hsize >= 40) {
            bi->compression = rd32(ih + 16);
            bi->clr_used = rd32(ih + 32);
        }
        /* OS/2 2.x uses 3 and 4 for Huffman 1D and RLE24. */
        if (hsize == 64 && bi->compression >= 3)
            return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: OS/2 BMP compression %u is not supported", name,
                                bi->compression);
    } else {
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP info header size %u is not a known one", name, hsize);
    }
    bi->top_down = bi->height < 0;
    if (bi->top_down) bi->height = -bi->height;
    if (bi->width <= 0 || bi->height <= 0 || bi->width > INT32_MAX || bi->height > INT32_MAX)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP size %lldx%lld is invalid", name, (long long)bi->width,
                            (long long)(bi->top_down ? -bi->height : bi->height));
    if (planes != 1) return df_error_set(err, DF_ERR_FORMAT, "%s: BMP has %u planes (expected 1)", name, planes);
    return DF_OK;
}

/* Compression and bit depth together. */
static df_status check_encoding(const char *name, bmp_info *bi, df_error *err) {
    const uint32_t c = bi->compression, bits = bi->bits;
    if (c == BI_RLE8 || c == BI_RLE4)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: RLE-compressed BMP is not supported", name);
    if (c == BI_JPEG || c == BI_PNG)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: BMP with embedded %s data is not supported", name,
                            c == BI_JPEG ? "JPEG" : "PNG");
    if (c != BI_RGB && c != BI_BITFIELDS && c != BI_ALPHABITFIELDS)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP compression %u is not a known one", name, c);
    bi->bitfields = c != BI_RGB;
    if (bi->bitfields ? (bits != 16 && bits != 32)
                      : (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32))
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP with %u bits per pixel%s is not valid", name, bits,
                            bi->bitfields ? " and bit fields" : "");
    return DF_OK;
}

/* Channel masks (inside V2+ headers, or right after a 40-byte header) and
 * the palette. */
static df_status read_masks_and_palette(const uint8_t *d, size_t size, const char *name, bmp_info *bi,
                                        df_error *err) {
    bi->r = make_channel(0xff0000);
    bi->g = make_channel(0xff00);
    bi->b = make_channel(0xff);
    if (bi->bits == 16 && !bi->bitfields) {
        bi->r = make_channel(0x7c00);
        bi->g = make_channel(0x03e0);
        bi->b = make_channel(0x001f);
    }
    size_t pal_off = 14 + (size_t)bi->hsize;
    if (bi->bitfields) {
        size_t moff = 14 + 40;
        if (bi->hsize == 40) {
            size_t nmask = bi->compression == BI_ALPHABITFIELDS ? 16 : 12;
            if (moff + nmask > size) return df_error_set(err, DF_ERR_FORMAT, "%s: truncated BMP (bit field masks)", name);
            pal_off += nmask;
        } else if (bi->hsize < 52) {
            return df_error_set(err, DF_ERR_FORMAT, "%s: BMP bit fields with a %u-byte header has no masks", name,
                                bi->hsize);
        }
        bi->r = make_channel(rd32(d + moff));
        bi->g = make_channel(rd32(d + moff + 4));
        bi->b = make_channel(rd32(d + moff + 8));
    }
    memset(bi->pal, 0, sizeof bi->pal);
    if (bi->bits > 8) return DF_OK;
    uint32_t max_colors = 1u << bi->bits;
    uint32_t ncolors = bi->clr_used ? bi->clr_used : max_colors;
    if (ncolors > max_colors) ncolors = max_colors; /* extra entries are never indexed */
    if (pal_off > size || (size - pal_off) / (size_t)bi->pal_entry < ncolors)
        return df_error_set(err, DF_ERR_FORMAT, "%s: truncated BMP (palette of %u colours does not fit)", name,
                            ncolors);
    for (uint32_t i = 0; i < ncolors; i++) {
        const uint8_t *p = d + pal_off + (size_t)i * (size_t)bi->pal_entry;
        bi->pal[i][0] = p[2];
        bi->pal[i][1] = p[1];
        bi->pal[i][2] = p[0];
    }
    return DF_OK;
}

/* The pixel rows must lie inside the file; the last may omit its padding. */
static df_status check_layout(size_t size, const char *name, const df_image_load_options *opt, bmp_info *bi,
                              df_error *err) {
    const int64_t width = bi->width, height = bi->height;
    if (width * height > opt->max_pixels)
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: BMP is %lldx%lld = %lld pixels, limit is %lld", name,
                            (long long)width, (long long)height, (long long)(width * height),
                            (long long)opt->max_pixels);
    const uint64_t row_bits = (uint64_t)bi->bits * (uint64_t)width;
    bi->row_bytes = (row_bits + 7) / 8;
    bi->stride = ((row_bits + 31) / 32) * 4;
    if (bi->off_bits > size)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP pixel data offset %u is past the end of the file (%zu bytes)",
                            name, bi->off_bits, size);
    const uint64_t avail = (uint64_t)(size - bi->off_bits);
    /* stride * (height - 1) + row_bytes <= avail, without overflow:
     * stride < 2^36 and height < 2^31. */
    if (bi->stride > avail || (uint64_t)(height - 1) > (avail - bi->row_bytes) / bi->stride)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: truncated BMP (%lldx%lld at %u bits needs %llu bytes of pixels, file has %llu)", name,
                            (long long)width, (long long)height, bi->bits,
                            (unsigned long long)(bi->stride * (uint64_t)(height - 1) + bi->row_bytes),
                            (unsigned long long)avail);
    return DF_OK;
}

static void decode_row(const bmp_info *bi, const uint8_t *src, uint8_t *dst) {
    const int64_t width = bi->width;
    const uint32_t bits = bi->bits;
    if (bits <= 8) {
        const unsigned ppb = 8 / bits, mask = (1u << bits) - 1;
        for (int64_t x = 0; x < width; x++, dst += 3) {
            unsigned byte = src[x / ppb];
            unsigned shift = (unsigned)(8 - bits - (unsigned)(x % ppb) * bits);
            memcpy(dst, bi->pal[(byte >> shift) & mask], 3);
        }
    } else if (bits == 24) {
        for (int64_t x = 0; x < width; x++, src += 3, dst += 3) {
            dst[0] = src[2];
            dst[1] = src[1];
            dst[2] = src[0];
        }
    } else {
        const int bpp = (int)bits / 8;
        for (int64_t x = 0; x < width; x++, src += bpp, dst += 3) {
            uint32_t v = bpp == 2 ? rd16(src) : rd32(src);
            dst[0] = channel_value(&bi->r, v);
            dst[1] = channel_value(&bi->g, v);
            dst[2] = channel_value(&bi->b, v);
        }
    }
}

df_status df_image_bmp_read(const uint8_t *d, size_t size, const char *name, const df_image_load_options *opt,
                            df_image_header *hdr, df_image *out, df_error *err) {
    bmp_info bi;
    memset(&bi, 0, sizeof bi);
    df_status st = read_info_header(d, size, name, &bi, err);
    if (st != DF_OK) return st;
    hdr->width = (int)bi.width;
    hdr->height = (int)bi.height;
    hdr->orientation = 1;
    if ((st = check_encoding(name, &bi, err)) != DF_OK || (st = read_masks_and_palette(d, size, name, &bi, err)) != DF_OK ||
        (st = check_layout(size, name, opt, &bi, err)) != DF_OK)
        return st;
    if (!out) return DF_OK;
    df_image img;
    st = df_image_alloc(&img, (int)bi.width, (int)bi.height, err);
    if (st != DF_OK) return df_error_prefix(err, "%s", name);
    for (int64_t y = 0; y < bi.height; y++) {
        const int64_t sy = bi.top_down ? y : bi.height - 1 - y;
        decode_row(&bi, d + bi.off_bits + (size_t)sy * (size_t)bi.stride, img.pixels + (size_t)y * (size_t)bi.width * 3);
    }
    *out = img;
    return DF_OK;
}
