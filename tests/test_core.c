/* Core: error messages, overflow-checked sizes, RNG streams, atomic files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cblas.h>
#include <dirent.h>
#include <omp.h>

#include "core/blas_threads.h"
#include "core/cpu.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/memory.h"
#include "core/rng.h"
#include "core/strbuf.h"

static void test_error_set_and_prefix(void **state) {
    (void)state;
    df_error err;
    df_error_clear(&err);
    assert_int_equal(df_error_set(&err, DF_ERR_FORMAT, "bad width %d\nnext", 7), DF_ERR_FORMAT);
    assert_string_equal(err.message, "bad width 7 next");
    df_error_prefix(&err, "%s", "a.jpg");
    assert_string_equal(err.message, "a.jpg: bad width 7 next");
    assert_int_equal(err.status, DF_ERR_FORMAT);
    assert_int_equal(df_error_set(NULL, DF_ERR_IO, "x"), DF_ERR_IO);
}

static void test_size_mul_overflow(void **state) {
    (void)state;
    size_t out;
    assert_true(df_size_mul(1000, 1000, &out));
    assert_int_equal(out, 1000000);
    assert_false(df_size_mul(SIZE_MAX / 2, 3, &out));
    assert_false(df_size_mul3(1u << 30, 1u << 30, 1u << 30, &out));
}

/* Published PCG32 demo output for seed 42, stream 54. */
static void test_pcg32_reference_values(void **state) {
    (void)state;
    df_rng r;
    df_rng_seed(&r, 42u, 54u);
    const uint32_t expect[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e};
    for (int i = 0; i < 6; i++) assert_int_equal(df_rng_u32(&r), expect[i]);
}

static void test_rng_streams_and_ranges(void **state) {
    (void)state;
    df_rng a, b;
    df_rng_seed_for(&a, 7, DF_STREAM_AUGMENT, 3, 1);
    df_rng_seed_for(&b, 7, DF_STREAM_AUGMENT, 3, 1);
    for (int i = 0; i < 100; i++) assert_int_equal(df_rng_u32(&a), df_rng_u32(&b));
    df_rng_seed_for(&b, 7, DF_STREAM_AUGMENT, 4, 1);
    int same = 0;
    for (int i = 0; i < 100; i++) same += df_rng_u32(&a) == df_rng_u32(&b);
    assert_true(same < 3);
    int hist[5] = {0};
    for (int i = 0; i < 10000; i++) {
        float u = df_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        uint32_t k = df_rng_below(&a, 5);
        assert_true(k < 5);
        hist[k]++;
    }
    for (int k = 0; k < 5; k++) assert_true(hist[k] > 1800 && hist[k] < 2200);
    int idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    df_rng_shuffle(&a, idx, 10);
    int seen[10] = {0};
    for (int i = 0; i < 10; i++) seen[idx[i]]++;
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
}

