/*
 * The report as files: checks the caller's data, renders every figure once,
 * then writes the PNGs, classification_report.txt and report.html into one
 * folder, each atomically (see report.h). Rendering happens before any
 * file is written, so a failure never leaves a half-updated report.
 */
#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fileio.h"

void df_report_data_init(df_report_data *d) {
    memset(d, 0, sizeof *d);
    d->val_accuracy = NAN;
    d->accuracy = NAN;
    d->history.best_epoch = -1;
    d->history.kept_epoch = -1;
    d->unknown_lost = -1;
}

df_status df_report_validate(const df_report_data *d, df_error *err) {
    const df_status BAD = DF_ERR_INVALID_ARG;
    if (!d) return df_error_set(err, BAD, "report: no data");
    const int n = d->n_classes;
    if (n < 1 || n > 10000)
        return df_error_set(err, BAD, "report: %d classes (expected 1 .. 10000)", n);
    if (!d->class_names) return df_error_set(err, BAD, "report: class_names is NULL");
    for (int i = 0; i < n; i++) {
        if (!d->class_names[i]) return df_error_set(err, BAD, "report: class name %d is NULL", i);
        if (d->train_counts && d->train_counts[i] < 0)
            return df_error_set(err, BAD, "report: class %d has %d training images", i,
                                d->train_counts[i]);
        if (d->val_counts && d->val_counts[i] < 0)
            return df_error_set(err, BAD, "report: class %d has %d validation images", i,
                                d->val_counts[i]);
    }
    if (d->n_skipped < 0 || (d->n_skipped > 0 && !d->skipped))
        return df_error_set(err, BAD, "report: %d skipped files but no list", d->n_skipped);
    for (int i = 0; i < d->n_skipped; i++)
        if (!d->skipped[i].path)
            return df_error_set(err, BAD, "report: skipped file %d has no path", i);
    if (d->n_settings < 0 || (d->n_settings > 0 && !d->settings))
        return df_error_set(err, BAD, "report: %d settings but no list", d->n_settings);
    for (int i = 0; i < d->n_settings; i++)
        if (!d->settings[i].key) return df_error_set(err, BAD, "report: setting %d has no key", i);
    const df_report_history *h = &d->history;
    if (h->n_epochs < 0 || (h->n_epochs > 0 && !h->epochs))
        return df_error_set(err, BAD, "report: %d epochs but no history", h->n_epochs);
    if (h->best_epoch < -1 || h->best_epoch >= (h->n_epochs > 0 ? h->n_epochs : 0))
        return df_error_set(err, BAD, "report: best epoch index %d outside 0 .. %d",
                            h->best_epoch, h->n_epochs - 1);
    if (h->kept_epoch < -1 || h->kept_epoch >= (h->n_epochs > 0 ? h->n_epochs : 0))
        return df_error_set(err, BAD, "report: kept epoch index %d outside 0 .. %d",
                            h->kept_epoch, h->n_epochs - 1);
    if (h->exact_fit && h->n_epochs > 1)
        return df_error_set(err, BAD, "report: an exact fit with %d history entries (it has one, or none)",
                            h->n_epochs);
    if (d->confusion)
        for (size_t k = 0; k < (size_t)n * (size_t)n; k++)
            if (d->confusion[k] < 0)
                return df_error_set(err, BAD, "report: confusion matrix cell (%zu, %zu) is %d",
                                    k / (size_t)n, k % (size_t)n, d->confusion[k]);
    if (d->class_metrics)
        for (int i = 0; i < n; i++)
            if (d->class_metrics[i].support < 0)
                return df_error_set(err, BAD, "report: class %d has support %d", i,
                                    d->class_metrics[i].support);
    if (d->n_gallery < 0 || (d->n_gallery > 0 && !d->gallery))
        return df_error_set(err, BAD, "report: %d gallery items but no list", d->n_gallery);
    for (int i = 0; i < d->n_gallery; i++) {
        const df_report_gallery_item *g = &d->gallery[i];
        if (g->true_class < 0 || g->true_class >= n || g->predicted_class < 0 ||
            g->predicted_class >= n)
            return df_error_set(err, BAD,
                                "report: gallery item %d has classes %d (true) / %d "
                                "(predicted), expected 0 .. %d",
                                i, g->true_class, g->predicted_class, n - 1);
    }
    if (d->n_samples < 0 || (d->n_samples > 0 && !d->samples))
        return df_error_set(err, BAD, "report: %d samples but no list", d->n_samples);
    for (int i = 0; i < d->n_samples; i++) {
        const df_report_sample *s = &d->samples[i];
        if (s->n_augmented < 0 || (s->n_augmented > 0 && !s->augmented))
            return df_error_set(err, BAD, "report: sample %d has %d augmented images but no list",
                                i, s->n_augmented);
        if (s->class_index < -1 || s->class_index >= n)
            return df_error_set(err, BAD, "report: sample %d has class %d, expected -1 .. %d", i,
                                s->class_index, n - 1);
    }
    if (d->n_layers < 0 || (d->n_layers > 0 && !d->layers))
        return df_error_set(err, BAD, "report: %d layers but no list", d->n_layers);
    for (int i = 0; i < d->n_layers; i++) {
        const df_report_layer *l = &d->layers[i];
        if (l->params < 0 || l->trainable_params < 0 || l->trainable_params > l->params)
            return df_error_set(err, BAD,
                                "report: layer %d has %lld parameters, %lld trainable", i,
                                (long long)l->params, (long long)l->trainable_params);
    }
    if (d->scale != 0 && !(d->scale >= 0.25 && d->scale <= 8))
        return df_error_set(err, BAD, "report: figure scale %g (expected 0.25 .. 8)", d->scale);
    return DF_OK;
}

