/* The penalised softmax regression to its optimum (see softmax_exact.h). */
#include "optim/softmax_exact.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas_threads.h"
#include "core/cpu.h"
#include "optim/packed_factor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* LAPACK's pivoted Cholesky factorisation (in OpenBLAS), column-major. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpstrf_(const char *uplo, const int *n, double *a, const int *lda, int *piv, int *rank, const double *tol,
             double *work, int *info);

double df_softmax_objective(const float *z, const int *y, int n, int F, int C, double l2, const float *W,
                            const float *b, double *gW, double *gb) {
    double loss = 0.0, w2 = 0.0;
    double *p = malloc(sizeof(double) * (size_t)C);
    if (!p) return NAN;
    if (gW) memset(gW, 0, sizeof(double) * (size_t)F * C);
    if (gb) memset(gb, 0, sizeof(double) * (size_t)C);
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * F;
        double mx = -INFINITY, se = 0.0;
        for (int c = 0; c < C; c++) {
            double v = b[c];
            for (int j = 0; j < F; j++) v += (double)zi[j] * W[(size_t)j * C + c];
            p[c] = v;
            mx = v > mx ? v : mx;
        }
        for (int c = 0; c < C; c++) se += exp(p[c] - mx);
        loss += log(se) + mx - p[y[i]];
        for (int c = 0; c < C; c++) p[c] = (exp(p[c] - mx) / se - (c == y[i])) / n;
        for (int j = 0; gW && j < F; j++)
            for (int c = 0; c < C; c++) gW[(size_t)j * C + c] += zi[j] * p[c];
        for (int c = 0; gb && c < C; c++) gb[c] += p[c];
    }
    for (size_t k = 0; k < (size_t)F * C; k++) {
        w2 += (double)W[k] * W[k];
        if (gW) gW[k] += 2.0 * l2 * W[k];
    }
    free(p);
    return loss / n + l2 * w2;
}

/* The regression on the scores: rows M (n x r), parameters theta = B (r x
 * C) then b (C); returns J, its gradient into g; pr: n x C scratch. r may
 * be 0 (rows all zero: only the bias to fit). */
typedef struct reduced {
    /* the Gram way: the Cholesky factor, lower trapezoidal, its rows
     * packed in float (row i: its first min(i + 1, r) entries, at
     * tri_row(i, r); optim/packed_factor.h), with B and the gradient
     * transposed into the C x r scratch bt and gt */
    const float *M;
    double *bt, *gt;
    /* L-BFGS's initial inverse Hessian, or NULL for a multiple of I */
    const struct precond *pc;
    /* the primal instead: the rows themselves (n x r float, r = F), taken
     * ROW_BLOCK rows at a time into the double scratch zb */
    const float *Mf;
    double *zb;
    const int *y;
    int n, r, C;
    double l2;
    double *pr;
    df_cpu_isa isa; /* the packed factor's kernels */
} reduced;

/* Row i of a lower trapezoidal n x r matrix packed by rows: rows below r
 * have i + 1 entries, the rest r. */
static size_t tri_row(int i, int r) {
    return i < r ? (size_t)i * (size_t)(i + 1) / 2 : (size_t)r * (size_t)(r + 1) / 2 + (size_t)(i - r) * (size_t)r;
}

/* Rows i .. i + R of the packed factor (R = 4, or 1 for the last rows):
 * where each starts and its length. */
static int tri_rows(const float *M, int n, int r, int i, const float **x, int *len) {
    const int R = n - i >= 4 ? 4 : 1;
    for (int k = 0; k < R; k++) {
        x[k] = M + tri_row(i + k, r);
        len[k] = i + k < r ? i + k + 1 : r;
    }
    return R;
}

/* out (R x C) = rows i .. i + R of the factor times the C vectors B + c r;
 * then Y's C rows += the rows times a (R x C). */
static void tri_dots(const float *const *x, const int *len, int R, const double *B, int r, int C, double *out,
                     df_cpu_isa isa) {
    if (R == 4) df_lines4_dots(x, len, B, (size_t)r, C, out, isa);
    else df_line_dots(x[0], len[0], B, (size_t)r, C, out, isa);
}

static void tri_axpys(const float *const *x, const int *len, int R, const double *a, double *Y, int r, int C,
                      df_cpu_isa isa) {
    if (R == 4) df_lines4_axpys(x, len, a, Y, (size_t)r, C, isa);
    else df_line_axpys(x[0], len[0], a, Y, (size_t)r, C, isa);
}

/* Rows of the float matrix converted to double per product: 256 x 11,520
 * doubles is 23 MB, and the products stay in double precision (float
 * GEMMs left the gradient a few 1e-8 from zero, short of tol). */
enum { ROW_BLOCK = 256 };

/* rows i0.. i0+m of the float rows, in double, in q->zb */
static const double *row_block(const reduced *q, int i0, int m) {
    const float *src = q->Mf + (size_t)i0 * q->r;
    for (size_t k = 0; k < (size_t)m * q->r; k++) q->zb[k] = src[k];
    return q->zb;
}

/* out (n x C) += z B, on the primal's float rows. */
static void rows_times(const reduced *q, const double *B, double *out) {
    const int n = q->n, r = q->r, C = q->C;
    if (r == 0) return;
    for (int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
        const int m = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, C, r, 1.0, row_block(q, i0, m), r, B, C, 1.0,
                    out + (size_t)i0 * C, C);
    }
}

