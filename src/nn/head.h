/*
 * The trainable head on top of frozen backbone features.
 *
 * Kinds (the Keras model each one equals):
 *  MLP     the original recipe: Flatten -> Dense(units, relu) ->
 *          BatchNormalization (optional) -> Dropout(p) -> Dense(classes) ->
 *          softmax. Defaults units 1024, BN on, dropout 0.25.
 *  LINEAR  softmax regression: Dense(classes) -> softmax on standardised
 *          features, (x - mean) / std with mean and std measured on the
 *          training features (df_head_fit_standardisation), L2 on the kernel.
 * Either kind may carry standardisation; LINEAR starts with identity
 * (mean 0, std 1) until it is fitted or set.
 *
 * Memory (llm.c): all trainable parameters live in ONE flat float block, in
 * Keras weight order; gradients in a second block of the same layout; Adam's
 * m and v (optim/adam.h) mirror it, so one Adam loop updates everything.
 *   MLP:    dense/kernel (in, units), dense/bias (units),
 *           [batch_normalization/gamma (units), batch_normalization/beta (units)],
 *           dense_1/kernel (units, classes), dense_1/bias (classes)
 *   LINEAR: dense/kernel (in, classes), dense/bias (classes)
 * Non-trainable state lives outside that block: BN moving_mean and
 * moving_variance (units each) and the standardisation mean/std (in each).
 * df_head_tensors lists every tensor with its Keras layer/weight name and
 * shape, which is what the model file writes.
 *
 * Initialisation: kernels glorot-uniform U(-l, l), l = sqrt(6/(in + out)),
 * drawn in block order from df_rng_seed(seed, DF_STREAM_INIT); biases 0; BN
 * gamma 1, beta 0, moving mean 0, moving variance 1.
 *
 * Training: df_head_train_step does forward (training mode) + backward +
 * Adam update without allocating (scratch is sized for cfg.max_batch at
 * create). The reported loss is the mean (class-weighted) cross-entropy on
 * the batch plus the L2 penalty, as Keras reports it.
 * Inference: df_head_predict (BN uses the moving statistics, dropout is the
 * identity); it allocates its own small scratch per call, so a const head
 * may be shared by threads.
 */
#ifndef DF_NN_HEAD_H
#define DF_NN_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "optim/adam.h"

typedef enum df_head_kind { DF_HEAD_MLP = 0, DF_HEAD_LINEAR = 1 } df_head_kind;

/* "mlp" / "linear" */
const char *df_head_kind_name(df_head_kind kind);
df_status df_head_kind_parse(const char *s, df_head_kind *out, df_error *err) DF_MUST_CHECK;

typedef struct df_head_config {
    df_head_kind kind;
    int units;         /* MLP hidden width; default 1024 */
    int batchnorm;     /* MLP: 1 = BatchNormalization after the hidden ReLU; default 1 */
    float dropout;     /* MLP: drop probability in [0, 1); default 0.25 */
    float l2;          /* lambda of Keras l2() on every kernel; default 0 */
    float label_smoothing; /* training targets (1 - e) onehot + e / classes, e in [0, 1); default 0 */
    float bn_momentum; /* default 0.99 */
    float bn_eps;      /* default 1e-3 */
    int max_batch;     /* largest n for train_step; default 32 */
} df_head_config;

/* The original recipe: MLP, 1024 units, BN on, dropout 0.25, no L2,
 * momentum 0.99, eps 1e-3, max_batch 32. */
df_head_config df_head_config_default(void);

typedef struct df_head df_head;

/* in_dim: feature length (25088 for VGG16 flattened, 512 pooled, 1280 for
 * MobileNetV2); classes >= 2. Validates the config (units >= 1, dropout in
 * [0, 1), l2 >= 0, max_batch >= 1, sizes overflow-checked). */
df_status df_head_create(const df_head_config *cfg, int in_dim, int classes, uint64_t seed,
                         df_head **out, df_error *err) DF_MUST_CHECK;
void df_head_destroy(df_head *head);

const df_head_config *df_head_get_config(const df_head *head);
int df_head_in_dim(const df_head *head);
int df_head_classes(const df_head *head);

/* The flat trainable block (df_head_num_params floats) and its gradient
 * block, same layout. Params may be written (loading, tests); grads hold
 * the last df_head_compute_gradients / train_step result. */
size_t df_head_num_params(const df_head *head);
float *df_head_params(df_head *head);
const float *df_head_params_const(const df_head *head);
float *df_head_grads(df_head *head);
/* num_params bytes: 1 for kernels (decayed by AdamW), 0 for biases and BN. */
const uint8_t *df_head_decay_mask(const df_head *head);

/* BN moving statistics (units floats each), NULL when the head has no BN. */
float *df_head_bn_moving_mean(df_head *head);
float *df_head_bn_moving_var(df_head *head);

/* Standardisation (in_dim floats each). set copies; std entries must be
 * finite and > 0. fit measures mean and the population std (divide by n,
 * in double) of n training rows; a feature with std < 1e-6 (constant) gets
 * std 1 so it passes through centred. get returns NULL pointers and 0 when
 * none is set. */
