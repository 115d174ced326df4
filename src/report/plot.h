/*
 * A small plotting layer over cairo: a canvas in logical units drawn at a
 * device scale (2 = crisp on HiDPI screens), nice 1-2-5 axis ticks,
 * gridlines, line and dot series, a dashed marker, legends, heat-map cells
 * with contrast-aware labels, a colour bar, anti-aliased text (cairo's toy
 * text API with DejaVu Sans) and df_image drawing with a good downscaling
 * filter. Output is PNG via cairo's own encoder, to memory or atomically to
 * a file.
 *
 * Not a general plotting library: no log axes, no layout engine; callers
 * place things in logical units. Tick choice follows the classic "nice
 * numbers" rule (Heckbert, Graphics Gems I, 1990), as matplotlib's
 * MaxNLocator does with steps (1, 2, 5, 10).
 *
 * Errors: drawing calls return nothing; the first failure (cairo error,
 * allocation failure) is kept in the canvas and reported by
 * df_plot_canvas_png / df_plot_canvas_check, the way cairo itself keeps a
 * sticky status.
 */
#ifndef DF_REPORT_PLOT_H
#define DF_REPORT_PLOT_H

#include <cairo.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "image/image.h"

typedef struct df_rgb {
    double r, g, b; /* 0..1 */
} df_rgb;

/* 0xRRGGBB -> df_rgb. */
df_rgb df_plot_hex(uint32_t rgb);

/* WCAG relative luminance of an sRGB colour (0 black .. 1 white). */
double df_plot_luminance(df_rgb c);
/* WCAG contrast ratio between two colours (1 .. 21). */
double df_plot_contrast(df_rgb a, df_rgb b);

/* The two text colours the plots use on coloured cells. */
#define DF_PLOT_INK 0x111827u   /* near-black */
#define DF_PLOT_PAPER 0xFFFFFFu /* white */
/* The text colour (DF_PLOT_INK or DF_PLOT_PAPER) with the higher contrast
 * against background bg. */
df_rgb df_plot_text_colour_on(df_rgb bg);

/* Sequential colour map for heat maps, t in [0, 1] (clamped; NaN -> 0):
 * ColorBrewer "Blues" (9 classes), linearly interpolated. */
df_rgb df_plot_colormap(double t);

/* ---- canvas ---- */

typedef struct df_plot_canvas {
    cairo_surface_t *surface; /* owned, ARGB32 */
    cairo_t *cr;              /* owned; user space = logical units */
    double width, height;     /* logical size */
    double scale;             /* device pixels per logical unit */
    int px_width, px_height;  /* surface size: ceil(width * scale) ... */
    df_status status;         /* first failure, DF_OK while all is well */
    char message[160];        /* what failed, when status != DF_OK */
} df_plot_canvas;

/* Creates a white canvas of width x height logical units drawn at scale
 * (pixels per unit, 0.25 .. 8). The pixel size must stay <= 16384 a side. */
df_status df_plot_canvas_create(df_plot_canvas *c, double width, double height, double scale,
                                df_error *err) DF_MUST_CHECK;
/* Frees what create made; accepts a zeroed or half-built canvas. */
void df_plot_canvas_destroy(df_plot_canvas *c);
/* DF_OK, or the first drawing failure as a df_error. */
df_status df_plot_canvas_check(df_plot_canvas *c, df_error *err) DF_MUST_CHECK;

/* PNG bytes of a figure. data is malloc'ed and owned by whoever holds it. */
typedef struct df_png {
    uint8_t *data;
    size_t size;
    int width, height; /* pixels */
    double scale;      /* pixels per logical unit it was drawn at */
} df_png;

void df_png_free(df_png *p); /* accepts NULL and a zeroed df_png */
/* Encodes the canvas (cairo_surface_write_to_png_stream). */
df_status df_plot_canvas_png(df_plot_canvas *c, df_png *out, df_error *err) DF_MUST_CHECK;
/* Writes PNG bytes to path atomically (temp file + rename). */
df_status df_png_write_file(const df_png *png, const char *path, df_error *err) DF_MUST_CHECK;

/* ---- ticks and axes ---- */

#define DF_PLOT_MAX_TICKS 64

typedef struct df_plot_ticks {
    int count;
    double step;
    double values[DF_PLOT_MAX_TICKS];
    int decimals; /* digits after the point that show every tick exactly */
} df_plot_ticks;

/* The smallest of 1, 2, 5 x 10^k that is >= raw (raw > 0, finite). */
double df_plot_nice_step(double raw);
/* Ticks at multiples of a nice step inside [lo, hi] (inclusive up to
 * rounding), aiming at about target intervals over the range (target >= 1).
 * min_step > 0 forces a floor (1 for integer axes such as epochs).
 * Degenerate input (lo == hi, NaN, lo > hi) is widened/repaired first. */
void df_plot_ticks_make(double lo, double hi, int target, double min_step, df_plot_ticks *out);

typedef enum df_plot_tick_format {
    DF_PLOT_TICK_NUMBER,  /* 0.25 */
    DF_PLOT_TICK_PERCENT  /* value in [0,1] shown as percent: 0.25 -> "25%" */
} df_plot_tick_format;

/* Formats a tick value with the given decimals (percent: decimals of the
 * 0..1 value, so 0.05 with 2 decimals -> "5%"). */
void df_plot_format_tick(double v, int decimals, df_plot_tick_format fmt, char *out, size_t n);

