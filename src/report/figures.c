/*
 * The report's figures, each rendered to PNG bytes: learning curves,
 * confusion matrices (counts and row-normalised), the prediction gallery,
 * the augmentation sample grid and the model-summary table.
 *
 * Every figure starts with a title band of DF_FIGURE_TITLE_BAND units that
 * holds the title and nothing else (tests look for the title's dark pixels
 * there). Colours: Okabe-Ito orange/blue for the two series (safe for
 * colour-blind readers), ColorBrewer Blues for heat maps, and a check/cross
 * badge beside every green/red caption so right and wrong do not rely on
 * colour alone.
 */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/text.h"

#define C_INK 0x111827u
#define C_TEXT 0x374151u
#define C_MUTED 0x6B7280u
#define C_FAINT 0x9CA3AFu
#define C_RULE 0xE5E7EBu
#define C_STRIPE 0xF9FAFBu
#define C_THUMB_BG 0xF3F4F6u
#define C_TRAIN 0xE69F00u  /* Okabe-Ito orange */
#define C_VAL 0x0072B2u    /* Okabe-Ito blue */
#define C_MARK 0x475569u   /* slate */
#define C_RIGHT 0x15803Du  /* green 700: 5:1 on white */
#define C_WRONG 0xB91C1Cu  /* red 700: 6.5:1 on white */
#define C_RIGHT_BADGE 0x16A34Au
#define C_WRONG_BADGE 0xDC2626u

#define MARGIN 24.0

static df_plot_font fnt(double size, int bold, uint32_t colour) {
    df_plot_font f = {size, bold, df_plot_hex(colour)};
    return f;
}

static void draw_title(df_plot_canvas *c, const char *title) {
    if (!title || !*title) return;
    df_plot_font f = fnt(17, 1, C_INK);
    char *t = df_plot_ellipsize(c, title, f, c->width - 2 * MARGIN);
    if (!t) return;
    df_plot_text(c, MARGIN, DF_FIGURE_TITLE_BAND / 2 + 4, t, f, DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);
    free(t);
}

/* A figure with nothing to show still renders: the report's file set stays
 * fixed and the reader sees why it is empty. */
static df_status empty_figure(const char *title, const char *message, double scale, df_png *out,
                              df_error *err) {
    df_plot_canvas c;
    df_status st = df_plot_canvas_create(&c, 640, 200, scale, err);
    if (st != DF_OK) return st;
    draw_title(&c, title);
    df_plot_fill_rect(&c, MARGIN, DF_FIGURE_TITLE_BAND + 8, 640 - 2 * MARGIN, 120, 10,
                      df_plot_hex(C_STRIPE));
    df_plot_text(&c, 320, DF_FIGURE_TITLE_BAND + 68, message, fnt(14, 0, C_MUTED),
                 DF_PLOT_CENTER, DF_PLOT_MIDDLE, 0);
    st = df_plot_canvas_png(&c, out, err);
    df_plot_canvas_destroy(&c);
    return st;
}

static df_status prefixed(df_status st, df_error *err, const char *what) {
    df_error_prefix(err, "%s", what);
    return st;
}

static const char *class_name(const char *const *names, int n, int i) {
    if (!names || i < 0 || i >= n || !names[i]) return "?";
    return names[i];
}

/* ---- learning curves ---- */