df_status df_head_set_standardisation(df_head *head, const float *mean, const float *std,
                                      df_error *err) DF_MUST_CHECK;
df_status df_head_fit_standardisation(df_head *head, const float *x, int n,
                                      df_error *err) DF_MUST_CHECK;
int df_head_has_standardisation(const df_head *head);
const float *df_head_std_mean(const df_head *head);
const float *df_head_std_std(const df_head *head);

/* Every tensor of the head, in Keras order, for writers and readers.
 * layer: Keras layer name ("dense", "batch_normalization", "dense_1");
 * weight: the Keras weight name ("dense/kernel:0"); data points into the
 * head (params block or non-trainable state); trainable says which block. */
typedef struct df_head_tensor {
    const char *layer;
    const char *weight;
    int rank;        /* 1 or 2 */
    int shape[2];
    float *data;
    int trainable;
} df_head_tensor;
enum { DF_HEAD_MAX_TENSORS = 8 };
/* Fills t[0..*count); returns *count. */
int df_head_tensors(df_head *head, df_head_tensor t[DF_HEAD_MAX_TENSORS]);
/* The Keras Sequential layer names, weightless ones included (flatten,
 * dropout), in model order; returns the count (<= 8). */
int df_head_layer_names(const df_head *head, const char *names[8]);

/* Forward in training mode + backward on a batch: the gradient block is
 * OVERWRITTEN with dLoss/dparams (L2 included), BN moving statistics are
 * updated, nothing else changes. x: (n, in_dim); labels in [0, classes);
 * class_weights: classes floats or NULL; dropout_rng: the stream dropout
 * masks come from (consumed n*units draws when dropout > 0; may be NULL
 * when dropout is 0 or the kind is LINEAR). loss_out / correct_out (number
 * of rows whose argmax equals the label) may be NULL.
 * n must be in [1, max_batch]; with BN, n >= 2 (a batch of one has zero
 * variance). No allocation. */
df_status df_head_compute_gradients(df_head *head, const float *x, const int *labels, int n,
                                    const float *class_weights, df_rng *dropout_rng,
                                    double *loss_out, int *correct_out,
                                    df_error *err) DF_MUST_CHECK;

/* compute_gradients, then one Adam step over the flat block (weight decay
 * masked by df_head_decay_mask). adam must have been created with
 * df_head_num_params parameters. Returns DF_ERR_DATA, leaving the
 * parameters untouched, when the loss is not finite. */
df_status df_head_train_step(df_head *head, const float *x, const int *labels, int n,
                             const float *class_weights, df_adam *adam, df_rng *dropout_rng,
                             double *loss_out, int *correct_out, df_error *err) DF_MUST_CHECK;

/* The head's first step on n rows of x: (x - mean) / std per feature, as
 * training and prediction compute it; a copy when the head has no
 * standardisation. out: (n, in_dim); may be x itself. */
void df_head_standardise(const df_head *head, const float *x, size_t n, float *out);
/* df_head_train_step on rows df_head_standardise already standardised with
 * this head's statistics, bit for bit the same step: a feature cache is
 * read once per epoch, hundreds of times, so its rows are standardised
 * once instead of in every step. */
df_status df_head_train_step_standardised(df_head *head, const float *xs, const int *labels, int n,
                                          const float *class_weights, df_adam *adam, df_rng *dropout_rng,
                                          double *loss_out, int *correct_out, df_error *err) DF_MUST_CHECK;

/* One training step on rows given by pointers (a feature cache's rows
 * where they lie): df_head_train_step when standardised is 0,
 * df_head_train_step_standardised when it is 1, bit for bit. */
df_status df_head_train_step_rows(df_head *head, const float *const *rows, int standardised, const int *labels,
                                  int n, const float *class_weights, df_adam *adam, df_rng *dropout_rng,
                                  double *loss_out, int *correct_out, df_error *err) DF_MUST_CHECK;

/* Class weights for --class-weight balanced, as scikit-learn's
 * compute_class_weight("balanced") and Keras' class_weight use them:
 * w[c] = n / (classes * count[c]); a class with no samples gets 0.
 * weights (classes floats) overwritten; labels outside [0, classes) are an
 * error. */
df_status df_head_balanced_class_weights(const int *labels, int n, int classes, float *weights,
                                         df_error *err) DF_MUST_CHECK;

/* Inference: probs (n, classes) overwritten with softmax outputs. Any n >= 1
 * (processed in chunks). Allocates a scratch per call. */
df_status df_head_predict(const df_head *head, const float *x, int n, float *probs,
                          df_error *err) DF_MUST_CHECK;
/* The same without the softmax: logits (n, classes) overwritten. */
df_status df_head_logits(const df_head *head, const float *x, int n, float *logits,
                         df_error *err) DF_MUST_CHECK;

/* Grad-CAM's input: dx (in_dim floats) OVERWRITTEN with d logit[cls] / d x
 * at the row x, in inference mode (BN moving statistics, no dropout; the
 * ReLU's derivative at exactly 0 is taken as 0). Allocates a small scratch. */
df_status df_head_class_gradient(const df_head *head, const float *x, int cls, float *dx,
                                 df_error *err) DF_MUST_CHECK;

#endif
