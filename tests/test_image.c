/*
 * Images: decoding (JPEG, PNG, BMP), format detection and error messages,
 * EXIF orientation, DCT scaling, resizing against slow references, PNG
 * encoding. Every fixture is generated here: JPEGs and PNGs with libjpeg and
 * libpng, BMPs and EXIF blocks by hand. The ImageNet check photos in
 * ../shared are decoded when present.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jpeglib.h>
#include <png.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "image/image.h"
#include "image/image_internal.h"
#include "support/test_support.h"

/* ---- fixtures: images ------------------------------------------------------ */

static df_image make_image(int w, int h) {
    df_image img;
    df_error err;
    assert_int_equal(df_image_alloc(&img, w, h, &err), DF_OK);
    return img;
}

static df_image random_image(int w, int h, uint64_t seed) {
    df_image img = make_image(w, h);
    df_rng rng;
    df_rng_seed(&rng, seed, 99);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.pixels[i] = (uint8_t)df_rng_below(&rng, 256);
    return img;
}

static const uint8_t *px(const df_image *img, int x, int y) {
    return img->pixels + ((size_t)y * img->width + x) * 3;
}

/* Largest |a - b| over all samples; sizes must match. */
static int max_abs_diff(const df_image *a, const df_image *b) {
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    int m = 0;
    for (size_t i = 0; i < (size_t)a->width * a->height * 3; i++) {
        int d = abs((int)a->pixels[i] - (int)b->pixels[i]);
        if (d > m) m = d;
    }
    return m;
}

/* 16x16 blocks of solid colours from a fixed list, so a JPEG at quality 100
 * holds only DC terms. */
static const uint8_t block_colours[8][3] = {{200, 30, 40},  {20, 180, 60},  {30, 40, 220},
                                            {240, 240, 20}, {10, 10, 10},   {250, 250, 250},
                                            {128, 64, 192}, {90, 200, 210}};
static df_image block_image(int w, int h) {
    df_image img = make_image(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *c = block_colours[((x / 16) + 3 * (y / 16)) % 8];
            memcpy(img.pixels + ((size_t)y * w + x) * 3, c, 3);
        }
    return img;
}

/* ---- fixtures: JPEG writer (libjpeg) --------------------------------------- */

typedef struct jpeg_spec {
    int quality;
    int subsample;   /* 1 = libjpeg's default 4:2:0, 0 = 4:4:4 */
    int progressive;
    int adobe;       /* CMYK only: write the Adobe APP14 marker */
} jpeg_spec;

/* comps: 1 grey, 3 RGB, 4 CMYK; samples interleaved. Returns malloc'ed. */
static uint8_t *jpeg_encode(const uint8_t *samples, int w, int h, int comps, jpeg_spec s,
                            size_t *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr); /* a test fixture failing may exit */
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long len = 0;
    jpeg_mem_dest(&c, &buf, &len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, s.quality, TRUE);
    if (!s.subsample)
        for (int i = 0; i < c.num_components; i++)
            c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
    if (comps == 4) c.write_Adobe_marker = s.adobe ? TRUE : FALSE;
    if (s.progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + (size_t)c.next_scanline * w * comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *size = len;
    return buf;
}

static uint8_t *jpeg_encode_rgb(const df_image *img, jpeg_spec s, size_t *size) {
    return jpeg_encode(img->pixels, img->width, img->height, 3, s, size);
}

static const jpeg_spec Q100_444 = {100, 0, 0, 0};

/* Offset just past the SOS header (start of entropy-coded data). */
static size_t jpeg_scan_start(const uint8_t *d, size_t n) {
    for (size_t i = 2; i + 3 < n; i++)
        if (d[i] == 0xff && d[i + 1] == 0xda) return i + 2 + ((size_t)d[i + 2] << 8 | d[i + 3]);
    fail_msg("no SOS marker in test JPEG");
    return 0;
}

/* APP1 "Exif" segment with IFD0 = { Orientation (0x0112) SHORT 1 = o }. */
static size_t exif_app1(uint8_t *seg, int o, int big_endian) {
    uint8_t tiff[26];
    size_t k = 0;
#define P16(v) (big_endian ? (tiff[k++] = (uint8_t)((v) >> 8), tiff[k++] = (uint8_t)(v)) \
                           : (tiff[k++] = (uint8_t)(v), tiff[k++] = (uint8_t)((v) >> 8)))
#define P32(v) (big_endian ? (P16((v) >> 16), P16((v) & 0xffff)) : (P16((v) & 0xffff), P16((v) >> 16)))
    tiff[k++] = big_endian ? 'M' : 'I';
    tiff[k++] = big_endian ? 'M' : 'I';
    P16(42);
    P32(8u);       /* IFD0 offset */
    P16(1);        /* one entry */
    P16(0x0112);   /* Orientation */
    P16(3);        /* SHORT */
    P32(1u);       /* count */
    P16((unsigned)o);
    P16(0);        /* value field padding */
    P32(0u);       /* no next IFD */
#undef P16
#undef P32
    const size_t payload = 6 + k;
    seg[0] = 0xff;
    seg[1] = 0xe1;
    seg[2] = (uint8_t)((payload + 2) >> 8);
    seg[3] = (uint8_t)(payload + 2);
    memcpy(seg + 4, "Exif\0\0", 6);
    memcpy(seg + 10, tiff, k);
    return 4 + payload;
}

/* Inserts the APP1 segment right after SOI; returns a new malloc'ed buffer. */
static uint8_t *jpeg_with_exif(const uint8_t *j, size_t n, int o, int big_endian, size_t *out_n) {
    uint8_t seg[64];
    size_t sn = exif_app1(seg, o, big_endian);
    uint8_t *r = malloc(n + sn);
    assert_non_null(r);
    memcpy(r, j, 2);
    memcpy(r + 2, seg, sn);
    memcpy(r + 2 + sn, j + 2, n - 2);
    *out_n = n + sn;
    return r;
}

/* ---- fixtures: PNG writer (libpng) ----------------------------------------- */

typedef struct membuf {
    uint8_t *data;
    size_t size;
} membuf;

static void membuf_write(png_structp png, png_bytep in, size_t n) {
    membuf *m = png_get_io_ptr(png);
    m->data = realloc(m->data, m->size + n);
    memcpy(m->data + m->size, in, n);
    m->size += n;
}
static void membuf_flush(png_structp png) { (void)png; }

typedef struct png_spec {
    int w, h, color_type, bit_depth, interlace;
    const png_color *palette;
    int npalette;
    const uint8_t *trans_alpha; /* palette tRNS */
    int ntrans;
    const png_color_16 *trans_grey;
    const uint8_t *exif; /* eXIf payload (TIFF, no "Exif" identifier) */
    int nexif;
    int header_only; /* stop after IHDR and the chunks before IDAT */
} png_spec;

/* rows: packed PNG rows (big-endian 16-bit samples), rowbytes each. */
static uint8_t *png_encode_raw(const png_spec *s, const uint8_t *rows, size_t rowbytes,
                               size_t *size) {
    membuf m = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing a test fixture");
    png_set_write_fn(png, &m, membuf_write, membuf_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->bit_depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trans_alpha || s->trans_grey)
        png_set_tRNS(png, info, s->trans_alpha, s->ntrans, s->trans_grey);
    if (s->exif) png_set_eXIf_1(png, info, (png_uint_32)s->nexif, (png_bytep)s->exif);
    png_write_info(png, info);
    if (!s->header_only) {
        int passes = png_set_interlace_handling(png);
        for (int p = 0; p < passes; p++)
            for (int y = 0; y < s->h; y++) png_write_row(png, rows + (size_t)y * rowbytes);
        png_write_end(png, info);
    }
    png_destroy_write_struct(&png, &info);
    *size = m.size;
    return m.data;
}

/* ---- fixtures: BMP writer (by hand) ---------------------------------------- */