/* g (r x C) += z^T P, on the primal's float rows. */
static void rows_t_times(const reduced *q, const double *P, double *g) {
    const int n = q->n, r = q->r, C = q->C;
    if (r == 0) return;
    for (int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
        const int m = n - i0 < ROW_BLOCK ? n - i0 : ROW_BLOCK;
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, C, m, 1.0, row_block(q, i0, m), r,
                    P + (size_t)i0 * C, C, 1.0, g, C);
    }
}

/* Softmax of one row's logits in place; adds its loss to *loss and turns
 * pi into (p - onehot(y)) / n, the row's share of the gradient. */
static void row_softmax(double *pi, int C, int y, int n, double *loss) {
    double mx = -INFINITY, se = 0.0;
    for (int c = 0; c < C; c++) mx = pi[c] > mx ? pi[c] : mx;
    for (int c = 0; c < C; c++) se += exp(pi[c] - mx);
    *loss += log(se) + mx - pi[y];
    for (int c = 0; c < C; c++) pi[c] = (exp(pi[c] - mx) / se - (c == y)) / n;
}

/* reduced_objective on the Cholesky factor: one pass over its rows, each
 * giving its logits and its gradient term while in cache, and only the
 * triangle read. Two GEMMs with C = 3 columns packed all of M twice per
 * evaluation: 1,600 rows took most of a fit's 1.7 s in them (perf). */
static double tri_objective(const reduced *q, const double *theta, double *g) {
    const int n = q->n, r = q->r, C = q->C;
    const double *B = theta, *b = theta + (size_t)r * C;
    double *gb = g + (size_t)r * C, loss = 0.0;
    for (int k = 0; k < r; k++)
        for (int c = 0; c < C; c++) q->bt[(size_t)c * r + k] = B[(size_t)k * C + c];
    memset(q->gt, 0, sizeof(double) * (size_t)r * C);
    memset(gb, 0, sizeof(double) * (size_t)C);
    for (int i = 0, R; i < n; i += R) { /* four rows a pass: bt's and gt's chunks read once for them */
        const float *x[4];
        int len[4];
        R = tri_rows(q->M, n, r, i, x, len);
        double *pi = q->pr + (size_t)i * C;
        tri_dots(x, len, R, q->bt, r, C, pi, q->isa);
        for (int k = 0; k < R; k++) {
            double *pk = pi + (size_t)k * C;
            for (int c = 0; c < C; c++) pk[c] += b[c];
            row_softmax(pk, C, q->y[i + k], n, &loss);
            for (int c = 0; c < C; c++) gb[c] += pk[c];
        }
        tri_axpys(x, len, R, pi, q->gt, r, C, q->isa);
    }
    double w2 = 0.0;
    for (int k = 0; k < r; k++)
        for (int c = 0; c < C; c++) {
            const double v = B[(size_t)k * C + c];
            w2 += v * v;
            g[(size_t)k * C + c] = 2.0 * q->l2 * v + q->gt[(size_t)c * r + k];
        }
    return loss / n + q->l2 * w2;
}

static double reduced_objective(const reduced *q, const double *theta, double *g) {
    if (q->M) return tri_objective(q, theta, g);
    const int n = q->n, r = q->r, C = q->C;
    const double *B = theta, *b = theta + (size_t)r * C;
    double *P = q->pr, loss = 0.0;
    /* logits M B + b */
    for (int i = 0; i < n; i++)
        for (int c = 0; c < C; c++) P[(size_t)i * C + c] = b[c];
    rows_times(q, B, P);
    double *gb = g + (size_t)r * C;
    memset(gb, 0, sizeof(double) * (size_t)C);
    for (int i = 0; i < n; i++) {
        double *pi = P + (size_t)i * C;
        row_softmax(pi, C, q->y[i], n, &loss);
        for (int c = 0; c < C; c++) gb[c] += pi[c];
    }
    /* dJ/dB = M^T (P - Y) / n + 2 l2 B */
    double w2 = 0.0;
    for (size_t k = 0; k < (size_t)r * C; k++) {
        w2 += B[k] * B[k];
        g[k] = 2.0 * q->l2 * B[k];
    }
    rows_t_times(q, P, g);
    return loss / n + q->l2 * w2;
}

enum { LBFGS_M = 10 };

static double max_abs(const double *v, size_t n) {
    double m = 0.0;
    for (size_t k = 0; k < n; k++) m = fmax(m, fabs(v[k]));
    return m;
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t k = 0; k < n; k++) s += a[k] * b[k];
    return s;
}

/* L-BFGS's first guess at the inverse Hessian on the Gram way: J's
 * Hessian in the Cholesky coordinates B is about a L^T L + c I (c = 2 l2),
 * inverted by Woodbury as
 *   (1/c) (I - L^T (L L^T + (c/a) I)^-1 L),  L L^T = P^T K P,
 * with K + (c/a) I factored once (n^3 / 3). a is the softmax's curvature
 * per row over n: at probabilities spread evenly over C classes 1 / C
 * (the differences between classes), at the optimum less (the rows are
 * mostly told apart), so a = 1 / (2 C n), and 1 / (2 C) for the bias.
 * Where the scaled identity left L-BFGS to learn the rows' spectrum, this
 * starts from it: 181 -> 24 iterations on bench_exact_fit's 1,600 rows,
 * 148 -> 38 on 400 clothing photos' (training's head and folds side by
 * side 2.09 -> 1.79 s), to the same objective, with a = 1 / (4 n) for
 * every C; 1 / (2 C n) takes the closet's fits (3 classes) from 17-19
 * iterations to 15-17 and the 400 photos' (10 classes) from 38-40 to
 * 26-27 (1 / (C n): 21-22 and 24-25; 1 / (3 C n): 15-16 and 27-32). Each
 * application costs about one evaluation of J. */
