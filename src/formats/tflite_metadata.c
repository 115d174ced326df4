/* TFLite Model Metadata writer and reader (see tflite_metadata.h). Field ids
 * are positions in metadata_schema.fbs (a union counts as two fields). */
#include "formats/tflite_metadata.h"

#include <stdlib.h>
#include <string.h>

#include "formats/flatbuf.h"

enum { MM_NAME = 0, MM_DESCRIPTION = 1, MM_VERSION = 2, MM_SUBGRAPHS = 3, MM_AUTHOR = 4,
       MM_LICENSE = 5, MM_MIN_PARSER = 7 };
enum { SG_INPUTS = 2, SG_OUTPUTS = 3 };
enum { TM_NAME = 0, TM_DESCRIPTION = 1, TM_CONTENT = 3, TM_PROCESS_UNITS = 4, TM_STATS = 5,
       TM_FILES = 6 };
enum { CONTENT_PROPS_TYPE = 0, CONTENT_PROPS = 1 };
enum { PROPS_FEATURE = 1, PROPS_IMAGE = 2 };           /* ContentProperties union */
enum { IMAGE_COLOR_SPACE = 0, IMAGE_DEFAULT_SIZE = 1 };
enum { SIZE_WIDTH = 0, SIZE_HEIGHT = 1 };
enum { PU_OPTIONS_TYPE = 0, PU_OPTIONS = 1 };
enum { PU_NORMALIZATION = 1 };                         /* ProcessUnitOptions union */
enum { NORM_MEAN = 0, NORM_STD = 1 };
enum { STATS_MAX = 0, STATS_MIN = 1 };
enum { FILE_NAME = 0, FILE_DESCRIPTION = 1, FILE_TYPE = 2 };

static df_fbb_ref str(df_fbb *b, const char *s) { return s ? df_fbb_string(b, s) : 0; }

static df_fbb_ref input_tensor(df_fbb *b, const df_tflite_md *md) {
    df_fbb_ref size = 0, units = 0;
    if (md->width && md->height) {
        df_fbb_table_start(b);
        df_fbb_add_u32(b, SIZE_WIDTH, md->width);
        df_fbb_add_u32(b, SIZE_HEIGHT, md->height);
        size = df_fbb_table_end(b);
    }
    df_fbb_table_start(b);
    if (md->color_space) df_fbb_add_u8(b, IMAGE_COLOR_SPACE, (uint8_t)md->color_space);
    df_fbb_add_ref(b, IMAGE_DEFAULT_SIZE, size);
    df_fbb_ref props = df_fbb_table_end(b);
    df_fbb_table_start(b);
    df_fbb_add_u8(b, CONTENT_PROPS_TYPE, PROPS_IMAGE);
    df_fbb_add_ref(b, CONTENT_PROPS, props);
    df_fbb_ref content = df_fbb_table_end(b);
    if (md->n_norm > 0) {
        df_fbb_ref mean = df_fbb_vector(b, md->mean, (size_t)md->n_norm, 4, 0);
        df_fbb_ref sd = df_fbb_vector(b, md->std, (size_t)md->n_norm, 4, 0);
        df_fbb_table_start(b);
        df_fbb_add_ref(b, NORM_MEAN, mean);
        df_fbb_add_ref(b, NORM_STD, sd);
        df_fbb_ref norm = df_fbb_table_end(b);
        df_fbb_table_start(b);
        df_fbb_add_u8(b, PU_OPTIONS_TYPE, PU_NORMALIZATION);
        df_fbb_add_ref(b, PU_OPTIONS, norm);
        df_fbb_ref unit = df_fbb_table_end(b);
        units = df_fbb_vector_refs(b, &unit, 1);
    }
    df_fbb_ref name = str(b, md->input_name), desc = str(b, md->input_description);
    df_fbb_table_start(b);
    df_fbb_add_ref(b, TM_NAME, name);
    df_fbb_add_ref(b, TM_DESCRIPTION, desc);
    df_fbb_add_ref(b, TM_CONTENT, content);
    df_fbb_add_ref(b, TM_PROCESS_UNITS, units);
    return df_fbb_table_end(b);
}

