/*
 * A guard for libhdf5: it parses file metadata without defending itself
 * against corrupt structures (fuzzing libhdf5 1.10.8 found heap overflows in
 * H5Aexists and H5HG_read and endless loops in H5HG__protect on damaged
 * Keras files, which have no checksums). So libhdf5 runs in a forked child:
 * the child parses the file and streams what it read back through a pipe;
 * if it crashes, stops making progress or ends without its report, the file
 * is reported as corrupt, and the caller's process never ran libhdf5 on it.
 *
 *     df_h5_guarded_run(path, "weights file", read_fn, &args, 10, 64 << 20, &bytes, &n, err);
 *
 * The bytes come from a process whose memory a corrupt file may have
 * damaged: the caller parses them with bounds checks, as untrusted input.
 */
#ifndef DF_FORMATS_H5_GUARD_H
#define DF_FORMATS_H5_GUARD_H

#include <stddef.h>

#include "core/error.h"

/* The child's end of the pipe (buffered). */
typedef struct df_h5_sink df_h5_sink;

df_status df_h5_sink_write(df_h5_sink *sink, const void *data, size_t size, df_error *err) DF_MUST_CHECK;

/* Runs in the child: reads path, writes its findings to sink, and reports a
 * clean failure through its status and err. */
typedef df_status (*df_h5_child_fn)(const char *path, void *arg, df_h5_sink *sink, df_error *err);

/* Forks, runs fn in the child and collects what it wrote into *out (malloc,
 * caller frees; NULL with *out_size 0 when it wrote nothing). Returns DF_OK
 * when fn returned DF_OK; fn's own error when it failed cleanly;
 * DF_ERR_FORMAT naming the file when the child crashed, ended without its
 * report, or wrote nothing for idle_timeout_seconds; DF_ERR_FORMAT when it
 * wrote more than max_bytes (the child is then stopped). what names the
 * file's role ("weights file"). out may be NULL when fn writes nothing. */
df_status df_h5_guarded_run(const char *path, const char *what, df_h5_child_fn fn, void *arg,
                            int idle_timeout_seconds, size_t max_bytes, unsigned char **out,
                            size_t *out_size, df_error *err) DF_MUST_CHECK;

/* A check with no findings to pass back: everything it reads is read again
 * by the caller (only for files whose metadata is checksummed, so damage is
 * caught before libhdf5 uses it). */
typedef df_status (*df_h5_probe_fn)(const char *path, df_error *err);

df_status df_h5_guarded_probe(const char *path, const char *what, df_h5_probe_fn probe,
                              int timeout_seconds, df_error *err) DF_MUST_CHECK;

#endif
