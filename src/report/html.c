/*
 * report.html: one self-contained page. Figures are embedded as
 * data:image/png;base64 URLs, the CSS is inline, there are no scripts and
 * no external fonts, images, links or stylesheets, so the file opens the
 * same from file://, an e-mail attachment or an offline machine.
 *
 * Every string from the caller goes through df_report_buf_html (HTML
 * entities; bytes that are not UTF-8 shown as \xNN). Numbers are formatted
 * here. Not a template engine: the page layout is written out in order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "report/text.h"

static const char CSS[] =
    ":root{--bg:#f5f6f8;--card:#fff;--ink:#111827;--text:#374151;--muted:#6b7280;"
    "--rule:#e5e7eb;--stripe:#f9fafb;--accent:#0072b2;--ok:#15803d;--bad:#b91c1c;"
    "--train:#e69f00}\n"
    "*{box-sizing:border-box}\n"
    "html{-webkit-text-size-adjust:100%}\n"
    "body{margin:0;background:var(--bg);color:var(--text);"
    "font:15px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',"
    "'Helvetica Neue',Arial,sans-serif}\n"
    "main{max-width:1180px;margin:0 auto;padding:28px 24px 48px}\n"
    "header.top{background:linear-gradient(135deg,#0b3b60,#0072b2);color:#fff}\n"
    "header.top .in{max-width:1180px;margin:0 auto;padding:30px 24px 26px}\n"
    "header.top h1{margin:0 0 4px;font-size:28px;letter-spacing:-.01em;color:#fff}\n"
    "header.top p{margin:0;color:#d6e6f3}\n"
    "nav{position:sticky;top:0;z-index:1;background:rgba(255,255,255,.94);"
    "border-bottom:1px solid var(--rule)}\n"
    "nav .in{max-width:1180px;margin:0 auto;padding:8px 24px;display:flex;"
    "flex-wrap:wrap;gap:4px 18px}\n"
    "nav a{color:var(--text);text-decoration:none;font-size:14px;font-weight:600}\n"
    "nav a:hover{color:var(--accent)}\n"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));"
    "gap:14px;margin:0 0 24px}\n"
    ".tile{background:var(--card);border:1px solid var(--rule);border-radius:12px;"
    "padding:14px 16px}\n"
    ".tile .k{font-size:12px;font-weight:700;letter-spacing:.04em;text-transform:uppercase;"
    "color:var(--muted)}\n"
    ".tile .v{font-size:24px;font-weight:700;color:var(--ink);margin-top:2px;"
    "overflow-wrap:anywhere}\n"
    ".tile .s{font-size:13px;color:var(--muted);overflow-wrap:anywhere}\n"
    ".tile.hero{background:#0072b2;border-color:#0072b2}\n"
    ".tile.hero .k,.tile.hero .s{color:#d6e6f3}.tile.hero .v{color:#fff;font-size:34px}\n"
    "section{background:var(--card);border:1px solid var(--rule);border-radius:14px;"
    "padding:22px 24px;margin:0 0 22px}\n"
    "h2{margin:0 0 14px;font-size:20px;color:var(--ink)}\n"
    "h3{margin:20px 0 10px;font-size:16px;color:var(--ink)}\n"
    "p.note{color:var(--muted);margin:6px 0 12px}\n"
    ".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:18px;"
    "align-items:start}\n"
    "figure{margin:0}\n"
    "figure img{display:block;max-width:100%;height:auto;border-radius:8px}\n"
    "figcaption{font-size:13px;color:var(--muted);margin-top:6px}\n"
    ".scroll{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;font-size:14px}\n"
    "th,td{padding:7px 12px;text-align:left;border-bottom:1px solid var(--rule);"
    "vertical-align:top}\n"
    "th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);"
    "background:var(--stripe)}\n"
    "tbody tr:nth-child(even) td{background:#fcfcfd}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    "tr.sum td{font-weight:700;border-top:2px solid var(--rule)}\n"
    "tr.best td{background:#e8f2fa!important;font-weight:600}\n"
    "td.path{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
    "font-size:13px;overflow-wrap:anywhere}\n"
    "td.code{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
    "font-size:13px;overflow-wrap:anywhere}\n"
    ".bar{display:flex;height:10px;min-width:120px;border-radius:5px;overflow:hidden;"
    "background:var(--rule)}\n"
    ".bar i{display:block;height:100%}\n"
    ".bar .t{background:var(--train)}.bar .v{background:var(--accent)}\n"
    ".meter{height:8px;border-radius:4px;background:var(--rule);min-width:80px;"
    "overflow:hidden}\n"
    ".meter i{display:block;height:100%;background:var(--accent)}\n"
    ".pill{display:inline-block;padding:1px 10px;border-radius:999px;font-size:12px;"
    "font-weight:700}\n"
    ".pill.tr{background:#dcfce7;color:#166534}.pill.fr{background:#e0e7ff;color:#3730a3}\n"
    ".pill.pa{background:#fef3c7;color:#92400e}.pill.no{background:#f3f4f6;color:#6b7280}\n"
    ".legend{display:flex;gap:16px;font-size:13px;color:var(--muted);margin:4px 0 10px}\n"
    ".legend span::before{content:'';display:inline-block;width:10px;height:10px;"
    "border-radius:3px;margin-right:6px;vertical-align:-1px}\n"
    ".legend .t::before{background:var(--train)}.legend .v::before{background:var(--accent)}\n"
    "pre{background:#0f172a;color:#e2e8f0;padding:14px 16px;border-radius:10px;"
    "overflow-x:auto;font:13px/1.5 ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace}\n"
    "details{margin-top:14px}\n"
    "summary{cursor:pointer;font-weight:600;color:var(--accent)}\n"
    ".ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}\n"
    ".thumbs img{display:inline-block;margin:0 6px 0 0;border-radius:6px;vertical-align:top}\n"
    ".muted{color:var(--muted)}\n"
    "footer{color:var(--muted);font-size:13px;text-align:center;padding:8px 0 0}\n"
    "@media print{nav{display:none}section{break-inside:avoid}}\n";

typedef df_report_buf buf;

static void html(buf *b, const char *s) { df_report_buf_html(b, s); }

static void fmt_pct(buf *b, double v, int decimals) {
    if (isfinite(v))
        df_report_buf_printf(b, "%.*f%%", decimals, v * 100.0);
    else
        df_report_buf_puts(b, "\xE2\x80\x93");
}

static void fmt_num(buf *b, double v, int decimals) {
    if (isfinite(v))
        df_report_buf_printf(b, "%.*f", decimals, v);
    else
        df_report_buf_puts(b, "\xE2\x80\x93");
}

/* A loss and an accuracy as two adjacent cells (the caller opens the
 * first and closes the second), as the report's tables show them. */
