/* Plot primitives and report text helpers: nice ticks, data-to-pixel
 * mapping, contrast choice, text, image scaling, UTF-8 cleaning, HTML
 * escaping, base64 (RFC 4648 test vectors), PNG round trips through cairo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "report/plot.h"
#include "report/text.h"

/* ---- helpers: read PNG bytes back with cairo, count pixels ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
} png_reader;

static cairo_status_t png_read(void *closure, unsigned char *out, unsigned int len) {
    png_reader *r = closure;
    if (r->pos + len > r->size) return CAIRO_STATUS_READ_ERROR;
    memcpy(out, r->data + r->pos, len);
    r->pos += len;
    return CAIRO_STATUS_SUCCESS;
}

static cairo_surface_t *decode_png(const df_png *p) {
    png_reader r = {p->data, p->size, 0};
    cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &r);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    return s;
}

/* RGB of pixel (x, y) of an ARGB32/RGB24 surface (our canvases are opaque). */
static void pixel(cairo_surface_t *s, int x, int y, int rgb[3]) {
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    uint32_t v = *(const uint32_t *)(d + (size_t)y * stride + (size_t)x * 4);
    rgb[0] = (v >> 16) & 0xFF;
    rgb[1] = (v >> 8) & 0xFF;
    rgb[2] = v & 0xFF;
}

/* Pixels in [x0,x1) x [y0,y1) whose every channel is below 100: text ink. */
static int dark_pixels(cairo_surface_t *s, int x0, int y0, int x1, int y1) {
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int p[3];
            pixel(s, x, y, p);
            n += p[0] < 100 && p[1] < 100 && p[2] < 100;
        }
    return n;
}

static df_plot_font font(double size, int bold, uint32_t hex) {
    df_plot_font f = {size, bold, df_plot_hex(hex)};
    return f;
}

/* ---- ticks ---- */

static void test_nice_step(void **state) {
    (void)state;
    const double raw[] = {0.3, 0.11, 1.0, 7.0, 0.05, 0.2, 1.5, 2.5, 45.0, 2.9e6, 0.00031};
    const double want[] = {0.5, 0.2, 1.0, 10.0, 0.05, 0.2, 2.0, 5.0, 50.0, 5e6, 0.0005};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        assert_true(fabs(df_plot_nice_step(raw[i]) - want[i]) <= 1e-12 * want[i]);
    assert_true(df_plot_nice_step(0) == 1.0); /* degenerate input gets a usable step */
    assert_true(df_plot_nice_step(NAN) == 1.0);
}

static void assert_ticks(const df_plot_ticks *t, double step, int count, double first,
                         int decimals) {
    assert_true(fabs(t->step - step) <= 1e-12 * step);
    assert_int_equal(t->count, count);
    assert_int_equal(t->decimals, decimals);
    for (int i = 0; i < count; i++) {
        double want = first + i * step;
        assert_true(fabs(t->values[i] - want) <= 1e-9 * fmax(1.0, fabs(want)));
    }
}