typedef struct precond {
    const float *M; /* L, lower trapezoidal n x r, rows packed (reduced's M; rows in pivot order) */
    const int *piv; /* 1-based: row i of L is row piv[i] - 1 of K */
    float *R;       /* Cholesky factor of K + (c/a) I, lower, packed (optim/packed_factor.h) */
    int n, r, C;
    df_cpu_isa isa;
    double c, inv_a_n; /* c = 2 l2; 1 / (a n) = 2 C */
    double *u, *vt, *zt; /* scratch: n x C (column-major, K's row order), C x r, C x r */
} precond;

/* out = H0 v; out may be v (each entry of out reads only its own of v
 * once v is in vt). */
static void precond_apply(const precond *p, const double *v, double *out) {
    const int n = p->n, r = p->r, C = p->C;
    for (int k = 0; k < r; k++)
        for (int c = 0; c < C; c++) p->vt[(size_t)c * r + k] = v[(size_t)k * C + c];
    double *ui = p->u + (size_t)n * C; /* 4 C more: four rows' values */
    const float *x[4];
    int len[4];
    for (int i = 0, R; i < n; i += R) { /* u = P L v, in K's row order */
        R = tri_rows(p->M, n, r, i, x, len);
        tri_dots(x, len, R, p->vt, r, C, ui, p->isa);
        for (int k = 0; k < R; k++)
            for (int c = 0; c < C; c++) p->u[(size_t)c * n + (size_t)(p->piv[i + k] - 1)] = ui[(size_t)k * C + c];
    }
    df_packed_solve(p->R, n, p->u, (size_t)n, C, p->isa);
    df_packed_solve_t(p->R, n, p->u, (size_t)n, C, p->isa);
    memset(p->zt, 0, sizeof(double) * (size_t)C * r);
    for (int i = 0, R; i < n; i += R) { /* z = L^T P^T w */
        R = tri_rows(p->M, n, r, i, x, len);
        for (int k = 0; k < R; k++)
            for (int c = 0; c < C; c++) ui[(size_t)k * C + c] = p->u[(size_t)c * n + (size_t)(p->piv[i + k] - 1)];
        tri_axpys(x, len, R, ui, p->zt, r, C, p->isa);
    }
    for (int k = 0; k < r; k++)
        for (int c = 0; c < C; c++)
            out[(size_t)k * C + c] = (v[(size_t)k * C + c] - p->zt[(size_t)c * r + k]) / p->c;
    for (int c = 0; c < C; c++) out[(size_t)r * C + c] = p->inv_a_n * v[(size_t)r * C + c];
}

/* The preconditioner's factor and scratch for n rows of Gram matrix K
 * (lower triangle, column-major; before its own factorisation); 0 when
 * out of memory or K + (c/a) I is not numerically positive definite
 * (L-BFGS then starts from a scaled identity). The factor is computed in
 * double and kept in float: it only shapes the steps (any positive
 * definite H0 leads to the same optimum), and with c/a >= 8 l2 n on the
 * diagonal its rounding leaves H0 well inside positive definite. */
static int precond_init(precond *p, const double *K, int n, int C, double l2, df_cpu_isa isa) {
    const double inv_a_n = 2.0 * C, mu = 2.0 * l2 * inv_a_n * n; /* c / a */
    double *R = malloc(sizeof(double) * (size_t)n * n);
    p->R = malloc(sizeof(float) * df_packed_col(n, n));
    p->u = malloc(sizeof(double) * ((size_t)n + 4) * C);
    p->vt = malloc(sizeof(double) * (size_t)n * C);
    p->zt = malloc(sizeof(double) * (size_t)n * C);
    if (!R || !p->R || !p->u || !p->vt || !p->zt) {
        free(R);
        return 0;
    }
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) R[(size_t)j * n + i] = K[(size_t)j * n + i] + (i == j ? mu : 0.0);
    int info = 0;
    dpotrf_("L", &n, R, &n, &info);
    if (info == 0) df_packed_from(R, n, (size_t)n, p->R);
    free(R);
    p->n = n;
    p->C = C;
    p->c = 2.0 * l2;
    p->inv_a_n = inv_a_n;
    p->isa = isa;
    return info == 0;
}

static void precond_free(precond *p) {
    free(p->R);
    free(p->u);
    free(p->vt);
    free(p->zt);
}

/* L-BFGS (two-loop recursion, Armijo backtracking; the initial inverse
 * Hessian q->pc where given, else the usual scaled identity) from theta =
 * 0 until the largest gradient entry is at most tol, no step lowers J, or
 * max_iters; theta (P values) holds the result. Returns 0, -1 out of
 * memory, or -2 when *stop became non-zero (checked every iteration). */
