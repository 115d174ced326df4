/*
 * The trainable head (see head.h): parameters, gradients and the decay mask
 * as flat blocks, a training scratch sized once at create, forward/backward
 * composed from nn/layers.h. Matches the Keras Sequential model of the
 * original recipe (Flatten, Dense relu, BatchNormalization, Dropout, Dense
 * softmax, categorical cross-entropy) and a softmax regression alternative.
 * Not here: the epoch loop, batching, early stopping (src/train).
 */
#include "nn/head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "nn/layers.h"

/* Hard caps keep a hostile config or model file from asking for absurd
 * allocations before any size arithmetic happens. */
enum { MAX_DIM = 1 << 24, MAX_UNITS = 1 << 16, MAX_CLASSES = 1 << 16, MAX_BATCH = 1 << 16 };
/* Rows per chunk in predict: bounds its scratch whatever n is. */
enum { PREDICT_CHUNK = 64 };

struct df_head {
    df_head_config cfg;
    int in_dim, classes, units; /* units = 0 for LINEAR */
    size_t num_params;
    float *params, *grads;
    uint8_t *decay_mask;
    /* Offsets into the flat blocks; LINEAR uses off_w1/off_b1 only. */
    size_t off_w1, off_b1, off_gamma, off_beta, off_w2, off_b2;
    float *moving_mean, *moving_var; /* (units), MLP with BN only */
    int has_std;
    float *std_mean, *std_std;       /* (in_dim) */
    /* Training scratch, max_batch rows each. */
    float *xs;      /* standardised input (B, in_dim) */
    float *h;       /* hidden ReLU output (B, units) */
    float *bn_out;  /* (B, units) */
    float *xhat;    /* (B, units) */
    float *rstd;    /* (units) */
    float *mask;    /* dropout scale per unit (B, units) */
    float *a3;      /* dropout output (B, units) */
    float *dh;      /* gradient w.r.t. hidden activations (B, units) */
    float *logits;  /* (B, classes) */
    float *dlogits; /* (B, classes) */
    /* The linear head's first layer reads its rows through pointers
     * (df_dense_rows_*): the caller's rows, and the standardised ones. */
    const float **in_rows, **std_rows; /* (B) */
    float *wscratch;                    /* W transposed, or the gradient's coefficients */
};

const char *df_head_kind_name(df_head_kind kind) {
    return kind == DF_HEAD_LINEAR ? "linear" : "mlp";
}

df_status df_head_kind_parse(const char *s, df_head_kind *out, df_error *err) {
    if (strcmp(s, "mlp") == 0) {
        *out = DF_HEAD_MLP;
        return DF_OK;
    }
    if (strcmp(s, "linear") == 0) {
        *out = DF_HEAD_LINEAR;
        return DF_OK;
    }
    return df_error_set(err, DF_ERR_INVALID_ARG, "head kind '%s': expected mlp or linear", s);
}

df_head_config df_head_config_default(void) {
    df_head_config c;
    c.kind = DF_HEAD_MLP;
    c.units = 1024;
    c.batchnorm = 1;
    c.dropout = 0.25f;
    c.l2 = 0.0f;
    c.label_smoothing = 0.0f;
    c.bn_momentum = 0.99f;
    c.bn_eps = 1e-3f;
    c.max_batch = 32;
    return c;
}

void df_head_destroy(df_head *h) {
    if (!h) return;
    free(h->params);
    free(h->grads);
    free(h->decay_mask);
    free(h->moving_mean);
    free(h->moving_var);
    free(h->std_mean);
    free(h->std_std);
    free(h->xs);
    free(h->h);
    free(h->bn_out);
    free(h->xhat);
    free(h->rstd);
    free(h->mask);
    free(h->a3);
    free(h->dh);
    free(h->logits);
    free(h->dlogits);
    free(h->in_rows);
    free(h->std_rows);
    free(h->wscratch);
    free(h);
}

