/* Assembling a run's report from its parts (see run_report.h). */
#include "report/run_report.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/explain.h"
#include "audit/audit.h"
#include "audit/audit_write.h"
#include "augment/augment.h"
#include "data/photo.h"
#include "report/report.h"

enum { GALLERY_MAX = 16, SAMPLE_PHOTOS = 3, SAMPLE_AUGMENTED = 5, MAX_SETTINGS = 40 };

typedef struct settings {
    df_report_setting items[MAX_SETTINGS];
    char values[MAX_SETTINGS][160];
    int n;
} settings;

static void setting(settings *s, const char *key, const char *fmt, ...) DF_PRINTF(3, 4);
static void setting(settings *s, const char *key, const char *fmt, ...) {
    if (s->n >= MAX_SETTINGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->values[s->n], sizeof s->values[s->n], fmt, ap);
    va_end(ap);
    s->items[s->n].key = key;
    s->items[s->n].value = s->values[s->n];
    s->n++;
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Thumbnails: decoded small (DCT scaling) and EXIF-oriented, aspect kept. */
static df_status load_thumbnail(const char *path, df_image *out, df_error *err) {
    df_image_load_options lo = df_image_load_options_default();
    lo.min_width = 256;
    lo.min_height = 256;
    df_image full = {0};
    df_status st = df_image_load(path, &lo, &full, err);
    if (st != DF_OK) return st;
    int w = full.width, h = full.height;
    if (w <= 320 && h <= 320) {
        *out = full;
        return DF_OK;
    }
    double s = 320.0 / (w > h ? w : h);
    int tw = (int)lround(w * s), th = (int)lround(h * s);
    st = df_image_resize(&full, tw < 1 ? 1 : tw, th < 1 ? 1 : th, DF_RESIZE_AREA, out, err);
    df_image_free(&full);
    return st;
}

/* The trust figures of an evaluation into the report's data (borrowed). */
static void fill_trust(df_report_data *d, const df_evaluation *ev) {
    if (!ev->has_trust) return;
    const df_reliability *rc = &ev->reliability_calibrated;
    d->n_calib_bins = DF_CALIB_BINS;
    d->calib_count = rc->count;
    d->calib_confidence = rc->confidence;
    d->calib_accuracy = rc->accuracy;
    d->ece = rc->ece;
    d->ece_raw = ev->reliability_raw.ece;
    d->temperature = ev->temperature;
    if (ev->unknown_score) {
        d->unknown_lost = ev->unknown_count;
        d->unknown_threshold = ev->unknown_threshold;
        d->accuracy_accepted = ev->accuracy_accepted;
    }
}

/* Photo i's probability of class k as predict shows it: after the
 * model's temperature when it has one. */
static double shown_probability(const df_evaluation *ev, int i, int k) {
    const float *p = ev->probs + (size_t)i * ev->num_classes;
    if (!(ev->temperature > 0.0f)) return p[k];
    float z[64], q[64];
    if (ev->num_classes > 64) return p[k];
    for (int c = 0; c < ev->num_classes; c++) z[c] = logf(p[c] > 1e-30f ? p[c] : 1e-30f);
    df_calib_softmax_t(z, 1, ev->num_classes, ev->temperature, q);
    return q[k];
}

/* A gallery photo: misclassified ones as their Grad-CAM overlay for the
 * predicted class (what the head looked at), the others as thumbnails.
 * The explainer is opened at the first misclassified photo; when it cannot
 * be (a model cut at a custom tensor), *why says so and thumbnails stay. */
static df_status gallery_image(const df_run_report *r, const char *path, int wrong, int predicted,
                               df_explainer **ex, char *why, size_t why_size, df_image *out, df_error *err) {
    if (wrong && !*ex && !why[0]) {
        df_error e2;
        if (df_explainer_create(r->model_path, r->model, NULL, ex, &e2) != DF_OK)
            snprintf(why, why_size, "%s", e2.message);
    }
    if (wrong && *ex) return df_explain_overlay(*ex, path, predicted, 320, out, err);
    return load_thumbnail(path, out, err);
}

df_status df_run_report_write(const df_run_report *r, const char *out_dir, df_error *err) {
    const df_model *m = r->model;
    const int C = m->meta.num_classes;
    const df_dataset *val = r->val;
    df_report_data d;
    df_report_data_init(&d);
    df_status st = DF_OK;
    df_evaluation own_ev = {0};
    const df_evaluation *ev = r->evaluation;
    float *feats = NULL;
    int *labels = NULL;
    df_report_epoch *epochs = NULL;
    df_report_skipped *skipped = NULL;
    df_report_gallery_item gallery[GALLERY_MAX];
    df_image gallery_img[GALLERY_MAX];
    int n_gallery = 0;
    df_report_sample samples[SAMPLE_PHOTOS];
    df_image sample_orig[SAMPLE_PHOTOS];
    df_image sample_aug[SAMPLE_PHOTOS][SAMPLE_AUGMENTED];
    int n_samples = 0;
    df_report_class_metrics *cm = NULL;
    memset(gallery_img, 0, sizeof gallery_img);
    memset(sample_orig, 0, sizeof sample_orig);
    memset(sample_aug, 0, sizeof sample_aug);
    settings set;
    memset(&set, 0, sizeof set);
    char title[256], shape_in[64], shape_hidden[64], shape_out[64], bb_type[64];
    df_explainer *explainer = NULL;
    char no_gradcam[sizeof(df_error)] = "";

    if (!val || val->count < 1)
        return df_error_set(err, DF_ERR_DATA, "report: no validation photos to evaluate");
    df_resize_method resize;
    st = df_resize_method_parse(m->meta.resize_method, &resize, err);
    if (st != DF_OK) return st;

    if (!ev) {
        st = df_photo_features(r->backbone, val, resize, NULL, &feats, err);
        if (st != DF_OK) goto done;
        labels = malloc(sizeof(int) * (size_t)val->count);
        if (!labels) {
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int i = 0; i < val->count; i++) labels[i] = val->items[i].label;
        st = df_evaluate_features(m->head, feats, labels, val->count,
                                  (const char *const *)m->meta.class_names, &own_ev, err);
        if (st == DF_OK)
            st = df_evaluation_add_trust(&own_ev, feats, (size_t)m->meta.feature_dim, m->unknown, m->temperature, err);
        if (st != DF_OK) goto done;
        ev = &own_ev;
    }

    snprintf(title, sizeof title, "DeepFashion: %s", base_name(r->model_path));
    d.title = title;
    d.backbone = m->meta.backbone_name;
    d.dataset = r->train && r->train->root ? r->train->root : val->root;
    d.val_accuracy = ev->accuracy;
    d.n_classes = C;
    d.class_names = (const char *const *)m->meta.class_names;
    d.train_counts = r->train ? r->train->class_counts : NULL;
    d.val_counts = val->class_counts;

    int ns = (r->train ? r->train->num_skipped : 0) + val->num_skipped;
    if (ns > 0) {
        skipped = calloc((size_t)ns, sizeof *skipped);
        if (!skipped) {
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
            goto done;
        }
        int k = 0;
        const df_dataset *sets[2] = {r->train, val};
        for (int s = 0; s < 2; s++)
            for (int i = 0; sets[s] && i < sets[s]->num_skipped; i++) {
                skipped[k].path = sets[s]->skipped[i].path;
                skipped[k].reason = sets[s]->skipped[i].reason;
                k++;
            }
        d.skipped = skipped;
        d.n_skipped = k;
    }

    /* Settings, in the order a reader wants them. */
    const df_head_config *hc = df_head_get_config(m->head);
    setting(&set, "recipe", "%s", r->recipe ? r->recipe : "(from the model file)");
    setting(&set, "backbone", "%s (%s, frozen)", m->meta.backbone_name, m->meta.backbone_kind);
    setting(&set, "backbone weights sha256", "%s",
            m->meta.backbone_sha256[0] ? m->meta.backbone_sha256 : "unknown");
    setting(&set, "precision", "%s", df_precision_name(df_backbone_precision(r->backbone)));
    setting(&set, "input", "%dx%d RGB, resize %s, preprocessing %s", m->meta.input_w,
            m->meta.input_h, m->meta.resize_method, m->meta.preprocess);
    setting(&set, "features", "%d", m->meta.feature_dim);
    if (hc->kind == DF_HEAD_MLP)
        setting(&set, "head", "mlp: Dense(%d, relu)%s -> Dropout(%g) -> Dense(%d, softmax), L2 %g",
                hc->units, hc->batchnorm ? " -> BatchNorm" : "", (double)hc->dropout, C,
                (double)hc->l2);
    else
        setting(&set, "head", "linear: standardise -> Dense(%d, softmax), L2 %g", C, (double)hc->l2);
    const df_train_options *o = r->train_options;
    if (o) {
        setting(&set, "optimizer", "Adam, learning rate %g%s", (double)o->adam.lr,
                o->adam.weight_decay > 0 ? ", decoupled weight decay" : "");
        setting(&set, "epochs", "%d (ran %d)", o->epochs, r->history ? r->history->epochs : 0);
        setting(&set, "batch size", "%d", o->batch_size);
        if (o->steps_per_epoch > 0) setting(&set, "steps per epoch", "%d", o->steps_per_epoch);
        if (o->augment)
            setting(&set, "augmentation", "shift %g, shear %g deg, zoom %g, rotation %g deg%s%s",
                    o->augment_config.width_shift, o->augment_config.shear_deg,
                    o->augment_config.zoom, o->augment_config.rotation_deg,
                    o->augment_config.horizontal_flip ? ", h-flip" : "",
                    o->augment_config.vertical_flip ? ", v-flip" : "");
        else
            setting(&set, "augmentation", "off");
        if (o->feature_cache) setting(&set, "feature cache", "%d variants per photo", o->feature_cache);
        else setting(&set, "feature cache", "off (every epoch augments live)");
        setting(&set, "class weight", "%s", o->class_weight_balanced ? "balanced" : "none");
        if (o->early_stop_patience)
            setting(&set, "early stopping", "patience %d", o->early_stop_patience);
        setting(&set, "seed", "%llu", (unsigned long long)o->seed);
    }
    const df_head_search_result *hs = r->head_search;
    if (hs) {
        /* A row per candidate, keyed by its name (hs outlives the report). */
        setting(&set, "head search", "%d-fold cross-validation on the training photos, %d variants each; chose %s",
                hs->folds, hs->variants, hs->candidates[hs->best].name);
        for (int c = 0; c < hs->n_candidates; c++)
            setting(&set, hs->candidates[c].name, "mean fold accuracy %.4f (SE %.4f), loss %.4f%s", hs->accuracy[c],
                    hs->accuracy_se[c], hs->loss[c],
                    c == hs->best ? " (chosen: the simplest within one SE of the best)" : "");
    }
    d.settings = set.items;
    d.n_settings = set.n;

    if (r->history && r->history->epochs > 0) {
        const df_history *h = r->history;
        epochs = calloc((size_t)h->epochs, sizeof *epochs);
        if (!epochs) {
            st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int e = 0; e < h->epochs; e++) {
            epochs[e].loss = h->train_loss[e];
            epochs[e].accuracy = h->train_acc[e];
            epochs[e].val_loss = h->val_loss[e];
            epochs[e].val_accuracy = h->val_acc[e];
            epochs[e].seconds = NAN;
        }
        d.history.epochs = epochs;
        d.history.n_epochs = h->epochs;
        d.history.best_epoch = r->best_epoch > 0 ? r->best_epoch - 1 : -1;
    } else {
        d.history.best_epoch = -1;
    }

    d.confusion = ev->confusion;
    d.classification_text = ev->report_text;
    cm = calloc((size_t)C, sizeof *cm);
    if (!cm) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int c = 0; c < C; c++) {
        cm[c].precision = ev->per_class[c].precision;
        cm[c].recall = ev->per_class[c].recall;
        cm[c].f1 = ev->per_class[c].f1;
        cm[c].support = (int)ev->per_class[c].support;
    }
    d.class_metrics = cm;
    d.accuracy = ev->accuracy;
    d.macro_avg = (df_report_class_metrics){ev->summary.macro.precision, ev->summary.macro.recall,
                                            ev->summary.macro.f1, (int)ev->summary.total};
    d.weighted_avg = (df_report_class_metrics){ev->summary.weighted.precision,
                                               ev->summary.weighted.recall,
                                               ev->summary.weighted.f1, (int)ev->summary.total};

    fill_trust(&d, ev);
    d.offtopic_photos = r->offtopic_photos;
    d.offtopic_caught = r->offtopic_caught;
    /* Gallery: misclassified photos first (as Grad-CAM overlays), then
     * correct ones; only those shown are decoded. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < val->count && n_gallery < GALLERY_MAX; i++) {
            int wrong = ev->predicted[i] != ev->labels[i];
            if (wrong != (pass == 0)) continue;
            st = gallery_image(r, val->items[i].path, wrong, ev->predicted[i], &explainer, no_gradcam,
                               sizeof no_gradcam, &gallery_img[n_gallery], err);
            if (st != DF_OK) goto done;
            gallery[n_gallery] = (df_report_gallery_item){
                .image = &gallery_img[n_gallery], .true_class = ev->labels[i],
                .predicted_class = ev->predicted[i],
                .confidence = shown_probability(ev, i, ev->predicted[i]),
                .name = base_name(val->items[i].path)};
            n_gallery++;
        }
    d.gallery = gallery;
    d.n_gallery = n_gallery;
    if (explainer) setting(&set, "gallery", "misclassified photos as Grad-CAM overlays of the predicted class");
    else if (no_gradcam[0]) setting(&set, "gallery", "no Grad-CAM overlays: %s", no_gradcam);
    d.settings = set.items;
    d.n_settings = set.n;
    d.gallery_max = GALLERY_MAX;

    /* Samples: the first photo of the first classes, with what the
     * augmentation streams of the first epochs make of it. */
    const df_dataset *tr = r->train;
    df_augment_config aug = o ? o->augment_config : df_augment_config_original();
    uint64_t seed = o ? o->seed : 1;
    for (int c = 0; tr && c < tr->num_classes && n_samples < SAMPLE_PHOTOS; c++) {
        int idx = -1;
        for (int i = 0; i < tr->count; i++)
            if (tr->items[i].label == c) {
                idx = i;
                break;
            }
        if (idx < 0) continue;
        st = df_photo_load(r->backbone, tr->items[idx].path, resize, &sample_orig[n_samples],
                                 err);
        if (st != DF_OK) goto done;
        for (int k = 0; k < SAMPLE_AUGMENTED; k++) {
            df_rng rng;
            df_augment_params p;
            /* The very variants training saw: cached ones are keyed by
             * variant (train.c), live ones by epoch. */
            uint64_t key = o && o->feature_cache > 0 ? (uint64_t)DF_TRAIN_VARIANT_KEY(k) : (uint64_t)k;
            df_rng_seed_for(&rng, seed, DF_STREAM_AUGMENT, (uint64_t)idx, key);
            df_augment_sample(&aug, sample_orig[n_samples].height, sample_orig[n_samples].width,
                              &rng, &p);
            st = df_augment_apply(&sample_orig[n_samples], &p, &sample_aug[n_samples][k], err);
            if (st != DF_OK) goto done;
        }
        samples[n_samples] = (df_report_sample){.original = &sample_orig[n_samples],
                                                .augmented = sample_aug[n_samples],
                                                .n_augmented = SAMPLE_AUGMENTED,
                                                .class_index = c,
                                                .name = base_name(tr->items[idx].path)};
        n_samples++;
    }
    d.samples = samples;
    d.n_samples = n_samples;

    /* Model summary: the frozen backbone as one row, then the head. */
    df_report_layer layers[8];
    int nl = 0;
    int F = m->meta.feature_dim;
    snprintf(shape_in, sizeof shape_in, "(None, %d)", F);
    snprintf(shape_hidden, sizeof shape_hidden, "(None, %d)", hc->units);
    snprintf(shape_out, sizeof shape_out, "(None, %d)", C);
    snprintf(bb_type, sizeof bb_type, "Backbone (%s, frozen)", m->meta.backbone_kind);
    layers[nl++] = (df_report_layer){m->meta.backbone_name, bb_type, shape_in,
                                     (int64_t)r->backbone->num_params, 0};
    if (hc->kind == DF_HEAD_MLP) {
        int64_t d1 = (int64_t)F * hc->units + hc->units, d2 = (int64_t)hc->units * C + C;
        layers[nl++] = (df_report_layer){"flatten", "Flatten", shape_in, 0, 0};
        layers[nl++] = (df_report_layer){"dense", "Dense (relu)", shape_hidden, d1, d1};
        if (hc->batchnorm)
            layers[nl++] = (df_report_layer){"batch_normalization", "BatchNormalization",
                                             shape_hidden, 4 * (int64_t)hc->units,
                                             2 * (int64_t)hc->units};
        layers[nl++] = (df_report_layer){"dropout", "Dropout", shape_hidden, 0, 0};
        layers[nl++] = (df_report_layer){"dense_1", "Dense (softmax)", shape_out, d2, d2};
    } else {
        int64_t d1 = (int64_t)F * C + C;
        layers[nl++] = (df_report_layer){"standardise", "Standardisation (fitted)", shape_in,
                                         2 * (int64_t)F, 0};
        layers[nl++] = (df_report_layer){"dense", "Dense (softmax)", shape_out, d1, d1};
    }
    d.layers = layers;
    d.n_layers = nl;

    char *audit = df_run_report_audit_section(r->backbone, r->train, r->val);
    d.audit_html = audit;
    st = df_report_write(&d, out_dir, err);
    free(audit);

done:
    df_explainer_destroy(explainer);
    for (int i = 0; i < GALLERY_MAX; i++) df_image_free(&gallery_img[i]);
    for (int i = 0; i < SAMPLE_PHOTOS; i++) {
        df_image_free(&sample_orig[i]);
        for (int k = 0; k < SAMPLE_AUGMENTED; k++) df_image_free(&sample_aug[i][k]);
    }
    df_evaluation_free(&own_ev);
    free(feats);
    free(labels);
    free(epochs);
    free(skipped);
    free(cm);
    return st;
}

/* The audit's first findings for the training report: run on the training
 * and validation photos with the report's backbone. Best effort: a failed
 * audit becomes a section saying why, never a failed report. */
char *df_run_report_audit_section(df_backbone *bb, const df_dataset *train, const df_dataset *val) {
    if (!bb || !train) return NULL;
    df_audit_result res;
    df_error err;
    df_error_clear(&err);
    df_report_buf b;
    df_report_buf_init(&b);
    df_status st = df_audit_run(bb, train, val, NULL, &res, &err);
    if (st == DF_OK) st = df_audit_html_section(&res, 12, &b, &err);
    if (st != DF_OK) {
        b.len = 0;
        if (b.data) b.data[0] = '\0';
        df_report_buf_puts(&b, "<section id=\"audit\"><h2>Audit</h2><p class=\"note\">The audit of these "
                               "photos did not complete: ");
        df_report_buf_html(&b, err.message);
        df_report_buf_puts(&b, "</p></section>\n");
    }
    if (st == DF_OK) df_audit_result_free(&res);
    if (b.failed) {
        df_report_buf_free(&b);
        return NULL;
    }
    return b.data;
}