static void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v) {
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

typedef struct bmp_spec {
    int bits;         /* 4, 8, 16, 24, 32 */
    int top_down;
    int hsize;        /* 12, 40 or 108 */
    int compression;  /* 0 BI_RGB, 3 BI_BITFIELDS */
    uint32_t masks[3];
    int npal;
    uint8_t pal[16][3];
} bmp_spec;

/* values: per pixel, a palette index (bits <= 8) or the raw 16/32-bit value
 * (bits 16/32), or an RGB triple packed as 0xRRGGBB (bits 24). */
static uint8_t *bmp_encode(const bmp_spec *s, int w, int h, const uint32_t *values, size_t *size) {
    const size_t stride = (((size_t)s->bits * w + 31) / 32) * 4;
    const size_t masks = s->compression == 3 && s->hsize == 40 ? 12 : 0;
    const size_t pal_entry = s->hsize == 12 ? 3 : 4;
    const size_t off = 14 + (size_t)s->hsize + masks + (size_t)s->npal * pal_entry;
    const size_t n = off + stride * h;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    b[0] = 'B';
    b[1] = 'M';
    put32(b + 2, (uint32_t)n);
    put32(b + 10, (uint32_t)off);
    uint8_t *ih = b + 14;
    put32(ih, (uint32_t)s->hsize);
    if (s->hsize == 12) {
        put16(ih + 4, (uint32_t)w);
        put16(ih + 6, (uint32_t)h);
        put16(ih + 8, 1);
        put16(ih + 10, (uint32_t)s->bits);
    } else {
        put32(ih + 4, (uint32_t)w);
        put32(ih + 8, (uint32_t)(s->top_down ? -h : h));
        put16(ih + 12, 1);
        put16(ih + 14, (uint32_t)s->bits);
        put32(ih + 16, (uint32_t)s->compression);
        put32(ih + 20, (uint32_t)(stride * h));
        put32(ih + 32, (uint32_t)s->npal);
        if (s->compression == 3)
            for (int i = 0; i < 3; i++) put32(b + 14 + 40 + 4 * i, s->masks[i]);
    }
    uint8_t *pal = b + 14 + s->hsize + masks;
    for (int i = 0; i < s->npal; i++) {
        pal[i * pal_entry + 0] = s->pal[i][2];
        pal[i * pal_entry + 1] = s->pal[i][1];
        pal[i * pal_entry + 2] = s->pal[i][0];
    }
    for (int y = 0; y < h; y++) {
        uint8_t *row = b + off + stride * (size_t)(s->top_down ? y : h - 1 - y);
        /* Non-zero padding: the decoder must skip it, not read it. */
        for (size_t i = (size_t)((s->bits * w + 7) / 8); i < stride; i++) row[i] = 0xee;
        for (int x = 0; x < w; x++) {
            uint32_t v = values[(size_t)y * w + x];
            switch (s->bits) {
            case 4: row[x / 2] |= (uint8_t)(x % 2 ? v : v << 4); break;
            case 8: row[x] = (uint8_t)v; break;
            case 16: put16(row + 2 * x, v); break;
            case 24:
                row[3 * x] = (uint8_t)v;
                row[3 * x + 1] = (uint8_t)(v >> 8);
                row[3 * x + 2] = (uint8_t)(v >> 16);
                break;
            case 32: put32(row + 4 * x, v); break;
            default: fail();
            }
        }
    }
    *size = n;
    return b;
}

static void expect_pixel(const df_image *img, int x, int y, int r, int g, int b) {
    const uint8_t *p = px(img, x, y);
    if (p[0] != r || p[1] != g || p[2] != b)
        fail_msg("pixel (%d,%d) is (%d,%d,%d), expected (%d,%d,%d)", x, y, p[0], p[1], p[2], r, g, b);
}

/* Decodes and expects status st with name and needle in the message. */
static void expect_decode_error(const uint8_t *d, size_t n, const char *name, df_status st,
                                const char *needle) {
    df_image img = {1, 1, (uint8_t *)1};
    df_error err;
    df_error_clear(&err);
    df_status got = df_image_decode(d, n, name, NULL, &img, &err);
    if (got != st)
        fail_msg("%s: status %s, expected %s (message: %s)", name, df_status_name(got),
                 df_status_name(st), err.message);
    assert_null(img.pixels);
    assert_int_equal(img.width, 0);
    if (strncmp(err.message, name, strlen(name)) != 0)
        fail_msg("message does not start with the name: %s", err.message);
    if (needle && !strstr(err.message, needle))
        fail_msg("message lacks '%s': %s", needle, err.message);
}

/* ---- JPEG ------------------------------------------------------------------ */

/* Quality 100 makes every quantiser 1; the blocks are solid, so only DC
 * terms are coded. What remains is RGB->YCbCr->RGB rounding (<= 1 per
 * step) and the DC rounding to integers: at most 2-3 levels. We allow 4. */
static void test_jpeg_rgb_blocks(void **state) {
    (void)state;
    df_image ref = block_image(64, 48);
    size_t n;
    uint8_t *j = jpeg_encode_rgb(&ref, Q100_444, &n);
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(j, n, "blocks.jpg", NULL, &img, &err), DF_OK);
    assert_int_equal(img.width, 64);
    assert_int_equal(img.height, 48);
    assert_true(max_abs_diff(&img, &ref) <= 4);
    df_image_free(&img);
    free(j);

    /* 4:2:0 (libjpeg's default): fancy upsampling blends chroma across the
     * 2 pixels next to a block edge, so only pixels >= 2 from an edge are
     * compared, with the same tolerance. */
    jpeg_spec s420 = {100, 1, 0, 0};
    j = jpeg_encode_rgb(&ref, s420, &n);
    assert_int_equal(df_image_decode(j, n, "blocks420.jpg", NULL, &img, &err), DF_OK);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            if (x % 16 < 2 || x % 16 > 13 || y % 16 < 2 || y % 16 > 13) continue;
            for (int c = 0; c < 3; c++) assert_true(abs(px(&img, x, y)[c] - px(&ref, x, y)[c]) <= 4);
        }
    df_image_free(&img);
    free(j);
    df_image_free(&ref);
}

static void test_jpeg_progressive(void **state) {
    (void)state;
    df_image ref = block_image(48, 32);
    size_t n;
    jpeg_spec s = {100, 0, 1, 0};
    uint8_t *j = jpeg_encode_rgb(&ref, s, &n);
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(j, n, "prog.jpg", NULL, &img, &err), DF_OK);
    assert_true(max_abs_diff(&img, &ref) <= 4);
    df_image_free(&img);
    free(j);
    df_image_free(&ref);
}

/* Greyscale: one channel, no colour conversion: DC rounding only (<= 1);
 * we allow 2. */
static void test_jpeg_greyscale(void **state) {
    (void)state;
    uint8_t grey[32 * 16];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) grey[y * 32 + x] = (uint8_t)(x < 8 ? 17 : x < 16 ? 96 : x < 24 ? 180 : 250);
    size_t n;
    uint8_t *j = jpeg_encode(grey, 32, 16, 1, Q100_444, &n);
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(j, n, "grey.jpg", NULL, &img, &err), DF_OK);
    assert_int_equal(img.width, 32);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++) {
            const uint8_t *p = px(&img, x, y);
            assert_int_equal(p[0], p[1]);
            assert_int_equal(p[1], p[2]);
            assert_true(abs(p[0] - grey[y * 32 + x]) <= 2);
        }
    df_image_free(&img);
    free(j);
}

/* CMYK: each of 4 channels is DCT-coded like grey (<= 1 level each); the
 * product C*K/255 can double that. Tolerance 4. Expected RGB is PIL's
 * (255 - c)(255 - k)/255 on ink values. The Adobe file stores inverted ink
 * (Photoshop's convention, signalled by the APP14 marker); the other stores
 * ink as is. */
static void test_jpeg_cmyk(void **state) {
    (void)state;
    static const uint8_t ink[4][4] = {{0, 0, 0, 0}, {200, 30, 0, 20}, {10, 220, 180, 60}, {0, 0, 0, 255}};
    enum { W = 32, H = 16 };
    uint8_t plain[W * H * 4], inv[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 4; c++) {
                uint8_t v = ink[x / 8][c];
                plain[(y * W + x) * 4 + c] = v;
                inv[(y * W + x) * 4 + c] = (uint8_t)(255 - v);
            }
    for (int adobe = 0; adobe <= 1; adobe++) {
        jpeg_spec s = {100, 0, 0, adobe};
        size_t n;
        uint8_t *j = jpeg_encode(adobe ? inv : plain, W, H, 4, s, &n);
        df_image img;
        df_error err;
        assert_int_equal(df_image_decode(j, n, "cmyk.jpg", NULL, &img, &err), DF_OK);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const uint8_t *k = ink[x / 8];
                for (int c = 0; c < 3; c++) {
                    double want = (255.0 - k[c]) * (255.0 - k[3]) / 255.0;
                    if (fabs(px(&img, x, y)[c] - want) > 4.0)
                        fail_msg("adobe=%d (%d,%d) c%d: %d vs %.1f", adobe, x, y, c,
                                 px(&img, x, y)[c], want);
                }
            }
        df_image_free(&img);
        free(j);
    }
}

