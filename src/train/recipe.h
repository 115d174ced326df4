/*
 * Recipes and settings: a recipe name plus "name=value" overrides become
 * the options of a training run, in the library, so a program that embeds
 * DeepFashion trains with exactly what `deepfashion train --recipe R
 * --lr X ...` would. The command line builds its flags from this table
 * (every setting is a flag of the same name, listed in --help).
 *
 *     df_recipe rc;
 *     df_recipe_start("default", n_train, "tflite", &rc, err);
 *     df_recipe_set(&rc, "lr", "1e-4", err);     // as --lr 1e-4
 *     df_recipe_finish(&rc, err);                // cross-setting checks
 *     ... rc.train, rc.backbone ...
 *
 * Overrides apply over the recipe's values whatever order they come in
 * (the command line applies them in table order), so `--recipe original
 * --lr 1e-3` is the original with one change.
 */
#ifndef DF_TRAIN_RECIPE_H
#define DF_TRAIN_RECIPE_H

#include <stdint.h>

#include "backbone/backbone.h"
#include "core/error.h"
#include "train/train.h"

enum { DF_RECIPE_MAX_SETTINGS = 64 };

typedef struct df_recipe {
    char name[16];                 /* "default" / "original" */
    df_train_options train;
    df_backbone_options backbone;  /* precision, preprocessing, pooling, cut */
    int head_auto;                 /* --head auto: choose by cross-validation */
    int folds;                     /* for head_auto */
    uint64_t set;                  /* bit i: setting i was given */
    char cut_tensor[128];          /* backbone.cut_tensor points here */
    int num_train;                 /* training photos: the default L2 scales as 1 / num_train */
} df_recipe;

typedef struct df_setting {
    const char *name;   /* the flag without "--" */
    const char *arg;    /* "X", "N"...; NULL = a switch taking no value */
    const char *group;  /* heading in --help */
    const char *help;   /* one line */
    df_status (*apply)(df_recipe *r, const char *value, df_error *err);
} df_setting;

/* The table, in the order settings are applied; *n = its length. */
const df_setting *df_settings(int *n);
/* Index of name in the table, or -1. */
int df_setting_find(const char *name);

/* The recipe's options: "default" (chosen by cross-validation, see
 * README) or "original" (the Keras notebook, SPEC 1-4: needs the number of
 * training photos for steps_per_epoch and the backbone kind for its
 * preprocessing). DF_ERR_INVALID_ARG for another name. */
df_status df_recipe_start(const char *name, int num_train, const char *backbone_kind, df_recipe *out,
                          df_error *err) DF_MUST_CHECK;
/* One override; value NULL for a switch. DF_ERR_INVALID_ARG with a message
 * naming the flag and the allowed values. */
df_status df_recipe_set(df_recipe *r, const char *name, const char *value, df_error *err) DF_MUST_CHECK;
/* Checks between settings (e.g. --head auto chooses the learning rate
 * itself, so --lr is refused with it). */
df_status df_recipe_finish(df_recipe *r, df_error *err) DF_MUST_CHECK;
/* After the backbone is opened with r->backbone: the pooling it made (the
 * default's regions fall back to the mean on a map they do not tile)
 * replaces the asked one, and a default linear head's L2 follows it. */
void df_recipe_backbone_opened(df_recipe *r, const df_backbone *bb);

#endif
