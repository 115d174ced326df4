/*
 * Keras HDF5 weight files over libhdf5 (see keras_h5.h). Mirrors Keras'
 * hdf5_format.load_weights_from_hdf5_group: layer_names in order, each
 * layer's weight_names, datasets looked up by those names in the layer's
 * group. HDF5's own error printing is switched off (the library never
 * prints); the innermost HDF5 error description goes into our message.
 * Does not write files (tests have their own writer).
 *
 * Keras files carry no metadata checksums and libhdf5 1.10 parses damaged
 * metadata unchecked (heap overflows, endless loops found by fuzzing), so
 * libhdf5 only ever runs in a forked child (formats/h5_guard.h): open runs
 * one child for names and shapes, the first read one more for every
 * weight's values, and each streams a small report back that this side
 * parses with bounds checks. A damaged file costs a one-line error, never
 * the caller's process, and a with-top file is refused before its 500 MB of
 * values are read.
 */
#include "formats/keras_h5.h"
#include "formats/h5_guard.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

/* Caps on what a header may claim before we allocate for it. */
#define MAX_NAMES 100000
#define MAX_NAME_BYTES 65536
#define MAX_WEIGHTS (1 << 20) /* in a whole file; VGG16 has 26 */

typedef struct wlayer {
    char *name;
    hid_t group;
    int n;
    char **wnames;
} wlayer;