static void loss_accuracy_cells(buf *b, double loss, double accuracy) {
    fmt_num(b, loss, 4);
    df_report_buf_puts(b, "</td><td class=\"n\">");
    fmt_pct(b, accuracy, 1);
}

static void fmt_count(buf *b, int64_t v) {
    char s[48];
    df_report_format_count(v, s, sizeof s);
    df_report_buf_puts(b, s);
}

static void fmt_duration(buf *b, double s) {
    if (!isfinite(s) || s < 0) {
        df_report_buf_puts(b, "\xE2\x80\x93");
        return;
    }
    if (s < 60)
        df_report_buf_printf(b, "%.1f s", s);
    else if (s < 3600)
        df_report_buf_printf(b, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else
        df_report_buf_printf(b, "%d h %02d min", (int)(s / 3600), (int)fmod(s / 60, 60));
}

/* An embedded figure, displayed at its logical size so a 2x PNG is sharp on
 * high-density screens and the normal size elsewhere. */
static void figure(buf *b, const df_png *png, const char *alt, const char *caption) {
    if (!png->data || png->size == 0) { /* figures not rendered: say so, no broken image */
        df_report_buf_puts(b, "<p class=\"note\">(figure not rendered)</p>\n");
        return;
    }
    double s = png->scale > 0 ? png->scale : 1;
    df_report_buf_printf(b, "<figure><img width=\"%d\" height=\"%d\" alt=\"",
                         (int)lround(png->width / s), (int)lround(png->height / s));
    html(b, alt);
    df_report_buf_puts(b, "\" src=\"data:image/png;base64,");
    df_report_buf_base64(b, png->data, png->size);
    df_report_buf_puts(b, "\">");
    if (caption) {
        df_report_buf_puts(b, "<figcaption>");
        html(b, caption);
        df_report_buf_puts(b, "</figcaption>");
    }
    df_report_buf_puts(b, "</figure>\n");
}

static void tile(buf *b, const char *cls, const char *key, const char *value_html,
                 const char *sub_html) {
    df_report_buf_printf(b, "<div class=\"tile%s%s\"><div class=\"k\">", cls ? " " : "",
                         cls ? cls : "");
    html(b, key);
    df_report_buf_printf(b, "</div><div class=\"v\">%s</div>", value_html);
    if (sub_html) df_report_buf_printf(b, "<div class=\"s\">%s</div>", sub_html);
    df_report_buf_puts(b, "</div>\n");
}

static void reset(buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static int64_t sum_counts(const int *c, int n) {
    int64_t s = 0;
    if (c)
        for (int i = 0; i < n; i++) s += c[i];
    return s;
}

static void headline(buf *b, const df_report_data *d) {
    buf v, s;
    df_report_buf_init(&v);
    df_report_buf_init(&s);
    df_report_buf_puts(b, "<div class=\"tiles\">\n");

    fmt_pct(&v, d->val_accuracy, 1);
    if (d->confusion) {
        int64_t right = 0, all = 0;
        for (int i = 0; i < d->n_classes; i++)
            for (int j = 0; j < d->n_classes; j++) {
                int64_t x = d->confusion[(size_t)i * d->n_classes + j];
                all += x;
                if (i == j) right += x;
            }
        df_report_buf_printf(&s, "%lld of %lld validation photos right", (long long)right,
                             (long long)all);
    }
    tile(b, "hero", "Validation accuracy", v.data, s.len ? s.data : NULL);

    reset(&v);
    reset(&s);
    df_report_buf_printf(&v, "%d", d->n_classes);
    for (int i = 0; i < d->n_classes; i++) {
        if (i) df_report_buf_puts(&s, ", ");
        html(&s, d->class_names[i]);
    }
    tile(b, NULL, "Classes", v.data, s.data);

    reset(&v);
    reset(&s);
    html(&v, d->backbone ? d->backbone : "\xE2\x80\x93");
    df_report_buf_puts(&s, "frozen, pretrained on ImageNet");
    tile(b, NULL, "Backbone", v.data, d->backbone ? s.data : NULL);

    reset(&v);
    reset(&s);
    int64_t nt = sum_counts(d->train_counts, d->n_classes),
            nv = sum_counts(d->val_counts, d->n_classes);
    fmt_count(&v, nt + nv);
    df_report_buf_printf(&s, "%lld training \xC2\xB7 %lld validation", (long long)nt,
                         (long long)nv);
    if (d->n_skipped) df_report_buf_printf(&s, " \xC2\xB7 %d skipped", d->n_skipped);
    tile(b, NULL, "Photos", v.data, s.data);

    const df_report_history *h = &d->history;
    if (h->exact_fit) {
        reset(&v);
        reset(&s);
        df_report_buf_puts(&v, "exact");
        df_report_buf_puts(&s, "one pass");
        if (h->n_epochs == 1 && isfinite(h->epochs[0].seconds)) {
            df_report_buf_puts(&s, " \xC2\xB7 ");
            fmt_duration(&s, h->epochs[0].seconds);
        }
        tile(b, NULL, "Head fit", v.data, s.data);
    } else if (h->n_epochs > 0) {
        reset(&v);
    reset(&s);
        df_report_buf_printf(&v, "%d", h->n_epochs);
        if (h->best_epoch >= 0) df_report_buf_printf(&s, "best: epoch %d", h->best_epoch + 1);
        double total = 0;
        int have_time = 0;
        for (int i = 0; i < h->n_epochs; i++)
            if (isfinite(h->epochs[i].seconds)) {
                total += h->epochs[i].seconds;
                have_time = 1;
            }
        if (have_time) {
            df_report_buf_puts(&s, s.len ? " \xC2\xB7 " : "");
            fmt_duration(&s, total);
        }
        tile(b, NULL, "Epochs", v.data, s.len ? s.data : NULL);
    }
    df_report_buf_puts(b, "</div>\n");
    if (v.failed || s.failed) b->failed = 1;
    df_report_buf_free(&v);
    df_report_buf_free(&s);
}

static void dataset_section(buf *b, const df_report_data *d) {
    df_report_buf_puts(b, "<section id=\"data\"><h2>Data set</h2>\n");
    if (d->dataset) {
        df_report_buf_puts(b, "<p class=\"note\">Folder: <code>");
        html(b, d->dataset);
        df_report_buf_puts(b, "</code></p>\n");
    }
    int64_t nt = sum_counts(d->train_counts, d->n_classes),
            nv = sum_counts(d->val_counts, d->n_classes);
    int64_t biggest = 1;
    for (int i = 0; i < d->n_classes; i++) {
        int64_t t = (d->train_counts ? d->train_counts[i] : 0) +
                    (d->val_counts ? d->val_counts[i] : 0);
        if (t > biggest) biggest = t;
    }
    df_report_buf_puts(b, "<div class=\"legend\"><span class=\"t\">training</span>"
                          "<span class=\"v\">validation</span></div>\n");
    df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th>#</th><th>Class</th>"
                          "<th class=\"n\">Training</th><th class=\"n\">Validation</th>"
                          "<th class=\"n\">Total</th><th style=\"width:34%\">Photos</th>"
                          "</tr></thead><tbody>\n");
    for (int i = 0; i < d->n_classes; i++) {
        int t = d->train_counts ? d->train_counts[i] : 0;
        int v = d->val_counts ? d->val_counts[i] : 0;
        df_report_buf_printf(b, "<tr><td class=\"n\">%d</td><td>", i);
        html(b, d->class_names[i]);
        df_report_buf_puts(b, "</td><td class=\"n\">");
        if (d->train_counts)
            fmt_count(b, t);
        else
            df_report_buf_puts(b, "\xE2\x80\x93");
        df_report_buf_puts(b, "</td><td class=\"n\">");
        if (d->val_counts)
            fmt_count(b, v);
        else
            df_report_buf_puts(b, "\xE2\x80\x93");
        df_report_buf_puts(b, "</td><td class=\"n\">");
        fmt_count(b, (int64_t)t + v);
        df_report_buf_printf(b,
                             "</td><td><div class=\"bar\" title=\"%d training, %d validation\">"
                             "<i class=\"t\" style=\"width:%.2f%%\"></i>"
                             "<i class=\"v\" style=\"width:%.2f%%\"></i></div></td></tr>\n",
                             t, v, 100.0 * t / biggest, 100.0 * v / biggest);
    }
    df_report_buf_puts(b, "<tr class=\"sum\"><td></td><td>All classes</td><td class=\"n\">");
    fmt_count(b, nt);
    df_report_buf_puts(b, "</td><td class=\"n\">");
    fmt_count(b, nv);
    df_report_buf_puts(b, "</td><td class=\"n\">");
    fmt_count(b, nt + nv);
    df_report_buf_puts(b, "</td><td></td></tr>\n</tbody></table></div>\n");

    df_report_buf_printf(b, "<h3>Skipped files (%d)</h3>\n", d->n_skipped);
    if (d->n_skipped == 0) {
        df_report_buf_puts(b, "<p class=\"note\">No files were skipped: every file in the "
                              "class folders was read as an image.</p>\n");
    } else {
        df_report_buf_puts(b, "<p class=\"note\">These files are in the class folders but were "
                              "not used.</p>\n<div class=\"scroll\"><table><thead><tr><th>File"
                              "</th><th>Reason</th></tr></thead><tbody>\n");
        for (int i = 0; i < d->n_skipped; i++) {
            df_report_buf_puts(b, "<tr><td class=\"path\">");
            html(b, d->skipped[i].path);
            df_report_buf_puts(b, "</td><td>");
            html(b, d->skipped[i].reason ? d->skipped[i].reason : "");
            df_report_buf_puts(b, "</td></tr>\n");
        }
        df_report_buf_puts(b, "</tbody></table></div>\n");
    }
    df_report_buf_puts(b, "</section>\n");
}

static void settings_section(buf *b, const df_report_data *d) {
    df_report_buf_puts(b, "<section id=\"settings\"><h2>Settings</h2>\n");
    if (d->n_settings == 0) {
        df_report_buf_puts(b, "<p class=\"note\">No settings recorded.</p></section>\n");
        return;
    }
    df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th>Setting</th>"
                          "<th>Value</th></tr></thead><tbody>\n");
    for (int i = 0; i < d->n_settings; i++) {
        df_report_buf_puts(b, "<tr><td>");
        html(b, d->settings[i].key);
        df_report_buf_puts(b, "</td><td class=\"code\">");
        html(b, d->settings[i].value ? d->settings[i].value : "");
        df_report_buf_puts(b, "</td></tr>\n");
    }
    df_report_buf_puts(b, "</tbody></table></div></section>\n");
}