static df_status check_config(const df_head_config *c, int in_dim, int classes, df_error *err) {
    if (c->kind != DF_HEAD_MLP && c->kind != DF_HEAD_LINEAR)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: unknown kind %d", (int)c->kind);
    if (in_dim < 1 || in_dim > MAX_DIM)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: feature dim %d out of range [1, %d]",
                            in_dim, MAX_DIM);
    if (classes < 2 || classes > MAX_CLASSES)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "head: %d classes; need at least 2 (and at most %d)", classes,
                            MAX_CLASSES);
    if (c->max_batch < 1 || c->max_batch > MAX_BATCH)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: max batch %d out of range [1, %d]",
                            c->max_batch, MAX_BATCH);
    if (!(c->l2 >= 0.0f) || !isfinite(c->l2))
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: l2 must be >= 0 (got %g)",
                            (double)c->l2);
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: label smoothing must be in [0, 1) (got %g)",
                            (double)c->label_smoothing);
    if (c->kind == DF_HEAD_MLP) {
        if (c->units < 1 || c->units > MAX_UNITS)
            return df_error_set(err, DF_ERR_INVALID_ARG, "head: units %d out of range [1, %d]",
                                c->units, MAX_UNITS);
        if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
            return df_error_set(err, DF_ERR_INVALID_ARG, "head: dropout must be in [0, 1) (got %g)",
                                (double)c->dropout);
        if (c->batchnorm && (!(c->bn_eps > 0.0f) || !(c->bn_momentum >= 0.0f && c->bn_momentum < 1.0f)))
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "head: batchnorm needs eps > 0 and momentum in [0, 1) (got %g, %g)",
                                (double)c->bn_eps, (double)c->bn_momentum);
    }
    return DF_OK;
}

/* Allocates count floats (zeroed) into *p unless a previous one failed. */
static int alloc_f(float **p, size_t count) {
    *p = calloc(count ? count : 1, sizeof(float));
    return *p != NULL;
}

static void glorot(float *w, int fan_in, int fan_out, df_rng *rng) {
    float limit = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
    size_t n = (size_t)fan_in * (size_t)fan_out;
    for (size_t i = 0; i < n; i++) w[i] = df_rng_uniform_range(rng, -limit, limit);
}

