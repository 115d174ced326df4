/*
 * Flatbuffer builder and reader (see flatbuf.h). Layout facts relied on
 * (little-endian throughout): byte 0 holds the uoffset of the root table,
 * bytes 4-7 the file identifier; a table starts with an soffset to its
 * vtable (vtable = table - soffset); a vtable is uint16 [vtable bytes, table
 * bytes, field offsets...] with 0 meaning "absent"; offsets to tables,
 * vectors and strings are uoffsets relative to where they are stored;
 * vectors are a uint32 count followed by the elements; strings are vectors
 * of bytes followed by a NUL.
 */
#include "formats/flatbuf.h"

#include <stdlib.h>
#include <string.h>

struct df_fbb {
    uint8_t *buf;         /* the object occupies buf[cap - len, cap) */
    size_t cap, len;
    size_t minalign;
    int in_table;
    size_t table_start;   /* len when the table was started */
    int n_fields;
    int field_id[DF_FBB_MAX_FIELDS];
    df_fbb_ref field_at[DF_FBB_MAX_FIELDS];
    df_status st;         /* sticky */
    df_error err;
    char name[128];
};

static int failed(df_fbb *b, df_status st, const char *what) {
    if (b->st) return 1;
    b->st = st;
    df_error_set(&b->err, st, "%s: writing the flatbuffer: %s", b->name, what);
    return 1;
}

df_fbb *df_fbb_create(const char *name) {
    df_fbb *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->minalign = 1;
    size_t n = strlen(name);
    if (n >= sizeof b->name) n = sizeof b->name - 1;
    memcpy(b->name, name, n);
    return b;
}

void df_fbb_destroy(df_fbb *b) {
    if (!b) return;
    free(b->buf);
    free(b);
}

df_status df_fbb_status(const df_fbb *b, df_error *err) {
    if (b->st && err) *err = b->err;
    return b->st;
}

/* Room for need more bytes; 0 (and the sticky error) when impossible. */
static int grow(df_fbb *b, size_t need) {
    if (b->st) return 0;
    if (need > DF_FBB_MAX_BYTES - b->len) {
        failed(b, DF_ERR_TOO_LARGE, "the model needs more than 2 GiB (flatbuffer offsets are 32-bit)");
        return 0;
    }
    if (b->cap - b->len >= need) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < need) cap *= 2; /* len + need < 2^31: cap stays below 2^32 */
    uint8_t *nb = malloc(cap);
    if (!nb) {
        failed(b, DF_ERR_NOMEM, "out of memory");
        return 0;
    }
    if (b->len) memcpy(nb + cap - b->len, b->buf + b->cap - b->len, b->len);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return 1;
}

static int push(df_fbb *b, const void *data, size_t n) {
    if (n == 0) return b->st == DF_OK; /* buf may still be NULL */
    if (!grow(b, n)) return 0;
    b->len += n;
    memcpy(b->buf + b->cap - b->len, data, n);
    return 1;
}

static int pad(df_fbb *b, size_t n) {
    if (n == 0) return b->st == DF_OK; /* buf may still be NULL */
    if (!grow(b, n)) return 0;
    b->len += n;
    memset(b->buf + b->cap - b->len, 0, n);
    return 1;
}

/* Pads so that after writing `extra` more bytes the end is aligned to align. */
static int prep(df_fbb *b, size_t align, size_t extra) {
    if (align > b->minalign) b->minalign = align;
    return pad(b, (align - ((b->len + extra) % align)) % align);
}

static int push_u32(df_fbb *b, uint32_t v) { return push(b, &v, 4); }

static int outside_table(df_fbb *b, const char *what) {
    if (b->in_table) return failed(b, DF_ERR_INTERNAL, what);
    return b->st != DF_OK;
}