static void test_ticks_ranges(void **state) {
    (void)state;
    df_plot_ticks t;
    df_plot_ticks_make(0, 1, 5, 0, &t);
    assert_ticks(&t, 0.2, 6, 0.0, 1);
    /* accuracy 0.58 .. 1.02: 0.44 / 9 = 0.049 -> step 0.05; / 8 = 0.055 -> 0.1 */
    df_plot_ticks_make(0.58, 1.02, 9, 0, &t);
    assert_ticks(&t, 0.05, 9, 0.60, 2);
    df_plot_ticks_make(0.58, 1.02, 8, 0, &t);
    assert_ticks(&t, 0.1, 5, 0.60, 1);
    /* epochs with padding: multiples of 10 inside [-0.2, 46.2] */
    df_plot_ticks_make(-0.2, 46.2, 5, 1, &t);
    assert_ticks(&t, 10, 5, 0, 0);
    assert_true(signbit(t.values[0]) == 0); /* "0", never "-0" */
    /* a one-epoch run: the integer floor keeps a single tick at 1 */
    df_plot_ticks_make(0.4, 1.6, 8, 1, &t);
    assert_ticks(&t, 1, 1, 1, 0);
    /* parameter counts */
    df_plot_ticks_make(0, 14714688, 5, 0, &t);
    assert_ticks(&t, 5e6, 3, 0, 0);
    /* negative range and reversed bounds */
    df_plot_ticks_make(3, -3, 6, 0, &t);
    assert_ticks(&t, 1, 7, -3, 0);
    /* lo == hi is widened by 10% each side; NaN falls back to 0..1 */
    df_plot_ticks_make(0.5, 0.5, 4, 0, &t);
    assert_true(t.count >= 2 && t.values[0] >= 0.45 - 1e-12 && t.values[t.count - 1] <= 0.55 + 1e-12);
    df_plot_ticks_make(NAN, 2, 5, 0, &t);
    assert_ticks(&t, 0.2, 6, 0.0, 1);
    /* a range far wider than the tick budget coarsens the step */
    df_plot_ticks_make(0, 1e6, 1000, 1, &t);
    assert_true(t.count <= DF_PLOT_MAX_TICKS && t.count >= 2);
}

static void test_tick_format(void **state) {
    (void)state;
    char b[32];
    df_plot_format_tick(0.05, 2, DF_PLOT_TICK_PERCENT, b, sizeof b);
    assert_string_equal(b, "5%");
    df_plot_format_tick(0.975, 3, DF_PLOT_TICK_PERCENT, b, sizeof b);
    assert_string_equal(b, "97.5%");
    df_plot_format_tick(0.25, 2, DF_PLOT_TICK_NUMBER, b, sizeof b);
    assert_string_equal(b, "0.25");
    df_plot_format_tick(40, 0, DF_PLOT_TICK_NUMBER, b, sizeof b);
    assert_string_equal(b, "40");
}

/* ---- mapping ---- */

static void test_data_to_pixel_mapping(void **state) {
    (void)state;
    df_plot_axes ax;
    df_plot_axes_setup(&ax, 100, 50, 400, 200, 0, 10, 0, 1, 1, DF_PLOT_TICK_NUMBER);
    assert_true(fabs(df_plot_map_x(&ax, 0) - 100) < 1e-12);
    assert_true(fabs(df_plot_map_x(&ax, 10) - 500) < 1e-12);
    assert_true(fabs(df_plot_map_x(&ax, 2.5) - 200) < 1e-12);
    assert_true(fabs(df_plot_map_y(&ax, 0) - 250) < 1e-12); /* y grows downwards */
    assert_true(fabs(df_plot_map_y(&ax, 1) - 50) < 1e-12);
    assert_true(fabs(df_plot_map_y(&ax, 0.25) - 200) < 1e-12);
    /* every tick is inside its range */
    for (int i = 0; i < ax.xt.count; i++)
        assert_true(ax.xt.values[i] >= 0 && ax.xt.values[i] <= 10);
    for (int i = 0; i < ax.yt.count; i++)
        assert_true(ax.yt.values[i] >= 0 && ax.yt.values[i] <= 1 + 1e-12);
}

/* The mapping holds in the pixels: a dot drawn at data (7.5, 0.25) on a
 * canvas at scale 2 lands at device pixel 2 * (400, 200). */