df_status df_figure_curves(const df_report_history *h, df_figure_metric metric, const char *title,
                           double scale, df_png *out, df_error *err) {
    memset(out, 0, sizeof *out);
    int n = h ? h->n_epochs : 0;
    const int is_acc = metric == DF_FIGURE_ACCURACY;
    double lo = INFINITY, hi = -INFINITY;
    int have_train = 0, have_val = 0;
    for (int i = 0; i < n; i++) {
        const df_report_epoch *e = &h->epochs[i];
        double t = metric == DF_FIGURE_ACCURACY ? e->accuracy : e->loss;
        double v = metric == DF_FIGURE_ACCURACY ? e->val_accuracy : e->val_loss;
        if (isfinite(t)) {
            have_train = 1;
            lo = fmin(lo, t);
            hi = fmax(hi, t);
        }
        if (isfinite(v)) {
            have_val = 1;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    }
    if (h && h->exact_fit)
        return empty_figure(title, "Fitted exactly in one pass: no epochs, no curve", scale, out, err);
    if (!have_train && !have_val)
        return empty_figure(title, "No training history", scale, out, err);

    double *xs = NULL, *tr = NULL, *va = NULL;
    df_plot_canvas c;
    memset(&c, 0, sizeof c);
    df_status st;
    xs = malloc(sizeof(double) * n);
    tr = malloc(sizeof(double) * n);
    va = malloc(sizeof(double) * n);
    if (!xs || !tr || !va) {
        st = df_error_set(err, DF_ERR_NOMEM, "learning curves: out of memory for %d epochs", n);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const df_report_epoch *e = &h->epochs[i];
        xs[i] = i + 1; /* epochs are shown 1-based */
        tr[i] = metric == DF_FIGURE_ACCURACY ? e->accuracy : e->loss;
        va[i] = metric == DF_FIGURE_ACCURACY ? e->val_accuracy : e->val_loss;
    }

    const double W = DF_FIGURE_CURVES_WIDTH, H = DF_FIGURE_CURVES_HEIGHT;
    st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) goto fail;
    draw_title(&c, title);

    df_rgb ctrain = df_plot_hex(C_TRAIN), cval = df_plot_hex(C_VAL), cmark = df_plot_hex(C_MARK);
    df_plot_legend_entry leg[3];
    int nl = 0;
    if (have_train)
        leg[nl++] = (df_plot_legend_entry){is_acc ? "Training accuracy" : "Training loss (+ L2 penalty)", ctrain,
                                           DF_PLOT_LEGEND_DOT};
    if (have_val)
        leg[nl++] = (df_plot_legend_entry){is_acc ? "Validation accuracy" : "Validation loss",
                                           cval, DF_PLOT_LEGEND_LINE};
    int best = h->best_epoch >= 0 && h->best_epoch < n ? h->best_epoch : -1;
    if (best >= 0) leg[nl++] = (df_plot_legend_entry){"Best epoch", cmark, DF_PLOT_LEGEND_DASH};

    const double left = 78, right = 26, top = DF_FIGURE_TITLE_BAND + 52, bottom = 64;
    df_plot_legend_row(&c, left, DF_FIGURE_TITLE_BAND + 12, leg, nl);

    double pad = (hi - lo) * 0.07;
    if (!(pad > 0)) pad = fmax(fabs(hi) * 0.05, 0.01);
    double xpad = fmax(0.6, n * 0.025);
    df_plot_axes ax;
    df_plot_axes_setup(&ax, left, top, W - left - right, H - top - bottom, 1 - xpad, n + xpad,
                       lo - pad, hi + pad, 1, is_acc ? DF_PLOT_TICK_PERCENT : DF_PLOT_TICK_NUMBER);
    df_plot_axes_draw(&c, &ax, "Epoch", is_acc ? "Accuracy" : "Loss (cross-entropy)");

    if (best >= 0) {
        char label[96];
        double bv = isfinite(va[best]) ? va[best] : tr[best];
        if (!isfinite(bv))
            snprintf(label, sizeof label, "best: epoch %d", best + 1);
        else if (is_acc)
            snprintf(label, sizeof label, "best: epoch %d \xC2\xB7 %.1f%%", best + 1, bv * 100);
        else
            snprintf(label, sizeof label, "best: epoch %d \xC2\xB7 %.3f", best + 1, bv);
        df_plot_vmarker(&c, &ax, best + 1, cmark, label);
    }
    if (have_val) df_plot_line(&c, &ax, xs, va, n, cval, 2.4);
    if (have_train) df_plot_dots(&c, &ax, xs, tr, n, ctrain, n > 120 ? 2.4 : 3.6);
    if (have_val && n == 1) df_plot_dots(&c, &ax, xs, va, n, cval, 3.6);
    if (best >= 0 && isfinite(va[best])) df_plot_ring(&c, &ax, best + 1, va[best], cval, 5.5);

    st = df_plot_canvas_png(&c, out, err);
fail:
    df_plot_canvas_destroy(&c);
    free(xs);
    free(tr);
    free(va);
    if (st != DF_OK) df_error_prefix(err, "%s curve", is_acc ? "accuracy" : "loss");
    return st;
}

/* ---- confusion matrix ---- */