static int lbfgs(const reduced *q, size_t P, double tol, int max_iters, const volatile sig_atomic_t *stop, double *theta,
                 df_softmax_exact_report *rep) {
    double *g = calloc(P, sizeof(double)), *gn = calloc(P, sizeof(double)), *d = calloc(P, sizeof(double));
    double *xn = calloc(P, sizeof(double)), *S = calloc(P * LBFGS_M, sizeof(double));
    double *Y = calloc(P * LBFGS_M, sizeof(double)), rho[LBFGS_M], alpha[LBFGS_M];
    int status = -1;
    if (!g || !gn || !d || !xn || !S || !Y) goto done;
    memset(theta, 0, sizeof(double) * P);
    double fx = reduced_objective(q, theta, g);
    int m = 0, it = 0;
    for (; it < max_iters && max_abs(g, P) > tol; it++) {
        if (stop && *stop) {
            status = -2;
            goto done;
        }
        for (size_t k = 0; k < P; k++) d[k] = -g[k];
        for (int j = m - 1; j >= 0; j--) {
            alpha[j] = rho[j] * dot(S + (size_t)j * P, d, P);
            for (size_t k = 0; k < P; k++) d[k] -= alpha[j] * Y[(size_t)j * P + k];
        }
        if (q->pc) {
            precond_apply(q->pc, d, d);
        } else {
            const double gamma = m > 0 ? dot(S + (size_t)(m - 1) * P, Y + (size_t)(m - 1) * P, P) /
                                             dot(Y + (size_t)(m - 1) * P, Y + (size_t)(m - 1) * P, P)
                                       : 1.0 / sqrt(dot(g, g, P));
            for (size_t k = 0; k < P; k++) d[k] *= gamma;
        }
        for (int j = 0; j < m; j++) {
            const double beta = rho[j] * dot(Y + (size_t)j * P, d, P);
            for (size_t k = 0; k < P; k++) d[k] += S[(size_t)j * P + k] * (alpha[j] - beta);
        }
        double gd = dot(g, d, P);
        if (!(gd < 0.0)) { /* not a descent direction: start again from steepest descent */
            m = 0;
            for (size_t k = 0; k < P; k++) d[k] = -g[k];
            gd = -dot(g, g, P);
        }
        double step = 1.0, fn = fx;
        for (int ls = 0; ls < 50; ls++, step *= 0.5) {
            for (size_t k = 0; k < P; k++) xn[k] = theta[k] + step * d[k];
            fn = reduced_objective(q, xn, gn);
            if (fn <= fx + 1e-4 * step * gd) break;
        }
        if (!(fn < fx)) break; /* nothing left to gain in double precision */
        if (m == LBFGS_M) { /* drop the oldest pair */
            memmove(S, S + P, sizeof(double) * P * (LBFGS_M - 1));
            memmove(Y, Y + P, sizeof(double) * P * (LBFGS_M - 1));
            memmove(rho, rho + 1, sizeof(double) * (LBFGS_M - 1));
            m--;
        }
        for (size_t k = 0; k < P; k++) {
            S[(size_t)m * P + k] = xn[k] - theta[k];
            Y[(size_t)m * P + k] = gn[k] - g[k];
        }
        const double sy = dot(S + (size_t)m * P, Y + (size_t)m * P, P);
        if (sy > 1e-300) rho[m++] = 1.0 / sy;
        memcpy(theta, xn, sizeof(double) * P);
        memcpy(g, gn, sizeof(double) * P);
        fx = fn;
    }
    rep->objective = fx;
    rep->grad_max = max_abs(g, P);
    rep->iterations = it;
    rep->converged = rep->grad_max <= tol;
    status = 0;
done:
    free(g);
    free(gn);
    free(d);
    free(xn);
    free(S);
    free(Y);
    return status;
}

/* Columns of the float rows converted to double a block at a time for the
 * Gram matrix (n x 512 doubles: 6.6 MB at 1,600 rows), where a double copy
 * of all the rows took 8 n F bytes (377 MB at 4,096 rows). */
enum { COL_BLOCK = 512 };

/* The Gram matrix K (n x n, lower triangle, column-major) replaced by its
 * Cholesky factor: P^T K P = L L^T with L n x rank, lower (column j at
 * K + j n; piv 1-based: row k of L is row piv[k] - 1 of K). The rank
 * stops where the largest remaining pivot is at most 1e-12 of K's largest
 * diagonal entry: the directions below carry nothing the rows can see.
 * Any M with M M^T = K gives the same regression up to a rotation of B,
 * which L-BFGS does not see; the Cholesky factor costs n^3 / 3 where the
 * eigenvectors (dsyevd) cost about 4 n^3 and, measured on 1,600 rows of
 * 11,520 features (one core of an AMD EPYC, Zen 5), 0.47 s against the
 * Gram matrix's 0.54 s: 0.035 s instead.
 *
 * Rows of photos are full rank unless photos repeat, and there LAPACK's
 * pivoted factorisation spends most of its time swapping rows across the
 * column-major triangle (dswap: 17% of a fit on 2,560 rows, perf). So the
 * plain blocked factorisation first (P = I), kept when every pivot is
 * above the same tolerance (then no pivot order stops earlier); else K,
 * saved in its unused upper triangle (the diagonal in work), is restored
 * and factored with pivots. */
enum { TILE = 64 };

/* K's lower triangle into its upper one (or back, up = 0), by tiles. */
static void mirror(double *K, int n, int up) {
    for (int j0 = 0; j0 < n; j0 += TILE)
        for (int i0 = j0; i0 < n; i0 += TILE)
            for (int j = j0; j < n && j < j0 + TILE; j++)
                for (int i = i0 > j ? i0 : j + 1; i < n && i < i0 + TILE; i++) {
                    if (up) K[(size_t)i * n + j] = K[(size_t)j * n + i];
                    else K[(size_t)j * n + i] = K[(size_t)i * n + j];
                }
}