void df_report_figures_free(df_report_figures *f) {
    if (!f) return;
    df_png_free(&f->accuracy);
    df_png_free(&f->loss);
    df_png_free(&f->confusion);
    df_png_free(&f->confusion_normalized);
    df_png_free(&f->gallery);
    df_png_free(&f->samples);
    df_png_free(&f->model_summary);
    df_png_free(&f->reliability);
}

df_status df_report_render(const df_report_data *d, df_report_figures *f, df_error *err) {
    memset(f, 0, sizeof *f);
    df_status st = df_report_validate(d, err);
    if (st != DF_OK) return st;
    const double s = d->scale > 0 ? d->scale : 2.0;
    if ((st = df_figure_curves(&d->history, DF_FIGURE_ACCURACY, "Training and validation accuracy",
                               s, &f->accuracy, err)) != DF_OK)
        goto fail;
    if ((st = df_figure_curves(&d->history, DF_FIGURE_LOSS, "Training and validation loss", s,
                               &f->loss, err)) != DF_OK)
        goto fail;
    if ((st = df_figure_confusion(d->n_classes, d->class_names, d->confusion, 0,
                                  "Confusion matrix (validation, counts)", s, &f->confusion,
                                  err)) != DF_OK)
        goto fail;
    if ((st = df_figure_confusion(d->n_classes, d->class_names, d->confusion, 1,
                                  "Confusion matrix (validation, % of true class)", s,
                                  &f->confusion_normalized, err)) != DF_OK)
        goto fail;
    if ((st = df_figure_gallery(d, "Predictions on validation photos", s, &f->gallery, err)) !=
        DF_OK)
        goto fail;
    if ((st = df_figure_samples(d, "Training photos and their augmentations", s, &f->samples,
                                err)) != DF_OK)
        goto fail;
    if ((st = df_figure_model_summary(d->layers, d->n_layers, "Model summary", s,
                                      &f->model_summary, err)) != DF_OK)
        goto fail;
    if ((st = df_figure_reliability(d, "Reliability (validation)", s, &f->reliability, err)) != DF_OK)
        goto fail;
    return DF_OK;
fail:
    df_report_figures_free(f);
    return st;
}

static df_status write_bytes(const char *dir, const char *name, const void *data, size_t size,
                             df_error *err) {
    char *path = df_path_join(dir, name);
    if (!path) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", dir);
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st == DF_OK) {
        if (size && fwrite(data, 1, size, af.fp) != size) {
            df_atomic_abort(&af);
            st = df_error_set(err, DF_ERR_IO, "%s: write failed", path);
        } else {
            st = df_atomic_commit(&af, err);
        }
    }
    free(path);
    return st;
}

df_status df_report_write(const df_report_data *d, const char *out_dir, df_error *err) {
    if (!out_dir || !*out_dir)
        return df_error_set(err, DF_ERR_INVALID_ARG, "report: no output folder given");
    df_report_figures figs;
    char *html = NULL;
    size_t html_len = 0;
    df_status st = df_report_render(d, &figs, err);
    if (st != DF_OK) return st;
    st = df_report_html(d, &figs, &html, &html_len, err);
    if (st != DF_OK) goto done;

    st = df_mkdir_p(out_dir, err);
    if (st != DF_OK) goto done;
    struct stat sb;
    if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        st = df_error_set(err, DF_ERR_IO, "%s: not a directory", out_dir);
        goto done;
    }
    if (access(out_dir, W_OK | X_OK) != 0) {
        st = df_error_set(err, DF_ERR_IO, "%s: cannot write the report there: %s", out_dir,
                          strerror(errno));
        goto done;
    }
    const struct {
        const char *name;
        const df_png *png;
    } files[] = {
        {"accuracy.png", &figs.accuracy},
        {"loss.png", &figs.loss},
        {"confusion_matrix.png", &figs.confusion},
        {"confusion_matrix_normalized.png", &figs.confusion_normalized},
        {"gallery.png", &figs.gallery},
        {"samples.png", &figs.samples},
        {"model_summary.png", &figs.model_summary},
        {"reliability.png", &figs.reliability},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        st = write_bytes(out_dir, files[i].name, files[i].png->data, files[i].png->size, err);
        if (st != DF_OK) goto done;
    }
    const char *txt = d->classification_text
                          ? d->classification_text
                          : "No classification report: there was no validation set.\n";
    st = write_bytes(out_dir, "classification_report.txt", txt, strlen(txt), err);
    if (st != DF_OK) goto done;
    /* report.html last: when it exists, everything it describes does too. */
    st = write_bytes(out_dir, "report.html", html, html_len, err);
done:
    free(html);
    df_report_figures_free(&figs);
    return st;
}
