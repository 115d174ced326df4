/*
 * The audit's outputs: one JSON object (deepfashion audit --json), the fix
 * list as CSV (--csv) and the HTML page with thumbnails (--report), plus
 * the short HTML section of top findings the training report shows.
 *
 * JSON: {"issues":[{"type":"mislabeled","path":...,"score":0.93,
 * "suggested_class":"tops"},{"type":"leak","path":...,"other_path":...,
 * "score":0.99,"match":"near-duplicate"},...],"summary":{...}}; paths are
 * the data set's (as the folder was given), quoted by df_text_json_quote.
 * CSV (RFC 4180): path,problem,suggestion,score,other_path, one row per
 * issue, worst first.
 */
#ifndef DF_AUDIT_AUDIT_WRITE_H
#define DF_AUDIT_AUDIT_WRITE_H

#include "audit/audit.h"
#include "core/error.h"
#include "report/text.h"

/* The JSON object, malloc'ed, with a final newline; NULL when out of memory. */
char *df_audit_json(const df_audit_result *r);

/* What to do about issue i, one line ("move to tops", "remove: a copy of
 * train/x.jpg"), malloc'ed; NULL when out of memory. */
char *df_audit_suggestion(const df_audit_result *r, const df_audit_issue *is);

/* The fix list, written atomically. */
df_status df_audit_write_csv(const df_audit_result *r, const char *path, df_error *err) DF_MUST_CHECK;

/* DIR/audit.html (created with DIR; atomic): the summary, then every issue
 * with a thumbnail of the photo (pairs side by side). */
df_status df_audit_write_html(const df_audit_result *r, const char *dir, df_error *err) DF_MUST_CHECK;

/* Appends a <section id="audit"> with the counts and the first max issues
 * (thumbnails included) to b; for the training report. */
df_status df_audit_html_section(const df_audit_result *r, int max, df_report_buf *b,
                                df_error *err) DF_MUST_CHECK;

#endif