static df_status cholesky(double *K, int n, int *piv, int *rank, df_error *err) {
    double dmax = 0.0;
    for (int i = 0; i < n; i++) dmax = fmax(dmax, K[(size_t)i * n + i]);
    *rank = 0;
    for (int i = 0; i < n; i++) piv[i] = i + 1;
    if (!(dmax > 0.0)) return DF_OK; /* rows all zero: nothing to fit but the bias */
    const double tol = 1e-12 * dmax;
    double *work = malloc(sizeof(double) * 2 * (size_t)n);
    if (!work) return df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for %d rows", n);
    int info = 0;
    mirror(K, n, 1);
    for (int i = 0; i < n; i++) work[i] = K[(size_t)i * n + i];
    dpotrf_("L", &n, K, &n, &info);
    int full = info == 0;
    for (int i = 0; full && i < n; i++) full = K[(size_t)i * n + i] * K[(size_t)i * n + i] > tol;
    if (full) {
        free(work);
        *rank = n;
        return DF_OK;
    }
    mirror(K, n, 0);
    for (int i = 0; i < n; i++) K[(size_t)i * n + i] = work[i];
    dpstrf_("L", &n, K, &n, piv, rank, &tol, work, &info);
    free(work);
    /* info 1: rank deficient, which the rank says */
    if (info < 0 || info > 1)
        return df_error_set(err, DF_ERR_BACKEND, "LAPACK dpstrf: the Gram matrix's Cholesky factor failed (info %d)",
                            info);
    return DF_OK;
}

static df_status check_args(const int *y, int n, int F, int C, double l2, double tol, int max_iters, df_error *err) {
    if (n < 1 || F < 1 || C < 2 || !(l2 > 0.0) || !(tol > 0.0) || max_iters < 0)
        return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: %d rows, %d features, %d classes, L2 %g, tol %g",
                            n, F, C, l2, tol);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C)
            return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: row %d has label %d of %d classes", i, y[i], C);
    return DF_OK;
}

static df_status lbfgs_failed(int status, df_error *err) {
    return status == -2 ? df_error_set(err, DF_ERR_INTERRUPTED, "exact fit: interrupted")
                        : df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory");
}

static df_status fit_primal(const float *z, const int *y, int n, int F, int C, double l2, double tol, int max_iters,
                            const volatile sig_atomic_t *stop, float *W, float *b, df_softmax_exact_report *rep,
                            df_error *err) {
    df_status st = check_args(y, n, F, C, l2, tol, max_iters, err);
    if (st != DF_OK) return st;
    df_softmax_exact_report r = {0};
    const int block = n < ROW_BLOCK ? n : ROW_BLOCK;
    double *theta = malloc(sizeof(double) * ((size_t)F + 1) * C), *pr = malloc(sizeof(double) * (size_t)n * C);
    double *zb = malloc(sizeof(double) * (size_t)block * F);
    const reduced q = {NULL, NULL, NULL, NULL, z, zb, y, n, F, C, l2, pr, DF_CPU_ISA_SCALAR};
    int status = !theta || !pr || !zb ? -1 : lbfgs(&q, ((size_t)F + 1) * C, tol, max_iters, stop, theta, &r);
    if (status) st = lbfgs_failed(status, err);
    if (st == DF_OK) {
        for (size_t k = 0; k < (size_t)F * C; k++) W[k] = (float)theta[k];
        for (int c = 0; c < C; c++) b[c] = (float)theta[(size_t)F * C + c];
        r.rank = F;
        if (rep) *rep = r;
    }
    free(theta);
    free(pr);
    free(zb);
    return st;
}

df_status df_softmax_fit_primal(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                                int max_iters, float *W, float *b, df_softmax_exact_report *rep, df_error *err) {
    return fit_primal(z, y, n, F, C, l2, tol, max_iters, NULL, W, b, rep, err);
}

df_status df_softmax_fit_exact(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                               int max_iters, float *W, float *b, df_softmax_exact_report *rep, df_error *err) {
    return df_softmax_fit_exact_until(z, y, n, F, C, l2, tol, max_iters, NULL, W, b, rep, err);
}

int df_softmax_exact_uses_primal(int n, int F) { return n > F || n > DF_SOFTMAX_EXACT_MAX_GRAM_ROWS; }

/* The weights, transposed: Wt (C x F) = (z^T Q)^T, in double: row i of Q
 * times row idx[i] of z (row i without idx), summed over the rows whose Q
 * row is not all zero (those beyond the rank are). Each float is read
 * where it lies and widened in a register: converting the rows to double
 * first and a GEMM with C = 3 columns took 11-15 ms of a 28-43 ms fit
 * (678-848 rows of 11,520 features, one core of an AMD EPYC, Zen 5). This
 * plain loop, a whole row at a time into the C accumulator rows, is the
 * reference (DF_CPU_ISA=scalar); rows_t_q_avx2 sums the same products in
 * the same order. */
static void w_accumulate(const float *zi, const float *mean, const float *sd, int F, const double *q, int C,
                         double *Wt) {
    for (int c = 0; c < C; c++)
        for (int j = 0; j < F; j++) Wt[(size_t)c * F + j] += q[c] * (double)(mean ? (zi[j] - mean[j]) / sd[j] : zi[j]);
}

/* Eight of row xi's values from j, standardised where mean is given
 * ((x - mean) / sd in float, as df_head_standardise writes them), in
 * double: lo the first four, hi the rest. */
