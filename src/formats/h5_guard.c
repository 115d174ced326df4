/* Running libhdf5 in a forked child (see h5_guard.h). */
#include "formats/h5_guard.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"

/* Present only in sanitizer builds (weak: NULL otherwise). */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

struct df_h5_sink {
    int fd;
    size_t used;
    unsigned char buf[1 << 16];
};

static df_status write_all(int fd, const void *data, size_t size, df_error *err) {
    const unsigned char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return df_error_set(err, DF_ERR_IO, "cannot pass results to the parent (%s)", strerror(errno));
        p += n;
        size -= (size_t)n;
    }
    return DF_OK;
}

static df_status sink_flush(df_h5_sink *s, df_error *err) {
    df_status st = write_all(s->fd, s->buf, s->used, err);
    s->used = 0;
    return st;
}

df_status df_h5_sink_write(df_h5_sink *s, const void *data, size_t size, df_error *err) {
    if (s->used + size > sizeof s->buf) {
        df_status st = sink_flush(s, err);
        if (st) return st;
        if (size > sizeof s->buf) return write_all(s->fd, data, size, err);
    }
    memcpy(s->buf + s->used, data, size);
    s->used += size;
    return DF_OK;
}

/* Ends every report, after the child's df_error: a stream without it (a
 * child that died mid-write) is not a report. */
static const char REPORT_END[8] = "DFH5END";

/* The child: runs fn, then appends its df_error (status included) and
 * REPORT_END, and exits 0, also when fn failed cleanly: any other way out
 * (a signal, a sanitizer's exit status 1) is a fault. */
static void child_main(int fd, const char *path, df_h5_child_fn fn, void *arg) {
    /* A crash must end the child by its signal: handlers inherited from the
     * host program (a test harness, a crash reporter, a fuzzer's death
     * callback) would run in the middle of libhdf5's corrupt state instead,
     * and a fuzzer would file the child's death as its own. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
    signal(SIGPIPE, SIG_IGN); /* a parent that stopped reading: EPIPE, then exit */
    df_h5_sink *sink = malloc(sizeof *sink);
    df_error e;
    df_error_clear(&e);
    df_status st;
    if (!sink) {
        st = df_error_set(&e, DF_ERR_NOMEM, "%s: out of memory", path);
    } else {
        sink->fd = fd;
        sink->used = 0;
        st = fn(path, arg, sink, &e);
        if (st == DF_OK) st = sink_flush(sink, &e);
    }
    e.status = st;
    if (write_all(fd, &e, sizeof e, NULL) != DF_OK || write_all(fd, REPORT_END, sizeof REPORT_END, NULL) != DF_OK)
        _exit(2);
    _exit(0);
}

df_status df_h5_guarded_run(const char *path, const char *what, df_h5_child_fn fn, void *arg,
                            int idle_timeout_seconds, size_t max_bytes, unsigned char **out,
                            size_t *out_size, df_error *err) {
    if (out) *out = NULL;
    if (out_size) *out_size = 0;
    int fds[2];
    if (pipe(fds) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot read the %s (pipe: %s)", path, what, strerror(errno));
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return df_error_set(err, DF_ERR_IO, "%s: cannot read the %s (fork: %s)", path, what, strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], path, fn, arg);
    }
    close(fds[1]);

    const size_t tail = sizeof(df_error) + sizeof REPORT_END;
    const size_t cap = max_bytes + tail;
    unsigned char *buf = NULL;
    size_t got = 0, room = 0;
    int timed_out = 0, too_big = 0, nomem = 0;
    double deadline = df_clock_seconds() + idle_timeout_seconds;
    for (;;) {
        double left = deadline - df_clock_seconds();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r <= 0) continue; /* EINTR or the deadline: checked above */
        if (got == room) {
            if (room == cap) {
                char extra;
                ssize_t n = read(fds[0], &extra, 1);
                if (n < 0 && errno == EINTR) continue;
                too_big = n > 0;
                break;
            }
            size_t want = room ? room * 2 : 1 << 16;
            if (want > cap || want < room) want = cap;
            unsigned char *nb = realloc(buf, want);
            if (!nb) {
                nomem = 1;
                break;
            }
            buf = nb;
            room = want;
        }
        ssize_t n = read(fds[0], buf + got, room - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* end of stream: the child exited or died */
        got += (size_t)n;
        deadline = df_clock_seconds() + idle_timeout_seconds;
    }
    close(fds[0]);
    if (timed_out || too_big || nomem) kill(pid, SIGKILL);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    df_status st;
    df_error child;
    if (nomem) {
        st = df_error_set(err, DF_ERR_NOMEM, "%s: out of memory reading the %s", path, what);
    } else if (too_big) {
        st = df_error_set(err, DF_ERR_FORMAT, "%s: corrupt %s: it decodes to more than %zu MB", path, what,
                          max_bytes >> 20);
    } else if (timed_out) {
        st = df_error_set(err, DF_ERR_FORMAT, "%s: corrupt %s: the HDF5 library made no progress reading it for %d s",
                          path, what, idle_timeout_seconds);
    } else if (WIFSIGNALED(wst)) {
        st = df_error_set(err, DF_ERR_FORMAT, "%s: corrupt %s: the HDF5 library crashed reading it (signal %d)", path,
                          what, WTERMSIG(wst));
    } else if (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0 || got < tail ||
               memcmp(buf + got - sizeof REPORT_END, REPORT_END, sizeof REPORT_END) != 0) {
        /* A sanitizer that caught a memory error exits with a status rather
         * than a signal, before the report. */
        st = df_error_set(err, DF_ERR_FORMAT, "%s: corrupt %s: reading it failed abnormally (exit status %d)", path,
                          what, WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    } else {
        got -= tail;
        memcpy(&child, buf + got, sizeof child);
        child.message[sizeof child.message - 1] = '\0';
        if (child.status == DF_OK) {
            st = DF_OK;
        } else {
            df_status cs = child.status > DF_OK && child.status <= DF_ERR_INTERNAL ? child.status : DF_ERR_FORMAT;
            st = df_error_set(err, cs, "%s", child.message[0] ? child.message : "reading failed without a message");
        }
    }
    if (st != DF_OK || !out || got == 0) {
        free(buf);
        return st;
    }
    *out = buf;
    if (out_size) *out_size = got;
    return DF_OK;
}

static df_status probe_adapter(const char *path, void *arg, df_h5_sink *sink, df_error *err) {
    (void)sink;
    df_h5_probe_fn probe = *(df_h5_probe_fn *)arg;
    return probe(path, err);
}

df_status df_h5_guarded_probe(const char *path, const char *what, df_h5_probe_fn probe,
                              int timeout_seconds, df_error *err) {
    return df_h5_guarded_run(path, what, probe_adapter, &probe, timeout_seconds, 0, NULL, NULL, err);
}
