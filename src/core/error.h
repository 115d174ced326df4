/*
 * Error reporting: a status plus a one-line message in a caller-owned
 * df_error. Functions that fail call df_error_set and return its result:
 *
 *     if (w <= 0) return df_error_set(err, DF_ERR_FORMAT, "%s: width %d", path, w);
 *
 * err may be NULL (the message is then dropped). Messages never end in '\n'.
 */
#ifndef DF_CORE_ERROR_H
#define DF_CORE_ERROR_H

#include "deepfashion.h"

#if defined(__GNUC__)
#define DF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define DF_MUST_CHECK __attribute__((warn_unused_result))
#else
#define DF_PRINTF(a, b)
#define DF_MUST_CHECK
#endif

/* Sets err (if not NULL) and returns status. */
df_status df_error_set(df_error *err, df_status status, const char *fmt, ...) DF_PRINTF(3, 4);

/* Prepends "context: " to an existing message, keeps the status, returns it.
 * Used when a lower layer's message lacks the file name the caller knows. */
df_status df_error_prefix(df_error *err, const char *fmt, ...) DF_PRINTF(2, 3);

/* Clears err to DF_OK and an empty message. */
void df_error_clear(df_error *err);

/* The error a parallel loop reports: the failure at the lowest index, so
 * that it does not depend on which thread failed first.
 *
 *     df_first_error fe; df_first_error_init(&fe);
 *     #pragma omp parallel for
 *     for (i...) { df_error e; if (work(i, &e)) df_first_error_note(&fe, i, &e); }
 *     return df_first_error_take(&fe, err);   // DF_OK when nothing failed
 *
 * df_first_error_note may be called from any thread (it locks). */
typedef struct df_first_error {
    long index; /* lowest failing index so far; -1 = none */
    df_error err;
} df_first_error;

void df_first_error_init(df_first_error *fe);
void df_first_error_note(df_first_error *fe, long index, const df_error *e);
df_status df_first_error_take(const df_first_error *fe, df_error *err);

/* Overflow-checked size arithmetic: return 0 on overflow, 1 on success. */
int df_size_mul(size_t a, size_t b, size_t *out);
int df_size_mul3(size_t a, size_t b, size_t c, size_t *out);

#endif
