/*
 * JPEG decoding with libjpeg-turbo, from memory, to RGB8.
 *
 * - Errors: error_exit is replaced by a longjmp back into this file, so a
 *   corrupt file becomes a df_error, never exit(). Warnings that mean the
 *   pixels are damaged (premature end of file, bad Huffman/arithmetic code,
 *   a marker inside the entropy-coded data, lost restart sync, inconsistent
 *   progression) are errors too: a truncated JPEG must fail, not come back
 *   grey-filled as libjpeg's default does. Harmless warnings (extraneous
 *   bytes before a marker, unknown JFIF revision, odd Adobe transform, bad
 *   ICC marker, non-standard SOS parameters) are ignored, as PIL does. One
 *   exception: a missing EOI after the last scanline of the final scan was
 *   decoded is accepted (every pixel is intact).
 * - Size: the header's width x height is checked against max_pixels before
 *   jpeg_start_decompress allocates; the number of scans is capped (a
 *   progressive file with thousands of tiny scans is a CPU bomb).
 * - DCT scaling: the smallest of 1/8, 1/4, 1/2, 1/1 whose output, after the
 *   EXIF orientation swaps axes or not, is still >= min_width x min_height.
 * - Colour: greyscale and YCbCr/RGB via libjpeg's own conversion; CMYK and
 *   YCCK are decoded to CMYK and converted here. Files with an Adobe APP14
 *   marker store inverted CMYK (Photoshop's convention); PIL treats them the
 *   same way ("CMYK;I"), and R = C' * K' / 255 on the stored values uses
 *   PIL's rounding (cmyk2rgb's MULDIV255).
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jpeglib.h first: it pulls in jconfig.h, which decides which message codes
 * jerror.h declares. */
#include <jpeglib.h>
#include <jerror.h>

#include "image/image_internal.h"

/* Real progressive files have about 10 scans; libjpeg-turbo's own fuzzers
 * stop at 500. */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
    jmp_buf jmp;
    const char *name;
    df_error *err;
    df_status status;
    int finishing; /* in jpeg_finish_decompress: a missing EOI is harmless */
    int created;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    uint8_t *row; /* CMYK scanline */
    df_image img;
} jpeg_ctx;

static jpeg_ctx *ctx_of(j_common_ptr cinfo) { return (jpeg_ctx *)cinfo->err; }

static df_status status_for_code(int code) {
    switch (code) {
    case JERR_OUT_OF_MEMORY: return DF_ERR_NOMEM;
    case JERR_BAD_PRECISION:
    case JERR_SOF_UNSUPPORTED:
    case JERR_NOT_COMPILED:
    case JERR_ARITH_NOTIMPL:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_CCIR601_NOTIMPL: return DF_ERR_UNSUPPORTED;
    default: return DF_ERR_FORMAT;
    }
}

static void jpeg_fail(j_common_ptr cinfo, df_status status, const char *what) {
    jpeg_ctx *c = ctx_of(cinfo);
    char msg[JMSG_LENGTH_MAX];
    msg[0] = '\0';
    (*cinfo->err->format_message)(cinfo, msg);
    c->status = df_error_set(c->err, status, "%s: %s (libjpeg: %s)", c->name, what, msg);
    longjmp(c->jmp, 1);
}

static void on_error_exit(j_common_ptr cinfo) {
    df_status st = status_for_code(cinfo->err->msg_code);
    const char *what = st == DF_ERR_UNSUPPORTED ? "unsupported JPEG"
                       : st == DF_ERR_NOMEM     ? "out of memory decoding JPEG"
                                                : "corrupt JPEG";
    jpeg_fail(cinfo, st, what);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    if (level != -1) return; /* trace messages */
    jpeg_ctx *c = ctx_of(cinfo);
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
        if (c->finishing) return;
        jpeg_fail(cinfo, DF_ERR_FORMAT, "truncated JPEG");
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION: jpeg_fail(cinfo, DF_ERR_FORMAT, "corrupt JPEG data"); break;
    default: return;
    }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; /* the library never prints */ }

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_ctx *c = ctx_of(cinfo);
        c->status = df_error_set(c->err, DF_ERR_FORMAT,
                                 "%s: JPEG has more than %d scans (a real photo has about 10)",
                                 c->name, JPEG_MAX_SCANS);
        longjmp(c->jmp, 1);
    }
}

/* Orientation from the first APP1 segment that holds Exif data. */
static int find_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 6) continue;
        if (memcmp(m->data, "Exif\0\0", 6) != 0) continue;
        return df_image_exif_orientation(m->data, m->data_length);
    }
    return 1;
}

static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

/* The work, between setjmp and the caller's cleanup. Only c (never
 * modified here) is used after a longjmp. */
