/*
 * The training report: figures (PNG) and one self-contained report.html.
 *
 * The caller (training / evaluation) fills a df_report_data with what it
 * knows; every pointer in it is BORROWED: the report reads it during the
 * call and keeps nothing. Counts are per class in class-index order.
 * Optional parts may be left NULL / 0: their figure then says "no data"
 * and their HTML section says so, so the set of files written never
 * changes.
 *
 * This module renders; it does not decode images, compute metrics or
 * train. The figures follow the original notebook's (training accuracy as
 * dots, validation as a line, a confusion-matrix heat map with counts, a
 * gallery captioned "predicted NN% (true)", green when right and red when
 * wrong) and add what it lacked (best-epoch marker, normalised matrix,
 * misclassified photos first, augmentation samples, a parameter table).
 */
#ifndef DF_REPORT_REPORT_H
#define DF_REPORT_REPORT_H

#include <stdint.h>

#include "core/error.h"
#include "image/image.h"
#include "report/plot.h"

/* One epoch of training. Use NAN for a value that does not exist (no
 * validation set, time not measured): it is left out of plots and shown
 * as "-" in tables. */
typedef struct df_report_epoch {
    double loss;
    double accuracy;     /* fraction, 0..1 */
    double val_loss;
    double val_accuracy; /* fraction, 0..1 */
    double seconds;      /* wall time of the epoch */
} df_report_epoch;

typedef struct df_report_history {
    const df_report_epoch *epochs; /* [n_epochs], index 0 = first epoch */
    int n_epochs;
    int best_epoch; /* 0-based index of the epoch with the lowest validation loss; -1 = none */
    int kept_epoch; /* 0-based index of the epoch whose weights the model holds; -1 = not known */
    /* The head was fitted in one pass to its objective's optimum (--solver
     * exact): the one entry is that fit, not an epoch (or there is none:
     * no history given), and there is no curve to draw. */
    int exact_fit;
    /* How it ended, when known (exact_iterations 0 = not known): L-BFGS's
     * iterations, its largest gradient entry and the tolerance. */
    int exact_iterations;
    double exact_grad_max, exact_tol;
} df_report_history;

typedef struct df_report_skipped {
    const char *path;   /* any bytes (shown escaped) */
    const char *reason; /* e.g. "HEIC is not supported" */
} df_report_skipped;

typedef struct df_report_setting {
    const char *key;
    const char *value;
} df_report_setting;

/* Precision, recall, F1 and support of one class (or of an average). */
typedef struct df_report_class_metrics {
    double precision, recall, f1; /* 0..1 */
    int support;
} df_report_class_metrics;

typedef struct df_report_gallery_item {
    const df_image *image;  /* the validation photo (any size) */
    int true_class;         /* index into class_names */
    int predicted_class;    /* index into class_names */
    double confidence;      /* softmax probability of predicted_class, 0..1 */
    const char *name;       /* file name for the caption, or NULL */
} df_report_gallery_item;

typedef struct df_report_sample {
    const df_image *original;
    const df_image *augmented; /* [n_augmented] augmented versions of original */
    int n_augmented;
    int class_index;           /* -1 = not shown */
    const char *name;          /* file name, or NULL */
} df_report_sample;

typedef struct df_report_layer {
    const char *name;         /* "dense_1" */
    const char *type;         /* "Dense" */
    const char *output_shape; /* "(None, 1024)" */
    int64_t params;           /* all parameters of the layer */
    int64_t trainable_params; /* how many of them train (BatchNorm's moving
                                 statistics do not; a frozen backbone: 0) */
} df_report_layer;

typedef struct df_report_data {
    const char *title;    /* page and header title; NULL = "DeepFashion report" */
    const char *backbone; /* "mobilenet_v2", shown in the headline; may be NULL */
    const char *dataset;  /* data set root or name, shown in the headline; may be NULL */
    const char *generated;/* e.g. "2024-05-01 12:00 UTC"; NULL = omitted (keeps output
                             reproducible) */
    double val_accuracy;  /* headline figure, fraction; NAN = unknown */

    int n_classes;                 /* >= 1 */
    const char *const *class_names;/* [n_classes] */
    const int *train_counts;       /* [n_classes] or NULL */
    const int *val_counts;         /* [n_classes] or NULL */

    const df_report_skipped *skipped; /* [n_skipped] */
    int n_skipped;
    const df_report_setting *settings; /* [n_settings], shown in this order */
    int n_settings;

    df_report_history history;

    /* Confusion matrix on the validation set: n_classes x n_classes,
     * row-major, rows = true class, columns = predicted class. NULL = none. */
    const int *confusion;

    /* Classification report. text: scikit-learn's format, written verbatim
     * to classification_report.txt and shown in the HTML (NULL = none).
     * class_metrics: [n_classes] or NULL; when given, accuracy, macro_avg and
     * weighted_avg are shown too. */
    const char *classification_text;
    const df_report_class_metrics *class_metrics;
    double accuracy;                      /* fraction */
    df_report_class_metrics macro_avg;
    df_report_class_metrics weighted_avg;

    /* Gallery: all validation predictions you want considered. The figure
     * shows misclassified photos first (in the given order), then the
     * correct ones, up to gallery_max (0 = 16). */
    const df_report_gallery_item *gallery;
    int n_gallery;
    int gallery_max;

    const df_report_sample *samples; /* [n_samples] */
    int n_samples;

    const df_report_layer *layers;   /* [n_layers], input to output */
    int n_layers;

    /* Trust (issue 12). Calibration: n_calib_bins bins of the top
     * probability over [0, 1] on the validation photos, after the model's
     * temperature (0 = none); n_calib_bins 0 = not measured. */
    int n_calib_bins;
    const int *calib_count;
    const double *calib_confidence, *calib_accuracy;
    double ece, ece_raw;  /* after and before the temperature */
    double loss, loss_raw; /* log loss after and before (steadier than the ECE on few photos) */
    double temperature;
    /* Unknown detector on the validation photos; unknown_lost < 0 = the
     * model has none. */
    int unknown_lost;
    double unknown_threshold, accuracy_accepted;
    int offtopic_photos, offtopic_caught; /* off-topic photos scored; 0 photos = none */
    double scale; /* device pixels per logical unit of the figures; 0 = 2 */

    /* A ready <section id="audit"> (the audit's first findings,
     * audit/audit_write.h), shown after the predictions; NULL = none. */
    const char *audit_html;
} df_report_data;

