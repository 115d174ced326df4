/* Helpers shared by the train / evaluate / predict / report commands. */
#ifndef DF_CLI_COMMON_H
#define DF_CLI_COMMON_H

#include <stdio.h>

#include "core/error.h"
#include "data/dataset.h"
#include "formats/model_file.h"
#include "report/run_report.h"
#include "train/model_select.h"
#include "train/train.h"

/* DIR with train/ (and validation/) inside -> those; else DIR itself, and
 * DIR/../validation when DIR's last component is "train" and it exists.
 * explicit_val wins when given. Both outputs malloc'ed; *val may be NULL. */
df_status df_cli_resolve_data_dirs(const char *dir, const char *explicit_val, char **train,
                                   char **val, df_error *err) DF_MUST_CHECK;
/* "deepfashion: skipped PATH: REASON" lines on stderr. */
void df_cli_print_skipped(const df_dataset *ds, int quiet);
/* Fails early when PATH's folder is missing or not writable. */
df_status df_cli_check_writable(const char *path, df_error *err) DF_MUST_CHECK;

/* Starts the command again with OPENBLAS_CORETYPE set where OpenBLAS picked
 * kernels below this CPU (argv[0] the command's name); returns when no
 * restart is needed or it failed. */
void df_cli_use_right_blas_kernels(int argc, char **argv);
/* The training settings recorded in the model file (malloc'ed JSON). */
/* precision: what the backbone resolved to (so prediction computes the
 * same features without measuring again); search: the --head auto
 * cross-validation scores, or NULL. */
/* Whether a training record df_cli_training_json wrote says the head was
 * fitted exactly (records from before "solver" were Adam's). */
int df_cli_training_was_exact(const char *training_json);

char *df_cli_training_json(const char *weights, const char *cut, const char *recipe,
                           const char *precision, const df_train_options *opt,
                           const char *train_dir, const char *val_dir,
                           const df_head_search_result *search);
/* Per-epoch history as CSV or JSON, chosen by the extension; atomic. */
df_status df_cli_write_history(const char *path, const df_history *h, df_error *err) DF_MUST_CHECK;

/* Reads a history written by df_cli_write_history (.csv or .json). */
df_status df_cli_read_history(const char *path, df_history *h, df_error *err) DF_MUST_CHECK;

struct df_classifier;
/* Opens MODEL and evaluates it on DIR (DIR/validation when DIR holds
 * train/ and validation/); on success the classifier and data set are the
 * caller's when the out pointers are given. */
int df_cli_evaluate_dir(const char *model_path, const char *data, const char *weights,
                        df_precision precision, struct df_classifier **clf_out,
                        df_dataset **ds_out, df_evaluation *ev, df_error *err);

/* Off-topic photos under dir (any folder tree, training's skip rules):
 * *n photos, *caught of them called unknown by the model's detector
 * (DF_ERR_DATA when the model has none). For evaluate and report. */
df_status df_cli_score_off_topic(struct df_classifier *clf, const char *dir, int *n, int *caught,
                                 df_error *err) DF_MUST_CHECK;

typedef df_run_report df_cli_report_input;

/* A flag as --help lists it. */
typedef struct df_cli_flag {
    const char *name;  /* without "--" */
    const char *arg;   /* NULL = a switch */
    const char *group;
    const char *help;
} df_cli_flag;
/* "  --name ARG   help", wrapped at 100 columns. */
void df_cli_flag_help(FILE *out, const df_cli_flag *f);

/* Progress of a long pass over photos on stderr: a bar with photos/s and
 * time left on a terminal (once the pass has run half a second), a line
 * every 5 s otherwise; nothing with quiet. Use df_cli_progress_report as a
 * df_progress callback with the struct as its context. */
typedef struct df_cli_progress {
    int quiet, tty;
    double start, last; /* clock of the pass's first report and of the last line */
    int drawn;          /* a bar is on the screen */
} df_cli_progress;

df_cli_progress df_cli_progress_bar(int quiet);
void df_cli_progress_report(void *ctx, const char *what, long done, long total);

/* Where --precision auto remembers its measured choice (auto_cache.h):
 * $DF_CACHE_DIR (set but empty: nowhere, race every time), else
 * $XDG_CACHE_HOME/deepfashion, else $HOME/.cache/deepfashion; written into
 * buf. NULL when there is no such place. */
const char *df_cli_cache_dir(char *buf, size_t size);

/* path + suffix, malloc'ed (NULL when out of memory). */
char *df_cli_path_with_suffix(const char *path, const char *suffix);
#define df_cli_write_report df_run_report_write

#endif