/* The file as libhdf5 sees it: used only inside the guard's child. */
typedef struct h5file {
    char *path;
    hid_t file, root;
    int n_layers;
    wlayer *w;
    int n_w;
} h5file;

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
static df_status read_names(const h5file *f, hid_t obj, const char *where, const char *attr, char ***out,
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

static void h5file_close(h5file *f) {
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

static df_status h5file_open(const char *path, h5file **out, df_error *err) {
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

    h5file *f = calloc(1, sizeof *f);
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
    h5file_close(f);
    return status;
}

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
static df_status open_weight(const h5file *f, int i, int j, hid_t *ds, int *rank, size_t *dims, df_error *err) {
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


/* ------------------------------------------------------------------------ */
/* The child's side: walk the file with libhdf5 and stream what it holds.   */
/* ------------------------------------------------------------------------ */

#define META_MAGIC 0x314d4b44u /* "DKM1" */
#define DATA_MAGIC 0x31444b44u /* "DKD1" */
#define META_MAX_BYTES ((size_t)64 << 20)
/* Largest weight, and largest total, this reader loads: far above any
 * backbone (VGG16 with its classifier top is 528 MiB of float32). */
#define DATA_MAX_BYTES ((size_t)16 << 30)

static df_status put(df_h5_sink *s, const void *p, size_t n, df_error *err) { return df_h5_sink_write(s, p, n, err); }

static df_status put_u32(df_h5_sink *s, uint32_t v, df_error *err) { return put(s, &v, sizeof v, err); }

static df_status put_str(df_h5_sink *s, const char *str, df_error *err) {
    size_t n = strlen(str);
    df_status st = put_u32(s, (uint32_t)n, err);
    return st ? st : put(s, str, n, err);
}

/* A per-weight failure: its status and message travel as data, so the
 * caller sees it when (and only when) it asks for that weight. */
static df_status put_failure(df_h5_sink *s, df_status failed, const df_error *why, df_error *err) {
    df_status st = put_u32(s, (uint32_t)failed, err);
    return st ? st : put_str(s, why->message, err);
}

/* Bytes of a weight of this shape as float32; 0 when it overflows or is
 * over DATA_MAX_BYTES. Both sides of the pipe apply this rule. */
static size_t weight_bytes(int rank, const size_t *dims, size_t *count) {
    size_t n = 1;
    for (int k = 0; k < rank; k++)
        if (!df_size_mul(n, dims[k], &n)) return 0;
    size_t bytes;
    if (!df_size_mul(n, sizeof(float), &bytes) || bytes > DATA_MAX_BYTES) return 0;
    *count = n;
    return bytes ? bytes : 1; /* an empty weight is not an error here */
}

static df_status put_shape(df_h5_sink *s, int rank, const size_t *dims, df_error *err) {
    df_status st = put_u32(s, (uint32_t)rank, err);
    for (int k = 0; !st && k < rank; k++) {
        uint64_t d = dims[k];
        st = put(s, &d, sizeof d, err);
    }
    return st;
}

/* Names, weight names and each weight's shape (or why it has none). */
static df_status meta_child(const char *path, void *arg, df_h5_sink *s, df_error *err) {
    (void)arg;
    h5file *f;
    df_status st = h5file_open(path, &f, err);
    if (st) return st;
    st = put_u32(s, META_MAGIC, err);
    if (!st) st = put_u32(s, (uint32_t)f->n_layers, err);
    if (!st) st = put_u32(s, (uint32_t)f->n_w, err);
    for (int i = 0; !st && i < f->n_w; i++) {
        st = put_str(s, f->w[i].name, err);
        if (!st) st = put_u32(s, (uint32_t)f->w[i].n, err);
        for (int j = 0; !st && j < f->w[i].n; j++) {
            st = put_str(s, f->w[i].wnames[j], err);
            hid_t ds;
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            df_error why;
            df_status ws = open_weight(f, i, j, &ds, &rank, dims, &why);
            if (!ws) H5Dclose(ds);
            if (!st) st = ws ? put_failure(s, ws, &why, err) : put_u32(s, 0, err);
            if (!st && !ws) st = put_shape(s, rank, dims, err);
        }
    }
    h5file_close(f);
    return st;
}

/* Reads the open dataset ds (weight j of layer i, of the given shape) as
 * float32 into a new buffer. */
static df_status read_weight(const h5file *f, int i, int j, hid_t ds, int rank, const size_t *dims, float **data,
                             size_t *bytes_out, df_error *err) {
    char why[200];
    const wlayer *w = &f->w[i];
    size_t count = 0, bytes = weight_bytes(rank, dims, &count);
    *data = NULL;
    *bytes_out = count * sizeof(float);
    if (!bytes)
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: layer '%s': weight '%s' is larger than %zu GiB", f->path,
                            w->name, w->wnames[j], DATA_MAX_BYTES >> 30);
    if (!(*data = malloc(bytes)))
        return df_error_set(err, DF_ERR_NOMEM, "%s: layer '%s': out of memory for weight '%s'", f->path, w->name,
                            w->wnames[j]);
    if (count && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0) {
        free(*data);
        *data = NULL;
        return df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': cannot read weight '%s', truncated? (%s)", f->path,
                            w->name, w->wnames[j], h5_reason(why));
    }
    return DF_OK;
}

/* Every weight whose shape reads: its shape again (the parent checks that
 * the file did not change), then its float32 values or why they did not read. */
static df_status data_child(const char *path, void *arg, df_h5_sink *s, df_error *err) {
    (void)arg;
    h5file *f;
    df_status st = h5file_open(path, &f, err);
    if (st) return st;
    st = put_u32(s, DATA_MAGIC, err);
    if (!st) st = put_u32(s, (uint32_t)f->n_w, err);
    for (int i = 0; !st && i < f->n_w; i++) {
        st = put_u32(s, (uint32_t)f->w[i].n, err);
        for (int j = 0; !st && j < f->w[i].n; j++) {
            hid_t ds;
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK], bytes = 0;
            df_error why;
            if (open_weight(f, i, j, &ds, &rank, dims, &why) != DF_OK) {
                st = put_u32(s, 1, err); /* no shape: nothing follows */
                continue;
            }
            float *data;
            df_status rs = read_weight(f, i, j, ds, rank, dims, &data, &bytes, &why);
            H5Dclose(ds);
            st = put_u32(s, 0, err);
            if (!st) st = put_shape(s, rank, dims, err);
            if (!st) st = rs ? put_failure(s, rs, &why, err) : put_u32(s, 0, err);
            if (!st && !rs) st = put(s, data, bytes, err);
            free(data);
        }
    }
    h5file_close(f);
    return st;
}

