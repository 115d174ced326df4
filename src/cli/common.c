/* Shared command-line helpers (see common.h). */
#include "cli/common.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cpu.h"
#include "core/fileio.h"
#include "core/strbuf.h"
#include "api/classifier.h"
#include "data/photo.h"
#include "data/text.h"
#include "eval/unknown.h"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

df_status df_cli_resolve_data_dirs(const char *dir, const char *explicit_val, char **train,
                                   char **val, df_error *err) {
    *train = *val = NULL;
    if (!is_dir(dir)) return df_error_set(err, DF_ERR_IO, "%s: no such folder", dir);
    char *t = df_path_join(dir, "train");
    char *v = df_path_join(dir, "validation");
    if (!t || !v) {
        free(t);
        free(v);
        return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    }
    if (is_dir(t)) {
        *train = t;
        if (!explicit_val && is_dir(v)) *val = v;
        else free(v);
    } else {
        free(t);
        free(v);
        *train = strdup(dir);
        /* DIR ends in "train": its sibling "validation" is the Keras layout. */
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') n--;
        if (!explicit_val && n >= 5 && !strncmp(dir + n - 5, "train", 5) &&
            (n == 5 || dir[n - 6] == '/')) {
            char *sib = malloc(n + 16);
            if (sib) {
                memcpy(sib, dir, n - 5);
                strcpy(sib + n - 5, "validation");
                if (is_dir(sib)) *val = sib;
                else free(sib);
            }
        }
    }
    if (explicit_val) {
        if (!is_dir(explicit_val)) {
            free(*train);
            *train = NULL;
            return df_error_set(err, DF_ERR_IO, "%s: no such folder", explicit_val);
        }
        *val = strdup(explicit_val);
    }
    if (!*train) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    return DF_OK;
}

void df_cli_print_skipped(const df_dataset *ds, int quiet) {
    if (quiet) return;
    for (int i = 0; i < ds->num_skipped; i++) {
        char *p = df_text_printable(ds->skipped[i].path);
        fprintf(stderr, "deepfashion: skipped %s: %s\n", p ? p : "?", ds->skipped[i].reason);
        free(p);
    }
}

df_status df_cli_check_writable(const char *path, df_error *err) {
    char *dir = strdup(path);
    if (!dir) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *slash = '\0';
        d = slash == dir ? "/" : dir;
    }
    df_status st = DF_OK;
    if (!is_dir(d)) st = df_error_set(err, DF_ERR_IO, "%s: folder %s does not exist", path, d);
    else if (access(d, W_OK) != 0)
        st = df_error_set(err, DF_ERR_IO, "%s: folder %s is not writable: %s", path, d, strerror(errno));
    free(dir);
    return st;
}

/* The writer below spells the key and value so: a plain search finds them. */
int df_cli_training_was_exact(const char *training_json) {
    return training_json && strstr(training_json, "\"solver\":\"exact\"") != NULL;
}

