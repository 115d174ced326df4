/*
 * A one-slot-ahead prefetcher: a worker thread prepares job k+1 (decode,
 * augment, preprocess) into the second of two buffers while the caller
 * consumes job k (the backbone). darknet's double buffer, with explicit
 * ownership and errors instead of globals.
 *
 * Jobs are numbered 0..count-1 and prepared strictly in order, so the
 * result never depends on timing. The prepare callback runs on the worker
 * thread only.
 */
#ifndef DF_DATA_PREFETCH_H
#define DF_DATA_PREFETCH_H

#include <stddef.h>

#include "core/error.h"

/* Fills buf (capacity floats) for job; sets *n_items; returns a status. */
typedef df_status (*df_prefetch_fn)(void *ctx, int job, float *buf, int *n_items, df_error *err);

typedef struct df_prefetch df_prefetch;

df_status df_prefetch_start(df_prefetch_fn fn, void *ctx, int count, size_t capacity,
                            df_prefetch **out, df_error *err) DF_MUST_CHECK;
/* Waits for the next job; *buf stays valid until the next call to _next or
 * _stop. Returns the job's status (its message in err). */
df_status df_prefetch_next(df_prefetch *pf, const float **buf, int *n_items,
                           df_error *err) DF_MUST_CHECK;
/* Cancels what is left, joins the worker, frees everything. Accepts NULL. */
void df_prefetch_stop(df_prefetch *pf);

#endif
