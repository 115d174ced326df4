/* Safe printing of byte-string file names as JSON or one-line text (see text.h). */
#include "data/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t df_text_utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned min, cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, 0xC0/0xC1 or 0xF5.. */
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* Worst case 6 output bytes per input byte, plus quotes and NUL. */
static char *alloc_out(const char *s) {
    size_t n = strlen(s);
    if (n > ((size_t)-1 - 3) / 6) return NULL;
    return malloc(n * 6 + 3);
}

char *df_text_json_quote(const char *s) {
    char *out = alloc_out(s);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    *o++ = '"';
    while (*p) {
        unsigned c = *p;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default: break;
        }
        if (esc) {
            size_t k = strlen(esc);
            memcpy(o, esc, k);
            o += k;
            p++;
            continue;
        }
        if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
            p++;
            continue;
        }
        size_t k = df_text_utf8_len(p);
        if (k == 0) {
            o += sprintf(o, "\\u%04x", c);
            p++;
            continue;
        }
        memcpy(o, p, k);
        o += k;
        p += k;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

char *df_text_printable(const char *s) {
    char *out = alloc_out(s);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    char *o = out;
    while (*p) {
        size_t k = *p < 0x20 || *p == 0x7F ? 0 : df_text_utf8_len(p);
        if (k == 0) {
            o += sprintf(o, "\\x%02x", *p);
            p++;
            continue;
        }
        memcpy(o, p, k);
        o += k;
        p += k;
    }
    *o = '\0';
    return out;
}