/* Zeroes d and sets the "unknown" values: val_accuracy and accuracy NAN,
 * history.best_epoch and kept_epoch -1. */
void df_report_data_init(df_report_data *d);

/* Checks d for programmer errors (counts < 0, class indices out of range,
 * NULL arrays with non-zero lengths, a best epoch past the end). */
df_status df_report_validate(const df_report_data *d, df_error *err) DF_MUST_CHECK;

/* ---- figures: each renders into PNG bytes (out is owned by the caller,
 * df_png_free). title NULL or "" leaves the title band empty. ---- */

/* Height (logical units) of the band at the top of every figure that
 * holds its title and nothing else. */
#define DF_FIGURE_TITLE_BAND 46.0

/* Logical size of the learning-curve figures (pixels = size * scale). */
#define DF_FIGURE_CURVES_WIDTH 640.0
#define DF_FIGURE_CURVES_HEIGHT 410.0

typedef enum df_figure_metric { DF_FIGURE_ACCURACY, DF_FIGURE_LOSS } df_figure_metric;

df_status df_figure_curves(const df_report_history *h, df_figure_metric metric, const char *title,
                           double scale, df_png *out, df_error *err) DF_MUST_CHECK;
/* normalized: cells show row percentages (recall on the diagonal). */
df_status df_figure_confusion(int n_classes, const char *const *class_names,
                              const int *confusion, int normalized, const char *title,
                              double scale, df_png *out, df_error *err) DF_MUST_CHECK;
df_status df_figure_gallery(const df_report_data *d, const char *title, double scale,
                            df_png *out, df_error *err) DF_MUST_CHECK;
df_status df_figure_samples(const df_report_data *d, const char *title, double scale,
                            df_png *out, df_error *err) DF_MUST_CHECK;
/* Reliability diagram: per bin, the accuracy against the mean confidence,
 * with the diagonal of perfect calibration and the ECE in the caption. */
df_status df_figure_reliability(const df_report_data *d, const char *title, double scale, df_png *out,
                                df_error *err) DF_MUST_CHECK;
df_status df_figure_model_summary(const df_report_layer *layers, int n_layers,
                                  const char *title, double scale, df_png *out,
                                  df_error *err) DF_MUST_CHECK;

/* Gallery order: indices into d->gallery, misclassified first, each group
 * in the given order, at most max entries (max <= 0: gallery_max or 16).
 * Returns how many were written to order (which holds n_gallery ints). */
int df_report_gallery_order(const df_report_data *d, int *order, int max);

/* The gallery caption of one item: "tops 97% (tops)". */
void df_report_gallery_caption(const df_report_data *d, const df_report_gallery_item *it,
                               char *out, size_t n);

/* ---- the report ---- */

/* All figures of a report, rendered once and shared by the PNG files and
 * the HTML. */
typedef struct df_report_figures {
    df_png accuracy, loss, confusion, confusion_normalized, gallery, samples, model_summary, reliability;
} df_report_figures;

df_status df_report_render(const df_report_data *d, df_report_figures *figs,
                           df_error *err) DF_MUST_CHECK;
void df_report_figures_free(df_report_figures *figs);

/* report.html as one string (malloc'ed, NUL-terminated; *html owned by the
 * caller). figs comes from df_report_render on the same data. Figures are
 * embedded as data: URLs; nothing else is referenced. */
df_status df_report_html(const df_report_data *d, const df_report_figures *figs, char **html,
                         size_t *len, df_error *err) DF_MUST_CHECK;

/* The frame every DeepFashion page shares (report.html, the audit's
 * audit.html): doctype, the inline CSS, the header band (title escaped
 * here; subtitle_html and nav_html are already HTML) and <main>;
 * df_report_html_end writes the footer and closes the page. */
struct df_report_buf;
void df_report_html_begin(struct df_report_buf *b, const char *title, const char *subtitle_html,
                          const char *nav_html);
void df_report_html_end(struct df_report_buf *b);

/* Writes out_dir/{report.html, accuracy.png, loss.png, confusion_matrix.png,
 * confusion_matrix_normalized.png, gallery.png, samples.png,
 * model_summary.png, classification_report.txt}, creating out_dir. Every
 * file is written atomically; everything is rendered before the first file
 * is written, so a rendering error leaves out_dir untouched. */
df_status df_report_write(const df_report_data *d, const char *out_dir,
                          df_error *err) DF_MUST_CHECK;

#endif
