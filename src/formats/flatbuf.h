/*
 * A small flatbuffer builder and a bounds-checked flatbuffer reader, for the
 * TFLite writer (tflite_write.h) and the TFLite Model Metadata
 * (tflite_metadata.h). No flatbuffers library and no generated code: field
 * ids are written by the callers from the public schemas.
 *
 * Builder (df_fbb): built back to front as the flatbuffers library does:
 * children (vectors, strings, sub-tables) first, referred to by the refs
 * those calls return; a table is written between df_fbb_table_start and
 * df_fbb_table_end with no other object created in between. Every size is
 * checked: the buffer stays below 2 GiB (32-bit offsets), a table's inline
 * part below 64 KiB (16-bit vtable entries), field ids below
 * DF_FBB_MAX_FIELDS, refs must name objects already written. The first
 * failure is remembered (sticky) and every later call is a no-op returning
 * 0, so a writer checks once, at df_fbb_finish, which reports it. Assumes a
 * little-endian host (checked at finish).
 *
 * Reader (df_fbr): the same checks as the TFLite reader (tflite.c): every
 * offset, vtable and vector length is checked against the buffer before use;
 * failures are DF_ERR_FORMAT naming the buffer and the field.
 */
#ifndef DF_FORMATS_FLATBUF_H
#define DF_FORMATS_FLATBUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Flatbuffers use 32-bit offsets: whole buffers stay below this. */
#define DF_FBB_MAX_BYTES ((size_t)0x7fffffff)
enum { DF_FBB_MAX_FIELDS = 64 };

typedef struct df_fbb df_fbb;
typedef uint32_t df_fbb_ref; /* distance of an object from the buffer's end; 0 = none */

/* name is used in messages ("closet.tflite"). NULL on out of memory. */
df_fbb *df_fbb_create(const char *name);
void df_fbb_destroy(df_fbb *b);
/* DF_OK, or the first failure (with its message in *err). */
df_status df_fbb_status(const df_fbb *b, df_error *err);

/* n elements of elem_size bytes (host little-endian layout); the data is
 * aligned to align bytes (a power of two >= 4, or 0 = max(4, elem_size)). */
df_fbb_ref df_fbb_vector(df_fbb *b, const void *elems, size_t n, size_t elem_size, size_t align);
df_fbb_ref df_fbb_string(df_fbb *b, const char *s);
/* A vector of refs to tables or strings (each must be non-zero). */
df_fbb_ref df_fbb_vector_refs(df_fbb *b, const df_fbb_ref *refs, size_t n);

void df_fbb_table_start(df_fbb *b);
void df_fbb_add_u8(df_fbb *b, int id, uint8_t v);
void df_fbb_add_i32(df_fbb *b, int id, int32_t v);
void df_fbb_add_u32(df_fbb *b, int id, uint32_t v);
void df_fbb_add_f32(df_fbb *b, int id, float v);
void df_fbb_add_u64(df_fbb *b, int id, uint64_t v);
/* A field holding an offset to ref; ref 0 adds nothing (absent field). */
void df_fbb_add_ref(df_fbb *b, int id, df_fbb_ref ref);
df_fbb_ref df_fbb_table_end(df_fbb *b);

/* Writes the root offset and the 4-byte file identifier (ident may be NULL);
 * on success *out is the malloc'ed buffer (caller frees). The builder is
 * spent either way. */
df_status df_fbb_finish(df_fbb *b, df_fbb_ref root, const char *ident, uint8_t **out,
                        size_t *size, df_error *err) DF_MUST_CHECK;

/* ---- reader ---- */

typedef struct df_fbr {
    const uint8_t *p;
    size_t n;
    const char *name;   /* for messages */
    df_error *err;
} df_fbr;

typedef struct df_fbr_table {
    size_t pos, vt;
    unsigned vt_size, size;
} df_fbr_table;

/* The root table; ident (4 bytes, may be NULL) must be at bytes 4-7. */
df_status df_fbr_root(df_fbr *r, const char *ident, df_fbr_table *out) DF_MUST_CHECK;
/* Integer / float fields: def when absent. */
df_status df_fbr_u8(df_fbr *r, const df_fbr_table *t, int id, int def, int *out) DF_MUST_CHECK;
df_status df_fbr_u32(df_fbr *r, const df_fbr_table *t, int id, uint32_t def,
                     uint32_t *out) DF_MUST_CHECK;
/* A string field: *s points into the buffer (not NUL-terminated), *len its
 * length; absent: *s = NULL, *len = 0. */
df_status df_fbr_string(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                        const uint8_t **s, size_t *len) DF_MUST_CHECK;
/* A vector field of elem-byte scalars: *data = position in the buffer,
 * *count elements (absent: 0, 0). */
df_status df_fbr_vector(df_fbr *r, const df_fbr_table *t, int id, unsigned elem,
                        const char *what, size_t *data, size_t *count) DF_MUST_CHECK;
/* Table number i of a vector of tables found with df_fbr_vector(elem 4). */
df_status df_fbr_vector_table(df_fbr *r, size_t data, size_t i, const char *what,
                              df_fbr_table *out) DF_MUST_CHECK;
/* A sub-table field; *present = 0 when absent. */
df_status df_fbr_table_field(df_fbr *r, const df_fbr_table *t, int id, const char *what,
                             df_fbr_table *out, int *present) DF_MUST_CHECK;
float df_fbr_f32_at(const df_fbr *r, size_t at);
uint32_t df_fbr_u32_at(const df_fbr *r, size_t at);

#endif