static void test_series_land_where_mapped(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 600, 300, 2, &err), DF_OK);
    assert_int_equal(c.px_width, 1200);
    assert_int_equal(c.px_height, 600);
    df_plot_axes ax;
    df_plot_axes_setup(&ax, 100, 50, 400, 200, 0, 10, 0, 1, 1, DF_PLOT_TICK_NUMBER);
    double xs[3] = {7.5, NAN, 2.5}, ys[3] = {0.25, 0.5, 0.75};
    df_plot_dots(&c, &ax, xs, ys, 3, df_plot_hex(0xFF0000), 4);
    double lx[2] = {0, 10}, ly[2] = {1, 1};
    df_plot_line(&c, &ax, lx, ly, 2, df_plot_hex(0x0000FF), 2);
    df_png png;
    assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
    df_plot_canvas_destroy(&c);
    cairo_surface_t *s = decode_png(&png);
    assert_int_equal(cairo_image_surface_get_width(s), 1200);
    int p[3];
    pixel(s, 800, 400, p); /* (7.5, 0.25) -> (400, 200) logical */
    assert_true(p[0] > 240 && p[1] < 20 && p[2] < 20);
    pixel(s, 400, 200, p); /* (2.5, 0.75) -> (200, 100) */
    assert_true(p[0] > 240 && p[1] < 20 && p[2] < 20);
    pixel(s, 600, 300, p); /* the NaN point (5, 0.5) -> (300, 150) is not drawn */
    assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
    pixel(s, 600, 100, p); /* the line y = 1 -> logical y 50 */
    assert_true(p[2] > 240 && p[0] < 20);
    cairo_surface_destroy(s);
    df_png_free(&png);
}

/* The canvas's PNG (our libpng encoder, zlib level 3, RGB) holds exactly
 * the pixels cairo's own PNG writer would: every pixel of a figure with
 * text, a photo drawn scaled, antialiased lines and a translucent fill. */
static cairo_status_t png_collect(void *closure, const unsigned char *data, unsigned int len) {
    df_report_buf *b = closure;
    df_report_buf_append(b, data, len);
    return b->failed ? CAIRO_STATUS_NO_MEMORY : CAIRO_STATUS_SUCCESS;
}

static void test_canvas_png_is_cairos_pixels(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 333, 211, 1.5, &err), DF_OK);
    df_plot_axes ax;
    df_plot_axes_setup(&ax, 40, 20, 250, 150, 0, 10, 0, 1, 1, DF_PLOT_TICK_NUMBER);
    double xs[4] = {0, 3, 6, 10}, ys[4] = {0.1, 0.9, 0.2, 0.7};
    df_plot_line(&c, &ax, xs, ys, 4, df_plot_hex(0x1f77b4), 1.7);
    df_plot_text(&c, 60, 40, "Ag 0.97 \xc3\xa9", font(13, 1, 0x202020), DF_PLOT_LEFT, DF_PLOT_BASELINE, 0.3);
    df_image photo = {0};
    assert_int_equal(df_image_alloc(&photo, 37, 23, &err), DF_OK);
    for (size_t i = 0; i < (size_t)37 * 23 * 3; i++) photo.pixels[i] = (uint8_t)(i * 7);
    df_plot_image(&c, &photo, 200, 120, 90, 60, 6, NULL);
    df_image_free(&photo);
    cairo_set_source_rgba(c.cr, 0.8, 0.1, 0.3, 0.37);
    cairo_rectangle(c.cr, 20, 90, 120, 70);
    cairo_fill(c.cr);
    /* A translucent hole (nothing draws one: the figures only paint over
     * white), which ours shows over white and cairo's keeps as alpha. */
    cairo_set_operator(c.cr, CAIRO_OPERATOR_SOURCE);
    cairo_set_source_rgba(c.cr, 0.2, 0.6, 0.9, 0.5);
    cairo_rectangle(c.cr, 150, 10, 40, 30);
    cairo_fill(c.cr);
    cairo_set_operator(c.cr, CAIRO_OPERATOR_OVER);
    df_report_buf theirs;
    df_report_buf_init(&theirs);
    cairo_surface_flush(c.surface);
    assert_int_equal(cairo_surface_write_to_png_stream(c.surface, png_collect, &theirs), CAIRO_STATUS_SUCCESS);
    df_png ours;
    assert_int_equal(df_plot_canvas_png(&c, &ours, &err), DF_OK);
    df_plot_canvas_destroy(&c);
    df_png cairos = {.data = (uint8_t *)theirs.data, .size = theirs.len};
    cairo_surface_t *a = decode_png(&ours), *b = decode_png(&cairos);
    const int w = cairo_image_surface_get_width(a), h = cairo_image_surface_get_height(a);
    assert_int_equal(w, 500);
    assert_int_equal(h, 317);
    assert_int_equal(cairo_image_surface_get_width(b), w);
    int differ = 0, translucent = 0;
    const unsigned char *bd = cairo_image_surface_get_data(b);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int p[3], q[3];
            pixel(a, x, y, p);
            pixel(b, x, y, q); /* premultiplied */
            const int clear = 255 - (int)(*(const uint32_t *)(const void *)(bd + (size_t)y * (size_t)
                                                                             cairo_image_surface_get_stride(b) +
                                                                             (size_t)x * 4) >> 24);
            translucent += clear > 0;
            differ += p[0] != q[0] + clear || p[1] != q[1] + clear || p[2] != q[2] + clear;
        }
    assert_int_equal(differ, 0);
    assert_true(translucent >= 40 * 30); /* the hole, 60 x 45 pixels at scale 1.5 */
    cairo_surface_destroy(a);
    cairo_surface_destroy(b);
    df_png_free(&ours);
    df_report_buf_free(&theirs);
}