df_status df_figure_confusion(int n_classes, const char *const *class_names,
                              const int *confusion, int normalized, const char *title,
                              double scale, df_png *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (n_classes < 1 || !confusion)
        return empty_figure(title, "No confusion matrix (no validation set)", scale, out, err);
    const int n = n_classes;
    size_t cells;
    if (!df_size_mul((size_t)n, (size_t)n, &cells) || n > 1000)
        return df_error_set(err, DF_ERR_TOO_LARGE, "confusion matrix: %d classes is too many to draw",
                            n);
    double *t = malloc(sizeof(double) * cells);
    char **labels = calloc(cells, sizeof(char *));
    char **subs = calloc(cells, sizeof(char *));
    char **names = calloc((size_t)n, sizeof(char *));
    df_plot_canvas c;
    memset(&c, 0, sizeof c);
    df_status st = DF_OK;
    if (!t || !labels || !subs || !names) {
        st = df_error_set(err, DF_ERR_NOMEM, "confusion matrix: out of memory");
        goto fail;
    }

    const double cell = fmin(96, fmax(34, floor(540.0 / n)));
    /* Percentages are wider than counts: a smaller font keeps "100.0%" in. */
    const double cell_font = fmin(normalized ? 17 : 20, fmax(10, cell * (normalized ? 0.19 : 0.25)));
    const int with_subs = normalized && cell >= 56;
    df_plot_font lab_f = fnt(12.5, 0, C_TEXT);
    df_plot_font axis_f = fnt(12.5, 1, C_MUTED);

    /* Measure on a scratch canvas; the real one is sized from the result. */
    st = df_plot_canvas_create(&c, 16, 16, 1, err);
    if (st != DF_OK) goto fail;
    double row_w = 0, col_w = 0;
    for (int i = 0; i < n; i++) {
        names[i] = df_plot_ellipsize(&c, class_name(class_names, n, i), lab_f, 170);
        if (!names[i]) break;
        double w = df_plot_text_width(&c, names[i], lab_f);
        row_w = fmax(row_w, w);
        col_w = fmax(col_w, w);
    }
    double title_w = title ? df_plot_text_width(&c, title, fnt(17, 1, C_INK)) : 0;
    st = df_plot_canvas_check(&c, err);
    df_plot_canvas_destroy(&c);
    if (st != DF_OK) goto fail;

    /* Column labels go under the grid, rotated when they do not fit. */
    const double rot = col_w > cell - 8 ? 40.0 * M_PI / 180.0 : 0.0;
    const double cap = 9.0; /* approximate cap height of the 12.5 font */
    double col_h = rot != 0 ? col_w * sin(rot) + cap * cos(rot) + 4 : cap + 4;

    char cb_max[32];
    int64_t vmax = 1;
    for (size_t k = 0; k < cells; k++)
        if (confusion[k] > vmax) vmax = confusion[k];
    snprintf(cb_max, sizeof cb_max, normalized ? "100%%" : "%lld", (long long)vmax);

    const double gx = MARGIN + 18 + 12 + row_w + 12;
    const double gy = DF_FIGURE_TITLE_BAND + 14;
    const double gw = n * cell;
    const double cbx = gx + gw + 22, cbw = 14;
    double W = cbx + cbw + 10 + 8.0 * (strlen(cb_max) + 1) + MARGIN;
    W = fmax(W, title_w + 2 * MARGIN);
    /* Rotated labels lean left from their cells; the first ones may need
     * room on the left that the row labels already provide. */
    const double H = gy + gw + 10 + col_h + 14 + 16 + MARGIN;
    st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) goto fail;
    draw_title(&c, title);

    for (int i = 0; i < n; i++) {
        int64_t row = 0;
        for (int j = 0; j < n; j++) row += confusion[(size_t)i * n + j];
        for (int j = 0; j < n; j++) {
            size_t k = (size_t)i * n + j;
            char buf[32];
            if (normalized) {
                if (row > 0) {
                    double p = (double)confusion[k] / (double)row;
                    t[k] = p;
                    snprintf(buf, sizeof buf, cell >= 64 ? "%.1f%%" : "%.0f%%", p * 100.0);
                } else {
                    t[k] = 0;
                    snprintf(buf, sizeof buf, "\xE2\x80\x93"); /* en dash: no samples */
                }
            } else {
                t[k] = (double)confusion[k] / (double)vmax;
                snprintf(buf, sizeof buf, "%d", confusion[k]);
            }
            labels[k] = strdup(buf);
            if (with_subs && row > 0) {
                snprintf(buf, sizeof buf, "%d of %lld", confusion[k], (long long)row);
                subs[k] = strdup(buf);
            } else {
                subs[k] = strdup("");
            }
            if (!labels[k] || !subs[k]) {
                st = df_error_set(err, DF_ERR_NOMEM, "confusion matrix: out of memory");
                goto fail;
            }
        }
    }
    df_plot_heatmap(&c, gx, gy, cell, cell, n, n, t, (const char *const *)labels,
                    (const char *const *)subs, cell_font, 3);

    for (int i = 0; i < n; i++) {
        df_plot_text(&c, gx - 12, gy + (i + 0.5) * cell, names[i], lab_f, DF_PLOT_RIGHT,
                     DF_PLOT_MIDDLE, 0);
        double cx = gx + (i + 0.5) * cell;
        if (rot != 0)
            df_plot_text(&c, cx + 4, gy + gw + 10, names[i], lab_f, DF_PLOT_RIGHT, DF_PLOT_TOP,
                         rot);
        else
            df_plot_text(&c, cx, gy + gw + 10, names[i], lab_f, DF_PLOT_CENTER, DF_PLOT_TOP, 0);
    }
    df_plot_text(&c, MARGIN + 9, gy + gw / 2, "True class", axis_f, DF_PLOT_CENTER,
                 DF_PLOT_MIDDLE, M_PI / 2);
    df_plot_text(&c, gx + gw / 2, gy + gw + 10 + col_h + 14, "Predicted class", axis_f,
                 DF_PLOT_CENTER, DF_PLOT_TOP, 0);
    if (normalized)
        df_plot_colorbar(&c, cbx, gy, cbw, gw, 0, 1, DF_PLOT_TICK_PERCENT);
    else
        df_plot_colorbar(&c, cbx, gy, cbw, gw, 0, (double)vmax, DF_PLOT_TICK_NUMBER);

    st = df_plot_canvas_png(&c, out, err);
