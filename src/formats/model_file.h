/*
 * The model file: one self-describing HDF5 file holding a trained head and
 * everything needed to use it (class names, which backbone and weights,
 * preprocessing), optionally plus the training state to resume from
 * (a checkpoint is a model file with one extra group; df_model_load reads
 * both).
 *
 * Layout (format version 1). Head weights use the Keras save_weights
 * layout, so h5py scripts and Keras' load_weights-by-order readers find
 * them: a group per layer named by Keras' Sequential defaults, each with
 * attribute weight_names; datasets are stored under the weight name, which
 * contains a '/', hence the doubled group (as Keras/h5py write it).
 *
 *   /                                attrs layer_names (fixed-length strings,
 *                                    h5py 'S' style), backend "tensorflow",
 *                                    keras_version "2.4.0"
 *   MLP:
 *   /flatten                         weight_names = [] (no weights)
 *   /dense                           weight_names = [dense/kernel:0, dense/bias:0]
 *   /dense/dense/kernel:0            float32 (in_dim, units)
 *   /dense/dense/bias:0              float32 (units)
 *   /batch_normalization             (only with BN) weight_names = [
 *                                    batch_normalization/gamma:0, .../beta:0,
 *                                    .../moving_mean:0, .../moving_variance:0]
 *   /batch_normalization/batch_normalization/{gamma,beta,moving_mean,moving_variance}:0
 *                                    float32 (units) each
 *   /dropout                         weight_names = []
 *   /dense_1                         weight_names = [dense_1/kernel:0, dense_1/bias:0]
 *   /dense_1/dense_1/kernel:0        float32 (units, classes)
 *   /dense_1/dense_1/bias:0          float32 (classes)
 *   LINEAR:
 *   /dense, /dense/dense/kernel:0 (in_dim, classes), /dense/dense/bias:0 (classes)
 *
 *   /deepfashion                     attrs:
 *       format_version   int32     1
 *       file_kind        string    "model" or "checkpoint"
 *       num_classes      int32
 *       class_names      strings   (num_classes, index order)
 *       backbone_kind    string    "vgg16" / "tflite"
 *       backbone_name    string
 *       backbone_sha256  string    64 lowercase hex digits, or "" if unknown
 *       preprocess       string    df_preprocess_name()
 *       resize_method    string
 *       input_size       int32[2]  (height, width)
 *       feature_dim      int32     == head in_dim
 *       head_kind        string    "mlp" / "linear"
 *       head_units, head_batchnorm, head_max_batch     int32
 *       head_dropout, head_l2, bn_momentum, bn_eps      float32
 *       backbone_source  string    (since 0.2) the weights file's path when trained
 *       precision        string    (since 0.2) what the backbone ran in: fp32 / bf16 / ...
 *       backbone_pool    int32     (since 0.2) VGG16 global average pooling
 *       cut_tensor       string    (since 0.2) TFLite feature tensor, "" = automatic
 *       pooling          string    (since issue 10) how the TFLite map becomes the
 *                                  features: "mean" or "r<k>s<s>" (backbone/pooling.h);
 *                                  absent = "mean"
 *       training_json    string    free-form training settings ("" if none)
 *       weights_crc32c   uint32    CRC-32C of the raw float32 bytes of every head
 *                                  tensor (Keras order above), then of the
 *                                  standardisation mean and std if present
 *   /deepfashion/standardisation_mean   float32 (in_dim)   only when the head
 *   /deepfashion/standardisation_std    float32 (in_dim)   has standardisation
 *   /deepfashion/backbone_file   uint8 (bytes)   the backbone weights file as it
 *                                    is (absent = by reference); its SHA-256
 *                                    must equal backbone_sha256
 *
 *   Optional (files from before issue 12 have none; each part may be absent):
 *   /deepfashion/trust               attrs temperature float32 (0 = none),
 *                                    unknown_method int32 (0 = no detector,
 *                                    else eval/unknown.h's method), unknown_k,
 *                                    unknown_rows int32, unknown_threshold,
 *                                    unknown_rate float32, trust_crc32c uint32
 *                                    (CRC-32C of unknown_mean, unknown_ref bytes)
 *   /deepfashion/trust/unknown_mean  float32 (dim)        with a detector; dim =
 *   /deepfashion/trust/unknown_ref   float32 (unknown_rows, dim)    feature_dim, or the
 *                                    map's channels for features pooled by regions
 *                                    (the detector sees their mean over the windows)
 *
 *   Checkpoints only:
 *   /deepfashion/checkpoint          attrs adam_t int64, adam_lr, adam_beta1,
 *                                    adam_beta2, adam_eps, adam_weight_decay
 *                                    float32, epoch int32, step int64,
 *                                    state_json string
 *   /deepfashion/checkpoint/adam_m   float32 (num_params)  same order as the
 *   /deepfashion/checkpoint/adam_v   float32 (num_params)  head's flat block
 *   /deepfashion/checkpoint/rng_state   uint64 (n_rngs, 2): (state, inc)
 *   /deepfashion/checkpoint/history  float32 (epochs, 5), attr columns =
 *                                    [train_loss, train_acc, val_loss,
 *                                    val_acc, lr]; NaN = not measured
 *   /deepfashion/checkpoint attr state_crc32c uint32: CRC-32C of adam_m,
 *                                    adam_v, rng_state, history bytes in order
 *   /deepfashion/checkpoint/best_weights float32 (n) early stopping's best
 *                                    weights so far (optional), attr
 *                                    best_crc32c
 *
 * The file is written in the HDF5 1.8 format (superblock version 2, version 2
 * object headers: libhdf5 checksums every metadata block), and loading
 * refuses other superblock versions before libhdf5 parses anything, so a
 * damaged file fails a checksum instead of feeding corrupt structures to
 * libhdf5 (which is not robust against those). The CRC-32C attributes cover
 * the raw data, which HDF5 does not checksum. A deliberately crafted file
 * with recomputed checksums can still reach libhdf5's parser: do not load
 * model files from untrusted sources.
 *
 * Saving is atomic: the file is written to "<path>.tmp-XXXXXX" in the same
 * folder, closed, fsynced and renamed over path; an interrupted save leaves
 * the previous file intact (a killed process may leave the temp file).
 * Loading checks the format version, every dataset's presence, type and
 * shape, and that class count, feature_dim and head dims agree; any
 * mismatch is one error line naming the file and the field. HDF5's own
 * error printing is switched off (H5Eset_auto2).
 */