/* ---- colour ---- */

static void test_contrast_choice(void **state) {
    (void)state;
    df_rgb white = df_plot_hex(0xFFFFFF), black = df_plot_hex(0x000000);
    assert_true(fabs(df_plot_luminance(white) - 1.0) < 1e-12);
    assert_true(fabs(df_plot_luminance(black)) < 1e-12);
    assert_true(fabs(df_plot_contrast(white, black) - 21.0) < 1e-9);
    df_rgb ink = df_plot_hex(DF_PLOT_INK), paper = df_plot_hex(DF_PLOT_PAPER);
    df_rgb on_white = df_plot_text_colour_on(white);
    df_rgb on_navy = df_plot_text_colour_on(df_plot_hex(0x08306B));
    assert_true(on_white.r == ink.r && on_white.g == ink.g && on_white.b == ink.b);
    assert_true(on_navy.r == paper.r && on_navy.g == paper.g && on_navy.b == paper.b);
    /* Over the whole colour map the choice is the better of the two, and at
     * least 4.19:1, the best that ink-or-white can guarantee on any colour
     * ((1.05)/(L+0.05) = (L+0.05)/0.0598 at the crossover). */
    int switched = 0;
    df_rgb prev = df_plot_text_colour_on(df_plot_colormap(0));
    for (int i = 0; i <= 200; i++) {
        df_rgb bg = df_plot_colormap(i / 200.0);
        df_rgb t = df_plot_text_colour_on(bg);
        double ci = df_plot_contrast(bg, ink), cp = df_plot_contrast(bg, paper);
        double got = df_plot_contrast(bg, t);
        assert_true(got >= ci - 1e-12 && got >= cp - 1e-12);
        assert_true(got >= 4.19);
        switched += t.r != prev.r;
        prev = t;
    }
    assert_int_equal(switched, 1); /* dark text on pale cells, white on dark ones, one switch */
    /* the map runs from pale to dark */
    assert_true(df_plot_luminance(df_plot_colormap(0)) > 0.9);
    assert_true(df_plot_luminance(df_plot_colormap(1)) < 0.05);
    assert_true(df_plot_luminance(df_plot_colormap(NAN)) > 0.9);
}

/* Heat-map cells: the label in a dark cell is drawn light, in a pale cell
 * dark. */
