/*
 * CRC-32C against the RFC 3720 B.4 vectors and a bitwise reference.
 * SHA-256 against the FIPS 180-4 example vectors (NIST "Examples with
 * Intermediate Values": "abc", the empty message, the 448-bit and 896-bit
 * messages, one million 'a'), streaming in odd chunk sizes, and the file
 * helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/cpu.h"
#include "core/sha256.h"
#include "support/test_support.h"

static void hex_of(const void *data, size_t n, char hex[65]) {
    uint8_t d[32];
    df_sha256(data, n, d);
    df_sha256_hex(d, hex);
}

static void test_fips_vectors(void **state) {
    (void)state;
    char hex[65];
    hex_of("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hex_of("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_streamed(void **state) {
    (void)state;
    static char a[1000000];
    memset(a, 'a', sizeof a);
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char hex[65];
    hex_of(a, sizeof a, hex);
    assert_string_equal(hex, want);
    /* Chunks of 1, 63, 64, 65, 127 ... bytes cross every block boundary case. */
    df_sha256_ctx s;
    df_sha256_init(&s);
    size_t off = 0, k = 0;
    const size_t sizes[] = {1, 63, 64, 65, 127, 3, 55, 56, 57, 1000};
    while (off < sizeof a) {
        size_t n = sizes[k++ % 10];
        if (n > sizeof a - off) n = sizeof a - off;
        df_sha256_update(&s, a + off, n);
        off += n;
    }
    uint8_t d[32];
    df_sha256_final(&s, d);
    df_sha256_hex(d, hex);
    assert_string_equal(hex, want);

    /* The file helper, and its refusal of a folder. */
    char *dir = df_test_tempdir();
    char path[512];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    assert_int_equal(df_test_write_file(path, a, sizeof a), 0);
    df_error err;
    assert_int_equal(df_sha256_file(path, hex, &err), DF_OK);
    assert_string_equal(hex, want);
    assert_int_equal(df_sha256_file(dir, hex, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, dir));
    df_test_rmtree(dir);
    free(dir);
}

/* The bitwise definition, one bit at a time. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void test_crc32c(void **state) {
    (void)state;
    assert_int_equal(df_crc32c(0, "123456789", 9), 0xE3069283u);
    uint8_t b[32];
    memset(b, 0, 32);
    assert_int_equal(df_crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xFF, 32);
    assert_int_equal(df_crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    assert_int_equal(df_crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    assert_int_equal(df_crc32c(0, b, 32), 0x113FDB5Cu);
    assert_int_equal(df_crc32c(0, "", 0), 0u);
    /* Every length 0..300 at every alignment 0..7, whole and in two pieces. */
    static uint8_t buf[320];
    for (int i = 0; i < 320; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (int off = 0; off < 8; off++)
        for (size_t n = 0; n <= 300; n++) {
            uint32_t want = crc32c_bitwise(buf + off, n);
            assert_int_equal(df_crc32c(0, buf + off, n), want);
            size_t cut = n / 3;
            assert_int_equal(df_crc32c(df_crc32c(0, buf + off, cut), buf + off + cut, n - cut), want);
        }
}

/* The SHA instructions' path against the portable one: every length from 0
 * to 300 bytes (each padding case, one to six blocks), pseudo-random bytes,
 * and one 1 MB buffer fed in uneven chunks. The FIPS vectors above run on
 * whichever path the CPU takes. */
static void test_sha_extensions_match_portable(void **state) {
    (void)state;
    if (!df_cpu_has_sha()) {
        print_message("this CPU has no SHA extensions (or DF_CPU_ISA=scalar): only the portable path ran\n");
        return;
    }
    enum { BIG = 1 << 20 };
    uint8_t *d = malloc(BIG);
    assert_non_null(d);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG; i++) {
        x = x * 1664525u + 1013904223u;
        d[i] = (uint8_t)(x >> 24);
    }
    uint8_t a[32], b[32];
    df_sha256_ctx s;
    for (size_t len = 0; len <= 300; len++) {
        df_sha256_init(&s);
        df_sha256_update(&s, d, len);
        df_sha256_final(&s, a);
        df_sha256_init_portable(&s);
        df_sha256_update(&s, d, len);
        df_sha256_final(&s, b);
        if (memcmp(a, b, 32)) print_message("length %zu differs\n", len);
        assert_memory_equal(a, b, 32);
    }
    df_sha256_init(&s);
    for (size_t off = 0, k = 0; off < BIG; k++) {
        size_t n = (k * 7919) % 5000 + 1;
        if (n > BIG - off) n = BIG - off;
        df_sha256_update(&s, d + off, n);
        off += n;
    }
    df_sha256_final(&s, a);
    df_sha256_init_portable(&s);
    df_sha256_update(&s, d, BIG);
    df_sha256_final(&s, b);
    assert_memory_equal(a, b, 32);
    free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_fips_vectors),
        cmocka_unit_test(test_million_a_streamed),
        cmocka_unit_test(test_sha_extensions_match_portable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