__attribute__((target("avx2,fma"))) static inline void w_values8(const float *xi, __m256 m, __m256 sd, int standardise,
                                                                int j, __m256d *lo, __m256d *hi) {
    __m256 v = _mm256_loadu_ps(xi + j);
    if (standardise) v = _mm256_div_ps(_mm256_sub_ps(v, m), sd);
    *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

/* Classes c0 .. c0 + CW of Wt over eight features from j, plus live rows
 * k0 .. k1's values times their Q entries, in the rows' order, one fma
 * each. CW is a constant at each call, so the sums stay in registers. */
__attribute__((target("avx2,fma"), always_inline)) static inline void w_block8(const df_softmax_rows *z, const int *idx,
                                                               const int *live, int k0, int k1, int F,
                                                               const double *Q, int C, int c0, int j, double *Wt,
                                                               const int CW) {
    const int standardise = z->mean != NULL;
    const __m256 mj = standardise ? _mm256_loadu_ps(z->mean + j) : _mm256_setzero_ps();
    const __m256 sj = standardise ? _mm256_loadu_ps(z->sd + j) : _mm256_setzero_ps();
    __m256d lo[4], hi[4];
#pragma GCC unroll 4
    for (int c = 0; c < CW; c++) {
        lo[c] = _mm256_loadu_pd(Wt + (size_t)(c0 + c) * F + j);
        hi[c] = _mm256_loadu_pd(Wt + (size_t)(c0 + c) * F + j + 4);
    }
    for (int k = k0; k < k1; k++) {
        const int i = live[k];
        __m256d vl, vh;
        const float *xi = z->x + (size_t)(idx ? idx[i] : i) * F;
        _mm_prefetch((const char *)(xi + j + 256), _MM_HINT_T0);
        w_values8(xi, mj, sj, standardise, j, &vl, &vh);
        const double *q = Q + (size_t)i * C + c0;
#pragma GCC unroll 4
        for (int c = 0; c < CW; c++) {
            const __m256d qc = _mm256_broadcast_sd(q + c);
            lo[c] = _mm256_fmadd_pd(qc, vl, lo[c]);
            hi[c] = _mm256_fmadd_pd(qc, vh, hi[c]);
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < CW; c++) {
        _mm256_storeu_pd(Wt + (size_t)(c0 + c) * F + j, lo[c]);
        _mm256_storeu_pd(Wt + (size_t)(c0 + c) * F + j + 4, hi[c]);
    }
}

/* Rows at a time in rows_t_q_avx2: each row's stream read in order beside
 * the others' (one per row, which the prefetchers follow), Wt read and
 * written once per W_ROWS rows. */
enum { W_ROWS = 16 };

/* Wt = z^T Q over the live rows with AVX2. A whole row at a time (until
 * 2026-12-05), each value was standardised once per class, a division
 * each, and Wt (276 KB for 3 classes) read and written from L2 once per
 * row: 49 ms of core time over a default closet run's six fits (perf).
 * Eight features by W_ROWS rows at a time, a value is standardised once
 * for up to four classes and the sums stay in registers; the rows' next
 * lines are prefetched, as the hardware does not follow 16 streams 46 KB
 * apart (without, slower than row by row): 15 ms. Each entry sums the
 * same products in the same order with one fma each: the same bits. */
__attribute__((target("avx2,fma"))) static void rows_t_q_avx2(const df_softmax_rows *z, const int *idx,
                                                             const int *live, int m, int F, const double *Q, int C,
                                                             double *Wt) {
    const int F8 = F & ~7;
    memset(Wt, 0, sizeof(double) * (size_t)C * F);
    for (int k0 = 0; k0 < m; k0 += W_ROWS) {
        const int k1 = m - k0 < W_ROWS ? m : k0 + W_ROWS;
        for (int c0 = 0; c0 < C; c0 += 4) {
            const int cw = C - c0 < 4 ? C - c0 : 4;
            for (int j = 0; j < F8; j += 8) switch (cw) {
                case 4: w_block8(z, idx, live, k0, k1, F, Q, C, c0, j, Wt, 4); break;
                case 3: w_block8(z, idx, live, k0, k1, F, Q, C, c0, j, Wt, 3); break;
                case 2: w_block8(z, idx, live, k0, k1, F, Q, C, c0, j, Wt, 2); break;
                default: w_block8(z, idx, live, k0, k1, F, Q, C, c0, j, Wt, 1); break;
                }
        }
    }
    for (int j = F8; j < F; j++)
        for (int c = 0; c < C; c++) {
            double a = 0.0;
            for (int k = 0; k < m; k++) {
                const int i = live[k];
                const float *xi = z->x + (size_t)(idx ? idx[i] : i) * F;
                a = fma(Q[(size_t)i * C + c], (double)(z->mean ? (xi[j] - z->mean[j]) / z->sd[j] : xi[j]), a);
            }
            Wt[(size_t)c * F + j] = a;
        }
}

/* Wt (C x F) = z^T Q over n rows (row i: row idx[i] of z, or i), skipping
 * rows whose Q entries are all zero (those past the factor's rank); live
 * is scratch for n rows. */
static void rows_t_q(const df_softmax_rows *z, const int *idx, int n, int F, const double *Q, int C, double *Wt,
                     int *live, df_cpu_isa isa) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *q = Q + (size_t)i * C;
        int any = 0;
        for (int c = 0; c < C; c++) any |= q[c] != 0.0;
        if (any) live[m++] = i;
    }
    if (isa >= DF_CPU_ISA_AVX2) {
        rows_t_q_avx2(z, idx, live, m, F, Q, C, Wt);
        return;
    }
    memset(Wt, 0, sizeof(double) * (size_t)C * F);
    for (int k = 0; k < m; k++)
        w_accumulate(z->x + (size_t)(idx ? idx[live[k]] : live[k]) * F, z->mean, z->sd, F, Q + (size_t)live[k] * C,
                     C, Wt);
}

/* The factor's rows (column-major lower K, n x n, its first r columns)
 * packed in float at tri_row. mirror's tiles turn them into the upper
 * triangle's columns (K's upper triangle is free once factored), which
 * are then read whole. */
