/*
 * Model and checkpoint files in HDF5 (layout documented in model_file.h).
 * Weights follow the Keras save_weights layout (h5py 'S' fixed-length string
 * attributes, datasets under "<layer>/<weight name>"); metadata and training
 * state live under /deepfashion. Writes are atomic (temp file + fsync +
 * rename); reads check every attribute's type and every dataset's shape
 * before any data is copied, and every value is bounded before use.
 * libhdf5 is trusted to parse its own structures; it is not hardened
 * against hostile files (see fuzz/fuzz_model_file.c for what was tried).
 */
#include "formats/model_file.h"
#include "formats/h5_guard.h"

#include <hdf5.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backbone/pooling.h"
#include "core/crc32c.h"
#include "core/fileio.h"
#include "core/sha256.h"
#include "eval/unknown.h"

/* The checksums below are over the in-memory bytes of float32/uint64 data,
 * which equal the little-endian bytes the file stores only on a
 * little-endian host. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_file.c assumes a little-endian host"
#endif

/* Bounds on what a file may claim, checked before allocating. */
enum {
    MAX_CLASSES = 1 << 16,
    MAX_NAME = 4096,
    MAX_JSON = 16 << 20,
    MAX_EPOCHS = 1 << 20,
    MAX_INPUT_SIDE = 1 << 16
};
/* An embedded backbone file: VGG16's Keras file is 59 MB. */
#define MAX_BACKBONE_FILE ((size_t)1 << 30)

static const char *HISTORY_COLUMNS[5] = {"train_loss", "train_acc", "val_loss", "val_acc", "lr"};

/* ------------------------------------------------------------------ */
/* model object                                                        */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static df_status check_class_names(const char *const *names, int n, const char *where,
                                   df_error *err) {
    for (int i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return df_error_set(err, DF_ERR_INVALID_ARG, "%s: class %d has an empty name", where, i);
        if (strlen(names[i]) > MAX_NAME)
            return df_error_set(err, DF_ERR_INVALID_ARG, "%s: class %d name is longer than %d bytes",
                                where, i, MAX_NAME);
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return df_error_set(err, DF_ERR_INVALID_ARG,
                                    "%s: class name '%s' appears twice (indices %d and %d)", where,
                                    names[i], j, i);
    }
    return DF_OK;
}

static df_model *model_alloc(void) {
    df_model *m = calloc(1, sizeof *m);
    return m;
}

df_status df_model_create(const df_head_config *cfg, int feature_dim, int num_classes,
                          const char *const *class_names, uint64_t seed, df_model **out,
                          df_error *err) {
    *out = NULL;
    if (num_classes < 2 || num_classes > MAX_CLASSES)
        return df_error_set(err, DF_ERR_INVALID_ARG, "model: %d classes, need 2 to %d",
                            num_classes, MAX_CLASSES);
    df_status st = check_class_names(class_names, num_classes, "model", err);
    if (st != DF_OK) return st;
    df_model *m = model_alloc();
    if (!m) return df_error_set(err, DF_ERR_NOMEM, "model: out of memory");
    st = df_head_create(cfg, feature_dim, num_classes, seed, &m->head, err);
    if (st != DF_OK) goto fail;
    m->meta.class_names = calloc((size_t)num_classes, sizeof(char *));
    if (!m->meta.class_names) goto nomem;
    m->meta.num_classes = num_classes;
    for (int i = 0; i < num_classes; i++)
        if (!(m->meta.class_names[i] = dup_str(class_names[i]))) goto nomem;
    m->meta.feature_dim = feature_dim;
    *out = m;
    return DF_OK;
nomem:
    st = df_error_set(err, DF_ERR_NOMEM, "model: out of memory");
fail:
    df_model_destroy(m);
    return st;
}

void df_model_destroy(df_model *m) {
    if (!m) return;
    df_head_destroy(m->head);
    df_unknown_destroy(m->unknown);
    free_names(m->meta.class_names, m->meta.num_classes);
    free(m->meta.training_json);
    free(m->meta.backbone_file);
    free(m);
}

df_status df_model_set_backbone_file(df_model *m, const char *path, int embed, df_error *err) {
    uint8_t *data = NULL;
    size_t size = 0;
    char hex[65];
    df_status st;
    if (strlen(path) >= sizeof m->meta.backbone_source)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: path too long to record", path);
    if (embed) {
        st = df_file_read(path, MAX_BACKBONE_FILE, &data, &size, err);
        if (st != DF_OK) return st;
        uint8_t digest[32];
        df_sha256(data, size, digest);
        df_sha256_hex(digest, hex);
    } else {
        st = df_sha256_file(path, hex, err);
        if (st != DF_OK) return st;
    }
    free(m->meta.backbone_file);
    m->meta.backbone_file = data;
    m->meta.backbone_file_size = size;
    snprintf(m->meta.backbone_source, sizeof m->meta.backbone_source, "%s", path);
    memcpy(m->meta.backbone_sha256, hex, sizeof hex);
    return DF_OK;
}

df_status df_model_set_training_json(df_model *m, const char *json, df_error *err) {
    char *c = NULL;
    if (json) {
        if (strlen(json) > MAX_JSON)
            return df_error_set(err, DF_ERR_TOO_LARGE, "model: training settings longer than %d",
                                MAX_JSON);
        if (!(c = dup_str(json))) return df_error_set(err, DF_ERR_NOMEM, "model: out of memory");
    }
    free(m->meta.training_json);
    m->meta.training_json = c;
    return DF_OK;
}

/* ------------------------------------------------------------------ */
/* history and train state                                             */

df_status df_history_append(df_history *h, float train_loss, float train_acc, float val_loss,
                            float val_acc, float lr, df_error *err) {
    if (h->epochs >= MAX_EPOCHS)
        return df_error_set(err, DF_ERR_TOO_LARGE, "history: more than %d epochs", MAX_EPOCHS);
    if (h->epochs == h->capacity) {
        int cap = h->capacity ? h->capacity * 2 : 16;
        float **cols[5] = {&h->train_loss, &h->train_acc, &h->val_loss, &h->val_acc, &h->lr};
        for (int k = 0; k < 5; k++) {
            float *t = realloc(*cols[k], sizeof(float) * (size_t)cap);
            if (!t) return df_error_set(err, DF_ERR_NOMEM, "history: out of memory");
            *cols[k] = t;
        }
        h->capacity = cap;
    }
    int e = h->epochs++;
    h->train_loss[e] = train_loss;
    h->train_acc[e] = train_acc;
    h->val_loss[e] = val_loss;
    h->val_acc[e] = val_acc;
    h->lr[e] = lr;
    return DF_OK;
}

void df_history_free(df_history *h) {
    if (!h) return;
    free(h->train_loss);
    free(h->train_acc);
    free(h->val_loss);
    free(h->val_acc);
    free(h->lr);
    memset(h, 0, sizeof *h);
}

void df_train_state_free(df_train_state *s) {
    if (!s) return;
    df_history_free(&s->history);
    free(s->state_json);
    free(s->best);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ */
/* checksums of raw data (libhdf5 checksums only its metadata)          */

/* Over every head tensor in df_head_tensors order, then the
 * standardisation mean and std when present. */
static uint32_t weights_crc(df_head *head) {
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    int nt = df_head_tensors(head, t);
    uint32_t crc = 0;
    for (int i = 0; i < nt; i++) {
        size_t n = (size_t)t[i].shape[0] * (t[i].rank == 2 ? (size_t)t[i].shape[1] : 1);
        crc = df_crc32c(crc, t[i].data, n * sizeof(float));
    }
    if (df_head_has_standardisation(head)) {
        size_t d = (size_t)df_head_in_dim(head) * sizeof(float);
        crc = df_crc32c(crc, df_head_std_mean(head), d);
        crc = df_crc32c(crc, df_head_std_std(head), d);
    }
    return crc;
}

/* Over adam_m, adam_v, rng_state ((state, inc) pairs) and history rows, as
 * stored. */
static uint32_t state_crc(const df_adam *adam, const uint64_t *rngs, int n_rngs,
                          const float *hist, int epochs) {
    uint32_t crc = df_crc32c(0, adam->m, adam->n * sizeof(float));
    crc = df_crc32c(crc, adam->v, adam->n * sizeof(float));
    crc = df_crc32c(crc, rngs, (size_t)n_rngs * 2 * sizeof(uint64_t));
    return df_crc32c(crc, hist, (size_t)epochs * 5 * sizeof(float));
}

/* ------------------------------------------------------------------ */
/* HDF5 helpers                                                        */

/* The innermost message on HDF5's error stack (the most specific one, e.g.
 * "truncated file: eof = ..."), for appending to our own message. */
typedef struct h5_detail {
    char text[192];
} h5_detail;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    h5_detail *d = data;
    if (e->desc && e->desc[0]) snprintf(d->text, sizeof d->text, "%s", e->desc);
    return 0;
}