static void test_heatmap_text_contrast_in_pixels(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 240, 120, 2, &err), DF_OK);
    const double t[2] = {1.0, 0.05};
    const char *labels[2] = {"88", "88"};
    df_plot_heatmap(&c, 0, 0, 120, 120, 1, 2, t, labels, NULL, 40, 0);
    df_png png;
    assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
    df_plot_canvas_destroy(&c);
    cairo_surface_t *s = decode_png(&png);
    int light_in_dark = 0, dark_in_light = 0;
    for (int y = 60; y < 180; y++)
        for (int x = 60; x < 180; x++) {
            int p[3];
            pixel(s, x, y, p);
            light_in_dark += p[0] > 230 && p[1] > 230 && p[2] > 230;
            pixel(s, x + 240, y, p);
            dark_in_light += p[0] < 60 && p[1] < 60 && p[2] < 60;
        }
    assert_true(light_in_dark > 300);
    assert_true(dark_in_light > 300);
    cairo_surface_destroy(s);
    df_png_free(&png);
}

/* ---- text ---- */

static void test_text_pixels_and_title_region(void **state) {
    (void)state;
    for (int with_text = 0; with_text < 2; with_text++) {
        df_plot_canvas c;
        df_error err;
        assert_int_equal(df_plot_canvas_create(&c, 300, 100, 2, &err), DF_OK);
        df_plot_text(&c, 10, 25, with_text ? "Title Hg" : "", font(18, 1, 0x111827), DF_PLOT_LEFT,
                     DF_PLOT_MIDDLE, 0);
        df_png png;
        assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
        df_plot_canvas_destroy(&c);
        cairo_surface_t *s = decode_png(&png);
        int n = dark_pixels(s, 0, 0, 600, 100);
        if (with_text)
            assert_true(n > 200);
        else
            assert_int_equal(n, 0);
        /* nothing is drawn below the text band */
        assert_int_equal(dark_pixels(s, 0, 100, 600, 200), 0);
        cairo_surface_destroy(s);
        df_png_free(&png);
    }
}

static void test_text_width_and_ellipsize(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 100, 100, 1, &err), DF_OK);
    df_plot_font f = font(12, 0, 0);
    double w1 = df_plot_text_width(&c, "abc", f), w2 = df_plot_text_width(&c, "abcabc", f);
    assert_true(w1 > 10 && w1 < 40);
    assert_true(fabs(w2 - 2 * w1) < 0.5); /* no hinting: widths add up */
    char *s = df_plot_ellipsize(&c, "short", f, 200);
    assert_string_equal(s, "short");
    free(s);
    const char *longname = "005d3a4d-b8cc-4f14-a288-8065ab797974.jpg";
    s = df_plot_ellipsize(&c, longname, f, 120);
    assert_true(df_plot_text_width(&c, s, f) <= 120);
    size_t n = strlen(s);
    assert_true(n > 6 && strcmp(s + n - 3, "\xE2\x80\xA6") == 0);
    assert_memory_equal(s, longname, n - 3); /* a prefix of the original */
    free(s);
    /* invalid UTF-8 is shown, escaped, not dropped */
    s = df_plot_ellipsize(&c, "caf\xE9", f, 500);
    assert_string_equal(s, "caf\\xE9");
    free(s);
    /* an impossible width still gives a valid string: just the ellipsis */
    s = df_plot_ellipsize(&c, "abcdef", f, 1);
    assert_string_equal(s, "\xE2\x80\xA6");
    free(s);
    assert_int_equal(df_plot_canvas_check(&c, &err), DF_OK);
    df_plot_canvas_destroy(&c);
}

/* ---- images ---- */

static df_image make_image(int w, int h) {
    df_image im = {w, h, malloc((size_t)w * h * 3)};
    assert_non_null(im.pixels);
    return im;
}

