/* Double-buffered job prefetching on one worker thread (see prefetch.h). */
#include "data/prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    float *buf;
    int n_items;
    int job;          /* job held, -1 = empty */
    df_status status;
    df_error err;
} slot;

struct df_prefetch {
    df_prefetch_fn fn;
    void *ctx;
    int count;
    slot slots[2];
    int next_produce;  /* next job the worker prepares */
    int next_consume;  /* next job the caller takes */
    int cancel;
    int thread_started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker(void *arg) {
    df_prefetch *pf = arg;
    for (;;) {
        pthread_mutex_lock(&pf->mu);
        int job = pf->next_produce;
        slot *s = &pf->slots[job & 1];
        /* Wait until the slot for this job is free (its previous job was
         * consumed and released), or cancellation. */
        while (!pf->cancel && job < pf->count && s->job != -1) pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->cancel || job >= pf->count) {
            pthread_mutex_unlock(&pf->mu);
            return NULL;
        }
        pthread_mutex_unlock(&pf->mu);

        df_error e;
        df_error_clear(&e);
        int n = 0;
        df_status st = pf->fn(pf->ctx, job, s->buf, &n, &e);

        pthread_mutex_lock(&pf->mu);
        s->n_items = n;
        s->status = st;
        s->err = e;
        s->job = job;
        pf->next_produce++;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        if (st != DF_OK) return NULL; /* the caller sees the error and stops */
    }
}

df_status df_prefetch_start(df_prefetch_fn fn, void *ctx, int count, size_t capacity,
                            df_prefetch **out, df_error *err) {
    *out = NULL;
    df_prefetch *pf = calloc(1, sizeof *pf);
    if (!pf) return df_error_set(err, DF_ERR_NOMEM, "prefetch: out of memory");
    pf->fn = fn;
    pf->ctx = ctx;
    pf->count = count;
    for (int i = 0; i < 2; i++) {
        pf->slots[i].job = -1;
        pf->slots[i].buf = malloc((capacity ? capacity : 1) * sizeof(float));
        if (!pf->slots[i].buf) {
            free(pf->slots[0].buf);
            free(pf->slots[1].buf);
            free(pf);
            return df_error_set(err, DF_ERR_NOMEM, "prefetch: cannot allocate %zu floats", capacity);
        }
    }
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    if (pthread_create(&pf->thread, NULL, worker, pf) != 0) {
        df_prefetch_stop(pf);
        return df_error_set(err, DF_ERR_BACKEND, "prefetch: cannot start a thread");
    }
    pf->thread_started = 1;
    *out = pf;
    return DF_OK;
}

df_status df_prefetch_next(df_prefetch *pf, const float **buf, int *n_items, df_error *err) {
    pthread_mutex_lock(&pf->mu);
    int job = pf->next_consume;
    if (job >= pf->count) {
        pthread_mutex_unlock(&pf->mu);
        return df_error_set(err, DF_ERR_INTERNAL, "prefetch: no job %d of %d", job, pf->count);
    }
    /* Release the slot of the previous job: the caller is done with it. */
    if (job > 0) {
        pf->slots[(job - 1) & 1].job = -1;
        pthread_cond_broadcast(&pf->cv);
    }
    slot *s = &pf->slots[job & 1];
    while (s->job != job) pthread_cond_wait(&pf->cv, &pf->mu);
    pf->next_consume++;
    df_status st = s->status;
    if (st != DF_OK && err) *err = s->err;
    *buf = s->buf;
    *n_items = s->n_items;
    pthread_mutex_unlock(&pf->mu);
    return st;
}

void df_prefetch_stop(df_prefetch *pf) {
    if (!pf) return;
    if (pf->thread_started) {
        pthread_mutex_lock(&pf->mu);
        pf->cancel = 1;
        pthread_cond_broadcast(&pf->cv);
        pthread_mutex_unlock(&pf->mu);
        pthread_join(pf->thread, NULL);
    }
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    free(pf->slots[0].buf);
    free(pf->slots[1].buf);
    free(pf);
}