static const char *h5_last_error(h5_detail *d) {
    d->text[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, d);
    if (!d->text[0]) snprintf(d->text, sizeof d->text, "no detail from libhdf5");
    return d->text;
}

static void h5_quiet(void) {
    /* libhdf5 prints its error stack to stderr by default; the library must
     * never print, so the stack is read (h5_last_error) instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void close_id(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

/* ---- writing: each returns 0 on success, -1 on an HDF5 failure ---- */

static hid_t str_type(size_t len, int utf8) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, len ? len : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static int write_attr(hid_t loc, const char *name, hid_t type, hid_t space, const void *buf) {
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Awrite(a, type, buf) < 0 ? -1 : 0;
    H5Aclose(a);
    return rc;
}

static int attr_strs(hid_t loc, const char *name, const char *const *v, int n, int utf8) {
    size_t len = 1;
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) > len) len = strlen(v[i]);
    if (n < 0) return -1;
    char *buf = calloc(n > 0 ? (size_t)n : 1, len);
    if (!buf) return -1;
    for (int i = 0; i < n; i++) memcpy(buf + (size_t)i * len, v[i], strlen(v[i]));
    hsize_t dims[1] = {(hsize_t)n};
    hid_t t = str_type(len, utf8), s = H5Screate_simple(1, dims, NULL);
    int rc = (t < 0 || s < 0) ? -1 : write_attr(loc, name, t, s, buf);
    close_id(t);
    close_id(s);
    free(buf);
    return rc;
}

static int attr_str(hid_t loc, const char *name, const char *v) {
    size_t len = strlen(v);
    hid_t t = str_type(len, 1), s = H5Screate(H5S_SCALAR);
    /* A zero-length value still needs one byte of storage: write a NUL. */
    int rc = (t < 0 || s < 0) ? -1 : write_attr(loc, name, t, s, len ? v : "");
    close_id(t);
    close_id(s);
    return rc;
}

static int attr_num(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *v,
                    int n) {
    hsize_t dims[1] = {(hsize_t)n};
    hid_t s = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    if (s < 0) return -1;
    hid_t a = H5Acreate2(loc, name, file_type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mem_type, v) < 0 ? -1 : 0;
    close_id(a);
    H5Sclose(s);
    return rc;
}

static int attr_i32(hid_t loc, const char *name, int v) {
    return attr_num(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v, 0);
}
static int attr_i64(hid_t loc, const char *name, int64_t v) {
    return attr_num(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, 0);
}
static int attr_u32(hid_t loc, const char *name, uint32_t v) {
    return attr_num(loc, name, H5T_STD_U32LE, H5T_NATIVE_UINT32, &v, 0);
}
static int attr_f32(hid_t loc, const char *name, float v) {
    return attr_num(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v, 0);
}

static int write_dset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank,
                      const hsize_t *dims, const void *data) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t s = H5Screate_simple(rank, dims, NULL);
    hid_t d = -1;
    int rc = -1;
    if (lcpl >= 0 && s >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0) {
        d = H5Dcreate2(loc, name, file_type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        hsize_t n = 1;
        for (int i = 0; i < rank; i++) n *= dims[i];
        if (d >= 0 && (n == 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0))
            rc = 0;
    }
    close_id(d);
    close_id(s);
    close_id(lcpl);
    return rc;
}

static int dset_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *data) {
    return write_dset(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, data);
}

/* ------------------------------------------------------------------ */
/* save                                                                */

static df_status check_model_for_save(const df_model *m, const char *path, df_error *err) {
    if (!m || !m->head) return df_error_set(err, DF_ERR_INVALID_ARG, "%s: no model to save", path);
    const df_model_meta *mt = &m->meta;
    if (mt->num_classes != df_head_classes(m->head))
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: %d class names for a head with %d outputs",
                            path, mt->num_classes, df_head_classes(m->head));
    if (mt->feature_dim != df_head_in_dim(m->head))
        return df_error_set(err, DF_ERR_INVALID_ARG,
                            "%s: feature_dim %d but the head takes %d features", path,
                            mt->feature_dim, df_head_in_dim(m->head));
    if (!mt->class_names)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: model has no class names", path);
    df_status st = check_class_names((const char *const *)mt->class_names, mt->num_classes, path,
                                     err);
    if (st != DF_OK) return st;
    /* The fixed-size fields must be terminated: they are written with strlen. */
    if (!memchr(mt->backbone_kind, 0, sizeof mt->backbone_kind) ||
        !memchr(mt->backbone_name, 0, sizeof mt->backbone_name) ||
        !memchr(mt->backbone_sha256, 0, sizeof mt->backbone_sha256) ||
        !memchr(mt->preprocess, 0, sizeof mt->preprocess) ||
        !memchr(mt->resize_method, 0, sizeof mt->resize_method))
        return df_error_set(err, DF_ERR_INTERNAL, "%s: unterminated metadata string", path);
    return DF_OK;
}

/* Writes everything into the open file f; -1 on an HDF5 failure. */
/* /deepfashion/trust: the unknown detector and the temperature (issue 12);
 * nothing is written when the model has neither. */
static uint32_t trust_crc(const df_unknown_detector *u) {
    uint32_t crc = df_crc32c(0, u->mean, sizeof(float) * (size_t)u->dim);
    return df_crc32c(crc, u->ref, sizeof(float) * (size_t)u->n * (size_t)u->dim);
}

