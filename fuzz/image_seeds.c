/*
 * Seed corpus for fuzz_image: `image_seeds OUTDIR` writes small valid images
 * into OUTDIR (which must exist), so the fuzzer starts from files that reach
 * deep into each decoder instead of guessing magic bytes. Everything is made
 * here from code; no third-party file is ever copied (scripts/fuzz.sh runs
 * this into build-fuzz/corpus-image).
 *
 * JPEGs through libjpeg (RGB 4:2:0 and 4:4:4, grey, CMYK, progressive,
 * restart markers, EXIF APP1 orientation 6 in both byte orders), PNGs through
 * libpng (every colour type and bit depth, Adam7, tRNS, an eXIf chunk) and
 * BMPs written by hand (1/4/8/16/24/32-bit, bitfields, top-down, OS/2 core).
 *
 * Not part of the product and not built by CMake.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static int write_bytes(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t n = fwrite(data, 1, size, f);
    if (fclose(f) != 0 || n != size) {
        perror(path);
        return 1;
    }
    return 0;
}

/* A deterministic test pattern: channel c of pixel (x, y). */
static uint8_t pattern(int x, int y, int c) { return (uint8_t)((x * 7 + y * 13 + c * 85) ^ (x * y)); }

/* ---- EXIF ------------------------------------------------------------------ */

/* "Exif\0\0" + a TIFF header + IFD0 with one Orientation entry. */
static size_t make_exif(uint8_t *b, int big_endian, int orientation) {
    size_t n = 0;
    memcpy(b, "Exif\0\0", 6);
    n = 6;
    const uint8_t tiff_le[8] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    const uint8_t tiff_be[8] = {'M', 'M', 0, 42, 0, 0, 0, 8};
    memcpy(b + n, big_endian ? tiff_be : tiff_le, 8);
    n += 8;
#define P16(v)                                                              \
    do {                                                                    \
        unsigned v_ = (unsigned)(v);                                        \
        if (big_endian) { b[n++] = (uint8_t)(v_ >> 8); b[n++] = (uint8_t)v_; } \
        else { b[n++] = (uint8_t)v_; b[n++] = (uint8_t)(v_ >> 8); }        \
    } while (0)
#define P32(v)                                     \
    do {                                           \
        unsigned long w_ = (unsigned long)(v);     \
        if (big_endian) { P16(w_ >> 16); P16(w_); } \
        else { P16(w_); P16(w_ >> 16); }           \
    } while (0)
    P16(1);          /* one entry */
    P16(0x0112);     /* Orientation */
    P16(3);          /* SHORT */
    P32(1);          /* count */
    P16(orientation);
    P16(0);          /* value padding */
    P32(0);          /* no next IFD */
#undef P16
#undef P32
    return n;
}

/* ---- JPEG ------------------------------------------------------------------ */

typedef struct jpeg_spec {
    const char *name;
    int w, h;
    J_COLOR_SPACE cs;
    int comps;
    int progressive;
    int restart_rows;
    int subsample; /* 1 = 4:2:0 (libjpeg default), 0 = 4:4:4 */
    int exif;      /* 0 none, 1 little-endian, 2 big-endian */
    int orientation;
} jpeg_spec;

static int write_jpeg(const char *dir, const jpeg_spec *s) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *mem = NULL;
    unsigned long mem_size = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &mem, &mem_size);
    c.image_width = (JDIMENSION)s->w;
    c.image_height = (JDIMENSION)s->h;
    c.input_components = s->comps;
    c.in_color_space = s->cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 80, TRUE);
    if (s->progressive) jpeg_simple_progression(&c);
    if (s->restart_rows) c.restart_in_rows = s->restart_rows;
    if (!s->subsample && s->comps == 3) {
        for (int i = 0; i < 3; i++) {
            c.comp_info[i].h_samp_factor = 1;
            c.comp_info[i].v_samp_factor = 1;
        }
    }
    jpeg_start_compress(&c, TRUE);
    if (s->exif) {
        uint8_t exif[64];
        size_t n = make_exif(exif, s->exif == 2, s->orientation);
        jpeg_write_marker(&c, JPEG_APP0 + 1, exif, (unsigned)n);
    }
    unsigned char *row = malloc((size_t)s->w * (size_t)s->comps);
    if (!row) return 1;
    while (c.next_scanline < c.image_height) {
        int y = (int)c.next_scanline;
        for (int x = 0; x < s->w; x++)
            for (int k = 0; k < s->comps; k++) row[x * s->comps + k] = pattern(x, y, k);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&c, &rp, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    int rc = write_bytes(dir, s->name, mem, mem_size);
    free(mem);
    return rc;
}