fail:
    df_plot_canvas_destroy(&c);
    if (labels)
        for (size_t k = 0; k < cells; k++) free(labels[k]);
    if (subs)
        for (size_t k = 0; k < cells; k++) free(subs[k]);
    free(subs);
    if (names)
        for (int i = 0; i < n; i++) free(names[i]);
    free(labels);
    free(names);
    free(t);
    if (st != DF_OK) df_error_prefix(err, "confusion matrix");
    return st;
}

/* ---- prediction gallery ---- */

int df_report_gallery_order(const df_report_data *d, int *order, int max) {
    if (max <= 0) max = d->gallery_max > 0 ? d->gallery_max : 16;
    int k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->n_gallery && k < max; i++) {
            const df_report_gallery_item *it = &d->gallery[i];
            int wrong = it->predicted_class != it->true_class;
            if (wrong == (pass == 0)) order[k++] = i;
        }
    return k;
}

void df_report_gallery_caption(const df_report_data *d, const df_report_gallery_item *it,
                               char *out, size_t n) {
    const char *pred = class_name(d->class_names, d->n_classes, it->predicted_class);
    const char *truth = class_name(d->class_names, d->n_classes, it->true_class);
    if (isfinite(it->confidence))
        snprintf(out, n, "%s %.0f%% (%s)", pred, it->confidence * 100.0, truth);
    else
        snprintf(out, n, "%s ?%% (%s)", pred, truth);
}

/* A round badge with a check mark or a cross, drawn as strokes (not glyphs)
 * so it looks the same whatever fonts are installed. */
static void draw_badge(df_plot_canvas *c, double cx, double cy, int right) {
    cairo_t *cr = c->cr;
    df_rgb bg = df_plot_hex(right ? C_RIGHT_BADGE : C_WRONG_BADGE);
    cairo_save(cr);
    cairo_new_path(cr);
    cairo_arc(cr, cx, cy, 11, 0, 2 * M_PI);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 2.5);
    cairo_stroke_preserve(cr);
    cairo_set_source_rgb(cr, bg.r, bg.g, bg.b);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 2.3);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    if (right) {
        cairo_move_to(cr, cx - 5, cy + 0.5);
        cairo_line_to(cr, cx - 1.5, cy + 4);
        cairo_line_to(cr, cx + 5, cy - 4);
    } else {
        cairo_move_to(cr, cx - 4, cy - 4);
        cairo_line_to(cr, cx + 4, cy + 4);
        cairo_move_to(cr, cx + 4, cy - 4);
        cairo_line_to(cr, cx - 4, cy + 4);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

df_status df_figure_gallery(const df_report_data *d, const char *title, double scale,
                            df_png *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (d->n_gallery <= 0 || !d->gallery)
        return empty_figure(title, "No validation photos to show", scale, out, err);
    int *order = malloc(sizeof(int) * (size_t)d->n_gallery);
    if (!order) return df_error_set(err, DF_ERR_NOMEM, "gallery: out of memory");
    int shown = df_report_gallery_order(d, order, 0);
    int n_wrong = 0;
    for (int i = 0; i < d->n_gallery; i++)
        n_wrong += d->gallery[i].predicted_class != d->gallery[i].true_class;

    const int cols = shown < 4 ? shown : 4;
    const int rows = (shown + cols - 1) / cols;
    const double thumb_w = 196, thumb_h = 208, pad = 10, gap = 16;
    const double card_w = thumb_w + 2 * pad, card_h = pad + thumb_h + 10 + 18 + 16 + pad;
    const double top = DF_FIGURE_TITLE_BAND + 30;
    double W = 2 * MARGIN + cols * card_w + (cols - 1) * gap;
    if (W < 560) W = 560;
    const double H = top + rows * card_h + (rows - 1) * gap + MARGIN;
    df_plot_canvas c;
    df_status st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) {
        free(order);
        return prefixed(st, err, "gallery");
    }
    draw_title(&c, title);

    /* The gallery may hold a selection of the photos (misclassified first);
     * the confusion matrix, when given, counts all of them. */
    int n_total = d->n_gallery;
    if (d->confusion) {
        int sum = 0, trace = 0;
        for (int r = 0; r < d->n_classes; r++)
            for (int k = 0; k < d->n_classes; k++) {
                sum += d->confusion[r * d->n_classes + k];
                if (r == k) trace += d->confusion[r * d->n_classes + k];
            }
        n_total = sum;
        n_wrong = sum - trace;
    }
    char summary[160];
    if (n_wrong > 0)
        snprintf(summary, sizeof summary,
                 "%d of %d validation photos misclassified \xC2\xB7 misclassified first \xC2\xB7 "
                 "showing %d",
                 n_wrong, n_total, shown);
    else
        snprintf(summary, sizeof summary,
                 "all %d validation photos classified correctly \xC2\xB7 showing %d", n_total,
                 shown);
    df_plot_text(&c, MARGIN, DF_FIGURE_TITLE_BAND + 10, summary, fnt(12.5, 0, C_MUTED),
                 DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);

    for (int s = 0; s < shown; s++) {
        const df_report_gallery_item *it = &d->gallery[order[s]];
        int right = it->predicted_class == it->true_class;
        double x = MARGIN + (s % cols) * (card_w + gap);
        double y = top + (s / cols) * (card_h + gap);
        df_plot_fill_rect(&c, x, y, card_w, card_h, 10, df_plot_hex(right ? C_STRIPE : 0xFEF2F2));
        if (!right) {
            cairo_save(c.cr);
            cairo_new_path(c.cr);
            df_plot_rounded_rect(&c, x + 0.75, y + 0.75, card_w - 1.5, card_h - 1.5, 9.5);
            df_rgb r = df_plot_hex(C_WRONG_BADGE);
            cairo_set_source_rgb(c.cr, r.r, r.g, r.b);
            cairo_set_line_width(c.cr, 1.5);
            cairo_stroke(c.cr);
            cairo_restore(c.cr);
        }
        double rect[4];
        df_plot_image(&c, it->image, x + pad, y + pad, thumb_w, thumb_h, 6, rect);
        draw_badge(&c, rect[0] + rect[2] - 14, rect[1] + 14, right);

        char cap[256];
        df_report_gallery_caption(d, it, cap, sizeof cap);
        /* Long class names: a smaller font first, so the true class in
         * brackets survives; ellipsis only as the last resort. */
        df_plot_font cf = fnt(13.5, 1, right ? C_RIGHT : C_WRONG);
        while (cf.size > 11.0 && df_plot_text_width(&c, cap, cf) > card_w - 2 * pad)
            cf.size -= 0.5;
        char *cs = df_plot_ellipsize(&c, cap, cf, card_w - 2 * pad);
        if (cs) {
            df_plot_text(&c, x + card_w / 2, y + pad + thumb_h + 12, cs, cf, DF_PLOT_CENTER,
                         DF_PLOT_TOP, 0);
            free(cs);
        }
        if (it->name && *it->name) {
            df_plot_font nf = fnt(11, 0, C_MUTED);
            char *ns = df_plot_ellipsize(&c, it->name, nf, card_w - 2 * pad);
            if (ns) {
                df_plot_text(&c, x + card_w / 2, y + pad + thumb_h + 12 + 21, ns, nf,
                             DF_PLOT_CENTER, DF_PLOT_TOP, 0);
                free(ns);
            }
        }
    }
    st = df_plot_canvas_png(&c, out, err);
    df_plot_canvas_destroy(&c);
    free(order);
    if (st != DF_OK) df_error_prefix(err, "gallery");
    return st;
}