/* An exact fit has no epochs: the section says how the head was fitted
 * and what it scores at the optimum (e; NULL when no history was given),
 * in place of two one-point plots. */
static void exact_fit_section(buf *b, const df_report_history *h, const df_report_epoch *e) {
    df_report_buf_puts(b, "<section id=\"curves\"><h2>Head fit</h2>\n"
                          "<p class=\"note\">The linear head was fitted in one pass to the optimum of its "
                          "L2-penalised softmax objective over every augmented variant of the training photos "
                          "(<code>--solver exact</code>, L-BFGS): there are no epochs, so there are no learning "
                          "curves. <code>--solver adam</code> trains by epochs and draws them.");
    if (h->exact_iterations > 0) {
        const int reached = h->exact_grad_max <= h->exact_tol;
        df_report_buf_printf(b, " L-BFGS took %d iterations; the objective's largest gradient entry is %.1e, %s "
                                "the tolerance %.0e%s.",
                             h->exact_iterations, h->exact_grad_max, reached ? "within" : "above", h->exact_tol,
                             reached ? "" : " (stopped at the iteration cap: the head is the last iterate)");
    }
    df_report_buf_puts(b, "</p>\n");
    if (!e) {
        df_report_buf_puts(b, "</section>\n");
        return;
    }
    df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th></th><th class=\"n\">Loss</th>"
                          "<th class=\"n\">Accuracy</th></tr></thead><tbody>\n"
                          "<tr><td>Training (every augmented variant)</td><td class=\"n\">");
    loss_accuracy_cells(b, e->loss, e->accuracy);
    df_report_buf_puts(b, "</td></tr>\n<tr><td>Validation</td><td class=\"n\">");
    loss_accuracy_cells(b, e->val_loss, e->val_accuracy);
    df_report_buf_puts(b, "</td></tr>\n</tbody></table></div></section>\n");
}

