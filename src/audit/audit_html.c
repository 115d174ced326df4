/*
 * The audit's HTML (audit/audit_write.h): audit.html and the section the
 * training report embeds. The page frame and CSS are the report's
 * (df_report_html_begin/end); thumbnails are the photos decoded small,
 * EXIF-oriented, area-downscaled and embedded as PNG data: URLs, a pair's
 * two photos side by side.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_write.h"
#include "core/fileio.h"
#include "image/image.h"
#include "report/report.h"

#define THUMB 128

typedef df_report_buf buf;

/* A thumbnail <img> of path (longest side THUMB), or a note when it cannot
 * be read (the audit read it a moment ago; a file may have moved since). */
static df_status thumbnail(buf *b, const char *path, df_error *err) {
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = lo.min_height = THUMB;
    df_image full = {0, 0, NULL}, small = {0, 0, NULL};
    df_error e;
    if (df_image_load(path, &lo, &full, &e) != DF_OK) {
        df_report_buf_puts(b, "<span class=\"bad\">(unreadable)</span>");
        return DF_OK;
    }
    double s = (double)THUMB / (full.width > full.height ? full.width : full.height);
    int w = full.width, h = full.height;
    if (s < 1) {
        w = (int)lround(w * s);
        h = (int)lround(h * s);
    }
    df_status st = df_image_resize(&full, w < 1 ? 1 : w, h < 1 ? 1 : h, DF_RESIZE_AREA, &small, err);
    df_image_free(&full);
    if (st) return st;
    uint8_t *png = NULL;
    size_t size = 0;
    st = df_image_encode_png(&small, &png, &size, err);
    if (st == DF_OK) {
        df_report_buf_printf(b, "<img width=\"%d\" height=\"%d\" alt=\"\" src=\"data:image/png;base64,",
                             small.width, small.height);
        df_report_buf_base64(b, png, size);
        df_report_buf_puts(b, "\">");
    }
    free(png);
    df_image_free(&small);
    return st;
}

static df_status issue_row(buf *b, const df_audit_result *r, const df_audit_issue *is, df_error *err) {
    char *sug = df_audit_suggestion(r, is);
    if (!sug) return df_error_set(err, DF_ERR_NOMEM, "audit.html: out of memory");
    df_report_buf_printf(b, "<tr><td>%s</td><td class=\"thumbs\">", df_audit_kind_name(is->kind));
    df_status st = thumbnail(b, r->photos[is->photo].path, err);
    if (st == DF_OK && is->other >= 0) st = thumbnail(b, r->photos[is->other].path, err);
    df_report_buf_puts(b, "</td><td class=\"path\">");
    df_report_buf_html(b, r->photos[is->photo].path);
    df_report_buf_puts(b, "<br><span class=\"muted\">");
    df_report_buf_html(b, r->class_names[r->photos[is->photo].label]);
    df_report_buf_puts(b, "</span>");
    if (is->other >= 0) {
        df_report_buf_puts(b, "<br>\xE2\x86\x94 ");
        df_report_buf_html(b, r->photos[is->other].path);
    }
    df_report_buf_printf(b, "</td><td class=\"n\">%.2f</td><td>", is->score);
    df_report_buf_html(b, sug);
    df_report_buf_puts(b, "</td></tr>\n");
    free(sug);
    return st;
}

static df_status issue_table(buf *b, const df_audit_result *r, int from, int to, df_error *err) {
    df_report_buf_puts(b, "<div class=\"scroll\"><table><thead><tr><th>problem</th><th>photo</th>"
                          "<th>path</th><th class=\"n\">score</th><th>suggestion</th></tr></thead>"
                          "<tbody>\n");
    for (int i = from; i < to; i++) {
        df_status st = issue_row(b, r, &r->issues[i], err);
        if (st) return st;
    }
    df_report_buf_puts(b, "</tbody></table></div>\n");
    return DF_OK;
}

static void pct(buf *b, double v) {
    if (isfinite(v))
        df_report_buf_printf(b, "%.1f%%", 100 * v);
    else
        df_report_buf_puts(b, "\xE2\x80\x93");
}

