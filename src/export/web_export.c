/* The offline web page export (see web_export.h). */
#include "export/web_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/strbuf.h"
#include "data/text.h"
#include "formats/tflite.h"
#include "formats/tflite_metadata.h"
#include "formats/zip.h"

/* Largest runtime file copied (the WASM builds are about 4 MB). */
#define MAX_RUNTIME_FILE ((size_t)64 << 20)

static df_status write_bytes(const char *path, const void *data, size_t size, df_error *err) {
    df_atomic_file af;
    df_status st = df_atomic_open(&af, path, err);
    if (st) return st;
    if (size && fwrite(data, 1, size, af.fp) != size) {
        df_atomic_abort(&af);
        return df_error_set(err, DF_ERR_IO, "%s: write failed", path);
    }
    return df_atomic_commit(&af, err);
}

static df_status write_in(const char *dir, const char *name, const void *data, size_t size,
                          df_error *err) {
    char *path = df_path_join(dir, name);
    if (!path) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    df_status st = write_bytes(path, data, size, err);
    free(path);
    return st;
}

static void add_quoted(df_strbuf *b, const char *s) {
    char *q = df_text_json_quote(s);
    df_strbuf_addf(b, "%s", q ? q : "\"\"");
    free(q);
}

/* The number after "key": in a one-line JSON object (our unknown.json);
 * 0 when it is absent or not a finite number. */
static int json_number(const char *json, const char *key, double *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p) return 0;
    char *end;
    *out = strtod(p + strlen(pat), &end);
    return end != p + strlen(pat) && isfinite(*out);
}

/* ,"unknown":{"output":1,"k":K,"threshold":T} when the model has the
 * unknown detector's output (metadata output 2 with unknown.json). */
static df_status unknown_json(const uint8_t *model, size_t size, const df_tflite_model *m,
                              const df_tflite_md *md, df_strbuf *b, df_error *err) {
    if (!md->output2.name || !md->output2.file || m->n_outputs != 2) return DF_OK;
    const uint8_t *data;
    size_t n;
    df_status st = df_zip_find(model, size, "model.tflite", md->output2.file, &data, &n, err);
    if (st) return st;
    char *text = malloc(n + 1);
    if (!text) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    memcpy(text, data, n);
    text[n] = '\0';
    double k, t, rows;
    size_t sims = df_tflite_tensor_elements(&m->tensors[m->outputs[1]]);
    int ok = json_number(text, "k", &k) && json_number(text, "threshold", &t) &&
             json_number(text, "rows", &rows) && k >= 1 && k < rows && k == (int)k &&
             rows == (double)sims;
    free(text);
    if (!ok)
        return df_error_set(err, DF_ERR_FORMAT, "model.tflite: %s does not give k, rows (= %zu "
                            "similarities) and threshold", md->output2.file, sims);
    df_strbuf_addf(b, ",\"unknown\":{\"output\":1,\"k\":%d,\"threshold\":%.9g}", (int)k, t);
    return DF_OK;
}

/* model.json from the model's metadata and labels.txt (read back from the
 * exported bytes, so the page shows what the model file itself says). */
static df_status model_json(const uint8_t *model, size_t size, const char *dir, df_error *err) {
    df_tflite_model *m;
    df_status st = df_tflite_parse(model, size, "model.tflite", &m, err);
    if (st) return st;
    size_t md_size;
    const uint8_t *md_buf = df_tflite_metadata_buffer(m, DF_TFLITE_METADATA_NAME, &md_size);
    df_tflite_md md;
    memset(&md, 0, sizeof md);
    const uint8_t *labels = NULL;
    size_t n_labels = 0;
    if (!md_buf) st = df_error_set(err, DF_ERR_FORMAT, "model.tflite: no TFLITE_METADATA");
    if (!st) st = df_tflite_md_parse(md_buf, md_size, "model.tflite metadata", &md, err);
    if (!st && !md.labels_file)
        st = df_error_set(err, DF_ERR_FORMAT, "model.tflite: metadata names no labels file");
    if (!st) st = df_zip_find(model, size, "model.tflite", md.labels_file, &labels, &n_labels, err);
    const df_tflite_tensor *in = NULL;
    if (!st) {
        in = &m->tensors[m->inputs[0]];
        if (in->rank != 4)
            st = df_error_set(err, DF_ERR_UNSUPPORTED, "model.tflite: input is not 1xHxWx3");
    }
    if (st) {
        df_tflite_md_free(&md);
        df_tflite_destroy(m);
        return st;
    }
    df_strbuf b = {0};
    df_strbuf_addf(&b, "{\"name\":");
    add_quoted(&b, md.name ? md.name : "classifier");
    df_strbuf_addf(&b, ",\"labels\":[");
    size_t start = 0;
    int k = 0;
    for (size_t i = 0; i <= n_labels; i++) {
        if (i < n_labels && labels[i] != '\n') continue;
        if (i > start) {
            char *line = malloc(i - start + 1);
            if (line) {
                memcpy(line, labels + start, i - start);
                line[i - start] = '\0';
                df_strbuf_addf(&b, "%s", k++ ? "," : "");
                add_quoted(&b, line);
                free(line);
            }
        }
        start = i + 1;
    }
    const char *type = in->type == DF_TFLITE_UINT8 ? "uint8"
                       : in->type == DF_TFLITE_INT8 ? "int8" : "float32";
    df_strbuf_addf(&b, "],\"input\":{\"type\":\"%s\",\"height\":%d,\"width\":%d,\"mean\":[", type,
                   (int)in->shape[1], (int)in->shape[2]);
    for (int c = 0; c < md.n_norm; c++) df_strbuf_addf(&b, "%s%.9g", c ? "," : "", (double)md.mean[c]);
    df_strbuf_addf(&b, "],\"std\":[");
    for (int c = 0; c < md.n_norm; c++) df_strbuf_addf(&b, "%s%.9g", c ? "," : "", (double)md.std[c]);
    df_strbuf_addf(&b, "]},\"outputs\":[");
    for (size_t i = 0; i < m->n_outputs; i++) {
        df_strbuf_addf(&b, "%s", i ? "," : "");
        add_quoted(&b, m->tensors[m->outputs[i]].name);
    }
    df_strbuf_addf(&b, "]");
    st = unknown_json(model, size, m, &md, &b, err);
    df_strbuf_addf(&b, "}\n");
    df_tflite_md_free(&md);
    df_tflite_destroy(m);
    char *json = df_strbuf_finish(&b);
    if (st) {
        free(json);
        return st;
    }
    if (!json) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    st = write_in(dir, "model.json", json, strlen(json), err);
    free(json);
    return st;
}