char *df_cli_training_json(const char *weights, const char *cut, const char *recipe,
                           const char *precision, const df_train_options *o,
                           const char *train_dir, const char *val_dir,
                           const df_head_search_result *search) {
    df_strbuf b = {0};
    char *abs = realpath(weights, NULL);
    char *qw = df_text_json_quote(abs ? abs : weights);
    char *qt = df_text_json_quote(train_dir);
    char *qv = val_dir ? df_text_json_quote(val_dir) : NULL;
    char *qc = cut ? df_text_json_quote(cut) : NULL;
    free(abs);
    df_strbuf_addf(&b,
         "{\"backbone_weights\":%s,\"recipe\":\"%s\",\"precision\":\"%s\",\"train_dir\":%s,"
         "\"val_dir\":%s",
         qw ? qw : "\"\"", recipe, precision, qt ? qt : "\"\"", qv ? qv : "null");
    if (qc) df_strbuf_addf(&b, ",\"cut_tensor\":%s", qc);
    df_strbuf_addf(&b,
         ",\"head\":\"%s\",\"solver\":\"%s\",\"units\":%d,\"batchnorm\":%d,\"dropout\":%g,\"l2\":%g,\"lr\":%g,"
         "\"weight_decay\":%g,\"epochs\":%d,\"batch\":%d,\"steps_per_epoch\":%d,\"augment\":%d,"
         "\"shift\":%g,\"shear_deg\":%g,\"zoom\":%g,\"rotation_deg\":%g,\"hflip\":%d,\"vflip\":%d,"
         "\"feature_cache\":%d,\"class_weight\":\"%s\",\"early_stop\":%d,\"seed\":%llu",
         df_head_kind_name(o->head.kind), o->exact_fit ? "exact" : "adam", o->head.units, o->head.batchnorm, (double)o->head.dropout,
         (double)o->head.l2, (double)o->adam.lr, (double)o->adam.weight_decay, o->epochs,
         o->batch_size, o->steps_per_epoch, o->augment, o->augment_config.width_shift,
         o->augment_config.shear_deg, o->augment_config.zoom, o->augment_config.rotation_deg,
         o->augment_config.horizontal_flip, o->augment_config.vertical_flip, o->feature_cache,
         o->class_weight_balanced ? "balanced" : "none", o->early_stop_patience,
         (unsigned long long)o->seed);
    const df_augment_config *ac = &o->augment_config;
    if (df_augment_config_beyond_keras(ac))
        df_strbuf_addf(&b,
                       ",\"zoom_in\":%g,\"zoom_out\":%g,\"fill\":%d,\"brightness\":%g,\"contrast\":%g,"
                       "\"saturation\":%g,\"grayscale\":%g",
                       ac->zoom_in, ac->zoom_out, ac->fill_constant ? ac->fill_value : -1, ac->brightness,
                       ac->contrast, ac->saturation, ac->grayscale);
    if (search) {
        /* Candidate names are our own ASCII: no quoting needed. */
        df_strbuf_addf(&b, ",\"head_search\":{\"folds\":%d,\"variants\":%d,\"chosen\":\"%s\",\"candidates\":[",
                       search->folds, search->variants, search->candidates[search->best].name);
        for (int c = 0; c < search->n_candidates; c++)
            df_strbuf_addf(&b, "%s{\"name\":\"%s\",\"cv_accuracy\":%.6g,\"cv_accuracy_se\":%.6g,\"cv_loss\":%.6g}",
                           c ? "," : "", search->candidates[c].name, search->accuracy[c], search->accuracy_se[c],
                           search->loss[c]);
        df_strbuf_addf(&b, "]}");
    }
    df_strbuf_addf(&b, "}");
    free(qw);
    free(qt);
    free(qv);
    free(qc);
    return df_strbuf_finish(&b);
}

static void put_num(FILE *f, double x) {
    if (isnan(x)) fputs("null", f);
    else fprintf(f, "%.6g", x);
}

df_status df_cli_write_history(const char *path, const df_history *h, df_error *err) {
    size_t n = strlen(path);
    int json = n >= 5 && !strcmp(path + n - 5, ".json");
    int csv = n >= 4 && !strcmp(path + n - 4, ".csv");
    if (!json && !csv)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: history file must end in .csv or .json", path);
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st != DF_OK) return st;
    if (csv) {
        fputs("epoch,loss,accuracy,val_loss,val_accuracy\n", af.fp);
        for (int e = 0; e < h->epochs; e++)
            fprintf(af.fp, "%d,%.6g,%.6g,%.6g,%.6g\n", e + 1, (double)h->train_loss[e],
                    (double)h->train_acc[e], (double)h->val_loss[e], (double)h->val_acc[e]);
    } else {
        fputs("{\"epochs\":[", af.fp);
        for (int e = 0; e < h->epochs; e++) {
            fprintf(af.fp, "%s{\"epoch\":%d,\"loss\":", e ? "," : "", e + 1);
            put_num(af.fp, h->train_loss[e]);
            fputs(",\"accuracy\":", af.fp);
            put_num(af.fp, h->train_acc[e]);
            fputs(",\"val_loss\":", af.fp);
            put_num(af.fp, h->val_loss[e]);
            fputs(",\"val_accuracy\":", af.fp);
            put_num(af.fp, h->val_acc[e]);
            fputs("}", af.fp);
        }
        fputs("]}\n", af.fp);
    }
    return df_atomic_commit(&af, err);
}

