/*
 * The report of one training run: gathers what the report module draws
 * (data set counts and skipped files, settings, history, evaluation,
 * gallery photos, augmented samples, model summary) from the run's parts,
 * then writes out_dir/report.html and its figures (report/report.h).
 */
#ifndef DF_REPORT_RUN_REPORT_H
#define DF_REPORT_RUN_REPORT_H

#include "backbone/backbone.h"
#include "data/dataset.h"
#include "eval/evaluation.h"
#include "formats/model_file.h"
#include "train/model_select.h"
#include "train/train.h"

typedef struct df_run_report {
    const char *model_path;
    const df_model *model;
    df_backbone *backbone;
    const df_dataset *train;       /* may be NULL (no sample grid, no train counts) */
    const df_dataset *val;         /* the evaluated photos; required */
    const df_history *history;     /* may be NULL or empty */
    int best_epoch;                /* 1-based, lowest validation loss; 0 = none */
    int exact_fit;                 /* the head was fitted exactly (--solver exact), as the
                                    * model's training record says; used when train_options
                                    * is NULL (theirs counts otherwise) */
    int kept_epoch;                /* 1-based, the weights the model holds; 0 = not known */
    const df_evaluation *evaluation; /* of val; NULL = computed here */
    const df_train_options *train_options; /* settings shown; may be NULL */
    const df_exact_fit_report *exact;      /* how train's exact fit ended; NULL = not known */
    const char *recipe;            /* "default" / "original" / NULL */
    const df_head_search_result *head_search; /* --head auto's scores; may be NULL */
    int offtopic_photos, offtopic_caught;     /* report --unknown-dir; photos 0 = not measured */
    const df_progress *progress;   /* the audit's backbone passes; may be NULL */
    /* The photos' plain features as df_photo_features gives them with the
     * backbone's own resize (a training run's clean view and validation
     * photos), borrowed: the audit reuses them instead of running the
     * backbone again. NULL (either): the audit computes its own. */
    const float *train_features, *val_features;
} df_run_report;

/* With r->train, the page also shows the audit's first findings on the
 * training and validation photos (audit/audit.h; df_run_report_audit_section). */
df_status df_run_report_write(const df_run_report *r, const char *out_dir,
                              df_error *err) DF_MUST_CHECK;

/* The audit section of the training report (malloc'ed HTML; NULL without a
 * backbone or training photos, or when out of memory). Never fails: an
 * audit that does not complete is a section saying why. */
char *df_run_report_audit_section(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                                  const float *train_features, const float *val_features,
                                  const df_progress *progress);

#endif