/* ---- augmentation samples ---- */

df_status df_figure_samples(const df_report_data *d, const char *title, double scale,
                            df_png *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (d->n_samples <= 0 || !d->samples)
        return empty_figure(title, "No training samples to show", scale, out, err);
    int k = 0;
    for (int i = 0; i < d->n_samples; i++)
        if (d->samples[i].n_augmented > k) k = d->samples[i].n_augmented;
    if (k > 8) k = 8;
    const int rows = d->n_samples;
    const double th = 150, tw = 150, gap = 10, split = 34, label_h = 40;
    const double head = DF_FIGURE_TITLE_BAND + 34;
    const double aug_x = MARGIN + tw + split;
    double W = aug_x + k * tw + (k > 0 ? (k - 1) * gap : 0) + MARGIN;
    if (W < 420) W = 420;
    const double row_h = th + label_h;
    const double H = head + rows * row_h + (rows - 1) * 8 + MARGIN - 12;
    df_plot_canvas c;
    df_status st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) return prefixed(st, err, "sample grid");
    draw_title(&c, title);

    df_plot_font hf = fnt(12.5, 1, C_MUTED);
    double hy = DF_FIGURE_TITLE_BAND + 10;
    df_plot_text(&c, MARGIN + tw / 2, hy, "original", hf, DF_PLOT_CENTER, DF_PLOT_MIDDLE, 0);
    if (k > 0) {
        double span = k * tw + (k - 1) * gap;
        df_plot_text(&c, aug_x + span / 2, hy, "augmented", hf, DF_PLOT_CENTER, DF_PLOT_MIDDLE,
                     0);
        /* A bracket under the header ties it to all augmented columns. */
        cairo_save(c.cr);
        df_rgb r = df_plot_hex(C_RULE);
        cairo_set_source_rgb(c.cr, r.r, r.g, r.b);
        cairo_set_line_width(c.cr, 1.5);
        cairo_move_to(c.cr, aug_x + 2, hy + 15);
        cairo_line_to(c.cr, aug_x + 2, hy + 11);
        cairo_line_to(c.cr, aug_x + span - 2, hy + 11);
        cairo_line_to(c.cr, aug_x + span - 2, hy + 15);
        cairo_stroke(c.cr);
        /* and a divider between the original and its augmentations */
        cairo_move_to(c.cr, MARGIN + tw + split / 2, head);
        cairo_line_to(c.cr, MARGIN + tw + split / 2, H - MARGIN);
        cairo_stroke(c.cr);
        cairo_restore(c.cr);
    }
    for (int i = 0; i < rows; i++) {
        const df_report_sample *s = &d->samples[i];
        double y = head + i * (row_h + 8);
        df_plot_fill_rect(&c, MARGIN, y, tw, th, 6, df_plot_hex(C_THUMB_BG));
        df_plot_image(&c, s->original, MARGIN, y, tw, th, 6, NULL);
        for (int j = 0; j < k; j++) {
            double x = aug_x + j * (tw + gap);
            if (j < s->n_augmented && s->augmented) {
                df_plot_fill_rect(&c, x, y, tw, th, 6, df_plot_hex(C_THUMB_BG));
                df_plot_image(&c, &s->augmented[j], x, y, tw, th, 6, NULL);
            }
        }
        if (s->class_index >= 0) {
            df_plot_font cf = fnt(12.5, 1, C_TEXT);
            char *cs = df_plot_ellipsize(&c, class_name(d->class_names, d->n_classes,
                                                        s->class_index),
                                         cf, tw);
            if (cs) {
                df_plot_text(&c, MARGIN, y + th + 9, cs, cf, DF_PLOT_LEFT, DF_PLOT_TOP, 0);
                free(cs);
            }
        }
        if (s->name && *s->name) {
            df_plot_font nf = fnt(11, 0, C_MUTED);
            char *ns = df_plot_ellipsize(&c, s->name, nf, tw);
            if (ns) {
                df_plot_text(&c, MARGIN, y + th + 25, ns, nf, DF_PLOT_LEFT, DF_PLOT_TOP, 0);
                free(ns);
            }
        }
    }
    st = df_plot_canvas_png(&c, out, err);
    df_plot_canvas_destroy(&c);
    if (st != DF_OK) df_error_prefix(err, "sample grid");
    return st;
}