/* ------------------------------------------------------------------------ */
/* The caller's side: the report, parsed as untrusted input.                */
/* ------------------------------------------------------------------------ */

typedef struct kweight {
    char *name;
    df_status shape_status; /* DF_OK: rank and dims hold the shape */
    char *shape_message;
    int rank;
    size_t dims[DF_KERAS_H5_MAX_RANK];
    size_t bytes;
    df_status data_status; /* once loaded: DF_OK, data at data_offset */
    char *data_message;
    size_t data_offset;
} kweight;

typedef struct klayer {
    char *name;
    int n;
    kweight *w;
} klayer;

struct df_keras_h5 {
    char *path;
    int n_layers;
    int n_w;
    klayer *w;
    int loaded;         /* the data child ran */
    df_error load_error; /* its failure, returned by every read */
    unsigned char *data;
    size_t data_size;
};

typedef struct cursor {
    const unsigned char *p;
    size_t left;
} cursor;

static int get(cursor *c, void *out, size_t n) {
    if (n > c->left) return 0;
    memcpy(out, c->p, n);
    c->p += n;
    c->left -= n;
    return 1;
}

static int get_u32(cursor *c, uint32_t *v) { return get(c, v, sizeof *v); }

static int get_str(cursor *c, size_t max, char **out) {
    uint32_t n;
    *out = NULL;
    if (!get_u32(c, &n) || n > max || n > c->left || memchr(c->p, 0, n)) return 0;
    *out = malloc((size_t)n + 1);
    if (!*out) return 0;
    memcpy(*out, c->p, n);
    (*out)[n] = '\0';
    c->p += n;
    c->left -= n;
    return 1;
}

static int get_status(cursor *c, df_status *st) {
    uint32_t v;
    if (!get_u32(c, &v) || v > (uint32_t)DF_ERR_INTERNAL) return 0;
    *st = (df_status)v;
    return 1;
}

static int get_shape(cursor *c, int *rank, size_t *dims) {
    uint32_t r;
    if (!get_u32(c, &r) || r > DF_KERAS_H5_MAX_RANK) return 0;
    *rank = (int)r;
    for (uint32_t k = 0; k < r; k++) {
        uint64_t d;
        if (!get(c, &d, sizeof d) || d > SIZE_MAX) return 0;
        dims[k] = (size_t)d;
    }
    return 1;
}

void df_keras_h5_close(df_keras_h5 *f) {
    if (!f) return;
    for (int i = 0; f->w && i < f->n_w; i++) {
        klayer *L = &f->w[i];
        for (int j = 0; L->w && j < L->n; j++) {
            free(L->w[j].name);
            free(L->w[j].shape_message);
            free(L->w[j].data_message);
        }
        free(L->w);
        free(L->name);
    }
    free(f->w);
    free(f->data);
    free(f->path);
    free(f);
}

/* 1 when the meta report parsed; f->n_w counts the layers filled so far, so
 * close frees a partial parse. */
static int parse_meta(df_keras_h5 *f, cursor *c) {
    uint32_t magic, n_layers, n_w;
    if (!get_u32(c, &magic) || magic != META_MAGIC || !get_u32(c, &n_layers) || !get_u32(c, &n_w) ||
        n_layers > MAX_NAMES || n_w > n_layers)
        return 0;
    f->n_layers = (int)n_layers;
    f->w = calloc(n_w ? n_w : 1, sizeof *f->w);
    if (!f->w) return 0;
    uint32_t total = 0;
    for (uint32_t i = 0; i < n_w; i++) {
        klayer *L = &f->w[i];
        f->n_w = (int)i + 1;
        uint32_t n;
        if (!get_str(c, MAX_NAME_BYTES, &L->name) || !get_u32(c, &n) || n == 0 || n > MAX_NAMES) return 0;
        /* Each weight takes at least 12 report bytes; the cap keeps what a
         * garbled report can make us allocate far below what it could claim. */
        if (n > c->left / 12 || (total += n) > MAX_WEIGHTS) return 0;
        L->w = calloc(n, sizeof *L->w);
        if (!L->w) return 0;
        L->n = (int)n;
        for (uint32_t j = 0; j < n; j++) {
            kweight *w = &L->w[j];
            if (!get_str(c, MAX_NAME_BYTES, &w->name) || !get_status(c, &w->shape_status)) return 0;
            if (w->shape_status) {
                if (!get_str(c, DF_ERROR_MESSAGE_MAX, &w->shape_message)) return 0;
            } else if (!get_shape(c, &w->rank, w->dims)) {
                return 0;
            }
        }
    }
    return c->left == 0;
}

