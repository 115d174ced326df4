/*
 * Printing file names safely. Names are bytes (POSIX), not necessarily
 * UTF-8, and may hold control characters (even a newline).
 *
 * df_text_json_quote: a JSON string literal, quotes included. Valid UTF-8
 * passes through unchanged; '"', '\\' and control characters are escaped
 * (\n, \t, ... or \u00XX); each byte of an invalid UTF-8 sequence becomes
 * \u00XX, i.e. it is read as Latin-1. That mapping is lossy in one rare case
 * (a name holding both the raw byte 0xE9 and a real "é" print alike) but
 * always gives valid JSON that any parser accepts, unlike lone surrogates.
 *
 * df_text_printable: for one-line human output: control characters and
 * bytes of invalid UTF-8 sequences become \xNN; everything else unchanged.
 *
 * Both return a malloc'ed string (caller frees) or NULL when out of memory.
 */
#ifndef DF_DATA_TEXT_H
#define DF_DATA_TEXT_H

#include <stddef.h>

char *df_text_json_quote(const char *s);
char *df_text_printable(const char *s);

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 if the
 * bytes there are not one (overlong forms, surrogates and code points above
 * U+10FFFF are invalid). s must be NUL-terminated. */
size_t df_text_utf8_len(const unsigned char *s);

#endif
