/*
 * SHA-256 per FIPS 180-4 sections 4.1.2, 4.2.2, 5.1.1, 5.3.3 and 6.2
 * (see sha256.h). Portable C, one block at a time (about 120 MB/s), and the
 * x86 SHA extensions where the CPU has them: loading a model checks its
 * embedded backbone's digest, and the portable path was 15% of a one-photo
 * predict (3.6 MB of MobileNetV2).
 */
#include "core/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "core/cpu.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void compress(uint32_t h[8], const uint8_t *p);

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) compress(h, p + 64 * i);
}

#if defined(__x86_64__) || defined(__i386__)
/* The SHA extensions (Intel's "SHA Extensions" paper, 2013): the state as
 * two vectors ABEF and CDGH; each group of 4 rounds takes 4 message words
 * plus their constants through two SHA256RNDS2; words 16..63 come from
 * SHA256MSG1 / MSG2 over the previous 16. */
__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8], const uint8_t *p,
                                                                     size_t n) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);  /* EFGH */
    __m128i s0 = _mm_alignr_epi8(tmp, s1, 8);                                         /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);                                              /* CDGH */
    for (size_t blk = 0; blk < n; blk++, p += 64) {
        const __m128i abef = s0, cdgh = s1;
        __m128i w[4]; /* message words 4g..4g+3 of group g, in w[g % 4] */
        for (int g = 0; g < 16; g++) {
            if (g < 4) {
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
            } else {
                /* w[g % 4] still holds group g - 4, already through MSG1 with g - 3 */
                __m128i x = _mm_add_epi32(w[g % 4], _mm_alignr_epi8(w[(g + 3) % 4], w[(g + 2) % 4], 4));
                w[g % 4] = _mm_sha256msg2_epu32(x, w[(g + 3) % 4]);
            }
            __m128i m = _mm_add_epi32(w[g % 4], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
            /* group g - 3 (needed as g + 1's "g - 4") through MSG1 with g - 2 */
            if (g >= 3 && g < 15) w[(g + 1) % 4] = _mm_sha256msg1_epu32(w[(g + 1) % 4], w[(g + 2) % 4]);
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    tmp = _mm_shuffle_epi32(s0, 0x1B);          /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);           /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);        /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);           /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}
#endif

static void compress(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void df_sha256_init_portable(df_sha256_ctx *s) {
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    s->blocks = blocks_portable;
    memcpy(s->h, H0, sizeof H0);
    s->length = 0;
    s->used = 0;
}

void df_sha256_init(df_sha256_ctx *s) {
    df_sha256_init_portable(s);
#if defined(__x86_64__) || defined(__i386__)
    if (df_cpu_has_sha()) s->blocks = blocks_shani;
#endif
}

void df_sha256_update(df_sha256_ctx *s, const void *data, size_t n) {
    const uint8_t *p = data;
    s->length += n;
    if (s->used) {
        size_t take = 64 - s->used < n ? 64 - s->used : n;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
        if (s->used < 64) return;
        s->blocks(s->h, s->block, 1);
        s->used = 0;
    }
    s->blocks(s->h, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
    memcpy(s->block, p, n);
    s->used = n;
}

void df_sha256_final(df_sha256_ctx *s, uint8_t digest[32]) {
    uint64_t bits = s->length * 8u;
    uint8_t pad[72];
    /* 0x80, zeros to 56 mod 64, then the 64-bit big-endian bit length. */
    size_t padlen = (s->used < 56 ? 56 - s->used : 120 - s->used);
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t keep = s->length;
    df_sha256_update(s, pad, padlen + 8);
    s->length = keep;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void df_sha256(const void *data, size_t n, uint8_t digest[32]) {
    df_sha256_ctx s;
    df_sha256_init(&s);
    df_sha256_update(&s, data, n);
    df_sha256_final(&s, digest);
}

void df_sha256_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

df_status df_sha256_file(const char *path, char hex[65], df_error *err) {
    hex[0] = '\0';
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, DF_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_ERR_IO, "%s: not a regular file", path);
    }
    df_sha256_ctx s;
    df_sha256_init(&s);
    uint8_t buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return df_error_set(err, DF_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break;
        df_sha256_update(&s, buf, (size_t)r);
    }
    close(fd);
    uint8_t d[32];
    df_sha256_final(&s, d);
    df_sha256_hex(d, hex);
    return DF_OK;
}