#ifndef DF_FORMATS_MODEL_FILE_H
#define DF_FORMATS_MODEL_FILE_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "nn/head.h"
#include "optim/adam.h"

enum { DF_MODEL_FORMAT_VERSION = 1 };

typedef struct df_model_meta {
    int num_classes;
    char **class_names;         /* num_classes strings, owned */
    /* The backbone, as typed fields: enough to open the same network with
     * the same settings and compute the same features. */
    char backbone_kind[32];     /* "vgg16" / "tflite" */
    char backbone_name[128];
    char backbone_source[1024]; /* the weights file's path when trained ("" if unknown) */
    char backbone_sha256[65];   /* SHA-256 of the weights file, "" if unknown */
    char precision[16];         /* what the backbone ran in (df_precision_name); "" = not recorded */
    int backbone_pool;          /* VGG16: global average pooling of the last block */
    char cut_tensor[128];       /* TFLite: the feature tensor asked for; "" = found automatically */
    char pooling[16];           /* TFLite: "mean" (also for older files) or regions "r<k>s<s>" */
    char preprocess[32];        /* df_preprocess_name() */
    char resize_method[32];
    int input_h, input_w;
    int feature_dim;            /* always == df_head_in_dim(head) */
    /* The weights file itself, byte for byte (the TFLite flatbuffer, the
     * Keras HDF5 file), so the model is the whole classifier as Keras'
     * model.save makes it; NULL = by reference (backbone_source). Owned. */
    uint8_t *backbone_file;
    size_t backbone_file_size;
    char *training_json;        /* owned, NULL = none */
} df_model_meta;