static void test_atomic_file_keeps_old_on_abort(void **state) {
    (void)state;
    char dir[] = "/tmp/df-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = df_path_join(dir, "model.bin");
    df_error err;
    df_atomic_file af;
    assert_int_equal(df_atomic_open(&af, path, &err), DF_OK);
    fputs("first", af.fp);
    assert_int_equal(df_atomic_commit(&af, &err), DF_OK);
    assert_int_equal(df_atomic_open(&af, path, &err), DF_OK);
    fputs("second, never committed", af.fp);
    df_atomic_abort(&af);
    uint8_t *data;
    size_t n;
    assert_int_equal(df_file_read(path, 1 << 20, &data, &n, &err), DF_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(data, "first", 5);
    free(data);
    /* Only the final file remains: no temp files left behind. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    assert_int_equal(system(cmd), 0);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* Files written through df_atomic_* get the mode of an ordinary new file
 * (0666 minus the umask), not mkstemp's owner-only 0600. */
static void test_atomic_file_mode_follows_umask(void **state) {
    (void)state;
    char dir[] = "/tmp/df-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = df_path_join(dir, "out.png");
    mode_t old = umask(022);
    df_error err;
    df_atomic_file af;
    assert_int_equal(df_atomic_open(&af, path, &err), DF_OK);
    fputs("x", af.fp);
    assert_int_equal(df_atomic_commit(&af, &err), DF_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    umask(077);
    char *temp = NULL;
    assert_int_equal(df_atomic_temp_path(path, &temp, &err), DF_OK);
    assert_int_equal(strncmp(temp, path, strlen(path)), 0);
    assert_int_equal(strlen(temp), strlen(path) + strlen(".tmp-XXXXXX"));
    assert_int_equal(df_atomic_rename(temp, path, &err), DF_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    umask(old);
    free(temp);
    unlink(path);
    rmdir(dir);
    free(path);
}

static void test_file_read_refuses_dirs_and_fifos(void **state) {
    (void)state;
    char dir[] = "/tmp/df-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    df_error err;
    uint8_t *data;
    size_t n;
    assert_int_equal(df_file_read(dir, 100, &data, &n, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, "directory"));
    char *fifo = df_path_join(dir, "x.jpg");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(df_file_read(fifo, 100, &data, &n, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, "FIFO"));
    unlink(fifo);
    free(fifo);
    assert_int_equal(df_file_read("/nonexistent/file.jpg", 100, &data, &n, &err), DF_ERR_IO);
    assert_non_null(strstr(err.message, "/nonexistent/file.jpg"));
    rmdir(dir);
}

static void test_strbuf_grows_and_finishes(void **state) {
    (void)state;
    df_strbuf b = {0};
    char *empty = df_strbuf_finish(&b);
    assert_string_equal(empty, "");
    free(empty);
    for (int i = 0; i < 1000; i++) df_strbuf_addf(&b, "%s%d", i ? "," : "[", i);
    df_strbuf_addf(&b, "]");
    char *s = df_strbuf_finish(&b);
    assert_int_equal(strlen(s), 3891); /* 2890 digits (10 + 90*2 + 900*3), 999 commas, [ ] */
    assert_memory_equal(s, "[0,1,2,", 7);
    assert_string_equal(s + strlen(s) - 5, ",999]");
    assert_null(b.s);
    free(s);
}

/* A parallel loop reports the failure at the lowest index, whichever
 * thread got there first; nothing failed -> DF_OK and err untouched. */
static void test_first_error_lowest_index(void **state) {
    (void)state;
    for (int round = 0; round < 20; round++) {
        df_first_error fe;
        df_first_error_init(&fe);
#pragma omp parallel for schedule(dynamic, 1) num_threads(4)
        for (int i = 0; i < 200; i++) {
            if (i % 7 != 3) continue; /* 3, 10, 17, ... fail */
            df_error e;
            df_error_set(&e, i == 3 ? DF_ERR_FORMAT : DF_ERR_IO, "item %d", i);
            df_first_error_note(&fe, i, &e);
        }
        df_error err;
        assert_int_equal(df_first_error_take(&fe, &err), DF_ERR_FORMAT);
        assert_string_equal(err.message, "item 3");
    }
    df_first_error none;
    df_first_error_init(&none);
    df_error untouched;
    df_error_set(&untouched, DF_ERR_IO, "kept");
    assert_int_equal(df_first_error_take(&none, &untouched), DF_OK);
    assert_string_equal(untouched.message, "kept");
}

/* The OpenBLAS kernel set asked for: raised from a set older than AVX2 to
 * what the CPU allows, lowered from AVX-512 under an AVX2 cap, left alone
 * when right or unknown (names compared without case). */
static void test_blas_coretype(void **state) {
    (void)state;
    assert_string_equal(df_cpu_blas_coretype("Prescott", DF_CPU_ISA_AVX512), "SkylakeX");
    assert_string_equal(df_cpu_blas_coretype("Prescott", DF_CPU_ISA_AVX2), "Haswell");
    assert_string_equal(df_cpu_blas_coretype("Sandybridge", DF_CPU_ISA_AVX2), "Haswell");
    assert_string_equal(df_cpu_blas_coretype("Nehalem", DF_CPU_ISA_AVX512), "SkylakeX");
    assert_string_equal(df_cpu_blas_coretype("SkylakeX", DF_CPU_ISA_AVX2), "Haswell");
    assert_string_equal(df_cpu_blas_coretype("Cooperlake", DF_CPU_ISA_AVX2), "Haswell");
    assert_null(df_cpu_blas_coretype("Cooperlake", DF_CPU_ISA_AVX512));
    assert_null(df_cpu_blas_coretype("SKYLAKEX", DF_CPU_ISA_AVX512));
    assert_null(df_cpu_blas_coretype("SapphireRapids", DF_CPU_ISA_AVX512));
    assert_null(df_cpu_blas_coretype("Haswell", DF_CPU_ISA_AVX2));
    assert_null(df_cpu_blas_coretype("Haswell", DF_CPU_ISA_AVX512)); /* right enough: not worth a restart */
    assert_null(df_cpu_blas_coretype("Zen", DF_CPU_ISA_AVX2));
    assert_null(df_cpu_blas_coretype("Zen5", DF_CPU_ISA_AVX512)); /* unknown to us: OpenBLAS knows better */
    assert_null(df_cpu_blas_coretype("Prescott", DF_CPU_ISA_SCALAR));
    assert_null(df_cpu_blas_coretype(NULL, DF_CPU_ISA_AVX2));
}

/* df_alloc_aligned: 64-byte alignment below a huge page, the huge page's
 * alignment from it on (madvise needs the region to start on one), the
 * whole size writable, and size 0 still a buffer free() takes. On Linux
 * with THP in "madvise" or "always" mode the large buffer, once touched,
 * is backed by huge pages; that is the kernel's to grant, so it is printed,
 * not asserted. */
static void test_alloc_aligned(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, 100, 4096, DF_HUGE_PAGE - 1, DF_HUGE_PAGE, 3 * DF_HUGE_PAGE + 12345};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = df_alloc_aligned(sizes[i]);
        assert_non_null(p);
        const size_t align = sizes[i] >= DF_HUGE_PAGE ? DF_HUGE_PAGE : 64;
        assert_int_equal((uintptr_t)p % align, 0);
        memset(p, 0xA5, sizes[i]);
        if (sizes[i]) assert_int_equal(p[sizes[i] - 1], 0xA5);
        free(p);
    }
#ifdef __linux__
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
        if (!fgets(mode, sizeof mode, f)) mode[0] = '\0';
        fclose(f);
    }
    print_message("transparent huge pages: %s", mode[0] ? mode : "(not available)\n");
#endif
}

#ifdef __linux__
/* The VmFlags line of the mapping that holds p (/proc/self/smaps), into
 * flags; 0 when not found. */
static int vm_flags_of(const void *p, char *flags, size_t n) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return 0;
    char line[8192]; /* a mapping's line ends in its path: whole, so no piece of one reads as a range */
    int inside = 0, found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx", &lo, &dash, &hi) == 3 && dash == '-')
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, n, "%s", line + 8);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* Whether flags (VmFlags' two-letter words) hold word. */
static int has_flag(const char *flags, const char *word) {
    for (const char *s = flags; (s = strstr(s, word)) != NULL; s += 2)
        if ((s == flags || s[-1] == ' ') && (s[2] == ' ' || s[2] == '\n' || s[2] == '\0')) return 1;
    return 0;
}
#endif

/* DF_HUGE_PAGES: a large buffer is advised huge pages ("hg" in its
 * mapping's flags) by default and ordinary ones ("nh") with
 * DF_HUGE_PAGES=0, whatever the kernel then grants; other values keep the
 * default. Skipped where the kernel records no such advice (no THP). */
static void test_alloc_huge_pages_opt_out(void **state) {
    (void)state;
#ifdef __linux__
    const char *cases[][2] = {{NULL, "hg"}, {"1", "hg"}, {"yes", "hg"}, {"0", "nh"}};
    const char *old = getenv("DF_HUGE_PAGES");
    char *saved = old ? strdup(old) : NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i][0]) setenv("DF_HUGE_PAGES", cases[i][0], 1);
        else unsetenv("DF_HUGE_PAGES");
        assert_int_equal(df_huge_pages_wanted(), strcmp(cases[i][1], "hg") == 0);
        unsigned char *p = df_alloc_aligned(2 * DF_HUGE_PAGE);
        assert_non_null(p);
        memset(p, 1, 2 * DF_HUGE_PAGE);
        char flags[8192];
        assert_true(vm_flags_of(p, flags, sizeof flags));
        if (i == 0 && !has_flag(flags, "hg")) {
            free(p);
            if (saved) setenv("DF_HUGE_PAGES", saved, 1);
            free(saved);
            skip(); /* madvise(MADV_HUGEPAGE) refused: a kernel without THP */
        }
        assert_true(has_flag(flags, cases[i][1]));
        assert_false(has_flag(flags, strcmp(cases[i][1], "hg") == 0 ? "nh" : "hg"));
        free(p);
    }
    if (saved) setenv("DF_HUGE_PAGES", saved, 1);
    else unsetenv("DF_HUGE_PAGES");
    free(saved);