static int write_trust(hid_t g, const df_model *m) {
    const df_unknown_detector *u = m->unknown;
    if (!u && !(m->temperature > 0.0f)) return 0;
    hid_t t = H5Gcreate2(g, "trust", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (t < 0) return -1;
    int rc = attr_f32(t, "temperature", m->temperature > 0.0f ? m->temperature : 0.0f);
    rc |= attr_i32(t, "unknown_method", u ? u->method : 0);
    if (u) {
        rc |= attr_i32(t, "unknown_k", u->k);
        rc |= attr_i32(t, "unknown_rows", u->n);
        rc |= attr_f32(t, "unknown_threshold", u->threshold);
        rc |= attr_f32(t, "unknown_rate", u->rate);
        rc |= attr_u32(t, "trust_crc32c", trust_crc(u));
        hsize_t d1[1] = {(hsize_t)u->dim}, d2[2] = {(hsize_t)u->n, (hsize_t)u->dim};
        if (rc == 0) rc |= dset_f32(t, "unknown_mean", 1, d1, u->mean);
        if (rc == 0) rc |= dset_f32(t, "unknown_ref", 2, d2, u->ref);
    }
    H5Gclose(t);
    return rc ? -1 : 0;
}

static int write_contents(hid_t f, const df_model *m, const df_adam *adam,
                          const df_train_state *ts) {
    /* Reading tensors does not modify the head; df_head_tensors hands out
     * writable pointers because loading uses the same table. */
    df_head *head = m->head;
    const df_head_config *cfg = df_head_get_config(head);
    const df_model_meta *mt = &m->meta;
    int rc = 0;

    const char *layers[8];
    int nl = df_head_layer_names(head, layers);
    rc |= attr_strs(f, "layer_names", layers, nl, 0);
    rc |= attr_str(f, "backend", "tensorflow");
    rc |= attr_str(f, "keras_version", "2.4.0");

    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    int nt = df_head_tensors(head, t);
    for (int l = 0; l < nl && rc == 0; l++) {
        hid_t g = H5Gcreate2(f, layers[l], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) return -1;
        const char *wn[DF_HEAD_MAX_TENSORS];
        int nw = 0;
        for (int i = 0; i < nt; i++)
            if (strcmp(t[i].layer, layers[l]) == 0) wn[nw++] = t[i].weight;
        rc |= attr_strs(g, "weight_names", wn, nw, 0);
        for (int i = 0; i < nt && rc == 0; i++) {
            if (strcmp(t[i].layer, layers[l]) != 0) continue;
            hsize_t dims[2] = {(hsize_t)t[i].shape[0], (hsize_t)t[i].shape[1]};
            rc |= dset_f32(g, t[i].weight, t[i].rank, dims, t[i].data);
        }
        H5Gclose(g);
    }
    if (rc) return -1;

    hid_t g = H5Gcreate2(f, "deepfashion", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int input_size[2] = {mt->input_h, mt->input_w};
    rc |= attr_i32(g, "format_version", DF_MODEL_FORMAT_VERSION);
    rc |= attr_str(g, "file_kind", adam ? "checkpoint" : "model");
    rc |= attr_i32(g, "num_classes", mt->num_classes);
    rc |= attr_strs(g, "class_names", (const char *const *)mt->class_names, mt->num_classes, 1);
    rc |= attr_str(g, "backbone_kind", mt->backbone_kind);
    rc |= attr_str(g, "backbone_name", mt->backbone_name);
    rc |= attr_str(g, "backbone_sha256", mt->backbone_sha256);
    rc |= attr_str(g, "preprocess", mt->preprocess);
    rc |= attr_str(g, "resize_method", mt->resize_method);
    rc |= attr_num(g, "input_size", H5T_STD_I32LE, H5T_NATIVE_INT, input_size, 2);
    rc |= attr_i32(g, "feature_dim", mt->feature_dim);
    rc |= attr_str(g, "head_kind", df_head_kind_name(cfg->kind));
    rc |= attr_i32(g, "head_units", cfg->units);
    rc |= attr_i32(g, "head_batchnorm", cfg->batchnorm);
    rc |= attr_i32(g, "head_max_batch", cfg->max_batch);
    rc |= attr_f32(g, "head_dropout", cfg->dropout);
    rc |= attr_f32(g, "head_l2", cfg->l2);
    rc |= attr_f32(g, "bn_momentum", cfg->bn_momentum);
    rc |= attr_f32(g, "bn_eps", cfg->bn_eps);
    rc |= attr_str(g, "backbone_source", mt->backbone_source);
    rc |= attr_str(g, "precision", mt->precision);
    rc |= attr_i32(g, "backbone_pool", mt->backbone_pool);
    rc |= attr_str(g, "cut_tensor", mt->cut_tensor);
    rc |= attr_str(g, "pooling", mt->pooling[0] ? mt->pooling : "mean");
    rc |= attr_str(g, "training_json", mt->training_json ? mt->training_json : "");
    rc |= attr_u32(g, "weights_crc32c", weights_crc(head));
    if (rc == 0 && mt->backbone_file) {
        hsize_t dims[1] = {(hsize_t)mt->backbone_file_size};
        rc |= write_dset(g, "backbone_file", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dims, mt->backbone_file);
    }
    if (rc == 0) rc |= write_trust(g, m);
    if (rc == 0 && df_head_has_standardisation(head)) {
        hsize_t dims[1] = {(hsize_t)df_head_in_dim(head)};
        rc |= dset_f32(g, "standardisation_mean", 1, dims, df_head_std_mean(head));
        rc |= dset_f32(g, "standardisation_std", 1, dims, df_head_std_std(head));
    }
    if (rc == 0 && adam) {
        hid_t c = H5Gcreate2(g, "checkpoint", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (c < 0) {
            H5Gclose(g);
            return -1;
        }
        rc |= attr_i64(c, "adam_t", adam->t);
        rc |= attr_f32(c, "adam_lr", adam->cfg.lr);
        rc |= attr_f32(c, "adam_beta1", adam->cfg.beta1);
        rc |= attr_f32(c, "adam_beta2", adam->cfg.beta2);
        rc |= attr_f32(c, "adam_eps", adam->cfg.eps);
        rc |= attr_f32(c, "adam_weight_decay", adam->cfg.weight_decay);
        rc |= attr_i32(c, "epoch", ts->epoch);
        rc |= attr_i64(c, "step", ts->step);
        rc |= attr_str(c, "state_json", ts->state_json ? ts->state_json : "");
        hsize_t np[1] = {(hsize_t)adam->n};
        rc |= dset_f32(c, "adam_m", 1, np, adam->m);
        rc |= dset_f32(c, "adam_v", 1, np, adam->v);
        uint64_t rngs[2 * DF_CKPT_MAX_RNGS];
        for (int i = 0; i < ts->n_rngs; i++) {
            rngs[2 * i] = ts->rngs[i].state;
            rngs[2 * i + 1] = ts->rngs[i].inc;
        }
        hsize_t rd[2] = {(hsize_t)ts->n_rngs, 2};
        rc |= write_dset(c, "rng_state", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, rd, rngs);
        const df_history *h = &ts->history;
        float *hist = malloc(sizeof(float) * 5 * (size_t)(h->epochs ? h->epochs : 1));
        if (!hist) rc = -1;
        if (rc == 0) {
            for (int e = 0; e < h->epochs; e++) {
                float row[5] = {h->train_loss[e], h->train_acc[e], h->val_loss[e], h->val_acc[e],
                                h->lr[e]};
                memcpy(hist + 5 * (size_t)e, row, sizeof row);
            }
            hsize_t hd[2] = {(hsize_t)h->epochs, 5};
            rc |= dset_f32(c, "history", 2, hd, hist);
            rc |= attr_u32(c, "state_crc32c", state_crc(adam, rngs, ts->n_rngs, hist, h->epochs));
            if (rc == 0 && ts->best) {
                hsize_t bd[1] = {(hsize_t)ts->n_best};
                rc |= dset_f32(c, "best_weights", 1, bd, ts->best);
                rc |= attr_u32(c, "best_crc32c", df_crc32c(0, ts->best, ts->n_best * sizeof(float)));
            }
            if (rc == 0) {
                hid_t d = H5Dopen2(c, "history", H5P_DEFAULT);
                rc |= d < 0 ? -1 : attr_strs(d, "columns", HISTORY_COLUMNS, 5, 0);
                close_id(d);
            }
        }
        free(hist);
        H5Gclose(c);
    }
    H5Gclose(g);
    return rc ? -1 : 0;
}

static df_status save_file(const df_model *m, const df_adam *adam, const df_train_state *ts,
                           const char *path, df_error *err) {
    h5_quiet();
    df_status st = check_model_for_save(m, path, err);
    if (st != DF_OK) return st;
    if (adam) {
        if (adam->n != df_head_num_params(m->head))
            return df_error_set(err, DF_ERR_INVALID_ARG,
                                "%s: optimizer has %zu parameters, the head has %zu", path, adam->n,
                                df_head_num_params(m->head));
        if (ts->n_rngs < 0 || ts->n_rngs > DF_CKPT_MAX_RNGS || ts->history.epochs < 0)
            return df_error_set(err, DF_ERR_INVALID_ARG, "%s: bad train state (%d rngs, %d epochs)",
                                path, ts->n_rngs, ts->history.epochs);
    }
    char *tmp = NULL;
    st = df_atomic_temp_path(path, &tmp, err);
    if (st != DF_OK) return st;
    h5_detail d;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* STRONG: H5Fclose really closes (and flushes) even if a handle leaked,
     * so the rename never races a pending write. The HDF5 1.8 file format
     * (superblock v2, object header v2) checksums all metadata, so a
     * corrupted model file is refused by a checksum before libhdf5 parses
     * the damaged structure; readers since HDF5 1.8 (2008) read it. */
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) {
        close_id(fapl);
        st = df_error_set(err, DF_ERR_BACKEND, "%s: HDF5 setup failed: %s", path, h5_last_error(&d));
        goto fail;
    }
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0) h5_last_error(&d);
    H5Pclose(fapl);
    if (f < 0) {
        st = df_error_set(err, DF_ERR_IO, "%s: cannot create HDF5 file: %s", path, d.text);
        goto fail;
    }
    int rc = write_contents(f, m, adam, ts);
    const char *why = rc ? h5_last_error(&d) : NULL;
    if (H5Fclose(f) < 0 && !rc) {
        rc = -1;
        why = h5_last_error(&d);
    }
    if (rc) {
        st = df_error_set(err, DF_ERR_IO, "%s: writing failed (disk full?): %s", path, why);
        goto fail;
    }
    st = df_atomic_rename(tmp, path, err);
    free(tmp);
    return st;
fail:
    unlink(tmp);
    free(tmp);
    return st;
}

df_status df_model_save(const df_model *m, const char *path, df_error *err) {
    return save_file(m, NULL, NULL, path, err);
}

df_status df_model_save_checkpoint(const df_model *m, const df_adam *adam,
                                   const df_train_state *state, const char *path, df_error *err) {
    if (!adam || !state)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: a checkpoint needs optimizer and state",
                            path);
    return save_file(m, adam, state, path, err);
}

/* ------------------------------------------------------------------ */
/* load                                                                */

typedef struct reader {
    const char *path;
    df_error *err;
} reader;

