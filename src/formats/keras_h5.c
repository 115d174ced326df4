/*
 * Keras HDF5 weight files over libhdf5 (see keras_h5.h). Mirrors Keras'
 * hdf5_format.load_weights_from_hdf5_group: layer_names in order, each
 * layer's weight_names, datasets looked up by those names in the layer's
 * group. HDF5's own error printing is switched off (the library never
 * prints); the innermost HDF5 error description goes into our message.
 * Does not write files (tests have their own writer).
 */
#include "formats/keras_h5.h"
#include "formats/h5_guard.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

/* Caps on what a header may claim before we allocate for it. */
#define MAX_NAMES 100000
#define MAX_NAME_BYTES 65536

typedef struct wlayer {
    char *name;
    hid_t group;
    int n;
    char **wnames;
} wlayer;

struct df_keras_h5 {
    char *path;
    hid_t file, root;
    int n_layers;
    wlayer *w;
    int n_w;
};

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *ctx) {
    if (n == 0 && e->desc) snprintf((char *)ctx, 200, "%s", e->desc);
    return 0;
}

/* The most specific message on HDF5's error stack, then clears it. */
static const char *h5_reason(char buf[200]) {
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf[0] ? buf : "no detail from HDF5";
}

static void free_strings(char **s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

/* Reads a 1-D string attribute (fixed or variable length). An empty
 * attribute of any type (Keras writes [] as a float64 array) is 0 strings. */
static df_status read_names(const df_keras_h5 *f, hid_t obj, const char *where, const char *attr, char ***out,
                            int *count, df_error *err) {
    df_status status = DF_OK;
    char why[200];
    hid_t a = -1, space = -1, type = -1, mem = -1;
    char **names = NULL, **vbuf = NULL;
    char *fbuf = NULL;
    int n = 0;
    *out = NULL;
    *count = 0;
    htri_t has = H5Aexists(obj, attr);
    if (has <= 0) {
        h5_reason(why);
        return df_error_set(err, DF_ERR_FORMAT, "%s: %s has no '%s' attribute (not a Keras weights file?)", f->path,
                            where, attr);
    }
    a = H5Aopen(obj, attr, H5P_DEFAULT);
    if (a < 0 || (space = H5Aget_space(a)) < 0 || (type = H5Aget_type(a)) < 0) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: cannot open attribute '%s' (%s)", f->path, where, attr,
                              h5_reason(why));
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    if (sc == H5S_NULL) {
        n = 0;
    } else if (sc == H5S_SCALAR) {
        n = 1;
    } else {
        int rank = H5Sget_simple_extent_ndims(space);
        hsize_t dims[1] = {0};
        if (rank != 1 || H5Sget_simple_extent_dims(space, dims, NULL) != 1 || dims[0] > MAX_NAMES) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: attribute '%s' is not a list of at most %d names",
                                  f->path, where, attr, MAX_NAMES);
            goto done;
        }
        n = (int)dims[0];
    }
    if (n == 0) goto done;
    if (H5Tget_class(type) != H5T_STRING) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: attribute '%s' holds %d non-string values", f->path, where,
                              attr, n);
        goto done;
    }
    names = calloc((size_t)n, sizeof *names);
    mem = H5Tcopy(H5T_C_S1);
    if (!names || mem < 0) {
        status = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory reading '%s'", f->path, attr);
        goto done;
    }
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Tis_variable_str(type) > 0) {
        vbuf = calloc((size_t)n, sizeof *vbuf);
        if (!vbuf || H5Tset_size(mem, H5T_VARIABLE) < 0 || H5Aread(a, mem, vbuf) < 0) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: cannot read attribute '%s' (%s)", f->path, where, attr,
                                  h5_reason(why));
            free(vbuf);
            vbuf = NULL;
            goto done;
        }
        for (int i = 0; i < n; i++) {
            const char *s = vbuf[i] ? vbuf[i] : "";
            names[i] = strlen(s) < MAX_NAME_BYTES ? strdup(s) : NULL;
        }
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, vbuf);
        free(vbuf);
        vbuf = NULL;
    } else {
        size_t size = H5Tget_size(type);
        if (size == 0 || size > MAX_NAME_BYTES) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: attribute '%s' has %zu-byte strings", f->path, where,
                                  attr, size);
            goto done;
        }
        fbuf = malloc((size_t)n * size);
        if (!fbuf || H5Tset_size(mem, size) < 0 || H5Tset_strpad(mem, H5T_STR_NULLPAD) < 0 ||
            H5Aread(a, mem, fbuf) < 0) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: cannot read attribute '%s' (%s)", f->path, where, attr,
                                  h5_reason(why));
            goto done;
        }
        for (int i = 0; i < n; i++) names[i] = strndup(fbuf + (size_t)i * size, size);
    }
    for (int i = 0; i < n; i++)
        if (!names[i]) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: %s: name %d in '%s' is unreadable or too long", f->path,
                                  where, i, attr);
            goto done;
        }
    *out = names;
    names = NULL;