static void factor_rows(double *K, int n, int r, float *M) {
    mirror(K, n, 1);
    for (int k = 0; k < n; k++) {
        float *mk = M + tri_row(k, r);
        const double *col = K + (size_t)k * n;
        const int len = k + 1 < r ? k + 1 : r;
        for (int j = 0; j < len; j++) mk[j] = (float)col[j];
    }
}

/* The Gram way on n rows of z (row i: row idx[i], or i without idx) whose
 * Gram matrix is in K (n x n, lower triangle, column-major), which
 * becomes its Cholesky factor. */
static df_status fit_gram(const df_softmax_rows *z, const int *idx, int n, int F, double *K, const int *y, int C, double l2,
                          double tol, int max_iters, const volatile sig_atomic_t *stop, float *W, float *b,
                          df_softmax_exact_report *rep, df_error *err) {
    df_softmax_exact_report r = {0};
    int *piv = malloc(sizeof(int) * (size_t)n), *yp = malloc(sizeof(int) * (size_t)n), rk = 0;
    int *live = malloc(sizeof(int) * (size_t)n);
    double *theta = NULL, *pr = NULL, *Q = NULL, *Wt = NULL, *bt = NULL, *gt = NULL;
    float *M = NULL;
    precond pc = {0};
    const df_cpu_isa isa = df_cpu_isa_best();
    df_status st = DF_OK;
    if (!piv || !yp || !live) {
        st = df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for %d x %d rows", n, F);
        goto done;
    }
    const int have_pc = precond_init(&pc, K, n, C, l2, isa);
    if ((st = cholesky(K, n, piv, &rk, err))) goto done;
    M = malloc(sizeof(float) * (tri_row(n, rk) > 0 ? tri_row(n, rk) : 1));
    theta = calloc((size_t)(rk + 1) * C, sizeof(double));
    pr = malloc(sizeof(double) * (size_t)n * C);
    Q = calloc((size_t)n * C, sizeof(double));
    Wt = malloc(sizeof(double) * (size_t)F * C);
    bt = malloc(sizeof(double) * (size_t)(rk > 0 ? rk : 1) * C);
    gt = malloc(sizeof(double) * (size_t)(rk > 0 ? rk : 1) * C);
    if (!M || !theta || !pr || !Q || !Wt || !bt || !gt) {
        st = df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory");
        goto done;
    }
    /* The rows in pivot order, whose scores are L itself (lower
     * trapezoidal, rows packed in float); the loss is a mean, blind to the
     * order. */
    for (int k = 0; k < n; k++) yp[k] = y[piv[k] - 1];
    factor_rows(K, n, rk, M);
    pc.M = M;
    pc.piv = piv;
    pc.r = rk;
    const reduced q = {M, bt, gt, have_pc && rk > 0 ? &pc : NULL, NULL, NULL, yp, n, rk, C, l2, pr, isa};
    const int status = lbfgs(&q, (size_t)(rk + 1) * C, tol, max_iters, stop, theta, &r);
    if (status) {
        st = lbfgs_failed(status, err);
        goto done;
    }
    r.rank = rk;
    /* W = z^T Q with L^T P^T Q = B: Q = P [L1^-T B; 0], L1 the leading
     * rk x rk block (in row-major terms, K's memory holds L^T, upper) */
    if (rk > 0)
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, rk, C, 1.0, K, n, theta, C);
    for (int k = 0; k < rk; k++)
        for (int c = 0; c < C; c++) Q[(size_t)(piv[k] - 1) * C + c] = theta[(size_t)k * C + c];
    rows_t_q(z, idx, n, F, Q, C, Wt, live, isa);
    for (int j = 0; j < F; j++)
        for (int c = 0; c < C; c++) W[(size_t)j * C + c] = (float)Wt[(size_t)c * F + j];
    for (int c = 0; c < C; c++) b[c] = (float)theta[(size_t)rk * C + c];
    if (rep) *rep = r;
done:
    precond_free(&pc);
    free(piv);
    free(yp);
    free(live);
    free(bt);
    free(gt);
    free(M);
    free(theta);
    free(pr);
    free(Q);
    free(Wt);
    return st;
}

/* The Gram matrix's lower triangle in GRAM_BANDS bands of columns of
 * about equal work (a band's columns times the rows at and below them),
 * the bands tasks for OpenMP's threads, each with one-thread OpenBLAS
 * calls: OpenBLAS's own threads, once woken for a call, wait for the next
 * in sched_yield for about 0.1 s, which beside the fits that follow on
 * the same cores took 2.6% of a default training run's samples (2 cores,
 * perf). The bands depend only on n, so each entry is computed the same
 * way on any number of threads up to GRAM_BANDS / 2 (the partition
 * changes the last bits: which call computes an entry). */
enum { GRAM_BANDS = 8 };

/* The first column of each band (GRAM_BANDS + 1 entries, the last n):
 * columns 0 .. c hold c n - c (c - 1) / 2 of the n (n + 1) / 2 entries. */
static void gram_bands(int n, int *first) {
    const double total = 0.5 * (double)n * (n + 1);
    int c = 0;
    first[0] = 0;
    for (int b = 1; b < GRAM_BANDS; b++) {
        const double want = total * b / GRAM_BANDS;
        while (c < n && (double)c * n - 0.5 * (double)c * (c - 1) < want) c++;
        first[b] = c;
    }
    first[GRAM_BANDS] = n;
}