static df_status jpeg_run(jpeg_ctx *c, const uint8_t *data, size_t size,
                          const df_image_load_options *opt, df_image_header *hdr, int decode) {
    if (setjmp(c->jmp)) return c->status;

    struct jpeg_decompress_struct *ci = &c->cinfo;
    ci->err = jpeg_std_error(&c->pub);
    c->pub.error_exit = on_error_exit;
    c->pub.emit_message = on_emit_message;
    c->pub.output_message = on_output_message;
    jpeg_create_decompress(ci);
    c->created = 1;
    c->progress.progress_monitor = on_progress;
    ci->progress = &c->progress;

    jpeg_mem_src(ci, data, (unsigned long)size);
    if (opt->apply_exif_orientation) jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(ci, TRUE);

    hdr->width = (int)ci->image_width;
    hdr->height = (int)ci->image_height;
    hdr->orientation = opt->apply_exif_orientation ? find_orientation(ci) : 1;

    if ((int64_t)ci->image_width * (int64_t)ci->image_height > opt->max_pixels)
        return c->status = df_error_set(
                   c->err, DF_ERR_TOO_LARGE, "%s: JPEG is %ux%u = %lld pixels, limit is %lld",
                   c->name, ci->image_width, ci->image_height,
                   (long long)ci->image_width * (long long)ci->image_height,
                   (long long)opt->max_pixels);
    if (!decode) return DF_OK;

    int cmyk = 0, inverted = 0;
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB: ci->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
        ci->out_color_space = JCS_CMYK;
        cmyk = 1;
        inverted = ci->saw_Adobe_marker ? 1 : 0;
        break;
    default:
        return c->status = df_error_set(c->err, DF_ERR_UNSUPPORTED,
                                        "%s: unsupported JPEG colour space (%d components)",
                                        c->name, ci->num_components);
    }
    ci->dct_method = JDCT_ISLOW; /* PIL's default; the accurate one */

    /* DCT scaling: smallest scale that keeps the (oriented) image at least
     * min_width x min_height. */
    ci->scale_num = 1;
    ci->scale_denom = 1;
    if (opt->min_width > 0 && opt->min_height > 0) {
        static const unsigned denoms[3] = {8, 4, 2};
        const int swap = df_image_orientation_swaps(hdr->orientation);
        for (int i = 0; i < 3; i++) {
            ci->scale_denom = denoms[i];
            jpeg_calc_output_dimensions(ci);
            long ow = (long)(swap ? ci->output_height : ci->output_width);
            long oh = (long)(swap ? ci->output_width : ci->output_height);
            if (ow >= opt->min_width && oh >= opt->min_height) break;
            ci->scale_denom = 1;
        }
    }

    jpeg_start_decompress(ci);
    const int want_components = cmyk ? 4 : 3;
    if (ci->output_components != want_components || ci->output_width == 0 ||
        ci->output_height == 0)
        return c->status = df_error_set(c->err, DF_ERR_INTERNAL,
                                        "%s: libjpeg gave %d components at %ux%u, expected %d",
                                        c->name, ci->output_components, ci->output_width,
                                        ci->output_height, want_components);
    df_status st = df_image_alloc(&c->img, (int)ci->output_width, (int)ci->output_height, c->err);
    if (st != DF_OK) return c->status = df_error_prefix(c->err, "%s", c->name);
    const size_t W = ci->output_width;
    if (cmyk) {
        size_t n;
        if (!df_size_mul(W, 4, &n) || !(c->row = malloc(n)))
            return c->status = df_error_set(c->err, DF_ERR_NOMEM, "%s: out of memory", c->name);
    }
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = c->img.pixels + (size_t)ci->output_scanline * W * 3;
        JSAMPROW row = cmyk ? c->row : dst;
        if (jpeg_read_scanlines(ci, &row, 1) != 1)
            return c->status = df_error_set(c->err, DF_ERR_FORMAT,
                                            "%s: corrupt JPEG (decoder stopped at row %u of %u)",
                                            c->name, ci->output_scanline, ci->output_height);
        if (cmyk) {
            const uint8_t *s = c->row;
            for (size_t x = 0; x < W; x++, s += 4, dst += 3) {
                unsigned C = s[0], M = s[1], Y = s[2], K = s[3];
                if (!inverted) {
                    C = 255 - C; M = 255 - M; Y = 255 - Y; K = 255 - K;
                }
                dst[0] = muldiv255(C, K);
                dst[1] = muldiv255(M, K);
                dst[2] = muldiv255(Y, K);
            }
        }
    }
    c->finishing = 1;
    jpeg_finish_decompress(ci);
    return DF_OK;
}

df_status df_image_jpeg_read(const uint8_t *data, size_t size, const char *name,
                             const df_image_load_options *opt, df_image_header *hdr, df_image *out,
                             df_error *err) {
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
    c->name = name;
    c->err = err;
    c->status = DF_OK;
    df_status st = jpeg_run(c, data, size, opt, hdr, out != NULL);
    if (c->created) jpeg_destroy_decompress(&c->cinfo);
    free(c->row);
    if (st == DF_OK && out) {
        *out = c->img;
    } else {
        df_image_free(&c->img);
    }
    free(c);
    return st;
}