/* ---- EXIF orientation ------------------------------------------------------ */

/* EXIF 2.3, Orientation: where stored row 0 and stored column 0 lie in the
 * upright picture. Written from the spec table, independently of the
 * decoder's transform code. */
enum { TOP, BOTTOM, LEFT, RIGHT };
static const int exif_row0[9] = {0, TOP, TOP, BOTTOM, BOTTOM, LEFT, RIGHT, RIGHT, LEFT};
static const int exif_col0[9] = {0, LEFT, RIGHT, RIGHT, LEFT, TOP, TOP, BOTTOM, BOTTOM};

/* The stored image for orientation o whose upright version is up. */
static df_image stored_for_orientation(const df_image *up, int o) {
    const int VW = up->width, VH = up->height;
    const int swap = exif_row0[o] == LEFT || exif_row0[o] == RIGHT;
    df_image s = make_image(swap ? VH : VW, swap ? VW : VH);
    for (int sy = 0; sy < s.height; sy++)
        for (int sx = 0; sx < s.width; sx++) {
            int vx, vy;
            if (!swap) {
                vy = exif_row0[o] == TOP ? sy : VH - 1 - sy;
                vx = exif_col0[o] == LEFT ? sx : VW - 1 - sx;
            } else { /* stored rows are upright columns */
                vx = exif_row0[o] == LEFT ? sy : VW - 1 - sy;
                vy = exif_col0[o] == TOP ? sx : VH - 1 - sx;
            }
            memcpy(s.pixels + ((size_t)sy * s.width + sx) * 3, px(up, vx, vy), 3);
        }
    return s;
}

static void test_apply_orientation_exact(void **state) {
    (void)state;
    df_image up = random_image(5, 3, 1);
    df_error err;
    for (int o = 1; o <= 8; o++) {
        df_image s = stored_for_orientation(&up, o);
        assert_int_equal(df_image_apply_orientation(&s, o, &err), DF_OK);
        assert_int_equal(s.width, 5);
        assert_int_equal(s.height, 3);
        assert_memory_equal(s.pixels, up.pixels, 5 * 3 * 3);
        df_image_free(&s);
    }
    assert_int_equal(df_image_apply_orientation(&up, 9, &err), DF_ERR_INVALID_ARG);
    assert_int_equal(df_image_apply_orientation(&up, 0, &err), DF_ERR_INVALID_ARG);
    df_image_free(&up);
}

/* Upright 64x32 picture of four 32x16 quadrants in different colours: all 8
 * orientations permute the quadrants differently. Block edges fall on 8x8
 * DCT block edges, so the JPEG tolerance argument of the block test holds. */
static df_image quadrant_image(void) {
    static const uint8_t q[4][3] = {{220, 20, 20}, {20, 200, 30}, {30, 30, 230}, {240, 230, 30}};
    df_image img = make_image(64, 32);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++) memcpy(img.pixels + ((size_t)y * 64 + x) * 3, q[(y / 16) * 2 + x / 32], 3);
    return img;
}

static void test_jpeg_exif_orientations(void **state) {
    (void)state;
    df_image up = quadrant_image();
    for (int o = 1; o <= 8; o++) {
        for (int be = 0; be <= 1; be++) {
            df_image s = stored_for_orientation(&up, o);
            size_t n, m;
            uint8_t *j = jpeg_encode_rgb(&s, Q100_444, &n);
            uint8_t *je = jpeg_with_exif(j, n, o, be, &m);
            df_image img;
            df_error err;
            assert_int_equal(df_image_decode(je, m, "exif.jpg", NULL, &img, &err), DF_OK);
            if (max_abs_diff(&img, &up) > 4) fail_msg("orientation %d (big endian %d) is wrong", o, be);
            df_image_free(&img);

            int w, h;
            assert_int_equal(df_image_probe(je, m, "exif.jpg", &w, &h, &err), DF_OK);
            assert_int_equal(w, 64);
            assert_int_equal(h, 32);

            /* Asked not to: the stored pixels come back. */
            df_image_load_options opt = df_image_load_options_default();
            opt.apply_exif_orientation = 0;
            assert_int_equal(df_image_decode(je, m, "exif.jpg", &opt, &img, &err), DF_OK);
            assert_true(max_abs_diff(&img, &s) <= 4);
            df_image_free(&img);
            free(je);
            free(j);
            df_image_free(&s);
        }
    }
    df_image_free(&up);
}

/* A damaged EXIF block (cut short inside IFD0) must not make the photo
 * unreadable: orientation 1. */
static void test_jpeg_broken_exif_ignored(void **state) {
    (void)state;
    df_image up = quadrant_image();
    size_t n, m;
    uint8_t *j = jpeg_encode_rgb(&up, Q100_444, &n);
    uint8_t *je = jpeg_with_exif(j, n, 6, 0, &m);
    /* APP1 payload "Exif\0\0II*\0" + IFD offset: point IFD0 past the end. */
    je[2 + 4 + 6 + 4] = 0xf0;
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(je, m, "badexif.jpg", NULL, &img, &err), DF_OK);
    assert_int_equal(img.width, 64);
    assert_true(max_abs_diff(&img, &up) <= 4);
    df_image_free(&img);
    free(je);
    free(j);
    df_image_free(&up);
}

static void test_png_exif_orientation(void **state) {
    (void)state;
    df_image up = random_image(7, 4, 3);
    df_image s = stored_for_orientation(&up, 6);
    uint8_t seg[64];
    size_t sn = exif_app1(seg, 6, 0);
    png_spec ps = {s.width, s.height, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0,
                   NULL, seg + 10, (int)(sn - 10), 0};
    size_t n;
    uint8_t *p = png_encode_raw(&ps, s.pixels, (size_t)s.width * 3, &n);
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(p, n, "exif.png", NULL, &img, &err), DF_OK);
    assert_int_equal(img.width, 7);
    assert_int_equal(img.height, 4);
    assert_memory_equal(img.pixels, up.pixels, 7 * 4 * 3);
    df_image_free(&img);
    free(p);
    df_image_free(&s);
    df_image_free(&up);
}

/* ---- DCT scaling ----------------------------------------------------------- */

static void decode_size(const uint8_t *j, size_t n, int minw, int minh, int *w, int *h) {
    df_image_load_options opt = df_image_load_options_default();
    opt.min_width = minw;
    opt.min_height = minh;
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(j, n, "big.jpg", &opt, &img, &err), DF_OK);
    *w = img.width;
    *h = img.height;
    df_image_free(&img);
}

static void test_jpeg_dct_scaling(void **state) {
    (void)state;
    df_image big = make_image(2000, 1600);
    for (int y = 0; y < 1600; y++)
        for (int x = 0; x < 2000; x++) {
            uint8_t *p = big.pixels + ((size_t)y * 2000 + x) * 3;
            p[0] = (uint8_t)(x / 8);
            p[1] = (uint8_t)(y / 8);
            p[2] = 128;
        }
    jpeg_spec s = {75, 1, 0, 0};
    size_t n;
    uint8_t *j = jpeg_encode_rgb(&big, s, &n);
    df_image_free(&big);
    int w, h;
    /* 1/8 gives 250x200 (< 224 high), so 1/4: 500x400. */
    decode_size(j, n, 224, 224, &w, &h);
    assert_int_equal(w, 500);
    assert_int_equal(h, 400);
    decode_size(j, n, 0, 0, &w, &h); /* no hint: full size */
    assert_int_equal(w, 2000);
    assert_int_equal(h, 1600);
    decode_size(j, n, 224, 0, &w, &h); /* hint needs both */
    assert_int_equal(w, 2000);
    decode_size(j, n, 240, 200, &w, &h);
    assert_int_equal(w, 250);
    assert_int_equal(h, 200);
    decode_size(j, n, 1000, 800, &w, &h);
    assert_int_equal(w, 1000);
    decode_size(j, n, 1001, 10, &w, &h);
    assert_int_equal(w, 2000);
    decode_size(j, n, 5000, 5000, &w, &h); /* larger than the image: full size */
    assert_int_equal(w, 2000);

    /* Orientation 6: upright is 1600x2000. At 1/8 the upright image is
     * 200x250, too narrow for 240 (ignoring the swap would pick 1/8 since
     * the stored 250x200 fits 240x190), so 1/4: 400x500. */
    size_t m;
    uint8_t *je = jpeg_with_exif(j, n, 6, 0, &m);
    decode_size(je, m, 240, 190, &w, &h);
    assert_int_equal(w, 400);
    assert_int_equal(h, 500);
    df_error err;
    assert_int_equal(df_image_probe(je, m, "big.jpg", &w, &h, &err), DF_OK);
    assert_int_equal(w, 1600);
    assert_int_equal(h, 2000);
    free(je);
    free(j);
}