static df_fbb_ref output_tensor(df_fbb *b, const df_tflite_md_output *o) {
    df_fbb_table_start(b);
    df_fbb_ref props = df_fbb_table_end(b); /* FeatureProperties: no fields */
    df_fbb_table_start(b);
    df_fbb_add_u8(b, CONTENT_PROPS_TYPE, PROPS_FEATURE);
    df_fbb_add_ref(b, CONTENT_PROPS, props);
    df_fbb_ref content = df_fbb_table_end(b);
    df_fbb_ref stats = 0, files = 0;
    if (o->has_stats) {
        df_fbb_ref mx = df_fbb_vector(b, &o->stats_max, 1, 4, 0);
        df_fbb_ref mn = df_fbb_vector(b, &o->stats_min, 1, 4, 0);
        df_fbb_table_start(b);
        df_fbb_add_ref(b, STATS_MAX, mx);
        df_fbb_add_ref(b, STATS_MIN, mn);
        stats = df_fbb_table_end(b);
    }
    if (o->file) {
        df_fbb_ref fname = str(b, o->file), fdesc = str(b, o->file_description);
        df_fbb_table_start(b);
        df_fbb_add_ref(b, FILE_NAME, fname);
        df_fbb_add_ref(b, FILE_DESCRIPTION, fdesc);
        df_fbb_add_u8(b, FILE_TYPE, (uint8_t)o->file_type);
        df_fbb_ref file = df_fbb_table_end(b);
        files = df_fbb_vector_refs(b, &file, 1);
    }
    df_fbb_ref name = str(b, o->name), desc = str(b, o->description);
    df_fbb_table_start(b);
    df_fbb_add_ref(b, TM_NAME, name);
    df_fbb_add_ref(b, TM_DESCRIPTION, desc);
    df_fbb_add_ref(b, TM_CONTENT, content);
    df_fbb_add_ref(b, TM_STATS, stats);
    df_fbb_add_ref(b, TM_FILES, files);
    return df_fbb_table_end(b);
}

df_status df_tflite_md_build(const df_tflite_md *md, const char *name, uint8_t **out,
                             size_t *size, df_error *err) {
    *out = NULL;
    *size = 0;
    if (md->n_norm < 0 || md->n_norm > DF_MD_MAX_CHANNELS)
        return df_error_set(err, DF_ERR_INVALID_ARG, "%s: metadata: %d normalization channels",
                            name, md->n_norm);
    df_fbb *b = df_fbb_create(name);
    if (!b) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
    df_tflite_md_output first = {md->output_name, md->output_description, md->has_stats,
                                 md->stats_min, md->stats_max, md->labels_file,
                                 md->labels_description, md->labels_type};
    df_fbb_ref in = input_tensor(b, md), out_t[2];
    out_t[0] = output_tensor(b, &first);
    int n_out = 1;
    if (md->output2.name) out_t[n_out++] = output_tensor(b, &md->output2);
    df_fbb_ref ins = df_fbb_vector_refs(b, &in, 1), outs = df_fbb_vector_refs(b, out_t, (size_t)n_out);
    df_fbb_table_start(b);
    df_fbb_add_ref(b, SG_INPUTS, ins);
    df_fbb_add_ref(b, SG_OUTPUTS, outs);
    df_fbb_ref sg = df_fbb_table_end(b);
    df_fbb_ref sgs = df_fbb_vector_refs(b, &sg, 1);
    df_fbb_ref n = str(b, md->name), d = str(b, md->description), v = str(b, md->version);
    df_fbb_ref a = str(b, md->author), l = str(b, md->license);
    df_fbb_ref mp = str(b, md->min_parser_version);
    df_fbb_table_start(b);
    df_fbb_add_ref(b, MM_NAME, n);
    df_fbb_add_ref(b, MM_DESCRIPTION, d);
    df_fbb_add_ref(b, MM_VERSION, v);
    df_fbb_add_ref(b, MM_SUBGRAPHS, sgs);
    df_fbb_add_ref(b, MM_AUTHOR, a);
    df_fbb_add_ref(b, MM_LICENSE, l);
    df_fbb_add_ref(b, MM_MIN_PARSER, mp);
    df_fbb_ref root = df_fbb_table_end(b);
    df_status st = df_fbb_finish(b, root, "M001", out, size, err);
    df_fbb_destroy(b);
    return st;
}