df_fbb_ref df_fbb_vector(df_fbb *b, const void *elems, size_t n, size_t elem_size, size_t align) {
    if (outside_table(b, "a vector started inside a table")) return 0;
    if (!align) align = elem_size > 4 ? elem_size : 4;
    if (align < 4 || (align & (align - 1)) || align > 64) {
        failed(b, DF_ERR_INTERNAL, "vector alignment is not a power of two in [4, 64]");
        return 0;
    }
    if (elem_size && n > DF_FBB_MAX_BYTES / elem_size) {
        failed(b, DF_ERR_TOO_LARGE, "a vector larger than 2 GiB");
        return 0;
    }
    size_t bytes = n * elem_size;
    if (!prep(b, 4, bytes) || !prep(b, align, bytes) || !push(b, elems, bytes) ||
        !push_u32(b, (uint32_t)n))
        return 0;
    return (df_fbb_ref)b->len;
}

df_fbb_ref df_fbb_string(df_fbb *b, const char *s) {
    if (outside_table(b, "a string started inside a table")) return 0;
    size_t n = strlen(s);
    if (n > DF_FBB_MAX_BYTES) {
        failed(b, DF_ERR_TOO_LARGE, "a string larger than 2 GiB");
        return 0;
    }
    if (!prep(b, 4, n + 1) || !push(b, "", 1) || !push(b, s, n) || !push_u32(b, (uint32_t)n))
        return 0;
    return (df_fbb_ref)b->len;
}

df_fbb_ref df_fbb_vector_refs(df_fbb *b, const df_fbb_ref *refs, size_t n) {
    if (outside_table(b, "a vector started inside a table")) return 0;
    if (n > DF_FBB_MAX_BYTES / 4) {
        failed(b, DF_ERR_TOO_LARGE, "a vector larger than 2 GiB");
        return 0;
    }
    if (!prep(b, 4, 4 * n)) return 0;
    for (size_t i = n; i-- > 0;) {
        if (refs[i] == 0 || refs[i] > b->len) {
            failed(b, DF_ERR_INTERNAL, "a vector refers to an object not yet written");
            return 0;
        }
        /* stored at distance len + 4 from the end, pointing at refs[i] */
        if (!push_u32(b, (uint32_t)(b->len + 4 - refs[i]))) return 0;
    }
    if (!push_u32(b, (uint32_t)n)) return 0;
    return (df_fbb_ref)b->len;
}

void df_fbb_table_start(df_fbb *b) {
    if (outside_table(b, "a table started inside a table")) return;
    b->in_table = 1;
    b->n_fields = 0;
    b->table_start = b->len;
}

static void add_field(df_fbb *b, int id, const void *v, size_t size) {
    if (b->st) return;
    if (!b->in_table) {
        failed(b, DF_ERR_INTERNAL, "a field outside a table");
        return;
    }
    if (id < 0 || id >= DF_FBB_MAX_FIELDS || b->n_fields == DF_FBB_MAX_FIELDS) {
        failed(b, DF_ERR_INTERNAL, "a field id out of range");
        return;
    }
    for (int i = 0; i < b->n_fields; i++)
        if (b->field_id[i] == id) {
            failed(b, DF_ERR_INTERNAL, "a field written twice");
            return;
        }
    if (!prep(b, size, size) || !push(b, v, size)) return;
    b->field_id[b->n_fields] = id;
    b->field_at[b->n_fields] = (df_fbb_ref)b->len;
    b->n_fields++;
}

void df_fbb_add_u8(df_fbb *b, int id, uint8_t v) { add_field(b, id, &v, 1); }
void df_fbb_add_i32(df_fbb *b, int id, int32_t v) { add_field(b, id, &v, 4); }
void df_fbb_add_u32(df_fbb *b, int id, uint32_t v) { add_field(b, id, &v, 4); }
void df_fbb_add_f32(df_fbb *b, int id, float v) { add_field(b, id, &v, 4); }
void df_fbb_add_u64(df_fbb *b, int id, uint64_t v) { add_field(b, id, &v, 8); }

void df_fbb_add_ref(df_fbb *b, int id, df_fbb_ref ref) {
    if (b->st || ref == 0) return;
    if (ref > b->len) {
        failed(b, DF_ERR_INTERNAL, "a field refers to an object not yet written");
        return;
    }
    if (!prep(b, 4, 4)) return;
    uint32_t v = (uint32_t)(b->len + 4 - ref);
    add_field(b, id, &v, 4);
}