typedef struct df_plot_axes {
    double x, y, w, h;          /* plot area in logical units (y down) */
    double x_lo, x_hi;          /* data range mapped onto [x, x + w] */
    double y_lo, y_hi;          /* data range mapped onto [y + h, y] */
    df_plot_ticks xt, yt;
    df_plot_tick_format y_format;
} df_plot_axes;

/* Sets up the plot area and data ranges; ticks fall inside the ranges.
 * x_integer: x ticks at whole numbers only (epochs). */
void df_plot_axes_setup(df_plot_axes *ax, double x, double y, double w, double h, double x_lo,
                        double x_hi, double y_lo, double y_hi, int x_integer,
                        df_plot_tick_format y_format);
/* Data -> logical canvas coordinates (linear, no clamping). */
double df_plot_map_x(const df_plot_axes *ax, double v);
double df_plot_map_y(const df_plot_axes *ax, double v);

/* Light gridlines at the ticks, the x baseline, tick labels and the axis
 * labels (either may be NULL). */
void df_plot_axes_draw(df_plot_canvas *c, const df_plot_axes *ax, const char *x_label,
                       const char *y_label);

/* ---- series and marks (data coordinates; NaN points are skipped, and
 * break a line) ---- */

void df_plot_line(df_plot_canvas *c, const df_plot_axes *ax, const double *xs, const double *ys,
                  int n, df_rgb colour, double width);
void df_plot_dots(df_plot_canvas *c, const df_plot_axes *ax, const double *xs, const double *ys,
                  int n, df_rgb colour, double radius);
/* A ring around one data point (to pick out the best epoch). */
void df_plot_ring(df_plot_canvas *c, const df_plot_axes *ax, double x, double y, df_rgb colour,
                  double radius);
/* Vertical dashed line at data x across the plot area, with label (may be
 * NULL) written just above the plot area (keep ~18 units free there),
 * centred on the line and kept within the plot's width. */
void df_plot_vmarker(df_plot_canvas *c, const df_plot_axes *ax, double x, df_rgb colour,
                     const char *label);

typedef enum df_plot_legend_kind {
    DF_PLOT_LEGEND_DOT,
    DF_PLOT_LEGEND_LINE,
    DF_PLOT_LEGEND_DASH
} df_plot_legend_kind;

typedef struct df_plot_legend_entry {
    const char *label;
    df_rgb colour;
    df_plot_legend_kind kind;
} df_plot_legend_entry;

/* A one-row legend starting at (x, y) (y = text middle); returns its width. */
double df_plot_legend_row(df_plot_canvas *c, double x, double y,
                          const df_plot_legend_entry *entries, int n);

/* ---- text ---- */

typedef enum df_plot_halign { DF_PLOT_LEFT, DF_PLOT_CENTER, DF_PLOT_RIGHT } df_plot_halign;
typedef enum df_plot_valign {
    DF_PLOT_BASELINE, /* y is the baseline */
    DF_PLOT_MIDDLE,   /* y is half-way up the capital letters */
    DF_PLOT_TOP       /* y is the top of the capital letters */
} df_plot_valign;

typedef struct df_plot_font {
    double size; /* logical units */
    int bold;
    df_rgb colour;
} df_plot_font;

/* Draws text (any bytes: invalid UTF-8 is shown as \xNN) at (x, y),
 * rotated by angle radians (counter-clockwise positive on screen) about
 * (x, y). */
void df_plot_text(df_plot_canvas *c, double x, double y, const char *text, df_plot_font font,
                  df_plot_halign ha, df_plot_valign va, double angle);
/* Advance width of text in logical units. */
double df_plot_text_width(df_plot_canvas *c, const char *text, df_plot_font font);
/* text shortened with a trailing "…" to fit max_width (malloc'ed, cleaned
 * UTF-8; NULL on allocation failure, which is also kept in the canvas). */
char *df_plot_ellipsize(df_plot_canvas *c, const char *text, df_plot_font font, double max_width);

/* ---- shapes, heat map, images ---- */

void df_plot_rounded_rect(df_plot_canvas *c, double x, double y, double w, double h, double r);
void df_plot_fill_rect(df_plot_canvas *c, double x, double y, double w, double h, double r,
                       df_rgb colour);

/* rows x cols cells of cell_w x cell_h at (x, y), cell (i, j) filled with
 * df_plot_colormap(t[i * cols + j]) and labelled labels[i * cols + j] in
 * bold, with an optional smaller second line sublabels[i * cols + j]
 * (either array or entry may be NULL), in the text colour that contrasts
 * best with the cell (df_plot_text_colour_on); cells with t == 0 use a
 * muted grey. gap is the white gutter between cells. */
void df_plot_heatmap(df_plot_canvas *c, double x, double y, double cell_w, double cell_h,
                     int rows, int cols, const double *t, const char *const *labels,
                     const char *const *sublabels, double font_size, double gap);
/* A vertical colour bar for df_plot_colormap over [lo, hi] with tick labels
 * to its right. */
void df_plot_colorbar(df_plot_canvas *c, double x, double y, double w, double h, double lo,
                      double hi, df_plot_tick_format fmt);

/* Draws img scaled to fit inside the box (x, y, w, h), aspect kept, centred
 * ("contain"), corners rounded by radius, with a good downscaling filter.
 * An invalid image (NULL, no pixels, sizes <= 0) draws a grey placeholder.
 * Returns the rectangle actually covered in *out_rect (x, y, w, h) when
 * out_rect is not NULL. */
void df_plot_image(df_plot_canvas *c, const df_image *img, double x, double y, double w,
                   double h, double radius, double out_rect[4]);

#endif
