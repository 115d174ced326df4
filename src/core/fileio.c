/* Whole-file reads and crash-safe writes (see fileio.h). */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int df_file_is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

df_status df_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                       df_error *err) {
    *data = NULL;
    *size = 0;
    /* O_NONBLOCK so that opening a FIFO with no writer returns at once; we
     * then refuse it by type below. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, DF_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return df_error_set(err, DF_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_ERR_IO, "%s: is a directory, not a file", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return df_error_set(err, DF_ERR_IO, "%s: not a regular file (FIFO, socket or device)",
                            path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return df_error_set(err, DF_ERR_TOO_LARGE, "%s: file is %lld bytes, limit is %zu", path,
                            (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return df_error_set(err, DF_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return df_error_set(err, DF_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break; /* file shrank while reading: keep what we have */
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *size = got;
    return DF_OK;
}

/* mkstemp would create the temp file 0600, and rename keeps that mode: every
 * PNG, report or model file would end up readable by its owner only. So the
 * name is made here and opened with O_EXCL and mode 0666, which the umask
 * trims like for any ordinary file; the suffix only has to make a clash
 * unlikely (O_EXCL makes a clash safe: we retry with another suffix). */
df_status df_atomic_temp_path(const char *path, char **temp_path, df_error *err) {
    static const char digits[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t n = strlen(path) + 16;
    char *t = malloc(n);
    if (!t) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    int fd = -1, e = EEXIST;
    for (uint64_t attempt = 0; attempt < 64 && fd < 0 && e == EEXIST; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* splitmix64 of time, pid, the buffer's address and the attempt. */
        uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^
                     (uint64_t)(uintptr_t)t ^ attempt * 0x9e3779b97f4a7c15u;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
        x ^= x >> 31;
        char suffix[7];
        for (int i = 0; i < 6; i++, x /= 62) suffix[i] = digits[x % 62];
        suffix[6] = '\0';
        snprintf(t, n, "%s.tmp-%s", path, suffix);
        fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = fd < 0 ? errno : 0;
    }
    if (fd < 0) {
        free(t);
        return df_error_set(err, DF_ERR_IO, "%s: cannot create file: %s", path, strerror(e));
    }
    close(fd);
    *temp_path = t;
    return DF_OK;
}

static df_status fsync_path(const char *p, df_error *err, const char *final_path) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return df_error_set(err, DF_ERR_IO, "%s: %s", final_path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return df_error_set(err, DF_ERR_IO, "%s: fsync failed: %s", final_path, strerror(e));
    return DF_OK;
}

df_status df_atomic_rename(const char *temp_path, const char *path, df_error *err) {
    df_status st = fsync_path(temp_path, err, path);
    if (st == DF_OK && rename(temp_path, path) != 0)
        st = df_error_set(err, DF_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    if (st != DF_OK) {
        unlink(temp_path);
        return st;
    }
    /* Make the rename itself durable. Failure here is not worth an error:
     * the data is complete under the final name either way. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = ".";
        if (slash) {
            *slash = '\0';
            d = slash == dir ? "/" : dir;
        }
        int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return DF_OK;
}

df_status df_atomic_open(df_atomic_file *af, const char *path, df_error *err) {
    memset(af, 0, sizeof *af);
    af->final_path = strdup(path);
    if (!af->final_path) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    df_status st = df_atomic_temp_path(path, &af->temp_path, err);
    if (st != DF_OK) {
        free(af->final_path);
        af->final_path = NULL;
        return st;
    }
    af->fp = fopen(af->temp_path, "wb");
    if (!af->fp) {
        int e = errno;
        df_atomic_abort(af);
        return df_error_set(err, DF_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return DF_OK;
}

static void atomic_release(df_atomic_file *af) {
    free(af->final_path);
    free(af->temp_path);
    af->final_path = af->temp_path = NULL;
    af->fp = NULL;
}

df_status df_atomic_commit(df_atomic_file *af, df_error *err) {
    const char *path = af->final_path ? af->final_path : "(unnamed)";
    df_status st = DF_OK;
    int werr = ferror(af->fp);
    int ferr = fflush(af->fp);
    int e = errno;
    int cerr = fclose(af->fp);
    if (cerr != 0 && !e) e = errno;
    af->fp = NULL;
    if (werr || ferr || cerr) {
        st = df_error_set(err, DF_ERR_IO, "%s: write failed: %s", path,
                          e ? strerror(e) : "stream error");
        unlink(af->temp_path);
    } else {
        st = df_atomic_rename(af->temp_path, af->final_path, err);
    }
    atomic_release(af);
    return st;
}

void df_atomic_abort(df_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->temp_path) unlink(af->temp_path);
    atomic_release(af);
}

df_status df_mkdir_p(const char *path, df_error *err) {
    char *p = strdup(path);
    if (!p) return df_error_set(err, DF_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                df_status st = df_error_set(err, DF_ERR_IO, "%s: cannot create folder: %s", p,
                                            strerror(e));
                free(p);
                return st;
            }
            p[i] = c;
        }
    }
    struct stat st;
    int ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    if (!ok) return df_error_set(err, DF_ERR_IO, "%s: exists and is not a folder", path);
    return DF_OK;
}

char *df_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

df_status df_private_copy_write(const char *what, const char *name, const uint8_t *bytes, size_t size,
                                char **path, df_error *err) {
    *path = NULL;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0]) tmp = "/tmp";
    char *dir = df_path_join(tmp, "deepfashion-XXXXXX");
    if (!dir) return df_error_set(err, DF_ERR_NOMEM, "out of memory");
    if (!mkdtemp(dir)) {
        df_status st = df_error_set(err, DF_ERR_IO, "%s: cannot make a temporary folder in %s: %s", what, tmp,
                                    strerror(errno));
        free(dir);
        return st;
    }
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    char *file = df_path_join(dir, base[0] ? base : "file");
    df_status st = DF_OK;
    if (!file) {
        st = df_error_set(err, DF_ERR_NOMEM, "out of memory");
    } else {
        FILE *fp = fopen(file, "wb");
        int bad = !fp || fwrite(bytes, 1, size, fp) != size;
        if (fp) bad |= fclose(fp) != 0;
        if (bad) st = df_error_set(err, DF_ERR_IO, "%s: cannot write %zu bytes to %s (disk full?)", what, size, file);
    }
    if (st != DF_OK) {
        if (file) unlink(file);
        rmdir(dir);
        free(file);
    } else {
        *path = file;
    }
    free(dir);
    return st;
}

void df_private_copy_remove(char *path) {
    if (!path) return;
    unlink(path);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        rmdir(path);
    }
    free(path);
}