df_fbb_ref df_fbb_table_end(df_fbb *b) {
    if (b->st) return 0;
    if (!b->in_table) {
        failed(b, DF_ERR_INTERNAL, "table_end without table_start");
        return 0;
    }
    if (!prep(b, 4, 4) || !push_u32(b, 0)) return 0; /* soffset, patched below */
    df_fbb_ref table = (df_fbb_ref)b->len;
    int max_id = -1;
    for (int i = 0; i < b->n_fields; i++)
        if (b->field_id[i] > max_id) max_id = b->field_id[i];
    uint16_t vt[2 + DF_FBB_MAX_FIELDS];
    size_t nvt = 2 + (size_t)(max_id + 1);
    memset(vt, 0, sizeof vt);
    if (table - b->table_start > 0xffff) {
        failed(b, DF_ERR_TOO_LARGE, "a table's inline fields exceed 64 KiB");
        return 0;
    }
    vt[0] = (uint16_t)(2 * nvt);
    vt[1] = (uint16_t)(table - b->table_start);
    for (int i = 0; i < b->n_fields; i++)
        vt[2 + b->field_id[i]] = (uint16_t)(table - b->field_at[i]);
    for (size_t i = nvt; i-- > 0;)
        if (!push(b, &vt[i], 2)) return 0;
    df_fbb_ref vtable = (df_fbb_ref)b->len;
    /* soffset = table - vtable in address terms = vtable - table in refs */
    int32_t soff = (int32_t)(vtable - table);
    memcpy(b->buf + b->cap - table, &soff, 4);
    b->in_table = 0;
    return table;
}

df_status df_fbb_finish(df_fbb *b, df_fbb_ref root, const char *ident, uint8_t **out,
                        size_t *size, df_error *err) {
    *out = NULL;
    *size = 0;
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) failed(b, DF_ERR_UNSUPPORTED, "big-endian host");
    if (!b->st && b->in_table) failed(b, DF_ERR_INTERNAL, "finish inside a table");
    if (!b->st && (root == 0 || root > b->len)) failed(b, DF_ERR_INTERNAL, "no root table");
    if (!b->st) {
        size_t extra = ident ? 8 : 4;
        if (prep(b, b->minalign > 8 ? b->minalign : 8, extra) && (!ident || push(b, ident, 4)))
            push_u32(b, (uint32_t)(b->len + 4 - root));
    }
    if (b->st) {
        if (err) *err = b->err;
        return b->st;
    }
    uint8_t *o = malloc(b->len);
    if (!o) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory (%zu bytes)", b->name, b->len);
    memcpy(o, b->buf + b->cap - b->len, b->len);
    *out = o;
    *size = b->len;
    return DF_OK;
}

/* ---- reader ---- */

static uint16_t rd16(const df_fbr *r, size_t at) {
    return (uint16_t)(r->p[at] | (r->p[at + 1] << 8));
}

uint32_t df_fbr_u32_at(const df_fbr *r, size_t at) {
    return (uint32_t)r->p[at] | ((uint32_t)r->p[at + 1] << 8) | ((uint32_t)r->p[at + 2] << 16) |
           ((uint32_t)r->p[at + 3] << 24);
}

float df_fbr_f32_at(const df_fbr *r, size_t at) {
    uint32_t u = df_fbr_u32_at(r, at);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int in_buf(const df_fbr *r, uint64_t at, uint64_t len) {
    return at <= r->n && len <= r->n - at;
}

static df_status table_at(df_fbr *r, uint64_t pos, const char *what, df_fbr_table *t) {
    if (!in_buf(r, pos, 4))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: table outside the buffer", r->name,
                            what);
    int32_t soff = (int32_t)df_fbr_u32_at(r, (size_t)pos);
    int64_t vt = (int64_t)pos - (int64_t)soff;
    if (vt < 0 || !in_buf(r, (uint64_t)vt, 4))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: vtable outside the buffer", r->name,
                            what);
    t->pos = (size_t)pos;
    t->vt = (size_t)vt;
    t->vt_size = rd16(r, t->vt);
    t->size = rd16(r, t->vt + 2);
    if (t->vt_size < 4 || (t->vt_size & 1) || !in_buf(r, t->vt, t->vt_size) || t->size < 4 ||
        !in_buf(r, t->pos, t->size))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: bad vtable or table size", r->name,
                            what);
    return DF_OK;
}