/* K's columns c0 .. c1 (lower part) += or = (beta) the block's products */
static void gram_band(const double *zc, int n, int w, int c0, int c1, double beta, double *G) {
    const int m = c1 - c0;
    if (m < 1) return;
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, m, w, 1.0, zc + (size_t)c0 * w, w, beta,
                G + (size_t)c0 * n + c0, n);
    if (n > c1)
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, n - c1, m, w, 1.0, zc + (size_t)c1 * w, w,
                    zc + (size_t)c0 * w, w, beta, G + (size_t)c0 * n + c1, n);
}

/* Row i's columns j0 .. j0 + w, standardised (z's mean and sd) and in
 * double, into zi. */
static void block_row(const df_softmax_rows *z, int F, int i, int j0, int w, double *zi) {
    const float *xi = z->x + (size_t)i * F + j0;
    if (z->mean) {
        const float *m = z->mean + j0, *sd = z->sd + j0;
        for (int j = 0; j < w; j++) zi[j] = (xi[j] - m[j]) / sd[j];
    } else {
        for (int j = 0; j < w; j++) zi[j] = xi[j];
    }
}

df_status df_softmax_gram(const df_softmax_rows *z, int n, int F, double **K, df_error *err) {
    *K = NULL;
    if (n < 1 || F < 1 || n > DF_SOFTMAX_EXACT_MAX_GRAM_ROWS)
        return df_error_set(err, DF_ERR_INVALID_ARG, "Gram matrix of %d rows of %d features (at most %d rows)", n, F,
                            DF_SOFTMAX_EXACT_MAX_GRAM_ROWS);
    double *G = malloc(sizeof(double) * (size_t)n * (size_t)n), *zc = malloc(sizeof(double) * (size_t)n * COL_BLOCK);
    if (!G || !zc) {
        free(G);
        free(zc);
        return df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for the Gram matrix of %d rows", n);
    }
    int first[GRAM_BANDS + 1];
    gram_bands(n, first);
#ifdef _OPENMP
    const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
#else
    const int threads = 1;
#endif
    /* The bands up to GRAM_BANDS / 2 threads, each thread two or more;
     * beyond, they would leave threads idle and narrower ones run slower
     * (32 bands on 848 rows: 75 against 53 ms on 2 threads), so there
     * OpenBLAS's own threads take each block whole, where cores to spare
     * make its waiting ones harmless. */
    const int banded = threads <= GRAM_BANDS / 2;
    const int blas_threads = df_blas_threads();
    if (banded && threads > 1 && blas_threads > 1) df_blas_threads_set(1);
    for (int j0 = 0; j0 < F; j0 += COL_BLOCK) {
        const int w = F - j0 < COL_BLOCK ? F - j0 : COL_BLOCK;
        const double beta = j0 ? 1.0 : 0.0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
#endif
        for (int i = 0; i < n; i++) block_row(z, F, i, j0, w, zc + (size_t)i * w);
        if (banded) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
#endif
            for (int b = 0; b < GRAM_BANDS; b++) gram_band(zc, n, w, first[b], first[b + 1], beta, G);
        } else {
            gram_band(zc, n, w, 0, n, beta, G);
        }
    }
    if (banded && threads > 1 && blas_threads > 1) df_blas_threads_set(blas_threads);
    free(zc);
    *K = G;
    return DF_OK;
}

df_status df_softmax_fit_exact_until(const float *z, const int *y, int n, int F, int C, double l2, double tol,
                                     int max_iters, const volatile sig_atomic_t *stop, float *W, float *b,
                                     df_softmax_exact_report *rep, df_error *err) {
    if (df_softmax_exact_uses_primal(n, F))
        return fit_primal(z, y, n, F, C, l2, tol, max_iters, stop, W, b, rep, err);
    df_status st = check_args(y, n, F, C, l2, tol, max_iters, err);
    if (st != DF_OK) return st;
    double *K = NULL;
    const df_softmax_rows rows = {z, NULL, NULL};
    if ((st = df_softmax_gram(&rows, n, F, &K, err)) != DF_OK) return st;
    st = fit_gram(&rows, NULL, n, F, K, y, C, l2, tol, max_iters, stop, W, b, rep, err);
    free(K);
    return st;
}

df_status df_softmax_fit_exact_rows(const df_softmax_rows *z, int n_all, int F, const double *K, const int *idx, int n,
                                    const int *y, int C, double l2, double tol, int max_iters,
                                    const volatile sig_atomic_t *stop, float *W, float *b,
                                    df_softmax_exact_report *rep, df_error *err) {
    df_status st = check_args(y, n, F, C, l2, tol, max_iters, err);
    if (st != DF_OK) return st;
    if (n_all > DF_SOFTMAX_EXACT_MAX_GRAM_ROWS)
        return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: a Gram matrix of %d rows (at most %d)", n_all,
                            DF_SOFTMAX_EXACT_MAX_GRAM_ROWS);
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= n_all)
            return df_error_set(err, DF_ERR_INVALID_ARG, "exact fit: row %d is %d of %d", i, idx[i], n_all);
    double *G = malloc(sizeof(double) * (size_t)n * (size_t)n);
    if (!G) return df_error_set(err, DF_ERR_NOMEM, "exact fit: out of memory for %d x %d rows", n, n);
    /* the rows' block of K, its lower triangle (K holds only its own) */
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) {
            const int hi = idx[i] > idx[j] ? idx[i] : idx[j], lo = idx[i] > idx[j] ? idx[j] : idx[i];
            G[(size_t)j * n + i] = K[(size_t)lo * n_all + hi];
        }
    st = fit_gram(z, idx, n, F, G, y, C, l2, tol, max_iters, stop, W, b, rep, err);
    free(G);
    return st;
}