static void curves_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    const df_report_history *h = &d->history;
    if (h->exact_fit) {
        exact_fit_section(b, h, h->n_epochs == 1 ? &h->epochs[0] : NULL);
        return;
    }
    df_report_buf_puts(b, "<section id=\"curves\"><h2>Learning curves</h2>\n"
                          "<p class=\"note\">Training as dots, validation as a line; the dashed "
                          "line marks the epoch with the lowest validation loss");
    if (h->kept_epoch >= 0 && h->kept_epoch == h->best_epoch)
        df_report_buf_puts(b, ", whose weights the model keeps (early stopping restored them)");
    else if (h->kept_epoch >= 0)
        df_report_buf_printf(b, "; the model keeps the weights of epoch %d, the last", h->kept_epoch + 1);
    df_report_buf_puts(b, ".</p>\n<div class=\"grid2\">\n");
    figure(b, &f->accuracy, "Training and validation accuracy per epoch", NULL);
    figure(b, &f->loss, "Training and validation loss per epoch", NULL);
    df_report_buf_puts(b, "</div>\n");
    if (h->n_epochs > 0) {
        df_report_buf_puts(b, "<details><summary>Per-epoch history</summary>"
                              "<div class=\"scroll\"><table><thead><tr><th class=\"n\">Epoch"
                              "</th><th class=\"n\">Loss</th><th class=\"n\">Accuracy</th>"
                              "<th class=\"n\">Val loss</th><th class=\"n\">Val accuracy</th>"
                              "<th class=\"n\">Time</th></tr></thead><tbody>\n");
        for (int i = 0; i < h->n_epochs; i++) {
            const df_report_epoch *e = &h->epochs[i];
            df_report_buf_printf(b, "<tr%s><td class=\"n\">%d%s</td><td class=\"n\">",
                                 i == h->best_epoch ? " class=\"best\"" : "", i + 1,
                                 i == h->best_epoch && i == h->kept_epoch ? " (best, kept)"
                                 : i == h->best_epoch                    ? " (best)"
                                 : i == h->kept_epoch                    ? " (kept)"
                                                                         : "");
            loss_accuracy_cells(b, e->loss, e->accuracy);
            df_report_buf_puts(b, "</td><td class=\"n\">");
            loss_accuracy_cells(b, e->val_loss, e->val_accuracy);
            df_report_buf_puts(b, "</td><td class=\"n\">");
            fmt_duration(b, e->seconds);
            df_report_buf_puts(b, "</td></tr>\n");
        }
        df_report_buf_puts(b, "</tbody></table></div></details>\n");
    }
    df_report_buf_puts(b, "</section>\n");
}