#else
    skip();
#endif
}

/* The threads of this process (/proc/self/task), -1 where unreadable. */
static int process_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* OpenBLAS's count set without starting its pool (openblas_set_num_threads
 * alone starts a thread that spins in sched_yield for 0.1 s, even for a
 * count of 1), and a threaded GEMM after it still right (OpenBLAS starts
 * its pool again for it). */
static void test_blas_threads_set_leaves_pool_stopped(void **state) {
    (void)state;
    df_blas_threads_stop();
    const int before = process_threads();
    if (before < 0) skip();
    df_blas_threads_set(1);
    assert_int_equal(df_blas_threads(), 1);
    assert_int_equal(process_threads(), before);
    df_blas_threads_set(2);
    assert_int_equal(df_blas_threads(), 2);
    assert_int_equal(process_threads(), before);
    enum { N = 192 };
    double *a = malloc(sizeof(double) * N * N), *c = malloc(sizeof(double) * N * N);
    assert_true(a && c);
    for (int k = 0; k < N * N; k++) a[k] = (double)((k * 7) % 13) - 6.0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, N, 1.0, a, N, a, N, 0.0, c, N);
    for (int i = 0; i < N; i += 17)
        for (int j = 0; j < N; j += 13) {
            double ref = 0.0; /* small integers: exact in any order */
            for (int k = 0; k < N; k++) ref += a[i * N + k] * a[j * N + k];
            assert_true(c[i * N + j] == ref);
        }
    free(a);
    free(c);
    df_blas_threads_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_prefix),
        cmocka_unit_test(test_blas_coretype),
        cmocka_unit_test(test_blas_threads_set_leaves_pool_stopped),
        cmocka_unit_test(test_first_error_lowest_index),
        cmocka_unit_test(test_size_mul_overflow),
        cmocka_unit_test(test_alloc_aligned),
        cmocka_unit_test(test_alloc_huge_pages_opt_out),
        cmocka_unit_test(test_pcg32_reference_values),
        cmocka_unit_test(test_rng_streams_and_ranges),
        cmocka_unit_test(test_atomic_file_keeps_old_on_abort),
        cmocka_unit_test(test_atomic_file_mode_follows_umask),
        cmocka_unit_test(test_file_read_refuses_dirs_and_fifos),
        cmocka_unit_test(test_strbuf_grows_and_finishes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