/* ---- PNG ------------------------------------------------------------------- */

typedef struct png_spec {
    const char *name;
    int w, h;
    int color_type;
    int bit_depth;
    int interlace;
    int trns;
    int exif_orientation; /* 0 = no eXIf chunk */
} png_spec;

typedef struct membuf {
    uint8_t *data;
    size_t size, cap;
} membuf;

static void png_mem_write(png_structp png, png_bytep data, png_size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->size + n > m->cap) {
        size_t cap = (m->cap ? m->cap * 2 : 4096);
        while (cap < m->size + n) cap *= 2;
        uint8_t *p = realloc(m->data, cap);
        if (!p) png_error(png, "out of memory");
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->size, data, n);
    m->size += n;
}
static void png_mem_flush(png_structp png) { (void)png; }

static int write_png(const char *dir, const png_spec *s) {
    membuf m = {NULL, 0, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *pix = NULL;
    png_bytep *rows = NULL;
    if (!info) goto fail;
    if (setjmp(png_jmpbuf(png))) goto fail;
    png_set_write_fn(png, &m, png_mem_write, png_mem_flush);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->bit_depth, s->color_type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        int n = 1 << s->bit_depth;
        for (int i = 0; i < n; i++) {
            pal[i].red = pattern(i, 0, 0);
            pal[i].green = pattern(i, 1, 1);
            pal[i].blue = pattern(i, 2, 2);
        }
        png_set_PLTE(png, info, pal, n);
        if (s->trns) {
            png_byte alpha[4] = {0, 64, 128, 255};
            png_set_tRNS(png, info, alpha, 4, NULL);
        }
    } else if (s->trns) {
        png_color_16 key;
        memset(&key, 0, sizeof key);
        key.gray = 1;
        key.red = 1;
        key.green = 2;
        key.blue = 3;
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    if (s->exif_orientation) {
        uint8_t exif[64];
        size_t n = make_exif(exif, 0, s->exif_orientation);
        /* The eXIf chunk holds the TIFF part only (no "Exif\0\0"). */
        png_set_eXIf_1(png, info, (png_uint_32)(n - 6), exif + 6);
    }
    png_write_info(png, info);
    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    pix = calloc((size_t)s->h, rowbytes);
    rows = malloc(sizeof *rows * (size_t)s->h);
    if (!pix || !rows) goto fail;
    for (int y = 0; y < s->h; y++) {
        rows[y] = pix + (size_t)y * rowbytes;
        for (int x = 0; x < s->w; x++) {
            for (int c = 0; c < channels; c++) {
                unsigned v = pattern(x, y, c);
                if (s->bit_depth == 16) {
                    size_t o = ((size_t)x * (size_t)channels + (size_t)c) * 2;
                    rows[y][o] = (uint8_t)v;
                    rows[y][o + 1] = (uint8_t)(v * 3);
                } else if (s->bit_depth == 8) {
                    rows[y][(size_t)x * (size_t)channels + (size_t)c] = (uint8_t)v;
                } else { /* 1, 2, 4 bits, one channel */
                    unsigned bits = (unsigned)s->bit_depth;
                    unsigned val = v & ((1u << bits) - 1u);
                    size_t bit = (size_t)x * bits;
                    rows[y][bit / 8] |= (uint8_t)(val << (8 - bits - bit % 8));
                }
            }
        }
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(pix);
    free(rows);
    int rc = write_bytes(dir, s->name, m.data, m.size);
    free(m.data);
    return rc;
fail:
    png_destroy_write_struct(&png, &info);
    free(pix);
    free(rows);
    free(m.data);
    fprintf(stderr, "image_seeds: cannot make %s\n", s->name);
    return 1;
}

/* ---- BMP ------------------------------------------------------------------- */

static void le16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void le32(uint8_t *p, uint32_t v) {
    le16(p, v & 0xffff);
    le16(p + 2, v >> 16);
}

/* bpp 1/4/8 (with palette), 16, 24, 32; bitfields for 16/32; top-down when
 * topdown; OS/2 core header (12 bytes) when core. */
static int write_bmp(const char *dir, const char *name, int w, int h, int bpp, int bitfields,
                     int topdown, int core) {
    uint8_t buf[1 << 16];
    memset(buf, 0, sizeof buf);
    const int hsize = core ? 12 : 40;
    const int ncolors = bpp <= 8 ? 1 << bpp : 0;
    const int entry = core ? 3 : 4;
    const int masks = bitfields ? 12 : 0;
    const size_t row = (((size_t)w * (size_t)bpp + 31) / 32) * 4;
    const size_t off = 14 + (size_t)hsize + (size_t)masks + (size_t)ncolors * (size_t)entry;
    const size_t total = off + row * (size_t)h;
    if (total > sizeof buf) return 1;
    buf[0] = 'B';
    buf[1] = 'M';
    le32(buf + 2, (uint32_t)total);
    le32(buf + 10, (uint32_t)off);
    le32(buf + 14, (uint32_t)hsize);
    if (core) {
        le16(buf + 18, (unsigned)w);
        le16(buf + 20, (unsigned)h);
        le16(buf + 22, 1);
        le16(buf + 24, (unsigned)bpp);
    } else {
        le32(buf + 18, (uint32_t)w);
        le32(buf + 22, (uint32_t)(topdown ? -h : h));
        le16(buf + 26, 1);
        le16(buf + 28, (unsigned)bpp);
        le32(buf + 30, bitfields ? 3u : 0u);
        le32(buf + 34, (uint32_t)(row * (size_t)h));
        le32(buf + 46, (uint32_t)ncolors);
    }
    uint8_t *p = buf + 14 + hsize;
    if (bitfields) {
        if (bpp == 16) { /* 5-6-5 */
            le32(p, 0xf800);
            le32(p + 4, 0x07e0);
            le32(p + 8, 0x001f);
        } else {
            le32(p, 0x00ff0000);
            le32(p + 4, 0x0000ff00);
            le32(p + 8, 0x000000ff);
        }
        p += 12;
    }
    for (int i = 0; i < ncolors; i++) {
        p[0] = pattern(i, 0, 2);
        p[1] = pattern(i, 0, 1);
        p[2] = pattern(i, 0, 0);
        p += entry;
    }
    for (int y = 0; y < h; y++) {
        uint8_t *r = buf + off + (size_t)y * row;
        for (int x = 0; x < w; x++) {
            unsigned v = pattern(x, y, 0);
            switch (bpp) {
            case 1: r[x / 8] |= (uint8_t)((v & 1u) << (7 - x % 8)); break;
            case 4: r[x / 2] |= (uint8_t)((v & 15u) << (x % 2 ? 0 : 4)); break;
            case 8: r[x] = (uint8_t)v; break;
            case 16: le16(r + 2 * x, v * 257u); break;
            case 24:
                for (int c = 0; c < 3; c++) r[3 * x + c] = pattern(x, y, c);
                break;
            case 32:
                for (int c = 0; c < 4; c++) r[4 * x + c] = pattern(x, y, c);
                break;
            default: return 1;
            }
        }
    }
    return write_bytes(dir, name, buf, total);
}

/* ---- targets --------------------------------------------------------------- */

static int seeds_image(const char *dir) {
    int rc = 0;
    const jpeg_spec jpegs[] = {
        {"rgb420.jpg", 33, 17, JCS_RGB, 3, 0, 0, 1, 0, 0},
        {"rgb444.jpg", 16, 16, JCS_RGB, 3, 0, 0, 0, 0, 0},
        {"grey.jpg", 19, 23, JCS_GRAYSCALE, 1, 0, 0, 1, 0, 0},
        {"cmyk.jpg", 16, 8, JCS_CMYK, 4, 0, 0, 1, 0, 0},
        {"progressive.jpg", 40, 24, JCS_RGB, 3, 1, 0, 1, 0, 0},
        {"restart.jpg", 32, 32, JCS_RGB, 3, 0, 1, 1, 0, 0},
        {"exif_le_o6.jpg", 24, 16, JCS_RGB, 3, 0, 0, 1, 1, 6},
        {"exif_be_o8.jpg", 24, 16, JCS_RGB, 3, 0, 0, 1, 2, 8},
        {"exif_le_o3.jpg", 9, 5, JCS_GRAYSCALE, 1, 0, 0, 1, 1, 3},
        /* Big enough for DCT scaling towards the 224x224 hint (1/2). */
        {"scale.jpg", 480, 456, JCS_RGB, 3, 0, 0, 1, 1, 5},
    };
    for (size_t i = 0; i < sizeof jpegs / sizeof jpegs[0]; i++) rc |= write_jpeg(dir, &jpegs[i]);
    const png_spec pngs[] = {
        {"rgb8.png", 17, 9, PNG_COLOR_TYPE_RGB, 8, 0, 0, 0},
        {"rgba8.png", 9, 17, PNG_COLOR_TYPE_RGBA, 8, 0, 0, 0},
        {"grey8.png", 8, 8, PNG_COLOR_TYPE_GRAY, 8, 0, 0, 0},
        {"grey1.png", 13, 3, PNG_COLOR_TYPE_GRAY, 1, 0, 0, 0},
        {"grey4_trns.png", 7, 5, PNG_COLOR_TYPE_GRAY, 4, 0, 1, 0},
        {"grey16.png", 6, 6, PNG_COLOR_TYPE_GRAY, 16, 0, 0, 0},
        {"greyalpha8.png", 5, 7, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0, 0},
        {"rgb16.png", 4, 9, PNG_COLOR_TYPE_RGB, 16, 0, 0, 0},
        {"rgba16.png", 3, 3, PNG_COLOR_TYPE_RGBA, 16, 0, 0, 0},
        {"pal2_trns.png", 11, 4, PNG_COLOR_TYPE_PALETTE, 2, 0, 1, 0},
        {"pal8.png", 16, 16, PNG_COLOR_TYPE_PALETTE, 8, 0, 0, 0},
        {"adam7.png", 21, 13, PNG_COLOR_TYPE_RGB, 8, 1, 0, 0},
        {"rgb_trns.png", 5, 5, PNG_COLOR_TYPE_RGB, 8, 0, 1, 0},
        {"exif_o6.png", 12, 7, PNG_COLOR_TYPE_RGB, 8, 0, 0, 6},
    };
    for (size_t i = 0; i < sizeof pngs / sizeof pngs[0]; i++) rc |= write_png(dir, &pngs[i]);
    rc |= write_bmp(dir, "bgr24.bmp", 7, 5, 24, 0, 0, 0);
    rc |= write_bmp(dir, "bgr24_topdown.bmp", 6, 3, 24, 0, 1, 0);
    rc |= write_bmp(dir, "bgrx32.bmp", 5, 4, 32, 0, 0, 0);
    rc |= write_bmp(dir, "bitfields32.bmp", 5, 4, 32, 1, 1, 0);
    rc |= write_bmp(dir, "rgb555.bmp", 9, 2, 16, 0, 0, 0);
    rc |= write_bmp(dir, "rgb565.bmp", 9, 2, 16, 1, 0, 0);
    rc |= write_bmp(dir, "pal8.bmp", 10, 3, 8, 0, 0, 0);
    rc |= write_bmp(dir, "pal4.bmp", 11, 3, 4, 0, 0, 0);
    rc |= write_bmp(dir, "pal1.bmp", 17, 2, 1, 0, 0, 0);
    rc |= write_bmp(dir, "core24.bmp", 4, 4, 24, 0, 0, 1);
    rc |= write_bmp(dir, "core8.bmp", 4, 4, 8, 0, 0, 1);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: image_seeds OUTDIR\n");
        return 2;
    }
    return seeds_image(argv[1]) ? 1 : 0;
}