/* ---- model summary ---- */

typedef enum { COL_LAYER, COL_TYPE, COL_SHAPE, COL_PARAMS, COL_TRAIN, N_COLS } summary_col;

static void train_state(const df_report_layer *l, char *text, size_t n, uint32_t *bg,
                        uint32_t *fg, uint32_t *dot) {
    if (l->params > 0 && l->trainable_params >= l->params) {
        snprintf(text, n, "trainable");
        *bg = 0xDCFCE7;
        *fg = 0x166534;
        *dot = C_RIGHT_BADGE;
    } else if (l->trainable_params > 0) {
        char a[32], b[32];
        df_report_format_count(l->trainable_params, a, sizeof a);
        df_report_format_count(l->params, b, sizeof b);
        snprintf(text, n, "%s of %s", a, b);
        *bg = 0xFEF3C7;
        *fg = 0x92400E;
        *dot = 0xD97706;
    } else if (l->params > 0) {
        snprintf(text, n, "frozen");
        *bg = 0xE0E7FF;
        *fg = 0x3730A3;
        *dot = 0x6366F1;
    } else {
        snprintf(text, n, "no weights");
        *bg = C_THUMB_BG;
        *fg = C_MUTED;
        *dot = C_FAINT;
    }
}

df_status df_figure_model_summary(const df_report_layer *layers, int n_layers,
                                  const char *title, double scale, df_png *out,
                                  df_error *err) {
    memset(out, 0, sizeof *out);
    if (n_layers <= 0 || !layers)
        return empty_figure(title, "No model summary", scale, out, err);
    static const char *const HEAD[N_COLS] = {"Layer", "Type", "Output shape", "Params",
                                             "Trainable"};
    static const double MAXW[N_COLS] = {240, 200, 200, 140, 200};
    df_plot_font cell_f = fnt(13, 0, C_TEXT), name_f = fnt(13, 1, C_INK),
                 head_f = fnt(11.5, 1, C_MUTED), pill_f = fnt(11.5, 1, 0);
    double colw[N_COLS];
    int64_t total = 0, trainable = 0;

    df_plot_canvas c;
    df_status st = df_plot_canvas_create(&c, 16, 16, 1, err);
    if (st != DF_OK) return st;
    for (int j = 0; j < N_COLS; j++) colw[j] = df_plot_text_width(&c, HEAD[j], head_f);
    for (int i = 0; i < n_layers; i++) {
        const df_report_layer *l = &layers[i];
        char buf[96];
        uint32_t bg, fg, dot;
        colw[COL_LAYER] = fmax(colw[COL_LAYER], df_plot_text_width(&c, l->name, name_f));
        colw[COL_TYPE] = fmax(colw[COL_TYPE], df_plot_text_width(&c, l->type, cell_f));
        colw[COL_SHAPE] = fmax(colw[COL_SHAPE], df_plot_text_width(&c, l->output_shape, cell_f));
        df_report_format_count(l->params, buf, sizeof buf);
        colw[COL_PARAMS] = fmax(colw[COL_PARAMS], df_plot_text_width(&c, buf, cell_f));
        train_state(l, buf, sizeof buf, &bg, &fg, &dot);
        colw[COL_TRAIN] = fmax(colw[COL_TRAIN], df_plot_text_width(&c, buf, pill_f) + 20);
        total += l->params;
        trainable += l->trainable_params < l->params ? l->trainable_params : l->params;
    }
    double title_w = title ? df_plot_text_width(&c, title, fnt(17, 1, C_INK)) : 0;
    st = df_plot_canvas_check(&c, err);
    df_plot_canvas_destroy(&c);
    if (st != DF_OK) return st;

    const double flow_w = 30, cpad = 16, row_h = 34, head_h = 32;
    double table_w = flow_w;
    for (int j = 0; j < N_COLS; j++) {
        colw[j] = fmin(colw[j], MAXW[j]) + 2 * cpad;
        table_w += colw[j];
    }
    const double stats_h = 64;
    double W = fmax(table_w + 2 * MARGIN, title_w + 2 * MARGIN);
    W = fmax(W, 560);
    table_w = W - 2 * MARGIN;
    /* Give any extra width to the layer-name column. */
    {
        double used = flow_w;
        for (int j = 0; j < N_COLS; j++) used += colw[j];
        colw[COL_LAYER] += table_w - used;
    }
    const double ty = DF_FIGURE_TITLE_BAND + 6;
    const double H = ty + head_h + n_layers * row_h + 18 + stats_h + MARGIN;
    st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) return prefixed(st, err, "model summary");
    draw_title(&c, title);

    double colx[N_COLS];
    colx[0] = MARGIN + flow_w;
    for (int j = 1; j < N_COLS; j++) colx[j] = colx[j - 1] + colw[j - 1];
    for (int j = 0; j < N_COLS; j++) {
        if (j == COL_PARAMS)
            df_plot_text(&c, colx[j] + colw[j] - cpad, ty + head_h / 2, HEAD[j], head_f,
                         DF_PLOT_RIGHT, DF_PLOT_MIDDLE, 0);
        else
            df_plot_text(&c, colx[j] + cpad, ty + head_h / 2, HEAD[j], head_f, DF_PLOT_LEFT,
                         DF_PLOT_MIDDLE, 0);
    }
    df_plot_fill_rect(&c, MARGIN, ty + head_h - 1, table_w, 1.5, 0, df_plot_hex(C_RULE));

    const double flow_x = MARGIN + flow_w / 2;
    double body = ty + head_h + 1;
    /* The flow line first, so the dots sit on top of it. */
    if (n_layers > 1)
        df_plot_fill_rect(&c, flow_x - 1, body + row_h / 2, 2, (n_layers - 1) * row_h, 0,
                          df_plot_hex(0xD1D5DB));
    for (int i = 0; i < n_layers; i++) {
        const df_report_layer *l = &layers[i];
        double ry = body + i * row_h, my = ry + row_h / 2;
        if (i % 2 == 1)
            df_plot_fill_rect(&c, MARGIN + flow_w, ry, table_w - flow_w, row_h, 0,
                              df_plot_hex(C_STRIPE));
        char pill[96], num[48];
        uint32_t bg, fg, dot;
        train_state(l, pill, sizeof pill, &bg, &fg, &dot);
        cairo_save(c.cr);
        cairo_new_path(c.cr);
        cairo_arc(c.cr, flow_x, my, 5.5, 0, 2 * M_PI);
        cairo_set_source_rgb(c.cr, 1, 1, 1);
        cairo_set_line_width(c.cr, 3);
        cairo_stroke_preserve(c.cr);
        df_rgb dc = df_plot_hex(dot);
        cairo_set_source_rgb(c.cr, dc.r, dc.g, dc.b);
        cairo_fill(c.cr);
        cairo_restore(c.cr);

        const char *vals[3] = {l->name, l->type, l->output_shape};
        for (int j = 0; j < 3; j++) {
            df_plot_font f = j == 0 ? name_f : cell_f;
            char *s = df_plot_ellipsize(&c, vals[j] ? vals[j] : "", f, colw[j] - 2 * cpad);
            if (s) {
                df_plot_text(&c, colx[j] + cpad, my, s, f, DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);
                free(s);
            }
        }
        df_report_format_count(l->params, num, sizeof num);
        df_plot_text(&c, colx[COL_PARAMS] + colw[COL_PARAMS] - cpad, my, num,
                     l->params ? cell_f : fnt(13, 0, C_FAINT), DF_PLOT_RIGHT, DF_PLOT_MIDDLE, 0);
        pill_f.colour = df_plot_hex(fg);
        double pw = df_plot_text_width(&c, pill, pill_f) + 20;
        df_plot_fill_rect(&c, colx[COL_TRAIN] + cpad, my - 11, pw, 22, 11, df_plot_hex(bg));
        df_plot_text(&c, colx[COL_TRAIN] + cpad + 10, my, pill, pill_f, DF_PLOT_LEFT,
                     DF_PLOT_MIDDLE, 0);
    }
    double end = body + n_layers * row_h;
    df_plot_fill_rect(&c, MARGIN, end, table_w, 1.5, 0, df_plot_hex(C_RULE));

    /* Totals as three stat tiles, like Keras' summary footer but legible. */
    const char *labels[3] = {"Total params", "Trainable params", "Non-trainable params"};
    int64_t values[3] = {total, trainable, total - trainable};
    uint32_t accents[3] = {C_INK, 0x166534, 0x3730A3};
    double sw = (table_w - 2 * 12) / 3, sy = end + 18;
    for (int k = 0; k < 3; k++) {
        double sx = MARGIN + k * (sw + 12);
        df_plot_fill_rect(&c, sx, sy, sw, stats_h, 10, df_plot_hex(C_STRIPE));
        df_plot_text(&c, sx + 16, sy + 20, labels[k], fnt(11.5, 1, C_MUTED), DF_PLOT_LEFT,
                     DF_PLOT_MIDDLE, 0);
        char num[48];
        df_report_format_count(values[k], num, sizeof num);
        df_plot_text(&c, sx + 16, sy + 44, num, fnt(19, 1, accents[k]), DF_PLOT_LEFT,
                     DF_PLOT_MIDDLE, 0);
    }
    st = df_plot_canvas_png(&c, out, err);
    df_plot_canvas_destroy(&c);
    if (st != DF_OK) df_error_prefix(err, "model summary");
    return st;
}

