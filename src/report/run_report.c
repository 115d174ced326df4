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
    d->loss = ev->loss_calibrated;
    d->loss_raw = ev->loss;
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

/* Everything the report borrows while it is assembled; freed by parts_free. */
typedef struct parts {
    df_report_data d;
    df_resize_method resize;
    df_evaluation own_ev;
    const df_evaluation *ev;
    float *feats;
    int *labels;
    df_report_epoch *epochs;
    df_report_skipped *skipped;
    df_report_gallery_item gallery[GALLERY_MAX];
    df_image gallery_img[GALLERY_MAX];
    df_report_sample samples[SAMPLE_PHOTOS];
    df_image sample_orig[SAMPLE_PHOTOS];
    df_image sample_aug[SAMPLE_PHOTOS][SAMPLE_AUGMENTED];
    df_report_class_metrics *cm;
    settings set;
    char title[256], shape_in[64], shape_hidden[64], shape_out[64], bb_type[64];
    df_report_layer layers[8];
    df_explainer *explainer;
    char no_gradcam[sizeof(df_error)];
} parts;

static void parts_free(parts *p) {
    df_explainer_destroy(p->explainer);
    for (int i = 0; i < GALLERY_MAX; i++) df_image_free(&p->gallery_img[i]);
    for (int i = 0; i < SAMPLE_PHOTOS; i++) {
        df_image_free(&p->sample_orig[i]);
        for (int k = 0; k < SAMPLE_AUGMENTED; k++) df_image_free(&p->sample_aug[i][k]);
    }
    df_evaluation_free(&p->own_ev);
    free(p->feats);
    free(p->labels);
    free(p->epochs);
    free(p->skipped);
    free(p->cm);
}

/* The evaluation of the validation photos: the caller's, or computed here. */
static df_status evaluate(const df_run_report *r, parts *p, df_error *err) {
    const df_model *m = r->model;
    const df_dataset *val = r->val;
    if ((p->ev = r->evaluation)) return DF_OK;
    df_status st = df_photo_features(r->backbone, val, p->resize, NULL, &p->feats, err);
    if (st != DF_OK) return st;
    if (!(p->labels = malloc(sizeof(int) * (size_t)val->count))) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < val->count; i++) p->labels[i] = val->items[i].label;
    st = df_evaluate_features(m->head, p->feats, p->labels, val->count, (const char *const *)m->meta.class_names,
                              &p->own_ev, err);
    if (st == DF_OK)
        st = df_evaluation_add_trust(&p->own_ev, p->feats, (size_t)m->meta.feature_dim, m->unknown, m->temperature, err);
    if (st == DF_OK) p->ev = &p->own_ev;
    return st;
}

/* Title, data set counts and every skipped file. */
static df_status fill_dataset(const df_run_report *r, parts *p, df_error *err) {
    const df_model *m = r->model;
    const df_dataset *val = r->val;
    snprintf(p->title, sizeof p->title, "DeepFashion: %s", base_name(r->model_path));
    p->d.title = p->title;
    p->d.backbone = m->meta.backbone_name;
    p->d.dataset = r->train && r->train->root ? r->train->root : val->root;
    p->d.val_accuracy = p->ev->accuracy;
    p->d.n_classes = m->meta.num_classes;
    p->d.class_names = (const char *const *)m->meta.class_names;
    p->d.train_counts = r->train ? r->train->class_counts : NULL;
    p->d.val_counts = val->class_counts;
    int ns = (r->train ? r->train->num_skipped : 0) + val->num_skipped;
    if (ns == 0) return DF_OK;
    if (!(p->skipped = calloc((size_t)ns, sizeof *p->skipped))) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    int k = 0;
    const df_dataset *sets[2] = {r->train, val};
    for (int s = 0; s < 2; s++)
        for (int i = 0; sets[s] && i < sets[s]->num_skipped; i++, k++)
            p->skipped[k] = (df_report_skipped){.path = sets[s]->skipped[i].path, .reason = sets[s]->skipped[i].reason};
    p->d.skipped = p->skipped;
    p->d.n_skipped = k;
    return DF_OK;
}

/* Settings, in the order a reader wants them. */
/* The training run's own options say how the head was fitted; without
 * them (a report from a saved model), the model's training record. */
static int fitted_exactly(const df_run_report *r) {
    return r->train_options ? r->train_options->exact_fit : r->exact_fit;
}

