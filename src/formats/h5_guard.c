/* Probing HDF5 files in a forked child (see h5_guard.h). */
#include "formats/h5_guard.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

df_status df_h5_guarded_probe(const char *path, const char *what, df_h5_probe_fn probe,
                              int timeout_seconds, df_error *err) {
    int fds[2];
    if (pipe(fds) != 0)
        return df_error_set(err, DF_ERR_IO, "%s: cannot check the %s (pipe: %s)", path, what,
                            strerror(errno));
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return df_error_set(err, DF_ERR_IO, "%s: cannot check the %s (fork: %s)", path, what,
                            strerror(e));
    }
    if (pid == 0) {
        close(fds[0]);
        /* A crash must end the child by its signal: handlers inherited from
         * the host program (a test harness, a crash reporter) would run in
         * the middle of libhdf5's corrupt state instead. */
        static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
        df_error e;
        df_error_clear(&e);
        df_status st = probe(path, &e);
        e.status = st;
        ssize_t w = write(fds[1], &e, sizeof e);
        (void)w;
        _exit(st == DF_OK ? 0 : 1);
    }
    close(fds[1]);
    df_error child;
    df_error_clear(&child);
    size_t got = 0;
    int timed_out = 0;
    double deadline = now_s() + timeout_seconds;
    while (got < sizeof child) {
        double left = deadline - now_s();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = read(fds[0], (char *)&child + got, sizeof child - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* the child died before reporting */
        got += (size_t)n;
    }
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: corrupt %s: the HDF5 library did not finish reading it in %d s",
                            path, what, timeout_seconds);
    if (WIFSIGNALED(wst))
        return df_error_set(err, DF_ERR_FORMAT,
                            "%s: corrupt %s: the HDF5 library crashed reading it (signal %d)", path,
                            what, WTERMSIG(wst));
    if (got == sizeof child && WIFEXITED(wst)) {
        if (WEXITSTATUS(wst) == 0) return DF_OK;
        child.message[sizeof child.message - 1] = '\0';
        return df_error_set(err, child.status == DF_OK ? DF_ERR_FORMAT : child.status, "%s",
                            child.message);
    }
    return df_error_set(err, DF_ERR_FORMAT, "%s: corrupt %s: the check ended abnormally", path, what);
}