static df_status bad(const reader *r, const char *fmt, ...) DF_PRINTF(2, 3);
static df_status bad(const reader *r, const char *fmt, ...) {
    char msg[DF_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s", r->path, msg);
}

/* Opens attribute name on loc and checks its class and element count
 * (count 1 accepts a scalar or a 1-element array; count < 0 = any, returned
 * in *n). */
static df_status open_attr(const reader *r, hid_t loc, const char *where, const char *name,
                           H5T_class_t cls, long count, hid_t *a_out, hid_t *t_out,
                           hssize_t *n_out) {
    *a_out = *t_out = -1;
    htri_t ex = H5Aexists(loc, name);
    if (ex <= 0) return bad(r, "%s: attribute %s is missing", where, name);
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return bad(r, "%s: attribute %s cannot be opened", where, name);
    hid_t t = H5Aget_type(a);
    hid_t s = H5Aget_space(a);
    H5S_class_t sc = s >= 0 ? H5Sget_simple_extent_type(s) : H5S_NO_CLASS;
    int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    hssize_t n = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    close_id(s);
    if (t < 0 || H5Tget_class(t) != cls) {
        close_id(t);
        H5Aclose(a);
        return bad(r, "%s: attribute %s has the wrong type (expected %s)", where, name,
                   cls == H5T_STRING ? "string" : cls == H5T_INTEGER ? "integer" : "float");
    }
    if (sc == H5S_NULL) n = 0;
    if (n < 0 || nd > 1 || (count >= 0 && n != count)) {
        close_id(t);
        H5Aclose(a);
        return bad(r, "%s: attribute %s has %lld values, expected %ld", where, name, (long long)n,
                   count);
    }
    *a_out = a;
    *t_out = t;
    if (n_out) *n_out = n;
    return DF_OK;
}

static df_status read_int(const reader *r, hid_t loc, const char *where, const char *name,
                          long lo, long hi, int *out) {
    hid_t a, t;
    df_status st = open_attr(r, loc, where, name, H5T_INTEGER, 1, &a, &t, NULL);
    if (st != DF_OK) return st;
    long long v = 0;
    herr_t e = H5Aread(a, H5T_NATIVE_LLONG, &v);
    H5Tclose(t);
    H5Aclose(a);
    if (e < 0) return bad(r, "%s: attribute %s cannot be read", where, name);
    if (v < lo || v > hi)
        return bad(r, "%s: %s is %lld, expected %ld to %ld", where, name, v, lo, hi);
    *out = (int)v;
    return DF_OK;
}

static df_status read_i64(const reader *r, hid_t loc, const char *where, const char *name,
                          int64_t *out) {
    hid_t a, t;
    df_status st = open_attr(r, loc, where, name, H5T_INTEGER, 1, &a, &t, NULL);
    if (st != DF_OK) return st;
    long long v = 0;
    herr_t e = H5Aread(a, H5T_NATIVE_LLONG, &v);
    H5Tclose(t);
    H5Aclose(a);
    if (e < 0) return bad(r, "%s: attribute %s cannot be read", where, name);
    if (v < 0) return bad(r, "%s: %s is %lld, expected >= 0", where, name, v);
    *out = v;
    return DF_OK;
}

static df_status read_u32(const reader *r, hid_t loc, const char *where, const char *name,
                          uint32_t *out) {
    hid_t a, t;
    df_status st = open_attr(r, loc, where, name, H5T_INTEGER, 1, &a, &t, NULL);
    if (st != DF_OK) return st;
    herr_t e = H5Aread(a, H5T_NATIVE_UINT32, out);
    H5Tclose(t);
    H5Aclose(a);
    if (e < 0) return bad(r, "%s: attribute %s cannot be read", where, name);
    return DF_OK;
}

static df_status read_float(const reader *r, hid_t loc, const char *where, const char *name,
                            float *out) {
    hid_t a, t;
    df_status st = open_attr(r, loc, where, name, H5T_FLOAT, 1, &a, &t, NULL);
    if (st != DF_OK) return st;
    float v = 0.0f;
    herr_t e = H5Aread(a, H5T_NATIVE_FLOAT, &v);
    H5Tclose(t);
    H5Aclose(a);
    if (e < 0) return bad(r, "%s: attribute %s cannot be read", where, name);
    if (!isfinite(v)) return bad(r, "%s: %s is not a finite number", where, name);
    *out = v;
    return DF_OK;
}

/* Fixed-length string attribute(s): count < 0 accepts any number up to
 * max_count. *out gets n malloc'ed strings. */
static df_status read_strs(const reader *r, hid_t loc, const char *where, const char *name,
                           long count, long max_count, size_t max_len, char ***out, int *n_out) {
    *out = NULL;
    hid_t a, t;
    hssize_t n;
    df_status st = open_attr(r, loc, where, name, H5T_STRING, count, &a, &t, &n);
    if (st != DF_OK) return st;
    size_t len = H5Tget_size(t);
    int var = H5Tis_variable_str(t) > 0;
    /* libhdf5 does not convert between character sets: read in the file's. */
    int utf8 = H5Tget_cset(t) == H5T_CSET_UTF8;
    H5Tclose(t);
    if (var || len == 0 || len > max_len || n > max_count) {
        H5Aclose(a);
        return bad(r, "%s: attribute %s is not a fixed-length string list of at most %ld x %zu "
                      "bytes",
                   where, name, max_count, max_len);
    }
    char *buf = calloc(n ? (size_t)n : 1, len);
    char **v = calloc(n ? (size_t)n : 1, sizeof(char *));
    hid_t mt = str_type(len, utf8);
    herr_t e = mt < 0 ? -1 : (buf && v && n > 0) ? H5Aread(a, mt, buf) : 0;
    close_id(mt);
    H5Aclose(a);
    if (!buf || !v) {
        free(buf);
        free(v);
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
    }
    if (e < 0) {
        free(buf);
        free(v);
        return bad(r, "%s: attribute %s cannot be read", where, name);
    }
    for (hssize_t i = 0; i < n; i++) {
        const char *s = buf + (size_t)i * len;
        size_t l = strnlen(s, len);
        v[i] = malloc(l + 1);
        if (!v[i]) {
            free_names(v, (int)i);
            free(buf);
            return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
        }
        memcpy(v[i], s, l);
        v[i][l] = '\0';
    }
    free(buf);
    *out = v;
    *n_out = (int)n;
    return DF_OK;
}

static df_status read_str(const reader *r, hid_t loc, const char *where, const char *name,
                          size_t max_len, char **out) {
    char **v;
    int n;
    df_status st = read_strs(r, loc, where, name, 1, 1, max_len, &v, &n);
    if (st != DF_OK) return st;
    *out = v[0];
    free(v);
    return DF_OK;
}

/* Into a fixed char field of size cap. */
static df_status read_str_field(const reader *r, hid_t loc, const char *where, const char *name,
                                char *field, size_t cap) {
    char *s;
    df_status st = read_str(r, loc, where, name, MAX_NAME, &s);
    if (st != DF_OK) return st;
    if (strlen(s) >= cap) {
        free(s);
        return bad(r, "%s: %s is longer than %zu bytes", where, name, cap - 1);
    }
    memcpy(field, s, strlen(s) + 1);
    free(s);
    return DF_OK;
}

static void fmt_dims(char *buf, size_t cap, int rank, const hsize_t *d) {
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %llu" : "%llu", (unsigned long long)d[i]);
    if (k < cap) snprintf(buf + k, cap - k, rank == 1 ? ",)" : ")");
}

/* Reads dataset name (relative to loc) of the given rank and exact dims
 * into out with conversion to mem_type; the file's type class must be
 * cls. why explains where the expected shape came from. */
static df_status read_dset(const reader *r, hid_t loc, const char *shown, const char *name,
                           H5T_class_t cls, hid_t mem_type, int rank, const hsize_t *dims,
                           void *out, const char *why) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return bad(r, "dataset %s is missing", shown);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    hsize_t got[H5S_MAX_RANK];
    int have = nd >= 0 && nd <= H5S_MAX_RANK && H5Sget_simple_extent_dims(s, got, NULL) == nd;
    int shape_ok = have && nd == rank;
    for (int i = 0; shape_ok && i < rank; i++) shape_ok = got[i] == dims[i];
    H5T_class_t tc = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    close_id(t);
    close_id(s);
    df_status st = DF_OK;
    if (tc != cls) {
        st = bad(r, "dataset %s has the wrong element type (expected %s)", shown,
                 cls == H5T_FLOAT ? "float" : "integer");
    } else if (!shape_ok) {
        char e[96], g[96] = "(unreadable)";
        fmt_dims(e, sizeof e, rank, dims);
        if (have) fmt_dims(g, sizeof g, nd, got);
        st = bad(r, "dataset %s has shape %s, expected %s%s%s", shown, g, e, why ? " " : "",
                 why ? why : "");
    } else {
        hsize_t n = 1;
        for (int i = 0; i < rank; i++) n *= dims[i];
        if (n > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
            h5_detail hd;
            st = bad(r, "dataset %s cannot be read: %s", shown, h5_last_error(&hd));
        }
    }
    H5Dclose(d);
    return st;
}

