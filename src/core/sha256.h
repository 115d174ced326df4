/*
 * SHA-256 (FIPS 180-4), streaming and whole-file. Used to tie a model file
 * to the exact backbone weights it was trained on, and checked on every
 * load of a model that embeds its backbone. Not constant-time, not for
 * secrets. Tested against the FIPS 180-4 / NIST example vectors, the SHA
 * instructions' path against the portable one.
 */
#ifndef DF_CORE_SHA256_H
#define DF_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct df_sha256_ctx {
    /* the block function: the CPU's SHA instructions where it has them
     * (df_cpu_has_sha), else portable C; the same digests */
    void (*blocks)(uint32_t h[8], const uint8_t *p, size_t n_blocks);
    uint32_t h[8];
    uint64_t length;   /* bytes hashed so far */
    uint8_t block[64];
    size_t used;       /* bytes in block */
} df_sha256_ctx;

void df_sha256_init(df_sha256_ctx *s);
/* The same with the portable block function whatever the CPU (tests). */
void df_sha256_init_portable(df_sha256_ctx *s);
void df_sha256_update(df_sha256_ctx *s, const void *data, size_t n);
void df_sha256_final(df_sha256_ctx *s, uint8_t digest[32]);

/* One call: digest of data[0..n). */
void df_sha256(const void *data, size_t n, uint8_t digest[32]);
/* hex: 64 lowercase hex digits + NUL. */
void df_sha256_hex(const uint8_t digest[32], char hex[65]);

/* Streams a regular file (any size) through SHA-256; hex receives the
 * lowercase digest. Refuses non-regular files like df_file_read. */
df_status df_sha256_file(const char *path, char hex[65], df_error *err) DF_MUST_CHECK;

#endif
