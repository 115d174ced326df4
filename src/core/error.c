/* Error messages and overflow-checked size arithmetic (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char *df_status_name(df_status status) {
    switch (status) {
    case DF_OK: return "ok";
    case DF_ERR_INVALID_ARG: return "invalid argument";
    case DF_ERR_IO: return "i/o error";
    case DF_ERR_FORMAT: return "format error";
    case DF_ERR_UNSUPPORTED: return "unsupported";
    case DF_ERR_TOO_LARGE: return "too large";
    case DF_ERR_SHAPE: return "shape mismatch";
    case DF_ERR_NOMEM: return "out of memory";
    case DF_ERR_DATA: return "unusable data";
    case DF_ERR_INTERRUPTED: return "interrupted";
    case DF_ERR_BACKEND: return "backend error";
    case DF_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

/* Messages are single lines: a newline from a lower layer would break the
 * CLI's one-line error contract, so it is folded into a space. */
static void fold_newlines(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

df_status df_error_set(df_error *err, df_status status, const char *fmt, ...) {
    if (!err) return status;
    err->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    fold_newlines(err->message);
    return status;
}

df_status df_error_prefix(df_error *err, const char *fmt, ...) {
    if (!err) return DF_ERR_INTERNAL;
    char prefix[DF_ERROR_MESSAGE_MAX];
    char old[DF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    /* Truncation is fine here (a message is one line of at most
     * DF_ERROR_MESSAGE_MAX - 1 bytes); assemble by hand so the compiler's
     * format-truncation check has nothing to flag. */
    size_t cap = sizeof err->message - 1, k = 0;
    const char *parts[3] = {prefix, ": ", old};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(parts[i]);
        if (n > cap - k) n = cap - k;
        memcpy(err->message + k, parts[i], n);
        k += n;
    }
    err->message[k] = '\0';
    fold_newlines(err->message);
    return err->status;
}

void df_error_clear(df_error *err) {
    if (!err) return;
    err->status = DF_OK;
    err->message[0] = '\0';
}

int df_size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int df_size_mul3(size_t a, size_t b, size_t c, size_t *out) {
    size_t ab;
    return df_size_mul(a, b, &ab) && df_size_mul(ab, c, out);
}

void df_first_error_init(df_first_error *fe) {
    fe->index = -1;
    df_error_clear(&fe->err);
}

void df_first_error_note(df_first_error *fe, long index, const df_error *e) {
#ifdef _OPENMP
#pragma omp critical(df_first_error)
#endif
    if (fe->index < 0 || index < fe->index) {
        fe->index = index;
        fe->err = *e;
        /* a failing call always has a status; keep one if it was not set */
        if (fe->err.status == DF_OK) fe->err.status = DF_ERR_INTERNAL;
    }
}

df_status df_first_error_take(const df_first_error *fe, df_error *err) {
    if (fe->index < 0) return DF_OK;
    if (err) *err = fe->err;
    return fe->err.status;
}