static void metrics_row(buf *b, const char *label, const df_report_class_metrics *m,
                        const char *cls) {
    df_report_buf_printf(b, "<tr%s%s%s><td>", cls ? " class=\"" : "", cls ? cls : "",
                         cls ? "\"" : "");
    html(b, label);
    df_report_buf_printf(b, "</td><td class=\"n\">%.2f</td><td class=\"n\">%.2f</td>"
                            "<td class=\"n\">%.2f</td><td class=\"n\">%d</td>"
                            "<td><div class=\"meter\"><i style=\"width:%.1f%%\"></i></div>"
                            "</td></tr>\n",
                         m->precision, m->recall, m->f1, m->support,
                         isfinite(m->f1) ? fmin(fmax(m->f1, 0), 1) * 100.0 : 0.0);
}

static void evaluation_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    df_report_buf_puts(b, "<section id=\"evaluation\"><h2>Evaluation on the validation set"
                          "</h2>\n<p class=\"note\">Rows are the true class, columns the "
                          "predicted class.</p>\n<div class=\"grid2\">\n");
    figure(b, &f->confusion, "Confusion matrix with counts", NULL);
    figure(b, &f->confusion_normalized, "Confusion matrix as percent of each true class", NULL);
    df_report_buf_puts(b, "</div>\n<h3>Classification report</h3>\n");
    if (d->class_metrics) {
        df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th>Class</th>"
                              "<th class=\"n\">Precision</th><th class=\"n\">Recall</th>"
                              "<th class=\"n\">F1-score</th><th class=\"n\">Support</th>"
                              "<th style=\"width:26%\">F1</th></tr></thead><tbody>\n");
        int64_t support = 0;
        for (int i = 0; i < d->n_classes; i++) {
            metrics_row(b, d->class_names[i], &d->class_metrics[i], NULL);
            support += d->class_metrics[i].support;
        }
        df_report_buf_puts(b, "<tr class=\"sum\"><td>accuracy</td><td></td><td></td>"
                              "<td class=\"n\">");
        fmt_num(b, d->accuracy, 2);
        df_report_buf_printf(b, "</td><td class=\"n\">%lld</td><td></td></tr>\n",
                             (long long)support);
        metrics_row(b, "macro avg", &d->macro_avg, NULL);
        metrics_row(b, "weighted avg", &d->weighted_avg, NULL);
        df_report_buf_puts(b, "</tbody></table></div>\n");
    }
    if (d->classification_text) {
        df_report_buf_printf(b, "<details%s><summary>As text (scikit-learn format, also in "
                                "classification_report.txt)</summary><pre>",
                             d->class_metrics ? "" : " open");
        html(b, d->classification_text);
        df_report_buf_puts(b, "</pre></details>\n");
    }
    if (!d->class_metrics && !d->classification_text)
        df_report_buf_puts(b, "<p class=\"note\">No classification report (no validation "
                              "set).</p>\n");
    df_report_buf_puts(b, "</section>\n");
}