static void fill_settings(const df_run_report *r, parts *p) {
    const df_model *m = r->model;
    const int C = m->meta.num_classes;
    settings *set = &p->set;
    const df_head_config *hc = df_head_get_config(m->head);
    setting(set, "recipe", "%s", r->recipe ? r->recipe : "(from the model file)");
    setting(set, "backbone", "%s (%s, frozen)", m->meta.backbone_name, m->meta.backbone_kind);
    setting(set, "backbone weights sha256", "%s", m->meta.backbone_sha256[0] ? m->meta.backbone_sha256 : "unknown");
    setting(set, "precision", "%s", df_precision_name(df_backbone_precision(r->backbone)));
    setting(set, "input", "%dx%d RGB, resize %s, preprocessing %s", m->meta.input_w, m->meta.input_h,
            m->meta.resize_method, m->meta.preprocess);
    setting(set, "features", "%d", m->meta.feature_dim);
    if (hc->kind == DF_HEAD_MLP)
        setting(set, "head", "mlp: Dense(%d, relu)%s -> Dropout(%g) -> Dense(%d, softmax), L2 %g", hc->units,
                hc->batchnorm ? " -> BatchNorm" : "", (double)hc->dropout, C, (double)hc->l2);
    else
        setting(set, "head", "linear: standardise -> Dense(%d, softmax), L2 %g", C, (double)hc->l2);
    const df_train_options *o = r->train_options;
    if (fitted_exactly(r)) {
        setting(set, "solver", "exact: the penalised objective's optimum in one pass (L-BFGS), no epochs");
    } else if (o) {
        setting(set, "optimizer", "Adam, learning rate %g%s", (double)o->adam.lr,
                o->adam.weight_decay > 0 ? ", decoupled weight decay" : "");
        setting(set, "epochs", "%d (ran %d)", o->epochs, r->history ? r->history->epochs : 0);
        setting(set, "batch size", "%d", o->batch_size);
        if (o->steps_per_epoch > 0) setting(set, "steps per epoch", "%d", o->steps_per_epoch);
    }
    if (o) {
        if (o->augment)
            setting(set, "augmentation", "shift %g, shear %g deg, zoom %g, rotation %g deg%s%s",
                    o->augment_config.width_shift, o->augment_config.shear_deg, o->augment_config.zoom,
                    o->augment_config.rotation_deg, o->augment_config.horizontal_flip ? ", h-flip" : "",
                    o->augment_config.vertical_flip ? ", v-flip" : "");
        else
            setting(set, "augmentation", "off");
        const df_augment_config *ac = &o->augment_config;
        if (o->augment && df_augment_config_beyond_keras(ac)) {
            char fill[32];
            if (ac->fill_constant) snprintf(fill, sizeof fill, "grey %d", ac->fill_value);
            else snprintf(fill, sizeof fill, "edge");
            setting(set, "photometric and framing", "zoom in %g, zoom out %g, fill %s, brightness %g, contrast %g, "
                    "saturation %g, grey %g", ac->zoom_in, ac->zoom_out, fill, ac->brightness, ac->contrast,
                    ac->saturation, ac->grayscale);
        }
        if (o->feature_cache) setting(set, "feature cache", "%d variants per photo", o->feature_cache);
        else setting(set, "feature cache", "off (every epoch augments live)");
        setting(set, "class weight", "%s", o->class_weight_balanced ? "balanced" : "none");
        if (o->early_stop_patience) setting(set, "early stopping", "patience %d", o->early_stop_patience);
        setting(set, "seed", "%llu", (unsigned long long)o->seed);
    }
    const df_head_search_result *hs = r->head_search;
    if (hs) {
        /* A row per candidate, keyed by its name (hs outlives the report). */
        setting(set, "head search", "%d-fold cross-validation on the training photos, %d variants each; chose %s",
                hs->folds, hs->variants, hs->candidates[hs->best].name);
        for (int c = 0; c < hs->n_candidates; c++)
            setting(set, hs->candidates[c].name, "mean fold accuracy %.4f (SE %.4f), loss %.4f%s", hs->accuracy[c],
                    hs->accuracy_se[c], hs->loss[c],
                    c == hs->best ? " (chosen: the simplest within one SE of the best)" : "");
    }
}

static df_status fill_history(const df_run_report *r, parts *p, df_error *err) {
    p->d.history.best_epoch = -1;
    p->d.history.kept_epoch = -1;
    const df_history *h = r->history;
    p->d.history.exact_fit = fitted_exactly(r) && (!h || h->epochs <= 1);
    if (p->d.history.exact_fit && r->exact) {
        p->d.history.exact_iterations = r->exact->iterations;
        p->d.history.exact_grad_max = r->exact->grad_max;
        p->d.history.exact_tol = r->exact->tol;
    }
    if (!h || h->epochs <= 0) return DF_OK;
    if (!(p->epochs = calloc((size_t)h->epochs, sizeof *p->epochs))) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int e = 0; e < h->epochs; e++)
        p->epochs[e] = (df_report_epoch){.loss = h->train_loss[e], .accuracy = h->train_acc[e],
                                         .val_loss = h->val_loss[e], .val_accuracy = h->val_acc[e], .seconds = NAN};
    p->d.history.epochs = p->epochs;
    p->d.history.n_epochs = h->epochs;
    p->d.history.best_epoch = r->best_epoch > 0 ? r->best_epoch - 1 : -1;
    p->d.history.kept_epoch = r->kept_epoch > 0 && r->kept_epoch <= h->epochs ? r->kept_epoch - 1 : -1;
    return DF_OK;
}