df_status df_keras_h5_open(const char *path, df_keras_h5 **out, df_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot open weights file (%s)", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return df_error_set(err, DF_ERR_IO, "%s: weights file is not a regular file", path);
    unsigned char *report;
    size_t size;
    df_status st = df_h5_guarded_run(path, "weights file", meta_child, NULL, 10, META_MAX_BYTES, &report, &size, err);
    if (st) return st;
    st = df_keras_h5_from_report(path, report, size, out, err);
    free(report);
    return st;
}

df_status df_keras_h5_from_report(const char *path, const unsigned char *report, size_t size, df_keras_h5 **out,
                                  df_error *err) {
    *out = NULL;
    df_keras_h5 *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    }
    cursor c = {report, size};
    if (!parse_meta(f, &c)) {
        df_keras_h5_close(f);
        return df_error_set(err, DF_ERR_FORMAT, "%s: corrupt weights file: the reader's report does not parse", path);
    }
    *out = f;
    return DF_OK;
}

const char *df_keras_h5_path(const df_keras_h5 *f) { return f->path; }
int df_keras_h5_layer_count(const df_keras_h5 *f) { return f->n_layers; }
int df_keras_h5_weighted_count(const df_keras_h5 *f) { return f->n_w; }
const char *df_keras_h5_weighted_name(const df_keras_h5 *f, int i) { return f->w[i].name; }
int df_keras_h5_weight_count(const df_keras_h5 *f, int i) { return f->w[i].n; }
const char *df_keras_h5_weight_name(const df_keras_h5 *f, int i, int j) { return f->w[i].w[j].name; }

df_status df_keras_h5_weight_shape(df_keras_h5 *f, int i, int j, int *rank, size_t dims[DF_KERAS_H5_MAX_RANK],
                                   df_error *err) {
    const kweight *w = &f->w[i].w[j];
    if (w->shape_status) return df_error_set(err, w->shape_status, "%s", w->shape_message);
    *rank = w->rank;
    memcpy(dims, w->dims, sizeof w->dims);
    return DF_OK;
}

/* The data report must repeat the meta report's shapes, in order; values
 * are left in f->data and indexed by offset. */
static int parse_data(df_keras_h5 *f, cursor *c) {
    uint32_t magic, n_w;
    if (!get_u32(c, &magic) || magic != DATA_MAGIC || !get_u32(c, &n_w) || n_w != (uint32_t)f->n_w) return 0;
    for (int i = 0; i < f->n_w; i++) {
        klayer *L = &f->w[i];
        uint32_t n, no_shape;
        if (!get_u32(c, &n) || n != (uint32_t)L->n) return 0;
        for (int j = 0; j < L->n; j++) {
            kweight *w = &L->w[j];
            if (!get_u32(c, &no_shape) || no_shape != (w->shape_status != DF_OK)) return 0;
            if (no_shape) continue;
            int rank;
            size_t dims[DF_KERAS_H5_MAX_RANK];
            if (!get_shape(c, &rank, dims) || rank != w->rank || memcmp(dims, w->dims, (size_t)rank * sizeof *dims))
                return 0;
            if (!get_status(c, &w->data_status)) return 0;
            if (w->data_status) {
                if (!get_str(c, DF_ERROR_MESSAGE_MAX, &w->data_message)) return 0;
                continue;
            }
            size_t count;
            if (!weight_bytes(rank, dims, &count) || count * sizeof(float) > c->left) return 0;
            w->bytes = count * sizeof(float);
            w->data_offset = (size_t)(c->p - f->data);
            c->p += w->bytes;
            c->left -= w->bytes;
        }
    }
    return c->left == 0;
}

