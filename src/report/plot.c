/* Plotting primitives over cairo (see plot.h). */
#include "report/plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "image/image.h"
#include "report/text.h"

#define FONT_FAMILY "DejaVu Sans"

/* Muted greys for chart furniture (Tailwind's "gray" scale). */
#define GRID_MAJOR 0xE5E7EBu
#define GRID_MINOR 0xF1F2F4u
#define AXIS_LINE 0x9CA3AFu
#define TICK_TEXT 0x6B7280u
#define LABEL_TEXT 0x374151u

df_rgb df_plot_hex(uint32_t rgb) {
    df_rgb c = {((rgb >> 16) & 0xFF) / 255.0, ((rgb >> 8) & 0xFF) / 255.0, (rgb & 0xFF) / 255.0};
    return c;
}

static double srgb_to_linear(double v) {
    return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

double df_plot_luminance(df_rgb c) {
    return 0.2126 * srgb_to_linear(c.r) + 0.7152 * srgb_to_linear(c.g) +
           0.0722 * srgb_to_linear(c.b);
}

double df_plot_contrast(df_rgb a, df_rgb b) {
    double la = df_plot_luminance(a), lb = df_plot_luminance(b);
    if (la < lb) {
        double t = la;
        la = lb;
        lb = t;
    }
    return (la + 0.05) / (lb + 0.05);
}

df_rgb df_plot_text_colour_on(df_rgb bg) {
    df_rgb ink = df_plot_hex(DF_PLOT_INK), paper = df_plot_hex(DF_PLOT_PAPER);
    return df_plot_contrast(bg, ink) >= df_plot_contrast(bg, paper) ? ink : paper;
}

static const uint32_t BLUES[9] = {0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6,
                                  0x4292C6, 0x2171B5, 0x08519C, 0x08306B};

df_rgb df_plot_colormap(double t) {
    if (!(t > 0)) t = 0; /* also catches NaN */
    if (t > 1) t = 1;
    double p = t * 8.0;
    int i = (int)floor(p);
    if (i >= 8) return df_plot_hex(BLUES[8]);
    double f = p - i;
    df_rgb a = df_plot_hex(BLUES[i]), b = df_plot_hex(BLUES[i + 1]);
    df_rgb c = {a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
    return c;
}

/* ---- canvas ---- */

static void canvas_fail(df_plot_canvas *c, df_status st, const char *what) {
    if (c->status != DF_OK) return;
    c->status = st;
    snprintf(c->message, sizeof c->message, "%s", what);
}

static void set_colour(df_plot_canvas *c, df_rgb col) {
    cairo_set_source_rgb(c->cr, col.r, col.g, col.b);
}

df_status df_plot_canvas_create(df_plot_canvas *c, double width, double height, double scale,
                                df_error *err) {
    memset(c, 0, sizeof *c);
    if (!(scale >= 0.25 && scale <= 8.0))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "figure scale %g is out of range (expected 0.25 .. 8)", scale);
    if (!(width >= 1 && height >= 1))
        return df_error_set(err, DF_ERR_INVALID_ARG, "figure size %gx%g is empty", width, height);
    double pw = ceil(width * scale), ph = ceil(height * scale);
    if (pw > 16384 || ph > 16384)
        return df_error_set(err, DF_ERR_TOO_LARGE,
                            "figure would be %.0fx%.0f pixels (limit 16384 a side)", pw, ph);
    c->width = width;
    c->height = height;
    c->scale = scale;
    c->px_width = (int)pw;
    c->px_height = (int)ph;
    c->surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, c->px_width, c->px_height);
    if (cairo_surface_status(c->surface) != CAIRO_STATUS_SUCCESS) goto fail;
    c->cr = cairo_create(c->surface);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) goto fail;
    cairo_set_source_rgb(c->cr, 1, 1, 1);
    cairo_paint(c->cr);
    cairo_scale(c->cr, scale, scale);
    /* Grey antialiasing (PNG viewers do not know the subpixel order) and no
     * metric hinting, so text widths scale exactly with the device scale. */
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_SLIGHT);
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_set_font_options(c->cr, fo);
    cairo_font_options_destroy(fo);
    cairo_set_line_join(c->cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(c->cr, CAIRO_LINE_CAP_ROUND);
    if (cairo_status(c->cr) != CAIRO_STATUS_SUCCESS) goto fail;
    return DF_OK;
fail:;
    const char *why = c->cr ? cairo_status_to_string(cairo_status(c->cr))
                            : cairo_status_to_string(cairo_surface_status(c->surface));
    df_status st = df_error_set(err, DF_ERR_BACKEND, "cannot create a %dx%d figure: %s",
                                c->px_width, c->px_height, why);
    df_plot_canvas_destroy(c);
    return st;
}