/* ---- PNG ------------------------------------------------------------------- */

static void decode_png_ok(const png_spec *s, const uint8_t *rows, size_t rowbytes, df_image *img) {
    size_t n;
    uint8_t *p = png_encode_raw(s, rows, rowbytes, &n);
    df_error err;
    df_status st = df_image_decode(p, n, "t.png", NULL, img, &err);
    if (st != DF_OK) fail_msg("%s", err.message);
    assert_int_equal(img->width, s->w);
    assert_int_equal(img->height, s->h);
    int w, h;
    assert_int_equal(df_image_probe(p, n, "t.png", &w, &h, &err), DF_OK);
    assert_int_equal(w, s->w);
    assert_int_equal(h, s->h);
    free(p);
}

static void test_png_colour_types(void **state) {
    (void)state;
    enum { W = 5, H = 3 };
    uint8_t rows[W * H * 8];
    df_image img;

    /* grey 8 */
    png_spec s = {W, H, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL, NULL, 0, 0};
    for (int i = 0; i < W * H; i++) rows[i] = (uint8_t)(i * 17);
    decode_png_ok(&s, rows, W, &img);
    for (int i = 0; i < W * H; i++) expect_pixel(&img, i % W, i / W, i * 17, i * 17, i * 17);
    df_image_free(&img);

    /* grey 8 with a tRNS colour: ignored */
    png_color_16 tg = {0, 0, 0, 0, 34};
    s.trans_grey = &tg;
    decode_png_ok(&s, rows, W, &img);
    for (int i = 0; i < W * H; i++) expect_pixel(&img, i % W, i / W, i * 17, i * 17, i * 17);
    df_image_free(&img);
    s.trans_grey = NULL;

    /* grey 1-bit: 0 -> 0, 1 -> 255 */
    s.bit_depth = 1;
    uint8_t bits[H] = {0xa8, 0x50, 0xf8}; /* 10101, 01010, 11111 (MSB first) */
    decode_png_ok(&s, bits, 1, &img);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = (bits[y] >> (7 - x)) & 1 ? 255 : 0;
            expect_pixel(&img, x, y, v, v, v);
        }
    df_image_free(&img);

    /* grey 16: high byte */
    s.bit_depth = 16;
    for (int i = 0; i < W * H; i++) {
        rows[2 * i] = (uint8_t)(i * 16 + 3);
        rows[2 * i + 1] = (uint8_t)(255 - i);
    }
    decode_png_ok(&s, rows, W * 2, &img);
    for (int i = 0; i < W * H; i++) expect_pixel(&img, i % W, i / W, i * 16 + 3, i * 16 + 3, i * 16 + 3);
    df_image_free(&img);

    /* grey + alpha: alpha dropped, no compositing */
    s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
    s.bit_depth = 8;
    for (int i = 0; i < W * H; i++) {
        rows[2 * i] = (uint8_t)(200 - i);
        rows[2 * i + 1] = (uint8_t)(i * 10);
    }
    decode_png_ok(&s, rows, W * 2, &img);
    for (int i = 0; i < W * H; i++) expect_pixel(&img, i % W, i / W, 200 - i, 200 - i, 200 - i);
    df_image_free(&img);

    /* palette (4-bit) with tRNS: palette colours, alpha dropped */
    png_color pal[6] = {{1, 2, 3}, {250, 0, 0}, {0, 250, 0}, {0, 0, 250}, {9, 99, 199}, {255, 255, 255}};
    uint8_t ta[3] = {0, 128, 255};
    png_spec sp = {W, H, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, pal, 6, ta, 3, NULL, NULL, 0, 0};
    uint8_t prow[H][3];
    memset(prow, 0, sizeof prow);
    for (int i = 0; i < W * H; i++) {
        int x = i % W, y = i / W, k = i % 6;
        prow[y][x / 2] |= (uint8_t)(x % 2 ? k : k << 4);
    }
    decode_png_ok(&sp, &prow[0][0], 3, &img);
    for (int i = 0; i < W * H; i++) {
        const png_color *c = &pal[i % 6];
        expect_pixel(&img, i % W, i / W, c->red, c->green, c->blue);
    }
    df_image_free(&img);

    /* RGB, RGB interlaced, RGBA, RGB 16 */
    df_image ref = random_image(W, H, 5);
    png_spec sr = {W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL, NULL, 0, 0};
    decode_png_ok(&sr, ref.pixels, W * 3, &img);
    assert_memory_equal(img.pixels, ref.pixels, W * H * 3);
    df_image_free(&img);
    sr.interlace = PNG_INTERLACE_ADAM7;
    decode_png_ok(&sr, ref.pixels, W * 3, &img);
    assert_memory_equal(img.pixels, ref.pixels, W * H * 3);
    df_image_free(&img);

    sr.interlace = PNG_INTERLACE_NONE;
    sr.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    for (int i = 0; i < W * H; i++) {
        memcpy(rows + 4 * i, ref.pixels + 3 * i, 3);
        rows[4 * i + 3] = (uint8_t)(i * 7); /* includes alpha 0: colour still kept */
    }
    decode_png_ok(&sr, rows, W * 4, &img);
    assert_memory_equal(img.pixels, ref.pixels, W * H * 3);
    df_image_free(&img);

    sr.color_type = PNG_COLOR_TYPE_RGB;
    sr.bit_depth = 16;
    for (int i = 0; i < W * H * 3; i++) {
        rows[2 * i] = ref.pixels[i];
        rows[2 * i + 1] = (uint8_t)(i * 31);
    }
    decode_png_ok(&sr, rows, W * 6, &img);
    assert_memory_equal(img.pixels, ref.pixels, W * H * 3);
    df_image_free(&img);

    /* RGBA 16 */
    sr.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) {
            rows[8 * i + 2 * c] = ref.pixels[3 * i + c];
            rows[8 * i + 2 * c + 1] = 0x80;
        }
        rows[8 * i + 6] = 0;
        rows[8 * i + 7] = 1;
    }
    decode_png_ok(&sr, rows, W * 8, &img);
    assert_memory_equal(img.pixels, ref.pixels, W * H * 3);
    df_image_free(&img);
    df_image_free(&ref);
}

/* ---- BMP ------------------------------------------------------------------- */

static void decode_bmp_expect(const bmp_spec *s, int w, int h, const uint32_t *values,
                              const df_image *expect) {
    size_t n;
    uint8_t *b = bmp_encode(s, w, h, values, &n);
    df_image img;
    df_error err;
    df_status st = df_image_decode(b, n, "t.bmp", NULL, &img, &err);
    if (st != DF_OK) fail_msg("bits %d: %s", s->bits, err.message);
    assert_int_equal(img.width, w);
    assert_int_equal(img.height, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const uint8_t *e = px(expect, x, y);
            expect_pixel(&img, x, y, e[0], e[1], e[2]);
        }
    int pw, ph;
    assert_int_equal(df_image_probe(b, n, "t.bmp", &pw, &ph, &err), DF_OK);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    df_image_free(&img);
    free(b);
}