/* One number of a history file: "null"/"nan" -> NaN. */
static float parse_num(const char *p) {
    while (*p == ' ' || *p == ':') p++;
    if (!strncmp(p, "null", 4)) return NAN;
    return strtof(p, NULL);
}

df_status df_cli_read_history(const char *path, df_history *h, df_error *err) {
    memset(h, 0, sizeof *h);
    uint8_t *data;
    size_t size;
    df_status st = df_file_read(path, (size_t)64 << 20, &data, &size, err);
    if (st != DF_OK) return st;
    char *text = realloc(data, size + 1);
    if (!text) {
        free(data);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    }
    text[size] = '\0';
    if (text[0] == '{') {
        for (char *p = strstr(text, "{\"epoch\""); p && st == DF_OK; p = strstr(p + 1, "{\"epoch\"")) {
            char *l = strstr(p, "\"loss\""), *a = strstr(p, "\"accuracy\"");
            char *vl = strstr(p, "\"val_loss\""), *va = strstr(p, "\"val_accuracy\"");
            if (!l || !a || !vl || !va) {
                st = df_error_set(err, DF_ERR_FORMAT, "%s: epoch %d lacks a field", path, h->epochs + 1);
                break;
            }
            st = df_history_append(h, parse_num(l + 6), parse_num(a + 10), parse_num(vl + 10),
                                   parse_num(va + 14), NAN, err);
        }
    } else if (!strncmp(text, "epoch,loss,accuracy,val_loss,val_accuracy", 41)) {
        char *line = strchr(text, '\n');
        while (line && st == DF_OK) {
            line++;
            if (!*line) break;
            int e;
            char l[32], a[32], vl[32], va[32];
            if (sscanf(line, "%d,%31[^,],%31[^,],%31[^,],%31[^,\n]", &e, l, a, vl, va) != 5) {
                st = df_error_set(err, DF_ERR_FORMAT, "%s: line %d is not epoch,loss,accuracy,val_loss,val_accuracy",
                                  path, h->epochs + 2);
                break;
            }
            st = df_history_append(h, parse_num(l), parse_num(a), parse_num(vl), parse_num(va), NAN, err);
            line = strchr(line, '\n');
        }
    } else {
        st = df_error_set(err, DF_ERR_FORMAT, "%s: not a history file written by deepfashion train", path);
    }
    free(text);
    if (st != DF_OK) df_history_free(h);
    return st;
}

void df_cli_flag_help(FILE *out, const df_cli_flag *f) {
    char head[64];
    snprintf(head, sizeof head, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
    int col = fprintf(out, "  %-22s", head);
    if (col > 24) col = fprintf(out, "\n%24s", "") - 1;
    /* Wrap the help text at word boundaries. */
    int first = 1;
    for (const char *p = f->help; *p;) {
        size_t w = strcspn(p, " ");
        if (!first && col + 1 + (int)w > 100) col = fprintf(out, "\n%24s", "") - 1;
        else if (!first) col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)w, p);
        first = 0;
        p += w;
        while (*p == ' ') p++;
    }
    fputc('\n', out);
}

df_cli_progress df_cli_progress_bar(int quiet) {
    df_cli_progress p = {.quiet = quiet, .tty = isatty(2)};
    return p;
}