df_status df_head_create(const df_head_config *cfg, int in_dim, int classes, uint64_t seed,
                         df_head **out, df_error *err) {
    *out = NULL;
    df_status st = check_config(cfg, in_dim, classes, err);
    if (st != DF_OK) return st;
    df_head *h = calloc(1, sizeof *h);
    if (!h) return df_error_set(err, DF_ERR_NOMEM, "head: out of memory");
    h->cfg = *cfg;
    h->in_dim = in_dim;
    h->classes = classes;
    int mlp = cfg->kind == DF_HEAD_MLP;
    int bn = mlp && cfg->batchnorm;
    h->units = mlp ? cfg->units : 0;
    if (!mlp) {
        /* Fields that do not apply are normalised so that saved configs and
         * comparisons are canonical. */
        h->cfg.units = 0;
        h->cfg.batchnorm = 0;
        h->cfg.dropout = 0.0f;
    } else if (!bn) {
        h->cfg.batchnorm = 0;
    }
    const int U = h->units, C = classes, B = cfg->max_batch;

    /* Flat layout in Keras weight order. Caps above keep every product far
     * below SIZE_MAX on 64-bit, but the arithmetic is still checked. */
    size_t w1, w2 = 0, n = 0;
    int ok = df_size_mul((size_t)in_dim, (size_t)(mlp ? U : C), &w1);
    if (mlp) ok = ok && df_size_mul((size_t)U, (size_t)C, &w2);
    if (!ok) {
        df_head_destroy(h);
        return df_error_set(err, DF_ERR_TOO_LARGE, "head: %d x %d kernel is too large", in_dim,
                            mlp ? U : C);
    }
    h->off_w1 = n;
    n += w1;
    h->off_b1 = n;
    n += (size_t)(mlp ? U : C);
    if (mlp) {
        h->off_gamma = n;
        n += bn ? (size_t)U : 0;
        h->off_beta = n;
        n += bn ? (size_t)U : 0;
        h->off_w2 = n;
        n += w2;
        h->off_b2 = n;
        n += (size_t)C;
    }
    h->num_params = n;

    size_t bu = (size_t)B * (size_t)U, bc = (size_t)B * (size_t)C, bin;
    if (!df_size_mul((size_t)B, (size_t)in_dim, &bin)) goto nomem;
    ok = alloc_f(&h->params, n) && alloc_f(&h->grads, n) &&
         (h->decay_mask = calloc(n, 1)) != NULL && alloc_f(&h->std_mean, (size_t)in_dim) &&
         alloc_f(&h->std_std, (size_t)in_dim) && alloc_f(&h->xs, bin) &&
         alloc_f(&h->logits, bc) && alloc_f(&h->dlogits, bc);
    ok = ok && (h->in_rows = calloc((size_t)B, sizeof *h->in_rows)) != NULL &&
         (h->std_rows = calloc((size_t)B, sizeof *h->std_rows)) != NULL;
    if (ok && !mlp)
        ok = alloc_f(&h->wscratch, w1 > (size_t)B * DF_DENSE_GROUP ? w1 : (size_t)B * DF_DENSE_GROUP);
    if (ok && mlp)
        ok = alloc_f(&h->h, bu) && alloc_f(&h->dh, bu) && alloc_f(&h->a3, bu) &&
             alloc_f(&h->mask, bu);
    if (ok && bn)
        ok = alloc_f(&h->moving_mean, (size_t)U) && alloc_f(&h->moving_var, (size_t)U) &&
             alloc_f(&h->bn_out, bu) && alloc_f(&h->xhat, bu) && alloc_f(&h->rstd, (size_t)U);
    if (!ok) goto nomem;

    df_rng rng;
    df_rng_seed(&rng, seed, DF_STREAM_INIT);
    glorot(h->params + h->off_w1, in_dim, mlp ? U : C, &rng);
    memset(h->decay_mask + h->off_w1, 1, w1);
    if (mlp) {
        glorot(h->params + h->off_w2, U, C, &rng);
        memset(h->decay_mask + h->off_w2, 1, w2);
    }
    if (bn) {
        for (int j = 0; j < U; j++) {
            h->params[h->off_gamma + j] = 1.0f;
            h->moving_var[j] = 1.0f;
        }
    }
    for (int i = 0; i < in_dim; i++) h->std_std[i] = 1.0f;
    *out = h;
    return DF_OK;
nomem:
    df_head_destroy(h);
    return df_error_set(err, DF_ERR_NOMEM,
                        "head: cannot allocate %zu parameters (in %d, units %d, classes %d, batch %d)",
                        n, in_dim, U, C, B);
}

const df_head_config *df_head_get_config(const df_head *h) { return &h->cfg; }
int df_head_in_dim(const df_head *h) { return h->in_dim; }
int df_head_classes(const df_head *h) { return h->classes; }
size_t df_head_num_params(const df_head *h) { return h->num_params; }
float *df_head_params(df_head *h) { return h->params; }
const float *df_head_params_const(const df_head *h) { return h->params; }
float *df_head_grads(df_head *h) { return h->grads; }
const uint8_t *df_head_decay_mask(const df_head *h) { return h->decay_mask; }
float *df_head_bn_moving_mean(df_head *h) { return h->moving_mean; }
float *df_head_bn_moving_var(df_head *h) { return h->moving_var; }
int df_head_has_standardisation(const df_head *h) { return h->has_std; }
const float *df_head_std_mean(const df_head *h) { return h->has_std ? h->std_mean : NULL; }
const float *df_head_std_std(const df_head *h) { return h->has_std ? h->std_std : NULL; }

df_status df_head_set_standardisation(df_head *h, const float *mean, const float *std,
                                      df_error *err) {
    for (int i = 0; i < h->in_dim; i++) {
        if (!isfinite(mean[i]) || !isfinite(std[i]) || !(std[i] > 0.0f))
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "standardisation: feature %d has mean %g, std %g (need finite "
                                "mean, finite std > 0)",
                                i, (double)mean[i], (double)std[i]);
    }
    memcpy(h->std_mean, mean, sizeof(float) * (size_t)h->in_dim);
    memcpy(h->std_std, std, sizeof(float) * (size_t)h->in_dim);
    h->has_std = 1;
    return DF_OK;
}