void df_plot_canvas_destroy(df_plot_canvas *c) {
    if (!c) return;
    if (c->cr) cairo_destroy(c->cr);
    if (c->surface) cairo_surface_destroy(c->surface);
    c->cr = NULL;
    c->surface = NULL;
}

df_status df_plot_canvas_check(df_plot_canvas *c, df_error *err) {
    if (c->status == DF_OK && c->cr && cairo_status(c->cr) != CAIRO_STATUS_SUCCESS)
        canvas_fail(c, DF_ERR_BACKEND, cairo_status_to_string(cairo_status(c->cr)));
    if (c->status == DF_OK && c->surface &&
        cairo_surface_status(c->surface) != CAIRO_STATUS_SUCCESS)
        canvas_fail(c, DF_ERR_BACKEND, cairo_status_to_string(cairo_surface_status(c->surface)));
    if (c->status != DF_OK)
        return df_error_set(err, c->status, "drawing a figure failed: %s", c->message);
    return DF_OK;
}

void df_png_free(df_png *p) {
    if (!p) return;
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* cairo's own PNG writer compresses at zlib's default level, 6: in a
 * training report the two photo figures (1920x2472 and 2044x1356 pixels at
 * scale 2) took 1.1 s of it, more than training the closet's head. Encoded
 * here at level 3 with libpng's adaptive filters instead: on the gallery
 * 0.67 -> 0.29 s for 8% more bytes (level 1: 0.23 s, 14% more). The canvas
 * is painted white before anything is drawn, so every pixel is opaque and
 * its RGB is the whole picture (a pixel that were not would be composited
 * onto white: premultiplied colour plus what alpha leaves). */
enum { FIGURE_PNG_LEVEL = 3 };

df_status df_plot_canvas_png(df_plot_canvas *c, df_png *out, df_error *err) {
    memset(out, 0, sizeof *out);
    df_status st = df_plot_canvas_check(c, err);
    if (st != DF_OK) return st;
    cairo_surface_flush(c->surface);
    const int w = c->px_width, h = c->px_height, stride = cairo_image_surface_get_stride(c->surface);
    const unsigned char *src = cairo_image_surface_get_data(c->surface);
    df_image rgb = {0};
    if (!src) return df_error_set(err, DF_ERR_BACKEND, "a %dx%d figure has no pixels", w, h);
    if (df_image_alloc(&rgb, w, h, err) != DF_OK) return df_error_prefix(err, "encoding a %dx%d figure", w, h);
    for (int y = 0; y < h; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(src + (size_t)y * (size_t)stride);
        uint8_t *o = rgb.pixels + (size_t)y * (size_t)w * 3;
        for (int x = 0; x < w; x++) {
            const uint32_t p = row[x], clear = 255 - (p >> 24);
            o[3 * x] = (uint8_t)(((p >> 16) & 255) + clear);
            o[3 * x + 1] = (uint8_t)(((p >> 8) & 255) + clear);
            o[3 * x + 2] = (uint8_t)((p & 255) + clear);
        }
    }
    uint8_t *data = NULL;
    size_t size = 0;
    st = df_image_encode_png_level(&rgb, FIGURE_PNG_LEVEL, &data, &size, err);
    df_image_free(&rgb);
    if (st != DF_OK) return df_error_prefix(err, "encoding a %dx%d figure as PNG", w, h);
    out->data = data;
    out->size = size;
    out->width = w;
    out->height = h;
    out->scale = c->scale;
    return DF_OK;
}

df_status df_png_write_file(const df_png *png, const char *path, df_error *err) {
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st != DF_OK) return st;
    if (png->size && fwrite(png->data, 1, png->size, af.fp) != png->size) {
        df_atomic_abort(&af);
        return df_error_set(err, DF_ERR_IO, "%s: write failed", path);
    }
    return df_atomic_commit(&af, err);
}