/* Confusion matrix, classification report, calibration and unknown figures. */
static df_status fill_evaluation(const df_run_report *r, parts *p, df_error *err) {
    const df_evaluation *ev = p->ev;
    const int C = r->model->meta.num_classes;
    p->d.confusion = ev->confusion;
    p->d.classification_text = ev->report_text;
    if (!(p->cm = calloc((size_t)C, sizeof *p->cm))) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    for (int c = 0; c < C; c++)
        p->cm[c] = (df_report_class_metrics){ev->per_class[c].precision, ev->per_class[c].recall,
                                             ev->per_class[c].f1, (int)ev->per_class[c].support};
    p->d.class_metrics = p->cm;
    p->d.accuracy = ev->accuracy;
    p->d.macro_avg = (df_report_class_metrics){ev->summary.macro.precision, ev->summary.macro.recall,
                                               ev->summary.macro.f1, (int)ev->summary.total};
    p->d.weighted_avg = (df_report_class_metrics){ev->summary.weighted.precision, ev->summary.weighted.recall,
                                                  ev->summary.weighted.f1, (int)ev->summary.total};
    fill_trust(&p->d, ev);
    p->d.offtopic_photos = r->offtopic_photos;
    p->d.offtopic_caught = r->offtopic_caught;
    return DF_OK;
}

/* Gallery: misclassified photos first (as Grad-CAM overlays), then correct
 * ones; only those shown are decoded. */
static df_status fill_gallery(const df_run_report *r, parts *p, df_error *err) {
    const df_evaluation *ev = p->ev;
    const df_dataset *val = r->val;
    int n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < val->count && n < GALLERY_MAX; i++) {
            int wrong = ev->predicted[i] != ev->labels[i];
            if (wrong != (pass == 0)) continue;
            df_status st = gallery_image(r, val->items[i].path, wrong, ev->predicted[i], &p->explainer, p->no_gradcam,
                                         sizeof p->no_gradcam, &p->gallery_img[n], err);
            if (st != DF_OK) return st;
            p->gallery[n] = (df_report_gallery_item){.image = &p->gallery_img[n], .true_class = ev->labels[i],
                                                     .predicted_class = ev->predicted[i],
                                                     .confidence = shown_probability(ev, i, ev->predicted[i]),
                                                     .name = base_name(val->items[i].path)};
            n++;
        }
    p->d.gallery = p->gallery;
    p->d.n_gallery = n;
    p->d.gallery_max = GALLERY_MAX;
    if (p->explainer) setting(&p->set, "gallery", "misclassified photos as Grad-CAM overlays of the predicted class");
    else if (p->no_gradcam[0]) setting(&p->set, "gallery", "no Grad-CAM overlays: %s", p->no_gradcam);
    return DF_OK;
}

/* Samples: the first photo of the first classes, with what the
 * augmentation streams of the first epochs make of it. */
static df_status fill_samples(const df_run_report *r, parts *p, df_error *err) {
    const df_dataset *tr = r->train;
    const df_train_options *o = r->train_options;
    df_augment_config aug = o ? o->augment_config : df_augment_config_original();
    uint64_t seed = o ? o->seed : 1;
    int n = 0;
    for (int c = 0; tr && c < tr->num_classes && n < SAMPLE_PHOTOS; c++) {
        int idx = -1;
        for (int i = 0; i < tr->count && idx < 0; i++)
            if (tr->items[i].label == c) idx = i;
        if (idx < 0) continue;
        df_status st = df_photo_load(r->backbone, tr->items[idx].path, p->resize, &p->sample_orig[n], err);
        for (int k = 0; st == DF_OK && k < SAMPLE_AUGMENTED; k++) {
            df_rng rng;
            df_augment_params ap;
            /* The very variants training saw: cached ones are keyed by
             * variant (train.c), live ones by epoch. */
            uint64_t key = o && o->feature_cache > 0 ? (uint64_t)DF_TRAIN_VARIANT_KEY(k) : (uint64_t)k;
            df_rng_seed_for(&rng, seed, DF_STREAM_AUGMENT, (uint64_t)idx, key);
            df_augment_sample(&aug, p->sample_orig[n].height, p->sample_orig[n].width, &rng, &ap);
            st = df_augment_apply(&p->sample_orig[n], &ap, &p->sample_aug[n][k], err);
        }
        if (st != DF_OK) return st;
        p->samples[n] = (df_report_sample){.original = &p->sample_orig[n], .augmented = p->sample_aug[n],
                                           .n_augmented = SAMPLE_AUGMENTED, .class_index = c,
                                           .name = base_name(tr->items[idx].path)};
        n++;
    }
    p->d.samples = p->samples;
    p->d.n_samples = n;
    return DF_OK;
}