/* The statistics a block of STD_COLS columns at a time, the blocks over
 * the threads: each column's sums still run over the rows in order, so
 * the result does not depend on the threads. The exact fit's 848 rows x
 * 11,520 features (the closet's variants), with the other core idle
 * before: statistics 7.7 -> 4.0 ms, the standardised copy 2.9 -> 1.4 ms
 * (16 -> 5.5 ms the first time, its pages new; 2 cores of an AMD EPYC). */
enum { STD_COLS = 512 };

static void column_stats(const float *x, int n, int D, int j0, int j1, double *sum, double *ss) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * D;
        for (int j = j0; j < j1; j++) sum[j] += xi[j];
    }
    for (int j = j0; j < j1; j++) sum[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * D;
        for (int j = j0; j < j1; j++) {
            const double d = xi[j] - sum[j];
            ss[j] += d * d;
        }
    }
}

df_status df_head_fit_standardisation(df_head *h, const float *x, int n, df_error *err) {
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "standardisation: no training rows");
    const int D = h->in_dim, blocks = (D + STD_COLS - 1) / STD_COLS;
    double *acc = calloc((size_t)D * 2, sizeof(double));
    if (!acc) return df_error_set(err, DF_ERR_NOMEM, "standardisation: out of memory");
    double *sum = acc, *ss = acc + D;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (blocks > 1 && (size_t)n * (size_t)D >= ((size_t)1 << 20))
#endif
    for (int b = 0; b < blocks; b++)
        column_stats(x, n, D, b * STD_COLS, b * STD_COLS + STD_COLS < D ? b * STD_COLS + STD_COLS : D, sum, ss);
    df_status st = DF_OK;
    for (int j = 0; j < D; j++) {
        double sd = sqrt(ss[j] / n);
        if (!isfinite(sum[j]) || !isfinite(sd)) {
            st = df_error_set(err, DF_ERR_DATA, "standardisation: feature %d is not finite", j);
            break;
        }
        h->std_mean[j] = (float)sum[j];
        h->std_std[j] = sd < 1e-6 ? 1.0f : (float)sd;
    }
    free(acc);
    if (st == DF_OK) h->has_std = 1;
    return st;
}

int df_head_layer_names(const df_head *h, const char *names[8]) {
    int k = 0;
    if (h->cfg.kind == DF_HEAD_LINEAR) {
        names[k++] = "dense";
        return k;
    }
    names[k++] = "flatten";
    names[k++] = "dense";
    if (h->cfg.batchnorm) names[k++] = "batch_normalization";
    names[k++] = "dropout";
    names[k++] = "dense_1";
    return k;
}

static df_head_tensor tensor(const char *layer, const char *weight, int rank, int d0, int d1,
                             float *data, int trainable) {
    df_head_tensor t;
    t.layer = layer;
    t.weight = weight;
    t.rank = rank;
    t.shape[0] = d0;
    t.shape[1] = rank == 2 ? d1 : 0;
    t.data = data;
    t.trainable = trainable;
    return t;
}