/* ---- ticks ---- */

double df_plot_nice_step(double raw) {
    if (!(raw > 0) || !isfinite(raw)) return 1.0;
    double e = floor(log10(raw));
    double p = pow(10.0, e);
    double f = raw / p;
    /* A relative slack so that 0.2 (really 0.2000000000000000111) maps to 2,
     * not 5. */
    double nice = f <= 1.0 + 1e-9 ? 1.0 : f <= 2.0 + 1e-9 ? 2.0 : f <= 5.0 + 1e-9 ? 5.0 : 10.0;
    return nice * p;
}

void df_plot_ticks_make(double lo, double hi, int target, double min_step, df_plot_ticks *out) {
    memset(out, 0, sizeof *out);
    if (!isfinite(lo) || !isfinite(hi)) {
        lo = 0;
        hi = 1;
    }
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    double mag = fmax(fabs(lo), fabs(hi));
    if (hi - lo <= 1e-12 * fmax(1.0, mag)) {
        double d = mag > 0 ? mag * 0.1 : 1.0;
        lo -= d;
        hi += d;
    }
    if (target < 1) target = 1;
    double step = df_plot_nice_step((hi - lo) / target);
    if (min_step > 0 && step < min_step) step = min_step;
    for (;;) {
        /* Ticks are integer multiples of step, computed from the integer, so
         * no error accumulates across the axis. */
        double k0 = ceil(lo / step - 1e-9), k1 = floor(hi / step + 1e-9);
        if (k1 - k0 + 1 <= DF_PLOT_MAX_TICKS) {
            int n = 0;
            for (double k = k0; k <= k1; k++) {
                double v = k * step;
                if (fabs(v) < step * 1e-9) v = 0.0; /* no "-0" */
                out->values[n++] = v;
            }
            out->count = n;
            break;
        }
        step = df_plot_nice_step(step * 1.5);
    }
    out->step = step;
    int d = (int)-floor(log10(step) + 1e-9);
    out->decimals = d > 0 ? d : 0;
}

void df_plot_format_tick(double v, int decimals, df_plot_tick_format fmt, char *out, size_t n) {
    if (fmt == DF_PLOT_TICK_PERCENT) {
        int d = decimals - 2;
        if (d < 0) d = 0;
        double p = v * 100.0;
        if (fabs(p) < 1e-9) p = 0.0;
        snprintf(out, n, "%.*f%%", d, p);
    } else {
        snprintf(out, n, "%.*f", decimals, v);
    }
}

/* ---- axes ---- */

void df_plot_axes_setup(df_plot_axes *ax, double x, double y, double w, double h, double x_lo,
                        double x_hi, double y_lo, double y_hi, int x_integer,
                        df_plot_tick_format y_format) {
    memset(ax, 0, sizeof *ax);
    ax->x = x;
    ax->y = y;
    ax->w = w;
    ax->h = h;
    if (!(x_hi > x_lo)) {
        x_lo -= 0.5;
        x_hi = x_lo + 1.0;
    }
    if (!(y_hi > y_lo)) {
        y_lo -= 0.5;
        y_hi = y_lo + 1.0;
    }
    ax->x_lo = x_lo;
    ax->x_hi = x_hi;
    ax->y_lo = y_lo;
    ax->y_hi = y_hi;
    ax->y_format = y_format;
    int xt = (int)(w / 70.0);
    int yt = (int)(h / 45.0);
    df_plot_ticks_make(x_lo, x_hi, xt < 2 ? 2 : xt, x_integer ? 1.0 : 0.0, &ax->xt);
    df_plot_ticks_make(y_lo, y_hi, yt < 2 ? 2 : yt, 0.0, &ax->yt);
}

double df_plot_map_x(const df_plot_axes *ax, double v) {
    return ax->x + (v - ax->x_lo) / (ax->x_hi - ax->x_lo) * ax->w;
}