static void test_bmp_variants(void **state) {
    (void)state;
    enum { W = 5, H = 3 }; /* odd width: rows need padding at 24 and 8 bits */
    df_image ref = random_image(W, H, 11);
    uint32_t v[W * H];

    /* 24-bit, bottom-up and top-down; 40-byte, 108-byte and OS/2 headers */
    for (int i = 0; i < W * H; i++)
        v[i] = (uint32_t)ref.pixels[3 * i] << 16 | (uint32_t)ref.pixels[3 * i + 1] << 8 | ref.pixels[3 * i + 2];
    const int hsizes[3] = {40, 108, 12};
    for (int k = 0; k < 3; k++)
        for (int td = 0; td <= (hsizes[k] == 12 ? 0 : 1); td++) {
            bmp_spec s = {24, td, hsizes[k], 0, {0, 0, 0}, 0, {{0}}};
            decode_bmp_expect(&s, W, H, v, &ref);
        }

    /* 32-bit BI_RGB: BGRX, the X byte is ignored */
    for (int td = 0; td <= 1; td++) {
        for (int i = 0; i < W * H; i++) v[i] |= 0x5a000000u;
        bmp_spec s = {32, td, 40, 0, {0, 0, 0}, 0, {{0}}};
        decode_bmp_expect(&s, W, H, v, &ref);
    }

    /* 32-bit BI_BITFIELDS with RGBA-ordered masks, after a 40-byte header
     * and inside a V4 header */
    for (int i = 0; i < W * H; i++)
        v[i] = (uint32_t)ref.pixels[3 * i] << 24 | (uint32_t)ref.pixels[3 * i + 1] << 16 |
               (uint32_t)ref.pixels[3 * i + 2] << 8 | 0x33;
    for (int k = 0; k < 2; k++) {
        bmp_spec s = {32, 1, k ? 108 : 40, 3, {0xff000000u, 0x00ff0000u, 0x0000ff00u}, 0, {{0}}};
        decode_bmp_expect(&s, W, H, v, &ref);
    }

    /* 16-bit 5-5-5 (BI_RGB) and 5-6-5 (BI_BITFIELDS): each channel scaled
     * to 0..255 with rounding */
    df_image e16 = make_image(W, H);
    for (int i = 0; i < W * H; i++) {
        unsigned r = (unsigned)(i * 2) % 32, g = (unsigned)(31 - i) % 32, b = (unsigned)(i * 5) % 32;
        v[i] = r << 10 | g << 5 | b;
        e16.pixels[3 * i] = (uint8_t)((r * 255 + 15) / 31);
        e16.pixels[3 * i + 1] = (uint8_t)((g * 255 + 15) / 31);
        e16.pixels[3 * i + 2] = (uint8_t)((b * 255 + 15) / 31);
    }
    bmp_spec s16 = {16, 0, 40, 0, {0, 0, 0}, 0, {{0}}};
    decode_bmp_expect(&s16, W, H, v, &e16);
    for (int i = 0; i < W * H; i++) {
        unsigned r = (unsigned)(i * 2) % 32, g = (unsigned)(63 - 3 * i) % 64, b = (unsigned)(i * 5) % 32;
        v[i] = r << 11 | g << 5 | b;
        e16.pixels[3 * i] = (uint8_t)((r * 255 + 15) / 31);
        e16.pixels[3 * i + 1] = (uint8_t)((g * 255 + 31) / 63);
        e16.pixels[3 * i + 2] = (uint8_t)((b * 255 + 15) / 31);
    }
    bmp_spec s565 = {16, 1, 40, 3, {0xf800, 0x07e0, 0x001f}, 0, {{0}}};
    decode_bmp_expect(&s565, W, H, v, &e16);
    df_image_free(&e16);

    /* 8-bit and 4-bit palettes, including an index past the palette (black) */
    bmp_spec sp = {8, 0, 40, 0, {0, 0, 0}, 6,
                   {{1, 2, 3}, {250, 0, 0}, {0, 250, 0}, {0, 0, 250}, {9, 99, 199}, {255, 255, 255}}};
    df_image ep = make_image(W, H);
    for (int i = 0; i < W * H; i++) {
        v[i] = (uint32_t)(i % 7);
        if (v[i] < 6)
            memcpy(ep.pixels + 3 * i, sp.pal[v[i]], 3);
        else
            memset(ep.pixels + 3 * i, 0, 3);
    }
    decode_bmp_expect(&sp, W, H, v, &ep);
    sp.bits = 4;
    decode_bmp_expect(&sp, W, H, v, &ep);
    sp.bits = 8;
    sp.top_down = 1;
    decode_bmp_expect(&sp, W, H, v, &ep);
    df_image_free(&ep);
    df_image_free(&ref);
}

static void test_bmp_errors(void **state) {
    (void)state;
    enum { W = 5, H = 3 };
    uint32_t v[W * H] = {0};
    bmp_spec s = {24, 0, 40, 0, {0, 0, 0}, 0, {{0}}};
    size_t n;
    uint8_t *b = bmp_encode(&s, W, H, v, &n);

    /* The last row may lack its padding; one byte less than that is truncated. */
    const size_t row = 3 * W, stride = 16;
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(b, n - (stride - row), "t.bmp", NULL, &img, &err), DF_OK);
    df_image_free(&img);
    expect_decode_error(b, n - (stride - row) - 1, "cut.bmp", DF_ERR_FORMAT, "truncated");
    expect_decode_error(b, 30, "header.bmp", DF_ERR_FORMAT, "truncated");
    expect_decode_error(b, 17, "tiny.bmp", DF_ERR_FORMAT, "truncated");

    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    put32(c + 18, 0); /* width 0 */
    expect_decode_error(c, n, "w0.bmp", DF_ERR_FORMAT, "invalid");
    memcpy(c, b, n);
    put32(c + 22, 0x80000000u); /* height INT32_MIN */
    expect_decode_error(c, n, "hmin.bmp", DF_ERR_FORMAT, "invalid");
    memcpy(c, b, n);
    put32(c + 18, 60000);
    put32(c + 22, 60000);
    expect_decode_error(c, n, "huge.bmp", DF_ERR_TOO_LARGE, "limit");
    df_image_load_options opt = df_image_load_options_default();
    opt.max_pixels = 100000;
    put32(c + 18, 1000);
    put32(c + 22, 1000);
    assert_int_equal(df_image_decode(c, n, "big.bmp", &opt, &img, &err), DF_ERR_TOO_LARGE);
    memcpy(c, b, n);
    put32(c + 30, 1); /* RLE8 */
    expect_decode_error(c, n, "rle.bmp", DF_ERR_UNSUPPORTED, "RLE");
    memcpy(c, b, n);
    put32(c + 10, (uint32_t)n + 5); /* pixel offset past the end */
    expect_decode_error(c, n, "off.bmp", DF_ERR_FORMAT, "offset");
    memcpy(c, b, n);
    put16(c + 28, 7); /* 7 bits per pixel */
    expect_decode_error(c, n, "bpp.bmp", DF_ERR_FORMAT, "bits per pixel");
    free(c);
    free(b);
}

/* ---- bad input ------------------------------------------------------------- */

static void test_bad_input_messages(void **state) {
    (void)state;
    expect_decode_error((const uint8_t *)"", 0, "empty.jpg", DF_ERR_FORMAT, "empty file");
    expect_decode_error(NULL, 0, "null.jpg", DF_ERR_FORMAT, "empty file");
    const char *text = "hello, this is not a picture\n";
    expect_decode_error((const uint8_t *)text, strlen(text), "notes.jpg", DF_ERR_UNSUPPORTED, "text file");
    const char *html = "  <!DOCTYPE html><html>404</html>";
    expect_decode_error((const uint8_t *)html, strlen(html), "page.jpg", DF_ERR_UNSUPPORTED, "HTML");
    const char *bmw = "BMW 320d brochure, text";
    expect_decode_error((const uint8_t *)bmw, strlen(bmw), "bmw.bmp", DF_ERR_UNSUPPORTED, "text file");
    const uint8_t gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";
    expect_decode_error(gif, sizeof gif - 1, "anim.gif", DF_ERR_UNSUPPORTED, "GIF images are not supported");
    const uint8_t webp[] = "RIFF\x24\x00\x00\x00WEBPVP8 ";
    expect_decode_error(webp, sizeof webp - 1, "photo.webp", DF_ERR_UNSUPPORTED, "WebP");
    const uint8_t heic[] = "\x00\x00\x00\x18" "ftypheic\x00\x00\x00\x00mif1heic";
    expect_decode_error(heic, sizeof heic - 1, "IMG_0001.HEIC", DF_ERR_UNSUPPORTED, "HEIC");
    const uint8_t avif[] = "\x00\x00\x00\x1c" "ftypavif\x00\x00\x00\x00";
    expect_decode_error(avif, sizeof avif - 1, "a.avif", DF_ERR_UNSUPPORTED, "AVIF");
    const uint8_t tiff[] = "II*\x00\x08\x00\x00\x00";
    expect_decode_error(tiff, sizeof tiff - 1, "scan.tif", DF_ERR_UNSUPPORTED, "TIFF");
    const uint8_t bin[] = {0x01, 0x02, 0x00, 0xfe, 0x33};
    expect_decode_error(bin, sizeof bin, "blob.png", DF_ERR_UNSUPPORTED, "01 02 00 fe");
    const uint8_t png_prefix[] = {0x89, 'P', 'N', 'G', 0x0d};
    expect_decode_error(png_prefix, sizeof png_prefix, "cut.png", DF_ERR_FORMAT, "truncated");
    const uint8_t soi[] = {0xff, 0xd8};
    expect_decode_error(soi, sizeof soi, "soi.jpg", DF_ERR_FORMAT, "truncated");

    /* NULL name: "<memory>" */
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(gif, sizeof gif - 1, NULL, NULL, &img, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "<memory>"));
    /* Bad options */
    df_image_load_options opt = df_image_load_options_default();
    opt.max_pixels = 0;
    assert_int_equal(df_image_decode(gif, sizeof gif - 1, "x", &opt, &img, &err), DF_ERR_INVALID_ARG);
}

