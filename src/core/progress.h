/*
 * Progress of long work (a backbone pass over hundreds of photos): the
 * library reports counts, the caller decides how to show them (the command
 * line draws a bar on a terminal and a line every few seconds otherwise).
 */
#ifndef DF_CORE_PROGRESS_H
#define DF_CORE_PROGRESS_H

typedef struct df_progress {
    /* what: a short noun phrase ("validation photos"); done of total units,
     * done == 0 first and done == total last. Called on the caller's thread. */
    void (*fn)(void *ctx, const char *what, long done, long total);
    void *ctx;
} df_progress;

static inline void df_progress_report(const df_progress *p, const char *what, long done, long total) {
    if (p && p->fn) p->fn(p->ctx, what, done, total);
}

#endif