int df_head_tensors(df_head *h, df_head_tensor t[DF_HEAD_MAX_TENSORS]) {
    int k = 0;
    float *p = h->params;
    if (h->cfg.kind == DF_HEAD_LINEAR) {
        t[k++] = tensor("dense", "dense/kernel:0", 2, h->in_dim, h->classes, p + h->off_w1, 1);
        t[k++] = tensor("dense", "dense/bias:0", 1, h->classes, 0, p + h->off_b1, 1);
        return k;
    }
    const int U = h->units;
    t[k++] = tensor("dense", "dense/kernel:0", 2, h->in_dim, U, p + h->off_w1, 1);
    t[k++] = tensor("dense", "dense/bias:0", 1, U, 0, p + h->off_b1, 1);
    if (h->cfg.batchnorm) {
        const char *L = "batch_normalization";
        t[k++] = tensor(L, "batch_normalization/gamma:0", 1, U, 0, p + h->off_gamma, 1);
        t[k++] = tensor(L, "batch_normalization/beta:0", 1, U, 0, p + h->off_beta, 1);
        t[k++] = tensor(L, "batch_normalization/moving_mean:0", 1, U, 0, h->moving_mean, 0);
        t[k++] = tensor(L, "batch_normalization/moving_variance:0", 1, U, 0, h->moving_var, 0);
    }
    t[k++] = tensor("dense_1", "dense_1/kernel:0", 2, U, h->classes, p + h->off_w2, 1);
    t[k++] = tensor("dense_1", "dense_1/bias:0", 1, h->classes, 0, p + h->off_b2, 1);
    return k;
}

/* (x - mean) / std into out for n rows; returns the input the first layer
 * should read (x itself without standardisation). */
static const float *standardise(const df_head *h, const float *x, size_t n, float *out) {
    if (!h->has_std) return x;
    const int D = h->in_dim;
    /* rows over the threads where there are many (the exact fit's cache:
     * 848 x 11,520 on the closet photos), each row the same arithmetic */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n * (size_t)D >= ((size_t)1 << 20))
#endif
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * D;
        float *oi = out + i * D;
        for (int j = 0; j < D; j++) oi[j] = (xi[j] - h->std_mean[j]) / h->std_std[j];
    }
    return out;
}

void df_head_standardise(const df_head *h, const float *x, size_t n, float *out) {
    if (h->has_std) standardise(h, x, n, out);
    else if (out != x) memcpy(out, x, n * (size_t)h->in_dim * sizeof(float));
}

static df_status compute_gradients(df_head *h, const float *const *rows, int standardised, const int *labels,
                                   int n, const float *class_weights, df_rng *dropout_rng, double *loss_out,
                                   int *correct_out, df_error *err);

/* Pointers to n rows of a block (at most max_batch: the callers check n
 * before they read them). */
static const float *const *block_rows(df_head *h, const float *x, int n) {
    const int m = n < h->cfg.max_batch ? n : h->cfg.max_batch;
    for (int i = 0; i < m; i++) h->in_rows[i] = x + (size_t)i * h->in_dim;
    return h->in_rows;
}

df_status df_head_compute_gradients(df_head *h, const float *x, const int *labels, int n,
                                    const float *class_weights, df_rng *dropout_rng, double *loss_out,
                                    int *correct_out, df_error *err) {
    return compute_gradients(h, block_rows(h, x, n), 0, labels, n, class_weights, dropout_rng, loss_out,
                             correct_out, err);
}

/* The first layer's input: the rows standardised into h->xs when the head
 * standardises and they are raw. The linear head reads rows (*in_rows);
 * the MLP's GEMM one block (returned): the rows themselves when they lie
 * one after the other, else their copy in h->xs. */
static const float *first_input(df_head *h, const float *const *rows, int standardised, int n,
                                const float *const **in_rows) {
    const size_t D = (size_t)h->in_dim;
    *in_rows = rows;
    if (!standardised && h->has_std) {
        for (int i = 0; i < n; i++) h->std_rows[i] = standardise(h, rows[i], 1, h->xs + (size_t)i * D);
        *in_rows = h->std_rows;
        return h->xs;
    }
    if (h->cfg.kind != DF_HEAD_MLP) return NULL;
    int contiguous = 1;
    for (int i = 1; i < n && contiguous; i++) contiguous = rows[i] == rows[0] + (size_t)i * D;
    if (contiguous) return rows[0];
    for (int i = 0; i < n; i++) memcpy(h->xs + (size_t)i * D, rows[i], D * sizeof(float));
    return h->xs;
}

