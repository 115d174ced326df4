/*
 * A growable, NUL-terminated string built by printf-style appends (JSON
 * objects, settings records). An allocation failure is sticky: later appends
 * do nothing and df_strbuf_finish returns NULL, so callers check once.
 */
#ifndef DF_CORE_STRBUF_H
#define DF_CORE_STRBUF_H

#include <stddef.h>

#include "core/error.h"

typedef struct df_strbuf {
    char *s;
    size_t n, cap;
    int oom;
} df_strbuf;

void df_strbuf_addf(df_strbuf *b, const char *fmt, ...) DF_PRINTF(2, 3);
/* The string (malloc'ed, the caller frees it), or NULL after a failed
 * allocation; b is left empty either way. */
char *df_strbuf_finish(df_strbuf *b);

#endif