done:
    if (!status) *count = n;
    free_strings(names, n);
    free(fbuf);
    if (mem >= 0) H5Tclose(mem);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (a >= 0) H5Aclose(a);
    return status;
}

void df_keras_h5_close(df_keras_h5 *f) {
    if (!f) return;
    for (int i = 0; i < f->n_w; i++) {
        free(f->w[i].name);
        free_strings(f->w[i].wnames, f->w[i].n);
        if (f->w[i].group >= 0) H5Gclose(f->w[i].group);
    }
    free(f->w);
    if (f->root >= 0) H5Gclose(f->root);
    if (f->file >= 0) H5Fclose(f->file);
    free(f->path);
    free(f);
}

static df_status keras_open_unguarded(const char *path, df_keras_h5 **out, df_error *err);

/* Everything the loaders read from the metadata: names, weight names, shapes. */
static df_status keras_probe(const char *path, df_error *err) {
    df_keras_h5 *f;
    df_status st = keras_open_unguarded(path, &f, err);
    for (int i = 0; st == DF_OK && i < f->n_w; i++)
        for (int j = 0; st == DF_OK && j < f->w[i].n; j++) {
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            st = df_keras_h5_weight_shape(f, i, j, &rank, dims, err);
        }
    if (f) df_keras_h5_close(f);
    return st;
}

df_status df_keras_h5_open(const char *path, df_keras_h5 **out, df_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot open weights file (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return df_error_set(err, DF_ERR_IO, "%s: weights file is not a regular file", path);
    df_status st = df_h5_guarded_probe(path, "weights file", keras_probe, 10, err);
    if (st != DF_OK) return st;
    return keras_open_unguarded(path, out, err);
}

static df_status keras_open_unguarded(const char *path, df_keras_h5 **out, df_error *err) {
    df_status status = DF_OK;
    char why[200];
    char **layer_names = NULL;
    int n_names = 0;
    hid_t g = -1;
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    struct stat sb;
    if (stat(path, &sb) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot open weights file (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return df_error_set(err, DF_ERR_IO, "%s: weights file is not a regular file", path);

    df_keras_h5 *f = calloc(1, sizeof *f);
    if (!f) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    f->file = f->root = -1;
    f->path = strdup(path);
    if (!f->path) {
        status = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        h5_reason(why);
        status = df_error_set(err, DF_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
        goto fail;
    }
    f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: HDF5 cannot open it, truncated or damaged? (%s)", path,
                              h5_reason(why));
        goto fail;
    }
    f->root = H5Gopen2(f->file, "/", H5P_DEFAULT);
    if (f->root < 0) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: cannot open the root group (%s)", path, h5_reason(why));
        goto fail;
    }
    /* A whole-model file (model.save) keeps the weights under /model_weights. */
    if (H5Aexists(f->root, "layer_names") <= 0 && H5Lexists(f->root, "model_weights", H5P_DEFAULT) > 0) {
        hid_t mw = H5Gopen2(f->root, "model_weights", H5P_DEFAULT);
        if (mw >= 0) {
            H5Gclose(f->root);
            f->root = mw;
        }
    }
    H5Eclear2(H5E_DEFAULT);
    status = read_names(f, f->root, "the root group", "layer_names", &layer_names, &n_names, err);
    if (status) goto fail;
    f->n_layers = n_names;
    f->w = calloc((size_t)(n_names ? n_names : 1), sizeof *f->w);
    if (!f->w) {
        status = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < n_names; i++) {
        const char *name = layer_names[i];
        char where[300];
        snprintf(where, sizeof where, "layer '%s'", name);
        if (!name[0] || H5Lexists(f->root, name, H5P_DEFAULT) <= 0 ||
            (g = H5Gopen2(f->root, name, H5P_DEFAULT)) < 0) {
            h5_reason(why);
            status = df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s' (%d of %d in layer_names) has no group", path,
                                  name, i + 1, n_names);
            goto fail;
        }
        char **wn = NULL;
        int nw = 0;
        status = read_names(f, g, where, "weight_names", &wn, &nw, err);
        if (status) goto fail;
        if (nw == 0) {
            H5Gclose(g);
            g = -1;
            continue;
        }
        wlayer *w = &f->w[f->n_w++];
        w->group = g;
        g = -1;
        w->n = nw;
        w->wnames = wn;
        w->name = strdup(name);
        if (!w->name) {
            status = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    free_strings(layer_names, n_names);
    *out = f;
    return DF_OK;
fail:
    if (g >= 0) H5Gclose(g);
    free_strings(layer_names, n_names);
    df_keras_h5_close(f);
    return status;
}

const char *df_keras_h5_path(const df_keras_h5 *f) { return f->path; }
int df_keras_h5_layer_count(const df_keras_h5 *f) { return f->n_layers; }
int df_keras_h5_weighted_count(const df_keras_h5 *f) { return f->n_w; }
const char *df_keras_h5_weighted_name(const df_keras_h5 *f, int i) { return f->w[i].name; }
int df_keras_h5_weight_count(const df_keras_h5 *f, int i) { return f->w[i].n; }
const char *df_keras_h5_weight_name(const df_keras_h5 *f, int i, int j) { return f->w[i].wnames[j]; }

void df_keras_h5_format_shape(int rank, const size_t *dims, char *buf, size_t size) {
    size_t n = 0;
    if (!size) return;
    buf[0] = '\0';
    n += (size_t)snprintf(buf, size, "(");
    for (int k = 0; k < rank && n < size; k++)
        n += (size_t)snprintf(buf + n, size - n, "%s%zu", k ? ", " : "", dims[k]);
    if (rank == 1 && n < size) n += (size_t)snprintf(buf + n, size - n, ",");
    if (n < size) snprintf(buf + n, size - n, ")");
}

/* Opens weight j of weighted layer i; fills its shape. */
static df_status open_weight(df_keras_h5 *f, int i, int j, hid_t *ds, int *rank, size_t *dims, df_error *err) {
    char why[200];
    const wlayer *w = &f->w[i];
    const char *wn = w->wnames[j];
    *ds = H5Dopen2(w->group, wn, H5P_DEFAULT);
    if (*ds < 0)
        return df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': weight '%s' is missing (%s)", f->path, w->name, wn,
                            h5_reason(why));
    df_status status = DF_OK;
    hid_t space = H5Dget_space(*ds), type = H5Dget_type(*ds);
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t hd[DF_KERAS_H5_MAX_RANK];
    if (r < 0 || r > DF_KERAS_H5_MAX_RANK || H5Sget_simple_extent_dims(space, hd, NULL) != r) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': weight '%s' has an unreadable shape", f->path,
                              w->name, wn);
    } else if (type < 0 || H5Tget_class(type) != H5T_FLOAT) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': weight '%s' is not floating point", f->path,
                              w->name, wn);
    } else {
        *rank = r;
        for (int k = 0; k < r; k++) dims[k] = (size_t)hd[k];
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (status) {
        H5Dclose(*ds);
        *ds = -1;
    }
    return status;
}

