/*
 * tf.keras Adam (2.2-2.4 defaults) over one flat block, with optional
 * decoupled weight decay; see adam.h for the exact update. The learning rate
 * correction lr * sqrt(1 - b2^t) / (1 - b1^t) is formed in double once per
 * step, as Keras forms lr_t once per step; the per-element arithmetic is
 * float32, as in Keras' ResourceApplyAdam kernel.
 */
#include "optim/adam.h"

#include <math.h>
#include <stdlib.h>

df_adam_config df_adam_config_default(void) {
    df_adam_config c;
    c.lr = 1e-3f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-7f;
    c.weight_decay = 0.0f;
    return c;
}

df_status df_adam_create(const df_adam_config *cfg, size_t n, df_adam **out, df_error *err) {
    *out = NULL;
    if (!(cfg->lr > 0.0f) || !isfinite(cfg->lr))
        return df_error_set(err, DF_ERR_INVALID_ARG, "adam: learning rate must be > 0 (got %g)",
                            (double)cfg->lr);
    if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) || !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "adam: beta1 and beta2 must be in [0, 1) (got %g, %g)",
                            (double)cfg->beta1, (double)cfg->beta2);
    if (!(cfg->eps > 0.0f) || !(cfg->weight_decay >= 0.0f) || !isfinite(cfg->weight_decay))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "adam: eps must be > 0 and weight decay >= 0 (got %g, %g)",
                            (double)cfg->eps, (double)cfg->weight_decay);
    if (n == 0) return df_error_set(err, DF_ERR_INVALID_ARG, "adam: no parameters");
    df_adam *a = calloc(1, sizeof *a);
    if (!a) goto nomem;
    a->cfg = *cfg;
    a->n = n;
    a->m = calloc(n, sizeof(float));
    a->v = calloc(n, sizeof(float));
    if (!a->m || !a->v) goto nomem;
    *out = a;
    return DF_OK;
nomem:
    df_adam_destroy(a);
    return df_error_set(err, DF_ERR_NOMEM, "adam: cannot allocate moments for %zu parameters", n);
}

void df_adam_destroy(df_adam *adam) {
    if (!adam) return;
    free(adam->m);
    free(adam->v);
    free(adam);
}

/* The moments and the parameter update; restrict (the blocks never
 * overlap) and the file's -O3 -fno-math-errno (CMakeLists.txt) let the
 * compiler vectorize it: the same float operations per element in the same
 * order (no contraction in ISO C), so the same bits. It was 2% of a default
 * training run, 25,200 steps of 3,843 parameters. */
static void update(size_t n, float *restrict params, const float *restrict grads, float *restrict m,
                   float *restrict v, float b1, float b2, float lr_t, float eps) {
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        params[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void df_adam_step(df_adam *adam, float *params, const float *grads, const uint8_t *decay_mask) {
    adam->t++;
    const double t = (double)adam->t;
    const float b1 = adam->cfg.beta1, b2 = adam->cfg.beta2, eps = adam->cfg.eps;
    const float lr_t = (float)((double)adam->cfg.lr * sqrt(1.0 - pow((double)b2, t)) /
                               (1.0 - pow((double)b1, t)));
    const float decay = adam->cfg.lr * adam->cfg.weight_decay;
    /* decoupled decay first, element by element as before the update */
    if (decay != 0.0f)
        for (size_t i = 0; i < adam->n; i++)
            if (!decay_mask || decay_mask[i]) params[i] -= decay * params[i];
    update(adam->n, params, grads, adam->m, adam->v, b1, b2, lr_t, eps);
}
