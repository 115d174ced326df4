/*
 * deepfashion audit: the photos of a data set that hurt a classifier,
 * worst first, without changing a byte of the folder.
 *
 *   mislabeled  out-of-fold probabilities from stratified k-fold on the
 *               frozen features (train/model_select.h, the --head auto
 *               machinery; averaged over a few fold draws), mixed with the
 *               labels of each photo's nearest neighbours in feature space
 *               (its own duplicates excluded: a second, non-linear opinion
 *               that added one planted wrong label to the first 12 on the
 *               clothing photos), judged in the
 *               spirit of confident learning (Northcutt et al. 2021;
 *               cleanlab's find_label_issues): class j's threshold t_j is
 *               the mean probability of j over the photos labelled j; a
 *               photo's confident class is its most probable class among
 *               those whose threshold it reaches. A photo labelled y is an
 *               issue when the model prefers another class (cleanlab drops
 *               issues whose prediction is the label too) and y is not its
 *               confident class; the suggestion is the confident class (the
 *               most probable one when no threshold is reached); ranked by
 *               self-confidence p_y, lowest first. Photos found to be
 *               outliers are not also listed as mislabeled.
 *   duplicate   exact, same-pixel and near-duplicate pairs inside one split
 *               (audit/dupes.h); pairs across classes are marked.
 *   leak        a validation photo that duplicates a training photo, and the
 *               validation accuracy of a head trained on the training
 *               photos, with and without the leaked ones.
 *   outlier     photos unlike every training photo (off-topic): with kd(i)
 *               the mean cosine distance from photo i to its k nearest
 *               training photos (its own duplicates excluded), the score
 *               log kd(i) + log(kd(i) / mean of kd over those neighbours)
 *               (far away, and farther than its neighbours are from theirs:
 *               the idea of the local outlier factor, Breunig et al. 2000),
 *               flagged past a robust z-score of the set's own scores.
 *   dark, bright, blurry, low_resolution   audit/quality.h.
 * Plus class counts and class-imbalance advice.
 *
 * Photos are numbered training first, then validation, each in its data
 * set's order; paths are the data sets' (as the caller gave the folder).
 */
#ifndef DF_AUDIT_AUDIT_H
#define DF_AUDIT_AUDIT_H

#include <stdint.h>

#include "audit/dupes.h"
#include "audit/quality.h"
#include "backbone/backbone.h"
#include "core/error.h"
#include "core/progress.h"
#include "data/dataset.h"

typedef enum df_audit_kind {
    DF_AUDIT_MISLABELED,
    DF_AUDIT_LEAK,
    DF_AUDIT_DUPLICATE,
    DF_AUDIT_OUTLIER,
    DF_AUDIT_DARK,
    DF_AUDIT_BRIGHT,
    DF_AUDIT_BLURRY,
    DF_AUDIT_LOW_RESOLUTION,
    DF_AUDIT_KINDS
} df_audit_kind;

/* "mislabeled", "leak", "duplicate", "outlier", "dark", "bright", "blurry", "low_resolution". */
const char *df_audit_kind_name(df_audit_kind k);

typedef struct df_audit_issue {
    df_audit_kind kind;
    int photo;            /* index into df_audit_result.photos */
    int other;            /* duplicate / leak: the photo it copies; else -1 */
    double score;         /* 0..1, higher = surer / worse */
    int suggested_class;  /* mislabeled: the class it probably is; else -1 */
    df_dup_kind dup_kind; /* duplicate / leak: how they match */
} df_audit_issue;

typedef struct df_audit_photo {
    const char *path;   /* borrowed from the data set */
    int label;
    int split;          /* 0 training, 1 validation */
    df_quality quality;
} df_audit_photo;