/* Runs the data child once; its failure sticks to every later read. */
static df_status load_data(df_keras_h5 *f, df_error *err) {
    if (f->loaded) return f->load_error.status ? df_error_set(err, f->load_error.status, "%s", f->load_error.message)
                                               : DF_OK;
    f->loaded = 1;
    df_error_clear(&f->load_error);
    /* The exact most the report can hold, from the shapes already known. */
    size_t cap = 8;
    int ok = 1;
    for (int i = 0; ok && i < f->n_w; i++) {
        cap += 4;
        for (int j = 0; ok && j < f->w[i].n; j++) {
            const kweight *w = &f->w[i].w[j];
            size_t count = 0, bytes = w->shape_status ? 0 : weight_bytes(w->rank, w->dims, &count);
            size_t payload = bytes > 4 + DF_ERROR_MESSAGE_MAX ? bytes : 4 + DF_ERROR_MESSAGE_MAX;
            cap += 4 + 4 + 8 * (size_t)w->rank + 4 + payload;
            ok = cap <= DATA_MAX_BYTES + META_MAX_BYTES;
        }
    }
    df_status st;
    if (!ok) {
        st = df_error_set(&f->load_error, DF_ERR_TOO_LARGE, "%s: the weights total more than %zu GiB", f->path,
                          DATA_MAX_BYTES >> 30);
    } else {
        unsigned char *data;
        size_t size;
        st = df_h5_guarded_run(f->path, "weights file", data_child, NULL, 10, cap, &data, &size, &f->load_error);
        if (!st) return df_keras_h5_attach_data(f, data, size, err);
    }
    f->load_error.status = st;
    return df_error_set(err, st, "%s", f->load_error.message);
}

df_status df_keras_h5_attach_data(df_keras_h5 *f, unsigned char *data, size_t size, df_error *err) {
    f->loaded = 1;
    free(f->data);
    f->data = data;
    f->data_size = size;
    df_error_clear(&f->load_error);
    cursor c = {f->data, f->data_size};
    if (!parse_data(f, &c)) {
        /* The offsets parsed before the failure are never used: every read
         * returns this error first. */
        df_error_set(&f->load_error, DF_ERR_FORMAT,
                     "%s: corrupt weights file: the reader's report does not parse (or the file changed since it "
                     "was opened)",
                     f->path);
        return df_error_set(err, DF_ERR_FORMAT, "%s", f->load_error.message);
    }
    return DF_OK;
}

df_status df_keras_h5_read(df_keras_h5 *f, int i, int j, int rank, const size_t *dims, float *out, df_error *err) {
    int r = 0;
    size_t d[DF_KERAS_H5_MAX_RANK];
    const klayer *L = &f->w[i];
    const kweight *w = &L->w[j];
    df_status status = df_keras_h5_weight_shape(f, i, j, &r, d, err);
    if (status) return status;
    int same = r == rank;
    for (int k = 0; same && k < r; k++) same = d[k] == dims[k];
    if (!same) {
        char want[128], found[128];
        df_keras_h5_format_shape(rank, dims, want, sizeof want);
        df_keras_h5_format_shape(r, d, found, sizeof found);
        return df_error_set(err, DF_ERR_SHAPE, "%s: layer '%s': weight '%s' has shape %s, expected %s", f->path,
                            L->name, w->name, found, want);
    }
    status = load_data(f, err);
    if (status) return status;
    if (w->data_status) return df_error_set(err, w->data_status, "%s", w->data_message);
    memcpy(out, f->data + w->data_offset, w->bytes);
    size_t count = w->bytes / sizeof(float);
    for (size_t k = 0; k < count; k++)
        if (!isfinite(out[k]))
            return df_error_set(err, DF_ERR_FORMAT, "%s: layer '%s': weight '%s' has a non-finite value at %zu",
                                f->path, L->name, w->name, k);
    return DF_OK;
}