static void test_jpeg_corrupt_and_truncated(void **state) {
    (void)state;
    df_image ref = random_image(128, 96, 21);
    size_t n;
    jpeg_spec base = {90, 1, 0, 0};
    uint8_t *j = jpeg_encode_rgb(&ref, base, &n);

    /* Truncated at half: an error, not a grey-filled image. */
    expect_decode_error(j, n / 2, "half.jpg", DF_ERR_FORMAT, "truncated");
    /* Cut inside the headers. */
    expect_decode_error(j, 100, "head.jpg", DF_ERR_FORMAT, "truncated");
    /* Only the final EOI missing: every pixel is there; accepted. */
    df_image img;
    df_error err;
    assert_int_equal(df_image_decode(j, n - 2, "noeoi.jpg", NULL, &img, &err), DF_OK);
    df_image_free(&img);

    /* Random bytes after a valid header. */
    uint8_t *c = malloc(n);
    memcpy(c, j, n);
    df_rng rng;
    df_rng_seed(&rng, 7, 7);
    for (size_t i = jpeg_scan_start(j, n); i < n; i++) c[i] = (uint8_t)df_rng_below(&rng, 256);
    expect_decode_error(c, n, "noise.jpg", DF_ERR_FORMAT, "JPEG");
    free(c);
    free(j);

    /* Progressive, truncated: scans are consumed in jpeg_start_decompress. */
    jpeg_spec prog = {90, 1, 1, 0};
    j = jpeg_encode_rgb(&ref, prog, &n);
    expect_decode_error(j, n / 2, "prog-half.jpg", DF_ERR_FORMAT, "truncated");
    free(j);
    df_image_free(&ref);
}

static void test_png_corrupt_and_truncated(void **state) {
    (void)state;
    df_image ref = random_image(40, 30, 23);
    png_spec s = {40, 30, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL, NULL, 0, 0};
    size_t n;
    uint8_t *p = png_encode_raw(&s, ref.pixels, 40 * 3, &n);
    expect_decode_error(p, n / 2, "half.png", DF_ERR_FORMAT, "truncated");
    expect_decode_error(p, 20, "ihdr.png", DF_ERR_FORMAT, "truncated");
    expect_decode_error(p, n - 1, "noiend.png", DF_ERR_FORMAT, "truncated");
    uint8_t *c = malloc(n);
    memcpy(c, p, n);
    c[n / 2] ^= 0x55; /* inside IDAT: CRC mismatch */
    expect_decode_error(c, n, "flip.png", DF_ERR_FORMAT, "corrupt PNG");
    free(c);
    free(p);

    /* A chunk claiming far more bytes than the file holds (libpng would
     * malloc an eXIf chunk's claimed length before reading it). */
    uint8_t seg[64];
    size_t sn = exif_app1(seg, 1, 1);
    s.exif = seg + 10;
    s.nexif = (int)(sn - 10);
    p = png_encode_raw(&s, ref.pixels, 40 * 3, &n);
    size_t at = 0;
    for (size_t i = 8; i + 4 < n; i++)
        if (memcmp(p + i, "eXIf", 4) == 0) { at = i - 4; break; }
    assert_true(at > 0);
    p[at] = 0x40; /* length 0x40000000 + original */
    expect_decode_error(p, n, "exifbomb.png", DF_ERR_FORMAT, "truncated PNG (chunk 'eXIf'");
    p[at] = 0x80;
    expect_decode_error(p, n, "badlen.png", DF_ERR_FORMAT, "above 2^31-1");
    free(p);
    df_image_free(&ref);
}

/* Headers claiming 60000 x 60000 (3.6 GP) are refused before any pixel
 * buffer exists: the files themselves are tiny. */
static void test_huge_headers_refused(void **state) {
    (void)state;
    png_spec s = {60000, 60000, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL, NULL, 0, 1};
    size_t n;
    uint8_t *p = png_encode_raw(&s, NULL, 0, &n);
    /* A small IDAT (its content never read) and IEND, so the file is
     * well-formed up to the point where the size is checked. */
    static const uint8_t idat[32] = {0, 0, 0, 8, 'I', 'D', 'A', 'T', 0x78, 0x9c, 1, 2, 3, 4, 5, 6,
                                     0, 0, 0, 0, 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    p = realloc(p, n + sizeof idat);
    memcpy(p + n, idat, sizeof idat);
    n += sizeof idat;
    expect_decode_error(p, n, "bomb.png", DF_ERR_TOO_LARGE, "60000x60000");
    int w, h;
    df_error err;
    assert_int_equal(df_image_probe(p, n, "bomb.png", &w, &h, &err), DF_OK); /* probe reports, no limit */
    assert_int_equal(w, 60000);
    free(p);

    df_image small = block_image(16, 16);
    uint8_t *j = jpeg_encode_rgb(&small, Q100_444, &n);
    df_image_free(&small);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < n; i++)
        if (j[i] == 0xff && j[i + 1] == 0xc0) { sof = i; break; }
    assert_true(sof > 0);
    j[sof + 5] = 60000 >> 8; /* height */
    j[sof + 6] = 60000 & 0xff;
    j[sof + 7] = 60000 >> 8; /* width */
    j[sof + 8] = 60000 & 0xff;
    expect_decode_error(j, n, "bomb.jpg", DF_ERR_TOO_LARGE, "60000x60000");
    /* The same with DCT scaling asked for: still refused (the check is on
     * the header, before libjpeg allocates). */
    df_image_load_options opt = df_image_load_options_default();
    opt.min_width = opt.min_height = 224;
    df_image img;
    assert_int_equal(df_image_decode(j, n, "bomb.jpg", &opt, &img, &err), DF_ERR_TOO_LARGE);
    free(j);
}