void df_cli_progress_report(void *ctx, const char *what, long done, long total) {
    df_cli_progress *p = ctx;
    if (p->quiet || total <= 0) return;
    double now = df_clock_seconds();
    if (done == 0) {
        p->start = p->last = now;
        p->drawn = 0;
        return;
    }
    double t = now - p->start, rate = t > 0 ? (double)done / t : 0.0;
    double left = rate > 0 ? (double)(total - done) / rate : 0.0;
    int end = done >= total;
    if (p->tty) {
        /* A bar only for passes long enough to wait for, redrawn 10x a second. */
        if (t < 0.5 || (!end && now - p->last < 0.1)) return;
        int width = 30, fill = (int)((double)width * (double)done / (double)total);
        fprintf(stderr, "\r%s [", what);
        for (int i = 0; i < width; i++) fputc(i < fill ? '=' : i == fill ? '>' : ' ', stderr);
        fprintf(stderr, "] %ld/%ld  %.1f/s  %.0fs left\033[K", done, total, rate, left);
        if (end) fputc('\n', stderr);
        fflush(stderr);
        p->drawn = 1;
    } else if (now - p->last >= 5.0 || (end && p->drawn)) {
        fprintf(stderr, "deepfashion: %s %ld/%ld (%.1f/s, %.0fs left)\n", what, done, total, rate, left);
        p->drawn = 1;
    } else {
        return;
    }
    p->last = now;
}

const char *df_cli_cache_dir(char *buf, size_t size) {
    const char *own = getenv("DF_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (own) n = *own ? snprintf(buf, size, "%s", own) : -1;
    else if (xdg && xdg[0] == '/') n = snprintf(buf, size, "%s/deepfashion", xdg); /* the spec: relative = unset */
    else if (home && *home) n = snprintf(buf, size, "%s/.cache/deepfashion", home);
    else n = -1;
    return n > 0 && (size_t)n < size ? buf : NULL;
}

char *df_cli_path_with_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* Off-topic photos: how many the model's detector calls unknown. */
df_status df_cli_score_off_topic(struct df_classifier *clf, const char *dir, int *n, int *caught, df_error *err) {
    *n = *caught = 0;
    if (!clf->model->unknown)
        return df_error_set(err, DF_ERR_DATA, "--unknown-dir: the model has no unknown detector (trained before it "
                                              "existed); train it again");
    df_dataset *ds = NULL;
    float *feats = NULL;
    df_status st = df_dataset_scan_tree(dir, NULL, &ds, err);
    if (st != DF_OK) return st;
    df_cli_print_skipped(ds, 0);
    if (ds->count == 0) st = df_error_set(err, DF_ERR_DATA, "%s: no usable photos", dir);
    if (st == DF_OK) st = df_photo_features(clf->backbone, ds, clf->resize, NULL, &feats, err);
    const df_unknown_detector *u = clf->model->unknown;
    const size_t F = df_backbone_feature_dim(clf->backbone);
    for (int i = 0; st == DF_OK && i < ds->count; i++)
        *caught += !(df_unknown_score_features(u, feats + (size_t)i * F, F) <= u->threshold);
    if (st == DF_OK) *n = ds->count;
    free(feats);
    df_dataset_free(ds);
    return st;
}

/* OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded (before main):
 * where it picked kernels below this CPU (df_cpu_blas_coretype), the only
 * way to its right kernels is to set the variable and start again, once
 * (the variable is then set). The restart costs about 18 ms (a process
 * start), so only commands whose time OpenBLAS matters to call this. The
 * user's own setting is kept; an exec that fails leaves the run as it was. */
void df_cli_use_right_blas_kernels(int argc, char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
    const char *want = df_cpu_blas_coretype(openblas_get_corename(), df_cpu_isa_best());
    if (!want) return;
    char **again = calloc((size_t)argc + 2, sizeof *again);
    if (!again) return;
    again[0] = "deepfashion";
    for (int i = 0; i < argc; i++) again[i + 1] = argv[i];
    if (setenv("OPENBLAS_CORETYPE", want, 1) == 0) {
        execv("/proc/self/exe", again);
        unsetenv("OPENBLAS_CORETYPE");
    }
    free(again);
}