double df_plot_map_y(const df_plot_axes *ax, double v) {
    return ax->y + ax->h - (v - ax->y_lo) / (ax->y_hi - ax->y_lo) * ax->h;
}

/* Moves a coordinate so that a line of width lw (logical) lands on whole
 * device pixels: crisp 1-unit lines at any scale. */
static double snap(const df_plot_canvas *c, double v, double lw) {
    double px = lw * c->scale;
    long wpx = lround(px);
    double dv = v * c->scale;
    double s = (wpx % 2) ? floor(dv) + 0.5 : round(dv);
    return s / c->scale;
}

static df_plot_font font(double size, int bold, uint32_t colour) {
    df_plot_font f = {size, bold, df_plot_hex(colour)};
    return f;
}

void df_plot_axes_draw(df_plot_canvas *c, const df_plot_axes *ax, const char *x_label,
                       const char *y_label) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    cairo_set_line_width(cr, 1.0);
    set_colour(c, df_plot_hex(GRID_MINOR));
    for (int i = 0; i < ax->xt.count; i++) {
        double px = snap(c, df_plot_map_x(ax, ax->xt.values[i]), 1.0);
        cairo_move_to(cr, px, ax->y);
        cairo_line_to(cr, px, ax->y + ax->h);
    }
    cairo_stroke(cr);
    set_colour(c, df_plot_hex(GRID_MAJOR));
    for (int i = 0; i < ax->yt.count; i++) {
        double py = snap(c, df_plot_map_y(ax, ax->yt.values[i]), 1.0);
        cairo_move_to(cr, ax->x, py);
        cairo_line_to(cr, ax->x + ax->w, py);
    }
    cairo_stroke(cr);
    set_colour(c, df_plot_hex(AXIS_LINE));
    double base = snap(c, ax->y + ax->h, 1.0);
    cairo_move_to(cr, ax->x, base);
    cairo_line_to(cr, ax->x + ax->w, base);
    for (int i = 0; i < ax->xt.count; i++) {
        double px = snap(c, df_plot_map_x(ax, ax->xt.values[i]), 1.0);
        cairo_move_to(cr, px, base);
        cairo_line_to(cr, px, base + 5);
    }
    cairo_stroke(cr);
    cairo_restore(cr);

    df_plot_font tf = font(12.5, 0, TICK_TEXT);
    char buf[64];
    for (int i = 0; i < ax->xt.count; i++) {
        df_plot_format_tick(ax->xt.values[i], ax->xt.decimals, DF_PLOT_TICK_NUMBER, buf,
                            sizeof buf);
        df_plot_text(c, df_plot_map_x(ax, ax->xt.values[i]), base + 9, buf, tf, DF_PLOT_CENTER,
                     DF_PLOT_TOP, 0);
    }
    double widest = 0;
    for (int i = 0; i < ax->yt.count; i++) {
        df_plot_format_tick(ax->yt.values[i], ax->yt.decimals, ax->y_format, buf, sizeof buf);
        double w = df_plot_text_width(c, buf, tf);
        if (w > widest) widest = w;
        df_plot_text(c, ax->x - 8, df_plot_map_y(ax, ax->yt.values[i]), buf, tf, DF_PLOT_RIGHT,
                     DF_PLOT_MIDDLE, 0);
    }
    df_plot_font lf = font(13.5, 0, LABEL_TEXT);
    if (x_label && *x_label)
        df_plot_text(c, ax->x + ax->w / 2, base + 30, x_label, lf, DF_PLOT_CENTER, DF_PLOT_TOP,
                     0);
    if (y_label && *y_label)
        df_plot_text(c, ax->x - 8 - widest - 12, ax->y + ax->h / 2, y_label, lf, DF_PLOT_CENTER,
                     DF_PLOT_BASELINE, M_PI / 2);
}

/* ---- series ---- */

