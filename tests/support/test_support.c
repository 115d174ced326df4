/* Test helpers (see test_support.h). */
#include "support/test_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

const char *df_test_shared_dir(void) {
    const char *d = getenv("DF_SHARED_DIR");
    struct stat st;
    if (d && stat(d, &st) == 0 && S_ISDIR(st.st_mode)) return d;
    return NULL;
}

const char *df_test_cli(void) {
    const char *c = getenv("DF_CLI");
    return c ? c : "deepfashion";
}

char *df_test_tempdir(void) {
    char *t = strdup("/tmp/df-test-XXXXXX");
    if (!t || !mkdtemp(t)) {
        free(t);
        return NULL;
    }
    return t;
}

void df_test_rmtree(const char *path) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", path, path);
    (void)!system(cmd);
}

int df_test_run(const char *cmdline, char *out, size_t out_size) {
    char full[8192];
    snprintf(full, sizeof full, "( %s ) 2>&1", cmdline);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    char buf[4096];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && n + 1 < out_size) {
            size_t k = r < out_size - 1 - n ? r : out_size - 1 - n;
            memcpy(out + n, buf, k);
            n += k;
        }
    }
    if (out && out_size) out[n] = '\0';
    int st = pclose(p);
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int df_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}
