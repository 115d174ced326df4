/*
 * OpenBLAS's thread pool (the pthread build Debian ships). Its idle
 * threads wait for work in sched_yield for about 0.1 s (2^28 cycles)
 * before they sleep, and openblas_set_num_threads starts the pool again
 * whatever the count asked (OpenBLAS 0.3.21, blas_server.c): the Gram
 * matrix's one-thread calls (optim/softmax_exact.c) then ran beside a
 * thread spinning on one of the two cores, and took up to twice as long.
 * These set the count and leave the pool stopped: OpenBLAS starts it again
 * at its next threaded call, where the threads have work.
 *
 * Not thread-safe (neither is openblas_set_num_threads): call while no
 * other thread is in OpenBLAS. Inside an OpenMP parallel region
 * df_blas_threads_set only sets the count (another thread of the region
 * may be in a threaded call).
 */
#ifndef DF_CORE_BLAS_THREADS_H
#define DF_CORE_BLAS_THREADS_H

/* OpenBLAS's threads for its next calls (openblas_set_num_threads), its
 * pool stopped until a call uses them (outside parallel regions). */
void df_blas_threads_set(int n);
/* OpenBLAS's thread count (openblas_get_num_threads). */
int df_blas_threads(void);
/* Stop the pool's idle threads (a no-op where OpenBLAS lacks the call). */
void df_blas_threads_stop(void);

#endif