static void test_image_aspect_kept(void **state) {
    (void)state;
    /* 400x300: red left half, blue right half */
    df_image im = make_image(400, 300);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 400; x++) {
            uint8_t *p = im.pixels + ((size_t)y * 400 + x) * 3;
            p[0] = x < 200 ? 255 : 0;
            p[1] = 0;
            p[2] = x < 200 ? 0 : 255;
        }
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 200, 200, 2, &err), DF_OK);
    double r[4];
    df_plot_image(&c, &im, 0, 0, 200, 200, 0, r);
    assert_true(fabs(r[0]) < 1e-9 && fabs(r[1] - 25) < 1e-9);
    assert_true(fabs(r[2] - 200) < 1e-9 && fabs(r[3] - 150) < 1e-9);
    df_png png;
    assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
    df_plot_canvas_destroy(&c);
    cairo_surface_t *s = decode_png(&png);
    int p[3];
    pixel(s, 100, 200, p);
    assert_true(p[0] > 250 && p[2] < 5);
    pixel(s, 300, 200, p);
    assert_true(p[2] > 250 && p[0] < 5);
    pixel(s, 200, 20, p); /* letterbox above the image stays background */
    assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
    pixel(s, 200, 380, p);
    assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
    cairo_surface_destroy(s);
    df_png_free(&png);
    free(im.pixels);
}

/* A 1-pixel black/white checkerboard shrunk 40x must come out grey: a
 * nearest-neighbour shrink would give pure black or white (aliasing). */
static void test_image_downscale_filters(void **state) {
    (void)state;
    df_image im = make_image(4000, 4000);
    for (int y = 0; y < 4000; y++)
        for (int x = 0; x < 4000; x++) memset(im.pixels + ((size_t)y * 4000 + x) * 3, ((x + y) & 1) ? 255 : 0, 3);
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 50, 50, 2, &err), DF_OK);
    df_plot_image(&c, &im, 0, 0, 50, 50, 0, NULL);
    df_png png;
    assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
    df_plot_canvas_destroy(&c);
    cairo_surface_t *s = decode_png(&png);
    for (int y = 5; y < 95; y += 9)
        for (int x = 5; x < 95; x += 9) {
            int p[3];
            pixel(s, x, y, p);
            assert_true(p[0] > 110 && p[0] < 145);
        }
    cairo_surface_destroy(s);
    df_png_free(&png);
    free(im.pixels);
}

static void test_invalid_image_draws_placeholder(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 100, 100, 1, &err), DF_OK);
    df_image bad = {0, 10, NULL};
    df_plot_image(&c, &bad, 0, 0, 100, 100, 4, NULL);
    df_plot_image(&c, NULL, 0, 0, 100, 100, 4, NULL);
    assert_int_equal(df_plot_canvas_check(&c, &err), DF_OK);
    df_plot_canvas_destroy(&c);
}

/* ---- canvas errors ---- */

static void test_canvas_limits(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 100, 100, 0, &err), DF_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "scale"));
    assert_int_equal(df_plot_canvas_create(&c, 10000, 100, 2, &err), DF_ERR_TOO_LARGE);
    assert_non_null(strstr(err.message, "20000x200"));
    assert_int_equal(df_plot_canvas_create(&c, 0, 100, 1, &err), DF_ERR_INVALID_ARG);
    df_plot_canvas_destroy(&c); /* safe on the zeroed canvas a failure leaves */
    df_plot_canvas_destroy(NULL);
}

static void test_png_write_file_atomic(void **state) {
    (void)state;
    df_plot_canvas c;
    df_error err;
    assert_int_equal(df_plot_canvas_create(&c, 40, 30, 1.5, &err), DF_OK);
    df_png png;
    assert_int_equal(df_plot_canvas_png(&c, &png, &err), DF_OK);
    assert_int_equal(png.width, 60);
    assert_int_equal(png.height, 45);
    df_plot_canvas_destroy(&c);
    char dir[] = "/tmp/df-plot-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/a.png", dir);
    assert_int_equal(df_png_write_file(&png, path, &err), DF_OK);
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(s), 60);
    cairo_surface_destroy(s);
    snprintf(path, sizeof path, "%s/missing/a.png", dir);
    assert_int_equal(df_png_write_file(&png, path, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, "missing/a.png"));
    df_png_free(&png);
    df_png_free(&png); /* idempotent */
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