typedef struct df_audit_options {
    int folds;                 /* k of the out-of-fold predictions; default 5 */
    int repeats;               /* fold draws averaged; default 3 */
    int label_k;               /* neighbours whose labels vote; default 10 */
    double label_knn_weight;   /* their vote's weight against the head's; default 0.3 */
    int epochs;                /* head training epochs per fold; default 30 */
    uint64_t seed;             /* folds and head initialisation; default 1 */
    int outlier_k;             /* nearest training photos averaged; default 10 */
    double outlier_z;          /* robust z-score of the outlier score; default 2.5 */
    int threads;               /* decoding threads; 0 = all cores */
    const df_progress *progress; /* the backbone passes' progress; may be NULL */
    /* The photos' features (training photos x the backbone's feature_dim,
     * and validation photos x it), as df_photo_features gives them with the
     * backbone's own resize (a training run's plain passes); borrowed.
     * NULL (either, where there are validation photos): the audit runs the
     * backbone itself. */
    const float *train_features, *val_features;
    df_quality_options quality;
    df_dupes_options dupes;
} df_audit_options;

df_audit_options df_audit_options_default(void);

typedef struct df_audit_result {
    int n_photos, n_train;
    df_audit_photo *photos;        /* [n_photos], owned */
    int n_classes;
    const char *const *class_names; /* borrowed from the training set */
    int *train_counts, *val_counts; /* [n_classes], owned */
    df_audit_issue *issues;        /* [n_issues], owned; by kind (enum order), then score */
    int n_issues;
    int counts[DF_AUDIT_KINDS];    /* issues per kind */
    int cross_class_duplicates;    /* duplicate pairs filed under two classes */
    double val_accuracy;           /* head trained on the training photos; NAN without validation */
    double val_accuracy_without_leaks;
    int val_photos, val_leaked;
    double imbalance_ratio;        /* largest class / smallest class (training) */
    int advise_class_weights;      /* imbalance_ratio >= 1.5 */
    int mislabeled_folds;          /* folds actually used (0: too few photos, not run) */
    double seconds_decode, seconds_features, seconds_folds, seconds_total;
} df_audit_result;

void df_audit_result_free(df_audit_result *r);

/* Audits train (and val, which may be NULL) with backbone bb. Reads every
 * photo once more than the backbone does (hashes, quality); never writes. */
df_status df_audit_run(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                       const df_audit_options *opt, df_audit_result *out,
                       df_error *err) DF_MUST_CHECK;

/* ---- the parts, pure functions over arrays ---- */

typedef struct df_label_issue {
    int photo;
    int suggested;      /* class */
    double self_conf;   /* p_label */
} df_label_issue;

/* Confident-learning label issues among n photos with out-of-fold
 * probabilities probs (n x C) and labels in [0, C): out[0..*n_out) sorted by
 * self-confidence, lowest first (ties: lower photo index). out holds n. */
void df_audit_label_issues(const float *probs, const int *labels, int n, int C,
                           df_label_issue *out, int *n_out);

/* probs (n x C, rows sum to 1) <- (1 - w) probs + w votes, where votes[i][c]
 * is the fraction of photo i's neighbours (nbr: n x k, -1 = none) labelled
 * c; a photo without neighbours keeps its row. */
void df_audit_mix_neighbour_votes(float *probs, const int *nbr, int n, int k, const int *labels, int C,
                                  double w);

/* dist[i] = mean cosine distance (1 - cos) from photo i to its k nearest
 * reference photos (is_ref[j] != 0), skipping j == i and j in i's group
 * (group[j] == group[i]; pass NULL for none); nbr (n x k, or NULL) receives
 * their indices, nearest first, -1 where fewer than k references were
 * available. feat: n x F, rows L2-normalised. No reference at all: dist 1. */
df_status df_audit_knn_distance(const float *feat, int n, size_t F, const int *is_ref,
                                const int *group, int k, double *dist, int *nbr,
                                df_error *err) DF_MUST_CHECK;

/* The outlier score above, from df_audit_knn_distance's dist and nbr. */
void df_audit_outlier_scores(const double *dist, const int *nbr, int n, int k, double *score);

#endif