void df_plot_line(df_plot_canvas *c, const df_plot_axes *ax, const double *xs, const double *ys,
                  int n, df_rgb colour, double width) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_new_path(cr);
    int pen_down = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) {
            pen_down = 0;
            continue;
        }
        double px = df_plot_map_x(ax, xs[i]), py = df_plot_map_y(ax, ys[i]);
        if (pen_down)
            cairo_line_to(cr, px, py);
        else
            cairo_move_to(cr, px, py);
        pen_down = 1;
    }
    set_colour(c, colour);
    cairo_set_line_width(cr, width);
    cairo_stroke(cr);
    cairo_restore(cr);
}

void df_plot_dots(df_plot_canvas *c, const df_plot_axes *ax, const double *xs, const double *ys,
                  int n, df_rgb colour, double radius) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    for (int i = 0; i < n; i++) {
        if (!isfinite(xs[i]) || !isfinite(ys[i])) continue;
        double px = df_plot_map_x(ax, xs[i]), py = df_plot_map_y(ax, ys[i]);
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, radius, 0, 2 * M_PI);
        /* A white halo keeps overlapping dots and the line apart. */
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_set_line_width(cr, 1.2);
        cairo_stroke_preserve(cr);
        set_colour(c, colour);
        cairo_fill(cr);
    }
    cairo_restore(cr);
}

void df_plot_ring(df_plot_canvas *c, const df_plot_axes *ax, double x, double y, df_rgb colour,
                  double radius) {
    if (!isfinite(x) || !isfinite(y)) return;
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_new_path(cr);
    cairo_arc(cr, df_plot_map_x(ax, x), df_plot_map_y(ax, y), radius, 0, 2 * M_PI);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill_preserve(cr);
    set_colour(c, colour);
    cairo_set_line_width(cr, 2.2);
    cairo_stroke(cr);
    cairo_restore(cr);
}

void df_plot_vmarker(df_plot_canvas *c, const df_plot_axes *ax, double x, df_rgb colour,
                     const char *label) {
    if (!isfinite(x)) return;
    cairo_t *cr = c->cr;
    double px = snap(c, df_plot_map_x(ax, x), 1.25);
    cairo_save(cr);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    const double dash[2] = {5, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, 1.25);
    set_colour(c, colour);
    cairo_move_to(cr, px, ax->y - 6);
    cairo_line_to(cr, px, ax->y + ax->h);
    cairo_stroke(cr);
    cairo_restore(cr);
    if (!label || !*label) return;
    /* The label sits above the plot area, where no data can be, centred on
     * the line and pushed inwards at the edges. */
    df_plot_font f = font(12, 1, 0);
    f.colour = colour;
    double tw = df_plot_text_width(c, label, f);
    double lx = px - tw / 2;
    if (lx + tw > ax->x + ax->w) lx = ax->x + ax->w - tw;
    if (lx < ax->x) lx = ax->x;
    df_plot_text(c, lx, ax->y - 12, label, f, DF_PLOT_LEFT, DF_PLOT_BASELINE, 0);
}

double df_plot_legend_row(df_plot_canvas *c, double x, double y,
                          const df_plot_legend_entry *entries, int n) {
    cairo_t *cr = c->cr;
    df_plot_font f = font(13, 0, LABEL_TEXT);
    double cx = x;
    for (int i = 0; i < n; i++) {
        const df_plot_legend_entry *e = &entries[i];
        cairo_save(cr);
        set_colour(c, e->colour);
        cairo_new_path(cr);
        double sym_w;
        switch (e->kind) {
        case DF_PLOT_LEGEND_DOT:
            cairo_arc(cr, cx + 5, y, 4.2, 0, 2 * M_PI);
            cairo_fill(cr);
            sym_w = 10;
            break;
        case DF_PLOT_LEGEND_LINE:
            cairo_set_line_width(cr, 2.4);
            cairo_move_to(cr, cx, y);
            cairo_line_to(cr, cx + 20, y);
            cairo_stroke(cr);
            sym_w = 20;
            break;
        default: {
            const double dash[2] = {4, 3};
            cairo_set_dash(cr, dash, 2, 0);
            cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
            cairo_set_line_width(cr, 1.4);
            cairo_move_to(cr, cx + 10, y - 7);
            cairo_line_to(cr, cx + 10, y + 7);
            cairo_stroke(cr);
            sym_w = 20;
            break;
        }
        }
        cairo_restore(cr);
        cx += sym_w + 7;
        df_plot_text(c, cx, y, e->label, f, DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);
        cx += df_plot_text_width(c, e->label, f) + 22;
    }
    return n > 0 ? cx - 22 - x : 0;
}

