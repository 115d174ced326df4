/* OpenBLAS's thread pool set without leaving it spinning (see blas_threads.h). */
#include "core/blas_threads.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Weak: an OpenBLAS without it (another build, another BLAS) keeps its
 * threads, as before. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

void df_blas_threads_stop(void) {
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

void df_blas_threads_set(int n) {
    openblas_set_num_threads(n);
#ifdef _OPENMP
    /* Another thread of the region may be in a threaded OpenBLAS call,
     * whose threads a stop would take from under it: there the count
     * alone, as openblas_set_num_threads does. */
    if (omp_in_parallel()) return;
#endif
    df_blas_threads_stop();
}

int df_blas_threads(void) { return openblas_get_num_threads(); }