static df_status check_finite(const reader *r, const char *shown, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return bad(r, "dataset %s: value %zu is not finite", shown, i);
    return DF_OK;
}

/* The length of rank-1 dataset name, bounded by max before anything is
 * allocated for it. */
static df_status read_extent1(const reader *r, hid_t loc, const char *shown, const char *name, hsize_t max,
                              hsize_t *n) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return bad(r, "dataset %s is missing", shown);
    hid_t s = H5Dget_space(d);
    hsize_t dims[1] = {0};
    int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    if (nd == 1) H5Sget_simple_extent_dims(s, dims, NULL);
    close_id(s);
    H5Dclose(d);
    if (nd != 1 || dims[0] > max)
        return bad(r, "dataset %s must be one-dimensional with at most %llu values", shown, (unsigned long long)max);
    *n = dims[0];
    return DF_OK;
}

/* "key":"string" from the flat JSON object older files keep their training
 * settings in; a malloc'ed, unescaped copy, or NULL when absent. */
static char *legacy_json_string(const char *json, const char *key) {
    if (!json) return NULL;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (!p) return NULL;
    p += strlen(pat);
    char *out = malloc(strlen(p) + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            if (*p == 'n') out[k++] = '\n';
            else if (*p == 't') out[k++] = '\t';
            else if (*p == 'u' && strlen(p) >= 5) {
                /* Only \u00XX was written (bytes of non-UTF-8 names). */
                char hex[3] = {p[3], p[4], 0};
                out[k++] = (char)strtol(hex, NULL, 16);
                p += 4;
            } else out[k++] = *p;
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
    return out;
}

static void copy_legacy(const char *json, const char *key, char *field, size_t size) {
    char *v = legacy_json_string(json, key);
    if (v) snprintf(field, size, "%s", v);
    free(v);
}

/* Files from before the typed backbone fields (format 0.1) kept them in
 * training_json, and VGG16 pooling showed only in the feature size: filled
 * here once, so every reader of a model sees the typed fields. */
static void fill_legacy_backbone(df_model_meta *mt) {
    mt->backbone_pool = mt->feature_dim == 512 && !strcmp(mt->backbone_kind, "vgg16");
    copy_legacy(mt->training_json, "precision", mt->precision, sizeof mt->precision);
    if (!mt->precision[0]) snprintf(mt->precision, sizeof mt->precision, "auto");
    copy_legacy(mt->training_json, "cut_tensor", mt->cut_tensor, sizeof mt->cut_tensor);
    copy_legacy(mt->training_json, "backbone_weights", mt->backbone_source, sizeof mt->backbone_source);
}

/* Fields added after format version 1 first shipped: absent in older
 * files (see fill_legacy_backbone). */
static df_status load_backbone_desc(const reader *r, hid_t g, df_model_meta *mt) {
    const char *G = "/deepfashion";
    df_status st = DF_OK;
    if (H5Aexists(g, "precision") > 0 &&
        ((st = read_str_field(r, g, G, "backbone_source", mt->backbone_source, sizeof mt->backbone_source)) != DF_OK ||
         (st = read_str_field(r, g, G, "precision", mt->precision, sizeof mt->precision)) != DF_OK ||
         (st = read_int(r, g, G, "backbone_pool", 0, 1, &mt->backbone_pool)) != DF_OK ||
         (st = read_str_field(r, g, G, "cut_tensor", mt->cut_tensor, sizeof mt->cut_tensor)) != DF_OK))
        return st;
    snprintf(mt->pooling, sizeof mt->pooling, "mean");
    if (H5Aexists(g, "pooling") > 0 &&
        (st = read_str_field(r, g, G, "pooling", mt->pooling, sizeof mt->pooling)) != DF_OK)
        return st;
    df_pooling pooling;
    df_error why;
    if (df_pooling_parse(mt->pooling, &pooling, &why) != DF_OK) return bad(r, "%s/pooling: %s", G, why.message);
    if (H5Lexists(g, "backbone_file", H5P_DEFAULT) <= 0) return DF_OK;
    hsize_t n;
    if ((st = read_extent1(r, g, "/deepfashion/backbone_file", "backbone_file", MAX_BACKBONE_FILE, &n)) != DF_OK)
        return st;
    if (!mt->backbone_sha256[0]) return bad(r, "%s: an embedded backbone file needs backbone_sha256", G);
    mt->backbone_file = malloc(n ? (size_t)n : 1);
    if (!mt->backbone_file) return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
    mt->backbone_file_size = (size_t)n;
    hsize_t dims[1] = {n};
    if ((st = read_dset(r, g, "/deepfashion/backbone_file", "backbone_file", H5T_INTEGER, H5T_NATIVE_UINT8, 1, dims,
                        mt->backbone_file, NULL)) != DF_OK)
        return st;
    uint8_t digest[32];
    char hex[65];
    df_sha256(mt->backbone_file, mt->backbone_file_size, digest);
    df_sha256_hex(digest, hex);
    if (strcmp(hex, mt->backbone_sha256) != 0)
        return bad(r, "the embedded backbone file is damaged: SHA-256 %.12s..., the file says %.12s...", hex,
                   mt->backbone_sha256);
    return DF_OK;
}

/* Opens path read-only after checking it is a regular file that starts with
 * the HDF5 signature (we always write the superblock at offset 0). */
static df_status open_h5(const char *path, hid_t *out, df_error *err) {
    *out = -1;
    h5_quiet();
    /* stat before open: opening a FIFO for reading would block. */
    struct stat sb;
    if (stat(path, &sb) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return df_error_set(err, DF_ERR_IO, "%s: not a regular file", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) return df_error_set(err, DF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[9];
    size_t got = fread(sig, 1, 9, fp);
    fclose(fp);
    static const unsigned char H5SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got < 8 || memcmp(sig, H5SIG, 8) != 0)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: not a DeepFashion model file (not HDF5: no signature at byte 0)",
                            path);
    /* We write superblock version 2 (HDF5 1.8 format), whose metadata is
     * checksummed. Older layouts have no checksums, so libhdf5 would parse
     * corrupt structures unchecked, and it is not robust against that: such
     * files are refused before it sees them. */
    if (got < 9)
        return df_error_set(err, DF_ERR_FORMAT, "%s: truncated HDF5 file (%zu bytes)", path, got);
    if (sig[8] != 2 && sig[8] != 3)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: not a DeepFashion model file (HDF5 superblock version %d; model "
                            "files use version 2 or 3, with checksums)",
                            path, (int)sig[8]);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        close_id(fapl);
        return df_error_set(err, DF_ERR_BACKEND, "%s: HDF5 setup failed", path);
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    /* Read the error stack before the next API call clears it. */
    h5_detail d;
    if (f < 0) h5_last_error(&d);
    H5Pclose(fapl);
    if (f < 0)
        return df_error_set(err, DF_ERR_FORMAT, "%s: corrupt or truncated HDF5 file: %s", path,
                            d.text);
    *out = f;
    return DF_OK;
}

/* Reads the model part of an open file. */
/* Reads /deepfashion/trust when present (see write_trust); a file without
 * it loads with no detector and no temperature. */
static df_status read_trust(const reader *r, hid_t g, df_model *m) {
    const char *G = "/deepfashion/trust";
    htri_t has = H5Lexists(g, "trust", H5P_DEFAULT);
    if (has <= 0) return DF_OK;
    hid_t t = H5Gopen2(g, "trust", H5P_DEFAULT);
    if (t < 0) return bad(r, "%s is not a group", G);
    int method = 0, k = 0, n = 0;
    float temp, thr = 0.0f, rate = 0.0f;
    float *buf = NULL;
    int dim = m->meta.feature_dim;
    df_status st = read_float(r, t, G, "temperature", &temp);
    if (st == DF_OK && !(temp == 0.0f || (temp > 0.0f && isfinite(temp))))
        st = bad(r, "%s: temperature %g is not positive", G, (double)temp);
    if (st == DF_OK) st = read_int(r, t, G, "unknown_method", 0, 1 << 16, &method);
    if (st == DF_OK && method) {
        uint32_t stored;
        if ((st = read_int(r, t, G, "unknown_k", 1, 1 << 20, &k)) != DF_OK ||
            (st = read_int(r, t, G, "unknown_rows", 2, 1 << 24, &n)) != DF_OK ||
            (st = read_float(r, t, G, "unknown_threshold", &thr)) != DF_OK ||
            (st = read_float(r, t, G, "unknown_rate", &rate)) != DF_OK ||
            (st = read_u32(r, t, G, "trust_crc32c", &stored)) != DF_OK)
            goto out;
        /* feature_dim, or the channels of features pooled by regions
         * (eval/unknown.h, df_unknown_window_mean) */
        hsize_t md;
        if ((st = read_extent1(r, t, "/deepfashion/trust/unknown_mean", "unknown_mean", (hsize_t)dim, &md)) != DF_OK)
            goto out;
        if (md < 1 || (size_t)m->meta.feature_dim % (size_t)md) {
            st = bad(r, "%s: an unknown detector of %llu features for %d features", G, (unsigned long long)md,
                     m->meta.feature_dim);
            goto out;
        }
        dim = (int)md;
        if ((size_t)n * (size_t)dim > ((size_t)1 << 26)) {
            st = bad(r, "%s: %d reference rows of %d features is more than this build reads", G, n, dim);
            goto out;
        }
        buf = malloc(sizeof(float) * ((size_t)n + 1) * (size_t)dim);
        if (!buf) {
            st = df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory for %s", r->path, G);
            goto out;
        }
        hsize_t d1[1] = {(hsize_t)dim}, d2[2] = {(hsize_t)n, (hsize_t)dim};
        st = read_dset(r, t, "/deepfashion/trust/unknown_mean", "unknown_mean", H5T_FLOAT, H5T_NATIVE_FLOAT,
                       1, d1, buf, "(feature_dim)");
        if (st == DF_OK)
            st = read_dset(r, t, "/deepfashion/trust/unknown_ref", "unknown_ref", H5T_FLOAT,
                           H5T_NATIVE_FLOAT, 2, d2, buf + dim, "(unknown_rows, feature_dim)");
        if (st == DF_OK) st = check_finite(r, "/deepfashion/trust/unknown_ref", buf, ((size_t)n + 1) * dim);
        if (st != DF_OK) goto out;
        df_error e2;
        if (df_unknown_from_parts(method, k, n, dim, buf, buf + dim, thr, rate, &m->unknown, &e2) != DF_OK) {
            st = bad(r, "%s: %s", G, e2.message);
            goto out;
        }
        if (trust_crc(m->unknown) != stored) {
            st = bad(r, "%s: unknown detector is damaged: CRC-32C %08x, the file says %08x", G,
                     trust_crc(m->unknown), stored);
            goto out;
        }
    }
    m->temperature = temp;
out:
    free(buf);
    H5Gclose(t);
    return st;
}

/* /deepfashion's format version and file kind. */
static df_status read_version(const reader *r, hid_t g) {
    const char *G = "/deepfashion";
    int version;
    df_status st = read_int(r, g, G, "format_version", 0, INT32_MAX, &version);
    if (st != DF_OK) return st;
    if (version != DF_MODEL_FORMAT_VERSION)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED, "%s: model format version %d; this build reads version %d",
                            r->path, version, DF_MODEL_FORMAT_VERSION);
    char *file_kind = NULL;
    if ((st = read_str(r, g, G, "file_kind", 64, &file_kind)) != DF_OK) return st;
    int kind_ok = strcmp(file_kind, "model") == 0 || strcmp(file_kind, "checkpoint") == 0;
    free(file_kind);
    return kind_ok ? DF_OK : bad(r, "%s: file_kind is neither model nor checkpoint", G);
}