/* ---- reliability diagram ---- */

df_status df_figure_reliability(const df_report_data *d, const char *title, double scale, df_png *out,
                                df_error *err) {
    memset(out, 0, sizeof *out);
    const int nb = d->n_calib_bins;
    int total = 0;
    for (int b = 0; b < nb && d->calib_count; b++) total += d->calib_count[b];
    if (nb < 1 || total < 1) return empty_figure(title, "No calibration measured", scale, out, err);
    const double W = 480, H = 470;
    df_plot_canvas c;
    df_status st = df_plot_canvas_create(&c, W, H, scale, err);
    if (st != DF_OK) return st;
    draw_title(&c, title);
    df_rgb cval = df_plot_hex(C_VAL), cmark = df_plot_hex(C_MARK), cbar = df_plot_hex(0xBFDBFEu);
    char caption[160];
    if (d->temperature > 0)
        snprintf(caption, sizeof caption, "ECE %.3f after temperature %.2f (%.3f before), %d photos", d->ece,
                 d->temperature, d->ece_raw, total);
    else
        snprintf(caption, sizeof caption, "ECE %.3f (no temperature), %d photos", d->ece, total);
    df_plot_text(&c, 78, DF_FIGURE_TITLE_BAND + 10, caption, fnt(13, 0, C_TEXT), DF_PLOT_LEFT, DF_PLOT_MIDDLE, 0);
    const double left = 78, right = 26, top = DF_FIGURE_TITLE_BAND + 34, bottom = 64;
    df_plot_axes ax;
    df_plot_axes_setup(&ax, left, top, W - left - right, H - top - bottom, 0.0, 1.0, 0.0, 1.0, 0,
                       DF_PLOT_TICK_PERCENT);
    df_plot_axes_draw(&c, &ax, "Confidence (top probability)", "Accuracy");
    /* Bars: each bin's accuracy over the bin's width. */
    for (int b = 0; b < nb; b++) {
        if (!d->calib_count[b]) continue;
        double x0 = df_plot_map_x(&ax, (double)b / nb), x1 = df_plot_map_x(&ax, (double)(b + 1) / nb);
        double y0 = df_plot_map_y(&ax, 0.0), y1 = df_plot_map_y(&ax, d->calib_accuracy[b]);
        df_plot_fill_rect(&c, x0 + 1, y1, x1 - x0 - 2, y0 - y1, 0, cbar);
    }
    const double diag_x[2] = {0, 1}, diag_y[2] = {0, 1};
    df_plot_line(&c, &ax, diag_x, diag_y, 2, cmark, 1.2);
    /* Dots at (mean confidence, accuracy), the bigger the more photos. */
    for (int b = 0; b < nb; b++) {
        if (!d->calib_count[b]) continue;
        double r = 2.5 + 6.0 * sqrt((double)d->calib_count[b] / total);
        df_plot_dots(&c, &ax, &d->calib_confidence[b], &d->calib_accuracy[b], 1, cval, r);
    }
    st = df_plot_canvas_png(&c, out, err);
    df_plot_canvas_destroy(&c);
    return st == DF_OK ? st : prefixed(st, err, "reliability diagram");
}