static void test_load_from_file(void **state) {
    (void)state;
    char *dir = df_test_tempdir();
    assert_non_null(dir);
    df_image ref = random_image(9, 7, 31);
    char *path = df_path_join(dir, "out.png");
    df_error err;
    assert_int_equal(df_image_write_png(&ref, path, &err), DF_OK);
    df_image img;
    assert_int_equal(df_image_load(path, NULL, &img, &err), DF_OK);
    assert_int_equal(img.width, 9);
    assert_memory_equal(img.pixels, ref.pixels, 9 * 7 * 3);
    df_image_free(&img);
    /* Only the final file: no temp file left. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);

    char *txt = df_path_join(dir, "shirt.jpg");
    assert_int_equal(df_test_write_file(txt, "just text\n", 10), 0);
    assert_int_equal(df_image_load(txt, NULL, &img, &err), DF_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, txt));
    char *missing = df_path_join(dir, "missing.jpg");
    assert_int_equal(df_image_load(missing, NULL, &img, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, missing));
    char *empty = df_path_join(dir, "empty.png");
    assert_int_equal(df_test_write_file(empty, "", 0), 0);
    assert_int_equal(df_image_load(empty, NULL, &img, &err), DF_ERR_FORMAT);
    assert_non_null(strstr(err.message, empty));
    assert_non_null(strstr(err.message, "empty file"));
    free(empty);
    free(missing);
    free(txt);
    free(path);
    df_image_free(&ref);
    df_test_rmtree(dir);
    free(dir);
}

static void test_png_encode_round_trip(void **state) {
    (void)state;
    const int sizes[3][2] = {{1, 1}, {17, 5}, {64, 61}};
    for (int k = 0; k < 3; k++) {
        df_image ref = random_image(sizes[k][0], sizes[k][1], 40 + (uint64_t)k);
        uint8_t *data;
        size_t n;
        df_error err;
        assert_int_equal(df_image_encode_png(&ref, &data, &n, &err), DF_OK);
        assert_memory_equal(data, "\x89PNG\r\n\x1a\n", 8);
        df_image img;
        assert_int_equal(df_image_decode(data, n, "rt.png", NULL, &img, &err), DF_OK);
        assert_int_equal(img.width, ref.width);
        assert_int_equal(img.height, ref.height);
        assert_memory_equal(img.pixels, ref.pixels, (size_t)ref.width * ref.height * 3);
        df_image_free(&img);
        free(data);
        df_image_free(&ref);
    }
    uint8_t *data;
    size_t n;
    df_error err;
    df_image empty = {0, 0, NULL};
    assert_int_equal(df_image_encode_png(&empty, &data, &n, &err), DF_ERR_INVALID_ARG);
}

/* ---- resize: slow references ---------------------------------------------- */

/* Pillow's NEAREST (ImagingScaleAffine): position 0.5 * in / out, plus
 * in / out per pixel, summed in double and truncated; clamped. Written as a
 * fresh loop per call so it shares nothing with the implementation. */
static int ref_nearest_index(int x, int in, int out) {
    double step = (double)in / (double)out, pos = 0.5 * step;
    for (int k = 0; k < x; k++) pos += step;
    int s = (int)pos;
    return s < in ? s : in - 1;
}

/* Values read off Pillow 9.4: a 14-pixel row resized to 5 with NEAREST
 * picks [1, 4, 6, 9, 12], where floor((x + 0.5) * 14 / 5) would give 7 for
 * x = 2 (the running sum lands just below 7). */
static void test_resize_nearest_matches_pillow(void **state) {
    (void)state;
    df_image src, out;
    df_error err;
    assert_int_equal(df_image_alloc(&src, 14, 1, &err), DF_OK);
    for (int i = 0; i < 14; i++) src.pixels[3 * i] = src.pixels[3 * i + 1] = src.pixels[3 * i + 2] = (uint8_t)i;
    assert_int_equal(df_image_resize(&src, 5, 1, DF_RESIZE_NEAREST, &out, &err), DF_OK);
    const uint8_t pillow[5] = {1, 4, 6, 9, 12};
    for (int i = 0; i < 5; i++) assert_int_equal(out.pixels[3 * i], pillow[i]);
    df_image_free(&src);
    df_image_free(&out);
}

/* 1-D weights of output i over source indices, in double: box (area) or
 * triangle at half-pixel centres (bilinear). w has room for `in` entries. */
static void ref_weights(int in, int out, int i, df_resize_method m, double *w) {
    for (int j = 0; j < in; j++) w[j] = 0.0;
    if (m == DF_RESIZE_AREA && out < in) {
        double lo = (double)i * in / out, hi = (double)(i + 1) * in / out;
        for (int j = 0; j < in; j++) {
            double s = fmax(lo, j), e = fmin(hi, j + 1.0);
            if (e > s) w[j] = (e - s) / ((double)in / out);
        }
    } else if (in == out) {
        w[i] = 1.0;
    } else {
        /* TF resize_bilinear, half_pixel_centers=True */
        double src = (i + 0.5) * in / out - 0.5;
        double f = floor(src);
        int lo = (int)f < 0 ? 0 : (int)f;
        int hi = (int)ceil(src) > in - 1 ? in - 1 : (int)ceil(src);
        double l = src - f;
        w[lo] += 1.0 - l;
        w[hi] += l;
    }
}

/* Direct 2-D weighted sum in double (not separable passes) over the
 * precomputed 1-D weight rows wx (for x) and wy (for y). */
static double ref_sample(const df_image *src, const double *wx, const double *wy, int c) {
    double v = 0.0;
    for (int sy = 0; sy < src->height; sy++) {
        if (wy[sy] == 0.0) continue;
        for (int sx = 0; sx < src->width; sx++)
            if (wx[sx] != 0.0) v += wx[sx] * wy[sy] * px(src, sx, sy)[c];
    }
    return v;
}

/* Our float result must equal round-half-up of the double reference, except
 * where the reference lies within 1e-3 of a .5 boundary (float summation
 * order may then round the other way): there, within 1. */
static void check_against_reference(const df_image *src, int ow, int oh, df_resize_method m) {
    df_image out;
    df_error err;
    assert_int_equal(df_image_resize(src, ow, oh, m, &out, &err), DF_OK);
    assert_int_equal(out.width, ow);
    assert_int_equal(out.height, oh);
    double *wx = malloc(sizeof(double) * (size_t)ow * src->width);
    double *wy = malloc(sizeof(double) * (size_t)oh * src->height);
    assert_non_null(wx);
    assert_non_null(wy);
    for (int x = 0; x < ow; x++) ref_weights(src->width, ow, x, m, wx + (size_t)x * src->width);
    for (int y = 0; y < oh; y++) ref_weights(src->height, oh, y, m, wy + (size_t)y * src->height);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
            for (int c = 0; c < 3; c++) {
                double r = ref_sample(src, wx + (size_t)x * src->width, wy + (size_t)y * src->height, c);
                int want = (int)floor(r + 0.5);
                int got = px(&out, x, y)[c];
                double frac = r - floor(r);
                int near_half = fabs(frac - 0.5) < 1e-3;
                if (got != want && !(near_half && abs(got - want) <= 1))
                    fail_msg("%s %dx%d->%dx%d at (%d,%d,%d): got %d, reference %.6f",
                             df_resize_method_name(m), src->width, src->height, ow, oh, x, y, c, got, r);
            }
    free(wx);
    free(wy);
    df_image_free(&out);
}

static void test_resize_nearest_reference(void **state) {
    (void)state;
    const int cases[][4] = {{37, 23, 224, 224}, {500, 400, 224, 224}, {13, 7, 5, 3}, {3, 2, 7, 9},
                            {14, 5, 5, 5},      {224, 224, 112, 75}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        df_image src = random_image(cases[k][0], cases[k][1], 50 + (uint64_t)k);
        df_image out;
        df_error err;
        assert_int_equal(df_image_resize(&src, cases[k][2], cases[k][3], DF_RESIZE_NEAREST, &out, &err), DF_OK);
        for (int y = 0; y < out.height; y++)
            for (int x = 0; x < out.width; x++) {
                int sx = ref_nearest_index(x, src.width, out.width);
                int sy = ref_nearest_index(y, src.height, out.height);
                assert_memory_equal(px(&out, x, y), px(&src, sx, sy), 3);
            }
        df_image_free(&out);
        df_image_free(&src);
    }
}

static void test_resize_area(void **state) {
    (void)state;
    /* Exact 2:1: the 2x2 mean, rounded half up. */
    df_image src = random_image(48, 34, 60);
    df_image out;
    df_error err;
    assert_int_equal(df_image_resize(&src, 24, 17, DF_RESIZE_AREA, &out, &err), DF_OK);
    for (int y = 0; y < 17; y++)
        for (int x = 0; x < 24; x++)
            for (int c = 0; c < 3; c++) {
                int s = px(&src, 2 * x, 2 * y)[c] + px(&src, 2 * x + 1, 2 * y)[c] +
                        px(&src, 2 * x, 2 * y + 1)[c] + px(&src, 2 * x + 1, 2 * y + 1)[c];
                assert_int_equal(px(&out, x, y)[c], (s + 2) / 4);
            }
    df_image_free(&out);
    df_image_free(&src);

    /* Fractional ratios down, up (bilinear), and mixed axes. */
    const int cases[][4] = {{37, 23, 10, 7}, {30, 20, 7, 9}, {7, 5, 20, 13}, {40, 5, 10, 13}, {9, 9, 8, 8}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        src = random_image(cases[k][0], cases[k][1], 70 + (uint64_t)k);
        check_against_reference(&src, cases[k][2], cases[k][3], DF_RESIZE_AREA);
        df_image_free(&src);
    }
    /* A solid image stays solid at any size. */
    src = make_image(33, 17);
    memset(src.pixels, 77, 33 * 17 * 3);
    assert_int_equal(df_image_resize(&src, 10, 6, DF_RESIZE_AREA, &out, &err), DF_OK);
    for (int i = 0; i < 10 * 6 * 3; i++) assert_int_equal(out.pixels[i], 77);
    df_image_free(&out);
    df_image_free(&src);
}

static void test_resize_bilinear(void **state) {
    (void)state;
    const int cases[][4] = {{37, 23, 10, 7}, {7, 5, 20, 13}, {64, 48, 224, 224}, {300, 200, 224, 224}, {1, 1, 3, 2}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        df_image src = random_image(cases[k][0], cases[k][1], 80 + (uint64_t)k);
        check_against_reference(&src, cases[k][2], cases[k][3], DF_RESIZE_BILINEAR);
        df_image_free(&src);
    }
    /* 2x upscale of a 2-pixel row [0, 100]: half-pixel centres give
     * 0, 25, 75, 100 (TF half_pixel_centers semantics). */
    df_image src = make_image(2, 1);
    memset(src.pixels, 0, 3);
    memset(src.pixels + 3, 100, 3);
    df_image out;
    df_error err;
    assert_int_equal(df_image_resize(&src, 4, 1, DF_RESIZE_BILINEAR, &out, &err), DF_OK);
    assert_int_equal(out.pixels[0], 0);
    assert_int_equal(out.pixels[3], 25);
    assert_int_equal(out.pixels[6], 75);
    assert_int_equal(out.pixels[9], 100);
    df_image_free(&out);
    df_image_free(&src);
}

/* The two-tap path of bilinear axes (padded single taps, no tap loop;
 * where the CPU has AVX2, its vector horizontal pass: byte shuffles where
 * a row shrinks by up to about 3, as 448 -> 224, 300 -> 131, 711 -> 224
 * and the closet's 400 -> 224; at 1000 -> 224 gathers and shuffles in one
 * row) gives the generic loop's pixels bit for bit: shrinking, enlarging,
 * equal axes, 2-pixel and 1-pixel sources, and area with an enlarged axis
 * (which is bilinear on that axis). */
static void test_resize_two_taps_bit_identical(void **state) {
    (void)state;
    const int cases[][4] = {{400, 533, 224, 224}, {533, 400, 224, 224}, {37, 23, 10, 7}, {7, 5, 20, 13},
                            {2, 2, 5, 3},         {1, 9, 4, 4},         {9, 1, 4, 4},  {224, 300, 224, 224},
                            {100, 50, 224, 224},  {225, 224, 224, 225}, {448, 9, 224, 5},   {1000, 9, 224, 5},
                            {300, 9, 131, 5},     {711, 400, 224, 224}};
    df_error err;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        df_image src = random_image(cases[k][0], cases[k][1], 700 + (uint64_t)k);
        for (int m = DF_RESIZE_AREA; m <= DF_RESIZE_BILINEAR; m++) {
            df_image fast, slow;
            assert_int_equal(df_image_resize_taps(&src, cases[k][2], cases[k][3], (df_resize_method)m, 1, &fast, &err),
                             DF_OK);
            assert_int_equal(df_image_resize_taps(&src, cases[k][2], cases[k][3], (df_resize_method)m, 0, &slow, &err),
                             DF_OK);
            assert_memory_equal(fast.pixels, slow.pixels, (size_t)cases[k][2] * cases[k][3] * 3);
            df_image_free(&fast);
            df_image_free(&slow);
        }
        df_image_free(&src);
    }
}

