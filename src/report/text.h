/*
 * Text helpers for the report: a growable byte buffer with a sticky
 * out-of-memory flag, UTF-8 cleaning (file names may be any bytes), HTML
 * escaping, base64 (RFC 4648, with padding, no line breaks) and number
 * formatting with thousands separators.
 *
 * Not a general string library: only what the figures and report.html need.
 */
#ifndef DF_REPORT_TEXT_H
#define DF_REPORT_TEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct df_report_buf {
    char *data;  /* owned, always NUL-terminated once anything was appended */
    size_t len;
    size_t cap;
    int failed;  /* set on the first allocation failure; later appends are no-ops */
} df_report_buf;

void df_report_buf_init(df_report_buf *b);
void df_report_buf_free(df_report_buf *b);
void df_report_buf_append(df_report_buf *b, const void *data, size_t n);
void df_report_buf_puts(df_report_buf *b, const char *s);
void df_report_buf_printf(df_report_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Appends s with every byte sequence that is not valid UTF-8 (overlong
 * forms, surrogates, > U+10FFFF, truncated sequences) and every C0 control
 * character except tab and newline written as the four ASCII characters
 * "\xNN", so any byte string becomes valid, visible UTF-8. NULL appends "". */
void df_report_buf_utf8_clean(df_report_buf *b, const char *s);

/* The same, returning a malloc'ed string (NULL only on allocation failure). */
char *df_report_utf8_clean(const char *s);

/* Appends s cleaned as above and HTML-escaped (& < > " '), safe inside
 * element content and quoted attribute values. */
void df_report_buf_html(df_report_buf *b, const char *s);

/* Appends the base64 encoding of data. */
void df_report_buf_base64(df_report_buf *b, const uint8_t *data, size_t n);

/* Writes v with thousands separators ("14,714,688") into out. */
void df_report_format_count(int64_t v, char *out, size_t out_size);

#endif