static df_status compute_gradients(df_head *h, const float *const *rows, int standardised, const int *labels,
                                   int n, const float *class_weights, df_rng *dropout_rng, double *loss_out,
                                   int *correct_out, df_error *err) {
    const int C = h->classes, U = h->units, D = h->in_dim;
    const int mlp = h->cfg.kind == DF_HEAD_MLP;
    const int bn = mlp && h->cfg.batchnorm;
    const int drop = mlp && h->cfg.dropout > 0.0f;
    if (n < 1 || n > h->cfg.max_batch)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "head: batch of %d rows, expected 1 to max_batch %d", n,
                            h->cfg.max_batch);
    if (bn && n < 2)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "head: a training batch of 1 row with BatchNormalization has zero "
                            "variance; use batches of 2 or more");
    if (drop && !dropout_rng)
        return df_error_set(err, DF_ERR_INVALID_ARG, "head: dropout %g needs a dropout rng",
                            (double)h->cfg.dropout);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return df_error_set(err, DF_ERR_INVALID_ARG, "head: label %d of row %d not in [0, %d)",
                                labels[i], i, C);
    if (class_weights)
        for (int c = 0; c < C; c++)
            if (!isfinite(class_weights[c]) || class_weights[c] < 0.0f)
                return df_error_set(err, DF_ERR_INVALID_ARG,
                                    "head: class weight %d is %g (need finite, >= 0)", c,
                                    (double)class_weights[c]);

    float *p = h->params, *g = h->grads;
    memset(g, 0, sizeof(float) * h->num_params);
    const float *const *in_rows;
    const float *in = first_input(h, rows, standardised, n, &in_rows);
    double loss;
    const float *pre_out; /* what the output layer reads */
    if (mlp) {
        const size_t nu = (size_t)n * U;
        df_dense_forward(h->h, in, p + h->off_w1, p + h->off_b1, n, D, U);
        df_relu_forward(h->h, h->h, nu);
        const float *a2 = h->h;
        df_batchnorm_cache cache = {h->xhat, h->rstd};
        if (bn) {
            df_batchnorm_forward_train(h->bn_out, &cache, h->h, p + h->off_gamma, p + h->off_beta,
                                       h->moving_mean, h->moving_var, n, U, h->cfg.bn_eps,
                                       h->cfg.bn_momentum);
            a2 = h->bn_out;
        }
        pre_out = a2;
        if (drop) {
            df_dropout_mask(h->mask, nu, h->cfg.dropout, dropout_rng);
            df_dropout_apply(h->a3, a2, h->mask, nu);
            pre_out = h->a3;
        }
        df_dense_forward(h->logits, pre_out, p + h->off_w2, p + h->off_b2, n, U, C);
        loss = df_softmax_ce_smooth(NULL, h->dlogits, h->logits, labels, class_weights, n, C,
                                    h->cfg.label_smoothing);
        /* Backward, output to input; dh is overwritten then updated in place. */
        df_dense_backward(h->dh, g + h->off_w2, g + h->off_b2, h->dlogits, pre_out, p + h->off_w2,
                          n, U, C);
        if (drop) df_dropout_apply(h->dh, h->dh, h->mask, nu);
        if (bn)
            df_batchnorm_backward(h->dh, g + h->off_gamma, g + h->off_beta, h->dh, &cache,
                                  p + h->off_gamma, n, U);
        df_relu_backward(h->dh, h->dh, h->h, nu);
        df_dense_backward(NULL, g + h->off_w1, g + h->off_b1, h->dh, in, p + h->off_w1, n, D, U);
        size_t w2 = (size_t)U * C;
        loss += df_l2_forward(p + h->off_w2, w2, h->cfg.l2);
        df_l2_backward(g + h->off_w2, p + h->off_w2, w2, h->cfg.l2);
    } else {
        df_dense_rows_forward(h->logits, in_rows, p + h->off_w1, p + h->off_b1, n, D, C, h->wscratch);
        loss = df_softmax_ce_smooth(NULL, h->dlogits, h->logits, labels, class_weights, n, C,
                                    h->cfg.label_smoothing);
        df_dense_rows_backward(g + h->off_w1, g + h->off_b1, h->dlogits, in_rows, n, D, C, h->wscratch);
    }
    size_t w1 = (size_t)D * (mlp ? U : C);
    loss += df_l2_forward(p + h->off_w1, w1, h->cfg.l2);
    df_l2_backward(g + h->off_w1, p + h->off_w1, w1, h->cfg.l2);

    if (correct_out) {
        int correct = 0;
        for (int i = 0; i < n; i++)
            correct += df_argmax_f32(h->logits + (size_t)i * C, C) == labels[i];
        *correct_out = correct;
    }
    if (loss_out) *loss_out = loss;
    if (!isfinite(loss))
        return df_error_set(err, DF_ERR_DATA,
                            "head: training loss is %g (diverged: try a lower learning rate, or "
                            "check the features for NaN)",
                            loss);
    return DF_OK;
}