/* Calibration and the unknown detector (issue 12). */
static void trust_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    df_report_buf_puts(b, "<section id=\"trust\"><h2>Trust</h2>\n<p class=\"note\">How far the probabilities "
                          "can be taken at their word (a reliability diagram: bars on the diagonal are "
                          "perfectly calibrated), and how many validation photos the \"none of these\" "
                          "detector would turn away.</p>\n");
    figure(b, &f->reliability, "Reliability diagram", NULL);
    df_report_buf_puts(b, "<table><tbody>\n");
    if (d->n_calib_bins > 0) {
        if (d->temperature > 0)
            df_report_buf_printf(b, "<tr><td>temperature</td><td class=\"n\">%.3f</td></tr>\n"
                                    "<tr><td>expected calibration error</td><td class=\"n\">%.4f "
                                    "(%.4f before scaling)</td></tr>\n"
                                    "<tr><td>log loss</td><td class=\"n\">%.4f (%.4f before scaling)</td></tr>\n",
                                 d->temperature, d->ece, d->ece_raw, d->loss, d->loss_raw);
        else
            df_report_buf_printf(b, "<tr><td>expected calibration error</td><td class=\"n\">%.4f (the model has "
                                    "no temperature)</td></tr>\n", d->ece);
    }
    if (d->unknown_lost >= 0) {
        int n = 0;
        for (int i = 0; d->val_counts && i < d->n_classes; i++) n += d->val_counts[i];
        df_report_buf_printf(b, "<tr><td>unknown threshold</td><td class=\"n\">%.4f</td></tr>\n"
                                "<tr><td>validation photos called unknown</td><td class=\"n\">%d of %d</td></tr>\n"
                                "<tr><td>accuracy on the accepted photos</td><td class=\"n\">%.4f (on all %.4f)"
                                "</td></tr>\n",
                             d->unknown_threshold, d->unknown_lost, n, d->accuracy_accepted, d->accuracy);
        if (d->offtopic_photos > 0)
            df_report_buf_printf(b, "<tr><td>off-topic photos called unknown</td><td class=\"n\">%d of %d (%.1f%%)"
                                    "</td></tr>\n",
                                 d->offtopic_caught, d->offtopic_photos, 100.0 * d->offtopic_caught / d->offtopic_photos);
    } else {
        df_report_buf_puts(b, "<tr><td>unknown detector</td><td>none (the model was trained before it existed)"
                              "</td></tr>\n");
    }
    df_report_buf_puts(b, "</tbody></table></section>\n");
}

