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

df_status df_image_bmp_read(const uint8_t *d, size_t size, const char *name,
                            const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                            df_error *err) {
    if (size < 18)
        return df_error_set(err, DF_ERR_FORMAT, "%s: truncated BMP (%zu bytes, header needs 18)",
                            name, size);
    const uint32_t off_bits = rd32(d + 10);
    const uint32_t hsize = rd32(d + 14);
    if (hsize > size - 14)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: truncated BMP (info header of %u bytes, file has %zu)", name,
                            hsize, size);
    const uint8_t *ih = d + 14;
    int64_t width, height;
    uint32_t bits, compression = BI_RGB, clr_used = 0, planes;
    int pal_entry = 4;
    if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        width = rd16(ih + 4);
        height = rd16(ih + 6); /* unsigned here: core BMPs are always bottom-up */
        planes = rd16(ih + 8);
        bits = rd16(ih + 10);
        pal_entry = 3;
    } else if (hsize == 16 || hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 ||
               hsize == 108 || hsize == 124) {
        width = (int32_t)rd32(ih + 4);
        height = (int32_t)rd32(ih + 8);
        planes = rd16(ih + 12);
        bits = rd16(ih + 14);
        if (hsize >= 40) {
            compression = rd32(ih + 16);
            clr_used = rd32(ih + 32);
        }
        /* OS/2 2.x uses 3 and 4 for Huffman 1D and RLE24. */
        if (hsize == 64 && compression >= 3)
            return df_error_set(err, DF_ERR_UNSUPPORTED,
                                "%s: OS/2 BMP compression %u is not supported", name, compression);
    } else {
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP info header size %u is not a known one",
                            name, hsize);
    }
    const int top_down = height < 0;
    if (top_down) height = -height;
    if (width <= 0 || height <= 0 || width > INT32_MAX || height > INT32_MAX)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP size %lldx%lld is invalid", name,
                            (long long)width, (long long)(top_down ? -height : height));
    if (planes != 1)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP has %u planes (expected 1)", name, planes);
    hdr->width = (int)width;
    hdr->height = (int)height;
    hdr->orientation = 1;

    if (compression == BI_RLE8 || compression == BI_RLE4)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: RLE-compressed BMP is not supported",
                            name);
    if (compression == BI_JPEG || compression == BI_PNG)
        return df_error_set(err, DF_ERR_UNSUPPORTED,
                            "%s: BMP with embedded %s data is not supported", name,
                            compression == BI_JPEG ? "JPEG" : "PNG");
    if (compression != BI_RGB && compression != BI_BITFIELDS && compression != BI_ALPHABITFIELDS)
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP compression %u is not a known one", name,
                            compression);
    const int bitfields = compression != BI_RGB;
    if (bitfields ? (bits != 16 && bits != 32)
                  : (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32))
        return df_error_set(err, DF_ERR_FORMAT, "%s: BMP with %u bits per pixel%s is not valid",
                            name, bits, bitfields ? " and bit fields" : "");

    /* Channel masks: inside V2+ headers, or right after a 40-byte header. */
    channel rch = make_channel(0xff0000), gch = make_channel(0xff00), bch = make_channel(0xff);
    if (bits == 16 && !bitfields) {
        rch = make_channel(0x7c00);
        gch = make_channel(0x03e0);
        bch = make_channel(0x001f);
    }
    size_t pal_off = 14 + (size_t)hsize;
    if (bitfields) {
        size_t moff = 14 + 40;
        if (hsize == 40) {
            size_t nmask = compression == BI_ALPHABITFIELDS ? 16 : 12;
            if (moff + nmask > size)
                return df_error_set(err, DF_ERR_FORMAT, "%s: truncated BMP (bit field masks)",
                                    name);
            pal_off += nmask;
        } else if (hsize < 52) {
            return df_error_set(err, DF_ERR_FORMAT,
                                "%s: BMP bit fields with a %u-byte header has no masks", name,
                                hsize);
        }
        rch = make_channel(rd32(d + moff));
        gch = make_channel(rd32(d + moff + 4));
        bch = make_channel(rd32(d + moff + 8));
    }

    /* Palette. */
    uint8_t pal[256][3];
    memset(pal, 0, sizeof pal);
    if (bits <= 8) {
        uint32_t max_colors = 1u << bits;
        uint32_t ncolors = clr_used ? clr_used : max_colors;
        if (ncolors > max_colors) ncolors = max_colors; /* extra entries are never indexed */
        if (pal_off > size || (size - pal_off) / (size_t)pal_entry < ncolors)
            return df_error_set(err, DF_ERR_FORMAT,
                                "%s: truncated BMP (palette of %u colours does not fit)", name,
                                ncolors);
        for (uint32_t i = 0; i < ncolors; i++) {
            const uint8_t *p = d + pal_off + (size_t)i * (size_t)pal_entry;
            pal[i][0] = p[2];
            pal[i][1] = p[1];
            pal[i][2] = p[0];
        }
    }

    if (width * height > opt->max_pixels)
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: BMP is %lldx%lld = %lld pixels, limit is %lld",
                            name, (long long)width, (long long)height,
                            (long long)(width * height), (long long)opt->max_pixels);

    /* Row layout; the last row may omit its padding. */
    const uint64_t row_bits = (uint64_t)bits * (uint64_t)width;
    const uint64_t row_bytes = (row_bits + 7) / 8;
    const uint64_t stride = ((row_bits + 31) / 32) * 4;
    if (off_bits > size)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: BMP pixel data offset %u is past the end of the file (%zu bytes)",
                            name, off_bits, size);
    const uint64_t avail = (uint64_t)(size - off_bits);
    /* stride * (height - 1) + row_bytes <= avail, without overflow:
     * stride < 2^36 and height < 2^31. */
    if (stride > avail || (uint64_t)(height - 1) > (avail - row_bytes) / stride)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: truncated BMP (%lldx%lld at %u bits needs %llu bytes of pixels, "
                            "file has %llu)",
                            name, (long long)width, (long long)height, bits,
                            (unsigned long long)(stride * (uint64_t)(height - 1) + row_bytes),
                            (unsigned long long)avail);
    if (!out) return DF_OK;

    df_image img;
    df_status st = df_image_alloc(&img, (int)width, (int)height, err);
    if (st != DF_OK) return df_error_prefix(err, "%s", name);
    const uint8_t *base = d + off_bits;
    for (int64_t y = 0; y < height; y++) {
        const int64_t sy = top_down ? y : height - 1 - y;
        const uint8_t *src = base + (size_t)sy * (size_t)stride;
        uint8_t *dst = img.pixels + (size_t)y * (size_t)width * 3;
        switch (bits) {
        case 1:
        case 4:
        case 8: {
            const unsigned ppb = 8 / bits, mask = (1u << bits) - 1;
            for (int64_t x = 0; x < width; x++, dst += 3) {
                unsigned byte = src[x / ppb];
                unsigned shift = (unsigned)(8 - bits - (unsigned)(x % ppb) * bits);
                const uint8_t *c = pal[(byte >> shift) & mask];
                dst[0] = c[0];
                dst[1] = c[1];
                dst[2] = c[2];
            }
            break;
        }
        case 24:
            for (int64_t x = 0; x < width; x++, src += 3, dst += 3) {
                dst[0] = src[2];
                dst[1] = src[1];
                dst[2] = src[0];
            }
            break;
        case 16:
        case 32: {
            const int bpp = (int)bits / 8;
            for (int64_t x = 0; x < width; x++, src += bpp, dst += 3) {
                uint32_t v = bpp == 2 ? rd16(src) : rd32(src);
                dst[0] = channel_value(&rch, v);
                dst[1] = channel_value(&gch, v);
                dst[2] = channel_value(&bch, v);
            }
            break;
        }
        default: break;
        }
    }
    *out = img;
    return DF_OK;
}