static df_status train_step(df_head *h, const float *const *rows, int standardised, const int *labels, int n,
                            const float *class_weights, df_adam *adam, df_rng *dropout_rng, double *loss_out,
                            int *correct_out, df_error *err) {
    if (adam->n != h->num_params)
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "head: optimizer has %zu parameters, the head has %zu", adam->n,
                            h->num_params);
    df_status st = compute_gradients(h, rows, standardised, labels, n, class_weights, dropout_rng, loss_out,
                                     correct_out, err);
    if (st != DF_OK) return st;
    df_adam_step(adam, h->params, h->grads, h->decay_mask);
    return DF_OK;
}

df_status df_head_train_step(df_head *h, const float *x, const int *labels, int n,
                             const float *class_weights, df_adam *adam, df_rng *dropout_rng,
                             double *loss_out, int *correct_out, df_error *err) {
    return train_step(h, block_rows(h, x, n), 0, labels, n, class_weights, adam, dropout_rng, loss_out,
                      correct_out, err);
}

df_status df_head_train_step_standardised(df_head *h, const float *xs, const int *labels, int n,
                                          const float *class_weights, df_adam *adam, df_rng *dropout_rng,
                                          double *loss_out, int *correct_out, df_error *err) {
    return train_step(h, block_rows(h, xs, n), 1, labels, n, class_weights, adam, dropout_rng, loss_out,
                      correct_out, err);
}

df_status df_head_train_step_rows(df_head *h, const float *const *rows, int standardised, const int *labels, int n,
                                  const float *class_weights, df_adam *adam, df_rng *dropout_rng, double *loss_out,
                                  int *correct_out, df_error *err) {
    return train_step(h, rows, standardised, labels, n, class_weights, adam, dropout_rng, loss_out, correct_out,
                      err);
}

static df_status forward_infer(const df_head *h, const float *x, int n, float *probs, int softmax,
                               df_error *err) {
    if (n < 1) return df_error_set(err, DF_ERR_INVALID_ARG, "head: predict on %d rows", n);
    const int C = h->classes, U = h->units, D = h->in_dim;
    const int mlp = h->cfg.kind == DF_HEAD_MLP;
    const int chunk = n < PREDICT_CHUNK ? n : PREDICT_CHUNK;
    float *xs = NULL, *hid = NULL, *wt = NULL;
    const float *rows[PREDICT_CHUNK];
    if (h->has_std) xs = malloc(sizeof(float) * (size_t)chunk * D);
    if (mlp) hid = malloc(sizeof(float) * (size_t)chunk * U);
    else wt = malloc(sizeof(float) * (size_t)D * C);
    if ((h->has_std && !xs) || (mlp && !hid) || (!mlp && !wt)) {
        free(xs);
        free(hid);
        free(wt);
        return df_error_set(err, DF_ERR_NOMEM, "head: out of memory for predict scratch");
    }
    const float *p = h->params;
    for (int r0 = 0; r0 < n; r0 += chunk) {
        int m = n - r0 < chunk ? n - r0 : chunk;
        const float *in = standardise(h, x + (size_t)r0 * D, m, xs);
        float *out = probs + (size_t)r0 * C;
        if (mlp) {
            df_dense_forward(hid, in, p + h->off_w1, p + h->off_b1, m, D, U);
            df_relu_forward(hid, hid, (size_t)m * U);
            if (h->cfg.batchnorm)
                df_batchnorm_forward_infer(hid, hid, p + h->off_gamma, p + h->off_beta,
                                           h->moving_mean, h->moving_var, m, U, h->cfg.bn_eps);
            /* Dropout is the identity at inference. */
            df_dense_forward(out, hid, p + h->off_w2, p + h->off_b2, m, U, C);
        } else {
            /* the kernel training used: the same logits for the same row */
            for (int i = 0; i < m; i++) rows[i] = in + (size_t)i * D;
            df_dense_rows_forward(out, rows, p + h->off_w1, p + h->off_b1, m, D, C, wt);
        }
        if (softmax) df_softmax_forward(out, out, m, C);
    }
    free(xs);
    free(hid);
    free(wt);
    return DF_OK;
}

