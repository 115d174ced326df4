/* Links or copies a photo into a folder under a free name (see place.h). */
#include "data/place.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"

enum { MAX_SUFFIX = 100000 };

/* dir/<stem><-n><ext> (n = 0: the name itself); malloc'ed or NULL. */
static char *candidate(const char *dir, const char *name, int n) {
    if (n == 0) return df_path_join(dir, name);
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) dot = name + strlen(name);
    size_t stem = (size_t)(dot - name);
    size_t len = strlen(name) + 16;
    char *b = malloc(len);
    if (!b) return NULL;
    snprintf(b, len, "%.*s-%d%s", (int)stem, name, n, dot);
    char *p = df_path_join(dir, b);
    free(b);
    return p;
}

/* Copies src into a new hidden temporary file in dir; *tmp = its path. */
static df_status copy_to_temp(const char *src, const char *dir, char **tmp, df_error *err) {
    *tmp = df_path_join(dir, ".place-XXXXXX");
    if (!*tmp) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", src);
    int in = open(src, O_RDONLY);
    if (in < 0) return df_error_set(err, DF_ERR_IO, "%s: cannot read: %s", src, strerror(errno));
    int out = mkstemp(*tmp);
    if (out < 0) {
        int e = errno;
        close(in);
        return df_error_set(err, DF_ERR_IO, "%s: cannot create a file: %s", dir, strerror(e));
    }
    df_status st = DF_OK;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            st = df_error_set(err, DF_ERR_IO, "%s: read failed: %s", src, strerror(errno));
            break;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n && st == DF_OK;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) st = df_error_set(err, DF_ERR_IO, "%s: write failed (disk full?): %s", dir, strerror(errno));
            else off += w;
        }
        if (st != DF_OK) break;
    }
    if (st == DF_OK && fsync(out) != 0)
        st = df_error_set(err, DF_ERR_IO, "%s: write failed (disk full?): %s", dir, strerror(errno));
    close(in);
    if (close(out) != 0 && st == DF_OK)
        st = df_error_set(err, DF_ERR_IO, "%s: write failed (disk full?): %s", dir, strerror(errno));
    if (st != DF_OK) unlink(*tmp);
    return st;
}

/* Makes dir/<name or a suffixed name> point at target: a hard link to it
 * (hard) or a symlink holding it. */
static df_status link_free_name(const char *target, const char *dir, const char *name, int hard,
                                char **placed, df_error *err) {
    for (int n = 0; n < MAX_SUFFIX; n++) {
        char *path = candidate(dir, name, n);
        if (!path) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", name);
        if ((hard ? link(target, path) : symlink(target, path)) == 0) {
            *placed = path;
            return DF_OK;
        }
        int e = errno;
        free(path);
        if (e != EEXIST)
            return df_error_set(err, DF_ERR_IO, "%s: cannot %s into %s: %s", name, hard ? "copy" : "link", dir,
                                strerror(e));
    }
    return df_error_set(err, DF_ERR_IO, "%s: no free name in %s after %d tries", name, dir, MAX_SUFFIX);
}

df_status df_place_rename(const char *tmp, const char *dir, const char *name, char **placed, df_error *err) {
    *placed = NULL;
    df_status st = link_free_name(tmp, dir, name, 1, placed, err);
    unlink(tmp);
    return st;
}

df_status df_place_file(const char *src, const char *dir, int copy, char **placed, df_error *err) {
    *placed = NULL;
    const char *name = strrchr(src, '/');
    name = name ? name + 1 : src;
    if (!*name) return df_error_set(err, DF_ERR_INVALID_ARG, "%s: not a file name", src);
    if (copy) {
        char *tmp = NULL;
        df_status st = copy_to_temp(src, dir, &tmp, err);
        if (st == DF_OK) st = df_place_rename(tmp, dir, name, placed, err);
        free(tmp);
        return st;
    }
    char *abs = realpath(src, NULL);
    if (!abs) return df_error_set(err, DF_ERR_IO, "%s: %s", src, strerror(errno));
    df_status st = link_free_name(abs, dir, name, 0, placed, err);
    free(abs);
    return st;
}