/* ---- text helpers ---- */

static char *clean(const char *s) {
    char *r = df_report_utf8_clean(s);
    assert_non_null(r);
    return r;
}

static void test_utf8_clean(void **state) {
    (void)state;
    const struct {
        const char *in, *out;
    } cases[] = {
        {"tops", "tops"},
        {"caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x91\x95", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x91\x95"},
        {"caf\xE9.jpg", "caf\\xE9.jpg"},            /* Latin-1 byte */
        {"\xC0\x80", "\\xC0\\x80"},                 /* overlong NUL */
        {"\xED\xA0\x80", "\\xED\\xA0\\x80"},        /* surrogate */
        {"\xF4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"}, /* > U+10FFFF */
        {"a\xE2\x82", "a\\xE2\\x82"},               /* truncated at the end */
        {"\x01tab\there\nnl\x7F", "\\x01tab\there\nnl\\x7F"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *r = clean(cases[i].in);
        assert_string_equal(r, cases[i].out);
        free(r);
    }
    char *r = clean(NULL);
    assert_string_equal(r, "");
    free(r);
    r = clean(""); /* empty in, empty (not NULL) out */
    assert_string_equal(r, "");
    free(r);
}

static void test_html_escape(void **state) {
    (void)state;
    df_report_buf b;
    df_report_buf_init(&b);
    df_report_buf_html(&b, "<script>\"a\" & 'b'</script> \xFF");
    assert_false(b.failed);
    assert_string_equal(b.data, "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt; \\xFF");
    df_report_buf_free(&b);
}

static void test_base64_rfc4648(void **state) {
    (void)state;
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        df_report_buf b;
        df_report_buf_init(&b);
        df_report_buf_base64(&b, (const uint8_t *)in[i], strlen(in[i]));
        df_report_buf_puts(&b, "");
        assert_string_equal(b.data ? b.data : "", out[i]);
        df_report_buf_free(&b);
    }
    /* all byte values survive: the alphabet's last two characters appear */
    uint8_t all[3] = {0xFB, 0xFF, 0xBF};
    df_report_buf b;
    df_report_buf_init(&b);
    df_report_buf_base64(&b, all, 3);
    assert_string_equal(b.data, "+/+/");
    df_report_buf_free(&b);
}

static void test_format_count(void **state) {
    (void)state;
    char b[32];
    const int64_t v[] = {0, 999, 1000, 14714688, -1234567, INT64_MAX};
    const char *w[] = {"0", "999", "1,000", "14,714,688", "-1,234,567", "9,223,372,036,854,775,807"};
    for (int i = 0; i < 6; i++) {
        df_report_format_count(v[i], b, sizeof b);
        assert_string_equal(b, w[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nice_step),
        cmocka_unit_test(test_ticks_ranges),
        cmocka_unit_test(test_tick_format),
        cmocka_unit_test(test_data_to_pixel_mapping),
        cmocka_unit_test(test_series_land_where_mapped),
        cmocka_unit_test(test_contrast_choice),
        cmocka_unit_test(test_heatmap_text_contrast_in_pixels),
        cmocka_unit_test(test_text_pixels_and_title_region),
        cmocka_unit_test(test_text_width_and_ellipsize),
        cmocka_unit_test(test_image_aspect_kept),
        cmocka_unit_test(test_image_downscale_filters),
        cmocka_unit_test(test_invalid_image_draws_placeholder),
        cmocka_unit_test(test_canvas_limits),
        cmocka_unit_test(test_png_write_file_atomic),
        cmocka_unit_test(test_canvas_png_is_cairos_pixels),
        cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_base64_rfc4648),
        cmocka_unit_test(test_format_count),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    cairo_debug_reset_static_data(); /* drop cairo's font caches for LeakSanitizer */
    return failed;
}
