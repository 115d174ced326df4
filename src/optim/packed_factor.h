/*
 * A triangular factor stored in float, applied to double vectors: the
 * exact fit's L-BFGS reads its Cholesky factors once or more per step, and
 * on a few hundred photos (2,560-3,200 rows: 26-41 MB a triangle in
 * double) those reads from memory were most of a fit. Each factor is
 * computed in double and rounded once; the products with it sum in double.
 * Rounding the Gram matrix's factor is rounding the features' scores at
 * the features' own precision (float); the preconditioner's factor only
 * shapes L-BFGS's steps, not where they end.
 *
 * Every kernel gives the same bits with AVX2 or AVX-512 as its plain
 * loop (DF_CPU_ISA=scalar): the plain loop sums in the AVX2 kernel's four
 * lanes, in its order, with fma(), and the AVX-512 one keeps two lines'
 * four lanes in one register. isa: the kernels to take (df_cpu_isa_best(),
 * looked up once by the caller: it reads the environment).
 */
#ifndef DF_OPTIM_PACKED_FACTOR_H
#define DF_OPTIM_PACKED_FACTOR_H

#include <stddef.h>

#include "core/cpu.h"

/* out[c] = sum over j < len of x[j] B[c ldb + j], c < C, in double. */
void df_line_dots(const float *x, int len, const double *B, size_t ldb, int C, double *out, df_cpu_isa isa);

/* Y[c ldy + j] += a[c] x[j], j < len, c < C, in double. */
void df_line_axpys(const float *x, int len, const double *a, double *Y, size_t ldy, int C, df_cpu_isa isa);

/* Four lines at once, each as its own call above would give it (the same
 * bits), each vector's chunk read once for the four: out[k C + c] the
 * dot product of line k and vector c; and Y's columns += line k times
 * a[k C + c], the lines in order for each entry. */
void df_lines4_dots(const float *const x[4], const int len[4], const double *B, size_t ldb, int C, double *out,
                    df_cpu_isa isa);
void df_lines4_axpys(const float *const x[4], const int len[4], const double *a, double *Y, size_t ldy, int C,
                     df_cpu_isa isa);

/* A lower triangle (n x n) packed by columns: column j's entries j .. n - 1
 * start at df_packed_col(n, j). */
size_t df_packed_col(int n, int j);

/* The lower triangle of column-major L (n x n, leading dimension ld) into
 * Lp (df_packed_col(n, n) floats). */
void df_packed_from(const double *L, int n, size_t ld, float *Lp);

/* U (column-major n x C, leading dimension ldu) <- L^-1 U, L packed. */
void df_packed_solve(const float *Lp, int n, double *U, size_t ldu, int C, df_cpu_isa isa);

/* U <- L^-T U. */
void df_packed_solve_t(const float *Lp, int n, double *U, size_t ldu, int C, df_cpu_isa isa);

#endif