df_status df_head_predict(const df_head *h, const float *x, int n, float *probs, df_error *err) {
    return forward_infer(h, x, n, probs, 1, err);
}

df_status df_head_logits(const df_head *h, const float *x, int n, float *logits, df_error *err) {
    return forward_infer(h, x, n, logits, 0, err);
}

/* Inference mode, one row: z_c = sum_u y_u W2[u, c] + b2[c] with
 * y = BN(relu(x' W1 + b1)) and x' = (x - mean) / std, so
 * dz_c/dx_j = sum_u W1[j, u] * [pre_u > 0] * bnscale_u * W2[u, c] / std_j. */
df_status df_head_class_gradient(const df_head *h, const float *x, int cls, float *dx, df_error *err) {
    const int C = h->classes, U = h->units, D = h->in_dim;
    if (cls < 0 || cls >= C) return df_error_set(err, DF_ERR_INVALID_ARG, "head: class %d of %d", cls, C);
    const float *p = h->params;
    if (h->cfg.kind != DF_HEAD_MLP) {
        for (int j = 0; j < D; j++) dx[j] = p[h->off_w1 + (size_t)j * C + cls];
    } else {
        float *xs = h->has_std ? calloc((size_t)D, sizeof(float)) : NULL;
        float *g = calloc((size_t)U, sizeof(float));
        if ((h->has_std && !xs) || !g) {
            free(xs);
            free(g);
            return df_error_set(err, DF_ERR_NOMEM, "head: out of memory for the class gradient");
        }
        const float *in = standardise(h, x, 1, xs);
        df_dense_forward(g, in, p + h->off_w1, p + h->off_b1, 1, D, U);
        for (int u = 0; u < U; u++) {
            float scale = h->cfg.batchnorm
                              ? p[h->off_gamma + u] / sqrtf(h->moving_var[u] + h->cfg.bn_eps)
                              : 1.0f;
            g[u] = g[u] > 0.0f ? scale * p[h->off_w2 + (size_t)u * C + cls] : 0.0f;
        }
        for (int j = 0; j < D; j++) {
            const float *w = p + h->off_w1 + (size_t)j * U;
            double s = 0.0;
            for (int u = 0; u < U; u++) s += (double)w[u] * g[u];
            dx[j] = (float)s;
        }
        free(xs);
        free(g);
    }
    if (h->has_std)
        for (int j = 0; j < D; j++) dx[j] /= h->std_std[j];
    return DF_OK;
}

df_status df_head_balanced_class_weights(const int *labels, int n, int classes, float *weights,
                                         df_error *err) {
    if (n < 1 || classes < 1)
        return df_error_set(err, DF_ERR_INVALID_ARG, "class weights: %d samples, %d classes", n,
                            classes);
    long *count = calloc((size_t)classes, sizeof(long));
    if (!count) return df_error_set(err, DF_ERR_NOMEM, "class weights: out of memory");
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= classes) {
            free(count);
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "class weights: label %d of sample %d not in [0, %d)", labels[i], i,
                                classes);
        }
        count[labels[i]]++;
    }
    for (int c = 0; c < classes; c++)
        weights[c] = count[c] ? (float)((double)n / ((double)classes * (double)count[c])) : 0.0f;
    free(count);
    return DF_OK;
}