df_status df_keras_h5_weight_shape(df_keras_h5 *f, int i, int j, int *rank, size_t dims[DF_KERAS_H5_MAX_RANK],
                                   df_error *err) {
    hid_t ds;
    df_status st = open_weight(f, i, j, &ds, rank, dims, err);
    if (st) return st;
    H5Dclose(ds);
    return DF_OK;
}

df_status df_keras_h5_read(df_keras_h5 *f, int i, int j, int rank, const size_t *dims, float *out, df_error *err) {
    char why[200];
    hid_t ds;
    int r;
    size_t d[DF_KERAS_H5_MAX_RANK];
    const wlayer *w = &f->w[i];
    df_status status = open_weight(f, i, j, &ds, &r, d, err);
    if (status) return status;
    int same = r == rank;
    for (int k = 0; same && k < r; k++) same = d[k] == dims[k];
    if (!same) {
        char want[128], found[128];
        df_keras_h5_format_shape(rank, dims, want, sizeof want);
        df_keras_h5_format_shape(r, d, found, sizeof found);
        status = df_error_set(err, DF_ERR_SHAPE, "%s: layer '%s': weight '%s' has shape %s, expected %s", f->path,
                              w->name, w->wnames[j], found, want);
        goto done;
    }
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        status = df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': cannot read weight '%s', truncated? (%s)", f->path,
                              w->name, w->wnames[j], h5_reason(why));
        goto done;
    }
    size_t count = 1;
    for (int k = 0; k < r; k++) count *= d[k]; /* fits: the buffer of this size exists */
    for (size_t k = 0; k < count; k++)
        if (!isfinite(out[k])) {
            status = df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': weight '%s' has a non-finite value at %zu",
                                  f->path, w->name, w->wnames[j], k);
            goto done;
        }
done:
    H5Dclose(ds);
    return status;
}