static void summary_table(buf *b, const df_audit_result *r) {
    df_report_buf_puts(b, "<div class=\"scroll\"><table><tbody>\n");
    for (int k = 0; k < DF_AUDIT_KINDS; k++)
        df_report_buf_printf(b, "<tr><td>%s</td><td class=\"n\">%d</td></tr>\n",
                             df_audit_kind_name(k), r->counts[k]);
    df_report_buf_printf(b, "<tr><td>duplicates filed under two classes</td><td class=\"n\">%d</td></tr>\n",
                         r->cross_class_duplicates);
    if (r->n_train < r->n_photos) {
        df_report_buf_puts(b, "<tr><td>validation accuracy (a head trained on the training photos)</td>"
                              "<td class=\"n\">");
        pct(b, r->val_accuracy);
        df_report_buf_printf(b, "</td></tr>\n<tr><td>without the %d leaked validation photos</td>"
                                "<td class=\"n\">",
                             r->val_leaked);
        pct(b, r->val_accuracy_without_leaks);
        df_report_buf_puts(b, "</td></tr>\n");
    }
    df_report_buf_puts(b, "</tbody></table></div>\n<p class=\"note\">");
    if (r->advise_class_weights)
        df_report_buf_printf(b, "The largest training class has %.1fx the photos of the smallest: train "
                                "with <code>--class-weight balanced</code>, or add photos to the small "
                                "classes.",
                             r->imbalance_ratio);
    else
        df_report_buf_printf(b, "Class sizes differ by at most %.1fx: balanced enough.", r->imbalance_ratio);
    df_report_buf_puts(b, "</p>\n");
}

df_status df_audit_html_section(const df_audit_result *r, int max, buf *b, df_error *err) {
    df_report_buf_puts(b, "<section id=\"audit\"><h2>Audit: photos that may hurt</h2>\n");
    summary_table(b, r);
    int to = r->n_issues < max ? r->n_issues : max;
    df_status st = DF_OK;
    if (to > 0) {
        df_report_buf_printf(b, "<h3>The first %d of %d findings, worst first</h3>\n", to, r->n_issues);
        st = issue_table(b, r, 0, to, err);
    } else {
        df_report_buf_puts(b, "<p class=\"note\">Nothing found.</p>\n");
    }
    df_report_buf_puts(b, "</section>\n");
    return st;
}

df_status df_audit_write_html(const df_audit_result *r, const char *dir, df_error *err) {
    buf b, sub;
    df_report_buf_init(&b);
    df_report_buf_init(&sub);
    df_report_buf_printf(&sub, "%d photos \xC2\xB7 %d classes \xC2\xB7 %d findings", r->n_photos,
                         r->n_classes, r->n_issues);
    df_report_html_begin(&b, "DeepFashion audit", sub.data ? sub.data : "",
                         "<a href=\"#summary\">Summary</a><a href=\"#issues\">Findings</a>");
    df_report_buf_free(&sub);
    df_report_buf_puts(&b, "<section id=\"summary\"><h2>Summary</h2>\n");
    summary_table(&b, r);
    df_report_buf_puts(&b, "</section>\n<section id=\"issues\"><h2>Findings, worst first</h2>\n");
    df_status st = issue_table(&b, r, 0, r->n_issues, err);
    df_report_buf_puts(&b, "</section>\n");
    df_report_html_end(&b);
    if (st == DF_OK && b.failed) st = df_error_set(err, DF_ERR_NOMEM, "audit.html: out of memory");
    if (st == DF_OK) st = df_mkdir_p(dir, err);
    char *path = st == DF_OK ? df_path_join(dir, "audit.html") : NULL;
    if (st == DF_OK && !path) st = df_error_set(err, DF_ERR_NOMEM, "audit.html: out of memory");
    if (st == DF_OK) {
        df_atomic_file af;
        st = df_atomic_open(&af, path, err);
        if (st == DF_OK) {
            fwrite(b.data, 1, b.len, af.fp);
            st = df_atomic_commit(&af, err);
        }
    }
    free(path);
    df_report_buf_free(&b);
    return st;
}