/* ---- text ---- */

static void select_font(df_plot_canvas *c, df_plot_font f) {
    cairo_select_font_face(c->cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL,
                           f.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(c->cr, f.size);
}

/* Height of capital letters for the current font: what the eye aligns to. */
static double cap_height(df_plot_canvas *c) {
    cairo_text_extents_t te;
    cairo_text_extents(c->cr, "H", &te);
    return -te.y_bearing;
}

double df_plot_text_width(df_plot_canvas *c, const char *text, df_plot_font f) {
    char *s = df_report_utf8_clean(text);
    if (!s) {
        canvas_fail(c, DF_ERR_NOMEM, "out of memory");
        return 0;
    }
    select_font(c, f);
    cairo_text_extents_t te;
    cairo_text_extents(c->cr, s, &te);
    free(s);
    return te.x_advance;
}

void df_plot_text(df_plot_canvas *c, double x, double y, const char *text, df_plot_font f,
                  df_plot_halign ha, df_plot_valign va, double angle) {
    if (!text || !*text) return;
    char *s = df_report_utf8_clean(text);
    if (!s) {
        canvas_fail(c, DF_ERR_NOMEM, "out of memory");
        return;
    }
    cairo_t *cr = c->cr;
    cairo_save(cr);
    select_font(c, f);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    double dx = ha == DF_PLOT_LEFT ? 0 : ha == DF_PLOT_CENTER ? -te.x_advance / 2 : -te.x_advance;
    double capk = cap_height(c);
    double dy = va == DF_PLOT_BASELINE ? 0 : va == DF_PLOT_MIDDLE ? capk / 2 : capk;
    cairo_translate(cr, x, y);
    if (angle != 0) cairo_rotate(cr, -angle);
    cairo_move_to(cr, dx, dy);
    set_colour(c, f.colour);
    cairo_show_text(cr, s);
    cairo_restore(cr);
    free(s);
}

/* Byte length of the prefix made of the first k code points of a valid
 * UTF-8 string. */
static size_t utf8_prefix_bytes(const char *s, size_t k) {
    size_t i = 0;
    while (s[i] && k > 0) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}

char *df_plot_ellipsize(df_plot_canvas *c, const char *text, df_plot_font f, double max_width) {
    char *s = df_report_utf8_clean(text);
    if (!s) {
        canvas_fail(c, DF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (df_plot_text_width(c, s, f) <= max_width) return s;
    size_t cps = 0;
    for (const char *p = s; *p; p++) cps += ((unsigned char)*p & 0xC0) != 0x80;
    size_t len = strlen(s);
    char *tmp = malloc(len + 4);
    if (!tmp) {
        free(s);
        canvas_fail(c, DF_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* Binary search on the number of code points kept before the ellipsis. */
    size_t lo = 0, hi = cps;
    while (lo < hi) {
        size_t mid = (lo + hi + 1) / 2;
        size_t nb = utf8_prefix_bytes(s, mid);
        memcpy(tmp, s, nb);
        memcpy(tmp + nb, "\xE2\x80\xA6", 4);
        if (df_plot_text_width(c, tmp, f) <= max_width)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t nb = utf8_prefix_bytes(s, lo);
    memcpy(tmp, s, nb);
    memcpy(tmp + nb, "\xE2\x80\xA6", 4);
    free(s);
    return tmp;
}

/* ---- shapes, heat map ---- */

void df_plot_rounded_rect(df_plot_canvas *c, double x, double y, double w, double h, double r) {
    cairo_t *cr = c->cr;
    if (r > w / 2) r = w / 2;
    if (r > h / 2) r = h / 2;
    cairo_new_sub_path(cr);
    if (r <= 0) {
        cairo_rectangle(cr, x, y, w, h);
        return;
    }
    cairo_arc(cr, x + w - r, y + r, r, -M_PI / 2, 0);
    cairo_arc(cr, x + w - r, y + h - r, r, 0, M_PI / 2);
    cairo_arc(cr, x + r, y + h - r, r, M_PI / 2, M_PI);
    cairo_arc(cr, x + r, y + r, r, M_PI, 3 * M_PI / 2);
    cairo_close_path(cr);
}

void df_plot_fill_rect(df_plot_canvas *c, double x, double y, double w, double h, double r,
                       df_rgb colour) {
    cairo_save(c->cr);
    cairo_new_path(c->cr);
    df_plot_rounded_rect(c, x, y, w, h, r);
    set_colour(c, colour);
    cairo_fill(c->cr);
    cairo_restore(c->cr);
}

void df_plot_heatmap(df_plot_canvas *c, double x, double y, double cell_w, double cell_h,
                     int rows, int cols, const double *t, const char *const *labels,
                     const char *const *sublabels, double font_size, double gap) {
    df_plot_font f = font(font_size, 1, DF_PLOT_INK);
    df_plot_font sf = font(fmax(9.5, font_size * 0.55), 0, DF_PLOT_INK);
    for (int i = 0; i < rows; i++) {
        for (int j = 0; j < cols; j++) {
            size_t k = (size_t)i * cols + j;
            df_rgb bg = df_plot_colormap(t[k]);
            double cx = x + j * cell_w, cy = y + i * cell_h;
            df_plot_fill_rect(c, cx + gap / 2, cy + gap / 2, cell_w - gap, cell_h - gap, 3, bg);
            /* Empty cells (t == 0) get quieter text so the eye goes to the
             * cells that hold something; still 4.6:1 on the palest colour. */
            df_rgb ink = t[k] > 0 ? df_plot_text_colour_on(bg) : df_plot_hex(TICK_TEXT);
            const char *lab = labels ? labels[k] : NULL;
            const char *sub = sublabels ? sublabels[k] : NULL;
            double my = cy + cell_h / 2;
            if (sub && *sub) my -= sf.size * 0.55;
            if (lab && *lab) {
                f.colour = ink;
                f.bold = t[k] > 0;
                df_plot_text(c, cx + cell_w / 2, my, lab, f, DF_PLOT_CENTER, DF_PLOT_MIDDLE, 0);
            }
            if (sub && *sub) {
                sf.colour = ink;
                df_plot_text(c, cx + cell_w / 2, my + font_size * 0.5 + sf.size * 0.75, sub, sf,
                             DF_PLOT_CENTER, DF_PLOT_MIDDLE, 0);
            }
        }
    }
}

void df_plot_colorbar(df_plot_canvas *c, double x, double y, double w, double h, double lo,
                      double hi, df_plot_tick_format fmt) {
    cairo_t *cr = c->cr;
    cairo_save(cr);
    cairo_pattern_t *pat = cairo_pattern_create_linear(0, y + h, 0, y);
    for (int i = 0; i < 9; i++) {
        df_rgb col = df_plot_hex(BLUES[i]);
        cairo_pattern_add_color_stop_rgb(pat, i / 8.0, col.r, col.g, col.b);
    }
    cairo_new_path(cr);
    df_plot_rounded_rect(c, x, y, w, h, 3);
    cairo_set_source(cr, pat);
    cairo_fill(cr);
    cairo_pattern_destroy(pat);
    cairo_restore(cr);
    if (!(hi > lo)) hi = lo + 1;
    df_plot_ticks ticks;
    int target = (int)(h / 60.0) < 2 ? 2 : (int)(h / 60.0);
    /* Counts are whole numbers: never label a fractional count. */
    df_plot_ticks_make(lo, hi, target, fmt == DF_PLOT_TICK_NUMBER && hi - lo >= 1 ? 1.0 : 0.0,
                       &ticks);
    df_plot_font tf = font(12, 0, TICK_TEXT);
    char buf[64];
    cairo_save(cr);
    cairo_set_line_width(cr, 1);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    set_colour(c, df_plot_hex(AXIS_LINE));
    for (int i = 0; i < ticks.count; i++) {
        double ty = snap(c, y + h - (ticks.values[i] - lo) / (hi - lo) * h, 1.0);
        cairo_move_to(cr, x + w, ty);
        cairo_line_to(cr, x + w + 4, ty);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
    for (int i = 0; i < ticks.count; i++) {
        double ty = y + h - (ticks.values[i] - lo) / (hi - lo) * h;
        df_plot_format_tick(ticks.values[i], ticks.decimals, fmt, buf, sizeof buf);
        df_plot_text(c, x + w + 8, ty, buf, tf, DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);
    }
}

/* ---- images ---- */

/* Copies img into a cairo RGB24 surface, averaging k x k blocks first when
 * the image is far larger than it will be drawn: cairo's GOOD filter is a
 * proper low-pass for moderate reductions, and the box pre-pass keeps a 12 MP
 * photo from costing a 48 MB surface per thumbnail. */
static cairo_surface_t *image_surface(const df_image *img, int k) {
    int w = img->width / k, h = img->height / k;
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
    cairo_surface_flush(s);
    unsigned char *dst = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(dst + (size_t)y * stride);
        for (int x = 0; x < w; x++) {
            unsigned sum[3] = {0, 0, 0}, cnt = 0;
            for (int yy = y * k; yy < y * k + k && yy < img->height; yy++) {
                const uint8_t *p = img->pixels + ((size_t)yy * img->width + (size_t)x * k) * 3;
                for (int xx = 0; xx < k && x * k + xx < img->width; xx++, p += 3) {
                    sum[0] += p[0];
                    sum[1] += p[1];
                    sum[2] += p[2];
                    cnt++;
                }
            }
            uint32_t r = (sum[0] + cnt / 2) / cnt, g = (sum[1] + cnt / 2) / cnt,
                     b = (sum[2] + cnt / 2) / cnt;
            row[x] = 0xFF000000u | r << 16 | g << 8 | b;
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

void df_plot_image(df_plot_canvas *c, const df_image *img, double x, double y, double w,
                   double h, double radius, double out_rect[4]) {
    cairo_t *cr = c->cr;
    int valid = img && img->pixels && img->width > 0 && img->height > 0 &&
                img->width <= 65535 && img->height <= 65535;
    if (!valid) {
        df_plot_fill_rect(c, x, y, w, h, radius, df_plot_hex(0xE5E7EB));
        df_plot_text(c, x + w / 2, y + h / 2, "no image", font(11, 0, TICK_TEXT), DF_PLOT_CENTER,
                     DF_PLOT_MIDDLE, 0);
        if (out_rect) {
            out_rect[0] = x;
            out_rect[1] = y;
            out_rect[2] = w;
            out_rect[3] = h;
        }
        return;
    }
    double s = fmin(w / img->width, h / img->height);
    double dw = img->width * s, dh = img->height * s;
    double dx = x + (w - dw) / 2, dy = y + (h - dh) / 2;
    /* Device pixels per source pixel; pre-average when below 1/2. */
    double dev = s * c->scale;
    int k = dev < 0.5 ? (int)floor(0.5 / dev) : 1;
    if (k < 1) k = 1;
    cairo_surface_t *surf = image_surface(img, k);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        canvas_fail(c, DF_ERR_BACKEND, cairo_status_to_string(cairo_surface_status(surf)));
        cairo_surface_destroy(surf);
        return;
    }
    int sw = cairo_image_surface_get_width(surf), sh = cairo_image_surface_get_height(surf);
    cairo_save(cr);
    cairo_new_path(cr);
    df_plot_rounded_rect(c, dx, dy, dw, dh, radius);
    cairo_clip(cr);
    cairo_translate(cr, dx, dy);
    cairo_scale(cr, dw / sw, dh / sh);
    cairo_set_source_surface(cr, surf, 0, 0);
    cairo_pattern_t *pat = cairo_get_source(cr);
    cairo_pattern_set_filter(pat, CAIRO_FILTER_GOOD);
    cairo_pattern_set_extend(pat, CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(surf);
    if (out_rect) {
        out_rect[0] = dx;
        out_rect[1] = dy;
        out_rect[2] = dw;
        out_rect[3] = dh;
    }
}