/* Class names (checked: non-empty, distinct) into mt. */
static df_status read_classes(const reader *r, hid_t g, df_model_meta *mt) {
    const char *G = "/deepfashion";
    int nc, n_names = 0;
    char **names = NULL;
    df_status st = read_int(r, g, G, "num_classes", 2, MAX_CLASSES, &nc);
    if (st == DF_OK) st = read_strs(r, g, G, "class_names", -1, MAX_CLASSES, MAX_NAME, &names, &n_names);
    if (st == DF_OK && n_names != nc) st = bad(r, "%s: %d class names but num_classes is %d", G, n_names, nc);
    df_error e2;
    if (st == DF_OK && check_class_names((const char *const *)names, nc, G, &e2) != DF_OK)
        st = bad(r, "%s", e2.message);
    if (st != DF_OK) {
        free_names(names, n_names);
        return st;
    }
    mt->num_classes = nc;
    mt->class_names = names;
    return DF_OK;
}

/* Which backbone, how its input is made, and its typed description. */
static df_status read_backbone_fields(const reader *r, hid_t g, df_model_meta *mt) {
    const char *G = "/deepfashion";
    df_status st;
    if ((st = read_str_field(r, g, G, "backbone_kind", mt->backbone_kind, sizeof mt->backbone_kind)) != DF_OK ||
        (st = read_str_field(r, g, G, "backbone_name", mt->backbone_name, sizeof mt->backbone_name)) != DF_OK ||
        (st = read_str_field(r, g, G, "backbone_sha256", mt->backbone_sha256, sizeof mt->backbone_sha256)) != DF_OK ||
        (st = read_str_field(r, g, G, "preprocess", mt->preprocess, sizeof mt->preprocess)) != DF_OK ||
        (st = read_str_field(r, g, G, "resize_method", mt->resize_method, sizeof mt->resize_method)) != DF_OK)
        return st;
    size_t shalen = strlen(mt->backbone_sha256);
    if (shalen != 0 && (shalen != 64 || strspn(mt->backbone_sha256, "0123456789abcdef") != 64))
        return bad(r, "%s: backbone_sha256 is not 64 lowercase hex digits", G);
    hid_t a, t;
    if ((st = open_attr(r, g, G, "input_size", H5T_INTEGER, 2, &a, &t, NULL)) != DF_OK) return st;
    int is[2] = {0, 0};
    herr_t e = H5Aread(a, H5T_NATIVE_INT, is);
    H5Tclose(t);
    H5Aclose(a);
    if (e < 0 || is[0] < 0 || is[1] < 0 || is[0] > MAX_INPUT_SIDE || is[1] > MAX_INPUT_SIDE)
        return bad(r, "%s: input_size must be two sizes in [0, %d]", G, MAX_INPUT_SIDE);
    mt->input_h = is[0];
    mt->input_w = is[1];
    return DF_OK;
}

static df_status read_head_config(const reader *r, hid_t g, df_head_config *cfg) {
    const char *G = "/deepfashion";
    char *kind_s = NULL;
    *cfg = df_head_config_default();
    df_status st = read_str(r, g, G, "head_kind", 64, &kind_s);
    if (st == DF_OK && df_head_kind_parse(kind_s, &cfg->kind, NULL) != DF_OK)
        st = bad(r, "%s: head_kind '%s' is neither mlp nor linear", G, kind_s);
    free(kind_s);
    if (st != DF_OK || (st = read_int(r, g, G, "head_units", 0, 1 << 16, &cfg->units)) != DF_OK ||
        (st = read_int(r, g, G, "head_batchnorm", 0, 1, &cfg->batchnorm)) != DF_OK ||
        (st = read_int(r, g, G, "head_max_batch", 1, 1 << 16, &cfg->max_batch)) != DF_OK ||
        (st = read_float(r, g, G, "head_dropout", &cfg->dropout)) != DF_OK ||
        (st = read_float(r, g, G, "head_l2", &cfg->l2)) != DF_OK ||
        (st = read_float(r, g, G, "bn_momentum", &cfg->bn_momentum)) != DF_OK ||
        (st = read_float(r, g, G, "bn_eps", &cfg->bn_eps)) != DF_OK)
        return st;
    return DF_OK;
}

/* One Keras layer group: its weight_names in order and each dataset with
 * the head's shape, finite. */