static void test_resize_identity_and_args(void **state) {
    (void)state;
    df_image src = random_image(31, 17, 90);
    df_error err;
    for (int m = DF_RESIZE_NEAREST; m <= DF_RESIZE_BILINEAR; m++) {
        df_image out;
        assert_int_equal(df_image_resize(&src, 31, 17, (df_resize_method)m, &out, &err), DF_OK);
        assert_memory_equal(out.pixels, src.pixels, 31 * 17 * 3);
        df_image_free(&out);
    }
    df_image out;
    assert_int_equal(df_image_resize(&src, 0, 5, DF_RESIZE_AREA, &out, &err), DF_ERR_INVALID_ARG);
    assert_null(out.pixels);
    assert_int_equal(df_image_resize(NULL, 5, 5, DF_RESIZE_AREA, &out, &err), DF_ERR_INVALID_ARG);
    df_image_free(&src);

    df_resize_method m;
    assert_int_equal(df_resize_method_parse("nearest", &m, &err), DF_OK);
    assert_int_equal(m, DF_RESIZE_NEAREST);
    assert_int_equal(df_resize_method_parse("AREA", &m, &err), DF_OK);
    assert_int_equal(m, DF_RESIZE_AREA);
    assert_int_equal(df_resize_method_parse("bilinear", &m, &err), DF_OK);
    assert_int_equal(m, DF_RESIZE_BILINEAR);
    assert_int_equal(df_resize_method_parse("bicubic", &m, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "bicubic"));
    assert_string_equal(df_resize_method_name(DF_RESIZE_AREA), "area");
    assert_string_equal(df_resize_method_name(DF_RESIZE_NEAREST), "nearest");
    assert_string_equal(df_resize_method_name(DF_RESIZE_BILINEAR), "bilinear");
}

/* ---- real files ------------------------------------------------------------ */

static int has_ext(const char *name, const char *ext) {
    size_t n = strlen(name), e = strlen(ext);
    return n > e && strcasecmp(name + n - e, ext) == 0;
}

static void test_shared_imagenet_photos(void **state) {
    (void)state;
    const char *shared;
    DF_SKIP_WITHOUT_SHARED(shared);
    char *dir = df_path_join(shared, "images/imagenet");
    DIR *d = opendir(dir);
    if (!d) {
        print_message("SKIP: %s not found\n", dir);
        free(dir);
        skip();
    }
    int decoded = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *path = df_path_join(dir, e->d_name);
        df_image img;
        df_error err;
        df_status st = df_image_load(path, NULL, &img, &err);
        if (has_ext(e->d_name, ".jpg") || has_ext(e->d_name, ".bmp")) {
            if (st != DF_OK) fail_msg("%s", err.message);
            /* The check photos are all 512 wide, 300..1000 high. */
            assert_int_equal(img.width, 512);
            assert_true(img.height >= 300 && img.height <= 1000);
            /* Not a blank decode: some spread of values. */
            int lo = 255, hi = 0;
            for (size_t i = 0; i < (size_t)img.width * img.height * 3; i += 97) {
                if (img.pixels[i] < lo) lo = img.pixels[i];
                if (img.pixels[i] > hi) hi = img.pixels[i];
            }
            assert_true(hi - lo > 100);
            df_image_free(&img);
            decoded++;
        } else if (st == DF_OK) {
            df_image_free(&img);
        } else {
            /* COPYRIGHT and the like: refused with the path in the message. */
            assert_int_equal(st, DF_ERR_UNSUPPORTED);
            assert_non_null(strstr(err.message, path));
        }
        free(path);
    }
    closedir(d);
    free(dir);
    assert_true(decoded >= 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_rgb_blocks),
        cmocka_unit_test(test_jpeg_progressive),
        cmocka_unit_test(test_jpeg_greyscale),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_apply_orientation_exact),
        cmocka_unit_test(test_jpeg_exif_orientations),
        cmocka_unit_test(test_jpeg_broken_exif_ignored),
        cmocka_unit_test(test_png_exif_orientation),
        cmocka_unit_test(test_jpeg_dct_scaling),
        cmocka_unit_test(test_png_colour_types),
        cmocka_unit_test(test_bmp_variants),
        cmocka_unit_test(test_bmp_errors),
        cmocka_unit_test(test_bad_input_messages),
        cmocka_unit_test(test_jpeg_corrupt_and_truncated),
        cmocka_unit_test(test_png_corrupt_and_truncated),
        cmocka_unit_test(test_huge_headers_refused),
        cmocka_unit_test(test_load_from_file),
        cmocka_unit_test(test_png_encode_round_trip),
        cmocka_unit_test(test_resize_nearest_reference),
        cmocka_unit_test(test_resize_two_taps_bit_identical),
        cmocka_unit_test(test_resize_nearest_matches_pillow),
        cmocka_unit_test(test_resize_area),
        cmocka_unit_test(test_resize_bilinear),
        cmocka_unit_test(test_resize_identity_and_args),
        cmocka_unit_test(test_shared_imagenet_photos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
