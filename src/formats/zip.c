/* Stored ZIP writer and reader (see zip.h); layout from PKWARE's APPNOTE. */
#include "formats/zip.h"

#include <stdlib.h>
#include <string.h>

enum { LOCAL_SIG = 0x04034b50, CENTRAL_SIG = 0x02014b50, END_SIG = 0x06054b50 };
enum { LOCAL_SIZE = 30, CENTRAL_SIZE = 46, END_SIZE = 22 };
enum { DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1 };

uint32_t df_crc32(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static uint8_t *put16(uint8_t *p, unsigned v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}
static uint8_t *put32(uint8_t *p, uint32_t v) {
    p = put16(p, v & 0xffff);
    return put16(p, v >> 16);
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16); }

/* The fields local and central headers share, from "version needed" on. */
static uint8_t *common(uint8_t *p, const df_zip_entry *e, uint32_t crc) {
    p = put16(p, 10);                  /* version needed: 1.0 (stored) */
    p = put16(p, 0);                   /* flags */
    p = put16(p, 0);                   /* method: stored */
    p = put16(p, 0);                   /* time 00:00 */
    p = put16(p, DOS_DATE_1980_01_01);
    p = put32(p, crc);
    p = put32(p, (uint32_t)e->size);   /* compressed */
    p = put32(p, (uint32_t)e->size);   /* uncompressed */
    p = put16(p, (unsigned)strlen(e->name));
    return put16(p, 0);                /* extra length */
}

df_status df_zip_write(const df_zip_entry *e, size_t n, size_t base, uint8_t **out,
                       size_t *size, df_error *err) {
    *out = NULL;
    *size = 0;
    uint64_t total = END_SIZE;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(e[i].name);
        if (len == 0 || len > 255 || e[i].size >= 0xFFFFFFFFu)
            return df_error_set(err, DF_ERR_INVALID_ARG, "zip: entry %zu: name of %zu bytes or "
                                "%zu bytes of data", i, len, e[i].size);
        total += LOCAL_SIZE + CENTRAL_SIZE + 2 * (uint64_t)len + e[i].size;
    }
    if (n > 0xFFFF || total + base >= 0xFFFFFFFFu)
        return df_error_set(err, DF_ERR_TOO_LARGE, "zip: archive past 4 GiB (ZIP64 not written)");
    uint8_t *buf = malloc((size_t)total), *p = buf;
    uint32_t *crc = malloc((n ? n : 1) * sizeof *crc), *at = malloc((n ? n : 1) * sizeof *at);
    if (!buf || !crc || !at) {
        free(buf);
        free(crc);
        free(at);
        return df_error_set(err, DF_ERR_NOMEM, "zip: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        crc[i] = df_crc32(e[i].data, e[i].size);
        at[i] = (uint32_t)(base + (size_t)(p - buf));
        p = put32(p, LOCAL_SIG);
        p = common(p, &e[i], crc[i]);
        size_t len = strlen(e[i].name);
        memcpy(p, e[i].name, len);
        p += len;
        if (e[i].size) memcpy(p, e[i].data, e[i].size);
        p += e[i].size;
    }
    uint8_t *cd = p;
    for (size_t i = 0; i < n; i++) {
        p = put32(p, CENTRAL_SIG);
        p = put16(p, 20);              /* version made by: 2.0, MS-DOS */
        p = common(p, &e[i], crc[i]);
        p = put16(p, 0);               /* comment length */
        p = put16(p, 0);               /* disk number start */
        p = put16(p, 0);               /* internal attributes */
        p = put32(p, 0);               /* external attributes */
        p = put32(p, at[i]);
        size_t len = strlen(e[i].name);
        memcpy(p, e[i].name, len);
        p += len;
    }
    uint32_t cd_size = (uint32_t)(p - cd), cd_at = (uint32_t)(base + (size_t)(cd - buf));
    p = put32(p, END_SIG);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, (unsigned)n);
    p = put16(p, (unsigned)n);
    p = put32(p, cd_size);
    p = put32(p, cd_at);
    p = put16(p, 0);
    free(crc);
    free(at);
    *out = buf;
    *size = (size_t)(p - buf);
    return DF_OK;
}