struct df_unknown_detector;

typedef struct df_model {
    df_head *head;              /* owned */
    df_model_meta meta;
    /* Trust (written by training since issue 12, see "/deepfashion/trust"
     * above); older files load with neither. */
    struct df_unknown_detector *unknown; /* owned (eval/unknown.h), NULL = none */
    float temperature;                   /* > 0; 0 = not fitted (probabilities as the head gives them) */
} df_model;

/* A new model with a freshly initialised head (df_head_create with seed);
 * class_names copied (num_classes of them, non-empty, no duplicates).
 * The caller fills the backbone/preprocess fields of meta afterwards. */
df_status df_model_create(const df_head_config *cfg, int feature_dim, int num_classes,
                          const char *const *class_names, uint64_t seed, df_model **out,
                          df_error *err) DF_MUST_CHECK;
void df_model_destroy(df_model *model);
/* Replaces meta.backbone_file with a copy of the file at path (embed = 1)
 * or drops it (embed = 0, by reference); either way backbone_source and
 * backbone_sha256 record the file. */
df_status df_model_set_backbone_file(df_model *model, const char *path, int embed, df_error *err) DF_MUST_CHECK;
/* Replaces meta.training_json with a copy of json (NULL clears it). */
df_status df_model_set_training_json(df_model *model, const char *json,
                                     df_error *err) DF_MUST_CHECK;

df_status df_model_save(const df_model *model, const char *path, df_error *err) DF_MUST_CHECK;
/* Reads a model or a checkpoint file (the checkpoint group is ignored). */
df_status df_model_load(const char *path, df_model **out, df_error *err) DF_MUST_CHECK;

/* ---- training checkpoints ---- */

/* Per-epoch history; NaN marks a value that was not measured. */
typedef struct df_history {
    int epochs;    /* rows filled */
    int capacity;
    float *train_loss, *train_acc, *val_loss, *val_acc, *lr; /* owned */
} df_history;

df_status df_history_append(df_history *h, float train_loss, float train_acc, float val_loss,
                            float val_acc, float lr, df_error *err) DF_MUST_CHECK;
void df_history_free(df_history *h); /* frees the arrays and zeroes h */

enum { DF_CKPT_MAX_RNGS = 8 };

/* What the training loop needs besides the weights and Adam to resume
 * bit-for-bit. The loop decides what the rng slots mean (e.g. slot 0 the
 * dropout stream); per-epoch streams derived with df_rng_seed_for need no
 * slot. */
typedef struct df_train_state {
    int epoch;                  /* epochs completed */
    int64_t step;               /* optimizer steps taken */
    int n_rngs;                 /* <= DF_CKPT_MAX_RNGS */
    df_rng rngs[DF_CKPT_MAX_RNGS];
    df_history history;
    char *state_json;           /* owned, free-form (early stopping...), NULL = none */
    /* Early stopping's best weights so far, as the loop lays them out
     * (n_best floats, at most twice the head's parameters); NULL = none. Owned. */
    float *best;
    size_t n_best;
} df_train_state;

void df_train_state_free(df_train_state *s); /* frees history and state_json, zeroes s */

/* The model file plus /deepfashion/checkpoint (see the layout above).
 * adam must have df_head_num_params(model->head) parameters. */
df_status df_model_save_checkpoint(const df_model *model, const df_adam *adam,
                                   const df_train_state *state, const char *path,
                                   df_error *err) DF_MUST_CHECK;
/* Loads all three; *model and *adam are owned by the caller, state is
 * overwritten (free it with df_train_state_free). A plain model file
 * (no checkpoint group) is rejected with a message saying so. */
df_status df_model_load_checkpoint(const char *path, df_model **model, df_adam **adam,
                                   df_train_state *state, df_error *err) DF_MUST_CHECK;

#endif