/* ---- reader ---- */

static df_status get_str(df_fbr *r, const df_fbr_table *t, int id, const char *what, char **out) {
    const uint8_t *s;
    size_t n;
    *out = NULL;
    df_status st = df_fbr_string(r, t, id, what, &s, &n);
    if (st || !s) return st;
    char *c = malloc(n + 1);
    if (!c) return df_error_set(r->err, DF_ERR_NOMEM, "%s: out of memory", r->name);
    memcpy(c, s, n);
    c[n] = '\0';
    *out = c;
    return DF_OK;
}

/* The first table of vector field id; *present = 0 when absent or empty. */
static df_status first_of(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                          df_fbr_table *out, int *present) {
    size_t data, n;
    *present = 0;
    df_status st = df_fbr_vector(r, t, id, 4, what, &data, &n);
    if (st || n == 0) return st;
    *present = 1;
    return df_fbr_vector_table(r, data, 0, what, out);
}

static df_status floats(df_fbr *r, const df_fbr_table *t, int id, const char *what, float *out,
                        int *n_out) {
    size_t data, n;
    df_status st = df_fbr_vector(r, t, id, 4, what, &data, &n);
    if (st) return st;
    if (n > DF_MD_MAX_CHANNELS)
        return df_error_set(r->err, DF_ERR_UNSUPPORTED, "%s: %s: %zu values", r->name, what, n);
    for (size_t i = 0; i < n; i++) out[i] = df_fbr_f32_at(r, data + 4 * i);
    *n_out = (int)n;
    return DF_OK;
}

static df_status parse_input(df_fbr *r, const df_fbr_table *t, df_tflite_md *md) {
    df_status st;
    df_fbr_table c, p, s, u, o;
    int has, type, n_mean = 0, n_std = 0;
    if ((st = get_str(r, t, TM_NAME, "input name", &md->input_name)) ||
        (st = get_str(r, t, TM_DESCRIPTION, "input description", &md->input_description)) ||
        (st = df_fbr_table_field(r, t, TM_CONTENT, "input content", &c, &has)))
        return st;
    if (has) {
        if ((st = df_fbr_u8(r, &c, CONTENT_PROPS_TYPE, 0, &type)) ||
            (st = df_fbr_table_field(r, &c, CONTENT_PROPS, "input properties", &p, &has)))
            return st;
        if (has && type == PROPS_IMAGE) {
            if ((st = df_fbr_u8(r, &p, IMAGE_COLOR_SPACE, 0, &md->color_space)) ||
                (st = df_fbr_table_field(r, &p, IMAGE_DEFAULT_SIZE, "image size", &s, &has)))
                return st;
            if (has && ((st = df_fbr_u32(r, &s, SIZE_WIDTH, 0, &md->width)) ||
                        (st = df_fbr_u32(r, &s, SIZE_HEIGHT, 0, &md->height))))
                return st;
        }
    }
    if ((st = first_of(r, t, TM_PROCESS_UNITS, "process units", &u, &has)) || !has) return st;
    if ((st = df_fbr_u8(r, &u, PU_OPTIONS_TYPE, 0, &type)) ||
        (st = df_fbr_table_field(r, &u, PU_OPTIONS, "process unit", &o, &has)))
        return st;
    if (!has || type != PU_NORMALIZATION) return DF_OK;
    if ((st = floats(r, &o, NORM_MEAN, "normalization mean", md->mean, &n_mean)) ||
        (st = floats(r, &o, NORM_STD, "normalization std", md->std, &n_std)))
        return st;
    if (n_mean != n_std)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %d means and %d stds", r->name, n_mean,
                            n_std);
    md->n_norm = n_mean;
    return DF_OK;
}