/* A MANIFEST line is a relative path of plain components. */
static int safe_relative(const char *p) {
    if (!*p || *p == '/') return 0;
    for (const char *s = p; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!(ch == '/' || ch == '.' || ch == '-' || ch == '_' || (ch >= '0' && ch <= '9') ||
              (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return 0;
        if (ch == '.' && (s == p || s[-1] == '/') && s[1] == '.') return 0;
    }
    return 1;
}

static df_status copy_one(const char *runtime, const char *vendor, const char *rel, df_error *err) {
    char *from = df_path_join(runtime, rel), *to = df_path_join(vendor, rel);
    uint8_t *data = NULL;
    size_t size = 0;
    df_status st = !from || !to ? df_error_set(err, DF_ERR_NOMEM, "out of memory") : DF_OK;
    if (!st) st = df_file_read(from, MAX_RUNTIME_FILE, &data, &size, err);
    if (!st) {
        char *slash = strrchr(to, '/');
        *slash = '\0';
        st = df_mkdir_p(to, err);
        *slash = '/';
    }
    if (!st) st = write_bytes(to, data, size, err);
    free(data);
    free(from);
    free(to);
    return st;
}

/* Checked before anything is written, so a missing runtime leaves no folder. */
static df_status check_runtime(const char *runtime, df_error *err) {
    char *manifest = df_path_join(runtime, "MANIFEST");
    if (!manifest) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    df_status st = DF_OK;
    if (!df_file_is_regular(manifest))
        st = df_error_set(err, DF_ERR_IO, "%s: the web runtime is not there (run "
                          "scripts/fetch-web-runtime.sh, or pass --runtime DIR)", manifest);
    free(manifest);
    return st;
}

static df_status copy_runtime(const char *runtime, const char *dir, df_error *err) {
    char *manifest = df_path_join(runtime, "MANIFEST"), *vendor = df_path_join(dir, "vendor");
    uint8_t *list = NULL;
    size_t n = 0;
    df_status st = !manifest || !vendor ? df_error_set(err, DF_ERR_NOMEM, "out of memory") : DF_OK;
    if (!st) st = df_file_read(manifest, 1 << 20, &list, &n, err);
    size_t start = 0;
    int files = 0;
    for (size_t i = 0; !st && i <= n; i++) {
        if (i < n && list[i] != '\n') continue;
        size_t len = i - start;
        if (len) {
            char rel[256];
            if (len >= sizeof rel) len = sizeof rel - 1;
            memcpy(rel, list + start, len);
            rel[len] = '\0';
            if (!safe_relative(rel))
                st = df_error_set(err, DF_ERR_FORMAT, "%s: line '%.80s' is not a plain relative "
                                  "path", manifest, rel);
            else
                st = copy_one(runtime, vendor, rel, err);
            files++;
        }
        start = i + 1;
    }
    if (!st && files == 0) st = df_error_set(err, DF_ERR_FORMAT, "%s: lists no files", manifest);
    free(list);
    free(manifest);
    free(vendor);
    return st;
}

df_status df_web_export(const char *dir, const uint8_t *model, size_t size,
                        const char *runtime_dir, df_error *err) {
    df_status st = check_runtime(runtime_dir, err);
    if (!st) st = df_mkdir_p(dir, err);
    if (!st) st = copy_runtime(runtime_dir, dir, err);
    if (!st) st = write_in(dir, "model.tflite", model, size, err);
    if (!st) st = model_json(model, size, dir, err);
    if (!st) st = write_in(dir, "index.html", df_web_index_html, df_web_index_html_size, err);
    return st;
}