static df_status read_layer(const reader *r, hid_t f, const char *layer, const df_head_tensor *t, int nt,
                            const char *why) {
    hid_t lg = H5Gopen2(f, layer, H5P_DEFAULT);
    if (lg < 0) return bad(r, "layer group /%s is missing", layer);
    char where[64];
    snprintf(where, sizeof where, "/%s", layer);
    char **wn = NULL;
    int nw = 0, k = 0;
    df_status st = read_strs(r, lg, where, "weight_names", -1, DF_HEAD_MAX_TENSORS, 256, &wn, &nw);
    for (int i = 0; st == DF_OK && i < nt; i++) {
        if (strcmp(t[i].layer, layer) != 0) continue;
        if (k >= nw || strcmp(wn[k], t[i].weight) != 0)
            st = bad(r, "%s: weight_names entry %d should be %s", where, k, t[i].weight);
        k++;
    }
    if (st == DF_OK && k != nw) st = bad(r, "%s: %d weight_names, expected %d", where, nw, k);
    free_names(wn, nw);
    for (int i = 0; st == DF_OK && i < nt; i++) {
        if (strcmp(t[i].layer, layer) != 0) continue;
        char shown[160];
        snprintf(shown, sizeof shown, "/%s/%s", t[i].layer, t[i].weight);
        hsize_t dims[2] = {(hsize_t)t[i].shape[0], (hsize_t)t[i].shape[1]};
        st = read_dset(r, lg, shown, t[i].weight, H5T_FLOAT, H5T_NATIVE_FLOAT, t[i].rank, dims, t[i].data, why);
        size_t cnt = (size_t)t[i].shape[0] * (size_t)(t[i].rank == 2 ? t[i].shape[1] : 1);
        if (st == DF_OK) st = check_finite(r, shown, t[i].data, cnt);
    }
    H5Gclose(lg);
    return st;
}

/* The head's weights in the Keras structure: layer_names, then per layer. */
static df_status read_head_weights(const reader *r, hid_t f, df_head *head, int nc) {
    const df_head_config *cfg = df_head_get_config(head);
    const char *want_layers[8];
    char **layer_names = NULL;
    int n_layers = 0, nwl = df_head_layer_names(head, want_layers);
    df_status st = read_strs(r, f, "/", "layer_names", -1, 64, 256, &layer_names, &n_layers);
    if (st != DF_OK) return st;
    int same = n_layers == nwl;
    for (int i = 0; same && i < nwl; i++) same = strcmp(layer_names[i], want_layers[i]) == 0;
    free_names(layer_names, n_layers);
    if (!same)
        return bad(r, "layer_names do not match a %s head (expected %d layers starting '%s')",
                   df_head_kind_name(cfg->kind), nwl, want_layers[0]);
    df_head_tensor t[DF_HEAD_MAX_TENSORS];
    int nt = df_head_tensors(head, t);
    char why[160];
    snprintf(why, sizeof why, "(feature_dim %d, head_units %d, num_classes %d)", df_head_in_dim(head), cfg->units,
             nc);
    for (int l = 0; st == DF_OK && l < nwl; l++) st = read_layer(r, f, want_layers[l], t, nt, why);
    float *mv = df_head_bn_moving_var(head);
    for (int j = 0; st == DF_OK && mv && j < cfg->units; j++)
        if (!(mv[j] >= 0.0f)) st = bad(r, "batch_normalization/moving_variance:0: value %d is negative", j);
    return st;
}

static df_status read_standardisation(const reader *r, hid_t g, df_head *head) {
    const char *G = "/deepfashion";
    htri_t hm = H5Lexists(g, "standardisation_mean", H5P_DEFAULT);
    htri_t hs = H5Lexists(g, "standardisation_std", H5P_DEFAULT);
    if ((hm > 0) != (hs > 0)) return bad(r, "%s: standardisation_mean and standardisation_std must both be present", G);
    if (hm <= 0) return DF_OK;
    const int n = df_head_in_dim(head);
    float *buf = malloc(sizeof(float) * 2 * (size_t)n);
    if (!buf) return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
    hsize_t dims[1] = {(hsize_t)n};
    df_status st = read_dset(r, g, "/deepfashion/standardisation_mean", "standardisation_mean", H5T_FLOAT,
                             H5T_NATIVE_FLOAT, 1, dims, buf, "(feature_dim)");
    if (st == DF_OK)
        st = read_dset(r, g, "/deepfashion/standardisation_std", "standardisation_std", H5T_FLOAT, H5T_NATIVE_FLOAT,
                       1, dims, buf + n, "(feature_dim)");
    df_error e2;
    if (st == DF_OK && df_head_set_standardisation(head, buf, buf + n, &e2) != DF_OK)
        st = bad(r, "%s: %s", G, e2.message);
    free(buf);
    return st;
}

static df_status load_model(const reader *r, hid_t f, df_model **out) {
    *out = NULL;
    const char *G = "/deepfashion";
    if (H5Lexists(f, "deepfashion", H5P_DEFAULT) <= 0)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: not a DeepFashion model file (HDF5 without a /deepfashion group)",
                            r->path);
    hid_t g = H5Gopen2(f, "deepfashion", H5P_DEFAULT);
    if (g < 0) return bad(r, "/deepfashion is not a group");
    df_model *m = model_alloc();
    if (!m) {
        H5Gclose(g);
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
    }
    df_model_meta *mt = &m->meta;
    df_head_config cfg;
    int feature_dim = 0;
    df_status st;
    if ((st = read_version(r, g)) != DF_OK || (st = read_classes(r, g, mt)) != DF_OK ||
        (st = read_backbone_fields(r, g, mt)) != DF_OK ||
        (st = read_int(r, g, G, "feature_dim", 1, 1 << 24, &feature_dim)) != DF_OK ||
        (st = read_head_config(r, g, &cfg)) != DF_OK ||
        (st = read_str(r, g, G, "training_json", MAX_JSON, &mt->training_json)) != DF_OK)
        goto fail;
    if (!mt->training_json[0]) {
        free(mt->training_json);
        mt->training_json = NULL;
    }
    if ((st = load_backbone_desc(r, g, mt)) != DF_OK) goto fail;
    df_error e2;
    st = df_head_create(&cfg, feature_dim, mt->num_classes, 0, &m->head, &e2);
    if (st == DF_ERR_NOMEM) st = df_error_set(r->err, st, "%s: %s", r->path, e2.message);
    else if (st != DF_OK) st = bad(r, "%s: %s", G, e2.message);
    if (st != DF_OK) goto fail;
    mt->feature_dim = feature_dim;
    if (!mt->precision[0]) fill_legacy_backbone(mt);
    if ((st = read_head_weights(r, f, m->head, mt->num_classes)) != DF_OK ||
        (st = read_standardisation(r, g, m->head)) != DF_OK)
        goto fail;
    uint32_t stored, computed = weights_crc(m->head);
    if ((st = read_u32(r, g, G, "weights_crc32c", &stored)) != DF_OK) goto fail;
    if (stored != computed) {
        st = bad(r, "weights are damaged: CRC-32C %08x, the file says %08x", computed, stored);
        goto fail;
    }
    if ((st = read_trust(r, g, m)) != DF_OK) goto fail;
    H5Gclose(g);
    *out = m;
    return DF_OK;
fail:
    df_model_destroy(m);
    H5Gclose(g);
    return st;
}

static df_status load_unguarded(const char *path, df_model **out, df_error *err) {
    *out = NULL;
    hid_t f;
    df_status st = open_h5(path, &f, err);
    if (st != DF_OK) return st;
    reader r = {path, err};
    st = load_model(&r, f, out);
    H5Fclose(f);
    return st;
}

static df_status model_probe(const char *path, df_error *err) {
    df_model *m;
    df_status st = load_unguarded(path, &m, err);
    df_model_destroy(m);
    return st;
}

/* libhdf5 is probed in a child first (formats/h5_guard.h): checksums stop
 * accidental damage, not a crafted file. */
df_status df_model_load(const char *path, df_model **out, df_error *err) {
    *out = NULL;
    df_status st = df_h5_guarded_probe(path, "model file", model_probe, 10, err);
    if (st != DF_OK) return st;
    return load_unguarded(path, out, err);
}

/* Early stopping's best weights, when the checkpoint has them. */
static df_status read_best_weights(const reader *r, hid_t c, hsize_t max, df_train_state *ts) {
    if (H5Lexists(c, "best_weights", H5P_DEFAULT) <= 0) return DF_OK;
    const char *shown = "/deepfashion/checkpoint/best_weights";
    hsize_t nb;
    uint32_t stored;
    df_status st = read_extent1(r, c, shown, "best_weights", max, &nb);
    if (st != DF_OK) return st;
    if (!(ts->best = malloc(sizeof(float) * (size_t)(nb ? nb : 1))))
        return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
    ts->n_best = (size_t)nb;
    hsize_t bd[1] = {nb};
    if ((st = read_dset(r, c, shown, "best_weights", H5T_FLOAT, H5T_NATIVE_FLOAT, 1, bd, ts->best, NULL)) != DF_OK ||
        (st = check_finite(r, shown, ts->best, ts->n_best)) != DF_OK ||
        (st = read_u32(r, c, "/deepfashion/checkpoint", "best_crc32c", &stored)) != DF_OK)
        return st;
    if (stored != df_crc32c(0, ts->best, ts->n_best * sizeof(float))) return bad(r, "%s is damaged (CRC-32C)", shown);
    return DF_OK;
}