static df_status field(df_fbr *r, const df_fbr_table *t, int id, unsigned bytes,
                       const char *what, size_t *at) {
    *at = 0;
    unsigned slot = 4u + 2u * (unsigned)id;
    if (slot + 2 > t->vt_size) return DF_OK;
    unsigned off = rd16(r, t->vt + slot);
    if (off == 0) return DF_OK;
    if (off < 4 || off + bytes > t->size)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: field %d outside its table", r->name,
                            what, id);
    *at = t->pos + off;
    return DF_OK;
}

df_status df_fbr_root(df_fbr *r, const char *ident, df_fbr_table *out) {
    if (r->n < 8)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %zu bytes, too short for a flatbuffer",
                            r->name, r->n);
    if (ident && memcmp(r->p + 4, ident, 4) != 0)
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: file identifier is not \"%.4s\"", r->name,
                            ident);
    return table_at(r, df_fbr_u32_at(r, 0), "root table", out);
}

df_status df_fbr_u8(df_fbr *r, const df_fbr_table *t, int id, int def, int *out) {
    size_t at;
    df_status st = field(r, t, id, 1, "byte field", &at);
    if (st) return st;
    *out = at ? r->p[at] : def;
    return DF_OK;
}

df_status df_fbr_u32(df_fbr *r, const df_fbr_table *t, int id, uint32_t def, uint32_t *out) {
    size_t at;
    df_status st = field(r, t, id, 4, "uint field", &at);
    if (st) return st;
    *out = at ? df_fbr_u32_at(r, at) : def;
    return DF_OK;
}

static df_status ref_field(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                           size_t *target) {
    size_t at;
    *target = 0;
    df_status st = field(r, t, id, 4, what, &at);
    if (st || !at) return st;
    uint64_t to = (uint64_t)at + df_fbr_u32_at(r, at);
    if (!in_buf(r, to, 4))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: offset outside the buffer", r->name,
                            what);
    *target = (size_t)to;
    return DF_OK;
}

df_status df_fbr_vector(df_fbr *r, const df_fbr_table *t, int id, unsigned elem,
                        const char *what, size_t *data, size_t *count) {
    size_t at;
    *data = 0;
    *count = 0;
    df_status st = ref_field(r, t, id, what, &at);
    if (st || !at) return st;
    uint32_t n = df_fbr_u32_at(r, at);
    if (!in_buf(r, (uint64_t)at + 4, (uint64_t)n * elem))
        return df_error_set(r->err, DF_ERR_FORMAT, "%s: %s: vector of %u runs past the end",
                            r->name, what, n);
    *data = at + 4;
    *count = n;
    return DF_OK;
}

df_status df_fbr_string(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                        const uint8_t **s, size_t *len) {
    size_t data, n;
    *s = NULL;
    *len = 0;
    df_status st = df_fbr_vector(r, t, id, 1, what, &data, &n);
    if (st || !data) return st;
    *s = r->p + data;
    *len = n;
    return DF_OK;
}

df_status df_fbr_vector_table(df_fbr *r, size_t data, size_t i, const char *what,
                              df_fbr_table *out) {
    size_t e = data + 4 * i;
    return table_at(r, (uint64_t)e + df_fbr_u32_at(r, e), what, out);
}

df_status df_fbr_table_field(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                             df_fbr_table *out, int *present) {
    size_t at;
    *present = 0;
    df_status st = ref_field(r, t, id, what, &at);
    if (st || !at) return st;
    *present = 1;
    return table_at(r, at, what, out);
}