static df_status parse_output(df_fbr *r, const df_fbr_table *t, df_tflite_md_output *o) {
    df_status st;
    df_fbr_table s, f;
    int has, n;
    float v[DF_MD_MAX_CHANNELS];
    if ((st = get_str(r, t, TM_NAME, "output name", &o->name)) ||
        (st = get_str(r, t, TM_DESCRIPTION, "output description", &o->description)) ||
        (st = df_fbr_table_field(r, t, TM_STATS, "output stats", &s, &has)))
        return st;
    if (has) {
        if ((st = floats(r, &s, STATS_MAX, "stats max", v, &n))) return st;
        o->stats_max = n ? v[0] : 0.0f;
        if ((st = floats(r, &s, STATS_MIN, "stats min", v, &n))) return st;
        o->stats_min = n ? v[0] : 0.0f;
        o->has_stats = 1;
    }
    if ((st = first_of(r, t, TM_FILES, "associated files", &f, &has)) || !has) return st;
    if ((st = get_str(r, &f, FILE_NAME, "file name", &o->file)) ||
        (st = get_str(r, &f, FILE_DESCRIPTION, "file description", &o->file_description)))
        return st;
    return df_fbr_u8(r, &f, FILE_TYPE, 0, &o->file_type);
}

/* Output tensor metadata: the first into md's own fields, a second into
 * md->output2; md->n_outputs counts them all. */
static df_status parse_outputs(df_fbr *r, const df_fbr_table *sg, df_tflite_md *md) {
    size_t data, n;
    df_status st = df_fbr_vector(r, sg, SG_OUTPUTS, 4, "output metadata", &data, &n);
    if (st || n == 0) return st;
    md->n_outputs = n > 1000000 ? 1000000 : (int)n;
    df_tflite_md_output first;
    memset(&first, 0, sizeof first);
    df_fbr_table t;
    st = df_fbr_vector_table(r, data, 0, "output metadata", &t);
    if (!st) st = parse_output(r, &t, &first);
    md->output_name = first.name;
    md->output_description = first.description;
    md->has_stats = first.has_stats;
    md->stats_min = first.stats_min;
    md->stats_max = first.stats_max;
    md->labels_file = first.file;
    md->labels_description = first.file_description;
    md->labels_type = first.file_type;
    if (st || n < 2) return st;
    if ((st = df_fbr_vector_table(r, data, 1, "output metadata", &t))) return st;
    return parse_output(r, &t, &md->output2);
}

df_status df_tflite_md_parse(const uint8_t *buf, size_t size, const char *name, df_tflite_md *md,
                             df_error *err) {
    memset(md, 0, sizeof *md);
    df_fbr r = {buf, size, name, err};
    df_fbr_table root, sg, t;
    int has;
    df_status st;
    if ((st = df_fbr_root(&r, "M001", &root)) ||
        (st = get_str(&r, &root, MM_NAME, "name", &md->name)) ||
        (st = get_str(&r, &root, MM_DESCRIPTION, "description", &md->description)) ||
        (st = get_str(&r, &root, MM_VERSION, "version", &md->version)) ||
        (st = get_str(&r, &root, MM_AUTHOR, "author", &md->author)) ||
        (st = get_str(&r, &root, MM_LICENSE, "license", &md->license)) ||
        (st = get_str(&r, &root, MM_MIN_PARSER, "min_parser_version", &md->min_parser_version)) ||
        (st = first_of(&r, &root, MM_SUBGRAPHS, "subgraph metadata", &sg, &has)))
        goto fail;
    if (has) {
        if ((st = first_of(&r, &sg, SG_INPUTS, "input metadata", &t, &has))) goto fail;
        if (has && (st = parse_input(&r, &t, md))) goto fail;
        if ((st = parse_outputs(&r, &sg, md))) goto fail;
    }
    return DF_OK;
fail:
    df_tflite_md_free(md);
    return st;
}

void df_tflite_md_free(df_tflite_md *md) {
    if (!md) return;
    char **s[] = {&md->name, &md->description, &md->version, &md->author, &md->license,
                  &md->min_parser_version, &md->input_name, &md->input_description,
                  &md->output_name, &md->output_description, &md->labels_file,
                  &md->labels_description, &md->output2.name, &md->output2.description,
                  &md->output2.file, &md->output2.file_description};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) free(*s[i]);
    memset(md, 0, sizeof *md);
}