static df_status bad(df_error *err, const char *name, const char *what) {
    return df_error_set(err, DF_ERR_FORMAT, "%s: zip: %s", name, what);
}

df_status df_zip_find(const uint8_t *buf, size_t n, const char *name, const char *entry,
                      const uint8_t **data, size_t *size, df_error *err) {
    *data = NULL;
    *size = 0;
    if (n < END_SIZE) return bad(err, name, "no archive (too short)");
    size_t lo = n - END_SIZE > 0xFFFF ? n - END_SIZE - 0xFFFF : 0, end = 0;
    int found = 0;
    for (size_t i = n - END_SIZE + 1; i-- > lo;)
        if (get32(buf + i) == END_SIG && i + END_SIZE + get16(buf + i + 20) == n) {
            end = i;
            found = 1;
            break;
        }
    if (!found) return bad(err, name, "no end-of-central-directory record");
    unsigned count = get16(buf + end + 10);
    uint32_t cd_size = get32(buf + end + 12), cd_at = get32(buf + end + 16);
    if (get16(buf + end + 4) || get16(buf + end + 6) || count != get16(buf + end + 8))
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: zip: split archives", name);
    if (cd_at == 0xFFFFFFFFu || count == 0xFFFF)
        return df_error_set(err, DF_ERR_UNSUPPORTED, "%s: zip: ZIP64 archives", name);
    /* Offsets count from the start of buf, or (plain readers' view) from the
     * start of an archive that ends at the end record. */
    /* Offsets count from the start of the file the archive was written
     * into; when buf holds more (or less) before the archive, the distance
     * between where the central directory is and where the end record says
     * it is gives the shift (what Info-ZIP and minizip do). */
    if (cd_size > end) return bad(err, name, "central directory larger than the file");
    int64_t shift = (int64_t)(end - cd_size) - (int64_t)cd_at;
    size_t p = end - cd_size, stop = end, want = strlen(entry);
    for (unsigned k = 0; k < count; k++) {
        if (p + CENTRAL_SIZE > stop || get32(buf + p) != CENTRAL_SIG)
            return bad(err, name, "bad central directory entry");
        size_t nl = get16(buf + p + 28), xl = get16(buf + p + 30), cl = get16(buf + p + 32);
        if (p + CENTRAL_SIZE + nl + xl + cl > stop) return bad(err, name, "central entry past its end");
        if (nl == want && !memcmp(buf + p + CENTRAL_SIZE, entry, want)) {
            unsigned flags = get16(buf + p + 8), method = get16(buf + p + 10);
            uint32_t crc = get32(buf + p + 16), cs = get32(buf + p + 20), us = get32(buf + p + 24);
            int64_t at_signed = shift + (int64_t)get32(buf + p + 42);
            if (at_signed < 0) return bad(err, name, "local header before the file");
            uint64_t at = (uint64_t)at_signed;
            if (method != 0 || (flags & 1) || cs != us)
                return df_error_set(err, DF_ERR_UNSUPPORTED,
                                    "%s: zip: %s is compressed or encrypted", name, entry);
            if (at + LOCAL_SIZE > n || get32(buf + at) != LOCAL_SIG)
                return bad(err, name, "local header missing");
            uint64_t d = at + LOCAL_SIZE + get16(buf + at + 26) + get16(buf + at + 28);
            if (d > n || us > n - d) return bad(err, name, "entry data past the end");
            if (df_crc32(buf + d, us) != crc) return bad(err, name, "CRC-32 mismatch");
            *data = buf + d;
            *size = us;
            return DF_OK;
        }
        p += CENTRAL_SIZE + nl + xl + cl;
    }
    return df_error_set(err, DF_ERR_FORMAT, "%s: zip: no entry named %s", name, entry);
}
