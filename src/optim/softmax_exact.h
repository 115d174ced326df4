/*
 * The L2-penalised softmax regression fitted to its optimum:
 *
 *   minimise over W (F x C) and b (C)
 *     J = mean_i cross_entropy(softmax(z_i W + b), y_i) + l2 * |W|^2
 *
 * on rows z (n x F, already standardised; the bias is not penalised). J
 * is strictly convex in W for l2 > 0, so the optimum is one point, the
 * same whatever the starting point or the order of the rows: unlike a
 * fixed number of Adam steps, which stop wherever they stop (issue 10:
 * 1,200 steps are near the optimum on 1,280 features and far from it on
 * 11,520).
 *
 * How: the optimum's W lies in the span of the rows (W = z^T A: the
 * penalty's gradient 2 l2 W must cancel the data term's, z^T (P - Y) / n).
 * Any M with M M^T = K, the rows' Gram matrix z z^T (n x n), gives the
 * rows' coordinates in an orthonormal basis V of that span (z = M V^T),
 * and W = V B has |W| = |B|; so the fit is the same regression on the
 * n x r scores M with the same penalty on B. M is K's Cholesky factor
 * (P^T K P = L L^T; pivoted, P a permutation, where a pivot falls below a
 * relative 1e-12 of K's largest diagonal entry, r then the pivots above
 * it: the directions left carry no signal the rows can see), kept in
 * float for L-BFGS's passes (optim/packed_factor.h: the scores' own
 * precision) and fitted in double until the largest gradient entry is
 * below tol, then W = z^T Q with L^T P^T Q = B (a triangular solve in
 * double). Cost: the Gram matrix (n^2 F / 2 multiply-adds, OpenBLAS
 * dsyrk), its factor (dpotrf, or LAPACK dpstrf, n^3 / 3), iterations of
 * about 3 n r C multiply-adds (the objective's pass over L's triangle, the
 * preconditioner's two over L and two over its own factor), and the map
 * back (n F C).
 * Measured by bench_exact_fit (rows like standardised photo features,
 * 11,520 of them; one core of an AMD EPYC, Zen 5): 0.09 s for 424 rows,
 * 1.04 s for 1,600, where eigenvectors (LAPACK dsyevd, about 4 n^3) and
 * GEMMs over the scores took 0.11 and 2.0-2.4 s; the closet's 424 real
 * rows: 38 iterations. L-BFGS on the primal (plain loops) took 0.8-2.7 s
 * for 424 rows on a 2-core AMX guest.
 */
#ifndef DF_OPTIM_SOFTMAX_EXACT_H
#define DF_OPTIM_SOFTMAX_EXACT_H

#include <signal.h>

#include "core/error.h"

typedef struct df_softmax_exact_report {
    double objective; /* J at the result */
    double grad_max;  /* largest |dJ/dB| or |dJ/db| at the result */
    int iterations;   /* L-BFGS iterations */
    int rank;         /* the Cholesky factor's rank: pivots of K kept */
    int converged;    /* grad_max <= tol */
} df_softmax_exact_report;

/* Fits W (F x C, row-major: W[j * C + c]) and b (C) to the optimum of J on
 * z (n x F) with labels y in [0, C). l2 > 0; tol e.g. 1e-6 (double
 * precision stalls near 1e-8 on standardised rows); max_iters e.g. 5000. rep may be NULL. Errors: bad arguments, out of memory, LAPACK
 * failing; not converging within max_iters is reported in rep, not an
 * error (the result is the last iterate). */
df_status df_softmax_fit_exact(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                               int max_iters, float *W, float *b, df_softmax_exact_report *rep,
                               df_error *err) DF_MUST_CHECK;

/* df_softmax_fit_exact that stops when *stop becomes non-zero (Ctrl-C:
 * checked every L-BFGS iteration, a fraction of a second even on 12,000
 * rows), returning DF_ERR_INTERRUPTED with W and b untouched; stop NULL =
 * never. */
df_status df_softmax_fit_exact_until(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                                     int max_iters, const volatile sig_atomic_t *stop, float *W, float *b,
                                     df_softmax_exact_report *rep, df_error *err) DF_MUST_CHECK;

/* Rows z for the Gram way: x (rows x F), standardised where they are read
 * as (x - mean) / sd in float, feature by feature, which is what
 * df_head_standardise writes (so the same bits as a standardised copy,
 * without the copy: 39 MB for the closet's 848 rows of 11,520); mean and
 * sd NULL: x as it is. */
typedef struct df_softmax_rows {
    const float *x;
    const float *mean, *sd; /* F each, or both NULL */
} df_softmax_rows;

/* Cross-validation's folds fit subsets of the same rows: their Gram
 * matrices are blocks of one. df_softmax_gram: the Gram matrix of n <=
 * DF_SOFTMAX_EXACT_MAX_GRAM_ROWS rows of z (n x F) in double, n x n, its
 * lower triangle column-major (K[j * n + i], i >= j; the rest unset),
 * malloc'd into *K for the caller to free. df_softmax_fit_exact_rows: the
 * fit of df_softmax_fit_exact_until on rows idx[0..n) of z (n_all x F;
 * labels y: n, one per idx) on the Gram way, its Gram matrix the block of
 * K (df_softmax_gram of all n_all rows): the same optimum, without the
 * n^2 F of another Gram matrix. */
df_status df_softmax_gram(const df_softmax_rows *z, int n, int F, double **K, df_error *err) DF_MUST_CHECK;
df_status df_softmax_fit_exact_rows(const df_softmax_rows *z, int n_all, int F, const double *K, const int *idx, int n,
                                    const int *y, int C, double l2, double tol, int max_iters,
                                    const volatile sig_atomic_t *stop, float *W, float *b,
                                    df_softmax_exact_report *rep, df_error *err) DF_MUST_CHECK;

/* Rows beyond which df_softmax_fit_exact fits the primal instead: the Gram
 * matrix and its factor grow as n^2 (n = 4,096: 128 MB each) and
 * their cost as n^2 F and n^3, where the primal's L-BFGS costs two float GEMMs over
 * the rows per step (in double, 256 rows at a time) in no more memory than
 * the rows (3,068 clothing photos x 4 variants = 12,272 rows: the Gram way
 * held 6.7 GB). With more rows than features the Gram matrix has nothing
 * to save either. */
#define DF_SOFTMAX_EXACT_MAX_GRAM_ROWS 4096

/* Whether df_softmax_fit_exact fits n rows of F features on the primal
 * (each iteration a pass over all the rows) rather than on the Gram
 * matrix's reduced scores (iterations of n r C, nearly free). */
int df_softmax_exact_uses_primal(int n, int F);

/* The same optimum by L-BFGS on W and b directly (logits and gradient by
 * OpenBLAS dgemm over blocks of z converted to double): what
 * df_softmax_fit_exact runs when n > F or n > DF_SOFTMAX_EXACT_MAX_GRAM_ROWS;
 * callable on any size (the tests compare both ways). rep->rank = F. */
df_status df_softmax_fit_primal(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                                int max_iters, float *W, float *b, df_softmax_exact_report *rep,
                                df_error *err) DF_MUST_CHECK;

/* J and its gradient at (W, b) on z, plainly, in double: the reference the
 * tests check df_softmax_fit_exact against (gW: F x C, gb: C; may be NULL). */
double df_softmax_objective(const float *z, const int *y, int n, int F, int C, double l2, const float *W,
                            const float *b, double *gW, double *gb);

#endif
