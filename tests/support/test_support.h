/* Shared helpers for the test programs: where things are, temp folders, running the CLI. */
#ifndef DF_TEST_SUPPORT_H
#define DF_TEST_SUPPORT_H

#include <stddef.h>

/* ../shared (DF_SHARED_DIR) if it exists, else NULL: tests that need it
 * call skip() with a message naming the folder. */
const char *df_test_shared_dir(void);
/* The built CLI (DF_CLI), or "deepfashion". */
const char *df_test_cli(void);
/* Makes a fresh folder under /tmp; returns a malloc'ed path. */
char *df_test_tempdir(void);
/* rm -rf path. */
void df_test_rmtree(const char *path);
/* Runs a shell command line; returns its exit status (or -1). Captures up to
 * out_size-1 bytes of combined stdout+stderr into out when out != NULL. */
int df_test_run(const char *cmdline, char *out, size_t out_size);
/* Writes size bytes to path; returns 0 on success. */
int df_test_write_file(const char *path, const void *data, size_t size);

/* Prints "SKIP: <why>" and skips the current cmocka test. */
#define DF_SKIP_WITHOUT_SHARED(shared)                                                      \
    do {                                                                                    \
        (shared) = df_test_shared_dir();                                                    \
        if (!(shared)) {                                                                    \
            print_message("SKIP: ../shared not found (set DF_SHARED_DIR); test needs it\n"); \
            skip();                                                                         \
        }                                                                                   \
    } while (0)

#endif
