/*
 * .npy float32 matrices (see npy.h). Format: numpy/lib/format.py — magic
 * "\x93NUMPY", major, minor, header length (uint16 LE in 1.0, uint32 LE in
 * 2.0/3.0), a Python dict literal, then the raw data. The reader accepts
 * only what the writer could produce plus the other versions and 1-D
 * shapes; it parses the dict itself (no eval) and bounds-checks everything.
 */
#include "formats/npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c writes and reads '<f4' by copying floats: little-endian hosts only"
#endif

#define NPY_MAX_FILE ((size_t)1 << 36)

size_t df_npy_header(size_t rows, size_t cols, char *buf, size_t size) {
    char dict[96];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows,
                     cols);
    if (n < 0 || (size_t)n >= sizeof dict) return 0;
    size_t total = 10 + (size_t)n + 1; /* magic+version+len, dict, '\n' */
    total = (total + 63) / 64 * 64;
    if (total > size || total - 10 > 65535) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

df_status df_npy_begin(df_npy_writer *w, const char *path, size_t rows, size_t cols, df_error *err) {
    memset(w, 0, sizeof *w);
    char hdr[128];
    size_t n = df_npy_header(rows, cols, hdr, sizeof hdr);
    size_t bytes;
    if (!n || !df_size_mul3(rows, cols, sizeof(float), &bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: %zu x %zu floats is too large for .npy", path, rows, cols);
    df_status st = df_atomic_open(&w->af, path, err);
    if (st) return st;
    w->open = 1;
    w->rows = rows;
    w->cols = cols;
    w->written = 0;
    if (fwrite(hdr, 1, n, w->af.fp) != n) {
        df_npy_abort(w);
        return df_error_set(err, DF_ERR_IO, "%s: cannot write (%s)", path, strerror(errno));
    }
    return DF_OK;
}

df_status df_npy_append(df_npy_writer *w, const float *data, size_t rows, df_error *err) {
    if (!w->open) return df_error_set(err, DF_ERR_INTERNAL, "npy: append on a closed writer");
    if (rows > w->rows - w->written) {
        df_status st = df_error_set(err, DF_ERR_INTERNAL, "%s: %zu rows appended past the %zu declared",
                                    w->af.final_path, w->written + rows, w->rows);
        df_npy_abort(w);
        return st;
    }
    if (fwrite(data, sizeof(float) * w->cols, rows, w->af.fp) != rows) {
        df_status st = df_error_set(err, DF_ERR_IO, "%s: cannot write (%s)", w->af.final_path, strerror(errno));
        df_npy_abort(w);
        return st;
    }
    w->written += rows;
    return DF_OK;
}

df_status df_npy_finish(df_npy_writer *w, df_error *err) {
    if (!w->open) return df_error_set(err, DF_ERR_INTERNAL, "npy: finish on a closed writer");
    if (w->written != w->rows) {
        df_status st = df_error_set(err, DF_ERR_INTERNAL, "%s: %zu rows written, %zu declared", w->af.final_path,
                                    w->written, w->rows);
        df_npy_abort(w);
        return st;
    }
    w->open = 0;
    return df_atomic_commit(&w->af, err);
}

void df_npy_abort(df_npy_writer *w) {
    if (w->open) df_atomic_abort(&w->af);
    w->open = 0;
}

df_status df_npy_write_f32(const char *path, size_t rows, size_t cols, const float *data, df_error *err) {
    df_npy_writer w;
    df_status st = df_npy_begin(&w, path, rows, cols, err);
    if (!st) st = df_npy_append(&w, data, rows, err);
    if (!st) st = df_npy_finish(&w, err);
    return st;
}

/* ------------------------------------------------------------------ reader */

typedef struct cursor {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string into out (truncated to size-1). */
static int parse_str(cursor *c, char *out, size_t size) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 < size) out[n++] = *c->p;
        c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int parse_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, w, n)) {
        c->p += n;
        return 1;
    }
    return 0;
}

static int parse_size(cursor *c, size_t *v) {
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    size_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        size_t d = (size_t)(*c->p - '0');
        if (x > (SIZE_MAX - d) / 10) return 0;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 longs */
    *v = x;
    return 1;
}

df_status df_npy_parse(const uint8_t *buf, size_t size, const char *name, df_npy *out, df_error *err) {
    memset(out, 0, sizeof *out);
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6))
        return df_error_set(err, DF_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    int major = buf[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return df_error_set(err, DF_ERR_FORMAT, "%s: .npy header is truncated", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        start = 12;
    } else {
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: .npy version %d.%d is not supported", name, major, buf[7]);
    }
    if (hlen > size - start)
        return df_error_set(err, DF_ERR_FORMAT, "%s: .npy header claims %zu bytes, file has %zu", name, hlen,
                            size - start);
    cursor c = {(const char *)buf + start, (const char *)buf + start + hlen};
    char key[32], descr[32] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, ndim = 0;
    size_t dims[2] = {0, 0};
    if (!eat(&c, '{')) goto bad;
    while (!eat(&c, '}')) {
        if (!parse_str(&c, key, sizeof key) || !eat(&c, ':')) goto bad;
        if (!strcmp(key, "descr")) {
            if (!parse_str(&c, descr, sizeof descr)) goto bad;
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&c, "True")) fortran = 1;
            else if (!parse_word(&c, "False")) goto bad;
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            if (!eat(&c, '(')) goto bad;
            while (!eat(&c, ')')) {
                size_t v;
                if (ndim >= 2) {
                    return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: .npy arrays of more than 2 dimensions are not "
                                        "supported", name);
                }
                if (!parse_size(&c, &v)) goto bad;
                dims[ndim++] = v;
                if (!eat(&c, ',') && !(skip_ws(&c), c.p < c.end && *c.p == ')')) goto bad;
            }
            have_shape = 1;
        } else {
            goto bad;
        }
        if (!eat(&c, ',') && !(skip_ws(&c), c.p < c.end && *c.p == '}')) goto bad;
    }
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\n' || *c.p == '\0')) c.p++;
    if (c.p != c.end || !have_descr || !have_order || !have_shape) goto bad;
    if (strcmp(descr, "<f4"))
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: .npy dtype '%s', only '<f4' (float32) is supported", name,
                            descr);
    if (fortran) return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: .npy in Fortran order is not supported", name);
    if (ndim == 0) return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: .npy scalar, expected a matrix", name);
    size_t rows = dims[0], cols = ndim == 2 ? dims[1] : 1, bytes;
    if (!df_size_mul3(rows, cols, sizeof(float), &bytes))
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: .npy shape %zu x %zu overflows", name, rows, cols);
    size_t data_at = start + hlen;
    if (size - data_at != bytes)
        return df_error_set(err, DF_ERR_FORMAT, "%s: .npy shape %zu x %zu needs %zu data bytes, file has %zu", name, rows,
                            cols, bytes, size - data_at);
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory for %zu bytes", name, bytes);
    memcpy(out->data, buf + data_at, bytes);
    out->rows = rows;
    out->cols = cols;
    out->ndim = ndim;
    return DF_OK;
bad:
    return df_error_set(err, DF_ERR_FORMAT, "%s: .npy header is not a valid dictionary", name);
}

df_status df_npy_read(const char *path, df_npy *out, df_error *err) {
    uint8_t *buf;
    size_t size;
    memset(out, 0, sizeof *out);
    df_status st = df_file_read(path, NPY_MAX_FILE, &buf, &size, err);
    if (st) return st;
    st = df_npy_parse(buf, size, path, out, err);
    free(buf);
    return st;
}

void df_npy_free(df_npy *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
}
