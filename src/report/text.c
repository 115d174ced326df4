/* Text helpers for the report (see text.h). UTF-8 validity follows
 * RFC 3629 (Table 3-7 of the Unicode standard): the same sequences a
 * browser's decoder accepts. */
#include "report/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void df_report_buf_init(df_report_buf *b) { memset(b, 0, sizeof *b); }

void df_report_buf_free(df_report_buf *b) {
    if (!b) return;
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int buf_reserve(df_report_buf *b, size_t extra) {
    if (b->failed) return 0;
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void df_report_buf_append(df_report_buf *b, const void *data, size_t n) {
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void df_report_buf_puts(df_report_buf *b, const char *s) {
    if (s) df_report_buf_append(b, s, strlen(s));
}

void df_report_buf_printf(df_report_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there
 * do not start one. s is NUL-terminated, so reading stops at the NUL. */
static int utf8_seq_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        if (s[1] < lo || s[1] > hi) return 0;
        return (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        if (s[1] < lo || s[1] > hi) return 0;
        if ((s[2] & 0xC0) != 0x80) return 0;
        return (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Shared walker: html != 0 also escapes the five HTML-special characters. */
static void append_clean(df_report_buf *b, const char *str, int html) {
    if (!str) {
        df_report_buf_append(b, "", 0);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        int n = utf8_seq_len(s);
        if (n == 0 || (*s < 0x20 && *s != '\t' && *s != '\n') || *s == 0x7F) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\x%02X", *s);
            df_report_buf_puts(b, hex);
            s++;
            continue;
        }
        if (html && n == 1) {
            const char *ent = NULL;
            switch (*s) {
            case '&': ent = "&amp;"; break;
            case '<': ent = "&lt;"; break;
            case '>': ent = "&gt;"; break;
            case '"': ent = "&quot;"; break;
            case '\'': ent = "&#39;"; break;
            default: break;
            }
            if (ent) {
                df_report_buf_puts(b, ent);
                s++;
                continue;
            }
        }
        df_report_buf_append(b, s, (size_t)n);
        s += n;
    }
}

void df_report_buf_utf8_clean(df_report_buf *b, const char *s) { append_clean(b, s, 0); }
void df_report_buf_html(df_report_buf *b, const char *s) { append_clean(b, s, 1); }

char *df_report_utf8_clean(const char *s) {
    df_report_buf b;
    df_report_buf_init(&b);
    df_report_buf_append(&b, "", 0); /* "" in, "" out (not NULL) */
    append_clean(&b, s, 0);
    if (b.failed) {
        df_report_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void df_report_buf_base64(df_report_buf *b, const uint8_t *data, size_t n) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t out_len = (n + 2) / 3 * 4;
    if (!buf_reserve(b, out_len)) return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len += out_len;
    b->data[b->len] = '\0';
}

void df_report_format_count(int64_t v, char *out, size_t out_size) {
    char digits[32];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
    char tmp[48];
    size_t k = 0;
    if (v < 0) tmp[k++] = '-';
    for (int i = 0; i < n; i++) {
        tmp[k++] = digits[i];
        int left = n - 1 - i;
        if (left > 0 && left % 3 == 0) tmp[k++] = ',';
    }
    tmp[k] = '\0';
    snprintf(out, out_size, "%s", tmp);
}