static df_status load_checkpoint_part(const reader *r, hid_t f, const df_model *m,
                                      df_adam **adam_out, df_train_state *ts) {
    const char *G = "/deepfashion/checkpoint";
    htri_t has = H5Lexists(f, "deepfashion/checkpoint", H5P_DEFAULT);
    if (has <= 0)
        return df_error_set(r->err, DF_ERR_FORMAT,
                            "%s: a model file, not a checkpoint (no %s group); a checkpoint is "
                            "written while training",
                            r->path, G);
    hid_t c = H5Gopen2(f, "deepfashion/checkpoint", H5P_DEFAULT);
    if (c < 0) return bad(r, "%s is not a group", G);
    df_status st;
    df_adam *adam = NULL;
    df_adam_config ac = df_adam_config_default();
    int64_t t = 0;
    float *hist = NULL;
    uint64_t rngs[2 * DF_CKPT_MAX_RNGS];
    if ((st = read_i64(r, c, G, "adam_t", &t)) != DF_OK ||
        (st = read_float(r, c, G, "adam_lr", &ac.lr)) != DF_OK ||
        (st = read_float(r, c, G, "adam_beta1", &ac.beta1)) != DF_OK ||
        (st = read_float(r, c, G, "adam_beta2", &ac.beta2)) != DF_OK ||
        (st = read_float(r, c, G, "adam_eps", &ac.eps)) != DF_OK ||
        (st = read_float(r, c, G, "adam_weight_decay", &ac.weight_decay)) != DF_OK ||
        (st = read_int(r, c, G, "epoch", 0, MAX_EPOCHS, &ts->epoch)) != DF_OK ||
        (st = read_i64(r, c, G, "step", &ts->step)) != DF_OK ||
        (st = read_str(r, c, G, "state_json", MAX_JSON, &ts->state_json)) != DF_OK)
        goto fail;
    if (!ts->state_json[0]) {
        free(ts->state_json);
        ts->state_json = NULL;
    }
    size_t np = df_head_num_params(m->head);
    {
        df_error e2;
        st = df_adam_create(&ac, np, &adam, &e2);
        if (st == DF_ERR_NOMEM) {
            st = df_error_set(r->err, st, "%s: %s", r->path, e2.message);
            goto fail;
        }
        if (st != DF_OK) {
            st = bad(r, "%s: %s", G, e2.message);
            goto fail;
        }
    }
    adam->t = t;
    hsize_t pd[1] = {(hsize_t)np};
    if ((st = read_dset(r, c, "/deepfashion/checkpoint/adam_m", "adam_m", H5T_FLOAT,
                        H5T_NATIVE_FLOAT, 1, pd, adam->m, "(the head's parameter count)")) != DF_OK ||
        (st = read_dset(r, c, "/deepfashion/checkpoint/adam_v", "adam_v", H5T_FLOAT,
                        H5T_NATIVE_FLOAT, 1, pd, adam->v, "(the head's parameter count)")) != DF_OK ||
        (st = check_finite(r, "/deepfashion/checkpoint/adam_m", adam->m, np)) != DF_OK ||
        (st = check_finite(r, "/deepfashion/checkpoint/adam_v", adam->v, np)) != DF_OK)
        goto fail;
    for (size_t i = 0; i < np; i++)
        if (adam->v[i] < 0.0f) {
            st = bad(r, "dataset %s/adam_v: value %zu is negative", G, i);
            goto fail;
        }

    /* Row counts come from the file: read the extent first, bound it, then
     * read with exact dims. */
    const char *dsn[2] = {"rng_state", "history"};
    hsize_t rows[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        hid_t d = H5Dopen2(c, dsn[k], H5P_DEFAULT);
        if (d < 0) {
            st = bad(r, "dataset %s/%s is missing", G, dsn[k]);
            goto fail;
        }
        hid_t s = H5Dget_space(d);
        hsize_t dims[2] = {0, 0};
        int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
        if (nd == 2) H5Sget_simple_extent_dims(s, dims, NULL);
        close_id(s);
        H5Dclose(d);
        hsize_t maxrows = k == 0 ? DF_CKPT_MAX_RNGS : MAX_EPOCHS;
        if (nd != 2 || dims[0] > maxrows || dims[1] != (k == 0 ? 2u : 5u)) {
            st = bad(r, "dataset %s/%s must be (n <= %llu, %d)", G, dsn[k],
                     (unsigned long long)maxrows, k == 0 ? 2 : 5);
            goto fail;
        }
        rows[k] = dims[0];
    }
    hsize_t rd[2] = {rows[0], 2};
    if ((st = read_dset(r, c, "/deepfashion/checkpoint/rng_state", "rng_state", H5T_INTEGER,
                        H5T_NATIVE_UINT64, 2, rd, rngs, NULL)) != DF_OK)
        goto fail;
    ts->n_rngs = (int)rows[0];
    for (int i = 0; i < ts->n_rngs; i++) {
        ts->rngs[i].state = rngs[2 * i];
        ts->rngs[i].inc = rngs[2 * i + 1];
        if (!(ts->rngs[i].inc & 1u)) {
            st = bad(r, "dataset %s/rng_state: stream %d has an even increment", G, i);
            goto fail;
        }
    }
    int epochs = (int)rows[1];
    hist = malloc(sizeof(float) * 5 * (size_t)(epochs ? epochs : 1));
    if (!hist) {
        st = df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->path);
        goto fail;
    }
    hsize_t hd[2] = {rows[1], 5};
    if ((st = read_dset(r, c, "/deepfashion/checkpoint/history", "history", H5T_FLOAT,
                        H5T_NATIVE_FLOAT, 2, hd, hist, NULL)) != DF_OK)
        goto fail;
    {
        uint32_t stored, computed = state_crc(adam, rngs, ts->n_rngs, hist, epochs);
        if ((st = read_u32(r, c, G, "state_crc32c", &stored)) != DF_OK) goto fail;
        if (stored != computed) {
            st = bad(r, "training state is damaged: CRC-32C %08x, the file says %08x", computed,
                     stored);
            goto fail;
        }
    }
    if ((st = read_best_weights(r, c, 2 * (hsize_t)np, ts)) != DF_OK) goto fail;
    for (int e = 0; e < epochs; e++) {
        const float *row = hist + 5 * (size_t)e;
        if ((st = df_history_append(&ts->history, row[0], row[1], row[2], row[3], row[4],
                                    r->err)) != DF_OK)
            goto fail;
    }
    free(hist);
    H5Gclose(c);
    *adam_out = adam;
    return DF_OK;
fail:
    free(hist);
    df_adam_destroy(adam);
    H5Gclose(c);
    return st;
}

static df_status checkpoint_unguarded(const char *path, df_model **model, df_adam **adam,
                                      df_train_state *state, df_error *err);

static df_status checkpoint_probe(const char *path, df_error *err) {
    df_model *m;
    df_adam *a;
    df_train_state s;
    df_status st = checkpoint_unguarded(path, &m, &a, &s, err);
    df_model_destroy(m);
    df_adam_destroy(a);
    df_train_state_free(&s);
    return st;
}

df_status df_model_load_checkpoint(const char *path, df_model **model, df_adam **adam,
                                   df_train_state *state, df_error *err) {
    *model = NULL;
    *adam = NULL;
    memset(state, 0, sizeof *state);
    df_status st = df_h5_guarded_probe(path, "checkpoint", checkpoint_probe, 10, err);
    if (st != DF_OK) return st;
    return checkpoint_unguarded(path, model, adam, state, err);
}

static df_status checkpoint_unguarded(const char *path, df_model **model, df_adam **adam,
                                      df_train_state *state, df_error *err) {
    *model = NULL;
    *adam = NULL;
    memset(state, 0, sizeof *state);
    hid_t f;
    df_status st = open_h5(path, &f, err);
    if (st != DF_OK) return st;
    reader r = {path, err};
    st = load_model(&r, f, model);
    if (st == DF_OK) st = load_checkpoint_part(&r, f, *model, adam, state);
    H5Fclose(f);
    if (st != DF_OK) {
        df_model_destroy(*model);
        *model = NULL;
        df_train_state_free(state);
    }
    return st;
}