static void gallery_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    df_report_buf_puts(b, "<section id=\"gallery\"><h2>Predictions</h2>\n<p class=\"note\">"
                          "Validation photos captioned &ldquo;predicted confidence (true)"
                          "&rdquo;: <span class=\"ok\">green</span> when right, "
                          "<span class=\"bad\">red</span> when wrong; misclassified photos "
                          "come first.</p>\n");
    figure(b, &f->gallery, "Gallery of validation predictions", NULL);
    int *order = d->n_gallery > 0 ? malloc(sizeof(int) * (size_t)d->n_gallery) : NULL;
    if (order) {
        int k = df_report_gallery_order(d, order, 0);
        df_report_buf_puts(b, "<details><summary>As a list</summary><div class=\"scroll\">"
                              "<table><thead><tr><th>File</th><th>Prediction</th><th>True "
                              "class</th><th class=\"n\">Confidence</th></tr></thead><tbody>\n");
        for (int s = 0; s < k; s++) {
            const df_report_gallery_item *it = &d->gallery[order[s]];
            int ok = it->predicted_class == it->true_class;
            df_report_buf_puts(b, "<tr><td class=\"path\">");
            html(b, it->name ? it->name : "");
            df_report_buf_printf(b, "</td><td class=\"%s\">%s ", ok ? "ok" : "bad",
                                 ok ? "\xE2\x9C\x93" : "\xE2\x9C\x97");
            html(b, d->class_names[it->predicted_class]);
            df_report_buf_puts(b, "</td><td>");
            html(b, d->class_names[it->true_class]);
            df_report_buf_puts(b, "</td><td class=\"n\">");
            fmt_pct(b, it->confidence, 0);
            df_report_buf_puts(b, "</td></tr>\n");
        }
        df_report_buf_puts(b, "</tbody></table></div></details>\n");
        free(order);
    } else if (d->n_gallery > 0) {
        b->failed = 1;
    }
    df_report_buf_puts(b, "</section>\n");
}

static void samples_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    (void)d;
    df_report_buf_puts(b, "<section id=\"augmentation\"><h2>Augmentation</h2>\n"
                          "<p class=\"note\">Training photos (left) and random augmented "
                          "versions of each, as the head saw them during training.</p>\n");
    figure(b, &f->samples, "Training photos and augmented versions", NULL);
    df_report_buf_puts(b, "</section>\n");
}

static void model_section(buf *b, const df_report_data *d, const df_report_figures *f) {
    df_report_buf_puts(b, "<section id=\"model\"><h2>Model</h2>\n");
    if (d->n_layers == 0) {
        df_report_buf_puts(b, "<p class=\"note\">No model summary.</p>\n");
    } else {
        int64_t total = 0, trainable = 0;
        df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th>Layer</th>"
                              "<th>Type</th><th>Output shape</th><th class=\"n\">Params</th>"
                              "<th>Trainable</th></tr></thead><tbody>\n");
        for (int i = 0; i < d->n_layers; i++) {
            const df_report_layer *l = &d->layers[i];
            total += l->params;
            trainable += l->trainable_params;
            df_report_buf_puts(b, "<tr><td><b>");
            html(b, l->name ? l->name : "");
            df_report_buf_puts(b, "</b></td><td>");
            html(b, l->type ? l->type : "");
            df_report_buf_puts(b, "</td><td class=\"code\">");
            html(b, l->output_shape ? l->output_shape : "");
            df_report_buf_puts(b, "</td><td class=\"n\">");
            fmt_count(b, l->params);
            df_report_buf_puts(b, "</td><td>");
            if (l->params > 0 && l->trainable_params >= l->params) {
                df_report_buf_puts(b, "<span class=\"pill tr\">trainable</span>");
            } else if (l->trainable_params > 0) {
                df_report_buf_puts(b, "<span class=\"pill pa\">");
                fmt_count(b, l->trainable_params);
                df_report_buf_puts(b, " of ");
                fmt_count(b, l->params);
                df_report_buf_puts(b, "</span>");
            } else if (l->params > 0) {
                df_report_buf_puts(b, "<span class=\"pill fr\">frozen</span>");
            } else {
                df_report_buf_puts(b, "<span class=\"pill no\">no weights</span>");
            }
            df_report_buf_puts(b, "</td></tr>\n");
        }
        df_report_buf_puts(b, "<tr class=\"sum\"><td>Total params</td><td></td><td></td>"
                              "<td class=\"n\">");
        fmt_count(b, total);
        df_report_buf_puts(b, "</td><td></td></tr>\n<tr><td>Trainable params</td><td></td>"
                              "<td></td><td class=\"n\">");
        fmt_count(b, trainable);
        df_report_buf_puts(b, "</td><td></td></tr>\n<tr><td>Non-trainable params</td><td></td>"
                              "<td></td><td class=\"n\">");
        fmt_count(b, total - trainable);
        df_report_buf_puts(b, "</td><td></td></tr>\n</tbody></table></div>\n");
        df_report_buf_puts(b, "<details><summary>As a figure (model_summary.png)</summary>");
        figure(b, &f->model_summary, "Model summary table", NULL);
        df_report_buf_puts(b, "</details>\n");
    }
    df_report_buf_puts(b, "</section>\n");
}