/* Model summary: the frozen backbone as one row, then the head. */
static void fill_summary(const df_run_report *r, parts *p) {
    const df_model *m = r->model;
    const df_head_config *hc = df_head_get_config(m->head);
    const int C = m->meta.num_classes, F = m->meta.feature_dim;
    df_report_layer *L = p->layers;
    int nl = 0;
    snprintf(p->shape_in, sizeof p->shape_in, "(None, %d)", F);
    snprintf(p->shape_hidden, sizeof p->shape_hidden, "(None, %d)", hc->units);
    snprintf(p->shape_out, sizeof p->shape_out, "(None, %d)", C);
    snprintf(p->bb_type, sizeof p->bb_type, "Backbone (%s, frozen)", m->meta.backbone_kind);
    L[nl++] = (df_report_layer){m->meta.backbone_name, p->bb_type, p->shape_in, (int64_t)r->backbone->num_params, 0};
    if (hc->kind == DF_HEAD_MLP) {
        int64_t d1 = (int64_t)F * hc->units + hc->units, d2 = (int64_t)hc->units * C + C;
        L[nl++] = (df_report_layer){"flatten", "Flatten", p->shape_in, 0, 0};
        L[nl++] = (df_report_layer){"dense", "Dense (relu)", p->shape_hidden, d1, d1};
        if (hc->batchnorm)
            L[nl++] = (df_report_layer){"batch_normalization", "BatchNormalization", p->shape_hidden,
                                        4 * (int64_t)hc->units, 2 * (int64_t)hc->units};
        L[nl++] = (df_report_layer){"dropout", "Dropout", p->shape_hidden, 0, 0};
        L[nl++] = (df_report_layer){"dense_1", "Dense (softmax)", p->shape_out, d2, d2};
    } else {
        int64_t d1 = (int64_t)F * C + C;
        L[nl++] = (df_report_layer){"standardise", "Standardisation (fitted)", p->shape_in, 2 * (int64_t)F, 0};
        L[nl++] = (df_report_layer){"dense", "Dense (softmax)", p->shape_out, d1, d1};
    }
    p->d.layers = L;
    p->d.n_layers = nl;
}

df_status df_run_report_write(const df_run_report *r, const char *out_dir, df_error *err) {
    if (!r->val || r->val->count < 1) return df_error_set(err, DF_ERR_DATA, "report: no validation photos to evaluate");
    parts *p = calloc(1, sizeof *p);
    if (!p) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    df_report_data_init(&p->d);
    df_status st = df_resize_method_parse(r->model->meta.resize_method, &p->resize, err);
    if (st == DF_OK) st = evaluate(r, p, err);
    if (st == DF_OK) st = fill_dataset(r, p, err);
    if (st == DF_OK) {
        fill_settings(r, p);
        st = fill_history(r, p, err);
    }
    if (st == DF_OK) st = fill_evaluation(r, p, err);
    if (st == DF_OK) st = fill_gallery(r, p, err);
    if (st == DF_OK) st = fill_samples(r, p, err);
    if (st == DF_OK) {
        fill_summary(r, p);
        p->d.settings = p->set.items;
        p->d.n_settings = p->set.n;
        char *audit = df_run_report_audit_section(r->backbone, r->train, r->val, r->train_features,
                                                  r->val_features, r->progress);
        p->d.audit_html = audit;
        st = df_report_write(&p->d, out_dir, err);
        free(audit);
    }
    parts_free(p);
    free(p);
    return st;
}

/* The audit's first findings for the training report: run on the training
 * and validation photos with the report's backbone. Best effort: a failed
 * audit becomes a section saying why, never a failed report. */
char *df_run_report_audit_section(df_backbone *bb, const df_dataset *train, const df_dataset *val,
                                  const float *train_features, const float *val_features,
                                  const df_progress *progress) {
    if (!bb || !train) return NULL;
    df_audit_options opt = df_audit_options_default();
    opt.progress = progress;
    opt.train_features = train_features;
    opt.val_features = val_features;
    df_audit_result res;
    df_error err;
    df_error_clear(&err);
    df_report_buf b;
    df_report_buf_init(&b);
    df_status st = df_audit_run(bb, train, val, &opt, &res, &err);
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