void df_report_html_begin(df_report_buf *b, const char *title, const char *subtitle_html,
                          const char *nav_html) {
    df_report_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                          "<meta name=\"viewport\" content=\"width=device-width, "
                          "initial-scale=1\">\n"
                          "<meta name=\"generator\" content=\"DeepFashion " DF_VERSION_STRING
                          "\">\n<title>");
    html(b, title);
    df_report_buf_puts(b, "</title>\n<style>\n");
    df_report_buf_puts(b, CSS);
    df_report_buf_puts(b, "</style>\n</head>\n<body>\n<header class=\"top\"><div class=\"in\">"
                          "<h1>");
    html(b, title);
    df_report_buf_printf(b, "</h1><p>%s</p></div></header>\n", subtitle_html);
    df_report_buf_printf(b, "<nav><div class=\"in\">%s</div></nav>\n<main>\n", nav_html);
}

void df_report_html_end(df_report_buf *b) {
    df_report_buf_puts(b, "<footer>Made by DeepFashion " DF_VERSION_STRING
                          ". This page is self-contained: figures are embedded, nothing is "
                          "loaded from elsewhere.</footer>\n</main>\n</body>\n</html>\n");
}

df_status df_report_html(const df_report_data *d, const df_report_figures *f, char **out,
                         size_t *len, df_error *err) {
    *out = NULL;
    *len = 0;
    df_status st = df_report_validate(d, err);
    if (st != DF_OK) return st;
    const char *title = d->title ? d->title : "DeepFashion report";
    buf b, sub;
    df_report_buf_init(&b);
    df_report_buf_init(&sub);
    df_report_buf_puts(&sub, "Transfer learning on a frozen ");
    html(&sub, d->backbone ? d->backbone : "pretrained");
    df_report_buf_printf(&sub, " backbone \xC2\xB7 %d classes", d->n_classes);
    if (d->generated) {
        df_report_buf_puts(&sub, " \xC2\xB7 ");
        html(&sub, d->generated);
    }
    char nav[512];
    snprintf(nav, sizeof nav,
             "<a href=\"#data\">Data set</a><a href=\"#settings\">Settings</a><a href=\"#curves\">%s</a>"
             "<a href=\"#evaluation\">Evaluation</a><a href=\"#trust\">Trust</a><a href=\"#gallery\">Predictions</a>"
             "<a href=\"#augmentation\">Augmentation</a><a href=\"#model\">Model</a>%s",
             d->history.exact_fit ? "Head fit" : "Curves", d->audit_html ? "<a href=\"#audit\">Audit</a>" : "");
    df_report_html_begin(&b, title, sub.data ? sub.data : "", nav);
    b.failed |= sub.failed;
    df_report_buf_free(&sub);
    headline(&b, d);
    dataset_section(&b, d);
    settings_section(&b, d);
    curves_section(&b, d, f);
    evaluation_section(&b, d, f);
    trust_section(&b, d, f);
    gallery_section(&b, d, f);
    samples_section(&b, d, f);
    model_section(&b, d, f);
    if (d->audit_html) df_report_buf_puts(&b, d->audit_html);
    df_report_html_end(&b);
    if (b.failed) {
        df_report_buf_free(&b);
        return df_error_set(err, DF_ERR_NOMEM, "report.html: out of memory");
    }
    *out = b.data;
    *len = b.len;
    return DF_OK;
}
